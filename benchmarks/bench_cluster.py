"""Several masters on one Redis Cluster frontier, judged from nginx's own request log.

What it does (everything on 127.0.0.1; every loop bounded in count and time):

1. starts a Redis Cluster of ``--primaries`` (3) primaries with one replica each on
   loopback ports (``tests/rediscluster.py``: ``redis-cli --cluster create``), torn down
   on every exit path;
2. writes the static site of ``bench_nginx.py`` (``--pages`` 20,000 over ``--hosts`` 10,
   ``nginxsite.py``) and serves it with nginx, logging each request's port, status,
   URI, end time (``$msec``) and duration (``$request_time``);
3. runs ``--masters`` (3) ``spyder crawl --redis ...`` commands, master ``m<i>`` with
   ``--workers`` (2) workers, its own JSONL file and logs, all from the hosts' roots, at
   ``FRONTIER_HOST_CONCURRENCY=1`` and ``FRONTIER_MIN_DELAY=--min-delay`` (0.05 s);
4. injects ``--fault`` once ``--at`` (0.4) of the expected pages are in the JSONL files:
   ``kill-master`` (SIGKILL master m2's ``spyder master`` process; its ``spyder crawl``
   ends; the same command runs again ``--restart-after`` seconds later and resumes),
   ``kill-primary`` (SIGKILL one Redis primary; its replica takes over), ``reshard``
   (a fourth primary joins and ``--reshard-slots`` slots move to it while the crawl runs),
   ``cut-master`` (master m2's network link set down for ``--cut`` seconds, then restored:
   see below);
5. judges, from nginx's log and the JSONL files: complete (every expected URL, the right
   outcome), every outcome once across the masters' files, URLs requested twice (and
   the lease returns the masters logged), at most one request per host at a time and the
   smallest gap between two requests to a host, the longest time nothing was served;
   With ``--shared-workers`` the masters start no workers: ``--workers`` worker processes
   *in total* serve every master (``WORKER_MASTERS``, each master's endpoints in a socket
   directory of its own), with a logsink of their own, as ``spyder crawl --masters`` runs
   them; ``kill-master`` then shows whether the workers keep fetching for the others;
6. reports the costs: results/s, each master's CPU seconds, the workers' CPU seconds,
   the Redis nodes' CPU seconds
   per result (``INFO cpu``), the cluster's memory per known URL (``INFO memory`` of the
   primaries, after minus before, over the crawl's known URLs).

With ``--fault cut-master`` everything runs in Linux network namespaces made for the run
(``tests/clusternet.py``; root and ``ip netns`` needed): the cluster and nginx in a core
namespace on a bridge, each master with its workers in a namespace of its own linked to
the bridge by a veth pair, whose master-side end is set down for the cut.  A master
stopping itself after the cut (it lost its leases with outcomes not committed) is
started again, as for the other faults.

The run's work directory (the site, logs, JSONL files: ~330 MB at 20,000 pages) is
removed after a run that passed its checks; ``--keep`` keeps it, and a failed run keeps
it (its path is in the report).

    python benchmarks/bench_cluster.py                                  # 20,000 pages
    python benchmarks/bench_cluster.py --pages 5000 --fault kill-master --json -
    python benchmarks/bench_cluster.py --fault cut-master --cut 20
"""
import argparse
import collections
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

import nginxsite  # noqa: E402
import procstats  # noqa: E402
import rediscluster  # noqa: E402

FAULTS = ("none", "kill-master", "kill-primary", "reshard", "cut-master")


class TimedNginx(nginxsite.Nginx):
    """nginx whose access log also has each request's end time and duration."""

    def _config(self, site_dir, worker_processes):
        text = super()._config(site_dir, worker_processes)
        return text.replace("log_format bench '$server_port $status $connection $request_uri';",
                            "log_format bench '$server_port $status $connection $msec "
                            "$request_time $request_uri';").replace(
                                "buffer=256k flush=1s", "buffer=64k flush=1s")

    def requests(self):
        """``[(port, uri, status, start, end)]`` from the access log."""
        out = []
        with open(self.access_log, encoding="utf-8", errors="replace") as f:
            for line in f:
                port, status, _, msec, took, uri = line.rstrip("\n").split(" ", 5)
                end = float(msec)
                out.append((int(port), uri, int(status), end - float(took), end))
        return out


