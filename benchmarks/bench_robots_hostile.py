"""The master's event-loop lag with a hostile 512 KiB robots.txt on every host (issue 18).

Serves ``--hosts`` origins on 127.0.0.1 (one port each, default 100), each with a
robots.txt of 512 KiB of wildcard Disallow rules for ``*`` (none matches the pages)
and a home page linking to ``--links`` pages; crawls them with ``spyder crawl``
(2 workers, no politeness delay) and prints the master's worst event-loop lag (its
lag probe, logged at exit) and the pages crawled.  ``--cache`` lowers the master's
cache of parsed robots.txt (``spyder.core.frontier.robots.CACHE_SIZE``, 4,096) so that rules
are evicted and parsed again, as on a crawl of many hosts.

    python benchmarks/bench_robots_hostile.py
    python benchmarks/bench_robots_hostile.py --hosts 20 --links 50
"""
import argparse
import asyncio
import os
import random
import re
import subprocess
import sys
import tempfile
import threading

import tornado.web


def hostile_robots(size=512 * 1024, seed=1):
    rnd = random.Random(seed)
    lines, total = ["User-agent: *"], 14
    while total < size:
        parts = ["".join(rnd.choice("abcdefghij") for _ in range(rnd.randint(1, 4)))
                 for _ in range(rnd.randint(2, 6))]
        line = "Disallow: /" + "*".join(parts) + ("$" if rnd.random() < 0.3 else "")
        lines.append(line)
        total += len(line) + 1
    return ("\n".join(lines) + "\n")[:size].encode()


def _serve(hosts, links, plain, ready):
    robots = b"User-agent: *\nDisallow:\n" if plain else hostile_robots()
    home = ("<html><body>%s</body></html>" % "".join(
        '<a href="/page/%d">p</a>' % i for i in range(links))).encode()

    class Handler(tornado.web.RequestHandler):
        def get(self, path):
            if path == "robots.txt":
                self.set_header("Content-Type", "text/plain")
                self.write(robots)
            else:
                self.set_header("Content-Type", "text/html")
                self.write(home if path == "" else b"<html></html>")

    async def main():
        for _ in range(hosts):
            server = tornado.web.Application([(r"/(.*)", Handler)]).listen(0, "127.0.0.1")
            ready.append(list(server._sockets.values())[0].getsockname()[1])
        await asyncio.Event().wait()

    asyncio.run(main())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--links", type=int, default=10)
    parser.add_argument("--cache", type=int, default=None)
    parser.add_argument("--plain", action="store_true", help="a 2-line robots.txt instead")
    args = parser.parse_args()
    ready = []
    threading.Thread(target=_serve, args=(args.hosts, args.links, args.plain, ready), daemon=True).start()
    while len(ready) < args.hosts:
        threading.Event().wait(0.05)
    with tempfile.TemporaryDirectory() as cwd:
        settings = {"CRAWL_MAX_DEPTH": 1, "FRONTIER_MIN_DELAY": 0.0,
                    "FRONTIER_CRAWL_DELAY_FACTOR": 0.0, "LOG_DIR": os.path.join(cwd, "log"),
                    "JSONL_SINK_PATH": os.path.join(cwd, "crawl.jsonl")}
        argv = [sys.executable]
        if args.cache is not None:
            argv += ["-c", "import sys, spyder.core.frontier.robots as r; r.CACHE_SIZE = %d; "
                           "sys.argv[0] = 'spyder'; from spyder.cli import main; "
                           "sys.exit(main())" % args.cache]
        else:
            argv += ["-m", "spyder"]
        argv += ["crawl", "--workers", "2"]
        for name, value in settings.items():
            argv += ["-s", "%s=%r" % (name, value)]
        argv += ["http://127.0.0.1:%d/" % port for port in ready]
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit("spyder crawl failed (%d):\n%s%s" % (proc.returncode, proc.stdout,
                                                         proc.stderr[-3000:]))
        with open(os.path.join(cwd, "log", "master.log"), errors="replace") as log:
            text = log.read()
        lag = re.findall(r"worst lag: (\d+) ms", text)
        pages = re.findall(r"pages\s+(\d+) this run", proc.stdout)
    print("%d hosts with a 512 KiB wildcard robots.txt, %d links each: %s pages; the "
          "master's worst loop lag %s ms" % (args.hosts, args.links, pages[-1] if pages else "?",
                                             lag[-1] if lag else "?"))


if __name__ == "__main__":
    main()
