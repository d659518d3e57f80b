"""Socket plumbing shared by the processes: the ZeroMQ context (with optional
CurveZMQ security), private ipc directory, bind/connect with clear errors.

Only the master and the logsink bind; they call ``bind`` which turns libzmq's terse
errors ("Address already in use") into a ``StartupError`` naming the setting and
the address.  ``ensure_socket_directory`` creates ``PARENT_SOCKET_DIRECTORY`` with
mode 0700 (and refuses a directory that other users can enter), so ipc endpoints
are not world-reachable as they were in ``/tmp``; ``filelock.master_lock`` stops a
second master from silently taking over another master's ipc socket files.

``create_context(settings)`` returns the process's one ZeroMQ context.  When
``ZEROMQ_CURVE_KEYS_DIR`` is set (a directory made by ``spyder keys``), every socket
bound or connected through ``bind`` / ``connect`` is encrypted and authenticated with
CurveZMQ: bound sockets are curve servers that accept only the client keys found in
``<dir>/authorized`` (checked by a ZAP authenticator), connecting sockets are curve
clients.  inproc endpoints stay as they are.

Every socket of the context gets ZeroMQ heartbeats (``ZEROMQ_HEARTBEAT_IVL`` /
``ZEROMQ_HEARTBEAT_TIMEOUT``, also sent to the peer as its time-to-live): a tcp
peer that stops answering (SIGSTOP, a cut link, a dead machine) is dropped within
seconds, its pipe closed, so PUSH deals it no more work and a worker's XPUB sees
the master's subscription go.  (ipc and inproc peers are local: a dead process
closes its socket.)

Receiving sockets (PULL, SUB: ``never_stall``) have no receive high-water mark, so a
connection never stops reading because its queue is full: libzmq 4.3.5 aborts the process
(``Assertion failed: !_io_error (src/stream_engine_base.cpp:310)``) when the peer drops a
connection whose input a full queue stopped, and the engine then sends a heartbeat -- on
its own heartbeat timer, or answering a PING still buffered when the application reads
the queue again.  That is what a worker woken by SIGCONT met: its one-message PULL queue
full, the master having dropped it for silence.  ``tests/test_zmq_abort.py`` shows it.
What waits in those queues is bounded anyway: dispatches by the workers' credit, results
by the dispatches, management messages by their rates.  (A stalled connection also could
not answer ZeroMQ heartbeats, so its healthy but busy peer was dropped.)
"""
import errno
import os
import shutil
import stat
import time

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator
from zmq.eventloop.zmqstream import ZMQStream
from zmq.utils.monitor import parse_monitor_message

from spyder.errors import StartupError

#: Seconds between two log lines about refusals of the same peer.
REFUSAL_LOG_INTERVAL = 60.0
_REFUSAL_EVENTS = (zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                   | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)

#: File names inside ZEROMQ_CURVE_KEYS_DIR (as written by ``create_keys``).
SERVER_KEY = "server.key"
SERVER_SECRET = "server.key_secret"
CLIENT_KEY = "client.key"
CLIENT_SECRET = "client.key_secret"
AUTHORIZED_DIR = "authorized"


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


class _Curve:
    """The key material of one process, loaded from ZEROMQ_CURVE_KEYS_DIR."""

    def __init__(self, directory):
        self.directory = directory
        self.server_public = self._load(SERVER_KEY)[0]
        self._server_secret = None
        self.client_public, self.client_secret = self._load(CLIENT_SECRET)
        self.authenticator = None

    def _load(self, name):
        path = os.path.join(self.directory, name)
        try:
            public, secret = zmq.auth.load_certificate(path)
        except (OSError, ValueError) as exc:
            raise StartupError("cannot read CurveZMQ certificate %s (ZEROMQ_CURVE_KEYS_DIR): %s; "
                               "create the keys with 'spyder keys %s'"
                               % (path, exc, self.directory)) from exc
        return public, secret

    def server_keys(self, ctx):
        """The server key pair; starts the ZAP authenticator on first use."""
        if self._server_secret is None:
            public, secret = self._load(SERVER_SECRET)
            if secret is None:
                raise StartupError("%s holds no secret key" % os.path.join(
                    self.directory, SERVER_SECRET))
            self._server_secret = secret
            authorized = os.path.join(self.directory, AUTHORIZED_DIR)
            if not os.path.isdir(authorized):
                raise StartupError("CurveZMQ needs the directory of authorized client keys %s; "
                                   "create the keys with 'spyder keys %s'"
                                   % (authorized, self.directory))
            self.authenticator = ThreadAuthenticator(ctx)
            self.authenticator.start()
            self.authenticator.configure_curve(domain="*", location=authorized)
        return self.server_public, self._server_secret


class SpyderContext(zmq.Context):
    """A zmq.Context that knows the process's CurveZMQ keys (``curve`` is None without)."""

    curve = None

    def _stop_authenticator(self):
        if self.curve is not None and self.curve.authenticator is not None:
            self.curve.authenticator.stop()
            self.curve.authenticator = None

    def term(self):
        self._stop_authenticator()
        super().term()

    def destroy(self, linger=None):
        self._stop_authenticator()
        super().destroy(linger)


