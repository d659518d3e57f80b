"""The worker side: the two pipeline stages of one worker process.

A worker process runs two stages on one IOLoop, as the 2011 original did:

* the **fetch stage**, an ``AsyncZmqWorker``: takes ``[master_identity, CrawlUri,
  ticket]`` messages from the master's PUSH (PULL socket) only while it has a free
  slot and may work (see below) -- never more than ``MAX_CLIENTS`` fetches at once,
  at most a pipe's high-water mark more waiting in ZeroMQ's queues and up to
  ``WORKER_PREFETCH`` in its backlog, ready for the next free slot -- awaits the
  ``FetchProcessor`` for each and hands the result to the extract stage.  A dispatch
  whose deadline (the master's clock, converted by ``MasterClock``) has passed, or that
  comes from another master, is handed back unfetched; a fetch still running at its
  deadline or at the end of the worker's licence is cancelled (599).  A dispatch read
  less than ``CLAIM_GUARD`` before its *claim* deadline is handed back unread (``void``);
  one read in time is claimed (the next credit snapshot holds it) and fetched at once, but
  a fetch whose claim the master has not confirmed (``confirm``) by the claim deadline is
  cancelled and handed back: past it the master may have given the URL to another worker;
* the **extract stage**, a ``ZmqWorker``: runs the synchronous processing function
  (limiter, link extractors, scopers) over each fetched CrawlUri and publishes it
  to the master (an XPUB socket) with the master's identity, copied unchanged, as
  frame 0 and the ticket (dispatch id, this worker) as frame 2, with the body's SHA-1
  (``content_sha1``) so that the master does not hash large bodies on its loop.  The
  XPUB reports the master's subscription arriving and going: that is how the worker
  knows the master receives its results.

Large inputs never run on the loop: the extract stage processes a page whose body is
above ``EXTRACT_INLINE_MAX_SIZE`` bytes, and every sitemap (a small gzip can inflate
to ``SITEMAP_MAX_SIZE``), in one thread beside the loop (``OffLoop``: its own
processors, one input at a time, on a copy of the CrawlUri).  The HTML parser
(Lexbor) releases the GIL while it parses, and the Python parts give it back every
few milliseconds, so heartbeats, dispatches and results go on meanwhile; the fetch
slot stays taken until the page is processed, so the worker takes no more work than
it can process and a deadline still cuts it short.

The 2011 original connected the two stages with an inproc PUSH/PULL pair; here the
fetch stage calls the extract stage directly: the pair cost a msgpack round trip of
every page with its body and two socket operations, a sixth of a worker's CPU, and
bought nothing (both stages share one thread and one loop).

Neither stage ever drops a URL: an exception becomes a result with status 710
(processing error; the fetcher itself reports network errors as 599) and the
error text in ``optional_vars["error"]``.  Malformed messages are counted
(``DropCounter``) and dropped.

``WorkerControl`` (``spyder.core.worker.control``) speaks the management protocol
for the process and decides when the fetch stage may take work.
"""
import asyncio
import collections
import concurrent.futures
import dataclasses
import hashlib
import logging
import time

import zmq
from tornado.ioloop import IOLoop

from spyder.core import constants as C
from spyder.core.wire.masterclock import MasterClock
from spyder.core.crawluri import CrawlUri
from spyder.core.settings import SettingsError
from spyder.core.wire.messages import (MAX_PREFETCH, DropCounter, check_crawluri,
                                       deserialize_crawluri, joined_frames, received_data)
from spyder.core.wire.zmqchannel import ZmqChannel
from spyder.core.worker.slots import SlotPool

log = logging.getLogger("spyder.worker")

