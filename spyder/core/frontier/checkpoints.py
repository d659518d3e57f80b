"""Checkpoints: when the frontier commits, and what a commit holds.

Part of the frontier (``spyder.core.frontier``).  Every operation is counted
(``note``); the store's open transaction is committed after ``FRONTIER_CHECKPOINTING``
operations or ``FRONTIER_CHECKPOINT_SECONDS``, whichever comes first (``maybe_commit``,
called after operations, on dispatch and from the master's housekeeping, so an idle
crawl commits too).  A commit writes the per-host counters and the active queues'
politeness delays not stored yet, makes the sinks' output durable (``Sinks.sync``: an
fsync with ``SINK_FSYNC``), then ``store.commit(state())`` -- the frontier's state with
the sinks' output positions -- so a restart cuts the sinks back to what the commit
holds: exactly once.

A sink that writes in a thread may not have written all it was told yet
(``Sinks.synced``).  When a commit is due and a sink is not synced, dispatch pauses at
once (``behind``): the results of the URLs in flight still arrive (bounded by the
workers' credit), and as soon as the sink has caught up with everything told the
commit is made and dispatch goes on.  So a commit is never later than the interval
plus the time the sink needs to catch up, whatever the load, and never holds an
outcome whose output is not written.  A sink that cannot write (``Sinks.failure``)
keeps dispatch paused and the commit waiting until it can.
"""
import logging
import time

from spyder.core import faults

log = logging.getLogger("spyder.frontier")


class Checkpoints:
    """The frontier's commits (see the module docstring).  ``state`` returns the dict
    to commit; ``store``, ``sinks``, ``queues`` and ``host_stats`` are the parts whose
    pending writes a commit flushes."""

    def __init__(self, settings, store, sinks, queues, host_stats, state):
        self._store = store
        self._sinks = sinks
        self._queues = queues
        self._host_stats = host_stats
        self._state = state
        self._every_ops = max(1, int(settings.FRONTIER_CHECKPOINTING))
        self.seconds = float(settings.FRONTIER_CHECKPOINT_SECONDS)
        self.count = 0             # commits made
        self.behind = False        # dispatch waits for a sink to catch up
        self.waits = 0             # commits that had to wait for a sink
        self.waited = 0.0          # seconds dispatch paused for them
        self._behind_since = None
        self._ops = 0

    def note(self, n=1):
        """``n`` operations happened."""
        self._ops += n

    def next_time(self):
        """When the open transaction is due for a commit (``None``: nothing to commit)."""
        started = self._store.uncommitted_since
        return None if started is None else started + self.seconds

    def maybe_commit(self, now):
        """Commit if it is time (see the module docstring)."""
        started = self._store.uncommitted_since
        if started is None or (self._ops + self._queues.ops < self._every_ops
                               and now - started < self.seconds):
            return
        if not self._sinks.synced():  # a sink is still writing what it was told
            if not self.behind:
                self.behind = True     # dispatch pauses until it caught up
                self.waits += 1
                self._behind_since = time.monotonic()
            return  # the next result, get_next or the master's housekeeping try again
        self.commit()

    def commit(self):
        """Commit now: the pending per-host counters and delays, the sinks' output made
        durable, then the state.  False if a sink could not make its output durable
        (nothing is committed; dispatch stays paused and the commit is tried again)."""
        faults.point("commit.before_sync")
        if not self._sinks.sync():
            self.behind = True
            return False
        faults.point("commit.after_sync")
        self._host_stats.write()
        self._queues.store_delays()
        self._store.commit(self._state())
        faults.point("commit.after_store")
        self._ops = 0
        self._queues.take_ops()
        self.count += 1
        if self.behind:
            self.behind = False
            if self._behind_since is not None:
                self.waited += time.monotonic() - self._behind_since
                self._behind_since = None
        return True
