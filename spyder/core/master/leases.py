"""The master's leases: one per dispatch, with an id, a deadline, a holder and an expiry.

Part of the master (``spyder.core.master``).  ``ZmqMaster`` opens a lease for every URL it
sends (``open``): an id and ``LEASE_TIMEOUT`` seconds on the master's monotonic clock.
The dispatch's ticket (``ticket``) carries the deadline by which the worker's fetch must
be over -- the lease less a slack for the result's way back -- so a worker never starts a
fetch past it.  A lease is *unclaimed* until a worker reports holding it (``claim``, from
the worker's credit snapshots); the master never has more unclaimed dispatches than the
workers' free slots.  A dispatch must be claimed by ``claim_by`` (the ticket's claim
deadline, ``DISPATCH_CLAIM_TIMEOUT`` after it was sent): a worker reading it later hands it
back unread, and the master returns a lease still unclaimed ``CLAIM_MARGIN`` seconds after
that (``unclaimed_overdue`` then ``void``) as if handed back -- no attempt counted.  A
lease ends when its result comes back (``end``), when it expires (``expired``), when it
was never claimed (``void``) or when its holder is declared dead (``held_by`` then
``fail``).  The ids
of failed leases are remembered for a while (``take_failed``) so that a *late* answer can
still be recorded as the URL's outcome if it is the first definitive one.
"""
import collections
import heapq
import itertools

#: Seconds between a dispatch's fetch deadline (sent to the worker) and its lease's
#: expiry: the result's way back (extraction, transit).
_LEASE_SLACK = 2.0
#: Failed dispatches remembered (id -> URL) so that a late answer can still count.
_FAILED_KEPT = 10000
#: Seconds after a dispatch's claim deadline before the master returns it unclaimed: a
#: worker stops an unconfirmed fetch at the claim deadline by its own (early) estimate of
#: the master's clock, so this only covers its timer's lateness and the request's tail at
#: the web server (see docs/protocol.md, "Claims").
CLAIM_MARGIN = 1.0


class Lease:
    """One dispatch of one URL, until its answer, its expiry or its worker's death."""

    __slots__ = ("id", "curi", "sent", "claim_by", "expires", "holder", "superseded")

    def __init__(self, dispatch_id, curi, sent, claim_by, expires):
        self.id = dispatch_id
        self.curi = curi
        self.sent = sent           # master time of the dispatch
        self.claim_by = claim_by   # master time by which a worker must have claimed it
        self.expires = expires
        self.holder = None         # the identity of the worker that claimed it, once it says so
        self.superseded = False    # a late answer to an earlier dispatch of its URL counted


