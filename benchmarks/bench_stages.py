"""CPU per page of each stage of a crawl, measured in one process, without sockets.

The crawl of ``bench_nginx.py`` spends its CPU in four processes at once, on a
busy machine, where a sampling profiler also counts the time a process waits for a
CPU.  This benchmark measures each stage alone, on one core, with CPU time
(``time.process_time``) around each call: it crawls the same generated site
(``nginxsite.StaticSite``, ``--pages`` default 20,000 on ``--hosts`` 10) *in
process* -- the pages are rendered in memory and "fetched" by looking them up
(``StaticSite.response``), nothing listens and nothing is sent -- through the real
components, with the settings of ``bench_nginx`` (delays 0, host concurrency 8,
robots.txt on, a SQLite state file in a temporary directory):

* ``frontier``: ``MultipleHostFrontier.get_next`` plus the result handler
  (``process_successful_crawl`` ...), i.e. URL-seen test, scope, canonicalisation,
  SQLite, politeness and robots.txt bookkeeping -- the master minus messaging;
* ``jsonl sink``: ``JsonLinesSink`` for each final outcome (sha1 of the body,
  ``json.dumps``, a line write);
* ``extract``: the worker's processing function (``SPYDER_EXTRACTOR_PIPELINE`` +
  ``SPYDER_SCOPER_PIPELINE``: limiter, selectolax link extraction, HTTP extractor,
  scoper, session-id stripper, query clean-up); ``html parse`` is the selectolax
  parse and CSS query alone, for scale;
* ``result out`` / ``result in``: the worker serialising its result
  (``DataMessage.serialize``: msgpack of the CrawlUri with the ~14 KB body and the
  links) and the master parsing and validating it (``DataMessage.from_frames``);
  ``... no body``: the same message without the body; ``sha1 of the body`` is the
  JSONL sink's digest alone;
* ``dispatch out`` / ``dispatch in``: the master serialising a dispatched CrawlUri
  and the worker parsing it.

Not here: HTTP fetching (``bench_httpclient.py``), ZeroMQ, the event loops and the
logsink.  It prints CPU seconds per 1,000 pages per stage and their sum (the floor
of the crawl's CPU with today's components); ``--statements`` counts the SQLite
statements the frontier runs per page, by verb and table; ``--profile-stage
extract`` runs one stage under cProfile (CPU time) and prints its top functions;
``--extract-detail`` also times each processor of the extract stage apart (rows
``extract: <class>``, not in the sum; the timing adds a little to the extract row);
``--json PATH`` writes the figures.

    python benchmarks/bench_stages.py                 # 20,000 pages, 10 hosts
    python benchmarks/bench_stages.py --pages 5000 --statements --profile-stage extract
    python benchmarks/bench_stages.py --extract-detail
"""
import argparse
import collections
import copy
import cProfile
import hashlib
import json
import os
import pstats
import queue
import shutil
import sys
import tempfile
import time
from urllib.parse import urlsplit

import nginxsite
from selectolax.lexbor import LexborCSSSelector, LexborHTMLParser

from spyder.core import constants as C
from spyder.core.crawluri import CrawlUri
from spyder.core.frontier.frontiers import MultipleHostFrontier
from spyder.core.master.zmqmaster import result_class
from spyder.core.memory import keep_freed_memory
from spyder.core.wire.messages import DataMessage
from spyder.core.settings import Settings
from spyder.import_util import import_class
from spyder.processor.htmllinkextractor import _SELECTOR
from spyder.sinks.jsonl import JsonLinesSink
from spyder.workerprocess import create_processing_function

_IDENTITY = b"master:bench:1"
_HANDLERS = {"success": "process_successful_crawl", "redirect": "process_redirect",
             "not_found": "process_not_found", "server_error": "process_server_error"}
#: Longest wait for a URL to become due (there is no politeness delay; this bounds a bug).
_MAX_IDLE = 5.0


