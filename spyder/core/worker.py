"""The worker side: its two pipeline stages and the control of one worker process.

A worker process runs two stages on one IOLoop, as the 2011 original did:

* the **fetch stage**, an ``AsyncZmqWorker``: takes ``[master_identity, CrawlUri]``
  messages from the master's PUSH (PULL socket) only while it has a free slot --
  never more than ``MAX_CLIENTS`` fetches at once, the rest waits in ZeroMQ's
  queues -- awaits the ``FetchProcessor`` for each and hands the result on over
  inproc;
* the **extract stage**, a ``ZmqWorker``: runs the synchronous processing function
  (limiter, link extractors, scopers) over each fetched CrawlUri and publishes it
  to the master with the master's identity, copied unchanged, as frame 0.

Neither stage ever drops a URL: an exception becomes a result with status 710
(processing error; the fetcher itself reports network errors as 599) and the
error text in ``optional_vars["error"]``.  Malformed messages are counted
(``DropCounter``) and dropped.

``WorkerControl`` speaks the management protocol for the process: ``be here now``
(with ``{"slots", "free"}``) at start and whenever the master says ``hello``,
``heartbeat`` every ``WORKER_HEARTBEAT_INTERVAL``, and on ``quit`` (or a signal)
the shutdown: stop taking work, let in-flight fetches finish within
``SHUTDOWN_TIMEOUT``, send back whatever is unfinished or still queued as status 599
``"worker shutting down"`` (so the master retries it at once), flush the results,
send ``quit.ack`` and set ``done``.  A second signal cuts the wait short.
"""
import asyncio
import logging
import time

import zmq
from tornado.ioloop import IOLoop, PeriodicCallback
from zmq.eventloop.zmqstream import ZMQStream

from spyder.core import constants as C
from spyder.core.messages import (DataMessage, DropCounter, MessageError,
                                  deserialize_crawluri)

log = logging.getLogger("spyder.worker")

#: The error text of URLs a worker returns unprocessed because it is leaving.
SHUTTING_DOWN = "worker shutting down"
#: Seconds the extract stage gets, after the fetch stage is done, to publish the rest.
_EXTRACT_GRACE = 5.0


def _mark_failed(curi, status, error):
    curi.status_code = status
    curi.optional_vars[C.CURI_ERROR] = error


def _error_text(exc):
    return "%s: %s" % (type(exc).__name__, exc)


def _returned(curi):
    """What a processing function returned: a CrawlUri (None is an error)."""
    if curi is None:
        raise TypeError("the processing function returned None")
    return curi


def _checked_frames(msg):
    """The frames of ``msg``, parsed back as the master will: raises if it would drop them."""
    frames = msg.serialize()
    deserialize_crawluri(frames[1])
    return frames


def _frames(msg):
    """The frames of ``msg``.  A CrawlUri that a processor left unsendable (a number in
    ``optional_vars``, a str body, ...: the master would drop it as malformed) goes out as
    a processing error: with its maps turned into strings if that is enough, else as it
    arrived at this stage."""
    try:
        return _checked_frames(msg)
    except Exception as exc:
        error = _error_text(exc)
        log.exception("worker::cannot send the result for %s as it is",
                      getattr(msg.curi, "url", msg.curi))
    try:
        curi = msg.curi
        for name in ("req_header", "rep_header", "optional_vars"):
            setattr(curi, name, {str(k): str(v) for k, v in dict(getattr(curi, name)).items()})
        _mark_failed(curi, C.CURI_EUNCAUGHT_EXCEPTION, error)
        return _checked_frames(msg)
    except Exception:
        pass
    msg.curi = deserialize_crawluri(msg.serialized_curi)  # what this stage received
    _mark_failed(msg.curi, C.CURI_EUNCAUGHT_EXCEPTION, error)
    return msg.serialize()


def _fit(frames, msg, max_size):
    """Frames no larger than ``max_size`` bytes (the master's ZEROMQ_MAX_MESSAGE_SIZE).

    A page can yield more link text than the master accepts in one message (which would
    lose the result until its lease expires, on every retry): the link list is cut first
    (``optional_vars["links_truncated"] = "1"``), then, if need be, the body
    (``optional_vars["truncated"] = "1"``, reason ``length`` unless it was cut before).
    """
    curi = msg.curi
    for key, marker in ((C.CURI_EXTRACTED_URLS, C.CURI_LINKS_TRUNCATED),
                        ("content_body", C.CURI_TRUNCATED)):
        excess = len(frames[1]) - max_size
        if excess <= 0:
            break
        if key == "content_body":
            body = curi.content_body or b""
            curi.content_body = body[:max(0, len(body) - excess - 4096)]
        else:
            links = curi.optional_vars.get(key, "")
            kept = links[:max(0, len(links) - excess - 4096)]
            curi.optional_vars[key] = kept[:kept.rfind("\n")] if "\n" in kept else ""
        curi.optional_vars[marker] = C.CURI_OPTIONAL_TRUE
        if marker == C.CURI_TRUNCATED:
            curi.optional_vars.setdefault(C.CURI_TRUNCATED_REASON, "length")
        log.warning("worker::result for %s is %d bytes, above %d: %s cut",
                    curi.url, len(frames[1]), max_size,
                    "links" if marker == C.CURI_LINKS_TRUNCATED else "body")
        frames = msg.serialize()
    return frames


