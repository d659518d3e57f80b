"""Build a realistic state file of N known URLs fast: bulk loads in key order.

The synthetic web (``url(i, hosts)``) is the one ``bench_master.py --state`` crawls on:
URL ``i`` (``seq`` ``i + 1``) is on host ``host_of(i, hosts)``, a skewed spread over
``--hosts`` hosts (default 10^5): host ``h`` holds a share ``((h + 1) / H)^(1/3) -
(h / H)^(1/3)`` of the URLs, so host 0 has 2.2 % of them, the first 100 together 10 %,
the first 1,000 22 %, and the last hosts a few per 10^6 (a few huge hosts, a long
tail).  Each URL's state is drawn from ``i`` too (``mix``): 45 % fetched and waiting
for their recrawl (status 200, due 1 to 30 days after ``--now``), 45 % never fetched
and due now (``next_date`` = depth 1 to 4), 7 % finished for good (404) and 3 % refused
(``scope`` / ``robots``, never fetched).  Every host has a queue, a robots.txt entry (a
small body, valid for a day), its per-host counters, and is in the default scope.

Nothing goes through the frontier one URL at a time: ``urls`` is appended in ``seq``
order, ``seen`` (fingerprint -> seq with its check bits, ``seen_value``) and ``schedule`` (queue, next_date, priority,
seq) are inserted in their key order after a sort in numpy, so every B-tree page is
written once, full; the Bloom filter of ``seen`` is built from the sorted keys on the
way (``BLOOM_BITS`` per URL, as the store would build it).  The file is the store's
layout (``spyder.core.store.sqlite``), closed cleanly, with the counters a frontier
would have.

    python benchmarks/build_state.py /tmp/state.db 10000000           # 10^7, ~2 min
    python benchmarks/build_state.py /tmp/state.db 100000000 --hosts 100000

Reports the seconds per phase and the bytes per known URL of each table
(``dbstat``).
"""
import argparse
import json
import os
import sqlite3
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

import procstats  # noqa: E402

PHI = 0.6180339887498949
PSI = 0.7548776662466927
NOW = 1_767_225_600.0  # 2026-01-01
DAY = 86400.0

#: Bits per URL of the state's Bloom filter (``FRONTIER_BLOOM_BITS_PER_URL``'s default).
BLOOM_BITS = 10
#: The share of each state (see the module docstring), by ``frac(i * PSI)``.
DONE_WAITING, DUE, GONE = 0.45, 0.90, 0.97


def host_of(i, hosts):
    """The host of URL ``i``: ``frac(i * PHI)^3`` spread over ``hosts`` (skewed to 0)."""
    u = (i * PHI) % 1.0
    return int(hosts * (u * u * u))


def url(i, hosts):
    """The ``i``-th URL of the synthetic web."""
    return "http://host%d.example.com/section/%d/page-%d.html" % (host_of(i, hosts), i % 97, i)


def _hosts_np(i, hosts):
    u = (i * PHI) % 1.0
    return (hosts * (u * u * u)).astype(np.int64)


def _texts(start, stop, host):
    return ["http://host%d.example.com/section/%d/page-%d.html" % (h, i % 97, i)
            for i, h in zip(range(start, stop), host.tolist())]


