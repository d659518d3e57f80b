"""SitemapExtractor: the URLs of a sitemap (sitemaps.org) become the result's links.

The frontier marks its requests for sitemaps -- those robots.txt names when
``ROBOTSTXT_SITEMAPS`` is on, and those a sitemap index names -- with
``optional_vars["sitemap_fetch"] = "1"`` (the fetcher then downloads them whatever
their content type, up to ``SITEMAP_MAX_SIZE``).  This processor, last in the
extractor pipeline, reads such a response in the worker (never on the master's
loop; the worker's extract stage runs it off its own loop, see ``spyder.core.worker.zmqworker``):

* a ``<urlset>``: its ``<url><loc>`` values replace the extracted links;
* a ``<sitemapindex>``: its ``<sitemap><loc>`` values go to
  ``optional_vars["sitemaps"]`` (newline-separated), which the frontier adds as
  sitemaps one level deeper (up to ``SITEMAP_MAX_DEPTH``);
* a plain-text sitemap: one URL per line;
* a gzip file (``.xml.gz``, recognised by its magic bytes; every member of a
  multi-member file) is inflated as a stream; a 3xx of a sitemap names a sitemap too.

Budgets.  Every byte is looked at a bounded number of times (linear time, whatever
the shape of the input): the body is inflated and parsed in steps of ``_STEP``
bytes; the XML is read by expat event by event and nothing but the text of the
current ``<loc>`` is kept (no element tree: elements nested anywhere, whitespace,
comments and unknown elements cost no memory); a text line is collected in pieces
and one longer than ``MAX_LOC_LENGTH`` is skipped unread.  Per file at most
``SITEMAP_MAX_URLS`` URLs and ``SITEMAP_MAX_SIZE`` bytes after decompression are
read; per worker, the memory all sitemap decodes in progress hold together (the
inflated step and the URLs collected) is capped by ``WORKER_DECODE_MEMORY_MAX``
(``DecodeBudget``): a decode that would pass it stops there, its file read in part.
The XML parser is expat with DTDs refused (as defusedxml does): no entity is ever
expanded and nothing external is loaded.  A malformed or cut file yields the URLs
read before the fault.  Locations are resolved like links (``links.LinkResolver``);
only http(s) URLs are kept.
"""
import logging
import threading
import zlib
from xml.parsers import expat

from spyder.core.constants import CURI_OPTIONAL_TRUE, CURI_SITEMAP_FETCH, CURI_SITEMAPS
from spyder.processor.links import LinkResolver, set_links

log = logging.getLogger("spyder.worker.sitemaps")

_GZIP_MAGIC = b"\x1f\x8b"
#: Bytes inflated or handed to the parser in one step.
_STEP = 64 * 1024
#: Compressed bytes fed at a time after a gzip file's first member.
_MEMBER_PIECE = 1024
#: The longest URL taken from a sitemap (sitemaps.org allows 2,048 characters); a
#: longer ``<loc>`` or text line is skipped.
MAX_LOC_LENGTH = 8192
#: Bytes counted per URL kept, beyond its length (the str object and the list slot).
_URL_OVERHEAD = 64


class DecodeBudget:
    """The bytes all decodes in progress in one worker may hold together.

    ``reserve(n)`` takes ``n`` bytes if they fit (True) or nothing (False);
    ``release(n)`` gives them back.  Thread-safe: the extract stage decodes on its
    loop and in its off-loop thread.
    """

    def __init__(self, limit):
        self.limit = int(limit)
        self.used = 0
        #: the most ``used`` has been (for tests and benchmarks)
        self.peak = 0
        #: reservations refused
        self.refused = 0
        self._lock = threading.Lock()

    def reserve(self, size):
        with self._lock:
            if self.used + size > self.limit:
                self.refused += 1
                return False
            self.used += size
            self.peak = max(self.peak, self.used)
            return True

    def release(self, size):
        with self._lock:
            self.used -= size


#: One budget per worker process, shared by every SitemapExtractor in it (set by the
#: first one made from settings).
_budgets = {}
_budgets_lock = threading.Lock()


def worker_budget(limit):
    """The process's ``DecodeBudget`` (made on first use with ``limit``)."""
    with _budgets_lock:
        budget = _budgets.get("worker")
        if budget is None:
            budget = _budgets["worker"] = DecodeBudget(limit)
        return budget


