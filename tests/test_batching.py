"""Several URLs per data message (docs/protocol.md, "Several URLs in one message"):
results of one loop turn travel together, dispatches beyond a worker's free slots wait
in its backlog and are still handed back unread past their claim deadline, each end
sends what the other announced it takes -- one per message to a peer that announced
nothing -- a malformed URL in a message costs that URL only, and a crawl whose worker
is SIGKILLed with messages of several URLs in flight loses nothing.

The worker's stages run in-process on real ipc sockets (the helpers of ``test_worker``);
the master is a real process (``test_master``'s fixtures) driven by a fake worker; the
crawl is ``spyder crawl`` against a local site (``test_e2e``'s fixtures)."""
import asyncio
import re

import pytest

from spyder.core import constants as C
from spyder.core.crawluri import CrawlUri
from spyder.core.settings import Settings, SettingsError
from spyder.core.wire.masterclock import MasterClock
from spyder.core.wire.messages import (DataMessage, MessageError, MgmtMessage, data_batch,
                                       joined_frames)
from spyder.core.worker.control import WorkerControl
from spyder.core.worker.zmqworker import (READ_TOO_LATE, SHUTTING_DOWN, AsyncZmqWorker,
                                          ZmqWorker)
from conftest import async_wait_until
from test_e2e import crawl  # noqa: F401 (the fixture)
from test_faults import crawl_killing_a_worker
from test_claims import with_stage
from test_master import run_master, seeds, workers  # noqa: F401 (fixtures)
from test_worker import IDENTITY, Peers, echo, settle_pubsub

pytestmark = pytest.mark.timeout(60)


def _message(identity, urls, first_id=1, **ticket):
    """The frames of one message carrying ``urls``, each with a ticket."""
    return joined_frames([DataMessage(identity, CrawlUri(url=url),
                                      dict(ticket, **{C.TICKET_ID: first_id + i})).serialize()
                          for i, url in enumerate(urls)])


# ------------------------------------------------------------------ the envelope
def test_a_message_of_several_urls_parses_into_each_and_bad_envelopes_are_refused():
    urls = ["http://a/%d" % i for i in range(3)]
    frames = _message(IDENTITY, urls)
    assert len(frames) == 7
    parsed = DataMessage.all_from_frames(frames, 3)
    assert [m.curi.url for m in parsed] == urls and [m.ticket[C.TICKET_ID] for m in parsed] == [1, 2, 3]
    assert all(m.identity == IDENTITY for m in parsed)
    # one URL per message parses as before, whatever the limit
    single = DataMessage(IDENTITY, CrawlUri(url="http://a/"), {C.TICKET_ID: 5}).serialize()
    assert [m.curi.url for m in DataMessage.all_from_frames(single, 1)] == ["http://a/"]
    with pytest.raises(MessageError, match="up to 2"):       # more than announced
        DataMessage.all_from_frames(frames, 2)
    with pytest.raises(MessageError, match="4 frames"):      # a body without its ticket
        DataMessage.all_from_frames(frames[:4], 3)
    # a malformed body costs that URL only
    frames[3] = b"\xc1 not msgpack"
    parsed = DataMessage.all_from_frames(frames, 3)
    assert isinstance(parsed[1], MessageError)
    assert [m.curi.url for m in (parsed[0], parsed[2])] == [urls[0], urls[2]]


@pytest.mark.parametrize("value", [0, -1, 100000])
def test_a_bad_batch_setting_is_one_clear_error(value):
    with pytest.raises(SettingsError, match=r"ZEROMQ_DATA_BATCH = %d: expected a whole "
                                            r"number from 1 .* to 1024" % value):
        data_batch(Settings(overrides={"ZEROMQ_DATA_BATCH": value}))


