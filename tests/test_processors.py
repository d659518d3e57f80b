"""The extract-stage processors: limiter, HTML and HTTP extractors, scoper, session-id
stripper, query clean-up, charset handling, and the whole default pipeline."""
import random

import pytest
from htmltree import tree_depth, tree_size

from spyder.core.crawluri import CrawlUri
from spyder.core.settings import Settings, SettingsError
from spyder.processor.cleanupquery import CleanupQueryString
from spyder.processor.encoding import decode_body, get_content_type_encoding, sniff_charset
from spyder.processor.htmllinkextractor import DefaultHtmlLinkExtractor, meta_refresh_url
from spyder.processor.httpextractor import HttpExtractor
from spyder.processor.limiter import DefaultLimiter
from spyder.processor.scoper import RegexScoper
from spyder.processor.stripsessions import StripSessionIds
from spyder.workerprocess import create_processing_function

pytestmark = pytest.mark.timeout(30)

PAGE_URL = "http://www.bmg.bund.de/test/"


def settings(**overrides):
    return Settings(overrides=overrides)


def html_curi(body, content_type="text/html; charset=utf-8", url=PAGE_URL, **kwargs):
    if isinstance(body, str):
        body = body.encode("utf-8")
    headers = {"Content-Type": content_type} if content_type else {}
    return CrawlUri(url=url, effective_url=url, status_code=200, rep_header=headers,
                    content_body=body, **kwargs)


def extract(body, content_type="text/html; charset=utf-8", url=PAGE_URL, **overrides):
    curi = html_curi(body, content_type, url)
    return DefaultHtmlLinkExtractor(settings(**overrides))(curi)


# ----------------------------------------------------------------------------- limiter
def test_do_not_process_robots_works():
    limiter = DefaultLimiter(settings())
    curi = CrawlUri(url="http://127.0.0.1/robots.txt", effective_url="http://127.0.0.1/robots.txt")
    limiter(curi)
    assert curi.optional_vars["extraction_finished"] == "1"
    limiter(curi)
    assert curi.optional_vars["extraction_finished"] == "1"
    other = limiter(CrawlUri(url="http://127.0.0.1/robots.txt.html"))
    assert "extraction_finished" not in other.optional_vars
    flagged = limiter(CrawlUri(url="http://127.0.0.1/x", optional_vars={"robots_fetch": "1"}))
    assert flagged.optional_vars["extraction_finished"] == "1"


def test_robots_bodies_yield_no_links():
    curi = html_curi("<a href='/private/'>x</a>", url="http://a.com/robots.txt")
    DefaultLimiter(settings())(curi)
    DefaultHtmlLinkExtractor(settings())(curi)
    assert curi.extracted_urls == []


# -------------------------------------------------------------- HTML link extractor
ORIGINAL_PAGE = """<html><head><title>Title</title></head><body>
<div>
<a href="http://www.google.de" title="ups"> viel text</a>
<a title="ups i did it again" href ="/relative.html">und mehr text</a>
<a href='evenmorerelative.html'>und noch mehr text</a>
<a href="&#109;&#97;&#105;&#108;&#116;&#111;&#58;&#109;&#117;&#115;&#116;&#101;&#114;&#64;&#98;&#111;&#101;&#115;&#101;&#119;&#105;&#99;&#104;&#116;&#46;&#100;&#101;">mail</a>
</div></body></html>"""


def test_that_content_type_restriction_works():
    assert extract(ORIGINAL_PAGE, "text/html").extracted_urls
    assert extract(ORIGINAL_PAGE, "application/xhtml+xml").extracted_urls
    assert extract(ORIGINAL_PAGE, "pille/palle").extracted_urls == []
    assert extract(ORIGINAL_PAGE, "image/png").extracted_urls == []


def test_link_extraction_works():
    assert extract(ORIGINAL_PAGE).extracted_urls == [
        "http://www.google.de/",
        "http://www.bmg.bund.de/relative.html",
        "http://www.bmg.bund.de/test/evenmorerelative.html",
    ]


def test_link_extraction_with_base_works():
    page = ORIGINAL_PAGE.replace("<title>Title</title>",
                                 "<title>Title</title><base href='http://www.bing.com' />")
    assert extract(page).extracted_urls == [
        "http://www.google.de/",
        "http://www.bing.com/relative.html",
        "http://www.bing.com/evenmorerelative.html",
    ]


