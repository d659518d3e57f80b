"""``spyder crawl``: plan a whole crawl on one machine and hand it to the supervisor.

``main(settings, args)`` plans the crawl (``plan_crawl``: a private ipc directory, the
state file, the seeds, a JSONL sink when nothing else stores results) as a ``CrawlPlan``
-- the settings overrides every child gets on its command line -- and hands it to
``spyder.supervisor``, which runs the logsink, the master and the workers until the
crawl is done and prints the summary.  ``spyder.demo`` builds its plans on
``plan_crawl`` too.
"""
import os
import sys
import tempfile

from spyder.core.settings import find_settings_spec
from spyder.core.urls import check_seed
from spyder.errors import StartupError
from spyder.supervisor import supervise

JSONL_SINK = "spyder.sinks.jsonl.JsonLinesSink"
WARC_SINK = "spyder.sinks.warc.WarcSink"
#: ``spyder crawl``'s state file unless ``--state`` or the settings name one.
DEFAULT_STATE_FILE = "spyder-crawl.db"


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
        self.chosen = frozenset(settings.overridden())   # what the user's settings set

    def set(self, name, value):
        setattr(self.settings, name, value)
        self.overrides[name] = value

    def set_default(self, name, value):
        """``set`` unless the user's settings chose a value for ``name``."""
        if name not in self.chosen:
            self.set(name, value)

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
        return check_seed(url)
    except ValueError as exc:
        raise StartupError(str(exc)) from None


def plan_crawl(settings, args, run_dir, state=None, seeds=()):
    """The plan of ``spyder crawl`` (also the base of demo and bench)."""
    spec = find_settings_spec(getattr(args, "settings", None))
    if spec and (spec.endswith(".py") or os.sep in spec):
        spec = os.path.abspath(spec)
    workers = (0 if getattr(args, "no_workers", False)   # they serve it from elsewhere
               else _worker_count(getattr(args, "workers", None)))
    plan = CrawlPlan(settings, spec, getattr(args, "overrides", []), workers, run_dir)
    plan.set_default("PARENT_SOCKET_DIRECTORY", run_dir)
    if state is None:
        state = (settings.FRONTIER_STATE_FILE if "FRONTIER_STATE_FILE" in plan.chosen
                 else DEFAULT_STATE_FILE)
    plan.set("FRONTIER_STATE_FILE", state if state == ":memory:" else os.path.abspath(state))
    if getattr(args, "redis", None):   # the frontier on a Redis Cluster (docs/cluster.md)
        plan.set("FRONTIER_STORE", args.redis)
    seed_urls = list(dict.fromkeys(list(settings.SEED_URLS) + [_check_seed(u) for u in seeds]))
    plan.set("SEED_URLS", seed_urls)
    plan.set("CRAWL_EXIT_WHEN_DONE", True)
    plan.set("MASTER_STATUS_INTERVAL", min(float(settings.MASTER_STATUS_INTERVAL), 1.0))
    if not settings.SINKS and not settings.MASTER_CALLBACK:
        base = "spyder-crawl" if state == ":memory:" else os.path.splitext(state)[0]
        plan.set_default("JSONL_SINK_PATH", os.path.abspath(base + ".jsonl"))
        plan.set("SINKS", [JSONL_SINK])
        plan.notes.append("no SINKS configured: writing outcomes to %s"
                          % os.path.abspath(plan.settings.JSONL_SINK_PATH))
    if (not seed_urls and not settings.MASTER_CALLBACK and not getattr(args, "redis", None)
            and (state == ":memory:" or not os.path.exists(plan.settings.FRONTIER_STATE_FILE))):
        raise StartupError("nothing to crawl: give seed URLs (spyder crawl http://example.com/), "
                           "SEED_URLS or a MASTER_CALLBACK in the settings, or the --state file "
                           "of an earlier crawl to resume it")
    return plan


def temporary_directory(prefix="spyder-crawl-"):
    """A fresh private (0700) directory, removed with its contents when the ``with`` ends."""
    return tempfile.TemporaryDirectory(prefix=prefix, ignore_cleanup_errors=True)


def main(settings, args):
    """``spyder crawl``: run a logsink, a master and workers until the crawl is done."""
    with temporary_directory() as run_dir:
        plan = plan_crawl(settings, args, run_dir, state=args.state, seeds=args.urls)
        return supervise(plan, "spyder crawl").exit_status
