"""The SQLite store's cost per result, method by method and statement by statement.

``bench_master.py`` measures the master as a whole (ZeroMQ, messages, sinks, the loop)
and moves with this machine's load by more than the parts it is made of.  This
benchmark runs the frontier in one process on a copy of a state file of N known URLs
(``build_state.py``: the file is built into ``--cache`` unless one is given with
``--state``) and times, with ``perf_counter`` around each call, the store's methods
named by ``--methods`` (each inclusive of what it calls: ``admit`` holds
``_candidates`` and ``_store_new``) and every statement the store runs through its
cursor (by its first words, ``execute`` and ``executemany`` apart; a query with the
fetching of its rows).  Each of
``--results`` cycles takes a URL (``get_next``) and answers it with a 2xx result of
30 links, 9 of them known (drawn from the file's URLs) and 21 new, as
``bench_master.py``'s fake workers do.  Reported: CPU µs per result for the whole
cycle (``process_time``) and wall µs per result for each method and statement.

Compare two trees by running the same command with ``PYTHONPATH`` set to each, in
turns (the state file is built once and copied for every run):

    python benchmarks/bench_store.py --size 100000
    python benchmarks/bench_store.py --size 10000000 --results 20000
    python benchmarks/bench_store.py --size 100000 -s FRONTIER_BLOOM_BITS_PER_URL=0
    PYTHONPATH=../other-tree python ../other-tree/benchmarks/bench_store.py --state FILE
"""
import argparse
import collections
import os
import random
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bench_frontier  # noqa: E402
import build_state  # noqa: E402
import procstats  # noqa: E402

from spyder.core.frontier.frontiers import MultipleHostFrontier  # noqa: E402
from spyder.core.settings import parse_override  # noqa: E402
from spyder.core.store.sqlite import SQLiteMultipleHostUriQueue  # noqa: E402

#: Links per result, and how many of them are known already (as bench_master.py).
LINKS = 30
KNOWN = 9
METHODS = ("admit", "_candidates", "_store_new", "record", "commit", "queue_head")


class _Timings:
    """Wall seconds per name, added up."""

    def __init__(self):
        self.seconds = collections.Counter()
        self.calls = collections.Counter()

    def add(self, name, seconds):
        self.seconds[name] += seconds
        self.calls[name] += 1

    def clear(self):
        self.seconds.clear()
        self.calls.clear()


def _time_methods(cls, names, timings):
    """Wrap ``cls``'s methods ``names`` so that each call's time goes to ``timings``;
    returns the originals (``{name: function}``) to put back."""
    originals = {name: cls.__dict__[name] for name in names if name in cls.__dict__}
    for name in names:
        method = getattr(cls, name)

        def timed(*args, _method=method, _name=name, **kwargs):
            started = time.perf_counter()
            try:
                return _method(*args, **kwargs)
            finally:
                timings.add(_name, time.perf_counter() - started)
        setattr(cls, name, timed)
    return originals


def _untime_methods(cls, names, originals):
    """Undo ``_time_methods``."""
    for name in names:
        if name in originals:
            setattr(cls, name, originals[name])
        else:
            delattr(cls, name)  # inherited: the subclass's wrapper goes


class _TimedCursor:
    """A store's cursor that times each statement by its first words."""

    def __init__(self, cursor, timings):
        self._cursor = cursor
        self._timings = timings

    def execute(self, sql, *args):
        """Run ``sql``; a query's rows are fetched inside the timing (SQLite reads most
        of the pages while stepping through them) and handed back as a ``_Rows``."""
        started = time.perf_counter()
        try:
            cursor = self._cursor.execute(sql, *args)
            return _Rows(cursor.fetchall()) if sql.lstrip()[:6].upper() == "SELECT" else cursor
        finally:
            self._timings.add("execute: " + _head(sql), time.perf_counter() - started)

    def executemany(self, sql, rows):
        started = time.perf_counter()
        try:
            return self._cursor.executemany(sql, rows)
        finally:
            self._timings.add("executemany: " + _head(sql), time.perf_counter() - started)

    def __getattr__(self, name):
        return getattr(self._cursor, name)


