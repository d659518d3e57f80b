"""Socket plumbing shared by the processes: private ipc directory, bind/connect with
clear errors, and the master's lock file.

Only the master and the logsink bind; they call ``bind`` which turns libzmq's terse
errors ("Address already in use") into a ``StartupError`` naming the setting and
the address.  ``ensure_socket_directory`` creates ``PARENT_SOCKET_DIRECTORY`` with
mode 0700 (and refuses a directory that other users can enter), so ipc endpoints
are not world-reachable as they were in ``/tmp``.  ``MasterLock`` stops a second
master from silently taking over another master's ipc socket files.
"""
import errno
import fcntl
import os
import stat

import zmq


class StartupError(RuntimeError):
    """A process cannot start; the message is the one line shown to the operator."""


def ensure_socket_directory(settings):
    """Create PARENT_SOCKET_DIRECTORY (mode 0700) if any address is ipc; return it."""
    directory = settings.PARENT_SOCKET_DIRECTORY
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        info = os.stat(directory)
    except OSError as exc:
        raise StartupError("cannot create the socket directory %s (PARENT_SOCKET_DIRECTORY): %s"
                           % (directory, exc.strerror)) from exc
    if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(directory, 0o700)
    return directory


def _ipc_path(address):
    return address[len("ipc://"):] if address.startswith("ipc://") else None


def bind(socket, address, setting):
    """Bind ``socket`` to ``address``; failures become a StartupError naming ``setting``."""
    path = _ipc_path(address)
    if path:
        directory = os.path.dirname(path) or "."
        if not os.path.isdir(directory):
            os.makedirs(directory, mode=0o700, exist_ok=True)
    try:
        socket.bind(address)
    except zmq.ZMQError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise StartupError("cannot bind %s=%s: address already in use (is another "
                               "Spyder process running? choose a free address)"
                               % (setting, address)) from exc
        raise StartupError("cannot bind %s=%s: %s" % (setting, address, exc)) from exc


def connect(socket, address, setting):
    """Connect ``socket`` to ``address``; a malformed address becomes a StartupError."""
    try:
        socket.connect(address)
    except zmq.ZMQError as exc:
        raise StartupError("cannot connect %s=%s: %s" % (setting, address, exc)) from exc


class MasterLock:
    """An exclusive ``flock`` on ``<PARENT_SOCKET_DIRECTORY>/master.lock``.

    Held for the master's lifetime; the kernel drops it when the process dies, so a
    killed master never leaves a stale lock behind.
    """

    def __init__(self, directory):
        self.path = os.path.join(directory, "master.lock")
        self._fd = None

    def acquire(self):
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                other = os.read(fd, 32).decode("ascii", "replace").strip() or "?"
            finally:
                os.close(fd)
            raise StartupError("another master (pid %s) is running on %s"
                               % (other, os.path.dirname(self.path))) from None
        os.ftruncate(fd, 0)
        os.write(fd, b"%d\n" % os.getpid())
        self._fd = fd
        return self

    def release(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
