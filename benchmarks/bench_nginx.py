"""Whole-crawl speed and cost against a static site served by nginx on 127.0.0.1.

What it does (everything on loopback; every loop bounded in count and time):

1. generates a deterministic (``--seed``) static site on disk: ``--pages`` pages
   (default 20,000) of ~14 KB HTML with 20-40 links each over ``--hosts`` virtual
   hosts (default 10), plus per host a robots.txt (``Disallow: /private/``, and
   linked pages there), redirects (nginx ``return 301``, same host and cross host),
   links to missing pages (404) and session-id variants (``?sid=<hex>`` links that
   ``StripSessionIds`` must collapse); see ``nginxsite.py``;
2. serves it with nginx, one port per host on 127.0.0.1, as a child process with its
   own prefix, pid and logs in a temporary directory (``daemon off``; nothing read
   from /etc/nginx).  nginx missing: as root it is installed with ``apt-get update &&
   apt-get install nginx-light`` (and says so), otherwise the script tells how;
3. runs ``spyder crawl --workers N`` (default 2) from the hosts' roots, ``--runs``
   times (default 3), each with a fresh state file and a fresh nginx, with
   ``FRONTIER_MIN_DELAY=0``, ``FRONTIER_CRAWL_DELAY_FACTOR=0``,
   ``FRONTIER_HOST_CONCURRENCY=8`` (``--host-concurrency``), the JSONL sink and
   everything else at its defaults (robots.txt, leases, persistence, politeness
   machinery on); ``-s KEY=VALUE`` passes more settings;
4. measures, per run: unique pages/s (distinct URLs in the JSONL output over the
   crawl's own duration, the master's start to its exit, as ``spyder crawl``
   prints it), CPU seconds per 1,000 pages for each process (master, each worker,
   logsink; the ``spyder crawl`` supervisor and nginx apart) and in total, and each
   process's peak RSS -- polled from /proc (``procstats.py``), the tree's exact
   total from ``os.wait4``; CPU "at the first result" is the start-up part, "CPU
   wait" the time a process was runnable but had no CPU (contention on the machine);
5. checks completeness: the JSONL holds every URL a correct crawl fetches, each
   once, with the right outcome, and nginx's access log shows no request under
   /private/, none with ``sid=`` and no page fetched twice;
6. prints the runs and their medians (``--json PATH`` writes them too; ``-`` =
   stdout); ``--profile DIR`` adds one run with py-spy attached to the master, the
   first worker and the logsink (collapsed stacks and Markdown tables of the top
   functions by own and cumulative time in DIR; not part of the medians), and where a
   page's CPU goes in each of them: microseconds per page by kind of work
   (``profilegroups.py``; ``<DIR>/<process>-groups.md``);
7. ``--reference wget2`` alternates each Spyder crawl with a wget2 crawl of the same
   seeds (``wget2ref.py``; kept away from ``sid=`` links, which Spyder collapses), run by
   run (S W, W S, ...), checks that wget2 fetched the same URLs, and prints wget2's
   medians and Spyder's CPU per page and pages/s as multiples of wget2's;
8. ``--link-stats`` first runs the worker's extract and scoper stages in this process
   over the site's pages (``linkstats.py``): links sent per page, the share the master
   already knows, and the extract stage's CPU step by step;
9. ``--experiment uvloop`` runs the crawl on uvloop instead
   (``experiments/sitecustomize.py``; Spyder is not changed), to size that
   optimisation; ``--extra-path DIR`` adds a directory where it is installed
   (``pip install --target DIR uvloop``).

    python benchmarks/bench_nginx.py                      # 20,000 pages, 10 hosts, 3 runs
    python benchmarks/bench_nginx.py --runs 1 --pages 5000 --json -
    python benchmarks/bench_nginx.py --runs 1 --profile /tmp/profiles
    python benchmarks/bench_nginx.py --reference wget2    # 3 Spyder, 3 wget2 crawls
    python benchmarks/bench_nginx.py --experiment uvloop --extra-path /tmp/extra

The machine's load average is recorded before and after each run: on a shared
machine prefer the medians, and compare CPU per 1,000 pages rather than pages/s.
"""
import argparse
import collections
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

import nginxsite
import linkstats
import procstats
import profilegroups
import profiles
import wget2ref

_ROLES = ("master", "worker", "logsink")
#: The sitecustomize hook of ``--experiment``.
_EXPERIMENTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "experiments")


