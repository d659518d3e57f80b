"""RegexScoper: keep only the extracted links that are in the crawl's scope.

A link is kept when it matches one of ``REGEX_SCOPE_POSITIVE`` and none of
``REGEX_SCOPE_NEGATIVE`` (``re.match``: anchored at the start, case-insensitive).
With an empty positive list every link passes here and the master applies its
default scope (the seeds' hosts).  The patterns are the frontier's own
(``core.admission.ScopePatterns``), so both sides judge a link alike.
"""
from spyder.core.frontier.admission import ScopePatterns
from spyder.processor.links import set_links


class RegexScoper:
    """Drop extracted links outside REGEX_SCOPE_POSITIVE / inside REGEX_SCOPE_NEGATIVE."""

    def __init__(self, settings):
        self._patterns = ScopePatterns(settings)

    def in_scope(self, url):
        """True if ``url`` is in scope."""
        return self._patterns.matches(url)

    def __call__(self, curi):
        patterns = self._patterns
        if (patterns.positive or patterns.negative) and curi.extracted_urls:
            set_links(curi, [url for url in curi.extracted_urls if patterns.matches(url)])
        return curi
