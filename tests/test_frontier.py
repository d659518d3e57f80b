"""The frontiers against the master's contract: the original's tests ported, plus
politeness, retries, redirects, limits, scope, crawl_done, sinks and checkpoints.

Time never passes by itself: every frontier runs on a ``Clock`` the test moves.
"""
import email.utils
import queue
import sqlite3
import time

import pytest

from spyder.core import constants as C
from spyder.core.crawluri import CrawlUri
from spyder.core.frontier.frontiers import MultipleHostFrontier, SingleHostFrontier
from spyder.core.sink import AbstractCrawlUriSink
from spyder.core.settings import SettingsError
from spyder.core.store.sqlite import SQLiteSingleHostUriQueue, UriRow
from spyder.errors import StartupError
from test_frontier_support import (store_kinds, RecordingSink, Site, Clock, crawl, deliver, drain,
                                   make_settings)


@pytest.fixture(autouse=True, params=["sqlite", "memory", "redis"])
def store_kind(request, monkeypatch):
    """Every test here runs on both frontier stores (``test_frontier_support.store_kinds``)."""
    return store_kinds(request, monkeypatch)


class FirstQueueSelector:
    """A deterministic QUEUE_SELECTOR_CLASS: always the most overdue candidate."""

    def __init__(self, n):
        self.n = n

    def reset_queues(self, n):
        self.n = n

    def get_queue(self):
        return 0


class RaisingSink(AbstractCrawlUriSink):
    def _fail(self, curi):
        raise RuntimeError("sink broken on purpose")

    process_successful_crawl = process_redirect = process_not_found = _fail
    process_server_error = _fail


@pytest.fixture(params=[SingleHostFrontier, MultipleHostFrontier], ids=["single", "multiple"])
def frontier_class(request):
    return request.param


def open_frontier(cls, tmp_path, clock=None, **overrides):
    clock = clock or Clock()
    return cls(make_settings(tmp_path, **overrides), clock=clock), clock


def seed(frontier, *urls):
    return [frontier.add_uri(CrawlUri(url=url)) for url in urls]


def row_of(frontier, url):
    row = frontier._store.find(url)
    return None if row is None else (row.next_date, row.status, row.reason, row.depth,
                                     row.attempt)


# ---------------------------------------------------------------- the original's tests
def test_adding_uri_works(frontier_class, tmp_path):
    frontier, _ = open_frontier(frontier_class, tmp_path)
    assert seed(frontier, "http://localhost/", "HTTP://LOCALHOST:80/#x") == [True, False]
    stats = frontier.stats()
    assert (stats["known"], stats["queued"], stats["in_flight"]) == (1, 1, 0)
    assert row_of(frontier, "http://localhost/") == (0.0, None, None, 0, 0)
    frontier.close()


def test_crawluri_carries_conditional_get_hints_byte_for_byte(frontier_class, tmp_path):
    frontier, clock = open_frontier(frontier_class, tmp_path)
    seed(frontier, "http://localhost/page")
    curi = frontier.get_next()
    assert (curi.url, curi.effective_url, curi.current_priority, curi.depth, curi.attempt) == \
        ("http://localhost/page", "http://localhost/page", 1, 0, 0)
    assert curi.req_header == {}
    etag, modified = 'W/"3926227169c58185234888b60000c6eb1169577d"', \
        "Tue, 15 Nov 1994 12:45:26 GMT"
    deliver(frontier, curi, 200, headers={"Etag": etag, "Last-Modified": modified})
    assert drain(frontier) == []
    clock.advance(86400)
    curi = frontier.get_next()
    assert curi.req_header == {"Etag": etag, "Last-Modified": modified}
    # a 304 keeps the hints and raises the level: the next visit is two days later
    deliver(frontier, curi, 304)
    clock.advance(86400 * 2 - 1)
    assert drain(frontier) == []
    clock.advance(1)
    curi = frontier.get_next()
    assert (curi.req_header["Etag"], curi.current_priority) == (etag, 2)
    frontier.close()


def test_crawluri_with_credentials(frontier_class, tmp_path):
    frontier, _ = open_frontier(frontier_class, tmp_path)
    seed(frontier, "http://user:passwd@localhost/")
    curi = frontier.get_next()
    assert curi.url == "http://user:passwd@localhost/"
    assert curi.optional_vars == {C.CURI_SITE_USERNAME: "user", C.CURI_SITE_PASSWORD: "passwd"}
    frontier.close()


