"""robots.txt for the frontier: fetched through the workers, parsed and enforced in the master.

Before the first URL of an origin (``scheme://host[:port]``) is dispatched, the
frontier asks ``RobotsTxt.check(origin)``:

* ``READY`` -- rules are known and fresh; ``rules.allowed(url)`` decides, and
  ``rules.delay`` (Crawl-delay, or Request-rate as seconds per request, capped at
  ``FRONTIER_MAX_CRAWL_DELAY``) raises the queue's minimum delay;
* ``FETCH`` -- the origin's robots.txt must be fetched now: the frontier hands
  out a CrawlUri for the returned URL with ``optional_vars["robots_fetch"] = "1"``
  and reports its result to ``fetch_finished``;
* ``BUSY`` -- that fetch is under way; the origin's URLs wait;
* ``WAIT`` -- the last fetch failed; the origin's URLs wait until the returned time.

Results (RFC 9309): 2xx -- the body (downloaded whatever its Content-Type, at most
``ROBOTSTXT_MAX_SIZE`` bytes) is decoded as UTF-8, a byte-order mark removed and
invalid bytes replaced, and parsed with Protego for ``USER_AGENT``'s product token;
3xx -- the redirect is followed (up to 5 hops, then allow all); 4xx other than
408/429 -- allow all; anything else (5xx, 408, 429, network or processing errors)
-- the robots.txt is *unreachable*: the origin's URLs wait, never dropped, and the
fetch is tried again after ``RETRY_BACKOFF`` seconds, doubling with every failure up
to ``ROBOTSTXT_RETRY_MAX_WAIT``, at least ``Retry-After``, for as long as it takes
(also across restarts: the failures and the next try are in the state file).
``waiting()`` counts the origins in that state and every failure is logged with
its origin and cause.  Answers are kept in the state file for ``ROBOTSTXT_TTL``
seconds and in a bounded in-memory cache of parsed rules.  ``Sitemap:`` lines are
returned so the frontier can crawl them (``ROBOTSTXT_SITEMAPS``).

Budget (this all runs on the master's loop).  Before Protego sees a body, one linear
pass (``relevant_rules``) keeps only what can matter to our product token: the
groups of the one user agent Protego would pick for it (RFC 9309 2.2.1: the most
specific match, else ``*``), the site-wide lines (Sitemap, Host), and of our groups
at most ``ROBOTSTXT_MAX_RULES`` units -- a rule costs one unit plus one per ``*`` in
it (the work a check does for it) and one per 64 characters (the work its parse
does), another directive one; what is past the budget is
ignored, as the rest of a file past ``ROBOTSTXT_MAX_SIZE`` is, and logged (so is a
file of more than that many user-agent and site-wide lines, past the last of them).  So one parse costs a pass over
the body plus a parse of at most the budget, and one ``allowed()`` check at most
the budget's units of string searches, however hostile the file (512 KiB of
wildcard rules: 1.28 s per parse and 23 ms per check before).  What is kept in memory
and in the state file is that reduction (a first comment line names the product
token it was made for; one made for another is fetched again), so a parse after the
cache evicted it, or after a restart, costs only the reduction's size, and a commit
does not write 512 KiB per host.
"""
import collections
import logging
import re
from urllib.parse import urljoin

from protego import Protego
from protego._protego import (_ALLOW_DIRECTIVE, _CRAWL_DELAY_DIRECTIVE, _DISALLOW_DIRECTIVE,
                              _HOST_DIRECTIVE, _REQUEST_RATE_DIRECTIVE, _SITE_WIDE_DIRECTIVES,
                              _SITEMAP_DIRECTIVE, _USER_AGENT_DIRECTIVE,
                              _VISIT_TIME_DIRECTIVE, _extract_directive)

from spyder.core.constants import CURI_ERROR
from spyder.core.retry import result_class
from spyder.core.store.protocol import RobotsRow
from spyder.core.urls import canonicalize

log = logging.getLogger("spyder.frontier")

READY, FETCH, BUSY, WAIT = "ready", "fetch", "busy", "wait"

