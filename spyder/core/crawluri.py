"""The CrawlUri: the one record that travels from the frontier to a worker and back.

The frontier creates a CrawlUri for every URL it hands out; the worker's fetch stage
fills in the response (status, headers, body, timings), the extract stage adds the
links it found to ``optional_vars["extracted_urls"]``, and the master routes the
returned record by ``status_code``.  Field names are the 2011 original's, plus
``depth`` (link hops from a seed) and ``attempt`` (how many times the URL was tried).

Conventions:
  * times (``begin_processing``, ``end_processing``) are UTC epoch floats;
    ``req_time`` and ``queue_time`` are durations in seconds;
  * ``req_header`` / ``rep_header`` / ``optional_vars`` are ``str -> str`` maps;
    response header names are in tornado's normalised form (``Content-Type``, ``Etag``);
  * ``content_body`` is ``bytes`` (``None`` when no response arrived, or when the
    worker left it out because no sink needs bodies: ``content_length`` tells which).
"""
from dataclasses import dataclass, field, fields
from typing import Dict, Optional

from spyder.core import constants as C


@dataclass(eq=True)
class CrawlUri:
    """One URL and everything learned about it on one visit."""

    url: Optional[str] = None
    effective_url: Optional[str] = None
    current_priority: Optional[int] = None
    begin_processing: Optional[float] = None
    end_processing: Optional[float] = None
    req_header: Dict[str, str] = field(default_factory=dict)
    rep_header: Dict[str, str] = field(default_factory=dict)
    req_time: Optional[float] = None
    queue_time: Optional[float] = None
    status_code: Optional[int] = None
    content_body: Optional[bytes] = None
    optional_vars: Dict[str, str] = field(default_factory=dict)
    depth: int = 0
    attempt: int = 0

    @property
    def extracted_urls(self):
        """The extracted links as a list (empty if there are none)."""
        raw = self.optional_vars.get("extracted_urls", "")
        if not raw:
            return []
        links = raw.split("\n")
        return [line for line in links if line] if "" in links else links

    @property
    def content_length(self):
        """The body's length in bytes (also when the worker left the body out of its
        result), or ``None`` if no response arrived."""
        if self.content_body is not None:
            return len(self.content_body)
        length = (self.optional_vars or {}).get(C.CURI_CONTENT_LENGTH)
        return int(length) if isinstance(length, str) and length.isdigit() else None

    @property
    def truncated_reason(self):
        """Why the body is not complete, in WARC-Truncated words (``length``, ``time``,
        ``disconnect``, ``unspecified`` = never downloaded), or ``None`` if it is."""
        optional = self.optional_vars or {}
        if optional.get(C.CURI_SKIPPED_CONTENT_TYPE) == C.CURI_OPTIONAL_TRUE:
            return "unspecified"
        if optional.get(C.CURI_TRUNCATED) == C.CURI_OPTIONAL_TRUE:
            return optional.get(C.CURI_TRUNCATED_REASON) or "length"
        return None

    def __repr__(self):
        body = None if self.content_body is None else "<%d bytes>" % len(self.content_body)
        return "CrawlUri(url=%r, status_code=%r, depth=%r, attempt=%r, body=%s)" % (
            self.url, self.status_code, self.depth, self.attempt, body)


#: Field names in wire order, used by the (de)serialiser.
CRAWLURI_FIELDS = tuple(f.name for f in fields(CrawlUri))
