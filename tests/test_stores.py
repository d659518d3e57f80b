"""The frontier stores against the store protocol: every test of the first part runs on
the SQLite store, the in-memory store and the Redis Cluster store alike (the last on a
real cluster, ``conftest.redis_cluster``; skipped where redis-server is missing); the
second part is the SQLite store's own (its file, schema and bulk loading)."""
import sqlite3
import uuid

import pytest

from spyder.core.store.memory import MemoryStore
from spyder.core.store.protocol import RobotsRow, StoreError, UriRow
from spyder.core.store.sqlite import SQLiteMultipleHostUriQueue, SQLiteStore

NOW = 1_700_000_000.0


class Clock:
    def __init__(self, t=NOW):
        self.t = t

    def __call__(self):
        return self.t


def open_redis_store(request, clock, master="m1", prefix=None):
    """A ``RedisStore`` on the session's cluster under a fresh key prefix (one crawl)."""
    from spyder.core.store.rediscluster import RedisStore
    cluster = request.getfixturevalue("redis_cluster")
    prefix = prefix or "t-" + uuid.uuid4().hex[:10]
    return RedisStore("%s/%s" % (cluster.url, prefix), clock=clock, master=master)


@pytest.fixture(params=["sqlite", "memory", "redis"])
def store(request):
    if request.param == "sqlite":
        opened = SQLiteMultipleHostUriQueue(":memory:", clock=Clock())
    elif request.param == "redis":
        opened = open_redis_store(request, Clock())
    else:
        opened = MemoryStore(clock=Clock())
    yield opened
    opened.close()


def _admit(store, *rows):
    return store.admit(list(rows))


def _urls(rows):
    return [r.url for r in rows]


# ---------------------------------------------------------------- URLs
def test_admit_is_the_url_seen_test_for_a_batch(store):
    new = store.admit([UriRow("http://a/", 1, next_date=0.0), UriRow("http://b/", 1, next_date=0.0),
                       UriRow("http://a/", 2, next_date=5.0)])
    assert _urls(new) == ["http://a/", "http://b/"]
    assert new[0].rowid is not None and new[0].rowid < new[1].rowid
    assert store.admit([UriRow("http://a/", 2, next_date=5.0)]) == []
    assert store.find("http://a/") == new[0]
    assert store.find("http://unknown/") is None


def test_record_stores_a_known_rows_new_state(store):
    row, = _admit(store, UriRow("http://localhost", 1, etag="a", next_date=NOW, depth=3))
    new = row._replace(etag="b", mod_date="mod", next_date=NOW + 1, priority=2, attempt=1,
                       status=503)
    store.record(new)
    assert store.find("http://localhost") == new
    store.record(new._replace(rowid=None, queue=2))  # by URL when the rowid is not known
    assert store.find("http://localhost").queue == 2
    assert _urls(store.queue_head(2, 5)) == ["http://localhost"] and store.queue_head(1, 5) == []


def test_queue_head_orders_by_due_time_priority_and_insertion_and_skips_finished_rows(store):
    _admit(store, UriRow("http://l/late", 1, next_date=NOW + 10),
           UriRow("http://l/early", 1, next_date=NOW + 1),
           UriRow("http://l/new", 1, next_date=0.0),
           UriRow("http://l/c", 1, next_date=1.0), UriRow("http://l/a", 1, next_date=1.0),
           UriRow("http://l/first", 1, next_date=1.0, priority=0),
           UriRow("http://other/", 2, next_date=0.0))
    assert _urls(store.queue_head(1, 10)) == ["http://l/new", "http://l/first", "http://l/c",
                                              "http://l/a", "http://l/early", "http://l/late"]
    assert _urls(store.queue_head(1, 1)) == ["http://l/new"]
    early = store.find("http://l/early")
    store.record(early._replace(next_date=None, status=404, reason="status"))
    assert "http://l/early" not in _urls(store.queue_head(1, 10))
    assert store.find("http://l/early").reason == "status"
    assert store.queue_head(3, 5) == []


# ---------------------------------------------------------------- queues
def test_queue_ids_and_due_queues(store):
    assert store.queue_id("localhost") == 1
    assert store.queue_id("localhost") == 1
    assert store.queue_id("127.0.0.1") == 2
    store.put_queue(1, NOW)
    store.put_queue(2, NOW)
    assert store.due_queues(NOW, 10) == [(1, "localhost"), (2, "127.0.0.1")]
    assert store.due_queues(NOW, 1) == [(1, "localhost")]


