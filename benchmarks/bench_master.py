"""The master's own ceiling: results/s of a real ``spyder master`` fed by instant fake workers.

Nothing is fetched.  A real ``spyder master`` process (its real
``MultipleHostFrontier`` on a SQLite state file, the JSONL sink, robots.txt on,
politeness delays 0, ``FRONTIER_HOST_CONCURRENCY`` 8) dispatches to ``--workers``
fake workers (``tests/zmqfakes.FakeWorker``: real ZeroMQ sockets and the real wire
protocol of docs/protocol.md -- registration, heartbeats, XPUB subscription check,
quit.ack) that live in this process and answer every dispatched URL at once (what one
poll turn read goes back in one message, up to what the master's heartbeat echo says it
takes, as a real worker sends a loop turn's results; one per message, without a ticket,
to a master that takes one) with a synthetic page: status 200, a ~14 KB body sent as a
real worker sends it (with its SHA-1; only its length when the dispatch says that no
sink needs it), and ``--links`` links (default 30), a third of them already known
(uniformly drawn from every URL issued so far) and the rest new.  robots.txt requests
are answered 404 (allow all).

The state file is prefilled with ``--start`` known URLs (default 10^5, bulk inserts
through the store, see ``bench_frontier.prefill``) over ``--hosts`` hosts; the run
then grows the crawl by the new links until the master knows ``--until`` URLs
(default 10^6), so one master process goes from 10^5 to 10^6 known URLs.  Reported:

* results/s (answered dispatches per second, as this process sees them) in a window
  of ``--window`` results just after the start (after ``--warmup`` results) and just
  before the end, with the known-URL range each window covers, and a row per
  ``--step`` known URLs: rate, master CPU share and RSS;
* master RSS (``VmRSS``, and the peak ``VmHWM``) at both ends: the issue asks for
  growth < 50 MB from 10^5 to 10^6 known URLs;
* the master's CPU seconds per 1,000 results (exact, from ``os.wait4``) and this
  process's own CPU (the fake workers: if they were near 100 % they would be the limit).

``--profile DIR`` attaches py-spy to the master for the whole run (see
``profiles.py``; the rates of a profiled run are a little lower).  Only ipc sockets
in a private temporary directory are used.

    python benchmarks/bench_master.py                        # 10^5 -> 10^6 known URLs
    python benchmarks/bench_master.py --start 10000 --until 200000 --json -
    python benchmarks/bench_master.py --profile /tmp/master-profile
"""
import argparse
import collections
import hashlib
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import zmq

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

import bench_frontier  # noqa: E402
import build_state  # noqa: E402
import procstats  # noqa: E402
import profiles  # noqa: E402
from zmqfakes import FakeWorker  # noqa: E402

from spyder.core import constants as C  # noqa: E402
from spyder.core.wire.messages import (DataMessage, MessageError, announced_batch,  # noqa: E402
                                       joined_frames)
from spyder.core.settings import Settings  # noqa: E402

_BODY = (b"<!DOCTYPE html><html><head><title>synthetic</title></head><body>"
         + b"<p>" + b"lorem ipsum dolor sit amet " * 530 + b"</p></body></html>")
_HEADERS = {"Content-Type": "text/html; charset=utf-8", "Etag": '"synthetic"',
            "Last-Modified": "Sat, 01 Jan 2022 00:00:00 GMT", "Content-Length": str(len(_BODY))}
#: The body's SHA-1, which a real worker computes and sends with the page.
_SHA1 = hashlib.sha1(_BODY).hexdigest()
_HEARTBEAT = 5.0
#: Dispatches per message the fake workers take (a real worker's ZEROMQ_DATA_BATCH).
_BATCH = 16
_REGISTER_TIMEOUT = 120.0


#: One look at the master: answered results, URLs issued (known), master CPU s, RSS KiB,
#: seconds it waited for a CPU, bytes it wrote to storage.
_Sample = collections.namedtuple("_Sample", "time answered known cpu rss_kb cpu_wait written")


