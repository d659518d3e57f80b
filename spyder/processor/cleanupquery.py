"""CleanupQueryString: tidy the end of every extracted link.

Drops the ``#fragment`` (when ``REMOVE_ANCHORS_FROM_LINKS``), empty query
parameters (``a=1&&b=2``) and trailing ``?`` / ``&``, so that trivially different
spellings of one URL collapse into one.
"""
from spyder.processor.links import set_links


class CleanupQueryString:
    """Remove fragments and empty query parts from every extracted link."""

    def __init__(self, settings):
        self._remove_anchors = settings.REMOVE_ANCHORS_FROM_LINKS

    def clean(self, url):
        """``url`` without fragment and empty query parts."""
        if self._remove_anchors:
            url = url.partition("#")[0] or url
        rest, hashmark, fragment = url.partition("#")
        path, qmark, query = rest.partition("?")
        if qmark:
            kept = [p for p in query.split("&") if p]
            path += "?" + "&".join(kept) if kept else ""
        return path + hashmark + fragment

    def __call__(self, curi):
        urls = curi.extracted_urls
        if urls:
            set_links(curi, [self.clean(url) for url in urls])
        return curi
