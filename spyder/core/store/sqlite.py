"""The SQLite stores behind the frontiers: every URL ever seen, host queues, robots.txt.

One file (``FRONTIER_STATE_FILE``) in WAL mode holds the whole crawl state, so the
master's memory does not grow with the crawl and a restart resumes it:

* ``urls`` -- one row per canonical URL, keyed by ``seq`` (the order it became known
  in: rows are appended, never moved; the URL text is stored here only).
  ``next_date`` is when the URL is due (UTC epoch; a new, never fetched URL has its
  depth there, so it sorts before every recrawl) or NULL once the URL is finished for
  good, with ``status`` and ``reason`` (``status``, ``robots``, ``scope``, ``depth``,
  ``retries``) saying why -- the row stays so the URL is never added again.
  ``queue`` is the politeness queue (NULL while the host's address is being
  resolved); ``etag`` / ``mod_date`` are the ``ETag`` / ``Last-Modified`` values
  exactly as the server sent them.
* ``seen`` -- the URL-seen test: the 64-bit fingerprint (``fingerprint``: BLAKE2b of
  the URL) of every URL -> its ``seq`` with 15 check bits above it (``seen_value``:
  ``seq | check << 32``, the check from another BLAKE2b of the URL, ``check_bits``;
  WITHOUT ROWID, ~22 bytes a URL).  A fingerprint found whose check bits are the URL's
  is the URL; one whose check bits differ is another URL (a 64-bit collision); one
  without check bits (a row of schema 3 or before, or a ``seq`` of 2^32 or more) is
  confirmed by comparing the URL text of its row.  A URL whose fingerprint another
  URL already has is kept in ``seen_collisions`` (URL text -> seq), so a collision
  never makes a new URL look known.
* ``seen_recent`` -- the second level of ``seen`` (same layout): merges go here, so a
  merge rewrites every page of this small table instead of ``seen``'s.  Once it holds
  ``sqrt(2 * seen * batch)`` keys, they move into ``seen`` in key order, a slice per
  commit (``meta["seen_move"]``: the last key moved), so that ``seen``'s pages are
  each written once for many keys without one long pause (see ``_move_step``).
* ``bloom`` -- the Bloom filter over ``seen`` and ``seen_recent`` (``bloom``), one
  4,000-byte block per row: a fingerprint it does not hold is not looked up on disk.
  A merge writes the blocks it changed in its own commit; ``meta["bloom"]`` names the
  ``seen_mark`` it matches, and a filter that is missing or stale when the file is
  opened is built again from the two tables.  Once the merged keys pass its room, a
  larger one is filled a slice of keys per commit and then replaces it.
* ``schedule`` -- the scheduled URLs (``next_date`` not NULL) clustered by ``(queue,
  next_date, priority, seq)`` (WITHOUT ROWID): a queue's head is one contiguous range.
* Fresh URLs (stored since the last merge, ``seq`` above ``meta["seen_mark"]``) are
  not in ``seen`` nor ``schedule`` yet: their fingerprints are in a ``FreshIndex``
  (compact arrays) and their schedule entries in memory -- a new URL's appended to its
  queue's in a ``FreshSchedule``, one whose row was updated since (or that did not fit
  there) in ``temp.fresh_schedule`` -- so adding a URL writes no random page of a big
  B-tree, only the end of ``urls``.
  When a commit finds an eighth of the known URLs fresh (at least ``SEEN_BATCH_MIN``,
  at most ``SEEN_BATCH_MAX``), they are merged: their fingerprints into
  ``seen_recent`` in key order and their schedule entries into ``schedule`` by queue,
  a slice per commit for a large batch (``meta["seen_merge"]``: the merge's last row
  ``upto``, the last key and queue merged; the frozen index answers the seen test
  until the merge ends, which moves the mark to ``upto``); each page is written about
  once for many keys.  Opening a file rebuilds the fresh part from ``urls`` (the rows
  above the mark), so a crash loses only what the last commit did not hold.
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
  count, so they stay consistent across a crash (``hoststats``).  No index on the
  counters (each change would move an entry: a random page written per host and
  commit); the console's top-N is a scan.
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
A file of schema version 1 (``urls`` keyed by its URL text) is migrated when opened
(``migrate_v1``: a copy is kept as ``<file>.v1-backup`` first), one of version 2 (one
level of ``seen``, no filter) or 3 (no check bits) upgraded in place, its ``seen`` rows
kept as they are (check 0); another version is refused.
``SQLiteSingleHostUriQueue`` and ``SQLiteMultipleHostUriQueue`` keep the original names
and query shapes: one global queue, or one queue per host.
"""
import contextlib
import json
import logging
import os
import sqlite3
import time
from hashlib import blake2b

from spyder.core.store.bloom import GROWTH, BloomFilter, blocks_for
from spyder.core.store.freshindex import FreshIndex
from spyder.core.store.freshschedule import FreshSchedule
from spyder.core.store.protocol import (HOST_STATS_COLUMNS, HOST_STATS_SORTS, SINGLE_QUEUE,
                                        LocalStore, RobotsRow, StoreError, UriRow)

log = logging.getLogger("spyder.frontier")

SCHEMA_VERSION = 5
#: ``meta`` keys that are the store's own, not the frontier's checkpoint state.
_OWN_META = ("schema_version", "clean", "seen_mark", "seen_levels", "seen_merge", "seen_move",
             "bloom")