class _Links:
    """The synthetic web's links: a third known, the rest new, over ``hosts`` hosts."""

    def __init__(self, known, hosts, per_page, known_share, seed=1, url=bench_frontier.url):
        self.issued = known          # url(0 .. issued-1) are known to the master
        self.hosts = hosts
        self.url = url
        self.per_page = per_page
        self.known_links = int(round(per_page * known_share))
        self._rng = random.Random(seed)

    def page(self):
        rng, hosts, issued, url = self._rng, self.hosts, self.issued, self.url
        links = [url(rng.randrange(issued), hosts) for _ in range(self.known_links)]
        new = self.per_page - self.known_links
        links += [url(issued + k, hosts) for k in range(new)]
        self.issued += new
        return "\n".join(links)


def _master_argv(args, socket_dir, state, jsonl):
    settings = {
        "PARENT_SOCKET_DIRECTORY": socket_dir,
        "FRONTIER_STATE_FILE": state,
        "FRONTIER_MIN_DELAY": 0.0,
        "FRONTIER_CRAWL_DELAY_FACTOR": 0.0,
        "FRONTIER_HOST_CONCURRENCY": args.host_concurrency,
        "SINKS": ["spyder.sinks.jsonl.JsonLinesSink"],
        "JSONL_SINK_PATH": jsonl,
        "MASTER_STATUS_INTERVAL": 1.0,
        "WORKER_HEARTBEAT_TIMEOUT": 60.0,
        "CRAWL_EXIT_WHEN_DONE": False,
    }
    argv = [sys.executable, "-m", "spyder", "master"]
    for name, value in settings.items():
        argv += ["-s", "%s=%r" % (name, value)]
    for text in args.overrides:
        argv += ["-s", text]
    return argv


def _wants_body(msg):
    """The master wants the body of this dispatch's page, as a real worker reads the
    ticket: unless it says no (``TICKET_BODY`` False; a tree without that flag always
    wants it)."""
    body_flag = getattr(C, "TICKET_BODY", None)
    return body_flag is None or msg.ticket is None or msg.ticket.get(body_flag) is not False


def _page(msg):
    """``(body, optional values)`` of a page's answer, as a real worker sends them: the
    body's SHA-1 always; the body, or its length when the master wants no body."""
    if _wants_body(msg):
        return _BODY, {C.CURI_CONTENT_SHA1: _SHA1}
    return None, {C.CURI_CONTENT_SHA1: _SHA1, C.CURI_CONTENT_LENGTH: str(len(_BODY))}


