"""parse_sitemap's URL limit: a file of exactly the limit is whole, one more is cut."""
from spyder.core.settings import Settings
from spyder.processor.sitemaps import parse_sitemap

_XML = ('<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        '%s</urlset>')


def _xml(n):
    return (_XML % "".join("<url><loc>http://a.test/%d</loc></url>" % i
                           for i in range(n))).encode()


def _text(n):
    return "".join("http://a.test/%d\n" % i for i in range(n)).encode()


def test_a_sitemap_of_exactly_the_limit_is_read_whole():
    for body in (_xml(3), _text(3)):
        sitemap = parse_sitemap(body, 1 << 20, 3)
        assert sitemap.urls == ["http://a.test/%d" % i for i in range(3)]
        assert not sitemap.cut


def test_a_sitemap_over_the_limit_is_cut_at_it():
    for body in (_xml(4), _text(4)):
        sitemap = parse_sitemap(body, 1 << 20, 3)
        assert sitemap.urls == ["http://a.test/%d" % i for i in range(3)]
        assert sitemap.cut


# ------------------------------------------------- issue 18 item 6: sitemap decoding budgets
import gzip  # noqa: E402
import tracemalloc  # noqa: E402



def _peak(parse):
    """``(result, peak bytes allocated)`` of ``parse()`` (tracemalloc)."""
    tracemalloc.start()
    try:
        result = parse()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_elements_nested_in_one_url_cost_no_memory():
    """A million ``<a/>`` inside one ``<url>`` (a 2 KB gzip inflating to 4 MB): the
    element tree kept every one of them (322 MiB for 4 million)."""
    body = gzip.compress(b"<urlset><url><loc>http://a.test/1</loc>" + b"<a/>" * 1_000_000
                         + b"</url><url><loc>http://a.test/2</loc></url></urlset>", 9)
    sitemap, peak = _peak(lambda: parse_sitemap(body, 50 << 20, 50000))
    assert sitemap.urls == ["http://a.test/1", "http://a.test/2"] and not sitemap.cut
    assert peak < 2 << 20, peak


def test_whitespace_in_an_xml_sitemap_is_not_kept():
    body = gzip.compress(b"<urlset><url><loc>http://a.test/1</loc></url>" + b" " * (16 << 20)
                         + b"</urlset>", 9)
    sitemap, peak = _peak(lambda: parse_sitemap(body, 50 << 20, 50000))
    assert sitemap.urls == ["http://a.test/1"] and not sitemap.cut
    assert peak < 2 << 20, peak


def test_a_text_sitemap_of_one_long_line_is_read_in_linear_time_and_flat_memory():
    """16 MiB without a line break: the line was joined with each new step again
    (quadratic, 2.3 s) and kept whole."""
    body = b"http://a.test/" + b"x" * (16 << 20) + b"\nhttp://a.test/short\n"
    sitemap, peak = _peak(lambda: parse_sitemap(body, 50 << 20, 50000))
    assert sitemap.urls == ["http://a.test/short"]  # the overlong line is skipped
    assert peak < 2 << 20, peak


def test_every_member_of_a_multi_member_gzip_is_read():
    body = b"".join(gzip.compress(b"http://a.test/%d\n" % i) for i in range(3))
    sitemap = parse_sitemap(body, 1 << 20, 100)
    assert sitemap.urls == ["http://a.test/%d" % i for i in range(3)] and not sitemap.cut
    xml = gzip.compress(b"<urlset><url><loc>http://a.test/0</loc></url>") + \
        gzip.compress(b"<url><loc>http://a.test/1</loc></url></urlset>")
    assert parse_sitemap(xml, 1 << 20, 100).urls == ["http://a.test/0", "http://a.test/1"]


def test_many_tiny_gzip_members_cost_linear_memory():
    body = b"".join(gzip.compress(b"http://a.test/%d\n" % i) for i in range(20000))
    sitemap, peak = _peak(lambda: parse_sitemap(body, 50 << 20, 50000))
    assert len(sitemap.urls) == 20000 and not sitemap.cut
    assert peak < 4 << 20, peak


def test_garbage_after_the_last_gzip_member_cuts_the_file():
    body = gzip.compress(b"http://a.test/0\n") + b"not gzip"
    sitemap = parse_sitemap(body, 1 << 20, 100)
    assert sitemap.urls == ["http://a.test/0"] and sitemap.cut


def test_the_worker_wide_budget_caps_all_decodes_together():
    """The 50 MiB cap was per file; the budget holds for all decodes in progress in
    one worker: while one holds most of it, another is cut at what is left."""
    from spyder.processor.sitemaps import DecodeBudget
    budget = DecodeBudget(8 << 20)
    assert budget.reserve(7 << 20)  # another decode in progress holds 7 MiB
    sitemap = parse_sitemap(_xml(50000), 50 << 20, 50000, budget)
    assert sitemap.cut and sitemap.reason == "WORKER_DECODE_MEMORY_MAX"
    assert 0 < len(sitemap.urls) < 50000
    assert budget.used == 7 << 20  # the parse gave back what it took
    budget.release(7 << 20)
    whole = parse_sitemap(_xml(50000), 50 << 20, 50000, budget)
    assert len(whole.urls) == 50000 and not whole.cut and budget.used == 0
    assert budget.peak <= budget.limit


def test_every_sitemap_extractor_of_a_worker_shares_one_budget():
    from spyder.processor.sitemaps import SitemapExtractor, worker_budget
    settings = Settings(overrides={"WORKER_DECODE_MEMORY_MAX": 8 << 20})
    first, second = SitemapExtractor(settings), SitemapExtractor(settings)
    assert first._budget is second._budget is worker_budget(0)


def test_dtds_are_refused():
    body = (b'<?xml version="1.0"?><!DOCTYPE u [<!ENTITY a "http://a.test/x">]>'
            b'<urlset><url><loc>&a;</loc></url></urlset>')
    sitemap = parse_sitemap(body, 1 << 20, 100)
    assert sitemap.urls == [] and sitemap.cut and "DTD" in sitemap.reason
