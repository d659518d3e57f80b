"""Settings: defaults, user module, overrides, late-derived values, type checks."""
import logging
import os
import sys
import types

import pytest

from spyder import defaultsettings
from spyder.core.settings import (Settings, SettingsError, UnknownSettingWarning,
                                  load_settings, parse_override)

pytestmark = pytest.mark.timeout(30)


def module(**values):
    mod = types.ModuleType("user_settings")
    for name, value in values.items():
        setattr(mod, name, value)
    return mod


def test_loading_default_settings_works():
    settings = Settings()
    assert settings.LOG_LEVEL_MASTER == logging.INFO
    assert settings.MAX_CLIENTS == 10
    assert settings.FRONTIER_CLASS == "spyder.core.frontier.MultipleHostFrontier"
    assert not hasattr(defaultsettings, "LOCAL_TIMEZONE")


def test_loading_custom_settings_works():
    settings = Settings(module(ZEROMQ_MGMT_WORKER="test"))
    assert settings.ZEROMQ_MGMT_WORKER == "test"


def test_settings_say_where_they_came_from(tmp_path):
    # the processes log this line at start: a ./settings.py picked up unawares shows
    assert Settings().source == "the defaults (no settings module)"
    path = tmp_path / "mysettings.py"
    path.write_text("MAX_CLIENTS = 3\n")
    settings = load_settings(str(path), ["MAX_CLIENTS=4", "LEASE_TIMEOUT=9.0"])
    assert settings.source == ("settings module %s with -s LEASE_TIMEOUT, MAX_CLIENTS" % path)
    assert settings.MAX_CLIENTS == 4


def test_every_default_has_a_one_line_comment():
    lines = open(defaultsettings.__file__).read().splitlines()
    for index, line in enumerate(lines):
        name = line.split("=")[0].strip()
        if line and not line[0].isspace() and name.isupper() and "=" in line:
            assert lines[index - 1].startswith("# "), "%s has no comment above it" % name


def test_defaults_cannot_be_mutated_through_settings():
    first = Settings()
    first.SPYDER_EXTRACTOR_PIPELINE.extend(first.SPYDER_SCOPER_PIPELINE)
    first.STATIC_DNS_MAPPINGS["a:80"] = ("1.2.3.4", 80)
    second = Settings()
    assert len(second.SPYDER_EXTRACTOR_PIPELINE) == 5
    assert second.STATIC_DNS_MAPPINGS == {}
    assert len(defaultsettings.SPYDER_EXTRACTOR_PIPELINE) == 5


def test_socket_addresses_live_in_a_private_per_user_directory():
    settings = Settings()
    directory = settings.PARENT_SOCKET_DIRECTORY
    assert directory.endswith("spyder-%d" % os.getuid())
    assert settings.ZEROMQ_MASTER_PUSH == "ipc://%s/spyder-zmq-master-push.sock" % directory
    assert settings.ZEROMQ_LOGGING == "ipc://%s/spyder-logging.sock" % directory


def test_derived_values_follow_the_merged_settings():
    settings = Settings(module(PARENT_SOCKET_DIRECTORY="/run/crawl"),
                        {"ZEROMQ_MASTER_PUSH": "tcp://10.0.0.1:5005", "REQUEST_TIMEOUT": 7.0})
    assert settings.ZEROMQ_WORKER_PROC_FETCHER_PULL == "tcp://10.0.0.1:5005"
    assert settings.ZEROMQ_MASTER_SUB == "ipc:///run/crawl/spyder-zmq-master-sub.sock"
    assert settings.ZEROMQ_WORKER_PROC_EXTRACTOR_PUB == settings.ZEROMQ_MASTER_SUB
    assert settings.CONNECT_TIMEOUT == 7.0
    assert settings.LEASE_TIMEOUT == 2 * 7.0 + 30.0
    # setting the worker-side end moves the master-side one too
    worker_side = Settings(overrides={"ZEROMQ_WORKER_PROC_EXTRACTOR_PUB": "tcp://h:5006"})
    assert worker_side.ZEROMQ_MASTER_SUB == "tcp://h:5006"
    # and derived values are resolved when read, after later assignments
    settings.REQUEST_TIMEOUT = 3.0
    assert settings.CONNECT_TIMEOUT == 3.0


