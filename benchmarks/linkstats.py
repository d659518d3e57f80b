"""The links a worker sends per page, and its extract work step by step, measured in
the benchmark's own process on a site's pages (``--link-stats`` of ``bench_nginx.py``
and ``bench_realistic.py``).

Both take the pages as ``(url, body)`` pairs of HTML and run Spyder's own code at its
default settings; Spyder is not changed and nothing is crawled.

``link_stats(site, pages, disallowed)`` runs the worker's extract and scoper stages
(``create_processing_function``) on every page and counts what the master would be
sent: links per page (mean, median, 10th and 90th percentile), those to the seeds'
hosts (``site.netloc``) and among them those robots.txt disallows (path prefixes
``disallowed``; the master admits them and drops them at dispatch), the distinct
targets, and so the share of the links that name a URL the master already knows when
they arrive (every link after the first to a URL; the seeds are known from the start).

``stage_costs(pages)`` times each step of the extract stage separately
(``time.thread_time_ns``; one thread, nothing else running in the process): decoding
(and choosing the parser's input: a UTF-8 body goes as bytes, ``parser_input``),
defusing or flattening (``parser_markup``: pages of more than ``DEFUSE_MIN_TAGS`` and
``FLATTEN_MIN_TAGS`` ``<``; the step called "flatten + cut"), parsing, selecting the link elements,
resolving the values, the scoper stages, the body's SHA-1 -- and parsing and
selecting the page as it is, unflattened, which prices a cut of the flattening, and
counting the page's ``<`` (the extractor's guard: it decides by content, not size).
"""
import collections
import hashlib
import statistics
import time

def page_curi(url, body, content_type="text/html; charset=utf-8"):
    """A page as the fetch stage hands it to the extract stage."""
    from spyder.core.crawluri import CrawlUri
    return CrawlUri(url=url, effective_url=url, status_code=200,
                    rep_header={"Content-Type": content_type}, content_body=body)


def link_stats(site, pages, disallowed=()):
    """What the workers send per page; see the module docstring."""
    from spyder.core.settings import Settings
    from spyder.workerprocess import create_processing_function

    process = create_processing_function(Settings())
    seed_netlocs = {site.netloc(h) for h in range(site.hosts)}
    sent, in_scope, barred, targets, sizes = [], [], [], set(), []
    cpu = 0.0
    for url, body in pages:
        curi = page_curi(url, body)
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
    count = len(sent)
    total, scoped_total = sum(sent), sum(in_scope)
    new = len(targets - set(site.seeds))
    return {
        "pages": count, "bytes_median": statistics.median(sizes),
        "links_sent_mean": round(total / count, 1), "links_sent_median": statistics.median(sent),
        "links_sent_p10_p90": [round(q) for q in statistics.quantiles(sent, n=10)[::8]],
        "in_scope_mean": round(scoped_total / count, 1),
        "disallowed_mean": round(sum(barred) / count, 2),
        "out_of_scope_share": round(1 - scoped_total / total, 3),
        "distinct_in_scope_targets": len(targets),
        "known_share_of_in_scope": round(1 - new / scoped_total, 3),
        "known_share_of_all_sent": round(1 - new / total, 3),
        "extract_and_scope_cpu_us_per_page": round(1e6 * cpu / count),
    }


def print_link_stats(stats):
    print("link stats (worker's extract + scoper stages over every page, in this process): "
          "%(pages)d pages, median %(bytes_median).0f bytes; links sent per page: mean "
          "%(links_sent_mean)s, median %(links_sent_median)s, 10th/90th percentile "
          "%(links_sent_p10_p90)s; to the seeds' hosts: %(in_scope_mean)s per page "
          "(%(disallowed_mean)s of them disallowed by robots.txt; %(out_of_scope_share)s of "
          "all links go to other sites), %(distinct_in_scope_targets)d distinct targets: "
          "%(known_share_of_in_scope)s of the in-scope links (%(known_share_of_all_sent)s of "
          "all sent) name a URL the master already knows; extract + scoper "
          "%(extract_and_scope_cpu_us_per_page)d CPU us per page" % stats, flush=True)


def stage_costs(pages):
    """The extract stage's steps, CPU microseconds per page; see the module docstring."""
    from selectolax.lexbor import LexborHTMLParser

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
    flattened = count = 0
    for url, body in pages:
        curi = page_curi(url, body)
        t0 = clock()
        _, charset = get_content_type_encoding(curi)
        text, codec = decode_body(body, charset)
        text = hle.parser_input(body, text, codec)  # (the body itself if it is UTF-8)
        t1 = clock()
        whole = text
        text, _ = hle.parser_markup(whole, extractor._max_links)
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
        if whole.count(hle._LT[type(whole)]) > hle.FLATTEN_MIN_TAGS:
            flattened += 1
        t10 = clock()
        count += 1
        for name, ns in (("decode", t1 - t0), ("flatten + cut", t2 - t1),
                         ("parse (flattened)", t3 - t2), ("select + attributes", t4 - t3),
                         ("resolve + add links", t5 - t4), ("scoper stages", t6 - t5),
                         ("SHA-1 of the body", t7 - t6), ("parse unflattened", t8 - t7),
                         ("select unflattened", t9 - t8), ("count <", t10 - t9)):
            steps[name] += ns
    micros = {name: round(ns / 1000.0 / count, 1) for name, ns in steps.items()}
    micros["extract + scope as crawled"] = round(sum(
        micros[k] for k in ("decode", "flatten + cut", "parse (flattened)",
                            "select + attributes", "resolve + add links", "scoper stages")), 1)
    micros["the same without flattening"] = round(
        micros["extract + scope as crawled"] - micros["flatten + cut"]
        - micros["parse (flattened)"] - micros["select + attributes"]
        + micros["parse unflattened"] + micros["select unflattened"], 1)
    return {"pages": count, "flattened": flattened, "flatten_min_tags": hle.FLATTEN_MIN_TAGS,
            "us_per_page": micros}


def print_stage_costs(costs):
    print("worker's extract steps one by one, %d pages in this process (%d flattened: more "
          "than %d '<'), CPU us per page: %s" % (
              costs["pages"], costs["flattened"], costs["flatten_min_tags"],
              ", ".join("%s %.0f" % kv for kv in costs["us_per_page"].items())), flush=True)
