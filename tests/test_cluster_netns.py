"""A master's link to the Redis Cluster cut for 20 s, with real network namespaces.

The machines (``clusternet.ClusterMachines``): a core namespace with the Redis Cluster
(3 primaries + 3 replicas, ``rediscluster.RedisCluster(netns=...)``) and the demo site
(``PAGES`` pages over ``HOSTS`` hosts, answering after ``LATENCY`` s and logging each
request's start and end), and two master namespaces linked to it by veth pairs, each
running ``spyder crawl --redis ...`` -- a master named ``m1`` / ``m2`` with its worker --
over tcp to the cluster and the site.  Once ``AT`` of the pages are in the masters' JSONL
files, master m1's end of its link is set down for ``CUT`` s (twice its lease) and
restored.

What the design says happens (docs/cluster.md, "Leases"): m1 stops dispatching once half
a lease has passed without a renewal; its leases end at most one lease after its last
renewal, which came before the cut; m2 then takes m1's host queues (logged: "taken over
from master m1") and waits out the politeness time m1 stored.  When the link is back, m1
finds its leases lost with outcomes not committed and stops itself ("must be restarted");
it is started again, as systemd's ``Restart=on-failure`` would, and cuts its JSONL file
back to its last commit.

Judged from the site's own request log and the masters' JSONL files: the crawl is
complete with the right outcome for every URL, each in one JSONL file once; no URL was
fetched twice but on host queues the masters logged as taken over or released, results
they logged as failed, or dispatches whose lease they logged as returned; at
``FRONTIER_HOST_CONCURRENCY=1`` no two requests to one host overlap and every gap
between two is at least ``FRONTIER_MIN_DELAY``; no host, and not the site, went without
a request for longer than ``IDLE_BOUND``.

Needs root, ``ip netns`` and redis-server; skipped with the reason otherwise.  It prints
its figures.
"""
import json
import math
import os
import re
import sys
import time

import pytest

import rediscluster
from clusternet import ClusterMachines, unavailable
from conftest import wait_until
from spyder.demosite import DemoSite

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES, HOSTS, LATENCY = 2000, 6, 0.02
MASTERS = 2
CUT = 20.0
AT = 0.4
LEASE = 10.0
MIN_DELAY = 0.05
BUDGET = 20
#: The longest a host may go without a request, derived from the design: the cut
#: master's leases end at most one lease after its last renewal, which came before the
#: cut (LEASE); the other master sees the queue due in the index within
#: CACHE_SECONDS + POLL_SECONDS (1 s) and takes it as soon as one of its
#: FRONTIER_ACTIVE_QUEUES slots frees, which each of its queues does every
#: FRONTIER_QUEUE_BUDGET results (20 x ~0.1 s: 2 s); then it waits out the stored
#: politeness time (MIN_DELAY) and fetches (LATENCY).  About 13 s; 5 s more for a loaded
#: 2-core machine (a master's loop can be held up by a Redis call timing out).
IDLE_BOUND = LEASE + 1.0 + BUDGET * 0.1 + 5.0
SETTINGS = dict(FRONTIER_MIN_DELAY=MIN_DELAY, FRONTIER_CRAWL_DELAY_FACTOR=0.0,
                FRONTIER_HOST_CONCURRENCY=1, FRONTIER_QUEUE_LEASE=LEASE,
                FRONTIER_ACTIVE_QUEUES=math.ceil(HOSTS / MASTERS), FRONTIER_QUEUE_BUDGET=BUDGET,
                # a fetch must end well within half a lease: a request written on a link that is
                # down is aborted (RST) before the link comes back, never delivered late
                REQUEST_TIMEOUT=3.0, RETRY_BACKOFF=2.0, MASTER_HTTP_ADDRESS="127.0.0.1:0")


@pytest.fixture
def machines():
    why = unavailable() or rediscluster.missing()
    if why:
        pytest.skip(why)
    with ClusterMachines(MASTERS) as made:
        yield made