class _Clock:
    """CPU seconds per stage; the calls of ``profiled`` (a stage name) run under cProfile."""

    def __init__(self, profiled=None):
        self.seconds = collections.Counter()
        self.profiled = profiled
        self.profile = cProfile.Profile(time.process_time) if profiled else None

    def run(self, stage, function, *args):
        started = time.process_time()
        try:
            if stage == self.profiled:
                return self.profile.runcall(function, *args)
            return function(*args)
        finally:
            self.seconds[stage] += time.process_time() - started


def _settings(directory):
    return Settings(overrides={
        "FRONTIER_STATE_FILE": os.path.join(directory, "state.db"),
        "FRONTIER_MIN_DELAY": 0.0, "FRONTIER_CRAWL_DELAY_FACTOR": 0.0,
        "FRONTIER_HOST_CONCURRENCY": 8,
        "JSONL_SINK_PATH": os.path.join(directory, "crawl.jsonl")})


def _fetch(site, hosts_by_port, curi):
    """Fill ``curi`` as the fetch stage would from nginx's answer."""
    parts = urlsplit(curi.url)
    status, headers, body = site.response(hosts_by_port[parts.port], parts.path or "/")
    curi.status_code, curi.rep_header, curi.content_body = status, dict(headers), body
    curi.req_time = 0.001
    return curi


def _timed_processing(settings, clock):
    """The extract pipeline with each processor timed as ``extract: <class>``."""
    names = settings.SPYDER_EXTRACTOR_PIPELINE + settings.SPYDER_SCOPER_PIPELINE
    processors = [("extract: " + name.rpartition(".")[2], import_class(name)(settings))
                  for name in names]

    def processing(curi):
        for stage, processor in processors:
            curi = clock.run(stage, processor, curi)
        return curi

    return processing, [stage for stage, _ in processors]


def crawl(site, directory, clock, count_statements=False, extract_detail=False):
    """Crawl ``site`` in this process, timing with ``clock``; returns (counts, statements,
    the names of the per-processor rows)."""
    settings = _settings(directory)
    frontier = MultipleHostFrontier(settings)
    sink = JsonLinesSink(settings)
    detail = []
    if extract_detail:
        processing, detail = _timed_processing(settings, clock)
    else:
        processing = create_processing_function(settings)
    selector = LexborCSSSelector()  # as the link extractor queries
    hosts_by_port = {port: host for host, port in enumerate(site.ports)}
    counts = collections.Counter()
    for seed in site.seeds:
        frontier.add_uri(CrawlUri(url=seed))
    statements = collections.Counter()
    if count_statements:  # on the state file's connection (slows the frontier by ~10 %)
        frontier._store._db.set_trace_callback(
            lambda sql: statements.update([_statement_kind(sql)]))
    idle_since = None
    while True:
        try:
            dispatched = clock.run("frontier", frontier.get_next)
        except queue.Empty:
            if frontier.crawl_done():
                break
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > _MAX_IDLE:
                raise SystemExit("the frontier handed out nothing for %.0f s" % _MAX_IDLE)
            time.sleep(0.001)
            continue
        idle_since = None
        frames = clock.run("dispatch out", DataMessage(_IDENTITY, dispatched).serialize)
        curi = clock.run("dispatch in", DataMessage.from_frames, frames).curi
        curi = clock.run("extract", processing, _fetch(site, hosts_by_port, curi))
        robots = curi.optional_vars.get(C.CURI_ROBOTS_FETCH) == C.CURI_OPTIONAL_TRUE
        if not robots and curi.status_code == 200:
            clock.run("html parse", lambda body: selector.find(_SELECTOR,
                                                               LexborHTMLParser(body).root),
                      curi.content_body)
        bare = copy.copy(curi)
        bare.content_body = None
        frames = clock.run("result out", DataMessage(_IDENTITY, curi).serialize)
        curi = clock.run("result in", DataMessage.from_frames, frames).curi
        clock.run("result in, no body", DataMessage.from_frames,
                  clock.run("result out, no body", DataMessage(_IDENTITY, bare).serialize))
        if curi.content_body:
            clock.run("sha1 of the body", hashlib.sha1, curi.content_body)
        kind = result_class(curi.status_code)
        clock.run("frontier", getattr(frontier, _HANDLERS[kind]), curi)
        if robots:
            counts["robots"] += 1
        else:
            clock.run("jsonl sink", getattr(sink, _HANDLERS[kind]), curi)
            counts[kind] += 1
    frontier._store._db.set_trace_callback(None)
    frontier.close()
    sink.close()
    return counts, statements, detail