class _Rows:
    """A query's rows, fetched already, read as from its cursor."""

    def __init__(self, rows):
        self._rows = rows
        self._next = 0

    def fetchone(self):
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchmany(self, size):
        rows = self._rows[self._next:self._next + size]
        self._next += len(rows)
        return rows

    def fetchall(self):
        rows = self._rows[self._next:]
        self._next = len(self._rows)
        return rows

    def __iter__(self):
        return iter(self.fetchall())


def _head(sql):
    """The first words of a statement, up to its first parenthesis (at most 48 characters)."""
    return " ".join(sql.split("(")[0].split())[:48]


def _state_file(args):
    """The state file to copy: ``--state``, or one built into ``--cache`` (kept)."""
    if args.state:
        return args.state
    os.makedirs(args.cache, exist_ok=True)
    path = os.path.join(args.cache, "store-%d-%d.db" % (args.size, args.hosts))
    if not os.path.exists(path):
        report = build_state.build(path, args.size, args.hosts, quiet=True)
        print("built %d URLs over %d hosts in %.1f s" % (args.size, args.hosts,
                                                          report["seconds"]), flush=True)
    return path


def run(state, hosts, results, methods, seed=1, overrides=()):
    """Answer ``results`` dispatches on a copy of ``state``; returns the report (a dict).
    ``overrides``: ``(name, value)`` settings of the frontier beyond the benchmark's."""
    timings = _Timings()
    originals = _time_methods(SQLiteMultipleHostUriQueue, methods, timings)
    work = tempfile.mkdtemp(prefix="spyder-bench-store-")
    try:
        path = os.path.join(work, "state.db")
        shutil.copyfile(state, path)
        settings = bench_frontier._settings(path)
        for name, value in overrides:
            setattr(settings, name, value)
        frontier = MultipleHostFrontier(settings)
        store = frontier._store
        store._cur = _TimedCursor(store._cur, timings)
        known = store._next_seq - 1
        rng = random.Random(seed)
        pages = []
        issued = known
        for _ in range(results):
            links = [build_state.url(rng.randrange(known), hosts) for _ in range(KNOWN)]
            links += [build_state.url(issued + k, hosts) for k in range(LINKS - KNOWN)]
            issued += LINKS - KNOWN
            pages.append(links)
        timings.clear()
        started = time.process_time()
        for links in pages:
            bench_frontier._cycle(frontier, links)
        cpu = time.process_time() - started
        frontier.close()
    finally:
        _untime_methods(SQLiteMultipleHostUriQueue, methods, originals)
        shutil.rmtree(work, ignore_errors=True)
    return {"known": known, "hosts": hosts, "results": results,
            "cpu_us_per_result": round(cpu / results * 1e6, 1),
            "us_per_result": {name: round(seconds / results * 1e6, 1)
                              for name, seconds in timings.seconds.most_common()},
            "calls_per_result": {name: round(timings.calls[name] / results, 4)
                                 for name in timings.calls}}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100000, help="known URLs (built)")
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--state", help="a state file of build_state.py's web to copy")
    parser.add_argument("--cache", default=os.path.join(tempfile.gettempdir(),
                                                        "spyder-bench-store"),
                        help="where a built state file is kept")
    parser.add_argument("--results", type=int, default=10000)
    parser.add_argument("--methods", nargs="+", default=list(METHODS),
                        help="SQLiteStore methods to time")
    parser.add_argument("--json", help="write the report as JSON ('-': stdout)")
    parser.add_argument("-s", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="another setting of the frontier "
                        "(e.g. FRONTIER_BLOOM_BITS_PER_URL=0: no Bloom filter)")
    args = parser.parse_args(argv)
    report = run(_state_file(args), args.hosts, args.results, args.methods,
                 overrides=[parse_override(text) for text in args.overrides])
    print("%d known URLs, %d hosts, %d results of %d links (%d known): %.1f CPU µs per "
          "result" % (report["known"], report["hosts"], report["results"], LINKS, KNOWN,
                      report["cpu_us_per_result"]))
    shown = {name: us for name, us in report["us_per_result"].items() if us >= 0.1}
    for name, us in shown.items():
        print("  %-62s %8.1f µs %7.3f calls per result"
              % (name, us, report["calls_per_result"][name]))
    if len(shown) < len(report["us_per_result"]):
        print("  (%d more below 0.1 µs per result; --json has them all)"
              % (len(report["us_per_result"]) - len(shown)))
    procstats.write_report(report, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
