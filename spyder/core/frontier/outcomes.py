"""Outcomes: what the answer to a dispatched URL changes.

Part of the frontier (``spyder.core.frontier``).  ``Outcomes.record`` writes one answer
in one operation (``operation.Transactions``): for a page, its row -- recrawl time and
level from the ``PRIORITIZER_CLASS``, a retry with backoff (``retry``), or finished for
good -- the links it brought and the sitemaps it named (``intake``) and its host's
counters (``hoststats``); for a robots.txt, the origin's rules (``robots``) and their
sitemaps.  It returns the result class the sinks are to hear (``None`` for a retry or a
hand-back).  ``Outcomes.release`` is the politeness side of an answer: the queue's slot
is freed, its next fetch waits the politeness delay (the operator's, the computed one,
robots.txt's Crawl-delay, a ``Retry-After`` hold) and a server error costs budget.
"""
import logging

from spyder.core import constants as C
from spyder.core.retry import is_server_fault

log = logging.getLogger("spyder.frontier")

#: Depth given to URLs found in robots.txt Sitemap lines (their <loc> URLs are one deeper).
_SITEMAP_DEPTH = 0


class Outcomes:
    """The frontier's result bookkeeping (see the module docstring).

    ``settings`` gives the politeness settings; ``store``, ``counters``, ``host_stats``,
    ``intake``, ``robots``, ``retry``, ``prioritizer``, ``queues`` and ``controls`` (the
    operator's ``HostControls``) are the parts an answer changes or consults;
    ``transactions`` runs each answer as one operation.
    """

    def __init__(self, settings, store, counters, host_stats, intake, robots, retry,
                 prioritizer, queues, controls, transactions):
        self._store = store
        self._counters = counters
        self._host_stats = host_stats
        self._intake = intake
        self._robots = robots
        self._retry = retry
        self._prioritizer = prioritizer
        self._queues = queues
        self._controls = controls
        self._transactions = transactions
        self._min_delay = float(settings.FRONTIER_MIN_DELAY)
        self._delay_factor = float(settings.FRONTIER_CRAWL_DELAY_FACTOR)
        self._punish = max(0, int(settings.FRONTIER_QUEUE_BUDGET_PUNISH) - 1)

    def record(self, curi, kind, row, origin_, host, sitemap, now):
        """Write one answer of result class ``kind`` -- for a page's ``row``, or for the
        robots.txt of ``origin_`` when ``row`` is None -- as one operation; returns the
        result class to tell the sinks, or None.  ``host``: the host key of the URL
        fetched; ``sitemap``: the page's sitemap level, or None.  The raw links it added
        are remembered as seen once the operation holds."""
        intake = self._intake
        fresh = []
        sink_kind = None
        with self._transactions(now) as op:
            if row is None and kind == "handed_back":  # not a failed robots.txt fetch
                self._robots.fetch_abandoned(origin_)
            elif row is None:
                sink_kind = "robots"
                sitemaps = self._robots.fetch_finished(origin_, curi, now)
                fresh = intake.add_sitemaps(sitemaps, 0, _SITEMAP_DEPTH, op)
            else:
                sink_kind, fresh = self._record_page(curi, kind, row, host, now, op)
                if sitemap is not None and sink_kind in ("success", "redirect"):
                    fresh += intake.add_sitemaps(curi.optional_vars.get(C.CURI_SITEMAPS),
                                                 sitemap + 1, row.depth, op)
                if kind != "handed_back":
                    self._host_stats.result(host, kind in ("not_found", "server_error"),
                                            curi.status_code, curi.content_length or 0, now)
        intake.admitted(fresh)
        return sink_kind

    def _record_page(self, curi, kind, row, host, now, op):
        """Write the outcome of one visit (to ``row``, of host key ``host``); returns (the
        result class to tell the sinks, or None for a retry; links to remember)."""
        counters = self._counters
        status = curi.status_code
        was_open = row.is_open
        curi.depth = row.depth
        curi.attempt = row.attempt
        if kind == "handed_back":  # back into its queue as it was
            op.push(row.queue, row)
            return None, []
        if kind in ("success", "redirect"):
            curi.current_priority = row.priority
            level, delta = self._prioritizer.calculate_priority(curi)
            headers = curi.rep_header or {}
            etag, mod_date = headers.get("Etag"), headers.get("Last-Modified")
            if status == 304:
                etag, mod_date = etag or row.etag, mod_date or row.mod_date
            new = row._replace(etag=etag, mod_date=mod_date, next_date=now + delta,
                               priority=level, attempt=0, status=status, reason=None)
            self._store.record(new)
            op.push(row.queue, new)
            if was_open:
                counters.open_changed(host, -1)
            counters.add(kind)
            if kind == "redirect":
                fresh = self._intake.add_links(
                    curi.extracted_urls, row.depth, op,
                    extend_scope=row.depth == 0 and self._intake.default_scope)
            elif curi.optional_vars.get(C.CURI_NOFOLLOW) != C.CURI_OPTIONAL_TRUE:
                fresh = self._intake.add_links(curi.extracted_urls, row.depth + 1, op)
            else:
                fresh = []
            return kind, fresh
        if kind == "not_found":
            self._store.record(row._replace(next_date=None, status=status, reason="status"))
            counters.finished_for_good(row, host)
            counters.add("not_found")
            return kind, []
        attempt = row.attempt + 1
        if attempt <= self._retry.max_retries:
            new = row._replace(next_date=now + self._retry.wait(row.attempt, curi, now),
                               attempt=attempt, status=status, reason=None)
            self._store.record(new)
            op.push(row.queue, new)
            if not was_open:
                counters.open_changed(host, 1)
            counters.add("retries")
            log.info("frontier::%s failed (status %s); retry %d of %d at %.0f", row.url, status,
                     attempt, self._retry.max_retries, new.next_date)
            return None, []
        self._store.record(row._replace(next_date=None, status=status, reason="retries"))
        counters.finished_for_good(row, host)
        counters.add("gave_up")
        counters.add("server_error")
        log.info("frontier::%s failed (status %s) %d times; giving up", row.url, status, attempt)
        return kind, []

    def release(self, curi, kind, flight, now):
        """The politeness side of an answer to ``flight``: free the slot, start the delay,
        spend budget; wake the queue that waited for a robots.txt fetched for it."""
        q = self._queues.get(flight.queue)
        if q is not None:
            req_time = curi.req_time if isinstance(curi.req_time, (int, float)) else 0.0
            delay = self._controls.delay(flight.host)
            if delay is None:
                delay = max(self._min_delay, self._delay_factor * req_time)
            robots_delay = self._robots.delay(flight.origin)
            if robots_delay is not None and robots_delay > delay:
                delay = robots_delay
            cost = -1 if kind == "handed_back" else 0
            if kind == "server_error":
                if is_server_fault(curi.status_code):
                    cost = self._punish  # the dispatch already cost 1
                hold = self._retry.host_hold(curi, now)
                if hold is not None:
                    delay = max(delay, hold)
            self._queues.release(q, curi.url, now + delay, cost, now)
        if flight.waiter is not None:
            self._queues.wake(flight.waiter, now)
