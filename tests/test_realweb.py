"""The real web's edges against real local servers: robots.txt per RFC 9309 (any
content type, BOM, unreachable means wait -- also across a restart --, cross-host
redirects), X-Robots-Tag, sitemaps (index, gzip, text, bomb, entities) and honest
WARCs (truncated and never-downloaded bodies).

Each test serves tornado handlers on 127.0.0.1 (one ephemeral port per "host") and
crawls them with the real frontier, the real ``FetchProcessor`` and the worker's
processing function, routed by result class as the master routes them.
"""
import asyncio
import gzip
import json
import subprocess
import sys
import time

import pytest
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler
from warcio.archiveiterator import ArchiveIterator

from spyder.core.crawluri import CrawlUri
from spyder.core.frontier.frontiers import MultipleHostFrontier
from spyder.core.retry import result_class
from spyder.core.sink import SINK_METHODS
from spyder.processor.fetcher import FetchProcessor
from spyder.workerprocess import create_processing_function
from test_frontier_support import make_settings

pytestmark = pytest.mark.timeout(60)

URLSET = ('<?xml version="1.0" encoding="UTF-8"?>\n'
          '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">%s</urlset>')
INDEX = ('<?xml version="1.0" encoding="UTF-8"?>\n'
         '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">%s</sitemapindex>')


def urlset(*urls):
    return (URLSET % "".join("<url><loc>%s</loc></url>" % u for u in urls)).encode()


def index(*urls):
    return (INDEX % "".join("<sitemap><loc>%s</loc></sitemap>" % u for u in urls)).encode()


def html(*links, head=""):
    return ("<html><head>%s</head><body>%s</body></html>"
            % (head, "".join('<a href="%s">x</a>' % link for link in links))).encode()


class _Handler(RequestHandler):
    async def get(self):
        host = self.application.settings["host"]
        host.log.append((time.monotonic(), self.request.path))
        answer = host.pages.get(self.request.path)
        if answer is None:
            self.set_status(404)
            return
        if callable(answer):
            answer = answer()
        if isinstance(answer, Raw):
            await answer.serve(self)
            return
        status, headers, body = answer
        self.set_status(status)
        for name, value in headers.items():
            for one in value if isinstance(value, list) else [value]:  # a list: repeated
                self.add_header(name, one)
        self.write(body)


class Raw:
    """Headers promising ``length`` bytes, ``sent`` bytes of body, then a stall or a close."""

    def __init__(self, length, sent, then):
        self.length, self.sent, self.then = length, sent, then

    async def serve(self, handler):
        handler.set_header("Content-Type", "text/html")
        handler.set_header("Content-Length", str(self.length))
        handler.write(b"x" * self.sent)
        await handler.flush()
        if self.then == "close":
            handler.request.connection.stream.close()
        else:
            await asyncio.sleep(30)


class Host:
    """One served "host" (127.0.0.1 and its own port): ``pages[path]`` -> (status,
    headers, body), a callable giving one, or a ``Raw``; ``log`` holds (time, path)."""

    def __init__(self, pages):
        self.pages = pages
        self.log = []
        sockets = bind_sockets(0, "127.0.0.1")
        self.origin = "http://127.0.0.1:%d" % sockets[0].getsockname()[1]
        self.server = HTTPServer(Application([(r"/.*", _Handler)], host=self))
        self.server.add_sockets(sockets)

    def url(self, path):
        return self.origin + path

    def paths(self):
        return [path for _, path in self.log]


def text(body, content_type="text/plain"):
    return 200, {"Content-Type": content_type}, body


