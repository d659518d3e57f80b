"""A disk that fills up under the sinks: the crawl stops dispatching and says why, commits
nothing past what was written, and goes on -- or stops cleanly -- with nothing lost.

The sinks write to a small tmpfs mounted for the test (the tests run as root; without
the right to mount they are skipped) that a filler file fills up; removing the filler
makes room again.  In-process tests drive a frontier directly; the last one is a real
``spyder crawl`` whose log, status line and progress must say why it waits.
"""
import json
import os
import subprocess
import time

import pytest
from warcio.archiveiterator import ArchiveIterator

from conftest import wait_until
from spyder.core.crawluri import CrawlUri
from spyder.core.frontier import MultipleHostFrontier
from test_crash_points import _final_rows, check_exactly_once
from test_e2e import Crawl
from test_frontier_support import Clock, deliver, drain, make_settings

JSONL = "spyder.sinks.jsonl.JsonLinesSink"
WARC = "spyder.sinks.warc.WarcSink"


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs (``.fill()`` fills it, ``.free()`` makes room), unmounted whatever
    happens."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip("cannot mount a small tmpfs for the disk-full tests (they need root): %s"
                    % made.stderr.strip())
    try:
        yield _Disk(mount)
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


class _Disk:
    def __init__(self, path):
        self.path = path
        self.filler = str(path / "filler")

    def __truediv__(self, name):
        return self.path / name

    def fill(self):
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError:
            pass
        finally:
            os.close(fd)

    def free(self):
        os.remove(self.filler)


def _responses(directory):
    urls = []
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), "rb") as stream:  # each read to its end
            urls += [r.rec_headers.get_header("WARC-Target-URI")
                     for r in ArchiveIterator(stream) if r.rec_type == "response"]
    return urls


def _lines(path):
    with open(path) as lines:
        return [json.loads(line)["url"] for line in lines]


PAGES = {"http://a.test/%d" % i: (200, ["http://a.test/%d" % (i + 1)] if i < 5 else [],
                                  {"Content-Type": "text/html"}, os.urandom(40000))
         for i in range(6)}


def _crawl_all(frontier, clock):
    """Crawl ``PAGES`` to the end (``crawl`` of test_frontier_support moves a simulated
    clock only; this also waits for the WARC writer, a real thread)."""
    while not frontier.crawl_done():
        for curi in drain(frontier):
            deliver(frontier, curi, *PAGES[curi.url])
        frontier._sinks.wait()
        clock.t = max(clock.t, frontier.next_due() or clock.t)


def _frontier(tmp_path, disk, clock):
    settings = make_settings(tmp_path, SINKS=[JSONL, WARC], FRONTIER_CHECKPOINTING=1,
                             JSONL_SINK_PATH=str(disk / "crawl.jsonl"),
                             WARC_DIR=str(disk / "warc"))
    return settings, MultipleHostFrontier(settings, clock=clock)


def _fail_a_write(frontier, disk):
    """The first page crawled and committed, the disk filled, the second page's result
    told: the WARC writer fails.  Returns the second page's CrawlUri and the number of
    commits before it was told."""
    frontier.add_uri(CrawlUri(url="http://a.test/0"))
    [first] = drain(frontier)
    deliver(frontier, first, *PAGES[first.url])
    frontier._sinks.wait()
    frontier.checkpoint()
    disk.fill()
    [second] = drain(frontier)
    committed = frontier.stats()["checkpoints"]
    deliver(frontier, second, *PAGES[second.url])
    frontier._sinks.wait()  # until the writer has written all it was told, or failed
    return second, committed


def test_a_failed_write_stops_dispatch_and_commits_nothing_past_it(tmp_path, small_disk):
    """Issue 18 item 4.  (Before: the failed write counted as done, the frontier committed
    the outcome whose records were never written, and went on dispatching.)"""
    clock = Clock()
    settings, frontier = _frontier(tmp_path, small_disk, clock)
    _, committed = _fail_a_write(frontier, small_disk)
    for _ in range(3):
        clock.advance(5.0)
        frontier.checkpoint()
        assert frontier.stats()["checkpoints"] == committed, "committed past what was written"
        assert drain(frontier) == [], "dispatched while a sink cannot write"
    assert _responses(settings.WARC_DIR) == ["http://a.test/0"]  # no partial record
    failure = frontier.stats().get("sink_failure")
    assert "No space left on device" in failure and "WARC_DIR" in failure, failure

    small_disk.free()  # room again: the writer catches up, the commit is made, on it goes
    wait_until(lambda: frontier.stats()["sink_failure"] is None, 5, message="recovery")
    frontier._sinks.wait()
    frontier.checkpoint()
    assert frontier.stats()["checkpoints"] == committed + 1
    _crawl_all(frontier, clock)
    frontier.close()
    assert _responses(settings.WARC_DIR) == sorted(PAGES)
    assert _lines(settings.JSONL_SINK_PATH) == sorted(PAGES)


