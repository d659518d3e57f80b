"""Shared helpers of the frontier tests (no tests here).

``make_settings`` gives settings with the state file and socket directory in a
temp dir; ``Clock`` is the injectable UTC clock; ``Site`` is a simulated web
(URL -> status, headers, links, body) and ``crawl`` drives a frontier against it
the way the master does -- dispatch while slots are free, otherwise jump the
clock to ``next_due()`` -- recording when each URL was handed out and finished.
"""
import queue
import sys
import uuid
import zlib

import pytest

from spyder.core.crawluri import CrawlUri
from spyder.core.retry import result_class
from spyder.core.settings import Settings
from spyder.core.sink import AbstractCrawlUriSink

T0 = 1_700_000_000.0
#: The ``FRONTIER_STORE`` of the frontiers ``make_settings`` sets up (``store_kinds``).
STORE = "sqlite"


class Clock:
    """A settable UTC epoch clock."""

    def __init__(self, t=T0):
        self.t = t

    def __call__(self):
        return self.t

    def advance(self, seconds):
        self.t += seconds


def store_kinds(request, monkeypatch):
    """The body of a fixture parametrized over the stores (``params=["sqlite", "memory",
    "redis"]``): the frontiers of a test run on the SQLite store, then on the in-memory
    one, then on the Redis Cluster store (a fresh key prefix on the session's cluster,
    ``conftest.redis_cluster``) -- except tests marked ``sqlite_only`` (they read or
    reopen the state file)."""
    if request.param != "sqlite" and request.node.get_closest_marker("sqlite_only"):
        pytest.skip("reads or reopens the SQLite state file")
    store = request.param
    if store == "redis":
        cluster = request.getfixturevalue("redis_cluster")
        store = "%s/t-%s" % (cluster.url, uuid.uuid4().hex[:10])
    monkeypatch.setattr(sys.modules[__name__], "STORE", store)
    return request.param


def crash(frontier):
    """End ``frontier`` as a SIGKILL would: no commit, no close (its lock is let go)."""
    frontier._store._db.close()
    frontier._store._release()


def make_settings(tmp_path, **overrides):
    settings = Settings()
    settings.PARENT_SOCKET_DIRECTORY = str(tmp_path / "sockets")
    settings.FRONTIER_STATE_FILE = str(tmp_path / "state.db")
    settings.FRONTIER_STORE = STORE
    if STORE.startswith("redis://"):  # one crawl per state file, as with SQLite
        settings.FRONTIER_STORE += "-%08x" % zlib.crc32(settings.FRONTIER_STATE_FILE.encode())
    settings.JSONL_SINK_PATH = str(tmp_path / "crawl.jsonl")
    settings.WARC_DIR = str(tmp_path / "warc")
    settings.ROBOTSTXT_OBEY = False
    settings.FRONTIER_MIN_DELAY = 0.0
    settings.FRONTIER_CRAWL_DELAY_FACTOR = 0.0
    for name, value in overrides.items():
        setattr(settings, name, value)
    return settings


_METHODS = {"success": "process_successful_crawl", "redirect": "process_redirect",
            "not_found": "process_not_found", "server_error": "process_server_error"}


def deliver(frontier, curi, status, links=(), headers=None, body=b"", req_time=0.1, **optional):
    """Fill in a result and hand it to the frontier as the master would."""
    result = CrawlUri(url=curi.url, effective_url=curi.effective_url,
                      current_priority=curi.current_priority, req_header=dict(curi.req_header),
                      optional_vars=dict(curi.optional_vars), depth=curi.depth,
                      attempt=curi.attempt)
    result.status_code = status
    result.rep_header = dict(headers or {})
    result.content_body = body
    result.req_time = req_time
    if links:
        result.optional_vars["extracted_urls"] = "\n".join(links)
    result.optional_vars.update(optional)
    getattr(frontier, _METHODS[result_class(status)])(result)
    return result


class RecordingSink(AbstractCrawlUriSink):
    """Remembers every callback as (method, url, status)."""

    def __init__(self, settings=None):
        super().__init__(settings)
        self.calls = []
        self.closed = False

    def process_successful_crawl(self, curi):
        self.calls.append(("success", curi.url, curi.status_code))

    def process_redirect(self, curi):
        self.calls.append(("redirect", curi.url, curi.status_code))

    def process_not_found(self, curi):
        self.calls.append(("not_found", curi.url, curi.status_code))

    def process_server_error(self, curi):
        self.calls.append(("server_error", curi.url, curi.status_code))

    def close(self):
        self.closed = True


class Site:
    """A simulated web: ``pages[url] = (status, links, headers, body)`` (trailing parts
    optional); unknown URLs are 404.  Values may also be callables ``f(curi) -> tuple``.
    """

    def __init__(self, pages=None, req_time=0.1):
        self.pages = dict(pages or {})
        self.req_time = req_time

    def answer(self, curi):
        page = self.pages.get(curi.url, (404, (), {}))
        if callable(page):
            page = page(curi)
        page = tuple(page)
        return page + ((), {}, b"")[len(page) - 1:]


class Trace:
    """What ``crawl`` saw: dispatches and results with their times."""

    def __init__(self):
        self.dispatched = []   # (time, CrawlUri)
        self.finished = []     # (time, url, status)

    @property
    def urls(self):
        return [curi.url for _, curi in self.dispatched]


def crawl(frontier, clock, site, slots=1, latency=0.0, max_steps=10000, until=None):
    """Run the frontier against ``site`` until it is done (or ``until(trace)`` is true).

    Up to ``slots`` URLs are in flight; each takes ``latency`` seconds of clock time.
    """
    trace = Trace()
    in_flight = []  # (finish time, curi)
    for _ in range(max_steps):
        if until is not None and until(trace):
            return trace
        while len(in_flight) < slots:
            try:
                curi = frontier.get_next()
            except queue.Empty:
                break
            trace.dispatched.append((clock.t, curi))
            in_flight.append((clock.t + latency, curi))
        if in_flight:
            in_flight.sort(key=lambda item: item[0])
            finish, curi = in_flight.pop(0)
            clock.t = max(clock.t, finish)
            status, links, headers, body = site.answer(curi)
            deliver(frontier, curi, status, links, headers, body, req_time=site.req_time)
            trace.finished.append((clock.t, curi.url, status))
            continue
        if frontier.crawl_done():
            return trace
        due = frontier.next_due()
        if due is None:
            return trace
        clock.t = max(clock.t, due)
    raise AssertionError("crawl did not finish in %d steps" % max_steps)


def drain(frontier):
    """Every URL get_next hands out right now (without results)."""
    out = []
    while True:
        try:
            out.append(frontier.get_next())
        except queue.Empty:
            return out