class Leases:
    """The open leases of one master (see the module docstring); ``lease_timeout`` and
    ``claim_timeout`` in seconds of the master's monotonic clock (``claim_timeout`` None:
    no claim deadline)."""

    def __init__(self, lease_timeout, claim_timeout=None):
        self.timeout = lease_timeout
        self.claim_timeout = claim_timeout
        self.unclaimed = 0           # open leases no worker reported holding yet
        self._open = {}              # dispatch id -> Lease
        self._by_url = {}            # url -> its open Lease
        self._held = {}              # worker identity -> {dispatch id}
        self._heap = []              # (expires, dispatch id), lazily cleaned
        self._claim_heap = []        # (claim_by, dispatch id), lazily cleaned
        self._failed = collections.OrderedDict()  # dispatch id -> URL of a failed lease
        self._voided = collections.OrderedDict()  # dispatch id -> URL of a voided lease
        self._ids = itertools.count(1)

    def __len__(self):
        return len(self._open)

    def get(self, dispatch_id):
        """The open lease ``dispatch_id`` (any value), or ``None``."""
        return self._open.get(dispatch_id) if isinstance(dispatch_id, int) else None

    def for_url(self, url):
        """The open lease of ``url``, or ``None``."""
        return self._by_url.get(url)

    def open(self, curi, now):
        """A new lease for ``curi``, sent now; returns it."""
        claim_by = now + self.claim_timeout if self.claim_timeout else None
        lease = Lease(next(self._ids), curi, now, claim_by, now + self.timeout)
        self._open[lease.id] = lease
        self._by_url[curi.url] = lease
        self.unclaimed += 1
        heapq.heappush(self._heap, (lease.expires, lease.id))
        if claim_by is not None:
            heapq.heappush(self._claim_heap, (claim_by, lease.id))
        return lease

    def deadline(self, lease):
        """The master-clock time by which the worker's fetch for ``lease`` must be over."""
        return lease.expires - min(_LEASE_SLACK, self.timeout / 4)

    def claim(self, dispatch_id, holder):
        """Worker ``holder`` reports holding ``dispatch_id``; True if that claimed an open,
        unclaimed lease."""
        lease = self.get(dispatch_id)
        if lease is None or lease.holder is not None:
            return False
        lease.holder = holder
        self._held.setdefault(holder, set()).add(lease.id)
        self.unclaimed -= 1
        return True

    def supersede(self, url):
        """A late answer to an earlier dispatch of ``url`` counted as its outcome: the open
        lease of ``url`` (if any) is superseded -- its answer will not be counted again."""
        lease = self._by_url.get(url)
        if lease is not None:
            lease.superseded = True

    def claimed_by(self, holder):
        """How many open leases worker ``holder`` claimed."""
        return len(self._held.get(holder, ()))

    def unclaimed_overdue(self, now):
        """The open leases still unclaimed ``CLAIM_MARGIN`` s after their claim deadline
        (still open: the caller voids them)."""
        heap = self._claim_heap
        found = []
        while heap and heap[0][0] + CLAIM_MARGIN <= now:
            _, dispatch_id = heapq.heappop(heap)
            lease = self._open.get(dispatch_id)
            if lease is not None and lease.holder is None:
                found.append(lease)
        return found

    def void(self, lease):
        """End ``lease``, never claimed: its id is kept for a while so that the worker that
        finds it in its pipe later and hands it back unread can be named
        (``take_voided``)."""
        self.end(lease)
        self._voided[lease.id] = lease.curi.url
        if len(self._voided) > _FAILED_KEPT:
            self._voided.popitem(last=False)

    def take_voided(self, dispatch_id):
        """The URL of voided lease ``dispatch_id`` (forgotten from then on), or ``None``."""
        return self._voided.pop(dispatch_id, None) if isinstance(dispatch_id, int) else None

    def open_leases(self):
        """Every open lease, oldest first."""
        return list(self._open.values())

    def held_by(self, holder):
        """The open leases worker ``holder`` claimed, oldest first."""
        return [self._open[i] for i in sorted(self._held.get(holder, ()))]

    def end(self, lease):
        """Forget ``lease``: answered, handed back, or failed (``fail``)."""
        del self._open[lease.id]
        if self._by_url.get(lease.curi.url) is lease:
            del self._by_url[lease.curi.url]
        if lease.holder is None:
            self.unclaimed -= 1
        else:
            held = self._held.get(lease.holder)
            held.discard(lease.id)
            if not held:
                del self._held[lease.holder]

    def fail(self, lease):
        """End ``lease`` without an answer (expired, or its worker died); its id is kept
        for a while so that ``take_failed`` can match a late answer."""
        self.end(lease)
        self._failed[lease.id] = lease.curi.url
        if len(self._failed) > _FAILED_KEPT:
            self._failed.popitem(last=False)

    def expired(self, now):
        """The open leases whose time is up (still open: the caller ``fail``\\ s them)."""
        heap = self._heap
        found = []
        while heap and heap[0][0] <= now:
            _, dispatch_id = heapq.heappop(heap)
            lease = self._open.get(dispatch_id)
            if lease is not None:
                found.append(lease)
        return found

    def take_failed(self, dispatch_id):
        """The URL of failed lease ``dispatch_id`` (forgotten from then on), or ``None``."""
        return self._failed.pop(dispatch_id, None) if isinstance(dispatch_id, int) else None
