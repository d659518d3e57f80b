"""``spyder crawl --masters N --redis URL``: N masters as peers on one Redis Cluster frontier.

Each master is a ``spyder crawl`` of its own -- a supervisor with its logsink and its
master -- run as a child process with ``FRONTIER_STORE`` set to the cluster, its own
``FRONTIER_MASTER_NAME`` (``m1`` ... ``mN``), its own state-file base name (so its JSONL
output is ``<base>-m<i>.jsonl``), its logs in ``log/m<i>/`` and its console on a free
port.  They share the crawl through the store (``docs/cluster.md``): each takes host
queues under a lease, and each exits once the whole crawl is done.

The workers are shared: ``--workers W`` worker processes *in total*, each serving every
master (``WORKER_MASTERS``: its sockets connect to every master's endpoints, its
``MAX_CLIENTS`` slots split among the masters whose licence holds), so a master's
death idles no worker -- once its licence lapses its share of every worker's slots goes
to the live masters.  Each master's endpoints are ipc sockets in a directory of its own
inside a private run directory (``m<i>/``, its ``PARENT_SOCKET_DIRECTORY``; its
``spyder crawl`` runs with ``--no-workers``); the workers log to a logsink of their own
(``log/workers/``).  A worker that dies is restarted (at most ``_WORKER_RESTARTS``
within ``_WORKER_RESTART_WINDOW`` s) and every master is told (``worker.gone``), so
the URLs it claimed return at once.  A master's ``spyder crawl`` that fails after it
started (its master killed, say) is run again, at most ``_MASTER_RESTARTS`` times: it
resumes its own state and cuts its sinks back to its last commit, as a restart by hand
would.  With ``--own-workers`` each master has ``--workers`` workers of its own instead
(a whole ``spyder crawl`` each, as before).

Output lines of the masters are prefixed with their name; Ctrl-C / SIGTERM is passed on
to the masters (which tell the workers to quit); the workers and their logsink are
stopped once every master has exited; the exit status is the first non-zero one of a
master's last run.  Rerunning the same command resumes (each master finds its own state
under its name).
"""
import collections
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import zmq

from spyder.core.wire.sockets import connect, create_context
from spyder.core.worker.masters import directory_addresses
from spyder.crawl import _worker_count, temporary_directory
from spyder.errors import StartupError
from spyder.supervisor import tell_worker_gone

#: Seconds the children get to stop after a signal before they are killed.
_STOP_GRACE = 60.0
#: Restarts of a master's ``spyder crawl`` that failed after running ``_STARTED`` s.
_MASTER_RESTARTS = 3
_STARTED = 5.0
#: Restarts of dead shared workers allowed within ``_WORKER_RESTART_WINDOW`` seconds.
_WORKER_RESTARTS = 5
_WORKER_RESTART_WINDOW = 60.0
#: Seconds between two looks at the children.
_POLL = 0.2
#: Extra seconds (beyond SHUTDOWN_TIMEOUT) the workers get to leave by themselves.
_WORKER_GRACE = 5.0


def _settings_args(args):
    argv = []
    if getattr(args, "settings", None):
        argv += ["--settings", os.path.abspath(args.settings)
                 if args.settings.endswith(".py") else args.settings]
    for text in getattr(args, "overrides", []):
        argv += ["-s", text]
    return argv


def child_argv(args, name, redis_url, state, socket_dir=None):
    """The ``spyder crawl`` command line of master ``name`` (``socket_dir``: its endpoints'
    directory when the workers are shared; it then starts none)."""
    argv = [sys.executable, "-m", "spyder", "crawl", "--redis", redis_url]
    argv += _settings_args(args)
    argv += ["-s", "FRONTIER_MASTER_NAME=%r" % name]
    if not any(text.startswith("MASTER_HTTP_ADDRESS=") for text in args.overrides):
        argv += ["-s", "MASTER_HTTP_ADDRESS='127.0.0.1:0'"]
    if not any(text.startswith("LOG_DIR=") for text in args.overrides):
        argv += ["-s", "LOG_DIR=%r" % os.path.abspath(os.path.join("log", name))]
    if socket_dir is not None:
        argv += ["--no-workers", "-s", "PARENT_SOCKET_DIRECTORY=%r" % socket_dir]
        for item in directory_addresses(socket_dir).items():
            argv += ["-s", "%s=%r" % item]
    elif args.workers is not None:
        argv += ["--workers", str(args.workers)]
    argv += ["--state", state]
    return argv + list(args.urls)


