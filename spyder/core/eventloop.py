"""The event loop of the long-running processes: asyncio's own, or uvloop's.

``spyder master``, ``spyder worker`` and ``spyder logsink`` each run one tornado
``IOLoop`` (``new_io_loop(settings)``) on an asyncio event loop made at start-up.
``new_event_loop(settings)`` makes it as ``EVENT_LOOP`` says: ``"asyncio"`` the standard library's selector loop,
``"uvloop"`` uvloop's (libuv underneath: a wake-up, a timer and a ready callback cost
less Python, which a process that handles a few thousand small events a second
feels -- the benchmark site's crawl spends ~7 % less CPU per page; docs/performance.md),
``"auto"`` uvloop when it is installed (``pip install 'spyder[uvloop]'``), else
asyncio's.  Nothing else changes: tornado, pyzmq's sockets and libcurl's are watched
through the loop's ``add_reader`` / ``call_at`` either way.  The supervisor of
``spyder crawl`` keeps asyncio's loop: it only starts and watches processes.

One difference matters to them: uvloop drops a signal that arrives before its loop runs
(asyncio's keeps it for the first turn), so a SIGTERM sent right after a process said
READY=1 was lost.  ``handle_signals`` installs the SIGINT / SIGTERM handlers from the
loop's first callback, and the processes say READY=1 after it.
"""
import asyncio
import signal

from tornado.ioloop import IOLoop

from spyder.core.settings import SettingsError

#: The values ``EVENT_LOOP`` may take.
CHOICES = ("auto", "asyncio", "uvloop")


def new_event_loop(settings):
    """A new event loop of the kind ``settings.EVENT_LOOP`` names (``SettingsError`` for
    an unknown name, or for "uvloop" without the package)."""
    choice = settings.EVENT_LOOP
    if choice not in CHOICES:
        raise SettingsError("EVENT_LOOP must be 'auto', 'asyncio' or 'uvloop' (it is %r)"
                            % (choice,))
    if choice == "asyncio":
        return asyncio.new_event_loop()
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise SettingsError("EVENT_LOOP='uvloop' needs the uvloop package: pip install "
                                "'spyder[uvloop]' (or set EVENT_LOOP='asyncio')") from None
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def new_io_loop(settings):
    """The process's tornado ``IOLoop``, on a new event loop (``new_event_loop``) made the
    current one."""
    asyncio.set_event_loop(new_event_loop(settings))
    return IOLoop.current()


def handle_signals(io_loop, handler):
    """Call ``handler(signal name)`` on SIGINT and SIGTERM, from ``io_loop`` (a tornado
    ``IOLoop`` on an asyncio loop), installed by the loop's next callback: until it runs a
    signal has its default action (the process ends), never no action at all."""
    def install():
        for signum in (signal.SIGINT, signal.SIGTERM):
            io_loop.asyncio_loop.add_signal_handler(signum, handler,
                                                    signal.Signals(signum).name)
    io_loop.add_callback(install)


def loop_kind(loop):
    """``"uvloop"`` or ``"asyncio"``: what ``loop`` is (for the start-up log line)."""
    return "uvloop" if type(loop).__module__.partition(".")[0] == "uvloop" else "asyncio"