def test_missing_encoding_works():
    assert extract(ORIGINAL_PAGE, "text/html").extracted_urls == \
        extract(ORIGINAL_PAGE).extracted_urls


def test_all_link_sources_in_document_order():
    page = """<html><head>
    <meta http-equiv="Refresh" content="5; URL='/refreshed'">
    <link rel="stylesheet" href="/style.css"><link rel="Next" href="/page2">
    <link rel="alternate" type="application/rss+xml" href="/feed">
    </head><body>
    <iframe src="/frame.html"></iframe>
    <map><area href="/area" shape="rect"></map>
    <a href=unquoted.html>u</a>
    <img src="/img.png"><script src="/app.js"></script>
    </body></html>"""
    assert extract(page).extracted_urls == [
        "http://www.bmg.bund.de/refreshed",
        "http://www.bmg.bund.de/page2",
        "http://www.bmg.bund.de/feed",
        "http://www.bmg.bund.de/frame.html",
        "http://www.bmg.bund.de/area",
        "http://www.bmg.bund.de/test/unquoted.html",
    ]


def test_frames_in_a_frameset():
    page = "<html><frameset><frame src='left.html'><frame src='right.html'></frameset></html>"
    assert extract(page).extracted_urls == ["http://www.bmg.bund.de/test/left.html",
                                            "http://www.bmg.bund.de/test/right.html"]


def test_schemes_are_dropped_by_scheme_not_substring():
    page = """<a href="javascript:void(0)">1</a><a href=" JavaScript:alert(1)">2</a>
    <a href="mailto:a@b.c">3</a><a href="tel:+49301234">4</a><a href="data:text/html,hi">5</a>
    <a href="ftp://files.example.com/x">6</a>
    <a href="/docs/javascript:intro.html">7</a><a href="/mailto:me.html">8</a>"""
    assert extract(page).extracted_urls == [
        "http://www.bmg.bund.de/docs/javascript:intro.html",
        "http://www.bmg.bund.de/mailto:me.html",
    ]


def test_entities_are_decoded():
    page = "<a href='/search?a=1&amp;b=2&#38;c=3'>x</a><a href='/caf&eacute;'>y</a>"
    assert extract(page).extracted_urls == ["http://www.bmg.bund.de/search?a=1&b=2&c=3",
                                            "http://www.bmg.bund.de/caf%C3%A9"]


def test_iris_are_percent_encoded_not_replaced():
    page = "<a href='/straße/größe?q=grün'>x</a><a href='http://bücher.de/ü'>y</a>"
    assert extract(page).extracted_urls == [
        "http://www.bmg.bund.de/stra%C3%9Fe/gr%C3%B6%C3%9Fe?q=gr%C3%BCn",
        "http://xn--bcher-kva.de/%C3%BC",
    ]


def test_query_of_a_latin1_page_is_encoded_in_latin1():
    body = "<a href='/s?q=grün'>x</a><a href='/grün'>y</a>".encode("latin-1")
    assert extract(body, "text/html; charset=iso-8859-1").extracted_urls == [
        "http://www.bmg.bund.de/s?q=gr%FCn", "http://www.bmg.bund.de/gr%C3%BCn"]


def test_characters_outside_the_page_charset_become_character_references():
    # as browsers do: the query is encoded in the page's charset, "&#20013;" for a
    # character it lacks; the path is UTF-8 whatever the charset
    body = "<a href='/\u4e2d?q=&#x4e2d;\u00fc'>x</a>"
    assert extract(body.encode("cp1252", "xmlcharrefreplace"),
                   "text/html; charset=windows-1252").extracted_urls == \
        ["http://www.bmg.bund.de/%E4%B8%AD?q=%26%2320013%3B%FC"]


def test_utf16_pages_encode_queries_in_utf8():
    body = "<a href='/s?q=gr\u00fcn'>x</a>".encode("utf-16")
    assert extract(body, "text/html; charset=utf-16").extracted_urls == \
        ["http://www.bmg.bund.de/s?q=gr%C3%BCn"]


def test_rel_nofollow_is_respected():
    page = "<a href='/a' rel='nofollow'>a</a><a href='/b' rel='external NoFollow'>b</a>" \
           "<a href='/c'>c</a>"
    assert extract(page).extracted_urls == ["http://www.bmg.bund.de/c"]
    assert len(extract(page, OBEY_NOFOLLOW=False).extracted_urls) == 3


