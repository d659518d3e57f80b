"""Dispatch: which URL of an active host queue goes out now, and as what.

Part of the frontier (``spyder.core.frontier``).  When the master asks for work,
``Dispatch.next`` pops the host queues whose ready time has come (``hostqueues``) and
decides for the head of each: an operator's block holds the queue (``hostcontrols``);
an origin whose robots.txt is not known yet has it fetched first -- through the target
host's queue when it was redirected there -- and waits (``robots``); a URL its
robots.txt disallows is dropped (at most ``_MAX_DROPS`` in one go); any other URL goes
out as a ``CrawlUri`` with its conditional-GET hints and credentials, recorded as a
``Flight`` (``inflight``) until its answer comes back.
"""
import logging

from spyder.core import constants as C
from spyder.core.crawluri import CrawlUri
from spyder.core.frontier.inflight import Flight
from spyder.core.frontier.robots import BUSY, FETCH, READY, robots_url
from spyder.core.urls import credentials, host_key, origin

log = logging.getLogger("spyder.frontier")

#: URLs one queue drops for robots.txt in one go before the event loop gets a turn.
_MAX_DROPS = 1000


class Dispatch:
    """The frontier's dispatch (see the module docstring).

    ``queues``: the ``ActiveQueues``; ``robots``: the ``RobotsTxt`` policy;
    ``controls``: the operator's ``HostControls``; ``resolver``: URL -> queue (for a
    robots.txt redirected to another queue's host); ``store``: for sitemap levels and
    dropped URLs; ``in_flight``: where flights start; ``counters`` / ``checkpoints``:
    a dropped URL is counted and is an operation; ``sitemaps``: ``ROBOTSTXT_SITEMAPS``;
    ``default_priority``: the priority level of robots.txt requests.
    """

    def __init__(self, queues, robots, controls, resolver, store, in_flight, counters,
                 checkpoints, sitemaps, default_priority):
        self._queues = queues
        self._robots = robots
        self._controls = controls
        self._resolver = resolver
        self._store = store
        self._in_flight = in_flight
        self._counters = counters
        self._checkpoints = checkpoints
        self._sitemaps = sitemaps
        self._default_priority = default_priority

    def next(self, now):
        """Pop ready queues until one hands out a URL; ``None`` if none can."""
        tried = set()
        queues = self._queues
        for q in queues.due(now):
            curi = None
            if q.id in tried:  # no progress: never spin, look again shortly
                log.error("frontier::queue %d made no progress; holding it briefly", q.id)
                q.hold(now + 0.05)
            else:
                tried.add(q.id)
                curi = self._take(q, now)
            if queues.get(q.id) is q:
                queues.schedule(q, now)
            if curi is not None:
                return curi
        return None

    def _take(self, q, now):
        """Hand out the head of ``q`` (or its robots.txt) if it may go now, else ``None``."""
        dropped = 0
        while True:
            head = self._queues.head(q)
            if head is None or head[0] > now or q.next_allowed > now or q.blocked_until > now:
                return None
            row = head[3]
            host = host_key(row.url)
            hold = self._controls.blocked_until(host, now)
            if hold is not None:  # the operator blocked the host: its URLs wait
                q.hold(hold)
                return None
            if row.url in self._in_flight:  # its namesake robots.txt fetch is under way
                q.hold(now + 1.0)
                return None
            org = origin(row.url)
            state, value = self._robots.check(org, now)
            if state is READY:
                q.take_head()
                if value.allowed(row.url):
                    return self._dispatch(q, row, org, host)
                self._drop_disallowed(row, host)
                dropped += 1
                if dropped >= _MAX_DROPS:  # a host disallowing a long run: go on shortly
                    q.hold(now + 0.001)
                    return None
                continue
            if state is FETCH:
                url, attempt = value
                if url in self._in_flight:
                    q.hold(now + 1.0)
                    return None
                return self._dispatch_robots(q, org, url, attempt, now)
            if state is BUSY:
                q.wait_for_robots()
            else:  # WAIT
                q.hold(value)
            return None

    def _dispatch(self, q, row, org, host):
        q.spend(row.url)
        optional_vars = {}
        level = self._store.sitemap_level(row.url) if self._sitemaps else None
        if level is not None:
            optional_vars[C.CURI_SITEMAP_FETCH] = C.CURI_OPTIONAL_TRUE
        self._in_flight.start(row.url, Flight(row, q.id, org, host, sitemap=level))
        req_header = {}
        if row.etag:
            req_header["Etag"] = row.etag
        if row.mod_date:
            req_header["Last-Modified"] = row.mod_date
        user_password = credentials(row.url)
        if user_password is not None:
            optional_vars[C.CURI_SITE_USERNAME], optional_vars[C.CURI_SITE_PASSWORD] = \
                user_password
        return CrawlUri(url=row.url, effective_url=row.url, current_priority=row.priority,
                        req_header=req_header, optional_vars=optional_vars, depth=row.depth,
                        attempt=row.attempt)

    def _dispatch_robots(self, q, org, url, attempt, now):
        """Hand out the robots.txt of ``org`` (or the URL its redirect names).  A redirect to
        a host of another queue is fetched under that queue's politeness, which lends a
        slot (``None`` if it cannot now: ``q`` asks again when the target may start a
        fetch); ``q`` waits for the answer meanwhile."""
        host = host_key(url)
        lender = None if url == robots_url(org) else self._resolver.queue_for(url, host)
        if lender is None or lender == q.id:
            q.spend(url)
            flight = Flight(None, q.id, org, host)
        else:
            retry_at = self._queues.lend(lender, url, now)
            if retry_at is not None:
                q.hold(retry_at)
                return None
            q.wait_for_robots()
            flight = Flight(None, lender, org, host, waiter=q.id)
        self._robots.fetch_started(org)
        self._in_flight.start(url, flight)
        return CrawlUri(url=url, effective_url=url, current_priority=self._default_priority,
                        optional_vars={C.CURI_ROBOTS_FETCH: C.CURI_OPTIONAL_TRUE},
                        depth=0, attempt=attempt)

    def _drop_disallowed(self, row, host):
        self._store.record(row._replace(next_date=None, reason="robots"))
        self._counters.finished_for_good(row, host)
        self._counters.add("robots_disallowed")
        self._checkpoints.note()
        log.debug("frontier::%s disallowed by robots.txt", row.url)
