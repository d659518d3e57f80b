"""CPU seconds and peak RSS of a process tree, read from /proc (Linux), for the benchmarks.

``ProcessTree(root_pid)`` polls ``/proc`` every ``interval`` seconds in a background
thread: it finds the root's descendants (``/proc/<pid>/task/*/children``), names
each by its command line (``role``: ``master``, ``worker``, ``logsink``,
``supervisor`` for ``spyder crawl``, ``nginx``, else the program name) and keeps, per
pid, the last CPU time (``utime + stime`` of ``/proc/<pid>/stat``), the peak RSS
(``VmHWM`` of ``/proc/<pid>/status``, the kernel's own high-water mark, so polling
cannot miss a peak), the current RSS, the time it waited for a CPU while runnable
(``/proc/<pid>/schedstat``: on a busy machine that is CPU contention, not the
process's own cost) and the CPU seconds of each of its threads by name (``main``;
libzmq's I/O threads are ``ZMQbg/IO/0`` ...: time py-spy cannot see).
``on_new(proc)`` is called for each process the first time it is seen
(``bench_nginx`` attaches py-spy there); a child still showing its parent's command
line (forked, not yet exec'd) is not seen yet.

A process's CPU time after its last sample is not seen (at most ``interval`` s of
it); the benchmarks therefore also take the exact total of the whole tree from
``os.wait4`` (``reap``) and report the difference as "not sampled".
"""
import json
import os
import threading
import time

_TICK = os.sysconf("SC_CLK_TCK")


class Proc:
    """What was learnt about one process."""

    __slots__ = ("pid", "role", "argv", "first_seen", "last_seen", "cpu", "peak_rss_kb",
                 "rss_kb", "run_wait", "threads", "marks")

    def __init__(self, pid, role, argv, now):
        self.pid = pid
        self.role = role
        self.argv = argv
        self.first_seen = self.last_seen = now
        self.cpu = 0.0            # seconds (user + system) at the last sample
        self.peak_rss_kb = 0
        self.rss_kb = 0
        self.run_wait = 0.0       # seconds runnable but waiting for a CPU
        self.threads = {}         # thread name -> cpu seconds (the main thread is the role's)
        self.marks = {}           # name -> cpu seconds when ProcessTree.mark(name) ran

    @property
    def label(self):
        return "%s (pid %d)" % (self.role, self.pid)


def role_of(argv):
    """A short name for a command line: the spyder role, ``nginx``, or the program."""
    if not argv:
        return "?"
    if "spyder" in argv and "-m" in argv:
        after = argv[argv.index("spyder") + 1:]
        role = after[0] if after else "spyder"
        return "supervisor" if role in ("crawl", "bench", "demo") else role
    name = os.path.basename(argv[0])
    return "nginx" if name.startswith("nginx") else name


