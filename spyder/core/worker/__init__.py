"""The worker's stages and its control of the work channel.

``zmqworker`` holds ``ZmqWorker`` (the fetch stage, fed by the master's PUSH socket)
and ``AsyncZmqWorker`` (the extract stage, publishing results to the master);
``control.WorkerControl`` is the worker's side of the management channel: heartbeats,
credit, the master's clock and the licence to fetch.  The stages are re-exported here
(``spyder.core.worker.ZmqWorker``, the original's dotted path).
"""
from spyder.core.worker.zmqworker import AsyncZmqWorker, ZmqWorker

__all__ = ["AsyncZmqWorker", "ZmqWorker"]
