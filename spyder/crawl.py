"""``spyder crawl``: plan a whole crawl on one machine and hand it to the supervisor.

``main(settings, args)`` plans the crawl (``plan_crawl``: a private ipc directory, the
state file, the seeds, a JSONL sink when nothing else stores results) as a ``CrawlPlan``
-- the settings overrides every child gets on its command line -- and hands it to
``spyder.supervisor``, which runs the logsink, the master and the workers until the
crawl is done and prints the summary.  ``spyder.demo`` builds its plans on
``plan_crawl`` too.
"""
import glob
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

from spyder.core.filelock import FileLock
from spyder.core.settings import find_settings_spec
from spyder.errors import StartupError
from spyder import supervisor
from spyder.supervisor import child_process_kwargs, supervise

JSONL_SINK = "spyder.sinks.jsonl.JsonLinesSink"
WARC_SINK = "spyder.sinks.warc.WarcSink"
#: ``spyder crawl``'s state file unless ``--state`` or the settings name one.
DEFAULT_STATE_FILE = "spyder-crawl.db"

# ---------------------------------------------------------------------------- planning
class CrawlPlan:
    """What to run: the children's settings arguments and where results go."""

    def __init__(self, settings, settings_spec, user_overrides, workers, run_dir):
        self.settings = settings              # with the plan's overrides applied
        self.settings_spec = settings_spec
        self.user_overrides = list(user_overrides)
        self.overrides = {}                   # KEY -> value, passed as -s KEY=repr(value)
        self.workers = workers
        self.run_dir = run_dir                # private: notify sockets (and ipc sockets)
        self.notes = []                       # printed before the crawl starts

    def set(self, name, value):
        setattr(self.settings, name, value)
        self.overrides[name] = value

    def argv(self, role):
        argv = [sys.executable, "-m", "spyder", role]
        if self.settings_spec:
            argv += ["--settings", self.settings_spec]
        for text in self.user_overrides:
            argv += ["-s", text]
        for name, value in self.overrides.items():
            if name != "SEED_URLS" or role == "master":  # only the master seeds
                argv += ["-s", "%s=%r" % (name, value)]
        return argv

    def destinations(self):
        """``[(label, where)]``: where the crawl's results and logs went."""
        s = self.settings
        out = [("state", os.path.abspath(s.FRONTIER_STATE_FILE)
                if s.FRONTIER_STATE_FILE != ":memory:" else ":memory:")]
        for sink in s.SINKS:
            if sink == JSONL_SINK:
                out.append(("JSONL", os.path.abspath(s.JSONL_SINK_PATH)))
            elif sink == WARC_SINK:
                out.append(("WARC", os.path.abspath(s.WARC_DIR) + os.sep))
            else:
                out.append(("sink", sink))
        if s.MASTER_CALLBACK:
            out.append(("callback", "%s (and the sinks it registers)" % s.MASTER_CALLBACK))
        out.append(("logs", "as %s says" % os.path.abspath(s.LOGSINK_CONFIG) if s.LOGSINK_CONFIG
                    else os.path.abspath(s.LOG_DIR) + os.sep))
        return out


def _worker_count(requested):
    if requested is None:
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:
            return max(1, os.cpu_count() or 1)
    if requested < 1:
        raise StartupError("--workers must be at least 1 (got %d)" % requested)
    return requested


def _check_seed(url):
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError unless the port is valid
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise StartupError("seed URL %r is not an http:// or https:// URL with a host "
                           "(write it like http://example.com/)" % url)
    return url

