"""A real ``spyder worker`` subprocess, fed by a fake master (plain pyzmq) and fetching
from a real tornado site on 127.0.0.1: every kind of result, registration before and
after the master appears, hello, heartbeats, quit, signals, malformed input, start-up
errors and READY=1."""
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from spyder.core import constants as C
from spyder.core.crawluri import CrawlUri
from test_worker_support import FakeMaster, ThreadedSite

pytestmark = pytest.mark.timeout(90)

PAGES = {
    "malformed": ("text/html", b"<html><body><a href='/page/m1'>one<div><a href=\"/page/m2\" "
                               b"<b>two</a></td></p><a href=/page/m3>"),
    "latin1": ("text/html; charset=iso-8859-1",
               "<html><a href='/page/gr\u00fcn'>gr\u00fcn</a></html>".encode("latin-1")),
    "undeclared": ("text/html", b"<html><a href='/page/\xe9t\xe9'>\x81\x8d</a></html>"),
}


class WorkerProcess:
    def __init__(self, tmp_path, socket_dir, notify=False, **overrides):
        self.overrides = {"PARENT_SOCKET_DIRECTORY": socket_dir,
                          "WORKER_HEARTBEAT_INTERVAL": 0.2, "REQUEST_TIMEOUT": 1.0,
                          "MAX_CLIENTS": 4, "SHUTDOWN_TIMEOUT": 5.0}
        self.overrides.update(overrides)
        cmd = [sys.executable, "-m", "spyder", "worker"]
        for key, value in self.overrides.items():
            cmd += ["-s", "%s=%r" % (key, value)]
        environ = {k: v for k, v in os.environ.items()
                   if k not in ("SPYDER_SETTINGS", "NOTIFY_SOCKET")}
        self._notify = None
        if notify:
            path = os.path.join(socket_dir, "notify")
            self._notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._notify.bind(path)
            self._notify.settimeout(20)
            environ["NOTIFY_SOCKET"] = path
        self.proc = subprocess.Popen(cmd, cwd=str(tmp_path), env=environ,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def ready(self):
        """Wait for READY=1 on the worker's NOTIFY_SOCKET."""
        message = self._notify.recv(4096)
        self._notify.close()
        return message

    def wait(self, timeout=20):
        out, err = self.proc.communicate(timeout=timeout)
        self.stdout, self.stderr = out.decode(), err.decode()
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=10)


@pytest.fixture
def site(tmp_path):
    (tmp_path / "robots.txt").write_bytes(b"User-agent: *\nDisallow:\n")
    served = ThreadedSite(tmp_path, PAGES)
    yield served
    served.close()


@pytest.fixture
def master(socket_dir):
    fake = FakeMaster(socket_dir)
    yield fake
    fake.close()


@pytest.fixture
def workers():
    started = []
    yield started
    for worker in started:
        worker.kill()


def registered(master, timeout=15.0):
    """The worker's first registration, heartbeat or credit message with free slots: it
    takes work once the results socket is subscribed and a heartbeat was echoed (the
    very first ``be here now`` can be lost while PUB/SUB connects)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = master.next_mgmt(deadline - time.monotonic())
        if msg is not None and msg.data in (
                C.ZMQ_SPYDER_MGMT_WORKER_AVAIL, C.ZMQ_SPYDER_MGMT_WORKER_HEARTBEAT,
                C.ZMQ_SPYDER_MGMT_WORKER_CREDIT) and msg.details["free"]:
            return msg
    raise AssertionError("the worker never registered")


def fetch_started(master, timeout=15.0):
    """Wait for a heartbeat saying one of the worker's 4 slots is taken."""
    deadline = time.monotonic() + timeout
    while not (master.heartbeats and master.heartbeats[-1].details["free"] == 3):
        assert time.monotonic() < deadline, "the fetch never started"
        master.next_mgmt(0.5)


def refused_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return "http://127.0.0.1:%d/" % s.getsockname()[1]


