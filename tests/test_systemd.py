"""The systemd units in contrib/systemd: they carry the promised settings, pass
``systemd-analyze verify``, and their ExecStart lines start a daemon that reports
READY=1 on a test NOTIFY_SOCKET and exits 0 on SIGTERM."""
import os
import shlex
import shutil
import signal
import socket
import subprocess
import time

import pytest

from spyder import defaultsettings

UNIT_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "contrib", "systemd")
SERVICES = ("spyder-master.service", "spyder-worker@.service", "spyder-logsink.service")


def _read_unit(name):
    """``{section: {key: [values]}}`` of a unit file (keys may repeat)."""
    sections, current = {}, None
    with open(os.path.join(UNIT_DIR, name), encoding="utf-8") as unit:
        for raw in unit:
            line = raw.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                current = sections.setdefault(line.strip("[]"), {})
                continue
            key, _, value = line.partition("=")
            current.setdefault(key.strip(), []).append(value.strip())
    return sections


def _one(section, key):
    values = section.get(key)
    assert values and len(values) == 1, "%s= once" % key
    return values[0]


def _seconds(value):
    value = value.strip()
    for suffix, factor in (("min", 60), ("ms", 0.001), ("s", 1), ("h", 3600)):
        if value.endswith(suffix):
            return float(value[:-len(suffix)]) * factor
    return float(value)


@pytest.mark.timeout(10)
def test_units_carry_the_promised_settings():
    master = _read_unit("spyder-master.service")["Service"]
    assert _one(master, "Type") == "notify"
    assert _one(master, "Restart") == "on-failure"
    assert _one(master, "KillSignal") == "SIGTERM"
    assert _seconds(_one(master, "WatchdogSec")) > 0
    assert _seconds(_one(master, "TimeoutStopSec")) > defaultsettings.SHUTDOWN_TIMEOUT + 10
    exec_start = _one(master, "ExecStart")
    assert shlex.split(exec_start)[1:4] == ["master", "--settings", "/etc/spyder/settings.py"]
    assert "FRONTIER_STATE_FILE=%S/spyder/" in exec_start
    assert master["StateDirectory"] == ["spyder"]
    for name in SERVICES:
        service = _read_unit(name)["Service"]
        assert service["User"] == ["spyder"], name
        assert service["RuntimeDirectory"] == ["spyder"], name
        assert service["RuntimeDirectoryPreserve"] == ["yes"], name   # shared by all units
        assert "PARENT_SOCKET_DIRECTORY=%t/spyder" in service["ExecStart"][0], name
        for key, value in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                           ("PrivateTmp", "yes"), ("ProtectHome", "yes")):
            assert service[key] == [value], (name, key)
        assert _read_unit(name)["Unit"]["PartOf"] == ["spyder.target"]
        assert _read_unit(name)["Install"]["WantedBy"] == ["spyder.target"]
    assert "spyder-master.service" in _read_unit("spyder.target")["Unit"]["Wants"][0]


def _installed_spyder():
    return shutil.which("spyder")


def _copy_units(directory):
    """Copy the units into ``directory`` with ExecStart pointing at the installed spyder."""
    spyder = _installed_spyder()
    for name in os.listdir(UNIT_DIR):
        with open(os.path.join(UNIT_DIR, name), encoding="utf-8") as unit:
            text = unit.read()
        with open(os.path.join(directory, name), "w", encoding="utf-8") as copy:
            copy.write(text.replace("/usr/local/bin/spyder", spyder))


@pytest.mark.timeout(60)
def test_systemd_analyze_verify(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    if _installed_spyder() is None:
        pytest.skip("the spyder console script is not on PATH")
    _copy_units(tmp_path)
    units = [str(tmp_path / n) for n in SERVICES + ("spyder.target",)]
    units.append(str(tmp_path / "spyder-worker@1.service"))  # an instance of the template
    shutil.copy(tmp_path / "spyder-worker@.service", tmp_path / "spyder-worker@1.service")
    result = subprocess.run(["systemd-analyze", "verify"] + units, capture_output=True,
                            text=True, timeout=50)
    if result.returncode != 0 and "Failed to " in result.stderr and "spyder" not in result.stderr:
        pytest.skip("systemd-analyze cannot run here: %s" % result.stderr.strip()[:200])
    ours = [line for line in result.stderr.splitlines() if "spyder" in line]
    assert result.returncode == 0 and not ours, result.stderr


def _exec_start(name, root, settings_file):
    """The unit's ExecStart as argv, specifiers resolved into directories under ``root``."""
    service = _read_unit(name)["Service"]
    line = service["ExecStart"][0].lstrip("-@+!")
    paths = {"t": "run", "S": "state", "L": "log"}
    for spec, sub in paths.items():
        line = line.replace("%" + spec, os.path.join(root, sub))
    line = line.replace("%i", "1").replace("%%", "%")
    argv = shlex.split(line)
    argv[0] = _installed_spyder()
    argv[argv.index("--settings") + 1] = settings_file
    for key in ("RuntimeDirectory", "StateDirectory", "LogsDirectory"):
        for value in service.get(key, []):
            sub = {"RuntimeDirectory": "run", "StateDirectory": "state", "LogsDirectory": "log"}
            os.makedirs(os.path.join(root, sub[key], value), mode=0o700, exist_ok=True)
    cwd = service.get("WorkingDirectory", [root])[0]
    for spec, sub in paths.items():
        cwd = cwd.replace("%" + spec, os.path.join(root, sub))
    return argv, cwd


def _receive(sock, wanted, deadline, received):
    while not any(wanted in message for message in received):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        sock.settimeout(remaining)
        try:
            received.append(sock.recv(4096).decode())
        except socket.timeout:
            return False
    return True


@pytest.mark.timeout(60)
@pytest.mark.parametrize("unit", ["spyder-master.service", "spyder-worker@.service",
                                  "spyder-logsink.service"])
def test_exec_start_reports_ready_and_stops_on_sigterm(unit, socket_dir):
    if _installed_spyder() is None:
        pytest.skip("the spyder console script is not on PATH")
    settings_file = os.path.join(socket_dir, "settings.py")
    with open(settings_file, "w") as out:
        out.write("# settings of the systemd test\nSHUTDOWN_TIMEOUT = 3.0\n")
    argv, cwd = _exec_start(unit, socket_dir, settings_file)
    notify_path = os.path.join(socket_dir, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(notify_path)
    env = dict(os.environ, NOTIFY_SOCKET=notify_path, WATCHDOG_USEC="1000000")
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    received = []
    try:
        ready = _receive(sock, "READY=1", time.monotonic() + 30, received)
        if not ready:
            proc.kill()
            out, err = proc.communicate(10)
            pytest.fail("%s: no READY=1 within 30 s (exit %s): %s" % (unit, proc.returncode, err))
        if unit == "spyder-master.service":
            assert _receive(sock, "WATCHDOG=1", time.monotonic() + 5, received), received
            assert os.path.exists(os.path.join(socket_dir, "state", "spyder", "state.db"))
            assert os.path.isdir(os.path.join(socket_dir, "run", "spyder"))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0, proc.stderr.read()
        if unit == "spyder-master.service":
            assert _receive(sock, "STOPPING=1", time.monotonic() + 1, received), received
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
        sock.close()