def test_stopping_while_a_sink_cannot_write_loses_nothing(tmp_path, small_disk):
    clock = Clock()
    settings, frontier = _frontier(tmp_path, small_disk, clock)
    second, _ = _fail_a_write(frontier, small_disk)
    started = time.monotonic()
    frontier.close()  # a stop requested while the disk is full: no hang, no commit
    assert time.monotonic() - started < 5
    small_disk.free()
    settings, frontier = _frontier(tmp_path, small_disk, clock)
    assert [c.url for c in drain(frontier)] == [second.url], "its outcome was not final"
    frontier.close()
    settings, frontier = _frontier(tmp_path, small_disk, clock)
    _crawl_all(frontier, clock)
    frontier.close()
    assert _responses(settings.WARC_DIR) == sorted(PAGES)
    assert _lines(settings.JSONL_SINK_PATH) == sorted(PAGES)


@pytest.mark.timeout(150)
def test_a_crawl_on_a_full_disk_waits_says_why_and_goes_on(demo_site, tmp_path, socket_dir,
                                                          small_disk):
    server = demo_site(pages=80, hosts=2)
    run = Crawl(str(tmp_path), socket_dir, server.seeds, workers=1, FRONTIER_MIN_DELAY=0.05,
                JSONL_SINK_PATH=str(small_disk / "crawl.jsonl"),
                WARC_DIR=str(small_disk / "warc"), MASTER_STATUS_INTERVAL=0.5)
    run.jsonl, run.warc_dir = str(small_disk / "crawl.jsonl"), str(small_disk / "warc")
    state = os.path.join(str(tmp_path), "state.db")
    master_log = os.path.join(run.log_dir, "master.log")

    def logged(text):
        return os.path.exists(master_log) and text in open(master_log, errors="replace").read()
    try:
        run.start()
        wait_until(lambda: len(server.requests) >= 25, 60, message="25 requests")
        small_disk.fill()
        wait_until(lambda: logged("No space left on device"), 20, message="the log to say why")
        wait_until(lambda: logged("sink_failure="), 20, message="the status line to say why")
        wait_until(lambda: "WAITING: cannot write" in run.output(), 20,
                   message="the progress to say why")
        served = len(server.requests)
        time.sleep(1.5)  # (a stall is only seen over time: nothing may go out meanwhile)
        assert len(server.requests) == served, "dispatched while a sink cannot write"
        assert run.proc.poll() is None
        # nothing committed past what was written
        final = _final_rows(state) - server.robots_urls()
        assert final <= set(r["url"] for r in run.records())
        small_disk.free()
        assert run.wait(90) == 0, run.output()
    finally:
        if run.proc is not None and run.proc.poll() is None:
            run.kill_all()
    assert "the crawl is complete" in run.output()
    assert logged("can be written again")
    check_exactly_once(server, run, state)


def test_a_failed_jsonl_write_is_cut_back_held_and_written_later(tmp_path, monkeypatch):
    import errno
    from spyder.sinks import jsonl
    settings = make_settings(tmp_path)
    sink = jsonl.JsonLinesSink(settings)
    curi = CrawlUri(url="http://a.test/1", status_code=200, content_body=b"x")
    sink.process_successful_crawl(curi)
    good = sink.position()
    real_write = os.write

    def half_then_full(fd, data):  # a short write, then the disk is full
        if len(data) > 10:
            return real_write(fd, data[:10])
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(jsonl.os, "write", half_then_full)
    sink.process_successful_crawl(CrawlUri(url="http://a.test/2", status_code=200))
    sink.process_successful_crawl(CrawlUri(url="http://a.test/3", status_code=200))
    assert os.path.getsize(settings.JSONL_SINK_PATH) == good["size"]  # no partial line
    assert sink.position() == good and sink.behind() and not sink.synced()
    assert "No space left on device" in sink.failure()
    monkeypatch.setattr(jsonl.os, "write", real_write)
    sink._retry_at = 0.0  # (tried again once a second)
    assert sink.synced() and not sink.behind() and sink.failure() is None
    sink.close()
    assert _lines(settings.JSONL_SINK_PATH) == ["http://a.test/%d" % i for i in (1, 2, 3)]


def test_the_sinks_are_fsynced_before_the_state_file_commits(tmp_path, monkeypatch):
    from spyder.core.store import sqlite
    events = []
    real_fsync, real_commit = os.fsync, sqlite.SQLiteStore.commit
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append(
        ("fsync", os.path.basename(os.readlink("/proc/self/fd/%d" % fd)))), real_fsync(fd)))
    monkeypatch.setattr(sqlite.SQLiteStore, "commit", lambda store, state: (
        events.append(("commit",)), real_commit(store, state)))
    clock = Clock()
    settings = make_settings(tmp_path, SINKS=[JSONL, WARC], FRONTIER_CHECKPOINTING=1)
    frontier = MultipleHostFrontier(settings, clock=clock)
    frontier.add_uri(CrawlUri(url="http://a.test/0"))
    del events[:]
    [curi] = drain(frontier)
    deliver(frontier, curi, *PAGES[curi.url])
    frontier._sinks.wait()
    frontier.checkpoint()
    last = len(events) - 1 - events[::-1].index(("commit",))
    fsynced = {name for kind, *name in events[:last] for name in name}
    assert "crawl.jsonl" in fsynced and any(n.endswith(".warc.gz") for n in fsynced), events
    frontier.close()

    events.clear()  # SINK_FSYNC = False: no fsync
    settings.SINK_FSYNC = False
    frontier = MultipleHostFrontier(settings, clock=clock)
    frontier.add_uri(CrawlUri(url="http://a.test/1"))
    _crawl_all(frontier, clock)
    frontier.close()
    assert ("commit",) in events and not [e for e in events if e[0] == "fsync"]
