"""DnsCache: static mappings, LRU + TTL, shared lookups, failures, IPv4 and IPv6."""
import asyncio
import socket

import pytest

from spyder.core.dnscache import CachingResolver, DnsCache
from spyder.core.settings import Settings, SettingsError

pytestmark = pytest.mark.timeout(30)


class FakeResolver:
    """Answers from a dict, counts calls, and can hold answers until released."""

    def __init__(self, answers):
        self.answers = answers
        self.calls = []
        self.gate = None

    async def resolve(self, host, port, family=socket.AF_UNSPEC):
        self.calls.append((host, port))
        if self.gate is not None:
            await self.gate.wait()
        answer = self.answers.get(host)
        if answer is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(fam, (ip, port) if fam == socket.AF_INET else (ip, port, 0, 0))
                for fam, ip in answer]


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def make(answers=None, clock=None, **overrides):
    settings = Settings(overrides=overrides)
    resolver = FakeResolver(answers or {})
    return DnsCache(settings, resolver=resolver, clock=clock or Clock()), resolver


def run(coro):
    return asyncio.run(coro)


def test_dns_cache_resolves_localhost_for_real():
    cache = DnsCache(Settings())

    async def go():
        return await cache.resolve("localhost", 80), await cache.resolve("localhost", 81)

    first, second = run(go())
    assert first[0] in ("127.0.0.1", "::1") and first[1] == 80
    assert second[0] in ("127.0.0.1", "::1") and second[1] == 81
    assert cache.get_cached("localhost", 80) == first
    assert cache.get_cached("LOCALHOST", 80) == first


def test_static_dns_mapping_wins():
    cache, resolver = make({"example.com": [(socket.AF_INET, "93.184.216.34")]},
                           STATIC_DNS_MAPPINGS={"example.com:80": ("127.0.0.1", 8080),
                                                "v6.example.com:443": ("::1", 8443)})

    async def go():
        return (await cache.resolve("example.com", 80), await cache.resolve("example.com", 81),
                await cache.addresses("v6.example.com", 443))

    static, resolved, v6 = run(go())
    assert static == ("127.0.0.1", 8080)
    assert resolved == ("93.184.216.34", 81)
    assert v6 == [(socket.AF_INET6, ("::1", 8443))]
    assert resolver.calls == [("example.com", 81)]
    assert cache.get_cached("Example.COM", 80) == ("127.0.0.1", 8080)


def test_lru_evicts_the_least_recently_used():
    cache, resolver = make({"a": [(socket.AF_INET, "10.0.0.1")],
                            "b": [(socket.AF_INET, "10.0.0.2")]}, SIZE_DNS_CACHE=1)

    async def go():
        await cache.resolve("a", 80)
        await cache.resolve("a", 80)
        await cache.resolve("b", 80)
        await cache.resolve("a", 80)

    run(go())
    assert resolver.calls == [("a", 80), ("b", 80), ("a", 80)]
    assert len(cache) == 1
    assert cache.get_cached("b", 80) is None
    assert cache.get_cached("a", 80) == ("10.0.0.1", 80)


def test_entries_expire_after_the_ttl():
    clock = Clock()
    cache, resolver = make({"a": [(socket.AF_INET, "10.0.0.1")]}, clock=clock,
                           DNS_CACHE_TTL=60.0)

    async def go():
        await cache.resolve("a", 80)
        clock.now += 59
        assert cache.get_cached("a", 80) == ("10.0.0.1", 80)
        await cache.resolve("a", 80)
        clock.now += 2
        assert cache.get_cached("a", 80) is None
        await cache.resolve("a", 80)

    run(go())
    assert resolver.calls == [("a", 80), ("a", 80)]


def test_concurrent_misses_share_one_lookup():
    cache, resolver = make({"a": [(socket.AF_INET, "10.0.0.1")]})

    async def go():
        resolver.gate = asyncio.Event()
        tasks = [asyncio.ensure_future(cache.resolve("a", 80)) for _ in range(5)]
        await asyncio.sleep(0)
        resolver.gate.set()
        return await asyncio.gather(*tasks)

    assert run(go()) == [("10.0.0.1", 80)] * 5
    assert resolver.calls == [("a", 80)]


def test_a_cancelled_caller_leaves_the_shared_lookup_to_the_others():
    cache, resolver = make({"a": [(socket.AF_INET, "10.0.0.1")]})

    async def go():
        resolver.gate = asyncio.Event()
        first = asyncio.ensure_future(cache.resolve("a", 80))
        second = asyncio.ensure_future(cache.resolve("a", 80))
        await asyncio.sleep(0)
        first.cancel()
        await asyncio.sleep(0)
        resolver.gate.set()
        return first.cancelled(), await second

    assert run(go()) == (True, ("10.0.0.1", 80))
    assert resolver.calls == [("a", 80)]
    assert cache.get_cached("a", 80) == ("10.0.0.1", 80)


def test_failures_raise_oserror_and_are_not_cached():
    cache, resolver = make({})

    async def go():
        for _ in range(2):
            with pytest.raises(OSError):
                await cache.resolve("nowhere.invalid", 80)

    run(go())
    assert resolver.calls == [("nowhere.invalid", 80)] * 2
    assert cache.get_cached("nowhere.invalid", 80) is None


def test_ipv6_and_ipv4_answers_and_family_filter():
    cache, _ = make({"dual": [(socket.AF_INET6, "2001:db8::1"), (socket.AF_INET, "10.0.0.1")]})

    async def go():
        return (await cache.resolve("dual", 443),
                await cache.addresses("dual", 443, socket.AF_INET),
                await cache.addresses("dual", 443))

    first, v4, both = run(go())
    assert first == ("2001:db8::1", 443)
    assert v4 == [(socket.AF_INET, ("10.0.0.1", 443))]
    assert len(both) == 2


def test_ip_literals_are_not_looked_up():
    cache, resolver = make({})

    async def go():
        return await cache.resolve("127.0.0.1", 8080), await cache.resolve("::1", 80)

    assert run(go()) == (("127.0.0.1", 8080), ("::1", 80))
    assert resolver.calls == []


@pytest.mark.parametrize("mapping", [{"example.com": ("127.0.0.1", 80)},
                                     {"example.com:80": "127.0.0.1"},
                                     {"example.com:80": ("not-an-ip", 80)},
                                     {"example.com:http": ("127.0.0.1", 80)}])
def test_bad_static_mappings_are_a_clear_settings_error(mapping):
    with pytest.raises(SettingsError, match="STATIC_DNS_MAPPINGS"):
        DnsCache(Settings(overrides={"STATIC_DNS_MAPPINGS": mapping}))


def test_caching_resolver_is_a_tornado_resolver():
    cache, _ = make({}, STATIC_DNS_MAPPINGS={"site.test:80": ("127.0.0.1", 8080)})
    resolver = CachingResolver(dns_cache=cache)

    async def go():
        return await resolver.resolve("site.test", 80)

    assert run(go()) == [(socket.AF_INET, ("127.0.0.1", 8080))]
