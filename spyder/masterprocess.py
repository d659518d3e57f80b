"""``spyder master``: build the master process and run it until shutdown.

``main(settings)`` follows the 2011 original step by step: identity
``master:<host>:<pid>``; one ZeroMQ context; the IOLoop; logging (PUB to the logsink
plus stderr); the management pair (``create_master_management``); the frontier
(``create_frontier``, ``FRONTIER_CLASS``); the data PUSH and SUB sockets; the
``ZmqMaster``; the console (``MASTER_HTTP_ADDRESS``: dashboard, JSON API, metrics on
the same loop; its URL is logged and sent with ``READY=1``); SIGINT/SIGTERM handlers;
``MASTER_CALLBACK`` and ``SEED_URLS``; then the loop.  Before binding anything it takes
the master lock in the socket directory, so a second master fails instead of silently
taking over the ipc endpoints.

Any start-up problem raises ``StartupError`` with one line for the operator after
everything opened so far is closed again: no half-started daemon.
"""
import logging
import os
import socket

import zmq

from spyder.console import READY_STATUS, Console
from spyder.core.crawluri import CrawlUri
from spyder.core.eventloop import handle_signals, loop_kind, new_io_loop
from spyder.core.filelock import master_lock
from spyder.core.log import setup_logging, teardown_logging
from spyder.core.master.zmqmaster import ZmqMaster
from spyder.core.wire.masterclock import warn_if_licence_too_short
from spyder.core.wire.mgmt import ZmqMgmt
from spyder.core.sdnotify import Notifier
from spyder.core.settings import SettingsError
from spyder.core.wire.sockets import (RefusalWatch, bind, create_context,
                                      ensure_socket_directory, never_stall)
from spyder.errors import StartupError
from spyder.import_util import load_setting

log = logging.getLogger("spyder.master")

#: Largest management message accepted, in bytes.
_MGMT_MAX_MESSAGE_SIZE = 64 * 1024

_MASTER_ENDPOINTS = ("ZEROMQ_MASTER_PUSH", "ZEROMQ_MASTER_SUB",
                     "ZEROMQ_MGMT_MASTER", "ZEROMQ_MGMT_WORKER")


def _sub_socket(ctx, max_size):
    sock = never_stall(ctx.socket(zmq.SUB))
    sock.setsockopt(zmq.SUBSCRIBE, b"")
    sock.setsockopt(zmq.MAXMSGSIZE, max_size)
    return sock


def _push_heartbeat_timeout(settings):
    """Seconds of silence after which the data PUSH drops a worker's connection.

    ``ZEROMQ_HEARTBEAT_TIMEOUT``, shortened if need be so that the connection of a
    worker that stopped reading is gone by the time the master declares the worker
    dead (``WORKER_HEARTBEAT_TIMEOUT`` after its last heartbeat, which is at most
    ``WORKER_HEARTBEAT_INTERVAL`` old; ZeroMQ drops it at most one ping interval plus
    this timeout after it stopped).  Otherwise PUSH would go on dealing it the
    dispatches the other workers' credit pays for, each stranded for a full lease.
    """
    before_dead = (settings.WORKER_HEARTBEAT_TIMEOUT - settings.WORKER_HEARTBEAT_INTERVAL
                   - settings.ZEROMQ_HEARTBEAT_IVL)
    return min(settings.ZEROMQ_HEARTBEAT_TIMEOUT, max(before_dead, settings.ZEROMQ_HEARTBEAT_IVL))


def create_master_management(settings, zmq_context, io_loop):
    """The master's ZmqMgmt: SUB bound to ZEROMQ_MGMT_WORKER, PUB bound to ZEROMQ_MGMT_MASTER."""
    sub = _sub_socket(zmq_context, _MGMT_MAX_MESSAGE_SIZE)
    pub = zmq_context.socket(zmq.PUB)
    bind(sub, settings.ZEROMQ_MGMT_WORKER, "ZEROMQ_MGMT_WORKER")
    bind(pub, settings.ZEROMQ_MGMT_MASTER, "ZEROMQ_MGMT_MASTER")
    return ZmqMgmt(sub, pub, io_loop)


