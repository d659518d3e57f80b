"""Hypothesis strategies and runners for every decoder of outside input (issue 18's budgets).

Shared by ``tests/test_fuzz_decoders.py`` (a short run per decoder in the suite) and
``benchmarks/bench_fuzz.py`` (a longer run that measures time per MiB, memory and the
worst single call).  Each ``DECODERS`` entry is ``(name, strategy, run)``: ``run(x)``
feeds one generated input to the decoder as the worker or master would and raises
only on a bug (a decoder's own documented refusals are caught here).
"""
import gzip
import zlib

import msgpack
from hypothesis import strategies as st

from spyder.core.crawluri import CrawlUri
from spyder.core.wire.messages import DataMessage, MessageError, MgmtMessage
from spyder.core.frontier.robots import RobotsRules, decode_robots
from spyder.core.settings import Settings
from spyder.processor.fetcher import _Download
from spyder.processor.htmllinkextractor import DefaultHtmlLinkExtractor
from spyder.processor.links import LinkResolver
from spyder.processor.robotstag import header_directives
from spyder.processor.sitemaps import DecodeBudget, parse_sitemap

_SETTINGS = Settings()
_HTML = DefaultHtmlLinkExtractor(_SETTINGS)
_MAX_URLS = 50000
_MAX_SIZE = 8 << 20

# ------------------------------------------------------------------- building blocks
_url_chars = st.sampled_from(list("abcXYZ019/.:?#&=%[]@!$'()*+,;~-_ \\\t\n\"<>{}|^`") +
                             ["\u00e4", "\u2603", "\ud7ff", "%zz", "%2F", "//", "../", "./"])
url_text = st.lists(_url_chars, max_size=40).map("".join)
urls = st.one_of(
    url_text,
    st.tuples(st.sampled_from(["http://", "https://", "HTTP://", "javascript:", "mailto:",
                               "//", "http:/", "ftp://", ""]),
              st.sampled_from(["a.test", "A.TEST", "127.0.0.1", "[::1]", "192.168.0.257",
                               "xn--nxasmq6b", "a b", "\u00e4.test", "a.test:99999",
                               "a.test:80", ""]),
              url_text).map("".join))


def _repeat(piece, times):
    return piece * times


def _blowup(strategy, most=2000):
    """``strategy``'s values, sometimes repeated many times (hostile shapes are long)."""
    return st.one_of(strategy, st.tuples(strategy, st.integers(1, most)).map(
        lambda pair: _repeat(*pair)))


# ------------------------------------------------------------------- frames and tickets
_msgpack_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**64 - 1), st.floats(),
              st.text(max_size=20), st.binary(max_size=20)),
    lambda children: st.one_of(st.lists(children, max_size=5),
                               st.dictionaries(st.text(max_size=10), children, max_size=5)),
    max_leaves=20)
_crawluri_maps = st.fixed_dictionaries({}, optional={
    "url": st.one_of(urls, _msgpack_values), "status_code": _msgpack_values,
    "rep_header": _msgpack_values, "optional_vars": _msgpack_values,
    "content_body": st.one_of(st.binary(max_size=100), _msgpack_values),
    "req_time": _msgpack_values, "depth": _msgpack_values, "v": _msgpack_values})
_tickets = st.fixed_dictionaries({}, optional={
    key: _msgpack_values for key in ("id", "deadline", "worker", "back", "body", "free",
                                     "held", "n")})
frames = st.one_of(
    st.lists(st.binary(max_size=64), max_size=5),
    st.tuples(st.binary(max_size=20), _crawluri_maps.map(msgpack.packb),
              _tickets.map(msgpack.packb)).map(list),
    st.tuples(st.binary(max_size=20), _crawluri_maps.map(msgpack.packb)).map(list),
    st.tuples(st.binary(max_size=20), st.binary(max_size=20), st.binary(max_size=20),
              _msgpack_values.map(msgpack.packb)).map(list))


