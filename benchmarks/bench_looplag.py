"""The master's event-loop lag during a crawl of large pages into the WARC sink.

Serves ``--pages`` pages of ``--size`` bytes each (default 40 x 10 MiB, barely
compressible, each linking to the next ones) on 127.0.0.1 from a thread, crawls them
with ``spyder crawl`` (2 workers, JSONL + WARC sinks, ``MAX_CONTENT_SIZE`` = the page
size) and prints the master's worst event-loop lag (its lag probe, logged at exit):
the longest a timer waited behind a blocking call.  WARC compression and writing run
in the sink's thread; this shows what is left on the loop.

    python benchmarks/bench_looplag.py
    python benchmarks/bench_looplag.py --pages 100 --size 1000000
"""
import argparse
import asyncio
import base64
import os
import re
import subprocess
import sys
import tempfile
import threading

import tornado.web


def _serve(pages, size, ready):
    body = base64.b64encode(os.urandom(size * 3 // 4))[:size]

    class Page(tornado.web.RequestHandler):
        def get(self, number):
            i = int(number)
            links = "".join('<a href="/p%d">n</a>' % j for j in (i + 1, i + 2) if j < pages)
            self.set_header("Content-Type", "text/html")
            self.write(b"<html><body>" + links.encode() + b"<pre>" + body + b"</pre></html>")

    async def main():
        app = tornado.web.Application([(r"/p(\d+)", Page)])
        server = app.listen(0, "127.0.0.1")
        ready.append(list(server._sockets.values())[0].getsockname()[1])
        await asyncio.Event().wait()

    asyncio.run(main())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--size", type=int, default=10 * 1024 * 1024)
    args = parser.parse_args()
    ready = []
    threading.Thread(target=_serve, args=(args.pages, args.size, ready), daemon=True).start()
    while not ready:
        threading.Event().wait(0.05)
    with tempfile.TemporaryDirectory() as cwd:
        settings = {"SINKS": ["spyder.sinks.jsonl.JsonLinesSink", "spyder.sinks.warc.WarcSink"],
                    "MAX_CONTENT_SIZE": args.size + 4096, "FRONTIER_MIN_DELAY": 0.0,
                    "FRONTIER_CRAWL_DELAY_FACTOR": 0.0, "ROBOTSTXT_OBEY": False,
                    "FRONTIER_HOST_CONCURRENCY": 2, "LOG_DIR": os.path.join(cwd, "log"),
                    "WARC_DIR": os.path.join(cwd, "warc"),
                    "JSONL_SINK_PATH": os.path.join(cwd, "crawl.jsonl")}
        argv = [sys.executable, "-m", "spyder", "crawl", "--workers", "2"]
        for name, value in settings.items():
            argv += ["-s", "%s=%r" % (name, value)]
        argv.append("http://127.0.0.1:%d/p0" % ready[0])
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit("spyder crawl failed (%d):\n%s%s" % (proc.returncode, proc.stdout,
                                                         proc.stderr[-3000:]))
        with open(os.path.join(cwd, "log", "master.log"), errors="replace") as log:
            lag = re.findall(r"worst lag: (\d+) ms", log.read())
        warc = sum(os.path.getsize(os.path.join(cwd, "warc", f))
                   for f in os.listdir(os.path.join(cwd, "warc")))
    print("%d pages of %d bytes, WARC %.0f MB: the master's worst loop lag %s ms"
          % (args.pages, args.size, warc / 1e6, lag[-1] if lag else "?"))


if __name__ == "__main__":
    main()
