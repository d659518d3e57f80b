"""ZmqMaster: hands URLs from the frontier to workers and routes their results back.

The master's flow, all on one IOLoop; ``docs/protocol.md`` is the wire protocol and
``docs/architecture.md`` the map of the parts.  ``ZmqMaster`` reads the data sockets and
owns the flow; its parts own their state:

* ``workerchannel.WorkerChannel`` -- the management conversation: registration,
  heartbeats and their clock echoes, credit snapshots and the claims they carry,
  ``worker.gone``, ``hello``; over ``registry.WorkerRegistry`` (the workers, their free
  slots, who went silent) and ``leases.Leases`` (one lease per dispatch: id, fetch
  deadline, claim deadline, holder);
* ``returns.Returns`` -- dispatches whose answer will not come: expired leases (711),
  dead or exited workers' leases, dispatches no worker claimed in time (back without
  an attempt);
* ``tally.Tally`` -- results and events counted, recent errors, result listeners.

**Dispatch** is credit based: never more dispatches unclaimed than the workers' free
slots.  It runs after a registration or a credit change, once per loop turn that
brought results, and at the frontier's ``next_due()`` time -- there is no fixed tick.
A message carries several dispatches, or several results, when the receiving end
announced it takes them (``ZEROMQ_DATA_BATCH``; docs/protocol.md).  Every dispatch
carries (in its ticket) its id, the master-clock deadline by which the fetch must be
over and the one by which a worker must have claimed it.  **Results** are matched to
their lease by id and routed by status (counted by class; the frontier's robots.txt requests apart):
2xx success, 3xx redirect (304 included), 408/429 and everything not understood
(None, 0, 1xx, 5xx, 599, >= 600) server error, other 4xx not found; if the frontier's
handler raises, the URL is routed once more as server error 710.  A *late* answer (its
lease failed) goes to ``frontier.process_late_result``, which records it if it is the
URL's first definitive answer; any other answer without a lease is dropped and
counted; none ever frees another dispatch's politeness slot.  A URL a worker **hands
back** unfetched goes back at once, with no attempt counted.

A one-line **status** goes to the log every ``MASTER_STATUS_INTERVAL`` seconds and out
on the management PUB (topic ``spyder.master.``).  The **console** (``spyder.console``)
reads ``stats()``, ``worker_table()``, ``recent_errors`` and ``state``, hears every result
through ``result_listeners`` and steers with ``pause()`` / ``resume()`` / ``wake()``.
**shutdown()** stops dispatching, broadcasts ``quit``, keeps recording results until
every worker acknowledged or ``SHUTDOWN_TIMEOUT`` passed, then closes the frontier
(which commits) and stops the loop; a second call closes at once.
"""
import logging
import queue
import time

from tornado.ioloop import IOLoop, PeriodicCallback

from spyder.core import constants as C
from spyder.core.master.leases import Leases
from spyder.core.wire.messages import (DataMessage, DropCounter, data_batch, joined_frames,
                                       received_data)
from spyder.core.retry import result_class
from spyder.core.master.registry import WorkerRegistry
from spyder.core.master.returns import Returns
from spyder.core.master.tally import Tally
from spyder.core.master.workerchannel import WorkerChannel
from spyder.core.wire.zmqchannel import ZmqChannel

log = logging.getLogger("spyder.master")

