"""FetchProcessor: the worker's fetch stage -- one HTTP GET per CrawlUri.

``await fetcher(curi)`` downloads ``curi.url`` (the real URL, so the Host header,
TLS SNI and certificate checks are right) with libcurl or tornado's simple client and
fills in ``status_code``, ``rep_header`` (tornado's normalised names, repeated
headers joined with ``", "``; the lines apart, ``{name: [value, ...]}``, in
``curi.rep_header_lines``, an attribute for this worker's processors that is never
sent), ``content_body``, ``effective_url`` (the URL finally
fetched), ``req_header`` (the headers sent, plus the frontier's hints),
``begin_processing`` / ``end_processing`` (UTC epoch), ``req_time`` and ``queue_time``.
It never raises: a network failure (timeout, refused connection, DNS, TLS) is
status 599 and anything unexpected 710, with the text in ``optional_vars["error"]``.

What the settings do:

* conditional GET: the frontier's ``req_header["Etag"]`` / ``["Last-Modified"]`` go
  out byte for byte as ``If-None-Match`` / ``If-Modified-Since``;
* ``MAX_CONTENT_SIZE``: the body arrives through a streaming callback; past the
  limit the download is aborted, the first ``MAX_CONTENT_SIZE`` bytes and the
  server's status are kept;
* ``FETCH_CONTENT_TYPES``: a response whose media type matches none of them (prefix
  match; an empty list allows all) is not downloaded past its headers and is
  marked ``optional_vars["skipped_content_type"] = "1"``;
* a body not kept in full is marked ``optional_vars["truncated"] = "1"`` with
  ``optional_vars["truncated_reason"]`` in WARC-Truncated words: ``length`` (the size
  limit), ``time`` (the request timeout struck mid-body), ``disconnect`` (the
  connection broke mid-body) or ``unspecified`` (the content-type skip).  A timeout or
  disconnect *after* the headers keeps the server's status and the part received;
  before the headers it is a network error (599);
* the frontier's robots.txt requests (``optional_vars["robots_fetch"]``) and sitemap
  requests (``["sitemap_fetch"]``) are downloaded whatever their content type, up to
  ``ROBOTSTXT_MAX_SIZE`` / ``SITEMAP_MAX_SIZE`` instead of ``MAX_CONTENT_SIZE``;
* ``FOLLOW_REDIRECTS`` / ``MAX_REDIRECTS``: redirects are followed here, hop by hop,
  so ``effective_url`` is always the URL that answered (credentials and
  conditional headers are not sent on to another host); a ``Location`` is read and
  percent-encoded as the ``HttpExtractor`` reads it (``links.redirect_target``);
* ``USE_GZIP``, ``USER_AGENT``, ``REQUEST_TIMEOUT`` / ``CONNECT_TIMEOUT`` (per hop),
  ``VALIDATE_CERTIFICATES``, HTTP basic auth from ``optional_vars``;
* DNS goes through ``spyder.core.dnscache`` (``STATIC_DNS_MAPPINGS``, cache; never
  blocking the loop);
* ``HTTP_CLIENT``: ``"curl"`` is ``spyder.processor.curlclient.CurlClient`` (libcurl
  through pycurl: connections kept alive, HTTP parsed in C, about a third of the CPU
  per fetch of the simple client), ``"simple"`` tornado's pure-Python
  ``SimpleAsyncHTTPClient`` (a connection per request), ``"auto"`` curl when pycurl is
  installed.  Both behave alike: this module's header and body callbacks run
  synchronously (so the size cap and the content-type gate stop the transfer at once),
  the host is resolved here and handed to libcurl as ``CURLOPT_CONNECT_TO`` (the URL,
  Host header, SNI and certificate checks stay the real ones), HTTP/1.1 only,
  certificates checked against the system's bundle, a timeout is a timeout whichever
  client (truncation reason ``time``).  A fetch cancelled by the worker (its dispatch
  deadline) stops its libcurl transfer and frees its handle at once;
* ``PROXY_HOST`` always uses the curl client (needs pycurl); the proxy then
  resolves host names itself, so the DNS cache and static mappings do not apply.
  The proxy's answer to an https tunnel's CONNECT never passes for the origin's, and
  a proxy that refuses the tunnel or answers 407 is a retryable network error (599)
  naming the proxy (``curlclient.ProxyError``), never the page's status.
"""
import functools
import io
import logging
import re
import ssl
import time
from urllib.parse import urlsplit

