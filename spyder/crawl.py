"""``spyder crawl``, ``spyder demo`` and ``spyder bench``: a whole crawl on one machine.

``main(settings, args)`` plans the crawl (a private ipc directory, the state file, the
seeds, a JSONL sink when nothing else stores results) and hands it to a ``Supervisor``,
which runs a logsink, a master and N workers as child processes
(``python -m spyder <role> --settings S -s KEY=VALUE ...``, so ``ps`` shows each role):

  * start-up: the logsink, then the master, then the workers; each reports ``READY=1``
    on its own sd_notify socket (``NOTIFY_SOCKET``).  A child that exits first ends
    the command with that child's last error line (``StartupError``), never a hang.
  * supervision: the master's status broadcasts (topic ``spyder.master.`` on
    ``ZEROMQ_MGMT_MASTER``) drive a live progress line (a log line every few seconds
    when stderr is not a terminal); a worker or the logsink that dies is restarted
    (at most ``RESTART_LIMIT`` restarts per ``RESTART_WINDOW`` seconds, then the crawl
    is stopped with an error); the master's lease on the dead worker's URLs expires
    and they are dispatched again.
  * the end: the master (``CRAWL_EXIT_WHEN_DONE``) tells the workers to quit and
    exits 0 once the frontier is done; the supervisor stops what is left (workers,
    then the logsink) and prints a summary.  Ctrl-C / SIGTERM sends SIGTERM to the
    master (graceful: quit the workers, commit); a second one stops everything at
    once.  Rerunning with the same state file resumes.
  * no orphans: children run in their own session (a terminal's Ctrl-C reaches only the
    supervisor) and, on Linux, get SIGTERM from the kernel if the supervisor dies
    (``PR_SET_PDEATHSIG``).

``demo`` and ``bench`` run the generated site of ``spyder.demosite`` in a child process
and crawl it with the same supervisor.
"""
import asyncio
import collections
import ctypes
import glob
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

import zmq

from spyder.core import constants as C
from spyder.core.messages import MessageError, MgmtMessage
from spyder.core.sdnotify import Notifier
from spyder.core.settings import find_settings_spec
from spyder.core.filelock import FileLock
from spyder.core.sockets import connect, create_context
from spyder.errors import StartupError

JSONL_SINK = "spyder.sinks.jsonl.JsonLinesSink"
WARC_SINK = "spyder.sinks.warc.WarcSink"
#: ``spyder crawl``'s state file unless ``--state`` or the settings name one.
DEFAULT_STATE_FILE = "spyder-crawl.db"
#: Seconds a child may take to report READY=1.
READY_TIMEOUT = 60.0
#: Restarts of dead workers (and logsinks) allowed within RESTART_WINDOW seconds.
RESTART_LIMIT = 5
RESTART_WINDOW = 60.0
#: Seconds between progress lines when stderr is not a terminal.
PROGRESS_LOG_INTERVAL = 5.0
#: Seconds the workers get to leave by themselves once the master is gone.
_WORKER_GRACE = 2.0
#: Extra seconds beyond SHUTDOWN_TIMEOUT before a child that does not stop is killed.
_KILL_MARGIN = 10.0

_PR_SET_PDEATHSIG = 1
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
except (OSError, AttributeError):
    _prctl = None


def _die_with_parent():
    """A ``preexec_fn`` that makes the kernel SIGTERM the child when this process dies."""
    if _prctl is None:
        return None
    parent = os.getpid()

    def preexec():
        _prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl
            os._exit(1)
    return preexec


def _spawn_kwargs():
    """Popen arguments shared by every child: own session, dies with the supervisor."""
    return {"stdin": subprocess.DEVNULL, "start_new_session": True,
            "preexec_fn": _die_with_parent()}


