"""DnsCache: non-blocking host name resolution with static overrides and an LRU+TTL cache.

Two users: the worker's fetch stage resolves through it (wrapped as a tornado
``Resolver`` by ``CachingResolver``, so ``STATIC_DNS_MAPPINGS`` and the cache act
inside the HTTP client while the real URL -- Host header, SNI, certificate checks --
is fetched), and the master's ``IpBasedQueueAssignment`` maps hosts to IP addresses.

* ``STATIC_DNS_MAPPINGS`` (``"host:port" -> ("ip", port)``) always win;
* otherwise answers come from an LRU of ``SIZE_DNS_CACHE`` entries, each valid for
  ``DNS_CACHE_TTL`` seconds;
* a miss is resolved with ``getaddrinfo`` in the event loop's executor (never
  blocking the loop), IPv4 and IPv6 alike; concurrent misses for the same
  ``host:port`` share one lookup (cancelling one of them does not cancel it).
  Failures raise ``OSError`` (``socket.gaierror``) and are not cached.

``await cache.resolve(host, port)`` returns ``(ip, port)`` (the first address in the
system's preference order); ``cache.get_cached(host, port)`` answers from the static
map and the cache only (``None`` on a miss), without waiting.
"""
import asyncio
import collections
import ipaddress
import socket
import time

from tornado.netutil import DefaultLoopResolver, Resolver

from spyder.core.settings import SettingsError


def _family(ip):
    return socket.AF_INET6 if ipaddress.ip_address(ip).version == 6 else socket.AF_INET


def _parse_static(mappings):
    """``{"host:port": ("ip", port)}`` -> ``{(host, port): [(family, (ip, port))]}``."""
    static = {}
    for key, value in mappings.items():
        try:
            host, _, port = str(key).rpartition(":")
            host = host.strip("[]").lower()
            ip, target_port = value
            if not host or isinstance(target_port, bool):
                raise ValueError
            static[(host, int(port))] = [(_family(ip), (str(ip), int(target_port)))]
        except (TypeError, ValueError):
            raise SettingsError(
                "STATIC_DNS_MAPPINGS entry %r: %r is not valid; write it as "
                "\"host:port\": (\"ip address\", port), e.g. "
                "\"example.com:80\": (\"127.0.0.1\", 8080)" % (key, value)) from None
    return static


def _literal_ip(host):
    try:
        return _family(host)
    except ValueError:
        return None


class DnsCache:
    """Resolve ``host:port`` pairs without blocking; see the module docstring."""

    def __init__(self, settings, resolver=None, clock=time.monotonic):
        self._static = _parse_static(settings.STATIC_DNS_MAPPINGS)
        self._size = max(int(settings.SIZE_DNS_CACHE), 0)
        self._ttl = float(settings.DNS_CACHE_TTL)
        self._resolver = resolver or DefaultLoopResolver()
        self._clock = clock
        self._cache = collections.OrderedDict()   # (host, port) -> (expires, addresses)
        self._pending = {}                        # (host, port) -> asyncio.Task

    def __len__(self):
        return len(self._cache)

    async def resolve(self, host, port):
        """``(ip, port)`` of ``host:port``; raises ``OSError`` when it cannot be resolved."""
        family, address = (await self.addresses(host, port))[0]
        return address[0], address[1]

    def get_cached(self, host, port):
        """``(ip, port)`` from the static map or a fresh cache entry, else ``None``."""
        addresses = self._lookup_cached(host.lower(), int(port))
        if not addresses:
            return None
        return addresses[0][1][0], addresses[0][1][1]

    async def addresses(self, host, port, family=socket.AF_UNSPEC):
        """All ``(family, sockaddr)`` of ``host:port`` (the tornado ``Resolver`` result)."""
        key = (host.lower(), int(port))
        addresses = self._lookup_cached(*key)
        if addresses is None:
            task = self._pending.get(key)
            if task is None:
                task = asyncio.ensure_future(self._lookup(key))
                self._pending[key] = task
            addresses = await asyncio.shield(task)  # one caller cancelled: not the lookup
        if family != socket.AF_UNSPEC:
            addresses = [a for a in addresses if a[0] == family]
            if not addresses:
                raise socket.gaierror(socket.EAI_ADDRFAMILY if hasattr(socket, "EAI_ADDRFAMILY")
                                      else socket.EAI_FAMILY,
                                      "%s has no address of family %s" % (host, family))
        return addresses

    def _lookup_cached(self, host, port):
        key = (host, port)
        static = self._static.get(key)
        if static is not None:
            return static
        family = _literal_ip(host)
        if family is not None:
            return [(family, (host, port))]
        entry = self._cache.get(key)
        if entry is None:
            return None
        expires, addresses = entry
        if expires <= self._clock():
            del self._cache[key]
            return None
        self._cache.move_to_end(key)
        return addresses

    async def _lookup(self, key):
        try:
            found = await self._resolver.resolve(key[0], key[1], socket.AF_UNSPEC)
        finally:
            self._pending.pop(key, None)
        addresses = list(dict.fromkeys((fam, tuple(addr)) for fam, addr in found))
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, "%s has no address" % key[0])
        if self._size:
            self._cache[key] = (self._clock() + self._ttl, addresses)
            self._cache.move_to_end(key)
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return addresses


class CachingResolver(Resolver):
    """A tornado ``Resolver`` answering from a ``DnsCache`` (for the HTTP client)."""

    def initialize(self, dns_cache):
        self._dns_cache = dns_cache

    async def resolve(self, host, port, family=socket.AF_UNSPEC):
        return await self._dns_cache.addresses(host, port, family)
