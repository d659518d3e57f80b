"""Crash points for tests: SIGKILL this process at a named point of its work.

The crash-point tests (``tests/test_crash_points.py``) start a master with
``SPYDER_FAULT_POINT=name[:n]`` in its environment: the ``n``-th time (default the
first) the code passes ``point(name)``, the process kills itself with SIGKILL, as a
power cut or the OOM killer would end it.  The variable is read once, when this module
is imported; without it ``point`` is a function that does nothing.  ``POINTS`` lists
the names the code has, so a test can run to every one of them.
"""
import os
import signal

#: Every crash point, in the order a result passes them.
POINTS = (
    "jsonl.before_write",    # a JSONL line is about to be written
    "jsonl.after_write",     # ... and was written (not committed yet)
    "warc.before_write",     # the WARC writer thread is about to write an outcome's records
    "warc.after_write",      # ... and wrote them (not committed yet)
    "commit.before_sync",    # a commit is due and the sinks have caught up
    "commit.after_sync",     # the sinks' output is on disk (fsync), the state file not committed
    "commit.after_store",    # the state file committed, the commit not returned yet
)

_SPEC = os.environ.get("SPYDER_FAULT_POINT", "")


def _no_fault(name):
    """``point`` when no fault is asked for."""


def _make_point(spec):
    wanted, _, count = spec.partition(":")
    if wanted not in POINTS:
        raise ValueError("SPYDER_FAULT_POINT=%r: %r is no crash point; one of %s"
                         % (spec, wanted, ", ".join(POINTS)))
    left = [int(count) if count.isdigit() and int(count) > 0 else 1]

    def point(name):
        """SIGKILL this process if ``name`` is the point asked for, the n-th time."""
        if name == wanted:
            left[0] -= 1
            if left[0] == 0:
                os.kill(os.getpid(), signal.SIGKILL)
    return point


point = _make_point(_SPEC) if _SPEC else _no_fault