def _nginx_binary():
    try:
        return nginxsite.find_nginx()
    except SystemExit:
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            raise
        return nginxsite.install_nginx()


def _crawl_argv(args, site, run_dir):
    settings = {
        "FRONTIER_MIN_DELAY": 0.0,
        "FRONTIER_CRAWL_DELAY_FACTOR": 0.0,
        "FRONTIER_HOST_CONCURRENCY": args.host_concurrency,
        "SINKS": ["spyder.sinks.jsonl.JsonLinesSink"],
        "JSONL_SINK_PATH": os.path.join(run_dir, "crawl.jsonl"),
        "LOG_DIR": os.path.join(run_dir, "log"),
    }
    argv = [sys.executable, "-m", "spyder", "crawl", "--workers", str(args.workers),
            "--state", os.path.join(run_dir, "state.db")]
    for name, value in settings.items():
        argv += ["-s", "%s=%r" % (name, value)]
    for text in args.overrides:
        argv += ["-s", text]
    return argv + site.seeds


def _crawl_env(args):
    env = {k: v for k, v in os.environ.items() if k not in ("SPYDER_SETTINGS", "NOTIFY_SOCKET")}
    if args.experiment:
        paths = [_EXPERIMENTS] + ([args.extra_path] if args.extra_path else [])
        env["PYTHONPATH"] = os.pathsep.join(paths + [env.get("PYTHONPATH", "")])
        env["SPYDER_BENCH_EXPERIMENT"] = ",".join(args.experiment)
    return env


def _stop_crawl(proc):
    print("bench_nginx: the crawl did not end in time; stopping it", file=sys.stderr)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)  # a second one stops at once


def _summary_numbers(stdout):
    """The master's own duration and counts from ``spyder crawl``'s summary."""
    numbers = {}
    match = re.search(r"duration\s+([\d.]+) s", stdout)
    if match:
        numbers["duration"] = float(match.group(1))
    match = re.search(r"pages\s+(\d+) this run \(success (\d+), redirect (\d+), not found (\d+), "
                      r"server error (\d+)\), (\d+) robots", stdout)
    if match:
        numbers.update(zip(("results", "success", "redirect", "not_found", "server_error",
                            "robots"), map(int, match.groups())))
    return numbers


