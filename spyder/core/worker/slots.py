"""SlotPool: one worker's ``MAX_CLIENTS`` fetch slots, shared by the masters it serves.

A worker that serves several masters (``WORKER_MASTERS``) has one fetch stage per master
(``AsyncZmqWorker``, each with its own PULL socket, tickets, claims and credit) but one
HTTP client and one set of slots.  Each master's credit must stay a promise the worker
can keep: summed over the masters, the free slots it reports plus the fetches under way
never exceed its slots, or two masters would count on one slot and a dispatch would wait
in a pipe until its claim deadline.

So the pool gives each fetch stage (a *member*) a **quota**: the most fetches it may
have under way.  Its free slots, as its credit snapshots report them, are its quota minus
its fetches (``AsyncZmqWorker.free``), plus the room of its own prefetch backlog
(``WORKER_PREFETCH``: dispatches waiting for a slot, which the slots do not promise); it
reads its PULL socket only below its quota and that room.
The pool keeps, for every member, ``max(quota, fetches)`` -- what it may have in use --
summed no higher than the slots.  Quotas follow the members that may take work (their
master listens to the results and the licence holds: ``member.wanting``): the slots are
split evenly among them (the first ones in order get the remainder), and a member that
may not take work gets none.  Shares move only when that set changes -- a master comes,
its licence lapses, it quits -- so a live master's credit is stable while the others
stay; a lapsed (dead) master's share goes to the live ones as soon as its fetches end
(the licence cuts them at its end).  A member over its new quota keeps its fetches and
reads nothing until it is below; the slots it frees then go to the members below theirs.

With one member the quota is every slot: a worker of one master behaves as before.
"""
import logging

log = logging.getLogger("spyder.worker")


class SlotPool:
    """``slots`` fetch slots shared by members (see the module docstring).

    A member has ``in_flight`` (its fetches under way), ``wanting`` (whether it may take
    work) and ``quota_changed()`` (called after its quota changed), and a ``label`` for
    the log."""

    def __init__(self, slots, name="worker"):
        self.slots = slots
        self.name = name          # the worker, in the log
        self._members = []
        self._quota = {}

    def join(self, member):
        """Add ``member`` (with no quota until it wants work and ``rebalance`` runs)."""
        self._members.append(member)
        self._quota[id(member)] = 0
        self.rebalance()

    def leave(self, member):
        if member in self._members:
            self._members.remove(member)
            self._quota.pop(id(member), None)
            self.rebalance()

    @property
    def shared(self):
        """Whether more than one fetch stage takes slots from the pool."""
        return len(self._members) > 1

    def quota(self, member):
        """The most fetches ``member`` may have under way now."""
        return self._quota.get(id(member), 0)

    def targets(self):
        """``{id(member): fair share}``: the slots split among the members that want work."""
        wanting = [m for m in self._members if m.wanting]
        out = {id(m): 0 for m in self._members}
        if wanting:
            share, extra = divmod(self.slots, len(wanting))
            for i, member in enumerate(wanting):
                out[id(member)] = share + (1 if i < extra else 0)
        return out

    def in_use(self, member):
        """What ``member`` may have in use: its quota or, if more, its fetches."""
        return max(self._quota[id(member)], member.in_flight)

    def rebalance(self):
        """Move quotas towards the fair shares without promising a slot twice: first
        lower the quotas above their share, then raise those below it with the slots
        nobody has in use."""
        targets = self.targets()
        old = dict(self._quota)
        for member in self._members:
            key = id(member)
            self._quota[key] = min(self._quota[key], targets[key])
        spare = self.slots - sum(self.in_use(m) for m in self._members)
        for member in self._members:
            key = id(member)
            if self._quota[key] >= targets[key]:
                continue
            # raising the quota up to the fetches under way costs nothing
            base = max(self._quota[key], member.in_flight)
            grant = min(targets[key], base + max(spare, 0))
            if grant > self._quota[key]:
                spare -= max(grant - base, 0)
                self._quota[key] = grant
        changed = [m for m in self._members if self._quota[id(m)] != old.get(id(m))]
        if changed and self.shared:
            log.info("worker::%s slots per master: %s", self.name, ", ".join(
                "%s %d" % (m.label, self._quota[id(m)]) for m in self._members))
        for member in changed:
            member.quota_changed()

    def promised(self):
        """Slots in use or promised, summed over the members (never above ``slots``)."""
        return sum(self.in_use(m) for m in self._members)
