"""Claim deadlines (docs/protocol.md, "Claims"): a dispatch read too late is handed back
unread, a claimed fetch goes on past the claim deadline only once the master confirmed the
claim, and the master returns a lease no worker claimed in time -- without an attempt.

The fetch stage runs in-process on real ipc sockets (the helpers of ``test_worker``);
the master's ``Leases`` are driven with explicit times."""
import asyncio

import pytest

from spyder.core import constants as C
from spyder.core.crawluri import CrawlUri
from spyder.core.master.leases import CLAIM_MARGIN, Leases
from spyder.core.wire.masterclock import MasterClock
from spyder.core.wire.messages import DataMessage
from spyder.core.worker.zmqworker import (READ_TOO_LATE, UNCONFIRMED, AsyncZmqWorker,
                                          ZmqWorker)
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


def _stage(peers, processing, clock):
    stage = AsyncZmqWorker(peers.stage_in, processing, 4, ZmqWorker(peers.stage_out, echo),
                           clock=clock)
    stage.identity = b"worker:test:1"
    stage.start()
    return stage


async def _send(peers, path, ticket):
    await peers.feed.send_multipart(
        DataMessage(IDENTITY, CrawlUri(url="http://a/" + path), ticket).serialize())


def test_a_dispatch_read_past_its_claim_deadline_is_handed_back_unread(socket_dir):
    fetched = []

    async def processing(curi):
        fetched.append(curi.url)
        curi.status_code = 200
        return curi

    async def scenario():
        peers = Peers(socket_dir)
        clock = MasterClock()
        clock.sample(IDENTITY, clock.now(), clock.now(), 60.0)
        stage = _stage(peers, processing, clock)
        try:
            await settle_pubsub(peers, lambda: _send(peers, "probe", None))
            now = clock.now()
            # read 0.2 s before its claim deadline: less than CLAIM_GUARD left
            await _send(peers, "late", {C.TICKET_ID: 7, C.TICKET_DEADLINE: now + 30,
                                        C.TICKET_CLAIM_BY: now + 0.2})
            return await peers.recv()
        finally:
            stage.close()
            peers.close()

    msg = asyncio.run(scenario())
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

    async def scenario():
        peers = Peers(socket_dir)
        clock = MasterClock()
        clock.sample(IDENTITY, clock.now(), clock.now(), 60.0)
        stage = _stage(peers, processing, clock)
        try:
            await settle_pubsub(peers, lambda: _send(peers, "probe", None))
            now = clock.now()
            ticket = {C.TICKET_DEADLINE: now + 30, C.TICKET_CLAIM_BY: now + 1.0}
            await _send(peers, "unconfirmed", dict(ticket, **{C.TICKET_ID: 2}))
            await _send(peers, "confirmed", dict(ticket, **{C.TICKET_ID: 3}))
            while len(started) < 2:
                await asyncio.sleep(0.01)
            assert stage.held == [2, 3] and stage.unconfirmed == 2
            stage.confirm([3], [])        # the master registered claim 3 only
            first = await peers.recv(10)
            second = await peers.recv(10)
            return first, second, clock.now() - now
        finally:
            stage.close()
            peers.close()

    first, second, elapsed = asyncio.run(scenario())
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

    async def scenario():
        peers = Peers(socket_dir)
        clock = MasterClock()
        clock.sample(IDENTITY, clock.now(), clock.now(), 60.0)
        stage = _stage(peers, processing, clock)
        try:
            await settle_pubsub(peers, lambda: _send(peers, "probe", None))
            now = clock.now()
            await _send(peers, "stale", {C.TICKET_ID: 9, C.TICKET_DEADLINE: now + 30,
                                         C.TICKET_CLAIM_BY: now + 10})
            while stage.held != [9]:
                await asyncio.sleep(0.01)
            stage.confirm([], [9])
            return await peers.recv(10)
        finally:
            stage.close()
            peers.close()

    msg = asyncio.run(scenario())
    assert msg.curi.url == "http://a/stale" and msg.ticket[C.TICKET_HANDED_BACK] is True
