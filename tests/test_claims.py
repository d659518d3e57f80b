"""Claim deadlines (docs/protocol.md, "Claims"): a dispatch read too late is handed back
unread, a claimed fetch goes on past the claim deadline only once the master confirmed the
claim, and the master returns a lease no worker claimed in time -- without an attempt.

The fetch stage runs in-process on real ipc sockets (the helpers of ``test_worker``);
the master's ``Leases`` are driven with explicit times."""
import asyncio
import time

import pytest

from spyder.core import constants as C
from spyder.core.crawluri import CrawlUri
from spyder.core.master.leases import CLAIM_MARGIN, Leases
from spyder.core.wire.masterclock import MasterClock
from spyder.core.wire.messages import DataMessage
from spyder.core.worker.zmqworker import (READ_TOO_LATE, UNCONFIRMED, AsyncZmqWorker,
                                          ZmqWorker)
from conftest import async_wait_until
from test_worker import IDENTITY, Peers, echo, settle_pubsub

pytestmark = pytest.mark.timeout(60)


def test_leases_return_what_no_worker_claimed_in_time():
    leases = Leases(lease_timeout=60.0, claim_timeout=3.0)
    taken = leases.open(CrawlUri(url="http://a/taken"), now=100.0)
    lost = leases.open(CrawlUri(url="http://a/lost"), now=100.0)
    assert taken.claim_by == lost.claim_by == 103.0 and leases.unclaimed == 2
    assert leases.claim(taken.id, b"worker:w:1")
    assert leases.unclaimed_overdue(103.0 + CLAIM_MARGIN - 0.01) == []
    assert leases.unclaimed_overdue(103.0 + CLAIM_MARGIN) == [lost]   # the claimed one stays
    leases.void(lost)
    assert leases.unclaimed == 0 and len(leases) == 1 and leases.for_url(lost.curi.url) is None
    assert leases.claim(lost.id, b"worker:w:1") is False            # too late: not its own
    assert leases.take_voided(lost.id) == "http://a/lost" and leases.take_voided(lost.id) is None
    assert leases.claimed_by(b"worker:w:1") == 1


def _stage(peers, processing, clock, slots, batch, prefetch=0):
    stage = AsyncZmqWorker(peers.stage_in, processing, slots, ZmqWorker(peers.stage_out, echo),
                           clock=clock, batch=batch, prefetch=prefetch)
    stage.identity = b"worker:test:1"
    stage.start()
    return stage


async def _send(peers, path, ticket):
    await peers.feed.send_multipart(
        DataMessage(IDENTITY, CrawlUri(url="http://a/" + path), ticket).serialize())


def with_stage(socket_dir, processing, body, slots=4, batch=1, prefetch=0):
    """Run ``body(peers, stage, clock)`` against a fetch stage running ``processing`` with
    ``slots`` slots, taking up to ``batch`` dispatches per message and ``prefetch`` beyond
    its slots, with a clock sample of the master and the result subscription settled;
    returns its result."""
    async def scenario():
        peers = Peers(socket_dir)
        clock = MasterClock()
        clock.sample(IDENTITY, clock.now(), clock.now(), 60.0)
        stage = _stage(peers, processing, clock, slots, batch, prefetch)
        try:
            await settle_pubsub(peers, lambda: _send(peers, "probe", None))
            return await body(peers, stage, clock)
        finally:
            stage.close()
            peers.close()

    return asyncio.run(scenario())


def test_a_dispatch_read_past_its_claim_deadline_is_handed_back_unread(socket_dir):
    fetched = []

    async def processing(curi):
        fetched.append(curi.url)
        curi.status_code = 200
        return curi

    async def body(peers, stage, clock):
        now = clock.now()
        # read 0.2 s before its claim deadline: less than CLAIM_GUARD left
        await _send(peers, "late", {C.TICKET_ID: 7, C.TICKET_DEADLINE: now + 30,
                                    C.TICKET_CLAIM_BY: now + 0.2})
        return await peers.recv()

    msg = with_stage(socket_dir, processing, body)
    assert msg.curi.url == "http://a/late" and fetched == ["http://a/probe"]
    assert msg.ticket[C.TICKET_HANDED_BACK] is True and msg.ticket[C.TICKET_VOID] is True
    assert msg.curi.optional_vars[C.CURI_ERROR] == READ_TOO_LATE


