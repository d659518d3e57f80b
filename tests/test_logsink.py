"""The logsink: routing by topic (in-process), and a real ``spyder logsink`` subprocess
receiving from pyzmq PUBHandlers into files, with the default setup, the skeleton's
logging.conf and a dictConfig file; signals, READY=1, malformed frames, bad configs."""
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
import zmq
from zmq.log.handlers import PUBHandler

from spyder.cli import TEMPLATE_DIR
from spyder.logsink import LogRouter

pytestmark = pytest.mark.timeout(60)


class Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append((record.name, record.levelname, record.getMessage()))


@pytest.fixture
def captured():
    """Capture handlers on the root, spyder.master and spyder.worker loggers."""
    names = ("", "spyder.master", "spyder.worker", "masterlog")
    saved = {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).level,
                 logging.getLogger(n).propagate) for n in names}
    capture = Capture()
    for name in names[:3]:
        logger = logging.getLogger(name)
        logger.handlers = [capture] if name == "" else []
        logger.setLevel(logging.DEBUG)
    logging.getLogger("masterlog").handlers = []
    yield capture
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers, logger.level, logger.propagate = handlers, level, propagate


def test_records_are_routed_by_topic(captured):
    route = LogRouter()
    route([b"spyder.master.INFO.frontier", b"spyder.frontier added 3 URLs\n"])
    route([b"spyder.worker.ERROR", b"fetch failed"])
    route([b"spyder.worker.DEBUG.proc.fetch", b"GET http://a/"])
    route([b"spyder.master.NOTALEVEL", b"odd level"])
    route([b"somebody.else.WARNING", b"\xff\xfe not utf-8"])
    route([b"just one frame"])
    route([b"a", b"b", b"c"])
    got = captured.records
    assert got[0] == ("spyder.master", "INFO", "frontier - spyder.frontier added 3 URLs")
    assert got[1] == ("spyder.worker", "ERROR", "fetch failed")
    assert got[2] == ("spyder.worker", "DEBUG", "proc.fetch - GET http://a/")
    assert got[3] == ("spyder.master", "INFO", "odd level")
    assert got[4][0] == "root" and got[4][1] == "WARNING"
    assert got[4][2].startswith("somebody.else.WARNING - \ufffd")
    assert got[5][0] == "root" and "malformed" in got[5][2]
    assert got[6][0] == "root" and "malformed" in got[6][2]
    assert route.malformed == 2 and route.received == 7


def test_legacy_masterlog_alias(captured):
    legacy = Capture()
    logging.getLogger("masterlog").handlers = [legacy]
    logging.getLogger("masterlog").propagate = False
    LogRouter()([b"spyder.master.INFO", b"to the old name"])
    assert legacy.records == [("masterlog", "INFO", "to the old name")]


class LogsinkProcess:
    def __init__(self, cwd, socket_dir, **overrides):
        self.overrides = {"PARENT_SOCKET_DIRECTORY": socket_dir}
        self.overrides.update(overrides)
        cmd = [sys.executable, "-m", "spyder", "logsink"]
        for key, value in self.overrides.items():
            cmd += ["-s", "%s=%r" % (key, value)]
        env = {k: v for k, v in os.environ.items() if k != "SPYDER_SETTINGS"}
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(os.path.join(socket_dir, "notify"))
        self.notify.settimeout(20)
        env["NOTIFY_SOCKET"] = os.path.join(socket_dir, "notify")
        self.address = "ipc://" + os.path.join(socket_dir, "spyder-logging.sock")
        self.proc = subprocess.Popen(cmd, cwd=str(cwd), env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def messages(self):
        """The sd_notify lines received so far, waiting for at least one."""
        return self.notify.recv(4096).decode().splitlines()

    def stop(self, signum=signal.SIGTERM, timeout=20):
        self.proc.send_signal(signum)
        out, err = self.proc.communicate(timeout=timeout)
        self.stderr = err.decode()
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=10)
        self.notify.close()


@pytest.fixture
def logsinks():
    started = []
    yield started
    for sink in started:
        sink.kill()


