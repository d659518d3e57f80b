"""Several machines for real: Linux network namespaces, tcp with CurveZMQ, a link cut.

A "hub" namespace holds the master and the demo site (answering after 100 ms and
logging each request's start and end); two worker namespaces hang off a bridge in
the hub over veth pairs, on 10.231.<n>.0/24.  Everything the test creates lives in
namespaces it creates (never the host's interfaces or routes), with names unique to
the run, and is removed in every case.  The faults (issue 17): one worker's link cut for
20 s (``ip link set DEV down``) and restored; one worker SIGSTOPped four seconds in (15 s
here, 90 s in ``benchmarks/bench_faults.py``); one worker SIGKILLed while its link is
down.  Each crawl must complete with every URL fetched (nothing lost) and recorded once,
nothing fetched twice but URLs whose lease the master logged as returned (expired,
returned from a dead worker, returned unclaimed), no two requests to one host
overlapping at ``FRONTIER_HOST_CONCURRENCY=1``, and no stretch longer than 10 s with
nothing served while the other worker is healthy.

Needs root and ``ip netns`` (CI has both); skipped with the reason otherwise.  It
prints its figures: crawl time, longest stretch with nothing served, overlaps,
repeats and URLs stranded on the cut-off worker.
"""
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import wait_until
from spyder.core.wire.sockets import create_keys
from spyder.demosite import DemoSite
from test_channel import overlaps
from test_e2e import _assert_complete

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CUT = 20.0
STOP = 15.0
PAGES, HOSTS, LATENCY = 450, 3, 0.1
SETTINGS = dict(FRONTIER_HOST_CONCURRENCY=1, FRONTIER_MIN_DELAY=0.0,
                FRONTIER_CRAWL_DELAY_FACTOR=0.0, REQUEST_TIMEOUT=2.0, LEASE_TIMEOUT=8.0,
                RETRY_BACKOFF=0.5, MAX_CLIENTS=4, WORKER_HEARTBEAT_INTERVAL=0.5,
                WORKER_HEARTBEAT_TIMEOUT=3.0, ZEROMQ_HEARTBEAT_IVL=0.5,
                ZEROMQ_HEARTBEAT_TIMEOUT=2.0, MASTER_HELLO_INTERVAL=0.5,
                FRONTIER_CHECKPOINT_SECONDS=0.5, SHUTDOWN_TIMEOUT=2.0, CRAWL_EXIT_WHEN_DONE=True)


def _ip(*args):
    return subprocess.run(["ip"] + list(args), capture_output=True, text=True, timeout=20)


def _unavailable():
    if not sys.platform.startswith("linux"):
        return "network namespaces are Linux only"
    if os.geteuid() != 0:
        return "network namespaces need root (CI runs this as root)"
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is not installed"
    probe = "sp%dprobe" % os.getpid()
    made = _ip("netns", "add", probe)
    if made.returncode != 0:
        return "ip netns add failed: %s" % made.stderr.strip()
    _ip("netns", "del", probe)
    return None


