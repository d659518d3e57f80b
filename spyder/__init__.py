"""Spyder: a scalable and polite web crawler built on ZeroMQ and tornado.

A *master* process owns the crawl frontier and the sinks, any number of *worker*
processes fetch pages and extract links, and a *logsink* collects everyone's logs.
See ``README.md`` for the architecture and ``spyder --help`` for the commands.
"""

__version__ = "0.3.0"

from spyder.core.crawluri import CrawlUri  # noqa: E402
from spyder.core.settings import Settings  # noqa: E402

__all__ = ["CrawlUri", "Settings", "__version__"]
