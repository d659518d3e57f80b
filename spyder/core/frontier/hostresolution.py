"""Which politeness queue a URL belongs to, and the host lookups that decide it.

The frontier asks ``QueueResolver.queue_for(url, key)`` for every URL it admits.  With a
host-based assignment (the default) the answer is immediate: the queue of the
URL's host key, created on first use.  With ``IpBasedQueueAssignment`` the queue is
the host's address, which needs a DNS lookup (``needs_resolution``): until it is
known the URL is *parked* in the state file (``park``), at most ``MAX_RESOLVING``
lookups run at once, and when a lookup ends the assignment calls the frontier's
``on_resolved(key, identifier)``, which moves the host's parked URLs into their
queue.  After a restart ``scan`` starts the lookups for hosts still parked.  A
bounded cache of host key -> queue id spares the state file most look-ups.
"""
import collections

from spyder.core.urls import host_key

#: Host -> queue id entries kept in memory.
HOST_CACHE_SIZE = 65536
#: Host lookups (IpBasedQueueAssignment) under way at the same time.
MAX_RESOLVING = 256


class QueueResolver:
    """Maps canonical URLs to queue ids over ``store`` with ``assignment``
    (``QUEUE_ASSIGNMENT_CLASS``); see the module docstring."""

    def __init__(self, store, assignment, on_resolved):
        self._store = store
        self._assignment = assignment
        self._on_resolved = on_resolved
        self._cache = collections.OrderedDict()  # host key -> queue id (bounded)
        self._scan_needed = True

    @property
    def busy(self):
        """Host lookups are under way (the master should ask again shortly)."""
        return self._assignment.needs_resolution and bool(self._assignment.pending)

    def queue_for(self, url, key):
        """The queue id of a canonical URL whose host key is ``key``; ``None`` while its host
        is being resolved."""
        cache = self._cache
        queue_id = cache.get(key)
        if queue_id is not None:
            cache.move_to_end(key)
            return queue_id
        store = self._store
        if self._assignment.needs_resolution:
            queue_id = store.host_queue(key)
            if queue_id is None:
                identifier = self._assignment.get_identifier(url)
                if identifier is None:
                    return None
                queue_id = store.queue_id(identifier)
                store.set_host_queue(key, queue_id)
        else:
            queue_id = store.queue_id(self._assignment.get_identifier(url))
        self.remember(key, queue_id)
        return queue_id

    def park(self, url):
        """Keep a URL aside until its host's address is known."""
        self._store.park(url, host_key(url))
        if self._assignment.pending < MAX_RESOLVING:
            self._assignment.resolve(url, self._on_resolved)
        else:
            self._scan_needed = True

    def scan(self, parked):
        """Start lookups for parked hosts (after a restart, or when lookups were
        saturated); ``parked`` is the number of URLs parked."""
        if not self._scan_needed:
            return
        self._scan_needed = False
        if not parked or not self._assignment.needs_resolution:
            return
        room = MAX_RESOLVING - self._assignment.pending
        if room <= 0:
            self._scan_needed = True
            return
        for _, url in self._store.parked_hosts(room + self._assignment.pending):
            self._assignment.resolve(url, self._on_resolved)

    def resolved(self, key, queue_id):
        """Host ``key``'s URLs were moved into queue ``queue_id``; look for more parked."""
        self.remember(key, queue_id)
        self._scan_needed = True

    def failed(self, key):
        """Recording host ``key``'s queue failed: its URLs stay parked; look again later."""
        self._scan_needed = True

    def remember(self, key, queue_id):
        cache = self._cache
        cache[key] = queue_id
        cache.move_to_end(key)
        if len(cache) > HOST_CACHE_SIZE:
            cache.popitem(last=False)

    def forget(self):
        """The store rolled back: cached queue ids may name queues it no longer has."""
        self._cache.clear()
