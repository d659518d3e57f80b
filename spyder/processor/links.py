"""The extracted-links list every extractor and scoper reads and rewrites.

Links travel in ``curi.optional_vars["extracted_urls"]`` as one newline-separated
string (the wire format); ``set_links`` writes a list back de-duplicated in
document order, ``add_links`` appends, ``rewrite_links`` maps every link and
``drop_query_params`` removes query parameters by a test.

``LinkResolver(base)`` turns attribute values into absolute ``http(s)`` URLs as
browsers do: by the WHATWG URL Standard (ada-url, the parser of Node.js), against
the page's base URL, the query percent-encoded in the page's encoding
(``resolver.links(values)`` does a whole page, each distinct value once; the
commonest shapes, a ``#fragment``, a ``/root-relative`` and a plain relative path, by
one regular-expression match and a concatenation each).  A value
that does not parse is dropped and counted (``resolver.dropped``; the extractors
record it with ``count_dropped`` in ``optional_vars["links_dropped"]``), one that
parses to another scheme (``javascript:``, ``mailto:``, ``data:`` ...) is dropped;
neither fails the page.  ``absolute_link`` is the one-off form, ``document_base``
the base a ``<base href>`` makes, ``redirect_target`` the URL a ``Location`` header
names.  The links come out in the
standard's serialisation (fragment kept); the frontier canonicalises them
(``spyder.core.urls``).
"""
import codecs
import collections
import logging
import re

from ada_url import join_url

from spyder.core.constants import CURI_EXTRACTED_URLS, CURI_LINKS_DROPPED
from spyder.core.urls import canonical_suffix_pattern, is_canonical, is_canonical_suffix

log = logging.getLogger(__name__)

_NON_ASCII = re.compile("[^\x00-\x7f]+")
#: The characters of a fragment the parser leaves as it is.
_FRAGMENT_CHARS = r"[A-Za-z0-9._~!$&'()*+,;=:@/?%-]*"
#: A fragment the parser leaves as it is.
_KEPT_FRAGMENT = re.compile(_FRAGMENT_CHARS + r"\Z")
#: First characters of values that are not a plain relative path (or may not be).
_NOT_PLAIN = frozenset("/\\?#.")
#: The end of a link value: a fragment the parser leaves as it is, or none.
_KEPT_FRAGMENT_OR_END = r"(?:#" + _FRAGMENT_CHARS + r")?\Z"
#: A plain relative value (first segment without ":", no dot segment) whose join to a
#: canonical directory is canonical: ``_resolve``'s commonest case (``_joined``'s last
#: shape, and the fragment test) in one match.
_PLAIN_LINK = re.compile(r"(?=[^/\\?#.])(?![^/#]*:)(?![^#]*/\.)"
                         + canonical_suffix_pattern(_KEPT_FRAGMENT_OR_END))
#: The same for a root-relative value (not "//host" nor "/\host", no dot segment), whose
#: join to a canonical "scheme://host/" is canonical: ``_joined``'s first shape.
_ROOTED_LINK = re.compile(r"/(?![/\\.])(?![^#]*/\.)"
                          + canonical_suffix_pattern(_KEPT_FRAGMENT_OR_END))


def set_links(curi, urls):
    """Store ``urls`` as the page's links, duplicates, ``None`` and empty ones removed
    (the first one kept)."""
    unique = dict.fromkeys(urls)
    unique.pop("", None)
    unique.pop(None, None)
    if unique:
        curi.optional_vars[CURI_EXTRACTED_URLS] = "\n".join(unique)
    else:
        curi.optional_vars.pop(CURI_EXTRACTED_URLS, None)


def rewrite_links(curi, rewrite):
    """Replace every link by ``rewrite(link)`` (links that become equal collapse); the
    list is rewritten only if a link changed."""
    urls = curi.extracted_urls
    if urls:
        rewritten = [rewrite(url) for url in urls]
        if rewritten != urls:
            set_links(curi, rewritten)
    return curi


