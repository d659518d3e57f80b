"""MasterClock: a worker's view of its master's clock, and its licence to fetch.

The master and a worker may run on different machines whose clocks disagree, and a
dispatch may sit in socket buffers for a long time (a stopped or cut-off worker
reads it only when it wakes up).  So neither the wall clock nor "the time the
message arrived" can tell a worker whether a dispatch is still its to fetch.
Instead every worker heartbeat carries the worker's monotonic time ``t``; the master
echoes it with its own monotonic time ``m`` at receipt.  Since the master received
the heartbeat after the worker sent it, ``m`` happened at or after local time ``t``:
a master-clock instant ``D`` is at or after local time ``t + (D - m)``.  A dispatch's
deadline converted this way is never later than the master's (it is early by the
heartbeat's transit time at most), whatever the clocks say and however long the
dispatch was delayed.  Only the two monotonic clocks' rates must agree, which they
do to within parts per million.

The same echo is the worker's **licence**: the master declares a worker dead once
it has heard nothing from it for ``dead_after`` seconds (and then dispatches what
the worker held to others), so a worker must not be fetching at local time
``t + dead_after``, ``t`` being its newest echoed heartbeat.  ``licence_end`` is
that instant minus a safety margin; fetches still running then are cancelled.

A new master identity (a restarted master) starts afresh: its samples replace the
old master's, whose dispatches are no longer accepted.
"""
import collections
import time

#: Seconds kept free before the licence's end (the echo's own transit, timer jitter).
LICENCE_MARGIN = 1.0
#: Seconds a sample is used for: the tightest of the recent ones counts, and old ones
#: age out so that the clocks' slow drift cannot accumulate.
_SAMPLE_WINDOW = 60.0


def warn_if_licence_too_short(settings, logger, topic):
    """Log a warning (``topic::text``) at start-up when ``WORKER_HEARTBEAT_TIMEOUT`` leaves a
    worker no licence between two heartbeats: it must exceed ``WORKER_HEARTBEAT_INTERVAL``
    plus ``LICENCE_MARGIN``.  Returns True if it warned."""
    timeout, interval = settings.WORKER_HEARTBEAT_TIMEOUT, settings.WORKER_HEARTBEAT_INTERVAL
    if timeout > interval + LICENCE_MARGIN:
        return False
    logger.warning("%s::WORKER_HEARTBEAT_TIMEOUT=%s s is not more than "
                   "WORKER_HEARTBEAT_INTERVAL=%s s + %s s: a worker's licence to fetch runs out "
                   "before its next heartbeat is echoed, so it keeps cancelling its fetches; "
                   "raise WORKER_HEARTBEAT_TIMEOUT (to %s s, say)",
                   topic, timeout, interval, LICENCE_MARGIN, max(3 * interval, interval + 2))
    return True


class MasterClock:
    """Clock samples from the current master's heartbeat echoes (see the module docstring)."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self.master = None          # identity of the master the samples come from
        self._samples = collections.deque()  # (local send time, m - t), oldest first
        self._dead_after = None

    def now(self):
        return self._clock()

    def sample(self, master, sent, received, dead_after):
        """An echo from ``master``: our heartbeat sent at local ``sent`` reached it at
        master time ``received``; it declares workers dead after ``dead_after`` s."""
        if master != self.master:
            self.forget()
            self.master = master
        samples = self._samples
        if samples and sent <= samples[-1][0]:
            return  # an echo overtaken by a newer one
        samples.append((sent, received - sent))
        while sent - samples[0][0] > _SAMPLE_WINDOW:
            samples.popleft()
        self._dead_after = dead_after

    def forget(self):
        """The master went away: no sample, no licence until the next echo."""
        self.master = self._dead_after = None
        self._samples.clear()

    def local(self, master, deadline):
        """Local monotonic time no later than master-clock ``deadline`` of ``master``;
        ``None`` if that is not the master the samples come from."""
        if master != self.master or not self._samples:
            return None
        # the smallest offset is the tightest bound: the heartbeat with the least transit
        return deadline - min(offset for _, offset in self._samples)

    def licence_end(self):
        """Local time by which this worker must have stopped fetching; ``None``: no licence."""
        if not self._samples:
            return None
        return self._samples[-1][0] + self._dead_after - LICENCE_MARGIN

    def licensed(self):
        end = self.licence_end()
        return end is not None and self._clock() < end
