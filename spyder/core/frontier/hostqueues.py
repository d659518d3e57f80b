"""The active host queues: politeness queues held in memory while they are crawled.

URLs live in politeness *queues* in the state file (one per host by default, or
per IP: ``QUEUE_ASSIGNMENT_CLASS``).  ``ActiveQueues`` keeps up to ``max_active``
of them in memory.  An active ``HostQueue`` holds a small sorted buffer of its URLs
due first (new URLs before recrawls, shallow before deep), the URLs it has in
flight (at most ``concurrency``), the time its next fetch may start
(``next_allowed``: the politeness delay, also written to the state file so that it
survives a crash -- by ``store_delays`` just before each commit, the latest per queue,
since only what a commit holds survives), a hold (``blocked_until``: robots.txt
retries, ``Retry-After``) and, in a ``MultipleHostFrontier``, a budget of fetches for
this activation.

A ready heap orders the active queues by the time each can next hand out a URL
(``due``); ``schedule`` keeps a queue's entry right after every change.  A queue
whose budget is spent, that has nothing due, or that must wait longer than
``PUT_AWAY_WAIT`` goes back to the state file with the time it is next due, never
earlier than its politeness delay (``deactivate``), and the due queues in the state
file are activated in turn (``activate``: the ``QUEUE_SELECTOR_CLASS`` picks among
the most overdue).  What to do with the URL a queue hands out (robots.txt, dispatch)
is the frontier's business.
"""
import bisect
import heapq

#: A queue that has to wait longer than this (robots.txt retry, Retry-After, a long
#: Crawl-delay) goes back to the state file instead of holding an active slot.
PUT_AWAY_WAIT = 60.0
#: Seconds before a queue whose slots are all in use is asked again to lend one.
LEND_POLL = 1.0


class HostQueue:
    """An active politeness queue (see the module docstring)."""

    __slots__ = ("id", "buffer", "complete", "flying", "next_allowed", "blocked_until",
                 "waiting", "budget", "scheduled", "delay")

    def __init__(self, queue_id, budget):
        self.id = queue_id
        self.buffer = []           # sorted [(next_date, priority, rowid, UriRow)]
        self.complete = False      # the buffer holds every scheduled URL of the queue
        self.flying = set()        # URLs of this queue in flight
        self.next_allowed = 0.0    # politeness: no fetch starts before this time
        self.blocked_until = 0.0   # robots.txt retry wait, Retry-After
        self.waiting = False       # the head's robots.txt is being fetched
        self.budget = budget
        self.scheduled = None      # time of this queue's valid entry in the ready heap
        self.delay = None          # the politeness delay after its last fetch (for the console)

    def hold(self, until):
        """Hand out nothing before ``until`` (a robots.txt retry, an operator's block, a
        pause after dropping a long run of disallowed URLs)."""
        self.blocked_until = until

    def lift_hold(self):
        self.blocked_until = 0.0

    def wait_for_robots(self):
        """Hand out nothing until the robots.txt answer the head waits for is in."""
        self.waiting = True

    def take_head(self):
        """Remove and return the buffer entry due first."""
        return self.buffer.pop(0)

    def spend(self, url):
        """``url`` goes out: one slot and one unit of budget are used."""
        self.flying.add(url)
        if self.budget is not None:
            self.budget -= 1


