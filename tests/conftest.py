"""Shared pytest fixtures: a served demo site, a private socket directory, and
``wait_until`` (poll a condition with a deadline instead of sleeping)."""
import os
import tempfile
import time

import pytest

from spyder.demosite import DemoServer, DemoSite


def wait_until(predicate, timeout=10.0, interval=0.02, message="condition"):
    """Poll ``predicate`` until it returns a truthy value (returned); fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail("timed out after %.1f s waiting for %s" % (timeout, message))
        time.sleep(interval)


@pytest.fixture
def socket_dir():
    """A fresh private directory (mode 0700) for PARENT_SOCKET_DIRECTORY.

    Made under the system temp dir (not ``tmp_path``) so ipc socket paths stay short.
    """
    directory = tempfile.mkdtemp(prefix="spyder-t-")
    try:
        yield directory
    finally:
        for name in os.listdir(directory):
            try:
                os.unlink(os.path.join(directory, name))
            except OSError:
                pass
        os.rmdir(directory)


@pytest.fixture
def demo_site():
    """``demo_site(pages=.., hosts=.., seed=..)`` serves a generated site in a thread."""
    servers = []

    def start(pages=60, hosts=2, seed=1):
        server = DemoServer(DemoSite(pages, hosts, seed)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
