"""The crash-point harness: a real ``spyder crawl`` (logsink, master, workers) of the demo
site on 127.0.0.1, its master SIGKILLed at each named point of a result's way into the
sinks and the state file (``spyder.core.faults``), then resumed to the end.

Whatever the point, the JSONL file and the WARC files (read with warcio) must hold each
final outcome exactly once, nothing may be missing, and they must agree with the state
file: the URLs with a final status there are the URLs of the JSONL lines.  Some points
are hit in the first run, some in the first checkpoint of the resumed run (then a third
run finishes the crawl).
"""
import json
import os
import sqlite3

import pytest
from warcio.archiveiterator import ArchiveIterator

from spyder.core import faults
from test_e2e import Crawl

# (point and count in the first run, point and count in the resumed run or None)
SCENARIOS = [(point + ":%d" % (3 if point.startswith("commit.") else 12), None)
             for point in faults.POINTS]
SCENARIOS += [
    # the first checkpoint of a resumed run: the one made as it starts (its sinks loaded) ...
    ("jsonl.after_write:12", "commit.after_sync:1"),
    ("warc.after_write:12", "commit.after_store:1"),
    # ... and its first periodic one, and its first writes
    ("commit.after_sync:3", "commit.before_sync:2"),
    ("commit.after_store:3", "warc.before_write:1"),
]


def _final_rows(state):
    db = sqlite3.connect(state)
    try:
        return {url for url, status in db.execute("SELECT url, status FROM urls")
                if status is not None}
    finally:
        db.close()


def _warc_outcomes(directory):
    """``(WARC-Type, WARC-Target-URI)`` of every response and metadata record (each file
    must read to its end: no partial record anywhere)."""
    found = []
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), "rb") as stream:
            found += [(r.rec_type, r.rec_headers.get_header("WARC-Target-URI"))
                      for r in ArchiveIterator(stream) if r.rec_type in ("response", "metadata")]
    return found


def check_exactly_once(server, run, state):
    """Each final outcome once in the JSONL and the WARC files, and as the state file says."""
    expected = server.expected_outcomes()
    records = run.records()
    urls = [r["url"] for r in records]
    assert sorted(urls) == sorted(expected), "JSONL: missing %s, twice %s" % (
        sorted(set(expected) - set(urls))[:10], sorted({u for u in urls if urls.count(u) > 1}))
    assert {r["url"]: r["outcome"] for r in records} == expected
    archived = [url for _, url in _warc_outcomes(run.warc_dir)]
    twice = {u for u in archived if archived.count(u) > 1}
    assert not twice, "WARC: records twice for %s" % sorted(twice)[:10]
    with_response = {r["url"] for r in records if isinstance(r["status"], int)
                     and r["status"] < 599}
    assert set(archived) == with_response | server.robots_urls()
    assert _final_rows(state) - server.robots_urls() == set(urls)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("first, resumed", SCENARIOS,
                         ids=["%s+%s" % (a, b) if b else a for a, b in SCENARIOS])
def test_a_crash_at_every_point_loses_and_repeats_nothing(first, resumed, demo_site, tmp_path,
                                                          socket_dir, monkeypatch):
    server = demo_site(pages=50, hosts=2)
    run = Crawl(str(tmp_path), socket_dir, server.seeds, workers=1, FRONTIER_MIN_DELAY=0.04,
                FRONTIER_CHECKPOINT_SECONDS=0.3)
    state = os.path.join(str(tmp_path), "state.db")
    try:
        for point in (first, resumed):
            if point is None:
                continue
            monkeypatch.setenv("SPYDER_FAULT_POINT", point)
            assert run.start().wait() == 1, run.output()
            # ("the master was killed by SIGKILL", or "failed to start" when killed in its
            # first checkpoint, which a resumed run makes while it starts)
            assert "killed by SIGKILL" in run.output(), (point, run.output())
        monkeypatch.delenv("SPYDER_FAULT_POINT")
        assert run.start().wait() == 0, run.output()
        assert "the crawl is complete" in run.output()
    finally:
        if run.proc is not None and run.proc.poll() is None:
            run.kill_all()
    check_exactly_once(server, run, state)


def test_fault_points_are_inert_without_the_variable_and_checked_with_it():
    assert faults.point.__name__ == "_no_fault"
    with pytest.raises(ValueError, match="no crash point"):
        faults._make_point("commit.nowhere")
