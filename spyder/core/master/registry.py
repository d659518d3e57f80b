"""The master's worker registry: who is there, how much they can take, who went silent.

Part of the master (``spyder.core.master``).  Workers register with ``be here now``
(details: their ``slots``, and the ``prefetch`` by which their free count may exceed
them: ``WORKER_PREFETCH``), send ``heartbeat``\\ s and ``credit`` snapshots (their
``free`` slots and the dispatch ids they ``held``; every result's ticket carries one
too, numbered so that the newest wins), and leave with ``quit.ack``; a heartbeat from
an unknown worker registers it.  ``ZmqMaster`` reads the management protocol and tells
the registry what it heard; the registry keeps one ``Worker`` record per identity,
applies snapshots (``snapshot`` returns the ids the worker says it holds, which the
master's ``Leases`` then mark as claimed), sums the free slots that bound dispatch, and
names the workers silent for longer than ``WORKER_HEARTBEAT_TIMEOUT`` (``silent``).  A
worker whose process is known to have exited (``gone``: its supervisor said so) is
removed at once and anything it still seems to say afterwards is ignored.  When a dispatch
went unclaimed, the free slots of workers silent since it was sent (and for longer than
one and a half heartbeat intervals) are no longer trusted (``distrust``) until their next
snapshot: a stopped worker's stale credit does not lure
more dispatches into nowhere.
"""
import collections

from spyder.core import constants as C
from spyder.core.wire.messages import announced_batch, announced_prefetch

#: Upper bound for a worker's announced slots (protects against nonsense details).
_MAX_SLOTS = 100000


class Worker:
    """A registered worker, as the master knows it."""

    __slots__ = ("slots", "prefetch", "free", "last_seen", "snapshot", "pages", "errors",
                 "returned_unclaimed", "void_logged", "loop_lag_max", "batch")

    def __init__(self, slots, now):
        self.slots = slots
        self.prefetch = 0          # dispatches it may hold beyond its slots
        self.free = 0
        self.batch = 1             # the most dispatches one message may carry to it
        self.last_seen = now
        self.snapshot = 0          # the number of the newest credit snapshot applied
        self.pages = 0             # results it sent back to this master
        self.errors = 0            # of which not 2xx/3xx
        self.returned_unclaimed = 0  # dispatches it found in its pipe past their claim deadline
        self.void_logged = False   # the master logged that it returns dispatches unclaimed
        self.loop_lag_max = None   # the worst lag of its event loop it reported (s)


