"""The SQLite store's layout (docs/frontier.md, "The state file"): the seen test on
64-bit fingerprints with 15 check bits next to ``seq`` (the URL text compared on a hit
of a row without them, from a file of schema 3 or before), the fresh fingerprints and
schedule entries kept in memory until a merge, exact after a crash and a reopen, the
migration of a schema-1 file, the upgrades of schema-2 and schema-3 files, and the Bloom filter in front of ``seen`` (no false
negative through merges, growth, a crash and a reopen; rebuilt when stale or missing)."""
import json
import os
import random
import sqlite3

import pytest

from spyder.core.store import freshschedule
from spyder.core.store import sqlite as sqlite_store
from spyder.core.store.bloom import BloomFilter, blocks_for
from spyder.core.store.memory import MemoryStore
from spyder.core.store.protocol import StoreError, UriRow
from spyder.core.store.sqlite import (SCHEMA_VERSION, SQLiteMultipleHostUriQueue, SQLiteStore,
                                      check_bits, fingerprint, seen_check, seen_seq, seen_value,
                                      url_keys)


class Clock:
    def __init__(self, t=1_700_000_000.0):
        self.t = t

    def __call__(self):
        return self.t


def _merge_batch(monkeypatch, size=1):
    """Merge the fresh URLs once ``size`` of them are stored (1: at every commit)."""
    monkeypatch.setattr(sqlite_store, "SEEN_BATCH_MIN", size)
    monkeypatch.setattr(sqlite_store, "SEEN_BATCH_MAX", size)


def _every_url_has(monkeypatch, fp, check=None):
    """Every URL gets the fingerprint ``fp`` (collisions on purpose) and, if ``check`` is
    given, those check bits (else its own)."""
    checks = check_bits if check is None else (lambda url: check)
    monkeypatch.setattr(sqlite_store, "fingerprint", lambda url: fp)
    monkeypatch.setattr(sqlite_store, "check_bits", checks)
    monkeypatch.setattr(sqlite_store, "url_keys",
                        lambda urls: ([fp] * len(urls), [checks(url) for url in urls]))


def _heads(store, queues):
    return {q: [(r.url, r.next_date, r.priority) for r in store.queue_head(q, 1000)]
            for q in queues}


def _random_ops(stores, rng, steps, queues=(1, 2, 3)):
    """The same random admits, records and commits on every store; compare as we go."""
    names = ["http://h%d/p%d" % (rng.randrange(3), rng.randrange(400)) for _ in range(600)]
    for step in range(steps):
        batch = [UriRow(rng.choice(names), rng.choice(queues), next_date=float(rng.randrange(5)),
                        priority=rng.randrange(3)) for _ in range(rng.randrange(1, 20))]
        answers = [sorted(r.url for r in store.admit(batch)) for store in stores]
        assert all(a == answers[0] for a in answers)
        for _ in range(rng.randrange(4)):
            url = rng.choice(names)
            found = [store.find(url) for store in stores]
            assert all((f is None) == (found[0] is None) for f in found)
            if found[0] is not None:
                nd = rng.choice([None, float(rng.randrange(10))])
                queue = rng.choice(queues) if step % 7 == 0 else found[0].queue
                for store, row in zip(stores, found):
                    store.record(row._replace(next_date=nd, status=200, queue=queue))
        if step % 5 == 0:
            for store in stores:
                store.commit({"step": step})
        heads = [_heads(store, queues) for store in stores]
        assert all(h == heads[0] for h in heads)


def test_fresh_entries_merged_at_every_commit_behave_like_the_memory_store(monkeypatch):
    _merge_batch(monkeypatch)
    rng = random.Random(7)
    sqlite, memory = SQLiteMultipleHostUriQueue(":memory:"), MemoryStore(Clock())
    for q in "abc":
        sqlite.queue_id(q), memory.queue_id(q)
    _random_ops([sqlite, memory], rng, 300)
    assert sqlite._cur.execute("SELECT COUNT(*) FROM seen").fetchone()[0] > 0


def _file_and_memory(tmp_path, monkeypatch, batch, seed, steps):
    """A state file and a memory store after the same ``steps`` random operations,
    merging every ``batch`` fresh URLs: ``(path, rng, sqlite store, memory store)``."""
    _merge_batch(monkeypatch, batch)
    path = str(tmp_path / "state.db")
    rng = random.Random(seed)
    store, memory = SQLiteMultipleHostUriQueue(path), MemoryStore(Clock())
    for q in "abc":
        store.queue_id(q), memory.queue_id(q)
    _random_ops([store, memory], rng, steps)
    return path, rng, store, memory


def test_a_crash_between_merges_reopens_exactly(tmp_path, monkeypatch):
    path, rng, store, memory = _file_and_memory(tmp_path, monkeypatch, 50, 3, 120)
    store.commit({})
    memory.commit({})
    merged = store._get_meta("seen_mark", 0)
    assert 0 < merged < store._next_seq - 1  # some merged, some fresh
    store.admit([UriRow("http://lost/", 1, next_date=0.0)])  # not committed: lost
    store._cur.execute("ROLLBACK")  # a crash: what was not committed is gone
    store._db.close()
    reopened = SQLiteMultipleHostUriQueue(path)
    assert reopened.recovered and reopened.find("http://lost/") is None
    assert _heads(reopened, (1, 2, 3)) == _heads(memory, (1, 2, 3))
    _random_ops([reopened, memory], rng, 60)
    reopened.close()


