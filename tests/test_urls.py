"""URL canonicalisation (spyder.core.urls): the table, the helpers, the fast path.
The WHATWG URL test data runs through it in test_wpt_urls.py."""
import random

import pytest

from spyder.core import urls
from spyder.core.urls import canonicalize

TABLE = [
    # case of scheme and host; the path keeps its case
    ("HTTP://Example.COM/Path", "http://example.com/Path"),
    # default ports go, others stay
    ("http://example.com:80/", "http://example.com/"),
    ("https://example.com:443/x", "https://example.com/x"),
    ("https://example.com:80/x", "https://example.com:80/x"),
    ("http://example.com:8080/", "http://example.com:8080/"),
    ("http://example.com:080/", "http://example.com/"),
    # empty path becomes /
    ("http://example.com", "http://example.com/"),
    # dot segments
    ("http://example.com/a/./b/../c", "http://example.com/a/c"),
    ("http://example.com/../../a", "http://example.com/a"),
    ("http://example.com/a/b/..", "http://example.com/a/"),
    # fragments dropped
    ("http://example.com/a#top", "http://example.com/a"),
    ("http://example.com/a?x=1#top", "http://example.com/a?x=1"),
    # query order kept (CANONICAL_SORT_QUERY=False)
    ("http://example.com/?b=2&a=1", "http://example.com/?b=2&a=1"),
    # IRIs: IDNA host, UTF-8 percent-encoding
    ("http://bücher.de/straße?q=ä", "http://xn--bcher-kva.de/stra%C3%9Fe?q=%C3%A4"),
    ("http://EXAMPLE.com/r\u00e9sum\u00e9", "http://example.com/r%C3%A9sum%C3%A9"),
    # percent-escapes: unreserved characters decoded, reserved ones kept, upper case
    ("http://example.com/a%2fb/%7Euser", "http://example.com/a%2Fb/~user"),
    ("http://example.com/%41%2D%2e%5F%7e%30", "http://example.com/A-._~0"),
    ("http://example.com/a%3Ab%2Fc%28d%29%40?q=%3a%26%3D%2B&r=%41",
     "http://example.com/a%3Ab%2Fc%28d%29%40?q=%3A%26%3D%2B&r=A"),
    ("http://example.com/%zz%4", "http://example.com/%zz%4"),
    ("http://example.com/a b", "http://example.com/a%20b"),
    # as browsers parse: backslashes, IPv4 forms, IDNA, dot segments, slashes
    ("http:\\\\Example.com\\a\\b", "http://example.com/a/b"),
    ("http://0x7f.1/", "http://127.0.0.1/"),
    ("http://2130706433:8080/", "http://127.0.0.1:8080/"),
    ("http://127.0.0.1./", "http://127.0.0.1/"),
    ("http://fa\u00df.example/", "http://xn--fa-hia.example/"),
    ("http://example.com/a/%2e%2E/b/.%2e/c", "http://example.com/c"),
    ("http:///example.com/x", "http://example.com/x"),
    ("http://example.com/p?", "http://example.com/p"),
    ("http://example.com/p?#", "http://example.com/p"),
    ("http://example.com/x^y{z}?'`", "http://example.com/x%5Ey%7Bz%7D?%27`"),
    # credentials are kept (for HTTP basic auth), the host is lower-cased
    ("http://User:Pw@Example.com:8080/x", "http://User:Pw@example.com:8080/x"),
    # IPv6
    ("http://[::1]:80/a", "http://[::1]/a"),
    ("http://[::1]:8080/a", "http://[::1]:8080/a"),
    ("http://[0:0::1]/", "http://[::1]/"),
    # surrounding white space
    ("  http://example.com/a \n", "http://example.com/a"),
]


@pytest.mark.parametrize("raw,expected", TABLE)
def test_canonicalisation_table(raw, expected):
    assert canonicalize(raw) == expected
    assert canonicalize(expected) == expected  # idempotent


