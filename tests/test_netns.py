"""Several machines for real: Linux network namespaces, tcp with CurveZMQ, a link cut.

A "hub" namespace holds the master and the demo site (answering after 100 ms and
logging each request's start and end); two worker namespaces hang off a bridge in
the hub over veth pairs, on 10.231.<n>.0/24.  Everything the test creates lives in
namespaces it creates (never the host's interfaces or routes), with names unique to
the run, and is removed in every case.  One worker's link is cut for 20 s
(``ip link set DEV down``) and restored; the crawl must complete with every URL fetched
(nothing lost), nothing fetched twice but URLs whose lease was returned or expired, and
no two requests to one host overlapping at ``FRONTIER_HOST_CONCURRENCY=1``.

Needs root and ``ip netns`` (CI has both); skipped with the reason otherwise.  It
prints its figures: crawl time, longest stretch with nothing served, overlaps,
repeats and URLs stranded on the cut-off worker.
"""
import json
import os
import random
import re
import shutil
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


@pytest.mark.timeout(150)
def test_two_machines_of_workers_one_cut_off_for_20_s(machines, tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [REPO] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    env.pop("SPYDER_SETTINGS", None)
    env.pop("NOTIFY_SOCKET", None)
    requests_log = str(tmp_path / "requests.jsonl")
    site = machines.start(machines.hub, [
        sys.executable, "-m", "spyder.demosite", "--pages", str(PAGES), "--hosts", str(HOSTS),
        "--bind", machines.hub_address, "--latency", str(LATENCY), "--log", requests_log],
        str(tmp_path / "site.err"), env, str(tmp_path))
    seeds = [site.stdout.readline().decode().strip() for _ in range(HOSTS)]
    assert all(seed.startswith("http://" + machines.hub_address) for seed in seeds), seeds

    keys = str(tmp_path / "keys")
    create_keys(keys)
    ports = iter(range(20000 + random.randrange(20000), 65000))
    settings = dict(SETTINGS, ZEROMQ_CURVE_KEYS_DIR=keys,
                    FRONTIER_STATE_FILE=str(tmp_path / "state.db"),
                    SINKS=["spyder.sinks.jsonl.JsonLinesSink"],
                    JSONL_SINK_PATH=str(tmp_path / "crawl.jsonl"),
                    PARENT_SOCKET_DIRECTORY=str(tmp_path / "sockets"), SEED_URLS=seeds)
    for name in ("ZEROMQ_MASTER_PUSH", "ZEROMQ_MASTER_SUB", "ZEROMQ_MGMT_MASTER",
                 "ZEROMQ_MGMT_WORKER", "ZEROMQ_LOGGING"):
        settings[name] = "tcp://%s:%d" % (machines.hub_address, next(ports))
    args = []
    for name, value in settings.items():
        args += ["-s", "%s=%r" % (name, value)]
    started = time.time()
    master = machines.start(machines.hub, [sys.executable, "-m", "spyder", "master"] + args,
                            str(tmp_path / "master.log"), env, str(tmp_path))
    for i, ns in enumerate(machines.workers):
        machines.start(ns, [sys.executable, "-m", "spyder", "worker"] + args,
                       str(tmp_path / ("worker%d.log" % i)), env, str(tmp_path))

    wait_until(lambda: len(_spans(requests_log)) >= 60, 60, message="60 requests served")
    machines.link(0, up=False)
    cut_at = time.time()
    try:
        wait_until(lambda: time.time() - cut_at >= CUT, CUT + 5, interval=0.2,
                   message="the cut's %d s" % CUT)
        served_while_cut = [s for s in _spans(requests_log) if s["start"] > cut_at + 5.0]
    finally:
        machines.link(0, up=True)
    try:
        status = master.wait(100)
    except subprocess.TimeoutExpired:
        pytest.fail("the master did not finish the crawl within 100 s")
    crawl_time = time.time() - started
    with open(str(tmp_path / "master.log"), errors="replace") as log:
        master_log = log.read()
    assert status == 0, master_log[-3000:]

    spans = _spans(requests_log)
    site_obj = DemoSite(PAGES, HOSTS, 1)
    fetched = {}
    for span in spans:
        url = "http://%s%s" % (span["host"], span["path"])
        fetched[url] = fetched.get(url, 0) + 1

    class _Served:  # what _assert_complete and overlaps read
        def expected_urls(self):
            return {"http://%s:%d%s" % (machines.hub_address, port, target)
                    for (host, target), port in _targets(site_obj, seeds)}

        def robots_urls(self):
            return {seed + "robots.txt" for seed in seeds}

        spans = [(s["host"], s["path"], s["start"], s["end"]) for s in _spans(requests_log)]

    served = _Served()
    _assert_complete(served, fetched)
    found = overlaps(served)
    returned = set(re.findall(r"lease on (\S+) (?:expired|returned)", master_log))
    repeats = {u for u, n in fetched.items() if n > 1}
    stranded = sum(int(n) for n in re.findall(r"dispatching the (\d+) URL\(s\) it held",
                                              master_log))
    starts = sorted(s["start"] for s in spans)
    longest_idle = max(b - a for a, b in zip(starts, starts[1:]))
    print("\nnamespace crawl: %d URLs in %.1f s; longest stretch with nothing served %.1f s; "
          "overlaps %d; repeats %d (returned leases %d); stranded on the cut-off worker %d"
          % (len(fetched), crawl_time, longest_idle, len(found), len(repeats), len(returned),
             stranded))
    assert served_while_cut, "the crawl stalled while a worker was cut off"
    assert found == []
    assert repeats <= returned, "only URLs whose lease ended were fetched again"
    with open(str(tmp_path / "crawl.jsonl")) as lines:
        urls = [json.loads(line)["url"] for line in lines if line.strip()]
    assert sorted(urls) == sorted(served.expected_urls()), "one JSONL record per URL"
    # With the other worker healthy, no stretch without a fetch beyond what the cut can
    # hold up: the leases the cut-off worker held come back when it is declared dead
    # (WORKER_HEARTBEAT_TIMEOUT), but dispatches sent into its connection after the cut
    # and before ZeroMQ's heartbeat drops it never reached it, no worker claims them,
    # and their hosts (concurrency 1) wait for those leases to expire (LEASE_TIMEOUT).
    assert longest_idle < SETTINGS["LEASE_TIMEOUT"] + 2.0


def _targets(site, seeds):
    """``((host, target), port)`` of every URL a correct crawl fetches."""
    ports = [int(seed.rsplit(":", 1)[1].strip("/")) for seed in seeds]
    return [((host, target), ports[host]) for host, target in site.expected()]
