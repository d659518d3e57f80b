"""Start-up stalls: many short crawls back to back, each timed from start to exit.

Runs ``spyder bench --pages P --hosts H --workers W`` N times (subprocesses: real
logsink, master and workers on 127.0.0.1) and counts the crawls that took more than
``--factor`` times the median: a lost first result (the subscription race) or URLs
stranded on a worker show as a crawl many times slower than the others.

    python benchmarks/bench_stalls.py                  # 50 x 300 pages on 3 hosts
    python benchmarks/bench_stalls.py --runs 20 --pages 500
"""
import argparse
import statistics
import subprocess
import sys
import tempfile
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--factor", type=float, default=3.0)
    args = parser.parse_args()
    walls = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as cwd:
            started = time.monotonic()
            proc = subprocess.run(
                [sys.executable, "-m", "spyder", "bench", "--pages", str(args.pages),
                 "--hosts", str(args.hosts), "--workers", str(args.workers)],
                cwd=cwd, capture_output=True, text=True)
            walls.append(time.monotonic() - started)
        if proc.returncode != 0:
            sys.exit("run %d failed (%d):\n%s%s" % (run, proc.returncode, proc.stdout,
                                                    proc.stderr[-3000:]))
        print("run %2d: %.2f s" % (run + 1, walls[-1]), flush=True)
    median = statistics.median(walls)
    stalls = [w for w in walls if w > args.factor * median]
    print("%d crawls of %d pages: median %.2f s, max %.2f s, stalls (> %.0fx median): %d"
          % (len(walls), args.pages, median, max(walls), args.factor, len(stalls)))


if __name__ == "__main__":
    main()