class Machines:
    """The hub and worker namespaces on one bridge (see the module docstring)."""

    def __init__(self, workers):
        tag = "%x%x" % (os.getpid() & 0xfff, random.randrange(0x1000))
        self.subnet = "10.231.%d" % random.randrange(1, 255)
        self.hub = "sp%shub" % tag
        self.workers = ["sp%sw%d" % (tag, i) for i in range(workers)]
        self.links = ["vw%d%s" % (i, tag) for i in range(workers)]   # worker-side veth ends
        self.procs = []
        self.made = []

    @property
    def hub_address(self):
        return self.subnet + ".1"

    def _run(self, *args):
        done = _ip(*args)
        if done.returncode != 0:
            raise RuntimeError("ip %s: %s" % (" ".join(args), done.stderr.strip()))

    def build(self):
        for ns in [self.hub] + self.workers:
            self._run("netns", "add", ns)
            self.made.append(ns)
            self._run("-n", ns, "link", "set", "lo", "up")
        self._run("-n", self.hub, "link", "add", "br0", "type", "bridge")
        self._run("-n", self.hub, "addr", "add", self.hub_address + "/24", "dev", "br0")
        self._run("-n", self.hub, "link", "set", "br0", "up")
        for i, (ns, link) in enumerate(zip(self.workers, self.links)):
            hub_end = "vh%d" % i
            self._run("-n", self.hub, "link", "add", hub_end, "type", "veth",
                      "peer", "name", link, "netns", ns)
            self._run("-n", self.hub, "link", "set", hub_end, "master", "br0", "up")
            self._run("-n", ns, "addr", "add", "%s.%d/24" % (self.subnet, i + 2), "dev", link)
            self._run("-n", ns, "link", "set", link, "up")
        return self

    def start(self, ns, argv, log_path, env, cwd):
        """Run ``argv`` in namespace ``ns`` from ``cwd``: never the repository, whose
        example ``settings.py`` every spyder command would read (its scope drops PDFs)."""
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(["ip", "netns", "exec", ns] + argv, env=env, cwd=cwd,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=log)
        self.procs.append(proc)
        return proc

    def link(self, worker, up):
        self._run("-n", self.workers[worker], "link", "set", self.links[worker],
                  "up" if up else "down")

    def tear_down(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
        for ns in self.made:
            _ip("netns", "del", ns)  # its veth ends and the bridge go with it


@pytest.fixture
def machines():
    reason = _unavailable()
    if reason:
        pytest.skip(reason)
    made = Machines(workers=2)
    try:
        yield made.build()
    finally:
        made.tear_down()


def _spans(path):
    with open(path) as log:
        return [json.loads(line) for line in log if line.strip()]


class NamespaceCrawl:
    """A crawl across the namespaces: the demo site and ``spyder master`` in the hub, one
    ``spyder worker`` per worker namespace, tcp with CurveZMQ; ``run(fault)`` calls
    ``fault(self)`` once the crawl is under way and then judges it from the site's log."""

    def __init__(self, machines, tmp_path, pages=PAGES, hosts=HOSTS, **overrides):
        self.machines, self.tmp_path = machines, tmp_path
        self.pages, self.hosts = pages, hosts
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [REPO] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
        env.pop("SPYDER_SETTINGS", None)
        env.pop("NOTIFY_SOCKET", None)
        self.env = env
        self.requests_log = str(tmp_path / "requests.jsonl")
        site = machines.start(machines.hub, [
            sys.executable, "-m", "spyder.demosite", "--pages", str(pages), "--hosts",
            str(hosts), "--bind", machines.hub_address, "--latency", str(LATENCY), "--log",
            self.requests_log], str(tmp_path / "site.err"), env, str(tmp_path))
        self.seeds = [site.stdout.readline().decode().strip() for _ in range(hosts)]
        assert all(seed.startswith("http://" + machines.hub_address) for seed in self.seeds)
        keys = str(tmp_path / "keys")
        create_keys(keys)
        ports = iter(range(20000 + random.randrange(20000), 65000))
        settings = dict(SETTINGS, ZEROMQ_CURVE_KEYS_DIR=keys,
                        FRONTIER_STATE_FILE=str(tmp_path / "state.db"),
                        SINKS=["spyder.sinks.jsonl.JsonLinesSink"],
                        JSONL_SINK_PATH=str(tmp_path / "crawl.jsonl"),
                        PARENT_SOCKET_DIRECTORY=str(tmp_path / "sockets"), SEED_URLS=self.seeds)
        settings.update(overrides)
        self.settings = settings
        for name in ("ZEROMQ_MASTER_PUSH", "ZEROMQ_MASTER_SUB", "ZEROMQ_MGMT_MASTER",
                     "ZEROMQ_MGMT_WORKER", "ZEROMQ_LOGGING"):
            settings[name] = "tcp://%s:%d" % (machines.hub_address, next(ports))
        self.args = []
        for name, value in settings.items():
            self.args += ["-s", "%s=%r" % (name, value)]
        self.workers = []

    def spans(self):
        return _spans(self.requests_log)

    def run(self, fault, wait=120):
        machines, tmp_path = self.machines, self.tmp_path
        started = time.time()
        master = machines.start(machines.hub, [sys.executable, "-m", "spyder", "master"]
                                + self.args, str(tmp_path / "master.log"), self.env,
                                str(tmp_path))
        for i, ns in enumerate(machines.workers):
            self.workers.append(machines.start(
                ns, [sys.executable, "-m", "spyder", "worker"] + self.args,
                str(tmp_path / ("worker%d.log" % i)), self.env, str(tmp_path)))
        wait_until(lambda: len(self.spans()) >= 1, 60, message="the first request")
        self.first = min(s["start"] for s in self.spans())
        fault(self)
        try:
            status = master.wait(wait)
        except subprocess.TimeoutExpired:
            pytest.fail("the master did not finish the crawl within %d s" % wait)
        self.crawl_time = time.time() - started
        with open(str(tmp_path / "master.log"), errors="replace") as log:
            self.master_log = log.read()
        assert status == 0, self.master_log[-3000:]
        return self.judge()

    def judge(self):
        """The issue's checks, from the site's own log: everything fetched, no overlap at
        concurrency 1, no repeat but of URLs whose lease the master logged as returned,
        every JSONL record once.  Returns the figures."""
        spans = self.spans()
        site_obj = DemoSite(self.pages, self.hosts, 1)
        fetched = {}
        for span in spans:
            url = "http://%s%s" % (span["host"], span["path"])
            fetched[url] = fetched.get(url, 0) + 1
        hub, seeds = self.machines.hub_address, self.seeds

        class _Served:  # what _assert_complete and overlaps read
            def expected_urls(self):
                return {"http://%s:%d%s" % (hub, port, target)
                        for (host, target), port in _targets(site_obj, seeds)}

            def robots_urls(self):
                return {seed + "robots.txt" for seed in seeds}

        served = _Served()
        served.spans = [(s["host"], s["path"], s["start"], s["end"]) for s in spans]
        _assert_complete(served, fetched)
        found = overlaps(served)
        returned = set(re.findall(r"lease on (\S+) (?:expired|returned)", self.master_log))
        repeats = {u for u, n in fetched.items() if n > 1}
        starts = sorted(s["start"] for s in spans)
        figures = dict(
            urls=len(fetched), crawl_time=self.crawl_time, overlaps=len(found),
            repeats=len(repeats), returned=len(returned),
            longest_idle=max(b - a for a, b in zip(starts, starts[1:])),
            unclaimed_returned=len(re.findall(r"returned unclaimed", self.master_log)),
            stranded=sum(int(n) for n in re.findall(r"dispatching the (\d+) URL\(s\) it held",
                                                    self.master_log)))
        print("\nnamespace crawl: %(urls)d URLs in %(crawl_time).1f s; longest stretch with "
              "nothing served %(longest_idle).1f s; overlaps %(overlaps)d; repeats %(repeats)d "
              "(returned leases %(returned)d, of which unclaimed %(unclaimed_returned)d); "
              "claimed URLs returned from dead workers %(stranded)d" % figures)
        assert found == []
        assert repeats <= returned, "only URLs whose lease the master returned were repeated"
        with open(str(self.tmp_path / "crawl.jsonl")) as lines:
            urls = [json.loads(line)["url"] for line in lines if line.strip()]
        assert sorted(urls) == sorted(served.expected_urls()), "one JSONL record per URL"
        return figures


#: The issue's bound: no stretch longer than this with nothing served while a healthy
#: worker exists.  What a fault holds up is what the faulty worker claimed (back when it
#: is declared dead, WORKER_HEARTBEAT_TIMEOUT = 3 s here) and what was dealt into its pipe
#: unclaimed (back DISPATCH_CLAIM_TIMEOUT + 1 s = 4 s after its dispatch); 10 s leaves
#: the rest for a loaded CI machine.
IDLE_BOUND = 10.0


@pytest.mark.timeout(150)
def test_two_machines_of_workers_one_cut_off_for_20_s(machines, tmp_path):
    crawl = NamespaceCrawl(machines, tmp_path)

    def cut(crawl):
        wait_until(lambda: len(crawl.spans()) >= 60, 60, message="60 requests served")
        machines.link(0, up=False)
        cut_at = time.time()
        try:
            wait_until(lambda: time.time() - cut_at >= CUT, CUT + 5, interval=0.2,
                       message="the cut's %d s" % CUT)
            crawl.served_while_cut = [s for s in crawl.spans() if s["start"] > cut_at + 5.0]
        finally:
            machines.link(0, up=True)

    figures = crawl.run(cut)
    assert crawl.served_while_cut, "the crawl stalled while a worker was cut off"
    assert figures["longest_idle"] < IDLE_BOUND


@pytest.mark.timeout(170)
def test_one_worker_stopped_four_seconds_in(machines, tmp_path):
    """The issue's scenario, with the stop shortened from 90 s to 15 s for CI (still well
    past every timeout involved; ``benchmarks/bench_faults.py netns-stop`` runs 90 s)."""
    crawl = NamespaceCrawl(machines, tmp_path, pages=1000, hosts=10)

    def stop(crawl):
        wait_until(lambda: time.time() - crawl.first >= 4.0, 10, interval=0.05,
                   message="four seconds in")
        victim = crawl.workers[0]
        os.kill(victim.pid, signal.SIGSTOP)
        stopped_at = time.time()
        try:
            wait_until(lambda: time.time() - stopped_at >= STOP, STOP + 5, interval=0.2,
                       message="the stop's %d s" % STOP)
        finally:
            os.kill(victim.pid, signal.SIGCONT)
        crawl.woken_at = time.time()

    figures = crawl.run(stop)
    assert figures["longest_idle"] < IDLE_BOUND
    # woken after the master dropped it: it must neither have aborted (libzmq) nor left
    assert crawl.workers[0].poll() is None or crawl.workers[0].returncode == 0, \
        open(str(tmp_path / "worker0.log"), errors="replace").read()[-3000:]
    with open(str(tmp_path / "worker0.log"), errors="replace") as log:
        assert "Assertion failed" not in log.read()


@pytest.mark.timeout(150)
def test_a_worker_killed_while_its_link_is_down(machines, tmp_path):
    crawl = NamespaceCrawl(machines, tmp_path, pages=1000, hosts=10)

    def cut_and_kill(crawl):
        wait_until(lambda: len(crawl.spans()) >= 60, 60, message="60 requests served")
        machines.link(0, up=False)
        cut_at = time.time()
        try:
            wait_until(lambda: time.time() - cut_at >= 2.0, 5, interval=0.1,
                       message="the link down for 2 s")
            crawl.workers[0].kill()
            crawl.workers[0].wait(10)
            wait_until(lambda: time.time() - cut_at >= 10.0, 15, interval=0.2,
                       message="the link down for 10 s")
        finally:
            machines.link(0, up=True)

    figures = crawl.run(cut_and_kill)
    assert figures["longest_idle"] < IDLE_BOUND


def _targets(site, seeds):
    """``((host, target), port)`` of every URL a correct crawl fetches."""
    ports = [int(seed.rsplit(":", 1)[1].strip("/")) for seed in seeds]
    return [((host, target), ports[host]) for host, target in site.expected()]