def _statement_kind(sql):
    """Verb and table of a statement: ``INSERT urls``, ``UPDATE queues``, ``SAVEPOINT``."""
    words = sql.replace("(", " ").split()
    for keyword in ("INTO", "UPDATE", "FROM"):
        if keyword in words[:-1]:
            return "%s %s" % (words[0], words[words.index(keyword) + 1])
    return words[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=20000)
    parser.add_argument("--hosts", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", metavar="PATH", help="write the figures as JSON")
    parser.add_argument("--statements", action="store_true",
                        help="count the frontier's SQLite statements per page")
    parser.add_argument("--profile-stage", metavar="STAGE",
                        help="run one stage (e.g. extract) under cProfile and print the top")
    parser.add_argument("--profile-top", type=int, default=25)
    parser.add_argument("--extract-detail", action="store_true",
                        help="time each processor of the extract stage apart")
    args = parser.parse_args(argv)
    keep_freed_memory(Settings())  # as the master and the workers run (MALLOC_KEEP_MB)
    # ports only name the hosts here: nothing listens on them
    site = nginxsite.StaticSite(args.pages, args.hosts, range(20001, 20001 + args.hosts),
                                args.seed)
    directory = tempfile.mkdtemp(prefix="bench-stages-")
    try:
        started = time.monotonic()
        clock = _Clock(args.profile_stage)
        counts, statements, detail = crawl(site, directory, clock, args.statements,
                                           args.extract_detail)
        seconds = clock.seconds
        wall = time.monotonic() - started
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    pages = sum(v for k, v in counts.items() if k != "robots")
    expected = len(site.expected())
    print("python %s; in-process crawl of %d pages on %d hosts: %d URLs (%s), %d expected, "
          "%.1f s wall" % (sys.version.split()[0], args.pages, args.hosts, pages,
                           ", ".join("%s %d" % kv for kv in sorted(counts.items())), expected,
                           wall))
    order = ["frontier", "jsonl sink", "dispatch out", "dispatch in", "extract", "result out",
             "result in", "html parse", "result out, no body", "result in, no body",
             "sha1 of the body"] + detail
    in_crawl = order[:7]
    print("%-34s %10s %18s %12s" % ("stage", "CPU s", "CPU s/1000 pages", "us/page"))
    for stage in order:
        print("%-34s %10.2f %18.3f %12.0f%s" % (
            stage, seconds[stage], 1000 * seconds[stage] / pages, 1e6 * seconds[stage] / pages,
            "" if stage in in_crawl else "   (not in the sum)"))
    total = sum(seconds[s] for s in in_crawl)
    print("%-34s %10.2f %18.3f %12.0f" % ("sum", total, 1000 * total / pages, 1e6 * total / pages))
    if args.statements:
        print("SQLite statements per page: %.1f (%s)" % (
            sum(statements.values()) / pages,
            ", ".join("%s %.2f" % (kind, count / pages)
                      for kind, count in statements.most_common())))
    if clock.profile is not None:
        for order in ("tottime", "cumulative"):
            print("cProfile of the %r stage (CPU time), by %s:" % (args.profile_stage, order))
            pstats.Stats(clock.profile, stream=sys.stdout).sort_stats(order).print_stats(
                args.profile_top)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"pages": pages, "counts": counts, "expected": expected,
                       "cpu_s": dict(seconds), "cpu_per_1000": {
                           s: round(1000 * v / pages, 4) for s, v in seconds.items()},
                       "sum_cpu_per_1000": round(1000 * total / pages, 4),
                       "sqlite_statements_per_page": {
                           k: round(v / pages, 3) for k, v in statements.items()}}, f, indent=1)
    return 0 if pages == expected else 1


if __name__ == "__main__":
    sys.exit(main())
