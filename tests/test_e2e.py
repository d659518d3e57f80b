"""End to end: real ``spyder crawl`` processes (logsink, master, workers) crawling the
generated demo site on 127.0.0.1, including crashes, signals and resume.

The site records every request it serves, so each test compares what was fetched with
the set a correct crawl fetches (``DemoServer.expected_urls``).  Timeouts, leases and
delays are small so the suite stays within a few minutes.
"""
import glob
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import wait_until
from spyder.demosite import DISALLOWED_PREFIX

SHUTDOWN_TIMEOUT = 3.0
CHECKPOINT_SECONDS = 0.5


class Crawl:
    """One ``spyder crawl`` subprocess with its files in ``directory``."""

    def __init__(self, directory, socket_dir, seeds, workers=2, **settings):
        self.directory = directory
        self.jsonl = os.path.join(directory, "crawl.jsonl")
        self.warc_dir = os.path.join(directory, "warc")
        self.log_dir = os.path.join(directory, "log")
        overrides = {
            "PARENT_SOCKET_DIRECTORY": socket_dir,
            "SINKS": ["spyder.sinks.jsonl.JsonLinesSink", "spyder.sinks.warc.WarcSink"],
            "JSONL_SINK_PATH": self.jsonl, "WARC_DIR": self.warc_dir, "LOG_DIR": self.log_dir,
            "FRONTIER_MIN_DELAY": 0.0, "FRONTIER_CRAWL_DELAY_FACTOR": 0.0,
            # leases and heartbeats generous enough that a busy machine never trips them;
            # the worker-kill test shortens the lease
            "REQUEST_TIMEOUT": 5.0, "LEASE_TIMEOUT": 30.0, "RETRY_BACKOFF": 0.5,
            "SHUTDOWN_TIMEOUT": SHUTDOWN_TIMEOUT, "FRONTIER_CHECKPOINT_SECONDS": CHECKPOINT_SECONDS,
            "WORKER_HEARTBEAT_INTERVAL": 0.5, "WORKER_HEARTBEAT_TIMEOUT": 10.0,
            "MASTER_HELLO_INTERVAL": 0.5,
        }
        overrides.update(settings)
        self.argv = [sys.executable, "-m", "spyder", "crawl", "--workers", str(workers),
                     "--state", os.path.join(directory, "state.db")]
        for name, value in overrides.items():
            self.argv += ["-s", "%s=%r" % (name, value)]
        self.argv += list(seeds)
        self.runs = 0
        self.proc = None

    def start(self):
        self.runs += 1
        self.out_path = os.path.join(self.directory, "out-%d.txt" % self.runs)
        self.err_path = os.path.join(self.directory, "err-%d.txt" % self.runs)
        env = {k: v for k, v in os.environ.items() if k not in ("SPYDER_SETTINGS", "NOTIFY_SOCKET")}
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(self.argv, cwd=self.directory, env=env,
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        return self

    def wait(self, timeout=90):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill_all()
            pytest.fail("spyder crawl did not finish within %s s:\n%s" % (timeout, self.output()))

    def output(self):
        with open(self.out_path) as out, open(self.err_path) as err:
            return "--- stdout\n%s--- stderr\n%s" % (out.read(), err.read()[-6000:])

    def children(self):
        """``{pid: role}`` of the running children of this crawl."""
        found = {}
        for stat_path in glob.glob("/proc/[0-9]*/stat"):
            try:
                with open(stat_path) as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
                if int(fields[1]) != self.proc.pid or fields[0] == "Z":
                    continue
                pid = int(stat_path.split("/")[2])
                with open("/proc/%d/cmdline" % pid, "rb") as cmd:
                    argv = cmd.read().split(b"\0")
            except (OSError, IndexError, ValueError):
                continue
            roles = [a.decode() for a in argv if a in (b"master", b"worker", b"logsink")]
            if roles:
                found[pid] = roles[0]
        return found

    def kill_all(self):
        for pid in self.children():
            _signal(pid, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def records(self):
        if not os.path.exists(self.jsonl):
            return []
        with open(self.jsonl) as lines:
            return [json.loads(line) for line in lines if line.strip()]


def _signal(pid, signum):
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def crawl(tmp_path, socket_dir):
    """``crawl(server, workers=.., **settings)``: a Crawl of the served site's seeds."""
    crawls = []

    def make(server, workers=2, **settings):
        made = Crawl(str(tmp_path), socket_dir, server.seeds, workers, **settings)
        crawls.append(made)
        return made

    yield make
    for made in crawls:
        if made.proc is not None and made.proc.poll() is None:
            made.kill_all()


def _pages(urls):
    return {u for u in urls if not u.endswith("/robots.txt")}


def _assert_complete(server, fetched):
    expected = server.expected_urls() | server.robots_urls()
    assert set(fetched) == expected, (
        "missing: %s\nunexpected: %s" % (sorted(expected - set(fetched))[:20],
                                         sorted(set(fetched) - expected)[:20]))


# ------------------------------------------------------------------------------- tests
@pytest.mark.timeout(120)
@pytest.mark.parametrize("event_loop", ["asyncio", "uvloop"])
def test_full_crawl_fetches_exactly_the_expected_set(demo_site, crawl, event_loop):
    if event_loop == "uvloop":
        pytest.importorskip("uvloop", reason="uvloop is not installed (pip install "
                                             "'spyder[uvloop]')")
    server = demo_site(pages=150, hosts=3)
    run = crawl(server, workers=2, EVENT_LOOP=event_loop).start()
    assert run.wait() == 0, run.output()
    for role in ("master", "worker"):  # each process says what it ran on
        with open(os.path.join(run.log_dir, "%s.log" % role)) as log:
            assert "event loop: %s" % event_loop in log.read(), role
    fetched = server.fetched()
    _assert_complete(server, fetched)
    assert [u for u, n in fetched.items() if n != 1] == [], "fetched more than once"
    assert not [r for r in server.requests if r.path.startswith(DISALLOWED_PREFIX)]
    assert not [r for r in server.requests if re.search(r"sid=|jsessionid|#", r.path, re.I)]

    expected = server.expected_outcomes()
    records = run.records()
    assert sorted(r["url"] for r in records) == sorted(expected), "one JSONL record per URL"
    assert {r["url"]: r["outcome"] for r in records} == expected
    outcomes = {r["outcome"] for r in records}
    assert {"success", "redirect", "not_found"} <= outcomes
    assert all(isinstance(r["depth"], int) and r["status"] for r in records)

    records = _warc_records(run.warc_dir)
    responses = [url for kind, url in records if kind == "response"]
    metadata = [url for kind, url in records if kind == "metadata"]
    assert len(responses) == len(set(responses)), "one response record per fetched page"
    skipped = {u for u in expected if u.endswith(".pdf")}  # not in FETCH_CONTENT_TYPES
    assert skipped and set(metadata) == skipped, "bodies never downloaded are no responses"
    assert set(responses) == (set(expected) - skipped) | server.robots_urls()
    assert sorted(url for kind, url in records if kind == "request") == sorted(
        responses + metadata)
    successes = {u for u, outcome in expected.items() if outcome == "success"}

    out = run.output()
    assert "the crawl is complete" in out
    assert "success %d," % len(successes) in out   # robots.txt is counted apart
    assert "), 3 robots.txt" in out
    assert run.jsonl in out and run.log_dir in out


@pytest.mark.timeout(120)
def test_sitemap_only_pages_are_crawled_through_robots_txt_sitemaps(demo_site, crawl):
    server = demo_site(pages=100, hosts=2)
    # JSONL only: no sink reads bodies, so the workers send lengths and digests instead
    run = crawl(server, workers=1, ROBOTSTXT_SITEMAPS=True,
                SINKS=["spyder.sinks.jsonl.JsonLinesSink"]).start()
    assert run.wait() == 0, run.output()
    fetched = server.fetched()
    expected = server.expected_urls(sitemaps=True)
    assert set(fetched) == expected | server.robots_urls()
    assert [u for u, n in fetched.items() if n != 1] == [], "fetched more than once"
    only = {u for u in expected if "/sitemap-only/" in u}
    assert len(only) == 2 and not only & server.expected_urls()
    depths = {r["url"]: r["depth"] for r in run.records()}
    assert {depths[u] for u in only} == {1}
    pages = sorted(r["url"] for r in run.records()
                   if r["outcome"] == "success" and not r["truncated"])[:5]
    for record in [r for r in run.records() if r["url"] in pages]:
        with urllib.request.urlopen(record["url"], timeout=10) as answer:
            body = answer.read()
        assert (record["content_length"], record["sha1"]) == (
            len(body), hashlib.sha1(body).hexdigest()), record["url"]


@pytest.mark.timeout(150)
def test_worker_killed_mid_crawl_the_crawl_still_completes(demo_site, crawl):
    # slow responses and one worker: when it is killed it certainly has fetches in flight
    server = demo_site(pages=60, hosts=2, latency=0.5)
    run = crawl(server, workers=1, FRONTIER_HOST_CONCURRENCY=4, LEASE_TIMEOUT=3.0,
                WORKER_HEARTBEAT_TIMEOUT=3.0).start()
    wait_until(lambda: len(server.requests) >= 16 and server.pending, 60, message="16 requests")
    [worker] = [pid for pid, role in run.children().items() if role == "worker"]
    killed_at = time.time()
    os.kill(worker, signal.SIGKILL)
    assert run.wait(120) == 0, run.output()
    assert "the worker 1 was killed by SIGKILL; restarting it" in run.output()
    fetched = server.fetched()
    _assert_complete(server, fetched)
    twice = {u for u, n in fetched.items() if n > 1}
    assert twice and max(fetched.values()) == 2, "the killed worker's fetches are redone once"
    first_seen = {}
    for request in server.requests:
        first_seen.setdefault("http://%s%s" % (request.host, request.path), request.time)
    assert all(first_seen[u] <= killed_at for u in twice)
    with open(os.path.join(run.log_dir, "master.log"), errors="replace") as log:
        expired = set(re.findall(r"lease on (\S+) expired", log.read()))
    assert twice <= expired, "only URLs whose lease expired are fetched twice"
    urls = [r["url"] for r in run.records()]
    assert len(urls) == len(set(urls)) and set(urls) == server.expected_urls()


@pytest.mark.timeout(150)
def test_master_killed_mid_crawl_a_rerun_resumes(demo_site, crawl):
    server = demo_site(pages=100, hosts=2)
    run = crawl(server, workers=2, FRONTIER_MIN_DELAY=0.1).start()
    wait_until(lambda: len(server.requests) >= 70, 60, message="70 requests")
    children = run.children()
    master = [pid for pid, role in children.items() if role == "master"][0]
    killed_at = time.time()
    os.kill(master, signal.SIGKILL)
    assert run.wait(SHUTDOWN_TIMEOUT + 20) == 1, run.output()
    assert "the master was killed by SIGKILL" in run.output()
    assert not [pid for pid in children if _alive(pid)], "orphans"
    first = server.fetched()
    first_times = {}
    for request in server.requests:
        first_times.setdefault("http://%s%s" % (request.host, request.path), request.time)
    count = len(server.requests)

    assert run.start().wait() == 0, run.output()
    assert "the crawl is complete" in run.output()
    second = server.fetched()
    second.subtract(first)
    refetched = {u for u, n in second.items() if n > 0 and u in first}
    # a page requested this long before the kill had its result processed and committed
    committed = {u for u, t in first_times.items() if t < killed_at - CHECKPOINT_SECONDS - 2.0}
    assert len(committed) >= 10
    assert not _pages(refetched & committed), "fetched again although committed"
    assert len(server.requests) > count
    _assert_complete(server, server.fetched())
    # the sinks' output is part of each commit: exactly one line and one WARC response
    # per URL outcome, although the outcomes after the last commit were told twice
    urls = [r["url"] for r in run.records()]
    assert sorted(urls) == sorted(server.expected_urls())
    # (a response, or the metadata of a body never downloaded; robots.txt is archived too)
    outcomes = [url for kind, url in _warc_records(run.warc_dir)
                if kind in ("response", "metadata") and url in _pages([url])]
    assert sorted(outcomes) == sorted(
        r["url"] for r in run.records() if isinstance(r["status"], int) and r["status"] < 599)


def _warc_records(directory):
    """``(WARC-Type, WARC-Target-URI)`` of every record in the WARC files of ``directory``."""
    from warcio.archiveiterator import ArchiveIterator
    records = []
    for path in sorted(glob.glob(os.path.join(directory, "*.warc.gz"))):
        with open(path, "rb") as stream:
            records += [(record.rec_type, record.rec_headers.get_header("WARC-Target-URI"))
                        for record in ArchiveIterator(stream)]
    return records


@pytest.mark.timeout(150)
def test_sigterm_stops_everything_gracefully_and_a_rerun_resumes(demo_site, crawl):
    server = demo_site(pages=100, hosts=2)
    run = crawl(server, workers=2, FRONTIER_MIN_DELAY=0.05).start()
    wait_until(lambda: len(server.requests) >= 30, 60, message="30 requests")
    children = run.children()
    assert sorted(children.values()) == ["logsink", "master", "worker", "worker"]
    stopped_at = time.monotonic()
    run.proc.send_signal(signal.SIGTERM)
    assert run.wait(SHUTDOWN_TIMEOUT + 15) == 0, run.output()
    assert time.monotonic() - stopped_at < SHUTDOWN_TIMEOUT + 5, "children too slow to stop"
    assert not [pid for pid in children if _alive(pid)], "orphans"
    assert "stopped before the end" in run.output()
    first = server.fetched()

    assert run.start().wait() == 0, run.output()
    both = server.fetched()
    _assert_complete(server, both)
    assert not _pages(u for u, n in both.items() if n > 1), "a page was fetched twice"
    assert len(both) > len(first)


@pytest.mark.timeout(120)
def test_politeness_holds_end_to_end(demo_site, crawl):
    delay = 0.4
    server = demo_site(pages=16, hosts=2)
    run = crawl(server, workers=2, FRONTIER_MIN_DELAY=delay).start()
    assert run.wait() == 0, run.output()
    _assert_complete(server, server.fetched())
    by_host = {}
    for request in server.requests:
        by_host.setdefault(request.host, []).append(request.time)
    for host, times in by_host.items():
        gaps = [b - a for a, b in zip(times, times[1:])]
        # 50 ms slack: the delay runs from the master's clock, not the server's
        assert min(gaps) >= delay - 0.05, (host, sorted(gaps)[:3])


@pytest.mark.timeout(60)
def test_a_child_that_cannot_start_ends_the_crawl(demo_site, crawl):
    server = demo_site(pages=10, hosts=1)
    run = crawl(server, FRONTIER_CLASS="spyder.core.frontier.NoSuchFrontier").start()
    assert run.wait(30) == 1, run.output()
    assert "FRONTIER_CLASS" in run.output() and "the master failed to start" in run.output()

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        address = "tcp://127.0.0.1:%d" % busy.getsockname()[1]
        run = crawl(server, ZEROMQ_LOGGING=address).start()
        assert run.wait(30) == 1, run.output()
        assert "the logsink failed to start" in run.output() and address in run.output()
    finally:
        busy.close()
    assert not server.requests


@pytest.mark.timeout(120)
def test_demo_and_bench(tmp_path, socket_dir):
    env = {k: v for k, v in os.environ.items() if k not in ("SPYDER_SETTINGS", "NOTIFY_SOCKET")}
    out = tmp_path / "demo-out"
    demo = subprocess.run([sys.executable, "-m", "spyder", "demo", "--workers", "2", "--output",
                           str(out), "-s", "PARENT_SOCKET_DIRECTORY=%r" % socket_dir],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=100)
    assert demo.returncode == 0, demo.stdout + demo.stderr[-4000:]
    assert "spyder demo: the crawl is complete" in demo.stdout
    with open(out / "crawl.jsonl") as lines:
        assert len(lines.readlines()) > 300
    assert glob.glob(str(out / "warc" / "*.warc*"))

    bench = subprocess.run([sys.executable, "-m", "spyder", "bench", "--workers", "1", "--pages",
                            "100", "--hosts", "2", "-s", "PARENT_SOCKET_DIRECTORY=%r" % socket_dir],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=100)
    assert bench.returncode == 0, bench.stdout + bench.stderr[-4000:]
    match = re.search(r"(\d+) of (\d+) URLs in [\d.]+ s = (\d+) pages/s", bench.stdout)
    assert match and match.group(1) == match.group(2), bench.stdout


@pytest.mark.timeout(60)
def test_crawl_with_curve_keys(demo_site, crawl, tmp_path):
    from spyder.core.wire.sockets import create_keys
    create_keys(str(tmp_path / "keys"))
    server = demo_site(pages=20, hosts=1)
    run = crawl(server, workers=1, ZEROMQ_CURVE_KEYS_DIR=str(tmp_path / "keys")).start()
    assert run.wait() == 0, run.output()
    _assert_complete(server, server.fetched())
    assert "the crawl is complete" in run.output()   # the status arrived over CurveZMQ
