"""``spyder worker``: build a worker process and run it until it is told to quit.

``main(settings)`` follows the 2011 original: identity ``worker:<host>:<pid>``; one
ZeroMQ context (``create_context``: CurveZMQ when ``ZEROMQ_CURVE_KEYS_DIR`` is set);
the IOLoop; logging (PUB to the logsink, root topic ``spyder.worker``, plus
stderr); the management pair (``create_worker_management``); the extract stage
(``create_worker_extractor``, whose processing function ``create_processing_function``
builds from ``SPYDER_EXTRACTOR_PIPELINE`` + ``SPYDER_SCOPER_PIPELINE``) and the fetch
stage (``create_worker_fetcher``) that hands it every fetched page; SIGINT/SIGTERM
handlers; then ``WorkerControl`` registers with the master and the loop runs until
its shutdown is complete.

A worker only *connects*, so it may start before its master: ZeroMQ connects when
the master binds, and the worker's heartbeats (or its answer to the master's
``hello``) register it then.  It takes work only once the master's subscription to
its results arrived (XPUB) and the master echoed a heartbeat (``WorkerControl``).  Start-up problems raise ``StartupError`` /
``SettingsError`` (one line for the operator) after closing what was opened.

With ``WORKER_MASTERS`` the worker serves several masters at once
(``create_master_links``): per master its own management pair, extract stage, fetch
stage and ``WorkerControl`` -- its clock, licence, claims, credit and heartbeats -- over
one HTTP client, one extract pipeline and one ``SlotPool`` of ``MAX_CLIENTS`` slots.
A master's ``quit`` ends its link only; the process leaves when every link has quit
(or on a signal, which quits them all).
"""
import asyncio
import logging
import os
import socket

import zmq
from tornado.ioloop import PeriodicCallback

from spyder.core import constants as C
from spyder.core.eventloop import handle_signals, loop_kind, new_io_loop
from spyder.core.log import setup_logging, teardown_logging
from spyder.core.wire.masterclock import warn_if_licence_too_short
from spyder.core.wire.messages import data_batch
from spyder.core.wire.mgmt import ZmqMgmt
from spyder.core.sdnotify import Notifier
from spyder.core.settings import SettingsError
from spyder.core.wire.sockets import connect, create_context, never_stall
from spyder.errors import StartupError
from spyder.core.worker.zmqworker import AsyncZmqWorker, OffLoop, ZmqWorker, worker_prefetch
from spyder.core.worker.control import LoopLag, WorkerControl
from spyder.core.worker.masters import master_endpoints
from spyder.core.worker.slots import SlotPool
from spyder.import_util import import_class
from spyder.processor.fetcher import FetchProcessor

log = logging.getLogger("spyder.worker")

#: Largest management message accepted, in bytes.
_MGMT_MAX_MESSAGE_SIZE = 64 * 1024
#: Milliseconds a closing socket may spend sending what is still queued.
_LINGER_MS = 2000


def create_worker_management(settings, zmq_context, io_loop=None, endpoints=None):
    """The worker's ZmqMgmt: SUB <- ZEROMQ_MGMT_MASTER (``spyder.worker.`` only), PUB ->
    ZEROMQ_MGMT_WORKER (or those of ``endpoints``, one of ``WORKER_MASTERS``)."""
    master = "" if endpoints is None else " of WORKER_MASTERS %s" % endpoints.label
    sub = never_stall(zmq_context.socket(zmq.SUB))
    sub.setsockopt(zmq.SUBSCRIBE, C.ZMQ_SPYDER_MGMT_WORKER)
    sub.setsockopt(zmq.MAXMSGSIZE, _MGMT_MAX_MESSAGE_SIZE)
    pub = zmq_context.socket(zmq.PUB)
    try:
        connect(sub, endpoints.mgmt_master if endpoints else settings.ZEROMQ_MGMT_MASTER,
                "ZEROMQ_MGMT_MASTER" + master)
        connect(pub, endpoints.mgmt_worker if endpoints else settings.ZEROMQ_MGMT_WORKER,
                "ZEROMQ_MGMT_WORKER" + master)
    except BaseException:
        sub.close(0)
        pub.close(0)
        raise
    return ZmqMgmt(sub, pub, io_loop)


