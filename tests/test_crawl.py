"""``spyder crawl``'s planning (spyder.crawl), its Supervisor, progress line and summary
(spyder.supervisor) and the demo / bench commands (spyder.demo), with stand-in children.

The stand-ins (a small script written to the test's temp dir) speak the supervisor's
contract -- READY=1 / STOPPING=1 on NOTIFY_SOCKET, status broadcasts on the master's
management PUB, one error line on stderr when they cannot start -- so these tests check
the supervisor alone, quickly; tests/test_e2e.py runs the real processes.
"""
import argparse
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import wait_until
from spyder import crawl, demo, progress, supervisor
from spyder.core.settings import Settings
from spyder.errors import StartupError

FAKE_CHILD = textwrap.dedent('''
    import os, signal, sys, time
    import zmq
    from spyder.core.sdnotify import Notifier
    from spyder.core.wire.messages import MgmtMessage

    role = sys.argv[1]
    mode = os.environ.get("FAKE_" + role.upper(), "ok")
    with open(os.path.join(os.environ["FAKE_DIR"], "pids"), "a") as out:
        out.write("%s %d\\n" % (role, os.getpid()))
    if mode == "fail":
        print("starting the %s ..." % role, file=sys.stderr)
        print("spyder %s: error: cannot bind FAKE_ADDRESS=ipc://x: address in use" % role,
              file=sys.stderr)
        sys.exit(1)
    stop = []
    if mode == "stubborn":     # ignores SIGTERM: only SIGKILL ends it
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    notifier = Notifier()
    if mode != "silent":
        notifier.ready()
    if role != "master":
        deadline = time.time() + (0.3 if mode == "crash" else 60)
        while not stop and time.time() < deadline:
            time.sleep(0.02)
        sys.exit(3 if mode == "crash" else 0)
    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.bind(os.environ["FAKE_MGMT"])
    rounds = 0
    def status(done):
        details = {"workers": 2, "in_flight": 1, "dispatched": rounds, "bytes": 1000 * rounds,
                   "results": {"success": rounds, "redirect": 1, "not_found": 1,
                               "server_error": 0},
                   "pages_per_second": 10.0, "uptime": rounds * 0.05, "done": done,
                   "frontier": {"known": 50, "queued": 3, "hosts_active": 2}}
        pub.send_multipart(MgmtMessage(b"spyder.master.", b"master:x:1", b"status",
                                       details).serialize())
    limit = int(os.environ.get("FAKE_ROUNDS", "20"))
    while not stop and (mode == "forever" or rounds < limit):
        rounds += 1
        status(False)
        time.sleep(0.05)
    if stop:
        notifier.stopping()
    status(not stop)
    time.sleep(0.2)
    pub.close(linger=1000)
    ctx.term()
''')


def _args(**kwargs):
    values = dict(settings=None, overrides=[], workers=2, state=None, urls=[])
    values.update(kwargs)
    return argparse.Namespace(**values)


@pytest.fixture
def fake_plan(tmp_path, socket_dir, monkeypatch):
    """A crawl plan whose children are the stand-in script."""
    script = tmp_path / "fakechild.py"
    script.write_text(FAKE_CHILD)
    monkeypatch.setenv("FAKE_DIR", str(tmp_path))
    mgmt = "ipc://%s/mgmt.sock" % socket_dir
    monkeypatch.setenv("FAKE_MGMT", mgmt)

    class FakePlan(crawl.CrawlPlan):
        def argv(self, role):
            return [sys.executable, str(script), role]

    def make(workers=2):
        settings = Settings(None, {"SHUTDOWN_TIMEOUT": 2.0, "LOG_DIR": str(tmp_path / "log")})
        plan = crawl.plan_crawl(settings, _args(workers=workers), socket_dir,
                                state=str(tmp_path / "state.db"), seeds=["http://127.0.0.1:9/"])
        plan.__class__ = FakePlan
        plan.set("ZEROMQ_MGMT_MASTER", mgmt)
        return plan
    return make


def _pids(tmp_path):
    path = tmp_path / "pids"
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def _alive(pid):
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    with open("/proc/%s/stat" % pid) as stat:   # a zombie is dead too
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


