"""The crawl frontier: what the master fetches next, when, and what it remembers.

The master calls the frontier from its IOLoop only: ``add_uri`` for seeds,
``get_next`` to dispatch (``queue.Empty`` when nothing may go out now),
``next_due`` to know how long to sleep, one ``process_*`` per result, and
``checkpoint`` / ``crawl_done`` / ``stats`` / ``close``.  Everything persistent
lives in the SQLite state file (``sqlitequeues``); memory holds only bounded
working sets.  This module is the contract and the two frontiers.  The work is
split by concept: ``dispatch`` (what goes out: ``Dispatch``), ``outcomes`` (what an
answer changes, in one transaction: ``Outcomes``) and ``controls`` (the operator's
controls: ``OperatorControls``) are the parts ``AbstractBaseFrontier`` is made of;
they compose these components, one concept each:

* ``admission`` -- which URLs enter: canonical spelling, scope (the seeds' hosts or
  ``REGEX_SCOPE_*``), ``CRAWL_MAX_DEPTH``, ``CRAWL_MAX_PAGES``, the seen cache.
* ``hostresolution`` -- which politeness queue a URL belongs to
  (``QUEUE_ASSIGNMENT_CLASS``: one per host by default, or per IP after a lookup).
* ``hostqueues`` -- the active queues in memory and their ready heap.  An active
  queue holds a small buffer of its URLs due first (new URLs before recrawls,
  shallow before deep), at most ``FRONTIER_HOST_CONCURRENCY`` URLs in flight, and
  after every fetch waits ``max(FRONTIER_MIN_DELAY, FRONTIER_CRAWL_DELAY_FACTOR x
  download time, robots Crawl-delay)``.  ``MultipleHostFrontier`` keeps up to
  ``FRONTIER_ACTIVE_QUEUES`` queues active, each for a budget of
  ``FRONTIER_QUEUE_BUDGET`` fetches (a server error costs
  ``FRONTIER_QUEUE_BUDGET_PUNISH``); a queue whose budget is spent, whose next URL
  is not due, or that must wait long goes back to the state file with the time it
  is next due, and the due queues are activated in turn.  ``SingleHostFrontier``
  puts every URL in one queue: the original's single global politeness window.
* ``robots`` -- before an origin's first URL its robots.txt is fetched through the
  workers; Disallow is enforced here, before dispatch.  An origin whose robots.txt is
  unreachable waits (``robots_waiting``); a robots.txt redirect to another queue's
  host is fetched under that queue's politeness (``ActiveQueues.lend``) while the
  origin's queue waits for the answer.  With ``ROBOTSTXT_SITEMAPS`` the sitemaps it
  names are crawled as URLs marked in the state file's ``sitemaps`` table: they go out
  with ``optional_vars["sitemap_fetch"]``, the worker turns their ``<loc>`` URLs into
  links (depth 1) and the sitemaps an index names into ``optional_vars["sitemaps"]``,
  which are added as sitemaps one level deeper, up to ``SITEMAP_MAX_DEPTH``.
* ``retry`` -- the result classes and the retry policy.
* ``hoststats`` / ``hostcontrols`` -- per-host counters for the operator's console,
  and the operator's orders: a host blocked (until a time, or until unblocked; its
  URLs stay queued) or given its own politeness delay.  ``pause()`` stops handing
  out URLs until ``resume()``.  All of them are kept in the state file, so they hold
  after a restart.

Outcomes.  2xx: recrawl later (``PRIORITIZER_CLASS``), add the extracted links
(depth + 1, unless ``nofollow``).  3xx: the targets arrive as links at the same
depth and the source is rescheduled like a success (never due at once, so
redirects cannot loop; a 304 raises its recrawl level).  4xx other than 408/429:
dropped.  Everything else: retried after ``RETRY_BACKOFF`` seconds, doubling, at
least ``Retry-After``, up to ``MAX_RETRIES`` times, then dropped.  Sinks hear each
final outcome once, after the bookkeeping; one result's row, its links and its
queue changes are written in one savepoint, and transactions are committed every
``FRONTIER_CHECKPOINTING`` operations or ``FRONTIER_CHECKPOINT_SECONDS``, so after a
crash the file is consistent and a restart resumes: URLs in flight are due again,
finished ones are not.
"""
import contextlib
import logging
import queue
import sqlite3
import time

