"""The URLs in flight: handed to the master and not answered yet.

Part of the frontier (``spyder.core.frontier``).  ``Dispatch`` starts a ``Flight`` for
every URL it hands out (a page, or an origin's robots.txt); the frontier ends it when
the answer comes back (or is handed back).  A flight remembers what the answer needs:
the URL's row as dispatched, the queue whose politeness the fetch counts against, the
origin and host, a sitemap's level, and the queue waiting for a robots.txt fetched on
its behalf by another queue.
"""
import collections

from spyder.core.urls import host_key


class Flight:
    """A URL handed out and not answered yet."""

    __slots__ = ("row", "queue", "origin", "host", "sitemap", "waiter", "superseded")

    def __init__(self, row, queue_id, origin_, host, sitemap=None, waiter=None):
        self.row = row             # None for a robots.txt fetch
        self.queue = queue_id      # the queue whose politeness the fetch counts against
        self.origin = origin_
        self.host = host           # the host key of the URL fetched
        self.sitemap = sitemap     # a sitemap's nesting level, None for other URLs
        self.waiter = waiter       # a robots.txt hop lent by another queue: the origin's queue
        self.superseded = False    # a late answer to an earlier dispatch was recorded first


    def supersede(self):
        """A late answer to an earlier dispatch of this URL was recorded as its outcome:
        this flight's own answer will only free its politeness slot."""
        self.superseded = True


class InFlight:
    """URL -> ``Flight`` of every URL handed out and not answered yet."""

    def __init__(self):
        self._flights = {}

    def __len__(self):
        return len(self._flights)

    def __contains__(self, url):
        return url in self._flights

    def get(self, url):
        return self._flights.get(url)

    def start(self, url, flight):
        self._flights[url] = flight

    def end(self, url):
        del self._flights[url]

    def open_rows(self):
        """How many flights are of URLs the crawl still has to finish (not recrawls)."""
        return sum(1 for f in self._flights.values() if f.row is not None and f.row.is_open)

    def pages_of(self, host):
        """The rows of the pages of host key ``host`` in flight."""
        return [f.row for url, f in self._flights.items()
                if f.row is not None and host_key(url) == host]

    def busiest_hosts(self, limit):
        """Up to ``limit`` ``(host key, URLs in flight)``, most first."""
        return collections.Counter(host_key(url) for url in self._flights).most_common(limit)
