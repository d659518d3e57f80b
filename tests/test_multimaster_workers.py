"""A worker that serves several masters at once (``WORKER_MASTERS``; docs/protocol.md, "A
worker serving several masters").

* the slot pool, alone: summed over the masters, the credit a worker reports plus its
  fetches never exceed its slots, whatever the order of licences, fetches and ends;
* a real ``spyder worker`` between two fake masters (plain pyzmq, ``test_worker_support``):
  results reach only the master that dispatched them, each master is told half the
  slots, and all of them once the other master is gone; a bad ``WORKER_MASTERS`` is one
  clear start-up line;
* ``spyder crawl --masters 2 --workers 2 --redis``: real processes, the real Redis Cluster
  (``conftest.redis_cluster``; skipped where redis-server is missing), a served site:
  complete, every outcome once across the masters' JSONL files, every worker fetched for
  both masters; with one master SIGKILLed mid-crawl, the requests go on without a gap
  longer than the bound derived in ``test_a_killed_master_idles_no_worker``; a shared
  worker SIGKILLed is restarted and both masters told (``worker.gone``); and
  ``--own-workers`` keeps one whole crawl per master.
"""
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest

from spyder.core import constants as C
from spyder.core.crawluri import CrawlUri
from spyder.core.settings import Settings, SettingsError
from spyder.core.worker.masters import master_endpoints
from spyder.core.worker.slots import SlotPool
from conftest import wait_until
from test_worker_support import FakeMaster, ThreadedSite

pytestmark = pytest.mark.timeout(240)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ------------------------------------------------------------------------- slot pool
class Member:
    """A fetch stage as the pool sees it."""

    def __init__(self, pool, label):
        self.label = label
        self.in_flight = 0
        self.wanting = False
        self.pool = pool
        self.changes = 0
        pool.join(self)

    def quota_changed(self):
        self.changes += 1

    @property
    def free(self):
        return max(self.pool.quota(self) - self.in_flight, 0) if self.wanting else 0


def promised(members):
    """What the masters may count on: the free slots reported plus the fetches."""
    return sum(m.free + m.in_flight for m in members)


def test_slot_credit_never_promises_more_slots_than_the_worker_has():
    rng = random.Random(7)
    for slots, n in ((10, 2), (10, 3), (1, 2), (4, 4), (7, 5)):
        pool = SlotPool(slots)
        members = [Member(pool, "m%d" % i) for i in range(n)]
        for step in range(3000):
            m = rng.choice(members)
            action = rng.random()
            if action < 0.1:
                m.wanting = not m.wanting
                if not m.wanting and rng.random() < 0.5:
                    m.in_flight = 0          # a lapsed licence cuts its fetches
                pool.rebalance()
            elif action < 0.6:
                if m.wanting and m.in_flight < pool.quota(m):
                    m.in_flight += 1         # a dispatch read: only below the quota
            elif m.in_flight:
                m.in_flight -= 1
                pool.rebalance()
            assert promised(members) <= slots, (slots, n, step)
            assert pool.promised() <= slots
            wanting = [x for x in members if x.wanting]
            if (wanting and all(x.in_flight == 0 for x in members if not x.wanting)
                    and all(x.in_flight <= pool.quota(x) for x in wanting)):
                # nothing over its share: every slot is shared out among the masters that
                # may take work
                assert sum(pool.quota(x) for x in wanting) == slots
                assert max(pool.quota(x) for x in wanting) - min(
                    pool.quota(x) for x in wanting) <= 1


def test_a_dead_masters_share_goes_to_the_live_one_as_its_fetches_end():
    pool = SlotPool(10)
    a, b = Member(pool, "a"), Member(pool, "b")
    a.wanting = b.wanting = True
    pool.rebalance()
    assert (pool.quota(a), pool.quota(b)) == (5, 5)
    b.in_flight = 5
    b.wanting = False                # its master's licence lapsed ...
    pool.rebalance()
    assert pool.quota(b) == 0 and a.free == 5 and promised([a, b]) == 10
    b.in_flight = 2                  # ... and three of its fetches ended (cut, answered)
    pool.rebalance()
    assert a.free == 8
    b.in_flight = 0
    pool.rebalance()
    assert a.free == 10 and pool.quota(a) == 10
    b.wanting = True                 # the master is back: half again, from free slots only
    a.in_flight = 9
    pool.rebalance()
    assert pool.quota(a) == 5 and pool.quota(b) == 1 and promised([a, b]) == 10
    a.in_flight = 4
    pool.rebalance()
    assert (pool.quota(a), pool.quota(b)) == (5, 5)