def plan_crawl(settings, args, run_dir, state=None, seeds=()):
    """The plan of ``spyder crawl`` (also the base of demo and bench)."""
    spec = find_settings_spec(getattr(args, "settings", None))
    if spec and (spec.endswith(".py") or os.sep in spec):
        spec = os.path.abspath(spec)
    plan = CrawlPlan(settings, spec, getattr(args, "overrides", []),
                     _worker_count(getattr(args, "workers", None)), run_dir)
    overridden = settings.overridden()
    if "PARENT_SOCKET_DIRECTORY" not in overridden:
        plan.set("PARENT_SOCKET_DIRECTORY", run_dir)
    if state is None:
        state = (settings.FRONTIER_STATE_FILE if "FRONTIER_STATE_FILE" in overridden
                 else DEFAULT_STATE_FILE)
    plan.set("FRONTIER_STATE_FILE", state if state == ":memory:" else os.path.abspath(state))
    seed_urls = list(dict.fromkeys(list(settings.SEED_URLS) + [_check_seed(u) for u in seeds]))
    plan.set("SEED_URLS", seed_urls)
    plan.set("CRAWL_EXIT_WHEN_DONE", True)
    plan.set("MASTER_STATUS_INTERVAL", min(float(settings.MASTER_STATUS_INTERVAL), 1.0))
    if not settings.SINKS and not settings.MASTER_CALLBACK:
        if "JSONL_SINK_PATH" not in overridden:
            base = "spyder-crawl" if state == ":memory:" else os.path.splitext(state)[0]
            plan.set("JSONL_SINK_PATH", os.path.abspath(base + ".jsonl"))
        plan.set("SINKS", [JSONL_SINK])
        plan.notes.append("no SINKS configured: writing outcomes to %s"
                          % os.path.abspath(plan.settings.JSONL_SINK_PATH))
    if (not seed_urls and not settings.MASTER_CALLBACK
            and (state == ":memory:" or not os.path.exists(plan.settings.FRONTIER_STATE_FILE))):
        raise StartupError("nothing to crawl: give seed URLs (spyder crawl http://example.com/), "
                           "SEED_URLS or a MASTER_CALLBACK in the settings, or the --state file "
                           "of an earlier crawl to resume it")
    return plan


def main(settings, args):
    """``spyder crawl``: run a logsink, a master and workers until the crawl is done."""
    run_dir = tempfile.mkdtemp(prefix="spyder-crawl-")
    try:
        plan = plan_crawl(settings, args, run_dir, state=args.state, seeds=args.urls)
        return supervise(plan, "spyder crawl").exit_status
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)

class _SiteProcess:
    """The demo site served by ``python -m spyder.demosite`` in a child process."""

    def __init__(self, pages, hosts):
        self._errors = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "spyder.demosite", "--pages", str(pages), "--hosts", str(hosts)],
            stdout=subprocess.PIPE, stderr=self._errors, bufsize=0, **child_process_kwargs())
        try:
            self.seeds = self._read_seeds(hosts)
        except BaseException:
            self.close()
            raise

    def _read_seeds(self, hosts):
        """The first ``hosts`` lines the site prints, waiting at most READY_TIMEOUT."""
        deadline = time.monotonic() + supervisor.READY_TIMEOUT
        fd, data = self.proc.stdout.fileno(), b""
        while data.count(b"\n") < hosts:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise StartupError("the demo site printed no seeds within %d s" % supervisor.READY_TIMEOUT)
            chunk = os.read(fd, 65536)
            if not chunk:
                self.proc.wait()
                self._errors.seek(0)
                lines = self._errors.read().decode("utf-8", "replace").strip().splitlines()
                raise StartupError("the demo site did not start: %s"
                                   % (lines[-1] if lines else "exit status %s" % self.proc.returncode))
            data += chunk
        return data.decode("ascii", "replace").split()[:hosts]

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self._errors.close()

def _site_plan(settings, args, run_dir, directory, seeds, sinks):
    """A plan for crawling the demo site into ``directory``: fresh state, no callback."""
    plan = plan_crawl(settings, args, run_dir, state=os.path.join(directory, "state.db"),
                      seeds=seeds)
    plan.set("SEED_URLS", seeds)  # only the site, whatever the settings seed
    plan.set("MASTER_CALLBACK", None)
    plan.set("SINKS", sinks)
    plan.set("JSONL_SINK_PATH", os.path.join(directory, "crawl.jsonl"))
    plan.set("WARC_DIR", os.path.join(directory, "warc"))
    plan.set("LOG_DIR", os.path.join(directory, "log"))
    plan.notes = []
    return plan


