"""The operator's console against a real crawl: a ``spyder master`` and ``spyder worker``
subprocesses crawling the generated demo site on 127.0.0.1, steered over real HTTP.

What the crawl did is judged from the web server's own request log
(``DemoServer.requests``); the master's console URL (port 0: a free port) is read
from its ``READY=1`` notification.
"""
import collections
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import wait_until
from spyder.console import url_in_status
from spyder.consoleclient import ConsoleClient
from spyder.errors import ConsoleError

pytestmark = pytest.mark.timeout(120)

TOKEN = "s3cret-token"


class Crawl:
    """A master and its workers as subprocesses, with the console's URL and a client."""

    def __init__(self, tmp_path, socket_dir, seeds, **overrides):
        self.tmp_path = tmp_path
        self.settings = {
            "PARENT_SOCKET_DIRECTORY": socket_dir,
            "FRONTIER_STATE_FILE": str(tmp_path / "state.db"),
            "FRONTIER_MIN_DELAY": 0.0, "FRONTIER_CRAWL_DELAY_FACTOR": 0.0,
            "MASTER_HTTP_ADDRESS": "127.0.0.1:0", "MASTER_HTTP_TOKEN": TOKEN,
            "MASTER_STATUS_INTERVAL": 0.5, "MASTER_HELLO_INTERVAL": 0.2,
            "WORKER_HEARTBEAT_INTERVAL": 0.2, "WORKER_HEARTBEAT_TIMEOUT": 10.0,
            "REQUEST_TIMEOUT": 5.0, "LEASE_TIMEOUT": 30.0, "SHUTDOWN_TIMEOUT": 3.0,
            "FRONTIER_CHECKPOINT_SECONDS": 0.2, "MAX_CLIENTS": 2, "SEED_URLS": list(seeds),
        }
        self.settings.update(overrides)
        self.master = None
        self.workers = []
        self.runs = 0
        self.url = None
        self.client = None

    def _argv(self, role):
        argv = [sys.executable, "-m", "spyder", role]
        for name, value in self.settings.items():
            argv += ["-s", "%s=%r" % (name, value)]
        return argv

    def _env(self, **extra):
        env = {k: v for k, v in os.environ.items() if k not in ("SPYDER_SETTINGS", "NOTIFY_SOCKET")}
        env.update(extra)
        return env

    def start_master(self):
        """Start the master and wait for its READY=1, which names the console's URL."""
        self.runs += 1
        notify_path = str(self.tmp_path / ("notify-%d.sock" % self.runs))
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(notify_path)
        notify.settimeout(0.2)
        self.master_log = str(self.tmp_path / ("master-%d.log" % self.runs))
        with open(self.master_log, "w") as err:
            self.master = subprocess.Popen(self._argv("master"), cwd=str(self.tmp_path),
                                           env=self._env(NOTIFY_SOCKET=notify_path),
                                           stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        try:
            lines = []

            def ready():
                if self.master.poll() is not None:
                    pytest.fail("the master exited:\n" + self.log())
                try:
                    lines.extend(notify.recv(4096).decode().split("\n"))
                except socket.timeout:
                    pass
                return "READY=1" in lines

            wait_until(ready, timeout=30, message="the master's READY=1")
        finally:
            notify.close()
        status = [line for line in lines if line.startswith("STATUS=")][0]
        self.url = url_in_status(status)
        assert self.url, status
        self.client = ConsoleClient(self.url, TOKEN)
        return self

    def start_workers(self, n=1):
        for i in range(n):
            path = str(self.tmp_path / ("worker-%d-%d.log" % (self.runs, len(self.workers))))
            with open(path, "w") as err:
                self.workers.append(subprocess.Popen(
                    self._argv("worker"), cwd=str(self.tmp_path), env=self._env(),
                    stdin=subprocess.DEVNULL, stdout=err, stderr=err))
        wait_until(lambda: self.status()["workers"] >= n, timeout=30,
                   message="%d worker(s) registered" % n)
        return self

    def status(self):
        return self.client.get("api/status")

    def stop_master(self):
        self.master.send_signal(signal.SIGTERM)
        try:
            assert self.master.wait(30) == 0, self.log()
        except subprocess.TimeoutExpired:
            self.master.kill()
            pytest.fail("the master did not stop on SIGTERM:\n" + self.log())

    def log(self):
        with open(self.master_log) as f:
            return f.read()[-5000:]

    def close(self):
        for proc in [self.master] + self.workers:
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)