def drop_query_params(url, unwanted=None):
    """``url`` without empty query parameters and those ``unwanted(param)`` is true for;
    no dangling ``?`` is left and the fragment stays."""
    if "?" not in url:
        return url
    rest, hashmark, fragment = url.partition("#")
    path, qmark, query = rest.partition("?")
    if qmark:
        kept = [p for p in query.split("&") if p and not (unwanted and unwanted(p))]
        path += "?" + "&".join(kept) if kept else ""
    return path + hashmark + fragment


def add_links(curi, urls):
    """Append ``urls`` to the page's links (keeping the list duplicate-free)."""
    if urls:
        set_links(curi, curi.extracted_urls + list(urls))


class LinkResolver:
    """Resolve link values found on a page whose base URL is ``base``.

    ``resolver(value)`` returns the absolute http(s) URL or ``None``,
    ``resolver.links(values)`` the http(s) URLs of a page's values in order (each
    distinct value resolved once), and ``resolver.location(value)`` does the same for a
    ``Location`` header; values that cannot be parsed are counted in
    ``resolver.dropped`` (as often as they occur).  ``encoding`` is the page's:
    non-ASCII characters in the query are percent-encoded in it (one it cannot
    express as ``%26%23<code point>%3B``, i.e. ``&#...;``), everything else in UTF-8.
    The common shapes (absolute, ``/root-relative``, ``plain-relative``, and with
    ``./`` and ``../`` in front) whose result is canonical already (but for a plain
    fragment) are recognised without parsing: joined by string to the base's root or
    directory when that is canonical, only the link's own part is checked.
    """

    def __init__(self, base, encoding="utf-8"):
        self.base = base
        self.dropped = 0
        self._encoding = _query_encoding(encoding)
        # the base's "scheme://host[:port]/" and directory, where they are canonical,
        # and the base itself if it is (a "#fragment" value is joined to it)
        self._root = self._directory = self._page = None
        if base.startswith(("http://", "https://")) and "#" not in base:
            path_start = base.find("/", base.index("//") + 2)
            if path_start > 0 and is_canonical(base[:path_start + 1]):
                self._root = base[:path_start + 1]
                path = base.partition("?")[0]
                directory = path[:path.rfind("/") + 1]
                self._directory = directory if is_canonical(directory) else None
                self._page = base if is_canonical(base) else None

    def __call__(self, value):
        try:
            return self._resolve(value)
        except ValueError:
            self.dropped += 1
            return None

    def links(self, values):
        """The http(s) URLs of the list ``values``, in order (duplicates may remain)."""
        found = []
        counts = None
        page, root, directory = self._page, self._root, self._directory
        for value in dict.fromkeys(values):
            # the commonest shapes by their first character and one match each
            # (``_resolve`` gives the same): "#fragment", "/root-relative", "plain/path",
            # with a fragment or not
            first = value[:1]
            if first == "#":
                if page is not None and _KEPT_FRAGMENT.match(value, 1):
                    found.append(page + value)
                    continue
            elif first == "/":
                if root is not None and _ROOTED_LINK.match(value):
                    found.append(root + value[1:])
                    continue
            elif directory is not None and _PLAIN_LINK.match(value):
                found.append(directory + value)
                continue
            try:
                url = self._resolve(value)
            except ValueError:
                if counts is None:  # counted once, on the first failure: linear time
                    counts = collections.Counter(values)
                self.dropped += counts[value]
                continue
            if url:
                found.append(url)
        return found

    def location(self, value):
        """Resolve a ``Location`` header value.  tornado reads header bytes as Latin-1;
        a Location sent as raw UTF-8 (not allowed, yet common) is read as UTF-8, as
        browsers do."""
        try:
            value = value.encode("latin-1").decode("utf-8")
        except UnicodeError:
            pass
        return self(value)

    def _resolve(self, value):
        """The http(s) URL of ``value``, ``None`` for another scheme; ``ValueError``."""
        head, hashmark, fragment = value.partition("#")
        if not hashmark or _KEPT_FRAGMENT.match(fragment):
            url = self._joined(head)
            if url is not None:
                return url + hashmark + fragment  # exactly what the parser gives
        url = _parse(self.base, value, self._encoding)
        return url if url.startswith(("http://", "https://")) else None

    def _joined(self, value):
        """``value`` (without fragment) joined to the base by string, for the shapes
        where that is right if the result needs no parsing and it is canonical; else
        ``None``."""
        if not value:
            return self._page
        first = value[:1]
        if first == "/":
            authority = value[1:2] in ("/", "\\")  # "//host" or "/\host" name a host
            if self._root and not authority and is_canonical_suffix(value[1:]):
                return self._root + value[1:]
            return None
        if first == ".":
            return self._dotted(value) if self._directory else None
        if value.startswith(("http://", "https://")):
            return value if is_canonical(value) else None
        if (first and first not in _NOT_PLAIN and self._directory
                and ":" not in value.partition("/")[0] and is_canonical_suffix(value)):
            return self._directory + value
        return None

    def _dotted(self, value):
        """``value`` starting with ``./`` or ``../`` segments joined to the base's
        directory by string (each ``../`` takes one segment off, none above the root),
        if the rest of it is plain and canonical; else ``None``."""
        directory, root = self._directory, len(self._root)
        while True:
            if value.startswith("../"):
                value = value[3:]
                if len(directory) > root:
                    directory = directory[:directory.rfind("/", 0, -1) + 1]
            elif value.startswith("./"):
                value = value[2:]
            else:
                break
        if value[:1] in _NOT_PLAIN or not is_canonical_suffix(value):
            return None
        return directory + value