def test_a_fingerprint_collision_is_not_a_known_url(monkeypatch):
    _every_url_has(monkeypatch, 42)  # every URL collides
    store = SQLiteMultipleHostUriQueue(":memory:")
    store.queue_id("a")
    new = store.admit([UriRow("http://a/1", 1, next_date=0.0),
                       UriRow("http://a/2", 1, next_date=0.0),
                       UriRow("http://a/1", 1, next_date=0.0)])
    assert [r.url for r in new] == ["http://a/1", "http://a/2"]
    assert store.admit([UriRow("http://a/2", 1), UriRow("http://a/3", 1, next_date=1.0)])[0].url \
        == "http://a/3"
    store.commit({})
    store._merge_fresh()
    assert store.find("http://a/2").rowid == new[1].rowid
    assert store.find("http://a/4") is None
    assert [r.url for r in store.queue_head(1, 5)] == ["http://a/1", "http://a/2", "http://a/3"]
    assert store._cur.execute("SELECT COUNT(*) FROM seen_collisions").fetchone()[0] == 2


def test_fingerprints_are_64_bit_signed_and_stable():
    fp = fingerprint("http://example.com/")
    assert -2 ** 63 <= fp < 2 ** 63
    assert fp == fingerprint("http://example.com/") != fingerprint("http://example.com/a")
    # the keys of every existing state file: these values must never change
    assert fp == 481213410437047035
    assert fingerprint("http://h.example/\u00e9") == -3638847819354073884
    # the batch of the seen test: the same two hashes of each URL (one with a lone
    # surrogate, which a URL text may hold)
    urls = ["http://example.com/", "http://h.example/\u00e9", "http://h.example/\udc80", ""]
    assert url_keys(urls) == ([fingerprint(u) for u in urls], [check_bits(u) for u in urls])
    assert check_bits("http://example.com/") == 3345  # as every state file of schema 4 has it


def test_check_bits_and_seen_values():
    checks = [check_bits("http://h.example/%d" % i) for i in range(20000)]
    assert min(checks) >= 1 and max(checks) <= 32767 and len(set(checks)) > 14000
    for seq in (1, 2 ** 32 - 1):
        for check in (1, 32767):
            value = seen_value(seq, check)
            assert 2 ** 32 <= value < 2 ** 47  # six bytes in SQLite
            assert (seen_seq(value), seen_check(value)) == (seq, check)
    for seq in (1, 2 ** 32 - 1):  # a bare seq: a row of schema 3 or before
        assert (seen_seq(seq), seen_check(seq)) == (seq, 0)
    for seq in (2 ** 32, 2 ** 40 + 3):  # no room for check bits
        assert (seen_seq(seen_value(seq, 5)), seen_check(seen_value(seq, 5))) == (seq, 0)


def _text_reads(store):
    """The statements that read a URL text by seq (the seen test's confirmation)."""
    statements = []
    store._db.set_trace_callback(statements.append)
    return lambda: [s for s in statements if "SELECT url FROM urls WHERE seq" in s
                    or "SELECT seq, url FROM urls WHERE seq IN" in s]


@pytest.mark.parametrize("merged", [False, True])
def test_a_collision_with_other_check_bits_is_stored_and_found_without_reading_texts(
        monkeypatch, merged):
    _every_url_has(monkeypatch, 42)  # every URL collides
    urls = ["http://a/%d" % i for i in range(6)]
    assert len({check_bits(u) for u in urls}) == 6
    store = SQLiteMultipleHostUriQueue(":memory:")
    store.queue_id("a")
    new = store.admit([UriRow(u, 1, next_date=0.0) for u in urls[:4]])
    assert [r.url for r in new] == urls[:4]
    if merged:
        store.commit({})
        store._merge_fresh()
        assert store._cur.execute("SELECT seq FROM seen UNION ALL SELECT seq FROM "
                                  "seen_recent").fetchall() == [
            (seen_value(new[0].rowid, check_bits(urls[0])),)]
    reads = _text_reads(store)
    assert [r.url for r in store.admit([UriRow(u, 1, next_date=0.0) for u in urls[:5]])] == [
        urls[4]]
    assert [store.find(u).rowid for u in urls[:4]] == [r.rowid for r in new]
    assert store.find(urls[5]) is None
    assert reads() == []  # the check bits decided every hit
    assert store._cur.execute("SELECT COUNT(*) FROM seen_collisions").fetchone()[0] == 4


def test_equal_check_bits_are_trusted(monkeypatch):
    """A 64-bit fingerprint and 15 check bits both equal: taken as the same URL (the
    2^-79 the layout accepts; docs/frontier.md), without reading its text."""
    _every_url_has(monkeypatch, 42, check=7)
    store = SQLiteMultipleHostUriQueue(":memory:")
    store.queue_id("a")
    assert [r.url for r in store.admit([UriRow("http://a/1", 1, next_date=0.0)])] == ["http://a/1"]
    reads = _text_reads(store)
    assert store.admit([UriRow("http://a/2", 1, next_date=0.0)]) == []
    assert store.find("http://a/2").url == "http://a/1"
    assert reads() == []


