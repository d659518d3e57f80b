"""The frontier's operator controls and per-host statistics, on a clock the test moves:
pause/resume, blocks (until a time or for good) and delay overrides per host, all kept
in the state file; host counters that follow every admission and result.
"""
import queue

import pytest

from spyder.core.frontier.frontiers import MultipleHostFrontier, SingleHostFrontier
from test_frontier_support import store_kinds, Clock, crash, deliver, make_settings


@pytest.fixture(autouse=True, params=["sqlite", "memory", "redis"])
def store_kind(request, monkeypatch):
    """Every test here runs on both frontier stores (``test_frontier_support.store_kinds``)."""
    return store_kinds(request, monkeypatch)


def open_frontier(tmp_path, clock, cls=MultipleHostFrontier, **overrides):
    return cls(make_settings(tmp_path, **overrides), clock=clock)


def take_all(frontier):
    taken = []
    while True:
        try:
            taken.append(frontier.get_next())
        except queue.Empty:
            return taken


@pytest.mark.sqlite_only
def test_pause_hands_out_nothing_and_survives_a_restart(tmp_path):
    clock = Clock()
    frontier = open_frontier(tmp_path, clock)
    frontier.add_seeds(["http://a.test/"])
    frontier.pause()
    assert frontier.paused and frontier.stats()["paused"]
    with pytest.raises(queue.Empty):
        frontier.get_next()
    assert frontier.next_due() is None
    frontier.close()
    frontier = open_frontier(tmp_path, clock)
    assert frontier.paused
    frontier.resume()
    assert [c.url for c in take_all(frontier)] == ["http://a.test/"]
    frontier.close()


def test_add_seeds_is_all_or_nothing(tmp_path):
    frontier = open_frontier(tmp_path, Clock())
    for bad in ("ftp://a.test/", "http:///x", "http://:80/", "http://a.test:99999/", 42):
        with pytest.raises(ValueError):
            frontier.add_seeds(["http://ok.test/", bad])
    assert frontier.stats()["known"] == 0
    assert frontier.add_seeds(["http://ok.test/", "http://OK.test:80/"]) == ["http://ok.test/"]
    frontier.close()


@pytest.mark.parametrize("cls", [MultipleHostFrontier, SingleHostFrontier])
@pytest.mark.sqlite_only
def test_a_blocked_host_waits_and_stays_blocked_after_a_restart(tmp_path, cls):
    clock = Clock()
    frontier = open_frontier(tmp_path, clock, cls)
    frontier.add_seeds(["http://a.test/1", "http://a.test/2"])
    with pytest.raises(KeyError):
        frontier.block_host("b.test")
    frontier.block_host("a.test")
    assert take_all(frontier) == []
    host = frontier.host("a.test")
    assert host["blocked"] and host["blocked_until"] is None and host["queued"] == 2
    frontier.close()

    frontier = open_frontier(tmp_path, clock, cls)     # a restart, even an unclean one
    clock.advance(3600)
    assert take_all(frontier) == []
    assert frontier.host("a.test")["blocked"]
    frontier.unblock_host("a.test")
    assert [c.url for c in take_all(frontier)] == ["http://a.test/1"]
    frontier.close()


def test_a_block_until_a_time_ends_by_itself(tmp_path):
    clock = Clock()
    frontier = open_frontier(tmp_path, clock)
    frontier.add_seeds(["http://a.test/", "http://b.test/"])
    frontier.block_host("a.test", clock.t + 600)
    assert [c.url for c in take_all(frontier)] == ["http://b.test/"]
    assert frontier.host("a.test")["blocked_until"] == clock.t + 600
    clock.advance(601)
    assert [c.url for c in take_all(frontier)] == ["http://a.test/"]
    assert not frontier.host("a.test")["blocked"]
    frontier.close()


