"""ZmqMgmt over real sockets: callbacks by exact topic, publishing, robustness."""
import threading
import time

import pytest
import zmq
from tornado.ioloop import IOLoop

from spyder.core import constants as C
from spyder.core.wire.messages import MgmtMessage
from spyder.core.wire.mgmt import ZmqMgmt

pytestmark = pytest.mark.timeout(30)


class MgmtUnderTest:
    """A ZmqMgmt on an IOLoop in a thread, bound like the master's; the test is the peer."""

    def __init__(self, tmp_path):
        self.ctx = zmq.Context()
        self.sub_address = "ipc://%s/mgmt-in.sock" % tmp_path
        self.pub_address = "ipc://%s/mgmt-out.sock" % tmp_path
        self.received = []
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(10)

    def _run(self):
        import asyncio
        asyncio.set_event_loop(asyncio.new_event_loop())
        self.loop = IOLoop.current()
        sub = self.ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.bind(self.sub_address)
        pub = self.ctx.socket(zmq.PUB)
        pub.bind(self.pub_address)
        self.mgmt = ZmqMgmt(sub, pub, self.loop)
        self.mgmt.start()
        self.ready.set()
        self.loop.start()
        self.mgmt.close()
        self.loop.close()

    def call(self, fn, *args):
        """Run ``fn(*args)`` on the loop's thread; its result or exception comes back here."""
        done = threading.Event()
        outcome = []

        def run():
            try:
                outcome.append((True, fn(*args)))
            except BaseException as exc:
                outcome.append((False, exc))
            done.set()
        self.loop.add_callback(run)
        assert done.wait(10), "the loop did not run %r" % fn
        ok, value = outcome[0]
        if not ok:
            raise value
        return value

    def stop(self):
        self.loop.add_callback(self.loop.stop)
        self.thread.join(10)
        self.ctx.term()


@pytest.fixture
def mgmt(tmp_path):
    under_test = MgmtUnderTest(tmp_path)
    yield under_test
    under_test.stop()


@pytest.fixture
def peer(mgmt):
    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.connect(mgmt.sub_address)
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(mgmt.pub_address)
    yield pub, sub
    ctx.destroy(linger=0)


def send_until(pub, frames, condition, timeout=10):
    """PUB/SUB joins slowly: resend until ``condition`` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "message never arrived"
        pub.send_multipart(frames)
        time.sleep(0.05)


def test_add_callback_rejects_non_callables(mgmt):
    with pytest.raises(ValueError, match="not callable"):
        mgmt.mgmt.add_callback(b"spyder.worker.", "not a function")


def test_simple_mgmt_session(mgmt, peer):
    pub, sub = peer
    got_custom, got_worker = [], []
    mgmt.call(mgmt.mgmt.add_callback, b"spyder.worker.testtopic", got_custom.append)
    mgmt.call(mgmt.mgmt.add_callback, C.ZMQ_SPYDER_MGMT_WORKER, got_worker.append)
    send_until(pub, [b"spyder.worker.testtopic", b"me", b"test"], lambda: got_custom)
    assert (got_custom[0].topic, got_custom[0].data) == (b"spyder.worker.testtopic", b"test")
    assert not got_worker  # exact topic match, not prefix
    send_until(pub, [C.ZMQ_SPYDER_MGMT_WORKER, b"master:x:1", C.ZMQ_SPYDER_MGMT_WORKER_QUIT],
               lambda: got_worker)
    assert got_worker[0].data == C.ZMQ_SPYDER_MGMT_WORKER_QUIT
    # publishing reaches the peer
    deadline = time.monotonic() + 10
    while not sub.poll(50):
        assert time.monotonic() < deadline
        mgmt.call(mgmt.mgmt.publish, C.ZMQ_SPYDER_MGMT_WORKER, b"worker:x:2",
                  C.ZMQ_SPYDER_MGMT_WORKER_QUIT_ACK)
    assert MgmtMessage.from_frames(sub.recv_multipart()) == MgmtMessage(
        C.ZMQ_SPYDER_MGMT_WORKER, b"worker:x:2", C.ZMQ_SPYDER_MGMT_WORKER_QUIT_ACK)
    mgmt.call(mgmt.mgmt.remove_callback, b"spyder.worker.testtopic", got_custom.append)
    assert b"spyder.worker.testtopic" not in mgmt.mgmt._callbacks


def test_callbacks_removing_themselves_do_not_skip_others(mgmt, peer):
    pub, _ = peer
    calls = []

    def first(msg):
        calls.append("first")
        mgmt.mgmt.remove_callback(C.ZMQ_SPYDER_MGMT_WORKER, first)

    def second(msg):
        calls.append("second")
    mgmt.call(mgmt.mgmt.add_callback, C.ZMQ_SPYDER_MGMT_WORKER, first)
    mgmt.call(mgmt.mgmt.add_callback, C.ZMQ_SPYDER_MGMT_WORKER, second)
    send_until(pub, [C.ZMQ_SPYDER_MGMT_WORKER, b"m", b"quit"], lambda: "second" in calls)
    assert calls[:2] == ["first", "second"]


def test_garbage_and_failing_callbacks_are_survived(mgmt, peer):
    pub, _ = peer
    got = []

    def boom(msg):
        raise RuntimeError("callback failed")
    mgmt.call(mgmt.mgmt.add_callback, C.ZMQ_SPYDER_MGMT_WORKER, boom)
    mgmt.call(mgmt.mgmt.add_callback, C.ZMQ_SPYDER_MGMT_WORKER, got.append)
    # the connection is up once a message got through; then order is kept
    send_until(pub, [C.ZMQ_SPYDER_MGMT_WORKER, b"w", b"heartbeat"], lambda: got)
    for frames in ([b"x"], [b"a", b"b"], [b"t", b"i", b"d", b"\xc1"], [b"other", b"i", b"d"]):
        pub.send_multipart(frames)
    send_until(pub, [C.ZMQ_SPYDER_MGMT_WORKER, b"marker", b"heartbeat"],
               lambda: any(m.identity == b"marker" for m in got))
    assert mgmt.call(lambda: mgmt.mgmt.dropped.total) == 4
