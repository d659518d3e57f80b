"""How the long-running processes hand freed memory back to the system (glibc only).

Every page a worker handles builds and frees a parse tree, every result the master
handles a few hundred kilobytes of Python objects.  With glibc's default (a free
block of 128 KiB at the top of the heap is returned at once), the heap shrinks after
nearly every page and grows again for the next: the kernel unmaps and zeroes those
pages over and over.  ``keep_freed_memory(settings)`` raises glibc's trim threshold to
``MALLOC_KEEP_MB`` (``mallopt(M_TRIM_THRESHOLD)``) at process start, so that much
freed memory stays in the process for the next page.  Measured with
``benchmarks/bench_stages.py``: the extract stage costs ~30 % less CPU per page, the
frontier ~10 %.  The cost is at most that much resident memory per process that the
system could otherwise reclaim.  Elsewhere than glibc this does nothing.
"""
import ctypes
import ctypes.util

#: glibc's mallopt() parameter number for the trim threshold.
_M_TRIM_THRESHOLD = -1


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
    return bool(mallopt(_M_TRIM_THRESHOLD, int(megabytes * 1024 * 1024)))