class Crawl:
    """The frontier with a real fetcher and extract pipeline, driven as master + worker."""

    def __init__(self, tmp_path, **overrides):
        overrides.setdefault("ROBOTSTXT_OBEY", True)
        overrides.setdefault("RETRY_BACKOFF", 0.05)
        self.settings = make_settings(tmp_path, **overrides)
        self.frontier = MultipleHostFrontier(self.settings)
        self.fetcher = FetchProcessor(self.settings)
        self.process = create_processing_function(self.settings)

    def seed(self, *urls):
        for url in urls:
            self.frontier.add_uri(CrawlUri(url=url))

    async def run(self, until=None, timeout=30.0):
        """Crawl until the frontier is done (or ``until()`` is true); False on timeout."""
        deadline = time.monotonic() + timeout
        frontier = self.frontier
        while time.monotonic() < deadline:
            if until is not None and until():
                return True
            batch = []
            while True:
                try:
                    batch.append(frontier.get_next())
                except Exception:  # queue.Empty
                    break
            if batch:
                for curi in await asyncio.gather(*map(self.fetcher, batch)):
                    curi = self.process(curi)
                    getattr(frontier, SINK_METHODS[result_class(curi.status_code)])(curi)
                continue
            if until is None and frontier.crawl_done():
                return True
            due = frontier.next_due()
            await asyncio.sleep(0.01 if due is None else min(max(due - time.time(), 0), 0.05))
        return False

    def close(self):
        self.fetcher.close()
        self.frontier.close()


def serve_and_crawl(tmp_path, hosts, seeds, steps, **overrides):
    """Serve ``hosts`` (lists of pages), then ``await steps(crawl, hosts)``."""
    async def go():
        served = [Host(pages) for pages in hosts]
        crawl = Crawl(tmp_path, **overrides)
        try:
            crawl.seed(*[served[h].url(path) for h, path in seeds])
            return await steps(crawl, served)
        finally:
            crawl.close()
            for host in served:
                host.server.stop()
    return asyncio.run(go())


async def until_done(crawl, served):
    assert await crawl.run(), "the crawl did not finish"
    return served


def records(tmp_path):
    with open(str(tmp_path / "crawl.jsonl")) as lines:
        return {r["url"]: r for r in map(json.loads, lines)}


# ------------------------------------------------------------------------- robots.txt
SITE = {"/": text(html("/public", "/private/x"), "text/html"),
        "/public": text(html(), "text/html"), "/private/x": text(html(), "text/html")}


@pytest.mark.parametrize("content_type,overrides", [
    ("application/octet-stream", {}),  # S3, many CDNs
    ("text/html", {"FETCH_CONTENT_TYPES": ["application/xhtml+xml"]}),
])
def test_robots_txt_is_read_whatever_its_content_type(tmp_path, content_type, overrides):
    pages = dict(SITE, **{"/robots.txt": text(b"User-agent: *\nDisallow: /private/\n",
                                              content_type)})
    if overrides:  # robots.txt's type is outside FETCH_CONTENT_TYPES, the pages' is not
        pages["/"] = text(html("/public", "/private/x"), "application/xhtml+xml")
    [host] = serve_and_crawl(tmp_path, [pages], [(0, "/")], until_done, **overrides)
    assert sorted(host.paths()) == ["/", "/public", "/robots.txt"]


def test_robots_txt_with_a_byte_order_mark(tmp_path):
    pages = dict(SITE, **{"/robots.txt": text(b"\xef\xbb\xbfUser-agent: *\nDisallow: /private/\n")})
    [host] = serve_and_crawl(tmp_path, [pages], [(0, "/")], until_done)
    assert sorted(host.paths()) == ["/", "/public", "/robots.txt"]


def test_robots_txt_beyond_its_limit_is_ignored_but_read_up_to_it(tmp_path):
    body = b"User-agent: *\nDisallow: /private/\n" + b"#" * (600 * 1024) + b"\nDisallow: /\n"
    pages = dict(SITE, **{"/robots.txt": text(body)})
    [host] = serve_and_crawl(tmp_path, [pages], [(0, "/")], until_done)
    assert sorted(host.paths()) == ["/", "/public", "/robots.txt"]


