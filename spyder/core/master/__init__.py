"""The master's dispatcher and its parts: the worker registry and the leases.

``zmqmaster.ZmqMaster`` hands URLs from the frontier to workers and routes their
results back; it is composed of a ``registry.WorkerRegistry`` (who is there, how much
they can take) and ``leases.Leases`` (one lease per dispatch).  ``ZmqMaster`` is
re-exported here: ``spyder.core.master.ZmqMaster`` is the original's dotted path.
"""
from spyder.core.master.zmqmaster import ZmqMaster

__all__ = ["ZmqMaster"]
