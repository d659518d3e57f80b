"""The worker's peak memory and event-loop lag while it decodes hostile sitemaps (issue 18).

Serves ``--hosts`` origins on 127.0.0.1 (one port each, default 4), each with a
robots.txt naming a gzip bomb sitemap ``/bomb.xml.gz`` (a URL, then 200 MiB of
whitespace; ~200 KB compressed) -- issue 18's four-bomb crawl.  With ``--all`` each
also names ``/nested.xml.gz`` (4 million ``<a/>`` inside one ``<url>``; ~50 KB), a
50,000-URL sitemap ``/big.xml`` and a text sitemap of one 16 MiB line ``/line.txt``
(whose bodies, fetched whole, then dominate the worker's memory).  Crawls them with ``spyder crawl --workers 1``
(``ROBOTSTXT_SITEMAPS``, depth 0 so the URLs found are not fetched) and prints the
worker's peak RSS (the kernel's VmHWM, polled) and its worst loop lag (logged at exit).

    python benchmarks/bench_sitemap_bombs.py
    python benchmarks/bench_sitemap_bombs.py --hosts 8
"""
import argparse
import asyncio
import gzip
import os
import re
import subprocess
import sys
import tempfile
import threading

import tornado.web

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from procstats import ProcessTree, reap  # noqa: E402

_URLSET = b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'


def _bodies():
    bomb = gzip.compress(_URLSET + b"<url><loc>http://127.0.0.1/only</loc></url>"
                         + b" " * (200 << 20) + b"</urlset>", 9)
    nested = gzip.compress(_URLSET + b"<url><loc>http://127.0.0.1/n</loc>" + b"<a/>" * 4_000_000
                           + b"</url></urlset>", 9)
    big = _URLSET + b"".join(b"<url><loc>http://127.0.0.1/p/%d</loc></url>" % i
                             for i in range(50000)) + b"</urlset>"
    line = b"http://127.0.0.1/" + b"x" * (16 << 20) + b"\n"
    return {"/bomb.xml.gz": bomb, "/nested.xml.gz": nested, "/big.xml": big, "/line.txt": line}


def _serve(hosts, everything, ready):
    bodies = _bodies()
    if not everything:
        bodies = {"/bomb.xml.gz": bodies["/bomb.xml.gz"]}

    class Handler(tornado.web.RequestHandler):
        def get(self, path):
            path = "/" + path
            if path == "/robots.txt":
                base = "http://127.0.0.1:%d" % self.request.connection.stream.socket.getsockname()[1]
                self.set_header("Content-Type", "text/plain")
                self.write("User-agent: *\nDisallow:\n" + "".join(
                    "Sitemap: %s%s\n" % (base, name) for name in bodies))
            elif path in bodies:
                self.set_header("Content-Type", "application/octet-stream")
                self.write(bodies[path])
            else:
                self.set_header("Content-Type", "text/html")
                self.write(b"<html></html>")

    async def main():
        for _ in range(hosts):
            server = tornado.web.Application([(r"/(.*)", Handler)]).listen(0, "127.0.0.1")
            ready.append(list(server._sockets.values())[0].getsockname()[1])
        await asyncio.Event().wait()

    asyncio.run(main())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, default=4)
    parser.add_argument("--all", action="store_true", help="four hostile sitemaps per host")
    args = parser.parse_args()
    ready = []
    threading.Thread(target=_serve, args=(args.hosts, args.all, ready), daemon=True).start()
    while len(ready) < args.hosts:
        threading.Event().wait(0.05)
    with tempfile.TemporaryDirectory() as cwd:
        settings = {"ROBOTSTXT_SITEMAPS": True, "CRAWL_MAX_DEPTH": 0,
                    "FRONTIER_MIN_DELAY": 0.0, "FRONTIER_CRAWL_DELAY_FACTOR": 0.0,
                    "LOG_DIR": os.path.join(cwd, "log"),
                    "JSONL_SINK_PATH": os.path.join(cwd, "crawl.jsonl")}
        argv = [sys.executable, "-m", "spyder", "crawl", "--workers", "1"]
        for name, value in settings.items():
            argv += ["-s", "%s=%r" % (name, value)]
        argv += ["http://127.0.0.1:%d/" % port for port in ready]
        proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        tree = ProcessTree(proc.pid, interval=0.05)
        tree.start()
        status, _ = reap(proc, timeout=600)
        tree.stop()
        output = proc.stdout.read().decode(errors="replace")
        if status != 0:
            sys.exit("spyder crawl failed (%s):\n%s" % (status, output[-3000:]))
        workers = [p for p in tree.by_role() if p.role == "worker"]
        with open(os.path.join(cwd, "log", "worker.log"), errors="replace") as log:
            text = log.read()
        if os.environ.get("BENCH_SHOW_LOG"):
            print(text[-5000:])
        lag = re.findall(r"worst lag: (\d+) ms", text)
        parts = re.findall(r"(\S+) read in part \((\d+) URLs.*?\): (.*)", text)
    print("%d hosts x %d hostile sitemap(s), 1 worker:" % (args.hosts, 4 if args.all else 1))
    for worker in workers:
        print("  worker pid %d: peak RSS %.0f MB" % (worker.pid, worker.peak_rss_kb / 1024))
    print("  worker's worst event-loop lag: %s ms" % (lag[-1] if lag else "?"))
    print("  sitemaps read in part: %d (%s)" % (len(parts), "; ".join(
        sorted({"%s: %s" % (url.rpartition("/")[2], reason) for url, _, reason in parts}))))


if __name__ == "__main__":
    main()
