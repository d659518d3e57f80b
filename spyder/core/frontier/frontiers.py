"""The crawl frontier: what the master fetches next, when, and what it remembers.

The master calls the frontier from its IOLoop only: ``add_uri`` for seeds,
``get_next`` to dispatch (``queue.Empty`` when nothing may go out now),
``next_due`` to know how long to sleep, one ``process_*`` per result, and
``checkpoint`` / ``crawl_done`` / ``stats`` / ``close``; the console adds the
operator's controls.  Everything persistent lives in the frontier store
(``spyder.core.store``: the SQLite state file by default); memory holds only bounded
working sets.  This module is the contract and the two frontiers:
``MultipleHostFrontier`` (per-host politeness, up to ``FRONTIER_ACTIVE_QUEUES`` host
queues crawled side by side, each for a budget of fetches) and ``SingleHostFrontier``
(one queue: the original's single global politeness window).

``AbstractBaseFrontier`` is composed of parts that own their state and meet through
small interfaces (``docs/architecture.md`` draws them; each module's docstring says
more): ``dispatch`` (what goes out), ``outcomes`` (what an answer changes, and the
politeness after it), ``intake`` (new URLs into the store and their queues),
``controls`` (the operator's orders and host views), ``operation`` (one operation,
one savepoint), ``checkpoints`` (when to commit, and what a commit holds),
``counters``, ``inflight``; over these components: ``admission`` (canonical form,
scope, depth, page cap, the seen cache), ``hostresolution`` (URL -> queue),
``hostqueues`` (the active queues and their ready heap), ``robots`` (robots.txt,
sitemaps), ``hoststats`` / ``hostcontrols`` (per-host counters and orders) and
``spyder.core.retry``.

Outcomes.  2xx: recrawl later (``PRIORITIZER_CLASS``), add the extracted links
(depth + 1, unless ``nofollow``).  3xx: the targets arrive as links at the same
depth and the source is rescheduled like a success (never due at once, so
redirects cannot loop; a 304 raises its recrawl level).  4xx other than 408/429:
dropped.  Everything else: retried after ``RETRY_BACKOFF`` seconds, doubling, at
least ``Retry-After``, up to ``MAX_RETRIES`` times, then dropped.  Sinks hear each
final outcome once, after the bookkeeping and before the commit that makes it
final; one result's row, its links and its queue changes are written in one
savepoint, and transactions are committed every ``FRONTIER_CHECKPOINTING``
operations or ``FRONTIER_CHECKPOINT_SECONDS``, so after a crash the store is
consistent and a restart resumes: URLs in flight are due again, finished ones are
not.  ``AbstractBaseFrontier._finish`` is the life of one result, top to bottom.
"""
import logging
import queue
import time

from spyder.core import constants as C
from spyder.core.crawluri import CrawlUri
from spyder.core.frontier.admission import Admission
from spyder.core.frontier.checkpoints import Checkpoints
from spyder.core.frontier.controls import OperatorControls
from spyder.core.frontier.counters import CrawlCounters
from spyder.core.frontier.dispatch import Dispatch
from spyder.core.frontier.hostcontrols import HostControls
from spyder.core.frontier.hostqueues import ActiveQueues
from spyder.core.frontier.hostresolution import QueueResolver
from spyder.core.frontier.hoststats import HostStats
from spyder.core.frontier.inflight import InFlight
from spyder.core.frontier.intake import Intake
from spyder.core.frontier.operation import Transactions
from spyder.core.frontier.outcomes import Outcomes
from spyder.core.frontier.robots import RobotsTxt
from spyder.core.retry import RetryPolicy
from spyder.core.sink import Sinks
from spyder.core.store import open_store
from spyder.core.store.protocol import SINGLE_QUEUE
from spyder.core.urls import host_key, origin
from spyder.errors import StartupError
from spyder.import_util import load_setting

log = logging.getLogger("spyder.frontier")

#: How often the master is asked to look again while host lookups are under way.
_RESOLVE_POLL = 0.05
#: Seconds between two looks at a sink that dispatch waits for.
_SINK_POLL = 0.05
#: Result classes a late answer may be recorded as (a late failure says no more than the
#: expired lease already did).
_DEFINITIVE = ("success", "redirect", "not_found")


class _SingleQueueAssignment:
    """Every URL in the one queue of the SingleHostFrontier."""

    needs_resolution = False

    def get_identifier(self, url):
        return SINGLE_QUEUE


