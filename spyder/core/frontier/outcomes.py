"""Outcomes: what the answer to a dispatched URL changes, in one transaction.

Part of the frontier (``spyder.core.frontier.frontiers``).  ``_finish`` takes the answer to a
``Flight``; ``_record_outcome`` writes it in one savepoint: a page's row (recrawl
time and level from the ``PRIORITIZER_CLASS``, a retry with backoff -- ``retry`` -- or
finished for good), the links it brought (``_add_links``: through ``admission``, into
their queues -- ``hostresolution`` -- or parked while their host is looked up,
``_resolved`` moving them in later), the sitemaps it named, the per-host counters
(``hoststats``), or for a robots.txt the origin's rules (``robots``).  Then the queue's
politeness side (``_release``: the slot, the delay, the budget) and, once the
bookkeeping is done, the sinks.  ``_record_late`` records a late answer to an expired
lease if it is the URL's first definitive one.  A savepoint that fails rolls back
whole, and memory forgets what it learned inside it (``_rolled_back``).
"""
import logging

from spyder.core import constants as C
from spyder.core.frontier.admission import REFUSAL_COUNTERS
from spyder.core.retry import is_server_fault
from spyder.core.store.sqlite import UriRow
from spyder.core.urls import host_key, hostname, origin

log = logging.getLogger("spyder.frontier")

#: Depth given to URLs found in robots.txt Sitemap lines (their <loc> URLs are one deeper).
_SITEMAP_DEPTH = 0
#: Result classes a late answer may be recorded as (a late failure says no more than the
#: expired lease already did).
_DEFINITIVE = ("success", "redirect", "not_found")