@pytest.mark.parametrize("content", ["nofollow", "NOINDEX, NOFOLLOW", "none"])
def test_meta_robots_nofollow(content):
    page = "<head><meta name='robots' content='%s'></head><a href='/a'>a</a>" % content
    curi = extract(page)
    assert curi.extracted_urls == []
    assert curi.optional_vars["nofollow"] == "1"
    relaxed = extract(page, OBEY_NOFOLLOW=False)
    assert relaxed.extracted_urls == ["http://www.bmg.bund.de/a"]
    assert "nofollow" not in relaxed.optional_vars


def test_meta_robots_index_follow_extracts():
    curi = extract("<meta name='robots' content='noindex'><a href='/a'>a</a>")
    assert curi.extracted_urls == ["http://www.bmg.bund.de/a"]
    assert "nofollow" not in curi.optional_vars


def test_duplicates_are_removed_in_document_order():
    page = "<a href='/b'>1</a><a href='/a'>2</a><a href='/b'>3</a><a href='../b'>4</a>"
    assert extract(page).extracted_urls == ["http://www.bmg.bund.de/b",
                                            "http://www.bmg.bund.de/a"]


def test_links_resolve_against_the_effective_url():
    curi = html_curi("<a href='next'>n</a>", url="http://a.com/old/")
    curi.effective_url = "http://a.com/new/"
    DefaultHtmlLinkExtractor(settings())(curi)
    assert curi.extracted_urls == ["http://a.com/new/next"]


def test_malformed_html_does_not_break_extraction():
    page = "<html><body><a href='/one'>one<div><a href=\"/two\" <b>x</a></p></td><a href=/three"
    urls = extract(page).extracted_urls
    assert "http://www.bmg.bund.de/one" in urls and "http://www.bmg.bund.de/two" in urls


def test_empty_and_binary_bodies():
    assert extract(b"").extracted_urls == []
    assert extract(bytes(range(256)) * 20).extracted_urls == []


def test_meta_refresh_parsing():
    assert meta_refresh_url("5; url=http://a.com/") == "http://a.com/"
    assert meta_refresh_url("0;URL='/x y'") == "/x y"
    assert meta_refresh_url('3, url="/z"') == "/z"
    assert meta_refresh_url("10") is None
    assert meta_refresh_url("") is None


# ------------------------------------------------------------------------- charsets
def test_charset_from_header_meta_and_bom():
    def detect(body, content_type=None):
        headers = {"Content-Type": content_type} if content_type else {}
        return get_content_type_encoding(CrawlUri(url="http://a/", rep_header=headers,
                                                  content_body=body))

    assert detect(b"x", "text/html; charset=ISO-8859-1") == ("text/html", "iso-8859-1")
    assert detect(b'<meta charset="windows-1251">', "text/html") == ("text/html", "windows-1251")
    assert detect(b'<meta http-equiv="Content-Type" content="text/html; charset=koi8-r">',
                  "text/html") == ("text/html", "koi8-r")
    assert detect(b"\xef\xbb\xbf<html>", "text/html; charset=latin-1") == ("text/html", "utf-8")
    assert detect(b"<!DOCTYPE html><html>")[0] == "text/html"
    assert detect(b"just text")[0] == "text/plain"
    assert sniff_charset(b"") == ""


def test_decode_body_never_raises():
    assert decode_body("grün".encode("cp1252"), "utf-8")[0].startswith("gr")
    assert decode_body("grün".encode("utf-8"), "no-such-charset") == ("grün", "utf-8")
    assert decode_body("grün".encode("latin-1"), "iso-8859-1") == ("grün", "cp1252")
    assert decode_body(b"\xff\xfeh\x00i\x00", "")[0] == "hi"
    assert decode_body(b"plain", "utf-16") == ("plain", "utf-8")
    assert decode_body(b"\x81\x8d\xff", "")[1] == "cp1252"
    for label in ("base64", "rot13", "idna", "zlib", "undefined", "x-user-defined\0"):
        assert decode_body(b"<a href='/x'>\xff</a>", label)[0].startswith("<a href='/x'>")