@pytest.fixture
def crawl(tmp_path, socket_dir):
    made = []

    def make(seeds, **overrides):
        c = Crawl(tmp_path, socket_dir, seeds, **overrides)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def _requests(server, host=None):
    return [r for r in list(server.requests) if host is None or r.host == host]


def _done(crawl):
    status = crawl.status()
    return status["state"] == "done" and status["in_flight"] == 0


def _observe_quiet(crawl, seconds):
    """Let ``seconds`` of the master's own uptime pass (the master keeps dispatching
    whatever is due meanwhile)."""
    start = crawl.status()["uptime"]
    wait_until(lambda: crawl.status()["uptime"] >= start + seconds, timeout=seconds + 20,
               message="%s s of master uptime" % seconds)


# --------------------------------------------------------------------------- tests
def test_pause_stops_dispatch_and_resume_restarts_it(crawl, demo_site):
    server = demo_site(pages=40, hosts=2, latency=0.1)
    c = crawl(server.seeds).start_master().start_workers(1)
    wait_until(lambda: len(_requests(server)) >= 8, timeout=60, message="a few pages fetched")
    assert c.client.post("api/pause") == {"state": "paused"}
    wait_until(lambda: c.status()["in_flight"] == 0, timeout=30, message="in-flight work done")
    wait_until(lambda: server.pending == 0, timeout=10, message="the server answered all")
    served = len(_requests(server))
    _observe_quiet(c, 1.5)
    status = c.status()
    assert status["state"] == "paused" and status["queued"] > 0
    assert len(_requests(server)) == served, "a request was served while paused"
    assert c.client.post("api/resume") == {"state": "running"}
    wait_until(lambda: _done(c), timeout=90, message="the crawl finished after resume")
    assert len(_requests(server)) > served
    fetched = server.fetched()
    assert set(fetched) - server.robots_urls() == server.expected_urls()
    c.stop_master()


def test_blocked_host_gets_nothing_until_unblocked_even_after_a_restart(crawl, demo_site):
    server = demo_site(pages=30, hosts=2)
    free, blocked = server.netlocs
    c = crawl(server.seeds).start_master()
    answer = c.client.post("api/hosts/%s/block" % blocked, {})
    assert answer["host"]["blocked"] is True and answer["host"]["blocked_until"] is None
    c.start_workers(1)
    wait_until(lambda: c.client.get("api/hosts/%s" % free)["host"]["queued"] == 0
               and c.status()["in_flight"] == 0, timeout=60, message="the free host crawled")
    assert _requests(server, free) and not _requests(server, blocked)
    host = c.client.get("api/hosts/%s" % blocked)["host"]
    assert host["queued"] > 0 and host["fetched"] == 0

    c.stop_master()                       # the block is in the state file; the worker quits
    assert c.workers[0].wait(30) == 0
    c.start_master().start_workers(1)
    assert c.client.get("api/hosts/%s" % blocked)["host"]["blocked"] is True
    _observe_quiet(c, 1.5)
    assert not _requests(server, blocked)

    host = c.client.post("api/hosts/%s/unblock" % blocked, {})["host"]
    assert host["blocked"] is False
    wait_until(lambda: _done(c), timeout=90, message="the crawl finished after unblocking")
    assert _requests(server, blocked)
    assert set(server.fetched()) - server.robots_urls() == server.expected_urls()
    c.stop_master()


