"""Exactly once across two master crashes: the SIGKILL-twice crawl of issue 18.

A ``spyder crawl`` of the generated demo site (``--pages``, default 2,000, over
``--hosts``) with the JSONL and the WARC sinks, politeness off (as bench_nginx.py
crawls), is SIGKILLed in its master when a third of the site's URLs were requested,
started again with the same state file, SIGKILLed again in its master just after the
resume (``--after`` requests of the second run), and started a third time to the end.
The site (``spyder.demosite``, in this process, on 127.0.0.1) logs every request.

Printed (``--json PATH`` writes it too): JSONL lines and distinct URLs, URLs missing or
twice; WARC response/metadata records and URLs with more than one; for each kill the
URLs of that run fetched again after it, the URLs it requested in the last
``FRONTIER_CHECKPOINT_SECONDS`` before the kill (the work one checkpoint interval may
lose) and how many of those fetched again were requested before that interval (they
should be none: work committed is never fetched again); the wall time of each run.
The work directory (state file, JSONL, WARC, logs) is removed after a run that was
exactly once; ``--keep`` keeps it, and a failed run keeps it and prints its path.

    python benchmarks/bench_crash_resume.py                       # default settings
    python benchmarks/bench_crash_resume.py -s FRONTIER_CHECKPOINTING=1
"""
import argparse
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from warcio.archiveiterator import ArchiveIterator  # noqa: E402

from spyder.demosite import DemoServer, DemoSite  # noqa: E402


def _master_pid(crawl):
    """The pid of the crawl's master process, or None."""
    for stat_path in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat_path) as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            if int(fields[1]) != crawl.pid or fields[0] == "Z":
                continue
            pid = int(stat_path.split("/")[2])
            with open("/proc/%d/cmdline" % pid, "rb") as cmd:
                if b"master" in cmd.read().split(b"\0"):
                    return pid
        except (OSError, IndexError, ValueError):
            continue
    return None


def _wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit("gave up waiting for %s" % what)
        time.sleep(0.01)


def _records(directory):
    out = []
    for path in sorted(glob.glob(os.path.join(directory, "*.warc.gz"))):
        with open(path, "rb") as stream:
            out += [r.rec_headers.get_header("WARC-Target-URI") for r in ArchiveIterator(stream)
                    if r.rec_type in ("response", "metadata")]
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--hosts", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--after", type=int, default=30,
                        help="requests of the resumed run before the second kill")
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work directory (state file, JSONL, WARC, logs), which "
                             "is otherwise removed after a run that was exactly once")
    parser.add_argument("-s", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="a setting (repeatable)")
    args = parser.parse_args(argv)

    work = tempfile.mkdtemp(prefix="spyder-crash-")
    server = DemoServer(DemoSite(args.pages, args.hosts, 1)).start()
    settings = {"SINKS": ["spyder.sinks.jsonl.JsonLinesSink", "spyder.sinks.warc.WarcSink"],
                "JSONL_SINK_PATH": os.path.join(work, "crawl.jsonl"),
                "WARC_DIR": os.path.join(work, "warc"), "LOG_DIR": os.path.join(work, "log"),
                "FRONTIER_MIN_DELAY": 0.0, "FRONTIER_CRAWL_DELAY_FACTOR": 0.0,
                "FRONTIER_HOST_CONCURRENCY": 8, "PARENT_SOCKET_DIRECTORY": work + "/s",
                "MASTER_HTTP_ADDRESS": "127.0.0.1:0"}
    argv = [sys.executable, "-m", "spyder", "crawl", "--workers", str(args.workers),
            "--state", os.path.join(work, "state.db")]
    for name, value in settings.items():
        argv += ["-s", "%s=%r" % (name, value)]
    for item in args.overrides:
        argv += ["-s", item]
    argv += list(server.seeds)
    expected = server.expected_outcomes()
    env = {k: v for k, v in os.environ.items() if k not in ("SPYDER_SETTINGS", "NOTIFY_SOCKET")}
    report = {"pages": len(expected), "settings": args.overrides, "runs": [], "kills": []}
    try:
        for run in range(3):
            before = len(server.requests)
            started, run_start = time.monotonic(), time.time()
            with open(os.path.join(work, "out-%d.txt" % run), "w") as out:
                crawl = subprocess.Popen(argv, cwd=work, env=env, stdout=out, stderr=out,
                                         stdin=subprocess.DEVNULL)
            if run < 2:
                goal = len(expected) // 3 if run == 0 else before + args.after
                _wait(lambda: len(server.requests) >= max(goal, before + 1), 600, "requests")
                killed_at = time.time()
                os.kill(_master_pid(crawl), signal.SIGKILL)
                report["kills"].append({"time": killed_at, "start": run_start,
                                        "requests": len(server.requests)})
            code = crawl.wait(900)
            report["runs"].append({"exit": code, "seconds": round(time.monotonic() - started, 2),
                                   "requests": len(server.requests) - before})
    finally:
        server.stop()

    interval = 2.0
    for item in args.overrides:
        match = re.match(r"FRONTIER_CHECKPOINT_SECONDS=(.*)", item)
        if match:
            interval = float(match.group(1))
    requests = list(server.requests)
    for kill in report["kills"]:
        # the URLs this run fetched before its master was killed, and when (a killed
        # run's workers may finish fetches after the kill: not the next run's)
        start = kill.pop("start")
        fetched = {"http://%s%s" % (r.host, r.path): r.time for r in requests
                   if start < r.time <= kill["time"] and not r.path.endswith("/robots.txt")}
        after = {"http://%s%s" % (r.host, r.path) for r in requests if r.time > kill["time"]}
        again = set(fetched) & after
        window = kill["time"] - interval
        kill.update({"run_requested_for_s": round(kill["time"] - min(fetched.values()), 2),
                     "fetched_again": len(again),
                     "requested_in_the_last_interval": sum(1 for t in fetched.values()
                                                           if t >= window),
                     "fetched_again_from_before_that": sum(1 for u in again
                                                           if fetched[u] < window)})
        del kill["time"]
    with open(settings["JSONL_SINK_PATH"]) as lines:
        records = [json.loads(line) for line in lines]
    urls = [r["url"] for r in records]
    archived = _records(settings["WARC_DIR"])
    with_response = {r["url"] for r in records
                     if isinstance(r["status"], int) and r["status"] < 599}
    report.update({
        "jsonl_lines": len(urls), "jsonl_urls": len(set(urls)),
        "jsonl_missing": len(set(expected) - set(urls)),
        "jsonl_twice": len({u for u in urls if urls.count(u) > 1}),
        "warc_records": len(archived),
        "warc_twice": len({u for u in archived if archived.count(u) > 1}),
        "warc_missing": len((with_response | server.robots_urls()) - set(archived)),
    })
    with open(os.path.join(work, "out-2.txt")) as out:
        report["summary"] = [line for line in out.read().splitlines() if "checkpoint" in line
                             or "complete" in line][-3:]
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as out:
            out.write(text)
    ok = (report["jsonl_missing"] == report["jsonl_twice"] == report["warc_twice"]
          == report["warc_missing"] == 0 and report["runs"][-1]["exit"] == 0)
    if ok and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
        print("exactly once: yes")
    else:
        print("exactly once: %s; work directory kept: %s" % ("yes" if ok else "NO", work))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
