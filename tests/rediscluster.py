"""A real Redis Cluster on loopback ports, for the tests and benchmarks of the Redis store.

``RedisCluster(primaries=3, replicas=1).start()`` runs ``redis-server`` processes in
cluster mode on free 127.0.0.1 ports (each in its own directory under a temp dir,
without persistence), joins them with ``redis-cli --cluster create ... --cluster-replicas
N --cluster-yes``, waits for ``cluster_state:ok`` on every node and returns itself;
``stop()`` (also ``with`` and ``atexit``) kills every node it started, by pid, and
removes the directory -- on every exit path.  ``url`` is the ``FRONTIER_STORE`` value
(``redis://127.0.0.1:p1,127.0.0.1:p2,...``).  Fault helpers: ``kill(port)`` SIGKILLs
a node, ``add_primary()`` starts a node and joins it as an empty primary,
``reshard(to_port, slots)`` moves slots to it while clients run.

``RedisCluster(bind=ADDRESS, netns=NAME)`` runs every node, and every ``redis-cli``, in
the network namespace ``NAME`` (``ip netns exec``), bound to ``ADDRESS`` there: the
cluster of ``tests/test_cluster_netns.py``, which masters in other namespaces reach
over veth links.

``missing()`` is why a cluster cannot run here (no redis-server / redis-cli), or None.
"""
import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

SERVER = shutil.which("redis-server")
CLI = shutil.which("redis-cli")


def missing():
    """Why no cluster can be started here, or ``None``."""
    if SERVER is None:
        return "redis-server is not installed (apt-get install redis-server)"
    if CLI is None:
        return "redis-cli is not installed (apt-get install redis-tools)"
    try:
        import redis  # noqa: F401
    except ImportError:
        return "the redis Python package is not installed (pip install 'spyder[cluster]')"
    return None


def free_ports(n):
    """``n`` distinct free TCP ports on 127.0.0.1 whose cluster bus ports (+10000) are free
    too."""
    ports = []
    socks = []
    try:
        for _ in range(200):
            if len(ports) == n:
                break
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            if port + 10000 > 65535:
                s.close()
                continue
            bus = socket.socket()
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                s.close()
                continue
            finally:
                bus.close()
            socks.append(s)
            ports.append(port)
    finally:
        for s in socks:
            s.close()
    if len(ports) < n:
        raise RuntimeError("could not find %d free port pairs" % n)
    return ports


