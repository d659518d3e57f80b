"""``spyder demo`` and ``spyder bench``: crawl the generated site of ``spyder.demosite``.

Both serve the site in a child process (``python -m spyder.demosite``, which prints its
seed URLs; it dies with the command like the crawl's children), build a plan with
``spyder.crawl.plan_crawl`` that crawls only that site into a directory of its own
(fresh state: the site's ports change on every run), and run it with
``spyder.supervisor.supervise``.  ``demo`` writes JSONL and WARC into ``--output``;
``bench`` crawls with politeness delays at 0 into a temporary directory and prints
pages/s.
"""
import glob
import os
import select
import subprocess
import sys
import tempfile
import time

from spyder import supervisor
from spyder.core.filelock import FileLock
from spyder.crawl import JSONL_SINK, WARC_SINK, plan_crawl, temporary_directory
from spyder.errors import StartupError


class _SiteProcess:
    """The demo site served by ``python -m spyder.demosite`` in a child process."""

    def __init__(self, pages, hosts):
        self._errors = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "spyder.demosite", "--pages", str(pages), "--hosts", str(hosts)],
            stdout=subprocess.PIPE, stderr=self._errors, bufsize=0, **supervisor.child_process_kwargs())
        try:
            self.seeds = self._read_seeds(hosts)
        except BaseException:
            self.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def _read_seeds(self, hosts):
        """The first ``hosts`` lines the site prints, waiting at most READY_TIMEOUT."""
        deadline = time.monotonic() + supervisor.READY_TIMEOUT
        fd, data = self.proc.stdout.fileno(), b""
        while data.count(b"\n") < hosts:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise StartupError("the demo site printed no seeds within %d s"
                                   % supervisor.READY_TIMEOUT)
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
    with _SiteProcess(pages=300, hosts=3) as site, temporary_directory() as run_dir:
        print("spyder demo: serving a generated site of 300 pages on %s"
              % ", ".join(site.seeds), file=sys.stderr)
        plan = _site_plan(settings, args, run_dir, directory, site.seeds, [JSONL_SINK, WARC_SINK])
        plan.set_default("FRONTIER_MIN_DELAY", 0.0)
        # new ports each run: nothing to resume
        return supervisor.supervise(plan, "spyder demo", resumable=False).exit_status


def bench(settings, args):
    """``spyder bench``: crawl a generated site with politeness delays at 0; print pages/s."""
    from spyder.demosite import DemoSite

    try:
        expected = len(DemoSite(args.pages, args.hosts).expected())
    except ValueError as exc:
        raise StartupError(str(exc)) from None
    with (_SiteProcess(pages=args.pages, hosts=args.hosts) as site,
          temporary_directory() as run_dir, temporary_directory("spyder-bench-") as directory):
        plan = _site_plan(settings, args, run_dir, directory, site.seeds, [JSONL_SINK])
        for name in ("FRONTIER_MIN_DELAY", "FRONTIER_CRAWL_DELAY_FACTOR"):
            plan.set_default(name, 0.0)
        result = supervisor.supervise(plan, "spyder bench", destinations=False,  # a temp dir
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
