"""The SQLite stores: the original's single/multiple queue tests, ported, plus the new tables."""
import sqlite3

import pytest

from spyder.core.store.sqlite import (QueueException, SQLiteMultipleHostUriQueue,
                                      SQLiteSingleHostUriQueue, SQLiteStore, UriRow)

NOW = 1_700_000_000.0


def _columns(row):
    """Every stored column except the rowid (and the queue the single store fills in)."""
    return row._replace(rowid=None)


# ---------------------------------------------------------------- single host store
def test_single_store_puts_every_row_in_its_one_queue():
    store = SQLiteSingleHostUriQueue(":memory:")
    row = UriRow("http://localhost", etag='"etag"', mod_date="Tue, 15 Nov 1994 12:45:26 GMT",
                 next_date=NOW, priority=1)
    store.add_uris([row])
    assert len(store) == 1
    stored = store.find_uri("http://localhost")
    assert _columns(stored) == row._replace(queue=store.queue_id)
    assert stored.rowid == 1
    assert store.find_uri("http://unknown/") is None


def test_record_stores_the_outcome_of_a_visit():
    store = SQLiteSingleHostUriQueue(":memory:")
    store.add_uris([UriRow("http://localhost", etag="a", next_date=NOW, priority=1, depth=3)])
    store.record("http://localhost", "b", "mod", NOW + 1, 2, 1, 503, None)
    assert _columns(store.find_uri("http://localhost")) == UriRow(
        "http://localhost", store.queue_id, "b", "mod", NOW + 1, 2, 3, 1, 503, None)


def test_head_of_orders_by_due_time_and_skips_finished_rows():
    store = SQLiteSingleHostUriQueue(":memory:")
    store.add_uris([UriRow("http://localhost/late", next_date=NOW + 10),
                    UriRow("http://localhost/early", next_date=NOW + 1),
                    UriRow("http://localhost/new", next_date=0.0)])
    assert [r.url for r in store.head_of(store.queue_id, 3)] == [
        "http://localhost/new", "http://localhost/early", "http://localhost/late"]
    assert [r.url for r in store.head_of(store.queue_id, 1)] == ["http://localhost/new"]
    store.ignore_uri("http://localhost/early", 404)
    assert [r.url for r in store.head_of(store.queue_id, 3)] == ["http://localhost/new",
                                                                 "http://localhost/late"]
    ignored = store.find_uri("http://localhost/early")
    assert (ignored.next_date, ignored.status, ignored.reason) == (None, 404, "status")
    assert len(store) == 3


def test_equal_due_times_keep_insertion_order_and_priority_counts_first():
    store = SQLiteSingleHostUriQueue(":memory:")
    store.add_uris([UriRow("http://l/c", next_date=1.0, priority=1),
                    UriRow("http://l/a", next_date=1.0, priority=1),
                    UriRow("http://l/b", next_date=1.0, priority=1),
                    UriRow("http://l/first", next_date=1.0, priority=0)])
    assert [r.url for r in store.head_of(store.queue_id, 4)] == [
        "http://l/first", "http://l/c", "http://l/a", "http://l/b"]


# ---------------------------------------------------------------- multiple host store
def test_multiple_store_keeps_queues_apart():
    store = SQLiteMultipleHostUriQueue(":memory:")
    store.add_uris([UriRow("http://a/2", 1, next_date=NOW + 2),
                    UriRow("http://a/1", 1, next_date=NOW + 1),
                    UriRow("http://a/3", 1, next_date=NOW + 3),
                    UriRow("http://b/1", 2, next_date=NOW)])
    assert [r.url for r in store.head_of(1, 2)] == ["http://a/1", "http://a/2"]
    store.ignore_uri("http://a/1", 404)
    assert [r.url for r in store.head_of(1, 5)] == ["http://a/2", "http://a/3"]
    assert [r.url for r in store.head_of(2, 5)] == ["http://b/1"]
    store.set_uri_queue("http://b/1", 1)
    assert store.head_of(2, 5) == [] and store.find_uri("http://b/1").queue == 1
    assert store.earliest_in_queue(1) == NOW
    assert store.earliest_in_queue(3) is None


