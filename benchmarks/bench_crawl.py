"""Whole-crawl throughput: ``spyder demo`` and ``spyder bench`` on the generated site.

Runs, as subprocesses (real logsink, master and workers on this machine):

  1. ``spyder demo`` (300 pages, 3 hosts, JSONL + WARC sinks), and
  2. ``spyder bench --pages N --hosts H`` (default 20,000 pages on 10 hosts; politeness
     delays at 0, host concurrency 1, JSONL sink) once per ``--workers`` value,

and prints pages/s for each (final outcomes per second from the master's READY=1 to its
exit, so start-up of the workers is included).  Nothing leaves 127.0.0.1.

    python benchmarks/bench_crawl.py                      # demo + 20,000 pages / 10 hosts
    python benchmarks/bench_crawl.py --workers 1 2 4 --pages 5000 --skip-demo
"""
import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time


def _run(argv, cwd):
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "spyder"] + argv, cwd=cwd, capture_output=True,
                          text=True)
    wall = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit("spyder %s failed (%d):\n%s%s" % (" ".join(argv), proc.returncode,
                                                 proc.stdout, proc.stderr[-3000:]))
    return proc.stdout, wall


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=20000)
    parser.add_argument("--hosts", type=int, default=10)
    parser.add_argument("--workers", type=int, nargs="+", default=[os.cpu_count() or 1])
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("-s", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="setting override passed to spyder")
    args = parser.parse_args()
    extra = [item for o in args.overrides for item in ("-s", o)]
    print("python %s, %d CPUs" % (sys.version.split()[0], os.cpu_count() or 1))
    with tempfile.TemporaryDirectory(prefix="bench-crawl-") as cwd:
        if not args.skip_demo:
            for workers in args.workers:
                out, wall = _run(["demo", "--workers", str(workers),
                                  "--output", os.path.join(cwd, "demo")] + extra, cwd)
                match = re.search(r"pages\s+(\d+) this run.*?duration\s+([\d.]+) s, ([\d.]+) "
                                  r"pages/s", out, re.S)
                print("demo   300 pages   3 hosts  %2d worker(s): %5s URLs in %6s s = %7s pages/s"
                      "  (wall %.1f s)" % ((workers,) + match.groups() + (wall,)))
        for workers in args.workers:
            out, wall = _run(["bench", "--workers", str(workers), "--pages", str(args.pages),
                              "--hosts", str(args.hosts)] + extra, cwd)
            match = re.search(r"(\d+) of (\d+) URLs in ([\d.]+) s = (\d+) pages/s", out)
            print("bench %6d pages %3d hosts %2d worker(s): %5s of %s URLs in %6s s = %7s pages/s"
                  "  (wall %.1f s)" % ((args.pages, args.hosts, workers) + match.groups() + (wall,)))
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    print("largest child process (site, master, worker or logsink): %.0f MB peak RSS" % rss)


if __name__ == "__main__":
    main()
