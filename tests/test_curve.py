"""CurveZMQ: with ZEROMQ_CURVE_KEYS_DIR set, only workers holding the client key talk
to the master; everyone else's traffic never reaches it."""
import os

import pytest

from spyder.core.wire.sockets import create_context, create_keys
from spyder.errors import StartupError
from spyder.core.settings import Settings

from zmqfakes import FakeWorker, MasterProcess, free_tcp_port

pytestmark = pytest.mark.timeout(60)


def tcp_overrides(keys):
    ports = [free_tcp_port() for _ in range(5)]
    return {
        "ZEROMQ_MASTER_PUSH": "tcp://127.0.0.1:%d" % ports[0],
        "ZEROMQ_MASTER_SUB": "tcp://127.0.0.1:%d" % ports[1],
        "ZEROMQ_MGMT_MASTER": "tcp://127.0.0.1:%d" % ports[2],
        "ZEROMQ_MGMT_WORKER": "tcp://127.0.0.1:%d" % ports[3],
        "ZEROMQ_LOGGING": "tcp://127.0.0.1:%d" % ports[4],
        "ZEROMQ_CURVE_KEYS_DIR": keys,
        "SEED_URLS": ["http://example.test/secret"],
    }


def test_keys_are_private_and_the_client_is_authorized(tmp_path):
    keys = str(tmp_path / "keys")
    written = create_keys(keys)
    assert sorted(os.path.relpath(p, keys) for p in written) == sorted([
        "server.key", "server.key_secret", "client.key", "client.key_secret",
        os.path.join("authorized", "client.key")])
    assert oct(os.stat(keys).st_mode & 0o777) == "0o700"
    assert oct(os.stat(os.path.join(keys, "server.key_secret")).st_mode & 0o777) == "0o600"


def test_only_workers_with_the_keys_reach_the_master(tmp_path):
    keys = str(tmp_path / "keys")
    create_keys(keys)
    master = MasterProcess(tmp_path, tcp_overrides(keys)).start()
    stranger = FakeWorker(master.settings, identity=b"worker:stranger:1")
    trusted = FakeWorker(master.settings, identity=b"worker:trusted:1", curve_dir=keys)
    try:
        # the plain-text stranger hears nothing, not even the master's broadcasts
        for _ in range(10):
            stranger.send_mgmt(b"be here now", {"slots": 1, "free": 1})
            assert stranger.next_mgmt(0.1) is None
        trusted.register()
        work = trusted.recv_work()
        assert work.curi.url == "http://example.test/secret"
        assert trusted.status["workers"] == 1  # the stranger never registered
        assert stranger.recv_work(timeout=0.2) is None
    finally:
        stranger.close()
        trusted.close()
        master.stop()


def test_missing_keys_fail_with_the_command_to_make_them(tmp_path):
    settings = Settings(overrides={"ZEROMQ_CURVE_KEYS_DIR": str(tmp_path / "none")})
    with pytest.raises(StartupError, match="spyder keys .*none"):
        create_context(settings)
    master = MasterProcess(tmp_path, tcp_overrides(str(tmp_path / "none"))).start()
    try:
        assert master.wait() == 1
    finally:
        master.stop()
    assert "cannot read CurveZMQ certificate" in master.stderr


def test_a_refused_peer_is_logged_once_with_its_address(tmp_path):
    keys, other = str(tmp_path / "keys"), str(tmp_path / "other")
    create_keys(keys)
    create_keys(other)  # a client key the master does not know
    master = MasterProcess(tmp_path, tcp_overrides(keys)).start()
    stranger = FakeWorker(master.settings, identity=b"worker:stranger:1", curve_dir=other)
    trusted = FakeWorker(master.settings, identity=b"worker:trusted:1", curve_dir=keys)
    try:
        trusted.register()  # the master is up; the stranger kept retrying meanwhile
        for _ in range(10):
            stranger.send_mgmt(b"be here now", {"slots": 1, "free": 1})
            assert stranger.next_mgmt(0.1) is None
    finally:
        stranger.close()
        trusted.close()
    master.signal()
    master.wait()
    refusals = [line for line in master.stderr.splitlines() if "refused tcp://127.0.0.1:" in line]
    assert len(refusals) == 1, master.stderr[-3000:]
    assert "CurveZMQ authentication failed" in refusals[0]
