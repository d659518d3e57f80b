"""JsonLinesSink: one JSON object per final outcome, appended to ``JSONL_SINK_PATH``.

Enable it with ``SINKS = ["spyder.sinks.jsonl.JsonLinesSink"]``.  Each line is one
visit's final outcome (see ``spyder.core.sink``), written as soon as the frontier
reports it (flushed per line, so ``tail -f`` works).  The file's size is part of
every checkpoint: after a crash the restart cuts the file back to the last commit,
whose lost outcomes are fetched and written again -- one line per outcome.  Fields:

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
import hashlib
import json
import os
import time

from spyder.core import constants as C
from spyder.core.sink import AbstractCrawlUriSink


class JsonLinesSink(AbstractCrawlUriSink):
    """Append one JSON line per outcome to ``JSONL_SINK_PATH``."""

    needs_body = False  # the length and the worker's SHA-1 are enough

    def __init__(self, settings):
        super().__init__(settings)
        path = settings.JSONL_SINK_PATH
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        self._path = os.path.abspath(path)
        self._file = open(path, "ab")

    def process_successful_crawl(self, curi):
        self._write("success", curi)

    def process_redirect(self, curi):
        self._write("redirect", curi)

    def process_not_found(self, curi):
        self._write("not_found", curi)

    def process_server_error(self, curi):
        self._write("server_error", curi)

    def close(self):
        self._file.close()

    def position(self):
        return {"path": self._path, "size": self._file.tell()}

    def restore(self, position):
        if (isinstance(position, dict) and position.get("path") == self._path
                and isinstance(position.get("size"), int) and position["size"] < self._file.tell()):
            self._file.truncate(position["size"])
            self._file.seek(0, os.SEEK_END)

    def _write(self, outcome, curi):
        self._file.write(json.dumps(record(outcome, curi), separators=(",", ":")).encode()
                         + b"\n")
        self._file.flush()


def record(outcome, curi):
    """The JSON-serialisable record of one outcome (see the module docstring)."""
    headers = curi.rep_header or {}
    optional = curi.optional_vars or {}
    length = curi.content_length
    truncated = curi.truncated_reason
    return {
        "url": curi.url,
        "outcome": outcome,
        "status": curi.status_code,
        "depth": curi.depth,
        "attempt": curi.attempt,
        "time": time.time(),
        "req_time": curi.req_time,
        "queue_time": curi.queue_time,
        "content_type": headers.get("Content-Type"),
        "content_length": length,
        "sha1": None if length is None else (optional.get(C.CURI_CONTENT_SHA1)
                                             or hashlib.sha1(curi.content_body or b"").hexdigest()),
        "truncated": truncated is not None,
        "truncated_reason": truncated,
        "noindex": optional.get(C.CURI_NOINDEX) == C.CURI_OPTIONAL_TRUE,
        "nofollow": optional.get(C.CURI_NOFOLLOW) == C.CURI_OPTIONAL_TRUE,
        "links": len(curi.extracted_urls),
        "links_dropped": _count(optional.get(C.CURI_LINKS_DROPPED)),
        "etag": headers.get("Etag"),
        "last_modified": headers.get("Last-Modified"),
        "location": headers.get("Location"),
        "error": optional.get(C.CURI_ERROR),
    }


def _count(value):
    """A count a worker reported in ``optional_vars`` (a decimal string), 0 if absent."""
    return int(value) if isinstance(value, str) and value.isdigit() else 0
