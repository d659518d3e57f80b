"""HostStats (the console's per-host counters): the changes of several operations on one
host add up before they are written, a failed operation's are dropped, and a result
without a numeric status keeps the last one."""
from spyder.core.frontier.hoststats import HostStats
from spyder.core.store.memory import MemoryStore


def test_operations_on_one_host_add_up_and_a_failed_one_is_dropped():
    store = MemoryStore()
    stats = HostStats(store)
    stats.queued("a.example", 3, queue=7)
    stats.result("a.example", False, 200, 1000, 10.0)
    stats.settle()
    stats.queued("a.example", 5)                        # rolled back: never counted
    stats.result("a.example", True, 500, 10, 11.0)
    stats.discard()
    stats.queued("a.example", -1)
    stats.result("a.example", True, "timeout", 0, 12.0)  # no numeric status
    stats.settle()
    stats.in_queue("b.example", 9)
    stats.settle()
    stats.result("a.example", False, 404, 20, 13.0)
    stats.settle()
    assert stats.get("a.example") == {
        "host": "a.example", "queue": 7, "queued": 2, "fetched": 3, "errors": 1,
        "bytes": 1020, "last_status": 404, "last_time": 13.0}
    stats.result("a.example", True, None, 0, 14.0)
    stats.settle()
    assert stats.get("a.example")["last_status"] == 404  # kept: no status this time
    assert stats.get("a.example")["last_time"] == 14.0
    assert stats.get("b.example")["queue"] == 9
    assert stats.get("c.example") is None


def test_a_failed_operation_leaves_every_host_as_it_was():
    store = MemoryStore()
    stats = HostStats(store)
    stats.result("a.example", False, 200, 100, 1.0)
    stats.settle()
    stats.write()                                       # a.example stored, nothing pending
    stats.result("a.example", True, 503, 5, 2.0)        # an operation that fails: on a
    stats.queued("n.example", 4, queue=3)               # stored host, a new one, and a
    stats.queued("n.example", 1)                        # host changed twice
    stats.discard()
    assert stats.get("n.example") is None
    assert stats.get("a.example") == {
        "host": "a.example", "queue": None, "queued": 0, "fetched": 1, "errors": 0,
        "bytes": 100, "last_status": 200, "last_time": 1.0}
    stats.queued("n.example", 2, queue=3)
    stats.settle()
    stats.result("n.example", False, 301, 0, 3.0)
    stats.settle()
    stats.result("n.example", True, "timeout", 0, 4.0)  # keeps 301
    stats.queued("n.example", -1)
    stats.settle()
    stats.queued("n.example", 10)                       # fails after settled changes
    stats.discard()
    assert stats.get("n.example") == {
        "host": "n.example", "queue": 3, "queued": 1, "fetched": 2, "errors": 1,
        "bytes": 0, "last_status": 301, "last_time": 4.0}
