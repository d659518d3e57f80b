"""``FreshSchedule``: the schedule entries of new URLs in memory -- a queue's entries in
schedule order, dropped when their row is updated, taken by a merge, and an
operation's changes undone when it rolls back."""
from spyder.core.store import freshschedule
from spyder.core.store.freshschedule import FreshSchedule


def _filled():
    schedule = FreshSchedule(100)
    for seq, (queue, due, priority) in enumerate(
            [(1, 2.0, 1), (1, 1.0, 1), (2, 1.0, 1), (1, 1.0, 0), (1, 2.0, 1), (3, 1.0, 1)],
            100):
        assert schedule.add(queue, due, priority, seq)
    return schedule


def test_a_queue_s_entries_come_in_schedule_order():
    schedule = _filled()
    assert schedule.head(1, 10) == [(1.0, 0, 103), (1.0, 1, 101), (2.0, 1, 100),
                                    (2.0, 1, 104)]
    assert schedule.head(1, 2) == [(1.0, 0, 103), (1.0, 1, 101)]
    assert schedule.head(9, 10) == [] and len(schedule) == 6 and schedule.max_queue() == 3


def test_a_dropped_entry_leaves_and_a_rolled_back_operation_is_undone():
    schedule = _filled()
    schedule.drop(101)
    schedule.drop(99)   # below the first entry: nothing
    schedule.drop(500)  # never added: nothing
    assert [seq for _, _, seq in schedule.head(1, 10)] == [103, 100, 104]
    schedule.begin()
    assert schedule.add(1, 1.0, 1, 106)
    schedule.drop(100)
    schedule.drop(106)  # added and dropped in the same operation
    assert [seq for _, _, seq in schedule.head(1, 10)] == [103, 104]
    schedule.rollback()
    assert [seq for _, _, seq in schedule.head(1, 10)] == [103, 100, 104]
    assert len(schedule) == 5
    schedule.begin()
    schedule.drop(103)
    schedule.release()  # the operation holds
    assert [seq for _, _, seq in schedule.head(1, 10)] == [100, 104]
    assert sorted(schedule.entries()) == [(1, 2.0, 1, 100), (1, 2.0, 1, 104),
                                          (2, 1.0, 1, 102), (3, 1.0, 1, 105)]


def test_a_merge_takes_the_entries_of_its_rows_in_a_queue_range():
    schedule = _filled()
    schedule.drop(100)
    assert sorted(schedule.take(0, 1, 103)) == [(1, 1.0, 0, 103), (1, 1.0, 1, 101)]
    assert schedule.head(1, 10) == [(2.0, 1, 104)]  # a row after the merge's: kept
    assert list(schedule.take(1, None, 104)) == [(2, 1.0, 1, 102)]  # queue 3's row is after it
    assert sorted(schedule.entries()) == [(1, 2.0, 1, 104), (3, 1.0, 1, 105)]
    assert list(schedule.take(-1, None, 104)) == [(1, 2.0, 1, 104)]
    for seq in range(106, 130):
        schedule.add(4, 1.0, 1, seq)
    schedule.rebase(105)  # nothing live below 105: the bits of whole bytes below go
    assert sorted(schedule.entries())[:2] == [(3, 1.0, 1, 105), (4, 1.0, 1, 106)]
    schedule.drop(105)
    schedule.drop(104)  # below the bits kept: nothing
    assert len(schedule) == 24 and schedule.head(3, 10) == []
    assert len(list(schedule.take(-1, None, 10 ** 6))) == 24 and len(schedule) == 0


def test_a_queue_holds_a_bounded_number_of_buckets(monkeypatch):
    monkeypatch.setattr(freshschedule, "MAX_BUCKETS", 2)
    schedule = FreshSchedule(1)
    assert schedule.add(1, 1.0, 1, 1) and schedule.add(1, 2.0, 1, 2)
    assert not schedule.add(1, 3.0, 1, 3)  # a third bucket: the store keeps it
    assert schedule.add(1, 1.0, 1, 4) and schedule.add(2, 3.0, 1, 5)
    assert [seq for _, _, seq in schedule.head(1, 10)] == [1, 4, 2]