class RedisCluster:
    """A throw-away Redis Cluster (see the module docstring)."""

    def __init__(self, primaries=3, replicas=1, node_timeout_ms=2000, bind="127.0.0.1",
                 netns=None):
        self.primaries = primaries
        self.wrap = ["ip", "netns", "exec", netns] if netns else []
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        self.bind = bind
        self.dir = None
        self.procs = {}            # port -> Popen
        self.ports = []

    # ------------------------------------------------------------------ life cycle
    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        return "redis://" + ",".join("%s:%d" % (self.bind, p) for p in self.ports
                                     if p in self.procs)

    def start(self, timeout=60.0):
        why = missing()
        if why:
            raise RuntimeError(why)
        self.dir = tempfile.mkdtemp(prefix="spyder-redis-")
        atexit.register(self.stop)
        try:
            n = self.primaries * (1 + self.replicas)
            for port in free_ports(n):
                self._spawn(port)
            for port in self.ports:
                self._wait_ping(port, timeout)
            out = subprocess.run(
                self.wrap + [CLI, "--cluster", "create"]
                + ["%s:%d" % (self.bind, p) for p in self.ports]
                + ["--cluster-replicas", str(self.replicas), "--cluster-yes"],
                capture_output=True, text=True, timeout=timeout)
            if out.returncode != 0:
                raise RuntimeError("redis-cli --cluster create failed: %s%s"
                                   % (out.stdout[-2000:], out.stderr[-2000:]))
            self.wait_ok(timeout)
            self.wait_replicas(timeout)
            return self
        except BaseException:
            self.stop()
            raise

    def _spawn(self, port):
        node_dir = os.path.join(self.dir, str(port))
        os.makedirs(node_dir, exist_ok=True)
        argv = [SERVER, "--port", str(port), "--bind", self.bind, "--cluster-enabled", "yes",
                "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", str(self.node_timeout_ms),
                "--appendonly", "no", "--save", "", "--dir", node_dir, "--daemonize", "no",
                "--repl-diskless-sync-delay", "0",
                "--protected-mode", "no", "--logfile", os.path.join(node_dir, "redis.log")]
        proc = subprocess.Popen(self.wrap + argv, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        self.procs[port] = proc
        self.ports.append(port)
        return proc

    def cli(self, port, *args, timeout=10.0):
        out = subprocess.run(self.wrap + [CLI, "-h", self.bind, "-p", str(port)]
                             + [str(a) for a in args],
                             capture_output=True, text=True, timeout=timeout)
        return out.stdout

    def _wait_ping(self, port, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.procs[port].poll() is not None:
                raise RuntimeError("redis-server on port %d exited" % port)
            try:
                if self.cli(port, "PING", timeout=2.0).strip() == "PONG":
                    return
            except subprocess.TimeoutExpired:
                pass
            time.sleep(0.05)
        raise RuntimeError("redis-server on port %d did not answer" % port)

    def wait_ok(self, timeout=60.0, ports=None):
        """Wait until every live node (or ``ports``) reports ``cluster_state:ok``."""
        deadline = time.monotonic() + timeout
        ports = ports or [p for p in self.ports if self.alive(p)]
        while time.monotonic() < deadline:
            try:
                if all("cluster_state:ok" in self.cli(p, "CLUSTER", "INFO", timeout=2.0)
                       for p in ports):
                    return
            except subprocess.TimeoutExpired:
                pass
            time.sleep(0.1)
        raise RuntimeError("the cluster did not reach cluster_state:ok in %.0f s" % timeout)

    def wait_replicas(self, timeout=60.0):
        """Wait until every primary has its replicas online (synchronised): before that a
        WAIT there has no replica to wait for."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if all(self.cli(p, "INFO", "replication", timeout=2.0).count("state=online")
                       >= self.replicas for p in self.primaries_now()):
                    return
            except subprocess.TimeoutExpired:
                pass
            time.sleep(0.1)
        raise RuntimeError("the replicas did not come online in %.0f s" % timeout)

    def alive(self, port):
        proc = self.procs.get(port)
        return proc is not None and proc.poll() is None

    def stop(self):
        """Kill every node started here (by pid) and remove their files.  Idempotent."""
        for proc in self.procs.values():
            if proc.poll() is None:
                try:
                    proc.kill()
                except OSError:
                    pass
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self.procs.clear()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
        try:
            atexit.unregister(self.stop)
        except Exception:
            pass

    # ------------------------------------------------------------------ faults
    def primaries_now(self):
        """Ports of the live nodes that are primaries now."""
        out = []
        for port in self.ports:
            if self.alive(port) and "role:master" in self.cli(port, "INFO", "replication"):
                out.append(port)
        return out

    def kill(self, port, signum=signal.SIGKILL):
        """Kill the node on ``port`` (SIGKILL by default)."""
        proc = self.procs[port]
        proc.send_signal(signum)
        proc.wait(timeout=10)

    def add_primary(self, timeout=60.0):
        """Start a node and join it as a primary without slots; returns its port."""
        port, = free_ports(1)
        self._spawn(port)
        self._wait_ping(port, timeout)
        existing = next(p for p in self.ports if p != port and self.alive(p))
        out = subprocess.run(self.wrap + [CLI, "--cluster", "add-node", "%s:%d" % (self.bind, port),
                              "%s:%d" % (self.bind, existing)],
                             capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            raise RuntimeError("add-node failed: %s%s" % (out.stdout[-2000:], out.stderr[-2000:]))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:   # every node knows it
            if all(self.cli(p, "CLUSTER", "NODES").count("\n") >= len(
                    [q for q in self.ports if self.alive(q)]) for p in self.ports if self.alive(p)):
                break
            time.sleep(0.1)
        self.wait_ok(timeout)   # the new node too: a node that thinks the cluster is down
        return port             # answers a slot migration's RESTORE with CLUSTERDOWN

    def node_id(self, port):
        return self.cli(port, "CLUSTER", "MYID").strip()

    def reshard(self, to_port, slots, timeout=600.0):
        """Move ``slots`` hash slots from the other primaries to the node on ``to_port``."""
        out = subprocess.run(self.wrap + [CLI, "--cluster", "reshard",
                              "%s:%d" % (self.bind, to_port),
                              "--cluster-from", "all", "--cluster-to", self.node_id(to_port),
                              "--cluster-slots", str(slots), "--cluster-yes"],
                             capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            raise RuntimeError("reshard failed: %s%s" % (out.stdout[-2000:], out.stderr[-2000:]))
        return out.stdout