# ------------------------------------------------------------------ the worker's stages
def test_results_of_one_loop_turn_go_out_together_up_to_the_batch(socket_dir):
    async def scenario():
        peers = Peers(socket_dir)
        stage = ZmqWorker(peers.stage_out, echo)
        async def probe():
            stage.publish(DataMessage(IDENTITY, CrawlUri(url="http://a/probe"), {C.TICKET_ID: 0}))

        try:
            await settle_pubsub(peers, probe)
            messages = []
            for batch in (1, 4):
                stage.batch = batch
                for i in range(6):        # one loop turn: nothing is sent in between
                    stage.publish(DataMessage(IDENTITY, CrawlUri(url="http://a/%d" % i),
                                              {C.TICKET_ID: i}))
                stage.publish(DataMessage(b"master:other:2", CrawlUri(url="http://a/other"),
                                          {C.TICKET_ID: 6}))
                stage.publish(DataMessage(IDENTITY, CrawlUri(url="http://a/bare")))
                count = 8 if batch == 1 else 4
                messages.append([await asyncio.wait_for(peers.out.recv_multipart(), 10)
                                 for _ in range(count)])
            assert await peers.nothing_within(0.3)
            return messages
        finally:
            stage.close()
            peers.close()

    singly, together = asyncio.run(scenario())
    assert [len(frames) for frames in singly] == [3] * 7 + [2]
    # a run of one identity, at most 4 to a message; another identity and a result
    # without a ticket go apart
    assert [len(frames) for frames in together] == [9, 5, 3, 2]
    urls = [m.curi.url for frames in together for m in DataMessage.all_from_frames(frames, 4)]
    assert urls == ["http://a/%d" % i for i in range(6)] + ["http://a/other", "http://a/bare"]
    assert together[2][0] == b"master:other:2"


def _gated():
    """``gate``, ``started``, ``processing``: a processing function whose fetches wait
    until the event ``gate`` is set; ``started`` lists the URLs in the order their
    fetches began."""
    gate, started = asyncio.Event(), []

    async def processing(curi):
        if not curi.url.endswith("probe"):
            started.append(curi.url)
            await gate.wait()
        curi.status_code = 200
        return curi
    return gate, started, processing


def test_dispatches_beyond_the_free_slots_wait_in_the_backlog_and_count_as_taken(socket_dir):
    urls = ["http://a/%d" % i for i in range(5)]
    gate, started, processing = _gated()

    async def body(peers, stage, clock):
        ticket = {C.TICKET_DEADLINE: clock.now() + 30, C.TICKET_CLAIM_BY: clock.now() + 20}
        await peers.feed.send_multipart(_message(IDENTITY, urls, first_id=10, **ticket))
        await async_wait_until(lambda: len(started) == 2, message="two fetches started")
        waiting = (stage.in_flight, stage.free, stage.snapshot()[C.MGMT_DETAIL_HELD],
                   stage._in.receiving())
        gate.set()
        answers = [await peers.recv() for _ in urls]
        return waiting, started, answers, stage.free

    (in_flight, free, held, reading), started, answers, free_after = with_stage(
        socket_dir, processing, body, slots=2, batch=8)
    # two slots: two fetches, three dispatches waiting, no slot free, the socket not read
    assert (in_flight, free, sorted(held), reading) == (2, 0, [10, 11], False)
    assert started == urls                   # in the order the master sent them
    assert sorted(a.curi.url for a in answers) == urls
    assert all(a.ticket[C.TICKET_HANDED_BACK] is False for a in answers)
    assert free_after == 2


def test_a_dispatch_taken_from_the_backlog_past_its_claim_deadline_is_handed_back_unread(
        socket_dir):
    fetched = []

    async def processing(curi):
        fetched.append(curi.url)
        if curi.url.endswith("/first"):
            await asyncio.sleep(0.8)   # the second waits in the backlog meanwhile
        curi.status_code = 200
        return curi

    async def body(peers, stage, clock):
        now = clock.now()
        # claim by now + 1.0: the second is taken at now + 0.8, less than CLAIM_GUARD left
        await peers.feed.send_multipart(_message(
            IDENTITY, ["http://a/first", "http://a/second"],
            **{C.TICKET_DEADLINE: now + 30, C.TICKET_CLAIM_BY: now + 1.0}))
        return [await peers.recv() for _ in range(2)]

    answers = with_stage(socket_dir, processing, body, slots=1, batch=8)
    answers = {a.curi.url: a for a in answers}
    assert [url for url in fetched if not url.endswith("probe")] == ["http://a/first"]
    late = answers["http://a/second"]
    assert late.ticket[C.TICKET_HANDED_BACK] is True and late.ticket[C.TICKET_VOID] is True
    assert late.curi.optional_vars[C.CURI_ERROR] == READ_TOO_LATE


