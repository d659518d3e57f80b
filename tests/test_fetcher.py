"""FetchProcessor against a real local tornado site: plain, ETag, Last-Modified,
size cap, content-type gate, redirects, gzip, timeouts, refused connections, DNS, TLS."""
import asyncio
import json
import os
import shutil
import socket
import ssl
import subprocess
import time
from email.utils import formatdate

import pytest
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

from spyder import defaultsettings
from spyder.core.crawluri import CrawlUri
from spyder.core.settings import Settings, SettingsError
from spyder.errors import StartupError
from spyder.processor.encoding import extract_content_type_encoding
from spyder.processor.fetcher import FetchProcessor
from spyder.workerprocess import create_processing_function
from test_worker_support import Site

pytestmark = pytest.mark.timeout(60)

ROBOTS = b"User-agent: *\nDisallow: /private/\n"


def _has_pycurl():
    try:
        import pycurl  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(autouse=True, params=["simple", "curl"])
def http_client(request, monkeypatch):
    """Every test runs with both HTTP clients (curl only where pycurl is installed)."""
    if request.param == "curl" and not _has_pycurl():
        pytest.skip("pycurl is not installed")
    monkeypatch.setattr(defaultsettings, "HTTP_CLIENT", request.param)
    return request.param


@pytest.fixture
def docroot(tmp_path):
    (tmp_path / "robots.txt").write_bytes(ROBOTS)
    return tmp_path


def fetch_all(docroot, make_curis, pages=None, **overrides):
    """Start the site, fetch the CrawlUris ``make_curis(site)`` returns, stop the site."""
    async def go():
        site = Site(docroot, pages)
        fetcher = FetchProcessor(Settings(overrides=overrides))
        try:
            return await asyncio.gather(*[fetcher(c) for c in make_curis(site)])
        finally:
            fetcher.close()
            await site.close()
    return asyncio.run(go())


def fetch(docroot, path, pages=None, **overrides):
    return fetch_all(docroot, lambda site: [CrawlUri(url=site.url(path))], pages,
                     **overrides)[0]


def test_content_type_encoding():
    assert extract_content_type_encoding("text/html; charset=ISO-8859-1") == \
        ("text/html", "iso-8859-1")
    assert extract_content_type_encoding("text/html") == ("text/html", "")
    assert extract_content_type_encoding(None) == ("", "")
    assert extract_content_type_encoding("; charset=UTF-8") == ("", "utf-8")
    # repeated headers, joined with commas: the last type wins, as in browsers
    assert extract_content_type_encoding("text/html, text/html; charset=utf-8") == \
        ("text/html", "utf-8")
    assert extract_content_type_encoding("text/html; charset=koi8-r, text/html") == \
        ("text/html", "koi8-r")
    assert extract_content_type_encoding("text/plain; charset=utf-8, text/html") == \
        ("text/html", "")
    assert extract_content_type_encoding("application/octet-stream,text/html") == \
        ("text/html", "")


def test_fetching_works(docroot):
    before = time.time()
    curi = fetch(docroot, "/static/robots.txt")
    assert curi.status_code == 200
    assert curi.content_body == ROBOTS
    assert curi.rep_header["Content-Type"].startswith("text/plain")
    assert "Etag" in curi.rep_header and "Last-Modified" in curi.rep_header
    assert curi.effective_url == curi.url
    assert before <= curi.begin_processing <= curi.end_processing <= time.time()
    assert 0 <= curi.req_time < 10
    assert curi.queue_time is not None and curi.queue_time >= 0
    assert curi.req_header["User-Agent"] == Settings().USER_AGENT
    assert "error" not in curi.optional_vars


def test_fetching_etag_works(docroot):
    first = fetch(docroot, "/static/robots.txt")
    etag = first.rep_header["Etag"]

    def curis(site):
        return [CrawlUri(url=site.url("/static/robots.txt"), req_header={"Etag": etag})]

    curi = fetch_all(docroot, curis)[0]
    assert curi.status_code == 304
    assert curi.content_body == b""
    assert curi.req_header["If-None-Match"] == etag
    assert curi.req_header["Etag"] == etag  # the frontier's hint stays


def test_fetching_last_modified_works(docroot):
    mtime = os.stat(docroot / "robots.txt").st_mtime
    last_modified = formatdate(mtime + 1, usegmt=True)

    def curis(site):
        return [CrawlUri(url=site.url("/static/robots.txt"),
                         req_header={"Last-Modified": last_modified})]

    curi = fetch_all(docroot, curis)[0]
    assert curi.status_code == 304
    assert curi.content_body == b""


def test_conditional_headers_go_out_byte_for_byte(docroot):
    hints = {"Etag": 'W/"abc-123"', "Last-Modified": "Tue, 01 Jan 2013 00:00:00 GMT"}
    curi = fetch_all(docroot, lambda s: [CrawlUri(url=s.url("/echo"), req_header=dict(hints))])[0]
    sent = json.loads(curi.content_body)["headers"]
    assert sent["If-None-Match"] == 'W/"abc-123"'
    assert sent["If-Modified-Since"] == "Tue, 01 Jan 2013 00:00:00 GMT"