class ActiveQueues:
    """The queues in memory and their ready heap, over the frontier's ``store``.

    ``budget`` is the fetches per activation (``None``: unlimited), ``buffer_size``
    the URLs of one queue read from the state file at a time.  ``take_ops`` counts the
    state-file writes made here since it was last asked (a delay to store counts as
    one), for the frontier's checkpoints.
    """

    def __init__(self, store, selector, max_active, budget, buffer_size, concurrency):
        self.active = {}           # queue id -> HostQueue
        self._ops = 0
        self._ready = []           # heap of (time, queue id)
        self._delayed = set()      # ids of active queues whose next_allowed is not stored
        self._store = store
        self._selector = selector
        self._max_active = max_active
        self._budget = budget
        self._buffer_size = buffer_size
        self._concurrency = concurrency

    def __len__(self):
        return len(self.active)

    def take_ops(self):
        """The state-file writes made here since the last call."""
        ops, self._ops = self._ops, 0
        return ops

    @property
    def ops(self):
        """The state-file writes made here since ``take_ops`` was last called."""
        return self._ops

    def get(self, queue_id):
        return self.active.get(queue_id)

    def has_room(self):
        """Fewer than ``max_active`` queues are active."""
        return len(self.active) < self._max_active

    def activate(self, now):
        """Bring due queues from the state file into memory, up to ``max_active``."""
        free = self._max_active - len(self.active)
        candidates = self._store.due_queues(now, 2 * free)
        if len(candidates) > free:
            chosen = []
            while len(chosen) < free:
                self._selector.reset_queues(len(candidates))
                chosen.append(candidates.pop(self._selector.get_queue()))
            candidates = chosen
        for queue_id, _ in candidates:
            q = self._bring_in(queue_id)
            if q is not None:
                self.schedule(q, now)

    def _bring_in(self, queue_id):
        """Make queue ``queue_id`` of the state file active, with its stored delay; ``None``
        if the store says another frontier holds it (a store shared by several masters)."""
        not_before = self._store.take_queue(queue_id)
        if not_before is None:
            return None
        q = HostQueue(queue_id, self._budget)
        q.next_allowed = not_before
        self.active[queue_id] = q
        self._ops += 1
        return q

    def forget(self, queue_id):
        """Drop queue ``queue_id`` from memory without putting it back: the store says this
        frontier's lease on it ended and another frontier holds it now.  Its URLs in flight
        still end (``release`` finds no queue and starts no delay)."""
        q = self.active.pop(queue_id, None)
        if q is not None:
            q.scheduled = None
            self._delayed.discard(queue_id)

    def due(self, now):
        """The queues whose ready time has come, earliest first; each leaves the heap
        (``schedule`` puts it back)."""
        ready = self._ready
        while ready and ready[0][0] <= now:  # schedule() may rebuild the heap meanwhile
            when, queue_id = heapq.heappop(ready)
            q = self.active.get(queue_id)
            if q is None or q.scheduled != when:
                continue
            q.scheduled = None
            yield q

    def next_time(self):
        """The earliest time an active queue can hand out a URL; ``None``: none can."""
        ready = self._ready
        while ready:
            when, queue_id = ready[0]
            q = self.active.get(queue_id)
            if q is not None and q.scheduled == when:
                return when
            heapq.heappop(ready)
        return None

    def head(self, q):
        """The buffer entry ``q`` would hand out next (refilled from the state file),
        or ``None`` if it has no URL."""
        if not q.buffer and not q.complete:
            self._refill(q)
        return q.buffer[0] if q.buffer else None

    def schedule(self, q, now):
        """Deactivate ``q`` if it has nothing to do now, else (re)enter it in the ready heap."""
        if not q.flying and ((q.budget is not None and q.budget <= 0)
                             or (q.complete and not q.buffer)
                             or (q.buffer and q.buffer[0][0] > now)
                             or max(q.next_allowed, q.blocked_until) > now + PUT_AWAY_WAIT):
            self.deactivate(q)
            return
        if len(q.flying) >= self._concurrency or q.waiting or (
                q.budget is not None and q.budget <= 0):
            when = None
        elif q.buffer:
            when = max(q.buffer[0][0], q.next_allowed, q.blocked_until)
        else:
            when = None if q.complete else max(q.next_allowed, q.blocked_until)
        if when != q.scheduled:
            q.scheduled = when
            if when is not None:
                heapq.heappush(self._ready, (when, q.id))
                if len(self._ready) > 4 * len(self.active) + 64:
                    self._ready = [(a.scheduled, a.id) for a in self.active.values()
                                   if a.scheduled is not None]
                    heapq.heapify(self._ready)

    def lend(self, queue_id, url, now):
        """Start a fetch of ``url`` on behalf of another queue under the politeness of
        queue ``queue_id`` (a robots.txt redirected to its host): if that queue may start a
        fetch now -- activated from the state file if need be, once its stored delay has
        passed -- ``url`` takes one of its slots (``release`` frees it and starts the
        delay) and ``None`` is returned; otherwise the time to ask again."""
        q = self.active.get(queue_id)
        if q is None:
            not_before = self._store.queue_not_before(queue_id)
            if not_before is not None and not_before > now:
                return not_before
            q = self._bring_in(queue_id)
            if q is None:   # another frontier holds it
                return now + LEND_POLL
        else:
            free_at = max(q.next_allowed, q.blocked_until)
            if len(q.flying) >= self._concurrency or free_at > now:
                return max(free_at, now + LEND_POLL)
        q.spend(url)
        self.schedule(q, now)
        return None

    def wake(self, queue_id, now):
        """The robots.txt answer queue ``queue_id`` waited for (fetched by another queue) is
        in: it may hand out URLs again."""
        q = self.active.get(queue_id)
        if q is not None:
            q.waiting = False
            self.schedule(q, now)

    def release(self, q, url, not_before, cost, now):
        """A fetch of ``q`` ended: free its slot, wait until ``not_before``, spend ``cost``
        more of the budget (a server error's punishment)."""
        q.flying.discard(url)
        q.waiting = False
        q.delay = max(0.0, not_before - now)
        if not_before > q.next_allowed:
            q.next_allowed = not_before
            self._delayed.add(q.id)  # stored before the next commit: survives a crash
            self._ops += 1
        if q.budget is not None:
            q.budget -= cost
        self.schedule(q, now)

    def deactivate(self, q):
        """Put ``q`` back into the state file with the time it is next due."""
        not_before = max(q.next_allowed, q.blocked_until)
        head = self._store.queue_head(q.id, 1)
        due = max(head[0].next_date, not_before) if head else None
        self._store.put_queue(q.id, due, not_before or None)
        self._delayed.discard(q.id)
        del self.active[q.id]
        q.scheduled = None
        self._ops += 1

    def store_delays(self):
        """Write the active queues' politeness delays not stored yet (before a commit)."""
        if self._delayed:
            self._store.hold_queues(
                [(self.active[queue_id].next_allowed, queue_id) for queue_id in self._delayed])
            self._delayed.clear()

    def deactivate_all(self):
        for q in list(self.active.values()):
            self.deactivate(q)

    def apply(self, pushes, now):
        """``pushes``: ``(queue id, UriRow)`` of scheduled rows that changed."""
        for queue_id, row in pushes:
            q = self.active.get(queue_id)
            if q is not None:
                self._offer(q, row, now)

    def withdraw(self, queue_id, url):
        """Take ``url`` out of the buffer of queue ``queue_id`` (if active) before its row
        changes outside a fetch (a late answer); ``apply`` offers the new row."""
        q = self.active.get(queue_id)
        if q is not None:
            q.buffer = [entry for entry in q.buffer if entry[3].url != url]

    def lower_due(self, due):
        """``due``: queue id -> the earliest new URL's time, for queues in the state file."""
        for queue_id, when in due.items():
            self._store.lower_queue_due(queue_id, when)

    def _refill(self, q):
        size = self._buffer_size
        limit = size + len(q.flying)
        rows = self._store.queue_head(q.id, limit)
        buffer = [(r.next_date, r.priority, r.rowid, r) for r in rows if r.url not in q.flying]
        buffer.sort()
        q.complete = len(rows) < limit and len(buffer) <= size
        del buffer[size:]
        q.buffer = buffer

    def _offer(self, q, row, now):
        """A scheduled row of ``q`` changed: keep the buffer's invariant."""
        entry = (row.next_date, row.priority, row.rowid, row)
        buffer = q.buffer
        if q.complete or (buffer and entry < buffer[-1]):
            bisect.insort(buffer, entry)
            if len(buffer) > self._buffer_size:
                buffer.pop()
                q.complete = False
            self.schedule(q, now)
