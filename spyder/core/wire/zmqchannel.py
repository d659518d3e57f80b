"""ZmqChannel: a ZeroMQ socket on the IOLoop, without ZMQStream's cost per message.

The master's and the workers' data sockets carry one message per page each way, and
their management sockets a few per second (credit snapshots, heartbeats);
pyzmq's ``ZMQStream`` spends 12 µs more per receive and 37 µs more per send than the
socket calls themselves (``benchmarks/bench_zmqstream.py``): it re-reads socket
options through attribute lookups, builds flag enums and reschedules itself after
every message.  ``ZmqChannel`` offers the part of its interface Spyder uses
(``on_recv`` / ``stop_on_recv`` / ``receiving``, ``send_multipart``, ``flush``,
``close`` / ``closed``, ``socket``) with plain non-blocking calls:

* the socket's ``zmq.FD`` is watched for reading.  It is edge-triggered: it signals
  that the socket's state *may* have changed, and a send or receive can consume the
  signal.  So every wake-up reads ``zmq.EVENTS`` (which also clears the FD) and then
  receives until ``zmq.Again`` -- at most ``_BATCH`` messages or ``_BATCH_SECONDS``
  of handling, then it comes back on the next loop turn, so one busy socket does not
  starve the others and a run of costly messages (say robots.txt results, each
  parsed on the master's loop) does not add up into one long block --; after every
  send, flush and wake-up ``zmq.EVENTS`` is read again (that also clears the FD) and
  the channel comes back on the next loop turn while input waits for a callback or
  the socket can take queued output; starting to receive looks at once for what
  arrived before;
* ``send_multipart`` sends with ``NOBLOCK``; a message the socket cannot take now
  (high-water mark, no peer yet on a PUSH) is queued, in order, and written out
  when the socket reports ``POLLOUT``;
* a receive callback that raises loses that one message only: the exception is
  logged (the first and then every 1000th, with its traceback), counted in
  ``handler_errors``, and the channel goes on receiving and re-arms as usual.
"""
import collections
import logging
import time

import zmq
from tornado.ioloop import IOLoop

#: Messages received per wake-up before the loop's other work gets a turn.
_BATCH = 64
#: Seconds of handling per wake-up after which the loop's other work gets a turn.
_BATCH_SECONDS = 0.01

log = logging.getLogger("spyder.zmqchannel")


class ZmqChannel:
    """One ZeroMQ socket driven by the IOLoop; see the module docstring."""

    def __init__(self, socket, io_loop=None):
        self.socket = socket
        self._loop = io_loop or IOLoop.current()
        self._callback = None
        self._queue = collections.deque()
        self._scheduled = False
        self._fd = socket.FD
        #: exceptions the receive callback raised (each cost one message)
        self.handler_errors = 0
        self._loop.add_handler(self._fd, self._on_fd, IOLoop.READ)

    def on_recv(self, callback):
        """Call ``callback(frames)`` for every message received from now on."""
        self._callback = callback
        self._schedule()

    def stop_on_recv(self):
        """Stop receiving (messages wait in ZeroMQ's queue)."""
        self._callback = None

    def receiving(self):
        return self._callback is not None

    def send_multipart(self, frames):
        """Send ``frames`` now, or queue them if the socket cannot take them yet."""
        if not self._queue:
            try:
                self.socket.send_multipart(frames, zmq.NOBLOCK)
            except zmq.Again:
                self._queue.append(frames)
        else:
            self._queue.append(frames)
        self._rearm()

    def flush(self):
        """Write out what is queued, as far as the socket takes it now."""
        while self._queue:
            try:
                self.socket.send_multipart(self._queue[0], zmq.NOBLOCK)
            except zmq.Again:
                break
            self._queue.popleft()
        self._rearm()

    def closed(self):
        return self.socket is None or self.socket.closed

    def close(self, linger=None):
        """Stop watching the socket and close it."""
        if self._fd is not None:
            self._loop.remove_handler(self._fd)
            self._fd = None
        self._callback = None
        if not self.socket.closed:
            self.socket.close(linger)

    def _schedule(self):
        if not self._scheduled:
            self._scheduled = True
            self._loop.add_callback(self._service)

    def _on_fd(self, fd, events):
        if self._scheduled:  # a turn is already queued: it serves what the FD signals
            return
        self._service()

    def _rearm(self):
        """Any call on the socket may have consumed the FD's signal: look at its state
        and come back on the next loop turn if there is work for this channel."""
        if self._fd is None or self._scheduled:
            return
        events = self.socket.get(zmq.EVENTS)
        if (events & zmq.POLLIN and self._callback is not None) or \
                (events & zmq.POLLOUT and self._queue):
            self._schedule()

    def _service(self):
        self._scheduled = False
        if self._fd is None:
            return
        if self._queue:
            self.flush()
        give_way = time.monotonic() + _BATCH_SECONDS
        for _ in range(_BATCH):
            if self._callback is None or self._fd is None:
                break
            try:
                frames = self.socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            try:
                self._callback(frames)
            except Exception:  # one bad message must not stop the channel
                self.handler_errors += 1
                if self.handler_errors == 1 or self.handler_errors % 1000 == 0:
                    log.exception("receive callback failed (#%d); message dropped",
                                  self.handler_errors)
            if time.monotonic() > give_way:
                self._schedule()  # more may wait: come back after the loop's other work
                break
        if self._fd is not None:
            self._rearm()