def test_a_claim_the_master_does_not_confirm_is_withdrawn_at_the_claim_deadline(socket_dir):
    started, cancelled = [], []

    async def processing(curi):
        if curi.url.endswith("probe"):
            return curi
        started.append(curi.url)
        try:
            await asyncio.sleep(3.0)      # a slow fetch, still running at the claim deadline
        except asyncio.CancelledError:
            cancelled.append(curi.url)
            raise
        curi.status_code = 200
        return curi

    async def body(peers, stage, clock):
        now = clock.now()
        ticket = {C.TICKET_DEADLINE: now + 30, C.TICKET_CLAIM_BY: now + 1.0}
        await _send(peers, "unconfirmed", dict(ticket, **{C.TICKET_ID: 2}))
        await _send(peers, "confirmed", dict(ticket, **{C.TICKET_ID: 3}))
        await async_wait_until(lambda: len(started) >= 2, message="both fetches started")
        held = (list(stage.held), stage.unconfirmed)
        stage.confirm([3], [])        # the master registered claim 3 only
        first = await peers.recv(10)
        second = await peers.recv(10)
        return held, first, second, clock.now() - now

    held, first, second, elapsed = with_stage(socket_dir, processing, body)
    assert held == ([2, 3], 2)
    assert first.curi.url == "http://a/unconfirmed" and cancelled == ["http://a/unconfirmed"]
    assert first.ticket[C.TICKET_HANDED_BACK] is True and C.TICKET_VOID not in first.ticket
    assert first.curi.optional_vars[C.CURI_ERROR] == UNCONFIRMED
    assert second.curi.url == "http://a/confirmed" and second.curi.status_code == 200
    assert second.ticket[C.TICKET_HANDED_BACK] is False


def test_the_master_says_which_held_ids_are_not_the_workers(socket_dir):
    async def processing(curi):
        if not curi.url.endswith("probe"):
            await asyncio.sleep(5.0)
        return curi

    async def body(peers, stage, clock):
        now = clock.now()
        await _send(peers, "stale", {C.TICKET_ID: 9, C.TICKET_DEADLINE: now + 30,
                                     C.TICKET_CLAIM_BY: now + 10})
        await async_wait_until(lambda: stage.held == [9], message="dispatch 9 held")
        stage.confirm([], [9])
        return await peers.recv(10)

    msg = with_stage(socket_dir, processing, body)
    assert msg.curi.url == "http://a/stale" and msg.ticket[C.TICKET_HANDED_BACK] is True


# ------------------------------------------------------------------ the master's side
from spyder.core.wire.messages import MgmtMessage  # noqa: E402
from test_master import run_master, workers  # noqa: E402,F401 (fixtures)


