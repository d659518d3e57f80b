"""``benchmarks/bench_floor.py``: the frontier's cost per result on the memory store and on
the SQLite store, the same seeds and links for both."""
import os
import sys

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "benchmarks")
sys.path.insert(0, BENCHMARKS)

import bench_floor  # noqa: E402


def test_each_store_answers_the_same_results_and_learns_the_same_urls():
    memory = bench_floor.run("memory", 20, 100)
    sqlite = bench_floor.run("sqlite", 20, 100)
    # 20 seeds (one dispatched per result, the rest stay due) and 21 new URLs per result
    assert memory["known"] == sqlite["known"] == 20 + 100 * 21
    assert memory["cpu_us_per_result"] > 0 and sqlite["cpu_us_per_result"] > 0


def test_the_report_alternates_the_stores_in_child_processes(capsys, tmp_path):
    out = tmp_path / "floor.json"
    assert bench_floor.main(["--seeds", "10", "--results", "50", "--rounds", "1",
                             "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "round 1: memory" in printed and "round 1: sqlite" in printed
    assert "the SQLite store's share at least" in printed
    assert out.exists() and '"medians"' in out.read_text()
