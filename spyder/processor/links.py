"""The extracted-links list every extractor and scoper reads and rewrites.

Links travel in ``curi.optional_vars["extracted_urls"]`` as one newline-separated
string (the wire format); ``set_links`` writes a list back de-duplicated in
document order, ``add_links`` appends, ``rewrite_links`` maps every link and
``drop_query_params`` removes query parameters by a test.  ``LinkResolver(base)`` turns attribute
values into absolute, percent-encoded ``http(s)`` URLs (or rejects them);
``absolute_link`` is the one-off form, ``redirect_target`` the one for a ``Location``
header.
"""
import re
from urllib.parse import urljoin, urlsplit

from w3lib.url import safe_url_string

from spyder.core.constants import CURI_EXTRACTED_URLS

_STRIP = {ord(c): None for c in "\t\n\r"}
_WHITESPACE = " \t\n\r\f"
#: A URL made only of these characters is left exactly as it is by ``safe_url_string``.
_NEEDS_ENCODING = re.compile(r"[^A-Za-z0-9\-._~:/?#@!$&()*+,;=%]")


def set_links(curi, urls):
    """Store ``urls`` as the page's links, duplicates removed (first one kept)."""
    unique = "\n".join(dict.fromkeys(url for url in urls if url))
    if unique:
        curi.optional_vars[CURI_EXTRACTED_URLS] = unique
    else:
        curi.optional_vars.pop(CURI_EXTRACTED_URLS, None)


def rewrite_links(curi, rewrite):
    """Replace every link by ``rewrite(link)`` (links that become equal collapse)."""
    urls = curi.extracted_urls
    if urls:
        set_links(curi, [rewrite(url) for url in urls])
    return curi


def drop_query_params(url, unwanted=None):
    """``url`` without empty query parameters and those ``unwanted(param)`` is true for;
    no dangling ``?`` is left and the fragment stays."""
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

    ``resolver(value)`` returns the absolute URL or ``None``: leading/trailing
    whitespace and embedded tabs/newlines are dropped (as browsers do); any scheme
    other than http and https (javascript:, mailto:, data:, tel:, ...) is rejected;
    non-ASCII and unsafe characters are percent-encoded (the query in the page's
    ``encoding``) and international host names IDNA-encoded.  The common shapes
    (absolute, ``/root-relative``, ``plain-relative``) are resolved without
    ``urljoin``, which dominates extraction time otherwise.
    """

    def __init__(self, base, encoding="utf-8"):
        self.base = base
        self.encoding = encoding
        parts = urlsplit(base)
        self._scheme = parts.scheme
        self._origin = "%s://%s" % (parts.scheme, parts.netloc)
        path = parts.path or "/"
        self._directory = self._origin + path[:path.rfind("/") + 1]

    def __call__(self, value):
        value = value.strip(_WHITESPACE)
        if "\t" in value or "\n" in value or "\r" in value:
            value = value.translate(_STRIP)
        if not value:
            return None
        first = value[0]
        lowered = value[:8].lower()
        if lowered.startswith(("http://", "https://")):
            url = value
        elif first == "/":
            url = (self._scheme + ":" + value) if value[1:2] == "/" else self._origin + value
        elif first not in "?#." and ":" not in value.partition("/")[0]:
            url = self._directory + value
        else:
            url = urljoin(self.base, value)
        if "/." in url.partition("?")[0].partition("#")[0][8:]:
            url = urljoin(self.base, value)  # dot segments: let urljoin remove them
        if not url[:8].lower().startswith(("http://", "https://")):
            return None
        if _NEEDS_ENCODING.search(url) is None:
            return url
        for encoding in (self.encoding, "utf-8"):
            try:
                return safe_url_string(url, encoding)
            except UnicodeEncodeError:
                continue  # a character the page's charset cannot express: use UTF-8
            except (ValueError, UnicodeError):
                return None  # e.g. a port out of range, an invalid host name
        return None


def absolute_link(base, value, encoding="utf-8"):
    """``value`` resolved against ``base`` as a percent-encoded http(s) URL, else ``None``."""
    return LinkResolver(base, encoding)(value)


def redirect_target(base, location):
    """The absolute, percent-encoded http(s) URL a ``Location`` header names, else ``None``.

    tornado reads header bytes as Latin-1; a Location sent as raw UTF-8 (not allowed,
    yet common) is read as UTF-8, as browsers do.
    """
    try:
        location = location.encode("latin-1").decode("utf-8")
    except UnicodeError:
        pass
    return absolute_link(base, location)
