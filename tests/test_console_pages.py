"""The console's pages without a browser or a crawl: hostile crawl input is escaped,
a host's queue comes from the frontier (``host_queue``), and the recent fetches kept
per host stay bounded."""
import queue
from types import SimpleNamespace

import pytest

from spyder.console import dashboard
from spyder.console import RECENT_HOSTS, RECENT_PER_HOST, Console
from spyder.core.crawluri import CrawlUri
from spyder.core.frontier import MultipleHostFrontier
from spyder.core.settings import Settings
from test_frontier_support import Clock, make_settings

HOSTILE_HOST = 'evil.test"><script>alert(1)</script>'
HOSTILE_URL = 'http://evil.test/"><img src=x onerror=alert(1)>'


def _host(host=HOSTILE_HOST, **fields):
    row = {"host": host, "queued": 1, "in_flight": 0, "fetched": 2, "errors": 1, "bytes": 10,
           "last_status": 404, "last_time": 1.0, "active": True, "next_allowed": None,
           "delay": 0.5, "delay_override": None, "blocked": False, "blocked_until": None,
           "robots": {"state": "ready", "status": 200, "expires": 5.0, "crawl_delay": None}}
    row.update(fields)
    return row


def _assert_inert(page):
    """Nothing from the crawl became markup: the only tags are the page's own."""
    assert "<script>" not in page and "<img" not in page and "<i>" not in page
    assert page.count("<script") == 1   # the page's own script, by src


def test_the_pages_escape_hosts_urls_and_error_texts_from_the_crawl():
    fetch = {"time": 1.0, "url": HOSTILE_URL, "status": 404, "outcome": "not_found",
             "seconds": 0.1, "bytes": 12, "error": "<b>boom</b>"}
    view = {"host": _host(), "fetches": [fetch], "errors": [fetch],
            "queue": {"in_flight": [{"url": HOSTILE_URL, "due": None, "attempt": 0, "depth": 1}],
                      "queued": [{"url": HOSTILE_URL, "due": 3.0, "attempt": 1, "depth": 2}]}}
    page = dashboard.render_host(view, token=True)
    _assert_inert(page)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;b&gt;boom&lt;/b&gt;" in page
    status = {"state": "running", "chart": {"pages_per_second": []},
              "recent_errors": [dict(fetch, url=HOSTILE_URL)]}
    page = dashboard.render(status, [{"identity": "<i>w</i>"}], [_host()], token=True)
    _assert_inert(page)
    # the host's link is percent-encoded and attribute-escaped
    assert 'href="/hosts/evil.test%22%3E%3Cscript%3Ealert%281%29%3C%2Fscript%3E"' in page
    assert "<i>" not in page
    # the page knows that a token is needed, never the token
    assert "&quot;token&quot;: true" in page


def test_the_pages_are_readable_without_script_and_offer_controls_only_with_it():
    status = {"state": "paused", "pages": 1234, "chart": {"pages_per_second": []},
              "recent_errors": []}
    page = dashboard.render(status, [], [_host("a.test", blocked=True)], token=False)
    assert 'data-key="state" data-fmt="text">paused<' in page
    assert 'data-key="pages" data-fmt="int">1,234<' in page
    assert '<a href="/hosts/a.test">a.test</a>' in page and "until unblocked" in page
    assert '<section class="wide controls" data-needs-js hidden>' in page
    assert "<noscript>" in page and "spyder ctl" in page
    assert dashboard.format_value("due", None) == "in flight"
    assert dashboard.format_value("due", 5.0) == "now"           # long due: due now
    assert dashboard.format_value("blockstate", False, {"blocked": False}) == "no"
    assert dashboard.format_value("blocked", False, {"blocked": False}) == ""
    error = dashboard.render_error(404, "the crawl knows no host '<x>'")
    assert "&#x27;&lt;x&gt;&#x27;" in error


def test_host_queue_lists_the_hosts_urls_in_flight_and_due_first(tmp_path):
    clock = Clock()
    frontier = MultipleHostFrontier(make_settings(tmp_path), clock=clock)
    try:
        frontier.add_seeds(["http://a.test/%d" % i for i in range(5)] + ["http://b.test/"])
        with pytest.raises(KeyError):
            frontier.host_queue("c.test")
        taken = []
        while True:
            try:
                taken.append(frontier.get_next())
            except queue.Empty:
                break
        flying = [c.url for c in taken if c.url.startswith("http://a.test/")]
        assert flying                          # robots.txt is off in make_settings
        view = frontier.host_queue("a.test", limit=10)
        assert [e["url"] for e in view["in_flight"]] == flying
        assert all(e["due"] is None for e in view["in_flight"])
        queued = [e["url"] for e in view["queued"]]
        assert set(queued) | set(flying) == {"http://a.test/%d" % i for i in range(5)}
        assert not set(queued) & set(flying)
        assert all(isinstance(e["due"], float) for e in view["queued"])
        assert len(frontier.host_queue("a.test", limit=1)["queued"]) <= 1
        assert [e["url"] for e in frontier.host_queue("b.test")["in_flight"]
                + frontier.host_queue("b.test")["queued"]] == ["http://b.test/"]
    finally:
        frontier.close()


def test_recent_fetches_are_kept_per_host_and_bounded():
    master = SimpleNamespace(stats=dict, result_listeners=[])
    console = Console(Settings(overrides={"MASTER_HTTP_ADDRESS": "127.0.0.1:0"}), master,
                      frontier=None)                           # never binds
    for i in range(RECENT_PER_HOST + 5):
        curi = CrawlUri(url="http://a.test/%d" % i)
        curi.status_code, curi.req_time = 200 if i % 2 else 503, 0.1
        console._observe(curi, "success" if i % 2 else "server_error")
    fetches, errors = console._recent["a.test"]
    assert len(fetches) == RECENT_PER_HOST and fetches[-1]["url"].endswith(
        "/%d" % (RECENT_PER_HOST + 4))
    assert len(errors) == (RECENT_PER_HOST + 5) // 2 + 1 and all(
        e["status"] == 503 for e in errors)
    for i in range(RECENT_HOSTS + 10):
        curi = CrawlUri(url="http://h%d.test/" % i)
        curi.status_code = 200
        console._observe(curi, "success")
    assert len(console._recent) == RECENT_HOSTS
    assert "a.test" not in console._recent and "h%d.test" % (RECENT_HOSTS + 9) in console._recent