def test_error_statuses_keep_status_and_body(docroot):
    curis = fetch_all(docroot, lambda s: [CrawlUri(url=s.url("/status/404")),
                                          CrawlUri(url=s.url("/status/500"))])
    assert [c.status_code for c in curis] == [404, 500]
    assert all(b"status" in c.content_body for c in curis)


def test_redirects_are_not_followed_by_default(docroot):
    curi = fetch(docroot, "/redirect/301/1")
    assert curi.status_code == 301
    assert curi.rep_header["Location"] == "/page/target"
    assert curi.effective_url == curi.url


def test_following_redirects_sets_effective_url(docroot):
    curi = fetch(docroot, "/redirect/302/2", FOLLOW_REDIRECTS=True, MAX_REDIRECTS=3)
    assert curi.status_code == 200
    assert curi.effective_url.endswith("/page/target")
    assert b"target" in curi.content_body


def test_a_raw_utf8_location_is_followed_percent_encoded(docroot):
    curi = fetch(docroot, "/raw-utf8-redirect", FOLLOW_REDIRECTS=True)
    assert curi.status_code == 200
    assert curi.effective_url.endswith("/page/caf%C3%A9%20au%20lait")
    assert "café au lait".encode("utf-8") in curi.content_body


def test_max_redirects_returns_the_last_redirect(docroot):
    curi = fetch(docroot, "/loop", FOLLOW_REDIRECTS=True, MAX_REDIRECTS=2)
    assert curi.status_code == 302
    assert curi.effective_url.endswith("/loop")


def test_oversized_body_is_truncated(docroot):
    curis = fetch_all(docroot, lambda s: [CrawlUri(url=s.url("/big/300000/plain")),
                                          CrawlUri(url=s.url("/big/300000/chunked")),
                                          CrawlUri(url=s.url("/big/1000/plain"))],
                      MAX_CONTENT_SIZE=1000)
    for curi in curis[:2]:
        assert curi.status_code == 200
        assert len(curi.content_body) == 1000
        assert curi.optional_vars["truncated"] == "1"
        assert curi.rep_header["Content-Type"] == "text/html"
    assert len(curis[2].content_body) == 1000
    assert "truncated" not in curis[2].optional_vars


def test_unwanted_content_type_is_not_downloaded(docroot):
    curis = fetch_all(docroot, lambda s: [CrawlUri(url=s.url("/typed?type=image/png")),
                                          CrawlUri(url=s.url("/typed?type=text/html;%20x=1"))])
    image, html = curis
    assert image.status_code == 200
    assert image.content_body == b""
    assert image.optional_vars["skipped_content_type"] == "1"
    assert image.rep_header["Content-Type"] == "image/png"
    assert html.status_code == 200 and len(html.content_body) > 100000
    assert "skipped_content_type" not in html.optional_vars


def test_repeated_content_types_the_last_counts(docroot):
    curi = fetch(docroot, "/twice-typed")
    assert curi.rep_header["Content-Type"] == \
        "application/octet-stream, text/html; charset=utf-8"
    assert "skipped_content_type" not in curi.optional_vars
    assert b"/page/caf\xc3\xa9" in curi.content_body
    curi = create_processing_function(Settings())(curi)
    assert curi.extracted_urls == [curi.url.replace("/twice-typed", "/page/caf%C3%A9")]


def test_gzip_is_used_and_decoded(docroot):
    with_gzip = fetch(docroot, "/gzip")
    without = fetch(docroot, "/gzip", USE_GZIP=False)
    for curi in (with_gzip, without):
        assert curi.content_body.startswith(b"<html><body>compressible")
    assert "gzip" in with_gzip.req_header["Accept-Encoding"]
    assert "Accept-Encoding" not in without.req_header


def test_repeated_headers_are_joined(docroot):
    assert fetch(docroot, "/multi").rep_header["X-Multi"] == "a, b"


def test_timeout_is_599(docroot):
    curi = fetch(docroot, "/slow", REQUEST_TIMEOUT=0.3)
    assert curi.status_code == 599
    assert curi.content_body is None
    assert "Timeout" in curi.optional_vars["error"]


def test_a_body_cut_by_the_timeout_or_the_server_keeps_what_came(docroot):
    """After the headers, a timeout is truncation ``time``, a closed connection
    ``disconnect``; status and the part received are kept."""
    async def serve(reader, writer):
        request = await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                     b"Content-Length: 5000\r\n\r\n" + b"x" * 600)
        await writer.drain()
        if b"/stall" in request:
            await reader.read()     # until the client gives up
        writer.close()

    async def go():
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        fetcher = FetchProcessor(Settings(overrides={"REQUEST_TIMEOUT": 0.5}))
        try:
            return await asyncio.gather(*[fetcher(CrawlUri(url="http://127.0.0.1:%d/%s"
                                                           % (port, path)))
                                          for path in ("stall", "cut")])
        finally:
            fetcher.close()
            server.close()
            await server.wait_closed()

    for curi, reason in zip(asyncio.run(go()), ("time", "disconnect")):
        assert curi.status_code == 200
        assert curi.content_body == b"x" * 600
        assert curi.optional_vars["truncated"] == "1"
        assert curi.optional_vars["truncated_reason"] == reason


