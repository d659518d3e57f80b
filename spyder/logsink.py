"""``spyder logsink``: receive everyone's log records over ZeroMQ and write them.

Masters and workers publish their records with pyzmq's ``PUBHandler`` (see
``spyder.core.log``): frames ``[topic, text]`` with the topic
``spyder.<master|worker>.<LEVEL>[.<subtopic>]``.  The logsink binds a SUB socket on
``ZEROMQ_LOGGING`` and hands each record to the standard library's logging:

* ``spyder.master.*`` goes to the logger ``spyder.master``, ``spyder.worker.*`` to
  ``spyder.worker``, at the level named in the topic, as ``"<subtopic> - <text>"``
  (a legacy configuration that only has handlers for the original's ``masterlog``
  / ``workerlog`` loggers gets them there instead);
* anything else -- unknown topics, malformed frames -- goes to the root logger;
  nothing received can crash the logsink.

Where records end up: ``LOGSINK_CONFIG`` (a ``logging.conf`` for
``logging.config.fileConfig``, in which ``%(here)s`` is the file's directory, or a
``.json`` / ``.py`` file holding a ``dictConfig`` dict, the latter as ``LOGGING``);
without it stderr plus ``master.log`` and ``worker.log`` in ``LOG_DIR``, rotated at
midnight, ``LOG_BACKUP_COUNT`` kept, at ``LOG_LEVEL_LOGSINK``.

It sends READY=1 (systemd) once bound; SIGINT/SIGTERM write out what has arrived,
flush the handlers and exit 0.
"""
import json
import logging
import logging.config
import logging.handlers
import os
import runpy

import zmq
from zmq.eventloop.zmqstream import ZMQStream

from spyder.core.eventloop import handle_signals, new_io_loop
from spyder.core.sdnotify import Notifier
from spyder.core.wire.sockets import (RefusalWatch, bind, create_context,
                                      ensure_socket_directory, never_stall)
from spyder.errors import StartupError

log = logging.getLogger("spyder.logsink")

#: Largest log message accepted, in bytes (a record with a long traceback fits).
_MAX_MESSAGE_SIZE = 4 * 1024 * 1024
_FORMAT = "[%(asctime)s] %(levelname)s %(name)s - %(message)s"
_PROCESSES = ("master", "worker")
_LEVELS = {name: getattr(logging, name) for name in
           ("DEBUG", "INFO", "WARNING", "WARN", "ERROR", "CRITICAL", "FATAL")}


def _load_config(path):
    if not os.path.isfile(path):
        raise StartupError("LOGSINK_CONFIG=%r: no such file" % path)
    try:
        if path.endswith(".json"):
            with open(path, encoding="utf-8") as f:
                logging.config.dictConfig(json.load(f))
        elif path.endswith(".py"):
            logging.config.dictConfig(runpy.run_path(path)["LOGGING"])
        else:
            here = os.path.dirname(os.path.abspath(path))
            logging.config.fileConfig(path, defaults={"here": here},
                                      disable_existing_loggers=False)
    except Exception as exc:
        raise StartupError("LOGSINK_CONFIG=%r cannot be used: %s: %s"
                           % (path, type(exc).__name__, exc)) from exc


def _default_config(settings):
    directory = settings.LOG_DIR
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise StartupError("cannot create the log directory LOG_DIR=%r: %s"
                           % (directory, exc.strerror)) from exc
    formatter = logging.Formatter(_FORMAT)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    console = logging.StreamHandler()
    console.setFormatter(formatter)
    root.addHandler(console)
    root.setLevel(settings.LOG_LEVEL_LOGSINK)
    for process in _PROCESSES:
        path = os.path.join(directory, "%s.log" % process)
        try:
            handler = logging.handlers.TimedRotatingFileHandler(
                path, when="midnight", backupCount=settings.LOG_BACKUP_COUNT, encoding="utf-8")
        except OSError as exc:
            raise StartupError("cannot write the log file %s (LOG_DIR): %s"
                               % (path, exc.strerror)) from exc
        handler.setFormatter(formatter)
        logger = logging.getLogger("spyder." + process)
        logger.addHandler(handler)
        logger.setLevel(settings.LOG_LEVEL_LOGSINK)


def configure_logging(settings):
    """Set up where records go: LOGSINK_CONFIG, else stderr + files in LOG_DIR."""
    if settings.LOGSINK_CONFIG:
        _load_config(settings.LOGSINK_CONFIG)
    else:
        _default_config(settings)


def _process_logger(process):
    modern = logging.getLogger("spyder." + process)
    legacy = logging.getLogger(process + "log")
    return legacy if legacy.handlers and not modern.handlers else modern


class LogRouter:
    """Turn received ``[topic, text]`` frames into records of the right logger."""

    def __init__(self):
        self._loggers = {process: _process_logger(process) for process in _PROCESSES}
        self._root = logging.getLogger()
        self.received = 0
        self.malformed = 0

    def __call__(self, frames):
        self.received += 1
        if len(frames) != 2:
            self.malformed += 1
            self._root.warning("malformed log message (%d frames): %r", len(frames),
                               [bytes(f[:200]) for f in frames[:4]])
            return
        topic = bytes(frames[0]).decode("utf-8", "replace")
        text = bytes(frames[1]).decode("utf-8", "replace").rstrip()
        parts = topic.split(".", 3)
        level = _LEVELS.get(parts[2], logging.INFO) if len(parts) > 2 else logging.INFO
        subtopic = parts[3] if len(parts) > 3 else ""
        if len(parts) > 2 and parts[0] == "spyder" and parts[1] in self._loggers:
            logger = self._loggers[parts[1]]
            logger.log(level, "%s - %s" % (subtopic, text) if subtopic else text)
        else:
            self._root.log(level, "%s - %s", topic, text)

    def flush(self):
        for logger in [self._root] + list(self._loggers.values()):
            for handler in logger.handlers:
                handler.flush()


def main(settings):
    """Run the logsink until SIGINT/SIGTERM; returns the exit status (0)."""
    configure_logging(settings)
    if settings.ZEROMQ_LOGGING.startswith("ipc://"):
        ensure_socket_directory(settings)
    io_loop = new_io_loop(settings)
    ctx = create_context(settings)
    sub = never_stall(ctx.socket(zmq.SUB))
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.setsockopt(zmq.MAXMSGSIZE, _MAX_MESSAGE_SIZE)
    try:
        bind(sub, settings.ZEROMQ_LOGGING, "ZEROMQ_LOGGING")
    except BaseException:
        sub.close(linger=0)
        ctx.destroy(linger=0)
        raise
    stream = ZMQStream(sub, io_loop)
    router = LogRouter()
    notifier = Notifier()

    def stop(signame):
        log.info("logsink::%s: writing out what has arrived and exiting", signame)
        notifier.stopping()
        stream.stop_on_recv()
        while True:  # what is queued already is still written
            try:
                router(sub.recv_multipart(zmq.NOBLOCK))
            except zmq.Again:
                break
        router.flush()
        io_loop.stop()

    handle_signals(io_loop, stop)
    stream.on_recv(router)
    refusals = RefusalWatch([(sub, settings.ZEROMQ_LOGGING, "ZEROMQ_LOGGING")], log, io_loop)
    io_loop.add_callback(notifier.ready, "logsink on %s" % settings.ZEROMQ_LOGGING)
    log.info("logsink::receiving log records on %s", settings.ZEROMQ_LOGGING)
    try:
        io_loop.start()
    finally:
        refusals.close()
        stream.close(linger=0)
        ctx.term()
        notifier.close()
        io_loop.close(all_fds=False)
        logging.shutdown()
    return 0