def test_non_utf8_page_extracts_correct_links():
    body = "<meta charset='windows-1251'><a href='/новости'>н</a>".encode("cp1251")
    assert extract(body, "text/html").extracted_urls == [
        "http://www.bmg.bund.de/%D0%BD%D0%BE%D0%B2%D0%BE%D1%81%D1%82%D0%B8"]


# ---------------------------------------------------------------------- HTTP extractor
def redirect(status, location, url="http://localhost/", **overrides):
    curi = CrawlUri(url=url, effective_url=url, status_code=status,
                    rep_header={"Location": location} if location else {})
    return HttpExtractor(settings(**overrides))(curi)


def test_correct_extraction():
    assert redirect(302, "http://localhost/index.html").extracted_urls == \
        ["http://localhost/index.html"]


def test_only_on_redirect():
    assert redirect(200, "http://localhost/index.html").extracted_urls == []
    assert redirect(None, "http://localhost/index.html").extracted_urls == []
    assert redirect(304, None).extracted_urls == []


def test_relative_links():
    assert redirect(303, "/index.html", url="http://localhost/a/b").extracted_urls == \
        ["http://localhost/index.html"]
    assert redirect(308, "c", url="http://localhost/a/b").extracted_urls == \
        ["http://localhost/a/c"]


def test_a_raw_utf8_location_is_read_as_utf8():
    # tornado hands header bytes over as Latin-1: "é" sent as UTF-8 arrives as "Ã©"
    raw = "/caf\u00e9 au lait".encode("utf-8").decode("latin-1")
    assert redirect(302, raw).extracted_urls == ["http://localhost/caf%C3%A9%20au%20lait"]
    assert redirect(302, "/caf\u00e9").extracted_urls == ["http://localhost/caf%C3%A9"]


def test_soft_404_redirects_are_not_followed():
    assert redirect(302, "/404.html", HTTP_EXTRACTOR_404_REDIRECT=[
        "http://localhost/404.html"]).extracted_urls == []


# ------------------------------------------------------------------------------ scoper
def scope(urls, **overrides):
    curi = CrawlUri(url="http://a/", optional_vars={"extracted_urls": "\n".join(urls)})
    return RegexScoper(settings(**overrides))(curi).extracted_urls


def test_regex_scoper():
    urls = ["http://www.bmg.bund.de/test/", "http://www.bmg.bund.de/test/test.html",
            "ftp://www.bmg.bund.de/test/test.avi"]
    assert scope(urls, REGEX_SCOPE_POSITIVE=["^.*\\.html"],
                 REGEX_SCOPE_NEGATIVE=["^.*\\.avi"]) == ["http://www.bmg.bund.de/test/test.html"]


def test_scoper_is_case_insensitive():
    assert scope(["HTTP://WWW.Example.COM/A.HTML"],
                 REGEX_SCOPE_POSITIVE=[r"^http://www\.example\.com/"]) == \
        ["HTTP://WWW.Example.COM/A.HTML"]


def test_empty_positive_list_keeps_everything_but_negatives():
    urls = ["http://a.com/x", "http://b.com/y.avi"]
    assert scope(urls) == urls
    assert scope(urls, REGEX_SCOPE_NEGATIVE=[r".*\.avi$"]) == ["http://a.com/x"]


def test_scoper_drops_the_key_when_nothing_is_left():
    curi = CrawlUri(url="http://a/", optional_vars={"extracted_urls": "http://b/"})
    RegexScoper(settings(REGEX_SCOPE_POSITIVE=["^http://c/"]))(curi)
    assert "extracted_urls" not in curi.optional_vars


def test_bad_scope_regex_is_a_settings_error():
    with pytest.raises(SettingsError, match="REGEX_SCOPE_POSITIVE"):
        RegexScoper(settings(REGEX_SCOPE_POSITIVE=["(unclosed"]))


# ------------------------------------------------------------------- session ids
def test_that_stripping_session_stuff_works():
    strip = StripSessionIds(settings()).strip
    for marker in ("sid", "jsessionid", "phpsessid", "aspsessionid", "SID", "JSESSIONID",
                   "PhpSessId", "ASPSESSIONIDQQGGQGPG", "sessionid"):
        url = "http://pREis.de/traeger/index.php?%s=8429fb3ae210a2a0e28800b7f48d90f2" % marker
        assert strip(url) == "http://pREis.de/traeger/index.php"