from spyder.core import constants as C
from spyder.core.frontier.admission import Admission
from spyder.core.frontier.controls import OperatorControls
from spyder.core.frontier.dispatch import Dispatch
from spyder.core.filelock import state_file_lock
from spyder.core.frontier.hostcontrols import HostControls
from spyder.core.frontier.hostqueues import ActiveQueues
from spyder.core.frontier.hostresolution import QueueResolver
from spyder.core.frontier.hoststats import HostStats
from spyder.core.frontier.outcomes import Outcomes
from spyder.core.retry import RetryPolicy
from spyder.core.frontier.robots import RobotsTxt
from spyder.core.sink import Sinks
from spyder.core.store.sqlite import (SINGLE_QUEUE, QueueException, SQLiteMultipleHostUriQueue,
                                      SQLiteSingleHostUriQueue)
from spyder.core.urls import hostname
from spyder.errors import StartupError
from spyder.import_util import load_setting

log = logging.getLogger("spyder.frontier")

#: Counters kept in the state file (committed together with the rows they count).
_COUNTERS = ("known", "accepted", "pending", "open", "unresolved", "robots_disallowed",
             "out_of_scope", "too_deep", "retries", "gave_up",
             "success", "redirect", "not_found", "server_error")
#: How often the master is asked to look again while host lookups are under way.
_RESOLVE_POLL = 0.05
#: Checkpoint intervals a commit waits for a sink writing in a thread before dispatch
#: pauses until the sink has caught up.
_SINK_WAIT_LIMIT = 5
#: Seconds between two looks at a sink that dispatch waits for.
_SINK_POLL = 0.05



class _SingleQueueAssignment:
    """Every URL in the one queue of the SingleHostFrontier."""

    needs_resolution = False

    def get_identifier(self, url):
        return SINGLE_QUEUE


