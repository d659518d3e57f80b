"""The SQLite stores behind the frontiers: every URL ever seen, host queues, robots.txt.

One file (``FRONTIER_STATE_FILE``) in WAL mode holds the whole crawl state, so the
master's memory does not grow with the crawl and a restart resumes it:

* ``urls`` -- one row per canonical URL (the primary key: the URL-seen test is an
  ``INSERT OR IGNORE``).  ``next_date`` is when the URL is due (UTC epoch; a new,
  never fetched URL has its depth there, so it sorts before every recrawl) or
  NULL once the URL is finished for good, with ``status`` and ``reason``
  (``status``, ``robots``, ``scope``, ``depth``, ``retries``) saying why -- the
  row stays so the URL is never added again.  ``queue`` is the politeness queue
  (NULL while the host's address is being resolved); ``etag`` / ``mod_date`` are
  the ``ETag`` / ``Last-Modified`` values exactly as the server sent them.
* ``queues`` -- host queues (identifier -> id) and, for queues not in memory,
  ``next_due``: the earliest time one of their URLs may be fetched, never before
  ``not_before`` (the politeness delay, robots.txt or Retry-After wait the queue
  was put away with; kept up to date for queues in memory too, so a restart after a
  crash still waits each host's delay).
* ``hosts`` / ``unresolved`` -- the host -> queue map and the URLs parked while
  ``IpBasedQueueAssignment`` resolves a host.
* ``robots`` -- each origin's robots.txt with its expiry (or, after failed fetches,
  their count and the next try); ``sitemaps`` -- the URLs fetched as sitemaps, with
  their nesting level; ``scope_hosts`` -- the seeds' hosts (the default scope);
  ``meta`` -- schema version, counters, flags.
* ``host_stats`` -- per host (the host key: name and non-default port) its queue and
  counters for the operator's console: URLs still to crawl, results, errors, bytes,
  the last status and when it came; updated in the same transaction as the rows they
  count, so they stay consistent across a crash (``hoststats``).
* ``host_controls`` -- the operator's orders per host: blocked until (``inf``: until
  unblocked) and a politeness delay that overrides the computed one.

It implements the frontier store protocol (``spyder.core.store.protocol``).  Nothing
is committed implicitly: writes open a transaction that the frontier commits with
``commit(state)`` (batched; the state's keys go to ``meta``), and ``atomic()`` wraps
one result's writes in a savepoint so a failing result leaves no half-written state.
``meta["clean"]`` is False while the file is open: a file opened after a crash has
every stored queue's due time recomputed from its URLs (``recovered``).  The store
mirrors two things of ``queues`` in memory, kept exact by its own writes and
forgotten when a savepoint rolls back: the earliest ``next_due`` (no statement to ask
for due queues while none is) and the due times of the queues touched lately (a new
link that does not make its stored queue due earlier costs no statement).
``SQLiteSingleHostUriQueue`` and ``SQLiteMultipleHostUriQueue`` keep the original
names and query shapes: one global queue, or one queue per host.
"""
import contextlib
import json
import logging
import sqlite3
import time

from spyder.core.store.protocol import (HOST_STATS_COLUMNS, HOST_STATS_SORTS, SINGLE_QUEUE,
                                        RobotsRow, StoreError, UriRow)

log = logging.getLogger("spyder.frontier")

