"""Intake: new URLs into the store and their queues -- seeds, links, sitemaps, parked URLs.

Part of the frontier (``spyder.core.frontier``).  Every URL that enters the crawl comes
through here inside one ``Operation``: links a page brought (``add_links``), sitemap
URLs (``add_sitemaps``), a seed (``add_seed``), and URLs whose host's queue was just
resolved (``move_resolved``).  A link is first checked against the recently seen ones
(``admission``), canonicalised, then judged (scope, depth: a refused URL is stored as
finished, so it is known and counted once); the accepted ones get their queue
(``hostresolution``) and go to the store's URL-seen test in one batch
(``store.admit``), at most as many as ``CRAWL_MAX_PAGES`` still allows.  New URLs are
counted and placed in their queue -- or parked while their host is looked up.  A seed,
or the target of a seed's redirect, that was refused before it was ever fetched is
scheduled again (revived).
"""
import logging

from spyder.core.frontier.admission import REFUSAL_COUNTERS
from spyder.core.store.protocol import UriRow
from spyder.core.urls import host_key, hostname

log = logging.getLogger("spyder.frontier")


class Intake:
    """New URLs into the crawl (see the module docstring).

    ``store``: the frontier store; ``admission``: the admission rules and seen cache;
    ``resolver``: URL -> queue; ``counters``: the crawl's counters; ``host_stats``: the
    per-host counters; ``default_priority``: the priority level of new URLs;
    ``sitemap_max_depth``: ``SITEMAP_MAX_DEPTH``.
    """

    def __init__(self, store, admission, resolver, counters, host_stats, default_priority,
                 sitemap_max_depth):
        self._store = store
        self._admission = admission
        self._resolver = resolver
        self._counters = counters
        self._host_stats = host_stats
        self.default_priority = default_priority
        self._sitemap_max_depth = sitemap_max_depth

    @property
    def default_scope(self):
        """The scope is the seeds' hosts (and their redirects'), not patterns."""
        return self._admission.default_scope

    def admitted(self, links):
        """The operation that added raw ``links`` holds: remember them as seen."""
        self._admission.remember(links)

    def add_links(self, links, depth, op, extend_scope=False):
        """Add extracted links at ``depth``; returns the raw strings to remember as seen.

        ``extend_scope`` (a seed's redirect): the targets' hosts join the default scope,
        and a target refused for scope or depth before is crawled after all.
        """
        admission = self._admission
        fresh = []
        urls = []
        for raw in admission.unseen(links, recheck=extend_scope):
            fresh.append(raw)
            try:
                url = admission.canonical(raw)
            except ValueError:
                continue
            if extend_scope:
                admission.add_scope_host(hostname(url))
            urls.append(url)
        if urls:
            self._admit(urls, depth, self.default_priority, op, revive=extend_scope)
        return fresh

    def add_sitemaps(self, links, level, depth, op):
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
        return self.add_links(links, depth, op)

    def add_seed(self, url, depth, priority, op):
        """Add the canonical seed ``url`` (its host joins the default scope); True if it is
        to be crawled (new, or revived)."""
        admission = self._admission
        if admission.default_scope:
            admission.add_scope_host(hostname(url))
        reason = admission.refusal(url, depth)
        if reason is not None:
            log.warning("frontier::seed %s ignored: out of %s", url, reason)
        elif admission.full(self._counters["accepted"]):
            log.warning("frontier::seed %s ignored: CRAWL_MAX_PAGES=%d reached",
                        url, admission.max_pages)
        return bool(self._admit([url], depth, priority, op, revive=True))

    def _admit(self, urls, depth, priority, op, revive=False):
        """The URL-seen test for canonical ``urls`` found at ``depth``; returns how many are
        to be crawled.  ``revive``: a known URL refused before it was fetched is
        scheduled again."""
        admission = self._admission
        counters = self._counters
        queue_for = self._resolver.queue_for
        refused = []
        rows = []
        keys = {}  # url -> host key, of the rows to crawl
        due = float(depth)
        for url in urls:
            key = host_key(url)
            reason = admission.refusal(url, depth, key)
            if reason is not None:
                refused.append(UriRow(url, None, None, None, None, priority, depth, 0, None,
                                      reason))
            else:
                keys[url] = key
                rows.append(UriRow(url, queue_for(url, key), None, None, due, priority,
                                   depth, 0, None, None))
        accepted = 0
        while refused or rows:   # the refused rows go with the first batch: one seen test
            room = admission.room(counters["accepted"])
            if room is None:
                chunk, rows = rows, []
            else:
                chunk, rows = (rows[:room], rows[room:]) if room > 0 else ([], [])
            new = self._store.admit(refused + chunk)
            counters.add("known", len(new))
            if refused:
                for row in new:
                    if row.reason is not None:
                        counters.add(REFUSAL_COUNTERS[row.reason])
                new = [row for row in new if row.reason is None]
                refused = []
            self._schedule([(row, keys[row.url]) for row in new], op)
            accepted += len(new)
            if revive and chunk:
                added = {row.url for row in new}
                for row in chunk:
                    if row.url not in added and self._revive(row, op):
                        accepted += 1
        return accepted

    def _revive(self, row, op):
        """Schedule the known URL of ``row`` again if it was refused before it was fetched."""
        old = self._store.find(row.url)
        if old.next_date is not None or old.reason not in REFUSAL_COUNTERS:
            return False
        row = row._replace(rowid=old.rowid)
        self._store.record(row)
        self._schedule([(row, host_key(row.url))], op)
        return True

    def _schedule(self, rows, op):
        """URLs newly to be crawled (``(row, host key)``): count them, and into their
        queues or parked."""
        counters = self._counters
        counters.add("accepted", len(rows))
        counters.add("pending", len(rows))
        open_changed, place = counters.open_changed, op.place
        for row, key in rows:
            open_changed(key, 1, row.queue)
            if row.queue is None:
                self._resolver.park(row.url)
                counters.add("unresolved")
            else:
                place(row.queue, row)

    def move_resolved(self, key, identifier, op):
        """Host ``key`` resolved to queue ``identifier``: its parked URLs move into that
        queue.  Returns ``(queue id, URLs moved)``."""
        store = self._store
        queue_id = store.queue_id(identifier)
        store.set_host_queue(key, queue_id)
        self._host_stats.in_queue(key, queue_id)
        urls = store.unpark(key)
        for url in urls:
            row = store.find(url)
            if row is None:
                continue
            row = row._replace(queue=queue_id)
            store.record(row)
            if row.next_date is not None:
                op.place(queue_id, row)
        return queue_id, len(urls)
