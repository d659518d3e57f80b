"""URL canonicalisation and the URL parts the frontier keys on.

Every URL is canonicalised before the frontier's URL-seen test, so that one
resource has one spelling in the state file.  ``canonicalize`` first parses the URL
as the WHATWG URL Standard says, as browsers do (ada-url, the parser of Node.js):
scheme and host lower-cased, international hosts IDNA-encoded (``faß.example`` is
``xn--fa-hia.example``), IPv4 hosts in dotted decimal (``0x7f.1`` is ``127.0.0.1``),
IPv6 hosts compressed, the default port removed, backslashes read as slashes,
``.``/``..`` segments resolved, non-ASCII and unsafe characters UTF-8
percent-encoded.  Then the fragment and an empty query are dropped, and in path and
query the escapes of unreserved characters (RFC 3986 section 6.2.2.2: letters,
digits, ``-._~``) are decoded while every other escape keeps its meaning (``%3A``,
``%2F``, ``%28`` stay, in upper-case hex).  The query keeps its order unless
``sort_query`` (``CANONICAL_SORT_QUERY``) sorts its parameters by name, then value.
Only ``http`` and ``https`` URLs are crawlable, and of those only the ones whose
host can be a DNS name (letters, digits, ``-``, ``_``; or an IP address) and whose
port is not 0; anything else raises ``ValueError``.  ``is_canonical`` tells, without
parsing, that a URL is in this form already: most links are, and that test is all
adding them costs (``is_canonical_suffix`` tells it of a relative link joined to a
canonical directory, checking the link alone).

The helpers below take *canonical* URLs and give the keys the frontier groups by:
``host_key`` (host plus non-default port: the default politeness queue),
``origin`` (scheme and host key: one robots.txt each), ``hostname`` (the seed-host
scope) and ``credentials`` (``user:pass@`` for HTTP basic auth).
"""
import re
import string
from urllib.parse import unquote, urlsplit

from ada_url import normalize_url

#: Schemes the crawler fetches, with their default ports.
DEFAULT_PORTS = {"http": 80, "https": 443}

#: Longer URLs are refused (crawler traps; SQLite keys stay small).
MAX_URL_LENGTH = 4096

_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_ESCAPE = re.compile("%[0-9A-Fa-f]{2}")
_DNS_NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?\Z")
_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
# An upper-case escape of a character that is not unreserved.
_KEPT_ESCAPE = "%(?:[01][0-9A-F]|2[0-9A-CF]|3[A-F]|40|5[B-E]|60|7[B-DF]|[89A-F][0-9A-F])"
# What the WHATWG parser gives back unchanged and needs no further step: a lower-case
# host name whose last label is no number (else it would be read as IPv4), or IPv4 in
# dotted decimal; a port; a path and a query of characters that are never
# percent-encoded and of escapes that stay; no fragment.  Dot segments are ruled out
# apart.
_HOST_AND_PORT = (r"https?://(?:(?:[a-z0-9_-]+\.)*[a-z][a-z0-9_-]*\.?|(?:{0}\.){{3}}{0})"
                  r"(?::([1-9][0-9]{{0,4}}))?/").format(_OCTET)


def canonical_suffix_pattern(end=r"\Z"):
    """The regular expression (text) of the rest of a canonical path (after a "/") and
    its query, followed by ``end`` (a pattern: where the URL ends, or what may follow it
    there -- a fragment, for a link value)."""
    return (r"[A-Za-z0-9._~!$&'()*+,;=:@/-]*(?:{0}[A-Za-z0-9._~!$&'()*+,;=:@/-]*)*"
            r"(?:\?(?!{1})[A-Za-z0-9._~!$&()*+,;=:@/?-]*"
            r"(?:{0}[A-Za-z0-9._~!$&()*+,;=:@/?-]*)*)?{1}".format(_KEPT_ESCAPE, end))


# The rest of the path (after a "/") and the query.
_PATH_AND_QUERY = canonical_suffix_pattern()
_CANONICAL = re.compile(_HOST_AND_PORT + _PATH_AND_QUERY)
_CANONICAL_SUFFIX = re.compile(_PATH_AND_QUERY)


def is_canonical(url):
    """True when ``url`` is a canonical http(s) URL already, told without parsing it."""
    match = _CANONICAL.match(url)
    if match is None or "/." in url:
        return False
    port = match.group(1)
    # (no leading zeros: five digits compare as numbers do)
    return port is None or (port != ("443" if url[4] == "s" else "80")
                            and (len(port) < 5 or port <= "65535"))