def test_sorted_query_when_asked():
    assert canonicalize("http://example.com/?b=2&a=1&a=0", sort_query=True) == \
        "http://example.com/?a=0&a=1&b=2"
    assert canonicalize("http://example.com/p", sort_query=True) == "http://example.com/p"
    # by name, then value; escapes kept, empty parameters dropped
    assert canonicalize("http://example.com/?b=%3A&&a1=2&a=1&", sort_query=True) == \
        "http://example.com/?a=1&a1=2&b=%3A"


@pytest.mark.parametrize("raw", [
    "mailto:someone@example.com", "javascript:void(0)", "ftp://example.com/file",
    "http://", "http:///", "http://exa mple.com/", "http://example.com:99999/",
    "http://example.com:0/", "not a url", "", "http://example.com/" + "a" * 5000, None,
    "http://192.168.0.257/", "http://[1::2::3]/", "http://[::1", "https://%zz/",
    "http://a\u0000b/", "http://a!b/", "http://a..b/", "http://foo.09/", "//example.com/",
    "http://example.com/" + "\u00e9" * 1000, b"http://example.com/",
])
def test_unusable_urls_raise_value_error(raw):
    with pytest.raises(ValueError):
        canonicalize(raw)


def test_helpers():
    url = "http://User:P%40ss@example.com:8080/x?y=1"
    assert urls.host_key(url) == "example.com:8080"
    assert urls.origin(url) == "http://example.com:8080"
    assert urls.hostname(url) == "example.com"
    assert urls.host_and_port(url) == ("example.com", 8080)
    assert urls.credentials(url) == ("User", "P@ss")
    assert urls.credentials("http://example.com/") is None
    assert urls.credentials("http://user@example.com/") is None
    assert urls.host_key("https://example.com/") == "example.com"
    assert urls.host_and_port("https://example.com/") == ("example.com", 443)
    assert urls.origin("https://[::1]:8443/a") == "https://[::1]:8443"
    assert urls.hostname("https://[::1]:8443/a") == "[::1]"


def _slow(url):
    try:
        return urls._canonical_form(url, False)
    except ValueError:
        return ValueError


def test_fast_path_gives_the_same_answer_as_the_parser():
    """URLs ``is_canonical`` accepts skip the parser: for every one of them the parser
    must give the URL back, and ``canonicalize`` must agree with the parser on all."""
    rng = random.Random(7)
    hosts = ["example.com", "a-b.example.org", "x1.y2", "localhost", "a_b.c", "example.com.",
             "127.0.0.1", "10.0.0.255", "256.0.0.1", "1.2.3", "0x7f.1", "a.09", "a.0x1",
             "a.b1", "xn--a", "xn--fa-hia.example", "a..b", "-a-.b-", "EXAMPLE.com"]
    safe = list("abcXYZ019-._~!$&'()*+,;=:@/?") + ["%3A", "%2F", "%C3%A9", "%25"]
    unsafe = safe + list("%#\\^`{}[]|\"<> \u00e9") + ["%7E", "%41", "%3a", "%zz", "%2e"]
    fast = 0
    for _ in range(20000):
        host = rng.choice(hosts)
        port = rng.choice(["", "", ":80", ":8080", ":443", ":1", ":0", ":65535", ":65536"])
        chars = rng.choice([safe, unsafe])
        path = "/" + "".join(rng.choice(chars) for _ in range(rng.randint(0, 10)))
        path += rng.choice(["", "", "/.", "/..", "/./x", "/../x", "/.x"])
        url = rng.choice(["http", "https"]) + "://" + host + port + path
        slow = _slow(url)
        if urls.is_canonical(url):
            fast += 1
            assert slow == url, url
        try:
            assert canonicalize(url) == slow, url
        except ValueError:
            assert slow is ValueError, url
    assert fast > 1000  # the fast path was really taken