def publish_until(address, expected, send, timeout=15.0):
    """Publish records with ``send(loggers)`` until every ``(path, text)`` of
    ``expected`` is in its file (PUB/SUB loses what is sent before a connection is up)."""
    ctx = zmq.Context()
    loggers = {}
    for process in ("master", "worker"):
        sock = ctx.socket(zmq.PUB)
        sock.linger = 0
        sock.connect(address)
        handler = PUBHandler(sock)
        handler.root_topic = "spyder." + process
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger = logging.getLogger("test.logsink." + process)
        logger.handlers = [handler]
        logger.propagate = False
        logger.setLevel(logging.DEBUG)
        loggers[process] = logger

    def arrived():
        return all(os.path.exists(path) and text in open(path, encoding="utf-8").read()
                   for path, text in expected)

    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            send(loggers)
            end = time.monotonic() + 0.3
            while time.monotonic() < end:
                if arrived():
                    return
                time.sleep(0.02)
        raise AssertionError("%r never all arrived" % (expected,))
    finally:
        for logger in loggers.values():
            logger.handlers = []
        ctx.destroy(linger=0)


def send_both(loggers):
    loggers["master"].info("frontier::master says hello")
    loggers["worker"].warning("proc.fetch::worker says hello")
    loggers["worker"].error("last one")


def test_logsink_writes_daily_files(tmp_path, socket_dir, logsinks):
    sink = LogsinkProcess(tmp_path, socket_dir, LOG_DIR=str(tmp_path / "logs"),
                          LOG_BACKUP_COUNT=3)
    logsinks.append(sink)
    assert "READY=1" in sink.messages()
    worker_log = tmp_path / "logs" / "worker.log"
    publish_until(sink.address, [(str(tmp_path / "logs" / "master.log"), "master says hello"),
                                 (str(worker_log), "last one")], send_both)
    ctx = zmq.Context()
    garbage = ctx.socket(zmq.PUB)
    garbage.connect(sink.address)
    for _ in range(20):
        garbage.send_multipart([b"one", b"two", b"three"])
    ctx.destroy(linger=500)
    assert sink.proc.poll() is None
    assert sink.stop() == 0
    master_text = (tmp_path / "logs" / "master.log").read_text()
    worker_text = worker_log.read_text()
    assert "INFO spyder.master - frontier - master says hello" in master_text
    assert "worker says hello" not in master_text
    assert "WARNING spyder.worker - proc.fetch - worker says hello" in worker_text
    assert "ERROR spyder.worker - last one" in worker_text
    assert "master says hello" not in worker_text
    assert "worker says hello" in sink.stderr  # and stderr too


def test_logsink_with_the_skeleton_logging_conf(tmp_path, socket_dir, logsinks):
    crawl = tmp_path / "crawl"
    shutil.copytree(TEMPLATE_DIR, crawl, ignore=shutil.ignore_patterns("__pycache__"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    sink = LogsinkProcess(elsewhere, socket_dir, LOGSINK_CONFIG=str(crawl / "logging.conf"))
    logsinks.append(sink)
    assert "READY=1" in sink.messages()
    publish_until(sink.address, [(str(crawl / "log" / "master.log"), "master says hello"),
                                 (str(crawl / "log" / "worker.log"), "last one")], send_both)
    assert sink.stop(signal.SIGINT) == 0
    assert "master says hello" in (crawl / "log" / "master.log").read_text()


def test_logsink_with_a_dictconfig_file(tmp_path, socket_dir, logsinks):
    config = {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"f": {"format": "%(name)s|%(levelname)s|%(message)s"}},
        "handlers": {"all": {"class": "logging.FileHandler", "formatter": "f",
                             "filename": str(tmp_path / "all.log")}},
        "root": {"level": "DEBUG", "handlers": ["all"]},
    }
    (tmp_path / "logging.json").write_text(json.dumps(config))
    sink = LogsinkProcess(tmp_path, socket_dir, LOGSINK_CONFIG=str(tmp_path / "logging.json"))
    logsinks.append(sink)
    assert "READY=1" in sink.messages()
    publish_until(sink.address, [(str(tmp_path / "all.log"), "master says hello"),
                                 (str(tmp_path / "all.log"), "last one")], send_both)
    assert sink.stop() == 0
    text = (tmp_path / "all.log").read_text()
    assert "spyder.master|INFO|frontier - master says hello" in text


@pytest.mark.parametrize("config", ["missing.conf", "broken.conf"])
def test_bad_logsink_config_is_one_line(tmp_path, socket_dir, config):
    (tmp_path / "broken.conf").write_text("[loggers]\nkeys=nothing\n")
    proc = subprocess.run(
        [sys.executable, "-m", "spyder", "logsink", "-s", "PARENT_SOCKET_DIRECTORY=" + socket_dir,
         "-s", "LOGSINK_CONFIG=" + str(tmp_path / config)],
        cwd=str(tmp_path), capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "LOGSINK_CONFIG" in lines[0], proc.stderr
