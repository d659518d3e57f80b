"""SitemapExtractor: the URLs of a sitemap (sitemaps.org) become the result's links.

The frontier marks its requests for sitemaps -- those robots.txt names when
``ROBOTSTXT_SITEMAPS`` is on, and those a sitemap index names -- with
``optional_vars["sitemap_fetch"] = "1"`` (the fetcher then downloads them whatever
their content type, up to ``SITEMAP_MAX_SIZE``).  This processor, last in the
extractor pipeline, reads such a response in the worker (never on the master's
loop):

* a ``<urlset>``: its ``<url><loc>`` values replace the extracted links;
* a ``<sitemapindex>``: its ``<sitemap><loc>`` values go to
  ``optional_vars["sitemaps"]`` (newline-separated), which the frontier adds as
  sitemaps one level deeper (up to ``SITEMAP_MAX_DEPTH``);
* a plain-text sitemap: one URL per line;
* a gzip file (``.xml.gz``, recognised by its magic bytes) is inflated as a
  stream; a 3xx of a sitemap names a sitemap too.

Limits hold per file: at most ``SITEMAP_MAX_URLS`` URLs and ``SITEMAP_MAX_SIZE``
bytes after decompression -- a gzip bomb is inflated in small steps and cut at the
limit, never in one go.  The XML parser is defusedxml's expat parser with DTDs
refused, so no entity is ever expanded and nothing external is loaded.  A
malformed or cut file yields the URLs read before the fault.  Locations are
resolved like links (``links.absolute_link``); only http(s) URLs are kept.
"""
import logging
import zlib

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, iterparse

from spyder.core.constants import CURI_OPTIONAL_TRUE, CURI_SITEMAP_FETCH, CURI_SITEMAPS
from spyder.processor.links import absolute_link, set_links

log = logging.getLogger("spyder.worker.sitemaps")

_GZIP_MAGIC = b"\x1f\x8b"
#: Bytes inflated or handed to the parser in one step.
_STEP = 64 * 1024


class _Stream:
    """The body as a file for the parser: inflated if it is gzip, cut at ``limit``."""

    def __init__(self, body, limit):
        self._body = memoryview(body)
        self._offset = 0
        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if body[:2] == _GZIP_MAGIC \
            else None
        self._left = limit
        #: the file went on past ``limit`` (or its gzip stream was broken)
        self.cut = False

    def read(self, size=_STEP):
        size = min(size if size and size > 0 else _STEP, self._left)
        if size <= 0:
            self.cut = self.cut or self._has_more()
            return b""
        if self._inflater is None:
            chunk = bytes(self._body[self._offset:self._offset + size])
            self._offset += len(chunk)
        else:
            chunk = b""
            try:
                while not chunk and not self._inflater.eof and (
                        self._inflater.unconsumed_tail or self._offset < len(self._body)):
                    data = self._inflater.unconsumed_tail
                    if not data:
                        data = self._body[self._offset:self._offset + _STEP]
                        self._offset += len(data)
                    chunk = self._inflater.decompress(data, size)
            except zlib.error:
                self.cut = True
                return b""
        self._left -= len(chunk)
        return chunk

    def _has_more(self):
        if self._inflater is None:
            return self._offset < len(self._body)
        return not self._inflater.eof and bool(self._inflater.unconsumed_tail
                                               or self._offset < len(self._body))


class Sitemap:
    """What one sitemap file lists: ``urls`` (pages), ``sitemaps`` (an index's entries);
    ``cut`` when a limit was reached or the file was malformed."""

    __slots__ = ("urls", "sitemaps", "cut")

    def __init__(self):
        self.urls = []
        self.sitemaps = []
        self.cut = False


def parse_sitemap(body, max_size, max_urls):
    """Parse a sitemap file's bytes (XML, gzip or plain text) within the limits."""
    stream = _Stream(body, max_size)
    head = stream.read(_STEP)
    result = Sitemap()
    if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"<":
        _parse_xml(head, stream, max_urls, result)
    else:
        _parse_text(head, stream, max_urls, result)
    result.cut = result.cut or stream.cut
    return result


class _Prepended:
    def __init__(self, head, stream):
        self._head = head
        self._stream = stream

    def read(self, size=_STEP):
        if self._head:
            head, self._head = self._head, b""
            return head
        return self._stream.read(size)


def _local(tag):
    return tag.rpartition("}")[2]


def _parse_xml(head, stream, max_urls, result):
    root = None
    lists = {"urlset": result.urls, "sitemapindex": result.sitemaps}
    found = None
    try:
        for event, elem in iterparse(_Prepended(head, stream), events=("start", "end"),
                                     forbid_dtd=True):
            if root is None:
                root = elem
                found = lists.get(_local(elem.tag))
                if found is None:
                    result.cut = True  # not a sitemap
                    return
            elif event == "end" and _local(elem.tag) == "loc" and elem.text:
                if len(found) >= max_urls:  # one more than the limit: the file is cut
                    result.cut = True
                    return
                found.append(elem.text.strip())
            elif event == "end" and elem is not root and elem in root:
                root.remove(elem)  # an entry read: keep memory flat
    except (ParseError, DefusedXmlException) as exc:
        result.cut = True
        log.info("sitemaps::malformed or refused sitemap XML: %s", exc)


def _parse_text(head, stream, max_urls, result):
    rest = b""
    chunk = head
    while chunk:
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        for line in lines:
            _text_line(line, result.urls)
            if len(result.urls) > max_urls:  # one more than the limit: the file is cut
                del result.urls[max_urls:]
                result.cut = True
                return
        chunk = stream.read(_STEP)
    _text_line(rest, result.urls)
    del result.urls[max_urls:]


def _text_line(line, urls):
    url = line.decode("utf-8", "replace").strip().lstrip("\ufeff")
    if url.lower().startswith(("http://", "https://")):
        urls.append(url)


class SitemapExtractor:
    """Turn sitemap responses into links and further sitemaps (see the module docstring)."""

    def __init__(self, settings):
        self._max_size = int(settings.SITEMAP_MAX_SIZE)
        self._max_urls = int(settings.SITEMAP_MAX_URLS)

    def __call__(self, curi):
        if curi.optional_vars.get(CURI_SITEMAP_FETCH) != CURI_OPTIONAL_TRUE:
            return curi
        status = curi.status_code if isinstance(curi.status_code, int) else 0
        if 300 <= status < 400:  # the redirect target is the sitemap
            self._set_sitemaps(curi, curi.extracted_urls)
            set_links(curi, [])
        elif 200 <= status < 300 and curi.content_body:
            sitemap = parse_sitemap(curi.content_body, self._max_size, self._max_urls)
            base = curi.effective_url or curi.url
            set_links(curi, [absolute_link(base, url) for url in sitemap.urls])
            self._set_sitemaps(curi, [absolute_link(base, url) for url in sitemap.sitemaps])
            if sitemap.cut:
                log.info("sitemaps::%s read in part (%d URLs, %d sitemaps): a limit was "
                         "reached or the file is malformed", curi.url, len(sitemap.urls),
                         len(sitemap.sitemaps))
        return curi

    @staticmethod
    def _set_sitemaps(curi, urls):
        urls = [url for url in urls if url]
        if urls:
            curi.optional_vars[CURI_SITEMAPS] = "\n".join(dict.fromkeys(urls))