# ------------------------------------------------------------------------------- planning
@pytest.mark.timeout(10)
def test_plan_sets_the_contract_overrides(tmp_path, socket_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = Settings(None, {"SEED_URLS": ["http://a.example/"]})
    plan = crawl.plan_crawl(settings, _args(overrides=["FRONTIER_MIN_DELAY=0"]), socket_dir,
                            seeds=["http://b.example/x", "http://a.example/"])
    assert plan.overrides["PARENT_SOCKET_DIRECTORY"] == socket_dir
    assert plan.overrides["FRONTIER_STATE_FILE"] == str(tmp_path / "spyder-crawl.db")
    assert plan.overrides["SEED_URLS"] == ["http://a.example/", "http://b.example/x"]
    assert plan.overrides["CRAWL_EXIT_WHEN_DONE"] is True
    assert plan.overrides["MASTER_STATUS_INTERVAL"] == 1.0
    assert plan.overrides["SINKS"] == [crawl.JSONL_SINK]
    assert plan.overrides["JSONL_SINK_PATH"] == str(tmp_path / "spyder-crawl.jsonl")
    assert any("no SINKS configured" in note for note in plan.notes)
    assert plan.settings.ZEROMQ_MGMT_MASTER.startswith("ipc://%s/" % socket_dir)
    argv = plan.argv("worker")
    assert argv[:4] == [sys.executable, "-m", "spyder", "worker"]
    assert argv[4:6] == ["-s", "FRONTIER_MIN_DELAY=0"]      # the user's overrides first
    assert "SEED_URLS=['http://a.example/', 'http://b.example/x']" in plan.argv("master")
    assert not [a for a in argv if a.startswith("SEED_URLS")]
    # the children parse exactly what the plan holds
    from spyder.core.settings import parse_override
    parsed = dict(parse_override(v) for v in argv[5::2])
    assert parsed["PARENT_SOCKET_DIRECTORY"] == socket_dir and parsed["FRONTIER_MIN_DELAY"] == 0
    labels = dict(plan.destinations())
    assert labels["JSONL"] == str(tmp_path / "spyder-crawl.jsonl")
    assert labels["logs"] == str(tmp_path / "log") + os.sep


@pytest.mark.timeout(10)
def test_plan_respects_what_the_user_chose(tmp_path, socket_dir):
    settings = Settings(None, {"PARENT_SOCKET_DIRECTORY": "/somewhere",
                               "FRONTIER_STATE_FILE": str(tmp_path / "mine.db"),
                               "SINKS": [crawl.WARC_SINK], "MASTER_STATUS_INTERVAL": 0.2})
    plan = crawl.plan_crawl(settings, _args(settings=str(tmp_path / "s.py")), socket_dir,
                            seeds=["https://example.com/"])
    assert "PARENT_SOCKET_DIRECTORY" not in plan.overrides
    assert plan.overrides["FRONTIER_STATE_FILE"] == str(tmp_path / "mine.db")
    assert "SINKS" not in plan.overrides and not plan.notes
    assert plan.overrides["MASTER_STATUS_INTERVAL"] == 0.2
    assert plan.argv("master")[4:6] == ["--settings", str(tmp_path / "s.py")]
    plan = crawl.plan_crawl(settings, _args(), socket_dir, state=str(tmp_path / "other.db"),
                            seeds=["https://example.com/"])
    assert plan.overrides["FRONTIER_STATE_FILE"] == str(tmp_path / "other.db")


@pytest.mark.timeout(10)
def test_plan_refuses_nonsense(tmp_path, socket_dir):
    with pytest.raises(StartupError, match="nothing to crawl"):
        crawl.plan_crawl(Settings(), _args(), socket_dir, state=str(tmp_path / "new.db"))
    for seed in ("example.com", "ftp://example.com/", "http://", "http:///index.html",
                 "http://:80/", "http://example.com:99999/"):
        with pytest.raises(StartupError, match="%r is not an http" % seed):
            crawl.plan_crawl(Settings(), _args(), socket_dir, seeds=[seed])
    with pytest.raises(StartupError, match="--workers must be at least 1"):
        crawl.plan_crawl(Settings(), _args(workers=0), socket_dir, seeds=["http://a.b/"])
    (tmp_path / "old.db").write_bytes(b"")   # resuming needs no seeds
    crawl.plan_crawl(Settings(), _args(), socket_dir, state=str(tmp_path / "old.db"))


# ------------------------------------------------------------------------------- progress
_STATUS = {"results": {"success": 2900, "redirect": 0, "not_found": 0, "server_error": 12},
           "pages_per_second": 535.4, "in_flight": 10,
           "frontier": {"queued": 13162, "hosts_active": 10}}


@pytest.mark.timeout(10)
def test_progress_on_a_terminal_is_one_live_line_that_fits_its_width():
    import fcntl
    import pty
    import struct
    import termios
    master_fd, slave_fd = pty.openpty()
    fcntl.ioctl(slave_fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 60, 0, 0))
    stream = os.fdopen(slave_fd, "w")
    try:
        line = progress.Progress(stream, "spyder crawl")
        assert line.tty
        line.update(_STATUS, 6)
        line._last = 0.0                    # the next update is due at once
        line.update(_STATUS, 3725)
        line.say("stopping gracefully")
    finally:
        stream.close()
    screen = b""
    while True:
        try:
            chunk = os.read(master_fd, 4096)
        except OSError:                         # EIO: the terminal's other side is closed
            break
        if not chunk:
            break
        screen += chunk
    os.close(master_fd)
    parts = screen.decode().split("\r\x1b[K")
    assert parts[0] == "" and len(parts) == 4, parts
    # two columns are left for the ^C the terminal echoes
    assert parts[1] == "spyder crawl: 0:00:06  2912 pages  535.4/s  queued 13162  in fli"[:57]
    assert parts[2].startswith("spyder crawl: 1:02:05  2912 pages") and len(parts[2]) == 57
    assert parts[3] == "spyder crawl: stopping gracefully\r\n"   # on a line of its own