def _remove_previous_run(directory):
    """The site's ports change on every run: a previous state would point nowhere.

    Refuses while another demo crawls into ``directory`` (its master holds the state
    file's lock), whose results would otherwise be deleted under it.
    """
    lock = FileLock(os.path.join(directory, "state.db.lock"),
                    busy="%s is in use by another spyder demo (pid {pid} holds {path}); wait "
                         "for it to end or give another --output" % directory)
    with lock:
        for path in (glob.glob(os.path.join(directory, "state.db*"))
                     + glob.glob(os.path.join(directory, "crawl.jsonl"))
                     + glob.glob(os.path.join(directory, "warc", "*.warc*"))):
            if path != lock.path:
                os.unlink(path)


def demo(settings, args):
    """``spyder demo``: serve the bundled site and crawl it into ``--output`` (JSONL + WARC)."""
    directory = os.path.abspath(args.output)
    os.makedirs(directory, exist_ok=True)
    _remove_previous_run(directory)
    site = _SiteProcess(pages=300, hosts=3)
    run_dir = tempfile.mkdtemp(prefix="spyder-crawl-")
    try:
        print("spyder demo: serving a generated site of 300 pages on %s"
              % ", ".join(site.seeds), file=sys.stderr)
        plan = _site_plan(settings, args, run_dir, directory, site.seeds, [JSONL_SINK, WARC_SINK])
        if "FRONTIER_MIN_DELAY" not in settings.overridden():
            plan.set("FRONTIER_MIN_DELAY", 0.0)
        return supervise(plan, "spyder demo", resumable=False).exit_status  # new ports each run
    finally:
        site.close()
        shutil.rmtree(run_dir, ignore_errors=True)


def bench(settings, args):
    """``spyder bench``: crawl a generated site with politeness delays at 0; print pages/s."""
    from spyder.demosite import DemoSite

    try:
        expected = len(DemoSite(args.pages, args.hosts).expected())
    except ValueError as exc:
        raise StartupError(str(exc)) from None
    site = _SiteProcess(pages=args.pages, hosts=args.hosts)
    run_dir = tempfile.mkdtemp(prefix="spyder-crawl-")
    directory = tempfile.mkdtemp(prefix="spyder-bench-")
    try:
        plan = _site_plan(settings, args, run_dir, directory, site.seeds, [JSONL_SINK])
        for name in ("FRONTIER_MIN_DELAY", "FRONTIER_CRAWL_DELAY_FACTOR"):
            if name not in settings.overridden():
                plan.set(name, 0.0)
        result = supervise(plan, "spyder bench", destinations=False,  # a temporary directory
                           resumable=False)
        results = result.status.get("results", {})
        final = sum(results.get(k, 0) for k in ("success", "redirect", "not_found"))
        rate = final / result.duration if result.duration else 0.0
        print("spyder bench: %d pages, %d hosts, %d worker(s): %d of %d URLs in %.1f s = "
              "%.0f pages/s (delays %s/%s, host concurrency %d)"
              % (args.pages, args.hosts, plan.workers, final, expected, result.duration, rate,
                 plan.settings.FRONTIER_MIN_DELAY, plan.settings.FRONTIER_CRAWL_DELAY_FACTOR,
                 plan.settings.FRONTIER_HOST_CONCURRENCY), flush=True)
        if result.exit_status == 0 and final != expected:
            print("spyder bench: warning: %d URLs expected, %d finished" % (expected, final),
                  file=sys.stderr)
        return result.exit_status
    finally:
        site.close()
        shutil.rmtree(run_dir, ignore_errors=True)
        shutil.rmtree(directory, ignore_errors=True)