#: Failures after which the retry wait stops doubling (it is capped long before).
_MAX_DOUBLINGS = 32
#: Redirects followed for one robots.txt.
MAX_REDIRECTS = 5
#: Parsed robots.txt kept in memory.
CACHE_SIZE = 4096


def product_token(user_agent):
    """The crawler's name in a User-Agent: ``spyder`` in ``Mozilla/5.0 (compatible; spyder/0.3)``.
    """
    match = (re.search(r"compatible;\s*([A-Za-z0-9_-]+)", user_agent)
             or re.match(r"\s*([A-Za-z0-9_-]+)", user_agent))
    return match.group(1) if match else user_agent


def robots_url(origin):
    """The robots.txt URL of an origin."""
    return origin + "/robots.txt"


def decode_robots(body, limit):
    """The text of a robots.txt: its first ``limit`` bytes as UTF-8, a BOM removed,
    invalid bytes replaced (RFC 9309 2.3 and 2.5)."""
    return (body or b"")[:limit].decode("utf-8-sig", "replace")


def _agent_score(agent, token):
    """How well the robots.txt user agent ``agent`` names product token ``token`` (both
    lower case): Protego's ``_RuleSet.applies_to`` -- 1 for ``*``, its length for a
    match at a token boundary, else 0."""
    if agent == "*":
        return 1
    index = token.find(agent)
    while index != -1:
        if index == 0 or not (token[index - 1].isalnum() or token[index - 1] in "-_"):
            return len(agent)
        index = token.find(agent, index + 1)
    return 0


def _agents(value):
    """The user agents Protego files a ``User-agent`` value under."""
    agent = value.strip().lower()
    if agent != "*" and "*" in agent:
        return (agent, agent.replace("*", ""))
    return (agent,)


_KNOWN = frozenset(_USER_AGENT_DIRECTIVE | _ALLOW_DIRECTIVE | _DISALLOW_DIRECTIVE
                   | _SITEMAP_DIRECTIVE | _HOST_DIRECTIVE | _CRAWL_DELAY_DIRECTIVE
                   | _REQUEST_RATE_DIRECTIVE | _VISIT_TIME_DIRECTIVE)
#: A rule costs one more unit per this many characters (Protego quotes every pattern
#: character by character: 390 KB of "%zz" took 145 ms).
_CHARS_PER_UNIT = 64
#: The group directives other than rules, by Protego's field names -> what we write.
_GROUP_NAMES = {**{field: "Crawl-delay" for field in _CRAWL_DELAY_DIRECTIVE},
                **{field: "Request-rate" for field in _REQUEST_RATE_DIRECTIVE},
                **{field: "Visit-time" for field in _VISIT_TIME_DIRECTIVE}}


def _directive(line):
    """Protego's reading of one line: ``(field, value)`` or ``None``."""
    cut = line.find("#")
    if cut != -1:
        line = line[:cut]
    line = line.strip()
    if not line:
        return None
    field, colon, value = line.partition(":")
    field = field.strip().lower()
    if colon and field in _KNOWN:  # Protego's happy path, without its call
        return field, value.strip()
    return _extract_directive(line)


def _found(low, words):
    """Indexes of the lines (lower case) holding one of ``words`` (C-speed filter)."""
    if len(words) == 1:
        a, = words
        return [i for i, line in enumerate(low) if a in line]
    if len(words) == 2:
        a, b = words
        return [i for i, line in enumerate(low) if a in line or b in line]
    a, b, c = words
    return [i for i, line in enumerate(low) if a in line or b in line or c in line]