def test_unreachable_robots_txt_waits_across_a_restart_and_drops_nothing(tmp_path):
    max_retries = 2
    answers = [(503, {}, b"down")] * (max_retries + 1) + [
        text(b"User-agent: *\nDisallow: /private/\n")]
    pages = dict(SITE, **{"/robots.txt": lambda: answers.pop(0) if len(answers) > 1
                          else answers[0]})
    settings = dict(MAX_RETRIES=max_retries, RETRY_BACKOFF=0.05, ROBOTSTXT_RETRY_MAX_WAIT=0.2,
                    FRONTIER_CHECKPOINTING=1)

    async def steps(crawl, served):
        [host] = served
        assert await crawl.run(until=lambda: host.paths().count("/robots.txt") == 2)
        assert crawl.frontier.stats()["robots_waiting"] == 1
        crawl.close()  # the master stops ...
        again = Crawl(tmp_path, **settings)  # ... and resumes on the same state file
        crawl.frontier, crawl.fetcher = again.frontier, again.fetcher
        assert crawl.frontier.stats()["robots_waiting"] == 1
        assert not crawl.frontier.crawl_done()
        assert await crawl.run(), "the resumed crawl did not finish"
        assert crawl.frontier.stats()["robots_waiting"] == 0
        return served

    [host] = serve_and_crawl(tmp_path, [pages], [(0, "/")], steps, **settings)
    assert host.paths().count("/robots.txt") == max_retries + 2
    assert sorted(set(host.paths())) == ["/", "/public", "/robots.txt"]
    assert host.paths()[:max_retries + 1] == ["/robots.txt"] * (max_retries + 1)


def test_a_cross_host_robots_redirect_is_fetched_under_the_target_hosts_politeness(tmp_path):
    delay = 0.3
    target = {"/robots.txt": text(b"User-agent: *\nDisallow: /private/\n")}
    target.update({"/p%d" % i: text(html(), "text/html") for i in range(6)})
    origin = dict(SITE)

    async def steps(crawl, served):
        a, b = served
        origin["/robots.txt"] = (301, {"Location": b.url("/robots.txt")}, b"")
        crawl.seed(*[b.url("/p%d" % i) for i in range(6)])
        assert await crawl.run(until=lambda: len(b.log) >= 2)
        crawl.seed(a.url("/"))  # its robots.txt redirect arrives while b is being crawled
        assert await crawl.run(), "the crawl did not finish"
        return served

    a, b = serve_and_crawl(tmp_path, [origin, target], [], steps, FRONTIER_MIN_DELAY=delay)
    assert sorted(a.paths()) == ["/", "/public", "/robots.txt"]  # b's rules, applied to a
    assert b.paths().count("/robots.txt") == 2  # b's own, and a's redirected fetch
    times = [t for t, _ in b.log]
    gaps = [later - earlier for earlier, later in zip(times, times[1:])]
    assert min(gaps) >= delay * 0.95, gaps


# ------------------------------------------------------------------------- X-Robots-Tag
def test_x_robots_tag_is_honoured_and_noindex_recorded(tmp_path):
    def tagged(value, link):
        return 200, {"Content-Type": "text/html", "X-Robots-Tag": value}, html(link)
    pages = {
        "/robots.txt": (404, {}, b""),
        "/": text(html("/xr-nofollow", "/xr-other", "/xr-ours", "/xr-none", "/meta",
                       "/pdf"), "text/html"),
        "/xr-nofollow": tagged("nofollow", "/a"),
        "/xr-other": tagged("googlebot: nofollow, noindex", "/b"),
        "/xr-ours": tagged("googlebot: noarchive, spyder: noindex, nofollow", "/c"),
        "/xr-none": tagged("none", "/d"),
        "/meta": text(html("/e", head='<meta name="robots" content="noindex">'), "text/html"),
        "/pdf": (200, {"Content-Type": "application/pdf", "X-Robots-Tag": "noindex"}, b"%PDF"),
    }
    for path in "abcde":
        pages["/" + path] = text(html(), "text/html")
    [host] = serve_and_crawl(tmp_path, [pages], [(0, "/")], until_done,
                             SINKS=["spyder.sinks.jsonl.JsonLinesSink"])
    fetched = set(host.paths())
    assert {"/b", "/e"} <= fetched and not {"/a", "/c", "/d"} & fetched
    noindex = {url.rpartition("/")[2]: r["noindex"] for url, r in records(tmp_path).items()}
    assert noindex == {"": False, "xr-nofollow": False, "xr-other": False, "xr-ours": True,
                       "xr-none": True, "meta": True, "pdf": True, "b": False, "e": False}


