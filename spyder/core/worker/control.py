"""WorkerControl: one worker process's side of the management protocol.

``WorkerControl`` speaks the management protocol for the process: ``be here now``
(with ``{"slots", "free", "held", "t", "batch"}``) at start and whenever the master says
``hello``, ``heartbeat`` every ``WORKER_HEARTBEAT_INTERVAL``, ``credit`` when the
free slots or held dispatches changed and no result told the master within
``_CREDIT_DELAY`` (every result's ticket carries the same snapshot), and on ``quit``
(or a signal) the
shutdown: stop taking work, let in-flight fetches finish within
``SHUTDOWN_TIMEOUT``, hand back whatever is unfinished or still queued (ticket
``back``, error ``"worker shutting down"``: the master dispatches it again at once,
no attempt counted), flush the results, send ``quit.ack`` and set ``done``.  A
second signal cuts the wait short.  The worker takes work only while the master
is subscribed to its results *and* it holds a licence (a recent heartbeat echo,
``MasterClock``); otherwise it announces no free slots and leaves PULL unread.
Every management message also announces how many dispatches one message may carry
to the worker (``batch``, the fetch stage's), and every echo says how many results
the master takes in one: the extract stage sends at most that many together.
A worker serving several masters has one ``WorkerControl`` per master (each with its
own fetch stage and clock); a ``quit`` ends that master's link only.

It also measures how late the event loop runs a timer set every ``_LAG_PROBE``
seconds, as the master does: ``loop_lag_max`` (the worst since start) and the
worst since the previous heartbeat go out in every management message's details
(``lag_max``, ``lag``, seconds), and the worst is logged at shutdown.  The probe is a
``LoopLag``: one per process, shared by the links of a worker serving several masters.
"""
import asyncio
import logging

from tornado.ioloop import IOLoop, PeriodicCallback

from spyder.core import constants as C
from spyder.core.wire.messages import announced_batch

log = logging.getLogger("spyder.worker")

#: Seconds between checks of the licence to fetch (see ``MasterClock``).
_LICENCE_CHECK = 0.1
#: Seconds a change of the free slots or held dispatches may wait for a result to carry
#: it before a ``credit`` message tells it (a busy worker sends almost none).
_CREDIT_DELAY = 0.05
#: Seconds between two probes of the event loop's lag.
_LAG_PROBE = 0.05


class LoopLag:
    """How late the event loop runs a timer set every ``_LAG_PROBE`` seconds: the worst
    since start (``worst``) and, per reader (one ``WorkerControl`` per master the worker
    serves), the worst since that reader's last ``reset``.  One probe per process: the
    links of a worker serving several masters share it."""

    def __init__(self, io_loop=None):
        self._io_loop = io_loop or IOLoop.current()
        self._timer = PeriodicCallback(self._probe, _LAG_PROBE * 1000)
        self._at = None
        self._users = 0
        self._recent = {}
        #: the worst lateness since start (s)
        self.worst = 0.0

    def start(self, reader):
        self._recent[id(reader)] = 0.0
        self._users += 1
        if self._users == 1:
            self._timer.start()

    def stop(self, reader):
        self._recent.pop(id(reader), None)
        self._users -= 1
        if self._users == 0:
            self._timer.stop()

    def recent(self, reader):
        return self._recent.get(id(reader), 0.0)

    def reset(self, reader):
        if id(reader) in self._recent:
            self._recent[id(reader)] = 0.0

    def _probe(self):
        now = self._io_loop.time()
        if self._at is not None:
            lag = max(0.0, now - self._at - _LAG_PROBE)
            for key, value in self._recent.items():
                self._recent[key] = max(value, lag)
            self.worst = max(self.worst, lag)
        self._at = now