def run_frames(raw):
    for cls in (DataMessage, MgmtMessage):
        try:
            msg = cls.from_frames(raw)
        except MessageError:
            continue
        msg.serialize()


# ------------------------------------------------------------------- robots.txt
_robots_fields = st.sampled_from(["User-agent", "user agent", "useragent", "Disallow",
                                  "Allow", "disalow", "Crawl-delay", "Request-rate",
                                  "Visit-time", "Sitemap", "Host", "Noindex", ""])
_robots_values = st.one_of(
    st.sampled_from(["*", "spyder", "Spyder/1.0", "spy*", "googlebot", "/", "/a*b$", "/*",
                     "/**.php$", "1", "1/5s", "0600-0845", "http://a.test/s.xml", "$", ""]),
    url_text, _blowup(st.sampled_from(["*a", "/*", "a*", "*"]), 500))
_robots_line = st.tuples(_robots_fields, st.sampled_from([":", ": ", " ", ""]),
                         _robots_values, st.sampled_from(["", "#c", " # x"])).map("".join)
robots_bodies = st.one_of(
    st.lists(_robots_line, max_size=60).map("\n".join),
    st.tuples(st.lists(_robots_line, max_size=10).map("\n".join), st.integers(1, 3000)).map(
        lambda pair: (pair[0] + "\n") * pair[1]),
    st.text(max_size=200))
_robots_urls = st.lists(urls.map(lambda u: "http://a.test/" + u), min_size=1, max_size=5)


def run_robots(pair):
    """As the master reads a robots.txt: at most ROBOTSTXT_MAX_SIZE bytes, decoded."""
    body, checks = pair
    body = decode_robots(body.encode("utf-8", "surrogatepass"), _SETTINGS.ROBOTSTXT_MAX_SIZE)
    rules = RobotsRules(body, "spyder", 10.0)
    for url in checks:
        rules.allowed(url)


robots_inputs = st.tuples(robots_bodies, _robots_urls)

# ------------------------------------------------------------------- sitemaps
_loc = urls.map(lambda u: "<loc>%s</loc>" % u)
_xml_piece = st.one_of(
    st.sampled_from(["<url>", "</url>", "<sitemap>", "</sitemap>", "<a/>", "<a>", "</a>",
                     "<loc>", "</loc>", "  \n", "<!-- c -->", "<![CDATA[http://a.test/c]]>",
                     "&amp;", "&lt;", "&bogus;", "<?pi x?>", "<image:loc>x</image:loc>"]),
    _loc, url_text)
_xml_body = st.tuples(
    st.sampled_from(['<?xml version="1.0" encoding="UTF-8"?>', "", "\ufeff", "  ",
                     '<!DOCTYPE u [<!ENTITY a "b">]>']),
    st.sampled_from(["<urlset>", '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">',
                     "<sitemapindex>", "<sm:urlset xmlns:sm='x'>", "<html>", ""]),
    st.lists(_blowup(_xml_piece, 3000), max_size=30).map("".join),
    st.sampled_from(["</urlset>", "</sitemapindex>", "</sm:urlset>", ""]),
).map(lambda parts: "".join(parts).encode("utf-8"))
_text_body = st.lists(st.one_of(urls, _blowup(st.sampled_from(["x", "http://a.test/", "\r",
                                                               " "]), 100000)),
                      max_size=50).map(lambda lines: "\n".join(lines).encode("utf-8"))


