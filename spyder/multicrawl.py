"""``spyder crawl --masters N --redis URL``: N masters as peers on one Redis Cluster frontier.

Each master is a whole ``spyder crawl`` of its own -- a supervisor with its logsink, its
master and ``--workers`` workers on private ipc endpoints -- run as a child process with
``FRONTIER_STORE`` set to the cluster, its own ``FRONTIER_MASTER_NAME`` (``m1`` ...
``mN``), its own state-file base name (so its JSONL output is ``<base>-m<i>.jsonl``),
its logs in ``log/m<i>/`` and its console on a free port.  They share the crawl through
the store (``docs/cluster.md``): each takes host queues under a lease, and each exits
once the whole crawl is done.  Their
output lines are prefixed with the master's name; Ctrl-C / SIGTERM is passed on to all;
the exit status is the first non-zero one.  Rerunning the same command resumes (each
master finds its own state under its name).
"""
import os
import signal
import subprocess
import sys
import threading

from spyder.errors import StartupError

#: Seconds the children get to stop after a signal before they are killed.
_STOP_GRACE = 60.0


def child_argv(args, name, redis_url, state):
    """The ``spyder crawl`` command line of master ``name``."""
    argv = [sys.executable, "-m", "spyder", "crawl", "--redis", redis_url]
    if getattr(args, "settings", None):
        argv += ["--settings", os.path.abspath(args.settings)
                 if args.settings.endswith(".py") else args.settings]
    for text in getattr(args, "overrides", []):
        argv += ["-s", text]
    argv += ["-s", "FRONTIER_MASTER_NAME=%r" % name]
    if not any(text.startswith("MASTER_HTTP_ADDRESS=") for text in args.overrides):
        argv += ["-s", "MASTER_HTTP_ADDRESS='127.0.0.1:0'"]
    if not any(text.startswith("LOG_DIR=") for text in args.overrides):
        argv += ["-s", "LOG_DIR=%r" % os.path.abspath(os.path.join("log", name))]
    if args.workers is not None:
        argv += ["--workers", str(args.workers)]
    argv += ["--state", state]
    return argv + list(args.urls)


def _pump(stream, name, out):
    for line in iter(stream.readline, b""):
        out.write("[%s] %s" % (name, line.decode("utf-8", "replace")))
        out.flush()
    stream.close()


def main(settings, args, out=None):
    """Run ``args.masters`` masters on ``args.redis``; returns the exit status."""
    out = out or sys.stderr
    n = int(args.masters or 1)
    if n < 1:
        raise StartupError("--masters must be at least 1 (got %d)" % n)
    if not args.redis:
        raise StartupError("--masters needs --redis redis://host:port[,host:port...]: the "
                           "Redis Cluster the masters share")
    base = os.path.splitext(args.state or "spyder-crawl.db")[0]
    procs = []
    threads = []
    for i in range(1, n + 1):
        name = "m%d" % i
        argv = child_argv(args, name, args.redis, "%s-%s.db" % (base, name))
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
        procs.append((name, proc))
        thread = threading.Thread(target=_pump, args=(proc.stdout, name, out), daemon=True)
        thread.start()
        threads.append(thread)

    def forward(signum, frame):
        for _, proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
    old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    status = 0
    try:
        for name, proc in procs:
            code = proc.wait()
            if code and not status:
                status = code
                out.write("spyder crawl: master %s exited with status %d\n" % (name, code))
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        for _, proc in procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(_STOP_GRACE)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        for thread in threads:
            thread.join(5)
    return status
