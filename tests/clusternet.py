"""Machines for a crawl on a Redis Cluster, made of Linux network namespaces.

A *core* namespace holds a bridge with the address ``10.232.<n>.1/24``, where the Redis
Cluster's nodes (``rediscluster.RedisCluster(bind=..., netns=...)``) and the web site
listen; each master gets a namespace of its own, linked to the bridge by a veth pair
(``10.232.<n>.<10 + i>``), where it runs with its workers.  ``link(i, up=False)`` sets
master ``i``'s end of its link down: that master loses the cluster and the site, as a
machine whose network fails; ``link(i, up=True)`` restores it.

Everything lives in namespaces made here, with names unique to the run (never the
host's interfaces, routes or addresses); ``tear_down`` (also ``with`` and at exit) kills
the processes started here, by pid, and removes the namespaces -- their veth ends and
the bridge go with them -- on every exit path.  ``unavailable()`` says why namespaces
cannot be made here (not Linux, not root, no ``ip``), or ``None``; the helpers are
``tests/test_netns.py``'s.
"""
import atexit
import os
import random
import subprocess

from test_netns import _ip as ip
from test_netns import _unavailable as unavailable

__all__ = ["ClusterMachines", "ip", "unavailable"]


class ClusterMachines:
    """The core namespace and one namespace per master (see the module docstring)."""

    def __init__(self, masters):
        tag = "%x%x" % (os.getpid() & 0xfff, random.randrange(0x1000))
        self.subnet = "10.232.%d" % random.randrange(1, 255)
        self.core = "sp%score" % tag
        self.masters = ["sp%sm%d" % (tag, i) for i in range(masters)]
        self.links = ["vm%d%s" % (i, tag) for i in range(masters)]   # master-side veth ends
        self.procs = []
        self.made = []

    @property
    def core_address(self):
        return self.subnet + ".1"

    def master_address(self, i):
        return "%s.%d" % (self.subnet, 10 + i)

    def _run(self, *args):
        done = ip(*args)
        if done.returncode != 0:
            raise RuntimeError("ip %s: %s" % (" ".join(args), done.stderr.strip()))

    def __enter__(self):
        return self.build()

    def __exit__(self, *exc):
        self.tear_down()

    def build(self):
        atexit.register(self.tear_down)
        try:
            for ns in [self.core] + self.masters:
                self._run("netns", "add", ns)
                self.made.append(ns)
                self._run("-n", ns, "link", "set", "lo", "up")
            self._run("-n", self.core, "link", "add", "br0", "type", "bridge")
            self._run("-n", self.core, "addr", "add", self.core_address + "/24", "dev", "br0")
            self._run("-n", self.core, "link", "set", "br0", "up")
            for i, (ns, link) in enumerate(zip(self.masters, self.links)):
                core_end = "vc%d" % i
                self._run("-n", self.core, "link", "add", core_end, "type", "veth",
                          "peer", "name", link, "netns", ns)
                self._run("-n", self.core, "link", "set", core_end, "master", "br0", "up")
                self._run("-n", ns, "addr", "add", self.master_address(i) + "/24", "dev", link)
                self._run("-n", ns, "link", "set", link, "up")
        except BaseException:
            self.tear_down()
            raise
        return self

    def exec_argv(self, ns):
        """The prefix that runs a command in namespace ``ns``."""
        return ["ip", "netns", "exec", ns]

    def start(self, ns, argv, log_path, env, cwd):
        """Run ``argv`` in namespace ``ns`` from ``cwd``, stdout and stderr to ``log_path``
        (appended: a master started again adds to its log).  ``ip netns exec`` execs the
        command, so the process's pid is the command's."""
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(self.exec_argv(ns) + argv, env=env, cwd=cwd,
                                    stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        return proc

    def link(self, master, up):
        self._run("-n", self.masters[master], "link", "set", self.links[master],
                  "up" if up else "down")

    def tear_down(self):
        """Kill what was started here (each process group, by its leader's pid) and delete
        the namespaces.  Idempotent."""
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, 9)
                except OSError:
                    proc.kill()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        self.procs = []
        for ns in self.made:
            ip("netns", "del", ns)
        self.made = []
        try:
            atexit.unregister(self.tear_down)
        except Exception:
            pass
