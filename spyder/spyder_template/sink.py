"""``MySink``: what this crawl does with every page it fetched.

The frontier calls exactly one of the four methods for the final outcome of each
visit, in the master process, on its event loop: keep them quick (hand heavy work
to a queue or a thread).  Every method gets the ``CrawlUri``:

* ``curi.url``, ``curi.effective_url`` (after redirects), ``curi.status_code``;
* ``curi.rep_header`` (response headers, e.g. ``curi.rep_header["Content-Type"]``);
* ``curi.content_body`` (the body as bytes; ``None`` when no response arrived) and
  ``curi.content_length`` (its size; a sink that needs no more than the size and
  ``curi.optional_vars["content_sha1"]`` can say ``needs_body = False``, and workers
  then send no bodies to the master);
* ``curi.extracted_urls`` (the links found), ``curi.depth`` (hops from a seed);
* ``curi.req_time`` (seconds the download took), ``curi.optional_vars`` (extras such
  as ``"error"`` or ``"truncated"``).

This skeleton only logs each outcome (the log lines end up in log/master.log).
Spyder also ships ready-made sinks: add ``"spyder.sinks.jsonl.JsonLinesSink"`` or
``"spyder.sinks.warc.WarcSink"`` to ``SINKS`` in settings.py.
"""
import logging

from spyder.core.sink import AbstractCrawlUriSink

log = logging.getLogger("spyder.master.sink")


class MySink(AbstractCrawlUriSink):
    """Log every outcome; replace the bodies with your own storage."""

    def __init__(self, settings):
        super().__init__(settings)

    def process_successful_crawl(self, curi):
        """A 2xx response: store ``curi.content_body``, index it, ..."""
        log.info("sink::%s %s (%d bytes, %d links)", curi.status_code, curi.url,
                 curi.content_length or 0, len(curi.extracted_urls))

    def process_not_found(self, curi):
        """A 4xx response (not 408/429): the page is gone."""
        log.info("sink::%s %s not found", curi.status_code, curi.url)

    def process_redirect(self, curi):
        """A 3xx response (304 Not Modified included); the target is crawled on its own."""
        log.info("sink::%s %s redirects to %s", curi.status_code, curi.url,
                 curi.rep_header.get("Location", "-"))

    def process_server_error(self, curi):
        """A server or network error that persisted through all retries."""
        log.info("sink::%s %s failed: %s", curi.status_code, curi.url,
                 curi.optional_vars.get("error", "server error"))

    def close(self):
        """The crawl stops: flush and close what you opened."""
