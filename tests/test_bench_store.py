"""``benchmarks/bench_store.py``: the store's cost per result on a copy of a state file
built by ``benchmarks/build_state.py``, method by method and statement by statement."""
import os
import sys

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "benchmarks")
sys.path.insert(0, BENCHMARKS)

import bench_store  # noqa: E402
import build_state  # noqa: E402

from spyder.core.store.sqlite import SQLiteMultipleHostUriQueue  # noqa: E402


def test_bench_store_times_each_method_and_statement_on_a_copy(tmp_path):
    path = str(tmp_path / "state.db")
    build_state.build(path, 3000, 20, quiet=True)
    before = os.path.getsize(path), os.path.getmtime(path)
    admit = SQLiteMultipleHostUriQueue.admit

    report = bench_store.run(path, 20, 300, bench_store.METHODS)

    assert report["known"] == 3000 and report["results"] == 300
    assert report["cpu_us_per_result"] > 0
    calls, times = report["calls_per_result"], report["us_per_result"]
    for name in ("admit", "_candidates", "_store_new", "record"):
        assert calls[name] == 1.0 and times[name] > 0  # one per result, each answered
    assert times["admit"] >= times["_store_new"]  # inclusive of what it calls
    assert calls["executemany: INSERT INTO urls"] == 1.0  # 21 new links per result
    assert "execute: SELECT fp, seq FROM seen WHERE fp IN" in calls  # 9 known ones probed
    assert (os.path.getsize(path), os.path.getmtime(path)) == before  # the copy was used
    assert SQLiteMultipleHostUriQueue.admit is admit  # the timing wrappers are gone


def test_a_setting_given_with_s_reaches_the_frontier(tmp_path, monkeypatch, capsys):
    path = str(tmp_path / "state.db")
    build_state.build(path, 2000, 20, quiet=True)
    made = []
    frontier_class = bench_store.MultipleHostFrontier

    def frontier(settings):
        made.append(settings.FRONTIER_BLOOM_BITS_PER_URL)
        return frontier_class(settings)

    monkeypatch.setattr(bench_store, "MultipleHostFrontier", frontier)
    assert bench_store.main(["--state", path, "--hosts", "20", "--results", "50",
                             "-s", "FRONTIER_BLOOM_BITS_PER_URL=0"]) == 0
    assert made == [0]
    assert "2000 known URLs, 20 hosts, 50 results" in capsys.readouterr().out
