"""Returns: dispatches whose answer will not come back, and how their URLs go back.

Part of the master (``spyder.core.master``).  ``ZmqMaster``'s housekeeping asks
``Returns`` each tick for the dispatches that ended without an answer:

* a lease that expired (``expire_leases``) -- the URL goes back as a failed attempt
  (status 711, ``lease_expired``);
* the leases of a worker declared dead after ``WORKER_HEARTBEAT_TIMEOUT`` of silence
  (``expire_workers``), or whose process a supervisor saw exit (``return_held`` with
  ``exited``: the first time a URL's worker exits it goes back without an attempt, from
  the second time on attempts count) -- ``redispatched``;
* dispatches no worker claimed by their claim deadline + ``CLAIM_MARGIN``
  (``expire_unclaimed``): back as handed back, no attempt, ``unclaimed_returned``; the
  workers silent since they were dealt are named once each in the log and their stale
  credit is no longer counted (``WorkerRegistry.distrust``).

The failed leases' ids are kept by ``Leases`` so that a late answer can still count.
Each method returns True if it returned anything, so the master dispatches again.
"""
import collections
import logging

from spyder.core import constants as C

log = logging.getLogger("spyder.master")

#: URLs whose worker exited while holding them, remembered (returned without an attempt once).
_DIED_HOLDING_KEPT = 10000


class Returns:
    """The master's returns (see the module docstring).  ``route(curi, counted)`` hands a
    failed URL to the frontier by its status; ``hand_back(curi)`` returns one without an
    attempt."""

    def __init__(self, settings, leases, workers, tally, route, hand_back):
        self._leases = leases
        self._workers = workers
        self._tally = tally
        self._route = route
        self._hand_back = hand_back
        self._heartbeat_interval = settings.WORKER_HEARTBEAT_INTERVAL
        self._died_holding = collections.OrderedDict()  # url -> True

    def expire_leases(self, now):
        """Fail the leases whose time is up."""
        expired = self._leases.expired(now)
        for lease in expired:
            self._tally.events["lease_expired"] += 1
            log.warning("zmqmaster::lease on %s expired after %s s without a result",
                        lease.curi.url, self._leases.timeout)
            self._fail(lease, "lease expired after %s s" % self._leases.timeout)
        return bool(expired)

    def expire_workers(self, now):
        """Drop the workers silent for too long; their claimed leases fail."""
        returned = False
        for identity in self._workers.silent(now):
            returned = self.return_held(identity, "silent for %s s"
                                        % self._workers.heartbeat_timeout, True) or returned
        return returned

    def return_held(self, identity, why, known, exited=False):
        """Worker ``identity`` is dead (``why``; ``known``: it was registered): the
        dispatches it claimed fail (711) and are dispatched again -- or, if its process is
        known to have ``exited`` (it cannot answer late any more), go back without an
        attempt the first time a URL's worker dies (a URL whose workers keep dying counts
        attempts and is given up in the end).  True if there were any."""
        name = identity.decode("utf-8", "replace")
        held = self._leases.held_by(identity)
        if known or held:
            log.warning("zmqmaster::worker %s %s, dropped; dispatching the %d URL(s) it held "
                        "again", name, why, len(held))
        for lease in held:
            self._tally.events["redispatched"] += 1
            url = lease.curi.url
            if not exited or url in self._died_holding or lease.superseded:
                log.info("zmqmaster::lease on %s returned: its worker died", url)
                self._fail(lease, "worker %s died" % name)
                continue
            # the first death costs the URL nothing (no attempt, no retry backoff); a URL
            # whose workers keep dying counts attempts from the second time on
            self._died_holding[url] = True
            if len(self._died_holding) > _DIED_HOLDING_KEPT:
                self._died_holding.popitem(last=False)
            log.info("zmqmaster::lease on %s returned: its worker exited (no attempt counted)",
                     url)
            self._leases.end(lease)
            self._back(lease.curi, "worker %s died" % name)
        return bool(held)

    def expire_unclaimed(self, now):
        """Dispatches no worker claimed by their claim deadline (+ ``CLAIM_MARGIN``) return
        to the frontier as handed back: no attempt counted.  No worker fetches them: one
        that reads one later hands it back unread, one that claimed it without the master
        hearing of it in time stopped its fetch at the claim deadline."""
        workers = self._workers
        overdue = self._leases.unclaimed_overdue(now)
        for lease in overdue:
            self._leases.void(lease)
            self._tally.events["unclaimed_returned"] += 1
            log.info("zmqmaster::lease on %s returned unclaimed: no worker claimed it within "
                     "DISPATCH_CLAIM_TIMEOUT=%s s; back in its queue, no attempt counted",
                     lease.curi.url, self._leases.claim_timeout)
            self._back(lease.curi, "not claimed by any worker in time")
        if not overdue:
            return False
        # workers silent since the oldest of those was sent and for longer than their
        # heartbeats allow (a healthy idle worker only speaks every interval)
        oldest = min(min(lease.sent for lease in overdue), now - 1.5 * self._heartbeat_interval)
        for identity in list(workers):
            worker = workers.get(identity)
            if worker.last_seen < oldest and workers.first_silence_report(worker):
                log.warning("zmqmaster::worker %s silent for %.1f s: dispatches dealt into "
                            "its pipe return unclaimed after DISPATCH_CLAIM_TIMEOUT=%s s, no "
                            "attempt counted (logged once per worker)",
                            identity.decode("utf-8", "replace"), now - worker.last_seen,
                            self._leases.claim_timeout)
        workers.distrust(oldest)
        return True

    def _fail(self, lease, error):
        """A lease ended without an answer: its URL goes back as a failed attempt (711)."""
        self._leases.fail(lease)
        curi = lease.curi
        curi.status_code = C.CURI_ELEASE_EXPIRED
        curi.optional_vars[C.CURI_ERROR] = error
        self._route(curi, counted=not lease.superseded)

    def _back(self, curi, error):
        curi.status_code = C.CURI_ENETWORK
        curi.optional_vars[C.CURI_ERROR] = error
        self._hand_back(curi)