def test_repeated_x_robots_tag_headers_are_read_one_line_at_a_time(tmp_path):
    """Issue 18 item 9: a user-agent prefix in one X-Robots-Tag header line does not
    reach into the next line (they were joined with ", ", so a general ``noindex`` after
    ``otherbot: nofollow`` read as otherbot's)."""
    def tagged(values, link):
        return 200, {"Content-Type": "text/html", "X-Robots-Tag": values}, html(link)
    pages = {
        "/robots.txt": (404, {}, b""),
        "/": text(html("/split-noindex", "/split-nofollow", "/split-ours"), "text/html"),
        "/split-noindex": tagged(["otherbot: nofollow", "noindex"], "/f"),
        "/split-nofollow": tagged(["otherbot: noindex", "nofollow"], "/g"),
        "/split-ours": tagged(["noarchive", "spyder: noindex", "otherbot: nofollow"], "/h"),
    }
    for path in "fgh":
        pages["/" + path] = text(html(), "text/html")
    [host] = serve_and_crawl(tmp_path, [pages], [(0, "/")], until_done,
                             SINKS=["spyder.sinks.jsonl.JsonLinesSink"])
    fetched = set(host.paths())
    assert {"/f", "/h"} <= fetched and "/g" not in fetched
    noindex = {url.rpartition("/")[2]: r["noindex"] for url, r in records(tmp_path).items()}
    assert noindex == {"": False, "split-noindex": True, "split-nofollow": False,
                       "split-ours": True, "f": False, "h": False}


# ------------------------------------------------------------------------- sitemaps
def _bomb(before):
    """A gzip sitemap that inflates to 200 MiB: some URLs, then whitespace without end."""
    head = URLSET.split("%s")[0] + "".join("<url><loc>%s</loc></url>" % u for u in before)
    return gzip.compress(head.encode() + b" " * (200 << 20) + b"</urlset>", 9)


def test_sitemaps_index_gzip_text_and_bomb(tmp_path):
    pages = {"/": text(html("/linked"), "text/html"), "/linked": text(html(), "text/html")}
    pages.update({"/only/%d" % i: text(html(), "text/html") for i in range(9)})

    async def steps(crawl, served):
        [host] = served
        u = host.url
        pages["/robots.txt"] = text(("User-agent: *\nDisallow: /only/7\n"
                                     "Sitemap: %s\n" % u("/sitemap_index.xml")).encode())
        pages["/sitemap_index.xml"] = 200, {"Content-Type": "application/xml"}, index(
            u("/s1.xml.gz"), u("/s2.txt"), u("/bomb.xml.gz"), u("/nested.xml"),
            u("/lol.xml"), u("/encoded-bomb.xml"))
        pages["/s1.xml.gz"] = 200, {"Content-Type": "application/x-gzip"}, gzip.compress(
            urlset(u("/only/0"), u("/only/1"), u("/linked"), "http://127.0.0.2:9/out",
                   u("/only/7")))
        pages["/s2.txt"] = text(("%s\n%s\r\n" % (u("/only/2"), u("/only/3"))).encode())
        pages["/bomb.xml.gz"] = (200, {"Content-Type": "application/octet-stream"},
                                 _bomb([u("/only/4")]))
        pages["/encoded-bomb.xml"] = (200, {"Content-Type": "text/xml",
                                            "Content-Encoding": "gzip"}, _bomb([u("/only/8")]))
        pages["/nested.xml"] = text(index(u("/deeper.xml")), "text/xml")
        pages["/deeper.xml"] = text(urlset(u("/only/6")), "text/xml")
        pages["/lol.xml"] = text(b'<?xml version="1.0"?><!DOCTYPE u [<!ENTITY a "' +
                                 u("/only/5").encode() + b'">]><urlset><url><loc>&a;</loc>'
                                 b'</url></urlset>', "text/xml")
        assert await crawl.run(), "the crawl did not finish"
        return served

    [host] = serve_and_crawl(tmp_path, [pages], [(0, "/")], steps, ROBOTSTXT_SITEMAPS=True,
                             SITEMAP_MAX_DEPTH=1, SITEMAP_MAX_SIZE=1 << 20,
                             SINKS=["spyder.sinks.jsonl.JsonLinesSink"])
    fetched = host.paths()
    assert sorted(p for p in fetched if p.startswith("/only/")) == [
        "/only/0", "/only/1", "/only/2", "/only/3", "/only/4", "/only/8"]
    # not /only/5 (an entity), /only/6 (nested too deep), /only/7 (robots.txt), /out (scope)
    assert fetched.count("/linked") == 1 and "/deeper.xml" not in fetched
    got = records(tmp_path)
    assert got[host.url("/only/0")]["depth"] == 1
    assert got[host.url("/bomb.xml.gz")]["truncated_reason"] is None  # cut by the parser
    bomb = got[host.url("/encoded-bomb.xml")]  # inflated by the fetcher: cut there
    assert (bomb["truncated_reason"], bomb["content_length"]) == ("length", 1 << 20)