def create_worker_fetcher(settings, zmq_context, extract, io_loop=None, fetcher=None,
                          endpoints=None, slots=None):
    """The fetch stage: PULL <- ZEROMQ_WORKER_PROC_FETCHER_PULL (or ``endpoints.push``),
    running ``FetchProcessor`` and handing every result to ``extract`` (the extract stage).
    ``slots``: the ``SlotPool`` it shares with the stages of the worker's other masters
    (default: ``MAX_CLIENTS`` slots of its own)."""
    fetcher = fetcher or FetchProcessor(settings, io_loop)
    pull = zmq_context.socket(zmq.PULL)
    pull.setsockopt(zmq.MAXMSGSIZE, settings.ZEROMQ_MAX_MESSAGE_SIZE)
    pull.rcvhwm = settings.ZEROMQ_WORKER_PROC_FETCHER_PULL_HWM
    _connect_data(pull, settings, "ZEROMQ_WORKER_PROC_FETCHER_PULL", endpoints,
                  "ZEROMQ_MASTER_PUSH", "push")
    prefetch, horizon = worker_prefetch(settings)
    return AsyncZmqWorker(pull, fetcher, settings.MAX_CLIENTS if slots is None else slots,
                          extract, io_loop, label=endpoints.label if endpoints else "master",
                          batch=data_batch(settings), prefetch=prefetch,
                          prefetch_horizon=horizon)


def _connect_data(sock, settings, setting, endpoints, master_setting, field):
    """Connect the data socket ``sock`` to ``settings.<setting>``, or for a worker of
    several masters to ``endpoints.<field>`` (that master's ``master_setting``); the socket
    is closed if that fails."""
    if endpoints is None:
        address, name = getattr(settings, setting), setting
    else:
        address = getattr(endpoints, field)
        name = "%s of WORKER_MASTERS %s" % (master_setting, endpoints.label)
    try:
        connect(sock, address, name)
    except BaseException:
        sock.close(0)
        raise


def create_processing_function(settings):
    """Chain ``SPYDER_EXTRACTOR_PIPELINE`` + ``SPYDER_SCOPER_PIPELINE`` into one function.

    Each dotted name is imported and constructed with ``settings``; the result feeds
    a CrawlUri through every processor in order.  A name without a dot raises
    ``ValueError``; one that cannot be imported ``StartupError``.
    """
    processors = []
    for setting in ("SPYDER_EXTRACTOR_PIPELINE", "SPYDER_SCOPER_PIPELINE"):
        for name in getattr(settings, setting):
            try:
                processor_class = import_class(name)
            except ImportError as exc:
                raise StartupError("%s: %s" % (setting, exc)) from exc
            processors.append(processor_class(settings))

    def processing(curi):
        for processor in processors:
            curi = processor(curi)
        return curi

    return processing


def create_worker_extractor(settings, zmq_context, io_loop=None, endpoints=None,
                            processing=None, off_loop=None):
    """The extract stage: the processing function, publishing to XPUB ->
    ZEROMQ_WORKER_PROC_EXTRACTOR_PUB (or ``endpoints.sub``).  A worker serving several
    masters has one extract stage per master sharing ``processing`` and ``off_loop``.

    The XPUB reports every subscription and unsubscription (``XPUB_VERBOSE``), and with
    ``IMMEDIATE`` a connection's pipe lives only while the connection does, so the
    master's subscription goes away with the master: the worker knows when its results
    are received."""
    processing = processing or create_processing_function(settings)
    pub = zmq_context.socket(zmq.XPUB)
    pub.setsockopt(zmq.XPUB_VERBOSE, 1)
    pub.immediate = 1
    pub.sndhwm = settings.ZEROMQ_WORKER_PROC_EXTRACTOR_PUB_HWM
    _connect_data(pub, settings, "ZEROMQ_WORKER_PROC_EXTRACTOR_PUB", endpoints,
                  "ZEROMQ_MASTER_SUB", "sub")
    # large pages and sitemaps are processed off the loop, by processors of their own
    off_loop = off_loop or OffLoop(create_processing_function(settings),
                                   settings.EXTRACT_INLINE_MAX_SIZE)
    return ZmqWorker(pub, processing, io_loop, max_message_size=settings.ZEROMQ_MAX_MESSAGE_SIZE,
                     off_loop=off_loop)


def _shutdown(controls):
    """The signal handler: every master link shuts down, for the signal's reason."""
    def shutdown(reason):
        for control in controls:
            control.shutdown(reason)
    return shutdown