def test_drain_hands_back_the_backlog_and_what_waits_in_the_pipe(socket_dir):
    gate, started, processing = _gated()

    async def body(peers, stage, clock):
        ticket = {C.TICKET_DEADLINE: clock.now() + 30, C.TICKET_CLAIM_BY: clock.now() + 20}
        await peers.feed.send_multipart(_message(IDENTITY, ["http://a/%d" % i for i in range(3)],
                                                 first_id=1, **ticket))
        await async_wait_until(lambda: started, message="a fetch started")
        await peers.feed.send_multipart(_message(IDENTITY, ["http://a/3", "http://a/4"],
                                                 first_id=4, **ticket))
        returned = await stage.drain(0.2)
        return returned, [await peers.recv() for _ in range(5)]

    returned, answers = with_stage(socket_dir, processing, body, slots=1, batch=8)
    assert returned == 5
    assert sorted(a.curi.url for a in answers) == ["http://a/%d" % i for i in range(5)]
    assert all(a.ticket[C.TICKET_HANDED_BACK] is True for a in answers)
    assert all(a.curi.optional_vars[C.CURI_ERROR] == SHUTTING_DOWN for a in answers)


def test_a_malformed_dispatch_in_a_message_costs_that_one_only(socket_dir):
    async def processing(curi):
        curi.status_code = 200
        return curi

    async def body(peers, stage, clock):
        ticket = {C.TICKET_DEADLINE: clock.now() + 30, C.TICKET_CLAIM_BY: clock.now() + 20}
        frames = _message(IDENTITY, ["http://a/0", "http://a/1", "http://a/2"], **ticket)
        frames[4] = b"\x93 garbage"          # the second URL's ticket
        await peers.feed.send_multipart(frames)
        answers = [await peers.recv() for _ in range(2)]
        return answers, await peers.nothing_within(0.3), stage.dropped.total

    answers, quiet, dropped = with_stage(socket_dir, processing, body, slots=4, batch=8)
    assert sorted(a.curi.url for a in answers) == ["http://a/0", "http://a/2"]
    assert quiet and dropped == 1


def test_the_worker_sends_as_many_results_together_as_its_master_announced(socket_dir):
    settings = Settings(overrides={"ZEROMQ_DATA_BATCH": 8})

    async def scenario():
        peers = Peers(socket_dir)
        extractor = ZmqWorker(peers.stage_out, echo)
        fetcher = AsyncZmqWorker(peers.stage_in, echo, 2, extractor, batch=data_batch(settings))
        control = WorkerControl(settings, b"worker:test:7", None, fetcher, extractor)
        try:
            taken = []
            # an older master announces nothing; nonsense counts as nothing
            for announced in (None, 4, 100, 0, "4"):
                details = {"worker": b"worker:test:7", "t": 1.0, "m": 2.0, "dead_after": 30.0}
                if announced is not None:
                    details["batch"] = announced
                control._on_mgmt(MgmtMessage(C.ZMQ_SPYDER_MGMT_WORKER, IDENTITY,
                                             C.ZMQ_SPYDER_MGMT_WORKER_ECHO, details))
                taken.append(extractor.batch)
            return taken
        finally:
            fetcher.close()
            extractor.close()
            peers.close()

    # its own ZEROMQ_DATA_BATCH (8) caps what the master takes
    assert asyncio.run(scenario()) == [1, 4, 8, 1, 1]


# ------------------------------------------------------------------ the master
def test_a_worker_that_announces_no_batch_gets_one_dispatch_per_message(run_master, workers):
    master = run_master({"SEED_URLS": seeds(6)})
    worker = workers(master.settings, slots=6)
    worker.register()
    frames = [worker.recv_message() for _ in range(6)]
    assert [len(f) for f in frames if f is not None] == [3] * 6


