"""The WHATWG URL Standard's test data (web-platform-tests ``urltestdata.json``, see
``tests/data/README.md``) through the crawler's own link path: ``LinkResolver`` with
the case's base (the worker), then ``canonicalize`` (the frontier).

Every case with a base must come out as the standard's ``href`` in canonical form
(fragment dropped, empty query dropped, escapes of unreserved characters decoded, hex
upper-cased), or be dropped where the data says ``failure`` or the URL is not http(s).
The crawler refuses two kinds of URL a browser would still try (docs/frontier.md,
"What is crawled"): port 0 and a host that cannot be a DNS name; those cases must be
dropped too.  Nothing may raise.
"""
import json
import re
from pathlib import Path

import pytest

from spyder.core.urls import canonicalize
from spyder.processor.links import LinkResolver

pytestmark = pytest.mark.timeout(60)

DATA = Path(__file__).parent / "data" / "urltestdata.json"
CASES = [case for case in json.loads(DATA.read_text(encoding="utf-8"))
         if isinstance(case, dict) and case.get("base")]

#: Cases whose expectation the standard changed after this data revision: since
#: WPT b63305b743 (2026) domain-to-ASCII no longer fails an ASCII label that starts
#: with ``xn--``, so these hosts parse (as they do in ada-url 4).
CHANGED_SINCE = {
    "http://a.b.c.xn--pokxncvks": "http://a.b.c.xn--pokxncvks/",
    "http://10.0.0.xn--pokxncvks": "http://10.0.0.xn--pokxncvks/",
    "http://a.b.c.XN--pokxncvks": "http://a.b.c.xn--pokxncvks/",
    "http://a.b.c.Xn--pokxncvks": "http://a.b.c.xn--pokxncvks/",
    "http://10.0.0.XN--pokxncvks": "http://10.0.0.xn--pokxncvks/",
    "http://10.0.0.xN--pokxncvks": "http://10.0.0.xn--pokxncvks/",
}

_UNRESERVED_ESCAPE = re.compile("%(2[dDeE]|3[0-9]|[46][1-9a-fA-F]|[57][0-9aA]|5[fF]|7[eE])")
_OTHER_ESCAPE = re.compile("%([0-9a-fA-F]{2})")
_DNS_NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?\Z")


def _unreserved_decoded(component):
    component = _UNRESERVED_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), component)
    return _OTHER_ESCAPE.sub(lambda m: "%" + m.group(1).upper(), component)


def refused(case):
    """True for the http(s) URLs the crawler refuses on purpose (port 0, no DNS name)."""
    hostname = case["hostname"]
    return case["port"] == "0" or not (hostname.startswith("[") or _DNS_NAME.match(hostname))


def expected(case):
    """The canonical URL the crawler must make of ``case``, or ``None`` (dropped)."""
    if case["input"] in CHANGED_SINCE:
        return CHANGED_SINCE[case["input"]]
    if case.get("failure") or case["protocol"] not in ("http:", "https:") or refused(case):
        return None
    userinfo = case["username"] + (":" + case["password"] if case["password"] else "")
    return "%s//%s%s%s%s" % (case["protocol"], userinfo + "@" if userinfo else "", case["host"],
                             _unreserved_decoded(case["pathname"]),
                             _unreserved_decoded(case["search"]))


def crawled(case):
    """What the worker and the frontier make of ``case``: a canonical URL or ``None``."""
    link = LinkResolver(case["base"])(case["input"])
    if link is None:
        return None
    try:
        return canonicalize(link)
    except ValueError:
        return None


def test_the_data_is_complete():
    assert len(CASES) > 600
    assert sum(1 for case in CASES if case.get("failure")) > 200
    assert sum(1 for case in CASES if not case.get("failure")
               and case["protocol"] in ("http:", "https:")) > 200


def test_every_case_resolves_as_the_standard_says():
    wrong = []
    for case in CASES:
        want = expected(case)
        try:
            got = crawled(case)
        except Exception as exc:  # a raising link would fail the whole page
            got = "raised %s: %s" % (type(exc).__name__, exc)
        if got != want:
            wrong.append("%r on %r: %r, expected %r" % (case["input"], case["base"], got, want))
    assert not wrong, "%d of %d cases differ:\n%s" % (len(wrong), len(CASES),
                                                      "\n".join(wrong))
