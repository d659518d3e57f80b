"""RegexScoper: keep only the extracted links that are in the crawl's scope.

A link is kept when it matches one of ``REGEX_SCOPE_POSITIVE`` and none of
``REGEX_SCOPE_NEGATIVE`` (``re.match``: anchored at the start, case-insensitive).
With an empty positive list every link passes here and the master applies its
default scope (the seeds' hosts).
"""
import re

from spyder.core.settings import SettingsError
from spyder.processor.links import set_links


def _compile(settings, name):
    patterns = []
    for pattern in getattr(settings, name):
        try:
            patterns.append(re.compile(pattern, re.IGNORECASE))
        except (re.error, TypeError) as exc:
            raise SettingsError("%s: %r is not a valid regular expression: %s"
                                % (name, pattern, exc)) from None
    return patterns


class RegexScoper:
    """Drop extracted links outside REGEX_SCOPE_POSITIVE / inside REGEX_SCOPE_NEGATIVE."""

    def __init__(self, settings):
        self._positive = _compile(settings, "REGEX_SCOPE_POSITIVE")
        self._negative = _compile(settings, "REGEX_SCOPE_NEGATIVE")

    def in_scope(self, url):
        """True if ``url`` is in scope."""
        if self._positive and not any(p.match(url) for p in self._positive):
            return False
        return not any(n.match(url) for n in self._negative)

    def __call__(self, curi):
        if (self._positive or self._negative) and curi.extracted_urls:
            set_links(curi, [url for url in curi.extracted_urls if self.in_scope(url)])
        return curi
