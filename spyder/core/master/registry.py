"""The master's worker registry: who is there, how much they can take, who went silent.

Part of the master (``spyder.core.master.zmqmaster``).  Workers register with ``be here now``
(details: their ``slots``), send ``heartbeat``\\ s and ``credit`` snapshots (their
``free`` slots and the dispatch ids they ``held``; every result's ticket carries one
too, numbered so that the newest wins), and leave with ``quit.ack``; a
heartbeat from an unknown worker registers it.  Every heartbeat (and ``be here
now``) is echoed with the master's monotonic time: the worker's clock sample and its
licence to fetch (``spyder.core.wire.masterclock``).  ``credit`` -- the free slots less the
dispatches no worker has claimed yet -- bounds what the master sends.  A worker
silent for ``WORKER_HEARTBEAT_TIMEOUT`` is declared dead and the leases it held are
returned at once (``_expire_workers``).  While no worker is known the master
broadcasts ``hello`` so that workers started before it register again.
"""
import logging
import time

from spyder.core import constants as C

log = logging.getLogger("spyder.master")

#: Upper bound for a worker's announced slots (protects against nonsense details).
_MAX_SLOTS = 100000


class Worker:
    """A registered worker, as the master knows it."""

    __slots__ = ("slots", "free", "held", "last_seen", "snapshot", "pages", "errors")

    def __init__(self, slots, now):
        self.slots = slots
        self.free = 0
        self.held = set()          # dispatch ids it reported holding
        self.last_seen = now
        self.snapshot = 0          # the number of the newest credit snapshot applied
        self.pages = 0             # results it sent back to this master
        self.errors = 0            # of which not 2xx/3xx