def _pump(stream, name, out, tail=None):
    """Copy ``stream`` to ``out`` with ``[name]`` before each line, or, with ``tail``, keep
    its last lines there only."""
    for line in iter(stream.readline, b""):
        text = line.decode("utf-8", "replace")
        if tail is not None:
            tail.append(text)
            continue
        out.write("[%s] %s" % (name, text))
        out.flush()
    stream.close()


class _Child:
    """One child process, its output pump and its restarts."""

    def __init__(self, name, argv, out, quiet=False):
        self.name, self.argv, self.out = name, argv, out
        self.env = None
        if quiet:   # not one of the masters' supervisors: no systemd notifications
            self.env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
        self.tail = collections.deque(maxlen=20) if quiet else None
        self.proc = self.thread = None
        self.started = 0.0
        self.restarts = 0
        self.final = None          # the exit status once it will not run again

    def start(self):
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     start_new_session=True, env=self.env)
        self.started = time.monotonic()
        self.thread = threading.Thread(target=_pump, daemon=True,
                                       args=(self.proc.stdout, self.name, self.out, self.tail))
        self.thread.start()

    @property
    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, signum):
        if self.alive:
            try:
                self.proc.send_signal(signum)
            except ProcessLookupError:
                pass

    def stop(self, grace, signalled=False):
        """SIGTERM (unless ``signalled`` already), then SIGKILL after ``grace`` s."""
        if not signalled:
            self.signal(signal.SIGTERM)
        if self.proc is not None:
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.thread is not None:
            self.thread.join(5)


def main(settings, args, out=None):
    """Run ``args.masters`` masters on ``args.redis``; returns the exit status."""
    out = out or sys.stderr
    n = int(args.masters or 1)
    if n < 1:
        raise StartupError("--masters must be at least 1 (got %d)" % n)
    if not args.redis:
        raise StartupError("--masters needs --redis redis://host:port[,host:port...]: the "
                           "Redis Cluster the masters share")
    if getattr(args, "own_workers", False):
        return _own_workers(args, n, out)
    workers = _worker_count(args.workers)
    if workers < 1:
        raise StartupError("--workers must be at least 1 (got %d)" % workers)
    with temporary_directory("spyder-multi-") as run_dir:
        return SharedCrawl(settings, args, n, workers, run_dir, out).run()


