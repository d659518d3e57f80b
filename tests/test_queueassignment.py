"""Queue assignment: host based, and IP based without blocking the master's loop."""
import asyncio
import socket
import time

import pytest

from spyder.core.crawluri import CrawlUri
from spyder.core.dnscache import DnsCache
from spyder.core.frontier.frontiers import MultipleHostFrontier
from spyder.core.frontier.queueassignment import HostBasedQueueAssignment, IpBasedQueueAssignment
from spyder.core.settings import Settings
from test_frontier_support import Clock, drain, make_settings


class ControlledResolver:
    """A tornado-Resolver stand-in whose answers the test releases."""

    def __init__(self, addresses):
        self.addresses = addresses   # host -> ip (missing: lookup fails)
        self.released = None
        self.asked = []

    async def resolve(self, host, port, family=socket.AF_UNSPEC):
        self.asked.append(host)
        if self.released is None:
            self.released = asyncio.Event()
        await self.released.wait()
        if host not in self.addresses:
            raise socket.gaierror(socket.EAI_NONAME, "no such host %s" % host)
        return [(socket.AF_INET, (self.addresses[host], port))]


RESOLVER = ControlledResolver({})


class ControlledIpAssignment(IpBasedQueueAssignment):
    """IpBasedQueueAssignment resolving through RESOLVER (importable by dotted path)."""

    def __init__(self, settings=None, dns_cache=None):
        super().__init__(settings, DnsCache(settings, resolver=RESOLVER))


async def _wait_for(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def test_host_based_assignment():
    assignment = HostBasedQueueAssignment(Settings())
    assert not assignment.needs_resolution
    assert assignment.get_identifier("http://www.example.com/a") == "www.example.com"
    assert assignment.get_identifier("https://www.example.com:8443/") == "www.example.com:8443"
    assert assignment.get_identifier("http://u:p@example.com/") == "example.com"


def test_ip_based_assignment_resolves_asynchronously():
    async def main():
        resolver = ControlledResolver({"localhost": "127.0.0.1"})
        settings = Settings()
        assignment = IpBasedQueueAssignment(settings, DnsCache(settings, resolver=resolver))
        url = "http://localhost:12345/robots.txt"
        assert assignment.get_identifier(url) is None
        answers = []
        assignment.resolve(url, lambda key, ident: answers.append((key, ident)))
        assignment.resolve(url, lambda key, ident: answers.append("second lookup"))
        await _wait_for(lambda: resolver.asked)
        assert assignment.pending == 1
        resolver.released.set()
        await _wait_for(lambda: answers)
        assert answers == [("localhost:12345", "127.0.0.1")]
        assert assignment.pending == 0
        assert assignment.get_identifier(url) == "127.0.0.1"
        assert resolver.asked == ["localhost"]
    asyncio.run(main())


def test_ip_based_assignment_falls_back_to_the_host_when_resolution_fails():
    async def main():
        resolver = ControlledResolver({})
        settings = Settings()
        assignment = IpBasedQueueAssignment(settings, DnsCache(settings, resolver=resolver))
        answers = []
        assignment.resolve("http://nowhere.invalid:81/", lambda *a: answers.append(a))
        await _wait_for(lambda: resolver.asked)
        resolver.released.set()
        await _wait_for(lambda: answers)
        assert answers == [("nowhere.invalid:81", "nowhere.invalid:81")]
    asyncio.run(main())


def test_static_mappings_and_literal_addresses_need_no_lookup():
    settings = Settings()
    settings.STATIC_DNS_MAPPINGS = {"static.test:80": ("10.1.2.3", 8080)}
    assignment = IpBasedQueueAssignment(settings)
    assert assignment.get_identifier("http://static.test/") == "10.1.2.3"
    assert assignment.get_identifier("http://127.0.0.1:12345/") == "127.0.0.1"


@pytest.fixture
def resolver():
    RESOLVER.__init__({"a.test": "10.0.0.1", "b.test": "10.0.0.1", "c.test": "10.0.0.2"})
    return RESOLVER


def _ip_settings(tmp_path):
    return make_settings(tmp_path, QUEUE_ASSIGNMENT_CLASS="test_queueassignment."
                                                         "ControlledIpAssignment")


def test_frontier_parks_urls_until_their_host_is_resolved(tmp_path, resolver):
    async def main():
        clock = Clock()
        frontier = MultipleHostFrontier(_ip_settings(tmp_path), clock=clock)
        for url in ("http://a.test/", "http://b.test/", "http://c.test/", "http://d.test/"):
            assert frontier.add_uri(CrawlUri(url=url))
        assert drain(frontier) == []
        assert frontier.stats()["unresolved"] == 4
        assert not frontier.crawl_done()
        assert frontier.next_due() is not None  # the master keeps looking
        await _wait_for(lambda: len(resolver.asked) == 4)
        resolver.released.set()
        await _wait_for(lambda: frontier.stats()["unresolved"] == 0)
        handed_out = {curi.url for curi in drain(frontier)}
        # a.test and b.test share 10.0.0.1, so only one of them may be in flight;
        # d.test could not be resolved and is queued under its own name
        assert len(handed_out) == 3
        assert len(handed_out & {"http://a.test/", "http://b.test/"}) == 1
        assert {"http://c.test/", "http://d.test/"} <= handed_out
        frontier.close()
    asyncio.run(main())


def test_parked_urls_survive_a_restart(tmp_path, resolver):
    async def main():
        settings = _ip_settings(tmp_path)
        frontier = MultipleHostFrontier(settings, clock=Clock())
        frontier.add_uri(CrawlUri(url="http://c.test/"))
        frontier.close()
        frontier = MultipleHostFrontier(settings, clock=Clock())
        assert frontier.stats()["unresolved"] == 1
        assert drain(frontier) == []  # starts the lookup again
        await _wait_for(lambda: resolver.asked)
        resolver.released.set()
        await _wait_for(lambda: frontier.stats()["unresolved"] == 0)
        assert [curi.url for curi in drain(frontier)] == ["http://c.test/"]
        frontier.close()
    asyncio.run(main())