def test_a_failed_result_forgets_only_its_own_fresh_fingerprints():
    store = SQLiteMultipleHostUriQueue(":memory:")
    store.queue_id("a")
    store.admit([UriRow("http://a/1", 1, next_date=0.0)])
    with pytest.raises(RuntimeError), store.atomic():
        store.admit([UriRow("http://a/2", 1, next_date=0.0)])
        raise RuntimeError("the result failed")
    assert store.find("http://a/1") is not None and store.find("http://a/2") is None
    assert [r.url for r in store.admit([UriRow(u, 1, next_date=0.0) for u in
                                        ("http://a/1", "http://a/2")])] == ["http://a/2"]


def test_a_failed_result_leaves_the_queue_heads_as_they_were():
    """New URLs' entries are in memory (``FreshSchedule``): a rolled-back result's new
    entries go, and an entry it dropped by updating its row comes back."""
    store = SQLiteMultipleHostUriQueue(":memory:")
    store.queue_id("a")
    store.admit([UriRow("http://a/%d" % i, 1, next_date=float(i % 2)) for i in range(6)])
    before = _heads(store, (1,))
    with pytest.raises(RuntimeError), store.atomic():
        store.admit([UriRow("http://a/new", 1, next_date=0.0)])
        row = store.find("http://a/2")
        store.record(row._replace(next_date=9.0, status=200))
        assert _heads(store, (1,)) != before
        raise RuntimeError("the result failed")
    assert _heads(store, (1,)) == before
    row = store.find("http://a/2")
    store.record(row._replace(next_date=9.0, status=200))
    assert _heads(store, (1,))[1][-1] == ("http://a/2", 9.0, 1)


def test_entries_kept_in_the_table_when_a_queue_has_many_due_times(tmp_path, monkeypatch):
    """A queue whose new URLs have more due times and priorities than ``MAX_BUCKETS``
    keeps the others' entries in ``temp.fresh_schedule``: its head, merges, a crash and a
    reopen give what the memory store gives."""
    monkeypatch.setattr(freshschedule, "MAX_BUCKETS", 2)
    path, rng, store, memory = _file_and_memory(tmp_path, monkeypatch, 40, 5, 150)
    assert store._cur.execute("SELECT COUNT(*) FROM temp.fresh_schedule").fetchone()[0]
    store.commit({})
    memory.commit({})
    store._db.close()  # a crash after the commit
    store._release()
    reopened = SQLiteMultipleHostUriQueue(path)
    assert reopened.recovered
    assert _heads(reopened, (1, 2, 3)) == _heads(memory, (1, 2, 3))
    _random_ops([reopened, memory], rng, 80)
    reopened.close()


