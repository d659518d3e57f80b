"""Benchmark experiments: run a whole crawl on uvloop without changing Spyder.

Only for ``bench_nginx.py --experiment NAME``: that puts this directory first on the
crawl's ``PYTHONPATH``, so every process of the crawl imports this module at
start-up (Python's ``sitecustomize`` hook) and applies what the comma-separated
``SPYDER_BENCH_EXPERIMENT`` asks for:

* ``uvloop``: asyncio's event loop policy becomes uvloop's, so the
  ``asyncio.new_event_loop()`` of every process returns a uvloop loop (tornado and
  pyzmq run on it unchanged).  (A ``curl`` experiment sized the libcurl client before
  it became Spyder's own: ``HTTP_CLIENT``.)

Nothing here is part of Spyder; it sizes what such a change would gain.
"""
import os

_WANTED = set(filter(None, os.environ.get("SPYDER_BENCH_EXPERIMENT", "").split(",")))

if "uvloop" in _WANTED:
    import asyncio

    import uvloop
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