def relevant_rules(body, token, max_units):
    """``(text, lines_ignored)``: the robots.txt ``body`` reduced to what matters to
    product token ``token`` (see the module docstring), for Protego to parse.  Groups
    are read exactly as Protego reads them.

    Bounded work: most lines are only looked at by substring filters over the whole
    text (every user-agent directive holds "agent", every site-wide one "site" or
    "host"); lines are parsed one by one only where they may matter -- user-agent and
    site-wide lines (at most ``max_units``: the file counts as ending at the next
    one), the first lines of other groups (where a group may end) and the lines of
    our groups (together at most ``max_units`` units, a rule costing 1 plus 1 per
    ``*`` plus 1 per 64 characters; the rest of our groups is ignored)."""
    token = token.strip().lower()
    lines = body.splitlines()
    low = body.lower().splitlines()
    if len(low) != len(lines):  # (lower() never adds line breaks; to be safe)
        low = [line.lower() for line in lines]
    agents = set(_found(low, ("agent",)))
    candidates = sorted(agents.union(_found(low, ("site", "host"))))
    ignored = 0
    if len(candidates) > max_units:  # the file ends here for us
        ignored = len(lines) - candidates[max_units]
        lines = lines[:candidates[max_units]]
        candidates = candidates[:max_units]
    agent_lines = []  # (index, value) of every user-agent line, even without a value
    best, best_score = None, 0
    out = []
    for i in candidates:
        directive = _directive(lines[i])
        if directive is None:
            continue
        field, value = directive
        if field in _USER_AGENT_DIRECTIVE:
            agent_lines.append((i, value))
            for agent in _agents(value) if value else ():
                score = _agent_score(agent, token) if agent else 0
                if score > best_score:  # the first of the best, as Protego's max()
                    best, best_score = agent, score
        elif value and field in _SITEMAP_DIRECTIVE:
            out.append("Sitemap: " + value)
        elif value and field in _HOST_DIRECTIVE:
            out.append("Host: " + value)
    if best is None:
        return "\n".join(out), ignored
    out.append("User-agent: " + best)  # every group of ours feeds this one rule set
    budget = [max_units, 0]  # units left, lines ignored
    ours = False
    previous = -1
    for i, value in agent_lines + [(len(lines), None)]:
        if budget[0] <= 0:
            budget[1] += len(lines) - previous - 1
            break
        if ours:
            group_ended = _our_group(lines, previous + 1, i, out, budget)
        else:
            group_ended = _any_directive(lines, previous + 1, i, budget)
        if value is None:
            break
        if group_ended:
            ours = False
        if value and not ours and best in _agents(value):
            ours = True
        previous = i
    return "\n".join(out), ignored + budget[1]


def _any_directive(lines, start, end, budget):
    """Whether lines ``start:end`` hold a directive other than a site-wide one (which
    makes the user-agent line after them start a new group); each line looked at
    costs a unit of ``budget``."""
    for i in range(start, end):
        budget[0] -= 1
        directive = _directive(lines[i])
        if directive is not None and directive[0] not in _SITE_WIDE_DIRECTIVES:
            return True
    return False


def _our_group(lines, start, end, out, budget):
    """Copy the group directives of lines ``start:end`` (ours) to ``out`` within
    ``budget``; returns whether they held a directive that ends the group."""
    ended = False
    for i in range(start, end):
        directive = _directive(lines[i])
        if directive is None:
            continue
        field, value = directive
        if field not in _SITE_WIDE_DIRECTIVES:
            ended = True
        if not value:
            continue
        if field in _ALLOW_DIRECTIVE or field in _DISALLOW_DIRECTIVE:
            cost = 1 + value.count("*") + len(value) // _CHARS_PER_UNIT
            line = ("Allow: " if field in _ALLOW_DIRECTIVE else "Disallow: ") + value
        else:
            name = _GROUP_NAMES.get(field)
            if name is None:
                continue
            cost, line = 1, "%s: %s" % (name, value)
        if cost > budget[0]:  # the budget is spent: the rest of our groups is ignored
            budget[0] = 0
            budget[1] += end - i
            return True
        budget[0] -= cost
        out.append(line)
    return ended


#: The first line of a robots.txt as kept: reduced for this product token (a comment).
_MARKER = "# spyder: the rules for "
#: Rule units obeyed per robots.txt when no setting says (see ROBOTSTXT_MAX_RULES).
MAX_RULE_UNITS = 1000


