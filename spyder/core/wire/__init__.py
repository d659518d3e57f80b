"""The wire: what travels between master and workers, and the sockets it travels on.

``messages`` (data and management frames, msgpack, validation), ``zmqchannel`` (a
lean receive loop over one ZeroMQ socket), ``sockets`` (contexts, bind/connect,
CurveZMQ, the socket directory), ``mgmt`` (the management PUB/SUB pair) and
``masterclock`` (the workers' estimate of the master's clock: their licence to fetch).
"""