class SharedCrawl:
    """N masters' ``spyder crawl`` commands and W workers serving all of them (see the
    module docstring)."""

    def __init__(self, settings, args, n, workers, run_dir, out):
        self.settings, self.out = settings, out
        base = os.path.splitext(args.state or "spyder-crawl.db")[0]
        self.masters = []
        dirs = []
        for i in range(1, n + 1):
            name = "m%d" % i
            socket_dir = os.path.join(run_dir, name)
            os.makedirs(socket_dir, mode=0o700, exist_ok=True)
            dirs.append(socket_dir)
            self.masters.append(_Child(name, child_argv(args, name, args.redis, "%s-%s.db"
                                                        % (base, name), socket_dir), out))
        self.addresses = [directory_addresses(d) for d in dirs]
        log_address = "ipc://%s" % os.path.join(run_dir, "workers-logging.sock")
        common = _settings_args(args) + ["-s", "PARENT_SOCKET_DIRECTORY=%r" % run_dir,
                                         "-s", "ZEROMQ_LOGGING=%r" % log_address]
        log_dir = os.path.abspath(os.path.join("log", "workers"))
        self.logsink = _Child("workers' logsink", [sys.executable, "-m", "spyder", "logsink"]
                              + common + ["-s", "LOG_DIR=%r" % log_dir], out, quiet=True)
        worker_argv = ([sys.executable, "-m", "spyder", "worker"] + common
                       + ["-s", "WORKER_MASTERS=%r" % self.addresses])
        self.workers = [_Child("w%d" % (i + 1), worker_argv, out, quiet=True)
                        for i in range(workers)]
        self._worker_restarts = collections.deque()
        self._stopping = False
        self._wake = threading.Event()
        self._gone = None
        self._identity = ("multicrawl:%s:%d" % (socket.gethostname(), os.getpid())).encode()

    def say(self, text):
        self.out.write("spyder crawl: %s\n" % text)
        self.out.flush()

    def run(self):
        def forward(signum, frame):
            self._stopping = True
            for master in self.masters:
                master.signal(signal.SIGTERM)
            self._wake.set()
        old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.logsink.start()
            for master in self.masters:
                master.start()
            for worker in self.workers:
                worker.start()
            self.say("%d masters and %d workers, each worker serving every master"
                     % (len(self.masters), len(self.workers)))
            self._open_gone()
            self._supervise()
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)
            self._stop()
        status = 0
        for master in self.masters:
            if master.final and not status:
                status = master.final
                self.say("master %s exited with status %d" % (master.name, master.final))
        return status

    def _open_gone(self):
        """A PUB to every master's ZEROMQ_MGMT_WORKER, for ``worker.gone``."""
        try:
            ctx = create_context(self.settings)
        except StartupError:
            return
        self._gone = ctx.socket(zmq.PUB)
        self._gone.linger = 0
        for addresses in self.addresses:
            connect(self._gone, addresses["ZEROMQ_MGMT_WORKER"], "ZEROMQ_MGMT_WORKER")

    def _tell_gone(self, worker):
        if self._gone is not None:
            tell_worker_gone(self._gone, self._identity, worker.proc.pid)

    def _supervise(self):
        while any(master.final is None for master in self.masters):
            for master in self.masters:
                if master.final is None and not master.alive:
                    self._master_exited(master)
            if any(master.alive for master in self.masters) and not self._stopping:
                for worker in self.workers:
                    if worker.alive or worker.final is not None:
                        continue
                    if worker.proc.returncode == 0:   # every master told it to quit
                        worker.final = 0
                    elif not self._restart_worker(worker):
                        self._stopping = True
                        for master in self.masters:
                            master.signal(signal.SIGTERM)
                        break
            self._wake.wait(_POLL)
            self._wake.clear()

    def _master_exited(self, master):
        code = master.proc.returncode
        master.thread.join(5)
        ran = time.monotonic() - master.started
        if (code != 0 and not self._stopping and master.restarts < _MASTER_RESTARTS
                and ran >= _STARTED):
            master.restarts += 1
            self.say("master %s exited with status %d after %.0f s; running it again "
                     "(it resumes its state)" % (master.name, code, ran))
            master.start()
            return
        master.final = code

    def _restart_worker(self, worker):
        """Tell the masters, restart the dead ``worker``; False when the budget is spent."""
        self._tell_gone(worker)
        now = time.monotonic()
        while self._worker_restarts and self._worker_restarts[0] < now - _WORKER_RESTART_WINDOW:
            self._worker_restarts.popleft()
        code = worker.proc.returncode
        worker.thread.join(5)
        last = "".join(worker.tail).strip().splitlines()[-1:] or [""]
        if len(self._worker_restarts) >= _WORKER_RESTARTS:
            self.say("worker %s exited with status %s (%s); %d restarts within %d s already, "
                     "stopping the crawl" % (worker.name, code, last[0], _WORKER_RESTARTS,
                                             _WORKER_RESTART_WINDOW))
            return False
        self._worker_restarts.append(now)
        self.say("worker %s exited with status %s (%s); restarting it" % (worker.name, code,
                                                                           last[0]))
        worker.start()
        return True

    def _stop(self):
        for master in self.masters:
            if master.alive:
                master.stop(_STOP_GRACE)
                if master.final is None:
                    master.final = master.proc.returncode
        # every master tells the workers to quit at its end; a master that died does not
        grace = float(self.settings.SHUTDOWN_TIMEOUT) + _WORKER_GRACE
        pause = threading.Event()
        deadline = time.monotonic() + grace
        while any(w.alive for w in self.workers) and time.monotonic() < deadline:
            pause.wait(_POLL)
        for worker in self.workers:
            worker.signal(signal.SIGTERM)
        for worker in self.workers:
            worker.stop(grace, signalled=True)
        self.logsink.stop(5.0)
        if self._gone is not None:
            self._gone.context.destroy(linger=0)


def _own_workers(args, n, out):
    """``--own-workers``: each master a whole ``spyder crawl`` with its own workers."""
    base = os.path.splitext(args.state or "spyder-crawl.db")[0]
    masters = [_Child("m%d" % i, child_argv(args, "m%d" % i, args.redis,
                                            "%s-m%d.db" % (base, i)), out)
               for i in range(1, n + 1)]
    for master in masters:
        master.start()

    def forward(signum, frame):
        for master in masters:
            master.signal(signal.SIGTERM)
    old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    status = 0
    try:
        for master in masters:
            code = master.proc.wait()
            if code and not status:
                status = code
                out.write("spyder crawl: master %s exited with status %d\n" % (master.name, code))
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        for master in masters:
            master.stop(_STOP_GRACE)
    return status