#: The error text of URLs a worker returns unprocessed because it is leaving.
SHUTTING_DOWN = "worker shutting down"
#: The error text of URLs handed back because their deadline passed before a slot freed.
TOO_LATE = "dispatch deadline passed before the fetch could start"
#: The error text of fetches cancelled at their deadline or at the end of the licence.
CUT_SHORT = "fetch cancelled at its dispatch deadline (or the worker lost its master)"
#: The error text of dispatches read too close to (or past) their claim deadline.
READ_TOO_LATE = "read past its claim deadline (the worker was stopped, cut off or busy)"
#: The error text of fetches whose claim the master did not confirm by the claim deadline.
UNCONFIRMED = "claim not confirmed by the master by the claim deadline"
#: Seconds before its claim deadline (the master's clock, converted) after which a dispatch
#: is handed back unread rather than claimed: the claim and its confirmation need a round
#: trip (normally milliseconds; the credit snapshot waits up to 50 ms for a result).
CLAIM_GUARD = 0.5
#: Prefetched dispatches (``WORKER_PREFETCH``) are at most as many as the stage's fetches
#: that ended in the last third of the claim window (``DISPATCH_CLAIM_TIMEOUT`` / 3, the
#: stage's ``prefetch_horizon``; 1 s by default): at that pace each waits for a slot
#: about that long, well before its claim guard.
PREFETCH_HORIZON_SHARE = 1 / 3
#: Seconds a result may wait for others to share its message while its fetch stage has
#: dispatches waiting for a slot (its slots have work without the credit the result
#: carries): fewer, fuller messages both ways (``ZmqWorker.publish``).
RESULT_HOLD = 0.005
#: Bodies past this many bytes in all end a message of several results: a run of large
#: pages (WARC keeps bodies) goes out as several messages, not one of many megabytes.
_BATCH_BYTES = 1024 * 1024


def worker_prefetch(settings):
    """``(prefetch, horizon)``: ``WORKER_PREFETCH``, checked -- the most dispatches a
    fetch stage asks for beyond its free slots -- and the seconds of turnover that bound
    it (``PREFETCH_HORIZON_SHARE`` of ``DISPATCH_CLAIM_TIMEOUT``)."""
    prefetch = settings.WORKER_PREFETCH
    if (isinstance(prefetch, bool) or not isinstance(prefetch, int)
            or not 0 <= prefetch <= MAX_PREFETCH):
        raise SettingsError("WORKER_PREFETCH = %r: expected a whole number from 0 (no "
                            "dispatch waits for a slot) to %d" % (prefetch, MAX_PREFETCH))
    return prefetch, max(float(settings.DISPATCH_CLAIM_TIMEOUT), 0.0) * PREFETCH_HORIZON_SHARE


def _mark_failed(curi, status, error):
    curi.status_code = status
    curi.optional_vars[C.CURI_ERROR] = error


def _error_text(exc):
    return "%s: %s" % (type(exc).__name__, exc)


def _failed(stage, msg, curi, exc):
    """``stage``'s processing raised on ``curi``: it goes on as a processing error (710)."""
    log.exception("worker::%s stage failed on %s", stage, curi.url)
    msg.curi = curi
    _mark_failed(curi, C.CURI_EUNCAUGHT_EXCEPTION, _error_text(exc))


def _returned(curi):
    """What a processing function returned: a CrawlUri (anything else is an error)."""
    if not isinstance(curi, CrawlUri):
        raise TypeError("the processing function returned %r, not a CrawlUri"
                        % (curi if curi is None else type(curi).__name__))
    return curi


def _digest(curi):
    """Record the body's SHA-1 (``optional_vars["content_sha1"]``): the worker has the
    body in hand, the master would hash it on its event loop."""
    if curi.content_body is None:
        curi.optional_vars.pop(C.CURI_CONTENT_SHA1, None)
    else:
        curi.optional_vars[C.CURI_CONTENT_SHA1] = hashlib.sha1(curi.content_body).hexdigest()


def _leave_out_body(curi):
    """The master needs no body (no sink reads it): send its length instead."""
    if curi.content_body is not None:
        curi.optional_vars[C.CURI_CONTENT_LENGTH] = str(len(curi.content_body))
        curi.content_body = None


def _checked_frames(msg):
    """The frames of ``msg``; raises if the master would drop them as malformed."""
    check_crawluri(msg.curi)
    return msg.serialize()


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
            _digest(curi)
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


