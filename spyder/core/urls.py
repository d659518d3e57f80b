"""URL canonicalisation and the URL parts the frontier keys on.

Every URL is canonicalised before the frontier's URL-seen test, so that one
resource has one spelling in the state file: ``canonicalize`` (w3lib underneath)
lower-cases scheme and host, encodes IRIs (IDNA host, UTF-8 percent-encoding),
removes the default port, resolves ``.``/``..`` path segments, normalises
percent-escapes in the path, drops the fragment and keeps the query order unless
``sort_query`` (``CANONICAL_SORT_QUERY``) asks for w3lib's sorted, normalised query.
Only ``http`` and ``https`` URLs are crawlable; anything else raises ``ValueError``.

The helpers below take *canonical* URLs and give the keys the frontier groups by:
``host_key`` (host plus non-default port: the default politeness queue),
``origin`` (scheme and host key: one robots.txt each), ``hostname`` (the seed-host
scope) and ``credentials`` (``user:pass@`` for HTTP basic auth).
"""
import re
from urllib.parse import unquote, urlsplit, urlunsplit

from w3lib.url import canonicalize_url, safe_url_string

#: Schemes the crawler fetches, with their default ports.
DEFAULT_PORTS = {"http": 80, "https": 443}

#: Longer URLs are refused (crawler traps; SQLite keys stay small).
MAX_URL_LENGTH = 4096

# URLs that are canonical already (ASCII, lower-case host, nothing to encode or
# resolve); they skip w3lib, which is the most expensive step of adding a link.
_ALREADY_CANONICAL = re.compile(
    r"https?://[a-z0-9][a-z0-9.-]*(?::[1-9][0-9]{0,4})?"
    r"/[A-Za-z0-9._~!$&'()*+,=:@/-]*"
    r"(?:\?[A-Za-z0-9._~!$&()*+,;=:@/?-]+)?\Z")
_HOST = re.compile(r"(?:[a-z0-9_-][a-z0-9_.-]*|[0-9a-f:.]*:[0-9a-f:.]*)\Z")


def canonicalize(url, sort_query=False):
    """The canonical form of ``url``; ``ValueError`` says why a URL is unusable."""
    if not isinstance(url, str):
        raise ValueError("URL must be a string, got %r" % (url,))
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise ValueError("URL longer than %d characters" % MAX_URL_LENGTH)
    if (_ALREADY_CANONICAL.match(url) and "/." not in url
            and (not sort_query or "?" not in url)):
        canonical = url
    else:
        canonical = _canonicalize_slow(url, sort_query)
    return _drop_default_port(canonical)


def _canonicalize_slow(url, sort_query):
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS:
            raise ValueError("scheme %r is not crawlable (only http and https are)"
                             % parts.scheme)
        if not parts.netloc:
            raise ValueError("no host")
        if sort_query:
            canonical = canonicalize_url(url)
        else:
            canonical = canonicalize_url(urlunsplit((parts.scheme, parts.netloc, parts.path,
                                                     "", "")))
            if parts.query:
                canonical += "?" + urlsplit(safe_url_string(url)).query
        check = urlsplit(canonical)
        check.port  # noqa: B018 -- raises ValueError for a port out of range
        if not check.hostname or not _HOST.match(check.hostname):
            raise ValueError("invalid host %r" % check.hostname)
        return canonical
    except ValueError as exc:  # includes UnicodeError (IDNA) and bad ports
        raise ValueError("cannot canonicalise %r: %s" % (url, exc)) from None


def _drop_default_port(url):
    scheme, _, rest = url.partition("://")
    end = rest.find("/")
    netloc = rest if end < 0 else rest[:end]
    host, sep, port = netloc.rpartition(":")
    if sep and not port.endswith("]") and port.isdigit() and "@" not in port:
        number = int(port)
        if not 0 < number < 65536:
            raise ValueError("cannot canonicalise %r: port %s out of range" % (url, port))
        if number == DEFAULT_PORTS.get(scheme):
            return "%s://%s%s" % (scheme, host, "" if end < 0 else rest[end:])
    return url


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
    key = host_key(url)
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