def test_connection_refused_is_599(docroot):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    curi = fetch_all(docroot, lambda site: [CrawlUri(url="http://127.0.0.1:%d/" % port)])[0]
    assert curi.status_code == 599
    error = curi.optional_vars["error"].lower()
    assert "refused" in error or "could not connect" in error  # Python's words, libcurl's


def test_unknown_host_is_599(docroot):
    curi = fetch_all(docroot, lambda site: [CrawlUri(url="http://no-such-host.invalid/")])[0]
    assert curi.status_code == 599
    assert curi.optional_vars["error"]


def test_unsupported_scheme_is_a_processing_error(docroot):
    curi = fetch_all(docroot, lambda site: [CrawlUri(url="ftp://127.0.0.1/file")])[0]
    assert curi.status_code == 710
    assert "scheme" in curi.optional_vars["error"]


def test_static_dns_mapping_fetches_the_real_url(docroot):
    def curis(site):
        return [CrawlUri(url="http://www.example.test:%d/echo" % site.port)]

    async def go():
        site = Site(docroot)
        mapping = {"www.example.test:%d" % site.port: ("127.0.0.1", site.port)}
        fetcher = FetchProcessor(Settings(overrides={"STATIC_DNS_MAPPINGS": mapping}))
        try:
            return await fetcher(curis(site)[0]), site.port
        finally:
            fetcher.close()
            await site.close()

    curi, port = asyncio.run(go())
    assert curi.status_code == 200
    assert json.loads(curi.content_body)["headers"]["Host"] == "www.example.test:%d" % port


def test_basic_auth_from_optional_vars(docroot):
    curi = fetch_all(docroot, lambda s: [CrawlUri(
        url=s.url("/echo"), optional_vars={"username": "u", "password": "p"})])[0]
    assert json.loads(curi.content_body)["headers"]["Authorization"] == "Basic dTpw"


def test_stale_markers_of_an_earlier_attempt_are_cleared(docroot):
    curi = fetch_all(docroot, lambda s: [CrawlUri(
        url=s.url("/page/a"), optional_vars={"error": "old", "truncated": "1"})])[0]
    assert curi.status_code == 200
    assert "error" not in curi.optional_vars and "truncated" not in curi.optional_vars


def test_proxy_needs_a_port_and_pycurl():
    with pytest.raises(SettingsError, match="PROXY_PORT"):
        FetchProcessor(Settings(overrides={"PROXY_HOST": "proxy.local"}))
    try:
        import pycurl  # noqa: F401
    except ImportError:
        with pytest.raises(StartupError, match="pycurl"):
            FetchProcessor(Settings(overrides={"PROXY_HOST": "proxy.local", "PROXY_PORT": 3128}))


def test_http_client_setting_is_checked():
    with pytest.raises(SettingsError, match="HTTP_CLIENT"):
        FetchProcessor(Settings(overrides={"HTTP_CLIENT": "wget"}))
    if not _has_pycurl():
        with pytest.raises(StartupError, match="pip install pycurl"):
            FetchProcessor(Settings(overrides={"HTTP_CLIENT": "curl"}))


def test_empty_user_agent_is_refused():
    with pytest.raises(SettingsError, match="USER_AGENT"):
        FetchProcessor(Settings(overrides={"USER_AGENT": ""}))


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_https_fetches_the_real_host_name(tmp_path):
    """SNI carries the URL's host name (not an IP) and certificates are checked."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=www.example.test", "-keyout", str(key), "-out", str(cert),
                    "-addext", "subjectAltName=DNS:www.example.test"],
                   check=True, capture_output=True, timeout=60)
    server_names = []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    context.sni_callback = lambda sock, name, ctx: server_names.append(name)

    async def go():
        app = Application([(r"/", Hello)])
        sockets = bind_sockets(0, "127.0.0.1")
        port = sockets[0].getsockname()[1]
        server = HTTPServer(app, ssl_options=context)
        server.add_sockets(sockets)
        url = "https://www.example.test:%d/" % port
        mapping = {"www.example.test:%d" % port: ("127.0.0.1", port)}
        results = []
        try:
            for validate in (False, True):
                fetcher = FetchProcessor(Settings(overrides={
                    "STATIC_DNS_MAPPINGS": mapping, "VALIDATE_CERTIFICATES": validate}))
                results.append(await fetcher(CrawlUri(url=url)))
                fetcher.close()
        finally:
            server.stop()
            await server.close_all_connections()
        return results

    unchecked, checked = asyncio.run(go())
    assert unchecked.status_code == 200 and unchecked.content_body == b"hello"
    assert server_names[0] == "www.example.test"
    assert checked.status_code == 599
    error = checked.optional_vars["error"]
    assert "CERTIFICATE_VERIFY_FAILED" in error or "SSL certificate" in error  # Python, libcurl


class Hello(RequestHandler):
    def get(self):
        self.write("hello")
