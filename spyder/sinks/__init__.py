"""Built-in sinks that store crawl outcomes (JSON lines, WARC)."""
