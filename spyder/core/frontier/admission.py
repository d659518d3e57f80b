"""URL admission: which URLs enter the frontier, in which spelling.

Every seed and every extracted link passes here before the URL-seen test in the
state file: it is canonicalised (``urls.canonicalize``, ``CANONICAL_SORT_QUERY``),
kept only if it is in scope (``REGEX_SCOPE_NEGATIVE`` never matches and
``REGEX_SCOPE_POSITIVE`` matches; with no positive pattern, its host is one of the
seeds' hosts, remembered in the state file), not deeper than ``CRAWL_MAX_DEPTH``,
and while fewer than ``CRAWL_MAX_PAGES`` URLs have been accepted.  A bounded cache of
raw links seen recently (``FRONTIER_SEEN_CACHE_SIZE``) spares the state file the
links every page of a site repeats: two generations of half that size each, plain
sets -- a link is looked up in the current one (one test per hit, nothing
reordered), a hit in the old one is promoted to the current one, and when the
current one is full it becomes the old one and the oldest is dropped.

``ScopePatterns`` is the regular-expression half of the scope; the worker's
``RegexScoper`` applies the same patterns, so a link is judged alike on both sides.
"""
import re
import time

from spyder.core.settings import SettingsError
from spyder.core.urls import canonicalize, host_key, key_hostname

#: Why a URL was refused -> the frontier counter that counts it.
REFUSAL_COUNTERS = {"scope": "out_of_scope", "depth": "too_deep"}


class ScopePatterns:
    """``REGEX_SCOPE_POSITIVE`` / ``REGEX_SCOPE_NEGATIVE``, compiled (``re.match``,
    case-insensitive); a pattern that does not compile is a ``SettingsError``."""

    def __init__(self, settings):
        self.positive = _compile(settings, "REGEX_SCOPE_POSITIVE")
        self.negative = _compile(settings, "REGEX_SCOPE_NEGATIVE")

    def matches(self, url):
        """No negative pattern matches and, if there are positive ones, one does."""
        for pattern in self.negative:
            if pattern.match(url):
                return False
        return not self.positive or any(pattern.match(url) for pattern in self.positive)


#: Seconds after which a host found out of the scope of a shared store is checked again.
_SCOPE_RECHECK = 5.0


class Admission:
    """The frontier's admission rules (see the module docstring); ``store`` keeps the
    seed hosts of the default scope."""

    def __init__(self, settings, store):
        self.patterns = ScopePatterns(settings)
        #: No positive pattern: the scope is the seeds' hosts (and their redirects').
        self.default_scope = not self.patterns.positive
        self.max_pages = int(settings.CRAWL_MAX_PAGES or 0)
        self._max_depth = settings.CRAWL_MAX_DEPTH
        self._sort_query = bool(settings.CANONICAL_SORT_QUERY)
        size = max(0, int(settings.FRONTIER_SEEN_CACHE_SIZE))
        #: Links per generation of the seen cache (0: no cache).
        self._generation = size // 2
        self._seen = set()       # raw links, the current generation
        self._seen_old = set()   # the generation before
        self._store = store
        self._scope_hosts = store.scope_hosts()
        #: A store shared with other masters (``shared``: the Redis store) gains seed hosts
        #: they add: an unknown host makes the scope be read again, once per host per
        #: ``_SCOPE_RECHECK`` seconds.
        self._shared = store.shared
        self._checked = set()
        self._checked_at = time.monotonic()

    def canonical(self, url):
        """The canonical spelling of ``url``; ``ValueError`` if it is unusable."""
        return canonicalize(url, self._sort_query)

    def refusal(self, url, depth, key=None):
        """``"scope"`` or ``"depth"`` if the canonical ``url`` is refused, else ``None``
        (``key``: its ``host_key``, if the caller has it)."""
        if not self.in_scope(url, key):
            return "scope"
        if self._max_depth is not None and depth > self._max_depth:
            return "depth"
        return None

    def full(self, accepted):
        """``CRAWL_MAX_PAGES`` URLs have been accepted."""
        return bool(self.max_pages) and accepted >= self.max_pages

    def room(self, accepted):
        """How many more URLs ``CRAWL_MAX_PAGES`` lets in (``None``: no limit)."""
        return self.max_pages - accepted if self.max_pages else None

    def in_scope(self, url, key=None):
        if not self.patterns.matches(url):
            return False
        if not self.default_scope:
            return True
        host = key_hostname(host_key(url) if key is None else key)
        if host in self._scope_hosts:
            return True
        return self._shared and self._recheck(host)

    def _recheck(self, host):
        """``host`` is in scope after all (another master added it)."""
        now = time.monotonic()
        if now - self._checked_at > _SCOPE_RECHECK:
            self._checked.clear()
            self._checked_at = now
        if host in self._checked or len(self._checked) > 100000:
            return False
        self._checked.add(host)
        self._scope_hosts = self._store.scope_hosts()
        return host in self._scope_hosts

    def add_scope_host(self, host):
        """Let ``host`` into the default scope (a seed's host or its redirect's)."""
        if host not in self._scope_hosts:
            self._store.add_scope_host(host)
            self._scope_hosts.add(host)

    def unseen(self, links, recheck=False):
        """The raw links not seen recently (all of them with ``recheck``), in order."""
        if recheck:
            return list(links)
        seen, old = self._seen, self._seen_old
        missed = [raw for raw in links if raw not in seen]
        unseen = [raw for raw in missed if raw not in old] if old else missed
        if len(unseen) < len(missed):
            self.remember([raw for raw in missed if raw in old])
        return unseen

    def remember(self, links):
        """Remember raw links as seen (once their URLs are committed to the store)."""
        room = self._generation - len(self._seen)
        if len(links) < room:
            self._seen.update(links)
            return
        if not self._generation:
            return
        for raw in links:
            if len(self._seen) >= self._generation:
                self._seen_old, self._seen = self._seen, set()
            self._seen.add(raw)

    def reload(self):
        """The store rolled back: forget the scope hosts it did not keep."""
        self._scope_hosts = self._store.scope_hosts()


def _compile(settings, name):
    patterns = []
    for pattern in getattr(settings, name):
        try:
            patterns.append(re.compile(pattern, re.IGNORECASE))
        except (re.error, TypeError) as exc:
            raise SettingsError("%s: %r is not a valid regular expression: %s"
                                % (name, pattern, exc)) from None
    return patterns
