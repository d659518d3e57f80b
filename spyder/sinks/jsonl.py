"""JsonLinesSink: one JSON object per final outcome, appended to ``JSONL_SINK_PATH``.

Enable it with ``SINKS = ["spyder.sinks.jsonl.JsonLinesSink"]``.  Each line is one
visit's final outcome (see ``spyder.core.sink``).  The lines the frontier reports in one
turn of the event loop (a worker's message carries several results) are written
together, with one ``write``, at the end of that turn -- or at once where no loop runs
(a tool, a test) -- and always before ``position()``, ``synced()`` or ``sync()`` answer,
so a checkpoint never counts a line that is not in the file; whole lines only, so
``tail -f`` works.  The file's size is part
of every checkpoint: after a crash the restart cuts the file back to the last commit,
whose lost outcomes are fetched and written again -- one line per outcome.  Before
each commit the file is fsynced (``SINK_FSYNC``), so a power cut cannot leave it
shorter than the committed size.  A write that fails (disk full, EIO) is cut back to
the last whole line; the sink is then ``failure()`` and ``behind()`` -- the frontier
dispatches nothing and commits nothing -- and keeps the lines told meanwhile (bounded
by the URLs in flight) until the file takes them again.  Fields:

``url``, ``outcome`` (``success`` / ``redirect`` / ``not_found`` /
``server_error``), ``status``, ``depth``, ``attempt`` (0 = first try), ``time``
(UTC epoch when recorded), ``req_time`` and ``queue_time`` (seconds),
``content_type``, ``content_length`` (bytes of body received; ``null`` when no
response arrived), ``sha1`` (hex digest of that body, as the worker computed it --
hashed here only for a worker that sent none), ``truncated`` (the body was
not kept in full) and ``truncated_reason`` (why, in WARC-Truncated words: ``length``
-- a size limit, ``time`` -- timeout mid-body, ``disconnect`` -- connection lost
mid-body, ``unspecified`` -- not downloaded for its content type; ``null`` when
complete), ``noindex`` (the page asked not to be indexed: meta robots or
``X-Robots-Tag``), ``nofollow`` (its links were not followed for that reason),
``links`` (number of extracted links), ``links_dropped`` (hrefs that no browser
could resolve, dropped), ``etag``, ``last_modified``, ``location``
(redirects) and ``error`` (network or processing errors).
"""
import asyncio
import hashlib
import json
import logging
import math
import os
import time

from spyder.core import constants as C
from spyder.core import faults
from spyder.core.sink import AbstractCrawlUriSink

log = logging.getLogger("spyder.frontier")

#: Seconds between two tries to write lines held back after a failed write.
_RETRY_SECONDS = 1


class JsonLinesSink(AbstractCrawlUriSink):
    """Append one JSON line per outcome to ``JSONL_SINK_PATH``."""

    needs_body = False  # the length and the worker's SHA-1 are enough

    def __init__(self, settings):
        super().__init__(settings)
        path = settings.JSONL_SINK_PATH
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        self._path = os.path.abspath(path)
        self._fsync = bool(settings.SINK_FSYNC)
        self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
        self._size = os.lseek(self._fd, 0, os.SEEK_END)  # the end of the last whole line
        self._unsynced = False     # written since the last fsync
        self._held = []            # lines told while the file could not take them
        self._pending = []         # lines told in this loop turn, written at its end
        self._failure = None       # why not, for the operator
        self._retry_at = 0.0

    def process_successful_crawl(self, curi):
        self._write("success", curi)

    def process_redirect(self, curi):
        self._write("redirect", curi)

    def process_not_found(self, curi):
        self._write("not_found", curi)

    def process_server_error(self, curi):
        self._write("server_error", curi)

    def close(self):
        self._flush()
        if self._held:
            log.error("frontier::%d JSONL line(s) for %s were never written (%s); their "
                      "outcomes were not committed and are crawled again on the next start",
                      len(self._held), self._path, self._failure)
        os.close(self._fd)

    def position(self):
        self._flush()
        return {"path": self._path, "size": self._size}

    def restore(self, position):
        self._flush()
        if (isinstance(position, dict) and position.get("path") == self._path
                and isinstance(position.get("size"), int) and position["size"] < self._size):
            os.ftruncate(self._fd, position["size"])
            self._size = position["size"]

    def synced(self):
        """Every line told is written (lines held back after a failed write are tried
        again here, at most once a second)."""
        self._flush()
        if self._held and time.monotonic() >= self._retry_at:
            self._write_held()
        return not self._held

    def behind(self):
        return bool(self._held)

    def failure(self):
        return self._failure

    def sync(self):
        self._flush()
        if self._fsync and self._unsynced:
            os.fsync(self._fd)
            self._unsynced = False

    def _write(self, outcome, curi):
        self._pending.append(record(outcome, curi))
        if len(self._pending) == 1:
            try:
                asyncio.get_running_loop().call_soon(self._flush)
            except RuntimeError:   # no event loop runs here: write it now
                self._flush()

    def _flush(self):
        """Write the lines told since the last flush, in one ``write``."""
        lines = self._pending
        if not lines:
            return
        self._pending = []
        for _ in lines:
            faults.point("jsonl.before_write")
        if self._held or not self._append(b"".join(lines)):
            self._held.extend(lines)
            return
        for _ in lines:
            faults.point("jsonl.after_write")

    def _append(self, line):
        """Write ``line`` (one or more whole lines) whole, or cut the file back to its last
        whole line and say why (False)."""
        try:
            done = os.write(self._fd, line)
            while done < len(line):  # a short write: the disk is full, the next one says so
                done += os.write(self._fd, line[done:])
        except OSError as exc:
            self._failed(exc)
            return False
        self._size += len(line)
        self._unsynced = True
        return True

    def _failed(self, exc):
        self._retry_at = time.monotonic() + _RETRY_SECONDS
        try:
            os.ftruncate(self._fd, self._size)  # no partial line stays (O_APPEND writes after it)
        except OSError:
            log.exception("frontier::cutting %s back to its last whole line failed; tried "
                          "again before the next write", self._path)
        if self._failure is None:
            log.error("frontier::writing %s failed: %s. The crawl dispatches nothing and "
                      "commits nothing until it can be written again (tried every %d s); what "
                      "was told meanwhile is held in memory", self._path, exc, _RETRY_SECONDS)
        self._failure = "cannot write JSONL_SINK_PATH=%s: %s" % (self._path, exc.strerror or exc)

    def _write_held(self):
        while self._held:
            if not self._append(self._held[0]):
                return
            self._held.pop(0)
        log.warning("frontier::%s can be written again; the crawl goes on", self._path)
        self._failure = None


