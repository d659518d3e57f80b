"""Prefetch (``WORKER_PREFETCH``; docs/protocol.md, "Prefetch"): a worker asks for up to
that many dispatches beyond its free slots, never more than its slots finished in the last
``prefetch_horizon`` seconds (a third of ``DISPATCH_CLAIM_TIMEOUT``); what it prefetched
waits in its backlog (not claimed, judged by the claim guard when taken, as every
dispatch there) and starts as slots free; the master counts a worker's free slots up to
its slots plus the prefetch it announced, and deals a worker that announced none its
slots only; while dispatches wait for a slot, results wait up to ``RESULT_HOLD`` for
others to share their message; a crawl whose worker is SIGKILLed with prefetched
dispatches loses nothing (``test_batching``'s crawl, run with and without).

The fetch stage runs in-process on real ipc sockets (``test_claims``'s ``with_stage``);
the master is a real process driven by a fake worker (``test_master``'s fixtures)."""
import asyncio

import pytest

from spyder.core import constants as C
from spyder.core.master.registry import WorkerRegistry
from spyder.core.settings import Settings, SettingsError
from spyder.core.wire.messages import DataMessage
from spyder.core.worker import zmqworker
from spyder.core.crawluri import CrawlUri
from spyder.core.worker.zmqworker import ZmqWorker, worker_prefetch
from conftest import async_wait_until
from test_batching import _message
from test_claims import with_stage
from test_master import run_master, seeds, workers  # noqa: F401 (fixtures)
from test_worker import IDENTITY, Peers, echo, settle_pubsub

pytestmark = pytest.mark.timeout(60)


def _tickets(clock):
    return {C.TICKET_DEADLINE: clock.now() + 60, C.TICKET_CLAIM_BY: clock.now() + 50}


async def _done(curi):
    curi.status_code = 200
    return curi


@pytest.mark.parametrize("prefetch,room", [(3, 3), (0, 0)])
def test_the_room_beyond_the_slots_is_what_the_slots_finished_lately(socket_dir, prefetch,
                                                                     room):
    async def body(peers, stage, clock):
        stage.prefetch_horizon = 2.0
        # the subscription's probe was fetched: its turnover ends within the horizon
        await async_wait_until(lambda: stage.free == 2, message="no turnover left")
        before = stage.snapshot()[C.MGMT_DETAIL_FREE]
        await peers.feed.send_multipart(_message(IDENTITY, ["http://a/%d" % i for i in range(5)],
                                                 **_tickets(clock)))
        answers = [await peers.recv() for _ in range(5)]
        after = stage.snapshot()[C.MGMT_DETAIL_FREE]
        await async_wait_until(lambda: stage.free == 2, message="the turnover aged out")
        return before, answers, after

    before, answers, after = with_stage(socket_dir, _done, body, slots=2, batch=8,
                                        prefetch=prefetch)
    assert before == 2
    assert all(a.ticket[C.TICKET_HANDED_BACK] is False for a in answers)
    # five fetches ended just now: room for ``prefetch`` of them at most
    assert after == 2 + room


def test_prefetched_dispatches_wait_unclaimed_and_start_as_the_slot_frees(socket_dir):
    gate, started = asyncio.Event(), []

    async def processing(curi):
        if "/gated/" in curi.url:
            started.append(curi.url)
            await gate.wait()
        curi.status_code = 200
        return curi

    async def body(peers, stage, clock):
        stage.prefetch_horizon = 60.0
        ticket = _tickets(clock)
        # three fetches end at once: room for three more than the one slot
        await peers.feed.send_multipart(_message(IDENTITY, ["http://a/warm/%d" % i
                                                            for i in range(3)], **ticket))
        [await peers.recv() for _ in range(3)]
        assert stage.free == 4
        gated = ["http://a/gated/%d" % i for i in range(5)]
        for i, url in enumerate(gated):     # one a message: the socket is read for each
            await peers.feed.send_multipart(_message(IDENTITY, [url], first_id=10 + i,
                                                     **ticket))
        await async_wait_until(lambda: len(stage._backlog) == 3, message="three prefetched")
        waiting = (stage.in_flight, stage.free, stage.snapshot()[C.MGMT_DETAIL_HELD],
                   stage._in.receiving(), list(started))
        gate.set()
        answers = [await peers.recv() for _ in gated]
        return waiting, answers, started

    (in_flight, free, held, reading, running), answers, started = with_stage(
        socket_dir, processing, body, slots=1, batch=8, prefetch=3)
    # one fetch, three waiting (not claimed, not free), the fifth left in the pipe
    assert (in_flight, free, held, reading) == (1, 0, [10], False)
    assert running == ["http://a/gated/0"]
    assert started == ["http://a/gated/%d" % i for i in range(5)]   # in the order sent
    assert sorted(a.curi.url for a in answers) == started
    assert all(a.ticket[C.TICKET_HANDED_BACK] is False for a in answers)


