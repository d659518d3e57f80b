"""Frontier throughput and memory on one core, at a given number of known URLs.

For each size N (default 10^5 and 10^6) a fresh child process:

1. prefills a state file with N known URLs spread over ``--hosts`` hosts (bulk
   inserts through the store, so the benchmark stays short);
2. opens a ``MultipleHostFrontier`` on it (politeness off, robots.txt off) and
   measures **link insertion**: ``--link-results`` cycles of ``get_next`` plus a
   2xx result carrying 30 links, 30 % of them already known, 70 % new;
3. measures **results**: ``--results`` cycles of ``get_next`` plus a 2xx result
   without links;
4. reports the rates, the process's peak RSS and the state file size.

The link rate counts the whole cycle (dispatch, result bookkeeping, links), so it
is a lower bound of pure insertion speed.  Rates are given per second of wall-clock
time and per second of the process's CPU time (user + system): on a busy machine
the first drops, the second measures what one core does.  Run from the repository
root:

    python benchmarks/bench_frontier.py                      # 10^5 and 10^6
    python benchmarks/bench_frontier.py --sizes 10000 50000  # quicker
"""
import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time

LINKS_PER_RESULT = 30
KNOWN_SHARE = 0.3


def url(i, hosts):
    """The ``i``-th URL of the benchmark's synthetic web (host ``i % hosts``)."""
    return "http://host%d.example.com/section/%d/page-%d.html" % (i % hosts, i % 97, i)


def prefill(path, size, hosts):
    """A state file at ``path`` that knows ``url(0 .. size-1)``, all due, in scope.

    Bulk inserts through the store (not one result at a time), so that 10^6 URLs
    take seconds; the counters are set as the frontier would have them.
    """
    from spyder.core.frontier.frontiers import MultipleHostFrontier
    from spyder.core.store.protocol import UriRow
    from spyder.core.store.sqlite import SQLiteMultipleHostUriQueue

    settings = _settings(path)
    MultipleHostFrontier(settings).close()  # schema and metadata
    store = SQLiteMultipleHostUriQueue(path)
    queues = [store.queue_id("host%d.example.com" % h) for h in range(hosts)]
    batch = 50000
    for start in range(0, size, batch):
        store.add_uris(UriRow(url(i, hosts), queues[i % hosts], next_date=1.0, depth=1)
                       for i in range(start, min(size, start + batch)))
        store.commit({})
    for host in range(hosts):
        store.add_scope_host("host%d.example.com" % host)
    store.repair_queue_due()
    store.commit({"counters": {"known": size, "accepted": size, "pending": size,
                               "open": size}})
    store.close()


def _settings(path):
    from spyder.core.settings import Settings
    settings = Settings()
    settings.FRONTIER_STATE_FILE = path
    settings.FRONTIER_MIN_DELAY = 0.0
    settings.FRONTIER_CRAWL_DELAY_FACTOR = 0.0
    settings.ROBOTSTXT_OBEY = False
    return settings


def _rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _cycle(frontier, links):
    curi = frontier.get_next()
    curi.status_code = 200
    curi.req_time = 0.05
    curi.rep_header = {"Content-Type": "text/html", "Etag": '"x"'}
    curi.content_body = b"<html></html>"
    if links:
        curi.optional_vars["extracted_urls"] = "\n".join(links)
    frontier.process_successful_crawl(curi)


def run_size(size, hosts, link_results, results):
    """Measure one size in this process; returns a dict of numbers."""
    from spyder.core.frontier.frontiers import MultipleHostFrontier

    directory = tempfile.mkdtemp(prefix="spyder-bench-")
    path = os.path.join(directory, "state.db")
    started = time.perf_counter()
    prefill(path, size, hosts)
    prefill_s = time.perf_counter() - started
    rss_after_prefill = _rss_mb()

    frontier = MultipleHostFrontier(_settings(path))

    rng = random.Random(1)
    known = int(LINKS_PER_RESULT * KNOWN_SHARE)
    batches = []
    next_new = size
    for _ in range(link_results):
        links = [url(rng.randrange(size), hosts) for _ in range(known)]
        links += [url(next_new + k, hosts) for k in range(LINKS_PER_RESULT - known)]
        next_new += LINKS_PER_RESULT - known
        batches.append(links)
    started, cpu_started = time.perf_counter(), time.process_time()
    for links in batches:
        _cycle(frontier, links)
    links_s = time.perf_counter() - started
    links_cpu = time.process_time() - cpu_started

    started, cpu_started = time.perf_counter(), time.process_time()
    for _ in range(results):
        _cycle(frontier, None)
    results_s = time.perf_counter() - started
    results_cpu = time.process_time() - cpu_started
    stats = frontier.stats()
    frontier.close()
    report = {
        "size": size, "hosts": hosts, "known_after": stats["known"],
        "prefill_s": prefill_s,
        "links_per_s": link_results * LINKS_PER_RESULT / links_s,
        "links_per_cpu_s": link_results * LINKS_PER_RESULT / links_cpu,
        "results_per_s": results / results_s,
        "results_per_cpu_s": results / results_cpu,
        "rss_after_prefill_mb": rss_after_prefill, "peak_rss_mb": _rss_mb(),
        "state_file_mb": sum(os.path.getsize(os.path.join(directory, name))
                             for name in os.listdir(directory)) / 2 ** 20,
    }
    for name in os.listdir(directory):
        os.unlink(os.path.join(directory, name))
    os.rmdir(directory)
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100000, 1000000])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--link-results", type=int, default=2000,
                        help="results with 30 links each (default 2000 = 60000 links)")
    parser.add_argument("--results", type=int, default=20000,
                        help="results without links (default 20000)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_size(args.sizes[0], args.hosts, args.link_results, args.results)))
        return 0
    reports = []
    for size in args.sizes:
        out = subprocess.run([sys.executable, __file__, "--child", "--sizes", str(size),
                              "--hosts", str(args.hosts), "--link-results",
                              str(args.link_results), "--results", str(args.results)],
                             check=True, stdout=subprocess.PIPE, text=True).stdout
        reports.append(json.loads(out))
    print("%10s %7s %10s %10s %11s %11s %12s %15s %8s" % (
        "known", "hosts", "links/s", "links/cpu", "results/s", "results/cpu", "peak RSS MB",
        "RSS prefill MB", "file MB"))
    for r in reports:
        print("%10d %7d %10.0f %10.0f %11.0f %11.0f %12.1f %15.1f %8.1f" % (
            r["size"], r["hosts"], r["links_per_s"], r["links_per_cpu_s"], r["results_per_s"],
            r["results_per_cpu_s"], r["peak_rss_mb"], r["rss_after_prefill_mb"],
            r["state_file_mb"]))
    if len(reports) > 1:
        print("peak RSS growth from %d to %d known URLs: %.1f MB" % (
            reports[0]["size"], reports[-1]["size"],
            reports[-1]["peak_rss_mb"] - reports[0]["peak_rss_mb"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