def _copy(curi):
    """A copy of ``curi`` whose maps may be changed apart from the original (the body,
    immutable, is shared)."""
    copy = dataclasses.replace(curi, req_header=dict(curi.req_header or {}),
                               rep_header=dict(curi.rep_header or {}),
                               optional_vars=dict(curi.optional_vars or {}))
    lines = getattr(curi, "rep_header_lines", None)
    if lines is not None:
        copy.rep_header_lines = lines
    return copy


class OffLoop:
    """Processing of large inputs in one thread beside the event loop.

    ``processing`` is a processing function of its own (its processors are used by
    this thread only); ``inline_max`` the largest body processed on the loop.  Every
    sitemap (``optional_vars["sitemap_fetch"]``) goes to the thread whatever its size.
    """

    def __init__(self, processing, inline_max):
        self._processing = processing
        self._inline_max = inline_max
        self._executor = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="spyder-extract")
        #: inputs processed in the thread
        self.processed = 0

    def wants(self, curi):
        body = curi.content_body
        if not body:
            return False
        return (len(body) > self._inline_max
                or (curi.optional_vars or {}).get(C.CURI_SITEMAP_FETCH) == C.CURI_OPTIONAL_TRUE)

    def _run(self, curi):
        curi = _returned(self._processing(curi))
        _digest(curi)  # the SHA-1 of a large body is worth taking off the loop too
        return curi

    async def process(self, curi):
        """``processing(copy of curi)`` in the thread; its exception is raised here."""
        result = await asyncio.wrap_future(self._executor.submit(self._run, _copy(curi)))
        self.processed += 1
        return result

    def close(self):
        self._executor.shutdown(wait=False, cancel_futures=True)


class ZmqWorker:
    """The extract stage: ``processing(curi) -> curi`` over every fetched CrawlUri the
    fetch stage hands it (``stage(msg)``), then the result published on ``outsocket``.

    ``max_message_size`` bounds what it sends (see ``_fit``); None = no bound.
    ``off_loop`` (an ``OffLoop``) takes the large inputs: the fetch stage awaits
    ``process_off_loop(msg)`` for those and then calls ``finish(msg, body)``.

    Results go out at the end of the loop turn that produced them: those of one turn
    travel in one message, up to ``batch`` of them (``WorkerControl`` sets it from what
    the master announced; 1, one per message, until it did).  While ``hold()`` is true
    (the fetch stage has dispatches waiting for a slot: its slots need no credit soon)
    they wait up to ``RESULT_HOLD`` seconds for more; a result that comes once it is
    false sends them all at the end of its turn.
    """

    def __init__(self, outsocket, processing, io_loop=None, max_message_size=None,
                 off_loop=None):
        self._out = ZmqChannel(outsocket, io_loop)
        self._loop = io_loop or IOLoop.current()
        self._processing = processing
        self._max_message_size = max_message_size
        self.off_loop = off_loop
        #: the most results one message carries to the master
        self.batch = 1
        #: whether results may wait for more (set by the fetch stage; None: never)
        self.hold = None
        self._pending = []        # the frames of results not sent yet
        self._held = None         # the timeout that sends held results

    async def process_off_loop(self, msg):
        """Process ``msg.curi`` in the off-loop thread (an exception there becomes a
        processing error, 710, as on the loop)."""
        curi = msg.curi
        try:
            msg.curi = await self.off_loop.process(curi)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            _failed("extract", msg, curi, exc)
            _digest(msg.curi)

    def finish(self, msg, body=True):
        """Publish ``msg``, processed off the loop already."""
        if not body:
            _leave_out_body(msg.curi)
        self.publish(msg)

    def __call__(self, msg, body=True):
        """Process the fetched ``msg.curi`` and publish the result; ``body`` False leaves
        the body out of it (its length and SHA-1 go instead)."""
        curi = msg.curi
        try:
            msg.curi = _returned(self._processing(curi))
            _digest(msg.curi)
            if not body:
                _leave_out_body(msg.curi)
        except Exception as exc:
            _failed("extract", msg, curi, exc)
        self.publish(msg)

    def publish(self, msg):
        """Send ``msg`` to the master as it is (cut to ``max_message_size``), at the end
        of this loop turn."""
        frames = _frames(msg)
        if self._max_message_size is not None and len(frames[1]) > self._max_message_size:
            frames = _fit(frames, msg, self._max_message_size)
        if not self._pending:
            if self.hold is not None and self.hold():
                self._held = self._loop.call_later(RESULT_HOLD, self._send_pending)
            else:
                self._loop.add_callback(self._send_pending)
        elif self._held is not None and not self.hold():
            self._release()
            self._loop.add_callback(self._send_pending)
        self._pending.append(frames)

    def _release(self):
        """Forget the timeout that was to send the held results."""
        if self._held is not None:
            self._loop.remove_timeout(self._held)
            self._held = None

    def _send_pending(self):
        """Send the queued results: runs of one master identity with tickets go ``batch``
        to a message, and no more than ``_BATCH_BYTES`` of them."""
        self._release()
        pending, self._pending = self._pending, []
        run, size = [], 0
        for frames in pending:
            joins = (run and len(frames) == 3 and frames[0] == run[0][0]
                     and len(run) < self.batch and size + len(frames[1]) <= _BATCH_BYTES)
            if run and not joins:
                self._send_run(run)
                run, size = [], 0
            if len(frames) == 3 and self.batch > 1:
                run.append(frames)
                size += len(frames[1])
            else:
                self._out.send_multipart(frames)
        if run:
            self._send_run(run)

    def _send_run(self, run):
        self._out.send_multipart(run[0] if len(run) == 1 else joined_frames(run))

    def watch_listener(self, callback):
        """Call ``callback(True/False)`` as the master's subscription to the results
        arrives and goes (the output must be an XPUB with ``XPUB_VERBOSE``)."""
        self._out.on_recv(lambda frames: callback(frames[0][:1] == b"\x01"))

    def flush(self):
        """Write out queued results now."""
        self._send_pending()
        self._out.flush()

    def close(self):
        if self.off_loop is not None:
            self.off_loop.close()
        if not self._out.closed():
            self._send_pending()
            self._out.close()


