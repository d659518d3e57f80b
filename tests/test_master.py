"""The master daemon against a fake worker: registration, credit-based dispatch,
routing of every status class, leases, heartbeats, hello, shutdown and robustness.

Each test runs a real ``spyder master`` subprocess (with the FIFO frontier from
``fakefrontier.py``) and speaks the wire protocol with plain pyzmq sockets.
"""
import os
import signal
import socket
import time

import pytest
import zmq

from spyder.core import constants as C

from zmqfakes import FakeWorker, MasterProcess, pack

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def run_master(tmp_path):
    started = []

    def start(overrides=None, **kwargs):
        master = MasterProcess(tmp_path, overrides, **kwargs).start()
        started.append(master)
        return master

    yield start
    for master in started:
        master.stop()


@pytest.fixture
def workers():
    made = []

    def make(settings, **kwargs):
        worker = FakeWorker(settings, **kwargs)
        made.append(worker)
        return worker

    yield make
    for worker in made:
        worker.close()


def seeds(n, prefix="http://example.test/p"):
    return ["%s%d" % (prefix, i) for i in range(n)]


def test_registration_and_credit_based_dispatch(run_master, workers):
    urls = seeds(5)
    master = run_master({"SEED_URLS": urls})
    worker = workers(master.settings, slots=2)
    worker.register()
    first = worker.recv_all_work(2)
    assert len(first) == 2
    # two slots: nothing more arrives until a result comes back
    assert worker.recv_work(timeout=0.5) is None
    assert first[0].identity.startswith(b"master:")
    worker.reply(first[0])
    third = worker.recv_work()
    assert third is not None
    worker.reply(first[1])
    worker.reply(third)
    for msg in worker.recv_all_work(2):
        worker.reply(msg)
    status = worker.wait_status(lambda s: s["results"]["success"] == 5, message="5 successes")
    assert status["in_flight"] == 0
    assert sorted(e["url"] for e in master.events("success")) == sorted(urls)


def test_duplicate_registration_is_not_double_counted(run_master, workers):
    master = run_master({"SEED_URLS": seeds(6)})
    worker = workers(master.settings, slots=2)
    worker.register()
    for _ in range(3):
        worker.send_mgmt(C.ZMQ_SPYDER_MGMT_WORKER_AVAIL, {"slots": 2, "free": 2})
    status = worker.wait_status(lambda s: s["workers"] == 1 and s["in_flight"] == 2)
    assert status["slots"] == 2
    assert worker.recv_all_work(2) and worker.recv_work(timeout=0.5) is None


@pytest.mark.parametrize("status,method", [
    (200, "success"), (204, "success"),
    (301, "redirect"), (302, "redirect"), (303, "redirect"), (304, "redirect"),
    (307, "redirect"), (308, "redirect"),
    (404, "not_found"), (403, "not_found"), (410, "not_found"),
    (408, "server_error"), (429, "server_error"), (500, "server_error"),
    (503, "server_error"), (599, "server_error"), (710, "server_error"),
    (None, "server_error"), (0, "server_error"), (100, "server_error"),
    (600, "server_error"),
])
def test_every_status_is_routed_once(run_master, workers, status, method):
    master = run_master({"SEED_URLS": ["http://example.test/page"]})
    worker = workers(master.settings, slots=1)
    worker.register()
    worker.reply(worker.recv_work(), status=status)
    worker.wait_status(lambda s: sum(s["results"].values()) == 1, message="one result")
    routed = [e for e in master.events() if e["method"] not in ("add_uri", "close")]
    assert [(e["method"], e["status"]) for e in routed] == [(method, status)]


def test_a_second_result_for_the_same_dispatch_is_dropped(run_master, workers):
    master = run_master({"SEED_URLS": ["http://example.test/a"]})
    worker = workers(master.settings, slots=1)
    worker.register()
    msg = worker.recv_work()
    worker.reply(msg)
    worker.reply(msg)
    status = worker.wait_status(lambda s: s["late_results"] == 1, message="a late result")
    assert status["results"]["success"] == 1
    assert len(master.events("success")) == 1


