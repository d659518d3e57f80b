"""The generated local website that ``spyder demo``, ``spyder bench`` and the tests crawl.

``DemoSite(pages, hosts, seed)`` deterministically generates a small web: ``pages``
regular HTML pages spread over ``hosts`` virtual hosts, plus on every host a few
special resources a crawler must handle -- a ``robots.txt`` (a disallowed ``/private/``
directory that pages link into, ``Crawl-delay: 0``, a ``Sitemap:`` line), a sitemap
(listing some regular pages and *sitemap-only* pages, ``/sitemap-only/...``, that no
page links to, so a crawl reaches them only by reading the sitemap), redirects (301/302/303/307/308) to real pages, links to missing pages (404), a PDF and a
text file, and orphan pages nobody links to.  Pages link to each other with relative,
absolute-path, absolute and protocol-relative links, across hosts, and with decorations
a crawler must collapse: ``#fragments`` and session ids (``?sid=``, ``;jsessionid=``,
``PHPSESSID=``).  Pages carry ETag and Last-Modified headers (and answer conditional
requests with 304).

``DemoServer(site)`` serves it from memory: one tornado ``HTTPServer`` per host on
127.0.0.1 with an ephemeral port (a "host" is ``127.0.0.1:PORT``), in a background
thread (``start()``/``stop()``, or a ``with`` block) or in the foreground
(``serve_forever()``).  It records every request (``requests``: host, path, time,
status) so tests can assert "fetched exactly once", "never requested a disallowed path"
and per-host politeness, and ``expected_urls()`` computes the set a correct crawl from
the seeds fetches.  ``latency`` holds every response back (without blocking the server)
so that fetches stay in flight long enough for crash tests.

Standalone: ``python -m spyder.demosite --pages N --hosts H`` prints the seed URLs, one
per line, and serves until Ctrl-C (``spyder demo`` and ``spyder bench`` run it that way);
``--bind``, ``--latency`` and ``--log FILE`` (each answered request's host, path, start
and end as a JSON line) serve it to other machines (network namespaces) for the tests.
"""
import argparse
import asyncio
import collections
import email.utils
import hashlib
import json
import posixpath
import random
import signal
import sys
import threading
import time

from tornado import httputil
from tornado.httpserver import HTTPServer
from tornado.iostream import StreamClosedError
from tornado.netutil import bind_sockets

#: The address every virtual host listens on.
LOOPBACK = "127.0.0.1"
#: The disallowed directory of every host's robots.txt.
DISALLOWED_PREFIX = "/private/"
#: A host outside the site (and outside any crawl scope): linked, never served.
EXTERNAL_URL = "http://127.0.0.2:9/outside.html"
#: The redirect status codes the site uses.
REDIRECT_CODES = (301, 302, 303, 307, 308)

#: One request the server answered.
ServedRequest = collections.namedtuple("ServedRequest", "host path time status")

# resource kinds
_PAGE, _REDIRECT, _FILE, _ROBOTS, _SITEMAP = "page", "redirect", "file", "robots", "sitemap"

# link decorations a crawler must undo (see _decorate)
_DECORATIONS = ("fragment", "sid", "sid-first", "jsessionid", "phpsessid")
_WORDS = ("spider crawler frontier worker master polite robots sitemap queue host page "
          "link fetch parse extract scope session redirect archive index signal socket "
          "message lease resume commit delay budget").split()


class _Resource:
    __slots__ = ("kind", "status", "content_type", "links", "location", "etag", "modified")

    def __init__(self, kind, status=200, content_type="text/html; charset=utf-8",
                 links=(), location=None):
        self.kind = kind
        self.status = status
        self.content_type = content_type
        self.links = list(links)   # [(host, target, base_form, decoration)]
        self.location = location   # (host, target, form) for redirects
        self.etag = None
        self.modified = None


