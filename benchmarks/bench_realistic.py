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
and on the other hosts, and a robots.txt per host (disallowing ``/<version>/search.html``, which every page
links to, and ``/<version>/_sources/``).

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
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import bench_nginx
import docsite
import nginxsite
import profiles
import wget2ref


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


def link_stats(site, site_dir):
    """Run the worker's extract and scoper stages (``create_processing_function``, the
    default settings) over every page of the written site, in this process: links per
    page and where they point, and the stages' CPU per page."""
    from spyder.core.crawluri import CrawlUri
    from spyder.core.settings import Settings
    from spyder.workerprocess import create_processing_function

    process = create_processing_function(Settings())
    seed_netlocs = {site.netloc(h) for h in range(site.hosts)}
    disallowed = site.disallowed()
    headers = {"Content-Type": "text/html; charset=utf-8"}
    sent, in_scope, barred, targets, sizes = [], [], [], set(), []
    cpu = 0.0
    for host in range(site.hosts):
        top = os.path.join(site_dir, "h%d" % host)
        paths = ["/"] + ["/%s/%s" % (version, path) for version in site.versions
                         for path in site.html]
        for path in paths:
            local = os.path.join(top, path.lstrip("/") or "index.html")
            with open(local, "rb") as f:
                body = f.read()
            url = site.url(host, path)
            curi = CrawlUri(url=url, effective_url=url, status_code=200,
                            rep_header=dict(headers), content_body=body)
            started = time.process_time()
            links = process(curi).extracted_urls
            cpu += time.process_time() - started
            sizes.append(len(body))
            sent.append(len(links))
            scoped = [link for link in links if link.split("/", 3)[2] in seed_netlocs]
            in_scope.append(len(scoped))
            barred.append(sum(1 for link in scoped
                              if ("/" + link.split("/", 3)[3]).startswith(disallowed)))
            targets.update(scoped)
    pages = len(sent)
    total, scoped_total = sum(sent), sum(in_scope)
    # every in-scope link goes through the master's seen test (the disallowed ones too:
    # robots.txt is applied when a URL is dispatched); the first sight of a URL is new
    new = len(targets - set(site.seeds))
    return {
        "pages": pages, "bytes_median": statistics.median(sizes),
        "links_sent_mean": round(total / pages, 1), "links_sent_median": statistics.median(sent),
        "links_sent_p10_p90": [round(q) for q in statistics.quantiles(sent, n=10)[::8]],
        "in_scope_mean": round(scoped_total / pages, 1),
        "disallowed_mean": round(sum(barred) / pages, 2),
        "out_of_scope_share": round(1 - scoped_total / total, 3),
        "distinct_in_scope_targets": len(targets),
        "known_share_of_in_scope": round(1 - new / scoped_total, 3),
        "known_share_of_all_sent": round(1 - new / total, 3),
        "extract_and_scope_cpu_us_per_page": round(1e6 * cpu / pages),
    }


def stage_costs(site, site_dir, host=0):
    """The worker's extract and scoper work on every page of one host, step by step,
    in this process (one thread, no crawl around it): CPU microseconds per page for
    decoding, flattening, parsing, selecting, resolving, the scoper stages and the
    body's SHA-1 -- and, to price a cut, parsing the page as it is, unflattened.
    Uses the extractor's own functions (``htmllinkextractor``); Spyder is not changed."""
    import hashlib

    from selectolax.lexbor import LexborHTMLParser

    from spyder.core.crawluri import CrawlUri
    from spyder.core.settings import Settings
    from spyder.import_util import import_class
    from spyder.processor import htmllinkextractor as hle
    from spyder.processor.encoding import decode_body, get_content_type_encoding
    from spyder.processor.links import LinkResolver, add_links

    settings = Settings()
    extractor = hle.DefaultHtmlLinkExtractor(settings)
    scopers = [import_class(name)(settings) for name in settings.SPYDER_SCOPER_PIPELINE]
    clock = time.thread_time_ns
    steps = collections.Counter()
    flattened = pages = 0
    top = os.path.join(site_dir, "h%d" % host)
    for path in ["/%s/%s" % (version, path) for version in site.versions for path in site.html]:
        with open(os.path.join(top, path.lstrip("/")), "rb") as f:
            body = f.read()
        url = site.url(host, path)
        curi = CrawlUri(url=url, effective_url=url, status_code=200,
                        rep_header={"Content-Type": "text/html; charset=utf-8"},
                        content_body=body)
        t0 = clock()
        _, charset = get_content_type_encoding(curi)
        text, codec = decode_body(body, charset)
        t1 = clock()
        whole = text
        if len(text) > hle.FLATTEN_MIN_SIZE:
            flattened += 1
            text = hle.flatten(text)
            cut = hle._cut_after_links(text, extractor._max_links)
            if cut is not None:
                text = text[:cut]
        t2 = clock()
        tree = LexborHTMLParser(text)
        t3 = clock()
        base, values = extractor._links(tree, url, codec, curi.optional_vars)
        t4 = clock()
        add_links(curi, LinkResolver(base, codec).links(values))
        t5 = clock()
        for stage in scopers:
            stage(curi)
        t6 = clock()
        hashlib.sha1(body).hexdigest()
        t7 = clock()
        tree = LexborHTMLParser(whole)
        t8 = clock()
        extractor._links(tree, url, codec, {})
        t9 = clock()
        pages += 1
        for name, ns in (("decode", t1 - t0), ("flatten + cut", t2 - t1),
                         ("parse (flattened)", t3 - t2), ("select + attributes", t4 - t3),
                         ("resolve + add links", t5 - t4), ("scoper stages", t6 - t5),
                         ("SHA-1 of the body", t7 - t6), ("parse unflattened", t8 - t7),
                         ("select unflattened", t9 - t8)):
            steps[name] += ns
    micros = {name: round(ns / 1000.0 / pages, 1) for name, ns in steps.items()}
    micros["extract + scope as crawled"] = round(sum(
        micros[k] for k in ("decode", "flatten + cut", "parse (flattened)",
                            "select + attributes", "resolve + add links", "scoper stages")), 1)
    micros["the same without flattening"] = round(
        micros["extract + scope as crawled"] - micros["flatten + cut"]
        - micros["parse (flattened)"] - micros["select + attributes"]
        + micros["parse unflattened"] + micros["select unflattened"], 1)
    return {"pages": pages, "flattened": flattened, "us_per_page": micros}


