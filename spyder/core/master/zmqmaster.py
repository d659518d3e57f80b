"""ZmqMaster: hands URLs from the frontier to workers and routes their results back.

The master's flow, all on one IOLoop.  ``ZmqMaster`` reads the sockets and owns the
flow; two parts own their state: ``registry.WorkerRegistry`` (the workers and their
free slots) and ``leases.Leases`` (one lease per dispatch):

  * **workers** register with ``be here now`` (details: their ``slots``), send
    ``heartbeat``\\ s, and leave with ``quit.ack``; one that stays silent for
    ``WORKER_HEARTBEAT_TIMEOUT`` is declared dead.  A heartbeat from an unknown worker
    registers it, and while no worker is known the master broadcasts ``hello`` every
    ``MASTER_HELLO_INTERVAL`` so workers started before it register again.  Every
    heartbeat (and ``be here now``) is echoed with the master's monotonic time: the
    worker's clock sample and its licence to fetch (``spyder.core.wire.masterclock``).
  * **dispatch** is credit based: workers report their ``free`` slots and the
    dispatch ids they ``held`` (heartbeats and ``credit`` messages), and the master
    never has more dispatches unclaimed by a worker than the workers' free slots.
    It runs after a registration or a credit change, after each result, and at the
    frontier's ``next_due()`` time -- there is no fixed tick.
  * every dispatch has an **id** and a **lease**, and carries (in its ticket) the
    master-clock deadline by which the fetch must be over, ``LEASE_TIMEOUT`` minus a
    slack; the worker never starts a fetch past it and cancels one still running.
    A lease that expires returns the URL to the frontier as a failed attempt (status
    711); so do the leases a worker held when it is declared dead, at once (the
    worker's licence ran out before, so it fetches none of them any more).  A result
    is matched to its dispatch by the id.  A *late* answer (its lease expired, or its
    worker was declared dead) goes to ``frontier.process_late_result``, which records
    it as the URL's outcome if it is the first definitive answer (the URL's retry is
    then called off, or the retry's answer ignored: ``superseded``); any other answer
    without a lease (a second one, another master's) is dropped and counted.  Neither
    ever releases another dispatch's politeness slot.  A URL
    a worker **hands back** unfetched (it is leaving, or the deadline passed before
    a slot freed) goes back to the frontier at once, with no attempt counted.
  * every dispatch must be **claimed** by a worker before its claim deadline (in the
    ticket, ``DISPATCH_CLAIM_TIMEOUT`` after the dispatch): a worker reports the dispatch
    ids it took in its credit snapshots, and the master confirms each claim it registered
    (``claims``, topic ``spyder.claims.<worker>``); a worker goes on fetching past the
    claim deadline only with that confirmation.  A dispatch still unclaimed
    ``CLAIM_MARGIN`` after its deadline (dealt into the pipe of a worker that stopped, was
    cut off or died) returns to the frontier as handed back (``unclaimed_returned``):
    no attempt counted, and no worker can fetch it any more.  ``worker.gone`` from a
    supervisor (``spyder crawl``) ends a worker whose process exited at once.
  * **results** are routed by status (and counted by class; the frontier's own
    robots.txt requests are counted apart, as ``robots``): 2xx success, 3xx redirect (304 included),
    408/429 and everything not understood (None, 0, 1xx, 5xx, 599, >= 600) server
    error, other 4xx not found.  If the frontier's handler raises, the URL is
    routed once more as server error with status 710.
  * a one-line **status** goes to the log every ``MASTER_STATUS_INTERVAL`` seconds and
    out on the management PUB (topic ``spyder.master.``) for supervisors.
  * the **operator's console** (``spyder.console``) reads ``stats()``,
    ``worker_table()``, ``recent_errors`` and ``state``, hears every result through
    ``result_listeners``, and steers with ``pause()`` / ``resume()`` (kept by the
    frontier) and ``wake()`` (dispatch now: after new seeds or an unblocked host).
  * **shutdown()** stops dispatching, broadcasts ``quit``, keeps recording results
    until every worker acknowledged or ``SHUTDOWN_TIMEOUT`` passed, then closes the
    frontier (which commits) and stops the loop.  A second call closes at once.
"""
import collections
import logging
import queue
import time

