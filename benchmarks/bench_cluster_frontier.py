"""The Redis store's costs: results per master CPU-second from 1 to N masters, Redis CPU per
result, and the cluster's memory per known URL.

``scale`` (default): for 1, 2, ... ``--masters`` masters at once, each a process running a
real ``MultipleHostFrontier`` on one Redis Cluster crawl (its own ``FRONTIER_MASTER_NAME``,
the JSONL sink, politeness delays 0, ``FRONTIER_HOST_CONCURRENCY`` 8) fed by instant fake
results: every dispatched URL answered at once with status 200 and ``--links`` links
(default 30, a third already known).  What the ZeroMQ master adds per result is the same
with either store and is left out: this measures the frontier and the store.  Reported per
step: results/s over all masters, results per master CPU-second (each process's own CPU,
so a shared machine's contention does not count), the Redis nodes' CPU milliseconds per
result (``INFO cpu``).

``wait``: the cost of ``FRONTIER_REDIS_WAIT_REPLICAS`` (WAIT for a replica after takes,
renewals and commits): ``--rounds`` rounds of one ``scale`` step at ``--masters`` masters
with WAIT (1) and without (0), alternating in one window on one cluster; reported per run
and as the median ratio with / without.

``memory``: ``--urls`` (10^6) URLs of ~55 characters over ``--hosts`` hosts are admitted
(scheduled rows), then recorded as finished for good; the primaries' ``used_memory``
growth per URL is reported for both states.

    python benchmarks/bench_cluster_frontier.py --masters 3 --seconds 20
    python benchmarks/bench_cluster_frontier.py memory --urls 1000000
    python benchmarks/bench_cluster_frontier.py wait --masters 1 --seconds 10 --rounds 3
"""
import argparse
import json
import multiprocessing
import os
import queue
import random
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
sys.path.insert(0, os.path.dirname(HERE))

import rediscluster  # noqa: E402


def redis_info(cluster):
    cpu, memory = 0.0, 0
    for port in cluster.ports:
        if not cluster.alive(port):
            continue
        fields = dict(line.split(":", 1) for line in cluster.cli(port, "INFO").splitlines()
                      if ":" in line)
        cpu += float(fields.get("used_cpu_user", 0)) + float(fields.get("used_cpu_sys", 0))
        if fields.get("role") == "master":
            memory += int(fields.get("used_memory", 0))
    return cpu, memory


def _settings(url, name, work, wait=None):
    from spyder.core.settings import Settings
    s = Settings()
    if wait is not None:
        s.FRONTIER_REDIS_WAIT_REPLICAS = wait
    s.FRONTIER_STORE = url
    s.FRONTIER_MASTER_NAME = name
    s.FRONTIER_STATE_FILE = os.path.join(work, (name if url != "sqlite" else "shared") + ".db")
    s.FRONTIER_MIN_DELAY = 0.0
    s.FRONTIER_CRAWL_DELAY_FACTOR = 0.0
    s.FRONTIER_HOST_CONCURRENCY = 8
    s.ROBOTSTXT_OBEY = False
    s.SINKS = ["spyder.sinks.jsonl.JsonLinesSink"]
    s.JSONL_SINK_PATH = os.path.join(work, name + ".jsonl")
    s.PARENT_SOCKET_DIRECTORY = work
    return s


def drive(url, name, work, hosts, links, seconds, start_at, out, wait=None):
    """One master: dispatch and answer at once until ``seconds`` have passed."""
    from spyder.core.crawluri import CrawlUri
    from spyder.core.frontier import MultipleHostFrontier
    rng = random.Random(name)
    frontier = MultipleHostFrontier(_settings(url, name, work, wait))
    while time.time() < start_at:
        time.sleep(0.01)
    known = ["http://h%d.test/" % h for h in range(hosts)]
    made = 0
    results = 0
    cpu0 = time.process_time()
    t0 = time.monotonic()
    next_tick = t0
    while time.monotonic() - t0 < seconds:
        batch = []
        for _ in range(64):
            try:
                batch.append(frontier.get_next())
            except queue.Empty:
                break
        for curi in batch:
            found = []
            for i in range(links):
                if i % 3 == 0:
                    found.append(rng.choice(known))
                else:
                    made += 1
                    found.append("http://h%d.test/%s/p%d.html" % (rng.randrange(hosts), name, made))
            known.extend(found[1::3])
            result = CrawlUri(url=curi.url, effective_url=curi.url,
                              optional_vars=dict(curi.optional_vars), depth=curi.depth,
                              attempt=curi.attempt)
            result.status_code = 200
            result.rep_header = {"Content-Type": "text/html"}
            result.content_body = b""
            result.req_time = 0.001
            result.optional_vars["extracted_urls"] = "\n".join(found)
            frontier.process_successful_crawl(result)
            results += 1
        if time.monotonic() >= next_tick:
            frontier.checkpoint()
            next_tick = time.monotonic() + 0.25
        if not batch:   # as the master: sleep until the frontier says something is due
            due = frontier.next_due()
            wait = 0.5 if due is None else due - time.time()
            time.sleep(min(max(wait, 0.002), 0.5, next_tick - time.monotonic() + 0.25))
    cpu = time.process_time() - cpu0
    wall = time.monotonic() - t0
    frontier.close()
    out.put({"name": name, "results": results, "cpu": cpu, "wall": wall})


