"""Fuzz every decoder of outside input longer than the suite does, and measure it (issue 18).

For each decoder of ``tests/fuzzcorpus.py`` (frames and tickets, robots.txt,
sitemaps, HTML link extraction, link resolution, response headers) hypothesis
generates ``--examples`` hostile inputs; then a fixed corpus of known worst cases
(gzip bombs, 4 million nested elements, a 16 MiB line, a 50,000-URL sitemap, 512 KiB
of wildcard robots rules, 20,000 unparsable hrefs, a 200,000-link page, endless
headers) is added.  Every input is run twice: once timed, once under tracemalloc.
Prints a table: decoder, inputs tried, worst time per MiB (inputs of 4 KiB or more;
a gzip sitemap counts by its inflated size, up to SITEMAP_MAX_SIZE, since that is what
is decoded), worst memory (tracemalloc peak: Python's allocations), how much the
process's peak RSS grew while the decoder ran (what C libraries such as Lexbor allocate
too), worst single call.

Then the worker's view: every input a worker decodes (HTML pages, sitemaps) goes
through the worker's own extract path -- on its loop, or in its extract thread for
large pages and sitemaps (``spyder.core.worker.zmqworker.OffLoop``, with the default
``EXTRACT_INLINE_MAX_SIZE``) -- while a 10 ms timer probes the loop's lag, as the
worker's ``lag`` heartbeat detail does; robots.txt is parsed on the master's loop,
so its worst single call is the master's lag per input.

    python benchmarks/bench_fuzz.py
    python benchmarks/bench_fuzz.py --examples 2000
"""
import argparse
import asyncio
import gzip
import os
import resource
import sys
import time
import tracemalloc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

from hypothesis import HealthCheck, given, settings  # noqa: E402

import fuzzcorpus  # noqa: E402
from spyder.core.crawluri import CrawlUri  # noqa: E402
from spyder.core.settings import Settings  # noqa: E402
from spyder.core.worker.zmqworker import OffLoop  # noqa: E402
from spyder.workerprocess import create_processing_function  # noqa: E402

_URLSET = b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'


def fixed_corpus():
    """``{decoder name: [input]}`` of known worst cases."""
    import random
    rnd = random.Random(1)
    robots = ["User-agent: *"]
    while sum(map(len, robots)) < 512 * 1024:
        parts = ["".join(rnd.choice("abcdefghij") for _ in range(rnd.randint(1, 4)))
                 for _ in range(rnd.randint(2, 6))]
        robots.append("Disallow: /" + "*".join(parts))
    many_agents = "".join("User-agent: bot%d\nDisallow: /x*y*z\n" % i for i in range(15000))
    return {
        "robots.txt": [("\n".join(robots), ["http://a.test/" + "a" * 2000]),
                       (many_agents, ["http://a.test/x/y/z"])],
        "sitemap (XML, text, gzip)": [
            gzip.compress(_URLSET + b"<url><loc>http://a.test/1</loc></url>" + b" " * (200 << 20)
                          + b"</urlset>", 9),
            gzip.compress(_URLSET + b"<url><loc>http://a.test/n</loc>" + b"<a/>" * 4_000_000
                          + b"</url></urlset>", 9),
            b"http://a.test/" + b"x" * (16 << 20),
            _URLSET + b"".join(b"<url><loc>http://a.test/p/%d</loc></url>" % i
                               for i in range(50000)) + b"</urlset>",
            b"".join(gzip.compress(b"http://a.test/%d\n" % i) for i in range(20000)),
        ],
        "HTML link extraction": [
            ("".join('<a href="http://a b/%d">x</a>' % i for i in range(20000)).encode(), "utf-8"),
            ("".join('<a href="/p/%d">x</a>' % i for i in range(200000)).encode(), "utf-8"),
            (b"<div>" * 200000, "utf-8"),
            # unclosed formatting elements cloned at every text (2,999 then 2,999 <p>x):
            # 3 GB and seconds before they were defused
            (b"<p>" + b"".join(b"<b id=%d>" % i for i in range(2999)) + b"<p>x" * 2999,
             "utf-8"),
            ("".join("<b id=%d>" % i for i in range(5999)).encode(), "utf-8"),
            # a "<" inside each tag: the flattening once left these to nest (4.1 s)
            (b"<div x<>" * 40000, "utf-8"),
            # tags never closed: each would scan to the end of the step if it could fail
            (b"<x a=\"" * 100000, "utf-8"),
            # noscript elements nested in a select, kept by the flattening once (0.4 s)
            (b"<body>" + b"<select><noscript>" * 40000, "utf-8"),
        ],
        "link resolution": [["http://a b/%d" % i for i in range(20000)] * 2],
        "response headers": [["HTTP/1.1 200 OK\r\n"] + ["X-A: %d\r\n" % i for i in range(100000)]],
        "frames and tickets": [[b"m", b"\x80" * 100000], [b"m", b"\x91" * 100000]],
    }


