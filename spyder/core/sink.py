"""AbstractCrawlUriSink: where the outcome of each visit goes (storage, indexing, export).

The frontier tells every registered sink about each URL's *final* outcome of a
visit exactly once, after its own bookkeeping: a success (2xx), a redirect (3xx,
``304 Not Modified`` included), a not-found (4xx other than 408/429), or a server
error after the retries were used up (5xx, 408, 429, network errors 599,
processing errors 710, expired leases 711).  Retries in between and URLs dropped
before fetching (robots.txt, scope, depth) are not reported.  Every answer to the
frontier's own robots.txt requests goes to ``process_robots_txt`` (a no-op unless a
sink wants them, like the WARC sink).  Sinks run synchronously on the master's event loop, so they should be
quick; an exception is logged and counted, and the other sinks still run.

Register a sink through the ``SINKS`` setting (dotted class paths, each built as
``Sink(settings)``) or with ``frontier.add_sink(sink)`` from ``MASTER_CALLBACK``.
``close()`` is called once when the frontier closes.

``Sinks`` is the frontier's list of sinks: it builds those the settings name and
tells each one, keeping a failing sink from silencing the others.
"""
import logging

from spyder.errors import StartupError
from spyder.import_util import import_class

log = logging.getLogger("spyder.frontier")

#: Result class -> the sink method that hears it.
SINK_METHODS = {"success": "process_successful_crawl", "redirect": "process_redirect",
                "not_found": "process_not_found", "server_error": "process_server_error",
                "robots": "process_robots_txt"}


class AbstractCrawlUriSink:
    """Base class of sinks: override the callbacks you need; all default to no-ops."""

    def __init__(self, settings=None):
        self.settings = settings

    def process_successful_crawl(self, curi):
        """A 2xx response: ``curi`` holds headers, body and the extracted links."""

    def process_not_found(self, curi):
        """A 4xx response (except 408 and 429): the URL is dropped."""

    def process_redirect(self, curi):
        """A 3xx response, ``304 Not Modified`` included; targets are in the links."""

    def process_server_error(self, curi):
        """A transient failure that persisted through every retry: the URL is dropped."""

    def process_robots_txt(self, curi):
        """An answer (or failure) of one of the frontier's robots.txt requests."""

    def close(self):
        """The crawl is over for this process: flush and release resources."""


class Sinks:
    """The sinks one frontier tells; ``errors`` counts the calls that raised."""

    def __init__(self):
        self.errors = 0
        self._sinks = []

    def __getitem__(self, index):
        return self._sinks[index]

    def load(self, settings):
        """Build every sink named by ``SINKS`` (a ``StartupError`` names the one that fails)."""
        for path in settings.SINKS:
            try:
                sink = import_class(path)(settings)
            except Exception as exc:
                raise StartupError("SINKS entry %r cannot be set up: %s: %s"
                                   % (path, type(exc).__name__, exc)) from exc
            self.add(sink)

    def add(self, sink):
        self._sinks.append(sink)

    def tell(self, kind, curi):
        """Tell every sink the final outcome ``curi`` of result class ``kind``."""
        method = SINK_METHODS[kind]
        for sink in self._sinks:
            if kind == "robots" and not hasattr(sink, method):
                continue  # a sink written before robots.txt answers were reported
            try:
                getattr(sink, method)(curi)
            except Exception:
                self.errors += 1
                log.exception("frontier::sink %r failed in %s for %s", sink, method, curi.url)

    def close(self):
        """Close every sink, whatever the others do."""
        for sink in self._sinks:
            try:
                sink.close()
            except Exception:
                self.errors += 1
                log.exception("frontier::closing sink %r failed", sink)