def test_added_seeds_are_crawled_and_metrics_match_the_outcomes(crawl, demo_site):
    server = demo_site(pages=30, hosts=1)
    other = demo_site(pages=20, hosts=1, seed=2)   # a second site nothing links to
    first, second = server.netlocs[0], other.netlocs[0]
    c = crawl(server.seeds).start_master().start_workers(1)
    wait_until(lambda: _done(c), timeout=60, message="the first site crawled")
    assert not _requests(other)
    answer = c.client.post("api/seeds", {"urls": [other.seeds[0], server.seeds[0]]})
    assert answer == {"added": [other.seeds[0]], "not_added": [server.seeds[0]]}
    wait_until(lambda: _requests(other) and _done(c), timeout=60,
               message="the added seed's site crawled")
    assert set(other.fetched()) - other.robots_urls() == other.expected_urls()
    assert set(server.fetched()) - server.robots_urls() == server.expected_urls()
    served = _requests(server) + _requests(other)

    with urllib.request.urlopen(c.url + "metrics", timeout=10) as answer:
        families = {f.name: f for f in text_string_to_metric_families(answer.read().decode())}
    results = collections.Counter()
    robots = 0
    for sample in families["spyder_results"].samples:
        if sample.name == "spyder_results_total":
            results[int(sample.labels["status"])] += int(sample.value)
            if sample.labels["outcome"] == "robots":
                robots += int(sample.value)
    assert results == collections.Counter(r.status for r in served)
    assert robots == len([r for r in served if r.path == "/robots.txt"]) == 2
    status = c.status()
    pages = sum(status["outcomes"].values())
    assert pages + robots == len(served)
    assert families["spyder_fetch_seconds"].samples and \
        _sample(families, "spyder_fetch_seconds_count") == pages + robots
    assert _sample(families, "spyder_body_bytes_count") == pages + robots
    assert _sample(families, "spyder_queued") == 0
    assert _sample(families, "spyder_workers") == 1

    workers = c.client.get("api/workers")["workers"]
    assert len(workers) == 1 and workers[0]["slots"] == 2
    assert workers[0]["prefetch"] == 20          # WORKER_PREFETCH, as the worker announced
    wait_until(lambda: c.client.get("api/workers")["workers"][0]["pages"] == pages + robots,
               timeout=10, message="the worker's heartbeat with its page count")
    lag = c.client.get("api/workers")["workers"][0]["loop_lag_max"]
    assert isinstance(lag, float) and 0 <= lag < 60   # the worker's own report of its loop
    hosts = c.client.get("api/hosts?sort=fetched&limit=5")["hosts"]
    assert [h["host"] for h in hosts] and {h["host"] for h in hosts} == {first, second}
    assert sum(h["fetched"] for h in hosts) == pages
    assert all(h["robots"]["state"] == "ready" for h in hosts)
    c.stop_master()


def _sample(families, name):
    for family in families.values():
        for sample in family.samples:
            if sample.name == name:
                return sample.value
    raise AssertionError("no sample %s" % name)