def read_jsonl(jsonl_path):
    """``(records, {url: outcome of its first record})`` of a crawl's JSONL output."""
    lines, outcomes = 0, {}
    with open(jsonl_path, encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            lines += 1
            outcomes.setdefault(record["url"], record["outcome"])
    return lines, outcomes


def generated_check(expected):
    """The completeness check of a crawl of the generated site (``expected``: ``{url:
    outcome}`` of a correct crawl); see ``run_once``."""
    def check(jsonl_path, nginx):
        return _completeness(expected, jsonl_path, nginx)
    return check


def _completeness(expected, jsonl_path, nginx):
    """Compare the JSONL output and nginx's access log with a correct crawl."""
    lines, outcomes = read_jsonl(jsonl_path)
    got, want = set(outcomes), set(expected)
    requests, statuses, connections = nginx.access_counts()
    pages = collections.Counter()
    for (port, uri), count in requests.items():
        if uri != "/robots.txt":
            pages[port, uri] += count
    report = {
        "expected": len(want), "records": lines, "unique": len(got),
        "missing": len(want - got), "unexpected": len(got - want),
        "duplicate_records": lines - len(got),
        "wrong_outcome": sum(1 for url in got & want if outcomes[url] != expected[url]),
        "by_outcome": dict(collections.Counter(outcomes.values())),
        "requests": sum(requests.values()), "statuses": dict(statuses),
        "connections": connections,
        "robots_requests": sum(c for (_, uri), c in requests.items() if uri == "/robots.txt"),
        "private_requests": sum(c for (_, uri), c in requests.items()
                                if uri.startswith(nginxsite.DISALLOWED)),
        "sid_requests": sum(c for (_, uri), c in requests.items() if "sid=" in uri),
        "fetched_twice": sum(1 for c in pages.values() if c > 1),
        "examples_missing": sorted(want - got)[:5],
        "examples_unexpected": sorted(got - want)[:5],
    }
    report["complete"] = not (report["missing"] or report["unexpected"]
                              or report["duplicate_records"] or report["wrong_outcome"]
                              or report["private_requests"] or report["sid_requests"]
                              or report["fetched_twice"])
    report["text"] = (
        "%s -- %d of %d URLs (%s), %d missing, %d unexpected, %d duplicate records, %d wrong "
        "outcomes; nginx: %d requests on %d connections, %d robots.txt, %d /private/, %d with "
        "sid=, %d pages fetched twice" % (
            "OK" if report["complete"] else "FAILED", report["unique"], report["expected"],
            ", ".join("%s %d" % kv for kv in sorted(report["by_outcome"].items())),
            report["missing"], report["unexpected"], report["duplicate_records"],
            report["wrong_outcome"], report["requests"], report["connections"],
            report["robots_requests"], report["private_requests"], report["sid_requests"],
            report["fetched_twice"]))
    return report, set(got)


def _process_rows(tree, pages):
    rows = []
    workers = 0
    for proc in tree.by_role():
        name = proc.role
        if name == "worker":
            workers += 1
            name = "worker %d" % workers
        startup = proc.marks.get("first result")
        rows.append({
            "process": name, "pid": proc.pid, "cpu_s": round(proc.cpu, 2),
            "startup_cpu_s": None if startup is None else round(startup, 2),
            "cpu_per_1000": round(1000.0 * proc.cpu / pages, 3),
            "peak_rss_mb": round(proc.peak_rss_kb / 1024.0, 1),
            "cpu_wait_s": round(proc.run_wait, 2),
            "threads_cpu_s": {thread: round(cpu, 2)
                              for thread, cpu in sorted(proc.threads.items())},
        })
    return rows


def run_once(args, site, check, site_dir, run_dir, nginx_binary, recorder=None):
    """One crawl of the site; returns its report (a dict) and the set of URLs it wrote.

    ``check(jsonl path, nginx)`` judges the crawl's output: ``(report, URLs)``, the
    report holding at least ``unique`` (distinct URLs written), ``complete`` and
    ``text`` (one line for the console)."""
    os.makedirs(run_dir)
    nginx = nginxsite.Nginx(site, site_dir, os.path.join(run_dir, "nginx"), nginx_binary,
                            args.nginx_workers).start()
    attached = collections.Counter()

    def on_new(proc):
        if recorder is not None and proc.role in _ROLES and not attached[proc.role]:
            attached[proc.role] += 1
            recorder.attach(proc.role, proc.pid)

    load_before = os.getloadavg()
    env = _crawl_env(args)
    jsonl = os.path.join(run_dir, "crawl.jsonl")
    with open(os.path.join(run_dir, "crawl.out"), "w+") as out, \
            open(os.path.join(run_dir, "crawl.err"), "w+") as err:
        started = time.monotonic()
        proc = subprocess.Popen(_crawl_argv(args, site, run_dir), cwd=run_dir, env=env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        tree = procstats.ProcessTree(proc.pid, args.interval, on_new).start()
        marked = []

        def tick():
            if not marked and os.path.exists(jsonl) and os.path.getsize(jsonl) > 0:
                tree.mark("first result")
                marked.append(True)
        try:
            status, rusage = procstats.reap(proc, args.timeout, tick, lambda: _stop_crawl(proc))
        finally:
            tree.stop()
            nginx_cpu = nginx.stop()
        wall = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if status != 0:
        raise SystemExit("spyder crawl failed with status %s:\n%s%s"
                         % (status, stdout[-2000:], stderr[-3000:]))
    numbers = _summary_numbers(stdout)
    check, urls = check(jsonl, nginx)
    pages = check["unique"]
    if not pages:
        raise SystemExit("spyder crawl wrote no results:\n%s%s"
                         % (stdout[-2000:], stderr[-3000:]))
    duration = numbers.get("duration") or wall
    rows = _process_rows(tree, pages)
    crawl_cpu = sum(r["cpu_s"] for r in rows if r["process"].split()[0] in _ROLES)
    sampled = sum(r["cpu_s"] for r in rows)
    exact = rusage.ru_utime + rusage.ru_stime
    return urls, {
        "pages": pages, "duration_s": duration, "wall_s": round(wall, 2),
        "pages_per_s": round(pages / duration, 1),
        "cpu_per_1000": round(1000.0 * crawl_cpu / pages, 3),
        "crawl_cpu_s": round(crawl_cpu, 2),
        "tree_cpu_exact_s": round(exact, 2), "not_sampled_cpu_s": round(exact - sampled, 2),
        "nginx_cpu_s": round(nginx_cpu, 2),
        "processes": rows, "master_summary": numbers, "completeness": check,
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
    }


def _print_run(label, run):
    print("%s: %d unique pages in %.1f s = %.0f pages/s; %.3f CPU s per 1,000 pages "
          "(master + workers + logsink); load %s -> %s"
          % (label, run["pages"], run["duration_s"], run["pages_per_s"], run["cpu_per_1000"],
             "/".join("%.2f" % x for x in run["load_before"]),
             "/".join("%.2f" % x for x in run["load_after"])))
    print("  %-12s %7s %9s %11s %13s %9s %11s  %s" % (
        "process", "pid", "CPU s", "start-up s", "CPU s/1000 p", "peak MB", "CPU wait s",
        "CPU s of other threads"))
    for row in run["processes"]:
        print("  %-12s %7d %9.2f %11s %13.3f %9.1f %11.2f  %s" % (
            row["process"], row["pid"], row["cpu_s"],
            "-" if row["startup_cpu_s"] is None else "%.2f" % row["startup_cpu_s"],
            row["cpu_per_1000"], row["peak_rss_mb"], row["cpu_wait_s"],
            ", ".join("%s %.2f" % kv for kv in row["threads_cpu_s"].items()
                      if kv[0] != "main" and kv[1] >= 0.01)))
    print("  nginx %.2f CPU s; whole spyder tree %.2f CPU s exactly (%.2f s after the last "
          "sample); wall %.1f s" % (run["nginx_cpu_s"], run["tree_cpu_exact_s"],
                                   run["not_sampled_cpu_s"], run["wall_s"]))
    print("  completeness: %s" % run["completeness"]["text"])


def _medians(runs):
    def med(values):
        values = [v for v in values if v is not None]
        return round(statistics.median(values), 3) if values else None

    per_role = {}
    for role in ("supervisor",) + _ROLES:
        rows = [[r for r in run["processes"] if r["process"].split()[0] == role] for run in runs]
        per_role[role] = {
            "cpu_per_1000": med([sum(r["cpu_per_1000"] for r in rs) for rs in rows if rs]),
            "cpu_per_1000_each": med([r["cpu_per_1000"] for rs in rows for r in rs]),
            "peak_rss_mb": med([max(r["peak_rss_mb"] for r in rs) for rs in rows if rs]),
        }
    return {
        "pages_per_s": med([r["pages_per_s"] for r in runs]),
        "cpu_per_1000": med([r["cpu_per_1000"] for r in runs]),
        "duration_s": med([r["duration_s"] for r in runs]),
        "nginx_cpu_per_1000": med([1000.0 * r["nginx_cpu_s"] / r["pages"] for r in runs]),
        "complete": all(r["completeness"]["complete"] for r in runs),
        "roles": per_role,
    }


def _print_medians(medians, count):
    print("median of %d run(s): %.0f unique pages/s, %.3f CPU s per 1,000 pages "
          "(master + workers + logsink), %s" % (
              count, medians["pages_per_s"], medians["cpu_per_1000"],
              "complete" if medians["complete"] else "INCOMPLETE"))
    for role, values in medians["roles"].items():
        if values["cpu_per_1000"] is not None:
            print("  %-10s %.3f CPU s per 1,000 pages (%.3f each), peak RSS %.1f MB"
                  % (role, values["cpu_per_1000"], values["cpu_per_1000_each"],
                     values["peak_rss_mb"]))
    print("  nginx      %.3f CPU s per 1,000 pages" % medians["nginx_cpu_per_1000"])


def _profile(args, site, check, site_dir, work, nginx_binary):
    recorder = profiles.Recorder(os.path.abspath(args.profile), args.profile_rate)
    _, run = run_once(args, site, check, site_dir, os.path.join(work, "profiled"),
                      nginx_binary, recorder)
    _print_run("profiled run (py-spy attached; not in the medians)", run)
    tables = {}
    for name, (summary, text) in recorder.tables(args.profile_top).items():
        print(text)
        tables[name] = summary
    run["profiles"] = tables
    recordings = {name: (pid, path) for name, (pid, path, _, _) in recorder.recordings.items()}
    run["profile_groups"] = profilegroups.analyse(run, recordings, args.workers)
    for name, result in run["profile_groups"].items():
        text = profilegroups.table(name, result)
        print(text + "\n")
        with open(os.path.join(os.path.abspath(args.profile), "%s-groups.md" % name), "w") as f:
            f.write(text + "\n")
    return run


def add_arguments(parser):
    """The options every nginx crawl benchmark shares (this one, ``bench_realistic``)."""
    parser.add_argument("--hosts", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--host-concurrency", type=int, default=8,
                        help="FRONTIER_HOST_CONCURRENCY (default 8)")
    parser.add_argument("--nginx-workers", type=int, default=1, help="nginx worker_processes")
    parser.add_argument("--interval", type=float, default=0.1, help="/proc polling interval (s)")
    parser.add_argument("--timeout", type=float, default=900.0, help="longest crawl (s)")
    parser.add_argument("--json", metavar="PATH", help="write the report as JSON ('-': stdout)")
    parser.add_argument("--profile", metavar="DIR", help="one more run under py-spy, into DIR")
    parser.add_argument("--profile-rate", type=int, default=100, help="py-spy samples/s")
    parser.add_argument("--profile-top", type=int, default=20, help="rows per profile table")
    parser.add_argument("-s", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="another setting for spyder crawl")
    parser.add_argument("--experiment", action="append", default=[], choices=("uvloop",),
                        help="run the crawl on uvloop (experiments/sitecustomize.py)")
    parser.add_argument("--extra-path", metavar="DIR",
                        help="a directory with uvloop for --experiment (pip --target)")
    parser.add_argument("--wget2-threads", type=int, default=10,
                        help="wget2 --max-threads of the reference crawls (default 10)")
    parser.add_argument("--link-stats", action="store_true",
                        help="first measure the links per page and the extract steps with "
                             "the worker's own code, in this process (linkstats.py)")


def _compare_urls(spyder_urls, wget2_urls):
    """How the URL sets of a Spyder crawl and a wget2 crawl differ."""
    only_spyder, only_wget2 = spyder_urls - wget2_urls, wget2_urls - spyder_urls
    return {"same": not (only_spyder or only_wget2), "spyder": len(spyder_urls),
            "wget2": len(wget2_urls), "only_spyder": len(only_spyder),
            "only_wget2": len(only_wget2), "examples_only_spyder": sorted(only_spyder)[:5],
            "examples_only_wget2": sorted(only_wget2)[:5]}


def _reference_medians(runs, spyder):
    """The wget2 runs' medians and Spyder's figures as multiples of them."""
    def med(key):
        return round(statistics.median(r[key] for r in runs), 3)

    reference = {"pages": med("pages"), "pages_per_s": med("pages_per_s"),
                 "cpu_per_1000": med("cpu_per_1000"), "peak_rss_mb": med("peak_rss_mb"),
                 "same_urls": all(r["same_urls"]["same"] for r in runs)}
    if spyder:
        reference["spyder_cpu_per_page_x"] = round(
            spyder["cpu_per_1000"] / reference["cpu_per_1000"], 2)
        reference["spyder_pages_per_s_x"] = round(
            spyder["pages_per_s"] / reference["pages_per_s"], 2)
    return reference


def _print_reference(reference, count):
    print("wget2, median of %d run(s): %.0f unique pages/s, %.3f CPU s per 1,000 pages, peak "
          "RSS %.1f MB; %s" % (count, reference["pages_per_s"], reference["cpu_per_1000"],
                               reference["peak_rss_mb"],
                               "the same URLs as Spyder's crawls" if reference["same_urls"]
                               else "NOT the same URLs as Spyder's crawls"))
    if "spyder_cpu_per_page_x" in reference:
        print("Spyder against wget2: CPU per page %.2fx wget2's, pages/s %.2fx wget2's"
              % (reference["spyder_cpu_per_page_x"], reference["spyder_pages_per_s_x"]))


def benchmark(args, site, check, site_dir, work, nginx_binary, report, reject_regex=None,
              expected_urls=None):
    """``args.runs`` Spyder crawls of the written site (each judged by ``check``, see
    ``run_once``) and, with ``args.reference == "wget2"``, as many wget2 crawls alternating
    with them (S W, W S, S W ...: each order as often); the medians, the profiled run,
    ``report`` completed and written; returns the exit status.  wget2's URLs are compared
    with the Spyder crawl of the same round, or with ``expected_urls`` without one."""
    wget2 = args.reference == "wget2"
    runs, references = [], []
    for number in range(args.runs):
        order = ("spyder", "wget2") if number % 2 == 0 else ("wget2", "spyder")
        spyder_urls = wget2_run = None
        for crawler in order:
            label = "run %d" % (number + 1)
            if crawler == "spyder":
                spyder_urls, run = run_once(args, site, check, site_dir,
                                            os.path.join(work, "run%d" % (number + 1)),
                                            nginx_binary)
                _print_run(label, run)
                runs.append(run)
            elif wget2:
                wget2_run = wget2ref.run(site, site_dir, os.path.join(work, "wget2-%d" % (
                    number + 1)), nginx_binary, args.wget2_threads, args.timeout, reject_regex,
                    nginx_workers=args.nginx_workers)
                wget2ref.print_run(label, wget2_run)
                references.append(wget2_run)
            sys.stdout.flush()
        if wget2_run is not None:
            wget2_run["same_urls"] = _compare_urls(spyder_urls or set(expected_urls or ()),
                                                   set(wget2_run.pop("urls")))
            print("  URLs: %(spyder)d by Spyder, %(wget2)d by wget2, %(only_spyder)d only by "
                  "Spyder %(examples_only_spyder)s, %(only_wget2)d only by wget2 "
                  "%(examples_only_wget2)s" % wget2_run["same_urls"])
    report["runs"] = runs
    if runs:
        report["median"] = _medians(runs)
        _print_medians(report["median"], len(runs))
    if references:
        report["wget2_runs"] = references
        report["wget2_median"] = _reference_medians(references, report.get("median"))
        _print_reference(report["wget2_median"], len(references))
    if args.profile:
        report["profiled_run"] = _profile(args, site, check, site_dir, work, nginx_binary)
    procstats.write_report(report, args.json)
    incomplete = [r for r in runs if not r["completeness"]["complete"]]
    return 1 if incomplete else 0


def preflight(parser, args):
    """Check what ``args`` ask for (a run or a profile, nginx, py-spy, wget2) before
    anything is written; returns nginx's binary."""
    if args.runs < 0 or (args.runs == 0 and not (args.profile or args.link_stats)):
        parser.error("nothing to do: --runs 0 needs --profile or --link-stats")
    nginx_binary = _nginx_binary()
    if args.profile:
        profiles.find_py_spy()
    if args.reference == "wget2":
        wget2ref.find_wget2()
    return nginx_binary


def tools(args, nginx_binary):
    """The first words of a report: Python, the CPUs, nginx (and wget2) versions."""
    return "python %s, %d CPUs, %s%s" % (
        sys.version.split()[0], os.cpu_count() or 1,
        subprocess.run([nginx_binary, "-v"], capture_output=True, text=True).stderr.strip(),
        ", " + wget2ref.version(wget2ref.find_wget2()) if args.reference == "wget2" else "")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=1, help="seed of the site generator")
    parser.add_argument("--page-kb", type=float, default=14.0, help="HTML page size (KB)")
    parser.add_argument("--reference", choices=("none", "wget2"), default="none",
                        help="wget2: alternate each Spyder crawl with a wget2 crawl")
    add_arguments(parser)
    args = parser.parse_args(argv)
    nginx_binary = preflight(parser, args)
    with nginxsite.work_directory("bench-nginx-") as work:
        site = nginxsite.StaticSite(args.pages, args.hosts, nginxsite.free_ports(args.hosts),
                                    args.seed, int(args.page_kb * 1024))
        site_dir = os.path.join(work, "site")
        started = time.monotonic()
        size = site.write(site_dir)
        expected = site.expected()
        outcomes = collections.Counter(expected.values())
        print("%s; site: %d pages on %d hosts (%.0f MB, written in "
              "%.1f s), %d URLs to crawl (%s)%s" % (
                  tools(args, nginx_binary), args.pages, args.hosts, size / 1e6, time.monotonic() - started, len(expected),
                  ", ".join("%s %d" % kv for kv in sorted(outcomes.items())),
                  "; experiment: " + ", ".join(args.experiment) if args.experiment else ""),
              flush=True)
        report = {"config": {k: v for k, v in vars(args).items() if k != "json"},
                  "expected_urls": len(expected), "site_bytes": size}
        if args.link_stats:
            pages = [(site.url(h, path), site.body(h, path)) for h in range(site.hosts)
                     for path in site.regular[h]]
            report["stage_costs"] = linkstats.stage_costs(pages[:2000])
            linkstats.print_stage_costs(report["stage_costs"])
            report["link_stats"] = linkstats.link_stats(site, pages, (nginxsite.DISALLOWED,))
            linkstats.print_link_stats(report["link_stats"])
        # wget2 does not strip session ids: it is kept away from them (Spyder collapses them)
        return benchmark(args, site, generated_check(expected), site_dir, work, nginx_binary,
                         report, reject_regex=r"[?&]sid=", expected_urls=expected)


if __name__ == "__main__":
    sys.exit(main())