def test_the_master_sends_several_dispatches_per_message_and_takes_several_results(
        run_master, workers):
    master = run_master({"SEED_URLS": seeds(12), "ZEROMQ_DATA_BATCH": 4})
    worker = workers(master.settings, slots=6, batch=8)
    worker.register()
    worker.send_mgmt(C.ZMQ_SPYDER_MGMT_WORKER_HEARTBEAT, {"slots": 6, "free": 6, "batch": 8,
                                                          "t": 1.0})
    echo_msg = worker.wait_mgmt(C.ZMQ_SPYDER_MGMT_WORKER_ECHO)
    assert echo_msg.details[C.MGMT_DETAIL_BATCH] == 4     # what the master takes
    got, sizes = [], []
    while len(got) < 6:
        frames = worker.recv_message()
        assert frames is not None, "dispatches stopped at %d of 6" % len(got)
        msgs = DataMessage.all_from_frames(frames, 8)
        sizes.append(len(msgs))
        got += msgs
    # six free slots, one worker: at most 4 to a message (the smaller announcement)
    assert max(sizes) == 4 and len(got) == 6 and worker.recv_message(0.3) is None
    worker.reply_together(got[:4])
    worker.reply_together(got[4:])
    rest = []
    while len(rest) < 6:
        frames = worker.recv_message()
        assert frames is not None, "dispatches stopped after the results"
        rest += DataMessage.all_from_frames(frames, 8)
    worker.reply_together(rest[:4])
    worker.reply_together(rest[4:])
    status = worker.wait_status(lambda s: s["results"]["success"] == 12, message="12 successes")
    assert status["in_flight"] == 0 and status["malformed"] == 0
    assert sorted(e["url"] for e in master.events("success")) == sorted(seeds(12))


def test_a_message_of_dispatches_that_dies_in_a_pipe_returns_without_an_attempt(
        run_master, workers):
    master = run_master({"SEED_URLS": seeds(3), "DISPATCH_CLAIM_TIMEOUT": 0.5,
                         "WORKER_HEARTBEAT_INTERVAL": 0.2})
    worker = workers(master.settings, slots=3, batch=3)
    worker.register()
    lost = DataMessage.all_from_frames(worker.recv_message(), 3)
    assert len(lost) == 3            # read, and never claimed: the worker died with it
    status = worker.wait_status(lambda s: s["unclaimed_returned"] == 3, message="3 returns")
    assert status["lease_expired"] == 0 and status["redispatched"] == 0
    assert [e["method"] for e in master.events() if e["method"] != "add_uri"] == [
        "handed_back"] * 3


# ------------------------------------------------------------------ a whole crawl
#: The master's status line: dispatches, the results by outcome and robots.txt, messages.
_STATUS = re.compile(r"status workers=\d+ .*dispatched=(\d+) .*success=(\d+) redirect=(\d+) "
                     r"not_found=(\d+) server_error=(\d+) robots=(\d+) .*"
                     r"dispatch_messages=(\d+) result_messages=(\d+)")


@pytest.mark.timeout(150)
@pytest.mark.parametrize("prefetch", [0, 20])
def test_a_killed_worker_loses_nothing_with_several_urls_per_message(demo_site, crawl,
                                                                      prefetch):
    server = demo_site(pages=300, hosts=8, latency=0.05)
    # eight hosts, one request at a time each, three slots a worker: more URLs due than
    # slots, so messages carry several dispatches, and uneven enough that backlogs form
    # (with prefetch, on purpose: test_prefetch.py)
    run = crawl(server, workers=2, MAX_CLIENTS=3, WORKER_PREFETCH=prefetch,
                FRONTIER_HOST_CONCURRENCY=1,
                REQUEST_TIMEOUT=5.0, LEASE_TIMEOUT=60.0, WORKER_HEARTBEAT_TIMEOUT=30.0,
                DISPATCH_CLAIM_TIMEOUT=3.0, MASTER_STATUS_INTERVAL=0.5)
    log, _ = crawl_killing_a_worker(server, run)
    # and several URLs did share messages, both ways
    dispatched, *outcomes, dispatch_messages, result_messages = map(
        int, _STATUS.findall(log)[-1])
    assert dispatch_messages < dispatched and result_messages < sum(outcomes), log[-2000:]
