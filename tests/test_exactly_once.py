"""Exactly once across a crash, in-process: the sinks' positions a commit stores hold every
outcome the commit makes final, and a resumed run's output is part of the checkpoints
from its start.

A crash is simulated as a SIGKILL leaves things: the state file's connection closed
without a commit, the sinks neither synced nor closed (``_sigkill``).  The crash-point
harness with real processes is ``test_crash_points.py``.
"""
import json
import os
import time

from warcio.archiveiterator import ArchiveIterator

from spyder.core.crawluri import CrawlUri
from spyder.core.frontier import MultipleHostFrontier
from spyder.core.sink import AbstractCrawlUriSink
from spyder.sinks import warc
from test_frontier_support import Clock, deliver, drain, make_settings

JSONL = "spyder.sinks.jsonl.JsonLinesSink"
WARC = "spyder.sinks.warc.WarcSink"


def _sigkill(frontier):
    """End ``frontier`` as a SIGKILL would: what the sinks wrote stays, nothing is committed
    or closed (the state file's lock is let go, wherever it is kept)."""
    frontier._store._db.close()
    for owner, name in ((frontier._store, "_release"), (frontier, "_release_lock")):
        if hasattr(owner, name):
            getattr(owner, name)()


def _lines(path):
    with open(path) as lines:
        return [json.loads(line)["url"] for line in lines]


def _responses(directory):
    urls = []
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), "rb") as stream:
            urls += [record.rec_headers.get_header("WARC-Target-URI")
                     for record in ArchiveIterator(stream) if record.rec_type == "response"]
    return urls


def test_an_outcome_the_commit_makes_final_is_in_the_sinks_it_commits(tmp_path):
    """Issue 18 item 1: the commit after an outcome stores the sinks' positions with it.
    (Before: the commit came first, with the positions from before the outcome, and the
    restart cut its JSONL line away while the URL stayed finished.)"""
    settings = make_settings(tmp_path, SINKS=[JSONL], FRONTIER_CHECKPOINTING=1)
    clock = Clock()
    frontier = MultipleHostFrontier(settings, clock=clock)
    frontier.add_uri(CrawlUri(url="http://a.test/"))
    [curi] = drain(frontier)
    deliver(frontier, curi, 200, headers={"Content-Type": "text/html"}, body=b"<html>")
    assert _lines(settings.JSONL_SINK_PATH) == ["http://a.test/"]
    _sigkill(frontier)

    frontier = MultipleHostFrontier(settings, clock=clock)
    assert _lines(settings.JSONL_SINK_PATH) == ["http://a.test/"], "the line was cut away"
    assert drain(frontier) == [] and frontier.crawl_done()  # final: not fetched again
    frontier.close()
    assert _lines(settings.JSONL_SINK_PATH) == ["http://a.test/"]


class _RunClock:
    """The ``time`` module of the WARC sink, with a start time per run (each run's files
    get their own prefix, as runs a second apart do)."""

    def __init__(self):
        self.run = 0

    def __getattr__(self, name):
        return getattr(time, name)

    def strftime(self, fmt, t=None):
        return "2026010100%04d" % self.run


def test_a_crash_early_in_a_resumed_run_leaves_no_record_of_it(tmp_path, monkeypatch):
    """Issue 18 item 2: a resumed run's WARC files are part of the checkpoint from its start.
    (Before: the first commit of a run came before its sinks were loaded, so a crash
    before its first checkpoint left its WARC file, and the next run wrote the same
    records again.)"""
    settings = make_settings(tmp_path, SINKS=[JSONL, WARC], FRONTIER_CHECKPOINTING=10 ** 6,
                             FRONTIER_CHECKPOINT_SECONDS=10 ** 6)
    clock, runs = Clock(), _RunClock()
    monkeypatch.setattr(warc, "time", runs)
    frontier = MultipleHostFrontier(settings, clock=clock)   # run 1: a seed, a clean stop
    frontier.add_uri(CrawlUri(url="http://a.test/"))
    frontier.close()

    runs.run += 1
    for _ in range(2):  # runs 2 and 3: the page fetched and told, then a crash
        frontier = MultipleHostFrontier(settings, clock=clock)
        [curi] = drain(frontier)
        deliver(frontier, curi, 200, headers={"Content-Type": "text/html"}, body=b"<html>")
        frontier._sinks.wait()          # the WARC writer has written the records
        assert _responses(settings.WARC_DIR) == ["http://a.test/"], "written twice"
        _sigkill(frontier)
        runs.run += 1

    frontier = MultipleHostFrontier(settings, clock=clock)   # run 4 finishes the crawl
    [curi] = drain(frontier)
    deliver(frontier, curi, 200, headers={"Content-Type": "text/html"}, body=b"<html>")
    frontier.close()
    assert _responses(settings.WARC_DIR) == ["http://a.test/"]
    assert _lines(settings.JSONL_SINK_PATH) == ["http://a.test/"]


class _BusyWriter(AbstractCrawlUriSink):
    """A sink writing in a thread that is never idle while results flow: it is one
    outcome behind whenever it was told something since the last look."""

    def __init__(self):
        super().__init__()
        self.told = self.written = 0

    def process_successful_crawl(self, curi):
        self.told += 1

    def synced(self):
        return self.written == self.told


def test_checkpoints_keep_their_interval_under_load(tmp_path):
    """Issue 18 item 3: a commit waits for the sinks to catch up, but never for ever.
    (Before: it waited until a writer thread happened to be idle -- never, while pages
    flowed -- and only after five intervals did dispatch pause for it.)"""
    settings = make_settings(tmp_path, FRONTIER_CHECKPOINT_SECONDS=2.0,
                             FRONTIER_CHECKPOINTING=10 ** 6)
    clock = Clock()
    frontier = MultipleHostFrontier(settings, clock=clock)
    sink = _BusyWriter()
    frontier.add_sink(sink)
    for i in range(4000):
        frontier.add_uri(CrawlUri(url="http://h%d.test/%d" % (i % 20, i)))
    frontier.checkpoint()
    commits, count = [], frontier.stats()["checkpoints"]
    for _ in range(200):  # 10 s of a crawl at 20 results every 50 ms
        clock.advance(0.05)
        results = drain(frontier)
        for curi in results:
            deliver(frontier, curi, 200)
        sink.written = sink.told - 1 if results else sink.told  # idle only without results
        frontier.checkpoint()
        if frontier.stats()["checkpoints"] != count:
            count = frontier.stats()["checkpoints"]
            commits.append(clock.t)
    gaps = [b - a for a, b in zip(commits, commits[1:])]
    assert len(commits) >= 4 and max(gaps) <= 2.5, (commits, gaps)
    frontier.close()
