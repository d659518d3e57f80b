"""The master's tally: what came back, counted, and who is told about each result.

Part of the master (``spyder.core.master``).  ``ZmqMaster`` hands every result it routes
to ``Tally.count`` (by result class, the frontier's own robots.txt requests apart) and
bumps ``events`` for what happens to dispatches (sent, expired, returned, handed back,
late).  The tally keeps the latest failed results for the console, tells the
``listeners`` (the console's metrics) about every result, and works out the pages per
second between two status lines (``rate``).
"""
import collections
import logging
import time

from spyder.core import constants as C
from spyder.core.retry import RESULT_CLASSES

log = logging.getLogger("spyder.master")

#: Latest failed results kept for the console.
RECENT_ERRORS = 50
#: What can happen to a dispatch, counted in ``Tally.events`` (and in the master's stats).
EVENTS = ("dispatched", "lease_expired", "redispatched", "handed_back", "unclaimed_returned",
          "late_results", "late_recorded", "superseded", "handler_errors")


class Tally:
    """The master's counters (see the module docstring); ``now`` is the master's clock."""

    def __init__(self, now):
        self.results = dict.fromkeys(RESULT_CLASSES, 0)
        self.bytes = 0
        self.robots_fetches = 0      # the frontier's robots.txt requests (not in ``results``)
        #: dispatches sent, leases expired, returned because their worker died (redispatched),
        #: handed back, returned because no worker claimed them in time (unclaimed_returned),
        #: answers without a lease dropped (late_results) or recorded
        #: (late_recorded), answers ignored because a late one counted first (superseded),
        #: frontier handlers that raised
        self.events = dict.fromkeys(EVENTS, 0)
        #: callables ``f(curi, outcome)`` told every result (outcome: a result class or
        #: ``"robots"``); the console's metrics
        self.listeners = []
        #: the latest failed results, newest last (dicts: time, url, status, outcome, error)
        self.recent_errors = collections.deque(maxlen=RECENT_ERRORS)
        self.pages_per_second = 0.0
        self._last = (now, 0)

    def count(self, curi, kind):
        """One result of class ``kind`` (a robots.txt answer is counted as ``robots``)."""
        self.bytes += curi.content_length or 0
        if curi.optional_vars.get(C.CURI_ROBOTS_FETCH) == C.CURI_OPTIONAL_TRUE:
            self.robots_fetches += 1
            kind = "robots"
        else:
            self.results[kind] += 1
        if kind in ("not_found", "server_error"):
            self.recent_errors.append({
                "time": time.time(), "url": curi.url, "status": curi.status_code,
                "outcome": kind, "error": curi.optional_vars.get(C.CURI_ERROR)})
        for listener in self.listeners:
            try:
                listener(curi, kind)
            except Exception:
                log.exception("zmqmaster::a result listener failed")

    def rate(self, now):
        """Pages per second since the last call (kept in ``pages_per_second``)."""
        finished = sum(self.results.values())
        then, before = self._last
        if now > then:
            self.pages_per_second = (finished - before) / (now - then)
        self._last = (now, finished)
        return self.pages_per_second