class AbstractBaseFrontier:
    """Everything both frontiers share; subclasses choose assignment and limits.

    ``front_end_queues`` (a ``FrontierStore``) and ``prioritizer`` may be passed in
    (tests); otherwise ``FRONTIER_STORE`` names the store.  ``clock`` (default
    ``time.time``) is the UTC epoch source, also settable as ``_now``.  ``log_handler``
    is accepted for the original's signature (``FRONTIER_CLASS(settings, log_handler)``)
    and not used: the frontier's records reach the root logger's handlers.  See the
    module docstring for the behaviour.
    """

    _single_queue = False  # the store is the SingleHostFrontier's

    def __init__(self, settings, log_handler=None, front_end_queues=None, prioritizer=None,
                 clock=None):
        self._now = clock or time.time
        self._closed = False
        self._sinks = Sinks()
        self._store = front_end_queues or open_store(settings, lambda: self._now(),
                                                     self._single_queue)
        try:
            self._build(settings, prioritizer)
        except BaseException:
            self._sinks.close()
            self._store.close()
            raise

    # ------------------------------------------------------------------ set-up
    def _limits(self, settings):
        """``(queues in memory at once, fetches per activation or None, URLs of a queue
        read from the store at a time)``."""
        raise NotImplementedError

    def _create_assignment(self, settings):
        raise NotImplementedError

    def _assignment_name(self, settings):
        raise NotImplementedError

    def _build(self, settings, prioritizer):
        store = self._store
        state = store.state()
        self._assignment = self._assignment_name(settings)
        recorded = state.get("assignment")
        if recorded is not None and recorded != self._assignment:
            raise StartupError(
                "FRONTIER_STATE_FILE=%r holds a crawl queued by %s, but this frontier queues by "
                "%s; use the same FRONTIER_CLASS and QUEUE_ASSIGNMENT_CLASS as before, or a new "
                "state file" % (settings.FRONTIER_STATE_FILE, recorded, self._assignment))
        self._prioritizer = prioritizer or load_setting(settings, "PRIORITIZER_CLASS")(settings)
        default_priority = getattr(self._prioritizer, "default_priority",
                                   settings.PRIORITIZER_DEFAULT_PRIORITY)
        self._sitemaps = bool(settings.ROBOTSTXT_SITEMAPS)
        self._unexpected = 0
        retry = RetryPolicy(settings)
        host_controls = HostControls(store)
        max_active, budget, buffer_size = self._limits(settings)

        self._robots = RobotsTxt(settings, store, retry)
        self._admission = Admission(settings, store)
        self._host_stats = HostStats(store)
        self._counters = CrawlCounters(self._host_stats, state.get("counters"))
        self._resolver = QueueResolver(store, self._create_assignment(settings), self._resolved)
        self._queues = ActiveQueues(store, load_setting(settings, "QUEUE_SELECTOR_CLASS")(0),
                                    max_active, budget, buffer_size,
                                    max(1, int(settings.FRONTIER_HOST_CONCURRENCY)))
        self._in_flight = InFlight()
        self._sinks.recorded = state.get("sinks", {})
        self._checkpoints = Checkpoints(settings, store, self._sinks, self._queues,
                                        self._host_stats, self._state)
        self._transactions = Transactions(store, self._queues, self._counters, self._host_stats,
                                          forget=(self._resolver.forget, self._admission.reload))
        self._intake = Intake(store, self._admission, self._resolver, self._counters,
                              self._host_stats, default_priority, int(settings.SITEMAP_MAX_DEPTH))
        self._dispatch = Dispatch(self._queues, self._robots, host_controls, self._resolver,
                                  store, self._in_flight, self._counters, self._checkpoints,
                                  self._sitemaps, default_priority)
        self._outcomes = Outcomes(settings, store, self._counters, self._host_stats,
                                  self._intake, self._robots, retry, self._prioritizer,
                                  self._queues, host_controls, self._transactions)
        self._controls = OperatorControls(
            lambda url: self.add_uri(CrawlUri(url=url)), state.get("paused", False),
            lambda: self._now(), store, host_controls, self._host_stats, self._queues,
            self._robots, self._in_flight, self._checkpoints)

        if self._counters["known"]:
            log.info("frontier::resuming: %d URLs known, %d to crawl",
                     self._counters["known"], self._counters["open"])
        self._sinks.load(settings)
        self._checkpoints.commit()  # this run's sinks' positions (a new WARC file) included

    def _state(self):
        """The frontier's state a commit holds (``store.commit``)."""
        return {"assignment": self._assignment, "counters": self._counters.as_dict(),
                "sinks": self._sinks.positions(), "paused": self._controls.paused}

    # ------------------------------------------------------------------ the contract
    def add_sink(self, sink):
        """Tell ``sink`` (an ``AbstractCrawlUriSink``) about every final outcome."""
        self._sinks.add(sink)

    def wants_body(self, curi):
        """Whether the result for the dispatched ``curi`` must carry its body: for the
        frontier's own robots.txt requests, and while a sink needs bodies."""
        return (curi.optional_vars.get(C.CURI_ROBOTS_FETCH) == C.CURI_OPTIONAL_TRUE
                or self._sinks.need_bodies)

    def add_uri(self, curi):
        """Add a seed: canonicalise, scope, dedup.  True if the URL is new (or revived)."""
        if self._closed:
            return False
        try:
            url = self._admission.canonical(curi.url)
        except ValueError as exc:
            log.warning("frontier::seed ignored: %s", exc)
            return False
        now = self._now()
        priority = int(curi.current_priority or self._intake.default_priority)
        with self._transactions(now) as op:
            added = self._intake.add_seed(url, int(curi.depth or 0), priority, op)
        self._checkpoints.note()
        self._checkpoints.maybe_commit(now)
        if added:
            log.info("frontier::added %s", url)
        return added

    def get_next(self):
        """The next URL that may be fetched now; ``queue.Empty`` if there is none (or the
        crawl is paused)."""
        if self._closed or self._controls.paused:
            raise queue.Empty()
        now = self._now()
        self._tick()
        if not self._store.dispatch_allowed(now):  # a shared store's leases are in doubt
            raise queue.Empty()
        checkpoints = self._checkpoints
        if checkpoints.behind:
            checkpoints.maybe_commit(now)
        if checkpoints.behind or self._sinks.behind():
            raise queue.Empty()
        self._resolver.scan(self._counters["unresolved"])
        if self._queues.has_room():
            self._queues.activate(now)
        curi = self._dispatch.next(now)
        self._host_stats.settle()
        checkpoints.maybe_commit(now)
        if curi is None:
            raise queue.Empty()
        return curi

    def next_due(self):
        """When ``get_next`` can next succeed without a result arriving; ``None``: never
        (or not before ``resume()``)."""
        if self._closed or self._controls.paused:
            return None
        if self._checkpoints.behind or self._sinks.behind():
            return self._now() + _SINK_POLL
        times = [self._queues.next_time(), self._checkpoints.next_time()]
        if self._queues.has_room():
            times.append(self._store.earliest_due())
        if self._resolver.busy:
            times.append(self._now() + _RESOLVE_POLL)
        return min((t for t in times if t is not None), default=None)

    def process_successful_crawl(self, curi):
        """A 2xx result."""
        self._finish(curi, "success")

    def process_redirect(self, curi):
        """A 3xx result (304 included)."""
        self._finish(curi, "redirect")

    def process_not_found(self, curi):
        """A 4xx result other than 408 and 429."""
        self._finish(curi, "not_found")

    def process_server_error(self, curi):
        """Everything else: 5xx, 408, 429, 599, 710, 711, no or odd status."""
        self._finish(curi, "server_error")

    def process_handed_back(self, curi):
        """A worker returned ``curi`` unfetched (it is leaving, or the dispatch's deadline
        passed first): due again at once, no attempt counted, its budget unit refunded."""
        self._finish(curi, "handed_back")

    def _finish(self, curi, kind):
        """The life of one result of class ``kind``, top to bottom."""
        if self._closed:
            log.warning("frontier::result for %s after close; ignored", curi.url)
            return
        # 1. match it to its dispatch
        flight = self._in_flight.get(curi.url)
        if flight is None:
            self._unexpected += 1
            log.debug("frontier::result for %s, which is not in flight (an earlier run?); "
                      "ignored", curi.url)
            return
        now = self._now()
        # 2. record it and admit its links, in one savepoint (not if a late answer to an
        #    earlier dispatch was recorded as the URL's outcome already)
        sink_kind = None
        if not flight.superseded:
            sink_kind = self._outcomes.record(curi, kind, flight.row, flight.origin,
                                              flight.host, flight.sitemap, now)
        # 3. politeness: free the queue's slot, start its delay
        self._in_flight.end(curi.url)
        self._outcomes.release(curi, kind, flight, now)
        # 4. tell the sinks, before the commit that makes the outcome final: the sinks'
        #    positions that commit stores include this outcome (exactly once)
        if sink_kind is not None:
            self._sinks.tell(sink_kind, curi)
        # 5. commit if it is time
        self._checkpoints.note()
        self._checkpoints.maybe_commit(now)

    def process_late_result(self, curi, kind):
        """An answer of result class ``kind`` to a dispatch whose lease expired (the master
        routed that dispatch as a 711 already).  It is recorded as the URL's outcome -- and
        True returned -- if it is definitive (success, redirect, not found) and nothing was
        recorded for the URL since the expiry: the URL still waits for its retry (which is
        called off), or its retry is in flight unanswered (whose answer, when it comes, only
        frees its politeness slot and is otherwise ignored).  A late answer frees no slot:
        its dispatch's slot was freed when the lease expired."""
        if (self._closed or kind not in _DEFINITIVE
                or curi.optional_vars.get(C.CURI_ROBOTS_FETCH) == C.CURI_OPTIONAL_TRUE):
            return False
        flight = self._in_flight.get(curi.url)
        row = self._store.find(curi.url) if flight is None else flight.row
        if (row is None or row.status != C.CURI_ELEASE_EXPIRED
                or (flight is not None and flight.superseded)):
            return False
        now = self._now()
        if flight is None:
            self._queues.withdraw(row.queue, row.url)
            level = self._store.sitemap_level(row.url) if self._sitemaps else None
        else:
            flight.supersede()
            level = flight.sitemap
        sink_kind = self._outcomes.record(curi, kind, row, origin(row.url), host_key(row.url),
                                          level, now)
        log.info("frontier::%s: a late answer (status %s) to an expired lease recorded",
                 curi.url, curi.status_code)
        self._sinks.tell(sink_kind, curi)
        self._checkpoints.note()
        self._checkpoints.maybe_commit(now)
        return True

    def _resolved(self, key, identifier):
        """The address of host ``key`` is known (runs on the event loop): its parked URLs
        move into their queue."""
        if self._closed:
            return
        now = self._now()
        try:
            with self._transactions(now) as op:
                queue_id, moved = self._intake.move_resolved(key, identifier, op)
        except Exception:
            log.exception("frontier::recording the queue of %s failed; its URLs stay parked "
                          "for another lookup", key)
            self._resolver.failed(key)
            return
        self._counters.add("unresolved", -moved)
        self._resolver.resolved(key, queue_id)
        self._checkpoints.note()
        self._checkpoints.maybe_commit(now)

    def checkpoint(self):
        """Commit the open transaction if ``FRONTIER_CHECKPOINT_SECONDS`` have passed
        (the master calls this from its housekeeping timer, so an idle crawl commits
        too)."""
        if not self._closed:
            self._tick()
            self._checkpoints.maybe_commit(self._now())

    def _tick(self):
        """A store shared by several masters (the Redis store) renews this master's leases
        on its host queues; the queues whose lease was lost are dropped."""
        for queue_id in self._store.tick(self._now()):
            self._queues.forget(queue_id)

    def leases_in_doubt(self):
        """True while a shared store's host-queue leases may pass to another master (it
        could not renew them for half a lease): nothing is dispatched, and the master calls
        back the fetches out, so that they end before the leases do."""
        return not self._closed and not self._store.dispatch_allowed(self._now())

    def crawl_done(self):
        """Nothing in flight and nothing left to crawl except recrawls scheduled later --
        over every master, when the store is shared (its ``crawl_done``)."""
        return not self._in_flight and self._store.crawl_done(self._counters.as_dict())

    def stats(self):
        """Counters for the master's status line (see ``docs/frontier.md``); reading them
        changes nothing."""
        c = self._counters
        return {
            "known": c["known"], "queued": max(0, c["open"] - self._in_flight.open_rows()),
            "scheduled": max(0, c["pending"] - c["open"]), "in_flight": len(self._in_flight),
            "hosts_active": len(self._queues), "robots_disallowed": c["robots_disallowed"],
            "robots_waiting": self._robots.waiting(),
            "retries": c["retries"], "gave_up": c["gave_up"], "sink_errors": self._sinks.errors,
            "out_of_scope": c["out_of_scope"], "too_deep": c["too_deep"],
            "unresolved": c["unresolved"], "success": c["success"], "redirect": c["redirect"],
            "not_found": c["not_found"], "server_error": c["server_error"],
            "checkpoints": self._checkpoints.count, "unexpected_results": self._unexpected,
            "paused": self._controls.paused, "sink_failure": self._sinks.failure(),
            "checkpoint_waits": self._checkpoints.waits,
            "checkpoint_wait_seconds": round(self._checkpoints.waited, 3),
            **self._crawl_stats(),
        }

    def _crawl_stats(self):
        """With a store shared by several masters: the whole crawl's counters (``crawl``)
        and the masters alive (``masters``)."""
        if not self._store.shared:
            return {}
        return {"crawl": self._store.crawl_counters(self._counters.as_dict()),
                "masters": sorted(self._store.live_masters())}

    def close(self):
        """Commit, close every sink, close the store.  Idempotent.  If a sink could not
        write everything it was told (``Sinks.failure``), nothing is committed: the
        outcomes since the last commit are crawled again on the next start."""
        if self._closed:
            return
        self._closed = True
        committed = False
        try:
            self._queues.deactivate_all()
            self._sinks.wait()
            checkpoints = self._checkpoints
            log.info("frontier::%d checkpoints; %d waited for the sinks to catch up, dispatch "
                     "paused %.2f s for them in all", checkpoints.count, checkpoints.waits,
                     checkpoints.waited)
            if self._sinks.synced():
                committed = self._checkpoints.commit()
            else:
                log.error("frontier::closing without a commit (%s): the outcomes since the "
                          "last checkpoint are crawled again on the next start",
                          self._sinks.failure() or "a sink has not written all it was told")
        finally:
            self._sinks.close()
            if committed:
                self._store.close()
            else:
                self._store.abandon()

    # ------------------------------------------------------------------ the operator's controls
    def add_seeds(self, urls):
        """Add seeds from the operator (see ``OperatorControls.add_seeds``)."""
        return self._controls.add_seeds(urls)

    @property
    def paused(self):
        """True while ``get_next`` hands out nothing (``pause()``), also after a restart."""
        return self._controls.paused

    def pause(self):
        """Stop handing out URLs (those in flight still finish) until ``resume()``."""
        if not self._closed:
            self._controls.set_paused(True)

    def resume(self):
        """Hand out URLs again after ``pause()``; the master should dispatch now."""
        if not self._closed:
            self._controls.set_paused(False)

    def block_host(self, host, until=None):
        """Hand out no URL of ``host`` until ``until`` (see ``OperatorControls``)."""
        self._controls.block_host(host, until)

    def unblock_host(self, host):
        """Lift a block; the host's URLs are due again at once."""
        self._controls.unblock_host(host)

    def set_host_delay(self, host, seconds):
        """Wait ``seconds`` after each fetch of ``host`` (``None``: the computed delay)."""
        self._controls.set_host_delay(host, seconds)

    def host(self, host):
        """Everything known about ``host``; ``KeyError`` if unknown."""
        return self._controls.host(host)

    def host_queue(self, host, limit=20):
        """``host``'s URLs in flight and its next queued ones (the console's host page)."""
        return self._controls.host_queue(host, limit)

    def hosts(self, sort="queued", limit=20):
        """The ``limit`` hosts with the largest ``sort``."""
        return self._controls.hosts(sort, limit)


class SingleHostFrontier(AbstractBaseFrontier):
    """One queue for every URL: one global politeness window (the original's behaviour).

    At most ``FRONTIER_HOST_CONCURRENCY`` URLs in flight in total, and the delay
    after each fetch applies to the whole crawl.  Meant for crawling one site.
    """

    _single_queue = True

    def _limits(self, settings):
        return 1, None, max(1, int(settings.FRONTIER_HEAP_SIZE))

    def _create_assignment(self, settings):
        return _SingleQueueAssignment()

    def _assignment_name(self, settings):
        return "single queue"


class MultipleHostFrontier(AbstractBaseFrontier):
    """Per-host politeness with active queues and budgets (the default frontier)."""

    def _limits(self, settings):
        budget = max(1, int(settings.FRONTIER_QUEUE_BUDGET))
        return max(1, int(settings.FRONTIER_ACTIVE_QUEUES)), budget, budget

    def _create_assignment(self, settings):
        return load_setting(settings, "QUEUE_ASSIGNMENT_CLASS")(settings)

    def _assignment_name(self, settings):
        return settings.QUEUE_ASSIGNMENT_CLASS