def test_queue_due_times_follow_every_write_and_a_rollback(store):
    for ident in "abc":
        store.queue_id(ident)
    assert store.due_queues(NOW, 10) == [] and store.earliest_due() is None
    store.put_queue(1, NOW + 5)
    store.lower_queue_due(1, NOW + 9)   # not lower: unchanged
    store.lower_queue_due(2, NOW + 1)   # not due: set
    store.lower_queue_due(3, NOW + 2)
    store.lower_queue_due(3, NOW)       # lower: changed
    assert store.due_queues(NOW + 1, 10) == [(3, "c"), (2, "b")]
    assert store.earliest_due() == NOW
    assert store.take_queue(3) == 0.0
    assert store.take_queue(2) == 0.0
    assert store.earliest_due() == NOW + 5
    store.put_queue(1, NOW + 8)         # later than it was
    assert store.earliest_due() == NOW + 8
    with pytest.raises(RuntimeError), store.atomic():
        store.take_queue(1)
        assert store.due_queues(NOW + 10, 10) == []
        raise RuntimeError("a failed result")
    assert store.due_queues(NOW + 10, 10) == [(1, "a")]
    with pytest.raises(RuntimeError), store.atomic():
        store.lower_queue_due(1, NOW + 1)
        raise RuntimeError("a failed result")
    assert store.due_queues(NOW + 7, 10) == [] and store.earliest_due() == NOW + 8


def test_a_queue_is_never_due_before_its_not_before_time(store):
    for ident in "ab":
        store.queue_id(ident)
    store.put_queue(1, NOW + 5, not_before=NOW + 5)   # put away for politeness
    store.put_queue(2, None, not_before=NOW + 3)      # nothing left, but a delay runs
    store.lower_queue_due(1, 1.0)                     # a new link: due, after the delay
    store.lower_queue_due(2, 2.0)
    assert store.due_queues(NOW + 2.9, 10) == []
    assert store.due_queues(NOW + 3, 10) == [(2, "b")]
    assert store.due_queues(NOW + 5, 10) == [(2, "b"), (1, "a")]
    assert store.queue_not_before(2) == NOW + 3
    assert store.take_queue(2) == NOW + 3
    store.hold_queues([(NOW + 7, 2)])                 # an active queue's delay, kept
    assert store.queue_not_before(2) == NOW + 7
    assert store.queue_not_before(99) is None


# ---------------------------------------------------------------- checkpoints
def test_atomic_rolls_back_everything_inside(store):
    _admit(store, UriRow("http://a/", 1, next_date=0.0))
    a = store.find("http://a/")
    with pytest.raises(RuntimeError):
        with store.atomic():
            _admit(store, UriRow("http://b/", 1, next_date=0.0))
            store.record(a._replace(next_date=None, status=404, reason="status"))
            store.add_scope_host("b")
            store.set_host_control("b", 5.0, None)
            store.put_robots("http://b", RobotsRow(200, "", 9.0, 0, 1.0))
            raise RuntimeError("boom")
    assert store.find("http://b/") is None
    assert store.find("http://a/") == a and _urls(store.queue_head(1, 5)) == ["http://a/"]
    assert store.scope_hosts() == set() and store.host_controls() == {}
    assert store.robots("http://b") is None
    with store.atomic():
        _admit(store, UriRow("http://c/", 1, next_date=0.0))
    assert store.find("http://c/") is not None


def test_commit_holds_the_frontiers_state_and_ends_the_uncommitted_time(store):
    store.commit({})
    assert store.uncommitted_since is None
    store._clock.t = NOW + 3
    _admit(store, UriRow("http://a/", 1, next_date=0.0))
    assert store.uncommitted_since == NOW + 3
    store.commit({"counters": {"known": 1}, "paused": True})
    assert store.uncommitted_since is None
    assert store.state() == {"counters": {"known": 1}, "paused": True}