def create_frontier(settings, log_handler):
    """Construct ``FRONTIER_CLASS`` with ``(settings, log_handler)``."""
    frontier_class = load_setting(settings, "FRONTIER_CLASS")
    try:
        return frontier_class(settings, log_handler)
    except (StartupError, SettingsError):
        raise
    except Exception as exc:
        raise StartupError("FRONTIER_CLASS=%r failed to start: %s: %s"
                           % (settings.FRONTIER_CLASS, type(exc).__name__, exc)) from exc


def _run_master_callback(settings, ctx, io_loop, frontier):
    if settings.MASTER_CALLBACK:
        callback = load_setting(settings, "MASTER_CALLBACK")
        try:
            callback(settings, ctx, io_loop, frontier)
        except Exception as exc:
            log.exception("master::MASTER_CALLBACK failed")
            raise StartupError("MASTER_CALLBACK=%r raised %s: %s"
                               % (settings.MASTER_CALLBACK, type(exc).__name__, exc)) from exc
    for url in settings.SEED_URLS:
        frontier.add_uri(CrawlUri(url=url))


def main(settings):
    """Run the master until it is shut down; returns the exit status (0)."""
    identity = "master:%s:%d" % (socket.gethostname(), os.getpid())
    io_loop = new_io_loop(settings)
    if any(getattr(settings, name).startswith("ipc://") for name in _MASTER_ENDPOINTS):
        lock = master_lock(ensure_socket_directory(settings)).acquire()
    else:
        lock = None
    notifier = Notifier()
    ctx = frontier = master = mgmt = console = refusals = None
    log_handler = log_socket = None
    try:
        ctx = create_context(settings)
        log_handler, log_socket = setup_logging(ctx, settings, "spyder.master",
                                                settings.LOG_LEVEL_MASTER)
        warn_if_licence_too_short(settings, log, "master")
        mgmt = create_master_management(settings, ctx, io_loop)
        frontier = create_frontier(settings, log_handler)
        push = ctx.socket(zmq.PUSH)
        push.sndhwm = settings.ZEROMQ_MASTER_PUSH_HWM
        if settings.ZEROMQ_HEARTBEAT_IVL:
            push.setsockopt(zmq.HEARTBEAT_TIMEOUT, int(_push_heartbeat_timeout(settings) * 1000))
        bind(push, settings.ZEROMQ_MASTER_PUSH, "ZEROMQ_MASTER_PUSH")
        sub = _sub_socket(ctx, settings.ZEROMQ_MAX_MESSAGE_SIZE)
        bind(sub, settings.ZEROMQ_MASTER_SUB, "ZEROMQ_MASTER_SUB")
        master = ZmqMaster(settings, identity, sub, push, mgmt, frontier, log_handler,
                           settings.LOG_LEVEL_MASTER, io_loop, notifier)
        if settings.MASTER_HTTP_ADDRESS:
            console = Console(settings, master, frontier, io_loop)
            console.start()
        handle_signals(io_loop, lambda signame: master.shutdown())
        _run_master_callback(settings, ctx, io_loop, frontier)
        refusals = RefusalWatch([(push, settings.ZEROMQ_MASTER_PUSH, "ZEROMQ_MASTER_PUSH"),
                                 (sub, settings.ZEROMQ_MASTER_SUB, "ZEROMQ_MASTER_SUB")],
                                log, io_loop)
        mgmt.start()
        master.start()
    except BaseException:
        if refusals is not None:
            refusals.close()
        if console is not None:
            console.stop()
        if frontier is not None:
            try:
                frontier.close()
            except Exception:
                log.exception("master::closing the frontier failed")
        if log_handler is not None:
            teardown_logging(log_handler, log_socket)
        if ctx is not None:
            ctx.destroy(linger=0)
        if lock is not None:
            lock.release()
        raise

    log.info("master::settings: %s; event loop: %s", settings.source,
             loop_kind(io_loop.asyncio_loop))
    io_loop.add_callback(notifier.ready, "master %s running%s" % (  # (after the signals')
        identity, "" if console is None else "; " + READY_STATUS % console.url))
    try:
        io_loop.start()
    finally:
        refusals.close()
        if console is not None:
            console.stop()
        master.close()
        mgmt.close()
        log.info("master::Master is down.")
        teardown_logging(log_handler, log_socket)
        notifier.close()
        ctx.term()
        if lock is not None:
            lock.release()
        io_loop.close(all_fds=False)
    return 0