def create_context(settings):
    """The process's ZeroMQ context; loads CurveZMQ keys if ZEROMQ_CURVE_KEYS_DIR is set."""
    ctx = SpyderContext()
    ctx.linger = 1000
    if settings.ZEROMQ_HEARTBEAT_IVL:
        ctx.setsockopt(zmq.HEARTBEAT_IVL, int(settings.ZEROMQ_HEARTBEAT_IVL * 1000))
        ctx.setsockopt(zmq.HEARTBEAT_TIMEOUT, int(settings.ZEROMQ_HEARTBEAT_TIMEOUT * 1000))
        ctx.setsockopt(zmq.HEARTBEAT_TTL, int(settings.ZEROMQ_HEARTBEAT_TIMEOUT * 1000))
    if settings.ZEROMQ_CURVE_KEYS_DIR:
        if not zmq.has("curve"):
            raise StartupError("ZEROMQ_CURVE_KEYS_DIR is set but this libzmq has no CURVE "
                               "support; install a pyzmq wheel built with libsodium")
        ctx.curve = _Curve(settings.ZEROMQ_CURVE_KEYS_DIR)
    return ctx


def never_stall(socket):
    """No receive high-water mark on ``socket``: its connections never stop reading (see
    the module docstring: libzmq 4.3.5 aborts when a peer drops a connection whose full
    receive queue stopped its input).  Returns the socket."""
    socket.rcvhwm = 0
    return socket


def create_keys(directory):
    """Write a server and a client key pair and authorize the client; return the files."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    authorized = os.path.join(directory, AUTHORIZED_DIR)
    os.makedirs(authorized, mode=0o700, exist_ok=True)
    written = []
    for name in ("server", "client"):
        for path in zmq.auth.create_certificates(directory, name):
            os.chmod(path, 0o600 if path.endswith("_secret") else 0o644)
            written.append(path)
    shutil.copyfile(os.path.join(directory, CLIENT_KEY), os.path.join(authorized, CLIENT_KEY))
    written.append(os.path.join(authorized, CLIENT_KEY))
    return written


def _secure(socket, address, server):
    curve = getattr(socket.context, "curve", None)
    if curve is None or address.startswith("inproc://"):
        return
    if server:
        socket.curve_publickey, socket.curve_secretkey = curve.server_keys(socket.context)
        socket.curve_server = True
    else:
        socket.curve_serverkey = curve.server_public
        socket.curve_publickey = curve.client_public
        socket.curve_secretkey = curve.client_secret


def _ipc_path(address):
    return address[len("ipc://"):] if address.startswith("ipc://") else None


def bind(socket, address, setting):
    """Bind ``socket`` to ``address``; failures become a StartupError naming ``setting``."""
    path = _ipc_path(address)
    if path:
        directory = os.path.dirname(path) or "."
        if not os.path.isdir(directory):
            os.makedirs(directory, mode=0o700, exist_ok=True)
    _secure(socket, address, server=True)
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
    _secure(socket, address, server=False)
    try:
        socket.connect(address)
    except zmq.ZMQError as exc:
        raise StartupError("cannot connect %s=%s: %s" % (setting, address, exc)) from exc


class RefusalWatch:
    """Logs the peers that CurveZMQ server sockets refuse: once per peer host, then at
    most every ``REFUSAL_LOG_INTERVAL`` s with the count.  A socket monitor reports each
    failed handshake with the peer's address (reconnects come from new ports, so the
    host is the peer).  ``sockets``: ``(socket, address, setting)`` as bound; those that
    are not CurveZMQ servers are left alone."""

    def __init__(self, sockets, logger, io_loop=None, clock=time.monotonic):
        self._log = logger
        self._clock = clock
        self._peers = {}   # host -> [refusals since the last line, time of that line]
        self._streams = []
        for sock, address, setting in sockets:
            if getattr(sock.context, "curve", None) is None or address.startswith("inproc://"):
                continue
            stream = ZMQStream(sock.get_monitor_socket(_REFUSAL_EVENTS), io_loop)
            stream.on_recv(lambda frames, setting=setting: self._event(frames, setting))
            self._streams.append(stream)

    def _event(self, frames, setting):
        endpoint = parse_monitor_message(frames)["endpoint"].decode("utf-8", "replace")
        host = endpoint.rpartition(":")[0] or endpoint
        now = self._clock()
        seen = self._peers.get(host)
        if seen is None:
            self._peers[host] = [0, now]
            self._log.warning("refused %s on %s: CurveZMQ authentication failed (is its "
                              "client key in the authorized directory?)", endpoint, setting)
            return
        seen[0] += 1
        if now - seen[1] >= REFUSAL_LOG_INTERVAL:
            self._log.warning("refused %s again: %d more failed handshake(s) from it in %.0f s",
                              host, seen[0], now - seen[1])
            seen[:] = [0, now]

    def close(self):
        for stream in self._streams:
            if not stream.closed():
                stream.close()