from tornado.ioloop import IOLoop, PeriodicCallback

from spyder.core import constants as C
from spyder.core.master.leases import Leases
from spyder.core.wire.messages import DataMessage, DropCounter, MessageError
from spyder.core.retry import result_class
from spyder.core.master.registry import WorkerRegistry
from spyder.core.master.tally import Tally
from spyder.core.wire.zmqchannel import ZmqChannel

log = logging.getLogger("spyder.master")

#: Seconds the master keeps draining results after the last worker acknowledged quit.
_DRAIN_AFTER_ACKS = 1.0
#: Longest single sleep before the master asks the frontier again (clock jumps).
_MAX_DISPATCH_SLEEP = 300.0
#: Seconds between two looks at how late the event loop runs its timers.
_LAG_PROBE = 0.05


class ZmqMaster:
    """The master's dispatcher; see the module docstring."""

    def __init__(self, settings, identity, insocket, outsocket, mgmt, frontier,
                 log_handler=None, log_level=None, io_loop=None, notifier=None):
        self._settings = settings
        self._identity = identity if isinstance(identity, bytes) else identity.encode()
        self._in = ZmqChannel(insocket, io_loop)
        self._out = ZmqChannel(outsocket, io_loop)
        self._mgmt = mgmt
        self._frontier = frontier
        #: frontier.wants_body(curi): does the result need the body? (None: always)
        self._wants_body = getattr(frontier, "wants_body", None)
        self._handlers = {
            "success": frontier.process_successful_crawl,
            "redirect": frontier.process_redirect,
            "not_found": frontier.process_not_found,
            "server_error": frontier.process_server_error,
        }
        self._io_loop = io_loop or IOLoop.current()
        self._notifier = notifier
        if log_level is not None:
            log.setLevel(log_level)
        self._clock = time.monotonic

        self._shutdown_timeout = settings.SHUTDOWN_TIMEOUT
        self._exit_when_done = settings.CRAWL_EXIT_WHEN_DONE

        self.running = False
        self.workers = WorkerRegistry(settings.MAX_CLIENTS, settings.WORKER_HEARTBEAT_TIMEOUT)
        self.leases = Leases(settings.LEASE_TIMEOUT, settings.DISPATCH_CLAIM_TIMEOUT)
        self._confirm = {}           # worker identity -> ([claims registered], [not its own])
        #: URLs that were held by a worker that died (returned without an attempt once)
        self._died_holding = collections.OrderedDict()
        #: seconds between a supervisor's worker.gone and the return of what it claimed
        self._gone_grace = min(settings.ZEROMQ_HEARTBEAT_TIMEOUT or 5.0, settings.REQUEST_TIMEOUT)
        self._dispatch_handle = None
        self._dispatch_at = None
        self._timers = []
        self._stopping = False
        self._closed = False
        self._shutdown_deadline = None
        self._drain_deadline = None

        self.dropped = DropCounter(log)
        self.started_at = self._clock()
        self.tally = Tally(self.started_at)
        self.loop_lag_max = 0.0      # worst lateness of the lag probe: the longest blocking call
        self._lag_probe_at = None
        #: the console's address once it listens (in ``stats()`` for supervisors)
        self.console_url = None

    @property
    def results(self):
        """Results routed so far, by result class (the console's rate)."""
        return self.tally.results

    @property
    def result_listeners(self):
        """Callables ``f(curi, outcome)`` told every result (the console's metrics)."""
        return self.tally.listeners

    @property
    def recent_errors(self):
        """The latest failed results, newest last."""
        return self.tally.recent_errors

    # ------------------------------------------------------------------ life cycle
    def start(self):
        """Start receiving results and management, greet the workers, dispatch."""
        self._mgmt.add_callback(C.ZMQ_SPYDER_MGMT_WORKER, self._worker_msg)
        self._in.on_recv(self._receive)
        self.running = True
        settings = self._settings
        self._add_timer(self._housekeeping, 0.25)
        self._add_timer(self._probe_lag, _LAG_PROBE)
        self._add_timer(self._hello_if_alone, settings.MASTER_HELLO_INTERVAL)
        self._add_timer(self._status, settings.MASTER_STATUS_INTERVAL)
        if self._notifier is not None and self._notifier.watchdog_interval:
            self._add_timer(self._notifier.watchdog, self._notifier.watchdog_interval)
        self._hello()
        self._io_loop.add_callback(self._send_next_uri)
        log.info("zmqmaster::master %s is running", self._identity.decode())

    def _add_timer(self, callback, seconds):
        timer = PeriodicCallback(callback, max(seconds, 0.01) * 1000)
        timer.start()
        self._timers.append(timer)

    def shutdown(self):
        """Stop dispatching, tell the workers to quit and finish gracefully.

        A second call (a second signal) commits and stops at once.
        """
        if self._closed:
            return
        if self._stopping:
            log.warning("zmqmaster::second shutdown request, stopping now")
            self._finish()
            return
        log.info("zmqmaster::shutting down: telling %d worker(s) to quit", len(self.workers))
        self._stopping = True
        self.running = False
        self._cancel_dispatch()
        if self._notifier is not None:
            self._notifier.stopping()
        self._status()
        self._mgmt.publish(C.ZMQ_SPYDER_MGMT_WORKER, self._identity, C.ZMQ_SPYDER_MGMT_WORKER_QUIT)
        self._shutdown_deadline = self._clock() + self._shutdown_timeout
        self._add_timer(self._shutdown_wait, 0.05)

    def _shutdown_wait(self):
        now = self._clock()
        if not self.workers and self._drain_deadline is None:
            self._drain_deadline = now + _DRAIN_AFTER_ACKS
        drained = self._drain_deadline is not None and (not self.leases or now >= self._drain_deadline)
        if drained or now >= self._shutdown_deadline:
            if self.workers:
                log.warning("zmqmaster::no quit.ack from %s within SHUTDOWN_TIMEOUT=%s s",
                            ", ".join(w.decode("utf-8", "replace") for w in self.workers),
                            self._shutdown_timeout)
            self._finish()

    def _finish(self):
        """Publish the last status, close the frontier (commit) and stop the loop."""
        self._closed = True
        self.running = False
        for timer in self._timers:
            timer.stop()
        self._timers = []
        self._cancel_dispatch()
        self._in.stop_on_recv()
        self._status()
        try:
            self._frontier.close()
        except Exception:
            log.exception("zmqmaster::closing the frontier failed")
        if self.leases:
            log.info("zmqmaster::%d URL(s) were still in flight; they are due again on restart",
                     len(self.leases))
        log.info("zmqmaster::the event loop's worst lag: %.0f ms", self.loop_lag_max * 1000)
        log.info("zmqmaster::bye bye")
        self._io_loop.add_callback(self._io_loop.stop)

    def close(self):
        """Close the data streams (after the loop stopped)."""
        for stream in (self._in, self._out):
            if not stream.closed():
                stream.close()

    # ------------------------------------------------------------------ dispatch
    def _send_next_uri(self):
        """Dispatch while workers have free slots and the frontier has URLs due."""
        if not self.running:
            return
        while self.credit > 0:
            try:
                curi = self._frontier.get_next()
            except queue.Empty:
                self._schedule_dispatch()
                return
            except Exception:
                log.exception("zmqmaster::frontier.get_next failed; retrying in 1 s")
                self._schedule_dispatch(self._clock() + 1.0)
                return
            if self.leases.for_url(curi.url) is not None:
                log.error("zmqmaster::frontier handed out %s twice; ignoring the second", curi.url)
                continue
            self._dispatch(curi)

    def _dispatch(self, curi):
        """Send ``curi`` to a worker under a new lease."""
        lease = self.leases.open(curi, self._clock())
        ticket = {C.TICKET_ID: lease.id, C.TICKET_DEADLINE: self.leases.deadline(lease)}
        if lease.claim_by is not None:
            ticket[C.TICKET_CLAIM_BY] = lease.claim_by
        if self._wants_body is not None and not self._wants_body(curi):
            ticket[C.TICKET_BODY] = False
        self._out.send_multipart(DataMessage(self._identity, curi, ticket).serialize())
        self.tally.events["dispatched"] += 1

    @property
    def credit(self):
        """Dispatches that may go out now: the free slots the workers reported, less the
        dispatches no worker has claimed yet."""
        return self.workers.free - self.leases.unclaimed

    def _schedule_dispatch(self, at=None):
        """Wake up at ``at`` (default: the frontier's next due time) to dispatch."""
        if at is None:
            try:
                at = self._frontier.next_due()
            except Exception:
                log.exception("zmqmaster::frontier.next_due failed; retrying in 1 s")
                at = time.time() + 1.0
            if at is None:
                return
            at += self._clock() - time.time()  # the frontier's times are UTC epoch
        now = self._clock()
        at = min(max(at, now + 0.001), now + _MAX_DISPATCH_SLEEP)
        if self._dispatch_at is not None and self._dispatch_at <= at:
            return
        self._cancel_dispatch()
        self._dispatch_at = at
        self._dispatch_handle = self._io_loop.call_later(at - now, self._dispatch_timer)

    def _dispatch_timer(self):
        self._dispatch_handle = self._dispatch_at = None
        self._send_next_uri()

    def _cancel_dispatch(self):
        if self._dispatch_handle is not None:
            self._io_loop.remove_timeout(self._dispatch_handle)
        self._dispatch_handle = self._dispatch_at = None

    # ------------------------------------------------------------------ results
    def _receive(self, frames):
        """One result: match it to its lease, hand it to the frontier, dispatch more."""
        try:
            msg = DataMessage.from_frames(frames)
        except MessageError as exc:
            self.dropped.drop("results", exc)
            return
        curi = msg.curi
        ticket = msg.ticket if isinstance(msg.ticket, dict) else {}
        self._credit_from_result(ticket)
        if ticket:
            dispatch_id = ticket.get(C.TICKET_ID)
            lease = self.leases.get(dispatch_id)
        else:  # a worker of an older Spyder: no ticket, matched by URL
            lease = self.leases.for_url(curi.url)
            dispatch_id = lease.id if lease is not None else None
        if lease is None or lease.curi.url != curi.url:
            self._late(msg, dispatch_id, ticket)
            return
        self.leases.end(lease)
        if lease.superseded:
            self.tally.events["superseded"] += 1
        if ticket.get(C.TICKET_VOID) is True:
            self._read_too_late(ticket.get(C.TICKET_WORKER), 1)
        if ticket.get(C.TICKET_HANDED_BACK) is True:
            self.tally.events["handed_back"] += 1
            self._hand_back(curi)
        else:
            self.workers.count_result(ticket.get(C.TICKET_WORKER), curi)
            self._route(curi, counted=not lease.superseded)
        self._after_result()

    def _late(self, msg, dispatch_id, ticket):
        """An answer without a lease: recorded if it answers one of this master's failed
        leases first (the frontier decides: ``process_late_result``), else dropped."""
        curi = msg.curi
        if self.leases.take_voided(dispatch_id) == curi.url:
            # returned unclaimed before; the worker found it in its pipe later
            self.tally.events["late_results"] += 1
            if ticket.get(C.TICKET_VOID) is True:
                self._read_too_late(ticket.get(C.TICKET_WORKER), 1)
            elif ticket.get(C.TICKET_HANDED_BACK) is not True:
                # fetched and finished before its claim deadline, but the claim report
                # came too late (a cut link, a stalled master): the URL went out again
                log.info("zmqmaster::result for %s came after its dispatch was returned "
                         "unclaimed (the claim report was late); dropped", curi.url)
            return
        url = self.leases.take_failed(dispatch_id)
        kind = result_class(curi.status_code)
        recorded = False
        if (url == curi.url and msg.identity == self._identity
                and ticket.get(C.TICKET_HANDED_BACK) is not True):
            try:
                recorded = self._frontier.process_late_result(curi, kind)
            except Exception:
                log.exception("zmqmaster::recording the late answer for %s failed", curi.url)
        if not recorded:
            self.tally.events["late_results"] += 1
            log.debug("zmqmaster::result for %s without a lease (a second answer, or another "
                      "master's); dropped", curi.url)
            return
        self.tally.events["late_recorded"] += 1
        self.workers.count_result(ticket.get(C.TICKET_WORKER), curi)
        self.tally.count(curi, kind)
        self.leases.supersede(curi.url)
        self._after_result()

    def _read_too_late(self, identity, count):
        """Worker ``identity`` handed back ``count`` dispatch(es) unread because it found
        them in its pipe past their claim deadline: counted per worker, logged once."""
        worker = self.workers.get(identity)
        if worker is None:
            return
        worker.returned_unclaimed += count
        if not worker.void_logged:
            worker.void_logged = True
            log.warning("zmqmaster::worker %s read dispatches past their claim deadline "
                        "(DISPATCH_CLAIM_TIMEOUT=%s s) and handed them back unread: it was "
                        "stopped, cut off or too busy to read its pipe; they were returned to "
                        "their queues unclaimed, no attempt counted (logged once per worker)",
                        identity.decode("utf-8", "replace"), self.leases.claim_timeout)

    def _hand_back(self, curi):
        try:
            self._frontier.process_handed_back(curi)
        except Exception:
            log.exception("zmqmaster::handing %s back to the frontier failed; routing it as "
                          "error %d", curi.url, C.CURI_EUNCAUGHT_EXCEPTION)
            curi.status_code = C.CURI_EUNCAUGHT_EXCEPTION
            self._route(curi)

    def _route(self, curi, counted=True):
        """Hand ``curi`` to the frontier by its result class (``counted``: in ``results``)."""
        kind = result_class(curi.status_code)
        if counted:
            self.tally.count(curi, kind)
        try:
            self._handlers[kind](curi)
        except Exception:
            self.tally.events["handler_errors"] += 1
            log.exception("zmqmaster::handling %s (status %r) failed; routing it as error %d",
                          curi.url, curi.status_code, C.CURI_EUNCAUGHT_EXCEPTION)
            curi.status_code = C.CURI_EUNCAUGHT_EXCEPTION
            try:
                self._frontier.process_server_error(curi)
            except Exception:
                log.exception("zmqmaster::handling %s as a server error failed too", curi.url)

    def _after_result(self):
        if self.running and not self._shutdown_if_done():
            self._send_next_uri()

    def _shutdown_if_done(self):
        """With CRAWL_EXIT_WHEN_DONE, shut down once the crawl is done; True if so."""
        if self._exit_when_done and not self.leases and self._crawl_done():
            log.info("zmqmaster::the crawl is done")
            self.shutdown()
            return True
        return False

    def _crawl_done(self):
        try:
            return not self.leases and self._frontier.crawl_done()
        except Exception:
            log.exception("zmqmaster::frontier.crawl_done failed")
            return False

    # ------------------------------------------------------------------ the console
    @property
    def state(self):
        """``draining`` (shutting down), ``paused``, ``done`` or ``running``."""
        if self._stopping or self._closed:
            return "draining"
        if getattr(self._frontier, "paused", False):  # a FRONTIER_CLASS may lack the controls
            return "paused"
        return "done" if self._crawl_done() else "running"

    def pause(self):
        """Stop dispatching (in-flight URLs finish); the frontier keeps it across a restart."""
        self._frontier.pause()
        self._cancel_dispatch()

    def resume(self):
        """Dispatch again after ``pause()``."""
        self._frontier.resume()
        self.wake()

    def wake(self):
        """Dispatch as soon as the loop is free (the frontier may have URLs due now)."""
        self._io_loop.add_callback(self._send_next_uri)

    # ------------------------------------------------------------------ the workers
    def _worker_msg(self, msg):
        """A management message from a worker: registration, heartbeat, credit, leaving."""
        identity = msg.identity
        if not identity:
            self.dropped.drop("management", "message without a worker identity")
            return
        data = msg.data
        if data == C.ZMQ_SPYDER_MGMT_WORKER_GONE:
            self._worker_gone(msg)
            return
        if data == C.ZMQ_SPYDER_MGMT_WORKER_QUIT_ACK:
            if self.workers.remove(identity) is not None:
                log.info("zmqmaster::worker %s left", identity.decode("utf-8", "replace"))
            return
        if data not in (C.ZMQ_SPYDER_MGMT_WORKER_AVAIL, C.ZMQ_SPYDER_MGMT_WORKER_HEARTBEAT,
                        C.ZMQ_SPYDER_MGMT_WORKER_CREDIT):
            if data not in (C.ZMQ_SPYDER_MGMT_WORKER_QUIT, C.ZMQ_SPYDER_MGMT_WORKER_HELLO,
                            C.ZMQ_SPYDER_MGMT_WORKER_ECHO):
                self.dropped.drop("management", "unknown payload %r" % data[:64])
            return
        if self._stopping and self.workers.get(identity) is None:
            return
        now = self._clock()
        details = msg.details if isinstance(msg.details, dict) else {}
        credit_before = self.credit
        worker, new = self.workers.heard(identity, details, now)
        if worker is None:
            return  # its process exited (worker.gone): a message that was on its way
        if new:
            log.info("zmqmaster::worker %s registered with %d slot(s)%s",
                     identity.decode("utf-8", "replace"), worker.slots,
                     "" if data == C.ZMQ_SPYDER_MGMT_WORKER_AVAIL else " (by %s)" % data.decode())
        self._claims(identity, worker, details)
        if data != C.ZMQ_SPYDER_MGMT_WORKER_CREDIT and C.MGMT_DETAIL_SENT in details:
            self._mgmt.publish(C.ZMQ_SPYDER_MGMT_WORKER, self._identity,
                               C.ZMQ_SPYDER_MGMT_WORKER_ECHO, {
                                   C.MGMT_DETAIL_WORKER: identity,
                                   C.MGMT_DETAIL_SENT: details[C.MGMT_DETAIL_SENT],
                                   C.MGMT_DETAIL_RECEIVED: now,
                                   C.MGMT_DETAIL_DEAD_AFTER: self.workers.heartbeat_timeout})
        if credit_before <= 0 < self.credit:
            # with credit left before, dispatch is waiting for the frontier's next due
            # time (a timer), not for credit: nothing to do on every credit snapshot
            self._send_next_uri()

    def _claims(self, identity, worker, details):
        """Apply a worker's credit snapshot: its free slots, and the leases it holds.  Each
        claim registered now, and each held id that is not this worker's lease (returned
        unclaimed, expired, failed), is told to the worker (``claims``, sent once per loop
        turn and worker)."""
        ok = void = None
        for dispatch_id in self.workers.snapshot(worker, details):
            if self.leases.claim(dispatch_id, identity):
                ok = ok or []
                ok.append(dispatch_id)
                continue
            lease = self.leases.get(dispatch_id)
            if lease is None or lease.holder != identity:
                void = void or []
                void.append(dispatch_id)
        if ok or void:
            pending = self._confirm.get(identity)
            if pending is None:
                if not self._confirm:
                    self._io_loop.add_callback(self._send_confirmations)
                pending = self._confirm[identity] = ([], [])
            pending[0].extend(ok or ())
            pending[1].extend(void or ())

    def _send_confirmations(self):
        confirm, self._confirm = self._confirm, {}
        for identity, (ok, void) in confirm.items():
            details = {C.MGMT_DETAIL_WORKER: identity, C.MGMT_DETAIL_OK: ok}
            if void:
                details[C.MGMT_DETAIL_VOID] = void
            self._mgmt.publish(C.ZMQ_SPYDER_MGMT_CLAIMS + identity, self._identity,
                               C.ZMQ_SPYDER_MGMT_WORKER_CLAIMS, details)

    def _worker_gone(self, msg):
        """A supervisor says a worker's process exited: its claimed dispatches return now
        (as when it is declared dead), not after WORKER_HEARTBEAT_TIMEOUT."""
        details = msg.details if isinstance(msg.details, dict) else {}
        identity = details.get(C.MGMT_DETAIL_WORKER)
        if not isinstance(identity, bytes) or not identity:
            self.dropped.drop("management", "worker.gone without a worker identity")
            return
        known = self.workers.gone(identity) is not None
        why = "exited (%s says)" % msg.identity.decode("utf-8", "replace")
        if known:
            log.info("zmqmaster::worker %s %s: its claimed URLs return in %.1f s (requests it "
                     "had under way may still run at their web servers)",
                     identity.decode("utf-8", "replace"), why, self._gone_grace)
        # not at once: the web server finishes a request whose client died on its own time
        self._io_loop.call_later(self._gone_grace, self._return_held, identity, why, known,
                                 True, True)

    def _credit_from_result(self, ticket):
        """The credit snapshot in a result's ticket, from a registered worker."""
        identity = ticket.get(C.TICKET_WORKER)
        worker = self.workers.get(identity)
        if worker is not None and C.MGMT_DETAIL_FREE in ticket:
            self.workers.touch(worker, self._clock())
            self._claims(identity, worker, ticket)

    def _hello(self):
        self._mgmt.publish(C.ZMQ_SPYDER_MGMT_WORKER, self._identity, C.ZMQ_SPYDER_MGMT_WORKER_HELLO)

    def _hello_if_alone(self):
        if self.running and not self.workers:
            self._hello()

    def worker_table(self):
        """One dict per registered worker (see ``WorkerRegistry.table``)."""
        now = self._clock()
        return self.workers.table(time.time() - now, now, self.leases.claimed_by)

    # ------------------------------------------------------------------ housekeeping
    def _expire_leases(self, now):
        expired = self.leases.expired(now)
        for lease in expired:
            self.tally.events["lease_expired"] += 1
            log.warning("zmqmaster::lease on %s expired after %s s without a result",
                        lease.curi.url, self.leases.timeout)
            self._fail_lease(lease, "lease expired after %s s" % self.leases.timeout)
        if expired:
            self._after_result()

    def _expire_workers(self, now):
        failed = False
        for identity in self.workers.silent(now):
            failed = self._return_held(identity, "silent for %s s"
                                       % self.workers.heartbeat_timeout, True, after=False) \
                or failed
        if failed:
            self._after_result()

    def _return_held(self, identity, why, known, after=True, exited=False):
        """Worker ``identity`` is dead (``why``): the dispatches it claimed fail (711) and
        are dispatched again -- or, if its process is known to have ``exited`` (it cannot
        answer late any more), go back without an attempt the first time a URL's worker
        dies (a URL whose workers keep dying counts attempts and is given up in the end).
        True if there were any."""
        if self._closed:
            return False   # (a worker.gone's delayed return, after the frontier closed)
        name = identity.decode("utf-8", "replace")
        held = self.leases.held_by(identity)
        if known or held:
            log.warning("zmqmaster::worker %s %s, dropped; dispatching the %d URL(s) it held "
                        "again", name, why, len(held))
        for lease in held:
            self.tally.events["redispatched"] += 1
            url = lease.curi.url
            if not exited or url in self._died_holding or lease.superseded:
                log.info("zmqmaster::lease on %s returned: its worker died", url)
                self._fail_lease(lease, "worker %s died" % name)
                continue
            # the first death costs the URL nothing (no attempt, no retry backoff); a URL
            # whose workers keep dying counts attempts from the second time on
            self._died_holding[url] = True
            if len(self._died_holding) > 10000:
                self._died_holding.popitem(last=False)
            log.info("zmqmaster::lease on %s returned: its worker exited (no attempt counted)",
                     url)
            self.leases.end(lease)
            curi = lease.curi
            curi.status_code = C.CURI_ENETWORK
            curi.optional_vars[C.CURI_ERROR] = "worker %s died" % name
            self._hand_back(curi)
        if held and after:
            self._after_result()
        return bool(held)

    def _expire_unclaimed(self, now):
        """Dispatches no worker claimed by their claim deadline (+ ``CLAIM_MARGIN``) return
        to the frontier as handed back: no attempt counted.  No worker fetches them: one
        that reads one later hands it back unread, one that claimed it without the master
        hearing of it in time stopped its fetch at the claim deadline."""
        overdue = self.leases.unclaimed_overdue(now)
        for lease in overdue:
            self.leases.void(lease)
            self.tally.events["unclaimed_returned"] += 1
            log.info("zmqmaster::lease on %s returned unclaimed: no worker claimed it within "
                     "DISPATCH_CLAIM_TIMEOUT=%s s; back in its queue, no attempt counted",
                     lease.curi.url, self.leases.claim_timeout)
            curi = lease.curi
            curi.status_code = C.CURI_ENETWORK
            curi.optional_vars[C.CURI_ERROR] = "not claimed by any worker in time"
            self._hand_back(curi)
        if overdue:
            # workers silent since the oldest of those was sent and for longer than their
            # heartbeats allow (a healthy idle worker only speaks every interval)
            oldest = min(min(lease.sent for lease in overdue),
                         now - 1.5 * self._settings.WORKER_HEARTBEAT_INTERVAL)
            for identity in self._silent_since(oldest):
                worker = self.workers.get(identity)
                if not worker.void_logged:
                    worker.void_logged = True
                    log.warning("zmqmaster::worker %s silent for %.1f s: dispatches dealt into "
                                "its pipe return unclaimed after DISPATCH_CLAIM_TIMEOUT=%s s, no "
                                "attempt counted (logged once per worker)",
                                identity.decode("utf-8", "replace"), now - worker.last_seen,
                                self.leases.claim_timeout)
            self.workers.distrust(oldest)
            self._after_result()

    def _silent_since(self, since):
        return [identity for identity in self.workers
                if self.workers.get(identity).last_seen < since]

    def _fail_lease(self, lease, error):
        """A lease ended without an answer: its URL goes back as a failed attempt (711)."""
        self.leases.fail(lease)
        curi = lease.curi
        curi.status_code = C.CURI_ELEASE_EXPIRED
        curi.optional_vars[C.CURI_ERROR] = error
        self._route(curi, counted=not lease.superseded)

    def _housekeeping(self):
        now = self._clock()
        self._expire_leases(now)
        self._expire_unclaimed(now)
        self._expire_workers(now)
        try:
            self._frontier.checkpoint()
        except Exception:
            log.exception("zmqmaster::frontier.checkpoint failed")
        if self.running:
            self._shutdown_if_done()

    def _probe_lag(self):
        now = self._clock()
        if self._lag_probe_at is not None:
            self.loop_lag_max = max(self.loop_lag_max, now - self._lag_probe_at - _LAG_PROBE)
        self._lag_probe_at = now

    # ------------------------------------------------------------------ status
    def stats(self):
        """The master's counters plus the frontier's stats (the status broadcast)."""
        now = self._clock()
        try:
            frontier = self._frontier.stats()
        except Exception:
            log.exception("zmqmaster::frontier.stats failed")
            frontier = {}
        tally = self.tally
        stats = {
            "workers": len(self.workers),
            "slots": self.workers.capacity,
            "in_flight": len(self.leases),
            "unclaimed": self.leases.unclaimed,
            "results": dict(tally.results),
            "robots": tally.robots_fetches,
            "bytes": tally.bytes,
            "pages_per_second": tally.pages_per_second,
            "uptime": now - self.started_at,
            "credit": self.credit,
            "loop_lag_max": self.loop_lag_max,
            "malformed": self.dropped.total + self._mgmt.dropped.total,
            "done": self._crawl_done(),
            "state": self.state,
            "console": self.console_url,
            "frontier": frontier,
        }
        stats.update(tally.events)
        return stats

    def _status(self):
        self.tally.rate(self._clock())
        stats = self.stats()
        frontier = stats["frontier"]
        results = stats["results"]
        line = ("workers=%d in_flight=%d dispatched=%d pages/s=%.1f success=%d redirect=%d "
                "not_found=%d server_error=%d robots=%d queued=%s known=%s robots_waiting=%s" % (
                    stats["workers"], stats["in_flight"], stats["dispatched"],
                    stats["pages_per_second"], results["success"], results["redirect"],
                    results["not_found"], results["server_error"], stats["robots"],
                    frontier.get("queued", "?"), frontier.get("known", "?"),
                    frontier.get("robots_waiting", "?")))
        if frontier.get("sink_failure"):  # dispatch waits until the sink can write again
            line += " sink_failure=%r" % frontier["sink_failure"]
        log.info("zmqmaster::status %s", line)
        if self._notifier is not None:
            self._notifier.status(line)
        try:
            self._mgmt.publish(C.ZMQ_SPYDER_MGMT_MASTER, self._identity,
                               C.ZMQ_SPYDER_MGMT_MASTER_STATUS, stats)
        except Exception:
            log.exception("zmqmaster::publishing the status failed")
