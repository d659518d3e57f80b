"""Robots directives of a response: the ``X-Robots-Tag`` header and ``<meta name=robots>``.

``RobotsTagProcessor`` runs in the worker's extract stage before the link
extractors.  It reads the ``X-Robots-Tag`` header one header line at a time (the
fetch stage leaves the lines apart in ``curi.rep_header_lines``, a worker-local
attribute that is never sent; ``rep_header`` joins them with ", ", and a CrawlUri
without the attribute is read from that): directives may carry a user-agent prefix (``X-Robots-Tag: googlebot:
noindex``), which makes them, and the directives after them up to the next prefix,
apply to that crawler only, up to the end of its header line; directives without a prefix, or with the product token
of ``USER_AGENT`` (``spyder``), apply to us.  ``noindex`` (or ``none``) marks the
result ``optional_vars["noindex"] = "1"``, recorded by the JSONL sink so an indexer
downstream can respect it; ``nofollow`` (or ``none``), with ``OBEY_NOFOLLOW`` on,
marks it ``optional_vars["nofollow"] = "1"`` and ends extraction, so no link of the
response is followed -- exactly what ``<meta name=robots content=nofollow>`` does,
which the HTML link extractor reads with ``apply_directives`` below.
"""
import re

from spyder.core.constants import (CURI_EXTRACTION_FINISHED, CURI_NOFOLLOW, CURI_NOINDEX,
                                   CURI_OPTIONAL_TRUE)
from spyder.core.frontier.robots import product_token

#: Directives that take a value after a colon (so ``name:`` before them is no user agent).
_VALUED = frozenset(["max-snippet", "max-image-preview", "max-video-preview",
                     "unavailable_after", "indexifembedded"])
#: ``user-agent: directive`` at the start of one comma-separated part.
_PREFIX = re.compile(r"\s*([A-Za-z0-9_.-]+)\s*:\s*(.*)\Z", re.DOTALL)


def header_directives(value, token):
    """The directives of an ``X-Robots-Tag`` value that apply to product token ``token``
    (lower case, ``none`` expanded to ``noindex`` and ``nofollow``)."""
    found = set()
    applies = True
    token = token.lower()
    for part in (value or "").split(","):
        match = _PREFIX.match(part)
        if match and match.group(1).lower() not in _VALUED:
            applies = match.group(1).lower() == token
            part = match.group(2)
        if applies:
            found |= _expand(part.split())
    return found


def meta_directives(content):
    """The directives of a ``<meta name=robots content=...>`` value."""
    return _expand((content or "").replace(",", " ").split())


def _expand(words):
    found = {word.lower().partition(":")[0] for word in words}
    if "none" in found:
        found |= {"noindex", "nofollow"}
    return found


def apply_directives(optional_vars, directives, obey_nofollow):
    """Mark ``noindex`` / ``nofollow`` in ``optional_vars``; True if links must not be
    followed."""
    if "noindex" in directives:
        optional_vars[CURI_NOINDEX] = CURI_OPTIONAL_TRUE
    if obey_nofollow and "nofollow" in directives:
        optional_vars[CURI_NOFOLLOW] = CURI_OPTIONAL_TRUE
        return True
    return False


class RobotsTagProcessor:
    """Honour the ``X-Robots-Tag`` response header (see the module docstring)."""

    def __init__(self, settings):
        self._token = product_token(settings.USER_AGENT)
        self._obey_nofollow = settings.OBEY_NOFOLLOW

    def __call__(self, curi):
        lines = (getattr(curi, "rep_header_lines", None) or {}).get("X-Robots-Tag")
        if lines is None:
            value = (curi.rep_header or {}).get("X-Robots-Tag")
            lines = [value] if value else []
        directives = set()
        for line in lines:
            directives |= header_directives(line, self._token)
        if directives and apply_directives(curi.optional_vars, directives,
                                           self._obey_nofollow):
            curi.optional_vars[CURI_EXTRACTION_FINISHED] = CURI_OPTIONAL_TRUE
        return curi