class _Stream:
    """The body in steps for the parser: inflated if it is gzip (every member), cut at
    ``limit`` bytes."""

    def __init__(self, body, limit):
        self._body = memoryview(body)
        self._offset = 0
        self._gzip = body[:2] == _GZIP_MAGIC
        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if self._gzip else None
        self._pending = b""  # compressed bytes after a member's end, not yet inflated
        self._piece = _STEP  # compressed bytes fed to zlib at a time
        self._left = limit
        #: the file went on past ``limit`` (or its gzip stream was broken)
        self.cut = False

    def read(self):
        """The next step of bytes (at most ``_STEP``), ``b""`` at the end."""
        size = min(_STEP, self._left)
        if size <= 0:
            self.cut = self.cut or self._has_more()
            return b""
        if self._inflater is None:
            chunk = bytes(self._body[self._offset:self._offset + size])
            self._offset += len(chunk)
        else:
            chunk = self._inflate(size)
        self._left -= len(chunk)
        return chunk

    def _inflate(self, size):
        inflater = self._inflater
        try:
            while True:
                if inflater.eof:  # a member ended: another may follow
                    self._pending = inflater.unused_data  # (what we fed it, <= a piece)
                    if len(self._pending) < 2:
                        self._pending += self._take(2 - len(self._pending))
                    if not self._pending.strip(b"\0") and not self._more_input():
                        return b""  # the end, or trailing zero padding (allowed)
                    if self._pending[:2] != _GZIP_MAGIC:
                        self.cut = True  # garbage after the last member
                        return b""
                    inflater = self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    # after the first member, small pieces: zlib copies what is left of
                    # a piece at every member's end, so many tiny members stay linear
                    self._piece = _MEMBER_PIECE
                data = inflater.unconsumed_tail
                if not data:
                    data = self._next_input()
                    if not data:
                        self.cut = True  # the stream stops inside a member
                        return b""
                chunk = inflater.decompress(data, size)
                if chunk:
                    return chunk
        except zlib.error:
            self.cut = True
            return b""

    def _next_input(self):
        """The next piece of compressed input: what a member left over first."""
        if self._pending:
            data, self._pending = self._pending, b""
            return data
        return self._take(self._piece)

    def _take(self, size):
        data = bytes(self._body[self._offset:self._offset + size])
        self._offset += len(data)
        return data

    def _more_input(self):
        return bool(self._pending) or self._offset < len(self._body)

    def _has_more(self):
        if self._inflater is None:
            return self._offset < len(self._body)
        return bool(self._inflater.unconsumed_tail or self._more_input()
                    or not self._inflater.eof)


class Sitemap:
    """What one sitemap file lists: ``urls`` (pages), ``sitemaps`` (an index's entries);
    ``cut`` when a limit was reached or the file was malformed (``reason`` says which)."""

    __slots__ = ("urls", "sitemaps", "cut", "reason")

    def __init__(self):
        self.urls = []
        self.sitemaps = []
        self.cut = False
        self.reason = None


class _Stop(Exception):
    """Raised from a parser callback: stop reading, the reason is in the result."""


class _Collector:
    """Appends URLs to a list within the file's and the worker's limits."""

    def __init__(self, result, max_urls, budget):
        self.result = result
        self.max_urls = max_urls
        self.budget = budget
        self.reserved = 0

    def add(self, found, url):
        if not url:
            return
        if len(found) >= self.max_urls:  # one more than the limit: the file is cut
            self.stop("SITEMAP_MAX_URLS")
        cost = len(url) + _URL_OVERHEAD
        if self.budget is not None:
            if not self.budget.reserve(cost):
                self.stop("WORKER_DECODE_MEMORY_MAX")
            self.reserved += cost
        found.append(url)

    def stop(self, reason):
        self.result.cut = True
        self.result.reason = self.result.reason or reason
        raise _Stop(reason)

    def release(self):
        if self.budget is not None and self.reserved:
            self.budget.release(self.reserved)
            self.reserved = 0


def parse_sitemap(body, max_size, max_urls, budget=None):
    """Parse a sitemap file's bytes (XML, gzip or plain text) within the limits;
    ``budget`` (a ``DecodeBudget``) is held while the parse runs and released when it
    returns."""
    stream = _Stream(body, max_size)
    result = Sitemap()
    collector = _Collector(result, max_urls, budget)
    step = _STEP
    if budget is not None and not budget.reserve(step):
        result.cut, result.reason = True, "WORKER_DECODE_MEMORY_MAX"
        return result
    try:
        head = stream.read()
        while head and not head.lstrip(b"\xef\xbb\xbf \t\r\n"):
            head = stream.read()  # leading whitespace only: look further
        stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if stripped[:1] == b"<":
            _parse_xml(stripped, stream, collector)
        else:
            _parse_text(head, stream, collector)
    except _Stop:
        pass
    finally:
        collector.release()
        if budget is not None:
            budget.release(step)
    if stream.cut:  # (expat then also says the document is not closed)
        result.cut, result.reason = True, "SITEMAP_MAX_SIZE reached, or a broken gzip stream"
    return result


