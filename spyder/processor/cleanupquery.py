"""CleanupQueryString: tidy the end of every extracted link.

Drops the ``#fragment`` (when ``REMOVE_ANCHORS_FROM_LINKS``), empty query
parameters (``a=1&&b=2``) and trailing ``?`` / ``&``, so that trivially different
spellings of one URL collapse into one.
"""
from spyder.processor.links import drop_query_params, rewrite_links


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
        return rewrite_links(curi, self.clean)