def build(path, size, hosts, chunk=1 << 20, cache_mb=256, quiet=False):
    """Write the state file (see the module docstring); returns a report dict."""
    from spyder.core.frontier.frontiers import MultipleHostFrontier
    from spyder.core.settings import Settings
    from spyder.core.store.bloom import GROWTH, BloomFilter, blocks_for
    from spyder.core.store.sqlite import SEEN_BATCH_MIN, url_keys

    for suffix in ("", "-wal", "-shm", ".lock"):
        if os.path.exists(path + suffix):
            os.unlink(path + suffix)
    phases = {}
    started = time.perf_counter()
    settings = Settings()
    settings.FRONTIER_STATE_FILE = path
    MultipleHostFrontier(settings).close()  # schema, queueing and counters as a frontier writes
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA cache_size = %d" % -(cache_mb * 1024))
    # a bulk load: no journal, no WAL, no fsync (a failed build is built again); the file
    # goes back to WAL mode at the end
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    cur = db.cursor()

    def phase(name, t0):
        phases[name] = round(time.perf_counter() - t0, 1)
        if not quiet:
            print("build_state: %-10s %7.1f s" % (name, phases[name]), flush=True)

    # ---- queues, robots.txt, scope: one per host, in key order
    t0 = time.perf_counter()
    cur.execute("BEGIN")
    cur.executemany("INSERT INTO queues (id, identifier) VALUES (?, ?)",
                    ((h + 1, "host%d.example.com" % h) for h in range(hosts)))
    body = "User-agent: *\nDisallow: /private/\n"
    cur.executemany("INSERT INTO robots (origin, status, body, expires, failures, fetched) "
                    "VALUES (?, 200, ?, ?, 0, ?)",
                    sorted(("http://host%d.example.com" % h, body, NOW + DAY, NOW - 3600.0)
                           for h in range(hosts)))
    cur.executemany("INSERT INTO scope_hosts (host) VALUES (?)",
                    sorted(("host%d.example.com" % h,) for h in range(hosts)))
    cur.execute("COMMIT")
    phase("hosts", t0)

    # ---- urls in seq order; fingerprints and schedule keys kept for the sorted loads
    t0 = time.perf_counter()
    fps = np.empty(size, dtype=np.int64)
    checks = np.empty(size, dtype=np.int16)  # 1..32767
    queued = np.zeros(hosts, dtype=np.int64)
    fetched = np.zeros(hosts, dtype=np.int64)
    sched = []  # per chunk: (queue, next_date, priority, seq) arrays of the scheduled rows
    counts = dict(waiting=0, due=0, gone=0, refused=0)
    for start in range(0, size, chunk):
        stop = min(size, start + chunk)
        i = np.arange(start, stop, dtype=np.int64)
        host = _hosts_np(i, hosts)
        r = (i * PSI) % 1.0
        depth = 1 + (i % 4)
        waiting, due = r < DONE_WAITING, (r >= DONE_WAITING) & (r < DUE)
        gone, refused = (r >= DUE) & (r < GONE), r >= GONE
        next_date = np.where(waiting, NOW + DAY * (1 + (i % 30)), depth.astype(np.float64))
        texts = _texts(start, stop, host)
        fps[start:stop], checks[start:stop] = url_keys(texts)
        queue = (host + 1).tolist()
        nd = next_date.tolist()
        dl = depth.tolist()
        wl, dul, gl = waiting.tolist(), due.tolist(), gone.tolist()
        rows = []
        for k, text in enumerate(texts):
            seq = start + k + 1
            if wl[k]:
                rows.append((seq, text, queue[k], '"e%x"' % seq, None, nd[k], 1, dl[k], 0,
                             200, None))
            elif dul[k]:
                rows.append((seq, text, queue[k], None, None, nd[k], 1, dl[k], 0, None, None))
            elif gl[k]:
                rows.append((seq, text, queue[k], None, None, None, 1, dl[k], 0, 404,
                             "status"))
            else:
                rows.append((seq, text, queue[k], None, None, None, 1, dl[k], 0, None,
                             "scope" if seq % 2 else "robots"))
        cur.execute("BEGIN")
        cur.executemany("INSERT INTO urls (seq, url, queue, etag, mod_date, next_date, priority, "
                        "depth, attempt, status, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        rows)
        cur.execute("COMMIT")
        scheduled = waiting | due
        sched.append((host[scheduled] + 1, next_date[scheduled], i[scheduled] + 1))
        queued += np.bincount(host[due], minlength=hosts)
        fetched += np.bincount(host[waiting], minlength=hosts)
        counts["waiting"] += int(waiting.sum())
        counts["due"] += int(due.sum())
        counts["gone"] += int(gone.sum())
        counts["refused"] += int(refused.sum())
        if not quiet and (start // chunk) % 8 == 7:
            print("build_state: %d URLs, %.0f s" % (stop, time.perf_counter() - t0), flush=True)
    phase("urls", t0)

    # ---- seen: fingerprints in key order -> seq | check << 32 (the store's seen_value:
    # every seq here is below 2^32); a fingerprint twice goes to seen_collisions
    if size >= 1 << 32:
        raise SystemExit("build_state: at most 2^32 - 1 URLs (seqs from 1: the last must fit "
                         "under the check bits)")
    t0 = time.perf_counter()
    order = np.argsort(fps, kind="stable")
    sorted_fps = fps[order]
    del fps
    dup = np.zeros(size, dtype=bool)
    if size > 1:
        dup[1:] = sorted_fps[1:] == sorted_fps[:-1]
    bloom = BloomFilter(blocks_for(max(GROWTH * size, SEEN_BATCH_MIN), BLOOM_BITS), BLOOM_BITS)
    cur.execute("BEGIN")
    for start in range(0, size, chunk):
        part = slice(start, min(size, start + chunk))
        keep = ~dup[part]
        keys = sorted_fps[part][keep].tolist()
        index = order[part][keep]
        values = (index + 1) | (checks[index].astype(np.int64) << 32)
        cur.executemany("INSERT INTO seen (fp, seq) VALUES (?, ?)", zip(keys, values.tolist()))
        bloom.add_sorted(keys)
    # the Bloom filter of seen as the store keeps it (SQLiteStore._build_bloom)
    cur.executemany("INSERT INTO bloom (block, bits) VALUES (?, ?)", bloom.take_dirty())
    collisions = [int(order[k]) for k in np.flatnonzero(dup)]
    cur.executemany("INSERT INTO seen_collisions (url, seq) VALUES (?, ?)",
                    sorted((url(i, hosts), i + 1) for i in collisions))
    cur.execute("COMMIT")
    del order, sorted_fps, dup, checks
    phase("seen", t0)

    # ---- schedule in (queue, next_date, priority, seq) order
    t0 = time.perf_counter()
    queue = np.concatenate([s[0] for s in sched])
    next_date = np.concatenate([s[1] for s in sched])
    seq = np.concatenate([s[2] for s in sched])
    del sched
    order = np.lexsort((seq, next_date, queue))
    cur.execute("BEGIN")
    for start in range(0, len(order), chunk):
        part = order[start:start + chunk]
        cur.executemany("INSERT INTO schedule (queue, next_date, priority, seq) "
                        "VALUES (?, ?, 1, ?)",
                        zip(queue[part].tolist(), next_date[part].tolist(), seq[part].tolist()))
    cur.execute("COMMIT")
    first_due = np.full(hosts + 1, np.inf)
    np.minimum.at(first_due, queue, next_date)
    del queue, next_date, seq, order
    phase("schedule", t0)

    # ---- queues' due times, host counters, the frontier's counters
    t0 = time.perf_counter()
    cur.execute("BEGIN")
    cur.executemany("UPDATE queues SET next_due = ? WHERE id = ?",
                    [(float(first_due[q]), q) for q in range(1, hosts + 1)
                     if np.isfinite(first_due[q])])
    cur.executemany("INSERT INTO host_stats (host, queue, queued, fetched, errors, bytes, "
                    "last_status, last_time) VALUES (?, ?, ?, ?, 0, ?, 200, ?)",
                    sorted(("host%d.example.com" % h, h + 1, int(queued[h]), int(fetched[h]),
                            14000 * int(fetched[h]), NOW - 60.0) for h in range(hosts)))
    open_ = counts["due"]
    meta = {"counters": {"known": size, "accepted": size - counts["refused"],
                         "pending": counts["due"] + counts["waiting"], "open": open_},
            "seen_mark": size, "seen_levels": [size - len(collisions), 0], "clean": True,
            "bloom": {"mark": size, "blocks": bloom.blocks, "keys": size - len(collisions),
                      "bits_per_url": BLOOM_BITS}}
    state = dict(cur.execute("SELECT key, value FROM meta WHERE key = 'counters'").fetchall())
    if "counters" in state:
        counters = json.loads(state["counters"])
        counters.update(meta["counters"])
        meta["counters"] = counters
    for key, value in meta.items():
        cur.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                    (key, json.dumps(value)))
    cur.execute("COMMIT")
    cur.execute("PRAGMA journal_mode = WAL")
    phase("finish", t0)
    report = {"known": size, "hosts": hosts, "seconds": round(time.perf_counter() - started, 1),
              "phases": phases, "states": counts, "collisions": len(collisions),
              "file_bytes": os.path.getsize(path)}
    report["split"] = table_split(db, size)
    db.close()
    return report


def table_split(db, known):
    """Bytes per known URL of each table (and its indexes), from ``dbstat``."""
    try:
        rows = db.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
    except sqlite3.OperationalError:  # SQLite without dbstat
        return None
    names = dict(db.execute("SELECT name, tbl_name FROM sqlite_master"))
    split = {}
    for name, size in rows:
        table = names.get(name, name)
        split[table] = split.get(table, 0) + size
    return {table: round(size / max(1, known), 1) for table, size in sorted(split.items())}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("path")
    parser.add_argument("size", type=int, help="known URLs")
    parser.add_argument("--hosts", type=int, default=100000)
    parser.add_argument("--json", metavar="PATH", help="write the report as JSON ('-': stdout)")
    args = parser.parse_args(argv)
    report = build(args.path, args.size, args.hosts)
    print("build_state: %d URLs over %d hosts in %.1f s (%.0f URLs/s); %.1f bytes per known "
          "URL on disk; split (bytes per known URL): %s" % (
              report["known"], report["hosts"], report["seconds"],
              report["known"] / max(report["seconds"], 1e-9),
              report["file_bytes"] / report["known"], report["split"]))
    procstats.write_report(report, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
