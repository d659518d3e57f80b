"""AbstractCrawlUriSink: where the outcome of each visit goes (storage, indexing, export).

The frontier tells every registered sink about each URL's *final* outcome of a
visit exactly once, after its own bookkeeping: a success (2xx), a redirect (3xx,
``304 Not Modified`` included), a not-found (4xx other than 408/429), or a server
error after the retries were used up (5xx, 408, 429, network errors 599,
processing errors 710, expired leases 711).  Retries in between, robots.txt
fetches and URLs dropped before fetching (robots.txt, scope, depth) are not
reported.  Sinks run synchronously on the master's event loop, so they should be
quick; an exception is logged and counted, and the other sinks still run.

Register a sink through the ``SINKS`` setting (dotted class paths, each built as
``Sink(settings)``) or with ``frontier.add_sink(sink)`` from ``MASTER_CALLBACK``.
``close()`` is called once when the frontier closes.
"""


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

    def close(self):
        """The crawl is over for this process: flush and release resources."""