from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.httputil import HTTPHeaders, HTTPInputError, parse_response_start_line
from tornado.iostream import StreamClosedError
from tornado.simple_httpclient import HTTPTimeoutError, SimpleAsyncHTTPClient

from spyder.core.constants import (CURI_ENETWORK, CURI_ERROR, CURI_EUNCAUGHT_EXCEPTION,
                                   CURI_OPTIONAL_TRUE, CURI_ROBOTS_FETCH, CURI_SITE_PASSWORD,
                                   CURI_SITE_USERNAME, CURI_SITEMAP_FETCH,
                                   CURI_SKIPPED_CONTENT_TYPE, CURI_TRUNCATED,
                                   CURI_TRUNCATED_REASON)
from spyder.core.dnscache import CachingResolver, DnsCache
from spyder.core.settings import SettingsError
from spyder.errors import StartupError
from spyder.processor.encoding import extract_content_type_encoding
from spyder.processor.links import redirect_target

try:
    from spyder.processor.curlclient import CurlClient, ProxyError, TransferError
except ImportError as exc:  # HTTP_CLIENT="simple" (or "auto") works without pycurl
    CurlClient = None
    _NO_PYCURL = str(exc)

    class TransferError(Exception):
        """Never raised: pycurl is not installed."""

    class ProxyError(TransferError):
        """Never raised: proxies need pycurl."""

log = logging.getLogger("spyder.worker.fetch")

_REDIRECTS = (301, 302, 303, 307, 308)
#: Errors that mean "no (complete) HTTP response": status 599.
_NETWORK_ERRORS = (HTTPClientError, OSError, StreamClosedError, HTTPInputError, TimeoutError,
                   TransferError)
#: Errors that, after the headers, mean the server's time ran out rather than its connection.
_TIMEOUTS = (HTTPTimeoutError, TimeoutError)
#: The simple client refuses bodies above this before streaming starts; we cut them ourselves.
_UNLIMITED_BODY = 1 << 62
#: WARC-Truncated reasons of the cuts made here.
_LENGTH, _SKIPPED = "length", "unspecified"
#: The schemes fetched (libcurl would also speak ftp, file, ...).
_SCHEMES = ("http", "https")
_DEFAULT_PORTS = {"http": 80, "https": 443}
#: Content codings libcurl decodes when asked to (``decompress_response``).
_DECODED = ("gzip", "deflate")


class _Abort(HTTPInputError):
    """Raised inside the client's callbacks to stop a download we do not want.

    tornado lets an ``HTTPInputError`` from a callback close the connection without
    an "Uncaught exception" traceback; its remaining "Malformed HTTP message" log
    line is filtered out below.
    """


class _QuietAbort(logging.Filter):
    def filter(self, record):
        return not any(isinstance(arg, _Abort) for arg in (record.args or ()))


_QUIET_ABORT = _QuietAbort()


#: One response header line as tornado's HTTPHeaders accepts it (RFC 9110 field name and
#: value; no line folding): the name and the value without surrounding whitespace.
_HEADER_LINE = re.compile(r"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*"
                          r"((?:[\x21-\x7e\x80-\xff](?:[ \t\x21-\x7e\x80-\xff]*"
                          r"[\x21-\x7e\x80-\xff])?)?)[ \t]*\r?\n?")


#: Header lines and bytes of one response's headers accepted (a server sending more is
#: a network error, 599): a bounded share of memory for the header decoder.
MAX_HEADER_LINES = 1000
MAX_HEADER_BYTES = 256 * 1024


@functools.lru_cache(maxsize=1024)
def _normalized(name):
    """A header name in tornado's Http-Header-Case (``ETag`` -> ``Etag``)."""
    return "-".join(word.capitalize() for word in name.split("-"))


