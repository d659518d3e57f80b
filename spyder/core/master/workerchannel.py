"""WorkerChannel: the master's side of the management conversation with its workers.

Part of the master (``spyder.core.master``); the protocol is in ``docs/protocol.md``.
Workers register with ``be here now`` (details: their ``slots``), send ``heartbeat``\\ s
and ``credit`` snapshots (their ``free`` slots and the dispatch ids they ``held``; every
result's ticket carries one too: ``result_ticket``), and leave with ``quit.ack``; a
heartbeat from an unknown worker registers it (``WorkerRegistry``).  Every heartbeat
(and ``be here now``) is echoed with the master's monotonic time: the worker's clock
sample and its licence to fetch (``spyder.core.wire.masterclock``).  Each claim a
snapshot carries is applied to the ``Leases`` and confirmed to that worker alone
(``claims`` on topic ``spyder.claims.<worker>``, with the held ids that are not its own
in ``void``), once per loop turn and worker.  ``worker.gone`` from a supervisor (its
process exited) drops the worker at once; what it claimed returns ``gone_grace``
seconds later (``on_gone``), since the web servers may still be answering it.  While
no worker is known the master broadcasts ``hello`` (``hello``).

While the frontier's host-queue leases are in doubt (a shared store that could not be
reached for half a lease: another master may take the queues when the leases end),
``recall`` calls back every claimed fetch (``void`` to its holder: the worker cancels it,
its connection is aborted, and it hands the URL back), and every claim arriving
meanwhile is answered ``void`` too: no request of this master reaches a web server
after its leases may have passed to another master.
"""
import logging

from spyder.core import constants as C

log = logging.getLogger("spyder.master")

#: What workers say that this channel reads; other known payloads are someone else's.
_CREDIT_PAYLOADS = (C.ZMQ_SPYDER_MGMT_WORKER_AVAIL, C.ZMQ_SPYDER_MGMT_WORKER_HEARTBEAT,
                    C.ZMQ_SPYDER_MGMT_WORKER_CREDIT)
_OTHER_PAYLOADS = (C.ZMQ_SPYDER_MGMT_WORKER_QUIT, C.ZMQ_SPYDER_MGMT_WORKER_HELLO,
                   C.ZMQ_SPYDER_MGMT_WORKER_ECHO)


