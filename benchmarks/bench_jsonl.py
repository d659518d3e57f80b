"""The JSONL sink's line: Spyder's formatter against orjson and the standard json module,
in microseconds per line, on results like those of the realistic benchmark.

``spyder.sinks.jsonl.record`` formats a line by hand (a ``%`` template, each value
escaped as ``json.dumps`` would).  This measures it, in one process on one core,
against building the same record as a dict and serialising it with ``orjson.dumps``
(an optional C extension: ``pip install --target DIR orjson``, then ``--extra-path
DIR``; not a dependency of Spyder) and with ``json.dumps(..., separators=(",",
":"))``.  The results are the master's view of the documentation site's pages
(``docsite.py``: one host, every version; nothing is crawled): URL, status 200, the
depth, the timing floats, nginx's headers (``Content-Type``, ``Etag``,
``Last-Modified``), the body's length and SHA-1 as a worker sends them and the page's
links (~50, one per line, as they arrive in ``optional_vars``).  Each formatter runs
``--rounds`` times over all results, alternating; the best round counts.  orjson's
line is not byte-identical: it writes UTF-8 where Spyder escapes to ASCII, and its
floats may differ in the last digit; the script reports whether they parse to the
same values.

    python benchmarks/bench_jsonl.py --extra-path /tmp/extra
"""
import argparse
import hashlib
import json
import os
import random
import sys
import time

import docsite
import nginxsite


def results(site, rng):
    """CrawlUris as the master holds them when the sink is told (no body)."""
    from spyder.core import constants as C
    from spyder.core.crawluri import CrawlUri

    out = []
    paths = ["/%s/%s" % (version, path) for version in site.versions for path in site.html]
    for path in paths:
        size = rng.randint(18000, 220000)
        links = "\n".join(site.url(0, "/%s/%s" % (site.versions[0], other))
                          for other in rng.sample(site.html, 52))
        curi = CrawlUri(url=site.url(0, path), effective_url=site.url(0, path),
                        status_code=200, depth=rng.randint(1, 12), req_time=rng.random() / 50,
                        queue_time=rng.random() / 10,
                        rep_header={"Content-Type": "text/html", "Etag": '"6420%x-%x"' % (
                            rng.getrandbits(16), size),
                            "Last-Modified": "Fri, 07 Oct 2022 12:35:00 GMT"},
                        optional_vars={C.CURI_EXTRACTED_URLS: links,
                                       C.CURI_CONTENT_SHA1: hashlib.sha1(path.encode()).hexdigest(),
                                       C.CURI_CONTENT_LENGTH: str(size)})
        out.append(curi)
    return out


def orjson_formatter():
    """``record``'s line built as a dict and serialised by orjson (the same fields)."""
    import orjson

    from spyder.core import constants as C
    from spyder.sinks import jsonl

    dumps = orjson.dumps

    def line(outcome, curi):
        headers = curi.rep_header or {}
        optional = curi.optional_vars or {}
        length, sha1 = jsonl._body_facts(curi, optional)
        truncated = curi.truncated_reason
        return dumps({
            "url": curi.url, "outcome": outcome, "status": curi.status_code,
            "depth": curi.depth, "attempt": curi.attempt, "time": time.time(),
            "req_time": curi.req_time, "queue_time": curi.queue_time,
            "content_type": headers.get("Content-Type"), "content_length": length,
            "sha1": sha1, "truncated": truncated is not None, "truncated_reason": truncated,
            "noindex": optional.get(C.CURI_NOINDEX) == C.CURI_OPTIONAL_TRUE,
            "nofollow": optional.get(C.CURI_NOFOLLOW) == C.CURI_OPTIONAL_TRUE,
            "links": jsonl._link_count(curi, optional),
            "links_dropped": jsonl._count(optional.get(C.CURI_LINKS_DROPPED)),
            "etag": headers.get("Etag"), "last_modified": headers.get("Last-Modified"),
            "location": headers.get("Location"), "error": optional.get(C.CURI_ERROR),
        }) + b"\n"
    return line


def _best(formatters, curis, rounds):
    best = {name: float("inf") for name in formatters}
    for _ in range(rounds):
        for name, line in formatters.items():
            started = time.process_time()
            for curi in curis:
                line("success", curi)
            best[name] = min(best[name], time.process_time() - started)
    return {name: 1e6 * seconds / len(curis) for name, seconds in best.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--versions", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--extra-path", metavar="DIR", help="where orjson is installed")
    args = parser.parse_args(argv)
    if args.extra_path:
        sys.path.insert(0, os.path.abspath(args.extra_path))
    from spyder.sinks import jsonl

    site = docsite.DocSite(1, args.versions, nginxsite.free_ports(1), docsite.ensure_installed())
    curis = results(site, random.Random(1))
    formatters = {"spyder record()": jsonl.record}
    try:
        formatters["orjson.dumps(dict)"] = orjson_formatter()
        import orjson
        version = orjson.__version__
    except ImportError:
        version = None
        print("orjson not found: pip install --target DIR orjson, then --extra-path DIR")
    # the standard library's dumps, timed alone on the same values (no dict building)
    values = [json.loads(jsonl.record("success", curi)) for curi in curis]
    micros = _best(formatters, curis, args.rounds)
    started_best = float("inf")
    for _ in range(args.rounds):
        started = time.process_time()
        for value in values:
            (json.dumps(value, separators=(",", ":")) + "\n").encode("ascii")
        started_best = min(started_best, time.process_time() - started)
    micros["json.dumps(dict) (serialising only)"] = 1e6 * started_best / len(values)
    print("%d results (the documentation site's pages), best of %d rounds, python %s%s" % (
        len(curis), args.rounds, sys.version.split()[0],
        ", orjson %s" % version if version else ""))
    for name, value in micros.items():
        print("  %-38s %6.2f us per line" % (name, value))
    if version:
        same = all(json.loads(jsonl.record("success", c)) | {"time": 0}
                   == json.loads(formatters["orjson.dumps(dict)"]("success", c)) | {"time": 0}
                   for c in curis)
        print("  the two lines parse to the same values (time apart): %s" % same)
    return 0


if __name__ == "__main__":
    sys.exit(main())