def test_worker_fetches_every_kind_of_result(tmp_path, socket_dir, site, master, workers):
    worker = WorkerProcess(tmp_path, socket_dir, notify=True, MAX_CONTENT_SIZE=1000)
    workers.append(worker)
    assert b"READY=1" in worker.ready()
    hello = registered(master)
    assert hello.identity.startswith(b"worker:")
    assert hello.identity.endswith(b":%d" % worker.proc.pid)
    assert (hello.details["slots"], hello.details["free"], hello.details["held"]) == (4, 4, [])

    urls = {
        "ok": site.url("/page/a"),
        "moved": site.url("/redirect/301/1"),
        "missing": site.url("/status/404"),
        "broken": site.url("/status/500"),
        "slow": site.url("/slow"),
        "refused": refused_url(),
        "big": site.url("/big/300000/plain"),
        "pdf": site.url("/typed?type=application/pdf"),
        "malformed": site.url("/raw/malformed"),
        "latin1": site.url("/raw/latin1"),
        "undeclared": site.url("/raw/undeclared"),
    }
    for url in urls.values():
        master.send(CrawlUri(url=url, effective_url=url))
    results = master.results_by_url(len(urls))
    got = {name: results[url].curi for name, url in urls.items()}
    assert all(results[url].identity == FakeMaster.identity for url in urls.values())

    assert got["ok"].status_code == 200
    assert got["ok"].extracted_urls == [site.url("/page/next")]
    assert got["ok"].rep_header["Content-Type"] == "text/html; charset=utf-8"
    assert got["ok"].begin_processing <= got["ok"].end_processing
    assert got["ok"].req_time is not None
    assert got["moved"].status_code == 301
    assert got["moved"].extracted_urls == [site.url("/page/target")]
    assert got["missing"].status_code == 404
    assert got["broken"].status_code == 500
    assert got["slow"].status_code == 599
    assert "Timeout" in got["slow"].optional_vars["error"]
    assert got["refused"].status_code == 599
    error = got["refused"].optional_vars["error"].lower()
    assert "refused" in error or "could not connect" in error  # Python's words, libcurl's
    assert got["big"].status_code == 200
    assert len(got["big"].content_body) == 1000
    assert got["big"].optional_vars["truncated"] == "1"
    assert got["pdf"].status_code == 200 and got["pdf"].content_body == b""
    assert got["pdf"].optional_vars["skipped_content_type"] == "1"
    assert got["malformed"].status_code == 200
    assert site.url("/page/m1") in got["malformed"].extracted_urls
    assert site.url("/page/m2") in got["malformed"].extracted_urls
    assert got["latin1"].extracted_urls == [site.url("/page/gr%C3%BCn")]
    assert got["undeclared"].extracted_urls == [site.url("/page/%C3%A9t%C3%A9")]

    ack = master.wait_mgmt(C.ZMQ_SPYDER_MGMT_WORKER_QUIT_ACK, repeat=C.ZMQ_SPYDER_MGMT_WORKER_QUIT)
    assert ack.identity == hello.identity
    assert worker.wait() == 0
    assert "Traceback" not in worker.stderr


def slow_fetch_in_flight(tmp_path, socket_dir, site, master, workers, shutdown_timeout):
    """A worker with a fetch of a slow page under way: ``(worker, url)``."""
    worker = WorkerProcess(tmp_path, socket_dir, REQUEST_TIMEOUT=60.0,
                           SHUTDOWN_TIMEOUT=shutdown_timeout)
    workers.append(worker)
    registered(master)
    url = site.url("/slow")
    master.send(CrawlUri(url=url))
    fetch_started(master)
    return worker, url


def test_sigterm_returns_in_flight_work_and_exits_0(tmp_path, socket_dir, site, master, workers):
    worker, url = slow_fetch_in_flight(tmp_path, socket_dir, site, master, workers, 0.5)
    worker.proc.send_signal(signal.SIGTERM)
    result = master.results_by_url(1)[url].curi
    assert result.status_code == 599
    assert result.optional_vars["error"] == "worker shutting down"
    master.wait_mgmt(C.ZMQ_SPYDER_MGMT_WORKER_QUIT_ACK)
    assert worker.wait() == 0


def test_second_signal_cuts_the_wait_short(tmp_path, socket_dir, site, master, workers):
    worker, url = slow_fetch_in_flight(tmp_path, socket_dir, site, master, workers, 60.0)
    worker.proc.send_signal(signal.SIGTERM)
    master.wait_mgmt(C.ZMQ_SPYDER_MGMT_WORKER_HEARTBEAT)  # shutting down: free = 0 ...
    worker.proc.send_signal(signal.SIGINT)                # ... and a second signal
    result = master.results_by_url(1, timeout=10)[url].curi
    assert result.optional_vars["error"] == "worker shutting down"
    assert worker.wait(timeout=10) == 0