def test_the_registry_counts_free_slots_up_to_slots_plus_the_announced_prefetch():
    registry = WorkerRegistry(default_slots=10, heartbeat_timeout=30.0)
    worker, new = registry.heard(b"w", {"slots": 4, "prefetch": 3}, 0.0)
    assert new and worker.prefetch == 3
    registry.snapshot(worker, {"free": 9, "held": [], "n": 1})
    assert worker.free == 7 and registry.free == 7
    # none announced (a worker of before) or nonsense: its slots bound its free count
    for n, details in enumerate([{"slots": 4}, {"slots": 4, "prefetch": -1},
                                 {"slots": 4, "prefetch": True},
                                 {"slots": 4, "prefetch": "3"}], start=2):
        worker, _ = registry.heard(b"w", details, float(n))
        registry.snapshot(worker, {"free": 9, "held": [], "n": n})
        assert (worker.prefetch, worker.free) == (0, 4), details


def test_a_real_master_deals_slots_plus_prefetch_and_no_more(run_master, workers):
    master = run_master({"SEED_URLS": seeds(12)})
    worker = workers(master.settings, slots=2, prefetch=3, batch=8)
    worker.register()
    got = []
    while len(got) < 5:
        frames = worker.recv_message()
        assert frames is not None, "only %d dispatches" % len(got)
        got += DataMessage.all_from_frames(frames, 8)
    assert len(got) == 5
    assert worker.recv_message(timeout=0.5) is None   # the credit is spent
    status = worker.wait_status(lambda s: s["in_flight"] == 5, message="5 in flight")
    assert status["slots"] == 2


@pytest.mark.parametrize("value", [-1, 1025])
def test_a_bad_prefetch_setting_is_one_clear_error(value):
    # (another type is refused by the settings already: "is a float, expected int")
    with pytest.raises(SettingsError, match=r"WORKER_PREFETCH = %d: expected a whole number "
                                            r"from 0 .* to 1024" % value):
        worker_prefetch(Settings(overrides={"WORKER_PREFETCH": value}))
    assert worker_prefetch(Settings()) == (20, 1.0)
    # the turnover that bounds it follows the claim window
    prefetch, horizon = worker_prefetch(Settings(overrides={"DISPATCH_CLAIM_TIMEOUT": 0.9}))
    assert prefetch == 20 and horizon == pytest.approx(0.3)


def test_results_wait_for_more_only_while_dispatches_wait_for_a_slot(socket_dir, monkeypatch):
    """While ``hold()`` says the fetch stage has a backlog, a result waits up to
    RESULT_HOLD for others to share its message; one published once it is false sends
    what waits at the end of its loop turn, and without a backlog nothing waits."""
    async def scenario():
        peers = Peers(socket_dir)
        stage = ZmqWorker(peers.stage_out, echo)
        stage.batch = 8
        backlog = [False]
        stage.hold = lambda: backlog[0]

        def publish(name):
            stage.publish(DataMessage(IDENTITY, CrawlUri(url="http://a/" + name),
                                      {C.TICKET_ID: 0}))

        async def receive():
            frames = await asyncio.wait_for(peers.out.recv_multipart(), 10)
            return [m.curi.url[9:] for m in DataMessage.all_from_frames(frames, 8)]

        try:
            await settle_pubsub(peers, lambda: asyncio.sleep(0, publish("probe")))
            messages = []
            monkeypatch.setattr(zmqworker, "RESULT_HOLD", 60.0)
            backlog[0] = True          # dispatches wait: held, across loop turns
            publish("held-1")
            await asyncio.sleep(0)       # (another loop turn)
            publish("held-2")
            held = await peers.nothing_within(0.3)
            backlog[0] = False         # the backlog ran dry: sent with the next result
            publish("now")
            messages.append(await receive())
            publish("alone")           # no backlog: at the end of its turn, not in 60 s
            messages.append(await receive())
            monkeypatch.setattr(zmqworker, "RESULT_HOLD", 0.2)
            backlog[0] = True
            publish("timed")           # held, and sent when the hold is over
            messages.append(await receive())
            return held, messages
        finally:
            stage.close()
            peers.close()

    held, messages = asyncio.run(scenario())
    assert held
    assert messages == [["held-1", "held-2", "now"], ["alone"], ["timed"]]