class AbstractBaseFrontier(Dispatch, Outcomes, OperatorControls):
    """Everything both frontiers share; subclasses choose store, assignment and limits.

    ``front_end_queues`` (a store) and ``prioritizer`` may be passed in (tests);
    ``clock`` (default ``time.time``) is the UTC epoch source, also settable as
    ``_now``.  ``log_handler`` is accepted for the original's signature
    (``FRONTIER_CLASS(settings, log_handler)``) and not used: the frontier's records
    reach the root logger's handlers.  See the module docstring for the behaviour.
    """

    _store_class = SQLiteMultipleHostUriQueue
    _max_active = 1       # queues in memory at the same time
    _budget = None        # fetches per activation (None: unlimited)
    _buffer_size = 50     # URLs of one queue read from the state file at a time

    def __init__(self, settings, log_handler=None, front_end_queues=None, prioritizer=None,
                 clock=None):
        self._now = clock or time.time
        self._closed = False
        self._lock_file = None
        self._sinks = Sinks()
        self._store = front_end_queues or self._open_store(settings)
        try:
            self._setup(settings, prioritizer)
        except BaseException:
            self._sinks.close()
            self._store.close()
            self._release_lock()
            raise

    # ------------------------------------------------------------------ set-up
    def _open_store(self, settings):
        path = settings.FRONTIER_STATE_FILE
        if path != ":memory:":
            self._lock_file = state_file_lock(path).acquire()
        try:
            return self._store_class(path, clock=lambda: self._now(),
                                     cache_mb=settings.FRONTIER_SQLITE_CACHE_MB)
        except (sqlite3.Error, QueueException) as exc:
            self._release_lock()
            raise StartupError("FRONTIER_STATE_FILE=%r cannot be used: %s" % (path, exc)) from exc

    def _setup(self, settings, prioritizer):
        self._prioritizer = prioritizer or load_setting(settings, "PRIORITIZER_CLASS")(settings)
        self._default_priority = getattr(self._prioritizer, "default_priority",
                                         settings.PRIORITIZER_DEFAULT_PRIORITY)
        store = self._store
        self._retry = RetryPolicy(settings)
        self._robots = RobotsTxt(settings, store, self._retry)
        self._sitemaps = bool(settings.ROBOTSTXT_SITEMAPS)
        self._sitemap_max_depth = int(settings.SITEMAP_MAX_DEPTH)
        self._admission = Admission(settings, store)
        self._resolver = QueueResolver(store, self._create_assignment(settings), self._resolved)
        self._host_stats = HostStats(store)
        self._controls = HostControls(store)
        self._paused = bool(store.get_meta("paused", False))
        self._queues = ActiveQueues(store, load_setting(settings, "QUEUE_SELECTOR_CLASS")(0),
                                    self._max_active, self._budget, self._buffer_size,
                                    max(1, int(settings.FRONTIER_HOST_CONCURRENCY)))

        self._min_delay = float(settings.FRONTIER_MIN_DELAY)
        self._delay_factor = float(settings.FRONTIER_CRAWL_DELAY_FACTOR)
        self._punish = max(0, int(settings.FRONTIER_QUEUE_BUDGET_PUNISH) - 1)
        self._checkpoint_ops = max(1, int(settings.FRONTIER_CHECKPOINTING))
        self._checkpoint_seconds = float(settings.FRONTIER_CHECKPOINT_SECONDS)

        self._in_flight = {}                     # url -> dispatch.Flight
        self._sinks_behind = False               # dispatch waits for a sink to catch up
        self._ops = 0
        self._checkpoints = 0
        self._unexpected = 0

        kind = self._assignment_name(settings)
        recorded = store.get_meta("assignment")
        if recorded is None:
            store.set_meta("assignment", kind)
        elif recorded != kind:
            raise StartupError(
                "FRONTIER_STATE_FILE=%r holds a crawl queued by %s, but this frontier queues by "
                "%s; use the same FRONTIER_CLASS and QUEUE_ASSIGNMENT_CLASS as before, or a new "
                "state file" % (settings.FRONTIER_STATE_FILE, recorded, kind))
        self._counters = dict.fromkeys(_COUNTERS, 0)
        self._counters.update(store.get_meta("counters", {}))
        self._sinks.recorded = store.get_meta("sinks", {})
        if not store.get_meta("clean", True):
            log.warning("frontier::the state file was not closed cleanly; recomputing when "
                        "each host queue is due")
            store.repair_queue_due()
        store.set_meta("clean", False)
        self._commit()
        if self._counters["known"]:
            log.info("frontier::resuming: %d URLs known, %d to crawl",
                     self._counters["known"], self._counters["open"])
        self._sinks.load(settings)

    def _create_assignment(self, settings):
        raise NotImplementedError

    def _assignment_name(self, settings):
        raise NotImplementedError

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
        depth = int(curi.depth or 0)
        priority = int(curi.current_priority or self._default_priority)
        with self._transaction(now) as (pushes, due):
            if self._admission.default_scope:
                self._admission.add_scope_host(hostname(url))
            added = self._add_url(url, depth, priority, pushes, due, seed=True)
        self._ops += 1
        self._maybe_commit(now)
        if added:
            log.info("frontier::added %s", url)
        return added

    def get_next(self):
        """The next URL that may be fetched now; ``queue.Empty`` if there is none (or the
        crawl is paused)."""
        if self._closed or self._paused:
            raise queue.Empty()
        now = self._now()
        if self._sinks_behind:
            self._maybe_commit(now)
        if self._sinks_behind or self._sinks.behind():
            raise queue.Empty()
        self._resolver.scan(self._counters["unresolved"])
        if self._queues.has_room():
            self._queues.activate(now)
        curi = self._next_ready(now)
        self._host_stats.settle()
        self._maybe_commit(now)
        if curi is None:
            raise queue.Empty()
        return curi

    def next_due(self):
        """When ``get_next`` can next succeed without a result arriving; ``None``: never
        (or not before ``resume()``)."""
        if self._closed or self._paused:
            return None
        if self._sinks_behind or self._sinks.behind():
            return self._now() + _SINK_POLL
        due = self._queues.next_time()
        if self._queues.has_room():
            stored = self._store.earliest_queue_due()
            if stored is not None and (due is None or stored < due):
                due = stored
        if self._resolver.busy:
            poll = self._now() + _RESOLVE_POLL
            due = poll if due is None else min(due, poll)
        if self._store.txn_started is not None:
            commit_at = self._store.txn_started + self._checkpoint_seconds
            due = commit_at if due is None else min(due, commit_at)
        return due

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

    def process_late_result(self, curi, kind):
        """An answer of result class ``kind`` to a dispatch whose lease expired (the master
        routed that dispatch as a 711 already).  It is recorded as the URL's outcome -- and
        True returned -- if it is definitive (success, redirect, not found) and nothing was
        recorded for the URL since the expiry: the URL still waits for its retry (which is
        called off), or its retry is in flight unanswered (whose answer, when it comes, only
        frees its politeness slot and is otherwise ignored).  A late answer frees no slot:
        its dispatch's slot was freed when the lease expired."""
        return self._record_late(curi, kind)

    def checkpoint(self):
        """Commit the open transaction if ``FRONTIER_CHECKPOINT_SECONDS`` have passed
        (the master calls this from its housekeeping timer, so an idle crawl commits
        too)."""
        if not self._closed:
            self._maybe_commit(self._now())

    def crawl_done(self):
        """Nothing in flight and nothing left to crawl except recrawls scheduled later."""
        return not self._in_flight and self._counters["open"] <= 0

    def stats(self):
        """Counters for the master's status line (see ``docs/frontier.md``); reading them
        changes nothing."""
        c = self._counters
        open_in_flight = sum(1 for f in self._in_flight.values()
                             if f.row is not None and f.row.is_open)
        return {
            "known": c["known"], "queued": max(0, c["open"] - open_in_flight),
            "scheduled": max(0, c["pending"] - c["open"]), "in_flight": len(self._in_flight),
            "hosts_active": len(self._queues), "robots_disallowed": c["robots_disallowed"],
            "robots_waiting": self._robots.waiting(),
            "retries": c["retries"], "gave_up": c["gave_up"], "sink_errors": self._sinks.errors,
            "out_of_scope": c["out_of_scope"], "too_deep": c["too_deep"],
            "unresolved": c["unresolved"], "success": c["success"], "redirect": c["redirect"],
            "not_found": c["not_found"], "server_error": c["server_error"],
            "checkpoints": self._checkpoints, "unexpected_results": self._unexpected,
            "paused": self._paused,
        }

    def close(self):
        """Commit, close every sink, close the state file.  Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._queues.deactivate_all()
            self._store.set_meta("clean", True)
            self._sinks.wait()
            self._commit()
        finally:
            self._sinks.close()
            self._store.close()
            self._release_lock()

    # ------------------------------------------------------------------ the result transaction
    @contextlib.contextmanager
    def _transaction(self, now):
        """One savepoint for one operation; yields ``(pushes, due)`` to fill: the changed
        rows of active queues (applied after the savepoint) and the new due times of
        stored queues (written inside it).  On failure memory forgets what it learned."""
        pushes, due = [], {}
        saved = dict(self._counters)
        try:
            with self._store.atomic():
                yield pushes, due
                self._queues.lower_due(due)
        except BaseException:
            self._rolled_back(saved)
            raise
        self._host_stats.settle()
        self._queues.apply(pushes, now)

    def _place(self, queue_id, row, pushes, due):
        """A scheduled ``row`` of queue ``queue_id`` is new or changed: into the active
        queue's buffer, or its stored queue is due no later than the row."""
        if self._queues.get(queue_id) is not None:
            pushes.append((queue_id, row))
        elif row.next_date < due.get(queue_id, float("inf")):
            due[queue_id] = row.next_date

    def _rolled_back(self, counters):
        """A result's savepoint was rolled back: forget what memory learned inside it."""
        self._counters = counters
        self._host_stats.discard()
        self._resolver.forget()
        self._admission.reload()

    # ------------------------------------------------------------------ checkpoints
    def _maybe_commit(self, now):
        started = self._store.txn_started
        if started is not None and (self._ops + self._queues.ops >= self._checkpoint_ops
                                    or now - started >= self._checkpoint_seconds):
            if not self._sinks.synced():  # a sink is still writing what it was told
                if (not self._sinks_behind and now - started
                        >= _SINK_WAIT_LIMIT * max(self._checkpoint_seconds, 1.0)):
                    self._sinks_behind = True
                    log.info("frontier::a sink has been behind for %.0f s: dispatch pauses "
                             "until it caught up and the commit is made", now - started)
                return  # the next result, get_next or the master's housekeeping try again
            self._sinks_behind = False
            self._commit()

    def _commit(self):
        """Commit the state with the counters and the sinks' output positions (so that a
        restart cuts the sinks back to what this commit holds: exactly once)."""
        self._host_stats.write()
        self._queues.store_delays()
        self._store.set_meta("counters", self._counters)
        self._store.set_meta("sinks", self._sinks.positions())
        self._store.checkpoint()
        self._ops = self._queues.ops = 0
        self._checkpoints += 1

    def _release_lock(self):
        if self._lock_file is not None:
            self._lock_file.release()
            self._lock_file = None


