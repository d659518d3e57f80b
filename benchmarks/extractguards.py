"""The link extractor's guards against the extractor without them, on real HTML files.

``htmllinkextractor`` defuses pages of more than ``DEFUSE_MIN_TAGS`` tags, flattens
pages of more than ``FLATTEN_MIN_TAGS`` and cuts a flattened page after the tag that
could carry the link past ``LINKS_MAX_PER_PAGE``: guards against hostile markup, which
must change nothing on real pages but what the module documents.  This runs the worker's
extractor (default settings) over every page twice -- with the guards as they are
(or, with ``--force``, one of them applied to every page whatever its size) and with
none (every page parsed as it is) -- and reports the pages whose links differ and the
pages on which either raised.  Nothing is served or crawled; timing is not measured.

    python benchmarks/extractguards.py /usr/share/doc --sample 5000
    python benchmarks/extractguards.py DIR FILE.html --force flatten
"""
import argparse
import collections
import os
import random
import sys

from spyder.core.crawluri import CrawlUri
from spyder.core.settings import Settings
from spyder.processor import htmllinkextractor

#: ``(DEFUSE_MIN_TAGS, FLATTEN_MIN_TAGS)`` for each way of running the extractor.
THRESHOLDS = {"none": (10 ** 9, 10 ** 9), "defuse": (-1, 10 ** 9), "flatten": (-1, -1)}
_DONE = {"defuse": "defused", "flatten": "flattened"}


def html_files(paths):
    """The ``.html`` / ``.htm`` files of ``paths`` (files, or directories walked)."""
    found = []
    for path in paths:
        if os.path.isfile(path):
            found.append(path)
            continue
        for directory, _, names in os.walk(path):
            found.extend(os.path.join(directory, name) for name in names
                         if name.lower().endswith((".html", ".htm")))
    return sorted(found)


def extract(extractor, body, thresholds=None):
    """``(links, truncated)`` of ``body`` as a text/html page, the module's thresholds set
    to ``thresholds`` meanwhile (``None``: as they are); the exception it raised instead."""
    saved = htmllinkextractor.DEFUSE_MIN_TAGS, htmllinkextractor.FLATTEN_MIN_TAGS
    if thresholds is not None:
        htmllinkextractor.DEFUSE_MIN_TAGS, htmllinkextractor.FLATTEN_MIN_TAGS = thresholds
    try:
        curi = CrawlUri(url="http://guards.test/dir/page.html", status_code=200,
                        content_body=body, rep_header={"Content-Type": "text/html"})
        extractor(curi)
        return curi.extracted_urls, curi.optional_vars.get("links_truncated") == "1"
    except Exception as exc:  # reported, page by page
        return exc
    finally:
        htmllinkextractor.DEFUSE_MIN_TAGS, htmllinkextractor.FLATTEN_MIN_TAGS = saved


def tier(body):
    """What the guards do with ``body`` as they are."""
    tags = body.count(b"<")
    if tags <= htmllinkextractor.DEFUSE_MIN_TAGS:
        return "as is"
    return "defused" if tags <= htmllinkextractor.FLATTEN_MIN_TAGS else "flattened"


def compare(files, force=None):
    """``(tiers, raised, differ)``: pages per tier, ``[(file, which, exception)]`` and
    ``[(file, links unguarded, links guarded, missing, extra, cut)]``."""
    extractor = htmllinkextractor.DefaultHtmlLinkExtractor(Settings())
    guarded_thresholds = THRESHOLDS[force] if force else None
    tiers, raised, differ = collections.Counter(), [], []
    for path in files:
        with open(path, "rb") as f:
            body = f.read()
        tiers[tier(body)] += 1
        plain = extract(extractor, body, THRESHOLDS["none"])
        guarded = extract(extractor, body, guarded_thresholds)
        failed = False
        for which, outcome in (("unguarded", plain), ("guarded", guarded)):
            if isinstance(outcome, Exception):
                raised.append((path, which, outcome))
                failed = True
        if failed or plain == guarded:
            continue
        (plain_links, plain_cut), (guarded_links, guarded_cut) = plain, guarded
        if plain_links == guarded_links and guarded_cut:
            continue  # (the same links; only the guarded one says it was cut)
        plain_set, guarded_set = set(plain_links), set(guarded_links)
        differ.append((path, len(plain_links), len(guarded_links),
                       [url for url in plain_links if url not in guarded_set][:3],
                       [url for url in guarded_links if url not in plain_set][:3],
                       guarded_cut))
    return tiers, raised, differ


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", help="HTML files or directories")
    parser.add_argument("--sample", type=int, help="this many files at random (seed 7)")
    parser.add_argument("--force", choices=["defuse", "flatten"],
                        help="apply this guard to every page, whatever its size")
    args = parser.parse_args(argv)
    files = html_files(args.paths)
    if args.sample and args.sample < len(files):
        files = sorted(random.Random(7).sample(files, args.sample))
    if not files:
        parser.error("no .html or .htm file under %s" % " ".join(args.paths))
    tiers, raised, differ = compare(files, args.force)
    print("%d pages (%s)%s: %d raised, %d give other links" % (
        len(files), ", ".join("%s %d" % item for item in sorted(tiers.items())),
        ", every one %s" % _DONE[args.force] if args.force else "", len(raised),
        len(differ)))
    for path, which, exc in raised:
        print("  raised (%s): %s: %r" % (which, path, exc))
    for path, plain, guarded, missing, extra, cut in differ:
        print("  %s: %d links unguarded, %d guarded%s; missing %s, extra %s" % (
            path, plain, guarded, " (cut, marked truncated)" if cut else "", missing, extra))
    return 1 if raised else 0


if __name__ == "__main__":
    sys.exit(main())