@pytest.mark.timeout(10)
def test_progress_elsewhere_is_a_log_line():
    import io
    stream = io.StringIO()
    line = progress.Progress(stream, "spyder crawl")
    line.update(_STATUS, 6)
    line.update(_STATUS, 7)                 # within PROGRESS_LOG_INTERVAL: not shown
    line.say("stopping gracefully")
    assert stream.getvalue() == (
        "spyder crawl: elapsed 0:00:06, 2912 pages (535.4/s), queued 13162, in flight 10, "
        "errors 12, hosts active 10\nspyder crawl: stopping gracefully\n")


# ------------------------------------------------------------------------------- supervisor
@pytest.mark.timeout(60)
def test_supervisor_runs_a_crawl_to_its_end(fake_plan, tmp_path, capsys):
    plan = fake_plan(workers=2)
    result = supervisor.Supervisor(plan).run()
    assert result.exit_status == 0 and result.error is None
    assert result.done and result.status["results"]["success"] == 20
    roles = sorted(role for role, _ in _pids(tmp_path))
    assert roles == ["logsink", "master", "worker", "worker"]
    assert not any(_alive(pid) for _, pid in _pids(tmp_path))
    text = "\n".join(progress.summary(plan, result))
    assert "the crawl is complete" in text
    assert "pages      22 this run (success 20, redirect 1, not found 1, server error 0)" in text
    assert str(tmp_path / "state.db") in text
    assert "2 worker(s) running" in capsys.readouterr().err


@pytest.mark.timeout(10)
def test_summary_says_whether_a_rerun_resumes(fake_plan):
    plan, result = fake_plan(), supervisor.CrawlResult()
    assert progress.summary(plan, result)[0] == \
        "spyder crawl: stopped before the end; rerun the same command to resume"
    assert progress.summary(plan, result, "spyder demo", resumable=False)[0] == \
        "spyder demo: stopped before the end"
    result.error = "the master was killed by SIGKILL"
    assert progress.summary(plan, result)[0] == \
        "spyder crawl: the crawl failed; rerun the same command to resume"
    result.done = True
    assert progress.summary(plan, result)[0] == "spyder crawl: the crawl is complete"