def test_sinks(frontier_class, tmp_path):
    frontier, clock = open_frontier(frontier_class, tmp_path, RETRY_BACKOFF=1.0, MAX_RETRIES=1)
    sink = RecordingSink()
    frontier.add_sink(sink)
    site = Site({"http://a.test/": (200, ["http://a.test/moved", "http://a.test/gone",
                                         "http://a.test/broken"]),
                 "http://a.test/moved": (301, ["http://a.test/new"], {"Location": "/new"}),
                 "http://a.test/new": (200,),
                 "http://a.test/broken": (500,)})
    seed(frontier, "http://a.test/")
    crawl(frontier, clock, site)
    assert sorted(sink.calls) == sorted([
        ("success", "http://a.test/", 200), ("redirect", "http://a.test/moved", 301),
        ("success", "http://a.test/new", 200), ("not_found", "http://a.test/gone", 404),
        ("server_error", "http://a.test/broken", 500)])
    frontier.close()
    assert sink.closed


def _prefill_single(tmp_path, rows):
    store = SQLiteSingleHostUriQueue(str(tmp_path / "state.db"))
    store.add_uris(rows)
    store.repair_queue_due()
    store.close()


@pytest.mark.sqlite_only
def test_single_that_updating_heap_works(tmp_path):
    clock = Clock()
    due = [UriRow("http://localhost/due/%d" % i, next_date=clock.t - 100 + i) for i in range(9)]
    later = [UriRow("http://localhost/later/%d" % i, next_date=clock.t + 100 + i)
             for i in range(10)]
    _prefill_single(tmp_path, due + later)
    frontier, _ = open_frontier(SingleHostFrontier, tmp_path, clock, FRONTIER_HOST_CONCURRENCY=50,
                                FRONTIER_CHECKPOINTING=1)
    assert [curi.url for curi in drain(frontier)] == [row.url for row in due]
    with pytest.raises(queue.Empty):
        frontier.get_next()
    assert frontier.next_due() == later[0].next_date
    frontier.close()


def test_single_that_time_based_politeness_works(tmp_path):
    frontier, clock = open_frontier(SingleHostFrontier, tmp_path, FRONTIER_MIN_DELAY=0.0,
                                    FRONTIER_CRAWL_DELAY_FACTOR=4.0, FRONTIER_CHECKPOINTING=1)
    seed(frontier, "http://localhost/1", "http://localhost/2")
    curi = frontier.get_next()
    deliver(frontier, curi, 200, req_time=0.5)
    with pytest.raises(queue.Empty):
        frontier.get_next()
    assert frontier.next_due() == clock.t + 2.0
    clock.advance(1.99)
    assert drain(frontier) == []
    clock.advance(0.01)
    assert frontier.get_next().url == "http://localhost/2"
    frontier.close()


def test_single_host_has_one_global_window_multiple_host_one_per_host(tmp_path):
    for cls, expected in ((SingleHostFrontier, 1), (MultipleHostFrontier, 2)):
        path = tmp_path / cls.__name__
        path.mkdir()
        frontier, _ = open_frontier(cls, path, FRONTIER_MIN_DELAY=5.0)
        seed(frontier, "http://a.test/", "http://b.test/")
        assert len(drain(frontier)) == expected
        frontier.close()


@pytest.mark.sqlite_only
def test_multiple_that_adding_uris_works(tmp_path):
    frontier, _ = open_frontier(MultipleHostFrontier, tmp_path)
    seed(frontier, "http://localhost/1", "http://localhost/2", "http://127.0.0.1:8080/")
    frontier.close()
    db = sqlite3.connect(str(tmp_path / "state.db"))
    queues = dict(db.execute("SELECT identifier, id FROM queues"))
    assert set(queues) == {"localhost", "127.0.0.1:8080"}
    rows = dict(db.execute("SELECT url, queue FROM urls"))
    assert rows == {"http://localhost/1": queues["localhost"],
                    "http://localhost/2": queues["localhost"],
                    "http://127.0.0.1:8080/": queues["127.0.0.1:8080"]}
    db.close()


