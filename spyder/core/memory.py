"""How the long-running processes hand freed memory back to the system (glibc only).

Every page a worker handles builds and frees a parse tree, every result the master
handles a few hundred kilobytes of Python objects.  With glibc's default (a free
block of 128 KiB at the top of the heap is returned at once), the heap shrinks after
nearly every page and grows again for the next: the kernel unmaps and zeroes those
pages over and over.  ``keep_freed_memory(settings)`` raises glibc's trim threshold to
``MALLOC_KEEP_MB`` (``mallopt(M_TRIM_THRESHOLD)``) at process start, so that much
freed memory stays in the process for the next page (and blocks of up to 32 MiB come
from the heap, as glibc's own adaptive threshold would let them).  Measured with
``benchmarks/bench_stages.py``: the extract stage costs ~30 % less CPU per page, the
frontier ~10 %.  The cost is at most that much resident memory per process that the
system could otherwise reclaim.  Elsewhere than glibc this does nothing.
"""
import ctypes
import ctypes.util

#: glibc's mallopt() parameter numbers.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
#: Blocks from this size on get their own mapping: glibc's ceiling for its dynamic
#: threshold on 64-bit systems, which setting the trim threshold switches off.  (Left
#: at its start value of 128 KiB, every msgpack.packb() -- a 1 MiB buffer -- would map
#: and unmap memory: 10x its cost.)
_MMAP_THRESHOLD = 32 * 1024 * 1024


def keep_freed_memory(settings):
    """Apply ``MALLOC_KEEP_MB``; returns True if glibc took it."""
    megabytes = settings.MALLOC_KEEP_MB
    if not megabytes:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc: its allocator decides alone
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
                and mallopt(_M_TRIM_THRESHOLD, int(megabytes * 1024 * 1024)))