class _Download:
    """Status, headers and body of one response as the client's callbacks see them.

    ``headers`` maps each (normalised) name to its values in order; ``cut`` is why the
    body is not complete (a WARC-Truncated reason), or ``None``.
    """

    __slots__ = ("limit", "wanted_types", "status", "headers", "headers_done", "body", "size",
                 "cut", "failure", "header_lines", "header_bytes")

    def __init__(self, limit, wanted_types):
        self.limit = limit
        self.wanted_types = wanted_types
        self.status = None
        self.headers = {}
        self.headers_done = False
        self.header_lines = self.header_bytes = 0
        # a BytesIO's getvalue() hands over its buffer without a copy (a bytearray
        # would be copied into the result's bytes: twice the body at the end)
        self.body = io.BytesIO()
        self.size = 0
        self.cut = None
        #: an exception raised in a libcurl callback (which must not see it)
        self.failure = None

    def on_header(self, line):
        self.header_lines += 1
        self.header_bytes += len(line)
        if self.header_lines > MAX_HEADER_LINES or self.header_bytes > MAX_HEADER_BYTES:
            raise HTTPInputError("response headers above %d lines or %d bytes"
                                 % (MAX_HEADER_LINES, MAX_HEADER_BYTES))
        if line.startswith("HTTP/"):            # a (new) status line
            self.status = parse_response_start_line(line.strip()).code
            self.headers = {}
            self.headers_done = False
        elif line.strip():
            field = _HEADER_LINE.fullmatch(line)
            if field is None:
                raise HTTPInputError("Malformed header line %r" % line)
            self.headers.setdefault(_normalized(field[1]), []).append(field[2])
        else:
            self.headers_done = self.status is not None and self.status >= 200
            if self.wanted_types and not 300 <= (self.status or 0) < 400:
                media = extract_content_type_encoding(self.header("Content-Type"))[0]
                if media and not media.startswith(self.wanted_types):
                    self.cut = _SKIPPED
                    raise _Abort("content type %s not wanted" % media)

    def header(self, name):
        """The values of header ``name`` (normalised) joined with ",", or None."""
        values = self.headers.get(name)
        return None if values is None else ",".join(values)

    def on_chunk(self, chunk):
        room = self.limit - self.size
        if len(chunk) > room:
            self.size += self.body.write(chunk[:room])
            self.cut = _LENGTH
            raise _Abort("body larger than the size limit")
        self.size += self.body.write(chunk)

    def curl_header(self, line):
        """libcurl's ``HEADERFUNCTION``: 0 (stop the transfer) instead of raising."""
        return self._curl_call(self.on_header, line.decode("latin1"))

    def curl_write(self, chunk):
        """libcurl's ``WRITEFUNCTION``: 0 (stop the transfer) instead of raising."""
        return self._curl_call(self.on_chunk, chunk)

    def _curl_call(self, callback, data):
        try:
            callback(data)
        except Exception as exc:
            if not isinstance(exc, _Abort):
                self.failure = exc
            return 0
        return None  # all consumed

    def interrupted(self, exc):
        """The transfer failed with ``exc``: True (and ``cut`` set) if the headers had
        arrived, so what came is kept; False if it is a network error."""
        if self.cut is not None:
            return True
        if not self.headers_done or not isinstance(exc, _NETWORK_ERRORS):
            return False
        self.cut = "time" if isinstance(exc, _TIMEOUTS) else "disconnect"
        return True


def _bracketed(host):
    return "[%s]" % host if ":" in host else host


def _header_dict(headers):
    """``{name: [values]}`` -> ``{name: "value, value"}``."""
    return {name: ", ".join(values) for name, values in headers.items()}


def _header_lines(headers):
    """``{name: value}`` as libcurl's header lines (values byte for byte, as latin-1)."""
    return [("%s: %s" % item).encode("latin1") for item in headers.items()]


def _same_origin(a, b):
    a, b = urlsplit(a), urlsplit(b)
    return a.scheme == b.scheme and a.netloc == b.netloc


def _uses_curl(settings):
    """Whether the settings ask for the curl client (raises if pycurl is missing)."""
    if settings.PROXY_HOST:
        if not isinstance(settings.PROXY_PORT, int) or settings.PROXY_PORT <= 0:
            raise SettingsError("PROXY_HOST=%r needs PROXY_PORT, a port number > 0 (it is %r)"
                                % (settings.PROXY_HOST, settings.PROXY_PORT))
        wanted = "PROXY_HOST=%r" % settings.PROXY_HOST
    elif settings.HTTP_CLIENT in ("simple", "auto"):
        return settings.HTTP_CLIENT == "auto" and CurlClient is not None
    elif settings.HTTP_CLIENT == "curl":
        wanted = "HTTP_CLIENT='curl'"
    else:
        raise SettingsError("HTTP_CLIENT must be 'auto', 'curl' or 'simple' (it is %r)"
                            % (settings.HTTP_CLIENT,))
    if CurlClient is None:
        raise StartupError("%s needs pycurl, which is not installed (%s); install it with: "
                           "pip install pycurl (or set HTTP_CLIENT='simple')"
                           % (wanted, _NO_PYCURL))
    return True