def _step(args, cluster, n, work, wait=None):
    """``n`` masters at once on a fresh crawl; returns the step's row."""
    ctx = multiprocessing.get_context("fork")
    url = "%s/scale-%s" % (cluster.url, uuid.uuid4().hex[:8])
    if args.store == "sqlite":
        url = "sqlite"
    seed = _settings(url, "seed", work, wait)
    from spyder.core.crawluri import CrawlUri
    from spyder.core.frontier import MultipleHostFrontier
    f = MultipleHostFrontier(seed)
    for h in range(args.hosts):
        f.add_uri(CrawlUri(url="http://h%d.test/" % h))
    f.close()
    out = ctx.Queue()
    start_at = time.time() + 2.0
    procs = [ctx.Process(target=drive, args=(url, "m%d" % (i + 1), work, args.hosts,
                                             args.links, args.seconds, start_at, out, wait))
             for i in range(n)]
    cpu0, _ = redis_info(cluster)
    for p in procs:
        p.start()
    got = [out.get(timeout=args.seconds + 120) for _ in procs]
    for p in procs:
        p.join(30)
    cpu1, _ = redis_info(cluster)
    results = sum(g["results"] for g in got)
    return {
        "masters": n, "results": results,
        "results_per_s": round(results / max(g["wall"] for g in got), 1),
        "results_per_master_cpu_s": round(results / sum(g["cpu"] for g in got), 1),
        "per_master": [{k: round(v, 2) if isinstance(v, float) else v for k, v in g.items()}
                       for g in got],
        "redis_cpu_ms_per_result": round(1000 * (cpu1 - cpu0) / max(results, 1), 3),
    }


def scale(args, cluster):
    rows = []
    with tempfile.TemporaryDirectory(prefix="spyder-bench-cf-") as work:
        for n in range(1, args.masters + 1):
            if args.store == "sqlite" and n > 1:
                break
            row = _step(args, cluster, n, work)
            rows.append(row)
            print(json.dumps(row), flush=True)
    base = rows[0]["results_per_master_cpu_s"]
    for row in rows:
        row["vs_one_master"] = round(row["results_per_master_cpu_s"] / base, 3)
    return rows


def wait_cost(args, cluster):
    """WAIT on (1) and off (0), alternating run by run (see the module docstring)."""
    runs = []
    with tempfile.TemporaryDirectory(prefix="spyder-bench-cf-") as work:
        for r in range(args.rounds):
            for wait in ((1, 0) if r % 2 == 0 else (0, 1)):
                row = _step(args, cluster, args.masters, work, wait)
                row["wait_replicas"] = wait
                runs.append(row)
                print(json.dumps(row), flush=True)

    def median(values):
        values = sorted(values)
        return values[len(values) // 2] if len(values) % 2 else \
            (values[len(values) // 2 - 1] + values[len(values) // 2]) / 2

    out = {"runs": runs}
    for key in ("results_per_master_cpu_s", "results_per_s", "redis_cpu_ms_per_result"):
        on = median([r[key] for r in runs if r["wait_replicas"] == 1])
        off = median([r[key] for r in runs if r["wait_replicas"] == 0])
        out[key] = {"wait": on, "no_wait": off, "ratio": round(on / off, 3) if off else None}
    return out


def memory(args, cluster):
    from spyder.core.store.protocol import UriRow
    from spyder.core.store.rediscluster import RedisStore
    url = "%s/mem-%s" % (cluster.url, uuid.uuid4().hex[:8])
    store = RedisStore(url, master="mem")
    queues = [store.queue_id("host%d.example.com" % h) for h in range(args.hosts)]
    store.commit({})
    _, before = redis_info(cluster)
    batch = 2000
    t0 = time.monotonic()
    for start in range(0, args.urls, batch):
        rows = []
        for i in range(start, min(args.urls, start + batch)):
            h = i % args.hosts
            rows.append(UriRow("http://host%d.example.com/section%d/page-%07d.html"
                               % (h, i % 10, i), queues[h], next_date=1.0))
        store.admit(rows)
    admitted = time.monotonic() - t0
    _, scheduled = redis_info(cluster)
    rng = list(range(args.urls))
    t0 = time.monotonic()
    for start in range(0, args.urls, 10000):
        for i in rng[start:start + 10000]:
            h = i % args.hosts
            u = "http://host%d.example.com/section%d/page-%07d.html" % (h, i % 10, i)
            store.record(UriRow(u, queues[h], next_date=None, status=200, reason="status"))
        store.commit({})
    recorded = time.monotonic() - t0
    _, finished = redis_info(cluster)
    store.close()
    return {"urls": args.urls, "hosts": args.hosts, "url_chars": len(
                "http://host1.example.com/section1/page-0000001.html"),
            "bytes_per_scheduled_url": round((scheduled - before) / args.urls, 1),
            "bytes_per_finished_url": round((finished - before) / args.urls, 1),
            "admit_urls_per_s": round(args.urls / admitted), "record_urls_per_s":
                round(args.urls / recorded)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", nargs="?", choices=("scale", "memory", "wait"), default="scale")
    parser.add_argument("--rounds", type=int, default=3, help="wait: rounds of on/off runs")
    parser.add_argument("--masters", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--hosts", type=int, default=300)
    parser.add_argument("--links", type=int, default=30)
    parser.add_argument("--urls", type=int, default=1000000)
    parser.add_argument("--store", choices=("redis", "sqlite"), default="redis",
                        help="scale: sqlite runs one master on a state file (the baseline)")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    why = rediscluster.missing()
    if why:
        raise SystemExit(why)
    with rediscluster.RedisCluster() as cluster:
        result = {"scale": scale, "memory": memory, "wait": wait_cost}[args.mode](args, cluster)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