def test_one_master_gets_every_slot_as_before():
    pool = SlotPool(6)
    a = Member(pool, "a")
    a.wanting = True
    pool.rebalance()
    assert pool.quota(a) == 6 and a.changes == 1


# ------------------------------------------------------------------------- settings
def test_worker_masters_entries_are_read_and_bad_ones_refused(socket_dir):
    d1, d2 = os.path.join(socket_dir, "a"), os.path.join(socket_dir, "b")
    single = master_endpoints(Settings(overrides={"PARENT_SOCKET_DIRECTORY": d1}))
    assert len(single) == 1 and single[0].push.endswith("a/spyder-zmq-master-push.sock")
    tcp = {"ZEROMQ_MASTER_PUSH": "tcp://127.0.0.1:1", "ZEROMQ_MASTER_SUB": "tcp://127.0.0.1:2",
           "ZEROMQ_MGMT_MASTER": "tcp://127.0.0.1:3", "ZEROMQ_MGMT_WORKER": "tcp://127.0.0.1:4"}
    two = master_endpoints(Settings(overrides={"WORKER_MASTERS": [d2, tcp]}))
    assert [e.label for e in two] == ["m1", "m2"]
    assert two[0].mgmt_master == "ipc://%s/spyder-zmq-mgmt-master.sock" % d2
    assert two[1].push == "tcp://127.0.0.1:1" and two[1].mgmt_worker == "tcp://127.0.0.1:4"
    for bad, message in (([3], "WORKER_MASTERS\\[0\\] = 3: a int"),
                         ([d1, "tcp://x:1"], "must be a directory"),
                         ([dict(tcp, ZEROMQ_MASTER_PUHS="tcp://a:1")], "unknown key.*PUHS"),
                         ([{"ZEROMQ_MASTER_PUSH": "tcp://a:1"}], "missing ZEROMQ_MASTER_SUB"),
                         ([dict(tcp, ZEROMQ_MASTER_SUB=5)], "ZEROMQ_MASTER_SUB must be a"),
                         ([d1, d1], "appears twice")):
        with pytest.raises(SettingsError, match=message):
            master_endpoints(Settings(overrides={"WORKER_MASTERS": bad}))