# ---------------------------------------------------------------- schema version 1
_V1 = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE urls (url TEXT PRIMARY KEY, queue INTEGER, etag TEXT, mod_date TEXT,
        next_date REAL, priority INTEGER NOT NULL DEFAULT 1, depth INTEGER NOT NULL DEFAULT 0,
        attempt INTEGER NOT NULL DEFAULT 0, status INTEGER, reason TEXT)""",
    """CREATE INDEX urls_queue_fifo ON urls (queue, next_date, priority)
        WHERE next_date IS NOT NULL""",
    """CREATE TABLE queues (id INTEGER PRIMARY KEY, identifier TEXT NOT NULL UNIQUE,
        next_due REAL, not_before REAL)""",
    """CREATE TABLE host_stats (host TEXT PRIMARY KEY, queue INTEGER,
        queued INTEGER NOT NULL DEFAULT 0, fetched INTEGER NOT NULL DEFAULT 0,
        errors INTEGER NOT NULL DEFAULT 0, bytes INTEGER NOT NULL DEFAULT 0,
        last_status INTEGER, last_time REAL)""",
    "CREATE INDEX host_stats_queued ON host_stats (queued)",
)


def _v1_file(path):
    db = sqlite3.connect(path)
    for statement in _V1:
        db.execute(statement)
    db.executemany("INSERT INTO meta VALUES (?, ?)",
                   [("schema_version", "1"), ("clean", "true"),
                    ("counters", json.dumps({"known": 3}))])
    db.executemany("INSERT INTO queues (identifier, next_due) VALUES (?, ?)", [("a", 1.0)])
    db.executemany("INSERT INTO urls (url, queue, next_date, status, reason, etag) "
                   "VALUES (?, ?, ?, ?, ?, ?)",
                   [("http://a/1", 1, 5.0, 200, None, '"x"'), ("http://a/2", 1, None, 404,
                                                               "status", None),
                    ("http://a/3", 1, 1.0, None, None, None)])
    db.commit()
    db.close()


def test_a_schema_1_file_is_migrated_with_a_backup(tmp_path, caplog):
    path = str(tmp_path / "state.db")
    _v1_file(path)
    store = SQLiteMultipleHostUriQueue(path)
    assert "migrating it to version %d" % SCHEMA_VERSION in caplog.text
    assert store.state()["counters"] == {"known": 3}
    assert store.find("http://a/1").etag == '"x"' and store.find("http://a/2").reason == "status"
    assert [r.url for r in store.queue_head(1, 5)] == ["http://a/3", "http://a/1"]
    assert store.admit([UriRow("http://a/1", 1), UriRow("http://a/4", 1, next_date=0.0)])[0].url \
        == "http://a/4"
    store.close()
    backup = sqlite3.connect(str(tmp_path / "state.db.v1-backup"))
    version = backup.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    assert version == ("1",)
    assert backup.execute("SELECT COUNT(*) FROM urls").fetchone() == (3,)
    backup.close()
    reopened = SQLiteStore(path)  # the current version now: no second migration
    assert reopened._get_meta("schema_version") == SCHEMA_VERSION and len(reopened) == 4
    values = reopened._cur.execute("SELECT u.url, s.seq FROM seen AS s JOIN urls AS u "
                                   "ON u.seq = s.seq & 4294967295").fetchall()
    assert len(values) == 3 and all(seen_check(v) == check_bits(u) for u, v in values)
    reopened.close()


def test_a_schema_1_file_with_a_backup_in_the_way_is_refused(tmp_path):
    path = str(tmp_path / "state.db")
    _v1_file(path)
    open(path + ".v1-backup", "w").close()
    with pytest.raises(StoreError, match="move it away"):
        SQLiteStore(path)
    db = sqlite3.connect(path)  # untouched
    assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("1",)
    db.close()


# ---------------------------------------------------------------- the Bloom filter of seen
def test_the_bloom_filter_never_forgets_a_key_and_rarely_claims_one():
    rng = random.Random(11)
    keys = [rng.getrandbits(64) - 2 ** 63 for _ in range(20000)]
    keys += [-2 ** 63, -1, 0, 1, 2 ** 63 - 1]
    bloom = BloomFilter(blocks_for(len(keys), 10), 10)
    bloom.add_sorted(sorted(keys[:10000]))
    bloom.add_sorted(keys[10000:])  # any order
    assert all(bloom.may_contain(fp) for fp in keys)
    assert bloom.maybe_known(keys) == keys
    others = [rng.getrandbits(64) - 2 ** 63 for _ in range(20000)]
    assert sum(map(bloom.may_contain, others)) < 0.03 * len(others)  # ~1.7 % at 10 bits
    blocks = list(bloom.take_dirty())
    assert [b for b, _ in blocks] == list(range(bloom.blocks))
    copy = BloomFilter(bloom.blocks, 10)
    for block, bits in blocks:
        copy.load_block(block, bits)
    assert all(copy.may_contain(fp) for fp in keys) and list(copy.take_dirty()) == []
    with pytest.raises(ValueError, match="does not fit"):
        copy.load_block(bloom.blocks, bits)


def _seen_keys(store):
    return [fp for (fp,) in store._cur.execute("SELECT fp FROM seen UNION ALL "
                                               "SELECT fp FROM seen_recent")]


def _admit_many(store, urls, rng, commit_every=40):
    for start in range(0, len(urls), 30):
        batch = [UriRow(u, 1, next_date=0.0) for u in urls[start:start + 30]]
        batch += [UriRow(rng.choice(urls[:start + 1]), 1, next_date=0.0) for _ in range(5)]
        store.admit(batch)
        if start // 30 % commit_every == commit_every - 1:
            store.commit({})


def test_every_admitted_url_is_found_again_through_the_bloom_filter(tmp_path, monkeypatch,
                                                                    caplog):
    _merge_batch(monkeypatch, 500)
    caplog.set_level("INFO")
    path = str(tmp_path / "state.db")
    rng = random.Random(5)
    urls = ["http://h%d.example/p/%d" % (i % 7, i) for i in range(12000)]
    store = SQLiteMultipleHostUriQueue(path)
    store.queue_id("a")
    first_blocks = store._bloom.blocks
    _admit_many(store, urls[:9000], rng)
    store.commit({})
    # merged past the first filter's capacity: a larger one was built, and holds seen
    assert store._bloom.blocks > first_blocks
    assert sum(store._levels) == len(_seen_keys(store)) > 6000
    assert all(store._bloom.may_contain(fp) for fp in _seen_keys(store))
    assert store.admit([UriRow(u, 1) for u in urls[:9000:7]]) == []
    assert all(store.find(u) is not None for u in urls[:9000:13])
    _admit_many(store, urls[9000:10500], rng, 10 ** 6)  # not committed: lost in the crash
    store._merge_fresh()  # a crash in the middle of a merge's commit
    store._cur.execute("ROLLBACK")
    store._db.close()
    store._release()
    monkeypatch.setattr(sqlite_store, "_LOUD_KEYS", 1)
    caplog.clear()
    reopened = SQLiteMultipleHostUriQueue(path)
    assert "Bloom filter" not in caplog.text  # read as the last commit left it, not built
    assert reopened._bloom.blocks == reopened._get_meta("bloom")["blocks"]
    assert all(reopened._bloom.may_contain(fp) for fp in _seen_keys(reopened))
    assert all(reopened.find(u) is not None for u in urls[:9000])
    assert all(reopened.find(u) is None for u in urls[9000:])
    new = reopened.admit([UriRow(u, 1, next_date=0.0) for u in urls[8990:9010]])
    assert [r.url for r in new] == urls[9000:9010]
    reopened.close()
    again = SQLiteMultipleHostUriQueue(path)
    assert all(again.find(u) is not None for u in urls[:9010])
    again.close()


def test_a_larger_filter_is_filled_a_slice_per_commit_while_the_old_one_serves(
        tmp_path, monkeypatch):
    """Once the merged keys pass the filter's room, one with room for twice them is
    filled a slice of keys per commit -- never built in one go -- and neither filter
    misses a key at any commit, through merges into seen_recent and moves of it into
    seen; a crash in the middle of a fill leaves the old filter, and the fill starts
    again."""
    _merge_batch(monkeypatch, 300)
    monkeypatch.setattr(sqlite_store, "BLOOM_STEP_MIN", 500)
    monkeypatch.setattr(sqlite_store, "BLOOM_PACE", 1)  # slow: several commits per fill
    path = str(tmp_path / "state.db")
    store = SQLiteMultipleHostUriQueue(path, bloom_bits=10)  # (its first filter: built)
    store.queue_id("a")
    monkeypatch.setattr(SQLiteStore, "_build_bloom",
                        lambda self, why, say=None: pytest.fail("built in one go: " + why))
    urls = ["http://h%d.example/%d" % (i % 5, i) for i in range(40000)]
    rng = random.Random(4)
    rooms, fill_commits, crashed = [store._bloom.room], 0, False
    for start in range(0, len(urls), 300):
        _admit_many(store, urls[start:start + 300], rng, 10 ** 6)
        store.commit({})
        keys = _seen_keys(store)
        assert all(store._bloom.may_contain(fp) for fp in keys)
        filling = store._filling
        if filling is not None:
            fill_commits += 1
            assert filling.after is not None and filling.bloom.room >= 2 * rooms[-1]
            assert all(filling.bloom.may_contain(fp) for fp in keys if fp <= filling.after)
            if not crashed and len(rooms) == 3:  # a crash in the middle of the third fill
                crashed = True
                store._db.close()
                store._release()
                store = SQLiteMultipleHostUriQueue(path, bloom_bits=10)
                assert store._bloom.room == rooms[-1]  # the old one, as committed
                assert store._filling is not None and store._filling.after is None
                assert all(store._bloom.may_contain(fp) for fp in _seen_keys(store))
        if store._bloom.room != rooms[-1]:
            assert store._bloom.room >= 2 * rooms[-1]
            rooms.append(store._bloom.room)
    store.close()
    assert crashed and len(rooms) >= 4 and fill_commits >= 3 * len(rooms)
    reopened = SQLiteMultipleHostUriQueue(path, bloom_bits=10)
    assert reopened._bloom.room == rooms[-1]
    assert all(reopened._bloom.may_contain(fp) for fp in _seen_keys(reopened))
    assert reopened.admit([UriRow(u, 1) for u in urls]) == []
    reopened.close()


@pytest.mark.parametrize("damage", ["stale", "missing"])
def test_a_stale_or_missing_bloom_filter_is_built_again_from_seen(tmp_path, monkeypatch, caplog,
                                                                 damage):
    _merge_batch(monkeypatch, 300)
    monkeypatch.setattr(sqlite_store, "_LOUD_KEYS", 1)
    path = str(tmp_path / "state.db")
    rng = random.Random(9)
    urls = ["http://h.example/%d" % i for i in range(3000)]
    store = SQLiteMultipleHostUriQueue(path)
    store.queue_id("a")
    _admit_many(store, urls[:1500], rng)
    store.commit({})  # the merge the last one started
    store.close()
    if damage == "stale":  # merged by a Spyder without the filter: seen moved on
        older = SQLiteMultipleHostUriQueue(path, bloom_bits=0)
        _admit_many(older, urls[1500:], rng)
        older.close()
    else:
        db = sqlite3.connect(path)
        db.execute("DELETE FROM bloom")
        db.execute("DELETE FROM meta WHERE key = 'bloom'")
        db.commit()
        db.close()
        urls = urls[:1500]
    caplog.clear()
    reopened = SQLiteMultipleHostUriQueue(path)
    reason = "the one in the file is stale" if damage == "stale" else "none in the file"
    assert "building the Bloom filter of the URL-seen test (%s)" % reason in caplog.text
    assert "Bloom filter built in" in caplog.text
    keys = _seen_keys(reopened)
    assert sum(reopened._levels) == len(keys) > 1000
    assert all(reopened._bloom.may_contain(fp) for fp in keys)
    assert reopened.admit([UriRow(u, 1) for u in urls]) == []
    reopened.close()
    caplog.clear()
    SQLiteMultipleHostUriQueue(path).close()  # stored with the rebuild: read, not built
    assert "Bloom filter" not in caplog.text


def test_the_bloom_filter_spares_the_seen_look_up_of_new_links(monkeypatch):
    _merge_batch(monkeypatch, 100)
    store = SQLiteMultipleHostUriQueue(":memory:")
    store.queue_id("a")
    _admit_many(store, ["http://h/%d" % i for i in range(600)], random.Random(1), 1)
    store.commit({})
    looked_up = []
    store._db.set_trace_callback(lambda sql: looked_up.append(sql)
                                 if "FROM seen WHERE" in sql else None)
    assert len(store.admit([UriRow("http://h/new/%d" % i, 1) for i in range(30)])) == 30
    assert looked_up == []  # none of the 30 in the filter (a false positive here: 1 in 10^6)
    assert store.admit([UriRow("http://h/1", 1)]) == [] and len(looked_up) == 1


# ---------------------------------------------------------------- the two levels of seen
def _sliced(monkeypatch, caplog, **constants):
    """The store's slices per commit set by ``constants``, and its work on them logged."""
    for name, value in constants.items():
        monkeypatch.setattr(sqlite_store, name, value)
    monkeypatch.setattr(sqlite_store, "_LOUD_KEYS", 1)
    caplog.set_level("INFO")