#: The fields of a record, in the order they are written.
FIELDS = ("url", "outcome", "status", "depth", "attempt", "time", "req_time", "queue_time",
          "content_type", "content_length", "sha1", "truncated", "truncated_reason", "noindex",
          "nofollow", "links", "links_dropped", "etag", "last_modified", "location", "error")
# One line: each field's value as JSON text, filled in by ``record``.
_LINE = "{%s}\n" % ",".join('"%s":%%s' % name for name in FIELDS)
_encode_string = json.encoder.encode_basestring_ascii
_BOOLEANS = ("false", "true")


def record(outcome, curi):
    """The JSON line of one outcome (see the module docstring), as bytes.

    What ``json.dumps(..., separators=(",", ":"))`` would write for a dict of
    ``FIELDS``, formatted directly: ``_json`` for the values a worker sent, plain
    formatting for those computed here."""
    headers = curi.rep_header or {}
    optional = curi.optional_vars or {}
    length, sha1 = _body_facts(curi, optional)
    truncated = curi.truncated_reason
    return (_LINE % (
        _json(curi.url), _encode_string(outcome), _json(curi.status_code), _json(curi.depth),
        _json(curi.attempt), _json(time.time()), _json(curi.req_time), _json(curi.queue_time),
        _json(headers.get("Content-Type")), "null" if length is None else "%d" % length,
        _json(sha1), _BOOLEANS[truncated is not None], _json(truncated),
        _BOOLEANS[optional.get(C.CURI_NOINDEX) == C.CURI_OPTIONAL_TRUE],
        _BOOLEANS[optional.get(C.CURI_NOFOLLOW) == C.CURI_OPTIONAL_TRUE],
        "%d" % _link_count(curi, optional), "%d" % _count(optional.get(C.CURI_LINKS_DROPPED)),
        _json(headers.get("Etag")), _json(headers.get("Last-Modified")),
        _json(headers.get("Location")), _json(optional.get(C.CURI_ERROR)))).encode("ascii")


def _body_facts(curi, optional):
    """``(content_length, sha1)`` of the body received, ``(None, None)`` without one: the
    digest the worker sent, hashed here only for a worker that sent none."""
    length = curi.content_length
    if length is None:
        return None, None
    return length, (optional.get(C.CURI_CONTENT_SHA1)
                    or hashlib.sha1(curi.content_body or b"").hexdigest())


def _link_count(curi, optional):
    """``len(curi.extracted_urls)``, counted without building the list when the links
    are one per line with no empty line."""
    raw = optional.get(C.CURI_EXTRACTED_URLS)
    if not raw:
        return 0
    if "\n\n" in raw or raw[0] == "\n" or raw[-1] == "\n":
        return len(curi.extracted_urls)
    return raw.count("\n") + 1


def _json(value):
    """``value`` (a string, number, bool or None) as ``json.dumps`` writes it."""
    kind = type(value)
    if kind is str:
        return _encode_string(value)
    if value is None:
        return "null"
    if kind is int or (kind is float and math.isfinite(value)):
        return repr(value)
    return json.dumps(value)


def _count(value):
    """A count a worker reported in ``optional_vars`` (a decimal string), 0 if absent."""
    return int(value) if isinstance(value, str) and value.isdigit() else 0
