"""Exclusive, crash-safe file locks (``flock``) that guard a process's resources.

Three things must never be shared by two processes: the master's ipc endpoints
(``<PARENT_SOCKET_DIRECTORY>/master.lock``), a frontier state file
(``<FRONTIER_STATE_FILE>.lock``) and a demo's output directory (the same state-file
lock, taken before its previous run is wiped).  ``FileLock`` holds such a lock for
as long as it is open; the kernel drops it when the process dies, so a killed
process never leaves a stale lock behind.  The holder's pid is written into the
file so that the refusal can name it.
"""
import fcntl
import os

from spyder.errors import StartupError


class FileLock:
    """An exclusive ``flock`` on ``path``, taken by ``acquire`` and held until ``release``.

    ``busy`` is the operator's message when another process holds the lock; it may
    use ``{path}`` (the lock file) and ``{pid}`` (the holder, ``?`` if unknown).
    ``cannot`` is the message prefix when the lock file cannot be created.
    """

    def __init__(self, path, busy, cannot="cannot create {path}"):
        self.path = path
        self._busy = busy
        self._cannot = cannot
        self._fd = None

    def acquire(self):
        """Take the lock or raise ``StartupError``; returns ``self``."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StartupError("%s: %s" % (self._cannot.format(path=self.path), exc.strerror)
                               ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                holder = os.read(fd, 32).decode("ascii", "replace").strip() or "?"
            finally:
                os.close(fd)
            raise StartupError(self._busy.format(path=self.path, pid=holder)) from None
        os.ftruncate(fd, 0)
        os.write(fd, b"%d\n" % os.getpid())
        self._fd = fd
        return self

    def release(self):
        """Drop the lock (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc_info):
        self.release()


def state_file_lock(path):
    """The lock on ``<path>.lock`` that keeps two masters off one frontier state file."""
    return FileLock(path + ".lock",
                    busy="FRONTIER_STATE_FILE=%r is in use by another master (pid {pid} holds "
                         "{path}); stop it or use another state file" % path,
                    cannot="FRONTIER_STATE_FILE=%r cannot be used: cannot create {path}" % path)


def master_lock(directory):
    """The lock on ``<directory>/master.lock`` that one master holds for its lifetime."""
    return FileLock(os.path.join(directory, "master.lock"),
                    busy="another master (pid {pid}) is running on %s" % directory)