class RobotsRules:
    """The parsed robots.txt of one origin, for one user agent token (at most
    ``max_units`` rule units of it, see ``relevant_rules``; ``ignored`` counts the lines
    of rules past them)."""

    __slots__ = ("_parser", "_token", "delay", "sitemaps", "ignored")

    def __init__(self, body, token, max_delay, max_units=MAX_RULE_UNITS):
        self.ignored = 0
        if body.strip():
            body, self.ignored = relevant_rules(body, token, max_units)
        self._parser = Protego.parse(body) if body.strip() else None
        self._token = token
        self.delay = None
        self.sitemaps = []
        if self._parser is not None:
            delay = self._parser.crawl_delay(token)
            rate = self._parser.request_rate(token)
            if rate is not None and rate.requests:
                delay = max(delay or 0.0, rate.seconds / rate.requests)
            if delay is not None:
                self.delay = min(float(delay), max_delay)
            self.sitemaps = list(self._parser.sitemaps)

    def allowed(self, url):
        """May the crawler fetch ``url``?"""
        return self._parser is None or self._parser.can_fetch(url, self._token)


class _Entry:
    __slots__ = ("status", "body", "expires", "failures", "fetched", "rules")

    def __init__(self, status, body, expires, failures, fetched):
        self.status = status
        self.body = body
        self.expires = expires
        self.failures = failures
        self.fetched = fetched
        self.rules = None


