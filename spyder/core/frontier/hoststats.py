"""Per-host statistics for the operator's console, kept incrementally in the state file.

A crawl may know millions of hosts, so the counters live in the ``host_stats`` table
of the state file, not in memory: the frontier reports every change as it happens
(a URL of the host admitted or finished, a result with its status and size), the
changes of one operation are summed per host in a small dict; when the operation's
savepoint succeeds ``settle()`` adds them to the changes not written yet (a failed
one's are ``discard``-ed), and ``write()`` stores those with one upsert per host just
before the frontier commits -- so they commit with the rows they count, for one
statement per host and checkpoint instead of one per result.  Reading the counters
writes the pending changes first.  Reading the busiest hosts is a scan of the table
(no index on the counters: see the store).  The live figures of a host (URLs in
flight, next allowed fetch, hold, delay) come from its active queue in memory
(``hostqueues``); the frontier merges the two.
"""
from spyder.core.store.protocol import HOST_STATS_COLUMNS

# positions in a pending delta
_QUEUE, _QUEUED, _FETCHED, _ERRORS, _BYTES, _STATUS, _TIME = range(7)


class HostStats:
    """The per-host counters over ``store`` (see the module docstring)."""

    def __init__(self, store):
        self._store = store
        self._pending = {}   # this operation's: host -> [queue, queued, fetched, errors,
        #                      bytes, status, time]
        self._settled = {}   # the settled operations' not written yet, alike

    def _delta(self, host):
        delta = self._pending.get(host)
        if delta is None:
            delta = self._pending[host] = [None, 0, 0, 0, 0, None, None]
        return delta

    def queued(self, host, change, queue=None):
        """``change`` URLs of ``host`` more (or fewer) to crawl; ``queue``: the host's queue."""
        delta = self._delta(host)
        delta[_QUEUED] += change
        if queue is not None:
            delta[_QUEUE] = queue

    def in_queue(self, host, queue):
        """``host``'s URLs are in ``queue`` (known once its address is resolved)."""
        self._delta(host)[_QUEUE] = queue

    def result(self, host, error, status, size, now):
        """One result of ``host``: an ``error`` or not, its status and body size."""
        delta = self._delta(host)
        delta[_FETCHED] += 1
        delta[_ERRORS] += 1 if error else 0
        delta[_BYTES] += size
        delta[_STATUS] = status if isinstance(status, int) else None
        delta[_TIME] = now

    def settle(self):
        """The operation succeeded: its changes are to be written (``write``)."""
        settled = self._settled
        for host, delta in self._pending.items():
            total = settled.get(host)
            if total is None:
                settled[host] = delta
                continue
            for i in (_QUEUE, _STATUS, _TIME):
                if delta[i] is not None:
                    total[i] = delta[i]
            for i in (_QUEUED, _FETCHED, _ERRORS, _BYTES):
                total[i] += delta[i]
        self._pending = {}

    def write(self):
        """Store the settled changes (in the open transaction, before it is committed)."""
        if self._settled:
            self._store.add_host_stats([(host,) + tuple(delta)
                                        for host, delta in self._settled.items()])
            self._settled = {}

    def discard(self):
        """The operation was rolled back: forget its pending changes."""
        self._pending.clear()

    def get(self, host):
        """The counters of ``host`` as a dict, or ``None`` for a host never seen."""
        self.write()
        row = self._store.host_stats(host)
        return None if row is None else dict(zip(HOST_STATS_COLUMNS, row))

    def top(self, sort, limit):
        """Up to ``limit`` hosts' counters, largest ``sort`` first (``ValueError`` if unknown)."""
        self.write()
        return [dict(zip(HOST_STATS_COLUMNS, row))
                for row in self._store.top_host_stats(sort, limit)]
