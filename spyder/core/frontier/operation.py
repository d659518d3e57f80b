"""One frontier operation -- a result, a seed, a resolved host -- as one atomic unit.

Part of the frontier (``spyder.core.frontier``).  ``Transactions`` opens a savepoint of
the store for each operation and yields an ``Operation`` that collects what the
operation changes in the queues: rows of active queues (applied to their buffers once
the savepoint holds) and the new due times of queues on hold (written inside it).  If
the operation raises, the store rolls back and every part that learned something in
memory forgets it: the counters go back, the pending per-host changes are dropped, and
the caches that may name what the store no longer has are emptied (``forget``).
"""
import contextlib


class Operation:
    """The queue changes of one operation (see the module docstring)."""

    __slots__ = ("pushes", "due", "_queues")

    def __init__(self, queues):
        self.pushes = []           # (queue id, UriRow) for active queues
        self.due = {}              # queue id -> earliest new due time, for queues on hold
        self._queues = queues

    def place(self, queue_id, row):
        """A scheduled ``row`` of queue ``queue_id`` is new or changed: into the active
        queue's buffer, or its queue on hold is due no later than the row."""
        if self._queues.get(queue_id) is not None:
            self.pushes.append((queue_id, row))
        elif row.next_date < self.due.get(queue_id, float("inf")):
            self.due[queue_id] = row.next_date

    def push(self, queue_id, row):
        """A scheduled ``row`` of a queue that may be active changed (ignored if it is not)."""
        self.pushes.append((queue_id, row))


class Transactions:
    """Runs operations atomically over ``store`` (see the module docstring).

    ``queues``: the ``ActiveQueues``; ``counters`` and ``host_stats``: restored or
    discarded on failure; ``forget``: callables that drop caches after a rollback.
    """

    def __init__(self, store, queues, counters, host_stats, forget=()):
        self._store = store
        self._queues = queues
        self._counters = counters
        self._host_stats = host_stats
        self._forget = tuple(forget)

    @contextlib.contextmanager
    def __call__(self, now):
        """``with transactions(now) as op:`` -- one operation's savepoint."""
        op = Operation(self._queues)
        saved = self._counters.snapshot()
        try:
            with self._store.atomic():
                yield op
                self._queues.lower_due(op.due)
        except BaseException:
            self._counters.restore(saved)
            self._host_stats.discard()
            for forget in self._forget:
                forget()
            raise
        self._host_stats.settle()
        self._queues.apply(op.pushes, now)
