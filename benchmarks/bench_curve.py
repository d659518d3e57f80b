"""The master's cost curve: results/s, RSS, disk, resume and the seen test against known URLs.

For each size N (default 10^5, 10^6, 10^7 known URLs):

1. ``build_state.py`` writes a state file of N URLs over ``--hosts`` hosts (skewed spread,
   a mix of done, due and waiting URLs; kept in ``--cache`` and reused);
2. **the seen test alone**: on a copy, ``--seen-pages`` batches of 30 links (10 known,
   drawn uniformly, 20 new) go through ``SQLiteStore.admit`` with a commit every 500
   batches (merges included as they fall due); µs per link;
3. ``bench_master.py --state``: a real ``spyder master`` grows the crawl by ``--grow``
   URLs (default: 3N/14 + 300,000, so that at least one whole merge of the fresh
   fingerprints falls inside the run: due at N/7 new URLs, spread over the next N/14),
   fed by fake workers (30 links per page, a third known), then is SIGKILLed and
   restarted: seconds to its first dispatch.

Before the sizes, ``--rounds`` alternated pairs of ``bench_master.py --start 100000
--until 400000`` (its own prefill: 1,000 hosts, uniform) on this tree and on
``--reference`` (another checkout, e.g. the tree before this work) give the ratio of
the two in the same window.  Everything runs with ``PYTHONPATH`` set to the tree
measured.

    python benchmarks/bench_curve.py --reference ../old-tree --json curve.json
    python benchmarks/bench_curve.py --sizes 100000000 --rounds 0 --grow 4300000  # 10^8
    python benchmarks/bench_curve.py --sizes 10000000 --rounds 0 --merge-bytes 6050000
    python benchmarks/bench_curve.py --sizes 100000000 --rounds 0 --merge-bytes 6600000 \
        --recent-share 0.19    # the move of seen_recent into seen at 10^8

``--merge-bytes N`` measures only the bytes the store itself writes while N new URLs
arrive (``merge_bytes``), e.g. over a whole merge cycle, with its CPU time and its
longest commits (a master's pauses: the merges, the Bloom filter's growth).
"""
import argparse
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TREE = os.path.dirname(HERE)
sys.path.insert(0, TREE)
sys.path.insert(0, HERE)

import build_state  # noqa: E402
import procstats  # noqa: E402