def _print_stage_costs(costs):
    print("worker stages step by step, one host's %d pages in this process (%d flattened, "
          "above %d characters), CPU us per page: %s" % (
              costs["pages"], costs["flattened"], _flatten_min(),
              ", ".join("%s %.0f" % kv for kv in costs["us_per_page"].items())), flush=True)


def _flatten_min():
    from spyder.processor.htmllinkextractor import FLATTEN_MIN_SIZE
    return FLATTEN_MIN_SIZE


def _print_link_stats(stats):
    print("link stats (worker's extract + scoper stages over every page, in this process): "
          "%(pages)d pages, median %(bytes_median).0f bytes; links sent per page: mean "
          "%(links_sent_mean)s, median %(links_sent_median)s, 10th/90th percentile "
          "%(links_sent_p10_p90)s; to the seeds' hosts: %(in_scope_mean)s per page "
          "(%(disallowed_mean)s of them disallowed by robots.txt; %(out_of_scope_share)s of "
          "all links go to other sites), "
          "%(distinct_in_scope_targets)d distinct targets: %(known_share_of_in_scope)s of "
          "the in-scope links (%(known_share_of_all_sent)s of all sent) name a URL the "
          "master already knows; extract + scoper %(extract_and_scope_cpu_us_per_page)d "
          "CPU us per page" % stats, flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--versions", type=int, default=2,
                        help="copies of the documentation per host (default 2)")
    parser.add_argument("--reference", choices=("none", "wget2"), default="wget2",
                        help="none: Spyder's crawls only (default wget2)")
    parser.add_argument("--link-stats", action="store_true",
                        help="first measure the links per page with the worker's stages")
    bench_nginx.add_arguments(parser)
    args = parser.parse_args(argv)
    if args.runs < 0 or (args.runs == 0 and not (args.profile or args.link_stats)):
        parser.error("nothing to do: --runs 0 needs --profile or --link-stats")
    root = docsite.ensure_installed()
    nginx_binary = bench_nginx._nginx_binary()
    if args.profile:
        profiles.find_py_spy()
    if args.reference == "wget2":
        wget2ref.find_wget2()
    work = tempfile.mkdtemp(prefix="bench-realistic-")
    try:
        os.chmod(work, 0o755)  # nginx's workers run as nobody when we are root
        site = docsite.DocSite(args.hosts, args.versions, nginxsite.free_ports(args.hosts),
                               root)
        site_dir = os.path.join(work, "site")
        started = time.monotonic()
        size = site.write(site_dir)
        print("python %s, %d CPUs, %s%s; site: %s (%s), %d HTML pages (%d per copy) on %d "
              "hosts x %d versions, %.0f MB of HTML, written in %.1f s" % (
                  sys.version.split()[0], os.cpu_count() or 1,
                  subprocess.run([nginx_binary, "-v"], capture_output=True,
                                 text=True).stderr.strip(),
                  ", " + wget2ref.version(wget2ref.find_wget2())
                  if args.reference == "wget2" else "", docsite.PACKAGE, root, site.pages,
                  len(site.html), args.hosts, args.versions, size / 1e6,
                  time.monotonic() - started), flush=True)
        report = {"config": {k: v for k, v in vars(args).items() if k != "json"},
                  "source": "%s (%s; PSF License)" % (docsite.PACKAGE, root),
                  "html_pages": site.pages, "site_bytes": size}
        if args.link_stats:
            report["stage_costs"] = stage_costs(site, site_dir)
            _print_stage_costs(report["stage_costs"])
            report["link_stats"] = link_stats(site, site_dir)
            _print_link_stats(report["link_stats"])
        return bench_nginx.benchmark(args, site, docsite_check(site), site_dir, work,
                                     nginx_binary, report)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
