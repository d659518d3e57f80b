"""AbstractCrawlUriSink: where the outcome of each visit goes (storage, indexing, export).

The frontier tells every registered sink about each URL's *final* outcome of a
visit exactly once, after its own bookkeeping: a success (2xx), a redirect (3xx,
``304 Not Modified`` included), a not-found (4xx other than 408/429), or a server
error after the retries were used up (5xx, 408, 429, network errors 599,
processing errors 710, expired leases 711).  Retries in between and URLs dropped
before fetching (robots.txt, scope, depth) are not reported.  Every answer to the
frontier's own robots.txt requests goes to ``process_robots_txt`` (a no-op unless a
sink wants them, like the WARC sink).  Sinks are called on the master's event loop,
so they must be quick (hand slow work to a thread, as the WARC sink does); an
exception is logged and counted, and the other sinks still run.

Exactly once across a crash.  Outcomes become final when the frontier commits (a
checkpoint); a crash loses the outcomes since, and they are fetched and told again
after the restart.  A sink whose output is a file makes that output part of the
checkpoint: ``position()`` returns where its output stands (JSON), the frontier
stores it in the state file in the same commit, and on the next start calls
``restore(position)`` so that the sink cuts its output back to what was committed.
``synced()`` says whether everything told so far is in that position (a sink that
writes in a thread may be behind); when a commit is due and a sink is not synced,
dispatch pauses at once -- the results of the URLs in flight still arrive, bounded
by the workers' credit -- until it is, and the commit is made then, so checkpoints
keep their interval under any load and the master's loop never waits for a sink.
``wait()`` blocks until it is (when closing).  Just before the commit, ``sync()``
makes the output ``position()`` names durable (the built-in sinks fsync, with
``SINK_FSYNC``), so a power cut cannot leave it shorter than the committed position.
While a sink says it is ``behind()`` (a backlog too large), dispatch pauses as well.

A sink whose output cannot be written (disk full, EIO) must not count the outcome as
done: it cuts its output back to the last whole record, keeps what it is told, says
why in ``failure()`` (the frontier shows it in its stats, so in the master's status
line and the console), stays ``behind()`` and not ``synced()`` -- nothing is
dispatched and nothing committed -- and tries again until the write succeeds.  When
the frontier closes while a sink has failed, it commits nothing: the outcomes since
the last commit are crawled again on the next start.

A sink that reads only the body's length and SHA-1 sets ``needs_body = False``; when
no sink needs bodies, workers leave them out of their results (``wants_body``), which
spares the transfer of every page to the master.

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

    #: Whether the sink reads ``content_body``.  A sink that needs only the body's
    #: ``content_length`` and ``optional_vars["content_sha1"]`` says False: when no sink
    #: needs bodies, workers leave them out of their results (robots.txt excepted).
    needs_body = True

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

    def position(self):
        """Where the output stands (JSON-serialisable), or None: not part of checkpoints."""
        return None

    def restore(self, position):
        """Cut the output back to ``position`` (from the last commit of an earlier run)."""

    def synced(self):
        """Everything told so far is accounted for in ``position()``."""
        return True

    def sync(self):
        """Make the output up to ``position()`` durable (called just before each commit)."""

    def failure(self):
        """Why the output cannot be written now (a short text for the operator), or None."""
        return None

    def wait(self):
        """Block until ``synced()`` (or until ``failure()`` says why it cannot be)."""

    def behind(self):
        """So much told is not written yet that the crawl should wait: the frontier hands
        out no URL while a sink is behind (a sink writing in a thread bounds its backlog)."""
        return False


class Sinks:
    """The sinks one frontier tells; ``errors`` counts the calls that raised.

    ``recorded`` holds the positions of the last commit (by ``_key``): a sink added
    later is cut back to its position when it is added."""

    def __init__(self):
        self.errors = 0
        self.recorded = {}
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
        key = self._key(sink, len(self._sinks))
        self._sinks.append(sink)
        if key in self.recorded:
            sink.restore(self.recorded[key])

    @staticmethod
    def _key(sink, index):
        return "%d:%s.%s" % (index, type(sink).__module__, type(sink).__qualname__)

    @property
    def need_bodies(self):
        """Whether any sink reads bodies (a sink that does not say is assumed to)."""
        return any(getattr(sink, "needs_body", True) for sink in self._sinks)

    def positions(self):
        """``{key: position}`` of the sinks whose output is part of a checkpoint (a recorded
        one not added yet keeps its recorded position)."""
        found = dict(self.recorded)
        for index, sink in enumerate(self._sinks):
            position = self._ask(sink, "position", None)
            if position is not None:
                found[self._key(sink, index)] = position
        return found

    def synced(self):
        return all(self._ask(sink, "synced", True) for sink in self._sinks)

    def sync(self):
        """Make every sink's output durable; False if one could not (logged and counted)."""
        ok = True
        for sink in self._sinks:
            method = getattr(sink, "sync", None)
            if method is None:
                continue
            try:
                method()
            except Exception:
                self.errors += 1
                ok = False
                log.exception("frontier::sink %r failed in sync: the commit waits", sink)
        return ok

    def failure(self):
        """The first sink's ``failure()``, or None."""
        for sink in self._sinks:
            failure = self._ask(sink, "failure", None)
            if failure:
                return failure
        return None

    def behind(self):
        return any(self._ask(sink, "behind", False) for sink in self._sinks)

    def wait(self):
        for sink in self._sinks:
            self._ask(sink, "wait", None)

    def _ask(self, sink, hook, default):
        """A checkpoint hook of ``sink``: ``default`` if the sink lacks it (a sink that is
        no ``AbstractCrawlUriSink``) or it raised (logged and counted)."""
        method = getattr(sink, hook, None)
        if method is None:
            return default
        try:
            return method()
        except Exception:
            self.errors += 1
            log.exception("frontier::sink %r failed in %s", sink, hook)
            return default

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
