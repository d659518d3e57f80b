"""py-spy profiles of running benchmark processes, and where their time goes, as tables.

``Recorder(directory)`` attaches ``py-spy record --format raw --function`` to a
process (``attach(name, pid)``: ``<directory>/<name>.txt`` holds the collapsed
stacks, one ``frame;frame;... count`` line per distinct stack, which speedscope and
flamegraph tools read too) and stops with it.  ``finish()`` waits for every
recording (one still running after ``timeout`` is ended with SIGINT, which makes
py-spy write what it has); ``tables(top)`` does too and then writes each one's
tables to ``<directory>/<name>.md``.  py-spy samples only threads that are running,
not those waiting in ``epoll``, so the samples are the process's busy time;
``idle=True`` (``--idle``) samples waiting threads too: wall-clock time.

``summarise(path, top)`` reads a collapsed file and returns the samples, and the
functions ranked by *own* time (the sample's innermost frame: time spent in the
function itself, including the C code it calls directly) and by *cumulative* time
(the function is anywhere on the stack, counted once per sample), and the own time
by module (Spyder's) or package (the libraries);
``markdown(name, summary, rate)`` renders both as Markdown tables.

py-spy is ``pip install py-spy``; attaching to another process needs root or
``kernel.yama.ptrace_scope = 0``.
"""
import collections
import os
import shutil
import signal
import subprocess
import time

#: Innermost frames that mean "waiting for events" (see ``summarise``).
_WAITS = frozenset(["EpollSelector.select", "PollSelector.select", "SelectSelector.select",
                    "select", "poll"])


def find_py_spy():
    """The py-spy binary, or SystemExit saying how to get it."""
    path = shutil.which("py-spy")
    if path is None:
        raise SystemExit("py-spy is not installed: pip install py-spy")
    return path


class Recorder:
    """Record processes with py-spy into ``directory``; see the module docstring."""

    def __init__(self, directory, rate=100, idle=False):
        self.directory = directory
        self.rate = rate
        self.idle = idle
        self.binary = find_py_spy()
        self.recordings = {}       # name -> (pid, output path, Popen, log file)
        os.makedirs(directory, exist_ok=True)

    def attach(self, name, pid):
        """Start recording ``pid`` as ``name``; returns the output path."""
        path = os.path.join(self.directory, "%s.txt" % name)
        log = open(os.path.join(self.directory, "%s.py-spy.log" % name), "wb")
        proc = subprocess.Popen(
            [self.binary, "record", "--pid", str(pid), "--rate", str(self.rate), "--format",
             "raw", "--function", "--output", path] + (["--idle"] if self.idle else []),
            stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT)
        self.recordings[name] = (pid, path, proc, log)
        return path

    def finish(self, timeout=30.0):
        """Wait for every recording to end (its process exited); ``{name: path}``."""
        deadline = time.monotonic() + timeout
        done = {}
        for name, (_, path, proc, log) in self.recordings.items():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            log.close()
            if os.path.exists(path):
                done[name] = path
        return done


    def tables(self, top=15):
        """``finish()``, then per recording ``(summary, Markdown)``, also written to
        ``<directory>/<name>.md``."""
        out = {}
        for name, path in self.finish().items():
            summary = summarise(path, top)
            text = markdown(name, summary, self.rate)
            with open(os.path.join(self.directory, "%s.md" % name), "w") as f:
                f.write(text + "\n")
            out[name] = summary, text
        return out


def read_collapsed(path):
    """``[(frames tuple, samples)]`` of a py-spy raw (collapsed stacks) file."""
    stacks = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if stack and count.isdigit():
                stacks.append((tuple(stack.split(";")), int(count)))
    return stacks

#: Frames on at least this share of the busy stacks are the trunk (see ``summarise``).
_TRUNK = 0.97


def _package(frame):
    """Where a frame's code lives: ``spyder/core/frontier.py`` -> ``spyder/core/frontier.py``
    for Spyder's modules, the top-level package (``zmq``, ``tornado``, ``asyncio``) or
    module (``json``, ``selectors``) otherwise."""
    location = frame.rpartition(" (")[2].rstrip(")").rpartition(":")[0]
    if location.startswith("spyder/"):
        return location
    return location.split("/", 1)[0].replace(".py", "")


def _waiting(frame):
    return frame.split(" (", 1)[0] in _WAITS


def summarise(path, top=15):
    """``{"samples", "waiting", "own": [(frame, samples)], "cumulative": [...]}``.

    Samples whose innermost frame is the event loop's ``select`` are counted apart
    as ``waiting`` and left out of the rankings: py-spy counts a thread as busy while
    it is runnable, so a loop woken up but waiting for a CPU on a busy machine lands
    there.  The cumulative ranking leaves out the trunk: frames on at least 97 % of
    the busy stacks (``main``, the event loop's ``run_forever`` ...).
    """
    own, cumulative, packages = collections.Counter(), collections.Counter(), collections.Counter()
    total = waiting = 0
    for frames, count in read_collapsed(path):
        if _waiting(frames[-1]):
            waiting += count
            continue
        total += count
        own[frames[-1]] += count
        packages[_package(frames[-1])] += count
        for frame in set(frames):
            cumulative[frame] += count
    trunk = {frame for frame, count in cumulative.items() if count >= _TRUNK * total}
    return {"samples": total, "waiting": waiting, "own": own.most_common(top),
            "packages": packages.most_common(),
            "cumulative": [(frame, count) for frame, count in cumulative.most_common()
                           if frame not in trunk][:top]}


def markdown(name, summary, rate):
    """Both rankings of ``summary`` as Markdown tables (share of the busy samples)."""
    total = summary["samples"] or 1
    lines = ["**%s**: %d busy samples at %d Hz (%.1f s), plus %d in the event loop's select "
             "(left out)" % (name, summary["samples"], rate, summary["samples"] / rate,
                             summary["waiting"]), ""]
    lines += ["| own time by module or package | share |", "|---|---|"]
    lines += ["| `%s` | %.1f %% |" % (name, 100.0 * count / total)
              for name, count in summary["packages"] if count >= 0.005 * total]
    lines.append("")
    for kind, title in (("own", "own time"), ("cumulative", "cumulative time")):
        lines += ["| %s: function (file:first line) | share |" % title, "|---|---|"]
        lines += ["| `%s` | %.1f %% |" % (frame, 100.0 * count / total)
                  for frame, count in summary[kind]]
        lines.append("")
    return "\n".join(lines)
