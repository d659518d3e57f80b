"""The master's leases: one per dispatch, with an id, a deadline and an expiry.

Part of the master (``spyder.core.master.zmqmaster``).  ``_dispatch`` gives every URL it sends
an id and a lease of ``LEASE_TIMEOUT`` seconds on the master's monotonic clock; the
ticket carries the deadline by which the worker's fetch must be over (the lease less
a slack for the result's way back), so a worker never starts a fetch past it.  A
lease ends when its result comes back (matched by id), when it expires
(``_expire_leases``: the URL goes back to the frontier as a failed attempt, status
711) or when its worker is declared dead (``_fail_lease``, at once).  The ids of
failed leases are remembered for a while so that a *late* answer can still be
recorded as the URL's outcome if it is the first definitive one (``_late``); no late
answer ever releases another dispatch's politeness slot.
"""
import heapq
import logging

from spyder.core import constants as C
from spyder.core.wire.messages import DataMessage
from spyder.core.retry import result_class

log = logging.getLogger("spyder.master")

#: Seconds between a dispatch's fetch deadline (sent to the worker) and its lease's
#: expiry: the result's way back (extraction, transit).
_LEASE_SLACK = 2.0
#: Expired dispatches remembered (id -> URL) so that a late answer can still count.
_EXPIRED_KEPT = 10000


class Lease:
    """One dispatch of one URL, until its answer, its expiry or its worker's death."""

    __slots__ = ("id", "curi", "expires", "holder", "superseded")

    def __init__(self, dispatch_id, curi, expires):
        self.id = dispatch_id
        self.curi = curi
        self.expires = expires
        self.holder = None         # the worker that claimed it, once it says so
        self.superseded = False    # a late answer to an earlier dispatch of its URL counted


class Leases:
    """The master's leases (see the module docstring): a part of ``ZmqMaster``, working
    on the state it sets up (``leases``, ``_by_url``, ``_lease_heap``, ``_expired``,
    ``_unclaimed``, ``_dispatch_ids``, ``_out``)."""

    def _dispatch(self, curi):
        now = self._clock()
        dispatch_id = next(self._dispatch_ids)
        lease = Lease(dispatch_id, curi, now + self._lease_timeout)
        self.leases[dispatch_id] = lease
        self._by_url[curi.url] = dispatch_id
        self._unclaimed += 1
        heapq.heappush(self._lease_heap, (lease.expires, dispatch_id))
        ticket = {C.TICKET_ID: dispatch_id,
                  C.TICKET_DEADLINE: lease.expires - min(_LEASE_SLACK, self._lease_timeout / 4)}
        if self._wants_body is not None and not self._wants_body(curi):
            ticket[C.TICKET_BODY] = False
        self._out.send_multipart(DataMessage(self._identity, curi, ticket).serialize())
        self.dispatched += 1

    def _end_lease(self, lease):
        """Forget ``lease`` (answered, expired or returned)."""
        del self.leases[lease.id]
        if self._by_url.get(lease.curi.url) == lease.id:
            del self._by_url[lease.curi.url]
        if lease.holder is None:
            self._unclaimed -= 1
        else:
            lease.holder.held.discard(lease.id)

    def _expire_leases(self, now):
        heap = self._lease_heap
        expired = False
        while heap and heap[0][0] <= now:
            _, dispatch_id = heapq.heappop(heap)
            lease = self.leases.get(dispatch_id)
            if lease is None:
                continue  # answered or returned
            self.lease_expired += 1
            expired = True
            log.warning("zmqmaster::lease on %s expired after %s s without a result",
                        lease.curi.url, self._lease_timeout)
            self._fail_lease(lease, "lease expired after %s s" % self._lease_timeout)
        if expired:
            self._after_result()

    def _fail_lease(self, lease, error):
        self._end_lease(lease)
        self._expired[lease.id] = lease.curi.url
        if len(self._expired) > _EXPIRED_KEPT:
            self._expired.popitem(last=False)
        curi = lease.curi
        curi.status_code = C.CURI_ELEASE_EXPIRED
        curi.optional_vars[C.CURI_ERROR] = error
        self._route(curi, counted=not lease.superseded)

    def _late(self, msg, dispatch_id, ticket):
        """An answer without a lease: recorded if it answers one of this master's failed
        leases first (see the module docstring), else dropped."""
        curi = msg.curi
        url = self._expired.pop(dispatch_id, None) if isinstance(dispatch_id, int) else None
        kind = result_class(curi.status_code)
        recorded = False
        if (url == curi.url and msg.identity == self._identity
                and ticket.get(C.TICKET_HANDED_BACK) is not True):
            try:
                recorded = self._frontier.process_late_result(curi, kind)
            except Exception:
                log.exception("zmqmaster::recording the late answer for %s failed", curi.url)
        if not recorded:
            self.late_results += 1
            log.debug("zmqmaster::result for %s without a lease (a second answer, or another "
                      "master's); dropped", curi.url)
            return
        self.late_recorded += 1
        self._count_worker_result(ticket.get(C.TICKET_WORKER), curi)
        self._count(curi, kind)
        newer = self.leases.get(self._by_url.get(curi.url))
        if newer is not None:
            newer.superseded = True
        self._after_result()