# ---------------------------------------------------------------------------- planning
class CrawlPlan:
    """What to run: the children's settings arguments and where results go."""

    def __init__(self, settings, settings_spec, user_overrides, workers, run_dir):
        self.settings = settings              # with the plan's overrides applied
        self.settings_spec = settings_spec
        self.user_overrides = list(user_overrides)
        self.overrides = {}                   # KEY -> value, passed as -s KEY=repr(value)
        self.workers = workers
        self.run_dir = run_dir                # private: notify sockets (and ipc sockets)
        self.notes = []                       # printed before the crawl starts

    def set(self, name, value):
        setattr(self.settings, name, value)
        self.overrides[name] = value

    def argv(self, role):
        argv = [sys.executable, "-m", "spyder", role]
        if self.settings_spec:
            argv += ["--settings", self.settings_spec]
        for text in self.user_overrides:
            argv += ["-s", text]
        for name, value in self.overrides.items():
            if name != "SEED_URLS" or role == "master":  # only the master seeds
                argv += ["-s", "%s=%r" % (name, value)]
        return argv

    def destinations(self):
        """``[(label, where)]``: where the crawl's results and logs went."""
        s = self.settings
        out = [("state", os.path.abspath(s.FRONTIER_STATE_FILE)
                if s.FRONTIER_STATE_FILE != ":memory:" else ":memory:")]
        for sink in s.SINKS:
            if sink == JSONL_SINK:
                out.append(("JSONL", os.path.abspath(s.JSONL_SINK_PATH)))
            elif sink == WARC_SINK:
                out.append(("WARC", os.path.abspath(s.WARC_DIR) + os.sep))
            else:
                out.append(("sink", sink))
        if s.MASTER_CALLBACK:
            out.append(("callback", "%s (and the sinks it registers)" % s.MASTER_CALLBACK))
        out.append(("logs", "as %s says" % os.path.abspath(s.LOGSINK_CONFIG) if s.LOGSINK_CONFIG
                    else os.path.abspath(s.LOG_DIR) + os.sep))
        return out


def _worker_count(requested):
    if requested is None:
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:
            return max(1, os.cpu_count() or 1)
    if requested < 1:
        raise StartupError("--workers must be at least 1 (got %d)" % requested)
    return requested


def _check_seed(url):
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError unless the port is valid
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise StartupError("seed URL %r is not an http:// or https:// URL with a host "
                           "(write it like http://example.com/)" % url)
    return url


def _connectable(address):
    """A bind address such as tcp://*:5007 turned into one a local SUB can connect to."""
    for wildcard, local in (("tcp://*:", "tcp://127.0.0.1:"), ("tcp://0.0.0.0:", "tcp://127.0.0.1:"),
                            ("tcp://[::]:", "tcp://[::1]:")):
        if address.startswith(wildcard):
            return local + address[len(wildcard):]
    return address


def plan_crawl(settings, args, run_dir, state=None, seeds=()):
    """The plan of ``spyder crawl`` (also the base of demo and bench)."""
    spec = find_settings_spec(getattr(args, "settings", None))
    if spec and (spec.endswith(".py") or os.sep in spec):
        spec = os.path.abspath(spec)
    plan = CrawlPlan(settings, spec, getattr(args, "overrides", []),
                     _worker_count(getattr(args, "workers", None)), run_dir)
    overridden = settings.overridden()
    if "PARENT_SOCKET_DIRECTORY" not in overridden:
        plan.set("PARENT_SOCKET_DIRECTORY", run_dir)
    if state is None:
        state = (settings.FRONTIER_STATE_FILE if "FRONTIER_STATE_FILE" in overridden
                 else DEFAULT_STATE_FILE)
    plan.set("FRONTIER_STATE_FILE", state if state == ":memory:" else os.path.abspath(state))
    seed_urls = list(dict.fromkeys(list(settings.SEED_URLS) + [_check_seed(u) for u in seeds]))
    plan.set("SEED_URLS", seed_urls)
    plan.set("CRAWL_EXIT_WHEN_DONE", True)
    plan.set("MASTER_STATUS_INTERVAL", min(float(settings.MASTER_STATUS_INTERVAL), 1.0))
    if not settings.SINKS and not settings.MASTER_CALLBACK:
        if "JSONL_SINK_PATH" not in overridden:
            base = "spyder-crawl" if state == ":memory:" else os.path.splitext(state)[0]
            plan.set("JSONL_SINK_PATH", os.path.abspath(base + ".jsonl"))
        plan.set("SINKS", [JSONL_SINK])
        plan.notes.append("no SINKS configured: writing outcomes to %s"
                          % os.path.abspath(plan.settings.JSONL_SINK_PATH))
    if (not seed_urls and not settings.MASTER_CALLBACK
            and (state == ":memory:" or not os.path.exists(plan.settings.FRONTIER_STATE_FILE))):
        raise StartupError("nothing to crawl: give seed URLs (spyder crawl http://example.com/), "
                           "SEED_URLS or a MASTER_CALLBACK in the settings, or the --state file "
                           "of an earlier crawl to resume it")
    return plan


