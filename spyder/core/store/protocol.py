"""The frontier store protocol: everything the frontier asks of storage, in its own words.

The frontier (``spyder.core.frontier``) keeps only bounded working sets in memory: the
host queues it is crawling now, the URLs in flight, caches.  Everything else -- every
URL ever seen, the queues on hold, robots.txt, the operator's orders, the per-host
counters and the checkpoint's state -- lives behind this protocol.  It is shaped after
what crawl frontiers that are services expose (crawler-commons URLFrontier's
``PutURLs`` / ``GetURLs`` / ``BlockQueueUntil`` / ``SetDelay``, Frontera's backend)
and after what the frontier really does:

* **Checkpoints.**  Writes accumulate until ``commit(state)`` makes all of them durable
  together with the frontier's small ``state`` (counters, the sinks' output positions,
  the pause flag: a JSON-able dict); ``state()`` gives back what the last commit held.
  ``uncommitted_since`` is when the first write after the last commit happened (the
  frontier commits every ``FRONTIER_CHECKPOINT_SECONDS``).  ``atomic()`` wraps one
  operation (one result, one seed): its writes happen together or, if an exception
  escapes, not at all.  A store that was not closed cleanly repairs itself when it is
  opened (``recovered`` is then True): a crash loses at most the last checkpoint's work.
  ``abandon()`` closes without committing, as a crash would (the frontier's way out
  when a sink could not write what the open transaction's outcomes need).
* **URLs** (``UriRow``).  ``admit(rows)`` is the URL-seen test for a batch: rows whose
  URL is unknown are stored and returned with their ``rowid`` (their order key), known
  ones are left alone.  ``find(url)`` reads a row; ``record(row)`` stores a known row's
  new state (an outcome, a retry, a revival, a queue assigned).  ``queue_head(queue,
  n)`` is ``GetURLs`` for one queue: its ``n`` scheduled rows due first (``next_date``,
  then ``priority``, then ``rowid``).  A row with ``next_date`` None is finished for
  good and stays known.
* **Queues.**  Politeness units (one per host by default) named by an identifier, with
  an integer id (``queue_id``).  A queue is either *active* -- taken into one
  frontier's memory with ``take_queue`` (which returns the time before which it must
  not fetch) -- or *on hold* in the store with the time it is next due
  (``put_queue(queue, next_due, not_before)``: ``BlockQueueUntil``).  ``due_queues``
  names the most overdue queues on hold, ``earliest_due`` the earliest due time of
  all of them; ``lower_queue_due`` makes a queue on hold due no later than a new URL
  of it (never before its ``not_before``); ``hold_queues`` records active queues'
  politeness delays so that a crash keeps them; ``queue_not_before`` reads one.
  **Several frontiers on one store** (the Redis store: one per master): ``take_queue``
  returns ``None`` when another frontier holds the queue -- taking is a lease, held
  until ``put_queue`` or until it ends because its holder stopped renewing it -- so one
  queue is crawled by one frontier at a time.  A store that others share also has
  ``shared = True`` and ``tick(now)`` (renew this frontier's leases; returns the ids of
  queues whose lease was lost, which the frontier drops from memory),
  ``dispatch_allowed(now)`` (False while the leases cannot be renewed),
  ``crawl_counters(local)`` (the crawl's counters over every frontier, ``local`` being
  this one's now), ``crawl_done(local)`` (nothing left over every frontier) and
  ``live_masters()``.  A store used by one frontier only (SQLite, memory) never returns
  ``None`` and answers these as ``LocalStore`` does: nothing shared, nothing to renew.
* **Hosts.**  ``host_queue`` / ``set_host_queue``: the queue of a host whose queue
  needs a DNS lookup (``IpBasedQueueAssignment``); ``park`` / ``unpark`` /
  ``parked_hosts``: URLs waiting for that lookup.
* **robots.txt** per origin (``RobotsRow``: ``robots`` / ``put_robots``;
  ``robots_waiting`` counts origins whose last fetch failed); **sitemaps**
  (``add_sitemap`` / ``sitemap_level``); the **default scope**'s hosts
  (``scope_hosts`` / ``add_scope_host``).
* **The operator's view and orders.**  Per-host counters (``add_host_stats`` adds
  deltas, ``host_stats`` / ``top_host_stats`` read them) and per-host orders
  (``host_controls`` / ``set_host_control``: blocked until, delay).

Three stores implement it: ``sqlite.SQLiteStore`` (the default: one state file),
``memory.MemoryStore`` (in memory, for tests and throw-away crawls) and
``rediscluster.RedisStore`` (a Redis Cluster several masters share).  A store is
chosen by ``FRONTIER_STORE`` (``open_store`` in this package).  ``docs/frontier.md``
describes the protocol for writers of another store.
"""
from typing import Any, ContextManager, Dict, Iterable, List, NamedTuple, Optional, Protocol, Set
from typing import Tuple

#: Identifier of the SingleHostFrontier's only queue.
SINGLE_QUEUE = "*"

#: The per-host counters, in order (``host_stats`` rows are tuples of these).
HOST_STATS_COLUMNS = ("host", "queue", "queued", "fetched", "errors", "bytes", "last_status",
                      "last_time")
#: The counters the hosts can be sorted by (largest first); ``"host"`` sorts by name.
HOST_STATS_SORTS = ("queued", "fetched", "errors")