def _worker(tmp_path, **overrides):
    settings = {"WORKER_HEARTBEAT_INTERVAL": 0.2, "REQUEST_TIMEOUT": 2.0, "MAX_CLIENTS": 4,
                "SHUTDOWN_TIMEOUT": 5.0}
    settings.update(overrides)
    cmd = [sys.executable, "-m", "spyder", "worker"]
    for key, value in settings.items():
        cmd += ["-s", "%s=%r" % (key, value)]
    env = {k: v for k, v in os.environ.items() if k not in ("SPYDER_SETTINGS", "NOTIFY_SOCKET")}
    return subprocess.Popen(cmd, cwd=str(tmp_path), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def test_a_bad_worker_masters_is_one_clear_startup_line(tmp_path, socket_dir):
    proc = _worker(tmp_path, PARENT_SOCKET_DIRECTORY=socket_dir,
                   WORKER_MASTERS=[{"ZEROMQ_MASTER_PUSH": "tcp://127.0.0.1:9"}])
    out, err = proc.communicate(timeout=60)
    lines = err.decode().strip().splitlines()
    assert proc.returncode in (1, 2)
    assert len(lines) == 1 and lines[0].startswith("spyder worker: error:"), lines
    assert "WORKER_MASTERS[0]" in lines[0] and "missing ZEROMQ_MASTER_SUB" in lines[0]


# ------------------------------------------------------------------------- one worker
class NamedFakeMaster(FakeMaster):
    def __init__(self, socket_dir, identity):
        os.makedirs(socket_dir, mode=0o700, exist_ok=True)
        self.identity = identity
        super().__init__(socket_dir)


def _credit(master, want, timeout=15.0, others=()):
    """Wait for a management message from the worker whose ``free`` is ``want``.  The
    ``others`` masters are served meanwhile: a fake master's results SUB sends its
    subscription to a newly connected worker only when touched, and its heartbeats are
    echoed only when read, and the worker splits its slots only among the masters that
    listen and licence it."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        for other in others:
            other.next_mgmt(0)
        msg = master.next_mgmt(min(deadline - time.monotonic(), 0.1))
        if msg is not None and isinstance(msg.details, dict) and "free" in msg.details:
            seen.append(msg.details["free"])
            if msg.details["free"] == want:
                return msg
    raise AssertionError("no credit of %d from the worker (saw %s)" % (want, seen[-10:]))


def test_one_worker_serves_two_masters_each_with_its_own_results_and_half_the_slots(
        tmp_path, socket_dir):
    (tmp_path / "robots.txt").write_bytes(b"User-agent: *\nDisallow:\n")
    site = ThreadedSite(tmp_path, {})
    d1, d2 = os.path.join(socket_dir, "m1"), os.path.join(socket_dir, "m2")
    m1 = NamedFakeMaster(d1, b"master:test:1")
    m2 = NamedFakeMaster(d2, b"master:test:2")
    proc = _worker(tmp_path, PARENT_SOCKET_DIRECTORY=socket_dir, WORKER_MASTERS=[d1, d2])
    try:
        for master in (m1, m2):
            master.wait_mgmt(C.ZMQ_SPYDER_MGMT_WORKER_AVAIL, repeat=C.ZMQ_SPYDER_MGMT_WORKER_HELLO)
        _credit(m1, 2, others=[m2])  # 4 slots, 2 masters: 2 each
        _credit(m2, 2, others=[m1])
        urls1 = [site.url("/page/one-%d" % i) for i in range(6)]
        urls2 = [site.url("/page/two-%d" % i) for i in range(6)]
        for url in urls1:
            m1.send(CrawlUri(url=url))
        for url in urls2:
            m2.send(CrawlUri(url=url))
        got1 = m1.results_by_url(6)
        got2 = m2.results_by_url(6)
        assert sorted(got1) == sorted(urls1) and sorted(got2) == sorted(urls2)
        assert all(msg.identity == m1.identity and msg.curi.status_code == 200
                   for msg in got1.values())
        assert all(msg.identity == m2.identity for msg in got2.values())
        assert m1.recv_result(0.3) is None and m2.recv_result(0.3) is None
        m2.close()                  # master 2 gone: its subscription with it
        _credit(m1, 4)              # every slot for master 1 now
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err.decode()[-2000:]
        text = err.decode()
        assert "serving 2 masters with 4 slots" in text
        assert re.search(r"fetched 6 URLs for master master:test:1 \(m1\)", text), text[-3000:]
        assert re.search(r"fetched 6 URLs for master master:test:2 \(m2\)", text), text[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
        m1.close()
        m2.close()
        site.close()


# ------------------------------------------------------------------------- whole crawls
def _env():
    env = {k: v for k, v in os.environ.items() if k not in ("SPYDER_SETTINGS", "NOTIFY_SOCKET")}
    env["PYTHONPATH"] = os.pathsep.join([ROOT] + [p for p in [env.get("PYTHONPATH")] if p])
    return env


def _outcomes(tmp_path):
    outcomes = []
    for name in ("m1", "m2"):
        path = tmp_path / ("spyder-crawl-%s.jsonl" % name)
        if path.exists():
            outcomes += [json.loads(line)["url"] for line in path.read_text().splitlines()]
    return outcomes


def _fetched_per_worker(tmp_path):
    """``{worker identity: {master label: URLs fetched}}`` from the workers' log."""
    text = (tmp_path / "log" / "workers" / "worker.log").read_text()
    out = {}
    for worker, count, label in re.findall(
            r"(worker:\S+) fetched (\d+) URLs for master \S+ \((m\d)\)", text):
        out.setdefault(worker, {}).setdefault(label, 0)
        out[worker][label] += int(count)
    return out, text


def _crawl(tmp_path, url, seeds, *settings, own=False):
    argv = [sys.executable, "-m", "spyder", "crawl", "--masters", "2", "--workers", "2",
            "--redis", url] + (["--own-workers"] if own else [])
    for text in settings:
        argv += ["-s", text]
    return subprocess.Popen(argv + seeds, cwd=str(tmp_path), env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)


def _finish(proc, timeout):
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
        raise AssertionError("the crawl did not end in %d s: %s" % (timeout, out[-3000:]))
    return out.decode("utf-8", "replace")


#: Two active queues a master: 4 hosts, so each master crawls some (one master could
#: otherwise take every host before the other starts).
COMMON = ("FRONTIER_CRAWL_DELAY_FACTOR=0.0", "FRONTIER_ACTIVE_QUEUES=2",
          "ROBOTSTXT_SITEMAPS=False", "MAX_CLIENTS=4", "WORKER_HEARTBEAT_INTERVAL=0.5",
          "WORKER_HEARTBEAT_TIMEOUT=3.0")


def test_two_masters_two_shared_workers_crawl_everything_once(tmp_path, redis_cluster,
                                                              demo_site):
    server = demo_site(pages=150, hosts=4, latency=0.01)
    url = "%s/mw-%s" % (redis_cluster.url, uuid.uuid4().hex[:8])
    proc = _crawl(tmp_path, url, server.seeds, "FRONTIER_MIN_DELAY=0.05", *COMMON)
    out = _finish(proc, 200)
    assert proc.returncode == 0, out[-3000:]
    assert "2 masters and 2 workers, each worker serving every master" in out
    outcomes = _outcomes(tmp_path)
    assert sorted(outcomes) == sorted(server.expected_urls())        # complete, each once
    fetched, text = _fetched_per_worker(tmp_path)
    assert len(fetched) == 2, text[-3000:]
    for worker, per_master in fetched.items():                       # for both masters
        assert per_master.get("m1", 0) > 0 and per_master.get("m2", 0) > 0, (worker, fetched)


def test_own_workers_keep_the_plan_of_one_crawl_per_master(tmp_path, redis_cluster,
                                                           demo_site):
    server = demo_site(pages=60, hosts=2, latency=0.01)
    url = "%s/mo-%s" % (redis_cluster.url, uuid.uuid4().hex[:8])
    proc = _crawl(tmp_path, url, server.seeds, "FRONTIER_MIN_DELAY=0.05", *COMMON, own=True)
    out = _finish(proc, 200)
    assert proc.returncode == 0, out[-3000:]
    assert "each worker serving every master" not in out
    assert "[m1] spyder crawl: logsink, master and 2 worker(s) running" in out
    assert sorted(_outcomes(tmp_path)) == sorted(server.expected_urls())
    assert not (tmp_path / "log" / "workers").exists()


def _descendants(pid):
    """``{pid: argv}`` of every process below ``pid``."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                argv = f.read().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append((int(entry), argv))
    out, todo = {}, [pid]
    while todo:
        for child, argv in children.get(todo.pop(), []):
            out[child] = [a.decode("utf-8", "replace") for a in argv]
            todo.append(child)
    return out


def _master_pid(root, name):
    for pid, argv in _descendants(root).items():
        if argv[1:4] == ["-m", "spyder", "master"] and "FRONTIER_MASTER_NAME=%r" % name in argv:
            return pid
    return None


def test_a_killed_master_idles_no_worker(tmp_path, redis_cluster, demo_site):
    """m2's ``spyder master`` is SIGKILLed at a third of the crawl; multicrawl runs its
    crawl again (it waits one lease for the dead one's liveness key, then resumes).

    The bound on a gap in the served requests after the kill: the workers keep their
    links to m1 (its licence holds; m2's link drops at once -- its subscription goes with
    its process -- or at the latest when m2's licence lapses, WORKER_HEARTBEAT_TIMEOUT
    - 1 s after the last echo), and m1 goes on dispatching its own hosts.  Requests can
    pause only while every host with URLs left is one m2 held: those come due when m2's
    leases end, at most 1.25 FRONTIER_QUEUE_LEASE after its last renewal (it renews
    every lease / 4), and then wait at most FRONTIER_MIN_DELAY for the politeness time
    m2 stored; add 1 s for m1's housekeeping and dispatch.  So the gap is at most
    1.25 x lease + min delay + 1 s; with a 3 s lease, 4.85 s.
    """
    lease, min_delay = 3.0, 0.1
    bound = 1.25 * lease + min_delay + 1.0
    server = demo_site(pages=500, hosts=4, latency=0.01)
    expected = server.expected_urls()
    url = "%s/mk-%s" % (redis_cluster.url, uuid.uuid4().hex[:8])
    proc = _crawl(tmp_path, url, server.seeds, "FRONTIER_MIN_DELAY=%r" % min_delay,
                  "FRONTIER_QUEUE_LEASE=%r" % lease, "FRONTIER_CHECKPOINT_SECONDS=0.5",
                  *COMMON)
    try:
        wait_until(lambda: len(server.spans) >= len(expected) // 3, timeout=120,
                   message="a third of the site served")
        victim = wait_until(lambda: _master_pid(proc.pid, "m2"), timeout=10,
                            message="master m2's process")
        killed_at = time.time()
        os.kill(victim, signal.SIGKILL)
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
        raise
    out = _finish(proc, 200)
    assert "master m2 exited with status 1" in out and "running it again" in out, out[-3000:]
    assert proc.returncode == 0, out[-3000:]
    outcomes = _outcomes(tmp_path)
    assert sorted(set(outcomes)) == sorted(expected)                  # complete
    assert len(outcomes) == len(set(outcomes))                         # each outcome once
    starts = sorted(start for _, _, start, _ in server.spans)
    after = [t for t in starts if t >= killed_at - 0.5]
    assert after and after[0] - killed_at < bound
    gaps = [b - a for a, b in zip(after, after[1:])]
    assert max(gaps) < bound, (max(gaps), bound)
    # the workers went on with every slot for m1 once m2's share was free
    fetched, text = _fetched_per_worker(tmp_path)
    full = re.findall(r"\[([\d-]+ [\d:,]+)\].*(worker:\S+) slots per master: m1 4, m2 0", text)
    stamps = {}
    for stamp, worker in full:
        when = time.mktime(time.strptime(stamp.split(",")[0], "%Y-%m-%d %H:%M:%S"))
        when += int(stamp.split(",")[1]) / 1000.0
        if killed_at - 1 <= when <= killed_at + bound:
            stamps.setdefault(worker, when)
    assert len(stamps) == 2, (full, killed_at)


def test_a_dead_shared_worker_is_restarted_and_every_master_told(tmp_path, redis_cluster,
                                                                   demo_site):
    server = demo_site(pages=300, hosts=4, latency=0.01)
    expected = server.expected_urls()
    url = "%s/mx-%s" % (redis_cluster.url, uuid.uuid4().hex[:8])
    proc = _crawl(tmp_path, url, server.seeds, "FRONTIER_MIN_DELAY=0.1", *COMMON)
    try:
        wait_until(lambda: len(server.spans) >= len(expected) // 3, timeout=120,
                   message="a third of the site served")
        workers = [pid for pid, argv in _descendants(proc.pid).items()
                   if argv[1:4] == ["-m", "spyder", "worker"]]
        assert len(workers) == 2
        os.kill(workers[0], signal.SIGKILL)
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
        raise
    out = _finish(proc, 200)
    assert proc.returncode == 0, out[-3000:]
    assert "worker w1 exited with status -9" in out or "worker w2 exited with status -9" in out
    assert "restarting it" in out
    outcomes = _outcomes(tmp_path)
    assert sorted(outcomes) == sorted(expected)                       # complete, each once
    dead = "worker:%s:%d" % (socket.gethostname(), workers[0])
    for name in ("m1", "m2"):                                          # both masters told
        log = (tmp_path / "log" / name / "master.log").read_text()
        assert re.search(r"worker %s exited \(multicrawl:" % re.escape(dead), log), log[-2000:]
