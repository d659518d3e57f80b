"""The crawl frontier: what the master fetches next, when, and what it remembers.

The master calls the frontier from its IOLoop only: ``add_uri`` for seeds,
``get_next`` to dispatch (``queue.Empty`` when nothing may go out now),
``next_due`` to know how long to sleep, one ``process_*`` per result, and
``checkpoint`` / ``crawl_done`` / ``stats`` / ``close``.  Everything persistent
lives in the SQLite state file (``sqlitequeues``); memory holds only bounded
working sets.  This module is the contract and the two frontiers; it composes
these parts, one concept each:

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
import collections
import logging
import queue
import sqlite3
import time

from spyder.core import constants as C
from spyder.core.admission import REFUSAL_COUNTERS, Admission
from spyder.core.crawluri import CrawlUri
from spyder.core.filelock import state_file_lock
from spyder.core.hostcontrols import FOREVER, HostControls
from spyder.core.hostqueues import ActiveQueues
from spyder.core.hostresolution import QueueResolver
from spyder.core.hoststats import HostStats
from spyder.core.retry import RetryPolicy, is_server_fault
from spyder.core.robots import BUSY, FETCH, READY, RobotsTxt, robots_url
from spyder.core.sink import Sinks
from spyder.core.sqlitequeues import (SINGLE_QUEUE, QueueException, SQLiteMultipleHostUriQueue,
                                      SQLiteSingleHostUriQueue, UriRow)
from spyder.core.urls import check_seed, credentials, host_key, hostname, origin
from spyder.errors import StartupError
from spyder.import_util import load_setting

log = logging.getLogger("spyder.frontier")

#: Counters kept in the state file (committed together with the rows they count).
_COUNTERS = ("known", "accepted", "pending", "open", "unresolved", "robots_disallowed",
             "out_of_scope", "too_deep", "retries", "gave_up",
             "success", "redirect", "not_found", "server_error")
#: How often the master is asked to look again while host lookups are under way.
_RESOLVE_POLL = 0.05
#: Depth given to URLs found in robots.txt Sitemap lines (their <loc> URLs are one deeper).
_SITEMAP_DEPTH = 0
#: URLs one queue drops for robots.txt in one go before the event loop gets a turn.
_MAX_DROPS = 1000
#: Checkpoint intervals a commit waits for a sink writing in a thread before dispatch
#: pauses until the sink has caught up.
_SINK_WAIT_LIMIT = 5
#: Seconds between two looks at a sink that dispatch waits for.
_SINK_POLL = 0.05
#: Result classes a late answer may be recorded as (a late failure says no more than the
#: expired lease already did).
_DEFINITIVE = ("success", "redirect", "not_found")



class _Flight:
    __slots__ = ("row", "queue", "origin", "sitemap", "waiter", "superseded")

    def __init__(self, row, queue_id, origin_, sitemap=None, waiter=None):
        self.row = row             # None for a robots.txt fetch
        self.queue = queue_id      # the queue whose politeness the fetch counts against
        self.origin = origin_
        self.sitemap = sitemap     # a sitemap's nesting level, None for other URLs
        self.waiter = waiter       # a robots.txt hop lent by another queue: the origin's queue
        self.superseded = False    # a late answer to an earlier dispatch was recorded first


class _SingleQueueAssignment:
    """Every URL in the one queue of the SingleHostFrontier."""

    needs_resolution = False

    def get_identifier(self, url):
        return SINGLE_QUEUE


def _is_open(row):
    """A URL the crawl still has to finish: never fetched, or waiting for a retry."""
    return row.status is None or row.attempt > 0


class AbstractBaseFrontier:
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

        self._in_flight = {}                     # url -> _Flight
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
        pushes, due = [], {}
        saved = dict(self._counters)
        try:
            with self._store.atomic():
                if self._admission.default_scope:
                    self._admission.add_scope_host(hostname(url))
                added = self._add_url(url, depth, priority, pushes, due, seed=True)
                self._queues.lower_due(due)
                self._host_stats.flush()
        except BaseException:
            self._rolled_back(saved)
            raise
        self._queues.apply(pushes, now)
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
        self._host_stats.flush()
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
        if (self._closed or kind not in _DEFINITIVE
                or curi.optional_vars.get(C.CURI_ROBOTS_FETCH) == C.CURI_OPTIONAL_TRUE):
            return False
        flight = self._in_flight.get(curi.url)
        row = self._store.find_uri(curi.url) if flight is None else flight.row
        if (row is None or row.status != C.CURI_ELEASE_EXPIRED
                or (flight is not None and flight.superseded)):
            return False
        now = self._now()
        if flight is None:
            self._queues.withdraw(row.queue, row.url)
            level = self._store.sitemap_level(row.url) if self._sitemaps else None
        else:
            flight.superseded = True
            level = flight.sitemap
        sink_kind = self._record_outcome(curi, kind, row, origin(row.url), level, now)
        log.info("frontier::%s: a late answer (status %s) to an expired lease recorded",
                 curi.url, curi.status_code)
        self._ops += 1
        self._maybe_commit(now)
        self._sinks.tell(sink_kind, curi)
        return True

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
                             if f.row is not None and _is_open(f.row))
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

    # ------------------------------------------------------------------ the operator's controls
    def add_seeds(self, urls):
        """Add seeds from the operator: all of them or, if one is not a crawlable URL,
        none (``ValueError`` names it).  Returns the URLs that were new (or revived)."""
        for url in urls:
            check_seed(url)
        return [url for url in urls if self.add_uri(CrawlUri(url=url))]

    @property
    def paused(self):
        """True while ``get_next`` hands out nothing (``pause()``), also after a restart."""
        return self._paused

    def pause(self):
        """Stop handing out URLs (those in flight still finish) until ``resume()``."""
        self._set_paused(True)

    def resume(self):
        """Hand out URLs again after ``pause()``; the master should dispatch now."""
        self._set_paused(False)

    def _set_paused(self, paused):
        if paused != self._paused and not self._closed:
            self._paused = paused
            self._store.set_meta("paused", paused)
            self._order_given()
            log.info("frontier::%s", "paused" if paused else "resumed")

    def _order_given(self):
        """An operator's order changed the state: it is committed with the next checkpoint
        (never ahead of the sinks' output, which keeps them exactly-once)."""
        self._ops += 1
        self._maybe_commit(self._now())

    def block_host(self, host, until=None):
        """Hand out no URL of ``host`` (a host key: ``name[:port]``) until ``until`` (UTC
        epoch; ``None``: until ``unblock_host``); its URLs stay queued.  ``KeyError`` for
        a host the crawl does not know."""
        self._known_host(host)
        self._controls.block(host, FOREVER if until is None else float(until))
        self._order_given()
        log.info("frontier::host %s blocked%s", host,
                 "" if until is None else " until %.0f" % until)

    def unblock_host(self, host):
        """Lift a block; the host's URLs are due again at once."""
        stats = self._known_host(host)
        self._controls.unblock(host)
        queue_id = stats["queue"]
        q = self._queues.get(queue_id)
        if q is not None:
            q.blocked_until = 0.0
            self._queues.schedule(q, self._now())
        elif queue_id is not None:
            self._store.lift_queue_hold(queue_id)
        self._order_given()
        log.info("frontier::host %s unblocked", host)

    def set_host_delay(self, host, seconds):
        """Wait ``seconds`` after each fetch of ``host`` instead of the computed politeness
        delay (robots.txt Crawl-delay and Retry-After still lengthen it); ``None`` goes
        back to the computed delay.  Applies from the host's next fetch on."""
        self._known_host(host)
        if seconds is not None and not (0 <= seconds < FOREVER):
            raise ValueError("a delay is a number of seconds >= 0, got %r" % (seconds,))
        self._controls.set_delay(host, seconds)
        self._order_given()
        log.info("frontier::host %s delay %s", host,
                 "computed again" if seconds is None else "%s s" % seconds)

    def host(self, host):
        """Everything known about ``host`` (see ``docs/console.md``); ``KeyError`` if unknown."""
        return self._describe_host(self._known_host(host), self._now())

    def hosts(self, sort="queued", limit=20):
        """The ``limit`` hosts with the largest ``sort`` (``queued``, ``fetched``,
        ``errors``, ``in_flight``; ``host``: by name); ``ValueError`` for another sort."""
        now = self._now()
        if sort == "in_flight":
            flying = collections.Counter(host_key(url) for url in self._in_flight)
            rows = [self._host_stats.get(host) for host, _ in flying.most_common(limit)]
        else:
            rows = self._host_stats.top(sort, limit)
        return [self._describe_host(row, now) for row in rows if row is not None]

    def _known_host(self, host):
        stats = self._host_stats.get(host) if isinstance(host, str) else None
        if stats is None:
            raise KeyError("the crawl knows no host %r (write it as a URL's host[:port])"
                           % (host,))
        return stats

    def _describe_host(self, stats, now):
        host = stats["host"]
        q = self._queues.get(stats["queue"])
        in_flight = sum(1 for url in q.flying if host_key(url) == host) if q is not None else 0
        until = self._controls.blocked_until(host, now)
        return {
            "host": host, "queued": max(0, stats["queued"] - in_flight), "in_flight": in_flight,
            "fetched": stats["fetched"], "errors": stats["errors"], "bytes": stats["bytes"],
            "last_status": stats["last_status"], "last_time": stats["last_time"],
            "active": q is not None,
            "next_allowed": q.next_allowed if q is not None and q.next_allowed > now else None,
            "delay": q.delay if q is not None else None,
            "delay_override": self._controls.delay(host),
            "blocked": until is not None,
            "blocked_until": until if until is not None and until < FOREVER else None,
            "robots": self._robots.describe(self._origins(host), now),
        }

    @staticmethod
    def _origins(host):
        return ["%s://%s" % (scheme, host) for scheme in ("http", "https")]

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

    # ------------------------------------------------------------------ dispatch
    def _next_ready(self, now):
        """Pop ready queues until one hands out a URL; ``None`` if none can."""
        tried = set()
        queues = self._queues
        for q in queues.due(now):
            curi = None
            if q.id in tried:  # no progress: never spin, look again shortly
                log.error("frontier::queue %d made no progress; holding it briefly", q.id)
                q.blocked_until = now + 0.05
            else:
                tried.add(q.id)
                curi = self._take(q, now)
            if queues.get(q.id) is q:
                queues.schedule(q, now)
            if curi is not None:
                return curi
        return None

    def _take(self, q, now):
        """Hand out the head of ``q`` (or its robots.txt) if it may go now, else ``None``."""
        dropped = 0
        while True:
            head = self._queues.head(q)
            if head is None or head[0] > now or q.next_allowed > now or q.blocked_until > now:
                return None
            row = head[3]
            hold = self._controls.blocked_until(host_key(row.url), now)
            if hold is not None:  # the operator blocked the host: its URLs wait
                q.blocked_until = hold
                return None
            if row.url in self._in_flight:  # its namesake robots.txt fetch is under way
                q.blocked_until = now + 1.0
                return None
            org = origin(row.url)
            state, value = self._robots.check(org, now)
            if state is READY:
                q.buffer.pop(0)
                if value.allowed(row.url):
                    return self._dispatch(q, row, org)
                self._drop_disallowed(row)
                dropped += 1
                if dropped >= _MAX_DROPS:  # a host disallowing a long run: go on shortly
                    q.blocked_until = now + 0.001
                    return None
                continue
            if state is FETCH:
                url, attempt = value
                if url in self._in_flight:
                    q.blocked_until = now + 1.0
                    return None
                return self._dispatch_robots(q, org, url, attempt, now)
            if state is BUSY:
                q.waiting = True
            else:  # WAIT
                q.blocked_until = value
            return None

    def _dispatch(self, q, row, org):
        q.spend(row.url)
        optional_vars = {}
        level = self._store.sitemap_level(row.url) if self._sitemaps else None
        if level is not None:
            optional_vars[C.CURI_SITEMAP_FETCH] = C.CURI_OPTIONAL_TRUE
        self._in_flight[row.url] = _Flight(row, q.id, org, sitemap=level)
        req_header = {}
        if row.etag:
            req_header["Etag"] = row.etag
        if row.mod_date:
            req_header["Last-Modified"] = row.mod_date
        user_password = credentials(row.url)
        if user_password is not None:
            optional_vars[C.CURI_SITE_USERNAME], optional_vars[C.CURI_SITE_PASSWORD] = \
                user_password
        return CrawlUri(url=row.url, effective_url=row.url, current_priority=row.priority,
                        req_header=req_header, optional_vars=optional_vars, depth=row.depth,
                        attempt=row.attempt)

    def _dispatch_robots(self, q, org, url, attempt, now):
        """Hand out the robots.txt of ``org`` (or the URL its redirect names).  A redirect to
        a host of another queue is fetched under that queue's politeness, which lends a
        slot (``None`` if it cannot now: ``q`` asks again when the target may start a
        fetch); ``q`` waits for the answer meanwhile."""
        lender = None if url == robots_url(org) else self._resolver.queue_for(url)
        if lender is None or lender == q.id:
            q.spend(url)
            flight = _Flight(None, q.id, org)
        else:
            retry_at = self._queues.lend(lender, url, now)
            if retry_at is not None:
                q.blocked_until = retry_at
                return None
            q.waiting = True
            flight = _Flight(None, lender, org, waiter=q.id)
        self._robots.fetch_started(org)
        self._in_flight[url] = flight
        return CrawlUri(url=url, effective_url=url, current_priority=self._default_priority,
                        optional_vars={C.CURI_ROBOTS_FETCH: C.CURI_OPTIONAL_TRUE},
                        depth=0, attempt=attempt)

    def _drop_disallowed(self, row):
        c = self._counters
        self._store.ignore_uri(row.url, row.status, "robots")
        c["pending"] -= 1
        if _is_open(row):
            self._count_open(row.url, -1)
        c["robots_disallowed"] += 1
        self._ops += 1
        log.debug("frontier::%s disallowed by robots.txt", row.url)

    # ------------------------------------------------------------------ results
    def _finish(self, curi, kind):
        if self._closed:
            log.warning("frontier::result for %s after close; ignored", curi.url)
            return
        flight = self._in_flight.get(curi.url)
        if flight is None:
            self._unexpected += 1
            log.debug("frontier::result for %s, which is not in flight (an earlier run?); "
                      "ignored", curi.url)
            return
        now = self._now()
        if flight.superseded:  # the URL's outcome came first, from an earlier dispatch
            sink_kind = None
        else:
            sink_kind = self._record_outcome(curi, kind, flight.row, flight.origin,
                                             flight.sitemap, now)
        del self._in_flight[curi.url]
        q = self._queues.get(flight.queue)
        if q is not None:
            self._release(q, curi, kind, flight, now)
        if flight.waiter is not None:
            self._queues.wake(flight.waiter, now)
        self._ops += 1
        self._maybe_commit(now)
        if sink_kind is not None:
            self._sinks.tell(sink_kind, curi)

    def _record_outcome(self, curi, kind, row, origin_, sitemap, now):
        """Write one answer -- for a page's ``row``, or for the robots.txt of ``origin_`` when
        ``row`` is None -- in one savepoint and apply it to the queues; returns the result
        class to tell the sinks, or None.  ``sitemap``: the page's sitemap level, or None."""
        pushes, due = [], {}
        saved = dict(self._counters)
        fresh = []
        sink_kind = None
        try:
            with self._store.atomic():
                if row is None and kind == "handed_back":  # not a failed robots.txt fetch
                    self._robots.fetch_abandoned(origin_)
                elif row is None:
                    sink_kind = "robots"
                    sitemaps = self._robots.fetch_finished(origin_, curi, now)
                    fresh = self._add_sitemaps(sitemaps, 0, _SITEMAP_DEPTH, pushes, due)
                else:
                    sink_kind, fresh = self._record(curi, kind, row, now, pushes, due)
                    if sitemap is not None and sink_kind in ("success", "redirect"):
                        fresh += self._add_sitemaps(curi.optional_vars.get(C.CURI_SITEMAPS),
                                                    sitemap + 1, row.depth, pushes, due)
                    if kind != "handed_back":
                        self._host_stats.result(host_key(row.url),
                                                kind in ("not_found", "server_error"),
                                                curi.status_code, len(curi.content_body or b""),
                                                now)
                self._queues.lower_due(due)
                self._host_stats.flush()
        except BaseException:
            self._rolled_back(saved)
            raise
        self._admission.remember(fresh)
        self._queues.apply(pushes, now)
        return sink_kind

    def _record(self, curi, kind, row, now, pushes, due):
        """Write the outcome of one visit; returns (the result class to tell the sinks, or
        None for a retry; links to cache)."""
        c = self._counters
        status = curi.status_code
        was_open = _is_open(row)
        curi.depth = row.depth
        curi.attempt = row.attempt
        fresh = []
        if kind == "handed_back":  # back into its queue as it was
            pushes.append((row.queue, row))
            return None, fresh
        if kind in ("success", "redirect"):
            curi.current_priority = row.priority
            level, delta = self._prioritizer.calculate_priority(curi)
            headers = curi.rep_header or {}
            etag, mod_date = headers.get("Etag"), headers.get("Last-Modified")
            if status == 304:
                etag, mod_date = etag or row.etag, mod_date or row.mod_date
            next_date = now + delta
            self._store.record(row.url, etag, mod_date, next_date, level, 0, status, None)
            pushes.append((row.queue, row._replace(etag=etag, mod_date=mod_date,
                                                   next_date=next_date, priority=level,
                                                   attempt=0, status=status)))
            if was_open:
                self._count_open(row.url, -1)
            c[kind] += 1
            if kind == "redirect":
                fresh = self._add_links(curi.extracted_urls, row.depth, pushes, due,
                                        extend_scope=(row.depth == 0
                                                      and self._admission.default_scope))
            elif curi.optional_vars.get(C.CURI_NOFOLLOW) != C.CURI_OPTIONAL_TRUE:
                fresh = self._add_links(curi.extracted_urls, row.depth + 1, pushes, due)
            return kind, fresh
        if kind == "not_found":
            self._store.record(row.url, row.etag, row.mod_date, None, row.priority, row.attempt,
                               status, "status")
            self._finished_for_good(row)
            c["not_found"] += 1
            return kind, fresh
        attempt = row.attempt + 1
        if attempt <= self._retry.max_retries:
            next_date = now + self._retry.wait(row.attempt, curi, now)
            self._store.record(row.url, row.etag, row.mod_date, next_date, row.priority, attempt,
                               status, None)
            pushes.append((row.queue, row._replace(next_date=next_date, attempt=attempt,
                                                   status=status)))
            if not was_open:
                self._count_open(row.url, 1)
            c["retries"] += 1
            log.info("frontier::%s failed (status %s); retry %d of %d at %.0f", row.url, status,
                     attempt, self._retry.max_retries, next_date)
            return None, fresh
        self._store.record(row.url, row.etag, row.mod_date, None, row.priority, row.attempt,
                           status, "retries")
        self._finished_for_good(row)
        c["gave_up"] += 1
        c["server_error"] += 1
        log.info("frontier::%s failed (status %s) %d times; giving up", row.url, status, attempt)
        return kind, fresh

    def _finished_for_good(self, row):
        self._counters["pending"] -= 1
        if _is_open(row):
            self._count_open(row.url, -1)

    def _count_open(self, url, change, queue_id=None):
        """``change`` more URLs to crawl, in the crawl's counters and its host's."""
        self._counters["open"] += change
        self._host_stats.queued(host_key(url), change, queue_id)

    def _release(self, q, curi, kind, flight, now):
        """The politeness side of a result: free the slot, start the delay, spend budget."""
        req_time = curi.req_time if isinstance(curi.req_time, (int, float)) else 0.0
        delay = self._controls.delay(host_key(curi.url))
        if delay is None:
            delay = max(self._min_delay, self._delay_factor * req_time)
        robots_delay = self._robots.delay(flight.origin)
        if robots_delay is not None and robots_delay > delay:
            delay = robots_delay
        cost = -1 if kind == "handed_back" else 0
        if kind == "server_error":
            if is_server_fault(curi.status_code):
                cost = self._punish  # the dispatch already cost 1
            hold = self._retry.host_hold(curi, now)
            if hold is not None:
                delay = max(delay, hold)
        self._queues.release(q, curi.url, now + delay, cost, now)

    # ------------------------------------------------------------------ adding URLs
    def _add_links(self, links, depth, pushes, due, extend_scope=False):
        """Add extracted links; returns the raw strings to remember as seen.

        ``extend_scope`` (a seed's redirect): the targets' hosts join the default
        scope, and a target recorded as out of scope before is crawled after all.
        """
        admission = self._admission
        fresh = []
        for raw in admission.unseen(links, recheck=extend_scope):
            if admission.full(self._counters["accepted"]):
                break
            fresh.append(raw)
            try:
                url = admission.canonical(raw)
            except ValueError:
                continue
            if extend_scope:
                admission.add_scope_host(hostname(url))
            self._add_url(url, depth, self._default_priority, pushes, due, revive=extend_scope)
        return fresh

    def _add_sitemaps(self, links, level, depth, pushes, due):
        """Add sitemap URLs (newline-separated or a list) ``level`` indexes below robots.txt;
        returns the raw strings to remember as seen."""
        if isinstance(links, str):
            links = [link for link in links.split("\n") if link]
        if not links:
            return []
        if level > self._sitemap_max_depth:
            log.info("frontier::%d sitemaps nested deeper than SITEMAP_MAX_DEPTH=%d ignored",
                     len(links), self._sitemap_max_depth)
            return []
        for raw in links:
            try:
                self._store.add_sitemap(self._admission.canonical(raw), level)
            except ValueError:
                continue
        return self._add_links(links, depth, pushes, due)

    def _add_url(self, url, depth, priority, pushes, due, seed=False, revive=False):
        """Insert one canonical URL (scope, depth, page limit); True if it is to be crawled.

        A URL dropped for scope or depth before it was fetched is scheduled again if it
        is a ``seed`` or ``revive`` is set."""
        c = self._counters
        reason = self._admission.refusal(url, depth)
        if reason is not None:
            if self._store.insert_new(UriRow(url, None, None, None, None, priority, depth, 0,
                                             None, reason)) is not None:
                c["known"] += 1
                c[REFUSAL_COUNTERS[reason]] += 1
            if seed:
                log.warning("frontier::seed %s ignored: out of %s", url, reason)
            return False
        if self._admission.full(c["accepted"]):
            if seed:
                log.warning("frontier::seed %s ignored: CRAWL_MAX_PAGES=%d reached",
                            url, self._admission.max_pages)
            return False
        queue_id = self._resolver.queue_for(url)
        next_date = float(depth)
        rowid = self._store.insert_new(UriRow(url, queue_id, None, None, next_date, priority,
                                              depth, 0, None, None))
        if rowid is None:
            if not (seed or revive):
                return False
            old = self._store.find_uri(url)
            if old.next_date is not None or old.reason not in REFUSAL_COUNTERS:
                return False
            self._store.revive(url, queue_id, next_date, priority, depth)
            rowid = old.rowid
        else:
            c["known"] += 1
        c["accepted"] += 1
        c["pending"] += 1
        self._count_open(url, 1, queue_id)
        if queue_id is None:
            self._resolver.park(url)
            c["unresolved"] += 1
        elif self._queues.get(queue_id) is not None:
            pushes.append((queue_id, UriRow(url, queue_id, None, None, next_date, priority,
                                            depth, 0, None, None, rowid)))
        elif next_date < due.get(queue_id, float("inf")):
            due[queue_id] = next_date
        return True

    def _rolled_back(self, counters):
        """A result's savepoint was rolled back: forget what memory learned inside it."""
        self._counters = counters
        self._host_stats.discard()
        self._resolver.forget()
        self._admission.reload()

    # ------------------------------------------------------------------ host lookups
    def _resolved(self, key, identifier):
        """The address of host ``key`` is known (runs on the event loop)."""
        if self._closed:
            return
        now = self._now()
        pushes, due = [], {}
        saved = dict(self._counters)
        try:
            with self._store.atomic():
                queue_id = self._store.add_or_create_queue(identifier)
                self._store.set_host_queue(key, queue_id)
                self._host_stats.in_queue(key, queue_id)
                urls = self._store.take_unresolved(key)
                for url in urls:
                    self._store.set_uri_queue(url, queue_id)
                    row = self._store.find_uri(url)
                    if row is None or row.next_date is None:
                        continue
                    if self._queues.get(queue_id) is not None:
                        pushes.append((queue_id, row))
                    elif row.next_date < due.get(queue_id, float("inf")):
                        due[queue_id] = row.next_date
                self._queues.lower_due(due)
                self._host_stats.flush()
        except Exception:
            self._rolled_back(saved)
            log.exception("frontier::recording the queue of %s failed", key)
            return
        self._counters["unresolved"] -= len(urls)
        self._resolver.resolved(key, queue_id)
        self._queues.apply(pushes, now)
        self._ops += 1
        self._maybe_commit(now)

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