#: Seconds the master keeps draining results after the last worker acknowledged quit.
_DRAIN_AFTER_ACKS = 1.0
#: Longest single sleep before the master asks the frontier again (clock jumps).
_MAX_DISPATCH_SLEEP = 300.0
#: Seconds between two looks at how late the event loop runs its timers.
_LAG_PROBE = 0.05
#: Seconds between two housekeeping ticks (leases, claims, silent workers, checkpoints).
_HOUSEKEEPING = 0.25
#: A housekeeping tick this long after the one before finds that the loop was blocked
#: (a long commit, the process stopped): for ``WORKER_HEARTBEAT_INTERVAL`` plus
#: ``_STALL_GRACE`` seconds after it, nothing is judged by silence -- the workers'
#: heartbeats, claims and results of that time are still to be read (with the process
#: stopped, libzmq's I/O thread did not read either, and connections past
#: ``ZEROMQ_HEARTBEAT_TIMEOUT`` were dropped: a worker sends again once it reconnected).
_STALL = 1.0
_STALL_GRACE = 1.0


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
        self._dispatch_handle = None
        self._dispatch_at = None
        self._dispatch_queued = False    # _send_next_uri is queued for the end of the turn
        self._batch = data_batch(settings)
        #: data messages sent with dispatches and received with results (several URLs each
        #: when the other end takes them)
        self.messages = {"dispatch_messages": 0, "result_messages": 0}
        self._timers = []
        self._stopping = False
        self._closed = False
        self._shutdown_deadline = None
        self._drain_deadline = None

        self.dropped = DropCounter(log)
        self.started_at = self._clock()
        self.tally = Tally(self.started_at)
        self._channel = WorkerChannel(
            self._identity, mgmt, self.workers, self.leases, self._io_loop, self.dropped,
            self._clock, min(settings.ZEROMQ_HEARTBEAT_TIMEOUT or 5.0, settings.REQUEST_TIMEOUT),
            on_credit=self._send_next_uri, on_gone=self._return_gone,
            in_doubt=self._frontier.leases_in_doubt, batch=self._batch)
        self._returns = Returns(settings, self.leases, self.workers, self.tally, self._route,
                                self._hand_back)
        self.loop_lag_max = 0.0      # worst lateness of the lag probe: the longest blocking call
        self._lag_probe_at = None
        self._housekeeping_at = None  # the last housekeeping tick
        self._judge_from = 0.0        # no silence judged before (after a stall)
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
        self._mgmt.add_callback(C.ZMQ_SPYDER_MGMT_WORKER, self._channel.message)
        self._in.on_recv(self._receive)
        self.running = True
        settings = self._settings
        self._add_timer(self._housekeeping, _HOUSEKEEPING)
        self._add_timer(self._probe_lag, _LAG_PROBE)
        self._add_timer(self._hello_if_alone, settings.MASTER_HELLO_INTERVAL)
        self._add_timer(self._status, settings.MASTER_STATUS_INTERVAL)
        if self._notifier is not None and self._notifier.watchdog_interval:
            self._add_timer(self._notifier.watchdog, self._notifier.watchdog_interval)
        self._channel.hello()
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
        self._channel.stop_registering()
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
        """Dispatch while workers have free slots and the frontier has URLs due.  One
        message carries up to what every worker takes (``WorkerRegistry.batch``), and no
        more than a worker's share of the credit: PUSH deals messages round-robin."""
        self._dispatch_queued = False
        if not self.running or self.credit <= 0:
            return
        size = min(self.workers.batch(self._batch),
                   -(-self.credit // max(len(self.workers), 1)))
        batch = []
        while self.credit > 0:
            try:
                curi = self._frontier.get_next()
            except queue.Empty:
                self._schedule_dispatch()
                break
            except Exception:
                log.exception("zmqmaster::frontier.get_next failed; retrying in 1 s")
                self._schedule_dispatch(self._clock() + 1.0)
                break
            if self.leases.for_url(curi.url) is not None:
                log.error("zmqmaster::frontier handed out %s twice; ignoring the second", curi.url)
                continue
            batch.append(self._dispatch(curi))
            if len(batch) == size:
                self._send(batch)
                batch = []
        if batch:
            self._send(batch)

    def _dispatch(self, curi):
        """Open a lease for ``curi``; returns the frames of its dispatch."""
        lease = self.leases.open(curi, self._clock())
        ticket = {C.TICKET_ID: lease.id, C.TICKET_DEADLINE: self.leases.deadline(lease)}
        if lease.claim_by is not None:
            ticket[C.TICKET_CLAIM_BY] = lease.claim_by
        if self._wants_body is not None and not self._wants_body(curi):
            ticket[C.TICKET_BODY] = False
        self.tally.events["dispatched"] += 1
        return DataMessage(self._identity, curi, ticket).serialize()

    def _send(self, batch):
        """Send the dispatches ``batch`` (their frames) in one message."""
        self._out.send_multipart(batch[0] if len(batch) == 1 else joined_frames(batch))
        self.messages["dispatch_messages"] += 1

    @property
    def credit(self):
        """Dispatches that may go out now (see ``WorkerChannel.credit``)."""
        return self._channel.credit

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
        """A message of results: the worker's newest credit snapshot applied, each result
        matched to its lease and handed to the frontier, then more dispatched."""
        results = received_data(frames, self._batch, self.dropped, "results")
        self.messages["result_messages"] += 1
        # every ticket carries a numbered snapshot, and the last one is the newest
        for msg in reversed(results):
            if isinstance(msg.ticket, dict) and C.MGMT_DETAIL_FREE in msg.ticket:
                self._channel.result_ticket(msg.ticket)
                break
        for msg in results:
            self._result(msg)
        if results:
            self._after_result()

    def _result(self, msg):
        """One result: match it to its lease and hand it to the frontier."""
        curi = msg.curi
        ticket = msg.ticket if isinstance(msg.ticket, dict) else {}
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
        """Results freed slots: dispatch at the end of this loop turn, so that the slots
        freed by every message of the turn go out together."""
        if self.running and not self._shutdown_if_done() and not self._dispatch_queued:
            self._dispatch_queued = True
            self._io_loop.add_callback(self._send_next_uri)

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
    def _hello_if_alone(self):
        if self.running and not self.workers:
            self._channel.hello()

    def worker_table(self):
        """One dict per registered worker (see ``WorkerRegistry.table``)."""
        now = self._clock()
        return self.workers.table(time.time() - now, now, self.leases.claimed_by)

    # ------------------------------------------------------------------ housekeeping
    def _return_gone(self, identity, why, known):
        """A supervisor's ``worker.gone``, ``gone_grace`` later: what it claimed returns."""
        if not self._closed and self._returns.return_held(identity, why, known, exited=True):
            self._after_result()

    def _housekeeping(self):
        now = self._clock()
        if self._housekeeping_at is not None and now - self._housekeeping_at > _STALL:
            grace = self._settings.WORKER_HEARTBEAT_INTERVAL + _STALL_GRACE
            log.info("zmqmaster::the event loop was blocked for %.1f s: leases, claims and "
                     "silent workers are judged again %.1f s from now, once what came "
                     "meanwhile is read", now - self._housekeeping_at - _HOUSEKEEPING, grace)
            self._judge_from = now + grace
        self._housekeeping_at = now
        if now >= self._judge_from:
            returns = self._returns
            returned = returns.expire_leases(now)
            returned = returns.expire_unclaimed(now) or returned
            returned = returns.expire_workers(now) or returned
            if returned:
                self._after_result()
        try:
            self._frontier.checkpoint()
        except Exception:
            log.exception("zmqmaster::frontier.checkpoint failed")
        self._channel.recall()
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
        stats.update(self.messages)
        return stats

    def _status(self):
        self.tally.rate(self._clock())
        stats = self.stats()
        frontier = stats["frontier"]
        results = stats["results"]
        line = ("workers=%d in_flight=%d dispatched=%d pages/s=%.1f success=%d redirect=%d "
                "not_found=%d server_error=%d robots=%d queued=%s known=%s robots_waiting=%s "
                "dispatch_messages=%d result_messages=%d" % (
                    stats["workers"], stats["in_flight"], stats["dispatched"],
                    stats["pages_per_second"], results["success"], results["redirect"],
                    results["not_found"], results["server_error"], stats["robots"],
                    frontier.get("queued", "?"), frontier.get("known", "?"),
                    frontier.get("robots_waiting", "?"), stats["dispatch_messages"],
                    stats["result_messages"]))
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
