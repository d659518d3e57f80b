"""URL canonicalisation (spyder.core.urls): the table, the helpers, the fast path."""
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
    # percent-escapes: upper case, unreserved characters decoded
    ("http://example.com/a%2fb/%7Euser", "http://example.com/a%2Fb/~user"),
    ("http://example.com/a b", "http://example.com/a%20b"),
    # credentials are kept (for HTTP basic auth), the host is lower-cased
    ("http://User:Pw@Example.com:8080/x", "http://User:Pw@example.com:8080/x"),
    # IPv6
    ("http://[::1]:80/a", "http://[::1]/a"),
    ("http://[::1]:8080/a", "http://[::1]:8080/a"),
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


@pytest.mark.parametrize("raw", [
    "mailto:someone@example.com", "javascript:void(0)", "ftp://example.com/file",
    "http://", "http:///path", "http://exa mple.com/", "http://example.com:99999/",
    "http://example.com:0/", "not a url", "", "http://example.com/" + "a" * 5000, None,
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


def test_fast_path_gives_the_same_answer_as_w3lib():
    """Already canonical URLs skip w3lib; the result must be the same either way."""
    rng = random.Random(7)
    path_chars = "abcXYZ019-._~!$&'()*+,;=:@/"
    query_chars = "abcXYZ019-._~!$&()*+,;=:@/?"
    for _ in range(5000):
        host = rng.choice(["example.com", "a-b.example.org", "x1.y2", "localhost"])
        port = rng.choice(["", ":80", ":8080", ":443", ":1"])
        path = "/" + "".join(rng.choice(path_chars) for _ in range(rng.randint(0, 12)))
        query = rng.choice(["", "?" + "".join(rng.choice(query_chars)
                                              for _ in range(rng.randint(0, 10)))])
        url = rng.choice(["http", "https"]) + "://" + host + port + path + query
        slow = urls._drop_default_port(urls._canonicalize_slow(url, False))
        assert canonicalize(url) == slow, url
