"""Test helpers: run a real ``spyder master`` subprocess and talk to it like a worker.

``MasterProcess`` starts ``python -m spyder master`` with ipc endpoints in a private
temp directory and the in-memory FIFO frontier of ``tests/fakefrontier.py``;
``FakeWorker`` connects the four worker-side sockets with plain blocking pyzmq and
waits with deadlines (``zmq.Poller``), never with fixed sleeps.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import msgpack
import zmq

from spyder.core import constants as C
from spyder.core.wire.messages import DataMessage, MgmtMessage, joined_frames
from spyder.core.settings import Settings

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))


def free_tcp_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MasterProcess:
    """A ``spyder master`` subprocess with the fake frontier and fast timers."""

    def __init__(self, tmp_path, overrides=None, env=None, socket_dir=None, extra_args=()):
        self.extra_args = list(extra_args)
        self.tmp_path = tmp_path
        self.socket_dir = str(socket_dir or tmp_path / "sockets")
        self.events_path = str(tmp_path / "frontier-events.jsonl")
        self.overrides = {
            "PARENT_SOCKET_DIRECTORY": self.socket_dir,
            "FRONTIER_CLASS": "fakefrontier.FifoFrontier",
            "MASTER_STATUS_INTERVAL": 0.1,
            "MASTER_HELLO_INTERVAL": 0.1,
            "LOG_LEVEL_MASTER": 10,
        }
        self.overrides.update(overrides or {})
        self.settings = Settings(overrides=self.overrides)
        self.env = dict(os.environ)
        self.env["PYTHONPATH"] = os.pathsep.join(
            [TESTS_DIR] + [p for p in self.env.get("PYTHONPATH", "").split(os.pathsep) if p])
        self.env["FAKE_FRONTIER_LOG"] = self.events_path
        self.env.update(env or {})
        self.proc = None

    def command(self):
        cmd = [sys.executable, "-m", "spyder", "master"]
        for key, value in self.overrides.items():
            cmd += ["-s", "%s=%r" % (key, value)]
        return cmd + self.extra_args

    def start(self):
        self.proc = subprocess.Popen(self.command(), env=self.env, cwd=str(self.tmp_path),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        return self

    def signal(self, signum=signal.SIGTERM):
        self.proc.send_signal(signum)

    def wait(self, timeout=20):
        out, err = self.proc.communicate(timeout=timeout)
        self.stdout, self.stderr = out.decode(), err.decode()
        return self.proc.returncode

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=10)

    def events(self, method=None):
        if not os.path.exists(self.events_path):
            return []
        with open(self.events_path) as f:
            rows = [json.loads(line) for line in f if line.strip()]
        return [r for r in rows if method is None or r["method"] == method]


class FakeWorker:
    """The worker side of the protocol, driven step by step by a test."""

    def __init__(self, settings, identity=b"worker:test:1", slots=2, curve_dir=None, batch=None,
                 prefetch=None):
        self.identity = identity
        self.slots = slots
        self.batch = batch      # dispatches per message it announces (None: announces none)
        self.prefetch = prefetch  # dispatches beyond its slots it asks for (None: announces none)
        self.curve_dir = curve_dir
        self.ctx = zmq.Context()
        self.pull = self._socket(zmq.PULL, settings.ZEROMQ_WORKER_PROC_FETCHER_PULL)
        # an XPUB sees the master's subscription arrive: results sent before it are lost
        self.pub = self._socket(zmq.XPUB, settings.ZEROMQ_WORKER_PROC_EXTRACTOR_PUB)
        self._subscribed = False
        self.mgmt_in = self._socket(zmq.SUB, settings.ZEROMQ_MGMT_MASTER)
        self.mgmt_in.setsockopt(zmq.SUBSCRIBE, b"")
        self.mgmt_out = self._socket(zmq.PUB, settings.ZEROMQ_MGMT_WORKER)
        self.status = None

    def _socket(self, kind, address):
        sock = self.ctx.socket(kind)
        sock.linger = 0
        if self.curve_dir:
            import zmq.auth
            sock.curve_serverkey = zmq.auth.load_certificate(
                os.path.join(self.curve_dir, "server.key"))[0]
            sock.curve_publickey, sock.curve_secretkey = zmq.auth.load_certificate(
                os.path.join(self.curve_dir, "client.key_secret"))
        sock.connect(address)
        return sock

    def send_mgmt(self, data, details=None):
        self.mgmt_out.send_multipart(
            MgmtMessage(C.ZMQ_SPYDER_MGMT_WORKER, self.identity, data, details).serialize())

    def register(self, timeout=10.0):
        """Send ``be here now`` until the master's status shows this worker, and wait until
        the master subscribed to this worker's results."""
        deadline = time.monotonic() + timeout
        if not self._subscribed:
            if not self.pub.poll(timeout * 1000):
                raise AssertionError("the master never subscribed to the results socket")
            self.pub.recv()
            self._subscribed = True
        while time.monotonic() < deadline:
            details = {"slots": self.slots, "free": self.slots + (self.prefetch or 0)}
            if self.batch is not None:
                details["batch"] = self.batch
            if self.prefetch is not None:
                details["prefetch"] = self.prefetch
            self.send_mgmt(C.ZMQ_SPYDER_MGMT_WORKER_AVAIL, details)
            end = time.monotonic() + 0.3
            while time.monotonic() < end:
                status = self.next_status(end - time.monotonic())
                if status is not None and status["workers"] >= 1:
                    return status
        raise AssertionError("the master never registered %r" % self.identity)

    def next_mgmt(self, timeout):
        """The next management message from the master (or None after ``timeout``)."""
        if self.mgmt_in.poll(max(timeout, 0) * 1000):
            msg = MgmtMessage.from_frames(self.mgmt_in.recv_multipart())
            if msg.topic == C.ZMQ_SPYDER_MGMT_MASTER and msg.data == C.ZMQ_SPYDER_MGMT_MASTER_STATUS:
                self.status = msg.details
            return msg
        return None

    def next_status(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            msg = self.next_mgmt(deadline - time.monotonic())
            if msg is None:
                return None
            if msg.topic == C.ZMQ_SPYDER_MGMT_MASTER:
                return msg.details

    def wait_status(self, predicate, timeout=20.0, message="status"):
        """Wait for a status broadcast that satisfies ``predicate``; return it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.next_status(deadline - time.monotonic())
            if status is not None and predicate(status):
                return status
        raise AssertionError("no status with %s within %.1f s (last: %r)"
                             % (message, timeout, self.status))

    def wait_mgmt(self, data, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self.next_mgmt(deadline - time.monotonic())
            if msg is not None and msg.topic == C.ZMQ_SPYDER_MGMT_WORKER and msg.data == data:
                return msg
        raise AssertionError("no %r from the master within %.1f s" % (data, timeout))

    def recv_work(self, timeout=5.0):
        """The next dispatched DataMessage, or None after ``timeout``."""
        frames = self.recv_message(timeout)
        return None if frames is None else DataMessage.from_frames(frames)

    def recv_message(self, timeout=5.0):
        """The frames of the next dispatch message, or None after ``timeout``."""
        if self.pull.poll(timeout * 1000):
            return self.pull.recv_multipart()
        return None

    def recv_all_work(self, count, timeout=10.0):
        deadline = time.monotonic() + timeout
        got = []
        while len(got) < count and time.monotonic() < deadline:
            msg = self.recv_work(deadline - time.monotonic())
            if msg is not None:
                got.append(msg)
        return got

    def reply(self, msg, status=200, body=b"<html></html>", ticket=False, back=False,
              **optional):
        """Send ``msg`` back as processed with ``status`` (``ticket``: with its dispatch id,
        as a real worker answers; ``back``: handed back unfetched)."""
        self.pub.send_multipart(self.answer(msg, status, body, ticket, back, **optional))

    def reply_together(self, msgs, status=200, body=b"<html></html>"):
        """Send ``msgs`` back as processed, with their tickets, in one message."""
        self.pub.send_multipart(joined_frames(
            [self.answer(msg, status, body, ticket=True) for msg in msgs]))

    def answer(self, msg, status=200, body=b"<html></html>", ticket=False, back=False,
               **optional):
        """The frames of ``reply``'s answer, not sent."""
        curi = msg.curi
        curi.status_code = status
        curi.content_body = body
        curi.req_time = 0.01
        curi.optional_vars.update(optional)
        answer = {C.TICKET_ID: msg.ticket[C.TICKET_ID], C.TICKET_WORKER: self.identity,
                  C.TICKET_HANDED_BACK: back} if ticket else None
        return DataMessage(msg.identity, curi, answer).serialize()

    def send_raw(self, frames, on="pub"):
        getattr(self, on).send_multipart(frames)

    def close(self):
        self.ctx.destroy(linger=0)


def pack(obj):
    return msgpack.packb(obj, use_bin_type=True)