def _bench_master(tree, extra, out):
    env = dict(os.environ, PYTHONPATH=tree)
    argv = [sys.executable, os.path.join(tree, "benchmarks", "bench_master.py"), "--json", out]
    started = time.perf_counter()
    proc = subprocess.run(argv + extra, cwd=tree, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        raise SystemExit("bench_master failed in %s:\n%s" % (tree, proc.stdout[-3000:]))
    with open(out) as f:
        report = json.load(f)
    report["wall_s"] = round(time.perf_counter() - started, 1)
    return report


def _summary(report):
    first, last = report["first_window"], report["last_window"]
    return {"results_per_s": report["results_per_s"],
            "first_window": first and first["results_per_s"],
            "last_window": last and last["results_per_s"],
            "master_cpu_per_1000": report["master_cpu_per_1000"],
            "written_kb_per_result": report.get("written_kb_per_result", _windows_kb(report)),
            "peak_rss_mb": report["master_peak_rss_mb"],
            "state_file_mb": report["state_file_mb"], "resume": report.get("resume"),
            "known": [report["config"]["start"], report["known_at_end"]],
            "load": [report["load_before"][0], report["load_after"][0]]}


def _windows_kb(report):
    """KB written per result in the two windows (a tree whose bench_master does not
    report it for the whole run)."""
    windows = [w for w in (report["first_window"], report["last_window"]) if w]
    kb = sum(w["written_mb_per_s"] * w["seconds"] * 1024 for w in windows)
    return round(kb / max(1, sum(w["results"] for w in windows)), 1)


def seen_cost(path, hosts, pages, work, in_place=False):
    """µs per link of ``admit`` on a copy of the state file at ``path`` (on the file
    itself if ``in_place``)."""
    from spyder.core.store.protocol import UriRow
    from spyder.core.store.sqlite import SQLiteMultipleHostUriQueue

    if in_place:
        copy = path
    else:
        copy = os.path.join(work, "seen.db")
        shutil.copyfile(path, copy)
    store = SQLiteMultipleHostUriQueue(copy)
    known = store._next_seq - 1
    rng = random.Random(5)
    issued = known
    batches = []
    for _ in range(pages):
        links = [build_state.url(rng.randrange(issued), hosts) for _ in range(10)]
        links += [build_state.url(issued + k, hosts) for k in range(20)]
        issued += 20
        batches.append([UriRow(u, 1 + build_state.host_of(0, hosts), next_date=2.0, depth=2)
                        for u in links])
    commits = 0
    started, cpu_started = time.perf_counter(), time.process_time()
    for n, rows in enumerate(batches):
        store.admit(rows)
        if n % 500 == 499:
            store.commit({})
            commits += 1
    store.commit({})
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    store.close()
    for suffix in ("", "-wal", "-shm"):
        if not in_place and os.path.exists(copy + suffix):
            os.unlink(copy + suffix)
    return {"us_per_link": round(1e6 * cpu / (30 * pages), 2),
            "wall_us_per_link": round(1e6 * seconds / (30 * pages), 2), "pages": pages,
            "known": known}


def _written():
    """Bytes this process has had written to storage (``/proc/self/io``)."""
    with open("/proc/self/io") as f:
        return int(dict(line.split(": ") for line in f.read().splitlines())["write_bytes"])


def merge_bytes(path, hosts, new_urls, work, recent_share=0.0):
    """Bytes the store writes on a copy of ``path`` while ``new_urls`` new URLs arrive as
    pages of 10 known and 20 new links (``admit``, a commit every 500 pages, the merges as
    they fall due): the store alone, no master, no outcomes.  Also its CPU time and the
    longest commits (the pauses a master would make: merges, the Bloom filter's growth,
    the move of ``seen_recent`` into ``seen``), each with the known URLs at its end.

    ``recent_share``: first move that share of the keys of ``seen`` into ``seen_recent``
    (a file as merges leave it just before ``seen_recent`` is due to go into ``seen``:
    at 10^8 URLs, 0.19 starts that move at the first merge)."""
    from spyder.core.store.protocol import UriRow
    from spyder.core.store.sqlite import SQLiteMultipleHostUriQueue

    copy = os.path.join(work, "merge.db")
    shutil.copyfile(path, copy)
    if recent_share:
        _fill_seen_recent(copy, recent_share)
    store = SQLiteMultipleHostUriQueue(copy)
    known = issued = store._next_seq - 1
    rng = random.Random(5)
    mark = store._get_meta("seen_mark", 0)
    started, merges, pages, commits = _written(), [], 0, []
    cpu_started = time.process_time()
    while issued - known < new_urls:
        links = [build_state.url(rng.randrange(issued), hosts) for _ in range(10)]
        links += [build_state.url(issued + k, hosts) for k in range(20)]
        issued += 20
        store.admit([UriRow(u, 1 + build_state.host_of(issued, hosts), next_date=2.0, depth=2)
                     for u in links])
        pages += 1
        if pages % 500 == 0:
            commit_started = time.perf_counter()
            store.commit({})
            commits.append((round(time.perf_counter() - commit_started, 2), issued))
            if store._get_meta("seen_mark", 0) != mark:
                mark = store._get_meta("seen_mark", 0)
                merges.append(issued - known)
    store.commit({})
    cpu = time.process_time() - cpu_started
    store.close()
    total = _written() - started
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(copy + suffix):
            os.unlink(copy + suffix)
    return {"new_urls": issued - known, "pages": pages, "merges_at": merges,
            "written_mb": round(total / 2 ** 20), "kb_per_page": round(total / 1024 / pages, 1),
            "cpu_s": round(cpu, 1), "longest_commits_s": sorted(commits, reverse=True)[:6],
            "commits": len(commits), "commits_over_1s": sum(1 for s, _ in commits if s > 1.0)}


def _fill_seen_recent(path, share):
    """Move ``share`` of the keys of ``seen`` (those whose low 10 bits are below
    ``share * 1024``: random keys) into ``seen_recent``; the store counts both levels
    again when it opens the file (its ``seen_levels`` is dropped)."""
    db = sqlite3.connect(path, isolation_level=None)
    cut = round(share * 1024)
    db.execute("BEGIN")
    db.execute("INSERT INTO seen_recent (fp, seq) SELECT fp, seq FROM seen WHERE (fp & 1023) < ?",
               (cut,))
    db.execute("DELETE FROM seen WHERE (fp & 1023) < ?", (cut,))
    db.execute("DELETE FROM meta WHERE key = 'seen_levels'")
    db.execute("COMMIT")
    db.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100000, 1000000, 10000000])
    parser.add_argument("--hosts", type=int, default=100000)
    parser.add_argument("--grow", type=int,
                        help="URLs each master run adds (default 3N/14 + 3e5)")
    parser.add_argument("--seen-pages", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=2,
                        help="alternated pairs against --reference at 10^5 (0: none)")
    parser.add_argument("--reference", help="another tree to alternate with (e.g. the old one)")
    parser.add_argument("--cache", default="/tmp/spyder-curve", help="where state files are kept")
    parser.add_argument("--keep", action="store_true", help="keep the state files")
    parser.add_argument("--in-place", action="store_true",
                        help="run on the state files themselves, not copies (10^8: 15 GB)")
    parser.add_argument("--timeout", type=float, default=1500.0, help="longest master run (s)")
    parser.add_argument("--merge-bytes", type=int, metavar="N",
                        help="only: bytes the store alone writes while N new URLs arrive "
                        "(merges included), on each size's state file")
    parser.add_argument("--recent-share", type=float, default=0.0, metavar="F",
                        help="with --merge-bytes: first move this share of seen's keys into "
                        "seen_recent (0.19 at 10^8: the first merge starts moving it into seen)")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    os.makedirs(args.cache, exist_ok=True)
    started = time.perf_counter()
    report = {"pairs": [], "sizes": []}

    if args.reference and args.rounds:
        for n in range(args.rounds):
            pair = {}
            for name, tree in (("this", TREE), ("reference", args.reference)):
                out = os.path.join(args.cache, "pair-%d-%s.json" % (n, name))
                pair[name] = _summary(_bench_master(tree, ["--start", "100000", "--until",
                                                           "400000"], out))
                print("pair %d %-9s %s" % (n, name, json.dumps(pair[name])), flush=True)
            report["pairs"].append(pair)

    for size in args.sizes:
        path = os.path.join(args.cache, "state-%d-%d.db" % (size, args.hosts))
        built = None
        if not os.path.exists(path):
            built = build_state.build(path, size, args.hosts, quiet=True)
            print("built %d URLs in %.1f s: %s" % (size, built["seconds"], built["split"]),
                  flush=True)
        file_bytes = os.path.getsize(path)
        if args.merge_bytes:
            row = {"known": size, "merge_bytes": merge_bytes(path, args.hosts, args.merge_bytes,
                                                             args.cache, args.recent_share)}
            print("size %d: %s" % (size, json.dumps(row)), flush=True)
            report["sizes"].append(row)
            if not args.keep:
                os.unlink(path)
            continue
        if not args.in_place:
            seen = seen_cost(path, args.hosts, args.seen_pages, args.cache)
            print("seen test at %d: %.2f CPU us per link (%.2f wall)" % (
                size, seen["us_per_link"], seen["wall_us_per_link"]), flush=True)
        grow = args.grow or 3 * size // 14 + 300000
        out = os.path.join(args.cache, "master-%d.json" % size)
        master = _summary(_bench_master(TREE, ["--state", path, "--hosts", str(args.hosts),
                                               "--grow", str(grow), "--step", str(grow // 4),
                                               "--resume", "--timeout", str(args.timeout)]
                                        + (["--in-place"] if args.in_place else []), out))
        if args.in_place:  # after the master: the file is its own copy
            seen = seen_cost(path, args.hosts, args.seen_pages, args.cache, in_place=True)
            print("seen test at %d: %.2f CPU us per link (%.2f wall)" % (
                size, seen["us_per_link"], seen["wall_us_per_link"]), flush=True)
        row = {"known": size, "hosts": args.hosts, "build": built,
               "bytes_per_known_url": round(file_bytes / size, 1), "seen": seen,
               "master": master}
        print("size %d: %s" % (size, json.dumps(row)), flush=True)
        report["sizes"].append(row)
        if not args.keep:
            os.unlink(path)

    print("\n%12s %10s %10s %10s %9s %11s %10s %9s %8s %9s %9s" % (
        "known URLs", "results/s", "first win", "last win", "CPU/1000", "results/CPUs",
        "KB/result", "RSS MB", "B/URL", "resume s", "seen CPU us"))
    for row in report["sizes"]:
        if "master" not in row:
            continue
        m = row["master"]
        print("%12d %10.0f %10.0f %10.0f %9.3f %11.0f %10.1f %9.1f %8.1f %9.2f %9.2f" % (
            row["known"], m["results_per_s"], m["first_window"] or 0, m["last_window"] or 0,
            m["master_cpu_per_1000"], 1000.0 / m["master_cpu_per_1000"],
            m["written_kb_per_result"], m["peak_rss_mb"],
            row["bytes_per_known_url"], (m["resume"] or {}).get("first_dispatch_s", -1),
            row["seen"]["us_per_link"]))
    if report["sizes"] and "master" in report["sizes"][0]:
        base = report["sizes"][0]["master"]["results_per_s"]
        for row in report["sizes"][1:]:
            print("at %d / at %d: results/s %.2f, results per master CPU second %.2f" % (
                row["known"], report["sizes"][0]["known"], row["master"]["results_per_s"] / base,
                report["sizes"][0]["master"]["master_cpu_per_1000"]
                / row["master"]["master_cpu_per_1000"]))
    for n, pair in enumerate(report["pairs"]):
        print("pair %d at 10^5 (1,000 hosts): this %.0f results/s (%.3f CPU s/1000), reference "
              "%.0f (%.3f): ratio %.2f" % (
                  n, pair["this"]["results_per_s"], pair["this"]["master_cpu_per_1000"],
                  pair["reference"]["results_per_s"],
                  pair["reference"]["master_cpu_per_1000"],
                  pair["this"]["results_per_s"] / pair["reference"]["results_per_s"]))
    report["seconds"] = round(time.perf_counter() - started, 1)
    print("bench_curve: %.0f s" % report["seconds"])
    procstats.write_report(report, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
