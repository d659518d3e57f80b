"""The supervisor of a one-machine crawl: runs a crawl plan's children and watches them.

``Supervisor(plan).run()`` runs a logsink, a master and N workers as child processes
(``plan.argv(role)``: ``python -m spyder <role> --settings S -s KEY=VALUE ...``, so ``ps``
shows each role) and returns a ``CrawlResult``; ``progress.summary`` turns that into the
end-of-crawl report, and ``supervise`` does both for ``spyder crawl``, ``demo`` and
``bench`` (``spyder.crawl`` makes the plan):

  * start-up: the logsink, then the master, then the workers; each reports ``READY=1``
    on its own sd_notify socket (``NOTIFY_SOCKET``).  A child that exits first ends
    the command with that child's last error line (``StartupError``), never a hang.
  * supervision: the master's status broadcasts (topic ``spyder.master.`` on
    ``ZEROMQ_MGMT_MASTER``) drive the live progress line (``progress.Progress``); a worker or the logsink that dies is restarted
    (at most ``RESTART_LIMIT`` restarts per ``RESTART_WINDOW`` seconds, then the crawl
    is stopped with an error).  The master hears of a dead worker at once
    (``worker.gone`` with the child's identity ``worker:<host>:<pid>`` on
    ``ZEROMQ_MGMT_WORKER``): the URLs it claimed are dispatched again now, not after
    ``WORKER_HEARTBEAT_TIMEOUT``; those dealt into its pipe unclaimed return after
    ``DISPATCH_CLAIM_TIMEOUT``.
  * the end: the master (``CRAWL_EXIT_WHEN_DONE``) tells the workers to quit and
    exits 0 once the frontier is done; the supervisor stops what is left (workers,
    then the logsink) and prints a summary.  Ctrl-C / SIGTERM sends SIGTERM to the
    master (graceful: quit the workers, commit); a second one stops everything at
    once.  Rerunning with the same state file resumes.
  * no orphans: children run in their own session (a terminal's Ctrl-C reaches only the
    supervisor) and, on Linux, get SIGTERM from the kernel if the supervisor dies
    (``PR_SET_PDEATHSIG``); ``child_process_kwargs`` gives any other child (the demo
    site) the same.
"""
import asyncio
import collections
import ctypes
import os
import re
import signal
import socket
import subprocess
import sys
import time

import zmq

from spyder.core import constants as C
from spyder.core.wire.messages import MessageError, MgmtMessage
from spyder.core.sdnotify import Notifier
from spyder.core.wire.sockets import connect, create_context
from spyder.errors import StartupError
from spyder.progress import Progress, summary

#: Seconds a child may take to report READY=1.
READY_TIMEOUT = 60.0
#: Restarts of dead workers (and logsinks) allowed within RESTART_WINDOW seconds.
RESTART_LIMIT = 5
RESTART_WINDOW = 60.0
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


def child_process_kwargs():
    """Popen arguments shared by every child: own session, dies with the supervisor."""
    return {"stdin": subprocess.DEVNULL, "start_new_session": True,
            "preexec_fn": _die_with_parent()}


def tell_worker_gone(publisher, sender, pid):
    """Publish ``worker.gone`` for the worker process ``pid`` of this machine on
    ``publisher`` (a PUB connected to masters' ``ZEROMQ_MGMT_WORKER``), as ``sender``:
    the URLs it claimed return at once instead of after the heartbeat timeout."""
    identity = ("worker:%s:%d" % (socket.gethostname(), pid)).encode()
    try:
        publisher.send_multipart(MgmtMessage(
            C.ZMQ_SPYDER_MGMT_WORKER, sender, C.ZMQ_SPYDER_MGMT_WORKER_GONE,
            {C.MGMT_DETAIL_WORKER: identity}).serialize(), zmq.NOBLOCK)
    except zmq.ZMQError:
        pass  # the master is gone too; its heartbeat timeout would do


def _connectable(address):
    """A bind address such as tcp://*:5007 turned into one a local SUB can connect to."""
    for wildcard, local in (("tcp://*:", "tcp://127.0.0.1:"), ("tcp://0.0.0.0:", "tcp://127.0.0.1:"),
                            ("tcp://[::]:", "tcp://[::1]:")):
        if address.startswith(wildcard):
            return local + address[len(wildcard):]
    return address


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
        self.status_text = None       # the child's last STATUS= line
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
        self.progress = Progress(stream or sys.stderr, label)
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
        self._identity = ("supervisor:%s:%d" % (socket.gethostname(), os.getpid())).encode()
        self._gone = None             # PUB -> ZEROMQ_MGMT_WORKER (worker.gone)

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
        self._gone = None
        failure = None
        try:
            await self._start([self.logsink])
            status = self._follow_status(loop)
            await self._start([self.master])
            self._say_console()
            self._crawl_started = time.monotonic()
            await self._start(self.workers)
            self._notifier.ready("crawling with %d workers" % len(self.workers))
            self.progress.say("logsink, master and %d worker(s) running; Ctrl-C to stop"
                              % len(self.workers) if self.workers else
                              "logsink and master running (workers serve it from elsewhere); "
                              "Ctrl-C to stop")
            await self._supervise()
        except _ChildFailed as exc:
            failure = str(exc)
        except _Interrupted:
            if not self._crawl_started:  # stopped before the crawl ran: not a success
                self.result.exit_status = 130
        finally:
            self._notifier.stopping()
            await self._stop_all()
            self.progress.clear()
            if status is not None:
                loop.remove_reader(status.getsockopt(zmq.FD))
                status.context.destroy(linger=0)
                self._gone = None
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
                elif line.startswith("STATUS="):
                    child.status_text = line[len("STATUS="):]
                elif line == "STOPPING=1":
                    child.stopping = True
        self._wake()

    def _say_console(self):
        from spyder.console import url_in_status
        url = url_in_status(self.master.status_text)
        if url:
            self.progress.say("dashboard and API at %s (spyder status / spyder ctl)" % url)

    async def _spawn(self, child):
        child.ready = child.stopping = child.exit_seen = False
        child.returncode = None
        try:
            proc = await asyncio.create_subprocess_exec(
                *child.argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                env=child.env, **child_process_kwargs())
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
                    if child in self.workers:
                        self._tell_gone(child)
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
        # and a publisher on the workers' management address, for worker.gone
        gone = sock.context.socket(zmq.PUB)
        gone.linger = 0
        try:
            connect(gone, _connectable(self.settings.ZEROMQ_MGMT_WORKER), "ZEROMQ_MGMT_WORKER")
        except StartupError:
            gone.close()
        else:
            self._gone = gone
        return sock

    def _tell_gone(self, child):
        """Tell the master that worker ``child`` exited (``worker.gone``): its claimed URLs
        return at once."""
        if self._gone is not None and child.proc is not None:
            tell_worker_gone(self._gone, self._identity, child.proc.pid)

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


def supervise(plan, label, destinations=True, resumable=True):
    """Print the plan's notes, run it to its end, print the summary; returns the result."""
    for note in plan.notes:
        print("%s: %s" % (label, note), file=sys.stderr)
    result = Supervisor(plan, label).run()
    print("\n".join(summary(plan, result, label, destinations, resumable)), flush=True)
    return result