def test_frontier_error_routes_the_url_once_more_as_710(run_master, workers):
    master = run_master({"SEED_URLS": ["http://example.test/raise"]})
    worker = workers(master.settings, slots=1)
    worker.register()
    worker.reply(worker.recv_work())
    status = worker.wait_status(lambda s: s["handler_errors"] == 1, message="a handler error")
    assert [(e["method"], e["status"]) for e in master.events() if e["method"] != "add_uri"] == [
        ("success", 200), ("server_error", C.CURI_EUNCAUGHT_EXCEPTION)]
    assert status["in_flight"] == 0


def test_expired_lease_returns_the_url_and_it_is_dispatched_again(run_master, workers):
    master = run_master({"SEED_URLS": ["http://example.test/retry"], "LEASE_TIMEOUT": 0.5})
    worker = workers(master.settings, slots=1)
    worker.register()
    first = worker.recv_work()
    assert first.curi.attempt == 0
    # never answered: the lease expires and the (fake) frontier schedules a retry
    second = worker.recv_work(timeout=5)
    assert second is not None and second.curi.url == first.curi.url
    assert second.curi.attempt == 1
    expired = master.events("server_error")
    assert [(e["status"], e["error"]) for e in expired] == [
        (C.CURI_ELEASE_EXPIRED, "lease expired after 0.5 s")]
    # the late answer to the first dispatch is taken as the outcome; the second one only
    # ends its lease (the frontier frees its politeness slot), counted as superseded
    worker.reply(first, ticket=True)
    worker.reply(second, ticket=True)
    status = worker.wait_status(lambda s: s["superseded"] == 1, message="one superseded")
    assert status["results"]["success"] == 1 and status["lease_expired"] == 1
    assert status["late_recorded"] == 1 and status["late_results"] == 0
    assert status["in_flight"] == 0
    assert [e["method"] for e in master.events() if e["method"] != "add_uri"] == [
        "server_error", "late_success", "success"]
    # a second late answer for the same dispatch is dropped
    worker.reply(first, ticket=True)
    status = worker.wait_status(lambda s: s["late_results"] == 1, message="a dropped answer")
    assert status["results"]["success"] == 1


def test_a_late_answer_to_a_dead_workers_lease_counts_if_first(run_master, workers):
    master = run_master({"SEED_URLS": ["http://example.test/retry"],
                         "WORKER_HEARTBEAT_TIMEOUT": 1.0})
    worker = workers(master.settings, slots=1)
    worker.register()
    first = worker.recv_work()
    worker.send_mgmt(C.ZMQ_SPYDER_MGMT_WORKER_CREDIT,
                     {"slots": 1, "free": 0, "held": [first.ticket[C.TICKET_ID]]})
    # silent: declared dead, its lease returned at once; the retry waits for a worker
    worker.wait_status(lambda s: s["redispatched"] == 1, message="the lease returned")
    worker.reply(first, ticket=True)  # an answer that was on its way: the first one
    status = worker.wait_status(lambda s: s["late_recorded"] == 1, message="a late answer")
    assert status["results"]["success"] == 1 and status["late_results"] == 0
    assert [e["method"] for e in master.events() if e["method"] != "add_uri"] == [
        "server_error", "late_success"]


def test_silent_worker_expires(run_master, workers):
    master = run_master({"WORKER_HEARTBEAT_TIMEOUT": 0.5})
    worker = workers(master.settings)
    worker.register()
    worker.wait_status(lambda s: s["workers"] == 0, message="the worker expired")


def test_heartbeats_keep_a_worker_and_register_an_unknown_one(run_master, workers):
    master = run_master({"WORKER_HEARTBEAT_TIMEOUT": 0.5, "SEED_URLS": ["http://example.test/x"]})
    worker = workers(master.settings, slots=3)
    # never says "be here now": heartbeats alone register it
    deadline = time.monotonic() + 3.0
    work = None
    while time.monotonic() < deadline and work is None:
        worker.send_mgmt(C.ZMQ_SPYDER_MGMT_WORKER_HEARTBEAT, {"slots": 3, "free": 3})
        work = worker.recv_work(timeout=0.1)
    assert work is not None
    worker.wait_status(lambda s: s["workers"] == 1)
    # heartbeats every 0.1 s keep it registered well past WORKER_HEARTBEAT_TIMEOUT
    seen = []
    end = time.monotonic() + 1.5
    while time.monotonic() < end:
        worker.send_mgmt(C.ZMQ_SPYDER_MGMT_WORKER_HEARTBEAT, {"slots": 3, "free": 2})
        status = worker.next_status(0.1)
        if status is not None:
            seen.append((status["workers"], status["slots"]))
    assert len(seen) >= 5 and set(seen) == {(1, 3)}