@pytest.mark.timeout(60)
def test_demo_and_bench_do_not_promise_a_resume(tmp_path, socket_dir, monkeypatch, capsys):
    """Their site gets new ports on every run: a stopped demo or bench starts afresh."""
    class Stopped:
        def __init__(self, plan, label):
            pass

        def run(self):
            return supervisor.CrawlResult()    # stopped by a signal before the end
    monkeypatch.setattr(supervisor, "Supervisor", Stopped)
    monkeypatch.chdir(tmp_path)
    settings = Settings(None, {"PARENT_SOCKET_DIRECTORY": socket_dir})
    args = _args(output=str(tmp_path / "demo"), pages=10, hosts=2)
    assert demo.demo(settings, args) == 0
    assert demo.bench(settings, args) == 0
    out = capsys.readouterr().out
    assert "spyder demo: stopped before the end\n" in out
    assert "spyder bench: stopped before the end\n" in out
    assert "rerun" not in out


@pytest.mark.timeout(10)
def test_demo_keeps_off_a_directory_another_demo_is_crawling_into(tmp_path, socket_dir):
    import fcntl
    out = tmp_path / "demo"
    out.mkdir()
    (out / "crawl.jsonl").write_text("{}\n")
    settings = Settings(None, {"PARENT_SOCKET_DIRECTORY": socket_dir})
    with open(out / "state.db.lock", "a") as lock:      # as the running demo's master holds it
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(StartupError, match="in use by another spyder demo"):
            demo.demo(settings, _args(output=str(out)))
    assert (out / "crawl.jsonl").read_text() == "{}\n"
    demo._remove_previous_run(str(out))                # once it has ended
    assert sorted(os.listdir(out)) == ["state.db.lock"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("role", ["logsink", "master", "worker"])
def test_a_child_that_cannot_start_ends_the_crawl_with_its_error(fake_plan, tmp_path,
                                                                monkeypatch, role):
    monkeypatch.setenv("FAKE_" + role.upper(), "fail")
    started = time.monotonic()
    with pytest.raises(StartupError) as info:
        supervisor.Supervisor(fake_plan()).run()
    assert "the %s" % role in str(info.value)
    assert "spyder %s: error: cannot bind FAKE_ADDRESS=ipc://x: address in use" % role \
        in str(info.value)
    assert time.monotonic() - started < 20
    assert not any(_alive(pid) for _, pid in _pids(tmp_path))


@pytest.mark.timeout(60)
def test_a_child_that_never_gets_ready_is_reported(fake_plan, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_MASTER", "silent")
    monkeypatch.setattr(supervisor, "READY_TIMEOUT", 1.0)
    with pytest.raises(StartupError, match="master did not report READY=1 within 1 s"):
        supervisor.Supervisor(fake_plan()).run()
    assert not any(_alive(pid) for _, pid in _pids(tmp_path))


@pytest.mark.timeout(60)
def test_dead_workers_are_restarted_until_the_limit(fake_plan, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_MASTER", "forever")
    monkeypatch.setenv("FAKE_WORKER", "crash")       # every worker dies after 0.3 s
    monkeypatch.setattr(supervisor, "RESTART_LIMIT", 3)
    result = supervisor.Supervisor(fake_plan(workers=1)).run()
    assert result.exit_status == 1
    assert "worker 1 exited with status 3" in result.error
    assert "3 restarts within 60 s already, giving up" in result.error
    assert [role for role, _ in _pids(tmp_path)].count("worker") == 4
    assert not any(_alive(pid) for _, pid in _pids(tmp_path))


_DRIVER = textwrap.dedent('''
    import sys
    sys.path.insert(0, sys.argv[1])
    import test_crawl
    from spyder import crawl, demo, supervisor
    plan = test_crawl.driver_plan(sys.argv[2], sys.argv[3])
    sys.exit(supervisor.Supervisor(plan).run().exit_status)
''')


def driver_plan(script, socket_dir):
    """The plan of the supervisor run by ``_DRIVER`` in a child process."""
    class FakePlan(crawl.CrawlPlan):
        def argv(self, role):
            return [sys.executable, script, role]
    settings = Settings(None, {"SHUTDOWN_TIMEOUT": float(os.environ.get("FAKE_SHUTDOWN", 2))})
    plan = crawl.plan_crawl(settings, _args(workers=2), socket_dir,
                            state=os.path.join(socket_dir, "state.db"), seeds=["http://a.b/"])
    plan.__class__ = FakePlan
    plan.set("ZEROMQ_MGMT_MASTER", os.environ["FAKE_MGMT"])
    return plan


def _start_driver(tmp_path, socket_dir, **env):
    script = tmp_path / "fakechild.py"
    (tmp_path / "driver.py").write_text(_DRIVER)
    env = dict(os.environ, FAKE_MASTER="forever", **env)
    proc = subprocess.Popen([sys.executable, str(tmp_path / "driver.py"),
                             os.path.dirname(os.path.abspath(__file__)), str(script), socket_dir],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until(lambda: len(_pids(tmp_path)) == 4, 30, message="four children")
    return proc


def _signal(proc, signum):
    """Send ``signum`` to the driver; returns its "stopping ..." line once it handled it."""
    proc.send_signal(signum)
    line = ""
    while "stopping" not in line:
        line = proc.stderr.readline()
        assert line, "the supervisor ended without saying it is stopping"
    return line


@pytest.mark.timeout(60)
@pytest.mark.parametrize("signals, status", [((signal.SIGTERM,), 0), ((signal.SIGINT,), 0),
                                             ((signal.SIGINT, signal.SIGINT), 130)])
def test_signals_stop_all_children(fake_plan, tmp_path, socket_dir, signals, status):
    fake_plan()  # writes the stand-in script and sets FAKE_DIR / FAKE_MGMT
    proc = _start_driver(tmp_path, socket_dir)
    try:
        said = [_signal(proc, signum) for signum in signals]  # each handled before the next
        assert proc.wait(20) == status, proc.stderr.read()
        assert not any(_alive(pid) for _, pid in _pids(tmp_path))
        assert "stopping gracefully" in said[0]
        assert len(signals) == 1 or "stopping now" in said[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.timeout(60)
def test_a_second_signal_does_not_wait_for_children_that_ignore_sigterm(fake_plan, tmp_path,
                                                                        socket_dir):
    # after one signal the supervisor would give these workers SHUTDOWN_TIMEOUT + 10 s
    fake_plan()
    proc = _start_driver(tmp_path, socket_dir, FAKE_WORKER="stubborn", FAKE_SHUTDOWN="40")
    try:
        for _ in range(2):
            _signal(proc, signal.SIGINT)
        second = time.monotonic()
        assert proc.wait(20) == 130, proc.stderr.read()
        assert not any(_alive(pid) for _, pid in _pids(tmp_path))
        assert time.monotonic() - second < 4.0, "the second signal should stop everything at once"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.timeout(60)
def test_a_killed_supervisor_leaves_no_orphans(fake_plan, tmp_path, socket_dir):
    fake_plan()
    proc = _start_driver(tmp_path, socket_dir)
    proc.kill()
    proc.wait()
    pids = [pid for _, pid in _pids(tmp_path)]
    wait_until(lambda: not any(_alive(pid) for pid in pids), 15, message="children to exit")


@pytest.mark.timeout(30)
def test_the_site_process_of_demo_and_bench(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SPYDER_SETTINGS", raising=False)
    site = demo._SiteProcess(pages=10, hosts=2)
    try:
        assert len(site.seeds) == 2 and all(s.startswith("http://127.0.0.1:") for s in site.seeds)
    finally:
        site.close()
    assert site.proc.returncode == 0
    with pytest.raises(StartupError, match="demo site did not start: .*at least one host"):
        demo._SiteProcess(pages=1, hosts=3)
    from spyder import cli
    assert cli.main(["bench", "--pages", "1", "--hosts", "3"]) == 1
    assert "spyder bench: error: a demo site needs" in capsys.readouterr().err