class SingleHostFrontier(AbstractBaseFrontier):
    """One queue for every URL: one global politeness window (the original's behaviour).

    At most ``FRONTIER_HOST_CONCURRENCY`` URLs in flight in total, and the delay
    after each fetch applies to the whole crawl.  Meant for crawling one site.
    """

    _store_class = SQLiteSingleHostUriQueue

    def _setup(self, settings, prioritizer):
        self._buffer_size = max(1, int(settings.FRONTIER_HEAP_SIZE))
        super()._setup(settings, prioritizer)

    def _create_assignment(self, settings):
        return _SingleQueueAssignment()

    def _assignment_name(self, settings):
        return "single queue"


class MultipleHostFrontier(AbstractBaseFrontier):
    """Per-host politeness with active queues and budgets (the default frontier)."""

    _store_class = SQLiteMultipleHostUriQueue

    def _setup(self, settings, prioritizer):
        self._max_active = max(1, int(settings.FRONTIER_ACTIVE_QUEUES))
        self._budget = max(1, int(settings.FRONTIER_QUEUE_BUDGET))
        self._buffer_size = self._budget
        super()._setup(settings, prioritizer)

    def _create_assignment(self, settings):
        return load_setting(settings, "QUEUE_ASSIGNMENT_CLASS")(settings)

    def _assignment_name(self, settings):
        return settings.QUEUE_ASSIGNMENT_CLASS