class _Stage:
    """What both stages share: the two streams, input parsing and failure marking."""

    def __init__(self, insocket, outsocket, processing, io_loop, name):
        self._in = ZMQStream(insocket, io_loop)
        self._out = ZMQStream(outsocket, io_loop)
        self._processing = processing
        self._name = name
        self.dropped = DropCounter(log)

    def flush(self):
        """Write out queued results now."""
        self._out.flush(zmq.POLLOUT)

    def close(self):
        for stream in (self._in, self._out):
            if not stream.closed():
                stream.close()

    def _parse(self, frames):
        """The DataMessage in ``frames``, or None (counted and dropped) when malformed."""
        try:
            return DataMessage.from_frames(frames)
        except MessageError as exc:
            self.dropped.drop("%s stage input" % self._name, exc)
            return None

    def _failed(self, msg, curi, exc):
        """``processing`` raised on ``curi``: it goes on as a processing error (710)."""
        log.exception("worker::%s stage failed on %s", self._name, curi.url)
        msg.curi = curi
        _mark_failed(curi, C.CURI_EUNCAUGHT_EXCEPTION, _error_text(exc))


class ZmqWorker(_Stage):
    """A synchronous stage: ``processing(curi) -> curi`` for every message on ``insocket``.

    ``max_message_size`` bounds what it sends (see ``_fit``); None = no bound.
    """

    def __init__(self, insocket, outsocket, processing, io_loop=None, name="extract",
                 max_message_size=None):
        super().__init__(insocket, outsocket, processing, io_loop, name)
        self._max_message_size = max_message_size
        #: messages received and sent on (malformed ones not counted)
        self.processed = 0

    def start(self):
        """Start receiving."""
        self._in.on_recv(self._receive)

    def stop(self):
        """Stop receiving."""
        self._in.stop_on_recv()

    def _receive(self, frames):
        msg = self._parse(frames)
        if msg is None:
            return
        curi = msg.curi
        try:
            msg.curi = _returned(self._processing(curi))
        except Exception as exc:
            self._failed(msg, curi, exc)
        frames = _frames(msg)
        if self._max_message_size is not None and len(frames[1]) > self._max_message_size:
            frames = _fit(frames, msg, self._max_message_size)
        self._out.send_multipart(frames)
        self.processed += 1


class AsyncZmqWorker(_Stage):
    """An asynchronous stage: ``await processing(curi) -> curi``, at most ``slots`` at once."""

    def __init__(self, insocket, outsocket, processing, slots, io_loop=None, name="fetch"):
        super().__init__(insocket, outsocket, processing, io_loop, name)
        self.slots = slots
        self._tasks = {}          # asyncio.Task -> DataMessage
        self._taking = False
        self._idle = None         # asyncio.Event set while nothing is in flight
        #: messages sent on to the next stage
        self.sent = 0

    @property
    def in_flight(self):
        return len(self._tasks)

    @property
    def free(self):
        """Free slots (0 once the stage stopped taking work)."""
        return max(self.slots - len(self._tasks), 0) if self._taking else 0

    def start(self):
        """Start taking work (as long as a slot is free)."""
        self._taking = True
        self._update_receiving()

    def stop(self):
        """Stop taking work; in-flight work goes on."""
        self._taking = False
        self._update_receiving()

    async def drain(self, timeout, cut_short=None):
        """Stop taking work, wait up to ``timeout`` s for in-flight work, return the rest.

        Unfinished work and messages still queued on the input socket are sent on
        with status 599 and ``optional_vars["error"] = "worker shutting down"``.
        ``cut_short`` (an ``asyncio.Event``) ends the wait early.  Returns how many
        messages were returned unprocessed.
        """
        self.stop()
        if self._tasks:
            waiters = [asyncio.ensure_future(self._wait_idle())]
            if cut_short is not None:
                waiters.append(asyncio.ensure_future(cut_short.wait()))
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
        returned = 0
        for task, msg in list(self._tasks.items()):
            task.cancel()
            self._tasks.pop(task, None)
            self._return_unprocessed(msg)
            returned += 1
        while True:
            try:
                frames = self._in.socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            msg = self._parse(frames)
            if msg is not None:
                self._return_unprocessed(msg)
                returned += 1
        self.flush()
        return returned

    def close(self):
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()
        super().close()

    async def _wait_idle(self):
        while self._tasks:
            self._idle = asyncio.Event()
            await self._idle.wait()

    def _update_receiving(self):
        wanted = self._taking and len(self._tasks) < self.slots
        if wanted and not self._in.receiving():
            self._in.on_recv(self._receive)
        elif not wanted and self._in.receiving():
            self._in.stop_on_recv()

    def _receive(self, frames):
        msg = self._parse(frames)
        if msg is None:
            return
        task = asyncio.ensure_future(self._process(msg))
        self._tasks[task] = msg
        task.add_done_callback(self._finished)
        self._update_receiving()

    async def _process(self, msg):
        curi = msg.curi
        try:
            msg.curi = _returned(await self._processing(curi))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._failed(msg, curi, exc)
        if self._tasks.pop(asyncio.current_task(), None) is not None:
            self._send(msg)

    def _finished(self, task):
        self._tasks.pop(task, None)
        if not self._tasks and self._idle is not None:
            self._idle.set()
        self._update_receiving()

    def _return_unprocessed(self, msg):
        _mark_failed(msg.curi, C.CURI_ENETWORK, SHUTTING_DOWN)
        log.info("worker::returning %s unprocessed: %s", msg.curi.url, SHUTTING_DOWN)
        self._send(msg)

    def _send(self, msg):
        self._out.send_multipart(_frames(msg))
        self.sent += 1


