"""The crawl's counters: how many URLs are known, to crawl, refused, retried, finished.

Part of the frontier (``spyder.core.frontier``).  The counters are committed with every
checkpoint (in the store's state) so they match the rows they count after a crash.
Changes to the URLs still to crawl (``open``) are also told to the per-host counters
(``hoststats``), so the crawl's total and its hosts' figures move together.  An
operation that rolls back restores the counters it started with (``snapshot`` /
``restore``).
"""

#: The counters, all starting at 0.
NAMES = ("known", "accepted", "pending", "open", "unresolved", "robots_disallowed",
         "out_of_scope", "too_deep", "retries", "gave_up",
         "success", "redirect", "not_found", "server_error")


class CrawlCounters:
    """The crawl's counters (see the module docstring), resumed from ``saved`` (a dict
    as ``as_dict`` gave it) and telling ``host_stats`` about open URLs per host."""

    def __init__(self, host_stats, saved=None):
        self._host_stats = host_stats
        self._values = dict.fromkeys(NAMES, 0)
        self._values.update(saved or {})

    def __getitem__(self, name):
        return self._values[name]

    def add(self, name, n=1):
        self._values[name] += n

    def open_changed(self, host, change, queue_id=None):
        """``change`` more URLs to crawl, in the crawl's counters and those of ``host`` (a
        host key; ``queue_id``: its queue, when known)."""
        self._values["open"] += change
        self._host_stats.queued(host, change, queue_id)

    def finished_for_good(self, row, host):
        """The URL of ``row`` (of host key ``host``) will not be crawled again."""
        self._values["pending"] -= 1
        if row.is_open:
            self.open_changed(host, -1)

    def as_dict(self):
        return dict(self._values)

    snapshot = as_dict

    def restore(self, saved):
        """Go back to a ``snapshot`` (the operation that changed them rolled back)."""
        self._values = dict(saved)
