"""The worker stages in-process: ZmqWorker (the extract stage, called with each fetched
page), AsyncZmqWorker (the fetch stage: capacity, errors, drain),
WorkerControl (registration, hello, heartbeat, quit), and the worker's sockets as
workerprocess builds them.  Real ZeroMQ sockets on ipc; the test side uses zmq.asyncio
and waits with deadlines."""
import asyncio
import hashlib
import os
import time

import pytest
import zmq
import zmq.asyncio

from spyder.core import constants as C
from spyder.core.crawluri import CrawlUri
from spyder.core.wire.masterclock import MasterClock
from spyder.core.wire.messages import DataMessage, MgmtMessage
from spyder.core.settings import Settings
from spyder.core.worker.zmqworker import SHUTTING_DOWN, AsyncZmqWorker, ZmqWorker
from spyder.core.worker.control import WorkerControl
from spyder.workerprocess import create_worker_extractor, create_worker_management

pytestmark = pytest.mark.timeout(60)

IDENTITY = b"master:test:1"
DEADLINE = 10.0


def ipc(socket_dir, name):
    return "ipc://" + os.path.join(socket_dir, name)


class Peers:
    """The test's end of a stage: a PUSH feeding it and a SUB reading its output."""

    def __init__(self, socket_dir):
        self.actx = zmq.asyncio.Context()
        self.ctx = zmq.Context()
        self.feed = self.actx.socket(zmq.PUSH)
        self.feed.bind(ipc(socket_dir, "in"))
        self.out = self.actx.socket(zmq.SUB)
        self.out.setsockopt(zmq.SUBSCRIBE, b"")
        self.out.bind(ipc(socket_dir, "out"))
        self.stage_in = self.ctx.socket(zmq.PULL)
        self.stage_in.connect(ipc(socket_dir, "in"))
        self.stage_out = self.ctx.socket(zmq.PUB)
        self.stage_out.connect(ipc(socket_dir, "out"))

    async def send(self, curi, identity=IDENTITY):
        await self.feed.send_multipart(DataMessage(identity, curi).serialize())

    async def recv(self, timeout=DEADLINE):
        frames = await asyncio.wait_for(self.out.recv_multipart(), timeout)
        return DataMessage.from_frames(frames)

    async def nothing_within(self, timeout):
        try:
            await asyncio.wait_for(self.out.recv_multipart(), timeout)
        except asyncio.TimeoutError:
            return True
        return False

    def close(self):
        self.actx.destroy(linger=0)
        self.ctx.destroy(linger=0)


def echo(curi):
    return curi