def test_that_queues_work():
    store = SQLiteMultipleHostUriQueue(":memory:")
    assert store.add_or_create_queue("localhost") == 1
    assert store.add_or_create_queue("localhost") == 1
    assert store.add_or_create_queue("127.0.0.1") == 2
    store.set_queue_due(1, NOW)
    store.set_queue_due(2, NOW)
    assert store.due_queues(NOW, 10) == [(1, "localhost"), (2, "127.0.0.1")]


def test_queue_due_times():
    store = SQLiteMultipleHostUriQueue(":memory:")
    for ident in "abc":
        store.add_or_create_queue(ident)
    assert store.due_queues(NOW, 10) == [] and store.earliest_queue_due() is None
    store.set_queue_due(1, NOW + 5)
    store.lower_queue_due(1, NOW + 9)   # not lower: unchanged
    store.lower_queue_due(2, NOW + 1)   # NULL: set
    store.lower_queue_due(3, NOW + 2)
    store.lower_queue_due(3, NOW)       # lower: changed
    assert store.due_queues(NOW + 1, 10) == [(3, "c"), (2, "b")]
    assert store.due_queues(NOW + 10, 1) == [(3, "c")]
    assert store.earliest_queue_due() == NOW
    store.add_uris([UriRow("http://a/", 1, next_date=7.0), UriRow("http://c/", 3, next_date=None)])
    store.repair_queue_due()
    assert store.due_queues(NOW + 100, 10) == [(1, "a")]


def test_the_earliest_due_time_follows_every_write_and_a_rollback():
    """The store keeps the earliest due time in memory (no statement while no queue is
    due); every write that changes it, and a rolled-back savepoint, keep it right."""
    store = SQLiteMultipleHostUriQueue(":memory:")
    for ident in "ab":
        store.add_or_create_queue(ident)
    assert store.earliest_queue_due() is None and store.due_queues(NOW, 10) == []
    store.set_queue_due(1, NOW + 5)
    assert store.earliest_queue_due() == NOW + 5
    store.lower_queue_due(2, NOW + 3)
    assert store.earliest_queue_due() == NOW + 3
    assert store.take_queue(2) == 0.0
    assert store.earliest_queue_due() == NOW + 5
    store.set_queue_due(1, NOW + 8)               # later than it was
    assert store.earliest_queue_due() == NOW + 8
    with pytest.raises(RuntimeError), store.atomic():
        store.take_queue(1)
        assert store.due_queues(NOW + 10, 10) == []
        raise RuntimeError("a failed result")
    assert store.due_queues(NOW + 10, 10) == [(1, "a")]
    with pytest.raises(RuntimeError), store.atomic():
        store.lower_queue_due(1, NOW + 1)
        raise RuntimeError("a failed result")
    store.lower_queue_due(1, NOW + 9)             # not lower than NOW + 8: unchanged
    assert store.due_queues(NOW + 8, 10) == [(1, "a")] and store.due_queues(NOW + 7, 10) == []
    store.lower_queue_due(1, NOW + 2)
    assert store.due_queues(NOW + 2, 10) == [(1, "a")]
    store.lift_queue_hold(1)                      # no URLs: not due any more
    assert store.earliest_queue_due() is None
    store.set_queue_due(2, None, not_before=NOW + 4)
    store.lower_queue_due(2, NOW + 1)             # due, but not before its delay
    assert store.due_queues(NOW + 3, 10) == [] and store.earliest_queue_due() == NOW + 4


def test_a_queue_is_never_due_before_its_not_before_time():
    store = SQLiteMultipleHostUriQueue(":memory:")
    for ident in "ab":
        store.add_or_create_queue(ident)
    store.set_queue_due(1, NOW + 5, not_before=NOW + 5)   # put away for politeness
    store.set_queue_due(2, None, not_before=NOW + 3)      # nothing left, but a delay runs
    store.lower_queue_due(1, 1.0)                         # a new link: due, after the delay
    store.lower_queue_due(2, 2.0)
    assert store.due_queues(NOW + 2.9, 10) == []
    assert store.due_queues(NOW + 3, 10) == [(2, "b")]
    assert store.due_queues(NOW + 5, 10) == [(2, "b"), (1, "a")]
    store.add_uris([UriRow("http://a/", 1, next_date=1.0), UriRow("http://b/", 2, next_date=1.0)])
    store.repair_queue_due()
    assert store.due_queues(NOW + 4, 10) == [(2, "b")]


