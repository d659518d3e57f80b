"""CleanupQueryString: tidy the end of every extracted link.

Drops the ``#fragment`` (when ``REMOVE_ANCHORS_FROM_LINKS``), empty query
parameters (``a=1&&b=2``) and trailing ``?`` / ``&``, so that trivially different
spellings of one URL collapse into one.  The last of the worker's scoper stages.

The fragments are cut from the newline-separated list as a whole (one regular-expression
pass instead of a Python call per link: a documentation page sends ~150 links, most of
them with a fragment), and only a list holding a ``?`` is looked at link by link.
"""
import re

from spyder.core.constants import CURI_EXTRACTED_URLS
from spyder.processor.links import drop_query_params, set_links

#: From a link's first ``#`` to the end of its line.
_FRAGMENTS = re.compile("#[^\n]*")


class CleanupQueryString:
    """Remove fragments and empty query parts from every extracted link."""

    def __init__(self, settings):
        self._remove_anchors = settings.REMOVE_ANCHORS_FROM_LINKS

    def clean(self, url):
        """``url`` without fragment and empty query parts."""
        if self._remove_anchors and "#" in url:
            url = url.partition("#")[0] or url
        return drop_query_params(url)

    def __call__(self, curi):
        raw = curi.optional_vars.get(CURI_EXTRACTED_URLS)
        if not raw:
            return curi
        cleaned = raw
        if self._remove_anchors and "#" in raw:
            if raw.startswith("#") or "\n#" in raw:  # (a link that is all fragment stays)
                cleaned = "\n".join([self.clean(url) for url in raw.split("\n")])
            else:
                cleaned = _FRAGMENTS.sub("", raw)
        if "?" in cleaned:
            cleaned = "\n".join([drop_query_params(url) for url in cleaned.split("\n")])
        if cleaned != raw:
            set_links(curi, cleaned.split("\n"))
        return curi
