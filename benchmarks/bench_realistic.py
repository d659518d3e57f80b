"""Whole-crawl speed and cost on real documentation pages served by nginx, with wget2 as
the reference (Spyder issue 21).

The generated site of ``bench_nginx.py`` has small, flat pages (14 KB, 20-40 links);
real documentation pages are larger, nest deeply, carry inline scripts and many more
link values.  This benchmark crawls such pages: the HTML of the Python 3.11
documentation from Debian's ``python3.11-doc`` package (PSF License Agreement, see
``/usr/share/doc/python3.11-doc/copyright``; installed once with ``apt-get install
python3.11-doc``, which the script runs as root when the package is missing; nothing
is fetched from the internet at run time), laid out by ``docsite.py``: ``--hosts``
virtual hosts (default 10) each serving ``--versions`` copies of the tree (default 2:
10 x 2 x 530 pages + 10 roots = 10,610 HTML pages, median 54 KB), every page with a
static version and language switcher linking it to its copies in the other versions
and on the other hosts, and a robots.txt per host (disallowing
``/<version>/search.html``, which some pages link to, and ``/<version>/_sources/``).

Everything else is ``bench_nginx.py``'s (its run loop, measurements and options are
shared, not copied): nginx on 127.0.0.1, one port per host; ``spyder crawl --workers
2`` from every host's root with robots.txt, leases, SQLite persistence, politeness
machinery and the JSONL sink on (delays 0, 8 per host); ``--runs`` crawls (default 3)
alternating run by run with as many wget2 crawls of the same seeds (``wget2ref.py``:
recursive, robots.txt on, ``--max-threads`` ``--wget2-threads`` (10), the same link
tags, downloads on tmpfs deleted at once); per run the pages/s and CPU seconds per
1,000 pages of each process (master, workers, logsink; wget2), the medians, Spyder's
CPU per page and pages/s as multiples of wget2's, and whether both crawled the same
URLs.  A Spyder crawl is complete when every URL nginx served is in the JSONL output
exactly once and nothing was fetched twice or disallowed by robots.txt.  ``--profile DIR``
adds one py-spy run (see ``bench_nginx.py``); ``--link-stats`` first runs the worker's
extract and scoper stages in this process over every page and reports the links a
worker sends per page, how many are in scope and new, and the stages' CPU per page,
step by step (decode, flatten, parse, select, resolve, scoper stages, SHA-1; and the
parse of the page as it is, unflattened, to price that cut).

    python benchmarks/bench_realistic.py                    # 3 + 3 runs, ~10,600 pages
    python benchmarks/bench_realistic.py --runs 1 --reference none --profile /tmp/prof
    python benchmarks/bench_realistic.py --runs 0 --reference none --link-stats
"""
import argparse
import collections
import os
import sys
import time

import bench_nginx
import docsite
import linkstats
import nginxsite


def docsite_check(site):
    """The completeness check of a crawl of the documentation site (see
    ``bench_nginx.run_once``)."""
    disallowed = site.disallowed()

    def check(jsonl_path, nginx):
        lines, outcomes = bench_nginx.read_jsonl(jsonl_path)
        requests, statuses, connections = nginx.access_counts()
        served = {"http://%s:%d%s" % (nginxsite.LOOPBACK, port, uri)
                  for (port, uri) in requests if uri != "/robots.txt"}
        got = set(outcomes)
        report = {
            "records": lines, "unique": len(got), "served": len(served),
            "missing": len(served - got), "unexpected": len(got - served),
            "duplicate_records": lines - len(got),
            "by_outcome": dict(collections.Counter(outcomes.values())),
            "requests": sum(requests.values()), "statuses": dict(statuses),
            "connections": connections,
            "robots_requests": sum(c for (_, uri), c in requests.items() if uri == "/robots.txt"),
            "disallowed_requests": sum(c for (_, uri), c in requests.items()
                                       if uri.startswith(disallowed)),
            "fetched_twice": sum(1 for (_, uri), c in requests.items()
                                 if c > 1 and uri != "/robots.txt"),
            "html_pages": site.pages,
        }
        report["complete"] = not (report["missing"] or report["unexpected"]
                                  or report["duplicate_records"] or report["fetched_twice"]
                                  or report["disallowed_requests"])
        report["text"] = (
            "%s -- %d URLs written (%s; the site has %d HTML pages), %d served by nginx and "
            "not written, %d written and not served, %d duplicate records; nginx: %d requests "
            "on %d connections, %d robots.txt, %d disallowed, %d pages fetched twice" % (
                "OK" if report["complete"] else "FAILED", report["unique"],
                ", ".join("%s %d" % kv for kv in sorted(report["by_outcome"].items())),
                site.pages, report["missing"], report["unexpected"],
                report["duplicate_records"], report["requests"], connections,
                report["robots_requests"], report["disallowed_requests"],
                report["fetched_twice"]))
        return report, got
    return check


def _pages(site, site_dir, hosts):
    """``(url, body)`` of every HTML page of ``hosts`` in the written site."""
    for host in hosts:
        top = os.path.join(site_dir, "h%d" % host)
        paths = ["/"] + ["/%s/%s" % (version, path) for version in site.versions
                         for path in site.html]
        for path in paths:
            with open(os.path.join(top, path.lstrip("/") or "index.html"), "rb") as f:
                yield site.url(host, path), f.read()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--versions", type=int, default=2,
                        help="copies of the documentation per host (default 2)")
    parser.add_argument("--reference", choices=("none", "wget2"), default="wget2",
                        help="none: Spyder's crawls only (default wget2)")
    bench_nginx.add_arguments(parser)
    args = parser.parse_args(argv)
    nginx_binary = bench_nginx.preflight(parser, args)
    root = docsite.ensure_installed()
    with nginxsite.work_directory("bench-realistic-") as work:
        site = docsite.DocSite(args.hosts, args.versions, nginxsite.free_ports(args.hosts),
                               root)
        site_dir = os.path.join(work, "site")
        started = time.monotonic()
        size = site.write(site_dir)
        print("%s; site: %s (%s), %d HTML pages (%d per copy) on %d "
              "hosts x %d versions, %.0f MB of HTML, written in %.1f s" % (
                  bench_nginx.tools(args, nginx_binary), docsite.PACKAGE, root, site.pages,
                  len(site.html), args.hosts, args.versions, size / 1e6,
                  time.monotonic() - started), flush=True)
        report = {"config": {k: v for k, v in vars(args).items() if k != "json"},
                  "source": "%s (%s; PSF License)" % (docsite.PACKAGE, root),
                  "html_pages": site.pages, "site_bytes": size}
        if args.link_stats:
            # the worker's steps on one host's pages (the others differ in the switcher only)
            report["stage_costs"] = linkstats.stage_costs(_pages(site, site_dir, [0]))
            linkstats.print_stage_costs(report["stage_costs"])
            report["link_stats"] = linkstats.link_stats(
                site, _pages(site, site_dir, range(site.hosts)), site.disallowed())
            linkstats.print_link_stats(report["link_stats"])
        return bench_nginx.benchmark(args, site, docsite_check(site), site_dir, work,
                                     nginx_binary, report)


if __name__ == "__main__":
    sys.exit(main())