@pytest.mark.sqlite_only
def test_a_delay_override_replaces_the_computed_delay(tmp_path):
    clock = Clock()
    frontier = open_frontier(tmp_path, clock, FRONTIER_MIN_DELAY=1.0)
    frontier.add_seeds(["http://a.test/%d" % i for i in range(3)])
    with pytest.raises(ValueError):
        frontier.set_host_delay("a.test", -1)
    frontier.set_host_delay("a.test", 30.0)
    deliver(frontier, take_all(frontier)[0], 200)
    assert frontier.host("a.test")["delay"] == 30.0
    assert frontier.host("a.test")["delay_override"] == 30.0
    clock.advance(29)
    assert take_all(frontier) == []
    clock.advance(1)
    first = take_all(frontier)
    assert len(first) == 1
    frontier.set_host_delay("a.test", None)          # back to FRONTIER_MIN_DELAY
    deliver(frontier, first[0], 200)
    clock.advance(1)
    assert len(take_all(frontier)) == 1
    frontier.close()
    assert open_frontier(tmp_path, clock).host("a.test")["delay_override"] is None


@pytest.mark.sqlite_only
def test_host_statistics_follow_admissions_and_results(tmp_path):
    clock = Clock()
    frontier = open_frontier(tmp_path, clock)
    frontier.add_seeds(["http://a.test/", "http://b.test/"])
    for curi in take_all(frontier):
        if curi.url.startswith("http://a."):
            deliver(frontier, curi, 200, links=["http://a.test/x", "http://a.test/y"],
                    body=b"12345")
        else:
            deliver(frontier, curi, 404)
    a, b = frontier.host("a.test"), frontier.host("b.test")
    assert (a["queued"], a["fetched"], a["errors"], a["bytes"], a["last_status"]) == \
        (2, 1, 0, 5, 200)
    assert (b["queued"], b["fetched"], b["errors"], b["last_status"]) == (0, 1, 1, 404)
    assert [h["host"] for h in frontier.hosts("queued", 10)] == ["a.test", "b.test"]
    assert [h["host"] for h in frontier.hosts("errors", 1)] == ["b.test"]
    assert [h["host"] for h in frontier.hosts("host", 10)] == ["a.test", "b.test"]
    flying = take_all(frontier)
    assert [h["host"] for h in frontier.hosts("in_flight", 10)] == ["a.test"]
    assert frontier.host("a.test")["in_flight"] == 1
    with pytest.raises(ValueError):
        frontier.hosts("bogus", 10)
    deliver(frontier, flying[0], 503)                # a retry: still to crawl, one error
    a = frontier.host("a.test")
    assert (a["queued"], a["fetched"], a["errors"]) == (2, 2, 1)
    frontier.close()
    # the counters are in the state file, committed with the rows they count
    frontier = open_frontier(tmp_path, clock)
    assert frontier.host("a.test")["queued"] == frontier.stats()["queued"] == 2
    frontier.close()


@pytest.mark.sqlite_only
def test_host_statistics_are_written_with_the_commit_that_holds_their_rows(tmp_path):
    """Counters are written when the frontier commits: a crash loses the counters of the
    results it loses, no more and no less."""
    clock = Clock()
    frontier = open_frontier(tmp_path, clock, FRONTIER_CHECKPOINTING=1_000_000,
                             FRONTIER_CHECKPOINT_SECONDS=1_000_000.0)
    frontier.add_seeds(["http://a.test/"])
    deliver(frontier, take_all(frontier)[0], 200, links=["http://a.test/x", "http://a.test/y"],
            body=b"123")
    frontier._checkpoints.commit()
    for curi in take_all(frontier):   # not committed: lost in the crash
        deliver(frontier, curi, 200, body=b"4567")
    assert frontier.host("a.test")["fetched"] == 2     # read before the commit
    crash(frontier)                                    # no commit, no close()
    frontier = open_frontier(tmp_path, clock)
    a = frontier.host("a.test")
    assert (a["queued"], a["fetched"], a["bytes"]) == (2, 1, 3)
    assert a["queued"] == frontier.stats()["queued"]
    frontier.close()


def test_host_statistics_roll_back_with_a_failed_result(tmp_path, monkeypatch):
    clock = Clock()
    frontier = open_frontier(tmp_path, clock)
    frontier.add_seeds(["http://a.test/"])
    curi = take_all(frontier)[0]
    monkeypatch.setattr(frontier._prioritizer, "calculate_priority",
                        lambda curi: (_ for _ in ()).throw(RuntimeError("broken")))
    with pytest.raises(RuntimeError):
        deliver(frontier, curi, 200, links=["http://a.test/new"])
    host = frontier.host("a.test")
    assert (host["queued"], host["fetched"]) == (0, 0)   # 1 queued, in flight
    assert host["in_flight"] == 1
    frontier.close()