def test_session_ids_are_removed_by_name_without_damage():
    strip = StripSessionIds(settings(REMOVE_QUERY_NAMES=["utm_source"])).strip
    assert strip("http://a.com/x?a=1&sid=2&b=3") == "http://a.com/x?a=1&b=3"
    assert strip("http://a.com/x?basid=1&sidebar=2&Sid=3") == "http://a.com/x?basid=1&sidebar=2"
    assert strip("http://a.com/x?UTM_Source=feed&q=1#frag") == "http://a.com/x?q=1#frag"
    assert strip("http://a.com/shop;jsessionid=ABC123?item=1") == "http://a.com/shop?item=1"
    assert strip("http://a.com/a;JSESSIONID=1/b;v=2") == "http://a.com/a/b;v=2"
    assert strip("http://a.com/x?q=sid") == "http://a.com/x?q=sid"


def test_that_with_uri_works():
    urls = ["http://a.com/x?sid=1", "http://a.com/x", "http://a.com/y?PHPSESSID=2&z=1"]
    curi = CrawlUri(url="http://a.com/", optional_vars={"extracted_urls": "\n".join(urls)})
    StripSessionIds(settings())(curi)
    assert curi.extracted_urls == ["http://a.com/x", "http://a.com/y?z=1"]


# ------------------------------------------------------------------- query clean-up
def test_that_cleaning_qs_works():
    clean = CleanupQueryString(settings()).clean
    assert clean("http://tesT.com/t.html?p=a#top") == "http://tesT.com/t.html?p=a"
    assert clean("http://test.com/t.html?#top") == "http://test.com/t.html"
    assert clean("http://test.com/t.html?test=a&") == "http://test.com/t.html?test=a"
    assert clean("http://test.com/t.html?&&a=1&&b=2&") == "http://test.com/t.html?a=1&b=2"


def test_anchors_can_be_kept():
    clean = CleanupQueryString(settings(REMOVE_ANCHORS_FROM_LINKS=False)).clean
    assert clean("http://test.com/t.html?a=1&#top") == "http://test.com/t.html?a=1#top"


# ----------------------------------------------------------------- whole pipeline
def test_that_creating_processing_function_works():
    with pytest.raises(ValueError):
        create_processing_function(settings(SPYDER_EXTRACTOR_PIPELINE=["NoDotHere"]))
    process = create_processing_function(settings())
    curi = process(CrawlUri(url="http://127.0.0.1/robots.txt",
                            effective_url="http://127.0.0.1/robots.txt"))
    assert curi.optional_vars["extraction_finished"] == "1"


def test_pipeline_settings_are_not_mutated():
    s = settings()
    before = list(s.SPYDER_EXTRACTOR_PIPELINE)
    create_processing_function(s)
    create_processing_function(s)
    assert s.SPYDER_EXTRACTOR_PIPELINE == before


def test_pipeline_worked_example():
    """Reference 4.10: the template's scope applied to a DMOZ page."""
    process = create_processing_function(settings(
        REGEX_SCOPE_POSITIVE=[r"^http://www\.dmoz\.org/Recreation/Boating/Sailing/.*"],
        REGEX_SCOPE_NEGATIVE=[r"^http://www\.dmoz\.org/Recreation/Boating/Sailing/Racing/.*"]))
    page = ("<a href='/Recreation/Boating/Sailing/Racing/x.html'>r</a>"
            "<a href='Clubs/?sid=ab12#top'>c</a><a href='mailto:a@b.c'>m</a>"
            "<a href='Clubs/'>again</a>")
    curi = process(html_curi(page, url="http://www.dmoz.org/Recreation/Boating/Sailing/"))
    assert curi.extracted_urls == ["http://www.dmoz.org/Recreation/Boating/Sailing/Clubs/"]


# ------------------------------------------------------------------ link resolution
RESOLVER_BASES = ["http://a.com/dir/page.html?q=1#f", "http://a.com/", "https://a.com:8443/x/",
                  "http://a.com/dir/", "http://u:p@a.com/d/", "http://a.com/a/../b/",
                  "http://A.com:80/x", "http://a.com/d1/d2/d3/p.html", "http://a.com:8080/d1//d3/",
                  "http://a.com/%7Ex/y/z", "http://a.com/a%2fb/c/", "http://a.com/%2e%2e/c/",
                  "http://a.com/a;b/c/?q", "http://127.0.0.1:20001/s1/p1.html"]
