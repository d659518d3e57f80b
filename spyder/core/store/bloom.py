"""A blocked Bloom filter over the merged URL fingerprints: "certainly new" without disk.

The SQLite store's URL-seen test looks a link's 64-bit fingerprint up in ``seen``, a
B-tree as large as the crawl (~20 bytes per known URL, mostly not in memory at 10^7
URLs and beyond).  Most links of a crawl are new, and for them that look-up finds
nothing.  This filter answers first: a fingerprint the filter does not hold is
certainly not in ``seen`` (a Bloom filter has no false negatives), so the store skips
the look-up; a fingerprint it may hold (every known one, and ~0.3-2 % of the new ones)
is looked up as before.

It holds exactly the fingerprints of ``seen``: the store adds a merge's keys when it
merges them (``add_sorted``), and fresh fingerprints (not merged yet) are in the
store's own dict, which is exact.  No hashing beyond the fingerprint: with ``u`` the
fingerprint as an unsigned 64-bit number (``fp + 2^63``, the same order as the
signed keys of ``seen``), its block is ``(u * blocks) >> 64`` (the top bits: the keys
of a block are a contiguous range of ``seen``) and its three bits in the block come
from three 16-bit slices of the low 48 bits (independent of the block while there
are fewer than 2^16 blocks: 2 x 10^8 URLs at 10 bits each).

Blocks are ``BLOCK_BYTES`` (4,000: one blob fits in one 4 KiB SQLite page), so a key
changes one block, and the store writes back only the blocks a merge changed
(``take_dirty``) in the merge's own commit.  The size is fixed when the filter is
built (``blocks_for``: ``bits_per_url`` bits per key of its ``room``, ``GROWTH`` times
the keys it is built with); once the keys have outgrown its room the store fills a
larger one, a slice of keys per commit, while this one serves (a filter past its room
is still right about "certainly new", only less often sure).

Pure Python on purpose (no numpy at run time): a test is a few integer operations
and up to three ``bytearray`` reads, ~0.3 µs per link; adding a key ~0.6 µs.
"""

#: Bytes per block: a blob of 4,000 bytes is stored in one 4 KiB page of the state file.
BLOCK_BYTES = 4000
BLOCK_BITS = BLOCK_BYTES * 8
#: The store builds a filter with room for this many times the keys it holds then, so
#: it serves until they have doubled: building filters costs ~1.25 key reads per new
#: key, for up to twice the memory (2 x 125 MB at 10^8 URLs, 10 bits each).
GROWTH = 2
#: Adding 2^63 maps a signed 64-bit fingerprint to an unsigned one, order kept.
_OFFSET = 1 << 63


def blocks_for(keys, bits_per_url):
    """Blocks for a filter of ``keys`` keys at ``bits_per_url`` bits each (at least one)."""
    return max(1, -(-int(keys * bits_per_url) // BLOCK_BITS))


class BloomFilter:
    """``blocks`` blocks of ``BLOCK_BYTES``, empty; the keys are signed 64-bit
    fingerprints."""

    def __init__(self, blocks, bits_per_url):
        self.blocks = blocks
        self.bits_per_url = bits_per_url
        #: Keys it holds at ``bits_per_url`` bits each: past them, the store fills a
        #: larger one (past 1.5 times as many, ~5 % false positives at 10 bits).
        self.room = blocks * BLOCK_BITS // max(1, bits_per_url)
        self._bits = bytearray(blocks * BLOCK_BYTES)
        self._dirty = set()

    def may_contain(self, fp):
        """False if ``fp`` was certainly never added; True if it may have been."""
        bits = self._bits
        u = fp + _OFFSET
        base = ((u * self.blocks) >> 64) * BLOCK_BITS
        p = base + (((u & 0xFFFF) * BLOCK_BITS) >> 16)
        if not bits[p >> 3] & (1 << (p & 7)):
            return False
        p = base + ((((u >> 16) & 0xFFFF) * BLOCK_BITS) >> 16)
        if not bits[p >> 3] & (1 << (p & 7)):
            return False
        p = base + ((((u >> 32) & 0xFFFF) * BLOCK_BITS) >> 16)
        return bool(bits[p >> 3] & (1 << (p & 7)))

    def maybe_known(self, fps):
        """The fingerprints of ``fps`` the filter may hold (the others are certainly new):
        ``may_contain`` for a batch, inlined."""
        bits = self._bits
        blocks = self.blocks
        maybe = []
        for fp in fps:
            u = fp + _OFFSET
            base = ((u * blocks) >> 64) * BLOCK_BITS
            p = base + (((u & 0xFFFF) * BLOCK_BITS) >> 16)
            if bits[p >> 3] & (1 << (p & 7)):
                p = base + ((((u >> 16) & 0xFFFF) * BLOCK_BITS) >> 16)
                if bits[p >> 3] & (1 << (p & 7)):
                    p = base + ((((u >> 32) & 0xFFFF) * BLOCK_BITS) >> 16)
                    if bits[p >> 3] & (1 << (p & 7)):
                        maybe.append(fp)
        return maybe

    def add_sorted(self, fps):
        """Add fingerprints (in any order; sorted ones touch each block once in a row) and
        remember the blocks they changed."""
        bits = self._bits
        blocks = self.blocks
        dirty = self._dirty
        last = -1
        for fp in fps:
            u = fp + _OFFSET
            block = (u * blocks) >> 64
            if block != last:
                dirty.add(block)
                last = block
            base = block * BLOCK_BITS
            p = base + (((u & 0xFFFF) * BLOCK_BITS) >> 16)
            bits[p >> 3] |= 1 << (p & 7)
            p = base + ((((u >> 16) & 0xFFFF) * BLOCK_BITS) >> 16)
            bits[p >> 3] |= 1 << (p & 7)
            p = base + ((((u >> 32) & 0xFFFF) * BLOCK_BITS) >> 16)
            bits[p >> 3] |= 1 << (p & 7)

    def take_dirty(self):
        """``(block, bytes)`` of the blocks changed since the last call, in block order (a
        generator: one block's copy at a time)."""
        dirty, self._dirty = sorted(self._dirty), set()
        bits = self._bits
        return ((b, bytes(bits[b * BLOCK_BYTES:(b + 1) * BLOCK_BYTES])) for b in dirty)

    def load_block(self, block, data):
        """Set block ``block`` to ``data`` (as stored)."""
        if not 0 <= block < self.blocks or len(data) != BLOCK_BYTES:
            raise ValueError("Bloom filter block %r of %d bytes does not fit %d blocks of %d"
                             % (block, len(data), self.blocks, BLOCK_BYTES))
        self._bits[block * BLOCK_BYTES:(block + 1) * BLOCK_BYTES] = data

    def __len__(self):
        return len(self._bits)