def read_argv(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return [part.decode("utf-8", "replace") for part in f.read().split(b"\0") if part]
    except OSError:
        return []


def _stat_cpu(stat):
    """User + system CPU seconds from the bytes of a ``stat`` file (fields 14, 15 of proc(5))."""
    fields = stat.rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def read_cpu(pid):
    """User + system CPU seconds of ``pid`` (``None`` if it is gone)."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            return _stat_cpu(f.read())
    except (OSError, IndexError):
        return None


def read_rss(pid):
    """``(peak RSS, RSS)`` of ``pid`` in KiB (``None`` if it is gone)."""
    try:
        with open("/proc/%d/status" % pid, "rb") as f:
            text = f.read()
    except OSError:
        return None
    values = {}
    for line in text.splitlines():
        if line.startswith((b"VmHWM:", b"VmRSS:")):
            values[line[:5]] = int(line.split()[1])
    return values.get(b"VmHWM", 0), values.get(b"VmRSS", 0)


def _task_files(pid, name):
    """``(thread id, bytes)`` of file ``name`` of each of ``pid``'s threads still there."""
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return
    for task in tasks:
        try:
            with open("/proc/%d/task/%s/%s" % (pid, task, name), "rb") as f:
                yield task, f.read()
        except OSError:
            continue


def read_thread_cpu(pid):
    """``{thread name: CPU seconds}`` of ``pid``'s threads (same names are added up)."""
    found = {}
    for task, stat in _task_files(pid, "stat"):
        name = ("main" if task == str(pid)
                else stat[stat.index(b"(") + 1:stat.rindex(b")")].decode("utf-8", "replace"))
        found[name] = found.get(name, 0.0) + _stat_cpu(stat)
    return found


def read_run_wait(pid):
    """Seconds ``pid`` was runnable but waited for a CPU (``None`` if unknown)."""
    try:
        with open("/proc/%d/schedstat" % pid, "rb") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


def read_io(pid):
    """``(bytes read, bytes written)`` from storage by ``pid`` (``None`` if unknown)."""
    try:
        with open("/proc/%d/io" % pid, "rb") as f:
            values = dict(line.split(b":") for line in f.read().splitlines())
        return int(values[b"read_bytes"]), int(values[b"write_bytes"])
    except (OSError, KeyError, ValueError):
        return None


def children(pid):
    """The pids of ``pid``'s children (every thread's)."""
    return [int(child) for _, text in _task_files(pid, "children") for child in text.split()]


def reap(proc, timeout, on_tick=None, on_timeout=None, grace=30.0, tick=0.05):
    """Wait for the child ``proc`` (a ``Popen``) with ``os.wait4``; ``(exit status, rusage)``.

    The rusage covers the child and every descendant it waited for (the exact CPU of
    a process tree).  ``on_tick()`` runs every ``tick`` seconds while waiting; after
    ``timeout`` seconds ``on_timeout()`` runs once (default: SIGKILL), and the child is
    killed if it is still there ``grace`` seconds later.
    """
    deadline = time.monotonic() + timeout
    timed_out = False
    while True:
        pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, rusage
        now = time.monotonic()
        if now > deadline and not timed_out:
            (on_timeout or proc.kill)()
            deadline, timed_out = now + grace, True
        elif now > deadline:
            proc.kill()
        if on_tick is not None:
            on_tick()
        time.sleep(tick)


class ProcessTree:
    """Poll a process tree; see the module docstring."""

    def __init__(self, root_pid, interval=0.1, on_new=None, include_root=True):
        self.root_pid = root_pid
        self.interval = interval
        self.on_new = on_new
        self.include_root = include_root
        self.procs = {}            # pid -> Proc
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="procstats", daemon=True)

    def start(self):
        self.sample()
        self._thread.start()
        return self

    def stop(self):
        """Stop polling (after one last sample)."""
        self._stop.set()
        self._thread.join(10)
        self.sample()

    def _run(self):
        while not self._stop.wait(self.interval):
            self.sample()

    def _tree(self):
        """``[(pid, parent's argv)]`` of the tree."""
        found, todo = [], [(self.root_pid, None)]
        while todo:
            pid, parent_argv = todo.pop()
            found.append((pid, parent_argv))
            argv = self.procs[pid].argv if pid in self.procs else read_argv(pid)
            todo += [(child, argv) for child in children(pid)]
        return found if self.include_root else found[1:]

    def sample(self):
        """Read every live process of the tree once."""
        now = time.monotonic()
        with self._lock:
            for pid, parent_argv in self._tree():
                proc = self.procs.get(pid)
                if proc is None:
                    argv = read_argv(pid)
                    if not argv or argv == parent_argv:
                        continue  # gone already, a zombie, or forked but not yet exec'd
                    proc = self.procs[pid] = Proc(pid, role_of(argv), argv, now)
                    if self.on_new is not None:
                        self.on_new(proc)
                cpu, rss = read_cpu(pid), read_rss(pid)
                if cpu is None or rss is None:
                    continue
                proc.cpu = max(proc.cpu, cpu)
                proc.peak_rss_kb = max(proc.peak_rss_kb, rss[0])
                proc.rss_kb = rss[1]
                proc.run_wait = max(proc.run_wait, read_run_wait(pid) or 0.0)
                for name, seconds in read_thread_cpu(pid).items():
                    proc.threads[name] = max(proc.threads.get(name, 0.0), seconds)
                proc.last_seen = now

    def mark(self, name):
        """Remember every live process's CPU time under ``name`` (e.g. "first result")."""
        self.sample()
        with self._lock:
            for proc in self.procs.values():
                proc.marks.setdefault(name, proc.cpu)

    def by_role(self):
        """``[Proc]`` sorted by role, then pid."""
        order = {"supervisor": 0, "logsink": 1, "master": 2, "worker": 3}
        with self._lock:
            return sorted(self.procs.values(), key=lambda p: (order.get(p.role, 9), p.role, p.pid))


def write_report(report, path):
    """A benchmark's ``--json PATH`` option: ``report`` as JSON to ``path`` (``-``: stdout;
    nothing for ``None``)."""
    if path == "-":
        print(json.dumps(report, indent=1))
    elif path:
        with open(path, "w") as f:
            json.dump(report, f, indent=1)