def _two_hosts(tmp_path, n, **overrides):
    frontier, clock = open_frontier(
        MultipleHostFrontier, tmp_path, FRONTIER_ACTIVE_QUEUES=1, FRONTIER_QUEUE_BUDGET=4,
        FRONTIER_QUEUE_BUDGET_PUNISH=5,
        QUEUE_SELECTOR_CLASS="test_frontier.FirstQueueSelector", **overrides)
    for host in "ab":
        seed(frontier, *["http://%s.test/%d" % (host, i) for i in range(n)])
    return frontier, clock


def test_multiple_queues_work_with_budgets(tmp_path):
    frontier, clock = _two_hosts(tmp_path, 6)
    trace = crawl(frontier, clock, Site({"http://%s.test/%d" % (h, i): (200,)
                                         for h in "ab" for i in range(6)}))
    assert [url[7:] for url in trace.urls] == [
        "a.test/0", "a.test/1", "a.test/2", "a.test/3", "b.test/0", "b.test/1", "b.test/2",
        "b.test/3", "a.test/4", "a.test/5", "b.test/4", "b.test/5"]
    frontier.close()


def test_a_server_error_costs_the_punishment(tmp_path):
    frontier, clock = _two_hosts(tmp_path, 5, RETRY_BACKOFF=1000.0)
    site = Site({"http://%s.test/%d" % (h, i): (200,) for h in "ab" for i in range(5)})
    site.pages["http://a.test/0"] = (500,)
    trace = crawl(frontier, clock, site, until=lambda t: len(t.finished) == 5)
    assert [url[7:] for url in trace.urls] == [
        "a.test/0", "b.test/0", "b.test/1", "b.test/2", "b.test/3"]
    frontier.close()


def test_links_to_an_active_host_are_seen_without_reactivation(tmp_path):
    frontier, clock = _two_hosts(tmp_path, 1)
    site = Site({"http://a.test/0": (200, ["http://a.test/1", "http://a.test/2"]),
                 "http://a.test/1": (200, ["http://a.test/3", "http://a.test/4"]),
                 "http://b.test/0": (200,)})
    trace = crawl(frontier, clock, site)
    # a.test keeps its turn (budget 4) although its queue was empty when activated
    assert [url[7:] for url in trace.urls] == [
        "a.test/0", "a.test/1", "a.test/2", "a.test/3", "b.test/0", "a.test/4"]
    frontier.close()


def test_multiple_with_multiple_active_queues(tmp_path):
    frontier, _ = open_frontier(MultipleHostFrontier, tmp_path, FRONTIER_ACTIVE_QUEUES=2)
    seed(frontier, "http://a.test/1", "http://a.test/2", "http://b.test/1", "http://c.test/1")
    assert len(drain(frontier)) == 2
    assert frontier.stats()["hosts_active"] == 2
    frontier.close()


# ---------------------------------------------------------------- politeness
def _host_of(url):
    return url.split("/")[2]


def test_politeness_windows_measured_from_the_handed_out_times(frontier_class, tmp_path):
    frontier, clock = open_frontier(frontier_class, tmp_path, FRONTIER_MIN_DELAY=2.0,
                                    FRONTIER_CRAWL_DELAY_FACTOR=4.0)
    pages = {"http://%s.test/%d" % (h, i): (200,) for h in "abc" for i in range(4)}
    for h in "abc":
        seed(frontier, *["http://%s.test/%d" % (h, i) for i in range(4)])
    site = Site(pages, req_time=0.75)  # delay = max(2.0, 4 x 0.75) = 3.0
    trace = crawl(frontier, clock, site, slots=10, latency=0.75)
    assert sorted(trace.urls) == sorted(pages)
    finished = {url: t for t, url, _ in trace.finished}
    windows = {}
    for start, curi in trace.dispatched:
        key = "all" if frontier_class is SingleHostFrontier else _host_of(curi.url)
        windows.setdefault(key, []).append((start, finished[curi.url]))
    for fetches in windows.values():
        for (_, end), (next_start, _) in zip(fetches, fetches[1:]):
            assert next_start >= end + 3.0
    if frontier_class is MultipleHostFrontier:
        starts = [start for start, _ in trace.dispatched]
        assert starts[:3] == [starts[0]] * 3  # the three hosts are crawled side by side
    frontier.close()