def decoded_size(name, value):
    """What a decoder decodes: a gzip sitemap's inflated bytes (up to 50 MiB)."""
    if name.startswith("sitemap") and value[:2] == b"\x1f\x8b":
        import zlib
        inflater, total, data = zlib.decompressobj(16 + zlib.MAX_WBITS), 0, value
        while data and total < (50 << 20):
            total += len(inflater.decompress(data, 1 << 20))
            data = inflater.unconsumed_tail
            if inflater.eof:
                data = inflater.unused_data
                if data[:2] != b"\x1f\x8b":
                    break
                inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        return max(total, len(value))
    return fuzzcorpus.input_size(value)


def _peak_rss():
    """This process's peak resident size so far, in bytes."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure(run, value):
    """``(seconds, peak bytes)`` of ``run(value)``: timed once, traced once."""
    started = time.perf_counter()
    run(value)
    seconds = time.perf_counter() - started
    tracemalloc.start()
    try:
        run(value)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return seconds, peak


def table(examples):
    corpus = fixed_corpus()
    rows = []
    every = {}
    for name, strategy, run in fuzzcorpus.DECODERS:
        seen = []

        @settings(max_examples=examples, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(strategy)
        def collect(value):
            seen.append(value)

        collect()
        inputs = seen + corpus.get(name, [])
        every[name] = inputs
        worst_rate = worst_peak = worst_call = 0.0
        high_water = _peak_rss()
        for value in inputs:
            seconds, peak = measure(run, value)
            size = decoded_size(name, value)
            if size >= 4096:
                worst_rate = max(worst_rate, seconds / (size / 2**20))
            worst_peak = max(worst_peak, peak)
            worst_call = max(worst_call, seconds)
        rows.append((name, len(inputs), worst_rate, worst_peak, _peak_rss() - high_water,
                     worst_call))
    print("%-28s %8s %16s %14s %14s %16s" % ("decoder", "inputs", "worst s per MiB",
                                             "worst memory", "peak RSS +", "worst one call"))
    for name, count, rate, peak, rss, call in rows:
        print("%-28s %8d %16.3f %11.1f MiB %10.1f MiB %14.0f ms" % (
            name, count, rate, peak / 2**20, rss / 2**20, call * 1000))
    return every


async def _worker_lag(pages):
    """The worst lateness of a 10 ms timer while the worker's extract path processes
    ``pages`` (CrawlUris) one after another, and how many went to the thread."""
    s = Settings()
    inline = create_processing_function(s)
    off_loop = OffLoop(create_processing_function(s), s.EXTRACT_INLINE_MAX_SIZE)
    loop = asyncio.get_running_loop()
    worst = [0.0]
    probe = 0.01
    last = [loop.time()]
    stop = asyncio.Event()

    async def probe_loop():
        while not stop.is_set():
            await asyncio.sleep(probe)
            now = loop.time()
            worst[0] = max(worst[0], now - last[0] - probe)
            last[0] = now

    prober = asyncio.ensure_future(probe_loop())
    await asyncio.sleep(probe * 2)
    worst[0] = 0.0
    threaded = 0
    for curi in pages:
        if off_loop.wants(curi):
            threaded += 1
            await off_loop.process(curi)
        else:
            inline(curi)
            await asyncio.sleep(0)
    stop.set()
    await prober
    off_loop.close()
    return worst[0], threaded


def worker_view(every):
    pages = []
    for body, charset in every["HTML link extraction"]:
        pages.append(CrawlUri(url="http://a.test/p", status_code=200, content_body=body,
                              rep_header={"Content-Type": "text/html; charset=" + (charset or "utf-8")}))
    for body in every["sitemap (XML, text, gzip)"]:
        pages.append(CrawlUri(url="http://a.test/s.xml", status_code=200, content_body=body,
                              optional_vars={"sitemap_fetch": "1"}))
    worst, threaded = asyncio.run(_worker_lag(pages))
    print("\nworker: %d pages and sitemaps through the extract path (%d in its thread): "
          "worst loop lag %.0f ms" % (len(pages), threaded, worst * 1000))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=500)
    args = parser.parse_args()
    every = table(args.examples)
    worker_view(every)


if __name__ == "__main__":
    main()