class WorkerChannel:
    """The management conversation (see the module docstring).

    ``identity``: the master's; ``mgmt``: the management PUB/SUB pair; ``workers`` /
    ``leases``: the master's registry and leases; ``dropped``: counts malformed
    messages; ``clock``: the master's monotonic clock; ``gone_grace``: seconds between a
    ``worker.gone`` and the return of what the worker claimed; ``on_credit()``: credit
    appeared where there was none (dispatch now); ``on_gone(identity, why, known)``:
    return what a gone worker claimed; ``in_doubt()``: whether the frontier's leases are
    in doubt now (``recall``); ``batch``: the most results one message may carry to this
    master (announced in every heartbeat echo).
    """

    def __init__(self, identity, mgmt, workers, leases, io_loop, dropped, clock, gone_grace,
                 on_credit, on_gone, in_doubt, batch=1):
        self._identity = identity
        self._batch = batch
        self._mgmt = mgmt
        self._workers = workers
        self._leases = leases
        self._io_loop = io_loop
        self._dropped = dropped
        self._clock = clock
        self._gone_grace = gone_grace
        self._on_credit = on_credit
        self._on_gone = on_gone
        self._in_doubt = in_doubt
        self._confirm = {}           # worker identity -> ([claims registered], [not its own])
        self._closing = False        # the master shuts down: no new registrations
        self._recalled = False       # the fetches out were called back (``recall``)

    def stop_registering(self):
        """The master shuts down: workers not registered yet are not taken any more."""
        self._closing = True

    @property
    def credit(self):
        """Dispatches that may go out now: the free slots the workers reported, less the
        dispatches no worker has claimed yet."""
        return self._workers.free - self._leases.unclaimed

    def message(self, msg):
        """A management message from a worker: registration, heartbeat, credit, leaving."""
        identity = msg.identity
        if not identity:
            self._dropped.drop("management", "message without a worker identity")
            return
        data = msg.data
        if data == C.ZMQ_SPYDER_MGMT_WORKER_GONE:
            self._gone(msg)
            return
        if data == C.ZMQ_SPYDER_MGMT_WORKER_QUIT_ACK:
            if self._workers.remove(identity) is not None:
                log.info("zmqmaster::worker %s left", identity.decode("utf-8", "replace"))
            return
        if data not in _CREDIT_PAYLOADS:
            if data not in _OTHER_PAYLOADS:
                self._dropped.drop("management", "unknown payload %r" % data[:64])
            return
        if self._closing and self._workers.get(identity) is None:
            return
        now = self._clock()
        details = msg.details if isinstance(msg.details, dict) else {}
        credit_before = self.credit
        worker, new = self._workers.heard(identity, details, now)
        if worker is None:
            return  # its process exited (worker.gone): a message that was on its way
        if new:
            log.info("zmqmaster::worker %s registered with %d slot(s)%s",
                     identity.decode("utf-8", "replace"), worker.slots,
                     "" if data == C.ZMQ_SPYDER_MGMT_WORKER_AVAIL else " (by %s)" % data.decode())
        self._claims(identity, worker, details)
        if data != C.ZMQ_SPYDER_MGMT_WORKER_CREDIT and C.MGMT_DETAIL_SENT in details:
            self._mgmt.publish(C.ZMQ_SPYDER_MGMT_WORKER, self._identity,
                               C.ZMQ_SPYDER_MGMT_WORKER_ECHO, {
                                   C.MGMT_DETAIL_WORKER: identity,
                                   C.MGMT_DETAIL_SENT: details[C.MGMT_DETAIL_SENT],
                                   C.MGMT_DETAIL_RECEIVED: now,
                                   C.MGMT_DETAIL_DEAD_AFTER: self._workers.heartbeat_timeout,
                                   C.MGMT_DETAIL_BATCH: self._batch})
        if credit_before <= 0 < self.credit:
            # with credit left before, dispatch is waiting for the frontier's next due
            # time (a timer), not for credit: nothing to do on every credit snapshot
            self._on_credit()

    def result_ticket(self, ticket):
        """The credit snapshot in a result's ticket, from a registered worker."""
        identity = ticket.get(C.TICKET_WORKER)
        worker = self._workers.get(identity)
        if worker is not None and C.MGMT_DETAIL_FREE in ticket:
            self._workers.touch(worker, self._clock())
            self._claims(identity, worker, ticket)

    def recall(self):
        """Once the frontier's leases fall in doubt, call back every claimed fetch (new
        claims are answered ``void`` meanwhile: ``_claims``); see the module docstring.
        The master's housekeeping calls this."""
        doubt = self._in_doubt()
        if doubt and not self._recalled:
            held = [(lease.holder, lease.id) for lease in self._leases.open_leases()
                    if lease.holder is not None]
            for holder, dispatch_id in held:
                self._tell(holder, void=[dispatch_id])
            log.warning("zmqmaster::the host-queue leases are in doubt (the frontier's store "
                        "is out of reach): %d fetch(es) called back, and none starts until "
                        "the leases are renewed", len(held))
        elif self._recalled and not doubt:
            log.warning("zmqmaster::the host-queue leases are renewed: fetches go out again")
        self._recalled = doubt

    def hello(self):
        """Ask every worker to register (they answer with ``be here now``)."""
        self._mgmt.publish(C.ZMQ_SPYDER_MGMT_WORKER, self._identity,
                           C.ZMQ_SPYDER_MGMT_WORKER_HELLO)

    def _claims(self, identity, worker, details):
        """Apply a worker's credit snapshot: its free slots, and the leases it holds.  Each
        claim registered now, and each held id that is not this worker's lease (returned
        unclaimed, expired, failed), is told to the worker (``claims``, sent once per loop
        turn and worker)."""
        ok = void = None
        held = self._workers.snapshot(worker, details)
        doubt = bool(held) and self._in_doubt()
        for dispatch_id in held:
            if not doubt and self._leases.claim(dispatch_id, identity):
                ok = ok or []
                ok.append(dispatch_id)
                continue
            lease = self._leases.get(dispatch_id)
            if doubt or lease is None or lease.holder != identity:
                void = void or []
                void.append(dispatch_id)
        if ok or void:
            self._tell(identity, ok, void)

    def _tell(self, identity, ok=(), void=()):
        """Queue ``ok`` and ``void`` ids for worker ``identity``'s next ``claims``."""
        pending = self._confirm.get(identity)
        if pending is None:
            if not self._confirm:
                self._io_loop.add_callback(self._send_confirmations)
            pending = self._confirm[identity] = ([], [])
        pending[0].extend(ok or ())
        pending[1].extend(void or ())

    def _send_confirmations(self):
        confirm, self._confirm = self._confirm, {}
        for identity, (ok, void) in confirm.items():
            details = {C.MGMT_DETAIL_WORKER: identity, C.MGMT_DETAIL_OK: ok}
            if void:
                details[C.MGMT_DETAIL_VOID] = void
            self._mgmt.publish(C.ZMQ_SPYDER_MGMT_CLAIMS + identity, self._identity,
                               C.ZMQ_SPYDER_MGMT_WORKER_CLAIMS, details)

    def _gone(self, msg):
        """A supervisor says a worker's process exited: its claimed dispatches return soon
        (as when it is declared dead), not after WORKER_HEARTBEAT_TIMEOUT."""
        details = msg.details if isinstance(msg.details, dict) else {}
        identity = details.get(C.MGMT_DETAIL_WORKER)
        if not isinstance(identity, bytes) or not identity:
            self._dropped.drop("management", "worker.gone without a worker identity")
            return
        known = self._workers.gone(identity) is not None
        why = "exited (%s says)" % msg.identity.decode("utf-8", "replace")
        if known:
            log.info("zmqmaster::worker %s %s: its claimed URLs return in %.1f s (requests it "
                     "had under way may still run at their web servers)",
                     identity.decode("utf-8", "replace"), why, self._gone_grace)
        # not at once: the web server finishes a request whose client died on its own time
        self._io_loop.call_later(self._gone_grace, self._on_gone, identity, why, known)