class StoreError(Exception):
    """A store cannot be used (wrong schema, unreachable, not what the setting says)."""


class UriRow(NamedTuple):
    """One known URL.  ``next_date``: when it is due (UTC epoch; a new, never fetched URL
    has its depth there, so it sorts before every recrawl), ``None`` once it is finished
    for good, with ``status`` and ``reason`` (``status``, ``robots``, ``scope``, ``depth``,
    ``retries``) saying why.  ``queue``: its politeness queue (``None`` while its host is
    being resolved).  ``etag`` / ``mod_date``: the ``ETag`` / ``Last-Modified`` values
    exactly as the server sent them.  ``rowid``: the store's order key (``None`` before
    ``admit``)."""

    url: str
    queue: Optional[int] = None
    etag: Optional[str] = None
    mod_date: Optional[str] = None
    next_date: Optional[float] = None
    priority: int = 1
    depth: int = 0
    attempt: int = 0
    status: Optional[int] = None
    reason: Optional[str] = None
    rowid: Optional[int] = None

    @property
    def is_open(self):
        """A URL the crawl still has to finish: never fetched, or waiting for a retry."""
        return self.status is None or self.attempt > 0


class RobotsRow(NamedTuple):
    """An origin's robots.txt as last fetched: the answer's ``status``, the decoded
    ``body``, when it ``expires`` (or, after ``failures`` failed fetches, the next try),
    and when it was ``fetched`` (``None``: never successfully)."""

    status: Optional[int]
    body: str
    expires: float
    failures: int
    fetched: Optional[float]


class LocalStore:
    """The answers of a store one frontier uses alone (SQLite, memory) to what several
    frontiers sharing a store must ask it (see the module docstring)."""

    shared = False

    def tick(self, now):
        """No queue leases to renew: none lost."""
        return ()

    def dispatch_allowed(self, now):
        return True

    def crawl_counters(self, local):
        """The whole crawl is this frontier's."""
        return local

    def crawl_done(self, local):
        return local["open"] <= 0

    def live_masters(self):
        return []


class FrontierStore(Protocol):
    """What the frontier needs from storage (see the module docstring)."""

    #: When the first write after the last commit happened (UTC epoch), or ``None``.
    uncommitted_since: Optional[float]
    #: True if the store was not closed cleanly last time and repaired itself on opening.
    recovered: bool

    # ---------------------------------------------------------------- checkpoints
    def atomic(self) -> ContextManager[None]: ...
    def commit(self, state: Dict[str, Any]) -> None: ...
    def state(self) -> Dict[str, Any]: ...
    def close(self) -> None: ...
    def abandon(self) -> None: ...

    # ---------------------------------------------------------------- several frontiers
    shared: bool
    def tick(self, now: float) -> Iterable[int]: ...
    def dispatch_allowed(self, now: float) -> bool: ...
    def crawl_counters(self, local: Dict[str, int]) -> Dict[str, int]: ...
    def crawl_done(self, local: Dict[str, int]) -> bool: ...
    def live_masters(self) -> List[str]: ...

    # ---------------------------------------------------------------- URLs
    def admit(self, rows: Iterable[UriRow]) -> List[UriRow]: ...
    def find(self, url: str) -> Optional[UriRow]: ...
    def record(self, row: UriRow) -> None: ...
    def queue_head(self, queue: int, n: int) -> List[UriRow]: ...

    # ---------------------------------------------------------------- queues
    def queue_id(self, identifier: str) -> int: ...
    def due_queues(self, now: float, limit: int) -> List[Tuple[int, str]]: ...
    def earliest_due(self) -> Optional[float]: ...
    def take_queue(self, queue: int) -> Optional[float]: ...
    def put_queue(self, queue: int, next_due: Optional[float],
                  not_before: Optional[float]) -> None: ...
    def lower_queue_due(self, queue: int, next_due: float) -> None: ...
    def hold_queues(self, holds: Iterable[Tuple[float, int]]) -> None: ...
    def queue_not_before(self, queue: int) -> Optional[float]: ...

    # ---------------------------------------------------------------- hosts
    def host_queue(self, host: str) -> Optional[int]: ...
    def set_host_queue(self, host: str, queue: int) -> None: ...
    def park(self, url: str, host: str) -> None: ...
    def unpark(self, host: str) -> List[str]: ...
    def parked_hosts(self, limit: int) -> List[Tuple[str, str]]: ...

    # ---------------------------------------------------------------- robots.txt, sitemaps, scope
    def robots(self, origin: str) -> Optional[RobotsRow]: ...
    def put_robots(self, origin: str, row: RobotsRow) -> None: ...
    def robots_waiting(self) -> int: ...
    def add_sitemap(self, url: str, level: int) -> None: ...
    def sitemap_level(self, url: str) -> Optional[int]: ...
    def scope_hosts(self) -> Set[str]: ...
    def add_scope_host(self, host: str) -> None: ...

    # ---------------------------------------------------------------- the operator's view and orders
    def add_host_stats(self, rows: Iterable[tuple]) -> None: ...
    def host_stats(self, host: str) -> Optional[tuple]: ...
    def top_host_stats(self, sort: str, limit: int) -> List[tuple]: ...
    def host_controls(self) -> Dict[str, Tuple[Optional[float], Optional[float]]]: ...
    def set_host_control(self, host: str, blocked_until: Optional[float],
                         delay: Optional[float]) -> None: ...