class RobotsTxt:
    """The frontier's robots.txt policy (see the module docstring).

    ``store`` is the frontier's store (``robots`` / ``put_robots`` / ``robots_waiting``);
    ``retry`` the frontier's ``RetryPolicy`` for failed fetches.
    """

    def __init__(self, settings, store, retry):
        self.obey = bool(settings.ROBOTSTXT_OBEY)
        self._ttl = float(settings.ROBOTSTXT_TTL)
        self._max_delay = float(settings.FRONTIER_MAX_CRAWL_DELAY)
        self._want_sitemaps = bool(settings.ROBOTSTXT_SITEMAPS)
        self._max_size = int(settings.ROBOTSTXT_MAX_SIZE)
        self._max_wait = float(settings.ROBOTSTXT_RETRY_MAX_WAIT)
        self._max_units = int(settings.ROBOTSTXT_MAX_RULES)
        self._marker = "%s%s\n" % (_MARKER, product_token(settings.USER_AGENT).lower())
        self._token = product_token(settings.USER_AGENT)
        self._store = store
        self._retry = retry
        self._cache = collections.OrderedDict()  # origin -> _Entry
        self._busy = set()                       # origins whose robots.txt is being fetched
        self._redirects = {}                     # origin -> (url to fetch, hops so far)
        self._allow_all = RobotsRules("", self._token, self._max_delay)

    def check(self, origin, now):
        """``(state, value)``: ``(READY, rules)``, ``(FETCH, (url, attempt))``, ``(BUSY, None)``
        or ``(WAIT, until)``."""
        if not self.obey:
            return READY, self._allow_all
        if origin in self._busy:
            return BUSY, None
        entry = self._entry(origin)
        if entry is not None and entry.expires > now:
            if entry.failures:
                return WAIT, entry.expires
            if entry.rules is None:
                entry.rules = self._parse(entry.body)
            return READY, entry.rules
        url, _ = self._redirects.get(origin, (robots_url(origin), 0))
        return FETCH, (url, entry.failures if entry is not None else 0)

    def describe(self, origins, now):
        """What is known about the robots.txt of the first of ``origins`` that has one (for
        the console; changes nothing): ``{"state": "ready" | "fetching" | "waiting" |
        "unknown" | "not obeyed", "status", "expires", "crawl_delay"}``."""
        if not self.obey:
            return {"state": "not obeyed", "status": None, "expires": None, "crawl_delay": None}
        for org in origins:
            if org in self._busy:
                return {"state": "fetching", "status": None, "expires": None,
                        "crawl_delay": None}
            entry = self._cache.get(org)
            row = (entry.status, entry.expires, entry.failures) if entry is not None else None
            if row is None:
                stored = self._store.robots(org)
                row = None if stored is None else (stored.status, stored.expires, stored.failures)
            if row is not None:
                status, expires, failures = row
                state = "waiting" if failures and expires > now else "ready"
                return {"state": state, "status": status, "expires": expires,
                        "crawl_delay": self.delay(org)}
        return {"state": "unknown", "status": None, "expires": None, "crawl_delay": None}

    def delay(self, origin):
        """The Crawl-delay of an origin whose rules are known, else ``None``."""
        entry = self._cache.get(origin)
        return entry.rules.delay if entry is not None and entry.rules is not None else None

    def fetch_started(self, origin):
        """The robots.txt of ``origin`` was handed to a worker."""
        self._busy.add(origin)

    def fetch_abandoned(self, origin):
        """The robots.txt fetch of ``origin`` was handed back unfetched: no failure, it
        is fetched again as soon as the origin's queue may."""
        self._busy.discard(origin)

    def waiting(self):
        """How many origins wait because their robots.txt is unreachable."""
        return self._store.robots_waiting()

    def fetch_finished(self, origin, curi, now):
        """Record the result of a robots.txt fetch; returns the sitemap URLs to add."""
        self._busy.discard(origin)
        status = curi.status_code if isinstance(curi.status_code, int) else None
        kind = result_class(status)
        old = self._entry(origin)
        if kind == "redirect" and self._follow_redirect(origin, curi):
            return []
        self._redirects.pop(origin, None)
        if kind in ("success", "redirect", "not_found"):
            body = decode_robots(curi.content_body, self._max_size) if kind == "success" else ""
            ignored = 0
            if body.strip():  # what is kept (in memory and the state file) is what we obey
                reduced, ignored = relevant_rules(body, self._token, self._max_units)
                body = self._marker + reduced
            if ignored:
                log.info("frontier::robots.txt of %s: %d lines of rules past "
                         "ROBOTSTXT_MAX_RULES (%d units) ignored", origin, ignored,
                         self._max_units)
            entry = _Entry(status, body, now + self._ttl, 0, now)
            if old is not None and old.failures:
                log.info("frontier::robots.txt of %s reachable again after %d failed tries",
                         origin, old.failures)
        else:
            failures = (old.failures if old is not None else 0) + 1
            wait = min(self._retry.wait(min(failures - 1, _MAX_DOUBLINGS), curi, now),
                       self._max_wait)
            entry = _Entry(status, old.body if old else "", now + wait, failures,
                           old.fetched if old else None)
            cause = (curi.optional_vars or {}).get(CURI_ERROR) or "status %s" % status
            log.log(logging.WARNING if failures == 1 else logging.INFO,
                    "frontier::robots.txt of %s unreachable (%s), %d failed tries: its URLs "
                    "wait, next try in %.0f s", origin, cause, failures, wait)
        self._store.put_robots(origin, RobotsRow(entry.status, entry.body, entry.expires,
                                                 entry.failures, entry.fetched))
        self._remember(origin, entry)
        if entry.failures:
            return []
        entry.rules = self._parse(entry.body)
        return entry.rules.sitemaps if self._want_sitemaps else []

    def _parse(self, body):
        return RobotsRules(body, self._token, self._max_delay, self._max_units)

    def _follow_redirect(self, origin, curi):
        _, hops = self._redirects.get(origin, (None, 0))
        target = curi.rep_header.get("Location") if curi.rep_header else None
        links = curi.extracted_urls
        if links:
            target = links[0]
        if not target or hops >= MAX_REDIRECTS:
            return False
        try:
            target = canonicalize(urljoin(curi.url, target))
        except ValueError:
            return False
        self._redirects[origin] = (target, hops + 1)
        return True

    def _entry(self, origin):
        entry = self._cache.get(origin)
        if entry is not None:
            self._cache.move_to_end(origin)
            return entry
        row = self._store.robots(origin)
        if row is None or (not row.failures and row.fetched is None):
            return None  # unknown, or "disallow all" written by an older Spyder: fetch again
        if row[1].startswith(_MARKER) and not row[1].startswith(self._marker):
            return None  # reduced for another user agent (USER_AGENT changed): fetch again
        entry = _Entry(*row)
        self._remember(origin, entry)
        return entry

    def _remember(self, origin, entry):
        self._cache[origin] = entry
        self._cache.move_to_end(origin)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