SCHEMA_VERSION = 1
#: ``meta`` keys that are the store's own, not the frontier's checkpoint state.
_OWN_META = ("schema_version", "clean")

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS urls (
        url TEXT PRIMARY KEY,
        queue INTEGER,
        etag TEXT,
        mod_date TEXT,
        next_date REAL,
        priority INTEGER NOT NULL DEFAULT 1,
        depth INTEGER NOT NULL DEFAULT 0,
        attempt INTEGER NOT NULL DEFAULT 0,
        status INTEGER,
        reason TEXT)""",
    """CREATE INDEX IF NOT EXISTS urls_queue_fifo ON urls (queue, next_date, priority)
        WHERE next_date IS NOT NULL""",
    """CREATE TABLE IF NOT EXISTS queues (
        id INTEGER PRIMARY KEY,
        identifier TEXT NOT NULL UNIQUE,
        next_due REAL,
        not_before REAL)""",
    "CREATE INDEX IF NOT EXISTS queues_due ON queues (next_due) WHERE next_due IS NOT NULL",
    """CREATE TABLE IF NOT EXISTS hosts (host TEXT PRIMARY KEY, queue INTEGER NOT NULL)
        WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS unresolved (url TEXT PRIMARY KEY, host TEXT NOT NULL)
        WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS unresolved_host ON unresolved (host)",
    """CREATE TABLE IF NOT EXISTS robots (
        origin TEXT PRIMARY KEY,
        status INTEGER,
        body TEXT NOT NULL,
        expires REAL NOT NULL,
        failures INTEGER NOT NULL,
        fetched REAL) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS robots_waiting ON robots (failures) WHERE failures > 0",
    "CREATE TABLE IF NOT EXISTS scope_hosts (host TEXT PRIMARY KEY) WITHOUT ROWID",
    """CREATE TABLE IF NOT EXISTS sitemaps (url TEXT PRIMARY KEY, level INTEGER NOT NULL)
        WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS host_stats (
        host TEXT PRIMARY KEY,
        queue INTEGER,
        queued INTEGER NOT NULL DEFAULT 0,
        fetched INTEGER NOT NULL DEFAULT 0,
        errors INTEGER NOT NULL DEFAULT 0,
        bytes INTEGER NOT NULL DEFAULT 0,
        last_status INTEGER,
        last_time REAL)""",
    "CREATE INDEX IF NOT EXISTS host_stats_queued ON host_stats (queued)",
    "CREATE INDEX IF NOT EXISTS host_stats_fetched ON host_stats (fetched)",
    "CREATE INDEX IF NOT EXISTS host_stats_errors ON host_stats (errors)",
    """CREATE TABLE IF NOT EXISTS host_controls (
        host TEXT PRIMARY KEY,
        blocked_until REAL,
        delay REAL) WITHOUT ROWID""",
)

#: The original's name of the store's errors.
QueueException = StoreError

_SELECT = ("SELECT url, queue, etag, mod_date, next_date, priority, depth, attempt, status, "
           "reason, rowid FROM urls")
_INSERT = ("INTO urls (url, queue, etag, mod_date, next_date, priority, depth, attempt, "
           "status, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_RECORD = ("UPDATE urls SET queue = ?, etag = ?, mod_date = ?, next_date = ?, priority = ?, "
           "depth = ?, attempt = ?, status = ?, reason = ? WHERE ")


def _insert_params(row):
    return tuple(row[:10])


#: ``SQLiteStore``'s cached earliest queue due time is not known (to be read).
_UNKNOWN = object()
#: Queues whose due times ``SQLiteStore`` keeps in memory, at most.
_QUEUE_TIMES_SIZE = 65536


class SQLiteStore:
    """The state file (see the module docstring): a ``FrontierStore``.

    ``db_name`` is a path or ``":memory:"``; ``clock`` the UTC epoch source; ``cache_mb``
    bounds SQLite's page cache; ``lock``, a held ``filelock.FileLock`` of the file, is
    released when the store closes.
    """

    def __init__(self, db_name, clock=time.time, cache_mb=32, lock=None):
        self._clock = clock
        self._lock = lock
        self._db = sqlite3.connect(db_name, isolation_level=None)
        self._cur = self._db.cursor()
        self.uncommitted_since = None
        self.recovered = False
        #: The earliest ``next_due`` in ``queues`` (None: no queue is due), or _UNKNOWN:
        #: kept exact by the writes, so that asking for due queues while none is costs no
        #: statement.
        self._earliest_due = _UNKNOWN
        #: Queue id -> (next_due, not_before) as in the file, for queues read or written
        #: lately (bounded): most new links of a stored queue do not make it due earlier,
        #: and this tells so without a statement.
        self._queue_times = {}
        try:
            self._cur.execute("PRAGMA journal_mode = WAL")
            self._cur.execute("PRAGMA synchronous = NORMAL")
            self._cur.execute("PRAGMA cache_size = %d" % -int(cache_mb * 1024))
            self._cur.execute("PRAGMA temp_store = MEMORY")
            self._begin()
            for statement in _SCHEMA:
                self._cur.execute(statement)
            if "not_before" not in {c[1] for c in self._cur.execute("PRAGMA table_info(queues)")}:
                self._cur.execute("ALTER TABLE queues ADD COLUMN not_before REAL")  # older files
            version = self._get_meta("schema_version")
            if version is None:
                self._set_meta("schema_version", SCHEMA_VERSION)
            elif version != SCHEMA_VERSION:
                raise StoreError("state file has schema version %r, this Spyder writes %d; "
                                 "use a new FRONTIER_STATE_FILE" % (version, SCHEMA_VERSION))
            if not self._get_meta("clean", True):
                log.warning("frontier::the state file was not closed cleanly; recomputing when "
                            "each host queue is due")
                self.repair_queue_due()
                self.recovered = True
            self._set_meta("clean", False)
            self._commit()
        except BaseException:
            self._db.close()
            self._release()
            raise

    # ------------------------------------------------------------------ checkpoints
    def _begin(self):
        """Open a transaction unless one is open (every write calls this)."""
        if not self._db.in_transaction:
            self._cur.execute("BEGIN")
            self.uncommitted_since = self._clock()

    def _commit(self):
        if self._db.in_transaction:
            self._cur.execute("COMMIT")
        self.uncommitted_since = None

    @contextlib.contextmanager
    def atomic(self):
        """All writes inside happen together or, if an exception escapes, not at all."""
        self._begin()
        self._cur.execute("SAVEPOINT result")
        try:
            yield
        except BaseException:
            self._cur.execute("ROLLBACK TO result")
            self._cur.execute("RELEASE result")
            self._earliest_due = _UNKNOWN
            self._queue_times.clear()
            raise
        self._cur.execute("RELEASE result")

    def commit(self, state):
        """Write the frontier's ``state`` (a dict of JSON values) and commit everything."""
        for key, value in state.items():
            self._set_meta(key, value)
        self._commit()

    def state(self):
        """The frontier's state as the last commit left it."""
        return {key: json.loads(value) for key, value in self._cur.execute(
            "SELECT key, value FROM meta WHERE key NOT IN (%s)"
            % ", ".join("?" * len(_OWN_META)), _OWN_META)}

    def close(self):
        """Mark the file closed cleanly, commit and close it."""
        try:
            self._set_meta("clean", True)
            self._commit()
            self._cur.close()
            self._db.close()
        finally:
            self._release()

    def abandon(self):
        """Close without committing: everything since the last commit is dropped, and the
        next open repairs the file as after a crash."""
        try:
            if self._db.in_transaction:
                self._cur.execute("ROLLBACK")
            self.uncommitted_since = None
            self._cur.close()
            self._db.close()
        finally:
            self._release()

    def _release(self):
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _get_meta(self, key, default=None):
        row = self._cur.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def _set_meta(self, key, value):
        self._begin()
        self._cur.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                          (key, json.dumps(value)))

    # ------------------------------------------------------------------ urls
    def add_uris(self, rows):
        """Insert many new rows (``sqlite3.IntegrityError`` if a URL exists): a bulk load,
        for benchmarks and tools that prepare a state file."""
        self._begin()
        self._cur.executemany("INSERT " + _INSERT, map(_insert_params, rows))

    def admit(self, rows):
        """Store the rows whose URL is unknown; returns them with their rowid."""
        self._begin()
        cur = self._cur
        new = []
        for row in rows:
            cur.execute("INSERT OR IGNORE " + _INSERT, _insert_params(row))
            if cur.rowcount == 1:
                new.append(row._replace(rowid=cur.lastrowid))
        return new

    def record(self, row):
        """Store the new state of a known row (by its rowid if it has one, else its URL)."""
        self._begin()
        params = (row.queue, row.etag, row.mod_date, row.next_date, row.priority, row.depth,
                  row.attempt, row.status, row.reason)
        if row.rowid is None:
            self._cur.execute(_RECORD + "url = ?", params + (row.url,))
        else:
            self._cur.execute(_RECORD + "rowid = ?", params + (row.rowid,))

    def find(self, url):
        """The row of ``url``, or ``None``."""
        row = self._cur.execute(_SELECT + " WHERE url = ?", (url,)).fetchone()
        return None if row is None else UriRow._make(row)

    def __len__(self):
        return self._cur.execute("SELECT COUNT(*) FROM urls").fetchone()[0]

    def queue_head(self, queue, n):
        """The ``n`` rows of ``queue`` due first (due time, priority, insertion order)."""
        rows = self._cur.execute(
            _SELECT + " WHERE queue = ? AND next_date IS NOT NULL "
            "ORDER BY next_date, priority LIMIT ?", (queue, n)).fetchall()
        return [UriRow._make(row) for row in rows]

    # ------------------------------------------------------------------ queues
    def queue_id(self, identifier):
        """The id of the queue ``identifier``, created (ids 1, 2, ...) if new."""
        row = self._cur.execute("SELECT id FROM queues WHERE identifier = ?",
                                (identifier,)).fetchone()
        if row is not None:
            return row[0]
        self._begin()
        self._cur.execute("INSERT INTO queues (identifier) VALUES (?)", (identifier,))
        return self._cur.lastrowid

    def put_queue(self, queue, next_due, not_before=None):
        """``queue`` is on hold: next due at ``next_due`` (``None``: nothing to do), never
        before ``not_before``, whatever URLs it gets."""
        self._begin()
        self._cur.execute("UPDATE queues SET next_due = ?, not_before = ? WHERE id = ?",
                          (next_due, not_before, queue))
        self._remember_times(queue, next_due, not_before)
        earliest = self._earliest_due
        if (next_due is not None and earliest is not _UNKNOWN
                and (earliest is None or next_due < earliest)):
            self._earliest_due = next_due
        else:  # the queue's old due time may have been the earliest
            self._earliest_due = _UNKNOWN

    def queue_not_before(self, queue):
        """The time before which ``queue`` must not start a fetch (its stored delay), or
        ``None``."""
        row = self._cur.execute("SELECT not_before FROM queues WHERE id = ?", (queue,)).fetchone()
        return None if row is None else row[0]

    def take_queue(self, queue):
        """``queue`` goes into the frontier's memory (not due from here any more); returns
        its ``not_before`` (0.0 if none)."""
        not_before = self.queue_not_before(queue)
        self._begin()
        self._cur.execute("UPDATE queues SET next_due = NULL WHERE id = ?", (queue,))
        self._queue_times.pop(queue, None)
        self._earliest_due = _UNKNOWN
        return not_before or 0.0

    def hold_queues(self, holds):
        """Record for ``(not_before, queue)`` pairs the time before which each active
        ``queue`` must not fetch (its politeness delay, kept across a crash)."""
        self._begin()
        holds = list(holds)
        self._cur.executemany("UPDATE queues SET not_before = ? WHERE id = ?", holds)
        for _, queue in holds:
            self._queue_times.pop(queue, None)

    def lower_queue_due(self, queue, next_due):
        """Make ``queue`` due no later than ``next_due`` (but not before its ``not_before``)."""
        times = self._queue_times.get(queue)
        if times is None:
            times = self._cur.execute("SELECT next_due, not_before FROM queues WHERE id = ?",
                                      (queue,)).fetchone()
            if times is None:
                return
            self._remember_times(queue, *times)
        due, not_before = times
        lowered = next_due if not_before is None else max(next_due, not_before)
        if due is not None and due <= lowered:
            return
        self._begin()
        self._cur.execute("UPDATE queues SET next_due = ? WHERE id = ?", (lowered, queue))
        self._remember_times(queue, lowered, not_before)
        earliest = self._earliest_due
        if earliest is not _UNKNOWN and (earliest is None or lowered < earliest):
            self._earliest_due = lowered

    def _remember_times(self, queue, next_due, not_before):
        times = self._queue_times
        if len(times) >= _QUEUE_TIMES_SIZE and queue not in times:
            times.clear()
        times[queue] = (next_due, not_before)

    def due_queues(self, now, limit):
        """Up to ``limit`` ``(id, identifier)`` of queues due by ``now``, most overdue first."""
        earliest = self.earliest_due()
        if earliest is None or earliest > now:
            return []
        return self._cur.execute(
            "SELECT id, identifier FROM queues WHERE next_due IS NOT NULL AND next_due <= ? "
            "ORDER BY next_due, id LIMIT ?", (now, limit)).fetchall()

    def earliest_due(self):
        """The earliest ``next_due`` of all queues on hold, or ``None``."""
        if self._earliest_due is _UNKNOWN:
            self._earliest_due = self._cur.execute(
                "SELECT MIN(next_due) FROM queues WHERE next_due IS NOT NULL").fetchone()[0]
        return self._earliest_due

    def repair_queue_due(self):
        """Recompute every queue's ``next_due`` from its URLs (after an unclean stop, or
        a bulk load with ``add_uris``)."""
        self._begin()
        self._cur.execute("UPDATE queues SET next_due = MAX((SELECT MIN(next_date) FROM urls "
                          "WHERE urls.queue = queues.id AND urls.next_date IS NOT NULL), "
                          "IFNULL(not_before, 0))")
        self._earliest_due = _UNKNOWN
        self._queue_times.clear()

    # ------------------------------------------------------------------ hosts
    def host_queue(self, host):
        """The queue a host was assigned to, or ``None``."""
        row = self._cur.execute("SELECT queue FROM hosts WHERE host = ?", (host,)).fetchone()
        return None if row is None else row[0]

    def set_host_queue(self, host, queue):
        """Remember the queue of a host."""
        self._begin()
        self._cur.execute("INSERT OR REPLACE INTO hosts (host, queue) VALUES (?, ?)",
                          (host, queue))

    def park(self, url, host):
        """Keep a URL aside until ``host`` has a queue."""
        self._begin()
        self._cur.execute("INSERT OR IGNORE INTO unresolved (url, host) VALUES (?, ?)",
                          (url, host))

    def unpark(self, host):
        """Remove and return the URLs parked for ``host``."""
        urls = [url for (url,) in self._cur.execute(
            "SELECT url FROM unresolved WHERE host = ?", (host,)).fetchall()]
        if urls:
            self._begin()
            self._cur.execute("DELETE FROM unresolved WHERE host = ?", (host,))
        return urls

    def parked_hosts(self, limit):
        """Up to ``limit`` ``(host, one of its URLs)`` with parked URLs."""
        return self._cur.execute("SELECT host, MIN(url) FROM unresolved GROUP BY host LIMIT ?",
                                 (limit,)).fetchall()

    # ------------------------------------------------------------------ robots.txt
    def robots(self, origin):
        """The ``RobotsRow`` of an origin, or ``None``."""
        row = self._cur.execute("SELECT status, body, expires, failures, fetched FROM robots "
                                "WHERE origin = ?", (origin,)).fetchone()
        return None if row is None else RobotsRow._make(row)

    def put_robots(self, origin, row):
        """Store an origin's ``RobotsRow``."""
        self._begin()
        self._cur.execute("INSERT OR REPLACE INTO robots (origin, status, body, expires, "
                          "failures, fetched) VALUES (?, ?, ?, ?, ?, ?)", (origin,) + tuple(row))

    def robots_waiting(self):
        """How many origins' last robots.txt fetch failed (their URLs wait)."""
        return self._cur.execute("SELECT COUNT(*) FROM robots WHERE failures > 0").fetchone()[0]

    # ------------------------------------------------------------------ sitemaps
    def add_sitemap(self, url, level):
        """Mark ``url`` as a sitemap, ``level`` indexes below one robots.txt names."""
        self._begin()
        self._cur.execute("INSERT OR IGNORE INTO sitemaps (url, level) VALUES (?, ?)",
                          (url, level))

    def sitemap_level(self, url):
        """The level of a sitemap URL (see ``add_sitemap``), or ``None`` for other URLs."""
        row = self._cur.execute("SELECT level FROM sitemaps WHERE url = ?", (url,)).fetchone()
        return None if row is None else row[0]

    # ------------------------------------------------------------------ scope
    def scope_hosts(self):
        """The seeds' hosts."""
        return {host for (host,) in self._cur.execute("SELECT host FROM scope_hosts")}

    def add_scope_host(self, host):
        """Add a host to the seeds' hosts."""
        self._begin()
        self._cur.execute("INSERT OR IGNORE INTO scope_hosts (host) VALUES (?)", (host,))

    # ------------------------------------------------------------------ host statistics
    def add_host_stats(self, rows):
        """Add ``(host, queue, queued, fetched, errors, bytes, last_status, last_time)``
        deltas: counts are added, a ``queue``, ``last_status`` or ``last_time`` that is not
        ``None`` replaces the stored one."""
        self._begin()
        self._cur.executemany(
            "INSERT INTO host_stats (host, queue, queued, fetched, errors, bytes, last_status, "
            "last_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (host) DO UPDATE SET "
            "queue = IFNULL(excluded.queue, queue), queued = queued + excluded.queued, "
            "fetched = fetched + excluded.fetched, errors = errors + excluded.errors, "
            "bytes = bytes + excluded.bytes, last_status = IFNULL(excluded.last_status, "
            "last_status), last_time = IFNULL(excluded.last_time, last_time)", rows)

    def host_stats(self, host):
        """The counters of ``host`` as a tuple (``HOST_STATS_COLUMNS``), or ``None``."""
        return self._cur.execute("SELECT %s FROM host_stats WHERE host = ?"
                                 % ", ".join(HOST_STATS_COLUMNS), (host,)).fetchone()

    def top_host_stats(self, sort, limit):
        """Up to ``limit`` hosts' counters, largest ``sort`` first (``HOST_STATS_SORTS``;
        ``"host"``: by name)."""
        if sort == "host":
            order = "host"
        elif sort in HOST_STATS_SORTS:
            order = "%s DESC" % sort
        else:
            raise ValueError("cannot sort hosts by %r" % (sort,))
        return self._cur.execute("SELECT %s FROM host_stats ORDER BY %s LIMIT ?"
                                 % (", ".join(HOST_STATS_COLUMNS), order), (limit,)).fetchall()

    # ------------------------------------------------------------------ host controls
    def host_controls(self):
        """``{host: (blocked_until, delay)}`` of every host the operator gave an order."""
        return {host: (until, delay) for host, until, delay in self._cur.execute(
            "SELECT host, blocked_until, delay FROM host_controls")}

    def set_host_control(self, host, blocked_until, delay):
        """Store the orders for ``host``; both ``None`` removes its row."""
        self._begin()
        if blocked_until is None and delay is None:
            self._cur.execute("DELETE FROM host_controls WHERE host = ?", (host,))
        else:
            self._cur.execute("INSERT OR REPLACE INTO host_controls (host, blocked_until, delay) "
                              "VALUES (?, ?, ?)", (host, blocked_until, delay))


class SQLiteSingleHostUriQueue(SQLiteStore):
    """All URLs in one queue: the SingleHostFrontier's single politeness window."""

    def __init__(self, db_name, clock=time.time, cache_mb=32, lock=None):
        super().__init__(db_name, clock, cache_mb, lock)
        self._single = self.queue_id(SINGLE_QUEUE)
        self._commit()

    def _in_queue(self, row):
        return row if row.queue is not None else row._replace(queue=self._single)

    def add_uris(self, rows):
        """Insert many new rows into the queue."""
        super().add_uris(self._in_queue(row) for row in rows)


class SQLiteMultipleHostUriQueue(SQLiteStore):
    """One queue per host (or IP): the MultipleHostFrontier's politeness units."""