class WorkerRegistry:
    """The master's worker registry (see the module docstring): a part of ``ZmqMaster``,
    working on the state it sets up (``workers``, ``leases``, ``_unclaimed``, ``_mgmt``)."""

    def _worker_msg(self, msg):
        identity = msg.identity
        if not identity:
            self.dropped.drop("management", "message without a worker identity")
            return
        now = self._clock()
        data = msg.data
        if data == C.ZMQ_SPYDER_MGMT_WORKER_QUIT_ACK:
            if self.workers.pop(identity, None) is not None:
                log.info("zmqmaster::worker %s left", identity.decode("utf-8", "replace"))
            return
        if data not in (C.ZMQ_SPYDER_MGMT_WORKER_AVAIL, C.ZMQ_SPYDER_MGMT_WORKER_HEARTBEAT,
                        C.ZMQ_SPYDER_MGMT_WORKER_CREDIT):
            if data not in (C.ZMQ_SPYDER_MGMT_WORKER_QUIT, C.ZMQ_SPYDER_MGMT_WORKER_HELLO,
                            C.ZMQ_SPYDER_MGMT_WORKER_ECHO):
                self.dropped.drop("management", "unknown payload %r" % data[:64])
            return
        details = msg.details if isinstance(msg.details, dict) else {}
        credit_before = self.credit
        worker = self.workers.get(identity)
        slots = self._slots_from(details)
        if worker is None:
            if self._stopping:
                return
            worker = self.workers[identity] = Worker(slots, now)
            log.info("zmqmaster::worker %s registered with %d slot(s)%s",
                     identity.decode("utf-8", "replace"), worker.slots,
                     "" if data == C.ZMQ_SPYDER_MGMT_WORKER_AVAIL else " (by %s)" % data.decode())
        worker.last_seen = now
        worker.slots = slots
        self._credit_from(worker, details)
        if data != C.ZMQ_SPYDER_MGMT_WORKER_CREDIT and C.MGMT_DETAIL_SENT in details:
            self._mgmt.publish(C.ZMQ_SPYDER_MGMT_WORKER, self._identity,
                               C.ZMQ_SPYDER_MGMT_WORKER_ECHO, {
                                   C.MGMT_DETAIL_WORKER: identity,
                                   C.MGMT_DETAIL_SENT: details[C.MGMT_DETAIL_SENT],
                                   C.MGMT_DETAIL_RECEIVED: now,
                                   C.MGMT_DETAIL_DEAD_AFTER: self._heartbeat_timeout})
        if credit_before <= 0 < self.credit:
            # with credit left before, dispatch is waiting for the frontier's next due
            # time (a timer), not for credit: nothing to do on every credit snapshot
            self._send_next_uri()

    def _slots_from(self, details):
        slots = details.get(C.MGMT_DETAIL_SLOTS)
        if isinstance(slots, int) and not isinstance(slots, bool) and 0 < slots <= _MAX_SLOTS:
            return slots
        return self._default_slots

    def _credit_from(self, worker, details):
        """A worker's snapshot: its free slots and the dispatches it holds.  One older
        than a snapshot already applied (by its number ``n``) is ignored."""
        number = details.get(C.MGMT_DETAIL_SEQ)
        if isinstance(number, int) and not isinstance(number, bool):
            if number <= worker.snapshot:
                return
            worker.snapshot = number
        free = details.get(C.MGMT_DETAIL_FREE)
        if isinstance(free, int) and not isinstance(free, bool):
            worker.free = min(max(free, 0), worker.slots)
        else:  # a worker that reports no free slots: every slot counts
            worker.free = worker.slots
        held = details.get(C.MGMT_DETAIL_HELD)
        if not isinstance(held, list):
            return
        for dispatch_id in held:
            lease = self.leases.get(dispatch_id) if isinstance(dispatch_id, int) else None
            if lease is None or lease.holder is not None:
                continue
            lease.holder = worker
            worker.held.add(dispatch_id)
            self._unclaimed -= 1

    def _hello(self):
        self._mgmt.publish(C.ZMQ_SPYDER_MGMT_WORKER, self._identity, C.ZMQ_SPYDER_MGMT_WORKER_HELLO)

    def _hello_if_alone(self):
        if self.running and not self.workers:
            self._hello()

    @property
    def capacity(self):
        """Total slots of the registered workers."""
        return sum(worker.slots for worker in self.workers.values())

    @property
    def credit(self):
        """Dispatches that may go out now: the free slots the workers reported, less the
        dispatches no worker has claimed yet."""
        return sum(worker.free for worker in self.workers.values()) - self._unclaimed

    def _credit_from_result(self, ticket):
        """The credit snapshot in a result's ticket, from a registered worker."""
        worker = self.workers.get(ticket.get(C.TICKET_WORKER))
        if worker is not None and C.MGMT_DETAIL_FREE in ticket:
            worker.last_seen = self._clock()
            self._credit_from(worker, ticket)

    def _count_worker_result(self, identity, curi):
        """A result came back from worker ``identity`` (the ticket's): its pages and errors."""
        worker = self.workers.get(identity)
        if worker is not None:
            worker.pages += 1
            status = curi.status_code
            if not (isinstance(status, int) and 200 <= status < 400):
                worker.errors += 1

    def worker_table(self):
        """One dict per registered worker: identity, host, pid, slots, free, last
        heartbeat (UTC epoch), and the pages and errors it sent back to this master."""
        known = self.workers
        epoch_offset = time.time() - self._clock()
        table = []
        for identity, worker in sorted(known.items()):
            name = identity.decode("utf-8", "replace")
            parts = name.split(":")
            table.append({
                "identity": name, "host": parts[1] if len(parts) == 3 else None,
                "pid": int(parts[2]) if len(parts) == 3 and parts[2].isdigit() else None,
                "slots": worker.slots, "free": worker.free,
                "last_heartbeat": worker.last_seen + epoch_offset,
                "pages": worker.pages, "errors": worker.errors,
            })
        return table

    def _expire_workers(self, now):
        limit = now - self._heartbeat_timeout
        for identity in [i for i, w in self.workers.items() if w.last_seen < limit]:
            worker = self.workers.pop(identity)
            name = identity.decode("utf-8", "replace")
            held = [self.leases[i] for i in sorted(worker.held) if i in self.leases]
            log.warning("zmqmaster::worker %s silent for %s s, dropped; dispatching the %d "
                        "URL(s) it held again", name, self._heartbeat_timeout, len(held))
            for lease in held:
                self.redispatched += 1
                log.info("zmqmaster::lease on %s returned: its worker died", lease.curi.url)
                self._fail_lease(lease, "worker %s died" % name)
            if held:
                self._after_result()