def create_master_links(settings, ctx, identity, io_loop, fetch_processor, notifier, opened):
    """One link per master the worker serves (``WORKER_MASTERS``, else the one master of the
    ``ZEROMQ_*`` settings): its management pair, extract stage, fetch stage and
    ``WorkerControl``, all links sharing ``fetch_processor`` (the HTTP client), one
    processing function, one off-loop thread and one ``SlotPool`` of ``MAX_CLIENTS``.
    Returns the controls; every socket opened goes into ``opened``."""
    masters = master_endpoints(settings)
    if len(masters) == 1 and not settings.WORKER_MASTERS:
        mgmt = create_worker_management(settings, ctx, io_loop)
        opened.append(mgmt)
        extractor = create_worker_extractor(settings, ctx, io_loop)
        opened.append(extractor)
        fetcher = create_worker_fetcher(settings, ctx, extractor, io_loop, fetch_processor)
        opened.append(fetcher)
        return [WorkerControl(settings, identity, mgmt, fetcher, extractor, io_loop, notifier)]
    pool = SlotPool(settings.MAX_CLIENTS, identity)
    lag = LoopLag(io_loop)     # one probe of the loop for every link
    processing = create_processing_function(settings)
    off_loop = OffLoop(create_processing_function(settings), settings.EXTRACT_INLINE_MAX_SIZE)
    controls = []
    for endpoints in masters:
        mgmt = create_worker_management(settings, ctx, io_loop, endpoints)
        opened.append(mgmt)
        extractor = create_worker_extractor(settings, ctx, io_loop, endpoints, processing,
                                            off_loop)
        opened.append(extractor)
        fetcher = create_worker_fetcher(settings, ctx, extractor, io_loop, fetch_processor,
                                        endpoints, pool)
        opened.append(fetcher)
        # with several links the process's systemd notifications are main()'s: one link
        # quitting is not the worker stopping
        controls.append(WorkerControl(settings, identity, mgmt, fetcher, extractor, io_loop,
                                      notifier if len(masters) == 1 else None, lag))
    log.info("worker::serving %d masters with %d slots: %s", len(masters),
             settings.MAX_CLIENTS, "; ".join("%s at %s" % (e.label, e.push) for e in masters))
    return controls


def main(settings):
    """Run a worker until it is told to quit; returns the exit status (0)."""
    identity = "worker:%s:%d" % (socket.gethostname(), os.getpid())
    io_loop = new_io_loop(settings)
    ctx = create_context(settings)
    ctx.linger = _LINGER_MS
    notifier = Notifier()
    opened = []
    log_handler = log_socket = None
    try:
        log_handler, log_socket = setup_logging(ctx, settings, "spyder.worker",
                                                settings.LOG_LEVEL_WORKER)
        warn_if_licence_too_short(settings, log, "worker")
        master_endpoints(settings)  # a bad WORKER_MASTERS: a clear error before any socket
        fetch_processor = FetchProcessor(settings, io_loop)
        opened.append(fetch_processor)
        controls = create_master_links(settings, ctx, identity, io_loop, fetch_processor,
                                       notifier, opened)
        handle_signals(io_loop, _shutdown(controls))
    except BaseException as exc:
        for thing in reversed(opened):
            thing.close()
        if log_handler is not None:
            teardown_logging(log_handler, log_socket)
        ctx.destroy(linger=0)
        io_loop.close(all_fds=False)
        if (isinstance(exc, (ImportError, TypeError, ValueError))
                and not isinstance(exc, SettingsError)):
            raise StartupError("cannot build the worker pipeline: %s: %s"
                               % (type(exc).__name__, exc)) from exc
        raise

    async def run():
        for control in controls:
            control.start()
        log.info("worker::settings: %s; event loop: %s", settings.source,
                 loop_kind(io_loop.asyncio_loop))
        notifier.ready("worker %s running" % identity)
        if len(controls) == 1:
            await controls[0].done.wait()
            return
        # several masters: the worker leaves once every master's link has quit (a master's
        # quit ends only its link; the others keep the slots)
        watchdog = None
        if notifier.watchdog_interval:
            watchdog = PeriodicCallback(notifier.watchdog, notifier.watchdog_interval * 1000)
            watchdog.start()
        waits = [asyncio.ensure_future(control.done.wait()) for control in controls]
        await asyncio.wait(waits)
        if watchdog is not None:
            watchdog.stop()
        notifier.stopping()

    try:
        io_loop.run_sync(run)
    finally:
        for thing in reversed(opened):
            thing.close()
        teardown_logging(log_handler, log_socket)
        notifier.close()
        ctx.term()
        io_loop.close(all_fds=False)
    return 0