class DemoSite:
    """The model of the generated site: hosts are indexes, targets are path+query strings.

    ``resources[h]`` maps the targets host ``h`` serves to their ``_Resource``; every
    other target is a 404.  Links are ``(host, target, form, decoration)`` tuples whose
    canonical target is ``(host, target)``; the HTML is rendered when it is served.
    """

    def __init__(self, pages=300, hosts=3, seed=1):
        if hosts < 1 or pages < hosts:
            raise ValueError("a demo site needs at least one host and one page per host "
                             "(got pages=%r, hosts=%r)" % (pages, hosts))
        self.pages = pages
        self.hosts = hosts
        self.seed = seed
        self._rng = random.Random(seed)
        self.resources = [dict() for _ in range(hosts)]
        self._regular = [[] for _ in range(hosts)]
        self._specials = [[] for _ in range(hosts)]
        self._sitemap_only = [[] for _ in range(hosts)]
        for host in range(hosts):
            count = pages // hosts + (1 if host < pages % hosts else 0)
            self._add_regular_pages(host, count)
        for host in range(hosts):
            self._add_special_resources(host)
        for host in range(hosts):
            self._link_pages(host)
        self._stamp_validators()

    # ------------------------------------------------------------------ generation
    def _add_regular_pages(self, host, count):
        regular = self._regular[host]
        for i in range(count):
            if i == 0:
                target = "/"
            elif i % 10 == 9:
                target = "/list?page=%d" % i
            elif i == 5:
                target = "/list?side=left"  # "side" is not the session id "sid"
            else:
                target = "/s%d/p%d.html" % (i % 7, i)
            regular.append(target)
            self.resources[host][target] = _Resource(_PAGE)

    def _add_special_resources(self, host):
        rng, res = self._rng, self.resources[host]
        n = len(self._regular[host])
        res["/robots.txt"] = _Resource(_ROBOTS, content_type="text/plain")
        res["/sitemap.xml"] = _Resource(_SITEMAP, content_type="application/xml")
        res["/files/report.pdf"] = _Resource(_FILE, content_type="application/pdf")
        res["/files/notes.txt"] = _Resource(_FILE, content_type="text/plain; charset=utf-8")
        specials = ["/files/report.pdf", "/files/notes.txt"]
        for k in range(max(1, n // 60)):
            # disallowed pages; the hidden pages they link to are reachable only from there
            hidden = ["/hidden/h%d-%d.html" % (k, j) for j in range(2)]
            for target in hidden:
                res[target] = _Resource(_PAGE)
            res["%sp%d.html" % (DISALLOWED_PREFIX, k)] = _Resource(
                _PAGE, links=[(host, t, "path", None) for t in hidden])
            specials.append("%sp%d.html" % (DISALLOWED_PREFIX, k))
        for k in range(max(1, n // 40)):
            specials.append("/missing/m%d.html" % k)  # not in resources: 404
        for k in range(max(1, n // 100)):
            res["/orphan/o%d.html" % k] = _Resource(_PAGE)  # nobody links here
        for k in range(max(1, n // 50)):
            target = "/sitemap-only/s%d.html" % k  # only the sitemap names these
            res[target] = _Resource(_PAGE)
            self._sitemap_only[host].append(target)
        for code in REDIRECT_CODES:
            for k in range(max(1, n // 50)):
                source = "/go/%d/r%d" % (code, k)
                if k % 2:
                    moved = "/moved/m%d-%d.html" % (code, k)  # reachable only via redirect
                    res[moved] = _Resource(_PAGE)
                    location = (host, moved, "rel")
                else:
                    other = rng.randrange(self.hosts)
                    form = "path" if other == host else "abs"
                    location = (other, rng.choice(self._regular[other]), form)
                res[source] = _Resource(_REDIRECT, status=code, location=location)
                specials.append(source)
        self._specials[host] = specials

    def _link_pages(self, host):
        rng, regular = self._rng, self._regular[host]
        n = len(regular)
        specials = self._specials[host]
        for i, target in enumerate(regular):
            links = []
            if i + 1 < n:  # a chain through all regular pages keeps them reachable
                links.append((host, regular[i + 1], self._form(rng, same_host=True), None))
            for _ in range(rng.randrange(6, 14)):
                other = host if self.hosts == 1 or rng.random() < 0.85 else rng.randrange(self.hosts)
                link_target = rng.choice(self._regular[other])
                decoration = rng.choice(_DECORATIONS) if rng.random() < 0.3 else None
                links.append((other, link_target, self._form(rng, other == host), decoration))
            for j, special in enumerate(specials):
                if (j * 7 + 3) % n == i:
                    links.append((host, special, self._form(rng, True), None))
            if i == 0:
                links.append((None, EXTERNAL_URL, "abs", None))
            self.resources[host][target].links = links

    @staticmethod
    def _form(rng, same_host):
        if same_host:
            return rng.choice(("rel", "rel", "path", "abs"))
        return rng.choice(("abs", "abs", "proto"))

    def _stamp_validators(self):
        base = 1_600_000_000 + self.seed * 86_400
        for host, resources in enumerate(self.resources):
            for target, resource in resources.items():
                digest = hashlib.sha1(("%d|%d|%s" % (self.seed, host, target)).encode()).hexdigest()
                resource.etag = '"%s"' % digest[:16]
                resource.modified = email.utils.formatdate(base + int(digest[:5], 16), usegmt=True)

    # ------------------------------------------------------------------ queries
    def sitemap_targets(self, host):
        """The targets the host's sitemap lists: every third regular page, and the
        sitemap-only pages no page links to."""
        return self._regular[host][::3] + self._sitemap_only[host]

    def expected(self, seed_hosts=None, sitemaps=False):
        """``{(host, target): outcome}`` of a correct crawl from the roots of ``seed_hosts``.

        Outcomes are the sink's ``success`` / ``redirect`` / ``not_found``.  Scope is
        the seed hosts (the frontier's default); robots.txt requests are not included
        (see ``DemoServer.robots_urls``).  With ``sitemaps`` the sitemaps robots.txt
        names are crawled too (ROBOTSTXT_SITEMAPS).
        """
        hosts = set(range(self.hosts) if seed_hosts is None else seed_hosts)
        todo = collections.deque((h, "/") for h in sorted(hosts))
        if sitemaps:
            todo.extend((h, "/sitemap.xml") for h in sorted(hosts))
        seen = set(todo)
        while todo:
            host, target = todo.popleft()
            resource = self.resources[host].get(target)
            if resource is None:
                continue
            if resource.kind == _REDIRECT:
                found = [resource.location[:2]]
            elif resource.kind == _SITEMAP:
                found = [(host, t) for t in self.sitemap_targets(host)]
            else:
                found = [link[:2] for link in resource.links]
            for link in found:
                if (link[0] in hosts and not link[1].startswith(DISALLOWED_PREFIX)
                        and link not in seen):
                    seen.add(link)
                    todo.append(link)
        outcomes = {}
        for host, target in seen:
            resource = self.resources[host].get(target)
            if resource is None:
                outcomes[host, target] = "not_found"
            elif resource.kind == _REDIRECT:
                outcomes[host, target] = "redirect"
            else:
                outcomes[host, target] = "success"
        return outcomes

    # ------------------------------------------------------------------ rendering
    def response(self, host, target, netlocs, request_headers=None):
        """``(status, headers, body)`` for a GET of ``target`` on ``host``."""
        resource = self.resources[host].get(target)
        if resource is None:
            return 404, {"Content-Type": "text/html; charset=utf-8"}, (
                b"<html><head><title>Not found</title></head><body>"
                b"<h1>404</h1><p>No such page.</p></body></html>")
        headers = {"Content-Type": resource.content_type}
        if resource.kind == _REDIRECT:
            location = _href(target, *resource.location, None, netlocs)
            headers["Location"] = location
            return resource.status, headers, b"<html><body>Moved.</body></html>"
        headers["ETag"] = resource.etag
        headers["Last-Modified"] = resource.modified
        if request_headers is not None and self._not_modified(resource, request_headers):
            return 304, headers, b""
        return 200, headers, self._body(host, target, resource, netlocs)

    @staticmethod
    def _not_modified(resource, request_headers):
        tags = request_headers.get("If-None-Match")
        if tags is not None:
            return resource.etag in [t.strip() for t in tags.split(",")] or tags.strip() == "*"
        since = request_headers.get("If-Modified-Since")
        if since:
            try:
                return (email.utils.parsedate_to_datetime(since)
                        >= email.utils.parsedate_to_datetime(resource.modified))
            except (TypeError, ValueError):
                return False
        return False

    def _body(self, host, target, resource, netlocs):
        if resource.kind == _ROBOTS:
            return ("User-agent: *\nDisallow: %s\nCrawl-delay: 0\n\nSitemap: http://%s/sitemap.xml\n"
                    % (DISALLOWED_PREFIX, netlocs[host])).encode()
        if resource.kind == _SITEMAP:
            locs = "".join("  <url><loc>http://%s%s</loc></url>\n"
                           % (netlocs[host], t.replace("&", "&amp;"))
                           for t in self.sitemap_targets(host))
            return ('<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns='
                    '"http://www.sitemaps.org/schemas/sitemap/0.9">\n%s</urlset>\n' % locs).encode()
        if resource.kind == _FILE:
            if target.endswith(".pdf"):
                return b"%PDF-1.4\n% spyder demo\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"
            return b"Plain text notes of the Spyder demo site.\n" * 20
        rng = random.Random(resource.etag)
        text = " ".join(rng.choices(_WORDS, k=150))
        items = "\n".join('<li><a href="%s">%s</a></li>'
                          % (_href(target, *link, netlocs).replace("&", "&amp;"),
                             rng.choice(_WORDS))
                          for link in resource.links)
        return ('<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
                '<title>Demo %d %s</title></head>\n<body><h1>Host %d: %s</h1>\n'
                '<p>%s</p>\n<ul>\n%s\n</ul>\n'
                '<p><a href="mailto:webmaster@example.invalid">mail</a> '
                '<a href="javascript:void(0)">js</a> <a href="#top">top</a></p>\n'
                '</body></html>\n' % (host, target, host, target, text, items)).encode()


def _href(source_target, host, target, form, decoration, netlocs):
    """The href of a link to ``(host, target)`` written in ``form`` with ``decoration``."""
    if host is None:  # external
        return target
    target = _decorate(target, decoration, source_target)
    if form == "rel":
        cut = min((target.find(c) for c in ";?#" if c in target), default=len(target))
        path, rest = target[:cut], target[cut:]
        start = posixpath.dirname(source_target.split("?", 1)[0]) or "/"
        if path.endswith("/"):
            return target  # relpath would drop the trailing slash
        return posixpath.relpath(path, start) + rest
    if form == "path":
        return target
    if form == "proto":
        return "//%s%s" % (netlocs[host], target)
    return "http://%s%s" % (netlocs[host], target)


def _decorate(target, decoration, salt):
    """Add a fragment or a session id to ``target``; the crawler must remove it again."""
    if decoration is None:
        return target
    token = hashlib.md5((salt + target).encode()).hexdigest()[:12]
    if decoration == "fragment":
        return target + "#part-" + token[:3]
    if decoration == "jsessionid":
        path, sep, query = target.partition("?")
        return "%s;jsessionid=%s%s%s" % (path, token.upper(), sep, query)
    name = "PHPSESSID" if decoration == "phpsessid" else "sid"
    if "?" not in target:
        return "%s?%s=%s" % (target, name, token)
    if decoration == "sid-first":
        path, _, query = target.partition("?")
        return "%s?%s=%s&%s" % (path, name, token, query)
    return "%s&%s=%s" % (target, name, token)


class DemoServer:
    """Serve a ``DemoSite`` on 127.0.0.1 (one ephemeral port per host) and log requests."""

    def __init__(self, site, record=True, latency=0.0, address=LOOPBACK, log=None):
        self.site = site
        #: a file (binary, append) that gets one JSON line per answered request:
        #: ``{"host", "path", "start", "end", "status"}`` (another process's view of ``spans``)
        self.log = log
        self.record = record
        #: seconds every response is held back (without blocking), to keep fetches in flight
        self.latency = latency
        #: every request, in arrival order (a list of ``ServedRequest``)
        self.requests = []
        #: ``[host, path, start, end]`` of every request (end None until answered), so
        #: that overlapping requests to one host show
        self.spans = []
        #: requests received but not answered yet
        self.pending = 0
        self.ports = []
        self._sockets = [bind_sockets(0, address) for _ in range(site.hosts)]
        self.ports = [sockets[0].getsockname()[1] for sockets in self._sockets]
        self.netlocs = ["%s:%d" % (address, port) for port in self.ports]
        self._servers = []
        self._loop = None
        self._thread = None

    # ------------------------------------------------------------------ addresses
    @property
    def seeds(self):
        """The root URL of every host."""
        return ["http://%s/" % netloc for netloc in self.netlocs]

    def url(self, host, target):
        return "http://%s%s" % (self.netlocs[host], target)

    def robots_urls(self, hosts=None):
        """The robots.txt URL of each host (fetched once per host by a polite crawl)."""
        return {self.url(h, "/robots.txt") for h in (range(self.site.hosts) if hosts is None else hosts)}

    def expected_outcomes(self, seed_hosts=None, sitemaps=False):
        """``{url: outcome}`` of a correct crawl (see ``DemoSite.expected``)."""
        return {self.url(h, t): outcome
                for (h, t), outcome in self.site.expected(seed_hosts, sitemaps).items()}

    def expected_urls(self, seed_hosts=None, sitemaps=False):
        """The URLs (without robots.txt) a correct crawl from the seeds fetches, each once."""
        return set(self.expected_outcomes(seed_hosts, sitemaps))

    def fetched(self):
        """A Counter of the URLs requested so far."""
        return collections.Counter("http://%s%s" % (r.host, r.path) for r in list(self.requests))

    # ------------------------------------------------------------------ serving
    def _handler(self, host):
        site, netlocs, requests = self.site, self.netlocs, self.requests
        record = self.record

        def handle(request):
            if request.method not in ("GET", "HEAD"):
                status, headers, body = 405, {"Allow": "GET, HEAD"}, b""
            else:
                status, headers, body = site.response(host, request.uri, netlocs,
                                                      request.headers)
            span = [netlocs[host], request.uri, time.time(), None]
            if record:
                requests.append(ServedRequest(netlocs[host], request.uri, span[2], status))
                self.spans.append(span)
            headers["Content-Length"] = str(len(body))
            if request.method == "HEAD":
                body = b""
            start = httputil.ResponseStartLine("HTTP/1.1", status,
                                               httputil.responses.get(status, "Unknown"))
            if self.latency:
                self.pending += 1
                asyncio.get_running_loop().call_later(
                    self.latency, respond, request, start, headers, body, span)
            else:
                respond(request, start, headers, body, span, delayed=False)

        def respond(request, start, headers, body, span, delayed=True):
            span[3] = time.time()
            if self.log is not None:
                self.log.write(json.dumps({"host": span[0], "path": span[1], "start": span[2],
                                           "end": span[3], "status": start.code}).encode()
                               + b"\n")
                self.log.flush()
            if delayed:
                self.pending -= 1
            try:
                request.connection.write_headers(start, httputil.HTTPHeaders(headers), body)
                request.connection.finish()
            except StreamClosedError:
                pass  # the client is gone (a killed worker)
        return handle

    def _listen(self):
        for host, sockets in enumerate(self._sockets):
            server = HTTPServer(self._handler(host), xheaders=False)
            server.add_sockets(sockets)
            self._servers.append(server)

    def start(self):
        """Serve in a background thread; returns once every host accepts connections."""
        ready = threading.Event()

        def run():
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._listen()
            self._loop.call_soon(ready.set)
            self._loop.run_forever()
            self._close_servers()
            self._loop.close()

        self._thread = threading.Thread(target=run, name="demosite", daemon=True)
        self._thread.start()
        if not ready.wait(30):
            raise RuntimeError("the demo site did not start within 30 s")
        return self

    def stop(self):
        """Stop the background thread started by ``start()``."""
        if self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._thread = None

    def _close_servers(self):
        for server in self._servers:
            server.stop()
        self._servers = []

    def serve_forever(self, on_ready=None):
        """Serve in this thread until SIGINT or SIGTERM; ``on_ready()`` once both are handled."""
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._listen()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, loop.stop)
        if on_ready is not None:
            on_ready()
        try:
            loop.run_forever()
        finally:
            self._close_servers()
            loop.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv=None):
    """``python -m spyder.demosite``: print the seed URLs and serve until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m spyder.demosite",
                                     description="Serve Spyder's generated demo site on "
                                                 "127.0.0.1 and print its seed URLs.")
    parser.add_argument("--pages", type=int, default=300, help="regular HTML pages (default 300)")
    parser.add_argument("--hosts", type=int, default=3, help="virtual hosts (default 3)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the generator")
    parser.add_argument("--bind", default=LOOPBACK,
                        help="address to serve on (default %s)" % LOOPBACK)
    parser.add_argument("--latency", type=float, default=0.0,
                        help="seconds every answer is held back (default 0)")
    parser.add_argument("--log", help="append one JSON line per answered request (host, path, "
                                      "start, end, status) to this file")
    args = parser.parse_args(argv)
    try:
        site = DemoSite(args.pages, args.hosts, args.seed)
    except ValueError as exc:
        parser.error(str(exc))
    log = open(args.log, "ab") if args.log else None
    server = DemoServer(site, record=False, latency=args.latency, address=args.bind, log=log)

    def ready():
        print("\n".join(server.seeds), flush=True)
        print("demosite: serving %d pages on %d hosts (%d URLs a crawl fetches); Ctrl-C to stop"
              % (args.pages, args.hosts, len(site.expected())), file=sys.stderr, flush=True)
    server.serve_forever(ready)
    return 0


if __name__ == "__main__":
    sys.exit(main())
