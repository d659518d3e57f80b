"""Shared pytest fixtures: a served demo site, a private socket directory, and
``wait_until`` / ``async_wait_until`` (poll a condition with a deadline instead of
sleeping)."""
import asyncio
import shutil
import tempfile
import time

import pytest

from spyder.demosite import DemoServer, DemoSite


def _polled(predicate, deadline, timeout, message):
    """``predicate()``; fails the test if it is falsy and ``deadline`` has passed."""
    value = predicate()
    if not value and time.monotonic() >= deadline:
        pytest.fail("timed out after %.1f s waiting for %s" % (timeout, message))
    return value


def wait_until(predicate, timeout=10.0, interval=0.02, message="condition"):
    """Poll ``predicate`` until it returns a truthy value (returned); fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not (value := _polled(predicate, deadline, timeout, message)):
        time.sleep(interval)
    return value


async def async_wait_until(predicate, timeout=10.0, interval=0.01, message="condition"):
    """``wait_until`` on a running event loop: polls without blocking it."""
    deadline = time.monotonic() + timeout
    while not (value := _polled(predicate, deadline, timeout, message)):
        await asyncio.sleep(interval)
    return value


@pytest.fixture
def socket_dir():
    """A fresh private directory (mode 0700) for PARENT_SOCKET_DIRECTORY (or other
    sockets), made under the system temp dir, not ``tmp_path``, so ipc paths stay short."""
    directory = tempfile.mkdtemp(prefix="spyder-t-")
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def demo_site():
    """``demo_site(pages=.., hosts=.., seed=.., latency=..)`` serves a generated site in a
    thread (see ``spyder.demosite.DemoServer``)."""
    servers = []

    def start(pages=60, hosts=2, seed=1, latency=0.0):
        server = DemoServer(DemoSite(pages, hosts, seed), latency=latency).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def redis_cluster():
    """A real Redis Cluster on loopback ports (3 primaries + 3 replicas) for the whole
    session, torn down on every exit path (``tests/rediscluster.py``); skipped with the
    reason when redis-server, redis-cli or the redis package is missing."""
    import rediscluster
    why = rediscluster.missing()
    if why:
        pytest.skip(why)
    cluster = rediscluster.RedisCluster(primaries=3, replicas=1).start()
    try:
        yield cluster
    finally:
        cluster.stop()