class AsyncZmqWorker:
    """The fetch stage: ``await processing(curi) -> curi``, at most ``slots`` at once, for
    the dispatches on ``insocket``; each result goes to ``extract`` (the extract stage,
    called with the DataMessage), dispatches it hands back or cuts short go straight
    to ``extract.publish``.

    ``extract`` holds results back for fuller messages while this stage's backlog has
    dispatches (``ZmqWorker.hold``).

    ``slots`` is a number of slots, or a ``SlotPool`` this stage shares with the fetch
    stages of the worker's other masters: it then takes at most its quota of them (see
    ``spyder.core.worker.slots``).  ``clock`` (a ``MasterClock``) converts dispatch
    deadlines; ``identity`` (the worker's) goes into every result's ticket;
    ``on_change()`` is called whenever the free slots or the held dispatches change.  A
    message without a ticket has no deadline.  ``label`` names its master in the log.

    A message may carry up to ``batch`` dispatches (announced to the master).  Those it
    has no free slot for yet wait in a backlog, read from it as slots free before the
    socket is read again: the backlog is the end of the pipe, and what it holds counts
    as not free in the credit snapshots.  ``prefetch`` (``WORKER_PREFETCH``, announced
    to the master) lets the backlog be filled on purpose: the stage asks for up to that
    many dispatches beyond its free slots -- but never more than its slots finished in
    the last ``prefetch_horizon`` seconds (a third of the claim window), so a dispatch
    waits there a fraction of that window -- and a slot that frees takes the next one
    at once instead of waiting for the master's answer to its result.
    """

    def __init__(self, insocket, processing, slots, extract, io_loop=None, clock=None,
                 label="master", batch=1, prefetch=0, prefetch_horizon=1.0):
        self._in = ZmqChannel(insocket, io_loop)
        #: the most dispatches one message may carry to this stage
        self.batch = batch
        #: the most dispatches it asks for beyond its free slots (``WORKER_PREFETCH``)
        self.prefetch = prefetch
        #: the seconds of turnover that bound the prefetch room (``_prefetch_room``)
        self.prefetch_horizon = prefetch_horizon
        #: when its last ``prefetch`` fetches ended (the newest last; ``_prefetch_room``)
        self._turnover = collections.deque(maxlen=prefetch) if prefetch else None
        self._backlog = collections.deque()   # dispatches read, waiting for a slot
        self._processing = processing
        self._extract = extract
        extract.hold = self._has_backlog   # results wait for more while slots have work
        self.label = label
        self.clock = clock or MasterClock()
        self.identity = b""
        self.on_change = None
        self.dropped = DropCounter(log)
        self._io_loop = io_loop or IOLoop.current()
        self._tasks = {}          # asyncio.Task -> DataMessage
        self._timers = {}         # asyncio.Task -> its deadline's timeout handle
        self._unconfirmed = {}    # asyncio.Task -> its claim deadline's timeout handle
        self._taking = False
        self._allowed = True      # WorkerControl: the master listens and we hold a licence
        self._idle = None         # asyncio.Event set while nothing is in flight
        self._snapshots = 0       # credit snapshots taken (numbered for the master)
        self._reported = None     # (free, held) as the last snapshot told them
        #: dispatches fetched and answered (not handed back, not cut short)
        self.fetched = 0
        self.pool = slots if isinstance(slots, SlotPool) else SlotPool(slots)
        self.pool.join(self)

    @property
    def slots(self):
        """The worker's slots (shared with its other masters' fetch stages, if any)."""
        return self.pool.slots

    @property
    def quota(self):
        """The most fetches this stage may have under way now (``SlotPool``)."""
        return self.pool.quota(self)

    @property
    def in_flight(self):
        return len(self._tasks)

    @property
    def wanting(self):
        """Whether the stage may take work (started, and allowed by WorkerControl)."""
        return self._taking and self._allowed

    @property
    def free(self):
        """Free slots and prefetch room (0 once the stage stopped taking work or may not
        take it); a dispatch in the backlog takes one."""
        if not self.wanting:
            return 0
        return max(self.quota + self._prefetch_room() - len(self._tasks) - len(self._backlog),
                   0)

    def _prefetch_room(self):
        """Dispatches the stage may hold beyond its slots now: its fetches that ended in
        the last ``prefetch_horizon`` seconds, up to ``prefetch``."""
        turnover = self._turnover
        if not turnover:
            return 0
        horizon = time.monotonic() - self.prefetch_horizon
        while turnover and turnover[0] <= horizon:
            turnover.popleft()
        return len(turnover)

    def _has_backlog(self):
        """Whether dispatches wait for a slot (the results may wait for more)."""
        return bool(self._backlog)

    def quota_changed(self):
        """``SlotPool``: this stage's quota changed."""
        self._update_receiving()
        self._changed()

    @property
    def held(self):
        """The dispatch ids of the fetches under way."""
        return [msg.ticket[C.TICKET_ID] for msg in self._tasks.values() if msg.ticket]

    def snapshot(self):
        """The credit snapshot for the master: ``free``, ``held`` and its number ``n``.

        Snapshots go out in results (every ticket carries one) and in management
        messages; the two can overtake each other, so the master keeps the newest."""
        self._snapshots += 1
        self._reported = (self.free, self.held)
        return {C.MGMT_DETAIL_FREE: self._reported[0], C.MGMT_DETAIL_HELD: self._reported[1],
                C.MGMT_DETAIL_SEQ: self._snapshots}

    @property
    def reported(self):
        """Whether the last snapshot still tells the free slots and held dispatches."""
        return self._reported == (self.free, self.held)

    def start(self):
        """Start taking work (as long as a slot is free)."""
        self._taking = True
        self.pool.rebalance()
        self._update_receiving()

    def stop(self):
        """Stop taking work; in-flight work goes on."""
        self._taking = False
        self.pool.rebalance()
        self._update_receiving()

    def allow(self, allowed):
        """May the stage take work?  (WorkerControl: master listening and licensed.)"""
        if allowed != self._allowed:
            self._allowed = allowed
            self.pool.rebalance()
            self._update_receiving()
            self._changed()

    def confirm(self, ok, void):
        """The master registered the claims ``ok`` (dispatch ids): those fetches may go on
        past their claim deadline.  ``void``: ids that are not ours (any more): cancelled and
        handed back."""
        ok, void = set(ok), set(void)
        for task, msg in list(self._tasks.items()):
            dispatch_id = msg.ticket.get(C.TICKET_ID) if msg.ticket else None
            if dispatch_id in void:
                self._withdraw(task, "the master says dispatch %s is not ours" % dispatch_id)
            elif dispatch_id in ok:
                handle = self._unconfirmed.pop(task, None)
                if handle is not None:
                    self._io_loop.remove_timeout(handle)

    @property
    def unconfirmed(self):
        """How many fetches wait for the master to confirm their claim."""
        return len(self._unconfirmed)

    def cut_off(self):
        """The licence ended: cancel every fetch (their dispatches are someone else's now)."""
        for task in list(self._tasks):
            self._cut(task)

    async def drain(self, timeout, cut_short=None):
        """Stop taking work, wait up to ``timeout`` s for in-flight work, return the rest.

        Unfinished work and messages still queued on the input socket are handed back
        (ticket ``back``, ``optional_vars["error"] = "worker shutting down"``, status 599
        for a master that reads no tickets).  ``cut_short`` (an ``asyncio.Event``) ends
        the wait early.  Returns how many messages were handed back.
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
            self._forget(task).cancel()
            self._hand_back(msg, SHUTTING_DOWN)
            returned += 1
        while True:
            while self._backlog:
                self._hand_back(self._backlog.popleft(), SHUTTING_DOWN)
                returned += 1
            try:
                frames = self._in.socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            self._backlog.extend(self._parse(frames))
        self._extract.flush()
        return returned

    def close(self):
        for task in list(self._tasks):
            self._forget(task).cancel()
        self._backlog.clear()     # as the pipe's: their master returns them unclaimed
        self.pool.leave(self)
        if not self._in.closed():
            self._in.close()

    async def _wait_idle(self):
        while self._tasks:
            self._idle = asyncio.Event()
            await self._idle.wait()

    def _update_receiving(self):
        """Start what the backlog holds as far as slots allow, then read the socket if a
        slot is still free."""
        taken = False
        while self._backlog and self.wanting and len(self._tasks) < self.quota:
            self._take(self._backlog.popleft())
            taken = True
        wanted = (self.wanting and len(self._tasks) + len(self._backlog)
                  < self.quota + self._prefetch_room())
        if taken:
            self._changed()
        if wanted and not self._in.receiving():
            self._in.on_recv(self._receive)
        elif not wanted and self._in.receiving():
            self._in.stop_on_recv()

    def _changed(self):
        if self.on_change is not None:
            self.on_change()

    def _deadline(self, msg):
        """Local time by which ``msg``'s fetch must be over (inf without a ticket), or
        ``None`` if it must not start."""
        ticket = msg.ticket
        if ticket is None:
            return float("inf")
        deadline = ticket.get(C.TICKET_DEADLINE)
        if not isinstance(deadline, (int, float)) or isinstance(deadline, bool):
            return None
        local = self.clock.local(msg.identity, deadline)
        if local is None or local <= self.clock.now() or not self.clock.licensed():
            return None
        return local

    def _claim_deadline(self, msg):
        """Local time by which the master must have confirmed ``msg``'s claim (inf without
        a claim deadline), or ``None`` if it is too late to claim it."""
        ticket = msg.ticket
        claim_by = ticket.get(C.TICKET_CLAIM_BY) if ticket else None
        if claim_by is None:
            return float("inf")
        if not isinstance(claim_by, (int, float)) or isinstance(claim_by, bool):
            return None
        local = self.clock.local(msg.identity, claim_by)
        if local is None or self.clock.now() >= local - CLAIM_GUARD:
            return None
        return local

    def _parse(self, frames):
        """The DataMessages in ``frames``; a malformed one is counted and dropped."""
        return received_data(frames, self.batch, self.dropped, "fetch stage input")

    def _receive(self, frames):
        self._backlog.extend(self._parse(frames))
        self._update_receiving()

    def _take(self, msg):
        """Start ``msg``'s fetch in a free slot, or hand it back if it is too late."""
        deadline = self._deadline(msg)
        if deadline is None:
            self._hand_back(msg, TOO_LATE)
            return
        claim_by = self._claim_deadline(msg)
        if claim_by is None:
            self._hand_back(msg, READ_TOO_LATE, void=True)
            return
        task = asyncio.ensure_future(self._process(msg))
        self._tasks[task] = msg
        now = self.clock.now()
        if deadline != float("inf"):
            self._timers[task] = self._io_loop.call_later(deadline - now, self._cut, task)
        if claim_by != float("inf"):
            self._unconfirmed[task] = self._io_loop.call_later(
                claim_by - now, self._withdraw, task, UNCONFIRMED)
        task.add_done_callback(self._finished)

    async def _process(self, msg):
        curi = msg.curi
        processed = False
        try:
            msg.curi = _returned(await self._processing(curi))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            _failed("fetch", msg, curi, exc)
        else:
            off_loop = getattr(self._extract, "off_loop", None)
            if off_loop is not None and off_loop.wants(msg.curi):
                await self._extract.process_off_loop(msg)  # the slot stays taken meanwhile
                processed = True
        if self._forget(asyncio.current_task()) is not None:
            self.fetched += 1
            body = msg.ticket is None or msg.ticket.get(C.TICKET_BODY) is not False
            self._ticket(msg)
            if processed:
                self._extract.finish(msg, body)
            else:
                self._extract(msg, body)

    def _forget(self, task):
        """Take ``task`` off the books (and its deadline timer); returns it, or None."""
        for timers in (self._timers, self._unconfirmed):
            handle = timers.pop(task, None)
            if handle is not None:
                self._io_loop.remove_timeout(handle)
        return task if self._tasks.pop(task, None) is not None else None

    def _cut(self, task):
        msg = self._tasks.get(task)
        if msg is None:
            return
        self._forget(task).cancel()
        log.warning("worker::%s: %s", msg.curi.url, CUT_SHORT)
        _mark_failed(msg.curi, C.CURI_ENETWORK, CUT_SHORT)
        self._ticket(msg)
        self._extract.publish(msg)

    def _withdraw(self, task, reason):
        """Cancel ``task``'s fetch and hand its dispatch back: the master did not confirm
        the claim in time, or says the dispatch is not ours."""
        msg = self._tasks.get(task)
        if msg is None:
            return
        self._forget(task).cancel()
        log.warning("worker::%s: %s", msg.curi.url, reason)
        self._hand_back(msg, reason)

    def _finished(self, task):
        self._forget(task)
        if self._turnover is not None:
            self._turnover.append(time.monotonic())
        if not self._tasks and self._idle is not None:
            self._idle.set()
        if self.pool.shared:
            self.pool.rebalance()  # a slot above our quota may go to another master
        self._update_receiving()
        self._changed()

    def _hand_back(self, msg, reason, void=False):
        _mark_failed(msg.curi, C.CURI_ENETWORK, reason)
        log.info("worker::handing %s back unfetched: %s", msg.curi.url, reason)
        self._ticket(msg, handed_back=True, void=void)
        self._extract.publish(msg)

    def _ticket(self, msg, handed_back=False, void=False):
        """The result's ticket: the dispatch id, this worker, whether it is handed back
        (``void``: unread, past its claim deadline), and a credit snapshot (so that the
        master rarely needs a ``credit`` message)."""
        if msg.ticket is not None:
            msg.ticket = {C.TICKET_ID: msg.ticket.get(C.TICKET_ID), C.TICKET_WORKER: self.identity,
                          C.TICKET_HANDED_BACK: handed_back, **self.snapshot()}
            if void:
                msg.ticket[C.TICKET_VOID] = True
