"""What an operator sees of a supervised crawl: the live progress line and the summary.

``Progress`` turns the master's status broadcasts into one live line on a terminal
(redrawn in place, cut to the terminal's width) or a log line every
``PROGRESS_LOG_INTERVAL`` seconds when stderr is not a terminal.  ``summary`` turns
the ``CrawlResult`` of a finished crawl into the end-of-crawl report.  The
``Supervisor`` (``spyder.supervisor``) drives both.
"""
import os
import time

#: Seconds between progress log lines when stderr is not a terminal.
PROGRESS_LOG_INTERVAL = 5.0


def _clock(seconds):
    seconds = int(seconds)
    return "%d:%02d:%02d" % (seconds // 3600, seconds // 60 % 60, seconds % 60)


def _sink_failure(frontier):
    """Why the crawl waits for a sink that cannot write (disk full...), or ""."""
    failure = frontier.get("sink_failure")
    return "  WAITING: %s" % failure if failure else ""


def _robots_waiting(frontier, text):
    """``text`` with the number of origins waiting for an unreachable robots.txt, or ""."""
    waiting = frontier.get("robots_waiting")
    return text % waiting if isinstance(waiting, int) and waiting > 0 else ""


class Progress:
    """The live line on a terminal, a log line every few seconds otherwise."""

    def __init__(self, stream, label):
        self.stream = stream
        self.label = label
        self.tty = stream.isatty()
        self._last = 0.0

    def update(self, status, elapsed):
        now = time.monotonic()
        if not status or now - self._last < (0.5 if self.tty else PROGRESS_LOG_INTERVAL):
            return
        self._last = now
        results = status.get("results", {})
        frontier = status.get("frontier", {})
        fields = (self.label, _clock(elapsed), sum(results.values()),
                  status.get("pages_per_second", 0.0), frontier.get("queued", "?"),
                  status.get("in_flight", 0), results.get("server_error", 0),
                  frontier.get("hosts_active", "?"))
        if self.tty:
            line = ("%s: %s  %d pages  %.1f/s  queued %s  in flight %d  errors %d  hosts %s"
                    % fields) + (_robots_waiting(frontier, "  robots waiting %d")
                                 + _sink_failure(frontier))
            # a line that wraps (also by an echoed ^C) could not be redrawn with "\r"
            self.stream.write("\r\x1b[K" + line[:self._columns() - 3])
        else:
            self.stream.write("%s: elapsed %s, %d pages (%.1f/s), queued %s, in flight %d, "
                              "errors %d, hosts active %s%s\n"
                              % (fields + (_robots_waiting(frontier, ", %d origins waiting for "
                                                                     "robots.txt")
                                           + _sink_failure(frontier),)))
        self.stream.flush()

    def _columns(self):
        try:
            return os.get_terminal_size(self.stream.fileno()).columns or 80
        except (OSError, ValueError, AttributeError):
            return 80

    def say(self, text):
        """Print a message line without garbling the live line."""
        self.clear()
        self.stream.write("%s: %s\n" % (self.label, text))
        self.stream.flush()

    def clear(self):
        """Remove the live line (and on a terminal anything typed on it, such as ^C)."""
        if self.tty:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def _size(count):
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return ("%d %s" % (count, unit)) if unit == "bytes" else ("%.1f %s" % (count, unit))
        count /= 1024.0


def summary(plan, result, label="spyder crawl", destinations=True, resumable=True):
    """The end-of-crawl summary as text lines (robots.txt fetches are counted apart)."""
    status = result.status
    results = status.get("results", {})
    pages = sum(results.values())
    duration = result.duration or status.get("uptime", 0.0)
    if result.done:
        state = "the crawl is complete"
    else:
        state = "the crawl failed" if result.error else "stopped before the end"
        if resumable:
            state += "; rerun the same command to resume"
    frontier = status.get("frontier", {})
    lines = ["%s: %s" % (label, state),
             "  pages      %d this run (success %d, redirect %d, not found %d, server error %d)"
             ", %d robots.txt"
             % (pages, results.get("success", 0), results.get("redirect", 0),
                results.get("not_found", 0), results.get("server_error", 0),
                status.get("robots", 0)),
             "  bytes      %s" % _size(status.get("bytes", 0)),
             "  duration   %.1f s, %.1f pages/s on average, %s"
             % (duration, pages / duration if duration > 0 else 0.0,
                "%d worker(s)" % plan.workers if plan.workers
                else "no worker of its own")]
    if frontier:
        lines.append("  frontier   %s known, %s queued, %s disallowed by robots.txt, "
                     "%s retries, %s given up"
                     % tuple(frontier.get(k, "?") for k in ("known", "queued", "robots_disallowed",
                                                            "retries", "gave_up"))
                     + _robots_waiting(frontier, ", %d origins waiting for robots.txt"))
    if destinations:
        lines += ["  %-10s %s" % (name, where) for name, where in plan.destinations()]
    return lines