# ---------------------------------------------------------------------------- children
class _Child:
    """One supervised process and its sd_notify socket."""

    def __init__(self, name, argv, env, notify_path):
        self.name = name
        self.argv = argv
        self.notify_path = notify_path
        self.env = dict(env, NOTIFY_SOCKET=notify_path)
        self.proc = None
        self.ready = False
        self.stopping = False         # the child said STOPPING=1
        self.returncode = None
        self.exit_seen = False        # the supervisor has reacted to the exit
        self.pump = None              # the task reading the child's output
        self.tail = collections.deque(maxlen=20)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK)
        self.sock.bind(notify_path)

    @property
    def alive(self):
        return self.proc is not None and self.returncode is None

    def signal(self, signum):
        if self.alive:
            try:
                self.proc.send_signal(signum)
            except ProcessLookupError:
                pass

    def describe_exit(self):
        """"exited with status 1: <its last error line>" or "was killed by SIGKILL"."""
        code = self.returncode
        if code is not None and code < 0:
            try:
                return "was killed by %s" % signal.Signals(-code).name
            except ValueError:
                return "was killed by signal %d" % -code
        lines = [line.strip() for line in self.tail if line.strip()]
        errors = ([line for line in lines if ": error:" in line]      # spyder X: error: ...
                  or [line for line in lines if re.match(r"\w+(Error|Exception)\b", line)]
                  or [line for line in lines if "error" in line.lower()])
        return "exited with status %s%s" % (code, ": " + errors[-1] if errors else "")


class _ChildFailed(Exception):
    pass


class _Interrupted(Exception):
    pass