class _Run:
    """The fake workers' loop: answer everything, keep the time series."""

    def __init__(self, args, workers, master_pid, batch):
        self.args = args
        self.workers = workers
        self.batch = batch          # results per message the master takes (its echo)
        self.master_pid = master_pid
        self.links = _Links(args.start, args.hosts, args.links, args.known_share,
                            url=build_state.url if args.state else bench_frontier.url)
        self.answered = 0
        self.robots = 0
        self.malformed = 0
        self.samples = []           # [_Sample]
        self.status = None
        self._poller = zmq.Poller()
        for worker in workers:
            self._poller.register(worker.pull, zmq.POLLIN)
        self._poller.register(workers[0].mgmt_in, zmq.POLLIN)

    def _answer(self, worker, frames, answers):
        """Answer the dispatches in ``frames`` (one message) into ``answers`` (frames)."""
        try:
            msgs = DataMessage.all_from_frames(frames, _BATCH)
        except MessageError:
            self.malformed += 1
            return
        for msg in msgs:
            if isinstance(msg, MessageError):
                self.malformed += 1
            elif msg.curi.optional_vars.get(C.CURI_ROBOTS_FETCH) == C.CURI_OPTIONAL_TRUE:
                self.robots += 1
                answers.append(worker.answer(msg, status=404, body=b"", ticket=self.batch > 1))
            else:
                msg.curi.rep_header = dict(_HEADERS)
                body, facts = _page(msg)
                answers.append(worker.answer(msg, status=200, body=body,
                                             ticket=self.batch > 1,
                                             extracted_urls=self.links.page(), **facts))
                self.answered += 1

    def _answer_all(self, worker):
        """Answer what waits on ``worker``'s socket (at most 1,000 messages), as a real
        worker sends a loop turn's results: one per message to a master that takes no
        more (matched by URL, without a ticket, as before), else together with tickets."""
        answers = []
        for _ in range(1000):
            try:
                frames = worker.pull.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            self._answer(worker, frames, answers)
        for i in range(0, len(answers), self.batch):
            run = answers[i:i + self.batch]
            worker.pub.send_multipart(run[0] if len(run) == 1 else joined_frames(run))

    def _sample(self):
        pid = self.master_pid
        rss = procstats.read_rss(pid) or (0, 0)
        self.samples.append(_Sample(time.monotonic(), self.answered, self.links.issued,
                                    procstats.read_cpu(pid) or 0.0, rss[1],
                                    procstats.read_run_wait(pid) or 0.0,
                                    (procstats.read_io(pid) or (0, 0))[1]))

    def run(self):
        """Answer until the master knows ``--until`` URLs or ``--timeout`` passed."""
        started = time.monotonic()
        deadline = started + self.args.timeout
        next_beat = next_sample = started
        self._sample()
        while self.links.issued < self.args.until:
            now = time.monotonic()
            if now > deadline:
                print("bench_master: --timeout reached at %d known URLs" % self.links.issued,
                      file=sys.stderr)
                break
            if now >= next_beat:
                for worker in self.workers:
                    worker.send_mgmt(C.ZMQ_SPYDER_MGMT_WORKER_HEARTBEAT,
                                     {C.MGMT_DETAIL_SLOTS: worker.slots,
                                      C.MGMT_DETAIL_FREE: worker.slots,
                                      C.MGMT_DETAIL_BATCH: worker.batch})
                next_beat = now + _HEARTBEAT
            if now >= next_sample:
                self._sample()
                next_sample = now + self.args.sample_interval
            for sock, _ in self._poller.poll(100):
                for worker in self.workers:
                    if sock is worker.pull:
                        self._answer_all(worker)
                if sock is self.workers[0].mgmt_in:
                    while self.workers[0].next_mgmt(0) is not None:
                        pass
                    self.status = self.workers[0].status
        self._sample()

    def quit(self, master, timeout):
        """SIGTERM the master, answer its quit with quit.ack, wait; ``(status, rusage)``."""
        master.send_signal(signal.SIGTERM)
        acked = set()

        def answer():
            for worker in self.workers:
                self._answer_all(worker)
                msg = worker.next_mgmt(0)
                while msg is not None:
                    if msg.data == C.ZMQ_SPYDER_MGMT_WORKER_QUIT and worker.identity not in acked:
                        worker.send_mgmt(C.ZMQ_SPYDER_MGMT_WORKER_QUIT_ACK)
                        acked.add(worker.identity)
                    msg = worker.next_mgmt(0)
        return procstats.reap(master, timeout, answer, tick=0.01)


def _master_batch(worker, timeout=5.0):
    """How many URLs one message may carry to the master: its heartbeat echo says (a
    master that says nothing, or sends no echo, takes one)."""
    worker.send_mgmt(C.ZMQ_SPYDER_MGMT_WORKER_HEARTBEAT, {
        C.MGMT_DETAIL_SLOTS: worker.slots, C.MGMT_DETAIL_FREE: worker.slots,
        C.MGMT_DETAIL_BATCH: worker.batch, C.MGMT_DETAIL_SENT: time.monotonic()})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = worker.next_mgmt(deadline - time.monotonic())
        if (msg is not None and msg.data == C.ZMQ_SPYDER_MGMT_WORKER_ECHO
                and msg.details.get(C.MGMT_DETAIL_WORKER) == worker.identity):
            return min(announced_batch(msg.details), _BATCH)
    return 1


def _rates(start, end):
    seconds = end.time - start.time
    results = max(1, end.answered - start.answered)
    return {"results_per_s": round((end.answered - start.answered) / seconds, 1),
            "written_kb_per_result": round((end.written - start.written) / results / 1024.0, 1),
            "master_cpu_share": round((end.cpu - start.cpu) / seconds, 2),
            "master_cpu_wait_share": round((end.cpu_wait - start.cpu_wait) / seconds, 2),
            "written_mb_per_s": round((end.written - start.written) / seconds / 2 ** 20, 1),
            "rss_mb": round(end.rss_kb / 1024.0, 1)}


