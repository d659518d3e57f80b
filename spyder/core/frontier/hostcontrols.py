"""The operator's orders per host: blocks and politeness delays, kept in the state file.

``spyder ctl block HOST`` (or ``POST /api/hosts/HOST/block``) holds a host until a
time or until it is unblocked; ``delay`` replaces the computed politeness delay
after each of its fetches.  The orders are few (one per host an operator touched),
so all of them are held in a dict and written through to the ``host_controls``
table: they survive a restart.  The frontier asks ``blocked_until`` before it hands
out a host's URL and ``delay`` when a fetch ends; a host is named by its host key
(the name with a non-default port: ``example.com``, ``127.0.0.1:8080``).
"""
import math

#: ``blocked_until`` of a host blocked until it is unblocked.
FOREVER = math.inf


class HostControls:
    """Blocks and delay overrides per host over ``store`` (see the module docstring)."""

    def __init__(self, store):
        self._store = store
        self._orders = store.host_controls()   # host -> (blocked_until, delay)

    def blocked_until(self, host, now):
        """The time ``host`` is blocked until, or ``None`` if it is not blocked now."""
        order = self._orders.get(host)
        if order is None or order[0] is None or order[0] <= now:
            return None
        return order[0]

    def delay(self, host):
        """The operator's delay for ``host`` in seconds, or ``None``."""
        order = self._orders.get(host)
        return None if order is None else order[1]

    def block(self, host, until=FOREVER):
        """Block ``host`` until ``until`` (UTC epoch; ``FOREVER`` by default)."""
        self._set(host, until, self.delay(host))

    def unblock(self, host):
        self._set(host, None, self.delay(host))

    def set_delay(self, host, seconds):
        """Wait ``seconds`` after each fetch of ``host``; ``None`` goes back to the computed
        delay."""
        order = self._orders.get(host)
        self._set(host, None if order is None else order[0], seconds)

    def _set(self, host, until, delay):
        self._store.set_host_control(host, until, delay)
        if until is None and delay is None:
            self._orders.pop(host, None)
        else:
            self._orders[host] = (until, delay)