def test_a_put_away_queue_keeps_its_delay_when_links_to_it_arrive(tmp_path):
    # budget 1: every host is put away after each fetch; links to it from other hosts
    # must not make it due before its politeness delay is over
    frontier, clock = open_frontier(MultipleHostFrontier, tmp_path, FRONTIER_MIN_DELAY=5.0,
                                    FRONTIER_QUEUE_BUDGET=1, FRONTIER_ACTIVE_QUEUES=3)
    pages = {"http://a.test/%d" % i: (200,) for i in range(6)}
    pages.update({"http://b.test/%d" % i: (200, ["http://a.test/%d" % (i + 3)])
                  for i in range(3)})
    seed(frontier, "http://a.test/0", "http://a.test/1", "http://a.test/2",
         "http://b.test/0", "http://b.test/1", "http://b.test/2")
    trace = crawl(frontier, clock, Site(pages, req_time=0.1), slots=10, latency=0.1)
    assert sorted(trace.urls) == sorted(pages)
    finished = {url: t for t, url, _ in trace.finished}
    for host in ("a.test", "b.test"):
        fetches = [(start, finished[curi.url]) for start, curi in trace.dispatched
                   if _host_of(curi.url) == host]
        for (_, end), (next_start, _) in zip(fetches, fetches[1:]):
            assert next_start >= end + 5.0, (host, fetches)
    frontier.close()


def test_per_host_concurrency(tmp_path):
    frontier, clock = open_frontier(MultipleHostFrontier, tmp_path, FRONTIER_HOST_CONCURRENCY=2,
                                    FRONTIER_MIN_DELAY=1.0)
    pages = {"http://a.test/%d" % i: (200,) for i in range(8)}
    seed(frontier, *pages)
    trace = crawl(frontier, clock, Site(pages), slots=10, latency=0.5)
    finished = {url: t for t, url, _ in trace.finished}
    intervals = [(start, finished[curi.url]) for start, curi in trace.dispatched]
    most = max(sum(1 for s, e in intervals if s <= t < e) for t, _ in intervals)
    assert most == 2
    frontier.close()


def test_no_delay_crawls_as_fast_as_workers_go(tmp_path):
    frontier, _ = open_frontier(MultipleHostFrontier, tmp_path, FRONTIER_HOST_CONCURRENCY=100)
    urls = ["http://a.test/%d" % i for i in range(50)]
    seed(frontier, *urls)
    assert [curi.url for curi in drain(frontier)] == urls
    frontier.close()


def test_new_urls_come_before_recrawls(frontier_class, tmp_path):
    frontier, clock = open_frontier(frontier_class, tmp_path)
    seed(frontier, "http://a.test/old")
    deliver(frontier, frontier.get_next(), 200)
    clock.advance(86400 + 10)
    seed(frontier, "http://a.test/new")
    trace = crawl(frontier, clock, Site({"http://a.test/new": (200,),
                                         "http://a.test/old": (200,)}))
    assert trace.urls == ["http://a.test/new", "http://a.test/old"]
    frontier.close()


# ---------------------------------------------------------------- retries
def test_retries_with_exponential_backoff_then_give_up(frontier_class, tmp_path):
    frontier, clock = open_frontier(frontier_class, tmp_path, RETRY_BACKOFF=30.0, MAX_RETRIES=3)
    sink = RecordingSink()
    frontier.add_sink(sink)
    seed(frontier, "http://a.test/")
    start = clock.t
    trace = crawl(frontier, clock, Site({"http://a.test/": (503,)}))
    assert [t - start for t, _ in trace.dispatched] == [0.0, 30.0, 90.0, 210.0]
    assert [curi.attempt for _, curi in trace.dispatched] == [0, 1, 2, 3]
    assert sink.calls == [("server_error", "http://a.test/", 503)]
    stats = frontier.stats()
    assert (stats["retries"], stats["gave_up"]) == (3, 1)
    assert frontier.crawl_done()
    assert row_of(frontier, "http://a.test/") == (None, 503, "retries", 0, 3)
    frontier.close()


@pytest.mark.parametrize("status", [500, 502, 503, 599, 408, 429, 710, 711, None, 0, 102, 600])
def test_every_transient_status_is_retried(tmp_path, status):
    frontier, clock = open_frontier(MultipleHostFrontier, tmp_path, RETRY_BACKOFF=10.0)
    seed(frontier, "http://a.test/")
    deliver(frontier, frontier.get_next(), status)
    assert drain(frontier) == [] and not frontier.crawl_done()
    clock.advance(10.0)
    assert frontier.get_next().attempt == 1
    frontier.close()