def test_master_started_after_the_worker_says_hello(tmp_path, run_master, workers):
    prepared = MasterProcess(tmp_path, {"SEED_URLS": ["http://example.test/late"]})
    worker = workers(prepared.settings)
    master = run_master({"SEED_URLS": ["http://example.test/late"]})
    hello = worker.wait_mgmt(C.ZMQ_SPYDER_MGMT_WORKER_HELLO)
    assert hello.identity.startswith(b"master:")
    # the worker answers the roll call like a real one and gets work
    work = None
    deadline = time.monotonic() + 5
    while work is None and time.monotonic() < deadline:
        worker.send_mgmt(C.ZMQ_SPYDER_MGMT_WORKER_AVAIL, {"slots": 1, "free": 1})
        work = worker.recv_work(timeout=0.2)
    assert work.curi.url == "http://example.test/late"
    assert master.proc.poll() is None


def test_master_callback_seeds_the_frontier(tmp_path, run_master, workers):
    (tmp_path / "mycrawl.py").write_text(
        "from spyder import CrawlUri\n"
        "def initialize(settings, ctx, io_loop, frontier):\n"
        "    assert ctx is not None and io_loop is not None\n"
        "    frontier.add_uri(CrawlUri('http://example.test/from-callback'))\n")
    master = run_master({"MASTER_CALLBACK": "mycrawl.initialize"},
                        env={"PYTHONPATH": os.pathsep.join(
                            [str(tmp_path), os.path.dirname(__file__)]
                            + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])})
    worker = workers(master.settings)
    worker.register()
    assert worker.recv_work().curi.url == "http://example.test/from-callback"


def _notify_socket(tmp_path):
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.2)
    return sock, path


def _read_notifications(sock, want, timeout=10):
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            seen.extend(sock.recv(4096).decode().split("\n"))
        except socket.timeout:
            pass
        if want in seen:
            return seen
    raise AssertionError("no %s among %r" % (want, seen))