class WorkerControl:
    """Registration, heartbeats, the licence to work and shutdown of one worker process
    (see the module docstring)."""

    def __init__(self, settings, identity, mgmt, fetcher, extractor, io_loop=None,
                 notifier=None, lag=None):
        self._identity = identity if isinstance(identity, bytes) else identity.encode()
        self._mgmt = mgmt
        self._fetcher = fetcher
        self._extractor = extractor
        self._clock = fetcher.clock
        self._label = getattr(fetcher, "label", "master")   # the master, in the log
        fetcher.identity = self._identity
        fetcher.on_change = self._credit_soon
        self._io_loop = io_loop or IOLoop.current()
        self._notifier = notifier
        self._shutdown_timeout = settings.SHUTDOWN_TIMEOUT
        self._heartbeat = PeriodicCallback(self._send_heartbeat,
                                           max(settings.WORKER_HEARTBEAT_INTERVAL, 0.01) * 1000)
        self._licence_check = PeriodicCallback(self._check, _LICENCE_CHECK * 1000)
        self._watchdog = None
        self._lag = lag or LoopLag(self._io_loop)   # shared by a worker's links
        self._cut_short = asyncio.Event()
        self._credit_pending = False
        self._listening = False
        self.stopping = False
        #: set once the shutdown is complete (quit.ack sent); the process then exits
        self.done = asyncio.Event()

    def start(self):
        """Start both stages and management; register with the master."""
        self._mgmt.add_callback(C.ZMQ_SPYDER_MGMT_WORKER, self._on_mgmt)
        claims = C.ZMQ_SPYDER_MGMT_CLAIMS + self._identity
        self._mgmt.subscribe(claims)
        self._mgmt.add_callback(claims, self._on_claims)
        self._mgmt.start()
        self._fetcher.allow(False)
        self._extractor.watch_listener(self._on_listener)
        self._fetcher.start()
        self._heartbeat.start()
        self._licence_check.start()
        self._lag.start(self)
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
        details = self._fetcher.snapshot()
        if self.stopping:
            details[C.MGMT_DETAIL_FREE] = 0
        details[C.MGMT_DETAIL_SLOTS] = self._fetcher.slots
        details[C.MGMT_DETAIL_BATCH] = self._fetcher.batch
        details[C.MGMT_DETAIL_PREFETCH] = self._fetcher.prefetch
        details[C.MGMT_DETAIL_SENT] = self._clock.now()
        details[C.MGMT_DETAIL_LOOP_LAG] = self.loop_lag_recent
        details[C.MGMT_DETAIL_LOOP_LAG_MAX] = self.loop_lag_max
        return details

    def _publish(self, data, details=None):
        self._mgmt.publish(C.ZMQ_SPYDER_MGMT_WORKER, self._identity, data, details)

    def _send_heartbeat(self):
        self._publish(C.ZMQ_SPYDER_MGMT_WORKER_HEARTBEAT, self._details())
        self._lag.reset(self)

    @property
    def loop_lag_max(self):
        """The worst lateness of the lag probe since start (s)."""
        return self._lag.worst

    @property
    def loop_lag_recent(self):
        """The worst lateness of the lag probe since our last heartbeat (s)."""
        return self._lag.recent(self)

    def _credit_soon(self):
        """Tell the master the new free slots / held dispatches within ``_CREDIT_DELAY``,
        unless a result told it by then."""
        if not self._credit_pending:
            self._credit_pending = True
            self._io_loop.call_later(_CREDIT_DELAY, self._send_credit)

    def _send_credit(self):
        self._credit_pending = False
        if not self._fetcher.reported:
            self._publish(C.ZMQ_SPYDER_MGMT_WORKER_CREDIT, self._details())

    def _on_listener(self, listening):
        if listening != self._listening:
            self._listening = listening
            log.info("worker::the master (%s) %s our results", self._label,
                     "receives" if listening else "no longer receives")
            if listening and not self.stopping:
                self.register()
            self._check()

    def _check(self):
        """Take work only while the master listens and the licence holds."""
        licensed = self._clock.licensed()
        if not licensed and self._fetcher.in_flight:
            log.warning("worker::no heartbeat echo from the master (%s) for too long: "
                        "cancelling %d fetch(es), the master gives them to others",
                        self._label, self._fetcher.in_flight)
            self._fetcher.cut_off()
        self._fetcher.allow(self._listening and licensed and not self.stopping)

    def _on_mgmt(self, msg):
        if msg.data == C.ZMQ_SPYDER_MGMT_WORKER_QUIT:
            self.shutdown("quit from %s" % msg.identity.decode("utf-8", "replace"))
        elif msg.data == C.ZMQ_SPYDER_MGMT_WORKER_HELLO and not self.stopping:
            self.register()
        elif msg.data == C.ZMQ_SPYDER_MGMT_WORKER_ECHO:
            self._on_echo(msg)

    def _on_claims(self, msg):
        """The master's confirmation of our claims (``ok``) and the ids it says are not
        ours (``void``)."""
        details = msg.details if isinstance(msg.details, dict) else {}
        if (msg.data != C.ZMQ_SPYDER_MGMT_WORKER_CLAIMS or msg.identity != self._clock.master
                or details.get(C.MGMT_DETAIL_WORKER) != self._identity):
            return
        lists = [details.get(key, []) for key in (C.MGMT_DETAIL_OK, C.MGMT_DETAIL_VOID)]
        if all(isinstance(ids, list) and all(isinstance(i, int) for i in ids) for ids in lists):
            self._fetcher.confirm(*lists)
        else:
            self._fetcher.dropped.drop("management", "malformed claims")

    def _on_echo(self, msg):
        details = msg.details if isinstance(msg.details, dict) else {}
        if details.get(C.MGMT_DETAIL_WORKER) != self._identity:
            return
        values = [details.get(key) for key in (C.MGMT_DETAIL_SENT, C.MGMT_DETAIL_RECEIVED,
                                                C.MGMT_DETAIL_DEAD_AFTER)]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            if msg.identity != self._clock.master:
                log.info("worker::master %s is our master now (%s)",
                         msg.identity.decode("utf-8", "replace"), self._label)
            self._clock.sample(msg.identity, *values)
            self._extractor.batch = min(announced_batch(details), self._fetcher.batch)
            self._check()
        else:
            self._fetcher.dropped.drop("management", "malformed heartbeat echo")

    async def _shutdown(self):
        self._fetcher.allow(False)
        self._send_heartbeat()  # free = 0: the master stops sending work here
        returned = await self._fetcher.drain(self._shutdown_timeout, self._cut_short)
        if returned:
            log.warning("worker::handed %d unfinished URLs back to the master", returned)
        self._heartbeat.stop()
        self._licence_check.stop()
        self._lag.stop(self)
        if self._watchdog is not None:
            self._watchdog.stop()
        log.info("worker::the event loop's worst lag: %.0f ms", self.loop_lag_max * 1000)
        log.info("worker::%s fetched %d URLs for master %s (%s)", self._identity.decode(),
                 self._fetcher.fetched, (self._clock.master or b"?").decode("utf-8", "replace"),
                 self._label)
        self._publish(C.ZMQ_SPYDER_MGMT_WORKER_QUIT_ACK)
        self._mgmt.flush()
        log.info("worker::%s down", self._identity.decode())
        self.done.set()
