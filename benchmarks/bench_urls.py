"""URL micro-benchmarks: link resolution in the worker, canonicalisation in the master.

    python benchmarks/bench_urls.py [--rounds N]

1. **resolve**: ``LinkResolver`` over the 30 hrefs of the pages ``bench_worker.py``
   extracts (root-relative, relative with a query, absolute with a fragment, ``../``,
   an IRI, percent-encoded), per link.
2. **canonicalize, fast path**: links that are canonical already (most links the
   frontier adds: what the worker sends, fragments and session ids stripped).
3. **canonicalize, slow path**: links that need work (upper-case host, default port,
   escapes of unreserved characters, a fragment, an IRI, dot segments).
4. **canonicalize, frontier mix**: the links of (1) after the worker's pipeline,
   as the frontier canonicalises them for its URL-seen test.

Each figure is the best of ``--rounds`` runs, in microseconds per URL, on one core.
No network is used.
"""
import argparse
import random
import timeit

from bench_worker import make_page

from spyder.core.crawluri import CrawlUri
from spyder.core.settings import Settings
from spyder.core.urls import canonicalize
from spyder.processor.links import LinkResolver
from spyder.workerprocess import create_processing_function

PAGE_URL = "http://www.example.com/sailing/clubs/index.html"

CANONICAL = [
    "http://www.example.com/section/12/page-4711.html",
    "https://cdn.example.net/m%C3%BCnchen/4711/",
    "http://www.example.org/articles/4711",
    "http://www.example.com/archive/3/index.html?utm_source=feed&p=4711",
    "http://127.0.0.1:8080/tags/regatta-4711",
]
NOT_CANONICAL = [
    "HTTP://WWW.Example.COM:80/section/12/page-4711.html",
    "http://www.example.com/%7Euser/a%2fb/%c3%a9",
    "http://www.example.org/articles/4711#comments",
    "https://cdn.example.net/m\u00fcnchen/4711/",
    "http://www.example.com/a/./b/../archive/index.html?q=1",
]


def _hrefs():
    """The 30 raw hrefs of one benchmark page (entities decoded as the parser does)."""
    from selectolax.lexbor import LexborHTMLParser
    tree = LexborHTMLParser(make_page(1, random.Random(1)).decode("utf-8"))
    return [node.attributes["href"] for node in tree.css("a[href]")]


def _frontier_links():
    """What the worker sends the frontier for one benchmark page."""
    process = create_processing_function(Settings())
    curi = CrawlUri(url=PAGE_URL, effective_url=PAGE_URL, status_code=200,
                    rep_header={"Content-Type": "text/html; charset=utf-8"},
                    content_body=make_page(1, random.Random(1)))
    return process(curi).extracted_urls


def _per_url(func, urls, rounds):
    number = max(1, 20000 // len(urls))
    best = min(timeit.repeat(lambda: [func(url) for url in urls], number=number,
                             repeat=rounds))
    return best / number / len(urls) * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    hrefs = _hrefs()
    links = _frontier_links()
    results = [
        ("resolve (LinkResolver, 30 hrefs of a page)",
         _per_url(LinkResolver(PAGE_URL), hrefs, args.rounds)),
        ("canonicalize, canonical already", _per_url(canonicalize, CANONICAL, args.rounds)),
        ("canonicalize, needs work", _per_url(canonicalize, NOT_CANONICAL, args.rounds)),
        ("canonicalize, frontier mix (%d links)" % len(links),
         _per_url(canonicalize, links, args.rounds)),
    ]
    for name, micros in results:
        print("%-48s %7.2f us per URL" % (name, micros))


if __name__ == "__main__":
    main()
