"""FreshSchedule: the schedule entries of new URLs, in memory until a merge writes them.

``SQLiteStore`` stores a new URL at the end of ``urls``; its schedule entry (queue, due
time, priority, ``seq``) must be found by its queue's head (``queue_head``) until a
merge writes it into ``schedule`` in queue order (see ``sqlite.py``).  In a SQLite
table (``temp.fresh_schedule``) each entry was a B-tree insert at a random place, the
largest part of storing a new URL (2.2-2.9 µs, more the larger the table).  Here it is
an append:

* per queue, *buckets* by ``(next_date, priority)`` -- a new URL is due at its depth,
  so a queue has a few -- each an ``array`` of ``seq`` in insertion order: a queue's
  entries in schedule order (due time, priority, ``seq``) are its buckets in key order,
  each read from its first live entry (a bucket's dead head is passed over once, outside
  an operation);
* a bitmap of the live entries by ``seq``: an entry leaves when its row is updated
  (``drop``, which the store's triggers call with the row's ``seq``; the row's new
  entry goes where an updated row's goes) or when a merge takes it (``take``).  A
  dropped entry stays in its array and is passed over.

A queue holds at most ``MAX_BUCKETS`` buckets: ``add`` refuses an entry that would need
another (rows of a bulk load with many due times), and the store keeps it in its
table.  Changes made inside an operation are logged (``begin``) and undone if it rolls
back (``rollback``); entries are not kept across a restart (the store rebuilds the
fresh part of the schedule in its table when it opens a file).
"""
from array import array
from bisect import bisect_right

#: Buckets per queue at most (a bucket is a due time and priority: new URLs have few).
MAX_BUCKETS = 16


class FreshSchedule:
    """Schedule entries of rows from ``seq`` ``base`` on (see the module docstring)."""

    __slots__ = ("_queues", "_live", "_base", "_log", "_count")

    def __init__(self, base):
        self._queues = {}      # queue -> {(next_date, priority): [array of seq, first maybe live]}
        self._live = bytearray()
        self._base = base      # the seq of bit 0
        self._log = None       # inside an operation: [(array, length)] and dropped seqs
        self._count = 0        # live entries

    def __len__(self):
        return self._count

    # ------------------------------------------------------------------ changes
    def add(self, queue, next_date, priority, seq):
        """Keep the entry; False (nothing kept) if its queue has no room for its bucket."""
        buckets = self._queues.get(queue)
        if buckets is None:
            buckets = self._queues[queue] = {}
        key = (next_date, priority)
        bucket = buckets.get(key)
        if bucket is None:
            if len(buckets) >= MAX_BUCKETS:
                return False
            bucket = buckets[key] = [array("q"), 0]
        seqs = bucket[0]
        log = self._log
        if log is not None:
            log[0].append((seqs, len(seqs)))
        seqs.append(seq)
        self._set(seq)
        return True

    def drop(self, seq):
        """The row ``seq`` was updated: its entry, if it is here, leaves.  Returns 0 (for
        the trigger that calls it)."""
        if self._clear(seq) and self._log is not None:
            self._log[1].append(seq)
        return 0

    def begin(self):
        """An operation starts: log what it changes."""
        self._log = ([], [])

    def release(self):
        """The operation holds."""
        self._log = None

    def rollback(self):
        """The operation rolled back: its entries go, the entries it dropped come back."""
        appended, dropped = self._log
        self._log = None
        for seq in dropped:  # (first: an entry added and dropped in it goes for good below)
            self._set(seq)
        for seqs, length in reversed(appended):
            for seq in seqs[length:]:
                self._clear(seq)
            del seqs[length:]

    # ------------------------------------------------------------------ reading
    def head(self, queue, n):
        """Up to ``n`` live ``(next_date, priority, seq)`` of ``queue``, in schedule order."""
        buckets = self._queues.get(queue)
        if not buckets:
            return []
        found = []
        live, base = self._live, self._base
        for key in sorted(buckets):
            bucket = buckets[key]
            seqs = bucket[0]
            # (not inside an operation: a rollback may bring a dropped entry back)
            skipping = self._log is None
            for i in range(bucket[1], len(seqs)):
                offset = seqs[i] - base
                if live[offset >> 3] & (1 << (offset & 7)):
                    if skipping:  # the dead head is passed over once
                        bucket[1] = i
                        skipping = False
                    found.append(key + (seqs[i],))
                    if len(found) >= n:
                        return found
            if skipping:
                bucket[1] = len(seqs)
        return found

    def max_queue(self):
        """The largest queue with entries, or None."""
        return max(self._queues) if self._queues else None

    def entries(self):
        """Every live entry, ``(queue, next_date, priority, seq)`` (a generator)."""
        for queue, buckets in self._queues.items():
            for (next_date, priority), (seqs, start) in buckets.items():
                for seq in seqs[start:]:
                    if self._is_live(seq):
                        yield queue, next_date, priority, seq

    # ------------------------------------------------------------------ merges
    def take(self, after, through, upto):
        """Remove the live entries of rows up to ``upto`` in the queues above ``after`` up
        to ``through`` (``None``: every one above) and yield them, ``(queue, next_date,
        priority, seq)``, as the merge writes them (a generator: a slice of a merge at
        10^7 URLs is ~10^5 entries, not held as a list); read it to its end."""
        live, base = self._live, self._base
        for queue in [q for q in self._queues
                      if q > after and (through is None or q <= through)]:
            buckets = self._queues[queue]
            for key in list(buckets):
                seqs, start = buckets[key]
                next_date, priority = key
                cut = bisect_right(seqs, upto)
                for seq in seqs[start:cut]:  # (``_clear`` inlined: once per new URL)
                    offset = seq - base
                    byte, bit = offset >> 3, 1 << (offset & 7)
                    if live[byte] & bit:
                        live[byte] &= ~bit
                        self._count -= 1
                        yield queue, next_date, priority, seq
                if cut < len(seqs):
                    buckets[key] = [seqs[cut:], 0]
                else:
                    del buckets[key]
            if not buckets:
                del self._queues[queue]

    def rebase(self, base):
        """No live entry is below ``base`` any more (a merge took them): forget their bits."""
        drop = (base - self._base) >> 3
        if drop > 0:
            del self._live[:drop]
            self._base += drop << 3

    # ------------------------------------------------------------------ internals
    def _is_live(self, seq):
        offset = seq - self._base
        return 0 <= offset < len(self._live) << 3 and bool(
            self._live[offset >> 3] & (1 << (offset & 7)))

    def _set(self, seq):
        """Mark ``seq``'s entry live (the bitmap grows, doubling, to hold it)."""
        offset = seq - self._base
        live = self._live
        if offset >> 3 >= len(live):
            live.extend(bytes(max(len(live), (offset >> 3) + 1 - len(live))))
        live[offset >> 3] |= 1 << (offset & 7)
        self._count += 1

    def _clear(self, seq):
        """Mark ``seq``'s entry dead; True if it was live."""
        offset = seq - self._base
        live = self._live
        if not 0 <= offset < len(live) << 3:
            return False
        byte, bit = offset >> 3, 1 << (offset & 7)
        if not live[byte] & bit:
            return False
        live[byte] &= ~bit
        self._count -= 1
        return True
