"""A minimal in-memory FIFO frontier for driving the master in tests.

It implements the frontier contract of ``spyder.core.frontier.frontiers`` without
politeness: seeds are due at once, every ``process_*`` call is appended as one JSON
line to the file named by ``$FAKE_FRONTIER_LOG`` so a test can see exactly what the
master routed where, and a server error is retried once (attempt + 1).  A late
answer (``process_late_result``) is taken while its URL waits for a retry or is in
flight again, as the real frontier does for a URL whose lease expired.
"""
import collections
import json
import os
import queue


class FifoFrontier:
    def __init__(self, settings, log_handler=None):
        self._due = collections.deque()
        self._in_flight = set()
        self._log = open(os.environ["FAKE_FRONTIER_LOG"], "a", buffering=1)
        self.retry = settings.MAX_RETRIES

    def _event(self, method, curi):
        self._log.write(json.dumps({"method": method, "url": curi.url,
                                    "status": curi.status_code, "attempt": curi.attempt,
                                    "body": len(curi.content_body or b""),
                                    "error": curi.optional_vars.get("error")}) + "\n")

    def add_sink(self, sink):
        pass

    def add_uri(self, curi):
        self._due.append(curi)
        self._event("add_uri", curi)
        return True

    def get_next(self):
        if not self._due:
            raise queue.Empty()
        curi = self._due.popleft()
        self._in_flight.add(curi.url)
        return curi

    def next_due(self):
        return 0.0 if self._due else None

    def _done(self, method, curi):
        self._in_flight.discard(curi.url)
        self._event(method, curi)

    def process_successful_crawl(self, curi):
        self._done("success", curi)
        if curi.url.endswith("/raise"):
            raise RuntimeError("frontier bookkeeping failed on purpose")

    def process_redirect(self, curi):
        self._done("redirect", curi)

    def process_not_found(self, curi):
        self._done("not_found", curi)

    def process_server_error(self, curi):
        self._done("server_error", curi)
        if curi.attempt < self.retry and curi.url.endswith("/retry"):
            curi.attempt += 1
            curi.status_code = None
            self._due.append(curi)

    def process_late_result(self, curi, kind):
        taken = kind == "success" and (curi.url in self._in_flight
                                       or any(c.url == curi.url for c in self._due))
        self._event("late_" + kind if taken else "late_dropped", curi)
        self._due = collections.deque(c for c in self._due if c.url != curi.url)
        return taken

    def process_handed_back(self, curi):
        self._done("handed_back", curi)
        curi.status_code = None
        self._due.append(curi)

    def checkpoint(self):
        pass

    def leases_in_doubt(self):
        """True while the file ``$FAKE_FRONTIER_DOUBT`` names exists (a test's switch)."""
        doubt = os.environ.get("FAKE_FRONTIER_DOUBT")
        return bool(doubt) and os.path.exists(doubt)

    def crawl_done(self):
        return not self._due and not self._in_flight

    def stats(self):
        return {"known": 0, "queued": len(self._due), "in_flight": len(self._in_flight)}

    def close(self):
        self._event("close", type("C", (), {"url": None, "status_code": None, "attempt": 0,
                                            "content_body": None, "optional_vars": {}})())
        self._log.close()
