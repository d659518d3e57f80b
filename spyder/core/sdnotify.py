"""The systemd notification protocol (sd_notify), in a few lines of ``socket``.

When ``NOTIFY_SOCKET`` is set (by systemd for ``Type=notify`` units, or by
``spyder crawl`` for its children) a daemon reports ``READY=1`` once its sockets are
bound, ``STATUS=...`` lines, ``WATCHDOG=1`` pings at half of ``WATCHDOG_USEC`` and
``STOPPING=1`` when shutdown begins.  Without ``NOTIFY_SOCKET`` every call is a no-op.
"""
import os
import socket


class Notifier:
    """Send sd_notify datagrams to ``$NOTIFY_SOCKET`` (no-op when it is unset)."""

    def __init__(self, environ=None):
        environ = os.environ if environ is None else environ
        address = environ.get("NOTIFY_SOCKET")
        if address and address.startswith("@"):
            address = "\0" + address[1:]  # abstract namespace
        self._address = address or None
        self._sock = None
        usec = environ.get("WATCHDOG_USEC")
        pid = environ.get("WATCHDOG_PID")
        wanted = usec and usec.isdigit() and (not pid or pid == str(os.getpid()))
        #: seconds between WATCHDOG=1 pings, or None when no watchdog is configured
        self.watchdog_interval = int(usec) / 2e6 if wanted else None

    @property
    def enabled(self):
        return self._address is not None

    def notify(self, *lines):
        """Send ``KEY=VALUE`` lines in one datagram; errors are ignored (best effort)."""
        if not self._address:
            return
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto("\n".join(lines).encode("utf-8", "replace"), self._address)
        except OSError:
            pass

    def ready(self, status=None):
        self.notify("READY=1", *(["STATUS=" + status] if status else []))

    def status(self, text):
        self.notify("STATUS=" + text)

    def watchdog(self):
        self.notify("WATCHDOG=1")

    def stopping(self):
        self.notify("STOPPING=1")

    def close(self):
        if self._sock is not None:
            self._sock.close()
            self._sock = None