def _child_env():
    env = dict(os.environ)
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID"):
        env.pop(name, None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


# ---------------------------------------------------------------------------- progress
def _clock(seconds):
    seconds = int(seconds)
    return "%d:%02d:%02d" % (seconds // 3600, seconds // 60 % 60, seconds % 60)


def _robots_waiting(frontier, text):
    """``text`` with the number of origins waiting for an unreachable robots.txt, or ""."""
    waiting = frontier.get("robots_waiting")
    return text % waiting if isinstance(waiting, int) and waiting > 0 else ""


class _Progress:
    """The live line on a terminal, a log line every few seconds otherwise."""

    def __init__(self, stream, label):
        self.stream = stream
        self.label = label
        self.tty = stream.isatty()
        self._last = 0.0

    def update(self, status, elapsed):
        now = time.monotonic()
        if not status or now - self._last < (0.5 if self.tty else PROGRESS_LOG_INTERVAL):
            return
        self._last = now
        results = status.get("results", {})
        frontier = status.get("frontier", {})
        fields = (self.label, _clock(elapsed), sum(results.values()),
                  status.get("pages_per_second", 0.0), frontier.get("queued", "?"),
                  status.get("in_flight", 0), results.get("server_error", 0),
                  frontier.get("hosts_active", "?"))
        if self.tty:
            line = ("%s: %s  %d pages  %.1f/s  queued %s  in flight %d  errors %d  hosts %s"
                    % fields) + _robots_waiting(frontier, "  robots waiting %d")
            # a line that wraps (also by an echoed ^C) could not be redrawn with "\r"
            self.stream.write("\r\x1b[K" + line[:self._columns() - 3])
        else:
            self.stream.write("%s: elapsed %s, %d pages (%.1f/s), queued %s, in flight %d, "
                              "errors %d, hosts active %s%s\n"
                              % (fields + (_robots_waiting(frontier, ", %d origins waiting for "
                                                                     "robots.txt"),)))
        self.stream.flush()

    def _columns(self):
        try:
            return os.get_terminal_size(self.stream.fileno()).columns or 80
        except (OSError, ValueError, AttributeError):
            return 80

    def say(self, text):
        """Print a message line without garbling the live line."""
        self.clear()
        self.stream.write("%s: %s\n" % (self.label, text))
        self.stream.flush()

    def clear(self):
        """Remove the live line (and on a terminal anything typed on it, such as ^C)."""
        if self.tty:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


# ---------------------------------------------------------------------------- supervisor
class CrawlResult:
    """How a supervised crawl ended."""

    def __init__(self):
        self.exit_status = 0
        self.status = {}          # the master's last status broadcast
        self.duration = 0.0       # seconds from the master's READY=1 to its exit
        self.done = False         # the master reported the crawl done
        self.error = None         # why the crawl failed, if it did


class Supervisor:
    """Run and watch the logsink, the master and the workers of one crawl plan."""

    def __init__(self, plan, label="spyder crawl", stream=None):
        self.plan = plan
        self.settings = plan.settings
        self.progress = _Progress(stream or sys.stderr, label)
        self.result = CrawlResult()
        self._notifier = Notifier()
        self._changed = None
        self._signals = 0
        self._forced = False
        self._forced_at = None
        self._restarts = collections.deque()
        self._tasks = set()
        env = _child_env()
        run_dir = plan.run_dir

        def child(role, name):
            return _Child(name, plan.argv(role), env,
                          os.path.join(run_dir, "notify-%s.sock" % name.replace(" ", "-")))
        self.logsink = child("logsink", "logsink")
        self.master = child("master", "master")
        self.workers = [child("worker", "worker %d" % (i + 1)) for i in range(plan.workers)]
        self.children = [self.logsink, self.master] + self.workers
        self._crawl_started = None

    # ------------------------------------------------------------------ entry point
    def run(self):
        """Run the crawl to its end; returns a ``CrawlResult`` (raises StartupError)."""
        try:
            return asyncio.run(self._run())
        finally:
            for child in self.children:
                child.sock.close()

    async def _run(self):
        loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._on_signal)
        for child in self.children:
            loop.add_reader(child.sock.fileno(), self._read_notify, child)
        status = None
        failure = None
        try:
            await self._start([self.logsink])
            status = self._follow_status(loop)
            await self._start([self.master])
            self._crawl_started = time.monotonic()
            await self._start(self.workers)
            self._notifier.ready("crawling with %d workers" % len(self.workers))
            self.progress.say("logsink, master and %d worker(s) running; Ctrl-C to stop"
                              % len(self.workers))
            await self._supervise()
        except _ChildFailed as exc:
            failure = str(exc)
        except _Interrupted:
            pass
        finally:
            self._notifier.stopping()
            await self._stop_all()
            self.progress.clear()
            if status is not None:
                loop.remove_reader(status.getsockopt(zmq.FD))
                status.context.destroy(linger=0)
            for child in self.children:
                loop.remove_reader(child.sock.fileno())
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
            self._notifier.close()
        if failure is not None:
            raise StartupError(failure)
        return self.result

    def _elapsed(self):
        return time.monotonic() - self._crawl_started if self._crawl_started else 0.0

    # ------------------------------------------------------------------ events
    def _wake(self):
        self._changed.set()

    async def _wait(self, timeout):
        """Wait until something happens (a child, a signal, a status) or ``timeout``."""
        self._changed.clear()
        try:
            await asyncio.wait_for(self._changed.wait(), max(timeout, 0.0))
        except asyncio.TimeoutError:
            pass

    def _on_signal(self):
        self._signals += 1
        if self._signals == 1:
            self.progress.say("stopping gracefully (press Ctrl-C again to stop at once)")
        elif not self._forced:
            self.progress.say("stopping now")
            self._force()
        self._wake()

    def _force(self):
        """Second signal: the master commits and exits at once, everything else is killed."""
        self._forced = True
        self._forced_at = time.monotonic()
        self.master.signal(signal.SIGTERM)
        for child in self.workers + [self.logsink]:
            child.signal(signal.SIGKILL)

    def _read_notify(self, child):
        while True:
            try:
                data = child.sock.recv(4096)
            except OSError:  # nothing more (BlockingIOError) or closed
                break
            for line in data.decode("utf-8", "replace").splitlines():
                if line == "READY=1":
                    child.ready = True
                elif line == "STOPPING=1":
                    child.stopping = True
        self._wake()

    async def _spawn(self, child):
        child.ready = child.stopping = child.exit_seen = False
        child.returncode = None
        try:
            proc = await asyncio.create_subprocess_exec(
                *child.argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                env=child.env, **_spawn_kwargs())
        except OSError as exc:
            raise _ChildFailed("cannot start the %s (%s): %s"
                               % (child.name, child.argv[0], exc.strerror)) from None
        child.proc = proc
        child.pump = self._task(self._pump(child, proc))
        self._task(self._watch(child, proc))

    def _task(self, coro):
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _pump(self, child, proc):
        """Keep the child's output flowing; remember its last lines for error reports."""
        pending = b""
        while True:
            chunk = await proc.stdout.read(65536)
            if not chunk:
                break
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()[-4096:]
            child.tail.extend(line[-1000:].decode("utf-8", "replace") for line in lines[-20:])
        if pending:
            child.tail.append(pending.decode("utf-8", "replace"))

    async def _watch(self, child, proc):
        code = await proc.wait()
        if child.proc is proc:
            child.returncode = code
        self._wake()

    async def _start(self, children):
        """Start ``children`` and wait until each reported READY=1."""
        for child in children:
            await self._spawn(child)
        deadline = time.monotonic() + READY_TIMEOUT
        while not all(child.ready for child in children):
            for child in children:
                if not child.alive:
                    await self._drain(child)
                    raise _ChildFailed("the %s failed to start: it %s"
                                       % (child.name, child.describe_exit()))
            if self._signals:
                raise _Interrupted()
            if time.monotonic() >= deadline:
                slow = ", ".join(c.name for c in children if not c.ready)
                raise _ChildFailed("%s did not report READY=1 within %d s" % (slow, READY_TIMEOUT))
            await self._wait(deadline - time.monotonic())

    @staticmethod
    async def _drain(child):
        """Wait (briefly) until the dead child's output is read to the end."""
        if child.pump is not None and not child.pump.done():
            try:
                await asyncio.wait_for(asyncio.shield(child.pump), 1.0)
            except asyncio.TimeoutError:
                pass

    # ------------------------------------------------------------------ running
    async def _supervise(self):
        """Until the master exits: restart dead workers, show progress, obey signals."""
        while True:
            if self._signals:
                return
            if not self.master.alive:
                return
            for child in self.workers + [self.logsink]:
                if not child.alive and not child.exit_seen:
                    child.exit_seen = True
                    if not await self._restart(child):
                        return
            self.progress.update(self.result.status, self._elapsed())
            if self._notifier.watchdog_interval:
                self._notifier.watchdog()
            await self._wait(0.5)

    async def _restart(self, child):
        """Restart a dead worker or logsink; False when the restart budget is spent."""
        self._read_notify(self.master)  # a STOPPING=1 may be waiting
        if self.master.stopping or not self.master.alive:
            return True  # the crawl is ending; the worker was told to quit
        await self._drain(child)
        now = time.monotonic()
        while self._restarts and self._restarts[0] < now - RESTART_WINDOW:
            self._restarts.popleft()
        if len(self._restarts) >= RESTART_LIMIT:
            self.result.error = ("the %s %s; %d restarts within %d s already, giving up"
                                 % (child.name, child.describe_exit(), RESTART_LIMIT,
                                    RESTART_WINDOW))
            self.progress.say("error: " + self.result.error)
            return False
        self._restarts.append(now)
        self.progress.say("the %s %s; restarting it" % (child.name, child.describe_exit()))
        await self._spawn(child)
        return True

    def _follow_status(self, loop):
        """Subscribe to the master's status broadcasts; returns the SUB socket."""
        sock = create_context(self.settings).socket(zmq.SUB)
        sock.linger = 0
        sock.setsockopt(zmq.SUBSCRIBE, C.ZMQ_SPYDER_MGMT_MASTER)
        try:
            connect(sock, _connectable(self.settings.ZEROMQ_MGMT_MASTER), "ZEROMQ_MGMT_MASTER")
        except StartupError:
            sock.context.destroy(linger=0)
            raise
        loop.add_reader(sock.getsockopt(zmq.FD), self._read_status, sock)
        return sock

    def _read_status(self, sock):
        # the FD only signals a change: read while ZeroMQ says a message is waiting
        while sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            try:
                msg = MgmtMessage.from_frames(sock.recv_multipart(zmq.NOBLOCK))
            except MessageError:
                continue
            if msg.data == C.ZMQ_SPYDER_MGMT_MASTER_STATUS and isinstance(msg.details, dict):
                self.result.status = msg.details
                self.result.done = bool(msg.details.get("done"))

    # ------------------------------------------------------------------ stopping
    async def _until(self, predicate, timeout):
        """Wait until ``predicate()`` or ``timeout``; a second signal shortens the wait."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if self._forced:
                deadline = min(deadline, self._forced_at + 5.0)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            await self._wait(min(remaining, 0.5))
        return True

    async def _stop_all(self):
        """Stop the master (gracefully), then the workers, then the logsink."""
        patience = float(self.settings.SHUTDOWN_TIMEOUT) + _KILL_MARGIN
        if not await self._stop([self.master], patience):
            self.progress.say("the master did not stop in time; killed it")
        if self._crawl_started:
            self.result.duration = self._elapsed()
            self._judge_master()
        if not await self._until(lambda: not any(w.alive for w in self.workers), _WORKER_GRACE):
            await self._stop(self.workers, patience)
        await self._stop([self.logsink], 5.0)
        for task in list(self._tasks):
            task.cancel()

    async def _stop(self, children, timeout):
        """SIGTERM ``children``, SIGKILL them after ``timeout`` s; False if it came to that."""
        def gone():
            return not any(child.alive for child in children)
        for child in children:
            child.signal(signal.SIGTERM)
        if await self._until(gone, timeout):
            return True
        for child in children:
            child.signal(signal.SIGKILL)
        await self._until(gone, 5.0)
        return False

    def _judge_master(self):
        result, master = self.result, self.master
        if self._forced:
            result.exit_status = 130
        elif result.error:
            result.exit_status = 1
        elif master.proc is not None and master.returncode not in (0, None):
            result.exit_status = 1
            result.error = "the master %s" % master.describe_exit()
            self.progress.say("error: " + result.error)


# ---------------------------------------------------------------------------- summary
def _size(count):
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return ("%d %s" % (count, unit)) if unit == "bytes" else ("%.1f %s" % (count, unit))
        count /= 1024.0


def summary(plan, result, label="spyder crawl", destinations=True, resumable=True):
    """The end-of-crawl summary as text lines (robots.txt fetches are counted apart)."""
    status = result.status
    results = status.get("results", {})
    pages = sum(results.values())
    duration = result.duration or status.get("uptime", 0.0)
    if result.done:
        state = "the crawl is complete"
    else:
        state = "the crawl failed" if result.error else "stopped before the end"
        if resumable:
            state += "; rerun the same command to resume"
    frontier = status.get("frontier", {})
    lines = ["%s: %s" % (label, state),
             "  pages      %d this run (success %d, redirect %d, not found %d, server error %d)"
             ", %d robots.txt"
             % (pages, results.get("success", 0), results.get("redirect", 0),
                results.get("not_found", 0), results.get("server_error", 0),
                status.get("robots", 0)),
             "  bytes      %s" % _size(status.get("bytes", 0)),
             "  duration   %.1f s, %.1f pages/s on average, %d worker(s)"
             % (duration, pages / duration if duration > 0 else 0.0, plan.workers)]
    if frontier:
        lines.append("  frontier   %s known, %s queued, %s disallowed by robots.txt, "
                     "%s retries, %s given up"
                     % tuple(frontier.get(k, "?") for k in ("known", "queued", "robots_disallowed",
                                                            "retries", "gave_up"))
                     + _robots_waiting(frontier, ", %d origins waiting for robots.txt"))
    if destinations:
        lines += ["  %-10s %s" % (name, where) for name, where in plan.destinations()]
    return lines


# ---------------------------------------------------------------------------- commands
def _run_plan(plan, label, destinations=True, resumable=True):
    for note in plan.notes:
        print("%s: %s" % (label, note), file=sys.stderr)
    result = Supervisor(plan, label).run()
    print("\n".join(summary(plan, result, label, destinations, resumable)), flush=True)
    return result


def main(settings, args):
    """``spyder crawl``: run a logsink, a master and workers until the crawl is done."""
    run_dir = tempfile.mkdtemp(prefix="spyder-crawl-")
    try:
        plan = plan_crawl(settings, args, run_dir, state=args.state, seeds=args.urls)
        return _run_plan(plan, "spyder crawl").exit_status
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


class _SiteProcess:
    """The demo site served by ``python -m spyder.demosite`` in a child process."""

    def __init__(self, pages, hosts):
        self._errors = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "spyder.demosite", "--pages", str(pages), "--hosts", str(hosts)],
            stdout=subprocess.PIPE, stderr=self._errors, bufsize=0, **_spawn_kwargs())
        try:
            self.seeds = self._read_seeds(hosts)
        except BaseException:
            self.close()
            raise

    def _read_seeds(self, hosts):
        """The first ``hosts`` lines the site prints, waiting at most READY_TIMEOUT."""
        deadline = time.monotonic() + READY_TIMEOUT
        fd, data = self.proc.stdout.fileno(), b""
        while data.count(b"\n") < hosts:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise StartupError("the demo site printed no seeds within %d s" % READY_TIMEOUT)
            chunk = os.read(fd, 65536)
            if not chunk:
                self.proc.wait()
                self._errors.seek(0)
                lines = self._errors.read().decode("utf-8", "replace").strip().splitlines()
                raise StartupError("the demo site did not start: %s"
                                   % (lines[-1] if lines else "exit status %s" % self.proc.returncode))
            data += chunk
        return data.decode("ascii", "replace").split()[:hosts]

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self._errors.close()

def _site_plan(settings, args, run_dir, directory, seeds, sinks):
    """A plan for crawling the demo site into ``directory``: fresh state, no callback."""
    plan = plan_crawl(settings, args, run_dir, state=os.path.join(directory, "state.db"),
                      seeds=seeds)
    plan.set("SEED_URLS", seeds)  # only the site, whatever the settings seed
    plan.set("MASTER_CALLBACK", None)
    plan.set("SINKS", sinks)
    plan.set("JSONL_SINK_PATH", os.path.join(directory, "crawl.jsonl"))
    plan.set("WARC_DIR", os.path.join(directory, "warc"))
    plan.set("LOG_DIR", os.path.join(directory, "log"))
    plan.notes = []
    return plan


def _remove_previous_run(directory):
    """The site's ports change on every run: a previous state would point nowhere.

    Refuses while another demo crawls into ``directory`` (its master holds the state
    file's lock), whose results would otherwise be deleted under it.
    """
    lock = FileLock(os.path.join(directory, "state.db.lock"),
                    busy="%s is in use by another spyder demo (pid {pid} holds {path}); wait "
                         "for it to end or give another --output" % directory)
    with lock:
        for path in (glob.glob(os.path.join(directory, "state.db*"))
                     + glob.glob(os.path.join(directory, "crawl.jsonl"))
                     + glob.glob(os.path.join(directory, "warc", "*.warc*"))):
            if path != lock.path:
                os.unlink(path)


def demo(settings, args):
    """``spyder demo``: serve the bundled site and crawl it into ``--output`` (JSONL + WARC)."""
    directory = os.path.abspath(args.output)
    os.makedirs(directory, exist_ok=True)
    _remove_previous_run(directory)
    site = _SiteProcess(pages=300, hosts=3)
    run_dir = tempfile.mkdtemp(prefix="spyder-crawl-")
    try:
        print("spyder demo: serving a generated site of 300 pages on %s"
              % ", ".join(site.seeds), file=sys.stderr)
        plan = _site_plan(settings, args, run_dir, directory, site.seeds, [JSONL_SINK, WARC_SINK])
        if "FRONTIER_MIN_DELAY" not in settings.overridden():
            plan.set("FRONTIER_MIN_DELAY", 0.0)
        return _run_plan(plan, "spyder demo", resumable=False).exit_status  # new ports each run
    finally:
        site.close()
        shutil.rmtree(run_dir, ignore_errors=True)


def bench(settings, args):
    """``spyder bench``: crawl a generated site with politeness delays at 0; print pages/s."""
    from spyder.demosite import DemoSite

    try:
        expected = len(DemoSite(args.pages, args.hosts).expected())
    except ValueError as exc:
        raise StartupError(str(exc)) from None
    site = _SiteProcess(pages=args.pages, hosts=args.hosts)
    run_dir = tempfile.mkdtemp(prefix="spyder-crawl-")
    directory = tempfile.mkdtemp(prefix="spyder-bench-")
    try:
        plan = _site_plan(settings, args, run_dir, directory, site.seeds, [JSONL_SINK])
        for name in ("FRONTIER_MIN_DELAY", "FRONTIER_CRAWL_DELAY_FACTOR"):
            if name not in settings.overridden():
                plan.set(name, 0.0)
        result = _run_plan(plan, "spyder bench", destinations=False,  # a temporary directory
                           resumable=False)
        results = result.status.get("results", {})
        final = sum(results.get(k, 0) for k in ("success", "redirect", "not_found"))
        rate = final / result.duration if result.duration else 0.0
        print("spyder bench: %d pages, %d hosts, %d worker(s): %d of %d URLs in %.1f s = "
              "%.0f pages/s (delays %s/%s, host concurrency %d)"
              % (args.pages, args.hosts, plan.workers, final, expected, result.duration, rate,
                 plan.settings.FRONTIER_MIN_DELAY, plan.settings.FRONTIER_CRAWL_DELAY_FACTOR,
                 plan.settings.FRONTIER_HOST_CONCURRENCY), flush=True)
        if result.exit_status == 0 and final != expected:
            print("spyder bench: warning: %d URLs expected, %d finished" % (expected, final),
                  file=sys.stderr)
        return result.exit_status
    finally:
        site.close()
        shutil.rmtree(run_dir, ignore_errors=True)
        shutil.rmtree(directory, ignore_errors=True)