# ---------------------------------------------------------------- the rest
def test_hosts_parked_urls_robots_sitemaps_and_scope(store):
    assert store.host_queue("a.test") is None
    store.set_host_queue("a.test", 3)
    assert store.host_queue("a.test") == 3
    store.park("http://a.test/1", "a.test")
    store.park("http://a.test/2", "a.test")
    store.park("http://b.test/", "b.test")
    assert sorted(store.parked_hosts(10)) == [("a.test", "http://a.test/1"),
                                              ("b.test", "http://b.test/")]
    assert sorted(store.unpark("a.test")) == ["http://a.test/1", "http://a.test/2"]
    assert store.unpark("a.test") == []
    assert store.robots("http://a.test") is None and store.robots_waiting() == 0
    store.put_robots("http://a.test", RobotsRow(200, "User-agent: *", 99.0, 0, 1.0))
    store.put_robots("http://b.test", RobotsRow(503, "", 99.0, 2, None))
    assert store.robots("http://a.test") == (200, "User-agent: *", 99.0, 0, 1.0)
    assert store.robots("http://a.test").body == "User-agent: *"
    assert store.robots_waiting() == 1
    store.add_sitemap("http://a.test/sitemap.xml", 0)
    store.add_sitemap("http://a.test/sitemap.xml", 1)
    assert store.sitemap_level("http://a.test/sitemap.xml") == 0
    assert store.sitemap_level("http://a.test/") is None
    store.add_scope_host("a.test")
    store.add_scope_host("a.test")
    assert store.scope_hosts() == {"a.test"}


def test_host_stats_add_deltas_and_sort(store):
    store.add_host_stats([("a", 1, 3, 0, 0, 0, None, None), ("b", 2, 1, 0, 0, 0, None, None)])
    store.add_host_stats([("a", None, -1, 2, 1, 100, 404, NOW), ("b", None, 0, 5, 0, 10, 200, NOW)])
    assert store.host_stats("a") == ("a", 1, 2, 2, 1, 100, 404, NOW)
    assert store.host_stats("c") is None
    assert [row[0] for row in store.top_host_stats("fetched", 5)] == ["b", "a"]
    assert [row[0] for row in store.top_host_stats("queued", 1)] == ["a"]
    assert [row[0] for row in store.top_host_stats("host", 5)] == ["a", "b"]
    with pytest.raises(ValueError):
        store.top_host_stats("bytes; DROP TABLE urls", 5)


def test_host_controls(store):
    store.set_host_control("a", 5.0, None)
    store.set_host_control("b", None, 2.0)
    assert store.host_controls() == {"a": (5.0, None), "b": (None, 2.0)}
    store.set_host_control("a", None, None)
    assert store.host_controls() == {"b": (None, 2.0)}


# ---------------------------------------------------------------- the SQLite store's own
def test_a_bulk_load_and_the_repair_of_due_times():
    store = SQLiteMultipleHostUriQueue(":memory:")
    for ident in "ab":
        store.queue_id(ident)
    store.add_uris([UriRow("http://a/", 1, next_date=7.0), UriRow("http://b/", 2, next_date=None)])
    with pytest.raises(sqlite3.IntegrityError):
        store.add_uris([UriRow("http://a/")])
    store.put_queue(2, None, not_before=NOW + 4)
    store.repair_queue_due()
    assert store.due_queues(NOW + 100, 10) == [(1, "a")]


def test_a_file_not_closed_cleanly_is_repaired_on_opening(tmp_path):
    path = str(tmp_path / "state.db")
    store = SQLiteStore(path)
    store.queue_id("a")
    store.add_uris([UriRow("http://a/", 1, next_date=7.0)])
    store.commit({})
    store._db.close()  # a crash: never closed
    reopened = SQLiteStore(path)
    assert reopened.recovered and reopened.due_queues(NOW, 10) == [(1, "a")]
    reopened.close()
    assert not SQLiteStore(path).recovered


def test_commits_are_visible_to_other_readers(tmp_path):
    path = str(tmp_path / "state.db")
    store = SQLiteStore(path, clock=Clock())
    store.admit([UriRow("http://a/", next_date=0.0)])
    reader = sqlite3.connect(path)
    assert reader.execute("SELECT COUNT(*) FROM urls").fetchone()[0] == 0
    store.commit({})
    assert reader.execute("SELECT COUNT(*) FROM urls").fetchone()[0] == 1
    assert reader.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    reader.close()
    store.close()


def _state_file_edited(tmp_path, statement):
    """A new state file's path after ``statement`` changed it behind the store's back."""
    path = str(tmp_path / "state.db")
    SQLiteStore(path).close()
    db = sqlite3.connect(path)
    db.execute(statement)
    db.commit()
    db.close()
    return path


def test_state_files_without_not_before_get_the_column(tmp_path):
    path = _state_file_edited(tmp_path, "ALTER TABLE queues DROP COLUMN not_before")
    store = SQLiteMultipleHostUriQueue(path)
    store.queue_id("a")
    store.put_queue(1, NOW, not_before=NOW)
    assert store.due_queues(NOW, 10) == [(1, "a")]
    store.close()


def test_other_schema_versions_are_refused(tmp_path):
    path = _state_file_edited(tmp_path, "UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="schema version 99"):
        SQLiteStore(path)