def _retry_after(tmp_path, name, header, **overrides):
    """Seconds until the frontier may fetch again after a 503/429 with ``Retry-After``."""
    (tmp_path / name).mkdir()
    frontier, clock = open_frontier(MultipleHostFrontier, tmp_path / name, RETRY_BACKOFF=10.0,
                                    FRONTIER_CHECKPOINTING=1, **overrides)
    seed(frontier, "http://a.test/1", "http://a.test/2")
    deliver(frontier, frontier.get_next(), 429, headers={"Retry-After": header(clock.t)})
    assert drain(frontier) == []  # the retry and the host's other URL both wait
    wait = frontier.next_due() - clock.t
    clock.advance(wait)
    assert len(drain(frontier)) == 1
    frontier.close()
    return wait


def test_retry_after_is_honoured_and_slows_the_host(tmp_path):
    assert _retry_after(tmp_path, "seconds", lambda now: "120") == 120.0
    wait = _retry_after(tmp_path, "date",
                        lambda now: email.utils.formatdate(now + 300, usegmt=True))
    assert 299.0 <= wait <= 301.0
    assert _retry_after(tmp_path, "capped", lambda now: "99999", RETRY_AFTER_MAX=60.0) == 60.0
    assert _retry_after(tmp_path, "garbage", lambda now: "soon") == 10.0  # the backoff
    assert _retry_after(tmp_path, "latin-1", lambda now: "\xb2") == 10.0


