"""Benchmark experiments: run a whole crawl on uvloop or libcurl without changing Spyder.

Only for ``bench_nginx.py --experiment NAME``: that puts this directory first on the
crawl's ``PYTHONPATH``, so every process of the crawl imports this module at
start-up (Python's ``sitecustomize`` hook) and applies what the comma-separated
``SPYDER_BENCH_EXPERIMENT`` asks for:

* ``uvloop``: asyncio's event loop policy becomes uvloop's, so the
  ``asyncio.new_event_loop()`` of every process returns a uvloop loop (tornado and
  pyzmq's ``ZMQStream`` run on it unchanged);
* ``curl``: the worker's ``FetchProcessor`` gets tornado's ``CurlAsyncHTTPClient``
  (pycurl) instead of ``SimpleAsyncHTTPClient``: kept-alive connections, HTTP parsed
  by libcurl.  Spyder's caching resolver is not used (libcurl resolves names itself;
  the benchmark's hosts are IP addresses).

Nothing here is part of Spyder; it sizes what such a change would gain.
"""
import os

_WANTED = set(filter(None, os.environ.get("SPYDER_BENCH_EXPERIMENT", "").split(",")))

if "uvloop" in _WANTED:
    import asyncio

    import uvloop
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

if "curl" in _WANTED:
    from tornado.curl_httpclient import CurlAsyncHTTPClient

    import spyder.processor.fetcher

    def _curl_client(force_instance=True, max_clients=10, resolver=None, max_body_size=None):
        return CurlAsyncHTTPClient(force_instance=force_instance, max_clients=max_clients)

    spyder.processor.fetcher.SimpleAsyncHTTPClient = _curl_client