def test_state_files_without_not_before_get_the_column(tmp_path):
    path = str(tmp_path / "state.db")
    SQLiteStore(path).close()
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE queues DROP COLUMN not_before")
    db.commit()
    db.close()
    store = SQLiteMultipleHostUriQueue(path)
    store.add_or_create_queue("a")
    store.set_queue_due(1, NOW, not_before=NOW)
    assert store.due_queues(NOW, 10) == [(1, "a")]
    store.close()


# ---------------------------------------------------------------- the rest of the state
def test_insert_new_is_the_url_seen_test():
    store = SQLiteStore(":memory:")
    assert store.insert_new(UriRow("http://a/", 1, next_date=0.0)) == 1
    assert store.insert_new(UriRow("http://a/", 2, next_date=5.0)) is None
    assert store.find_uri("http://a/").queue == 1
    with pytest.raises(sqlite3.IntegrityError):
        store.add_uris([UriRow("http://a/")])


def test_atomic_rolls_back_everything_inside():
    store = SQLiteStore(":memory:")
    store.insert_new(UriRow("http://a/", next_date=0.0))
    with pytest.raises(RuntimeError):
        with store.atomic():
            store.insert_new(UriRow("http://b/", next_date=0.0))
            store.ignore_uri("http://a/", 404)
            raise RuntimeError("boom")
    assert store.find_uri("http://b/") is None
    assert store.find_uri("http://a/").next_date == 0.0
    with store.atomic():
        store.insert_new(UriRow("http://c/", next_date=0.0))
    assert store.find_uri("http://c/") is not None


def test_commits_are_explicit_and_visible_to_other_readers(tmp_path):
    path = str(tmp_path / "state.db")
    clock = [5.0]
    store = SQLiteStore(path, clock=lambda: clock[0])
    assert store.txn_started is None and not store.in_transaction
    store.insert_new(UriRow("http://a/", next_date=0.0))
    assert store.txn_started == 5.0
    reader = sqlite3.connect(path)
    assert reader.execute("SELECT COUNT(*) FROM urls").fetchone()[0] == 0
    store.checkpoint()
    assert reader.execute("SELECT COUNT(*) FROM urls").fetchone()[0] == 1
    assert reader.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    reader.close()
    store.close()


def test_hosts_unresolved_robots_scope_and_meta():
    store = SQLiteStore(":memory:")
    assert store.get_host_queue("a.test") is None
    store.set_host_queue("a.test", 3)
    assert store.get_host_queue("a.test") == 3
    store.add_unresolved("http://a.test/1", "a.test")
    store.add_unresolved("http://a.test/2", "a.test")
    store.add_unresolved("http://b.test/", "b.test")
    assert store.unresolved_hosts(10) == [("a.test", "http://a.test/1"),
                                          ("b.test", "http://b.test/")]
    assert sorted(store.take_unresolved("a.test")) == ["http://a.test/1", "http://a.test/2"]
    assert store.take_unresolved("a.test") == []
    assert store.get_robots("http://a.test") is None
    store.put_robots("http://a.test", 200, "User-agent: *", 99.0, 0, 1.0)
    assert store.get_robots("http://a.test") == (200, "User-agent: *", 99.0, 0, 1.0)
    store.add_scope_host("a.test")
    store.add_scope_host("a.test")
    assert store.scope_hosts() == {"a.test"}
    store.set_meta("counters", {"known": 3})
    assert store.get_meta("counters") == {"known": 3}
    assert store.get_meta("missing", 7) == 7


def test_other_schema_versions_are_refused(tmp_path):
    path = str(tmp_path / "state.db")
    store = SQLiteStore(path)
    store.set_meta("schema_version", 99)
    store.close()
    with pytest.raises(QueueException, match="schema version 99"):
        SQLiteStore(path)