async def until(predicate, what, timeout=5.0):
    """Wait (without blocking the loop) until ``predicate()``; fail after ``timeout`` s."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out after %.1f s waiting for %s" % (timeout, what))
        await asyncio.sleep(0.01)


async def settle_pubsub(peers, stage_send):
    """PUB/SUB drops messages until connected: send probes until one arrives."""
    for _ in range(100):
        await stage_send()
        try:
            return await peers.recv(0.1)
        except asyncio.TimeoutError:
            continue
    raise AssertionError("the stage's PUB never reached the test's SUB")


def test_that_zmq_worker_processes_and_echoes(socket_dir):
    def processing(curi):
        if curi.url.endswith("/boom"):
            raise RuntimeError("processor exploded")
        if curi.url.endswith("/number"):
            curi.optional_vars["count"] = 3  # not a str: the master would drop it
        if curi.url.endswith("/text"):
            curi.content_body = "decoded"    # not bytes: so would this
            curi.optional_vars["count"] = 3
        curi.optional_vars["seen"] = "1"
        if curi.url.endswith("/other"):
            return {"url": curi.url}         # not a CrawlUri at all
        return curi

    def fetched(curi):  # a DataMessage as the fetch stage has it: parsed from the dispatch
        return DataMessage.from_frames(DataMessage(IDENTITY, curi).serialize())

    async def scenario():
        peers = Peers(socket_dir)
        stage = ZmqWorker(peers.stage_out, processing)
        try:
            async def probe():
                stage(fetched(CrawlUri(url="http://a/probe")))
            first = await settle_pubsub(peers, probe)
            for curi in (CrawlUri(url="http://a/boom"),
                         CrawlUri(url="http://a/ok", req_header={"Etag": "x"}),
                         CrawlUri(url="http://a/number"),
                         CrawlUri(url="http://a/text", content_body=b"raw", status_code=200),
                         CrawlUri(url="http://a/other", status_code=200)):
                stage(fetched(curi))
            second, third, fourth = await peers.recv(), await peers.recv(), await peers.recv()
            text, other = await peers.recv(), await peers.recv()
            return first, second, third, fourth, text, other
        finally:
            stage.close()
            peers.close()

    first, boom, ok, number, text, other = asyncio.run(scenario())
    assert first.identity == IDENTITY and first.curi.optional_vars["seen"] == "1"
    assert boom.curi.url == "http://a/boom"
    assert boom.curi.status_code == 710
    assert "processor exploded" in boom.curi.optional_vars["error"]
    assert ok.identity == IDENTITY
    assert ok.curi.req_header == {"Etag": "x"} and ok.curi.optional_vars["seen"] == "1"
    assert number.curi.status_code == 710 and number.curi.optional_vars["count"] == "3"
    # a result the master could not parse goes back as the dispatch arrived, marked 710
    assert text.curi.url == "http://a/text" and text.identity == IDENTITY
    assert text.curi.status_code == 710 and text.curi.content_body == b"raw"
    assert "content_body" in text.curi.optional_vars["error"]
    assert "seen" not in text.curi.optional_vars
    assert other.curi.url == "http://a/other" and other.curi.status_code == 710
    assert "not a CrawlUri" in other.curi.optional_vars["error"]


def test_fetch_stage_drops_malformed_dispatches(socket_dir):
    async def processing(curi):
        curi.status_code = 200
        return curi

    async def scenario():
        peers = Peers(socket_dir)
        stage = AsyncZmqWorker(peers.stage_in, processing, 1, ZmqWorker(peers.stage_out, echo))
        stage.start()
        try:
            await peers.feed.send_multipart([b"garbage"])
            await peers.feed.send_multipart([IDENTITY, b"\xc1 not msgpack"])
            msg = await settle_pubsub(peers, lambda: peers.send(CrawlUri(url="http://a/ok")))
            return msg, stage.dropped.total
        finally:
            stage.close()
            peers.close()

    msg, dropped = asyncio.run(scenario())
    assert msg.curi.url == "http://a/ok" and msg.curi.status_code == 200
    assert dropped == 2


def test_async_worker_takes_work_only_with_a_free_slot(socket_dir):
    async def scenario():
        peers = Peers(socket_dir)
        release = asyncio.Event()
        running = []
        peak = []

        async def processing(curi):
            running.append(curi.url)
            peak.append(len(running))
            if curi.url != "http://a/probe":
                await release.wait()
            running.remove(curi.url)
            curi.status_code = 200
            return curi

        stage = AsyncZmqWorker(peers.stage_in, processing, 2, ZmqWorker(peers.stage_out, echo))
        stage.start()
        try:
            await settle_pubsub(peers, lambda: peers.send(CrawlUri(url="http://a/probe")))
            peak.clear()
            for i in range(5):
                await peers.send(CrawlUri(url="http://a/%d" % i))
            await until(lambda: stage.in_flight == 2, "two fetches in flight")
            quiet = await peers.nothing_within(0.3)
            state = (stage.in_flight, stage.free, quiet)
            release.set()
            results = [await peers.recv() for _ in range(5)]
            return state, max(peak), results, stage.free
        finally:
            stage.close()
            peers.close()

    (in_flight, free, quiet), peak, results, free_after = asyncio.run(scenario())
    assert (in_flight, free, quiet) == (2, 0, True)
    assert peak == 2
    assert sorted(m.curi.url for m in results) == ["http://a/%d" % i for i in range(5)]
    assert all(m.identity == IDENTITY and m.curi.status_code == 200 for m in results)
    assert free_after == 2


def test_results_leave_the_body_out_when_the_ticket_says_so(socket_dir):
    async def processing(curi):
        curi.status_code, curi.content_body = 200, b"<html>%s</html>" % curi.url.encode()
        return curi

    async def scenario():
        peers = Peers(socket_dir)
        clock = MasterClock()
        clock.sample(IDENTITY, clock.now(), clock.now(), 60.0)  # a heartbeat echo
        stage = AsyncZmqWorker(peers.stage_in, processing, 2, ZmqWorker(peers.stage_out, echo),
                               clock=clock)
        stage.start()

        async def send(path, ticket):
            await peers.feed.send_multipart(
                DataMessage(IDENTITY, CrawlUri(url="http://a/" + path), ticket).serialize())
        try:
            await settle_pubsub(peers, lambda: send("probe", None))
            deadline = clock.now() + 30
            await send("kept", {C.TICKET_ID: 1, C.TICKET_DEADLINE: deadline})
            await send("left-out", {C.TICKET_ID: 2, C.TICKET_DEADLINE: deadline,
                                    C.TICKET_BODY: False})
            results = {}
            while len(results) < 2:
                msg = await peers.recv()
                results[msg.curi.url.rsplit("/", 1)[1]] = msg
            return results
        finally:
            stage.close()
            peers.close()

    results = asyncio.run(scenario())
    kept, left_out = results["kept"].curi, results["left-out"].curi
    assert kept.content_body == b"<html>http://a/kept</html>"
    assert C.CURI_CONTENT_LENGTH not in kept.optional_vars
    body = b"<html>http://a/left-out</html>"
    assert left_out.content_body is None and left_out.content_length == len(body)
    assert left_out.optional_vars[C.CURI_CONTENT_SHA1] == hashlib.sha1(body).hexdigest()
    # every result's ticket carries the worker's credit snapshot, numbered
    tickets = [results[name].ticket for name in ("kept", "left-out")]
    assert all(set(t) >= {"id", "worker", "back", "free", "held", "n"} for t in tickets)
    assert len({t["n"] for t in tickets}) == 2


def test_async_worker_turns_exceptions_into_results(socket_dir):
    async def processing(curi):
        raise ValueError("bad things")

    async def scenario():
        peers = Peers(socket_dir)
        stage = AsyncZmqWorker(peers.stage_in, processing, 1, ZmqWorker(peers.stage_out, echo))
        stage.start()
        try:
            return await settle_pubsub(peers, lambda: peers.send(CrawlUri(url="http://a/x")))
        finally:
            stage.close()
            peers.close()

    msg = asyncio.run(scenario())
    assert msg.curi.status_code == 710
    assert msg.curi.optional_vars["error"] == "ValueError: bad things"


def test_drain_returns_unfinished_and_queued_work(socket_dir):
    async def scenario():
        peers = Peers(socket_dir)
        never = asyncio.Event()

        async def processing(curi):
            if curi.url != "http://a/probe":
                await never.wait()
            return curi

        stage = AsyncZmqWorker(peers.stage_in, processing, 2, ZmqWorker(peers.stage_out, echo))
        stage.start()
        try:
            await settle_pubsub(peers, lambda: peers.send(CrawlUri(url="http://a/probe")))
            for i in range(4):
                await peers.send(CrawlUri(url="http://a/%d" % i))
            await until(lambda: stage.in_flight == 2, "two fetches in flight")
            returned = await stage.drain(0.2)
            results = [await peers.recv() for _ in range(4)]
            return returned, results, stage.in_flight
        finally:
            stage.close()
            peers.close()

    returned, results, in_flight = asyncio.run(scenario())
    assert returned == 4 and in_flight == 0
    assert sorted(m.curi.url for m in results) == ["http://a/%d" % i for i in range(4)]
    for msg in results:
        assert msg.identity == IDENTITY
        assert msg.curi.status_code == 599
        assert msg.curi.optional_vars["error"] == SHUTTING_DOWN


def test_worker_management_sockets_and_control(socket_dir):
    """create_worker_management connects to the configured addresses; WorkerControl
    registers, answers hello, heartbeats, and on quit drains and acknowledges."""
    settings = Settings(overrides={"PARENT_SOCKET_DIRECTORY": socket_dir,
                                   "WORKER_HEARTBEAT_INTERVAL": 0.1, "MAX_CLIENTS": 3})

    async def scenario():
        actx = zmq.asyncio.Context()
        master_pub = actx.socket(zmq.PUB)
        master_pub.bind(settings.ZEROMQ_MGMT_MASTER)
        master_sub = actx.socket(zmq.SUB)
        master_sub.setsockopt(zmq.SUBSCRIBE, b"")
        master_sub.bind(settings.ZEROMQ_MGMT_WORKER)
        ctx = zmq.Context()
        mgmt = create_worker_management(settings, ctx)
        stage_ctx = Peers(socket_dir)
        extractor = ZmqWorker(ctx.socket(zmq.XPUB), echo)
        fetcher = AsyncZmqWorker(stage_ctx.stage_in, echo, settings.MAX_CLIENTS, extractor)
        control = WorkerControl(settings, b"worker:test:7", mgmt, fetcher, extractor)
        seen = []

        async def next_mgmt(timeout=DEADLINE):
            msg = MgmtMessage.from_frames(
                await asyncio.wait_for(master_sub.recv_multipart(), timeout))
            seen.append(msg)
            return msg

        async def wait_for(data, publish=None):
            for _ in range(100):
                if publish is not None:
                    await master_pub.send_multipart([C.ZMQ_SPYDER_MGMT_WORKER, IDENTITY, publish])
                try:
                    while True:
                        msg = await next_mgmt(0.1)
                        if msg.data == data:
                            return msg
                except asyncio.TimeoutError:
                    continue
            raise AssertionError("no %r" % data)

        try:
            control.start()
            heartbeat = await wait_for(C.ZMQ_SPYDER_MGMT_WORKER_HEARTBEAT)
            hello_answer = await wait_for(C.ZMQ_SPYDER_MGMT_WORKER_AVAIL,
                                          publish=C.ZMQ_SPYDER_MGMT_WORKER_HELLO)
            # something on another topic is not for the worker (it subscribes to
            # spyder.worker. only) and must not disturb it
            await master_pub.send_multipart([C.ZMQ_SPYDER_MGMT_MASTER, IDENTITY, b"status"])
            # a blocking call on the loop shows as loop lag in the next heartbeat
            await wait_for(C.ZMQ_SPYDER_MGMT_WORKER_HEARTBEAT)
            asyncio.get_running_loop().call_soon(time.sleep, 0.3)
            lagged = await wait_for(C.ZMQ_SPYDER_MGMT_WORKER_HEARTBEAT)
            while lagged.details["lag"] < 0.25:  # (that heartbeat may have been sent before)
                lagged = await wait_for(C.ZMQ_SPYDER_MGMT_WORKER_HEARTBEAT)
            after = await wait_for(C.ZMQ_SPYDER_MGMT_WORKER_HEARTBEAT)
            assert after.details["lag"] < lagged.details["lag"] <= after.details["lag_max"]
            ack = await wait_for(C.ZMQ_SPYDER_MGMT_WORKER_QUIT_ACK,
                                 publish=C.ZMQ_SPYDER_MGMT_WORKER_QUIT)
            await asyncio.wait_for(control.done.wait(), DEADLINE)
            return heartbeat, hello_answer, ack, seen
        finally:
            fetcher.close()
            extractor.close()
            mgmt.close()
            ctx.destroy(linger=0)
            stage_ctx.close()
            actx.destroy(linger=0)

    heartbeat, hello_answer, ack, seen = asyncio.run(scenario())
    for msg in (heartbeat, hello_answer, ack):
        assert msg.topic == b"spyder.worker." and msg.identity == b"worker:test:7"
    # nobody subscribed to the results and no heartbeat was echoed: no work taken
    for msg in (heartbeat, hello_answer):
        assert {k: v for k, v in msg.details.items()
                if k not in ("t", "n", "lag", "lag_max")} == {"slots": 3, "free": 0, "held": [],
                                                           "batch": 1, "prefetch": 0}
        assert isinstance(msg.details["t"], float)
        assert isinstance(msg.details["lag"], float) and isinstance(msg.details["lag_max"], float)
    # the credit snapshots are numbered, one after the other
    numbers = [m.details["n"] for m in seen if m.details and "n" in m.details]
    assert len(numbers) >= 2 and numbers == sorted(set(numbers))
    assert ack.details is None
    # the last heartbeat before the ack announced no free slots
    last_beat = [m for m in seen if m.data == C.ZMQ_SPYDER_MGMT_WORKER_HEARTBEAT][-1]
    assert last_beat.details["free"] == 0


def test_create_worker_extractor_runs_the_pipeline(socket_dir):
    """The extract stage built from settings (limiter only) processes a robots.txt."""
    settings = Settings(overrides={
        "PARENT_SOCKET_DIRECTORY": socket_dir,
        "SPYDER_EXTRACTOR_PIPELINE": ["spyder.processor.limiter.DefaultLimiter"],
        "SPYDER_SCOPER_PIPELINE": [],
        "ZEROMQ_WORKER_PROC_EXTRACTOR_PUB": ipc(socket_dir, "out"),
    })

    async def scenario():
        peers = Peers(socket_dir)
        ctx = zmq.Context()
        stage = create_worker_extractor(settings, ctx)
        curi = CrawlUri(url="http://localhost/robots.txt",
                        effective_url="http://127.0.0.1/robots.txt")
        try:
            async def fetched():
                stage(DataMessage.from_frames(DataMessage(IDENTITY, curi).serialize()))
            return await settle_pubsub(peers, fetched)
        finally:
            stage.close()
            ctx.destroy(linger=0)
            peers.close()

    msg = asyncio.run(scenario())
    assert msg.identity == IDENTITY
    assert msg.curi.optional_vars["extraction_finished"] == "1"


def test_large_pages_and_sitemaps_are_processed_off_the_loop(socket_dir):
    """Issue 18 items 5 and 6: a large page or a sitemap (a 50,000-URL one blocked the
    loop 1.7 s) is processed in the extract thread while the loop goes on -- here the
    thread's processing waits for a callback that only the running loop can make --;
    a small page stays on the loop; the fetch slot is held until the result is out."""
    import threading
    from spyder.core.worker.zmqworker import OffLoop

    loop_ran = threading.Event()
    threads = {}

    def slow_processing(curi):
        threads[curi.url] = threading.current_thread().name
        curi.optional_vars["loop_ran"] = str(loop_ran.wait(10))
        curi.status_code = 201
        return curi

    def inline_processing(curi):
        threads[curi.url] = threading.current_thread().name
        curi.status_code = 202
        return curi

    async def fetched(curi):
        curi.status_code = 200
        return curi

    async def scenario():
        peers = Peers(socket_dir)
        off_loop = OffLoop(slow_processing, inline_max=1000)
        extract = ZmqWorker(peers.stage_out, inline_processing, off_loop=off_loop)
        stage = AsyncZmqWorker(peers.stage_in, fetched, 2, extract)
        stage.start()
        try:
            small = await settle_pubsub(peers, lambda: peers.send(
                CrawlUri(url="http://a/small", content_body=b"x" * 1000)))
            await peers.send(CrawlUri(url="http://a/large", content_body=b"x" * 1001))
            await until(lambda: "http://a/large" in threads, "the large page in the thread")
            busy = stage.in_flight
            asyncio.get_running_loop().call_soon(loop_ran.set)
            large = await peers.recv()
            await peers.send(CrawlUri(url="http://a/sitemap", content_body=b"x",
                                      optional_vars={C.CURI_SITEMAP_FETCH: "1"}))
            sitemap = await peers.recv()
            return small, large, sitemap, busy, off_loop.processed
        finally:
            stage.close()
            extract.close()
            peers.close()

    small, large, sitemap, busy, processed = asyncio.run(scenario())
    assert small.curi.status_code == 202 and threads["http://a/small"] == "MainThread"
    assert large.curi.status_code == 201 and large.curi.optional_vars["loop_ran"] == "True"
    assert threads["http://a/large"].startswith("spyder-extract")
    assert large.curi.optional_vars[C.CURI_CONTENT_SHA1] == hashlib.sha1(b"x" * 1001).hexdigest()
    assert sitemap.curi.status_code == 201 and threads["http://a/sitemap"].startswith("spyder-")
    assert busy == 1 and processed == 2