def _level_counts(store):
    return [store._cur.execute("SELECT COUNT(*) FROM %s" % t).fetchone()[0]
            for t in ("seen", "seen_recent")]


def test_merges_fill_seen_recent_and_move_it_into_seen_now_and_then(tmp_path, monkeypatch):
    _merge_batch(monkeypatch, 200)
    monkeypatch.setattr(sqlite_store, "SEEN_MOVE_STEP_MIN", 1)
    path = str(tmp_path / "state.db")
    rng = random.Random(2)
    urls = ["http://h%d.example/%d" % (i % 3, i) for i in range(6000)]
    store = SQLiteMultipleHostUriQueue(path)
    store.queue_id("a")
    seen = []
    for start in range(0, 5400, 300):
        _admit_many(store, urls[start:start + 300], rng, 10 ** 6)
        store.commit({})
        assert _level_counts(store) == store._levels == store._get_meta("seen_levels")
        seen.append(tuple(store._levels))
    assert any(b < a for (_, a), (_, b) in zip(seen, seen[1:])) and max(r for _, r in seen) > 200
    assert len({big for big, _ in seen}) >= 3  # seen took the recent keys several times
    keys = _seen_keys(store)
    assert len(keys) == len(set(keys)) == sum(store._levels)
    assert all(store.find(u) is not None for u in urls[:5400])
    assert store.admit([UriRow(u, 1) for u in urls[:5400]]) == []
    store.close()