RESOLVER_VALUES = [
    "page2.html", "/root", "//cdn.b.org/x", "http://c.org/Y", "?q=2", "#top", "../up.html",
    "./same", "a/b:c", "b:c", "123:x", "/a/./b/../c", "x y.html", "caf\u00e9", "/r%C3%A9",
    "https://x/'q'", "mailto:me", "  /sp  ", "/.well-known/x", "page.html?a=1&b=[2]",
    ".hidden", "..", "/", "", "\\\\h\\x", "/\\h/x", "http://0x7f.1/", "HTTP://A.COM:80/",
    "http://a.com/%7e", "http://a.com", "p?x#y", "http://[::1", "javascript://[:1]",
]


@pytest.mark.parametrize("base", RESOLVER_BASES)
def test_link_resolver_agrees_with_the_whatwg_parser(base):
    """Shortcuts or not, a link is what ada-url makes of it (http(s) only)."""
    from ada_url import join_url

    from spyder.processor.links import LinkResolver

    resolve = LinkResolver(base)
    rng = random.Random(3)
    chars = "ab/.:?#%@\\[]^ \u00e9"
    values = RESOLVER_VALUES + ["".join(rng.choice(chars) for _ in range(rng.randint(1, 8)))
                                for _ in range(3000)]
    # "./" and "../" in front, as pages write them
    pieces, ends = ("./", "../", "../", ".", "..", "/", "x", "\\"), ("", "p", "p/", "p#f", "?q")
    values += ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 5))) + rng.choice(ends)
               for _ in range(2000)]
    for value in values:
        try:
            expected = join_url(base, value)
        except ValueError:
            expected = None
        if expected is not None and not expected.startswith(("http://", "https://")):
            expected = None
        assert resolve(value) == expected, value


# Values that made link resolution raise (the whole page a 710) or come out unlike a
# browser's, and what a browser makes of them on PAGE_URL (None: not a URL at all).
ODD_HREFS = [
    ("javascript://[:1]", None), ("sc://a[b/", None), ("file://[x]/", None),
    ("http://[::1", None), ("http://a b/", None), ("http://192.168.0.257/", None),
    ("https://%zz/", None), ("http://[1::2::3]/", None), ("http://\u0000x/", None),
    ("//[", None), ("http://a:99999/", None), ("\\\\[]", None),
    ("ht tp://x/", "http://www.bmg.bund.de/test/ht%20tp://x/"),
    ("mailto:[", "not http"), ("http://xn--/", "http://xn--/"),
    ("http://0xffffffff", "http://255.255.255.255/"), ("http://1.2.3.4./", "http://1.2.3.4/"),
    ("///test", "http://test/"), ("http://fa\u00df.example/", "http://xn--fa-hia.example/"),
    ("\\\\x\\y", "http://x/y"), ("/a/%2e%2E/b", "http://www.bmg.bund.de/b"),
    ("/%3A%2F%28", "http://www.bmg.bund.de/%3A%2F%28"),
]


def test_odd_hrefs_resolve_as_in_browsers_and_bad_ones_are_counted():
    page = "".join("<a href='%s'>x</a>" % value.replace("&", "&amp;").replace("'", "&#39;")
                   for value, _ in ODD_HREFS) + "<a href='/good'>g</a>"
    curi = extract(page)
    assert curi.extracted_urls == [url for _, url in ODD_HREFS
                                   if url and url != "not http"] + [
        "http://www.bmg.bund.de/good"]
    assert curi.optional_vars["links_dropped"] == str(sum(1 for _, url in ODD_HREFS
                                                          if url is None))


def test_repeated_values_resolve_once_but_count_each_time():
    page = ("<a href='http://[::1'>1</a><a href='../x'>2</a><a href='http://[::1'>3</a>"
            "<a href='x'>4</a><a href='../x'>5</a><a href='mailto:a@b'>6</a>")
    curi = extract(page)
    assert curi.extracted_urls == ["http://www.bmg.bund.de/x", "http://www.bmg.bund.de/test/x"]
    assert curi.optional_vars["links_dropped"] == "2"


