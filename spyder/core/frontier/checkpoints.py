"""Checkpoints: when the frontier commits, and what a commit holds.

Part of the frontier (``spyder.core.frontier``).  Every operation is counted
(``note``); the store's open transaction is committed after ``FRONTIER_CHECKPOINTING``
operations or ``FRONTIER_CHECKPOINT_SECONDS``, whichever comes first (``maybe_commit``,
called after operations, on dispatch and from the master's housekeeping, so an idle
crawl commits too).  A commit writes the per-host counters and the active queues'
politeness delays not stored yet, then ``store.commit(state())`` -- the frontier's state
with the sinks' output positions -- so a restart cuts the sinks back to what the commit
holds: exactly once.  A sink that writes in a thread may not have written all it was
told yet (``Sinks.synced``): the commit waits for it and, if that takes more than
``_SINK_WAIT_LIMIT`` checkpoint intervals, dispatch pauses (``behind``) until it caught up.
"""
import logging

log = logging.getLogger("spyder.frontier")

#: Checkpoint intervals a commit waits for a sink writing in a thread before dispatch
#: pauses until the sink has caught up.
_SINK_WAIT_LIMIT = 5


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
            if not self.behind and now - started >= _SINK_WAIT_LIMIT * max(self.seconds, 1.0):
                self.behind = True
                log.info("frontier::a sink has been behind for %.0f s: dispatch pauses "
                         "until it caught up and the commit is made", now - started)
            return  # the next result, get_next or the master's housekeeping try again
        self.behind = False
        self.commit()

    def commit(self):
        """Commit now: the pending per-host counters and delays, then the state."""
        self._host_stats.write()
        self._queues.store_delays()
        self._store.commit(self._state())
        self._ops = 0
        self._queues.take_ops()
        self.count += 1