def test_seen_recent_moves_into_seen_a_slice_per_commit_and_a_crash_loses_one_slice(
        tmp_path, monkeypatch, caplog):
    """The move of seen_recent into seen goes in key order, a slice per commit, never in
    one pass: every URL stays found at each commit (merges go on meanwhile; the keys they
    put behind the cut stay in seen_recent); a crash in the middle loses the uncommitted
    slice only, and the reopened store goes on from the last committed key."""
    _merge_batch(monkeypatch, 300)
    # slow: many commits per move
    _sliced(monkeypatch, caplog, SEEN_MOVE_STEP_MIN=50, SEEN_MOVE_SPREAD=8)
    path = str(tmp_path / "state.db")
    rng = random.Random(3)
    urls = ["http://h%d.example/%d" % (i % 4, i) for i in range(30000)]
    store = SQLiteMultipleHostUriQueue(path)
    store.queue_id("a")
    steps, cuts, crashed, admitted = 0, [], False, 0
    for start in range(0, len(urls), 150):
        _admit_many(store, urls[start:start + 150], rng, 10 ** 6)
        admitted = start + 150
        move = store._move
        if move is not None and move.after is not None and not crashed and len(cuts) >= 3:
            # a crash with one step done and not committed: that step is lost
            before = move.after
            store.commit({})  # holds the last 150 URLs and the next step
            assert store._move is not None and store._move.after > before
            committed = (list(store._levels), store._move.after)
            store._move_step()  # not committed
            assert store._move is None or store._move.after > committed[1]
            store._db.close()
            store._release()
            store = SQLiteMultipleHostUriQueue(path)
            assert (store._levels, store._move.after) == committed  # not the lost step
            assert store._levels == _level_counts(store) == store._get_meta("seen_levels")
            crashed = True
            continue
        store.commit({})
        assert _level_counts(store) == store._levels
        move = store._move
        if move is not None and move.after is not None:
            steps += 1
            assert not cuts or move.after > cuts[-1] or move.commits == 1
            cuts.append(move.after)
        keys = _seen_keys(store)
        assert len(keys) == len(set(keys)) == sum(store._levels)
        assert all(store.find(u) is not None for u in urls[:admitted:37])
    assert crashed and steps >= 10
    assert "moving seen_recent" in caplog.text and "moved into seen" in caplog.text
    assert store.admit([UriRow(u, 1) for u in urls]) == []
    store.close()
    reopened = SQLiteMultipleHostUriQueue(path)
    assert reopened._levels == _level_counts(reopened)
    assert reopened.admit([UriRow(u, 1) for u in urls]) == []
    reopened.close()


def _check_merge_state(store, urls):
    """Every stored URL's key is in exactly one place -- the levels, the part of a merge
    under way not merged yet, the fresh index -- the counts and the filter agree, and
    every row due has one schedule entry, in ``temp.fresh_schedule`` or in memory
    (``FreshSchedule``) exactly when it is above the merge's ``upto`` (the schedule's
    mark)."""
    keys = _seen_keys(store)
    assert len(keys) == len(set(keys)) == sum(store._levels)
    assert _level_counts(store) == store._levels == store._get_meta("seen_levels")
    merge = store._merge
    pending = [] if merge is None else [fp for fp in merge.index if merge.after is None
                                        or fp > merge.after]
    assert set(keys).isdisjoint(pending) and set(keys).isdisjoint(store._fresh)
    assert set(pending).isdisjoint(store._fresh)
    rows = store._cur.execute("SELECT seq, url FROM urls").fetchall()
    assert len(keys) + len(pending) + len(store._fresh) == len(rows)
    assert all(store._bloom.may_contain(fp) for fp in keys)
    mark = store._get_meta("seen_mark", 0)
    assert store._get_meta("seen_merge") == (None if merge is None else {
        "upto": merge.upto, "after": merge.after, "pace": merge.pace,
        "queues": merge.queues, "queue": merge.queue})
    due = store._cur.execute("SELECT queue, next_date, priority, seq FROM urls WHERE "
                             "next_date IS NOT NULL ORDER BY seq").fetchall()
    scheduled = store._cur.execute("SELECT queue, next_date, priority, seq FROM schedule "
                                   ).fetchall()
    fresh = (store._cur.execute("SELECT * FROM temp.fresh_schedule").fetchall()
             + list(store._fresh_schedule.entries()))
    assert sorted(scheduled + fresh, key=lambda e: e[3]) == due

    def merged(entry):  # where the row's entry belongs
        queue, _, _, seq = entry
        return seq <= mark or (merge is not None and seq <= merge.upto
                               and queue <= merge.queue)
    assert all(merged(entry) for entry in scheduled)
    assert not any(merged(entry) for entry in fresh)
    assert all(store.find(u) is not None for u in urls[::17])