#: The tables of ``urls`` and what depends on it, in layout 4 (see the module docstring).
#: ``seen.seq`` and ``seen_recent.seq`` hold ``seen_value(seq, check)``, not the bare seq.
_URL_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS urls (
        seq INTEGER PRIMARY KEY,
        url TEXT NOT NULL,
        queue INTEGER,
        etag TEXT,
        mod_date TEXT,
        next_date REAL,
        priority INTEGER NOT NULL DEFAULT 1,
        depth INTEGER NOT NULL DEFAULT 0,
        attempt INTEGER NOT NULL DEFAULT 0,
        status INTEGER,
        reason TEXT)""",
    """CREATE TABLE IF NOT EXISTS seen (fp INTEGER PRIMARY KEY, seq INTEGER NOT NULL)
        WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS seen_recent (fp INTEGER PRIMARY KEY, seq INTEGER NOT NULL)
        WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS bloom (block INTEGER PRIMARY KEY, bits BLOB NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS seen_collisions (url TEXT PRIMARY KEY, seq INTEGER NOT NULL)
        WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS schedule (
        queue INTEGER NOT NULL,
        next_date REAL NOT NULL,
        priority INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (queue, next_date, priority, seq)) WITHOUT ROWID""",
)

#: In memory (``temp``), rebuilt from ``urls`` when the file is opened: the fingerprints
#: and the schedule entries of the URLs stored since the last merge (``seen_mark``).
_TEMP_SCHEMA = (
    """CREATE TEMP TABLE IF NOT EXISTS fresh_schedule (
        queue INTEGER NOT NULL,
        next_date REAL NOT NULL,
        priority INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (queue, next_date, priority, seq)) WITHOUT ROWID""",
)
#: Schedule entries follow their row: in memory for a row stored since the last merge
#: (``seq`` above the mark, or above the ``upto`` of a merge under way) -- in the
#: ``FreshSchedule`` until the row is first updated, then in ``temp.fresh_schedule`` --
#: and in ``schedule`` for the others; a row of a merge under way (``seq`` in ``(mark,
#: upto]``) has its entry in ``schedule`` if its queue is one the merge's schedule part
#: has passed (``queue <= cut``), else in memory.
_CHANGED = ("(OLD.queue IS NOT NEW.queue OR OLD.next_date IS NOT NEW.next_date "
            "OR OLD.priority IS NOT NEW.priority)")
_OLD_ENTRY = ("queue = OLD.queue AND next_date = OLD.next_date AND priority = OLD.priority "
              "AND seq = OLD.seq")
_NEW_ENTRY = ("(queue, next_date, priority, seq) SELECT NEW.queue, NEW.next_date, NEW.priority, "
              "NEW.seq WHERE NEW.next_date IS NOT NULL AND NEW.queue IS NOT NULL")
_SCHEDULE_TRIGGER = """CREATE TEMP TRIGGER urls_schedule_%(name)s
    AFTER UPDATE OF queue, next_date, priority ON main.urls
    WHEN NEW.seq %(test)s AND """ + _CHANGED + """ BEGIN%(drop)s
    DELETE FROM %(table)s WHERE """ + _OLD_ENTRY + """;
    INSERT INTO %(table)s """ + _NEW_ENTRY + """; END"""
#: A fresh row's entry may be in memory (``FreshSchedule``): the trigger drops it there
#: first (the entry's ``DELETE`` then finds nothing).
_DROP = "\n    SELECT spyder_fresh_drop(OLD.seq);"
_MERGING_TRIGGER = """CREATE TEMP TRIGGER urls_schedule_merging
    AFTER UPDATE OF queue, next_date, priority ON main.urls
    WHEN NEW.seq > %(mark)d AND NEW.seq <= %(upto)d AND """ + _CHANGED + """ BEGIN
    SELECT spyder_fresh_drop(OLD.seq);
    DELETE FROM schedule WHERE OLD.queue <= %(cut)d AND """ + _OLD_ENTRY + """;
    DELETE FROM fresh_schedule WHERE OLD.queue > %(cut)d AND """ + _OLD_ENTRY + """;
    INSERT INTO schedule """ + _NEW_ENTRY + """ AND NEW.queue <= %(cut)d;
    INSERT INTO fresh_schedule """ + _NEW_ENTRY + """ AND NEW.queue > %(cut)d; END"""

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
) + _URL_SCHEMA + (
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
    # no index on the counters: each would move (a random page written) at every change
    # of a host's counter; the console's top-N is a scan (~30 ms per 10^5 hosts)
    "DROP INDEX IF EXISTS host_stats_queued",
    "DROP INDEX IF EXISTS host_stats_fetched",
    "DROP INDEX IF EXISTS host_stats_errors",
    """CREATE TABLE IF NOT EXISTS host_controls (
        host TEXT PRIMARY KEY,
        blocked_until REAL,
        delay REAL) WITHOUT ROWID""",
)

#: The original's name of the store's errors.
QueueException = StoreError

_COLUMNS = "url, queue, etag, mod_date, next_date, priority, depth, attempt, status, reason"
_SELECT = "SELECT " + _COLUMNS + ", seq FROM urls"
_INSERT = "INSERT INTO urls (" + _COLUMNS + ", seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
#: A new URL as most are (no etag nor mod_date, attempt 0, no status nor reason): the
#: other columns take their defaults, and binding 6 parameters instead of 11 halves the
#: statement's cost per row (0.9 against 2.1-2.4 µs, measured with executemany of 21 rows).
_INSERT_PLAIN = ("INSERT INTO urls (url, queue, next_date, priority, depth, seq) "
                 "VALUES (?, ?, ?, ?, ?, ?)")
_RECORD = ("UPDATE urls SET queue = ?, etag = ?, mod_date = ?, next_date = ?, priority = ?, "
           "depth = ?, attempt = ?, status = ?, reason = ? WHERE seq = ?")
#: Candidates of a batch of fingerprints among the merged ones, one level at a time.
_IN_SEEN = "SELECT fp, seq FROM seen WHERE fp IN (%s)"
_IN_SEEN_RECENT = "SELECT fp, seq FROM seen_recent WHERE fp IN (%s)"
#: A queue's head: the merged entries and the fresh ones, one range of each.
_QUEUE_HEAD = (
    "SELECT u.url, u.queue, u.etag, u.mod_date, u.next_date, u.priority, u.depth, u.attempt, "
    "u.status, u.reason, u.seq FROM (SELECT next_date, priority, seq FROM main.schedule "
    "WHERE queue = ? UNION ALL SELECT next_date, priority, seq FROM temp.fresh_schedule "
    "WHERE queue = ? ORDER BY 1, 2, 3 LIMIT ?) AS s CROSS JOIN urls AS u ON u.seq = s.seq "
    "ORDER BY s.next_date, s.priority, s.seq")
#: Fingerprints looked up per statement (SQLite allows 32766 parameters).
_LOOKUP_CHUNK = 400
#: Work on the merged keys of a store holding at least this many is logged: building or
#: filling a Bloom filter (a build with progress), moving ``seen_recent`` into ``seen``.
_LOUD_KEYS = 1 << 20


#: The hashes' initial states, copied for each URL (a copy costs less than a new object
#: built from its parameters: the two hashes of a link 1.0 -> 0.6 µs).
_FINGERPRINT_HASH = blake2b(digest_size=8)


def fingerprint(url):
    """The 64-bit fingerprint of a canonical URL (BLAKE2b, as a signed SQLite integer)."""
    digest = _FINGERPRINT_HASH.copy()
    digest.update(url.encode("utf-8", "surrogatepass"))
    return int.from_bytes(digest.digest(), "little", signed=True)


#: The check bits: 15 bits next to ``seq`` in ``seen``, from a hash independent of the
#: fingerprint (BLAKE2b with its own personalisation: a second preimage of both is
#: ~2^79 work; a linear checksum such as CRC-32 could be matched for free by a chosen
#: suffix).  1..32767; 0 means "no check bits".
_CHECK_PERSON = b"spyder-seen-chk"
_CHECK_RANGE = (1 << 15) - 1
#: ``seen`` values: ``seq | check << 32`` for a seq below 2^32 (in [2^32, 2^47): six
#: bytes in SQLite), a bare ``seq`` below 2^32 (a row of schema 3 or before: check 0),
#: and ``seq + _PLAIN`` for a seq of 2^32 or more (no room for check bits: check 0).
_SEQ_MASK = (1 << 32) - 1
_CHECKED = 1 << 32
_PLAIN = 1 << 47


_CHECK_HASH = blake2b(digest_size=4, person=_CHECK_PERSON)


def check_bits(url):
    """The 15 check bits of a canonical URL (1..32767; independent of ``fingerprint``)."""
    digest = _CHECK_HASH.copy()
    digest.update(url.encode("utf-8", "surrogatepass"))
    return int.from_bytes(digest.digest(), "little") % _CHECK_RANGE + 1


def url_keys(urls):
    """``(fingerprints, check bits)`` of ``urls``, two lists: ``fingerprint`` and
    ``check_bits`` of each, its text encoded once."""
    fps, checks = [], []
    add_fp, add_check = fps.append, checks.append
    new_fp, new_check, from_bytes = _FINGERPRINT_HASH.copy, _CHECK_HASH.copy, int.from_bytes
    for url in urls:
        data = url.encode("utf-8", "surrogatepass")
        digest = new_fp()
        digest.update(data)
        add_fp(from_bytes(digest.digest(), "little", signed=True))
        digest = new_check()
        digest.update(data)
        add_check(from_bytes(digest.digest(), "little") % _CHECK_RANGE + 1)
    return fps, checks


def seen_value(seq, check):
    """What ``seen`` stores for a URL's fingerprint: ``seq`` and its ``check`` bits."""
    return seq | check << 32 if seq <= _SEQ_MASK else seq + _PLAIN


def seen_seq(value):
    """The ``seq`` of a ``seen`` value (see ``seen_value``)."""
    if value < _CHECKED:
        return value
    return value & _SEQ_MASK if value < _PLAIN else value - _PLAIN


def seen_check(value):
    """The check bits of a ``seen`` value, 0 if it has none (confirm by the URL text)."""
    return value >> 32 if _CHECKED <= value < _PLAIN else 0


#: Fresh fingerprints (in memory) merged into ``seen`` at a commit, at least and at most;
#: between the two, an eighth of the known URLs (see ``SQLiteStore._seen_batch``).  The
#: fresh URLs' index and schedule entries are held in memory until then: 2^16 keeps the
#: master's RSS growth from 10^5 to 10^6 known URLs at ~38 MB (2^18: ~53 MB), for ~1.8 KB
#: more written per result there (docs/performance.md, "The fresh working set").
SEEN_BATCH_MIN = 1 << 16
SEEN_BATCH_MAX = 1 << 21

#: A larger Bloom filter is filled at each commit while the current one serves (see
#: ``SQLiteStore._fill_bloom``): at least ``BLOOM_STEP_MIN`` merged fingerprints per
#: commit, and ``BLOOM_PACE`` per URL stored since the last one, so it is full before
#: the keys have grown by a quarter past the current one's room (at 10^8 URLs: ~80,000
#: keys, ~0.1 s, per commit of 1,000 results, instead of one pause of ~90 s).
BLOOM_STEP_MIN = 1 << 15
BLOOM_PACE = 4

#: Once ``seen_recent`` is due to go into ``seen``, its keys move a slice per commit (see
#: ``SQLiteStore._move_step``): at least ``SEEN_MOVE_STEP_MIN`` per commit, at a pace that
#: moves them all while ``SEEN_MOVE_SPREAD`` merges' worth of URLs arrive.  In one pass,
#: the move was the master's longest pause, growing with ``seen``: 10.8 s at 1.7 x 10^7
#: URLs, 33.5 s at 10^8 (past ``WORKER_HEARTBEAT_TIMEOUT``).
SEEN_MOVE_STEP_MIN = 1 << 15
SEEN_MOVE_SPREAD = 2

#: A merge of the fresh fingerprints into ``seen_recent`` goes a slice per commit too (see
#: ``SQLiteStore._merge_step``): at least ``SEEN_MERGE_STEP_MIN`` keys per commit, at a
#: pace that merges them all while ``1 / SEEN_MERGE_SPREAD`` of the next batch arrives.
#: In one commit, it was the longest pause left: 4.3 s at 10^7 URLs, ~11 s at 10^8.  A
#: merge of fewer than ``SEEN_MERGE_SLICED_MIN`` keys (below ~10^6 known URLs) is done
#: whole in the commit that finds it due (~0.3 s): spread over commits, its steps cost
#: the master at 10^5 URLs ~10 % more CPU per result (the frozen index asked by every
#: seen test, the triggers made again at each step).
SEEN_MERGE_STEP_MIN = 1 << 15
SEEN_MERGE_SPREAD = 2
SEEN_MERGE_SLICED_MIN = 1 << 17

#: How the state file is set up, on purpose (docs/frontier.md, "The state file"):
#: 4 KiB pages (the OS page; a random write dirties one); WAL with ``synchronous=NORMAL``
#: (a commit is not fsynced -- a killed process loses nothing committed, a power cut
#: may lose the commits since the last WAL checkpoint); a WAL checkpoint every 100,000
#: pages (~400 MB: a hot page -- the end of ``urls``, a queue's head, a host's counters
#: -- is copied into the file once per checkpoint, not once per commit: 69 -> 41 KB
#: written per result at 10^6 URLs over 10^5 hosts, against 10,000 pages) and the WAL
#: truncated back to 512 MB after it; no ``mmap`` (the file's pages would count in the master's RSS);
#: temporary tables (``temp.fresh_schedule``) in memory.
_PRAGMAS = (
    "PRAGMA page_size = 4096",
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA wal_autocheckpoint = 100000",
    "PRAGMA journal_size_limit = %d" % (512 << 20),
    "PRAGMA mmap_size = 0",
    "PRAGMA temp_store = MEMORY",
)

#: Below every queue id: a merge whose schedule part has passed no queue yet.
_NO_QUEUE = -(1 << 63)
#: ``SQLiteStore``'s cached earliest queue due time is not known (to be read).
_UNKNOWN = object()
#: Queues whose due times ``SQLiteStore`` keeps in memory, at most.
_QUEUE_TIMES_SIZE = 65536


def _schedule_order(row):
    """A row's place in its queue: due time, priority, insertion order."""
    return row.next_date, row.priority, row.rowid


class SQLiteStore(LocalStore):
    """The state file (see the module docstring): a ``FrontierStore``.

    ``db_name`` is a path or ``":memory:"``; ``clock`` the UTC epoch source; ``cache_mb``
    bounds SQLite's page cache; ``lock``, a held ``filelock.FileLock`` of the file, is
    released when the store closes.
    """

    def __init__(self, db_name, clock=time.time, cache_mb=32, lock=None, bloom_bits=10):
        self._clock = clock
        self._lock = lock
        self._path = db_name
        self._db = sqlite3.connect(db_name, isolation_level=None)
        self._cur = self._db.cursor()
        #: The schedule entries of the new URLs not updated since, until a merge (the
        #: others of the fresh URLs are in ``temp.fresh_schedule``).
        self._fresh_schedule = FreshSchedule(1)
        self._db.create_function("spyder_fresh_drop", 1,
                                 lambda seq: self._fresh_schedule.drop(seq))
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
        #: The next URL's ``seq``; the fingerprints of the URLs stored since the last merge
        #: (fp -> ``seen_value(seq, check)``, the first URL of a fingerprint), merged into
        #: ``seen`` in key order.
        self._next_seq = 1
        self._fresh = FreshIndex()
        #: The Bloom filter over ``seen`` (``bloom_bits`` bits per URL of its room;
        #: None with 0): a fingerprint it does not hold is not looked up in ``seen``.
        self._bloom_bits = bloom_bits
        self._bloom = None
        #: The larger filter being filled (``_FilterFill``), or None.
        self._filling = None
        #: Keys in ``seen`` and in ``seen_recent`` (``meta["seen_levels"]``).
        self._levels = [0, 0]
        #: The merge of fresh fingerprints into ``seen_recent`` under way (``_Merge``), or
        #: None.
        self._merge = None
        #: The move of ``seen_recent`` into ``seen`` under way (``_Move``), or None.
        self._move = None
        try:
            for pragma in _PRAGMAS:
                self._cur.execute(pragma)
            self._cur.execute("PRAGMA cache_size = %d" % -int(cache_mb * 1024))
            version = self._schema_version()
            if version == 1:
                migrate_v1(self, db_name)
            elif version not in (None, 2, 3, 4, SCHEMA_VERSION):
                raise StoreError("state file has schema version %r, this Spyder reads %d (and "
                                 "upgrades 1 to 4); use a new FRONTIER_STATE_FILE"
                                 % (version, SCHEMA_VERSION))
            self._begin()
            for statement in _SCHEMA:
                self._cur.execute(statement)
            if "not_before" not in {c[1] for c in self._cur.execute("PRAGMA table_info(queues)")}:
                self._cur.execute("ALTER TABLE queues ADD COLUMN not_before REAL")  # older files
            if version == 2:  # layout 2 plus an empty seen_recent: nothing to rewrite
                log.warning("frontier::state file has schema version 2: upgraded to %d (the "
                            "URL-seen test's second level, seen_recent, and check bits for "
                            "the URLs from now on); a Spyder before it refuses the file",
                            SCHEMA_VERSION)
            elif version == 3:  # the old rows keep check 0: confirmed by their text
                log.warning("frontier::state file has schema version 3: upgraded to %d (check "
                            "bits next to seq in the URL-seen test for the URLs from now on); "
                            "a Spyder before it refuses the file", SCHEMA_VERSION)
            elif version == 4:  # no merge under way in a file of layout 4: nothing to rewrite
                log.warning("frontier::state file has schema version 4: upgraded to %d (merges "
                            "of the URL-seen test's fresh keys a slice per commit); a Spyder "
                            "before it refuses the file", SCHEMA_VERSION)
            if version in (2, 3):
                self._mark_plain_seqs()
            if version != SCHEMA_VERSION:
                self._set_meta("schema_version", SCHEMA_VERSION)
            self._load_fresh()
            self._load_levels()
            self._load_bloom()
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

    def _mark_plain_seqs(self):
        """Before schema 4, ``seen`` held bare seqs: one of 2^32 or more would read as
        check bits, so those (if the file has any) get the ``_PLAIN`` offset."""
        top = self._cur.execute("SELECT MAX(seq) FROM urls").fetchone()[0]
        if top is not None and top > _SEQ_MASK:
            for table in ("seen", "seen_recent"):
                self._cur.execute("UPDATE %s SET seq = seq + ? WHERE seq > ?" % table,
                                  (_PLAIN, _SEQ_MASK))

    def _schema_version(self):
        """The file's schema version, or ``None`` for a new file."""
        if self._cur.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone() is None:
            return None
        return self._get_meta("schema_version")

    def _load_fresh(self):
        """The URLs stored since the last merge (``seen_mark``) get their fingerprints into
        memory again (after an open: memory is not kept): those of a merge under way
        (``meta["seen_merge"]``, up to its ``upto``) into its own index, the others into
        the fresh index, and their schedule entries into ``temp``."""
        cur = self._cur
        for statement in _TEMP_SCHEMA:
            cur.execute(statement)
        cur.execute("DELETE FROM temp.fresh_schedule")
        self._next_seq = (cur.execute("SELECT MAX(seq) FROM urls").fetchone()[0] or 0) + 1
        self._fresh_schedule = FreshSchedule(self._next_seq)
        mark = self._get_meta("seen_mark", 0)
        merge = self._get_meta("seen_merge")
        upto = mark if merge is None else merge["upto"]
        merging = FreshIndex(upto - mark)  # fp -> seen_value
        fresh = self._fresh = FreshIndex(self._next_seq - 1 - upto)
        # a colliding URL is in seen_collisions, not in an index: its fingerprint is another's
        colliding = {seq for (seq,) in cur.execute("SELECT seq FROM seen_collisions "
                                                   "WHERE seq > ?", (mark,))}
        rows = cur.execute("SELECT seq, url FROM urls WHERE seq > ?", (mark,))
        while True:
            chunk = rows.fetchmany(50000)
            if not chunk:
                break
            fps, checks = url_keys([url for _, url in chunk])
            for (seq, _), fp, check in zip(chunk, fps, checks):
                if seq not in colliding:
                    (merging if seq <= upto else fresh).setdefault(fp, seen_value(seq, check))
        cut = _NO_QUEUE
        if merge is not None:
            self._merge = _Merge(merging, upto, merge["pace"], self._next_seq, merge["after"],
                                 merge["queues"], merge["queue"])
            cut = merge["queue"]
        cur.execute("INSERT INTO temp.fresh_schedule (queue, next_date, priority, seq) "
                    "SELECT queue, next_date, priority, seq FROM urls WHERE seq > ? AND "
                    "next_date IS NOT NULL AND queue IS NOT NULL AND NOT (seq <= ? AND "
                    "queue <= ?)", (mark, upto, cut))
        self._schedule_triggers()

    def _load_bloom(self):
        """Read the Bloom filter of ``seen`` from the file, or build it from ``seen`` if
        it is missing or does not match the file's ``seen_mark`` (a file from before the
        filter, migrated, or merged by a Spyder without it) or ``bloom_bits``."""
        if not self._bloom_bits:
            return
        meta = self._get_meta("bloom")
        mark = self._get_meta("seen_mark", 0)
        stale = meta is not None and (meta.get("mark") != mark
                                      or meta.get("merge") != self._merge_position())
        if meta is None or stale or meta.get("bits_per_url") != self._bloom_bits:
            self._build_bloom("none in the file" if meta is None else "the one in the file "
                              "is stale" if stale else "another size", log.warning)
            return
        bloom = BloomFilter(meta["blocks"], self._bloom_bits)
        for block, bits in self._cur.execute("SELECT block, bits FROM bloom"):
            bloom.load_block(block, bits)
        self._bloom = bloom
        self._grow_bloom()

    def _build_bloom(self, why, say=log.info):
        """Build the filter from every key of ``seen`` (in key order, one block after the
        other) with ``bloom_bits`` per key of room for ``GROWTH`` times the keys, and
        store all of it (in the open transaction)."""
        self._begin()
        cur = self._cur
        keys = sum(self._levels)
        bloom = BloomFilter(blocks_for(max(GROWTH * keys, SEEN_BATCH_MIN), self._bloom_bits),
                            self._bloom_bits)
        started = last_log = time.monotonic()
        loud = keys >= _LOUD_KEYS
        if loud:
            say("frontier::building the Bloom filter of the URL-seen test (%s) from %d "
                "fingerprints: %.1f MB", why, keys, len(bloom) / 1e6)
        rows = cur.execute("SELECT fp FROM seen UNION ALL SELECT fp FROM seen_recent")
        done = 0
        while True:
            chunk = rows.fetchmany(1 << 16)
            if not chunk:
                break
            bloom.add_sorted([fp for (fp,) in chunk])
            done += len(chunk)
            if loud and time.monotonic() - last_log >= 10.0:
                last_log = time.monotonic()
                say("frontier::Bloom filter: %d of %d fingerprints (%.0f %%), %.0f s", done, keys,
                    100.0 * done / max(1, keys), last_log - started)
        self._store_bloom(bloom)
        self._filling = None
        if loud:
            say("frontier::Bloom filter built in %.1f s", time.monotonic() - started)

    def _store_bloom(self, bloom):
        """``bloom`` (holding every merged key) becomes the filter, stored whole in the
        open transaction."""
        self._cur.execute("DELETE FROM bloom")
        self._cur.executemany("INSERT INTO bloom (block, bits) VALUES (?, ?)",
                              bloom.take_dirty())
        self._bloom = bloom
        self._save_bloom_meta()

    def _grow_bloom(self):
        """Once the merged URLs are more than the filter has room for, start filling a
        larger one (room for ``GROWTH`` times them; ``_fill_bloom``)."""
        bloom = self._bloom
        keys = sum(self._levels)
        if bloom is None or self._filling is not None or keys <= bloom.room:
            return
        self._filling = _FilterFill(
            BloomFilter(blocks_for(GROWTH * keys, self._bloom_bits), self._bloom_bits),
            self._next_seq)
        if keys >= _LOUD_KEYS:
            log.info("frontier::%d merged fingerprints, the Bloom filter has room for %d: "
                     "filling one of %.1f MB at each commit", keys, bloom.room,
                     len(self._filling.bloom) / 1e6)

    def _fill_bloom(self):
        """Add the next merged fingerprints to the larger filter being filled, in key
        order: those of ``seen`` after the last one added, up to the step, and those of
        ``seen_recent`` up to the same key.  Both levels are read up to one key, so a
        key that moves from ``seen_recent`` into ``seen`` stays on its side of
        it (added already, or still to come); keys merged meanwhile are added by the
        merge.  Once every key is in, the filter replaces the current one, stored whole
        in this commit."""
        self._begin()
        fill = self._filling
        step, bounds, args = fill.next_slice(self._next_seq, BLOOM_STEP_MIN, BLOOM_PACE)
        cur = self._cur
        keys = [fp for (fp,) in cur.execute("SELECT fp FROM seen%s ORDER BY fp LIMIT ?"
                                            % _where(bounds), args + [step])]
        last = keys[-1] if len(keys) == step else None  # None: seen is read to its end
        if last is not None:
            bounds.append("fp <= ?")
            args.append(last)
        recent = cur.execute("SELECT fp FROM seen_recent%s ORDER BY fp" % _where(bounds), args)
        fill.bloom.add_sorted(keys)
        fill.bloom.add_sorted(fp for (fp,) in recent)
        fill.after = last
        if last is None:
            self._filling = None
            self._store_bloom(fill.bloom)
            if sum(self._levels) >= _LOUD_KEYS:
                log.info("frontier::the larger Bloom filter is in use (filled over %d "
                         "commits in %.1f s)", fill.commits,
                         time.monotonic() - fill.started)

    def _save_bloom_meta(self):
        """The filter's description, with the ``seen_mark`` and the merge position it
        holds the keys of."""
        bloom = self._bloom
        self._set_meta("bloom", {"mark": self._get_meta("seen_mark", 0),
                                 "merge": self._merge_position(),
                                 "blocks": bloom.blocks, "keys": sum(self._levels),
                                 "bits_per_url": self._bloom_bits})

    def _merge_position(self):
        """``[upto, after]`` of the merge under way (its keys up to ``after`` are in
        ``seen_recent``), or None."""
        merge = self._merge
        return None if merge is None else [merge.upto, merge.after]

    def _schedule_triggers(self):
        """(Re)create the triggers that keep each row's schedule entry where it belongs
        (``_SCHEDULE_TRIGGER``): rows up to ``seen_mark`` in ``schedule``, rows of a merge
        under way by their queue, the others in ``temp.fresh_schedule``."""
        mark = self._get_meta("seen_mark", 0)
        merge = self._merge
        upto = mark if merge is None else merge.upto
        cur = self._cur
        for name in ("fresh", "merged", "merging"):
            cur.execute("DROP TRIGGER IF EXISTS temp.urls_schedule_%s" % name)
        cur.execute(_SCHEDULE_TRIGGER % dict(name="fresh", test="> %d" % upto,
                                             table="fresh_schedule", drop=_DROP))
        cur.execute(_SCHEDULE_TRIGGER % dict(name="merged", test="<= %d" % mark,
                                             table="schedule", drop=""))
        if merge is not None:
            cur.execute(_MERGING_TRIGGER % dict(mark=mark, upto=upto, cut=merge.queue))

    def _load_levels(self):
        """How many keys ``seen`` and ``seen_recent`` hold (counted once if the file does
        not say: a file upgraded or built by a tool), and the move between them under way."""
        levels = self._get_meta("seen_levels")
        if levels is None:
            levels = [self._cur.execute("SELECT COUNT(*) FROM %s" % table).fetchone()[0]
                      for table in ("seen", "seen_recent")]
            self._set_meta("seen_levels", levels)
        self._levels = levels
        move = self._get_meta("seen_move")
        if move is not None:
            self._move = _Move(move["after"], move["pace"], self._next_seq)

    def _seen_batch(self):
        """Fresh fingerprints to gather before merging them into ``seen``: an eighth of the
        known URLs, so that a merge writes each page of ``seen`` for ~2.5 new keys at least
        (bounded by ``SEEN_BATCH_MIN`` and ``SEEN_BATCH_MAX``)."""
        return max(SEEN_BATCH_MIN, min(SEEN_BATCH_MAX, self._next_seq // 8))

    def _start_merge(self):
        """Start merging the fresh URLs, a slice per commit (``_merge_step``), in the open
        transaction: their index is kept for the seen test until the merge ends and new
        URLs go into a new one (and their schedule entries into ``temp.fresh_schedule``
        as before).  A merge still under way is finished first."""
        if self._merge is not None:
            self._finish_merge()
        if not len(self._fresh):
            return
        self._begin()
        upto = self._next_seq - 1
        batch = self._seen_batch()
        pace = -(-len(self._fresh) // max(1, batch // SEEN_MERGE_SPREAD))
        queues = max(self._cur.execute("SELECT MAX(queue) FROM temp.fresh_schedule").fetchone()[0]
                     or 0, self._fresh_schedule.max_queue() or 0)
        self._merge = _Merge(self._fresh, upto, pace, self._next_seq, queues=queues)
        self._save_merge()
        self._schedule_triggers()
        if self._bloom is not None:
            self._save_bloom_meta()
        self._fresh = FreshIndex(batch)

    def _save_merge(self):
        """``meta["seen_merge"]``: the merge under way's position, or None."""
        merge = self._merge
        self._set_meta("seen_merge", None if merge is None else {
            "upto": merge.upto, "after": merge.after, "pace": merge.pace,
            "queues": merge.queues, "queue": merge.queue})

    def _merge_step(self, whole=False):
        """Merge the next slice of the URLs under way, in this commit: their fingerprints
        in key order past the last one merged into ``seen_recent`` and the Bloom filter
        (``pace`` keys per URL stored since the last step, at least
        ``SEEN_MERGE_STEP_MIN``; all of them with ``whole``), and as large a share of
        their queues' schedule entries from ``temp.fresh_schedule`` into ``schedule``.
        The first step only sorts the keys (~0.6 µs per key), a commit of its own.

        The slices are consecutive key ranges (and queue ranges), so the pages of
        ``seen_recent`` and ``schedule`` and the filter's blocks are written in key
        order, each about once, as in one ordered pass.  The commit holds them and the
        position (``meta["seen_merge"]``) together; once all are in, ``seen_mark`` moves
        to the merge's ``upto``, and ``seen_recent`` starts moving into ``seen`` once it
        holds ``sqrt(2 * seen * batch)`` keys.

        ``seen_recent`` keeps a merge from rewriting every page of ``seen`` (the keys are
        random: each of its pages gets some): ``seen`` is rewritten once per
        ~``sqrt(2 * seen / batch)`` merges, ``seen_recent`` (smaller) at each."""
        self._begin()
        merge = self._merge
        if merge.order is None:
            merge.order = merge.index.in_key_order()
            merge.pos = 0 if merge.after is None else merge.order.after(merge.after)
            if not whole:
                return
        order, start = merge.order, merge.pos
        step = merge.next_slice(self._next_seq, SEEN_MERGE_STEP_MIN, merge.pace)[0]
        stop = len(order) if whole else min(len(order), start + step)
        cur = self._cur
        cur.executemany("INSERT INTO seen_recent (fp, seq) VALUES (?, ?)",
                        order.items(start, stop))
        big, recent = self._levels
        self._levels = [big, recent + stop - start]
        self._set_meta("seen_levels", self._levels)
        merge.pos = stop
        done = stop == len(order)
        if done:
            self._merge = None
            self._set_meta("seen_mark", merge.upto)
        else:  # (a step takes one key at least)
            merge.after = next(order.keys(stop - 1, stop))
        # the schedule entries of the queues up to the same share (all when done)
        cut = None if done else max(merge.queue, merge.queues * stop // len(order))
        if cut != merge.queue:
            where = " WHERE seq <= ? AND queue > ?" + ("" if done else " AND queue <= ?")
            args = (merge.upto, merge.queue) + (() if done else (cut,))
            # OR IGNORE (no key can be there twice): a statement that cannot abort needs no
            # statement journal, which would hold a copy of every page it changes
            cur.execute("INSERT OR IGNORE INTO schedule (queue, next_date, priority, seq) "
                        "SELECT queue, next_date, priority, seq FROM temp.fresh_schedule"
                        + where, args)
            cur.execute("DELETE FROM temp.fresh_schedule" + where, args)
            cur.executemany("INSERT OR IGNORE INTO schedule (queue, next_date, priority, seq) "
                            "VALUES (?, ?, ?, ?)",
                            self._fresh_schedule.take(merge.queue, cut, merge.upto))
            if done:
                self._fresh_schedule.rebase(merge.upto + 1)
            merge.queue = cut
            self._schedule_triggers()
        self._save_merge()
        if done:
            added, recent = len(order), self._levels[1]
            if self._move is None and recent > added and recent ** 2 >= 2 * big * added:
                self._start_move()
            if sum(self._levels) >= _LOUD_KEYS:
                log.info("frontier::%d fresh URLs merged into seen_recent over %d commits in "
                         "%.1f s", added, merge.commits, time.monotonic() - merge.started)
        bloom = self._bloom
        if bloom is not None:  # the filter holds what the levels hold, in the same commit
            bloom.add_sorted(order.keys(start, stop))
            cur.executemany("INSERT OR REPLACE INTO bloom (block, bits) VALUES (?, ?)",
                            bloom.take_dirty())
            self._save_bloom_meta()
            filling = self._filling
            if filling is not None and filling.after is not None:  # the keys it has passed
                passed = min(stop, order.after(filling.after))  # (it reads the others)
                if passed > start:
                    filling.bloom.add_sorted(order.keys(start, passed))
            self._grow_bloom()

    def _finish_merge(self):
        """The rest of the merge under way, if any, in this transaction."""
        if self._merge is not None:
            self._merge_step(whole=True)

    def _merge_fresh(self):
        """A whole merge of the fresh URLs in this transaction (one under way first): what
        ``commit`` spreads over several commits from ``SEEN_MERGE_SLICED_MIN`` keys on."""
        self._start_merge()
        self._finish_merge()

    def _start_move(self):
        """Start moving ``seen_recent`` into ``seen``: at a pace that ends the move while
        ``SEEN_MOVE_SPREAD`` merges' worth of new URLs arrive."""
        recent = self._levels[1]
        pace = -(-recent // (SEEN_MOVE_SPREAD * self._seen_batch()))
        self._move = _Move(None, pace, self._next_seq)
        self._set_meta("seen_move", {"after": None, "pace": pace})
        if sum(self._levels) >= _LOUD_KEYS:
            log.info("frontier::moving seen_recent (%d keys) into seen (%d keys), %d keys per "
                     "new URL per commit", recent, self._levels[0], pace)

    def _move_step(self):
        """Move the next slice of ``seen_recent`` (in key order, past the last key moved)
        into ``seen``, in this commit: ``pace`` keys per URL stored since the last step,
        at least ``SEEN_MOVE_STEP_MIN``.

        The slices are consecutive key ranges, so ``seen``'s pages are written in key
        order, each once for all the keys it takes, as in one ordered pass, and a commit
        costs ~0.8 µs per key moved (at 10^7 URLs) instead of one pause for all of them.
        A key is in one level at any time (moved by the statement pair of one
        transaction); keys merged into ``seen_recent`` behind the cut meanwhile stay
        there for the next move."""
        self._begin()
        move = self._move
        step, bounds, args = move.next_slice(self._next_seq, SEEN_MOVE_STEP_MIN, move.pace)
        cur = self._cur
        last = cur.execute("SELECT fp FROM seen_recent%s ORDER BY fp LIMIT 1 OFFSET ?"
                           % _where(bounds), args + [step - 1]).fetchone()
        if last is not None:
            bounds.append("fp <= ?")
            args.append(last[0])
        where = _where(bounds)
        # OR IGNORE (the levels hold distinct keys): a statement that cannot abort needs
        # no statement journal
        moved = cur.execute("INSERT OR IGNORE INTO seen (fp, seq) SELECT fp, seq FROM "
                            "seen_recent%s ORDER BY fp" % where, args).rowcount
        cur.execute("DELETE FROM seen_recent%s" % where, args)
        big, recent = self._levels
        self._levels = [big + moved, recent - moved]
        self._set_meta("seen_levels", self._levels)
        if last is None:
            self._move = None
            self._set_meta("seen_move", None)
            if sum(self._levels) >= _LOUD_KEYS:
                log.info("frontier::seen_recent moved into seen (%d keys) over %d commits in "
                         "%.1f s", self._levels[0], move.commits,
                         time.monotonic() - move.started)
        else:
            move.after = last[0]
            self._set_meta("seen_move", {"after": move.after, "pace": move.pace})

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
        next_seq, fresh = self._next_seq, len(self._fresh)
        self._fresh_schedule.begin()
        try:
            yield
        except BaseException:
            self._cur.execute("ROLLBACK TO result")
            self._cur.execute("RELEASE result")
            self._fresh_schedule.rollback()
            self._earliest_due = _UNKNOWN
            self._queue_times.clear()
            if self._next_seq != next_seq:  # forget the fingerprints stored meanwhile
                self._fresh.truncate(fresh)  # its entries are in the order of seq
                self._next_seq = next_seq
            raise
        self._fresh_schedule.release()
        self._cur.execute("RELEASE result")

    def commit(self, state):
        """Write the frontier's ``state`` (a dict of JSON values) and commit everything."""
        for key, value in state.items():
            self._set_meta(key, value)
        if len(self._fresh) >= self._seen_batch():
            if len(self._fresh) < SEEN_MERGE_SLICED_MIN:
                self._merge_fresh()
            else:
                self._start_merge()
        elif self._merge is not None:
            self._merge_step()
        if self._move is not None:
            self._move_step()
        if self._filling is not None:
            self._fill_bloom()
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
    def _candidates(self, fps):
        """``{fp: value}`` (``seen_value``: seq and check bits) of the stored URLs that have
        one of the (distinct) fingerprints ``fps``: the fresh ones from memory, the others
        from ``seen``, and those not found there from ``seen_recent`` (the levels hold
        distinct keys).  One level after the other, not both in one statement: at 10^7
        URLs both B-trees are mostly out of the cache, and a look-up in the level that
        does not hold the key costs a page read too (known links: 5.4-6.2 against 3.8-4.0
        µs each; at 2.5 x 10^5 URLs 1.9-2.3 against 1.8)."""
        found, rest = self._fresh.lookup(fps)
        merge = self._merge
        if merge is not None:  # the keys of a merge under way not merged yet (past ``after``:
            after = merge.after  # the others are in seen_recent and the filter already)
            merging, _ = merge.index.lookup(
                rest if after is None else [fp for fp in rest if fp > after])
            if merging:
                found.update(merging)
                rest = [fp for fp in rest if fp not in merging]
        if self._bloom is not None:  # not in the filter: certainly not in seen
            rest = self._bloom.maybe_known(rest)
        cur = self._cur
        for start in range(0, len(rest), _LOOKUP_CHUNK):
            chunk = rest[start:start + _LOOKUP_CHUNK]
            hits = cur.execute(_IN_SEEN % ", ".join("?" * len(chunk)), chunk).fetchall()
            found.update(hits)
            if len(hits) < len(chunk):
                chunk = [fp for fp in chunk if fp not in found]
                found.update(cur.execute(_IN_SEEN_RECENT % ", ".join("?" * len(chunk)), chunk))
        return found

    def _texts(self, seqs):
        """``{seq: url}`` of the rows ``seqs``."""
        return dict(self._by_seq("SELECT seq, url FROM urls", seqs))

    def _by_seq(self, select, seqs):
        """The rows ``seqs`` as ``select`` (a query of ``urls``) reads them, in no
        particular order: a statement per ``_LOOKUP_CHUNK`` of them."""
        seqs = list(seqs)
        for start in range(0, len(seqs), _LOOKUP_CHUNK):
            chunk = seqs[start:start + _LOOKUP_CHUNK]
            yield from self._cur.execute("%s WHERE seq IN (%s)"
                                         % (select, ", ".join("?" * len(chunk))), chunk)

    def _collision(self, url):
        """The seq of ``url`` if it is stored as a fingerprint collision, else ``None``."""
        row = self._cur.execute("SELECT seq FROM seen_collisions WHERE url = ?",
                                (url,)).fetchone()
        return None if row is None else row[0]

    def _seq_of(self, url):
        """The seq of ``url``, or ``None`` if it is not known."""
        found = self._candidates((fingerprint(url),))
        if not found:
            return None
        value, = found.values()
        seq, check = seen_seq(value), seen_check(value)
        if check:  # equal check bits: the URL; others: another URL with its fingerprint
            return seq if check == check_bits(url) else self._collision(url)
        text = self._cur.execute("SELECT url FROM urls WHERE seq = ?", (seq,)).fetchone()
        if text is not None and text[0] == url:
            return seq
        return self._collision(url)

    def _store_new(self, rows):
        """Store rows known to be new (``(row, fp, check, collides)``: with their
        fingerprint and check bits; ``collides`` for a URL whose fingerprint another URL
        has): returns them with their seq."""
        seq = self._next_seq
        stored, plain, params, scheduled, collisions = [], [], [], [], []
        fps, values = [], []
        make = tuple.__new__
        keep = self._fresh_schedule.add
        for row, fp, check, collides in rows:
            row = make(UriRow, row[:10] + (seq,))
            stored.append(row)
            url, queue, etag, mod_date, next_date, priority, depth, attempt, status, reason, \
                _ = row
            if (etag is None and mod_date is None and not attempt and status is None
                    and reason is None):
                plain.append((url, queue, next_date, priority, depth, seq))
            else:
                params.append(row)
            if collides:
                collisions.append((url, seq))
            else:
                fps.append(fp)
                values.append(seq | check << 32 if seq <= _SEQ_MASK else seq + _PLAIN)
            if (next_date is not None and queue is not None
                    and not keep(queue, next_date, priority, seq)):
                scheduled.append((queue, next_date, priority, seq))  # (its queue is full)
            seq += 1
        self._next_seq = seq
        self._fresh.update(fps, values)  # seen_value of each, inlined above
        cur = self._cur
        if plain:
            cur.executemany(_INSERT_PLAIN, plain)
        if params:
            cur.executemany(_INSERT, params)
        if scheduled:
            cur.executemany("INSERT INTO temp.fresh_schedule (queue, next_date, priority, seq) "
                            "VALUES (?, ?, ?, ?)", scheduled)
        if collisions:
            log.info("frontier::%d URL(s) whose 64-bit fingerprint another URL has; kept in "
                     "seen_collisions", len(collisions))
            cur.executemany("INSERT INTO seen_collisions (url, seq) VALUES (?, ?)", collisions)
        return stored

    def _sieve(self, rows):
        """Split ``rows`` into the new ones (``(row, fp, check, collides)``, first
        occurrence of each URL) and the URLs already known.

        A fingerprint found with check bits is the URL if they are the URL's, another URL
        if not; one without (``seen_check`` 0) is confirmed by the URL text of its row,
        read for those only (one statement)."""
        urls = [row.url for row in rows]
        fps, checks = url_keys(urls)
        stored = self._candidates(set(fps))
        unchecked = [value for value in stored.values() if not _CHECKED <= value < _PLAIN]
        texts = self._texts(set(map(seen_seq, unchecked))) if unchecked else {}
        new, batch, known = [], {}, []
        for row, url, fp, check in zip(rows, urls, fps, checks):
            value = stored.get(fp)
            if value is not None:
                if _CHECKED <= value < _PLAIN:
                    same = value >> 32 == check
                else:
                    same = texts.get(seen_seq(value)) == url
                if same or self._collision(url) is not None:
                    known.append(url)
                    continue
                collides = True
            else:
                collides = False
            first = batch.get(fp)
            if first is not None:
                if url in first:
                    known.append(url)
                    continue
                collides = True
                first.add(url)
            else:
                batch[fp] = {url}
            new.append((row, fp, check, collides))
        return new, known

    def add_uris(self, rows):
        """Insert many new rows (``sqlite3.IntegrityError`` if a URL exists): a bulk load,
        for benchmarks and tools that prepare a state file."""
        self._begin()
        rows = list(rows)
        new, known = self._sieve(rows)
        if known:
            raise sqlite3.IntegrityError("UNIQUE constraint failed: urls.url (%s)" % known[0])
        self._store_new(new)

    def admit(self, rows):
        """Store the rows whose URL is unknown; returns them with their rowid (``seq``).

        The URL-seen test of a batch: its fingerprints are looked up in two statements
        at most (memory, then ``seen``), a fingerprint found is confirmed by its check
        bits (or, for a row without any, by the stored URL text: one more statement),
        and the new rows are stored with one ``executemany`` each for ``urls`` and
        ``temp.fresh_schedule``."""
        rows = list(rows)
        if not rows:
            return []
        self._begin()
        new, _ = self._sieve(rows)
        return self._store_new(new) if new else []

    def record(self, row):
        """Store the new state of a known row (by its rowid if it has one, else its URL)."""
        self._begin()
        seq = row.rowid
        if seq is None:
            seq = self._seq_of(row.url)
            if seq is None:
                return
        self._cur.execute(_RECORD, (row.queue, row.etag, row.mod_date, row.next_date,
                                    row.priority, row.depth, row.attempt, row.status,
                                    row.reason, seq))

    def find(self, url):
        """The row of ``url``, or ``None``."""
        seq = self._seq_of(url)
        if seq is None:
            return None
        return UriRow._make(self._cur.execute(_SELECT + " WHERE seq = ?", (seq,)).fetchone())

    def __len__(self):
        return self._cur.execute("SELECT COUNT(*) FROM urls").fetchone()[0]

    def queue_head(self, queue, n):
        """The ``n`` rows of ``queue`` due first (due time, priority, insertion order): one
        contiguous range of ``schedule`` and of ``temp.fresh_schedule``, and the first
        entries of its new URLs in memory."""
        rows = [UriRow._make(row)
                for row in self._cur.execute(_QUEUE_HEAD, (queue, queue, n)).fetchall()]
        fresh = self._fresh_schedule.head(queue, n)  # [(next_date, priority, seq)], in order
        if fresh and len(rows) == n:  # only those before the last row read can be in
            last = _schedule_order(rows[-1])
            fresh = [entry for entry in fresh if entry < last]
        if not fresh:
            return rows
        rows += map(UriRow._make, self._by_seq(_SELECT, [seq for _, _, seq in fresh]))
        rows.sort(key=_schedule_order)
        return rows[:n]

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
        self._cur.executemany("INSERT INTO temp.fresh_schedule (queue, next_date, priority, "
                              "seq) VALUES (?, ?, ?, ?)",
                              self._fresh_schedule.take(_NO_QUEUE, None, self._next_seq))
        self._cur.execute(
            "UPDATE queues SET next_due = MAX((SELECT MIN(first) FROM (SELECT MIN(next_date) "
            "AS first FROM main.schedule WHERE queue = queues.id UNION ALL SELECT "
            "MIN(next_date) FROM temp.fresh_schedule WHERE queue = queues.id)), "
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


def _where(conditions):
    """A ``WHERE`` clause of all ``conditions``, or nothing."""
    return " WHERE " + " AND ".join(conditions) if conditions else ""


class _KeyWalk:
    """A walk over keys in key order, a slice per commit (a merge into ``seen_recent``, a
    Bloom filter's fill, a move of ``seen_recent``): the last key passed (``after``;
    None: none yet), ``next_seq`` at the last slice (a slice is paced by the URLs stored
    since), the commits so far and the start."""

    __slots__ = ("after", "seq", "commits", "started")

    def __init__(self, seq, after=None):
        self.after = after
        self.seq = seq
        self.commits = 0
        self.started = time.monotonic()

    def next_slice(self, next_seq, minimum, pace):
        """``(keys, bounds, args)`` of this commit's slice: at least ``minimum`` keys, and
        ``pace`` per URL stored since the last slice; the SQL conditions (and their
        arguments) for the keys past the last one passed."""
        keys = max(minimum, pace * (next_seq - self.seq))
        self.seq = next_seq
        self.commits += 1
        if self.after is None:
            return keys, [], []
        return keys, ["fp > ?"], [self.after]


class _FilterFill(_KeyWalk):
    """A larger Bloom filter being filled (``SQLiteStore._fill_bloom``)."""

    __slots__ = ("bloom",)

    def __init__(self, bloom, seq):
        super().__init__(seq)
        self.bloom = bloom


class _Merge(_KeyWalk):
    """A merge of the fresh URLs up to row ``upto`` (``SQLiteStore._merge_step``), at
    ``pace`` keys per new URL: ``index``, their fingerprints' ``FreshIndex`` (the seen
    test asks it until the merge ends); ``order``, its entries in key order
    (``KeyOrder``, sorted at the first step), and ``pos``, the position in it of the
    next key to merge; ``queue``, the last queue whose schedule entries are merged
    (``_NO_QUEUE``: none yet), of ``queues`` (the largest when the merge started)."""

    __slots__ = ("index", "upto", "pace", "order", "pos", "queues", "queue")

    def __init__(self, index, upto, pace, seq, after=None, queues=0, queue=_NO_QUEUE):
        super().__init__(seq, after)
        self.index = index
        self.upto = upto
        self.pace = pace
        self.order = None
        self.pos = 0
        self.queues = queues
        self.queue = queue


class _Move(_KeyWalk):
    """The move of ``seen_recent`` into ``seen`` under way (``SQLiteStore._move_step``), at
    ``pace`` keys per new URL."""

    __slots__ = ("pace",)

    def __init__(self, after, pace, seq):
        super().__init__(seq, after)
        self.pace = pace


def migrate_v1(store, path):
    """Rewrite a state file of schema version 1 (``urls`` keyed by its URL text, one
    index per queue) into layout 4, in one transaction, after a copy of the file to
    ``<file>.v1-backup`` (refused if that exists)."""
    cur = store._cur
    known = cur.execute("SELECT COUNT(*) FROM urls").fetchone()[0]
    if path != ":memory:" and not path.startswith("file:"):
        backup = path + ".v1-backup"
        if os.path.exists(backup):
            raise StoreError("state file has schema version 1 and %s exists: move it away to "
                             "let this Spyder migrate the file (a copy is kept there)" % backup)
        log.warning("frontier::state file %s has schema version 1 (%d URLs): migrating it to "
                    "version %d; the old file is kept as %s", path, known, SCHEMA_VERSION, backup)
        copy = sqlite3.connect(backup)
        try:
            store._db.backup(copy)
        finally:
            copy.close()
    else:
        log.warning("frontier::state has schema version 1 (%d URLs): migrating it to version %d",
                    known, SCHEMA_VERSION)
    store._db.create_function("spyder_fingerprint", 1, fingerprint, deterministic=True)
    store._db.create_function("spyder_seen_value", 2,
                              lambda seq, url: seen_value(seq, check_bits(url)),
                              deterministic=True)
    store._db.create_function("spyder_seen_seq", 1, seen_seq, deterministic=True)
    cur.execute("BEGIN")
    try:
        cur.execute("DROP INDEX IF EXISTS urls_queue_fifo")
        cur.execute("ALTER TABLE urls RENAME TO urls_v1")
        for statement in _URL_SCHEMA:
            if not statement.lstrip().startswith("CREATE TRIGGER"):
                cur.execute(statement)
        cur.execute("INSERT INTO urls (seq, %s) SELECT rowid, %s FROM urls_v1 ORDER BY rowid"
                    % (_COLUMNS, _COLUMNS))
        cur.execute("DROP TABLE urls_v1")
        cur.execute("INSERT INTO schedule (queue, next_date, priority, seq) SELECT queue, "
                    "next_date, priority, seq FROM urls WHERE next_date IS NOT NULL AND queue "
                    "IS NOT NULL ORDER BY 1, 2, 3, 4")
        # the first URL of each fingerprint (MIN: its url is that row's) with its check bits
        cur.execute("INSERT INTO seen (fp, seq) SELECT fp, spyder_seen_value(seq, url) FROM "
                    "(SELECT spyder_fingerprint(url) AS fp, MIN(seq) AS seq, url FROM urls "
                    "GROUP BY 1) ORDER BY 1")
        cur.execute("INSERT INTO seen_collisions (url, seq) SELECT u.url, u.seq FROM urls AS u "
                    "JOIN seen AS s ON s.fp = spyder_fingerprint(u.url) "
                    "WHERE spyder_seen_seq(s.seq) != u.seq")
        for key, value in (("schema_version", SCHEMA_VERSION), ("seen_mark", known and
                           cur.execute("SELECT MAX(seq) FROM urls").fetchone()[0])):
            cur.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                        (key, json.dumps(value)))
        cur.execute("COMMIT")
    except BaseException:
        cur.execute("ROLLBACK")
        raise
    log.warning("frontier::state file migrated to schema version %d", SCHEMA_VERSION)


class SQLiteSingleHostUriQueue(SQLiteStore):
    """All URLs in one queue: the SingleHostFrontier's single politeness window."""

    def __init__(self, db_name, clock=time.time, cache_mb=32, lock=None, bloom_bits=10):
        super().__init__(db_name, clock, cache_mb, lock, bloom_bits)
        self._single = self.queue_id(SINGLE_QUEUE)
        self._commit()

    def _in_queue(self, row):
        return row if row.queue is not None else row._replace(queue=self._single)

    def add_uris(self, rows):
        """Insert many new rows into the queue."""
        super().add_uris(self._in_queue(row) for row in rows)


class SQLiteMultipleHostUriQueue(SQLiteStore):
    """One queue per host (or IP): the MultipleHostFrontier's politeness units."""