def test_retired_settings_warn_and_are_ignored():
    with pytest.warns(UnknownSettingWarning,
                      match=r"ZEROMQ_WORKER_PROC_FETCHER_PUSH in .* is no longer used: .*directly"):
        settings = Settings(module(ZEROMQ_WORKER_PROC_FETCHER_PUSH="inproc://x"))
    assert "ZEROMQ_WORKER_PROC_FETCHER_PUSH" not in settings


def test_wrong_types_fail_with_name_value_and_expected_type():
    with pytest.raises(SettingsError, match=r"MAX_CLIENTS = 'ten' is a str, expected int"):
        Settings(module(MAX_CLIENTS="ten"))
    with pytest.raises(SettingsError, match=r"ROBOTSTXT_OBEY = 1 is a int, expected bool"):
        Settings(overrides={"ROBOTSTXT_OBEY": 1})
    with pytest.raises(SettingsError, match=r"PROXY_PORT = '80' is a str, expected int or None"):
        Settings(overrides={"PROXY_PORT": "80"})
    assert Settings(overrides={"REQUEST_TIMEOUT": 5}).REQUEST_TIMEOUT == 5  # int for float


def test_unknown_names_warn_with_the_closest_setting():
    with pytest.warns(UnknownSettingWarning, match=r"MAX_CLIENT .*did you mean MAX_CLIENTS"):
        settings = Settings(module(MAX_CLIENT=3))
    assert settings.MAX_CLIENT == 3  # kept, for the user's own components


def test_parse_override_literals_and_strings():
    assert parse_override("MAX_CLIENTS=5") == ("MAX_CLIENTS", 5)
    assert parse_override("SEED_URLS=['http://a/']") == ("SEED_URLS", ["http://a/"])
    assert parse_override("USER_AGENT=my bot/1.0") == ("USER_AGENT", "my bot/1.0")
    assert parse_override("FRONTIER_STATE_FILE=:memory:") == ("FRONTIER_STATE_FILE", ":memory:")
    with pytest.raises(SettingsError):
        parse_override("MAX_CLIENTS")
    with pytest.raises(SettingsError):
        parse_override("max_clients=3")


def test_load_settings_from_path_module_cwd_and_environment(tmp_path, monkeypatch):
    crawl = tmp_path / "crawl"
    crawl.mkdir()
    (crawl / "settings.py").write_text("MAX_CLIENTS = 4\n")
    monkeypatch.chdir(tmp_path)
    assert load_settings(str(crawl / "settings.py")).MAX_CLIENTS == 4
    assert load_settings(str(crawl / "settings.py"), ["MAX_CLIENTS=6"]).MAX_CLIENTS == 6
    # no settings.py here and no $SPYDER_SETTINGS: defaults
    monkeypatch.delenv("SPYDER_SETTINGS", raising=False)
    assert load_settings().MAX_CLIENTS == 10
    monkeypatch.setenv("SPYDER_SETTINGS", str(crawl / "settings.py"))
    assert load_settings().MAX_CLIENTS == 4
    monkeypatch.chdir(crawl)
    monkeypatch.delenv("SPYDER_SETTINGS")
    assert load_settings().MAX_CLIENTS == 4
    (tmp_path / "dotted_crawl_settings.py").write_text("MAX_CLIENTS = 8\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert load_settings("dotted_crawl_settings").MAX_CLIENTS == 8
    sys.modules.pop("dotted_crawl_settings", None)


def test_broken_settings_modules_fail_clearly(tmp_path):
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(str(tmp_path / "missing.py"))
    (tmp_path / "broken.py").write_text("MAX_CLIENTS = (\n")
    with pytest.raises(SettingsError, match="cannot load settings file .*broken.py: SyntaxError"):
        load_settings(str(tmp_path / "broken.py"))
    with pytest.raises(SettingsError, match="cannot import settings module 'no.such.module'"):
        load_settings("no.such.module")


def test_example_settings_module_loads_cleanly():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        settings = load_settings(os.path.join(root, "settings.py"))
    assert settings.USER_AGENT
