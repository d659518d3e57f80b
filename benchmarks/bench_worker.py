"""Worker benchmarks: extract-stage and fetch-stage throughput, and a whole worker.

    python benchmarks/bench_worker.py [--extract-pages N] [--fetch-pages N]
                                      [--worker-pages N] [--clients N]

1. **extract**: the default extract pipeline (limiter, HTML link extractor, HTTP
   extractor, scoper, session-id stripper, query clean-up) over realistic ~15 KB
   HTML pages with 30 links each, on one core.  Target: >= 1,500 pages/s.
2. **fetch**: ``FetchProcessor`` with ``--clients`` concurrent requests against a
   local tornado server running in a separate process (loopback only).
3. **worker**: a real ``spyder worker`` subprocess fed over ZeroMQ by an in-process
   fake master, against the same server: fetch + extract + publish, end to end.

Only 127.0.0.1 is contacted.  Numbers vary with the machine; run it a few times.
"""
import argparse
import asyncio
import multiprocessing
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

LOREM = ("Sailing is the propulsion of a vessel by wind power alone; racing, cruising and "
         "training clubs publish regattas, results, photos and long articles about rigging. ")


def make_page(index, rng):
    """A ~15 KB HTML page with 30 links of the usual kinds."""
    links = []
    for j in range(30):
        kind = j % 6
        target = rng.randrange(100000)
        if kind == 0:
            href = "/section/%d/page-%d.html" % (target % 50, target)
        elif kind == 1:
            href = "page-%d.html?sid=%032x&amp;lang=en" % (target, rng.getrandbits(128))
        elif kind == 2:
            href = "http://www.example.org/articles/%d#comments" % target
        elif kind == 3:
            href = "../archive/%d/index.html?utm_source=feed&amp;p=%d" % (target % 12, target)
        elif kind == 4:
            href = "https://cdn.example.net/m\u00fcnchen/%d/" % target
        else:
            href = "/tags/r%%C3%%A9gate-%d" % target  # already percent-encoded
        links.append('<li><a href="%s" title="link %d">Link text number %d</a></li>'
                     % (href, j, j))
    filler = "".join("<p>%s</p>\n" % (LOREM * 3) for _ in range(22))
    return ("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Page %d</title>
<link rel="stylesheet" href="/static/site.css"><script src="/static/app.js"></script>
<style>body { font-family: sans-serif; } .nav li { display: inline; }</style>
</head><body><div class="nav"><ul>%s</ul></div>
<div class="content"><h1>Page %d</h1>%s</div>
<script>var analytics = {id: %d, page: "page-%d"};</script>
</body></html>""" % (index, "\n".join(links), index, filler, index, index)).encode("utf-8")


def bench_extract(pages):
    from spyder.core.crawluri import CrawlUri
    from spyder.core.settings import Settings
    from spyder.workerprocess import create_processing_function

    rng = random.Random(42)
    bodies = [make_page(i, rng) for i in range(200)]
    process = create_processing_function(Settings())
    headers = {"Content-Type": "text/html; charset=utf-8"}
    curis = [CrawlUri(url="http://www.example.com/dir/page-%d.html" % i,
                      effective_url="http://www.example.com/dir/page-%d.html" % i,
                      status_code=200, rep_header=dict(headers),
                      content_body=bodies[i % len(bodies)]) for i in range(pages)]
    links = 0
    started = time.perf_counter()
    for curi in curis:
        links += len(process(curi).extracted_urls)
    elapsed = time.perf_counter() - started
    size = sum(len(b) for b in bodies) / len(bodies)
    print("extract: %d pages (%.1f KB, 30 links each) in %.2f s = %.0f pages/s on one core; "
          "%.1f links kept per page" % (pages, size / 1024, elapsed, pages / elapsed,
                                        links / pages))


def _serve(port_queue, page_count):
    from tornado.httpserver import HTTPServer
    from tornado.ioloop import IOLoop
    from tornado.netutil import bind_sockets
    from tornado.web import Application, RequestHandler

    rng = random.Random(7)
    bodies = [make_page(i, rng) for i in range(page_count)]

    class Page(RequestHandler):
        def get(self, number):
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.write(bodies[int(number) % len(bodies)])

    async def start():
        sockets = bind_sockets(0, "127.0.0.1")
        server = HTTPServer(Application([(r"/page/(\d+)", Page)]))
        server.add_sockets(sockets)
        port_queue.put(sockets[0].getsockname()[1])

    loop = IOLoop.current()
    loop.run_sync(start)
    loop.start()


def start_server():
    queue = multiprocessing.Queue()
    server = multiprocessing.Process(target=_serve, args=(queue, 100), daemon=True)
    server.start()
    return server, queue.get(timeout=30)


def bench_fetch(port, pages, clients):
    from spyder.core.crawluri import CrawlUri
    from spyder.core.settings import Settings
    from spyder.processor.fetcher import FetchProcessor

    async def go():
        fetcher = FetchProcessor(Settings(overrides={"MAX_CLIENTS": clients}))
        todo = iter(range(pages))
        sizes = []

        async def client():
            for i in todo:
                curi = await fetcher(CrawlUri(url="http://127.0.0.1:%d/page/%d" % (port, i)))
                assert curi.status_code == 200, curi.optional_vars
                sizes.append(len(curi.content_body))

        started = time.perf_counter()
        await asyncio.gather(*[client() for _ in range(clients)])
        elapsed = time.perf_counter() - started
        fetcher.close()
        return elapsed, sum(sizes)

    elapsed, total = asyncio.run(go())
    print("fetch: %d pages with %d concurrent requests in %.2f s = %.0f pages/s (%.1f MB/s)"
          % (pages, clients, elapsed, pages / elapsed, total / elapsed / 1e6))


def bench_worker(port, pages, clients):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
    from test_worker_support import FakeMaster

    from spyder.core import constants as C
    from spyder.core.crawluri import CrawlUri

    socket_dir = tempfile.mkdtemp(prefix="spyder-bench-")
    master = FakeMaster(socket_dir)
    env = {k: v for k, v in os.environ.items() if k not in ("SPYDER_SETTINGS", "NOTIFY_SOCKET")}
    worker = subprocess.Popen(
        [sys.executable, "-m", "spyder", "worker", "-s", "PARENT_SOCKET_DIRECTORY=" + socket_dir,
         "-s", "MAX_CLIENTS=%d" % clients, "-s", "LOG_LEVEL_WORKER=30"],
        cwd=socket_dir, env=env, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            msg = master.next_mgmt(deadline - time.monotonic())
            if msg is not None and msg.data in (C.ZMQ_SPYDER_MGMT_WORKER_AVAIL,
                                                C.ZMQ_SPYDER_MGMT_WORKER_HEARTBEAT):
                break
            if time.monotonic() > deadline:
                raise SystemExit("the worker did not start")
        # credit-based like the real master: at most 2 x MAX_CLIENTS in flight
        started = time.perf_counter()
        sent = ok = done = 0
        while done < pages:
            while sent < pages and sent - done < 2 * clients:
                master.send(CrawlUri(url="http://127.0.0.1:%d/page/%d" % (port, sent)))
                sent += 1
            msg = master.recv_result(60)
            if msg is None:
                raise SystemExit("no result for 60 s")
            done += 1
            ok += msg.curi.status_code == 200
        elapsed = time.perf_counter() - started
        print("worker: %d pages fetched, extracted and published by one `spyder worker` "
              "(MAX_CLIENTS=%d) in %.2f s = %.0f pages/s (%d x 200)"
              % (pages, clients, elapsed, pages / elapsed, ok))
        master.wait_mgmt(C.ZMQ_SPYDER_MGMT_WORKER_QUIT_ACK, repeat=C.ZMQ_SPYDER_MGMT_WORKER_QUIT)
        worker.wait(30)
    finally:
        if worker.poll() is None:
            worker.kill()
        master.close()
        shutil.rmtree(socket_dir, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--extract-pages", type=int, default=5000)
    parser.add_argument("--fetch-pages", type=int, default=3000)
    parser.add_argument("--worker-pages", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=10, help="MAX_CLIENTS")
    args = parser.parse_args()
    print("python %s, %d CPUs" % (sys.version.split()[0], os.cpu_count() or 1))
    bench_extract(args.extract_pages)
    server, port = start_server()
    try:
        bench_fetch(port, args.fetch_pages, args.clients)
        bench_worker(port, args.worker_pages, args.clients)
    finally:
        server.terminate()
        server.join(10)


if __name__ == "__main__":
    main()