def test_bad_input_gets_a_4xx_with_a_json_error_and_changes_nothing(crawl, demo_site):
    server = demo_site(pages=10, hosts=1)
    c = crawl(server.seeds).start_master()
    host = server.netlocs[0]
    before = c.status()

    def refused(method, path, body=None, headers=None, token=True):
        data = None if body is None else (body if isinstance(body, bytes)
                                          else json.dumps(body).encode())
        request = urllib.request.Request(c.url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("X-Spyder-Token", TOKEN)
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(request, timeout=10)
        error = json.loads(info.value.read())
        assert set(error) == {"error", "status"} and error["status"] == info.value.code
        return info.value.code, error["error"]

    assert refused("POST", "api/seeds", {"urls": ["ftp://example.com/"]})[0] == 400
    code, text = refused("POST", "api/seeds", {"urls": [server.seeds[0], "http:///nohost"]})
    assert code == 400 and "http:///nohost" in text
    assert refused("POST", "api/seeds", {"url": "http://x.test/"})[0] == 400
    assert refused("POST", "api/seeds", b"{not json")[0] == 400
    assert _oversized(c.url + "api/seeds") == 413
    assert refused("POST", "api/hosts/unknown.test/block", {})[0] == 404
    assert refused("GET", "api/hosts/unknown.test")[0] == 404
    assert refused("POST", "api/hosts/%s/block" % host, {"until": time.time() - 10})[0] == 400
    assert refused("POST", "api/hosts/%s/delay" % host, {"seconds": -1})[0] == 400
    assert refused("POST", "api/hosts/%s/delay" % host, {})[0] == 400
    assert refused("GET", "api/hosts?sort=bogus")[0] == 400
    assert refused("GET", "api/hosts?limit=0")[0] == 400
    assert refused("GET", "api/pause")[0] == 405
    assert refused("DELETE", "api/status")[0] == 405
    assert refused("GET", "no/such/page")[0] == 404
    assert refused("POST", "api/pause", b"{}", headers={"Content-Type": "text/plain"})[0] == 415
    # the token: control needs it, read-only pages are open on loopback
    code, text = refused("POST", "api/pause", {}, token=False)
    assert code == 401 and "token" in text
    assert refused("POST", "api/stop", {}, headers={"Authorization": "Bearer wrong"},
                   token=False)[0] == 401
    assert refused("GET", "api/status", headers={"Host": "rebound.example:80"})[0] == 403
    with pytest.raises(ConsoleError, match="refused"):
        ConsoleClient(c.url).post("api/pause")
    after = c.status()
    assert after["state"] == before["state"] == "running"
    assert after["known"] == before["known"]
    hosts = c.client.get("api/hosts")["hosts"]
    assert [h["host"] for h in hosts] == [host]
    assert not hosts[0]["blocked"] and hosts[0]["delay_override"] is None
    # and /api/stop (with the token) shuts the master down like SIGTERM
    assert ConsoleClient(c.url, TOKEN).post("api/stop") == {"state": "draining"}
    assert c.master.wait(30) == 0


def _oversized(url):
    """POST announcing a 2 MiB body, sending none: the console answers from the headers
    (sending the body would race with the server closing the connection)."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.putrequest("POST", parts.path)
        for name, value in (("Content-Type", "application/json"), ("X-Spyder-Token", TOKEN),
                            ("Content-Length", str(2 * 1024 * 1024))):
            connection.putheader(name, value)
        connection.endheaders()
        answer = connection.getresponse()
        assert "1048576" in json.loads(answer.read())["error"]
        return answer.status
    finally:
        connection.close()


def test_a_non_loopback_address_without_a_token_fails_to_start(tmp_path, socket_dir):
    argv = [sys.executable, "-m", "spyder", "master",
            "-s", "PARENT_SOCKET_DIRECTORY=%r" % socket_dir,
            "-s", "FRONTIER_STATE_FILE=%r" % str(tmp_path / "state.db"),
            "-s", "MASTER_HTTP_ADDRESS='0.0.0.0:0'"]
    env = {k: v for k, v in os.environ.items() if k not in ("SPYDER_SETTINGS", "NOTIFY_SOCKET")}
    proc = subprocess.run(argv, cwd=str(tmp_path), env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith(
        "spyder master: error: MASTER_HTTP_ADDRESS='0.0.0.0:0' is not a loopback address: "
        "set MASTER_HTTP_TOKEN")


def test_cli_status_and_ctl(crawl, demo_site):
    server = demo_site(pages=10, hosts=1)
    c = crawl(server.seeds).start_master()
    host = server.netlocs[0]

    def spyder(*args):
        proc = subprocess.run([sys.executable, "-m", "spyder", args[0], "--url", c.url,
                               "-s", "MASTER_HTTP_TOKEN=%r" % TOKEN] + list(args[1:]),
                              capture_output=True, text=True, timeout=60,
                              env={k: v for k, v in os.environ.items()
                                   if k != "SPYDER_SETTINGS"})
        return proc.returncode, proc.stdout, proc.stderr

    code, out, _ = spyder("status")
    assert code == 0 and "State: running" in out and host in out
    code, out, _ = spyder("status", "--json")
    assert code == 0 and json.loads(out)["hosts"][0]["host"] == host
    assert spyder("ctl", "pause")[:2] == (0, "crawl paused\n")
    code, out, _ = spyder("ctl", "block", host, "--until", "2h")
    assert code == 0 and out.startswith("%s: blocked until " % host)
    blocked_until = c.client.get("api/hosts/%s" % host)["host"]["blocked_until"]
    assert 7100 < blocked_until - time.time() <= 7200
    code, out, _ = spyder("ctl", "delay", host, "2.5")
    assert code == 0 and "delay 2.5 s (set)" in out
    assert spyder("ctl", "delay", host, "auto")[0] == 0
    assert c.client.get("api/hosts/%s" % host)["host"]["delay_override"] is None
    assert spyder("ctl", "unblock", host)[1] == "%s: not blocked, 1 queued\n" % host
    code, out, _ = spyder("ctl", "add-seeds", server.seeds[0])
    assert code == 0 and "added 0 seed(s)" in out
    code, _, err = spyder("ctl", "block", "nohost.test")
    assert code == 1 and err.startswith("spyder ctl: error: ") and "knows no host" in err
    assert spyder("ctl", "resume")[:2] == (0, "crawl running\n")
    assert spyder("ctl", "stop")[:2] == (0, "crawl draining\n")
    assert c.master.wait(30) == 0
    code, _, err = spyder("status")
    assert code == 1 and err.startswith("spyder status: error: no master answers at %s" % c.url)


# --------------------------------------------------------------------------- the dashboard
_CHROMIUM = next((path for path in ("/usr/bin/chromium", "/usr/bin/chromium-browser")
                  if os.access(path, os.X_OK)), None)


def chromium(url, tmp_path, *args):
    """Run headless Chromium on ``url`` (a fresh profile, no traffic but to ``url``)."""
    profile = tmp_path / ("chromium-%d" % time.monotonic_ns())
    argv = [_CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--user-data-dir=%s" % profile] + list(args) + [url]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=90,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def _pages_in(dom):
    return int(re.search(r'data-key="pages" data-fmt="int">([\d,]+)<', dom).group(1)
               .replace(",", ""))


@pytest.mark.skipif(_CHROMIUM is None, reason="no Chromium installed (Debian: apt-get install "
                                              "chromium); .ci/run installs it")
def test_the_dashboard_in_headless_chromium_shows_the_crawl_growing(crawl, demo_site, tmp_path):
    server = demo_site(pages=80, hosts=2, latency=0.1)
    c = crawl(server.seeds).start_master().start_workers(1)
    wait_until(lambda: c.status()["pages"] >= 3, timeout=60, message="the crawl under way")
    # the page's script polls the API and redraws (virtual time lets its timer run)
    first = chromium(c.url, tmp_path, "--virtual-time-budget=5000", "--dump-dom")
    assert "data-updated=" in first, "the dashboard's script never refreshed the figures"
    seen = _pages_in(first)
    assert seen >= 3
    assert server.netlocs[0] in first and "Workers" in first
    wait_until(lambda: c.status()["pages"] > seen + 5, timeout=60, message="more pages")
    second = chromium(c.url, tmp_path, "--virtual-time-budget=5000", "--dump-dom")
    assert _pages_in(second) > seen
    c.stop_master()


def test_off_loopback_every_request_needs_the_token():
    from base64 import b64encode
    from types import SimpleNamespace

    from tornado.httputil import HTTPHeaders

    from spyder.console import Console
    from spyder.core.settings import Settings
    settings = Settings(overrides={"MASTER_HTTP_ADDRESS": "192.0.2.1:8480",
                                   "MASTER_HTTP_TOKEN": TOKEN})
    console = Console(settings, SimpleNamespace(stats=dict), frontier=None)  # never binds
    assert not console.loopback and console.allowed_host_header("crawler.example:8480")

    def request(**headers):
        return SimpleNamespace(headers=HTTPHeaders(headers))

    basic = "Basic " + b64encode(b"anyone:" + TOKEN.encode()).decode()
    for control in (False, True):
        assert not console.token_ok(request(), control)
        assert not console.token_ok(request(Authorization="Bearer nope"), control)
        assert console.token_ok(request(Authorization="Bearer " + TOKEN), control)
        assert console.token_ok(request(**{"X-Spyder-Token": TOKEN}), control)
    # a browser's Basic auth opens the read-only pages only (it is sent by itself: CSRF)
    assert console.token_ok(request(Authorization=basic), control=False)
    assert not console.token_ok(request(Authorization=basic), control=True)


def test_a_frontier_class_without_the_controls_gets_501_for_orders(tmp_path):
    from zmqfakes import MasterProcess
    master = MasterProcess(tmp_path, {"MASTER_HTTP_ADDRESS": "127.0.0.1:0"}).start()
    try:
        url = wait_until(lambda: _logged_url(master), timeout=30,
                         message="the console's log line")
        client = ConsoleClient(url)
        assert client.get("api/status")["state"] == "done"   # no seeds
        assert client.get("api/hosts")["hosts"] == []
        with pytest.raises(ConsoleError, match="HTTP 501"):
            client.post("api/pause")
    finally:
        master.stop()


def _logged_url(master):
    """The console's URL from the master's log on stderr, once it is there."""
    os.set_blocking(master.proc.stderr.fileno(), False)
    chunk = master.proc.stderr.read()
    master.seen = getattr(master, "seen", "") + (chunk.decode() if chunk else "")
    match = re.search(r"dashboard and API at (http://\S+)", master.seen)
    return match and match.group(1)


def test_status_classes_count_network_errors_apart():
    from spyder.console.metrics import status_class as _status_class
    assert [_status_class(s) for s in (200, 301, 404, 503, 599, None, 710)] == [
        "2xx", "3xx", "4xx", "5xx", "network", "other", "other"]