def is_canonical_suffix(text):
    """True when a canonical URL without a query whose path ends in ``/``, followed by
    ``text``, is canonical too (``is_canonical`` of the two without the host part)."""
    return (_CANONICAL_SUFFIX.match(text) is not None and not text.startswith(".")
            and "/." not in text)


def canonicalize(url, sort_query=False):
    """The canonical form of ``url``; ``ValueError`` says why a URL is unusable."""
    if not isinstance(url, str):
        raise ValueError("URL must be a string, got %r" % (url,))
    if len(url) > MAX_URL_LENGTH:
        raise ValueError("URL longer than %d characters" % MAX_URL_LENGTH)
    if is_canonical(url) and not (sort_query and "?" in url):
        return url
    canonical = _canonical_form(url, sort_query)
    if len(canonical) > MAX_URL_LENGTH:
        raise ValueError("URL longer than %d characters once percent-encoded: %.60r..."
                         % (MAX_URL_LENGTH, url))
    return canonical


def check_seed(url):
    """``url`` if it is a seed a crawl can start from: an http:// or https:// URL with a
    host and a valid port, written out (``http:///x``, which a browser would read as
    ``http://x/``, is refused); ``ValueError`` otherwise."""
    try:
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is not None:
            parts.port  # noqa: B018 -- raises ValueError unless the port is valid
            canonicalize(url)
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in DEFAULT_PORTS or not parts.hostname:
        raise ValueError("seed URL %r is not an http:// or https:// URL with a host "
                         "(write it like http://example.com/)" % (url,))
    return url


def _canonical_form(url, sort_query):
    try:
        href = normalize_url(url)
    except ValueError:
        raise ValueError("cannot canonicalise %r: not a valid URL" % (url,)) from None
    scheme = href[:href.index(":")]
    if scheme not in DEFAULT_PORTS:
        raise ValueError("cannot canonicalise %r: scheme %r is not crawlable (only http and "
                         "https are)" % (url, scheme))
    # a parsed http(s) URL is scheme://[userinfo@]host[:port]/path[?query][#fragment]
    authority, _, rest = href[len(scheme) + 3:].partition("#")[0].partition("/")
    host = authority.rpartition("@")[2]
    if host.startswith("["):
        hostname, port = host[:host.index("]") + 1], host[host.index("]") + 2:]
    else:
        hostname, _, port = host.partition(":")
    if port == "0":
        raise ValueError("cannot canonicalise %r: port 0 cannot be connected to" % (url,))
    if not (hostname.startswith("[") or _DNS_NAME.match(hostname)):
        raise ValueError("cannot canonicalise %r: host %r cannot be a DNS name"
                         % (url, hostname))
    path, _, query = rest.partition("?")
    query = _decode_unreserved(query)
    if sort_query and query:
        query = "&".join(sorted(filter(None, query.split("&")),
                                key=lambda param: param.partition("=")[::2]))
    return "%s://%s/%s%s" % (scheme, authority, _decode_unreserved(path),
                             "?" + query if query else "")


def _decode_unreserved(text):
    """``text`` with escapes of unreserved characters decoded, the others upper-cased."""
    return _ESCAPE.sub(_normal_escape, text) if "%" in text else text


def _normal_escape(match):
    escape = match.group()
    char = chr(int(escape[1:], 16))
    return char if char in _UNRESERVED else escape.upper()


def host_key(url):
    """Host plus non-default port of a canonical URL: ``example.com:8080``."""
    rest = url.partition("://")[2]
    end = rest.find("/")
    netloc = rest if end < 0 else rest[:end]
    return netloc.rpartition("@")[2]


def origin(url):
    """``scheme://host[:port]`` of a canonical URL (one robots.txt per origin)."""
    return "%s://%s" % (url.partition("://")[0], host_key(url))


def hostname(url):
    """The host name alone (no port, no credentials) of a canonical URL."""
    return key_hostname(host_key(url))


def key_hostname(key):
    """The host name alone of a host key (``host_key``): ``example.com`` of
    ``example.com:8080``."""
    if key.startswith("["):
        return key[:key.index("]") + 1]
    return key.partition(":")[0]


def host_and_port(url):
    """``(host, port)`` of a canonical URL, the port defaulted by scheme (for DNS)."""
    parts = urlsplit(url)
    return parts.hostname, parts.port or DEFAULT_PORTS.get(parts.scheme, 80)


def credentials(url):
    """``(user, password)`` from ``user:pass@`` in the URL, or ``None``."""
    rest = url.partition("://")[2]
    netloc = rest.split("/", 1)[0]
    if "@" not in netloc:
        return None
    userinfo = netloc.rpartition("@")[0]
    user, sep, password = userinfo.partition(":")
    if not sep:
        return None
    return unquote(user), unquote(password)
