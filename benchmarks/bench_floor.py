"""The frontier's cost per result on each store: how much of it is the SQLite store's.

``bench_store.py`` times the SQLite store's methods and statements; what it cannot say
is what the frontier would cost with a store that costs nothing.  This benchmark runs
the same work on ``FRONTIER_STORE`` "memory" (Python dicts, no file) and "sqlite" (a
state file in a temporary directory), each in a fresh child process, alternated:
``--seeds`` seed URLs (one per host of ``build_state.py``'s synthetic web), then
``--results`` cycles of ``get_next`` and a 2xx result of 30 links, 9 known (drawn
from the URLs known so far) and 21 new, as ``bench_master.py``'s fake workers send.
Reported: CPU µs per result of each run (``process_time`` over the cycles only), and
the medians.  The memory store is not free either (its rows are named tuples rebuilt
on every change), so the difference is a lower bound of the SQLite store's share.

    python benchmarks/bench_floor.py                  # 1,000 seeds, 20,000 results, 3 rounds
    python benchmarks/bench_floor.py --rounds 1 --results 5000
"""
import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bench_frontier  # noqa: E402
import build_state  # noqa: E402
import procstats  # noqa: E402
from bench_store import KNOWN, LINKS  # noqa: E402

from spyder.core.frontier.frontiers import MultipleHostFrontier  # noqa: E402

STORES = ("memory", "sqlite")


def run(store, seeds, results, seed=1):
    """CPU µs per result of ``results`` cycles on a frontier over ``store`` (this process)."""
    work = tempfile.mkdtemp(prefix="spyder-bench-floor-")
    try:
        settings = bench_frontier._settings(os.path.join(work, "state.db"))
        settings.FRONTIER_STORE = store
        frontier = MultipleHostFrontier(settings)
        frontier.add_seeds([build_state.url(host, seeds) for host in range(seeds)])
        rng = random.Random(seed)
        issued = seeds
        pages = []
        for _ in range(results):
            links = [build_state.url(rng.randrange(issued), seeds) for _ in range(KNOWN)]
            links += [build_state.url(issued + k, seeds) for k in range(LINKS - KNOWN)]
            issued += LINKS - KNOWN
            pages.append(links)
        started = time.process_time()
        for links in pages:
            bench_frontier._cycle(frontier, links)
        cpu = time.process_time() - started
        known = frontier.stats()["known"]
        frontier.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"store": store, "results": results, "known": known,
            "cpu_us_per_result": round(cpu / results * 1e6, 1)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=1000, help="seed URLs, one per host")
    parser.add_argument("--results", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3, help="runs of each store, alternated")
    parser.add_argument("--json", help="write the report as JSON ('-': stdout)")
    parser.add_argument("--child", choices=STORES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run(args.child, args.seeds, args.results)))
        return 0
    runs = {store: [] for store in STORES}
    for round_ in range(args.rounds):
        for store in STORES:
            out = subprocess.run(
                [sys.executable, os.path.abspath(__file__), "--child", store, "--seeds",
                 str(args.seeds), "--results", str(args.results)],
                check=True, capture_output=True, text=True).stdout
            report = json.loads(out.strip().splitlines()[-1])
            runs[store].append(report["cpu_us_per_result"])
            print("round %d: %-6s %7.1f CPU µs per result (%d known URLs at the end)"
                  % (round_ + 1, store, report["cpu_us_per_result"], report["known"]),
                  flush=True)
    medians = {store: statistics.median(values) for store, values in runs.items()}
    print("median: memory %.1f, sqlite %.1f CPU µs per result; the SQLite store's share at "
          "least %.1f (%.0f %%)" % (medians["memory"], medians["sqlite"],
                                    medians["sqlite"] - medians["memory"],
                                    100.0 * (1 - medians["memory"] / medians["sqlite"])))
    procstats.write_report({"runs": runs, "medians": medians, "seeds": args.seeds,
                            "results": args.results}, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
