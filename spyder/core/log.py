"""Process logging: every master and worker logs to stderr and, over a ZeroMQ PUB
socket wrapped in pyzmq's ``PUBHandler``, to the logsink.

Records are published with topic ``<root_topic>.<LEVEL>[.<subtopic>]``; a message
written as ``"frontier::text"`` gets the subtopic ``frontier`` (the original's
convention).  ``setup_logging`` configures the root logger once per process; the
components themselves only call ``logging.getLogger(...)``.
"""
import logging
import sys

import zmq
from zmq.log.handlers import PUBHandler

from spyder.core.wire.sockets import connect

_STDERR_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _StderrFormatter(logging.Formatter):
    """Shows ``"frontier::text"`` as ``"frontier: text"`` on stderr."""

    def format(self, record):
        text = super().format(record)
        return text.replace("::", ": ", 1)


def setup_logging(ctx, settings, root_topic, level, stderr=True):
    """Attach the PUBHandler (and a stderr handler) to the root logger.

    Returns ``(handler, socket)``; the caller closes the socket on shutdown.
    """
    sock = ctx.socket(zmq.PUB)
    sock.linger = 500
    connect(sock, settings.ZEROMQ_LOGGING, "ZEROMQ_LOGGING")
    handler = PUBHandler(sock)
    handler.root_topic = root_topic
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    if stderr:
        err = logging.StreamHandler(sys.stderr)
        err.setFormatter(_StderrFormatter(_STDERR_FORMAT))
        root.addHandler(err)
    root.setLevel(level)
    return handler, sock


def teardown_logging(handler, sock):
    """Detach the PUBHandler and close its socket."""
    logging.getLogger().removeHandler(handler)
    sock.close()
