"""``EVENT_LOOP``: the event loop master, workers and logsink run on (asyncio's or uvloop's);
tests/test_e2e.py crawls on each."""
import asyncio
import os
import signal
import sys
import time

import pytest

from spyder.core.eventloop import handle_signals, loop_kind, new_event_loop, new_io_loop
from spyder.core.settings import Settings, SettingsError

pytestmark = pytest.mark.timeout(30)


def _loop(choice):
    loop = new_event_loop(Settings(overrides={"EVENT_LOOP": choice}))
    try:
        return loop_kind(loop), isinstance(loop, asyncio.AbstractEventLoop)
    finally:
        loop.close()


def test_asyncio_is_the_standard_library_s_loop():
    assert _loop("asyncio") == ("asyncio", True)


def test_without_uvloop_auto_takes_asyncio_and_uvloop_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop raises ImportError
    assert _loop("auto") == ("asyncio", True)
    with pytest.raises(SettingsError, match=r"pip install 'spyder\[uvloop\]'.*"
                                            r"EVENT_LOOP='asyncio'"):
        _loop("uvloop")


def test_with_uvloop_auto_and_uvloop_take_it():
    pytest.importorskip("uvloop", reason="uvloop is not installed (pip install "
                                         "'spyder[uvloop]')")
    assert _loop("auto") == ("uvloop", True)
    assert _loop("uvloop") == ("uvloop", True)


def test_an_unknown_loop_is_refused_by_name():
    with pytest.raises(SettingsError, match=r"EVENT_LOOP must be 'auto', 'asyncio' or "
                                            r"'uvloop' \(it is 'tokio'\)"):
        _loop("tokio")


@pytest.mark.parametrize("choice", ["asyncio", "uvloop"])
def test_signals_reach_the_handler_once_the_loop_runs(choice):
    """The handlers are installed by the loop's first callback (uvloop would drop a signal
    that came before its loop ran); a signal after that reaches ``handler`` by name."""
    if choice == "uvloop":
        pytest.importorskip("uvloop", reason="uvloop is not installed")
    io_loop = new_io_loop(Settings(overrides={"EVENT_LOOP": choice}))
    loop = io_loop.asyncio_loop
    got = []
    try:
        handle_signals(io_loop, got.append)
        io_loop.add_callback(os.kill, os.getpid(), signal.SIGTERM)  # after the install
        deadline = time.monotonic() + 10

        def stop_when_handled():
            if got or time.monotonic() > deadline:
                io_loop.stop()
            else:
                io_loop.call_later(0.01, stop_when_handled)
        io_loop.add_callback(stop_when_handled)
        io_loop.start()
        assert got == ["SIGTERM"]
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        io_loop.close(all_fds=False)
        asyncio.set_event_loop(None)
