"""MemoryStore: the frontier store protocol in plain Python containers.

A second, complete implementation of ``spyder.core.store.protocol.FrontierStore``,
written against the protocol alone: the frontier's unit tests run on it as on the
SQLite store, and ``FRONTIER_STORE = "memory"`` uses it for a throw-away crawl that
keeps nothing (nothing survives the process; ``commit`` only remembers the state).

Every write goes through ``_put`` / ``_drop`` and an ``UndoLog``, so an operation
that raises inside ``atomic()`` leaves nothing behind.  The queues' scheduled
URLs are kept per queue in a dict and sorted when their head is asked for: simple,
and fast enough for the crawls this store is meant for (its memory grows with the
crawl, unlike the SQLite store's).
"""
import time

from spyder.core.store.protocol import HOST_STATS_COLUMNS, HOST_STATS_SORTS, LocalStore, RobotsRow
from spyder.core.store.undo import UndoLog

_STATS = {name: i for i, name in enumerate(HOST_STATS_COLUMNS)}


class MemoryStore(LocalStore):
    """A ``FrontierStore`` in memory (see the module docstring); ``clock`` is the UTC epoch
    source of ``uncommitted_since``."""

    def __init__(self, clock=time.time):
        self._clock = clock
        self.uncommitted_since = None
        self.recovered = False
        self._undo = UndoLog()
        self._urls = {}              # url -> UriRow
        self._scheduled = {}         # queue id -> {url: UriRow} of rows with a next_date
        self._next_rowid = 1
        self._queues = {}            # queue id -> (identifier, next_due, not_before)
        self._queue_ids = {}         # identifier -> queue id
        self._hosts = {}             # host -> queue id
        self._parked = {}            # url -> host
        self._robots = {}            # origin -> RobotsRow
        self._sitemaps = {}          # url -> level
        self._scope = {}             # host -> True
        self._stats = {}             # host -> list in HOST_STATS_COLUMNS order
        self._controls = {}          # host -> (blocked_until, delay)
        self._state = {}

    # ------------------------------------------------------------------ writes and undo
    def _put(self, table, key, value):
        self._touch()
        self._undo.put(table, key, value)

    def _drop(self, table, key):
        if key in table:
            self._touch()
            self._undo.drop(table, key)

    def _touch(self):
        if self.uncommitted_since is None:
            self.uncommitted_since = self._clock()

    def atomic(self):
        """All writes inside happen together or, if an exception escapes, not at all."""
        return self._undo.atomic()

    def commit(self, state):
        self._state = dict(state)
        self.uncommitted_since = None

    def state(self):
        return dict(self._state)

    def close(self):
        self.uncommitted_since = None

    def abandon(self):
        self.uncommitted_since = None  # nothing is kept anyway

    # ------------------------------------------------------------------ urls
    def admit(self, rows):
        new = []
        for row in rows:
            if row.url in self._urls:
                continue
            row = row._replace(rowid=self._next_rowid)
            self._next_rowid += 1
            self._store_row(row)
            new.append(row)
        return new

    def record(self, row):
        old = self._urls[row.url]
        self._store_row(row._replace(rowid=old.rowid))

    def _store_row(self, row):
        old = self._urls.get(row.url)
        if old is not None and old.queue is not None and old.next_date is not None:
            self._drop(self._scheduled[old.queue], row.url)
        self._put(self._urls, row.url, row)
        if row.queue is not None and row.next_date is not None:
            if row.queue not in self._scheduled:
                self._put(self._scheduled, row.queue, {})
            self._put(self._scheduled[row.queue], row.url, row)

    def find(self, url):
        return self._urls.get(url)

    def __len__(self):
        return len(self._urls)

    def queue_head(self, queue, n):
        rows = self._scheduled.get(queue, {}).values()
        return sorted(rows, key=lambda r: (r.next_date, r.priority, r.rowid))[:n]

    # ------------------------------------------------------------------ queues
    def queue_id(self, identifier):
        queue = self._queue_ids.get(identifier)
        if queue is None:
            queue = len(self._queue_ids) + 1
            self._put(self._queue_ids, identifier, queue)
            self._put(self._queues, queue, (identifier, None, None))
        return queue

    def due_queues(self, now, limit):
        due = sorted((next_due, queue, identifier)
                     for queue, (identifier, next_due, _) in self._queues.items()
                     if next_due is not None and next_due <= now)
        return [(queue, identifier) for _, queue, identifier in due[:limit]]

    def earliest_due(self):
        return min((next_due for _, next_due, _ in self._queues.values()
                    if next_due is not None), default=None)

    def take_queue(self, queue):
        identifier, _, not_before = self._queues[queue]
        self._put(self._queues, queue, (identifier, None, not_before))
        return not_before or 0.0

    def put_queue(self, queue, next_due, not_before=None):
        identifier = self._queues[queue][0]
        self._put(self._queues, queue, (identifier, next_due, not_before))

    def lower_queue_due(self, queue, next_due):
        entry = self._queues.get(queue)
        if entry is None:
            return
        identifier, due, not_before = entry
        lowered = next_due if not_before is None else max(next_due, not_before)
        if due is None or lowered < due:
            self._put(self._queues, queue, (identifier, lowered, not_before))

    def hold_queues(self, holds):
        for not_before, queue in holds:
            identifier, due, _ = self._queues[queue]
            self._put(self._queues, queue, (identifier, due, not_before))

    def queue_not_before(self, queue):
        entry = self._queues.get(queue)
        return None if entry is None else entry[2]

    # ------------------------------------------------------------------ hosts
    def host_queue(self, host):
        return self._hosts.get(host)

    def set_host_queue(self, host, queue):
        self._put(self._hosts, host, queue)

    def park(self, url, host):
        if url not in self._parked:
            self._put(self._parked, url, host)

    def unpark(self, host):
        urls = sorted(url for url, parked in self._parked.items() if parked == host)
        for url in urls:
            self._drop(self._parked, url)
        return urls

    def parked_hosts(self, limit):
        first = {}
        for url, host in self._parked.items():
            if host not in first or url < first[host]:
                first[host] = url
        return list(first.items())[:limit]

    # ------------------------------------------------------------------ robots.txt, sitemaps, scope
    def robots(self, origin):
        return self._robots.get(origin)

    def put_robots(self, origin, row):
        self._put(self._robots, origin, RobotsRow(*row))

    def robots_waiting(self):
        return sum(1 for row in self._robots.values() if row.failures > 0)

    def add_sitemap(self, url, level):
        if url not in self._sitemaps:
            self._put(self._sitemaps, url, level)

    def sitemap_level(self, url):
        return self._sitemaps.get(url)

    def scope_hosts(self):
        return set(self._scope)

    def add_scope_host(self, host):
        if host not in self._scope:
            self._put(self._scope, host, True)

    # ------------------------------------------------------------------ the operator's view and orders
    def add_host_stats(self, rows):
        for host, queue, queued, fetched, errors, size, status, when in rows:
            old = self._stats.get(host) or [host, None, 0, 0, 0, 0, None, None]
            self._put(self._stats, host, [
                host, old[1] if queue is None else queue, old[2] + queued, old[3] + fetched,
                old[4] + errors, old[5] + size, old[6] if status is None else status,
                old[7] if when is None else when])

    def host_stats(self, host):
        row = self._stats.get(host)
        return None if row is None else tuple(row)

    def top_host_stats(self, sort, limit):
        if sort == "host":
            rows = sorted(self._stats.values())
        elif sort in HOST_STATS_SORTS:
            column = _STATS[sort]
            rows = sorted(self._stats.values(), key=lambda row: row[column], reverse=True)
        else:
            raise ValueError("cannot sort hosts by %r" % (sort,))
        return [tuple(row) for row in rows[:limit]]

    def host_controls(self):
        return dict(self._controls)

    def set_host_control(self, host, blocked_until, delay):
        if blocked_until is None and delay is None:
            self._drop(self._controls, host)
        else:
            self._put(self._controls, host, (blocked_until, delay))

