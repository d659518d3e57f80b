"""The extracted-links list every extractor and scoper reads and rewrites.

Links travel in ``curi.optional_vars["extracted_urls"]`` as one newline-separated
string (the wire format); ``set_links`` writes a list back de-duplicated in
document order, ``add_links`` appends.  ``absolute_link`` turns one attribute value
into an absolute, percent-encoded ``http(s)`` URL or rejects it.
"""
from urllib.parse import urljoin

from w3lib.url import safe_url_string

from spyder.core.constants import CURI_EXTRACTED_URLS

_STRIP = {ord(c): None for c in "\t\n\r"}
_WHITESPACE = " \t\n\r\f"


def set_links(curi, urls):
    """Store ``urls`` as the page's links, duplicates removed (first one kept)."""
    unique = "\n".join(dict.fromkeys(url for url in urls if url))
    if unique:
        curi.optional_vars[CURI_EXTRACTED_URLS] = unique
    else:
        curi.optional_vars.pop(CURI_EXTRACTED_URLS, None)


def add_links(curi, urls):
    """Append ``urls`` to the page's links (keeping the list duplicate-free)."""
    if urls:
        set_links(curi, curi.extracted_urls + list(urls))


def absolute_link(base, value, encoding="utf-8"):
    """``value`` resolved against ``base`` as a percent-encoded http(s) URL, else ``None``.

    Leading/trailing whitespace and embedded tabs/newlines are dropped (as browsers
    do); any scheme other than http and https (javascript:, mailto:, data:, tel:,
    ...) is rejected; non-ASCII characters are percent-encoded (the query in the
    page's ``encoding``) and international host names IDNA-encoded.
    """
    value = value.strip(_WHITESPACE).translate(_STRIP)
    if not value:
        return None
    url = urljoin(base, value)
    if url[:8].lower().startswith(("http://", "https://")):
        try:
            return safe_url_string(url, encoding)
        except (ValueError, UnicodeError):
            return None
    return None