def _window(samples, first, last):
    """Rates between the samples where ``answered`` first reached ``first`` and ``last``."""
    start = next((s for s in samples if s.answered >= first), None)
    end = next((s for s in samples if s.answered >= last), samples[-1])
    if start is None or end.time <= start.time:
        return None
    return dict(_rates(start, end), results=end.answered - start.answered,
                seconds=round(end.time - start.time, 2), known_from=start.known,
                known_to=end.known)


def _steps(samples, step):
    """A row of rates per ``step`` known URLs."""
    rows, previous = [], samples[0]
    mark = step * (previous.known // step + 1)
    for sample in samples[1:]:
        if sample.known >= mark or sample is samples[-1]:
            if sample.time > previous.time:
                rows.append(dict(_rates(previous, sample), known=sample.known,
                                 answered=sample.answered))
            previous = sample
            while mark <= sample.known:
                mark += step
    return rows


def measure(args):
    """One run: prefill, start the master, answer until ``--until``; the report."""
    work = tempfile.mkdtemp(prefix="bench-master-")
    master = None
    workers = []
    recorder = (profiles.Recorder(os.path.abspath(args.profile), idle=args.profile_idle)
                if args.profile else None)
    try:
        socket_dir = os.path.join(work, "sockets")
        state = os.path.join(work, "state.db")
        jsonl = os.path.join(work, "crawl.jsonl")
        started = time.perf_counter()
        if args.state and args.in_place:
            state = os.path.abspath(args.state)
        elif args.state:
            shutil.copyfile(args.state, state)
        else:
            bench_frontier.prefill(state, args.start, args.hosts)
        prefill_s = time.perf_counter() - started
        state_dir, state_name = os.path.split(state)
        env = {k: v for k, v in os.environ.items() if k not in ("SPYDER_SETTINGS", "NOTIFY_SOCKET")}
        with open(os.path.join(work, "master.err"), "w+") as err:
            master = subprocess.Popen(_master_argv(args, socket_dir, state, jsonl), cwd=work,
                                      env=env, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=err)
            if recorder is not None:
                recorder.attach("master", master.pid)
            settings = Settings(overrides={"PARENT_SOCKET_DIRECTORY": socket_dir})
            workers = [FakeWorker(settings, identity=b"worker:fake:%d" % i, slots=args.slots,
                                  batch=_BATCH) for i in range(args.workers)]
            try:
                for worker in workers:
                    worker.register(_REGISTER_TIMEOUT)
            except AssertionError as exc:
                err.seek(0)
                raise SystemExit("the master did not take the fake workers: %s\n%s"
                                 % (exc, err.read()[-3000:]))
            load_before = os.getloadavg()
            cpu_before = resource.getrusage(resource.RUSAGE_SELF)
            run = _Run(args, workers, master.pid, _master_batch(workers[0]))
            run.run()
            cpu_after = resource.getrusage(resource.RUSAGE_SELF)
            peak = procstats.read_rss(master.pid) or (0, 0)
            resume = None
            if args.resume:
                master.kill()  # SIGKILL: no clean close, the last checkpoint is what survives
                _, killed, rusage = os.wait4(master.pid, 0)
                master.returncode = killed
                for worker in workers:
                    worker.close()
                workers = []
                master, workers, resume = _resume(args, socket_dir, state, jsonl, work, err)
                run.workers = workers
                status, _ = run.quit(master, args.shutdown_timeout)
            else:
                status, rusage = run.quit(master, args.shutdown_timeout)
            err.seek(0)
            errors = err.read()
        if status != 0:
            raise SystemExit("spyder master exited with status %s:\n%s" % (status, errors[-3000:]))
        samples = run.samples
        wall = samples[-1].time - samples[0].time
        fake_cpu = (cpu_after.ru_utime + cpu_after.ru_stime
                    - cpu_before.ru_utime - cpu_before.ru_stime)
        master_cpu = rusage.ru_utime + rusage.ru_stime
        records, wrong = _check_records(jsonl)
        if wrong:
            raise SystemExit("bench_master: %d page record(s) of the JSONL sink without the "
                             "body's length or SHA-1 the fake workers sent" % wrong)
        report = {
            "config": {k: v for k, v in vars(args).items() if k != "json"},
            "resume": resume,
            "prefill_s": round(prefill_s, 1), "answered": run.answered, "robots": run.robots,
            "results_per_message": run.batch,
            "malformed_dispatches": run.malformed,
            "jsonl_records": records, "known_at_end": run.links.issued,
            "master_status_known": (run.status or {}).get("frontier", {}).get("known"),
            "seconds": round(wall, 1), "results_per_s": round(run.answered / wall, 1),
            "first_window": _window(samples, args.warmup, args.warmup + args.window),
            "last_window": _window(samples, max(0, run.answered - args.window), run.answered),
            "steps": _steps(samples, args.step),
            "written_kb_per_result": round((samples[-1].written - samples[0].written)
                                           / max(1, run.answered) / 1024.0, 1),
            "master_cpu_s": round(master_cpu, 2),
            "master_cpu_per_1000": round(1000.0 * master_cpu / max(1, run.answered), 3),
            "master_peak_rss_mb": round(peak[0] / 1024.0, 1),
            "fake_workers_cpu_share": round(fake_cpu / wall, 2),
            "state_file_mb": round(sum(os.path.getsize(os.path.join(state_dir, n))
                                       for n in os.listdir(state_dir)
                                       if n.startswith(state_name)) / 2 ** 20, 1),
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()],
        }
        first, last = report["first_window"], report["last_window"]
        if first and last:
            report["rss_growth_mb"] = round(last["rss_mb"] - first["rss_mb"], 1)
        if recorder is not None:
            for summary, text in recorder.tables(args.profile_top).values():
                report["profile"] = summary
                print(text)
        return report
    finally:
        for worker in workers:
            worker.close()
        if master is not None and master.returncode is None and master.poll() is None:
            master.kill()
            master.wait()
        shutil.rmtree(work, ignore_errors=True)