class NetnsSite(nginxsite.StaticSite):
    """The static site with its hosts on ``address`` (the core namespace's) instead of
    127.0.0.1."""

    def __init__(self, address, *args, **kwargs):
        self.address = address
        super().__init__(*args, **kwargs)

    def netloc(self, host):
        return "%s:%d" % (self.address, self.ports[host])


class NetnsNginx(TimedNginx):
    """``TimedNginx`` listening on the site's address inside namespace ``machines.core``."""

    def __init__(self, machines, *args, **kwargs):
        self.machines = machines
        super().__init__(*args, **kwargs)

    def _config(self, site_dir, worker_processes):
        return super()._config(site_dir, worker_processes).replace(
            "listen %s:" % nginxsite.LOOPBACK, "listen %s:" % self.site.address)

    def start(self):
        self.proc = subprocess.Popen(
            self.machines.exec_argv(self.machines.core)
            + [self.binary, "-p", self.run_dir, "-c", self.conf, "-e", self.error_log],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        probe = ("import socket, sys, time\n"
                 "deadline = time.monotonic() + 20\n"
                 "for port in sys.argv[2:]:\n"
                 "    while True:\n"
                 "        try:\n"
                 "            socket.create_connection((sys.argv[1], int(port)), 1).close()\n"
                 "            break\n"
                 "        except OSError:\n"
                 "            if time.monotonic() > deadline: sys.exit(1)\n"
                 "            time.sleep(0.05)\n")
        done = subprocess.run(self.machines.exec_argv(self.machines.core)
                              + [sys.executable, "-c", probe, self.site.address]
                              + [str(p) for p in self.site.ports], timeout=60)
        if done.returncode != 0:
            self.stop()
            raise SystemExit("nginx did not listen on %s within 20 s" % self.site.address)
        return self


class Masters:
    """The masters' ``spyder crawl`` commands (in namespaces ``machines.masters`` when
    ``machines`` is given)."""

    def __init__(self, args, site, url, work, machines=None):
        self.args, self.site, self.url, self.work = args, site, url, work
        self.machines = machines
        self.procs = {}
        self.cpu = collections.Counter()      # name -> CPU s of its master processes (ended)
        self.last_cpu = {}                    # master pid -> CPU s seen last
        self.outputs = collections.defaultdict(list)
        self.restarted_at = {}                # name -> log length when last restarted

    def argv(self, name):
        a = self.args
        settings = {
            "FRONTIER_MASTER_NAME": name,
            "FRONTIER_MIN_DELAY": a.min_delay, "FRONTIER_CRAWL_DELAY_FACTOR": 0.0,
            "FRONTIER_HOST_CONCURRENCY": 1,
            "FRONTIER_ACTIVE_QUEUES": a.active_queues or max(1, math.ceil(a.hosts / a.masters)),
            "FRONTIER_QUEUE_LEASE": a.lease,
            "SINKS": ["spyder.sinks.jsonl.JsonLinesSink"],
            "JSONL_SINK_PATH": os.path.join(self.work, "%s.jsonl" % name),
            "LOG_DIR": os.path.join(self.work, "log", name),
            "MASTER_HTTP_ADDRESS": "127.0.0.1:0",
        }
        argv = [sys.executable, "-m", "spyder", "crawl", "--redis", self.url,
                "--state", os.path.join(self.work, "%s.db" % name)]
        if a.shared_workers:
            argv.append("--no-workers")
            settings.update(shared_addresses(self.work, name))
        else:
            argv += ["--workers", str(a.workers)]
        for key, value in settings.items():
            argv += ["-s", "%s=%r" % (key, value)]
        if a.fault == "cut-master":
            # a fetch must end well within half a lease: a request written on the link
            # while it is down is then aborted before the link is back, never delivered late
            argv += ["-s", "REQUEST_TIMEOUT=%r" % min(20.0, a.lease / 2)]
        for text in a.overrides:
            argv += ["-s", text]
        return argv + self.site.seeds

    def start(self, name):
        env = {k: v for k, v in os.environ.items() if k not in ("SPYDER_SETTINGS", "NOTIFY_SOCKET")}
        out = open(os.path.join(self.work, "%s.out" % name), "ab")
        prefix = []
        if self.machines is not None:
            prefix = self.machines.exec_argv(self.machines.masters[int(name[1:]) - 1])
        self.procs[name] = subprocess.Popen(prefix + self.argv(name), cwd=self.work, env=env,
                                            stdin=subprocess.DEVNULL, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        out.close()

    def worker_pids(self):
        """The ``spyder worker`` processes under the masters' ``spyder crawl`` commands."""
        out = []
        for proc in self.procs.values():
            for pid in procstats.children(proc.pid):
                argv = procstats.read_argv(pid)
                if len(argv) > 3 and argv[2] == "spyder" and argv[3] == "worker":
                    out.append(pid)
        return out

    def master_pid(self, name):
        """The ``spyder master`` process under master ``name``'s ``spyder crawl``."""
        proc = self.procs.get(name)
        if proc is None:
            return None
        for pid in procstats.children(proc.pid):
            argv = procstats.read_argv(pid)
            if len(argv) > 3 and argv[2] == "spyder" and argv[3] == "master":
                return pid
        return None

    def sample(self):
        for name in self.procs:
            pid = self.master_pid(name)
            if pid is not None:
                cpu = procstats.read_cpu(pid)
                if cpu is not None:
                    self.last_cpu[pid] = (name, cpu)

    def master_cpu(self):
        out = collections.Counter()
        for name, cpu in self.last_cpu.values():
            out[name] += cpu
        return dict(out)

    def asked_restart(self, name):
        """Master ``name``'s last run stopped itself and asks to be restarted (and has not
        been since)."""
        path = os.path.join(self.work, "log", name, "master.log")
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except FileNotFoundError:
            return False
        asked = max(text.rfind("must be restarted"), text.rfind("restart this master"))
        return asked > self.restarted_at.get(name, -1) and not self.procs[name].returncode is None \
            and self._mark(name, len(text))

    def _mark(self, name, position):
        self.restarted_at[name] = position
        return True

    def running(self):
        return [n for n, p in self.procs.items() if p.poll() is None]

    def stop_all(self):
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 60
        for proc in self.procs.values():
            try:
                proc.wait(max(1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def shared_addresses(work, name):
    """Master ``name``'s socket directory and addresses when the workers are shared."""
    from spyder.core.worker.masters import directory_addresses
    directory = os.path.join(work, "sock", name)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    return dict(directory_addresses(directory), PARENT_SOCKET_DIRECTORY=directory)


class SharedWorkers:
    """``--workers`` ``spyder worker`` processes serving every master, and their logsink."""

    def __init__(self, args, work, names):
        directory = os.path.join(work, "sock")
        os.makedirs(directory, mode=0o700, exist_ok=True)
        common = ["-s", "PARENT_SOCKET_DIRECTORY=%r" % directory,
                  "-s", "ZEROMQ_LOGGING=%r" % ("ipc://" + os.path.join(directory, "wlog.sock"))]
        for text in args.overrides:
            common += ["-s", text]
        masters = [{k: v for k, v in shared_addresses(work, n).items()
                    if k != "PARENT_SOCKET_DIRECTORY"} for n in names]
        self.argv = {
            "logsink": [sys.executable, "-m", "spyder", "logsink"] + common
            + ["-s", "LOG_DIR=%r" % os.path.join(work, "log", "workers")],
            "worker": [sys.executable, "-m", "spyder", "worker"] + common
            + ["-s", "WORKER_MASTERS=%r" % masters]}
        self.count = args.workers
        self.work = work
        self.procs = []

    def start(self):
        env = {k: v for k, v in os.environ.items() if k not in ("SPYDER_SETTINGS", "NOTIFY_SOCKET")}
        out = open(os.path.join(self.work, "workers.out"), "ab")
        for role in ["logsink"] + ["worker"] * self.count:
            self.procs.append(subprocess.Popen(self.argv[role], cwd=self.work, env=env,
                                               stdin=subprocess.DEVNULL, stdout=out,
                                               stderr=subprocess.STDOUT,
                                               start_new_session=True))
        out.close()

    def worker_pids(self):
        return [p.pid for p in self.procs[1:] if p.poll() is None]

    def stop_all(self):
        for proc in self.procs[1:] + self.procs[:1]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def count_lines(paths):
    total = 0
    for path in paths:
        try:
            with open(path, "rb") as f:
                total += sum(1 for _ in f)
        except FileNotFoundError:
            pass
    return total


def redis_info(cluster):
    """``(CPU seconds of every live node, used memory of the primaries in bytes)``."""
    cpu = 0.0
    memory = 0
    for port in cluster.ports:
        if not cluster.alive(port):
            continue
        info = cluster.cli(port, "INFO")
        fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
        cpu += float(fields.get("used_cpu_user", 0)) + float(fields.get("used_cpu_sys", 0))
        if fields.get("role") == "master":
            memory += int(fields.get("used_memory", 0))
    return cpu, memory


def known_urls(cluster, url):
    """The crawl-wide ``known`` counter from the store (``redis-cli -c``: also from inside
    the cluster's namespace)."""
    prefix = url.rsplit("/", 1)[1]
    port = next(p for p in cluster.ports if cluster.alive(p))
    value = cluster.cli(port, "-c", "HGET", "{%s|meta}:counters" % prefix, "known").strip()
    try:
        return int(float(value or 0))
    except ValueError:
        return 0


def judge(args, site, nginx, work, names, dead_gap_from=None):
    expected = site.expected()
    outcomes = collections.defaultdict(list)
    for name in names:
        path = os.path.join(work, "%s.jsonl" % name)
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8") as f:
            for line in f:
                record = json.loads(line)
                outcomes[record["url"]].append((name, record["outcome"]))
    got, want = set(outcomes), set(expected)
    requests = nginx.requests()
    per_uri = collections.Counter((port, uri) for port, uri, _, _, _ in requests
                                  if uri != "/robots.txt")
    by_port = collections.defaultdict(list)
    for port, uri, status, start, end in requests:
        by_port[port].append((start, end, uri))
    overlaps, short_gaps, min_gap, max_gap = 0, 0, None, 0.0
    tolerance = 0.002   # $msec and $request_time have millisecond resolution
    for port, reqs in by_port.items():
        reqs.sort()
        for (s1, e1, u1), (s2, e2, u2) in zip(reqs, reqs[1:]):
            gap = s2 - e1
            max_gap = max(max_gap, gap)
            if gap < -tolerance:
                overlaps += 1
            elif gap < args.min_delay - tolerance:
                short_gaps += 1
            min_gap = gap if min_gap is None else min(min_gap, gap)
    ends = sorted(end for _, _, _, _, end in requests)
    longest_idle = max((b - a for a, b in zip(ends, ends[1:])), default=0.0)
    lease_returns = 0
    returned_hosts = set()     # ports of the host queues taken over after a lease ended
    failed_handling = set()    # (port, path) of results whose handling failed (retried)
    for root, _, files in os.walk(os.path.join(work, "log")):
        for name in files:
            with open(os.path.join(root, name), encoding="utf-8", errors="replace") as f:
                for line in f:
                    match = re.search(r"host queue \S+:(\d+) (taken over from master|released: "
                                      r"this master's last run held it)", line)
                    if match:
                        lease_returns += 1
                        returned_hosts.add(int(match.group(1)))
                    match = re.search(r"handling http://[^/]+:(\d+)(\S*) \(status \S+\) failed",
                                      line)
                    if match:   # the store failed meanwhile: recorded as an error, retried
                        failed_handling.add((int(match.group(1)), match.group(2) or "/"))
    twice = [(port, uri) for (port, uri), c in per_uri.items() if c > 1]
    report = {
        "expected": len(want), "unique": len(got), "missing": len(want - got),
        "unexpected": len(got - want),
        "outcomes_more_than_once": sum(1 for v in outcomes.values() if len(v) > 1),
        "wrong_outcome": sum(1 for u in got & want if outcomes[u][0][1] != expected[u]),
        "by_master": dict(collections.Counter(n for v in outcomes.values() for n, _ in v)),
        "requests": len(requests),
        "urls_fetched_twice": len(twice),
        "lease_returns_logged": lease_returns,
        "results_whose_handling_failed_logged": len(failed_handling),
        "fetched_twice_outside_returned_queues": sum(
            1 for port, uri in twice if port not in returned_hosts
            and (port, uri) not in failed_handling),
        "robots_requests": sum(1 for _, uri, _, _, _ in requests if uri == "/robots.txt"),
        "overlapping_requests_to_a_host": overlaps,
        "gaps_below_min_delay": short_gaps,
        "smallest_gap_s": None if min_gap is None else round(min_gap, 4),
        "longest_time_nothing_served_s": round(longest_idle, 2),
        "longest_gap_on_one_host_s": round(max_gap, 2),
        "examples_missing": sorted(want - got)[:3],
        "examples_twice": [u for (p, u), c in per_uri.items() if c > 1][:3],
    }
    report["complete"] = not (report["missing"] or report["unexpected"] or report["wrong_outcome"]
                              or report["outcomes_more_than_once"])
    report["polite"] = not (overlaps or short_gaps)
    report["no_refetch_beyond_lease_returns"] = not report["fetched_twice_outside_returned_queues"]
    return report


def run(args):
    work = tempfile.mkdtemp(prefix="spyder-bench-cluster-")
    os.chmod(work, 0o755)   # nginx's workers (nobody, when run as root) read the site
    machines = None
    if args.fault == "cut-master":
        import clusternet
        why = clusternet.unavailable()
        if why:
            raise SystemExit("--fault cut-master: %s" % why)
        machines = clusternet.ClusterMachines(args.masters).build()
    cluster = rediscluster.RedisCluster(
        primaries=args.primaries, replicas=1, node_timeout_ms=args.node_timeout,
        **({} if machines is None else dict(bind=machines.core_address, netns=machines.core)))
    nginx = None
    masters = shared = None
    result = {"args": {k: v for k, v in vars(args).items() if k != "json"}, "work": work}
    try:
        cluster.start()
        url = cluster.url + "/bench"
        ports = nginxsite.free_ports(args.hosts)
        site_dir = os.path.join(work, "site")
        if machines is None:
            site = nginxsite.StaticSite(args.pages, args.hosts, ports, seed=args.seed)
            site.write(site_dir)
            nginx = TimedNginx(site, site_dir, os.path.join(work, "nginx"),
                               nginxsite.find_nginx())
        else:
            site = NetnsSite(machines.core_address, args.pages, args.hosts, ports,
                             seed=args.seed)
            site.write(site_dir)
            nginx = NetnsNginx(machines, site, site_dir, os.path.join(work, "nginx"),
                               nginxsite.find_nginx())
        nginx.start()
        expected = len(site.expected())
        cpu0, mem0 = redis_info(cluster)
        masters = Masters(args, site, url, work, machines)
        names = ["m%d" % (i + 1) for i in range(args.masters)]
        started = time.monotonic()
        for name in names:
            masters.start(name)
        if args.shared_workers:
            shared = SharedWorkers(args, work, names)
            shared.start()
        worker_cpu = {}
        jsonl = [os.path.join(work, "%s.jsonl" % n) for n in names]
        fault_done = args.fault == "none"
        restart_at = None
        restore_at = None
        restarts = collections.Counter()
        events = []
        deadline = started + args.timeout
        while time.monotonic() < deadline:
            masters.sample()
            for pid in (shared.worker_pids() if shared else masters.worker_pids()):
                cpu = procstats.read_cpu(pid)
                if cpu is not None:
                    worker_cpu[pid] = cpu
            done = count_lines(jsonl)
            if not fault_done and done >= args.at * expected:
                fault_done = True
                t = round(time.monotonic() - started, 1)
                if args.fault == "kill-master":
                    pid = masters.master_pid("m2")
                    os.kill(pid, signal.SIGKILL)
                    events.append((t, "SIGKILL master m2 (pid %d) at %d results" % (pid, done)))
                    restart_at = time.monotonic() + args.restart_after
                elif args.fault == "kill-primary":
                    port = cluster.primaries_now()[0]
                    cluster.kill(port)
                    events.append((t, "SIGKILL Redis primary :%d at %d results" % (port, done)))
                elif args.fault == "cut-master":
                    machines.link(1, up=False)
                    restore_at = time.monotonic() + args.cut
                    events.append((t, "master m2's link down at %d results" % done))
                elif args.fault == "reshard":
                    port = cluster.add_primary()
                    events.append((t, "primary :%d joined at %d results" % (port, done)))
                    try:
                        cluster.reshard(port, args.reshard_slots)
                        what = "%d slots moved to :%d" % (args.reshard_slots, port)
                    except RuntimeError as exc:
                        what = "resharding failed: %s" % str(exc)[-300:]
                    events.append((round(time.monotonic() - started, 1), what))
            if restore_at is not None and time.monotonic() >= restore_at:
                machines.link(1, up=True)
                restore_at = None
                events.append((round(time.monotonic() - started, 1), "master m2's link up"))
            if restart_at is not None and time.monotonic() >= restart_at:
                masters.procs["m2"].wait(30)
                masters.start("m2")
                restart_at = None
                events.append((round(time.monotonic() - started, 1), "master m2 started again"))
            for name in list(masters.procs):   # Restart=on-failure, as systemd would
                proc = masters.procs[name]
                if (proc.poll() is not None and masters.running() and restarts[name] < 3
                        and not (restart_at is not None and name == "m2")
                        and masters.asked_restart(name)):
                    restarts[name] += 1
                    masters.start(name)
                    events.append((round(time.monotonic() - started, 1),
                                   "master %s stopped itself (lost leases); started again" % name))
            if not masters.running() and restart_at is None and restore_at is None:
                break
            time.sleep(0.2)
        elapsed = time.monotonic() - started
        timed_out = bool(masters.running())
        masters.stop_all()
        if shared is not None:
            shared.stop_all()
        nginx.stop()
        cpu1, mem1 = redis_info(cluster)
        known = known_urls(cluster, url)
        report = judge(args, site, nginx, work, names)
        results = report["unique"]
        master_cpu = masters.master_cpu()
        result.update({
            "events": events, "timed_out": timed_out, "elapsed_s": round(elapsed, 1),
            "results_per_s": round(results / elapsed, 1),
            "master_cpu_s": {k: round(v, 1) for k, v in sorted(master_cpu.items())},
            "results_per_master_cpu_s": round(results / max(sum(master_cpu.values()), 1e-9), 1),
            "worker_cpu_s": round(sum(worker_cpu.values()), 1),
            "results_per_worker_cpu_s": round(results / max(sum(worker_cpu.values()), 1e-9), 1),
            "redis_cpu_s": round(cpu1 - cpu0, 2),
            "redis_cpu_ms_per_result": round(1000 * (cpu1 - cpu0) / max(results, 1), 3),
            "known_urls": known,
            "redis_bytes_per_known_url": round((mem1 - mem0) / max(known, 1), 1),
            "exit_codes": {n: p.returncode for n, p in masters.procs.items()},
            "judged": report,
        })
    finally:
        if masters is not None:
            masters.stop_all()
        if shared is not None:
            shared.stop_all()
        if nginx is not None:
            nginx.stop()
        cluster.stop()
        if machines is not None:
            machines.tear_down()
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=20000)
    parser.add_argument("--hosts", type=int, default=10)
    parser.add_argument("--masters", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2,
                        help="workers per master, or in total with --shared-workers")
    parser.add_argument("--shared-workers", action="store_true",
                        help="--workers workers in total, each serving every master")
    parser.add_argument("--primaries", type=int, default=3)
    parser.add_argument("--min-delay", type=float, default=0.05)
    parser.add_argument("--lease", type=float, default=10.0)
    parser.add_argument("--active-queues", type=int, default=None,
                        help="FRONTIER_ACTIVE_QUEUES per master (default: hosts / masters)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--node-timeout", type=int, default=5000,
                        help="cluster-node-timeout in ms (failure detection; on a loaded "
                             "machine 2000 ms marks busy nodes failed)")
    parser.add_argument("--fault", choices=FAULTS, default="none")
    parser.add_argument("--at", type=float, default=0.4,
                        help="fraction of the expected pages after which the fault happens")
    parser.add_argument("--restart-after", type=float, default=20.0)
    parser.add_argument("--cut", type=float, default=20.0,
                        help="seconds master m2's link stays down (--fault cut-master)")
    parser.add_argument("--reshard-slots", type=int, default=4096)
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("-s", dest="overrides", action="append", default=[])
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work directory (site, logs, JSONL files), which is "
                             "otherwise removed after a run that passed its checks")
    args = parser.parse_args(argv)
    if args.fault == "cut-master" and args.shared_workers:
        parser.error("--fault cut-master runs each master with its own workers in its own "
                     "network namespace; it cannot be combined with --shared-workers")
    why = rediscluster.missing()
    if why:
        raise SystemExit(why)
    result = run(args)
    judged = result["judged"]
    ok = (judged["complete"] and judged["polite"] and judged["no_refetch_beyond_lease_returns"]
          and not result["timed_out"])
    if ok and not args.keep:   # (330 MB a run: the site and the logs)
        shutil.rmtree(result.pop("work"), ignore_errors=True)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json and args.json != "-":
        with open(args.json, "w") as f:
            f.write(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
