"""``spyder start``: the skeleton is copied, refuses to overwrite, loads cleanly, and
runs as it is -- logsink, master and worker started in the copy crawl a local site."""
import importlib.util
import os
import py_compile
import signal
import socket
import subprocess
import sys
import warnings

import pytest

from spyder.core.settings import load_settings
from test_worker_support import ThreadedSite

pytestmark = pytest.mark.timeout(120)

SKELETON = ["settings.py", "master.py", "sink.py", "seeds.txt", "logging.conf", "log/.keep"]


def spyder(*args, cwd, env=None, **kwargs):
    env = dict({k: v for k, v in os.environ.items()
                if k not in ("SPYDER_SETTINGS", "NOTIFY_SOCKET")}, **(env or {}))
    return subprocess.Popen([sys.executable, "-m", "spyder"] + list(args), cwd=str(cwd),
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kwargs)


def run(*args, cwd):
    proc = spyder(*args, cwd=cwd)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def test_start_copies_the_skeleton(tmp_path):
    status, out, err = run("start", "crawl", cwd=tmp_path)
    assert status == 0, err
    for name in SKELETON:
        assert (tmp_path / "crawl" / name).is_file(), name
    assert not list((tmp_path / "crawl").rglob("__pycache__"))
    assert "crawl" in out


def test_start_defaults_to_the_current_directory(tmp_path):
    status, _, err = run("start", cwd=tmp_path)
    assert status == 0, err
    assert (tmp_path / "settings.py").is_file()


def test_start_refuses_to_overwrite_unless_forced(tmp_path):
    assert run("start", "crawl", cwd=tmp_path)[0] == 0
    (tmp_path / "crawl" / "seeds.txt").write_text("http://mine.example/\n")
    status, _, err = run("start", "crawl", cwd=tmp_path)
    assert status == 1
    assert "refusing to overwrite" in err and "--force" in err
    assert (tmp_path / "crawl" / "seeds.txt").read_text() == "http://mine.example/\n"
    assert run("start", "crawl", "--force", cwd=tmp_path)[0] == 0
    assert "example.com" in (tmp_path / "crawl" / "seeds.txt").read_text()


def test_skeleton_settings_load_without_warnings(tmp_path):
    assert run("start", "crawl", cwd=tmp_path)[0] == 0
    crawl = tmp_path / "crawl"
    for name in ("settings.py", "master.py", "sink.py"):
        py_compile.compile(str(crawl / name), doraise=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        settings = load_settings(str(crawl / "settings.py"))
    assert settings.MASTER_CALLBACK == "master.initialize"
    assert settings.LOGSINK_CONFIG == str(crawl / "logging.conf")
    assert settings.FRONTIER_STATE_FILE == str(crawl / "state.db")
    spec = importlib.util.spec_from_file_location("skeleton_master", crawl / "master.py")
    master = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(master)
    (crawl / "seeds.txt").write_text("# comment\n\n http://a.example/ \nhttp://b.example/x\n")
    assert master.read_seeds(str(crawl / "seeds.txt")) == ["http://a.example/",
                                                          "http://b.example/x"]


def test_skeleton_crawls_a_local_site(tmp_path, socket_dir):
    site = ThreadedSite(tmp_path)
    procs = []
    try:
        assert run("start", "crawl", cwd=tmp_path)[0] == 0
        crawl = tmp_path / "crawl"
        seed = site.url("/page/a")
        (crawl / "seeds.txt").write_text(seed + "\n")
        common = ["-s", "PARENT_SOCKET_DIRECTORY=" + socket_dir]
        notify_path = os.path.join(socket_dir, "notify")
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
            notify.bind(notify_path)
            notify.settimeout(30)
            logsink = spyder("logsink", *common, cwd=crawl, env={"NOTIFY_SOCKET": notify_path})
            procs.append(logsink)
            assert b"READY=1" in notify.recv(4096)  # before the others start logging
        worker = spyder("worker", *common, cwd=crawl)
        procs.append(worker)
        master = spyder("master", *common, "-s", "CRAWL_EXIT_WHEN_DONE=True",
                        "-s", "FRONTIER_MIN_DELAY=0.0", "-s", "FRONTIER_CRAWL_DELAY_FACTOR=0.0",
                        "-s", "MASTER_STATUS_INTERVAL=0.5", cwd=crawl)
        procs.append(master)
        _, master_err = master.communicate(timeout=90)
        assert master.returncode == 0, master_err
        _, worker_err = worker.communicate(timeout=30)
        assert worker.returncode == 0, worker_err
        logsink.send_signal(signal.SIGTERM)
        logsink.communicate(timeout=30)
        assert logsink.returncode == 0
        assert "sink: 200 %s" % seed in master_err  # MySink saw the seed
        master_log = (crawl / "log" / "master.log").read_text()
        assert "200 %s" % seed in master_log and "200 %s" % site.url("/page/next") in master_log
        assert (crawl / "state.db").exists()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=10)
        site.close()