def _gzipped(pair):
    body, members = pair
    if members == 0:
        return zlib.compress(body)  # not gzip: zlib framing, read as text
    step = max(1, len(body) // members)
    return b"".join(gzip.compress(body[i:i + step]) for i in range(0, len(body) or 1, step))


sitemap_bodies = st.one_of(
    _xml_body, _text_body, st.binary(max_size=300),
    st.tuples(st.one_of(_xml_body, _text_body), st.integers(0, 20)).map(_gzipped),
    st.tuples(st.one_of(_xml_body, _text_body), st.integers(1, 3), st.integers(0, 100)).map(
        lambda t: _gzipped(t[:2])[:max(2, len(_gzipped(t[:2])) - t[2])]))  # cut short


def run_sitemap(body):
    budget = DecodeBudget(4 << 20)
    sitemap = parse_sitemap(body, _MAX_SIZE, _MAX_URLS, budget)
    assert budget.used == 0 and budget.peak <= budget.limit
    assert len(sitemap.urls) <= _MAX_URLS and len(sitemap.sitemaps) <= _MAX_URLS


# ------------------------------------------------------------------- HTML link extraction
_html_piece = st.one_of(
    st.sampled_from(["<a href=", "<a href='", '<a href="', "<area href=x>", "<base href=",
                     "<iframe src=", "<frame src=", '<link rel=next href=',
                     '<meta http-equiv=refresh content="0; url=', '<meta name=robots content=',
                     "nofollow", "noindex>", "rel=nofollow ", ">", "'", '"', "</a>", "<!--",
                     "-->", "<script>", "</script>", "&amp;", "&#x", "<svg><a href=x>",
                     "<svg><a xlink:href=/s>", "<svg><base xlink:href=/b/>",
                     "<template><a href=y></template>", "\x00", "<![CDATA["]),
    urls, url_text)
html_bodies = st.tuples(
    st.lists(_blowup(_html_piece, 2000), max_size=40).map("".join),
    st.sampled_from(["utf-8", "windows-1252", "shift_jis", "utf-16", "bogus", ""]),
).map(lambda pair: (pair[0].encode("utf-8", "surrogatepass"), pair[1]))


def run_html(pair):
    body, charset = pair
    content_type = "text/html" + ("; charset=" + charset if charset else "")
    curi = CrawlUri(url="http://a.test/dir/page", status_code=200, content_body=body,
                    rep_header={"Content-Type": content_type})
    _HTML(curi)
    assert len(curi.extracted_urls) <= _SETTINGS.LINKS_MAX_PER_PAGE


def run_links(values):
    resolver = LinkResolver("http://a.test/dir/page?q=1", "windows-1252")
    resolver.links(values)
    resolver.location(values[0] if values else "")


link_values = st.lists(_blowup(urls, 50), max_size=200)

# ------------------------------------------------------------------- response headers
_header_line = st.one_of(
    st.sampled_from(["HTTP/1.1 200 OK\r\n", "HTTP/1.1 100 Continue\r\n", "HTTP/1.0 301 X\r\n",
                     "\r\n", "Content-Type: text/html\r\n", "X-Robots-Tag: otherbot: nofollow\r\n",
                     "X-Robots-Tag: noindex, none\r\n", " folded\r\n", "Bad Header\r\n",
                     "Content-Type: application/pdf\r\n"]),
    st.tuples(st.text(alphabet="abcXYZ-_:", min_size=1, max_size=10), st.just(": "),
              st.text(max_size=40).map(lambda t: t.encode("utf-8").decode("latin-1")),
              st.just("\r\n")).map("".join))
header_blocks = st.lists(_blowup(_header_line, 5000), max_size=30)


def run_headers(lines):
    from tornado.httputil import HTTPInputError
    download = _Download(1 << 20, ("text/",))
    for line in lines:
        try:
            download.on_header(line)
        except HTTPInputError:
            break
    token = "spyder"
    for values in download.headers.values():
        for value in values:
            header_directives(value, token)


DECODERS = [
    ("frames and tickets", frames, run_frames),
    ("robots.txt", robots_inputs, run_robots),
    ("sitemap (XML, text, gzip)", sitemap_bodies, run_sitemap),
    ("HTML link extraction", html_bodies, run_html),
    ("link resolution", link_values, run_links),
    ("response headers", header_blocks, run_headers),
]


def input_size(value):
    """Bytes (or characters) of one generated input, for time per MiB."""
    if isinstance(value, (bytes, str)):
        return len(value)
    if isinstance(value, (list, tuple)):
        return sum(input_size(item) for item in value)
    if isinstance(value, dict):
        return sum(input_size(k) + input_size(v) for k, v in value.items())
    return 8