def test_sigint_exits_0(tmp_path, socket_dir, master, workers):
    worker = WorkerProcess(tmp_path, socket_dir)
    workers.append(worker)
    registered(master)
    worker.proc.send_signal(signal.SIGINT)
    master.wait_mgmt(C.ZMQ_SPYDER_MGMT_WORKER_QUIT_ACK)
    assert worker.wait() == 0


def test_worker_started_before_the_master_registers(tmp_path, socket_dir, site, workers):
    worker = WorkerProcess(tmp_path, socket_dir, notify=True)
    workers.append(worker)
    assert b"READY=1" in worker.ready()  # running and registered with nobody listening ...
    master = FakeMaster(socket_dir)       # ... and the master appears later
    try:
        registered(master)
        answer = master.wait_mgmt(C.ZMQ_SPYDER_MGMT_WORKER_AVAIL,
                                  repeat=C.ZMQ_SPYDER_MGMT_WORKER_HELLO)
        assert answer.details["slots"] == 4
        url = site.url("/page/late")
        master.send(CrawlUri(url=url))
        assert master.results_by_url(1)[url].curi.status_code == 200
        master.wait_mgmt(C.ZMQ_SPYDER_MGMT_WORKER_QUIT_ACK, repeat=C.ZMQ_SPYDER_MGMT_WORKER_QUIT)
        assert worker.wait() == 0
    finally:
        master.close()


def test_malformed_messages_are_dropped(tmp_path, socket_dir, site, master, workers):
    worker = WorkerProcess(tmp_path, socket_dir)
    workers.append(worker)
    registered(master)
    # the worker's management SUB is connected once it answers a hello; let the
    # answers to the repeated hellos arrive before the garbage goes out
    master.wait_mgmt(C.ZMQ_SPYDER_MGMT_WORKER_AVAIL, repeat=C.ZMQ_SPYDER_MGMT_WORKER_HELLO)
    quiet_until = time.monotonic() + 0.5
    while time.monotonic() < quiet_until:
        msg = master.next_mgmt(quiet_until - time.monotonic())
        if msg is not None and msg.data == C.ZMQ_SPYDER_MGMT_WORKER_AVAIL:
            quiet_until = time.monotonic() + 0.5
    master.push.send_multipart([b"just one frame"])
    master.push.send_multipart([b"id", b"\x93 not a crawluri"])
    master.mgmt_out.send_multipart([C.ZMQ_SPYDER_MGMT_WORKER, b"two frames"])
    master.mgmt_out.send_multipart([C.ZMQ_SPYDER_MGMT_WORKER, b"id", b"quit", b"\xc1bad"])
    # a hello sent after the garbage is answered: it was read, dropped, and the
    # malformed "quit" did not start a shutdown (a stopping worker answers no hello)
    master.wait_mgmt(C.ZMQ_SPYDER_MGMT_WORKER_AVAIL, repeat=C.ZMQ_SPYDER_MGMT_WORKER_HELLO)
    url = site.url("/page/after-garbage")
    master.send(CrawlUri(url=url))
    assert master.results_by_url(1)[url].curi.status_code == 200
    assert worker.proc.poll() is None
    worker.proc.send_signal(signal.SIGTERM)
    assert worker.wait() == 0
    assert "dropped malformed message #1 on management" in worker.stderr
    assert "dropped malformed message #1 on fetch stage input" in worker.stderr


@pytest.mark.parametrize("overrides, message", [
    ({"SPYDER_SCOPER_PIPELINE": ["spyder.processor.nothing.Here"]}, "SPYDER_SCOPER_PIPELINE"),
    ({"REGEX_SCOPE_POSITIVE": ["(unclosed"]}, "REGEX_SCOPE_POSITIVE"),
    ({"PROXY_HOST": "proxy.local"}, "PROXY_PORT"),
])
def test_start_up_errors_are_one_line(tmp_path, socket_dir, overrides, message):
    worker = WorkerProcess(tmp_path, socket_dir, **overrides)
    status = worker.wait()
    assert status in (1, 2)
    lines = worker.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("spyder worker: error:")
    assert message in lines[0]