def test_a_merge_goes_into_seen_recent_a_slice_per_commit_and_a_crash_loses_one_slice(
        tmp_path, monkeypatch, caplog):
    """The fresh keys go into seen_recent in key order, and their schedule entries into
    schedule by queue, a slice per commit, while new URLs arrive and rows are recorded
    (moved to other queues too): at every commit each key is in one place, every URL is
    found and every due row has one schedule entry where its seq and queue say; a crash
    with one step and some URLs not committed reopens at the last committed slice,
    loses those URLs only, and the merge goes on."""
    _merge_batch(monkeypatch, 1500)
    # slow: many commits per merge
    _sliced(monkeypatch, caplog, SEEN_MERGE_SLICED_MIN=1000, SEEN_MERGE_STEP_MIN=10,
            SEEN_MERGE_SPREAD=1)
    path = str(tmp_path / "state.db")
    rng = random.Random(11)
    urls = ["http://h%d.example/%d" % (i % 3, i) for i in range(9000)]
    store = SQLiteMultipleHostUriQueue(path)
    for q in "abc":
        store.queue_id(q)
    cuts, queue_cuts, crashed, admitted = [], set(), False, 0
    for start in range(0, len(urls), 60):
        batch = [UriRow(u, 1 + i % 3, next_date=float(i % 7)) for i, u in
                 enumerate(urls[start:start + 60], start)]
        store.admit(batch + [UriRow(rng.choice(urls[:start + 1]), 1) for _ in range(5)])
        for url in rng.sample(urls[:start + 60], 3):  # recorded: their entries move
            row = store.find(url)
            store.record(row._replace(queue=rng.choice((1, 2, 3)), status=200,
                                      next_date=None if rng.random() < 0.5 else 9.5))
        admitted = start + 60
        merge = store._merge
        if merge is not None and merge.after is not None and not crashed and len(cuts) >= 5:
            store.commit({})  # holds the last URLs and the next slice
            committed = (list(store._levels), store._merge.upto, store._merge.after,
                         store._merge.queue)
            store._merge_step()  # not committed
            store.admit([UriRow("http://lost.example/%d" % i, 1, next_date=0.0)
                         for i in range(20)])
            store._cur.execute("ROLLBACK")  # a crash: what was not committed is gone
            store._db.close()
            store._release()
            store = SQLiteMultipleHostUriQueue(path)
            assert (store._levels, store._merge.upto, store._merge.after,
                    store._merge.queue) == committed
            assert store.find("http://lost.example/3") is None
            _check_merge_state(store, urls[:admitted])
            crashed = True
            continue
        store.commit({})
        merge = store._merge
        if merge is not None and merge.after is not None:
            assert not cuts or merge.after > cuts[-1] or merge.commits == 1
            cuts.append(merge.after)
            queue_cuts.add(merge.queue)  # the schedule's part: a queue range per commit
        _check_merge_state(store, urls[:admitted])
    assert crashed and len(cuts) >= 20 and {1, 2} <= queue_cuts
    assert "fresh URLs merged into seen_recent over" in caplog.text
    assert store.admit([UriRow(u, 1) for u in urls]) == []
    store._finish_merge()
    _check_merge_state(store, urls)
    store.close()
    reopened = SQLiteMultipleHostUriQueue(path)
    _check_merge_state(reopened, urls)
    assert reopened.admit([UriRow(u, 1) for u in urls]) == []
    reopened.close()


def _file_of_700(tmp_path, monkeypatch):
    """A state file with one queue, merging every 100 fresh URLs, and the 700 URLs the
    upgrade tests admit: ``(path, urls, store)``."""
    _merge_batch(monkeypatch, 100)
    path = str(tmp_path / "state.db")
    store = SQLiteMultipleHostUriQueue(path)
    store.queue_id("a")
    return path, ["http://h.example/%d" % i for i in range(700)], store


def test_a_schema_2_file_is_upgraded_in_place(tmp_path, monkeypatch, caplog):
    path, urls, store = _file_of_700(tmp_path, monkeypatch)
    _admit_many(store, urls, random.Random(4), 3)
    store.close()
    db = sqlite3.connect(path)  # what a schema-2 Spyder leaves: one level, no filter
    db.execute("INSERT INTO seen SELECT fp, seq FROM seen_recent")
    db.execute("DROP TABLE seen_recent")
    db.execute("DROP TABLE bloom")
    db.execute("DELETE FROM meta WHERE key IN ('seen_levels', 'bloom')")
    db.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    db.commit()
    merged = db.execute("SELECT COUNT(*) FROM seen").fetchone()[0]
    db.close()
    reopened = SQLiteMultipleHostUriQueue(path)
    assert "schema version 2: upgraded to %d" % SCHEMA_VERSION in caplog.text
    assert reopened._get_meta("schema_version") == SCHEMA_VERSION and reopened._levels == [merged, 0]
    assert reopened.admit([UriRow(u, 1) for u in urls]) == []
    reopened.close()