def _check_records(path):
    """``(records, pages whose record lacks the body's length or SHA-1)`` of the JSONL
    file: the facts of a body left out of a result must still reach the sink."""
    records = wrong = 0
    with open(path, "rb") as f:
        for line in f:
            records += 1
            record = json.loads(line)
            if record["status"] == 200 and (record["content_length"] != len(_BODY)
                                             or record["sha1"] != _SHA1):
                wrong += 1
    return records, wrong


def _resume(args, socket_dir, state, jsonl, work, err):
    """Start the master again on the state file a SIGKILL left; ``(master, workers,
    {"first_dispatch_s": seconds from the start to the first URL dispatched})``."""
    started = time.monotonic()
    env = {k: v for k, v in os.environ.items() if k not in ("SPYDER_SETTINGS", "NOTIFY_SOCKET")}
    master = subprocess.Popen(_master_argv(args, socket_dir, state, jsonl), cwd=work, env=env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    settings = Settings(overrides={"PARENT_SOCKET_DIRECTORY": socket_dir})
    workers = [FakeWorker(settings, identity=b"worker:fake:r%d" % i, slots=args.slots)
               for i in range(args.workers)]
    for worker in workers:
        worker.register(_REGISTER_TIMEOUT)
    registered = time.monotonic() - started
    poller = zmq.Poller()
    for worker in workers:
        poller.register(worker.pull, zmq.POLLIN)
    deadline = started + _REGISTER_TIMEOUT
    while time.monotonic() < deadline:
        if poller.poll(50):
            break
    return master, workers, {"first_dispatch_s": round(time.monotonic() - started, 2),
                             "registered_s": round(registered, 2)}


def _print(report):
    print("master ceiling: %d results (%d robots.txt) in %.1f s = %.0f results/s; known URLs "
          "%d -> %d (master says %s); up to %d results per message; prefill %.1f s; "
          "load %s -> %s" % (
              report["answered"], report["robots"], report["seconds"], report["results_per_s"],
              report["config"]["start"], report["known_at_end"], report["master_status_known"],
              report["results_per_message"], report["prefill_s"], "/".join("%.2f" % x for x in report["load_before"]),
              "/".join("%.2f" % x for x in report["load_after"])))
    for name in ("first_window", "last_window"):
        w = report[name]
        if w:
            print("  %-12s %6d results in %5.1f s = %6.0f results/s, known %d -> %d"
                  % (name.replace("_", " "), w["results"], w["seconds"], w["results_per_s"],
                     w["known_from"], w["known_to"]))
    print("  %10s %9s %10s %7s %11s %11s %9s %8s" % (
        "known", "results", "results/s", "CPU %", "CPU wait %", "written MB/s", "KB/result",
        "RSS MB"))
    for row in ([dict(report[n], known="%s" % n.split("_")[0], answered=report[n]["results"])
                 for n in ("first_window", "last_window") if report[n]] + report["steps"]):
        print("  %10s %9d %10.0f %7.0f %11.0f %11.1f %9.1f %8.1f" % (
            row["known"], row["answered"], row["results_per_s"], 100 * row["master_cpu_share"],
            100 * row["master_cpu_wait_share"], row["written_mb_per_s"],
            row["written_kb_per_result"], row["rss_mb"]))
    if report.get("resume"):
        print("  resume after SIGKILL: first dispatch %.2f s after the restart (workers "
              "registered after %.2f s)" % (report["resume"]["first_dispatch_s"],
                                            report["resume"]["registered_s"]))
    print("  written by the master: %.1f KB per result" % report["written_kb_per_result"])
    print("  master: %.2f CPU s = %.3f CPU s per 1,000 results; peak RSS %.1f MB; RSS growth "
          "%s MB between the windows; state file %.1f MB; %d JSONL records; fake workers used "
          "%.0f %% of a CPU" % (
              report["master_cpu_s"], report["master_cpu_per_1000"],
              report["master_peak_rss_mb"], report.get("rss_growth_mb"),
              report["state_file_mb"], report["jsonl_records"],
              100 * report["fake_workers_cpu_share"]))


def _known(path):
    """The known URLs of a state file (its frontier's counter)."""
    import sqlite3
    db = sqlite3.connect("file:%s?mode=ro" % os.path.abspath(path), uri=True)
    try:
        counters = json.loads(db.execute("SELECT value FROM meta WHERE key = 'counters'")
                              .fetchone()[0])
    finally:
        db.close()
    return counters["known"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--start", type=int, default=100000, help="known URLs at the start")
    parser.add_argument("--until", type=int, default=1000000, help="known URLs at the end")
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4, help="fake workers")
    parser.add_argument("--slots", type=int, default=50, help="slots per fake worker")
    parser.add_argument("--links", type=int, default=30, help="links per page")
    parser.add_argument("--known-share", type=float, default=1 / 3.0,
                        help="share of a page's links that are known already")
    parser.add_argument("--host-concurrency", type=int, default=8)
    parser.add_argument("--state", metavar="FILE",
                        help="start from this state file (benchmarks/build_state.py: its "
                             "synthetic web, --hosts as built; copied unless --in-place)")
    parser.add_argument("--grow", type=int, help="known URLs to add (sets --until)")
    parser.add_argument("--in-place", action="store_true", help="run on --state itself")
    parser.add_argument("--resume", action="store_true",
                        help="at the end SIGKILL the master, start it again on the state file "
                             "and time its first dispatch")
    parser.add_argument("--warmup", type=int, default=1000, help="results before the first window")
    parser.add_argument("--window", type=int, default=5000, help="results per window")
    parser.add_argument("--step", type=int, default=100000, help="known URLs per table row")
    parser.add_argument("--sample-interval", type=float, default=0.25)
    parser.add_argument("--timeout", type=float, default=600.0, help="longest run (s)")
    parser.add_argument("--shutdown-timeout", type=float, default=60.0)
    parser.add_argument("--json", metavar="PATH", help="write the report as JSON ('-': stdout)")
    parser.add_argument("--profile", metavar="DIR", help="record the master with py-spy into DIR")
    parser.add_argument("--profile-top", type=int, default=20)
    parser.add_argument("--profile-idle", action="store_true",
                        help="py-spy --idle: sample waiting time too (wall clock)")
    parser.add_argument("-s", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="another setting for spyder master")
    args = parser.parse_args(argv)
    if args.state:
        args.start = _known(args.state)
    if args.grow:
        args.until = args.start + args.grow
    if not 0 < args.hosts <= args.start < args.until:
        parser.error("need 0 < --hosts <= --start < --until")
    print("python %s, %d CPUs" % (sys.version.split()[0], os.cpu_count() or 1), flush=True)
    report = measure(args)
    _print(report)
    procstats.write_report(report, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
