"""UndoLog: all-or-nothing writes to in-memory containers, for the stores' ``atomic()``.

A store that keeps (part of) its state in plain dicts -- ``MemoryStore`` all of it,
``RedisStore`` its writes buffered until the next commit -- routes every change of
those dicts through ``put`` / ``drop``, and registers how to undo any other change
(a write already sent to a server) with ``on_undo``.  Outside ``atomic()`` nothing is
logged; inside it each change is logged, and an exception escaping the block undoes
them in reverse order.  Blocks nest: an inner block's log joins the outer one's.
"""
import contextlib
import logging

log = logging.getLogger("spyder.frontier")

_MISSING = object()


class UndoLog:
    """See the module docstring."""

    def __init__(self):
        self._entries = None       # inside atomic(): [(dict, key, old value or _MISSING) | callable]

    def put(self, table, key, value):
        """``table[key] = value``, undone inside ``atomic()``."""
        if self._entries is not None:
            self._entries.append((table, key, table.get(key, _MISSING)))
        table[key] = value

    def drop(self, table, key):
        """Remove ``key`` from ``table`` if it is there; True if it was."""
        if key not in table:
            return False
        if self._entries is not None:
            self._entries.append((table, key, table[key]))
        del table[key]
        return True

    def on_undo(self, func):
        """Call ``func()`` if the current ``atomic()`` block fails (nothing outside one)."""
        if self._entries is not None:
            self._entries.append(func)

    @contextlib.contextmanager
    def atomic(self):
        """Changes inside happen together or, if an exception escapes, not at all."""
        outer, self._entries = self._entries, []
        try:
            yield
        except BaseException:
            for entry in reversed(self._entries):
                if callable(entry):
                    try:
                        entry()
                    except Exception:
                        log.exception("frontier::undoing a store write failed")
                    continue
                table, key, old = entry
                if old is _MISSING:
                    table.pop(key, None)
                else:
                    table[key] = old
            raise
        finally:
            undone, self._entries = self._entries, outer
            if outer is not None:
                outer.extend(undone)
