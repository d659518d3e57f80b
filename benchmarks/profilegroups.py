"""Where a page's CPU goes: a py-spy profile's samples put into cost groups, in
microseconds per page (for ``bench_nginx.py`` / ``bench_realistic.py --profile``).

``profiles.py`` ranks functions; the optimisation work needs the cost of each *kind* of
work per page instead -- ZeroMQ send/recv, msgpack and message checks, link
extraction, URL resolution, scoping, the seen test, SQLite, JSONL, libcurl's
callbacks, the event loop -- so that "batch the messages" or "a faster JSONL line"
can be priced before it is written.  ``group_stack(frames, role)`` names the group of
one sampled stack: the rules of ``RULES[role]`` are tried in order, each against
every frame (``frame`` is py-spy's ``function (file:line)``); the first rule with a
matching frame wins (a needle starting with ``=`` matches the innermost frame only:
the own time of a module that is on every stack), so the order encodes "inside": the
SQLite calls of the seen test count as the seen test's SQLite, a frame of the JSONL
sink claims the ``json`` work under it, and the ZeroMQ calls come first of all.

``costs(path, role, cpu, pages)`` reads a collapsed-stack file and returns, per
thread kind (``main``: the event loop's thread; ``thread``: Python threads of a
pool, the worker's extract thread) and group, the samples and the microseconds per
page: the group's share of that thread's busy samples times the thread's CPU
seconds (measured from /proc, ``cpu``: ``{"main": s, "thread": s}``) over ``pages``.
Samples that are not CPU are left out before the shares are taken: the event loop's
``select`` and a pool thread waiting for work (``_worker`` as the innermost frame).
py-spy counts a thread as busy while it is runnable, so time waiting for a CPU or
for the GIL lands on whatever frame the thread was in; the shares assume it spreads
like the CPU (the GIL-wait of the extract thread and the loop thread is the main
caveat: see docs/performance.md).  ``analyse(run, recordings, workers)`` does it for
every recorded process of a benchmark run, ``table(result)`` renders it as Markdown,
and ``python profilegroups.py REPORT.json DIR`` groups an earlier run's recordings
again.
"""
import argparse
import collections
import json
import os
import sys

import profiles

#: (group, substrings of a frame) in order; see the module docstring.
_COMMON_FIRST = [
    ("ZeroMQ send/recv (pyzmq calls)", ("Socket.send (zmq", "Socket.recv_multipart (zmq",
                                        "Socket.recv (zmq", "Socket.send_multipart (zmq",
                                        "Socket.get (zmq", "Socket.getsockopt (zmq")),
    ("ZeroMQ channel (Python side)", ("=spyder/core/wire/zmqchannel.py",
                                      "=spyder/core/wire/sockets.py")),
    ("logging", ("(logging/", "spyder/core/log.py")),
    ("msgpack + message checks", ("(msgpack/", "spyder/core/wire/messages.py",
                                  "spyder/core/wire/mgmt.py", "_checked_frames (")),
]
_COMMON_LAST = [
    ("tornado/asyncio loop overhead", ("(asyncio/", "(tornado/", "(selectors.py",
                                       "(concurrent/", "(threading.py")),
]
RULES = {
    "master": _COMMON_FIRST + [
        ("console and metrics", ("spyder/console/",)),
        ("JSONL sink (line + write)", ("spyder/sinks/jsonl.py",)),
        ("SQLite: seen test (admit)", ("SQLiteStore.admit (",)),
        ("SQLite: record, queues, commit", ("spyder/core/store/",)),
        ("robots.txt", ("spyder/core/frontier/robots.py", "(protego")),
        ("URL canonicalisation (master)", ("Admission.canonical (", "spyder/core/urls.py")),
        ("scoping (master)", ("Admission.refusal (", "ScopePatterns")),
        ("admission: seen cache, room, intake", ("spyder/core/frontier/admission.py",
                                                 "spyder/core/frontier/intake.py")),
        ("CrawlUri links (split)", ("spyder/core/crawluri.py",)),
        ("frontier: dispatch, outcomes, queues", ("spyder/core/frontier/",)),
        ("leases, registry, worker channel", ("spyder/core/master/",)),
    ] + _COMMON_LAST,
    "worker": _COMMON_FIRST + [
        ("scoping (worker stages)", ("spyder/processor/scoper.py",
                                     "spyder/processor/stripsessions.py",
                                     "spyder/processor/cleanupquery.py", "rewrite_links (")),
        ("URL resolution/canonicalisation", ("spyder/processor/links.py", "(ada_url",
                                             "spyder/core/urls.py")),
        ("link extraction: flatten (regex)", ("flatten (spyder/processor/htmllinkextractor",
                                              "defuse (spyder/processor/htmllinkextractor",
                                              "_cut_after_links (")),
        ("link extraction: decode", ("spyder/processor/encoding.py",)),
        ("link extraction: parse + select", ("spyder/processor/htmllinkextractor.py",
                                             "(selectolax")),
        ("SHA-1 of the body", ("_digest (spyder/core/worker",)),
        ("header parsing, robots meta", ("on_header (spyder/processor/fetcher.py",
                                         "spyder/processor/httpextractor.py",
                                         "spyder/processor/robotstag.py",
                                         "spyder/processor/limiter.py")),
        ("libcurl and its callbacks", ("spyder/processor/curlclient.py",
                                       "spyder/processor/fetcher.py", "(pycurl")),
        ("sitemaps", ("spyder/processor/sitemaps.py",)),
        ("worker glue (zmqworker, CrawlUri)", ("=spyder/core/worker/",
                                               "=spyder/core/crawluri.py",
                                               "=spyder/workerprocess.py")),
    ] + _COMMON_LAST,
}
_OTHER = "other"
_KINDS = {"main": "loop thread", "thread": "pool threads"}
_POOL_WAIT = "_worker (concurrent/futures/thread.py"