def test_sigterm_quits_workers_and_exits_0_with_sd_notify(tmp_path, run_master, workers):
    notify, path = _notify_socket(tmp_path)
    master = run_master({"SEED_URLS": seeds(3)},
                        env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"})
    seen = _read_notifications(notify, "READY=1")
    assert any(line.startswith("STATUS=master master:") for line in seen)
    # pings at half of WATCHDOG_USEC, from the running loop
    _read_notifications(notify, "WATCHDOG=1", timeout=5)
    worker = workers(master.settings, slots=3)
    worker.register()
    in_flight = worker.recv_all_work(3)
    master.signal(signal.SIGTERM)
    quit_msg = worker.wait_mgmt(C.ZMQ_SPYDER_MGMT_WORKER_QUIT)
    assert quit_msg.identity.startswith(b"master:")
    # results that arrive during the shutdown are still recorded
    for msg in in_flight:
        worker.reply(msg)
    worker.send_mgmt(C.ZMQ_SPYDER_MGMT_WORKER_QUIT_ACK)
    assert master.wait() == 0, master.stderr
    _read_notifications(notify, "STOPPING=1")
    methods = [e["method"] for e in master.events()]
    assert methods.count("success") == 3 and methods[-1] == "close"
    notify.close()


def test_shutdown_without_ack_waits_for_shutdown_timeout(run_master, workers):
    master = run_master({"SHUTDOWN_TIMEOUT": 0.5})
    worker = workers(master.settings)
    worker.register()
    started = time.monotonic()
    master.signal(signal.SIGINT)
    assert master.wait() == 0
    assert time.monotonic() - started >= 0.5
    assert "no quit.ack" in master.stderr


def test_second_signal_stops_at_once(run_master, workers):
    master = run_master({"SHUTDOWN_TIMEOUT": 30.0})
    worker = workers(master.settings)
    worker.register()
    master.signal(signal.SIGTERM)
    worker.wait_mgmt(C.ZMQ_SPYDER_MGMT_WORKER_QUIT)
    master.signal(signal.SIGTERM)
    assert master.wait(timeout=10) == 0
    assert master.events()[-1]["method"] == "close"


def test_exit_when_done(run_master, workers):
    master = run_master({"SEED_URLS": seeds(2), "CRAWL_EXIT_WHEN_DONE": True})
    worker = workers(master.settings, slots=2)
    worker.register()
    for msg in worker.recv_all_work(2):
        worker.reply(msg)
    worker.wait_mgmt(C.ZMQ_SPYDER_MGMT_WORKER_QUIT)
    assert worker.status["done"] is True
    worker.send_mgmt(C.ZMQ_SPYDER_MGMT_WORKER_QUIT_ACK)
    assert master.wait() == 0


def test_second_master_on_the_same_directory_fails(tmp_path, run_master, workers):
    first = run_master()
    probe = workers(first.settings)
    probe.register()
    second = MasterProcess(tmp_path, {}).start()
    try:
        assert second.wait() == 1
    finally:
        second.stop()
    assert "another master (pid %d) is running on %s" % (first.proc.pid, first.socket_dir) \
        in second.stderr
    assert "Traceback" not in second.stderr
    assert first.proc.poll() is None


def test_tcp_address_in_use_fails_with_the_address(run_master):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = "tcp://127.0.0.1:%d" % taken.getsockname()[1]
        master = run_master({"ZEROMQ_MASTER_PUSH": address})
        assert master.wait() == 1
    assert "ZEROMQ_MASTER_PUSH=%s: address already in use" % address in master.stderr
    assert "Traceback" not in master.stderr


@pytest.mark.parametrize("overrides,expected", [
    ({"FRONTIER_CLASS": "nowhere.Frontier"}, "FRONTIER_CLASS='nowhere.Frontier' cannot be loaded"),
    ({"FRONTIER_CLASS": "Frontier"}, "FRONTIER_CLASS='Frontier' cannot be loaded"),
    ({"MASTER_CALLBACK": "fakefrontier.missing"}, "MASTER_CALLBACK='fakefrontier.missing' cannot be loaded"),
    ({"MASTER_CALLBACK": "fakefrontier.FifoFrontier"}, "MASTER_CALLBACK='fakefrontier.FifoFrontier' raised"),
])
def test_start_up_errors_are_one_clear_line(run_master, overrides, expected):
    master = run_master(overrides)
    assert master.wait() == 1
    lines = [line for line in master.stderr.splitlines() if line.startswith("spyder master: error:")]
    assert len(lines) == 1 and expected in lines[0], master.stderr


def test_a_settings_typo_fails_before_starting(run_master):
    master = run_master(extra_args=["-s", "MAX_CLIENTS=ten"])
    assert master.wait() == 2
    assert "setting MAX_CLIENTS = 'ten' is a str, expected int" in master.stderr


def test_garbage_on_every_bound_socket_does_not_crash(tmp_path, run_master, workers):
    master = run_master({"SEED_URLS": seeds(3), "ZEROMQ_MAX_MESSAGE_SIZE": 1024 * 1024})
    worker = workers(master.settings, slots=1)
    worker.register()
    # one good result first: then the result connection is up and keeps its order
    worker.reply(worker.recv_work())
    worker.wait_status(lambda s: s["results"]["success"] == 1, message="one success")
    garbage = [
        [b"only one frame"],
        [b"a", b"b", b"c"],
        [b"id", b"\xc1\xc1 not msgpack"],
        [b"id", pack([1, 2, 3])],
        [b"id", pack({"url": 5})],
        [b"id", pack({"url": "http://x/", "status_code": "200"})],
        [b"id", pack({"url": "http://x/", "rep_header": {"a": 1}})],
        [b"id", pack({"url": "http://x/", "v": 99})],
        [b"id", pack({"no": "url"})],
    ]
    for frames in garbage:
        worker.send_raw(frames, on="pub")
    # a frame above ZEROMQ_MAX_MESSAGE_SIZE: libzmq drops the sender's connection
    huge = worker.ctx.socket(zmq.PUB)
    huge.linger = 0
    huge.connect(master.settings.ZEROMQ_WORKER_PROC_EXTRACTOR_PUB)
    huge.send_multipart([b"id", b"x" * (2 * 1024 * 1024)])
    mgmt_garbage = [
        [b"spyder.worker."],
        [b"spyder.worker.", b"id"],
        [b"unknown.topic", b"id", b"be here now"],
        [b"spyder.worker.", b"", b"be here now"],
        [b"spyder.worker.", b"id", b"what is this"],
        [b"spyder.worker.", b"id", b"heartbeat", b"\xc1 bad details"],
        [b"spyder.worker.", b"id", b"be here now", pack({"slots": "many"}), b"extra"],
    ]
    for frames in mgmt_garbage:
        worker.send_raw(frames, on="mgmt_out")
    status = worker.wait_status(lambda s: s["malformed"] >= 16, message="malformed counted")
    assert master.proc.poll() is None
    # and the master still works: the other seeds are dispatched and routed
    for _ in range(2):
        worker.reply(worker.recv_work())
    worker.wait_status(lambda s: s["results"]["success"] == 3, message="three successes")
    assert status["workers"] == 1


def test_create_frontier_works(tmp_path):
    from spyder.core.frontier.frontiers import MultipleHostFrontier, SingleHostFrontier
    from spyder.core.settings import Settings
    from spyder.errors import StartupError
    from spyder.masterprocess import create_frontier
    for name, cls in (("SingleHostFrontier", SingleHostFrontier),
                      ("MultipleHostFrontier", MultipleHostFrontier)):
        settings = Settings(overrides={"FRONTIER_STATE_FILE": ":memory:",
                                       "FRONTIER_CLASS": "spyder.core.frontier." + name})
        frontier = create_frontier(settings, None)
        try:
            assert isinstance(frontier, cls)
        finally:
            frontier.close()
    broken = Settings(overrides={"FRONTIER_STATE_FILE": str(tmp_path / "no" / "such" / "dir.db")})
    with pytest.raises(StartupError, match="FRONTIER"):
        create_frontier(broken, None)


def test_robots_txt_requests_are_counted_apart(run_master, workers):
    master = run_master({"SEED_URLS": ["http://example.test/robots.txt", "http://example.test/"]})
    worker = workers(master.settings, slots=2)
    worker.register()
    robots, page = sorted(worker.recv_all_work(2), key=lambda m: m.curi.url, reverse=True)
    worker.reply(robots, robots_fetch="1")
    worker.reply(page)
    status = worker.wait_status(lambda s: s["robots"] == 1 and s["results"]["success"] == 1,
                                message="one robots.txt and one page")
    assert sum(status["results"].values()) == 1
    assert len(master.events("success")) == 2  # both still reach the frontier


def test_results_with_mistyped_tickets_are_counted_and_dropped(run_master, workers):
    """Issue 18 item 8: a ticket whose fields have the wrong types ({"worker": [1]} made
    the master's registry raise TypeError, which escaped the result channel before it
    re-armed, so later results went unread) is counted as malformed and dropped."""
    master = run_master({"SEED_URLS": seeds(3)})
    worker = workers(master.settings, slots=1)
    worker.register()
    first = worker.recv_work()
    worker.reply(first, ticket=True)
    worker.wait_status(lambda s: s["results"]["success"] == 1, message="one success")
    body = pack({"url": "http://example.test/p0", "status_code": 200})
    bad_tickets = [{"worker": [1]}, {"worker": {"a": 1}}, {"id": "7"}, {"id": [7]},
                   {"back": 1}, {"held": ["x"]}, {"free": "3"}, {"n": 1.5},
                   {"worker": b"worker:test:1", "free": [1]}]
    for ticket in bad_tickets:
        worker.send_raw([first.identity, body, pack(ticket)], on="pub")
    status = worker.wait_status(lambda s: s["malformed"] >= len(bad_tickets),
                                message="mistyped tickets counted")
    assert master.proc.poll() is None
    for _ in range(2):  # the channel still reads results
        worker.reply(worker.recv_work(), ticket=True)
    worker.wait_status(lambda s: s["results"]["success"] == 3, message="three successes")
    assert status["workers"] == 1
