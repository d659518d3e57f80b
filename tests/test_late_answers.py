"""Late answers to expired leases, in the real frontier (the master's side is in
test_master.py): the first definitive answer for a URL is its outcome, whenever it
arrives, and no late answer frees a politeness slot it does not hold.

The master has routed the expired dispatch as a 711 (a failed attempt, retried after
the backoff) before a late answer reaches ``process_late_result``.  Time is a
``Clock`` the test moves.
"""
import queue

import pytest

from spyder.core import constants as C
from spyder.core.crawluri import CrawlUri
from spyder.core.frontier.frontiers import MultipleHostFrontier, SingleHostFrontier
from test_frontier_support import store_kinds, Clock, RecordingSink, deliver, make_settings


@pytest.fixture(autouse=True, params=["sqlite", "memory", "redis"])
def store_kind(request, monkeypatch):
    """Every test here runs on both frontier stores (``test_frontier_support.store_kinds``)."""
    return store_kinds(request, monkeypatch)

A, B = "http://a.test/1", "http://a.test/2"


@pytest.fixture(params=[SingleHostFrontier, MultipleHostFrontier], ids=["single", "multiple"])
def frontier(request, tmp_path):
    clock = Clock()
    made = request.param(make_settings(tmp_path, RETRY_BACKOFF=10.0,
                                       FRONTIER_HOST_CONCURRENCY=1), clock=clock)
    made.clock = clock
    made.sink = RecordingSink()
    made.add_sink(made.sink)
    yield made
    made.close()


def expire(frontier, curi):
    """What the master does when ``curi``'s lease expires."""
    return deliver(frontier, curi, C.CURI_ELEASE_EXPIRED)


def late(frontier, curi, status=200):
    answer = CrawlUri(url=curi.url, depth=curi.depth, attempt=curi.attempt,
                      optional_vars=dict(curi.optional_vars), status_code=status,
                      content_body=b"<html></html>", req_time=0.1)
    return frontier.process_late_result(answer, "success" if status < 300 else "not_found")


def next_url(frontier):
    try:
        return frontier.get_next()
    except queue.Empty:
        return None


def expired_then_retried(frontier):
    """A's first dispatch expires and its retry goes out: ``(first, retry)``."""
    frontier.add_uri(CrawlUri(url=A))
    first = frontier.get_next()
    expire(frontier, first)
    frontier.clock.advance(10)
    return first, frontier.get_next()


def test_a_late_answer_before_the_retry_is_the_outcome_and_calls_the_retry_off(frontier):
    frontier.add_uri(CrawlUri(url=A))
    first = frontier.get_next()
    expire(frontier, first)
    assert frontier.stats()["retries"] == 1 and not frontier.crawl_done()
    assert late(frontier, first)
    assert frontier.sink.calls == [("success", A, 200)]
    frontier.clock.advance(60)  # long past the retry's backoff: nothing is due
    assert next_url(frontier) is None
    assert frontier.crawl_done()
    assert not late(frontier, first), "a second late answer is ignored"
    assert frontier.sink.calls == [("success", A, 200)]


def test_a_late_answer_during_the_retry_is_the_outcome_and_frees_no_slot(frontier):
    first, retry = expired_then_retried(frontier)
    assert (retry.url, retry.attempt) == (A, 1)
    frontier.add_uri(CrawlUri(url=B))
    assert next_url(frontier) is None  # concurrency 1: B waits for the retry
    assert late(frontier, first, 404)
    assert frontier.sink.calls == [("not_found", A, 404)]
    # the retry still holds the host's one slot: B does not go out next to it
    assert next_url(frontier) is None
    deliver(frontier, retry, 200)      # the retry's own answer: frees the slot, nothing else
    assert frontier.sink.calls == [("not_found", A, 404)]
    assert next_url(frontier).url == B
    assert frontier.stats()["not_found"] == 1 and frontier.stats()["success"] == 0


def test_a_late_answer_after_the_retry_answered_is_ignored(frontier):
    first, retry = expired_then_retried(frontier)
    deliver(frontier, retry, 200)
    assert not late(frontier, first)
    assert frontier.sink.calls == [("success", A, 200)]


def test_a_late_failure_adds_nothing_to_the_expiry(frontier):
    frontier.add_uri(CrawlUri(url=A))
    first = frontier.get_next()
    expire(frontier, first)
    answer = CrawlUri(url=A, status_code=503)
    assert not frontier.process_late_result(answer, "server_error")
    assert frontier.stats()["retries"] == 1 and frontier.sink.calls == []


def test_a_handed_back_robots_txt_is_no_failed_fetch(tmp_path):
    clock = Clock()
    frontier = MultipleHostFrontier(make_settings(tmp_path, ROBOTSTXT_OBEY=True), clock=clock)
    sink = RecordingSink()
    sink.process_robots_txt = lambda curi: sink.calls.append(("robots", curi.url))
    frontier.add_sink(sink)
    frontier.add_uri(CrawlUri(url=A))
    robots = frontier.get_next()
    assert robots.url == "http://a.test/robots.txt"
    robots.status_code = C.CURI_ENETWORK
    robots.optional_vars[C.CURI_ERROR] = "worker shutting down"
    frontier.process_handed_back(robots)
    again = frontier.get_next()  # at once: no failure counted, no retry wait
    assert (again.url, again.attempt) == (robots.url, 0)
    assert frontier.stats()["robots_waiting"] == 0
    assert sink.calls == [], "a handed-back robots.txt is no answer to archive"
    frontier.close()