def _local(name):
    return name.rpartition(":")[2]


def _refuse(*args):
    raise _Refused("DTDs and entities are not accepted in sitemaps")


class _Refused(Exception):
    """The XML declares a DTD or entities (refused, as defusedxml refuses them)."""


def _parse_xml(head, stream, collector):
    """expat, event by event: only the text of the current ``<loc>`` is kept."""
    result = collector.result
    parser = expat.ParserCreate()  # no namespace processing: prefixes are stripped
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse
    parser.buffer_text = False
    state = {"depth": 0, "found": None, "loc": None, "size": 0}
    lists = {"urlset": result.urls, "sitemapindex": result.sitemaps}

    def start(name, attrs):
        depth = state["depth"] = state["depth"] + 1
        if depth == 1:
            found = state["found"] = lists.get(_local(name))
            if found is None:
                collector.stop("not a sitemap (root <%s>)" % name[:100])
        elif depth == 3 and _local(name) == "loc":
            state["loc"], state["size"] = [], 0

    def end(name):
        depth = state["depth"]
        state["depth"] = depth - 1
        if depth == 3 and state["loc"] is not None:
            parts, state["loc"] = state["loc"], None
            if state["size"] <= MAX_LOC_LENGTH:
                collector.add(state["found"], "".join(parts).strip())

    def text(data):
        parts = state["loc"]
        if parts is not None:
            state["size"] += len(data)
            if state["size"] <= MAX_LOC_LENGTH:
                parts.append(data)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    chunk = head
    try:
        while chunk:
            parser.Parse(chunk, False)
            chunk = stream.read()
        parser.Parse(b"", True)
    except (expat.ExpatError, _Refused) as exc:
        result.cut = True
        result.reason = result.reason or "malformed or refused XML: %s" % exc


def _parse_text(head, stream, collector):
    """One URL per line; a line is collected in pieces (each byte looked at once), one
    longer than ``MAX_LOC_LENGTH`` skipped."""
    urls = collector.result.urls
    pieces, size = [], 0
    chunk = head
    while chunk:
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                if size <= MAX_LOC_LENGTH:
                    pieces.append(chunk[start:])
                size += len(chunk) - start
                break
            size += end - start
            if size <= MAX_LOC_LENGTH:
                pieces.append(chunk[start:end])
                _text_line(b"".join(pieces), urls, collector)
            pieces, size = [], 0
            start = end + 1
        chunk = stream.read()
    if size <= MAX_LOC_LENGTH:
        _text_line(b"".join(pieces), urls, collector)


def _text_line(line, urls, collector):
    url = line.decode("utf-8", "replace").strip().lstrip("\ufeff")
    if url.lower().startswith(("http://", "https://")):
        collector.add(urls, url)


class SitemapExtractor:
    """Turn sitemap responses into links and further sitemaps (see the module docstring)."""

    def __init__(self, settings):
        self._max_size = int(settings.SITEMAP_MAX_SIZE)
        self._max_urls = int(settings.SITEMAP_MAX_URLS)
        self._budget = worker_budget(settings.WORKER_DECODE_MEMORY_MAX)

    def __call__(self, curi):
        if curi.optional_vars.get(CURI_SITEMAP_FETCH) != CURI_OPTIONAL_TRUE:
            return curi
        status = curi.status_code if isinstance(curi.status_code, int) else 0
        if 300 <= status < 400:  # the redirect target is the sitemap
            self._set_sitemaps(curi, curi.extracted_urls)
            set_links(curi, [])
        elif 200 <= status < 300 and curi.content_body:
            sitemap = parse_sitemap(curi.content_body, self._max_size, self._max_urls,
                                    self._budget)
            resolve = LinkResolver(curi.effective_url or curi.url)
            set_links(curi, [resolve(url) for url in sitemap.urls])
            self._set_sitemaps(curi, [resolve(url) for url in sitemap.sitemaps])
            if sitemap.cut:
                log.info("sitemaps::%s read in part (%d URLs, %d sitemaps): %s", curi.url,
                         len(sitemap.urls), len(sitemap.sitemaps), sitemap.reason)
        return curi

    @staticmethod
    def _set_sitemaps(curi, urls):
        urls = [url for url in urls if url]
        if urls:
            curi.optional_vars[CURI_SITEMAPS] = "\n".join(dict.fromkeys(urls))