class WorkerRegistry:
    """The registered workers (see the module docstring).  ``default_slots`` stands in for
    a worker that announces none; ``heartbeat_timeout`` is the silence that ends one."""

    def __init__(self, default_slots, heartbeat_timeout):
        self._default_slots = default_slots
        self.heartbeat_timeout = heartbeat_timeout
        self._workers = {}         # identity -> Worker
        self._gone = collections.OrderedDict()  # identities whose process exited

    def __len__(self):
        return len(self._workers)

    def __iter__(self):
        return iter(self._workers)

    def get(self, identity):
        """The record of worker ``identity`` (any value), or ``None``."""
        try:
            return self._workers.get(identity)
        except TypeError:          # an unhashable identity from a malformed message
            return None

    def heard(self, identity, details, now):
        """Worker ``identity`` spoke (``be here now``, a heartbeat, credit): returns its
        record (registering it if new) and whether it is new."""
        slots = self._slots_from(details)
        worker = self._workers.get(identity)
        if worker is None and identity in self._gone:
            return None, False
        new = worker is None
        if new:
            worker = self._workers[identity] = Worker(slots, now)
        worker.last_seen = now
        worker.slots = slots
        worker.prefetch = announced_prefetch(details)
        worker.batch = announced_batch(details)
        lag = details.get(C.MGMT_DETAIL_LOOP_LAG_MAX)
        if isinstance(lag, (int, float)) and not isinstance(lag, bool) and lag >= 0:
            worker.loop_lag_max = float(lag)
        return worker, new

    def touch(self, worker, now):
        """``worker`` was heard from (a result's ticket)."""
        worker.last_seen = now

    def first_silence_report(self, worker):
        """True the first time it is asked for ``worker``: the master logs once per worker
        that dispatches dealt into its pipe return unclaimed."""
        first = not worker.void_logged
        worker.void_logged = True
        return first

    def remove(self, identity):
        """Worker ``identity`` left (``quit.ack``); its record, or ``None``."""
        return self._workers.pop(identity, None)

    def gone(self, identity):
        """Worker ``identity``'s process exited: forget it, and ignore it from now on (its
        last messages may still be on their way).  Returns its record, or ``None``."""
        self._gone[identity] = True
        if len(self._gone) > 10000:
            self._gone.popitem(last=False)
        return self._workers.pop(identity, None)

    def distrust(self, since):
        """Count no free slots of the workers silent since master time ``since`` (until
        their next snapshot)."""
        for worker in self._workers.values():
            if worker.last_seen < since:
                worker.free = 0

    def snapshot(self, worker, details):
        """Apply a credit snapshot (``free``, ``held``, number ``n``) of ``worker``; returns
        the dispatch ids it says it holds (``[]`` for a snapshot older than one applied)."""
        number = details.get(C.MGMT_DETAIL_SEQ)
        if isinstance(number, int) and not isinstance(number, bool):
            if number <= worker.snapshot:
                return []
            worker.snapshot = number
        free = details.get(C.MGMT_DETAIL_FREE)
        if isinstance(free, int) and not isinstance(free, bool):
            worker.free = min(max(free, 0), worker.slots + worker.prefetch)
        else:  # a worker that reports no free slots: every slot counts
            worker.free = worker.slots
        held = details.get(C.MGMT_DETAIL_HELD)
        return held if isinstance(held, list) else []

    def _slots_from(self, details):
        slots = details.get(C.MGMT_DETAIL_SLOTS)
        if isinstance(slots, int) and not isinstance(slots, bool) and 0 < slots <= _MAX_SLOTS:
            return slots
        return self._default_slots

    @property
    def capacity(self):
        """Total slots of the registered workers."""
        return sum(worker.slots for worker in self._workers.values())

    @property
    def free(self):
        """Free slots the registered workers reported."""
        return sum(worker.free for worker in self._workers.values())

    def batch(self, limit):
        """How many dispatches one message may carry: at most ``limit`` and what every
        registered worker announced it takes (PUSH does not say which one a message
        reaches); 1 while no worker is registered."""
        if not self._workers:
            return 1
        return min(limit, min(worker.batch for worker in self._workers.values()))

    def count_result(self, identity, curi):
        """A result came back from worker ``identity`` (the ticket's): its pages and errors."""
        worker = self.get(identity)
        if worker is not None:
            worker.pages += 1
            status = curi.status_code
            if not (isinstance(status, int) and 200 <= status < 400):
                worker.errors += 1

    def silent(self, now):
        """Remove and return the identities of workers silent for ``heartbeat_timeout``."""
        limit = now - self.heartbeat_timeout
        gone = [identity for identity, w in self._workers.items() if w.last_seen < limit]
        for identity in gone:
            del self._workers[identity]
        return gone

    def table(self, epoch_offset, now=None, claimed=None):
        """One dict per registered worker: identity, host, pid, slots, prefetch, free, last
        heartbeat (UTC epoch: the monotonic time plus ``epoch_offset``), seconds since it
        was last heard (``now``: the master's clock), the dispatches it claimed
        (``claimed(identity)``), those it returned unclaimed (found in its pipe past their
        claim deadline), the worst lag of its event loop it reported, and the pages and
        errors it sent back to this master."""
        table = []
        for identity, worker in sorted(self._workers.items()):
            name = identity.decode("utf-8", "replace")
            parts = name.split(":")
            table.append({
                "identity": name, "host": parts[1] if len(parts) == 3 else None,
                "pid": int(parts[2]) if len(parts) == 3 and parts[2].isdigit() else None,
                "slots": worker.slots, "prefetch": worker.prefetch, "free": worker.free,
                "last_heartbeat": worker.last_seen + epoch_offset,
                "last_heard": None if now is None else round(max(now - worker.last_seen, 0), 3),
                "claimed": claimed(identity) if claimed is not None else None,
                "returned_unclaimed": worker.returned_unclaimed,
                "loop_lag_max": worker.loop_lag_max,
                "pages": worker.pages, "errors": worker.errors,
            })
        return table