def _consume_encoding(headers):
    """libcurl decoded the body: its Content-Encoding becomes X-Consumed-Content-Encoding,
    as tornado's simple client records it."""
    coding = ",".join(headers.get("Content-Encoding", ()))
    if coding.lower() in _DECODED:
        del headers["Content-Encoding"]
        headers["X-Consumed-Content-Encoding"] = [coding]


class FetchProcessor:
    """Download CrawlUris; see the module docstring."""

    def __init__(self, settings, io_loop=None, dns_cache=None):
        if not settings.USER_AGENT or not isinstance(settings.USER_AGENT, str):
            raise SettingsError("USER_AGENT must be a non-empty string (it identifies "
                                "the crawler to web sites and robots.txt)")
        self._settings = settings
        logging.getLogger("tornado.general").addFilter(_QUIET_ABORT)
        self._proxied = bool(settings.PROXY_HOST)
        self._dns = None if self._proxied else dns_cache or DnsCache(settings)
        self._curl = _uses_curl(settings)
        if self._curl:
            proxy = None
            if self._proxied:
                proxy = (settings.PROXY_HOST, settings.PROXY_PORT, settings.PROXY_USERNAME,
                         settings.PROXY_PASSWORD)
            self._client = CurlClient(settings, ca_certs=ssl.get_default_verify_paths().cafile,
                                      proxy=proxy, io_loop=io_loop)
        else:
            self._client = SimpleAsyncHTTPClient(
                force_instance=True, max_clients=settings.MAX_CLIENTS,
                resolver=CachingResolver(dns_cache=self._dns), max_body_size=_UNLIMITED_BODY)
        #: the headers of every request, and the same as libcurl's header lines
        self._headers = {"User-Agent": settings.USER_AGENT}
        if settings.USE_GZIP:
            self._headers["Accept-Encoding"] = "gzip"
        self._header_lines = _header_lines(self._headers)
        self._wanted_types = tuple(t.lower() for t in settings.FETCH_CONTENT_TYPES)
        #: (optional_vars key, size limit) of the frontier's own requests, fetched whatever
        #: their content type
        self._own_limits = ((CURI_ROBOTS_FETCH, settings.ROBOTSTXT_MAX_SIZE),
                            (CURI_SITEMAP_FETCH, settings.SITEMAP_MAX_SIZE))
        self._max_hops = settings.MAX_REDIRECTS if settings.FOLLOW_REDIRECTS else 0

    def close(self):
        """Close the HTTP client."""
        self._client.close()

    async def __call__(self, curi):
        """Fetch ``curi`` and return it filled in; never raises."""
        curi.begin_processing = time.time()
        started = time.monotonic()
        url = curi.url
        hints = dict(curi.req_header)
        for stale in (CURI_ERROR, CURI_TRUNCATED, CURI_TRUNCATED_REASON,
                      CURI_SKIPPED_CONTENT_TYPE):
            curi.optional_vars.pop(stale, None)
        try:
            for hop in range(self._max_hops + 1):
                sent, download, queue_time = await self._fetch_once(curi, url, hop)
                status, location = download.status, download.header("Location")
                if status in _REDIRECTS and location and hop < self._max_hops:
                    target = redirect_target(url, location)
                    if target:
                        url = target
                        continue
                break
            self._fill(curi, url, sent, download, queue_time)
        except Exception as exc:
            status = CURI_ENETWORK if isinstance(exc, _NETWORK_ERRORS) else CURI_EUNCAUGHT_EXCEPTION
            self._fail(curi, url, status, exc)
        curi.req_header = {**hints, **curi.req_header}
        curi.req_time = time.monotonic() - started
        curi.end_processing = time.time()
        error = curi.optional_vars.get(CURI_ERROR)
        log.log(logging.WARNING if error else logging.DEBUG, "proc.fetch::%s -> %s in %.3f s%s",
                curi.url, curi.status_code, curi.req_time, ": " + error if error else "")
        return curi

    async def _fetch_once(self, curi, url, hop):
        """One request; returns ``(headers sent, download, queue time or None if cut)``.

        The status and headers are the download's (both clients' callbacks fill it in)."""
        headers = self._headers
        if hop == 0 and (curi.req_header.get("Etag") or curi.req_header.get("Last-Modified")):
            headers = dict(headers)
            if curi.req_header.get("Etag"):
                headers["If-None-Match"] = curi.req_header["Etag"]
            if curi.req_header.get("Last-Modified"):
                headers["If-Modified-Since"] = curi.req_header["Last-Modified"]
        credentials = None
        username = curi.optional_vars.get(CURI_SITE_USERNAME)
        password = curi.optional_vars.get(CURI_SITE_PASSWORD)
        if username is not None and password is not None and _same_origin(url, curi.url):
            credentials = (username, password)
        download = self._download(curi)
        fetch = self._fetch_curl if self._curl else self._fetch_simple
        sent = headers if self._curl else dict(headers)  # the simple client adds Host etc.
        try:
            queue_time = await fetch(url, sent, credentials, download)
            if download.failure is not None:
                raise download.failure
        except Exception as exc:
            exc = download.failure or exc  # libcurl only saw "write error"
            if not download.interrupted(exc):
                raise exc
            queue_time = None  # cut short after the headers: what came is kept
        if self._proxied and download.status == 407:
            # only a proxy answers 407: the page is not at fault, try again later
            raise ProxyError(0, "proxy %s:%s answered 407 Proxy Authentication Required"
                             % (self._settings.PROXY_HOST, self._settings.PROXY_PORT))
        if self._curl and self._settings.USE_GZIP:
            _consume_encoding(download.headers)
        return sent, download, queue_time

    async def _fetch_curl(self, url, headers, credentials, download):
        """``url`` with ``CurlClient``; returns the queue time.  Without a proxy the host
        is resolved here and handed to libcurl as ``CONNECT_TO``."""
        parts = urlsplit(url)
        host = parts.hostname
        if parts.scheme not in _SCHEMES or not host:
            raise ValueError("Unsupported url scheme or no host: %s" % url)
        connect_to = None
        if not self._proxied:
            port = parts.port or _DEFAULT_PORTS[parts.scheme]
            ip, ip_port = self._dns.get_cached(host, port) or await self._dns.resolve(host, port)
            connect_to = "%s:%d:%s:%d" % (_bracketed(host), port, _bracketed(ip), ip_port)
        lines = self._header_lines if headers is self._headers else _header_lines(headers)
        return await self._client.fetch(url, lines, download, connect_to, credentials)

    async def _fetch_simple(self, url, headers, credentials, download):
        """``url`` with tornado's simple client; returns the queue time.  ``headers`` gets
        what the client added (Host, Connection)."""
        auth = {}
        if credentials is not None:
            auth = dict(auth_username=credentials[0], auth_password=credentials[1],
                        auth_mode="basic")
        settings = self._settings
        request = HTTPRequest(
            url, method="GET", headers=HTTPHeaders(headers),
            connect_timeout=settings.CONNECT_TIMEOUT, request_timeout=settings.REQUEST_TIMEOUT,
            follow_redirects=False, decompress_response=settings.USE_GZIP,
            validate_cert=settings.VALIDATE_CERTIFICATES,
            header_callback=download.on_header, streaming_callback=download.on_chunk, **auth)
        started = time.time()
        try:
            response = await self._client.fetch(request, raise_error=False)
        finally:
            headers.update(request.headers)
        queue = response.time_info.get("queue")
        if queue is None and response.start_time is not None:
            queue = max(0.0, response.start_time - started)
        return queue

    def _download(self, curi):
        """The ``_Download`` of ``curi``: the frontier's own requests have their own limit."""
        for key, limit in self._own_limits:
            if curi.optional_vars.get(key) == CURI_OPTIONAL_TRUE:
                return _Download(limit, ())
        return _Download(self._settings.MAX_CONTENT_SIZE, self._wanted_types)

    def _fill(self, curi, url, sent, download, queue_time):
        curi.effective_url = url
        curi.req_header = dict(sent)
        curi.status_code = download.status
        curi.rep_header = _header_dict(download.headers)
        # each header line apart, for this worker's own processors only (never sent):
        # RobotsTagProcessor reads X-Robots-Tag one line at a time
        curi.rep_header_lines = download.headers
        curi.queue_time = queue_time
        curi.content_body = b"" if download.cut == _SKIPPED else download.body.getvalue()
        if download.cut is not None:
            curi.optional_vars[CURI_TRUNCATED] = CURI_OPTIONAL_TRUE
            curi.optional_vars[CURI_TRUNCATED_REASON] = download.cut
        if download.cut == _SKIPPED:
            curi.optional_vars[CURI_SKIPPED_CONTENT_TYPE] = CURI_OPTIONAL_TRUE

    def _fail(self, curi, url, status, exc):
        curi.effective_url = url
        curi.status_code = status
        curi.rep_header = {}
        curi.rep_header_lines = {}
        curi.content_body = None
        curi.optional_vars[CURI_ERROR] = "%s: %s" % (type(exc).__name__, exc)