class ClusterCrawl:
    """The cluster, the site and the masters in ``machines`` (see the module docstring)."""

    def __init__(self, machines, tmp_path):
        self.machines, self.tmp = machines, tmp_path
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [REPO] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
        env.pop("SPYDER_SETTINGS", None)
        env.pop("NOTIFY_SOCKET", None)
        self.env = env
        self.cluster = rediscluster.RedisCluster(primaries=3, replicas=1, node_timeout_ms=5000,
                                                 bind=machines.core_address,
                                                 netns=machines.core)
        self.requests_log = str(tmp_path / "requests.jsonl")
        self.names = ["m%d" % (i + 1) for i in range(MASTERS)]
        self.procs = {}
        self.restarts = []
        self.marks = {}

    def start_site(self):
        out = str(self.tmp / "site.out")
        self.machines.start(self.machines.core, [
            sys.executable, "-m", "spyder.demosite", "--pages", str(PAGES), "--hosts",
            str(HOSTS), "--bind", self.machines.core_address, "--latency", str(LATENCY),
            "--log", self.requests_log], out, self.env, str(self.tmp))

        def seeds():
            with open(out, errors="replace") as f:
                found = [line.strip() for line in f if line.startswith("http://")]
            return found if len(found) == HOSTS else None
        self.seeds = wait_until(seeds, 30, message="the site's seed URLs")

    def argv(self, name):
        work = self.tmp / name
        work.mkdir(exist_ok=True)
        settings = dict(SETTINGS, FRONTIER_MASTER_NAME=name,
                        SINKS=["spyder.sinks.jsonl.JsonLinesSink"],
                        JSONL_SINK_PATH=str(work / "crawl.jsonl"), LOG_DIR=str(work / "log"))
        argv = [sys.executable, "-m", "spyder", "crawl", "--redis", self.url, "--workers", "1",
                "--state", str(work / "state.db")]
        for key, value in settings.items():
            argv += ["-s", "%s=%r" % (key, value)]
        return argv + self.seeds

    def start_master(self, name):
        i = self.names.index(name)
        self.procs[name] = self.machines.start(self.machines.masters[i], self.argv(name),
                                               str(self.tmp / ("%s.out" % name)), self.env,
                                               str(self.tmp / name))

    def master_log(self, name):
        try:
            with open(str(self.tmp / name / "log" / "master.log"), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def results(self):
        total = 0
        for name in self.names:
            try:
                with open(str(self.tmp / name / "crawl.jsonl"), "rb") as f:
                    total += sum(1 for _ in f)
            except FileNotFoundError:
                pass
        return total

    def spans(self):
        with open(self.requests_log) as f:
            return [json.loads(line) for line in f if line.strip()]

    def run(self, fault, timeout=240):
        self.cluster.start()
        self.url = self.cluster.url + "/cut"
        self.start_site()
        self.expected = {"http://%s%s" % (self.seeds[h].split("/")[2], target): outcome
                         for (h, target), outcome in DemoSite(PAGES, HOSTS, 1).expected().items()}
        started = time.time()
        for name in self.names:
            self.start_master(name)
        fault_done = False
        deadline = time.monotonic() + timeout
        while True:
            if not fault_done and self.results() >= AT * len(self.expected):
                fault_done = True
                fault(self)
            for name, proc in self.procs.items():
                log = self.master_log(name)
                asked = max(log.rfind("must be restarted"), log.rfind("restart this master"))
                if (proc.poll() is not None and asked > self.marks.get(name, -1)
                        and len(self.restarts) < 4):
                    self.marks[name] = asked
                    self.restarts.append((round(time.time() - started, 1), name))
                    self.start_master(name)
            if all(p.poll() is not None for p in self.procs.values()):
                break
            if time.monotonic() > deadline:
                pytest.fail("the crawl did not end within %d s (restarts %s); m1: %s"
                            % (timeout, self.restarts, self.master_log("m1")[-2000:]))
            time.sleep(0.2)
        self.crawl_time = time.time() - started
        for name, proc in self.procs.items():
            assert proc.returncode == 0, (name, open(str(self.tmp / ("%s.out" % name)),
                                                     errors="replace").read()[-3000:])
        assert fault_done, "the crawl ended before the fault"
        return self.judge()

    def judge(self):
        spans = self.spans()
        fetched = {}
        for span in spans:
            url = "http://%s%s" % (span["host"], span["path"])
            fetched[url] = fetched.get(url, 0) + 1
        robots = {seed + "robots.txt" for seed in self.seeds}
        assert set(fetched) == set(self.expected) | robots, (
            "missing %s, unexpected %s" % (sorted(set(self.expected) - set(fetched))[:5],
                                           sorted(set(fetched) - set(self.expected) - robots)[:5]))
        # every final outcome once across the masters' JSONL files, and the right one
        records = []
        by_master = {}
        for name in self.names:
            with open(str(self.tmp / name / "crawl.jsonl")) as f:
                mine = [json.loads(line) for line in f if line.strip()]
            by_master[name] = len(mine)
            records += mine
        urls = [r["url"] for r in records]
        assert sorted(urls) == sorted(self.expected), "one JSONL record per URL"
        assert {r["url"]: r["outcome"] for r in records} == self.expected
        # fetched twice only where a master logged why
        logs = "".join(self.master_log(name) for name in self.names)
        returned_hosts = set(re.findall(r"host queue (\S+) (?:taken over from master|released: "
                                        r"this master's last run held it)", logs))
        failed = set(re.findall(r"handling (\S+) \(status \S+\) failed", logs))
        returned = set(re.findall(r"lease on (\S+) (?:expired|returned)", logs))
        twice = {u for u, n in fetched.items() if n > 1 and not u.endswith("/robots.txt")}
        unexplained = {u for u in twice if u.split("/")[2] not in returned_hosts
                       and u not in failed and u not in returned}
        # one request per host at a time, MIN_DELAY apart
        by_host = {}
        for span in spans:
            by_host.setdefault(span["host"], []).append((span["start"], span["end"]))
        overlaps, short, host_idle = 0, 0, 0.0
        smallest = None
        for host, reqs in by_host.items():
            reqs.sort()
            for (s1, e1), (s2, e2) in zip(reqs, reqs[1:]):
                gap = s2 - e1
                overlaps += gap < 0
                short += 0 <= gap < MIN_DELAY - 0.001
                smallest = gap if smallest is None else min(smallest, gap)
                host_idle = max(host_idle, gap)
        ends = sorted(span["end"] for span in spans)
        site_idle = max(b - a for a, b in zip(ends, ends[1:]))
        self.figures = dict(
            urls=len(fetched), results=len(records), crawl_time=round(self.crawl_time, 1),
            fetched_twice=len(twice), unexplained=len(unexplained),
            hosts_taken_over_or_released=len(returned_hosts), failed_results=len(failed),
            returned_leases=len(returned), overlaps=overlaps, short_gaps=short,
            smallest_gap=round(smallest, 4), longest_site_idle=round(site_idle, 2),
            longest_host_idle=round(host_idle, 2), restarts=self.restarts, by_master=by_master)
        print("\ncluster cut crawl: %s" % json.dumps(self.figures))
        assert unexplained == set(), sorted(unexplained)[:10]
        assert overlaps == 0 and short == 0
        assert site_idle < IDLE_BOUND and host_idle < IDLE_BOUND
        return self.figures


@pytest.mark.timeout(420)
def test_a_masters_link_to_the_cluster_cut_for_20_s(machines, tmp_path):
    crawl = ClusterCrawl(machines, tmp_path)

    def cut(crawl):
        machines.link(0, up=False)
        crawl.cut_at = time.time()
        try:
            wait_until(lambda: time.time() - crawl.cut_at >= CUT, CUT + 5, interval=0.2,
                       message="the cut's %d s" % CUT)
            crawl.served_while_cut = [s for s in crawl.spans()
                                      if crawl.cut_at + LEASE + 5 < s["start"]]
        finally:
            machines.link(0, up=True)

    try:
        figures = crawl.run(cut)
    finally:
        crawl.cluster.stop()
    assert crawl.served_while_cut, "the crawl stalled while m1 was cut off"
    assert "taken over from master m1" in crawl.master_log("m2")
    assert figures["results"] == len(crawl.expected)