# ------------------------------------------------------------------------- WARC
def test_truncated_and_never_downloaded_bodies_are_marked_in_the_warc(tmp_path):
    full = html("/big", "/pdf", "/stall", "/cut") * 3
    pages = {"/robots.txt": text(b"User-agent: *\nDisallow:\n"),
             "/": text(full, "text/html"),
             "/big": text(b"<html>" + b"b" * 5000, "text/html"),
             "/pdf": (200, {"Content-Type": "application/pdf"}, b"%PDF-1.4" * 100),
             "/stall": Raw(5000, 700, "stall"), "/cut": Raw(5000, 600, "close")}
    [host] = serve_and_crawl(tmp_path, [pages], [(0, "/")], until_done,
                             MAX_CONTENT_SIZE=1000, REQUEST_TIMEOUT=1.0, MAX_RETRIES=0,
                             SINKS=["spyder.sinks.jsonl.JsonLinesSink",
                                    "spyder.sinks.warc.WarcSink"])
    [warc] = (tmp_path / "warc").glob("*.warc.gz")
    check = subprocess.run([sys.executable, "-m", "warcio.cli", "check", "-v", str(warc)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    found = {}
    with open(str(warc), "rb") as stream:
        for record in ArchiveIterator(stream):
            if record.rec_type in ("response", "metadata"):
                found[record.rec_headers.get_header("WARC-Target-URI")] = (
                    record.rec_type, record.rec_headers.get_header("WARC-Truncated"),
                    record.content_stream().read())
    assert found[host.url("/")] == ("response", None, full)
    assert found[host.url("/robots.txt")] == ("response", None, b"User-agent: *\nDisallow:\n")
    assert found[host.url("/big")][:2] == ("response", "length")
    assert found[host.url("/big")][2] == (b"<html>" + b"b" * 5000)[:1000]
    assert found[host.url("/stall")] == ("response", "time", b"x" * 700)
    assert found[host.url("/cut")] == ("response", "disconnect", b"x" * 600)
    kind, reason, fields = found[host.url("/pdf")]
    assert (kind, reason) == ("metadata", "unspecified")
    assert b"http-status: 200 OK" in fields and b"application/pdf" in fields
    reasons = {url.rpartition("/")[2]: r["truncated_reason"]
               for url, r in records(tmp_path).items()}
    assert reasons == {"": None, "big": "length", "pdf": "unspecified", "stall": "time",
                       "cut": "disconnect"}