def test_base_href_is_resolved_as_browsers_do():
    def links(base_href, href="x"):
        return extract("<head><base href='%s'></head><a href='%s'>x</a>"
                       % (base_href, href)).extracted_urls

    assert links("\\\\other.example\\dir\\") == ["http://other.example/dir/x"]
    assert links("/sub/") == ["http://www.bmg.bund.de/sub/x"]
    assert links("http://0x7f.1/d/") == ["http://127.0.0.1/d/x"]
    assert links("") == ["http://www.bmg.bund.de/test/x"]
    # a base that does not parse, or a javascript: one, leaves the page's URL
    assert links("http://[::1") == ["http://www.bmg.bund.de/test/x"]
    assert links("javascript:alert(1)//") == ["http://www.bmg.bund.de/test/x"]
    # only the first <base href> counts; its query is in the page's charset
    page = "<base href='/one/'><base href='/two/'><a href='x'>x</a>"
    assert extract(page).extracted_urls == ["http://www.bmg.bund.de/one/x"]
    body = "<base href='/b/?q=\u00fc'><a href=''>x</a><a href='#f'>y</a>".encode("latin-1")
    assert extract(body, "text/html; charset=iso-8859-1").extracted_urls == [
        "http://www.bmg.bund.de/b/?q=%FC#f"]


def test_meta_refresh_is_resolved_as_browsers_do():
    page = "<meta http-equiv='refresh' content='0; url=\\\\other.example\\x'>"
    assert extract(page).extracted_urls == ["http://other.example/x"]
    curi = extract("<meta http-equiv='refresh' content='0; url=http://a:99999/'>")
    assert curi.extracted_urls == [] and curi.optional_vars["links_dropped"] == "1"


def test_redirect_locations_are_resolved_as_browsers_do():
    assert redirect(302, "\\\\other.example\\x").extracted_urls == ["http://other.example/x"]
    assert redirect(301, "//0x7f.1:8080/y").extracted_urls == ["http://127.0.0.1:8080/y"]
    bad = redirect(302, "http://[::1")
    assert bad.extracted_urls == [] and bad.optional_vars["links_dropped"] == "1"
    assert "links_dropped" not in redirect(302, "mailto:a@b.c").optional_vars


# ---------------------------------------------------------------- issue 18 item 5: budgets
class _CountedStr(str):
    """A str that counts how often it is compared for equality."""
    comparisons = 0

    def __eq__(self, other):
        _CountedStr.comparisons += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def test_counting_dropped_links_is_linear_in_the_values():
    """20,000 distinct unparsable hrefs: ``values.count(value)`` per failing value
    compared every value with every other (n² comparisons, 10 s on a worker's loop)."""
    from spyder.processor.links import LinkResolver
    values = [_CountedStr("http://a b/%d" % i) for i in range(2000)] * 2
    _CountedStr.comparisons = 0
    resolver = LinkResolver("http://example.test/")
    assert resolver.links(values) == []
    assert resolver.dropped == 4000
    assert _CountedStr.comparisons <= 4 * len(values), _CountedStr.comparisons


def test_links_per_page_are_capped_and_the_result_marked():
    from spyder.processor.htmllinkextractor import DefaultHtmlLinkExtractor
    settings = Settings(overrides={"LINKS_MAX_PER_PAGE": 100})
    body = ("<html><head></head><body>%s<meta name=robots content=noindex></body></html>"
            % "".join('<a href="/p/%d">x</a>' % i for i in range(1000))).encode()
    curi = CrawlUri(url="http://example.test/", status_code=200, content_body=body,
                    rep_header={"Content-Type": "text/html"})
    DefaultHtmlLinkExtractor(settings)(curi)
    assert curi.extracted_urls == ["http://example.test/p/%d" % i for i in range(100)]
    assert curi.optional_vars["links_truncated"] == "1"
    assert curi.optional_vars["noindex"] == "1"  # directives after the cap still count


def _cloning_page(tags, start="<b id=%d>"):
    """About ``tags`` tags that make Lexbor clone formatting elements: ``tags / 2``
    distinct unclosed ones, then a ``<p>`` and some text per tag left (each ``<p>`` pops
    them, each text reconstructs them all), then a link."""
    most = tags // 2
    return ("<p>" + "".join(start % n for n in range(most)) + "<p>x" * (tags - most - 2)
            + "<a href='/end'>")


