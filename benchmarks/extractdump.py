"""The worker's extract + scoper stages on every page of the realistic site, written out
so that two trees can be compared page by page (and timed alike).

A change to the extract stage must not change what a worker sends: run this once with
the tree before (``PYTHONPATH=<before>``) and once with the tree after, then
``--compare`` the two files.  The pages are those ``bench_realistic.py`` serves for one
host and one version (``docsite.DocSite``: the Python documentation's HTML with its
version switcher, plus the host's root page); each goes through the processing function
the worker builds (``create_processing_function``, default settings) as a 200 answer
whose Content-Type is ``--content-type``, and its ``optional_vars`` (the links sent,
``links_dropped``, ``nofollow`` ...) are kept.  It prints the stages' CPU per page, the
best of ``--rounds`` rounds (``time.thread_time``; one thread), overall and for the
pages up to ``EXTRACT_INLINE_MAX_SIZE`` (the worker's loop) and above (its extract
thread).  Nothing is served or crawled.

    PYTHONPATH=../before python benchmarks/extractdump.py --out before.json
    PYTHONPATH=. python benchmarks/extractdump.py --out after.json
    python benchmarks/extractdump.py --compare before.json after.json
"""
import argparse
import json
import os
import sys
import time

import docsite
import linkstats


def site_pages(root=docsite.ROOT):
    """``(url, body)`` of every HTML page of host 0 (of 10, on made-up ports), version 1,
    and the host's root."""
    site = docsite.DocSite(10, 2, list(range(8000, 8010)), root)
    pages = []
    for path in site.html:
        with open(os.path.join(site.root, path), "rb") as f:
            body = f.read()
        pages.append((site.url(0, "/v1/" + path), site.page(0, "v1", path, body)))
    pages.append((site.url(0, "/"), site.root_page(0)))
    return pages


def run(pages, content_type, rounds):
    """``({url: optional_vars}, {group: best CPU µs per page})``."""
    from spyder.core.settings import Settings
    from spyder.workerprocess import create_processing_function

    settings = Settings()
    inline_max = settings.EXTRACT_INLINE_MAX_SIZE
    process = create_processing_function(settings)
    groups = ["inline" if len(body) <= inline_max else "off loop" for _, body in pages]
    counts = {"all": len(pages), "inline": groups.count("inline")}
    counts["off loop"] = counts["all"] - counts["inline"]
    results, best = {}, {}
    for round_ in range(rounds):
        spent = {"all": 0.0, "inline": 0.0, "off loop": 0.0}
        for (url, body), group in zip(pages, groups):
            curi = linkstats.page_curi(url, body, content_type)
            started = time.thread_time()
            curi = process(curi)
            cpu = time.thread_time() - started
            spent["all"] += cpu
            spent[group] += cpu
            if round_ == 0:
                results[url] = dict(curi.optional_vars)
        for group, seconds in spent.items():
            micros = 1e6 * seconds / max(counts[group], 1)
            best[group] = min(best.get(group, micros), micros)
    return results, {group: round(micros) for group, micros in best.items()}


def compare(before, after):
    """The URLs whose results differ (or exist on one side only)."""
    return sorted(url for url in set(before) | set(after) if before.get(url) != after.get(url))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", metavar="PATH", help="write {url: optional_vars} as JSON")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--content-type", default="text/html",
                        help="the pages' Content-Type header (nginx sends no charset)")
    parser.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"),
                        help="compare two --out files instead")
    args = parser.parse_args(argv)
    if args.compare:
        with open(args.compare[0]) as f:
            before = json.load(f)
        with open(args.compare[1]) as f:
            after = json.load(f)
        differ = compare(before, after)
        print("%d pages, %d differ%s" % (len(before), len(differ),
                                         "".join("\n  " + url for url in differ[:20])))
        return 1 if differ else 0
    pages = site_pages(docsite.ensure_installed())
    results, micros = run(pages, args.content_type, args.rounds)
    print("%d pages; extract + scoper stages, CPU us per page (best of %d rounds): %s" % (
        len(pages), args.rounds, ", ".join("%s %d" % kv for kv in micros.items())))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
