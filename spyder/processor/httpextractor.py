"""HttpExtractor: the ``Location`` of a redirect becomes an extracted link.

With ``FOLLOW_REDIRECTS`` off (the default) a 3xx response is returned as it is and
its target is crawled as a new URL (subject to scope and politeness like any
other).  The ``Location`` is resolved against the URL as browsers do
(``links.LinkResolver.location``); one that does not parse is dropped and counted in
``optional_vars["links_dropped"]``.  Targets listed in ``HTTP_EXTRACTOR_404_REDIRECT``
(the "soft 404" pages of sites that redirect missing pages) are never added.
"""
from spyder.processor.links import LinkResolver, add_links, count_dropped


class HttpExtractor:
    """Add the resolved ``Location`` of any 3xx response to the extracted links."""

    def __init__(self, settings):
        self._not_found_pages = frozenset(settings.HTTP_EXTRACTOR_404_REDIRECT)

    def __call__(self, curi):
        status = curi.status_code
        location = curi.rep_header.get("Location")
        if isinstance(status, int) and 300 <= status < 400 and location:
            resolve = LinkResolver(curi.effective_url or curi.url)
            url = resolve.location(location)
            if url and url not in self._not_found_pages:
                add_links(curi, [url])
            count_dropped(curi, resolve)
        return curi
