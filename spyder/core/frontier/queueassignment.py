"""Queue assignment: which politeness queue a URL belongs to.

Politeness (concurrency, delay between fetches, budgets) is kept per queue, so the
assignment decides what "one site" means:

* ``HostBasedQueueAssignment`` (default): the host with its non-default port,
  e.g. ``example.com`` or ``example.com:8080``.  Known at once.
* ``IpBasedQueueAssignment``: the IP address the host resolves to, so virtual
  hosts sharing a server share its politeness.  Resolving must not block the
  master's event loop: ``get_identifier`` answers only from the ``DnsCache``
  (``None`` on a miss), and ``resolve`` starts an asynchronous lookup whose
  callback runs on the event loop later; meanwhile the frontier parks the host's
  URLs.  A host that cannot be resolved gets its host key as identifier, so its
  URLs still reach a worker, fail there as network errors and are retried.

The frontier remembers each host's queue in the state file, so a host keeps its
queue when its address changes later.
"""
import logging

from tornado.ioloop import IOLoop

from spyder.core.urls import host_and_port, host_key

log = logging.getLogger("spyder.frontier")


class HostBasedQueueAssignment:
    """One queue per host (and non-default port)."""

    #: True when ``get_identifier`` may answer ``None`` and ``resolve`` must be used.
    needs_resolution = False

    def __init__(self, settings=None, dns_cache=None):
        self.settings = settings

    def get_identifier(self, url):
        """The queue identifier of a canonical URL."""
        return host_key(url)


class IpBasedQueueAssignment(HostBasedQueueAssignment):
    """One queue per IP address, resolved without blocking (see the module docstring)."""

    needs_resolution = True

    def __init__(self, settings=None, dns_cache=None):
        super().__init__(settings, dns_cache)
        if dns_cache is None:
            from spyder.core.dnscache import DnsCache
            dns_cache = DnsCache(settings)
        self._dns_cache = dns_cache
        self._pending = {}  # host key -> task

    @property
    def pending(self):
        """Number of lookups under way."""
        return len(self._pending)

    def get_identifier(self, url):
        """The IP address of the URL's host if it is known right now, else ``None``."""
        host, port = host_and_port(url)
        cached = self._dns_cache.get_cached(host, port)
        return cached[0] if cached else None

    def resolve(self, url, callback):
        """Look the URL's host up; later, on the event loop, ``callback(host_key, identifier)``.

        One lookup per host key at a time; further calls while it runs are ignored.
        """
        key = host_key(url)
        if key in self._pending:
            return
        host, port = host_and_port(url)
        loop = IOLoop.current().asyncio_loop
        self._pending[key] = loop.create_task(self._resolve(key, host, port, callback))

    async def _resolve(self, key, host, port, callback):
        try:
            identifier = (await self._dns_cache.resolve(host, port))[0]
        except Exception as exc:  # OSError for DNS failures; anything else is logged too
            log.info("frontier::cannot resolve %s (%s); its URLs share the queue %s",
                     host, exc, key)
            identifier = key
        finally:
            self._pending.pop(key, None)
        try:
            callback(key, identifier)
        except Exception:
            log.exception("frontier::handling the address of %s failed", key)
