"""The ``MASTER_CALLBACK`` of this crawl: seeds from ``seeds.txt``, outcomes to ``MySink``.

``spyder master`` calls ``initialize(settings, zmq_ctx, io_loop, frontier)`` once,
before the first URL is dispatched.  Add seeds, sinks, or timers of your own on
``io_loop`` here.
"""
import os

from spyder import CrawlUri

from sink import MySink

SEEDS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds.txt")


def read_seeds(path=SEEDS_FILE):
    """The URLs in ``path``: one per line; blank lines and ``#`` comments are skipped."""
    with open(path, encoding="utf-8") as f:
        lines = (line.strip() for line in f)
        return [line for line in lines if line and not line.startswith("#")]


def initialize(settings, zmq_ctx, io_loop, frontier):
    """Seed the frontier and register the sink."""
    for url in read_seeds():
        frontier.add_uri(CrawlUri(url=url))
    frontier.add_sink(MySink(settings))
