"""ZmqMgmt: the management channel, one SUB and one PUB socket on the IOLoop.

The master binds its pair (SUB on ``ZEROMQ_MGMT_WORKER``, PUB on
``ZEROMQ_MGMT_MASTER``); workers connect the mirror pair.  Messages are
``MgmtMessage`` frames ``[topic, identity, data(, details)]``; each received message
is handed to every callback registered for its exact topic, in registration order.
Callbacks may add or remove callbacks while being called (the 2011 original skipped
callbacks in that case).  Malformed frames and unknown topics are counted and
dropped.  Both sockets are driven by ``ZmqChannel``: a worker's credit messages go out about
once per page, and ``ZMQStream`` costs several times the socket calls.
"""
import logging

import zmq

from spyder.core.wire.messages import DropCounter, MessageError, MgmtMessage
from spyder.core.wire.zmqchannel import ZmqChannel

log = logging.getLogger("spyder.mgmt")


class ZmqMgmt:
    """Receive management messages into callbacks and publish management messages."""

    def __init__(self, sub_socket, pub_socket, io_loop=None):
        self._sub_socket = sub_socket
        self._pub_socket = pub_socket
        self._in = ZmqChannel(sub_socket, io_loop)
        self._out = ZmqChannel(pub_socket, io_loop)
        self._callbacks = {}
        self.dropped = DropCounter(log)

    def add_callback(self, topic, callback):
        """Call ``callback(MgmtMessage)`` for every message on ``topic`` (bytes)."""
        if not callable(callback):
            raise ValueError("management callback for %r is not callable: %r"
                             % (topic, callback))
        self._callbacks.setdefault(topic, []).append(callback)

    def subscribe(self, topic):
        """Also receive ``topic`` (a prefix) on the SUB socket."""
        self._sub_socket.setsockopt(zmq.SUBSCRIBE, topic)

    def remove_callback(self, topic, callback):
        """Stop calling ``callback`` for ``topic``; unknown pairs are ignored."""
        callbacks = self._callbacks.get(topic, [])
        if callback in callbacks:
            callbacks.remove(callback)
        if not callbacks:
            self._callbacks.pop(topic, None)

    def start(self):
        """Start receiving."""
        self._in.on_recv(self._receive)

    def stop(self):
        """Stop receiving (publishing still works)."""
        self._in.stop_on_recv()

    def publish(self, topic, identity, data, details=None):
        """Send ``[topic, identity, data(, details)]`` on the PUB socket."""
        if topic is None or data is None:
            raise ValueError("management messages need a topic and data")
        self._out.send_multipart(MgmtMessage(topic, identity, data, details).serialize())

    def flush(self):
        """Write out queued outgoing messages now."""
        self._out.flush()

    def close(self):
        """Close both streams and sockets."""
        for stream in (self._in, self._out):
            if not stream.closed():
                stream.close()

    def _receive(self, frames):
        try:
            msg = MgmtMessage.from_frames(frames)
        except MessageError as exc:
            self.dropped.drop("management", exc)
            return
        callbacks = self._callbacks.get(msg.topic)
        if not callbacks:
            self.dropped.drop("management", "unknown topic %r" % msg.topic[:64])
            return
        for callback in list(callbacks):
            try:
                callback(msg)
            except Exception:
                log.exception("management callback %r failed on %r", callback, msg)