def _claims_for(worker, timeout=10.0):
    """The next ``claims`` message addressed to ``worker`` (its own topic)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = worker.next_mgmt(deadline - time.monotonic())
        if msg is not None and msg.topic == C.ZMQ_SPYDER_MGMT_CLAIMS + worker.identity:
            return msg
    raise AssertionError("no claims message for %r" % worker.identity)


def test_the_master_returns_a_dispatch_nobody_claimed_without_an_attempt(run_master, workers):
    master = run_master({"SEED_URLS": ["http://example.test/p"], "DISPATCH_CLAIM_TIMEOUT": 0.5,
                         "WORKER_HEARTBEAT_INTERVAL": 0.2})
    worker = workers(master.settings, slots=1)
    worker.register()
    lost = worker.recv_work()      # read, but never claimed: as if it sat in a dead pipe
    assert lost.ticket[C.TICKET_CLAIM_BY] > 0
    status = worker.wait_status(lambda s: s["unclaimed_returned"] == 1, message="a return")
    assert status["handed_back"] == 0 and status["lease_expired"] == 0
    # silent since that dispatch, its free slot is not trusted until its next snapshot
    assert worker.recv_work(timeout=0.3) is None
    worker.send_mgmt(C.ZMQ_SPYDER_MGMT_WORKER_HEARTBEAT, {"slots": 1, "free": 1, "n": 2})
    again = worker.recv_work()     # dispatched again, under a new id
    assert again.curi.url == lost.curi.url and again.ticket[C.TICKET_ID] != lost.ticket[C.TICKET_ID]
    worker.send_mgmt(C.ZMQ_SPYDER_MGMT_WORKER_CREDIT,
                     {"slots": 1, "free": 0, "held": [again.ticket[C.TICKET_ID],
                                                      lost.ticket[C.TICKET_ID]], "n": 7})
    claims = _claims_for(worker)
    assert claims.details == {"worker": worker.identity, "ok": [again.ticket[C.TICKET_ID]],
                              "void": [lost.ticket[C.TICKET_ID]]}
    worker.reply(again, ticket=True)
    status = worker.wait_status(lambda s: s["results"]["success"] == 1, message="the success")
    assert [e["method"] for e in master.events() if e["method"] != "add_uri"] == [
        "handed_back", "success"]
    assert [e["attempt"] for e in master.events("success")] == [0]
    # no attempt counted, and nothing claimed is ever returned that way
    assert status["unclaimed_returned"] == 1 and status["unclaimed"] == 0


def test_worker_gone_returns_what_it_claimed_at_once_without_an_attempt(run_master, workers):
    master = run_master({"SEED_URLS": ["http://example.test/p"], "REQUEST_TIMEOUT": 0.5,
                         "WORKER_HEARTBEAT_TIMEOUT": 60.0})
    worker = workers(master.settings, slots=1)
    worker.register()
    held = worker.recv_work()
    worker.send_mgmt(C.ZMQ_SPYDER_MGMT_WORKER_CREDIT,
                     {"slots": 1, "free": 0, "held": [held.ticket[C.TICKET_ID]], "n": 3})
    assert _claims_for(worker).details["ok"] == [held.ticket[C.TICKET_ID]]
    # the supervisor says the worker's process exited (spyder crawl does that)
    worker.mgmt_out.send_multipart(MgmtMessage(
        C.ZMQ_SPYDER_MGMT_WORKER, b"supervisor:test:1", C.ZMQ_SPYDER_MGMT_WORKER_GONE,
        {"worker": worker.identity}).serialize())
    status = worker.wait_status(lambda s: s["redispatched"] == 1, timeout=10,
                                message="its claimed URL returned")
    assert status["workers"] == 0 and status["lease_expired"] == 0
    # its last heartbeat, still on its way, does not bring it back
    worker.send_mgmt(C.ZMQ_SPYDER_MGMT_WORKER_HEARTBEAT, {"slots": 1, "free": 1, "n": 4})
    status = worker.wait_status(lambda s: True, message="a status")
    assert status["workers"] == 0
    assert [e["method"] for e in master.events() if e["method"] != "add_uri"] == ["handed_back"]


def test_the_workers_table_shows_claimed_and_returned_dispatches_and_silence():
    from spyder.core.master.registry import WorkerRegistry
    registry = WorkerRegistry(default_slots=4, heartbeat_timeout=30.0)
    leases = Leases(lease_timeout=60.0, claim_timeout=3.0)
    worker, new = registry.heard(b"worker:h:1", {"slots": 2, C.MGMT_DETAIL_LOOP_LAG_MAX: True},
                                 now=10.0)
    assert worker.loop_lag_max is None          # not a number: not taken
    registry.heard(b"worker:h:1", {"slots": 2, C.MGMT_DETAIL_LOOP_LAG_MAX: 0.25}, now=10.0)
    lease = leases.open(CrawlUri(url="http://a/x"), now=10.0)
    leases.claim(lease.id, b"worker:h:1")
    worker.returned_unclaimed = 3
    [row] = registry.table(epoch_offset=1000.0, now=12.5, claimed=leases.claimed_by)
    assert row["claimed"] == 1 and row["returned_unclaimed"] == 3
    assert row["last_heard"] == 2.5 and row["last_heartbeat"] == 1010.0
    assert row["loop_lag_max"] == 0.25
    # a worker whose process exited is forgotten, and its late messages are ignored
    assert registry.gone(b"worker:h:1") is worker
    assert registry.heard(b"worker:h:1", {}, now=13.0) == (None, False) and len(registry) == 0


def test_fetches_are_called_back_while_the_frontiers_leases_are_in_doubt(run_master, workers,
                                                                          tmp_path):
    """A shared store out of reach for half a lease (the fake frontier's switch here): the
    master calls back every claimed fetch and answers new claims ``void``, so that no
    request of it reaches a web server after its host queues may be another master's."""
    doubt = tmp_path / "leases-in-doubt"
    master = run_master({"SEED_URLS": ["http://example.test/a", "http://example.test/b"],
                         "WORKER_HEARTBEAT_INTERVAL": 0.2},
                        env={"FAKE_FRONTIER_DOUBT": str(doubt)})
    worker = workers(master.settings, slots=2)
    worker.register()
    first = worker.recv_work()
    first_id = first.ticket[C.TICKET_ID]
    worker.send_mgmt(C.ZMQ_SPYDER_MGMT_WORKER_CREDIT,
                     {"slots": 2, "free": 1, "held": [first_id], "n": 2})
    assert _claims_for(worker).details["ok"] == [first_id]
    second = worker.recv_work()    # dispatched, not claimed yet
    doubt.write_text("")           # the leases are in doubt from now on
    assert _claims_for(worker).details == {"worker": worker.identity, "ok": [],
                                           "void": [first_id]}
    second_id = second.ticket[C.TICKET_ID]
    worker.send_mgmt(C.ZMQ_SPYDER_MGMT_WORKER_CREDIT,
                     {"slots": 2, "free": 0, "held": [first_id, second_id], "n": 3})
    claims = _claims_for(worker)
    assert claims.details["ok"] == [] and sorted(claims.details["void"]) == sorted(
        [first_id, second_id])
    worker.reply(first, ticket=True, back=True)
    worker.reply(second, ticket=True, back=True)
    doubt.unlink()                 # renewed: claims are confirmed again
    worker.send_mgmt(C.ZMQ_SPYDER_MGMT_WORKER_CREDIT,
                     {"slots": 2, "free": 2, "held": [], "n": 4})
    again = worker.recv_work()
    assert again is not None and again.curi.url in (first.curi.url, second.curi.url)
    worker.send_mgmt(C.ZMQ_SPYDER_MGMT_WORKER_CREDIT,
                     {"slots": 2, "free": 1, "held": [again.ticket[C.TICKET_ID]], "n": 5})
    assert _claims_for(worker).details["ok"] == [again.ticket[C.TICKET_ID]]
    master.signal()
    master.wait()
    assert "fetch(es) called back" in master.stderr + master.stdout