class WorkerControl:
    """Registration, heartbeats and shutdown of one worker process (see the module docstring)."""

    def __init__(self, settings, identity, mgmt, fetcher, extractor, io_loop=None,
                 notifier=None):
        self._identity = identity if isinstance(identity, bytes) else identity.encode()
        self._mgmt = mgmt
        self._fetcher = fetcher
        self._extractor = extractor
        self._io_loop = io_loop or IOLoop.current()
        self._notifier = notifier
        self._shutdown_timeout = settings.SHUTDOWN_TIMEOUT
        self._heartbeat = PeriodicCallback(self._send_heartbeat,
                                           max(settings.WORKER_HEARTBEAT_INTERVAL, 0.01) * 1000)
        self._watchdog = None
        self._cut_short = asyncio.Event()
        self.stopping = False
        #: set once the shutdown is complete (quit.ack sent); the process then exits
        self.done = asyncio.Event()

    def start(self):
        """Start both stages and management; register with the master."""
        self._mgmt.add_callback(C.ZMQ_SPYDER_MGMT_WORKER, self._on_mgmt)
        self._mgmt.start()
        self._extractor.start()
        self._fetcher.start()
        self._heartbeat.start()
        if self._notifier is not None and self._notifier.watchdog_interval:
            self._watchdog = PeriodicCallback(self._notifier.watchdog,
                                              self._notifier.watchdog_interval * 1000)
            self._watchdog.start()
        self.register()
        log.info("worker::%s waiting for action (%d slots)",
                 self._identity.decode(), self._fetcher.slots)

    def register(self):
        """Send ``be here now`` with the free slots."""
        self._publish(C.ZMQ_SPYDER_MGMT_WORKER_AVAIL, self._details())

    def shutdown(self, reason="quit"):
        """Begin the graceful shutdown; a second call cuts the wait for in-flight work short."""
        if self.stopping:
            log.info("worker::%s again: not waiting for in-flight fetches", reason)
            self._cut_short.set()
            return
        self.stopping = True
        log.info("worker::%s: finishing in-flight fetches (at most %.1f s)",
                 reason, self._shutdown_timeout)
        if self._notifier is not None:
            self._notifier.stopping()
        self._io_loop.add_callback(self._shutdown)

    def _details(self):
        return {C.MGMT_DETAIL_SLOTS: self._fetcher.slots,
                C.MGMT_DETAIL_FREE: 0 if self.stopping else self._fetcher.free}

    def _publish(self, data, details=None):
        self._mgmt.publish(C.ZMQ_SPYDER_MGMT_WORKER, self._identity, data, details)

    def _send_heartbeat(self):
        self._publish(C.ZMQ_SPYDER_MGMT_WORKER_HEARTBEAT, self._details())

    def _on_mgmt(self, msg):
        if msg.data == C.ZMQ_SPYDER_MGMT_WORKER_QUIT:
            self.shutdown("quit from %s" % msg.identity.decode("utf-8", "replace"))
        elif msg.data == C.ZMQ_SPYDER_MGMT_WORKER_HELLO and not self.stopping:
            self.register()

    async def _shutdown(self):
        self._send_heartbeat()  # free = 0: the master stops sending work here
        returned = await self._fetcher.drain(self._shutdown_timeout, self._cut_short)
        if returned:
            log.warning("worker::returned %d unfinished URLs to the master", returned)
        deadline = time.monotonic() + _EXTRACT_GRACE  # (extraction is quick: no cutting short)
        while self._extractor.processed < self._fetcher.sent and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        self._extractor.stop()
        self._extractor.flush()
        self._heartbeat.stop()
        if self._watchdog is not None:
            self._watchdog.stop()
        self._publish(C.ZMQ_SPYDER_MGMT_WORKER_QUIT_ACK)
        self._mgmt.flush()
        log.info("worker::%s down", self._identity.decode())
        self.done.set()
