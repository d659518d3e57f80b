"""The generated demo site: its links resolve to what it declares, the expected set is
right, the server answers and records requests, and the standalone runner works."""
import collections
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import parse_qsl, urldefrag, urlencode, urljoin, urlsplit, urlunsplit

import pytest
from conftest import wait_until
from protego import Protego
from spyder.demosite import DISALLOWED_PREFIX, EXTERNAL_URL, REDIRECT_CODES, DemoSite

_SESSION_NAMES = {"sid", "phpsessid", "jsessionid", "sessionid", "aspsessionid"}


def _normalise(url):
    """What a correct crawler makes of an extracted link: no fragment, no session ids."""
    url = urldefrag(url)[0]
    scheme, netloc, path, query, _ = urlsplit(url)
    path = re.sub(r";jsessionid=[^/?;]*", "", path, flags=re.I)
    pairs = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True)
             if k.lower() not in _SESSION_NAMES]
    return urlunsplit((scheme, netloc, path or "/", urlencode(pairs), ""))


def _get(url):
    try:
        with urllib.request.urlopen(urllib.request.Request(url), timeout=10) as reply:
            return reply.status, reply.headers, reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _links(body):
    return [h.replace("&amp;", "&") for h in re.findall(r'href="([^"]*)"', body.decode())]


@pytest.mark.timeout(30)
def test_generation_is_deterministic_and_sized():
    one, two = DemoSite(200, 3, seed=7), DemoSite(200, 3, seed=7)
    def links(site):
        return [(t, r.links, r.location, r.etag) for t, r in sorted(site.resources[0].items())]

    assert one.expected() == two.expected() and links(one) == links(two)
    assert links(DemoSite(200, 3, seed=8)) != links(one)
    assert sum(len(r) for r in one._regular) == 200
    with pytest.raises(ValueError, match="at least one host"):
        DemoSite(1, 2)


@pytest.mark.timeout(30)
def test_expected_set_has_every_feature_and_no_forbidden_url():
    site = DemoSite(300, 3)
    expected = site.expected()
    outcomes = collections.Counter(expected.values())
    assert outcomes["success"] > 300 and outcomes["not_found"] >= 3
    targets = {t for _, t in expected}
    for code in REDIRECT_CODES:
        assert any(t.startswith("/go/%d/" % code) for t in targets)
    assert any(t.startswith("/moved/") for t in targets)           # reachable only via redirect
    assert any(t.startswith("/files/") for t in targets)
    assert not any(t.startswith(DISALLOWED_PREFIX) for t in targets)
    assert not any(t.startswith(("/hidden/", "/orphan/")) for t in targets)
    assert all(r in site.resources[0] for r in ("/orphan/o0.html", "/hidden/h0-0.html"))
    assert "/sitemap.xml" not in targets and "/robots.txt" not in targets
    assert not any(t.startswith("/sitemap-only/") for t in targets)
    with_sitemaps = site.expected(sitemaps=True)
    assert (0, "/sitemap.xml") in with_sitemaps
    assert {(h, t) for h, t in with_sitemaps if t.startswith("/sitemap-only/")} == {
        (h, "/sitemap-only/s%d.html" % k) for h in range(3) for k in range(2)}
    only_first = site.expected(seed_hosts=[0])
    assert {h for h, _ in only_first} == {0}


@pytest.mark.timeout(60)
def test_every_link_resolves_to_its_declared_target(demo_site):
    server = demo_site(pages=120, hosts=3)
    site = server.site
    decorated = collections.Counter()
    for host, resources in enumerate(site.resources):
        for target, resource in resources.items():
            if resource.kind != "page":
                continue
            status, _, body = _get(server.url(host, target))
            assert status == 200
            hrefs = _links(body)
            base = server.url(host, target)
            resolved = [_normalise(urljoin(base, h)) for h in hrefs
                        if not h.startswith(("mailto:", "javascript:", "#"))]
            declared = [EXTERNAL_URL if h is None else server.url(h, t)
                        for h, t, _, _ in resource.links]
            assert resolved == declared, target
            decorated.update(link[3] for link in resource.links if link[3])
    assert set(decorated) == {"fragment", "sid", "sid-first", "jsessionid", "phpsessid"}


@pytest.mark.timeout(60)
def test_server_answers_and_records(demo_site):
    server = demo_site(pages=60, hosts=2)
    status, headers, body = _get(server.url(0, "/robots.txt"))
    robots = Protego.parse(body.decode())
    assert status == 200
    assert not robots.can_fetch(server.url(0, "/private/p0.html"), "spyder")
    assert robots.can_fetch(server.url(0, "/s1/p1.html"), "spyder")
    assert robots.crawl_delay("spyder") == 0
    assert list(robots.sitemaps) == [server.url(0, "/sitemap.xml")]

    status, headers, body = _get(server.url(1, "/sitemap.xml"))
    assert status == 200 and headers["Content-Type"] == "application/xml"
    assert server.url(1, "/") in body.decode()

    status, headers, _ = _get(server.seeds[0])
    assert status == 200 and headers["ETag"] and headers["Last-Modified"]
    for header, value in (("If-None-Match", headers["ETag"]),
                          ("If-Modified-Since", headers["Last-Modified"])):
        request = urllib.request.Request(server.seeds[0], headers={header: value})
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(request, timeout=10)
        assert info.value.code == 304

    opener = urllib.request.build_opener(_NoRedirect)
    for code in REDIRECT_CODES:
        with pytest.raises(urllib.error.HTTPError) as info:
            opener.open(server.url(0, "/go/%d/r0" % code), timeout=10)
        assert info.value.code == code
        target = urljoin(server.url(0, "/go/%d/r0" % code), info.value.headers["Location"])
        assert _get(target)[0] == 200

    assert _get(server.url(0, "/missing/m0.html"))[0] == 404
    assert _get(server.url(0, "/files/report.pdf"))[1]["Content-Type"] == "application/pdf"

    fetched = server.fetched()
    assert fetched[server.url(0, "/robots.txt")] == 1
    assert fetched[server.seeds[0]] == 3
    assert [r.status for r in server.requests if r.path == "/missing/m0.html"] == [404]
    assert all(r.time > 0 for r in server.requests)


@pytest.mark.timeout(30)
def test_latency_holds_responses_back_without_blocking(demo_site):
    server = demo_site(pages=10, hosts=1, latency=0.5)
    results = []
    threads = [threading.Thread(target=lambda: results.append(_get(server.seeds[0])[0]))
               for _ in range(3)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    wait_until(lambda: server.pending == 3, 5, message="three pending requests")
    for thread in threads:
        thread.join(10)
    assert results == [200, 200, 200] and server.pending == 0
    assert time.monotonic() - started >= 0.5


@pytest.mark.timeout(30)
def test_standalone_prints_seeds_and_serves_until_interrupted():
    proc = subprocess.Popen([sys.executable, "-m", "spyder.demosite", "--pages", "20",
                             "--hosts", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        seeds = [proc.stdout.readline().strip() for _ in range(2)]
        assert all(re.fullmatch(r"http://127\.0\.0\.1:\d+/", s) for s in seeds), seeds
        assert _get(seeds[1])[0] == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
        assert "serving 20 pages on 2 hosts" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