def _as_schema_3(path, statements=()):
    """Turn a closed state file into what a schema-3 Spyder leaves: bare seqs in ``seen``
    and ``seen_recent`` (no check bits), version 3."""
    db = sqlite3.connect(path)
    for table in ("seen", "seen_recent"):
        db.execute("UPDATE %s SET seq = seq & 4294967295" % table)
    db.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    for statement in statements:
        db.execute(*statement)
    db.commit()
    db.close()


def test_a_schema_3_file_is_upgraded_in_place(tmp_path, monkeypatch, caplog):
    path, urls, store = _file_of_700(tmp_path, monkeypatch)
    _admit_many(store, urls[:650], random.Random(4), 3)
    store.commit({"step": 1})
    store._finish_merge()
    store.admit([UriRow(u, 1, next_date=0.0) for u in urls[650:]])
    fresh = len(store._fresh)
    store.close()
    assert 50 <= fresh < 150
    _as_schema_3(path)
    db = sqlite3.connect(path)
    bare = db.execute("SELECT seq FROM seen UNION ALL SELECT seq FROM seen_recent").fetchall()
    assert len(bare) == 700 - fresh and max(bare)[0] < 2 ** 32
    db.close()
    reopened = SQLiteMultipleHostUriQueue(path)
    assert "schema version 3: upgraded to %d" % SCHEMA_VERSION in caplog.text
    assert reopened._get_meta("schema_version") == SCHEMA_VERSION and reopened.state() == {"step": 1}
    # upgraded in place: the old values are kept as they were, without check bits
    assert reopened._cur.execute(
        "SELECT seq FROM seen UNION ALL SELECT seq FROM seen_recent").fetchall() == bare
    reads = _text_reads(reopened)
    assert reopened.admit([UriRow(u, 1) for u in urls]) == []  # the old rows: by their text
    assert all(reopened.find(u).url == u for u in urls)
    assert reads()  # the rows without check bits were confirmed by their text
    more = ["http://h.example/new/%d" % i for i in range(300)]
    _admit_many(reopened, more, random.Random(5), 3)
    reopened.commit({})
    reopened.close()
    again = SQLiteMultipleHostUriQueue(path)
    assert "upgraded" not in caplog.text.split("upgraded to %d" % SCHEMA_VERSION, 1)[1]  # once
    reads = _text_reads(again)
    assert again.admit([UriRow(u, 1) for u in more]) == []
    assert all(again.find(u).url == u for u in more)
    assert reads() == []  # the new rows: by their check bits
    assert again.admit([UriRow(u, 1) for u in urls]) == []
    assert len(again.admit([UriRow("http://h.example/x/%d" % i, 1) for i in range(10)])) == 10
    again.close()


def test_a_schema_3_collision_is_still_told_apart_by_the_text(tmp_path, monkeypatch):
    _every_url_has(monkeypatch, 42)
    path = str(tmp_path / "state.db")
    store = SQLiteMultipleHostUriQueue(path)
    store.queue_id("a")
    store.admit([UriRow(u, 1, next_date=0.0) for u in ("http://a/1", "http://a/2")])
    store.commit({})
    store._merge_fresh()
    store.close()
    _as_schema_3(path)
    reopened = SQLiteMultipleHostUriQueue(path)
    assert reopened.admit([UriRow(u, 1, next_date=0.0) for u in
                           ("http://a/1", "http://a/2", "http://a/3")])[0].url == "http://a/3"
    assert [reopened.find(u).rowid for u in ("http://a/1", "http://a/2", "http://a/3")] == [1, 2, 3]
    assert reopened.find("http://a/4") is None
    reopened.close()


def test_a_schema_3_seq_of_2_32_or_more_is_not_read_as_check_bits(tmp_path, caplog):
    path = str(tmp_path / "state.db")
    store = SQLiteMultipleHostUriQueue(path)
    store.queue_id("a")
    store.admit([UriRow("http://a/1", 1, next_date=0.0)])
    store.commit({})
    store._merge_fresh()
    store.close()
    far = 2 ** 32 + 5
    _as_schema_3(path, [
        ("INSERT INTO urls (seq, url, queue, next_date) VALUES (?, 'http://a/far', 1, 0.0)",
         (far,)),
        ("INSERT INTO seen (fp, seq) VALUES (?, ?)", (fingerprint("http://a/far"), far)),
        ("UPDATE meta SET value = ? WHERE key = 'seen_mark'", (str(far),)),
        ("DELETE FROM meta WHERE key IN ('seen_levels', 'bloom')",)])
    reopened = SQLiteMultipleHostUriQueue(path)
    assert "schema version 3: upgraded to %d" % SCHEMA_VERSION in caplog.text
    assert reopened.find("http://a/far").rowid == far
    assert reopened.find("http://a/1").rowid == 1
    new = reopened.admit([UriRow(u, 1, next_date=0.0) for u in ("http://a/far", "http://a/2")])
    assert [(r.url, r.rowid) for r in new] == [("http://a/2", far + 1)]
    reopened.commit({})
    reopened._merge_fresh()
    assert reopened.find("http://a/2").rowid == far + 1
    assert reopened.admit([UriRow("http://a/2", 1), UriRow("http://a/far", 1)]) == []
    reopened.close()