def _parse(base, value, encoding):
    """The WHATWG serialisation of ``value`` parsed against ``base``; ``ValueError``."""
    if encoding and not value.isascii():
        value = _encode_query(value, encoding)
    return join_url(base, value)


def _query_encoding(encoding):
    """The page's encoding for URL queries, or ``None`` for UTF-8 (also for UTF-16/32
    pages and unknown names, as the standard says)."""
    try:
        name = codecs.lookup(encoding).name
    except (LookupError, TypeError):
        return None
    return None if name.startswith("utf") else name


def _encode_query(value, encoding):
    """``value`` with the non-ASCII characters of its query (from the first ``?`` to
    the first ``#``) percent-encoded in ``encoding``."""
    end = value.find("#")
    end = len(value) if end < 0 else end
    start = value.find("?", 0, end)
    if start < 0:
        return value
    query = _NON_ASCII.sub(lambda match: _percent_encoded(match.group(), encoding),
                           value[start:end])
    return value[:start] + query + value[end:]


def _percent_encoded(text, encoding):
    out = []
    for char in text:
        try:
            out.append("".join("%%%02X" % byte for byte in char.encode(encoding)))
        except UnicodeEncodeError:
            out.append("%%26%%23%d%%3B" % ord(char))
    return "".join(out)


def absolute_link(base, value, encoding="utf-8"):
    """``value`` resolved against ``base`` as an http(s) URL, else ``None``."""
    return LinkResolver(base, encoding)(value)


def document_base(url, href, encoding="utf-8"):
    """The base URL of a page at ``url`` with ``<base href=href>``: ``href`` resolved
    against ``url``, or ``url`` itself if it does not parse or is data: or javascript:."""
    try:
        base = _parse(url, href, _query_encoding(encoding))
    except ValueError:
        return url
    return url if base.startswith(("data:", "javascript:")) else base


def count_dropped(curi, resolver):
    """Add the values ``resolver`` could not parse to ``optional_vars["links_dropped"]``
    and log them (one line per page)."""
    if resolver.dropped:
        total = int(curi.optional_vars.get(CURI_LINKS_DROPPED, 0)) + resolver.dropped
        curi.optional_vars[CURI_LINKS_DROPPED] = str(total)
        log.info("proc.links::%s: %d link(s) could not be parsed, dropped",
                 curi.url, resolver.dropped)


def redirect_target(base, location):
    """The absolute http(s) URL a ``Location`` header names, resolved against the
    request's URL ``base``, else ``None`` (see ``LinkResolver.location``)."""
    return LinkResolver(base).location(location)