def test_formatting_elements_are_defused_so_the_parser_cannot_clone_them():
    """Lexbor reconstructs every unclosed formatting element at each text after an end
    tag popped it: 2,000 distinct <b id=N> then 2,000 <p>x (28 KB) built four million
    elements (1.2 s, 1.4 GB).  A page of more than DEFUSE_MIN_TAGS tags has their start
    tags defused (renamed: <x-b>): the tree is no larger than the page, and its links are
    still found."""
    from spyder.processor.htmllinkextractor import (DEFUSE_MIN_TAGS, FLATTEN_MIN_TAGS,
                                                    parser_markup)
    raw = _cloning_page(DEFUSE_MIN_TAGS)
    assert tree_size(raw) > 100 * DEFUSE_MIN_TAGS  # what it guards against (below: ~20 ms)
    extractor = DefaultHtmlLinkExtractor(Settings())
    for start in ("<b id=%d>", "<B ID=%d>", "<i\tclass=%d>", "<font/color=%d>",
                  "<code title='%d>'>", "<strike\x0c%d>", "<nobr x=%d>", "<tt data-n=%d>",
                  "<s class='\u00e9%d'>", "<em id=%d/>", "<u n=%d>", "<big\n%d>", "<small %d>",
                  "<strong id=%d>"):
        page = _cloning_page(FLATTEN_MIN_TAGS, start)
        assert DEFUSE_MIN_TAGS < page.count("<") <= FLATTEN_MIN_TAGS
        for markup in (page, page.encode()):
            defused, _ = parser_markup(markup, 20000)
            assert tree_size(defused) < 2 * page.count("<"), start
        curi = CrawlUri(url="http://example.test/", status_code=200,
                        content_body=page.encode(), rep_header={"Content-Type": "text/html"})
        assert extractor(curi).extracted_urls == ["http://example.test/end"]


def test_large_pages_are_flattened_so_nothing_nests_deeply():
    """Lexbor's tree construction is quadratic in the depth of open elements (200,000
    <div>: two minutes); a page of many tags is flattened first, so the depth stays small
    whatever the page -- and the links found stay the same."""
    from spyder.processor.htmllinkextractor import FLATTEN_MIN_TAGS, flatten
    for hostile in ("<div>" * 20000, "<div title='<'><span>" * 5000, "<a><a><template>" * 5000,
                    "<ul><li><section>" * 5000,
                    # a "<" inside a tag, a tag ending in "--" and a stray quote holding
                    # a tag: each an element that nested (the first 20,000 deep: 0.4 s)
                    "<div x<>" * 20000, "<div x=-->" * 20000, "<div \"<y>\">" * 10000,
                    # noscript is markup like any other (no scripting): removed, not kept
                    "<noscript><a href=/x>" * 5000):
        assert hostile.count("<") > FLATTEN_MIN_TAGS
        assert tree_depth(flatten(hostile)) < 20
    page = ("<html><head><base href='/base/'><link rel=next href='n.html'>"
            "<meta http-equiv=refresh content='5; url=/refreshed'></head><body>" + "".join(
                "<div class=c%d><ul><li><a href='/p/%d?a=1&amp;b=2'>x<b>y</b></a>"
                "<li><a rel=nofollow href=/no/%d>n</a><table><tr><td><area href=/area/%d>"
                "<iframe src='/frame/%d'></iframe><p title='a>b'><a href=\"q'%d\">q</a>"
                "</table></ul><script>for(i=0;i<n;i++){}</script></div>" % ((i,) * 6)
                for i in range(300)) + "</body></html>")
    assert page.count("<") > FLATTEN_MIN_TAGS
    extractor = DefaultHtmlLinkExtractor(Settings())

    def links(body):
        curi = CrawlUri(url="http://example.test/dir/", status_code=200,
                        content_body=body.encode(), rep_header={"Content-Type": "text/html"})
        return extractor(curi).extracted_urls

    flattened = links(page)
    assert len(flattened) == 1 + 1 + 4 * 300
    import spyder.processor.htmllinkextractor as module
    saved, module.FLATTEN_MIN_TAGS = module.FLATTEN_MIN_TAGS, 10 ** 9
    try:
        assert links(page) == flattened
    finally:
        module.FLATTEN_MIN_TAGS = saved