def test_a_retry_after_date_in_minus_0000_is_utc_whatever_the_local_zone(tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        wait = _retry_after(tmp_path, "-0000", lambda now: email.utils.formatdate(now + 300)
                            .replace("+0000", "-0000"))
    finally:
        monkeypatch.undo()
        time.tzset()
    assert 299.0 <= wait <= 301.0


# ---------------------------------------------------------------- redirects
@pytest.mark.parametrize("status", [300, 301, 302, 303, 305, 307, 308])
def test_every_redirect_is_followed_once_without_a_loop(frontier_class, tmp_path, status):
    frontier, clock = open_frontier(frontier_class, tmp_path)
    sink = RecordingSink()
    frontier.add_sink(sink)
    site = Site({"http://a.test/src": (status, ["http://a.test/dst"], {"Location": "/dst"}),
                 "http://a.test/dst": (200,),
                 "http://a.test/loop1": (status, ["http://a.test/loop2"]),
                 "http://a.test/loop2": (status, ["http://a.test/loop1"])})
    seed(frontier, "http://a.test/src", "http://a.test/loop1")
    trace = crawl(frontier, clock, site)
    assert sorted(trace.urls) == ["http://a.test/dst", "http://a.test/loop1",
                                  "http://a.test/loop2", "http://a.test/src"]
    assert ("redirect", "http://a.test/src", status) in sink.calls
    next_date, stored_status, reason, depth, _ = row_of(frontier, "http://a.test/src")
    assert (stored_status, reason) == (status, None) and next_date >= clock.t + 86400 - 1
    assert row_of(frontier, "http://a.test/dst")[3] == 0  # a redirect is not a link hop
    frontier.close()


def test_seed_redirects_extend_the_default_scope(tmp_path):
    frontier, clock = open_frontier(MultipleHostFrontier, tmp_path)
    site = Site({"http://a.test/": (301, ["https://www.a.test/"]),
                 "https://www.a.test/": (200, ["https://www.a.test/x", "http://b.test/"]),
                 "https://www.a.test/x": (200,)})
    seed(frontier, "http://a.test/")
    trace = crawl(frontier, clock, site)
    assert trace.urls == ["http://a.test/", "https://www.a.test/", "https://www.a.test/x"]
    frontier.close()


def test_a_seed_redirect_revives_a_target_found_out_of_scope_before(tmp_path):
    frontier, clock = open_frontier(MultipleHostFrontier, tmp_path)
    seed(frontier, "http://b.test/", "http://a.test/")
    first = {curi.url: curi for curi in drain(frontier)}
    deliver(frontier, first["http://b.test/"], 200, ["https://www.a.test/"])  # out of scope
    deliver(frontier, first["http://a.test/"], 301, ["https://www.a.test/"])
    assert [curi.url for curi in drain(frontier)] == ["https://www.a.test/"]
    frontier.close()


# ---------------------------------------------------------------- limits and scope
def _chain_site():
    return Site({"http://a.test/": (200, ["http://a.test/1", "http://a.test/r"]),
                 "http://a.test/1": (200, ["http://a.test/2"]),
                 "http://a.test/r": (302, ["http://a.test/r2"]),
                 "http://a.test/r2": (200, ["http://a.test/3"]),
                 "http://a.test/2": (200,), "http://a.test/3": (200,)})


def test_depth_limit(frontier_class, tmp_path):
    frontier, clock = open_frontier(frontier_class, tmp_path, CRAWL_MAX_DEPTH=1)
    seed(frontier, "http://a.test/")
    trace = crawl(frontier, clock, _chain_site())
    assert sorted(trace.urls) == ["http://a.test/", "http://a.test/1", "http://a.test/r",
                                  "http://a.test/r2"]
    assert frontier.stats()["too_deep"] == 2
    assert row_of(frontier, "http://a.test/2") == (None, None, "depth", 2, 0)
    frontier.close()


def test_page_limit(frontier_class, tmp_path):
    frontier, clock = open_frontier(frontier_class, tmp_path, CRAWL_MAX_PAGES=3)
    seed(frontier, "http://a.test/")
    links = ["http://a.test/%d" % i for i in range(10)]
    trace = crawl(frontier, clock, Site({"http://a.test/": (200, links)}))
    assert trace.urls == ["http://a.test/", "http://a.test/0", "http://a.test/1"]
    assert seed(frontier, "http://a.test/more") == [False]
    frontier.close()


@pytest.mark.sqlite_only
def test_default_scope_is_the_seeds_hosts_and_survives_a_restart(tmp_path):
    settings = make_settings(tmp_path)
    clock = Clock()
    frontier = MultipleHostFrontier(settings, clock=clock)
    seed(frontier, "http://a.test/")
    site = Site({"http://a.test/": (200, ["http://a.test/in", "http://other.test/out"]),
                 "http://a.test/in": (200,)})
    trace = crawl(frontier, clock, site)
    assert trace.urls == ["http://a.test/", "http://a.test/in"]
    assert frontier.stats()["out_of_scope"] == 1
    assert row_of(frontier, "http://other.test/out") == (None, None, "scope", 1, 0)
    frontier.close()
    frontier = MultipleHostFrontier(settings, clock=clock)
    clock.advance(86400)
    site.pages["http://a.test/"] = (200, ["http://a.test/later", "http://other.test/too"])
    trace = crawl(frontier, clock, site)
    assert "http://a.test/later" in trace.urls
    assert not any("other.test" in url for url in trace.urls)
    # a seed on another host widens the scope, even for a URL dropped before
    assert seed(frontier, "http://other.test/out") == [True]
    frontier.close()


def test_regex_scope_is_case_insensitive_and_enforced_on_seeds_and_links(tmp_path):
    frontier, clock = open_frontier(
        MultipleHostFrontier, tmp_path, REGEX_SCOPE_POSITIVE=[r"^https?://a\.test/keep"],
        REGEX_SCOPE_NEGATIVE=[r".*\.avi$"])
    assert seed(frontier, "http://a.test/drop", "http://A.TEST/KEEP/") == [False, True]
    links = ["http://a.test/keep/x.html", "http://a.test/keep/movie.AVI", "http://b.test/keep"]
    trace = crawl(frontier, clock, Site({"http://a.test/KEEP/": (200, links)}))
    assert trace.urls == ["http://a.test/KEEP/", "http://a.test/keep/x.html"]
    frontier.close()


def test_nofollow_pages_add_no_links(tmp_path):
    frontier, _ = open_frontier(MultipleHostFrontier, tmp_path)
    seed(frontier, "http://a.test/")
    deliver(frontier, frontier.get_next(), 200, ["http://a.test/x"],
            **{C.CURI_NOFOLLOW: C.CURI_OPTIONAL_TRUE})
    assert drain(frontier) == [] and frontier.crawl_done()
    assert frontier.stats()["known"] == 1
    frontier.close()


def test_unusable_links_are_skipped(tmp_path):
    frontier, _ = open_frontier(MultipleHostFrontier, tmp_path)
    seed(frontier, "http://a.test/")
    deliver(frontier, frontier.get_next(), 200,
            ["mailto:x@a.test", "javascript:x()", "http://a.test/ok", "http://exa mple/"])
    assert [curi.url for curi in drain(frontier)] == ["http://a.test/ok"]
    assert seed(frontier, "ftp://a.test/") == [False]
    frontier.close()


# ---------------------------------------------------------------- crawl_done and friends
def test_crawl_done(frontier_class, tmp_path):
    frontier, clock = open_frontier(frontier_class, tmp_path, RETRY_BACKOFF=5.0)
    assert frontier.crawl_done()
    seed(frontier, "http://a.test/")
    assert not frontier.crawl_done()
    curi = frontier.get_next()
    assert not frontier.crawl_done()  # in flight
    deliver(frontier, curi, 500)
    assert not frontier.crawl_done()  # waiting for its retry
    clock.advance(5.0)
    deliver(frontier, frontier.get_next(), 200)
    assert frontier.crawl_done()      # only a recrawl is left
    stats = frontier.stats()
    assert (stats["queued"], stats["scheduled"], stats["in_flight"]) == (0, 1, 0)
    frontier.close()


def test_next_due(frontier_class, tmp_path):
    frontier, clock = open_frontier(frontier_class, tmp_path, FRONTIER_CHECKPOINTING=1,
                                    FRONTIER_MIN_DELAY=5.0)
    assert frontier.next_due() is None
    seed(frontier, "http://a.test/1", "http://a.test/2")
    assert frontier.next_due() <= clock.t
    curi = frontier.get_next()
    assert frontier.next_due() is None  # only the result can free the host
    deliver(frontier, curi, 200)
    assert frontier.next_due() == clock.t + 5.0
    frontier.close()
    assert frontier.next_due() is None


def test_stats_keys(frontier_class, tmp_path):
    frontier, _ = open_frontier(frontier_class, tmp_path)
    stats = frontier.stats()
    for key in ("known", "queued", "in_flight", "hosts_active", "robots_disallowed", "retries",
                "gave_up", "sink_errors"):
        assert isinstance(stats[key], int)
    frontier.close()


# ---------------------------------------------------------------- sinks and odd results
def test_each_final_outcome_reaches_every_sink_once_even_with_a_failing_sink(frontier_class,
                                                                             tmp_path):
    frontier, clock = open_frontier(frontier_class, tmp_path, RETRY_BACKOFF=1.0,
                                    SINKS=["test_frontier.RaisingSink",
                                           "test_frontier_support.RecordingSink"])
    recorder = frontier._sinks[1]
    late = RecordingSink()
    frontier.add_sink(late)
    site = Site({"http://a.test/": (200, ["http://a.test/%d" % i for i in range(4)]),
                 "http://a.test/0": (404,), "http://a.test/1": (503,),
                 "http://a.test/2": (302, ["http://a.test/"]), "http://a.test/3": (200,)})
    seed(frontier, "http://a.test/")
    crawl(frontier, clock, site)
    expected = sorted([("success", "http://a.test/", 200), ("not_found", "http://a.test/0", 404),
                       ("server_error", "http://a.test/1", 503),
                       ("redirect", "http://a.test/2", 302), ("success", "http://a.test/3", 200)])
    assert sorted(recorder.calls) == expected and sorted(late.calls) == expected
    assert frontier.stats()["sink_errors"] == 5
    frontier.close()


def test_results_for_urls_not_in_flight_are_ignored(frontier_class, tmp_path):
    frontier, _ = open_frontier(frontier_class, tmp_path)
    sink = RecordingSink()
    frontier.add_sink(sink)
    for method in ("process_successful_crawl", "process_redirect", "process_not_found",
                   "process_server_error"):
        getattr(frontier, method)(CrawlUri(url="http://a.test/unknown", status_code=200))
    seed(frontier, "http://a.test/")
    curi = frontier.get_next()
    deliver(frontier, curi, 200)
    deliver(frontier, curi, 200)  # a duplicate
    assert sink.calls == [("success", "http://a.test/", 200)]
    assert frontier.stats()["unexpected_results"] == 5
    frontier.close()


def test_failed_bookkeeping_leaves_no_trace_and_the_710_retry_works(frontier_class, tmp_path):
    frontier, clock = open_frontier(frontier_class, tmp_path, RETRY_BACKOFF=1.0)
    seed(frontier, "http://a.test/")
    curi = frontier.get_next()
    store = frontier._store
    original = store.record

    def broken(*args):
        original(*args)
        raise sqlite3.OperationalError("disk I/O error (simulated)")
    store.record = broken
    with pytest.raises(sqlite3.OperationalError):
        deliver(frontier, curi, 200, ["http://a.test/link"])
    store.record = original
    assert frontier.stats()["known"] == 1  # the link's insertion was rolled back
    deliver(frontier, curi, C.CURI_EUNCAUGHT_EXCEPTION)  # what the master does next
    assert frontier.stats()["retries"] == 1
    clock.advance(1.0)
    retry = frontier.get_next()
    assert (retry.url, retry.attempt) == ("http://a.test/", 1)
    frontier.close()


# ---------------------------------------------------------------- state file
@pytest.mark.sqlite_only
def test_checkpoints_by_count_and_by_time(tmp_path):
    frontier, clock = open_frontier(MultipleHostFrontier, tmp_path, FRONTIER_CHECKPOINTING=3,
                                    FRONTIER_CHECKPOINT_SECONDS=2.0)
    reader = sqlite3.connect(str(tmp_path / "state.db"))

    def committed():
        return reader.execute("SELECT COUNT(*) FROM urls").fetchone()[0]
    seed(frontier, "http://a.test/1", "http://a.test/2")
    assert committed() == 0
    seed(frontier, "http://a.test/3")
    assert committed() == 3
    seed(frontier, "http://a.test/4")
    assert committed() == 3
    assert frontier.next_due() <= clock.t + 2.0
    clock.advance(2.0)
    drain(frontier)
    assert committed() == 4
    reader.close()
    frontier.close()


def test_close_is_final_and_idempotent(frontier_class, tmp_path):
    frontier, _ = open_frontier(frontier_class, tmp_path)
    seed(frontier, "http://a.test/")
    curi = frontier.get_next()
    frontier.close()
    frontier.close()
    with pytest.raises(queue.Empty):
        frontier.get_next()
    assert seed(frontier, "http://a.test/x") == [False]
    deliver(frontier, curi, 200)  # a late result must not raise


@pytest.mark.sqlite_only
def test_one_state_file_one_master(frontier_class, tmp_path):
    frontier, _ = open_frontier(frontier_class, tmp_path)
    with pytest.raises(StartupError, match="in use by another master"):
        open_frontier(frontier_class, tmp_path)
    frontier.close()
    open_frontier(frontier_class, tmp_path)[0].close()


@pytest.mark.sqlite_only
def test_unusable_state_file(tmp_path):
    with pytest.raises(StartupError, match="FRONTIER_STATE_FILE"):
        open_frontier(MultipleHostFrontier, tmp_path,
                      FRONTIER_STATE_FILE=str(tmp_path / "missing" / "state.db"))
    (tmp_path / "directory.db").mkdir()
    with pytest.raises(StartupError, match="FRONTIER_STATE_FILE"):
        open_frontier(MultipleHostFrontier, tmp_path,
                      FRONTIER_STATE_FILE=str(tmp_path / "directory.db"))


@pytest.mark.sqlite_only
def test_state_file_of_another_queue_assignment_is_refused(tmp_path):
    open_frontier(MultipleHostFrontier, tmp_path)[0].close()
    with pytest.raises(StartupError, match="QUEUE_ASSIGNMENT_CLASS"):
        open_frontier(SingleHostFrontier, tmp_path)


def test_bad_sink_class_and_scope_settings(tmp_path):
    with pytest.raises(StartupError, match="SINKS entry 'no.such.Sink'"):
        open_frontier(MultipleHostFrontier, tmp_path, SINKS=["no.such.Sink"])
    with pytest.raises(StartupError, match="QUEUE_ASSIGNMENT_CLASS='spyder.Nope'"):
        open_frontier(MultipleHostFrontier, tmp_path, QUEUE_ASSIGNMENT_CLASS="spyder.Nope")
    with pytest.raises(SettingsError, match="REGEX_SCOPE_NEGATIVE"):
        open_frontier(MultipleHostFrontier, tmp_path, REGEX_SCOPE_NEGATIVE=["(unclosed"])
    open_frontier(MultipleHostFrontier, tmp_path)[0].close()  # the lock was released