def group_stack(frames, role):
    """The cost group of one sampled stack (``frames``: outermost first)."""
    for group, needles in RULES.get(role, _COMMON_FIRST + _COMMON_LAST):
        for needle in needles:
            if needle.startswith("="):  # own time only: the innermost frame
                if needle[1:] in frames[-1]:
                    return group
            elif any(needle in frame for frame in frames):
                return group
    return _OTHER


def _kind(frames):
    return "thread" if any(f.startswith("Thread._bootstrap (") for f in frames) else "main"


def costs(path, role, cpu, pages, unsampled=None):
    """``{"samples": {kind: n}, "left_out": n, "groups": [(kind, group, samples, us per
    page)]}`` of a collapsed-stack file (see the module docstring); ``unsampled``:
    ``{name: CPU seconds}`` of threads py-spy cannot see (libzmq's), added as groups."""
    counts = collections.Counter()
    totals = collections.Counter()
    left_out = 0
    for frames, count in profiles.read_collapsed(path):
        if profiles._waiting(frames[-1]) or frames[-1].startswith(_POOL_WAIT):
            left_out += count
            continue
        kind = _kind(frames)
        counts[kind, group_stack(frames, role)] += count
        totals[kind] += count
    rows = []
    for (kind, group), count in counts.most_common():
        seconds = cpu.get(kind, 0.0) * count / totals[kind]
        rows.append((kind, group, count, 1e6 * seconds / pages))
    for name, seconds in sorted((unsampled or {}).items()):
        rows.append(("unsampled", name, 0, 1e6 * seconds / pages))
    return {"samples": dict(totals), "left_out": left_out, "groups": rows,
            "cpu": dict(cpu), "pages": pages}


def analyse(run, recordings, workers):
    """``{process name: costs(...)}`` of a profiled benchmark run (``run``: its report,
    with ``processes`` and ``pages``; ``recordings``: ``{name: (pid, collapsed file)}``):
    each process's CPU split by thread from /proc, a worker's pages being its share."""
    out = {}
    for name, (pid, path) in sorted(recordings.items()):
        row = next((r for r in run["processes"] if r["pid"] == pid), None)
        if row is None or not os.path.exists(path):
            continue
        pages = run["pages"] / (workers if name == "worker" else 1)
        threads = row["threads_cpu_s"]
        zmq = {"%s (libzmq, not sampled)" % t: c for t, c in threads.items()
               if t.startswith("ZMQbg")}
        pool = sum(c for t, c in threads.items() if t != "main" and not t.startswith("ZMQbg"))
        cpu = {"main": row["cpu_s"] - pool - sum(zmq.values()), "thread": pool}
        out[name] = costs(path, name, cpu, pages, zmq)
        out[name]["pid"] = pid
    return out


def table(name, result):
    """Markdown: the groups by microseconds per page, both thread kinds added up."""
    per_group = collections.Counter()
    for _, group, _, micros in result["groups"]:
        per_group[group] += micros
    total = sum(per_group.values()) or 1.0
    lines = ["**%s**: %s busy samples (%d waiting ones left out); CPU %s over %d pages"
             % (name, ", ".join("%s %d" % kv for kv in sorted(result["samples"].items())),
                result["left_out"],
                ", ".join("%s %.2f s" % (_KINDS.get(kind, kind), seconds)
                          for kind, seconds in sorted(result["cpu"].items())),
                result["pages"]), "",
             "| group | µs per page | share |", "|---|---|---|"]
    for group, micros in per_group.most_common():
        lines.append("| %s | %.0f | %.1f %% |" % (group, micros, 100.0 * micros / total))
    lines.append("| **total** | **%.0f** | |" % total)
    return "\n".join(lines)


def main(argv=None):
    """Group the recordings of an earlier ``--profile DIR`` run again (after the rules
    changed): ``profilegroups.py REPORT.json DIR`` (the report of ``--json``)."""
    parser = argparse.ArgumentParser(description=main.__doc__.split("\n")[0])
    parser.add_argument("report", help="the benchmark's --json report of the profiled run")
    parser.add_argument("directory", help="the --profile DIR of that run")
    args = parser.parse_args(argv)
    with open(args.report) as f:
        report = json.load(f)
    run = report["profiled_run"]
    first = {name: groups["pid"] for name, groups in run.get("profile_groups", {}).items()}
    for row in run["processes"]:  # else the first process of each role
        first.setdefault(row["process"].split()[0], row["pid"])
    recordings = {name: (pid, os.path.join(args.directory, "%s.txt" % name))
                  for name, pid in first.items()}
    for name, result in analyse(run, recordings, report["config"]["workers"]).items():
        print(table(name, result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