class Outcomes:
    """The frontier's result bookkeeping (see the module docstring): a part of
    ``AbstractBaseFrontier``, working on the state it sets up (``_store``,
    ``_counters``, ``_in_flight``, ``_queues``, ``_admission``, ``_resolver``,
    ``_robots``, ``_retry``, ``_prioritizer``, ``_host_stats``, ``_controls``,
    ``_sinks``)."""

    def _finish(self, curi, kind):
        if self._closed:
            log.warning("frontier::result for %s after close; ignored", curi.url)
            return
        flight = self._in_flight.get(curi.url)
        if flight is None:
            self._unexpected += 1
            log.debug("frontier::result for %s, which is not in flight (an earlier run?); "
                      "ignored", curi.url)
            return
        now = self._now()
        if flight.superseded:  # the URL's outcome came first, from an earlier dispatch
            sink_kind = None
        else:
            sink_kind = self._record_outcome(curi, kind, flight.row, flight.origin,
                                             flight.host, flight.sitemap, now)
        del self._in_flight[curi.url]
        q = self._queues.get(flight.queue)
        if q is not None:
            self._release(q, curi, kind, flight, now)
        if flight.waiter is not None:
            self._queues.wake(flight.waiter, now)
        self._ops += 1
        self._maybe_commit(now)
        if sink_kind is not None:
            self._sinks.tell(sink_kind, curi)

    def _record_outcome(self, curi, kind, row, origin_, host, sitemap, now):
        """Write one answer -- for a page's ``row``, or for the robots.txt of ``origin_`` when
        ``row`` is None -- in one savepoint and apply it to the queues; returns the result
        class to tell the sinks, or None.  ``host``: the host key of the URL fetched;
        ``sitemap``: the page's sitemap level, or None."""
        fresh = []
        sink_kind = None
        with self._transaction(now) as (pushes, due):
            if row is None and kind == "handed_back":  # not a failed robots.txt fetch
                self._robots.fetch_abandoned(origin_)
            elif row is None:
                sink_kind = "robots"
                sitemaps = self._robots.fetch_finished(origin_, curi, now)
                fresh = self._add_sitemaps(sitemaps, 0, _SITEMAP_DEPTH, pushes, due)
            else:
                sink_kind, fresh = self._record(curi, kind, row, host, now, pushes, due)
                if sitemap is not None and sink_kind in ("success", "redirect"):
                    fresh += self._add_sitemaps(curi.optional_vars.get(C.CURI_SITEMAPS),
                                                sitemap + 1, row.depth, pushes, due)
                if kind != "handed_back":
                    self._host_stats.result(host, kind in ("not_found", "server_error"),
                                            curi.status_code, curi.content_length or 0, now)
        self._admission.remember(fresh)
        return sink_kind

    def _record(self, curi, kind, row, host, now, pushes, due):
        """Write the outcome of one visit (to ``row``, of host key ``host``); returns (the
        result class to tell the sinks, or None for a retry; links to cache)."""
        c = self._counters
        status = curi.status_code
        was_open = row.is_open
        curi.depth = row.depth
        curi.attempt = row.attempt
        fresh = []
        if kind == "handed_back":  # back into its queue as it was
            pushes.append((row.queue, row))
            return None, fresh
        if kind in ("success", "redirect"):
            curi.current_priority = row.priority
            level, delta = self._prioritizer.calculate_priority(curi)
            headers = curi.rep_header or {}
            etag, mod_date = headers.get("Etag"), headers.get("Last-Modified")
            if status == 304:
                etag, mod_date = etag or row.etag, mod_date or row.mod_date
            next_date = now + delta
            self._store.record(row.url, etag, mod_date, next_date, level, 0, status, None,
                               row.rowid)
            pushes.append((row.queue, UriRow(row.url, row.queue, etag, mod_date, next_date,
                                             level, row.depth, 0, status, row.reason,
                                             row.rowid)))
            if was_open:
                self._count_open(host, -1)
            c[kind] += 1
            if kind == "redirect":
                fresh = self._add_links(curi.extracted_urls, row.depth, pushes, due,
                                        extend_scope=(row.depth == 0
                                                      and self._admission.default_scope))
            elif curi.optional_vars.get(C.CURI_NOFOLLOW) != C.CURI_OPTIONAL_TRUE:
                fresh = self._add_links(curi.extracted_urls, row.depth + 1, pushes, due)
            return kind, fresh
        if kind == "not_found":
            self._store.record(row.url, row.etag, row.mod_date, None, row.priority, row.attempt,
                               status, "status", row.rowid)
            self._finished_for_good(row, host)
            c["not_found"] += 1
            return kind, fresh
        attempt = row.attempt + 1
        if attempt <= self._retry.max_retries:
            next_date = now + self._retry.wait(row.attempt, curi, now)
            self._store.record(row.url, row.etag, row.mod_date, next_date, row.priority, attempt,
                               status, None, row.rowid)
            pushes.append((row.queue, row._replace(next_date=next_date, attempt=attempt,
                                                   status=status)))
            if not was_open:
                self._count_open(host, 1)
            c["retries"] += 1
            log.info("frontier::%s failed (status %s); retry %d of %d at %.0f", row.url, status,
                     attempt, self._retry.max_retries, next_date)
            return None, fresh
        self._store.record(row.url, row.etag, row.mod_date, None, row.priority, row.attempt,
                           status, "retries", row.rowid)
        self._finished_for_good(row, host)
        c["gave_up"] += 1
        c["server_error"] += 1
        log.info("frontier::%s failed (status %s) %d times; giving up", row.url, status, attempt)
        return kind, fresh

    def _finished_for_good(self, row, host):
        self._counters["pending"] -= 1
        if row.is_open:
            self._count_open(host, -1)

    def _count_open(self, host, change, queue_id=None):
        """``change`` more URLs to crawl, in the crawl's counters and those of ``host`` (a
        host key)."""
        self._counters["open"] += change
        self._host_stats.queued(host, change, queue_id)

    def _release(self, q, curi, kind, flight, now):
        """The politeness side of a result: free the slot, start the delay, spend budget."""
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

    def _record_late(self, curi, kind):
        """``process_late_result`` (see its docstring): True if the answer was recorded."""
        if (self._closed or kind not in _DEFINITIVE
                or curi.optional_vars.get(C.CURI_ROBOTS_FETCH) == C.CURI_OPTIONAL_TRUE):
            return False
        flight = self._in_flight.get(curi.url)
        row = self._store.find_uri(curi.url) if flight is None else flight.row
        if (row is None or row.status != C.CURI_ELEASE_EXPIRED
                or (flight is not None and flight.superseded)):
            return False
        now = self._now()
        if flight is None:
            self._queues.withdraw(row.queue, row.url)
            level = self._store.sitemap_level(row.url) if self._sitemaps else None
        else:
            flight.superseded = True
            level = flight.sitemap
        sink_kind = self._record_outcome(curi, kind, row, origin(row.url), host_key(row.url),
                                         level, now)
        log.info("frontier::%s: a late answer (status %s) to an expired lease recorded",
                 curi.url, curi.status_code)
        self._ops += 1
        self._maybe_commit(now)
        self._sinks.tell(sink_kind, curi)
        return True

    def _add_links(self, links, depth, pushes, due, extend_scope=False):
        """Add extracted links; returns the raw strings to remember as seen.

        ``extend_scope`` (a seed's redirect): the targets' hosts join the default
        scope, and a target recorded as out of scope before is crawled after all.
        """
        admission = self._admission
        fresh = []
        for raw in admission.unseen(links, recheck=extend_scope):
            if admission.full(self._counters["accepted"]):
                break
            fresh.append(raw)
            try:
                url = admission.canonical(raw)
            except ValueError:
                continue
            if extend_scope:
                admission.add_scope_host(hostname(url))
            self._add_url(url, depth, self._default_priority, pushes, due, revive=extend_scope)
        return fresh

    def _add_sitemaps(self, links, level, depth, pushes, due):
        """Add sitemap URLs (newline-separated or a list) ``level`` indexes below robots.txt;
        returns the raw strings to remember as seen."""
        if isinstance(links, str):
            links = [link for link in links.split("\n") if link]
        if not links:
            return []
        if level > self._sitemap_max_depth:
            log.info("frontier::%d sitemaps nested deeper than SITEMAP_MAX_DEPTH=%d ignored",
                     len(links), self._sitemap_max_depth)
            return []
        for raw in links:
            try:
                self._store.add_sitemap(self._admission.canonical(raw), level)
            except ValueError:
                continue
        return self._add_links(links, depth, pushes, due)

    def _add_url(self, url, depth, priority, pushes, due, seed=False, revive=False):
        """Insert one canonical URL (scope, depth, page limit); True if it is to be crawled.

        A URL dropped for scope or depth before it was fetched is scheduled again if it
        is a ``seed`` or ``revive`` is set."""
        c = self._counters
        reason = self._admission.refusal(url, depth)
        if reason is not None:
            if self._store.insert_new(UriRow(url, None, None, None, None, priority, depth, 0,
                                             None, reason)) is not None:
                c["known"] += 1
                c[REFUSAL_COUNTERS[reason]] += 1
            if seed:
                log.warning("frontier::seed %s ignored: out of %s", url, reason)
            return False
        if self._admission.full(c["accepted"]):
            if seed:
                log.warning("frontier::seed %s ignored: CRAWL_MAX_PAGES=%d reached",
                            url, self._admission.max_pages)
            return False
        host = host_key(url)
        queue_id = self._resolver.queue_for(url, host)
        next_date = float(depth)
        rowid = self._store.insert_new(UriRow(url, queue_id, None, None, next_date, priority,
                                              depth, 0, None, None))
        if rowid is None:
            if not (seed or revive):
                return False
            old = self._store.find_uri(url)
            if old.next_date is not None or old.reason not in REFUSAL_COUNTERS:
                return False
            self._store.revive(url, queue_id, next_date, priority, depth)
            rowid = old.rowid
        else:
            c["known"] += 1
        c["accepted"] += 1
        c["pending"] += 1
        self._count_open(host, 1, queue_id)
        if queue_id is None:
            self._resolver.park(url)
            c["unresolved"] += 1
        else:
            self._place(queue_id, UriRow(url, queue_id, None, None, next_date, priority, depth,
                                         0, None, None, rowid), pushes, due)
        return True

    def _resolved(self, key, identifier):
        """The address of host ``key`` is known (runs on the event loop)."""
        if self._closed:
            return
        now = self._now()
        try:
            with self._transaction(now) as (pushes, due):
                queue_id = self._store.add_or_create_queue(identifier)
                self._store.set_host_queue(key, queue_id)
                self._host_stats.in_queue(key, queue_id)
                urls = self._store.take_unresolved(key)
                for url in urls:
                    self._store.set_uri_queue(url, queue_id)
                    row = self._store.find_uri(url)
                    if row is not None and row.next_date is not None:
                        self._place(queue_id, row, pushes, due)
        except Exception:
            log.exception("frontier::recording the queue of %s failed; its URLs stay parked "
                          "for another lookup", key)
            self._resolver.failed(key)
            return
        self._counters["unresolved"] -= len(urls)
        self._resolver.resolved(key, queue_id)
        self._ops += 1
        self._maybe_commit(now)
