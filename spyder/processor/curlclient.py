"""CurlClient: the fetch stage's lean asynchronous HTTP GET on libcurl (pycurl's CurlMulti).

``FetchProcessor`` (``spyder.processor.fetcher``) uses it for ``HTTP_CLIENT`` "curl" /
"auto" and for proxies.  It is not a general HTTP client: it carries out GET requests
whose headers and body go straight to the caller's own libcurl callbacks, and reports
only completion (the time the request waited for a handle) or failure (an exception).
No tornado ``HTTPRequest`` / ``HTTPResponse`` objects are built.

How it works:

* the multi handle is driven by the tornado IOLoop: libcurl's ``SOCKETFUNCTION`` adds,
  changes and removes IOLoop handlers for its sockets, its ``TIMERFUNCTION`` keeps one
  timer; every event calls ``socket_action`` and, when fewer transfers are running than
  were started, ``info_read`` to finish the completed ones.  After a timeout that left
  libcurl without a timer, ``multi.timeout()`` is asked once more (a timer fired before
  libcurl's clock says so would otherwise be lost); there is no periodic forced
  timeout: libcurl 7.69+ reports every timer change;
* a kept-alive connection that goes back to libcurl's cache stays registered for
  reading ("parked"), so its next request needs no new registration (an ``epoll_ctl``
  and the loop's bookkeeping each way).  libcurl says when it makes a connection's
  socket (``SOCKOPTFUNCTION``) and when it closes one (``CLOSESOCKETFUNCTION``: the
  handler is removed, then the socket closed here), so a registered connection is
  always the socket it was registered for; a parked connection that turns readable
  (the server closed it) is unregistered at once, without waking libcurl.  The timer
  is kept when it fires no later than libcurl asks (an early ``socket_action`` finds
  nothing due), so the timeout every request sets and takes back is not cancelled and
  set again each time.  Together: 62-66 -> 45-46 CPU µs per bare fetch, 103-105 -> 80-84
  for the fetch stage (``benchmarks/bench_httpclient.py``, alternated);
* ``MAX_CLIENTS`` ``Curl`` handles are made once, with every option that never changes
  (HTTP/1.1, http/https only, no redirects, timeouts, TLS checks against the system's
  bundle, content decoding, the proxy); per request only the URL, the header list,
  ``CONNECT_TO`` and the site credentials are set, and the last three only when they
  differ from the handle's previous request.  Connections stay in the multi handle's
  cache, so they are kept alive across requests;
* at most ``MAX_CLIENTS`` transfers run at once; the rest wait, in order, for a handle;
* ``await client.fetch(...)`` cancelled (the worker's deadline) takes the transfer out
  of the multi handle at once: libcurl closes its connection and the handle serves the
  next request.

The caller's ``sink`` has ``curl_header(line: bytes)`` and ``curl_write(chunk: bytes)``,
libcurl's header and write callbacks (return ``None`` to go on, ``0`` to stop the
transfer); they run synchronously inside ``socket_action``.  A transfer that fails
raises ``TransferError`` (``TransferTimeout`` for libcurl's timeouts) with libcurl's
error number and text; a sink that stopped the transfer sees ``TransferError`` with
``CURLE_WRITE_ERROR``.

Through a proxy, an https URL is tunnelled with ``CONNECT``.  The proxy's own answer
to it (``200 Connection established``, or a ``407``) never reaches the sink
(``CURLOPT_SUPPRESS_CONNECT_HEADERS``), so it cannot pass for the origin's status: a
tunnel the proxy refuses, or an origin that never answers through it, fails the
transfer with ``ProxyError`` (a ``TransferError``, so the fetch stage reports a
retryable network error, 599) naming the proxy and its CONNECT status.
"""
import asyncio
import collections
import os
import socket
import struct
import time
import warnings

import pycurl
from tornado.ioloop import IOLoop

#: libcurl's socket events -> the IOLoop's
#: SO_LINGER on, 0 s: closing a connection aborts it (RST) and drops unsent bytes.
_ABORT_ON_CLOSE = struct.pack("ii", 1, 0)


def abort_on_close(curlfd, purpose):
    """libcurl's SOCKOPTFUNCTION: a connection this worker closes, or that the kernel
    closes because the worker died, drops what it had not delivered instead of sending
    it later.  Without it a request written while the worker's link was down reached
    its web server after the link came back -- from a process killed meanwhile, whose
    URL had gone to another worker: two requests to one host at once."""
    if purpose == pycurl.SOCKTYPE_IPCXN:
        dup = socket.socket(fileno=os.dup(curlfd))
        try:
            dup.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _ABORT_ON_CLOSE)
        finally:
            dup.close()   # the connection lives on in libcurl's descriptor
    return pycurl.SOCKOPT_OK


_EVENTS = {pycurl.POLL_IN: IOLoop.READ, pycurl.POLL_OUT: IOLoop.WRITE,
           pycurl.POLL_INOUT: IOLoop.READ | IOLoop.WRITE}


class TransferError(Exception):
    """A transfer failed in libcurl: ``errno`` is libcurl's CURLE_* code."""

    def __init__(self, errno, message):
        super().__init__(message)
        self.errno = errno


class TransferTimeout(TransferError, TimeoutError):
    """libcurl's connect or request timeout struck (CURLE_OPERATION_TIMEDOUT)."""


class ProxyError(TransferError):
    """The proxy refused to open a tunnel (its CONNECT answer was not 2xx)."""


#: CURLOPT_SUPPRESS_CONNECT_HEADERS (libcurl 7.54; pycurl 7.49 has no name for it)
_SUPPRESS_CONNECT_HEADERS = getattr(pycurl, "SUPPRESS_CONNECT_HEADERS", 265)
#: CURLE_PROXY (libcurl 7.73): a proxy handshake error
_E_PROXY = 97


class _Handle:
    """One reusable easy handle and the request it carries now."""

    __slots__ = ("curl", "sink", "future", "waited", "headers", "connect_to", "credentials")

    def __init__(self, curl):
        self.curl = curl
        self.sink = self.future = None
        self.waited = 0.0           # seconds the request waited for this handle
        # what the handle was last set to (only changes are set again)
        self.headers = self.connect_to = self.credentials = None

    def header(self, line):
        return self.sink.curl_header(line)

    def write(self, chunk):
        return self.sink.curl_write(chunk)


class CurlClient:
    """GET requests on a libcurl multi handle; see the module docstring.

    ``ca_certs``: the CA bundle file (``None``: libcurl's own default); ``proxy``:
    ``(host, port, username, password)`` or ``None``.
    """

    def __init__(self, settings, ca_certs=None, proxy=None, io_loop=None):
        self._io_loop = io_loop or IOLoop.current()
        self._multi = pycurl.CurlMulti()
        self._multi.setopt(pycurl.M_SOCKETFUNCTION, self._on_socket)
        self._multi.setopt(pycurl.M_TIMERFUNCTION, self._on_timer)
        self._handles = {}                    # Curl -> _Handle
        self._proxy_name = None if proxy is None else "%s:%s" % (proxy[0], proxy[1])
        for _ in range(max(1, settings.MAX_CLIENTS)):
            handle = _Handle(pycurl.Curl())
            self._configure(handle, settings, ca_certs, proxy)
            handle.curl.setopt(pycurl.SOCKOPTFUNCTION, self._on_new_socket)
            handle.curl.setopt(pycurl.CLOSESOCKETFUNCTION, self._on_close_socket)
            self._handles[handle.curl] = handle
        self._free = list(self._handles.values())
        self._waiting = collections.deque()   # (future, url, headers, sink, connect_to, credentials, queued)
        self._fds = {}                        # fd -> IOLoop events registered
        self._timer_due = 0.0                 # when ``_timer`` fires (the IOLoop's clock)
        self._connections = {}                # fd -> inode of libcurl's open connections
        self._parked = set()                  # registered, but libcurl does not watch them
        self._timer = None

    @staticmethod
    def _configure(handle, settings, ca_certs, proxy):
        """The options every request of ``handle`` shares."""
        curl = handle.curl
        curl.setopt(pycurl.NOSIGNAL, 1)
        curl.setopt(pycurl.PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS)
        curl.setopt(pycurl.HTTP_VERSION, pycurl.CURL_HTTP_VERSION_1_1)
        curl.setopt(pycurl.FOLLOWLOCATION, 0)
        curl.setopt(pycurl.HTTPGET, 1)
        curl.setopt(pycurl.CONNECTTIMEOUT_MS, int(1000 * settings.CONNECT_TIMEOUT))
        curl.setopt(pycurl.TIMEOUT_MS, int(1000 * settings.REQUEST_TIMEOUT))
        verify = 1 if settings.VALIDATE_CERTIFICATES else 0
        curl.setopt(pycurl.SSL_VERIFYPEER, verify)
        curl.setopt(pycurl.SSL_VERIFYHOST, 2 * verify)
        if ca_certs is not None:
            curl.setopt(pycurl.CAINFO, ca_certs)
        # libcurl decodes these codings; the request's own Accept-Encoding says what is asked
        curl.setopt(pycurl.ENCODING, "gzip,deflate" if settings.USE_GZIP else None)
        curl.setopt(pycurl.HTTPAUTH, pycurl.HTTPAUTH_BASIC)
        if proxy is not None:
            host, port, username, password = proxy
            curl.setopt(pycurl.PROXY, host)
            curl.setopt(pycurl.PROXYPORT, port)
            curl.setopt(pycurl.PROXYAUTH, pycurl.HTTPAUTH_BASIC)
            # the proxy's answer to CONNECT is not the origin's: keep it from the sink
            curl.setopt(_SUPPRESS_CONNECT_HEADERS, 1)
            if username:
                curl.setopt(pycurl.PROXYUSERNAME, username.encode("utf-8"))
                curl.setopt(pycurl.PROXYPASSWORD, (password or "").encode("utf-8"))
        curl.setopt(pycurl.HEADERFUNCTION, handle.header)
        curl.setopt(pycurl.WRITEFUNCTION, handle.write)

    @property
    def active(self):
        """Transfers running now."""
        return len(self._handles) - len(self._free)

    @property
    def waiting(self):
        """Requests waiting for a handle (cancelled ones may still be counted)."""
        return len(self._waiting)

    async def fetch(self, url, headers, sink, connect_to=None, credentials=None):
        """GET ``url``; returns the seconds the request waited for a handle.

        ``headers``: a list of ``b"Name: value"`` lines; ``connect_to``: a libcurl
        ``CONNECT_TO`` entry (``"host:port:ip:port"``) or ``None``; ``credentials``:
        ``(username, password)`` for HTTP basic auth (sent as UTF-8), or ``None``.  Raises
        ``TransferError`` when the transfer fails.
        """
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((future, url, headers, sink, connect_to, credentials,
                              time.monotonic()))
        self._start_waiting()
        try:
            return await future
        except asyncio.CancelledError:
            self._abandon(future)
            raise

    def close(self):
        """Stop every transfer and free libcurl's handles and sockets."""
        for handle in self._handles.values():
            if handle.future is not None:
                self._multi.remove_handle(handle.curl)
                if not handle.future.done():
                    handle.future.cancel()
        for waiting in self._waiting:
            if not waiting[0].done():
                waiting[0].cancel()
        self._waiting.clear()
        # the multi handle before the easy handles (its cached connections may call their
        # CLOSESOCKETFUNCTION); pycurl cannot run that callback during the multi handle's
        # cleanup (no thread state: it warns, and the socket stays open), so the
        # connections still open are closed below
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "closesocket_callback failed", RuntimeWarning)
            self._multi.close()
        for handle in self._handles.values():
            handle.curl.close()
        if self._timer is not None:     # (closing may have set one)
            self._io_loop.remove_timeout(self._timer)
            self._timer = None
        for fd in self._fds:
            self._io_loop.remove_handler(fd)
        self._fds.clear()
        self._parked.clear()
        for fd, inode in self._connections.items():
            try:
                if os.fstat(fd).st_ino == inode:  # not closed by libcurl itself
                    os.close(fd)
            except OSError:
                pass
        self._connections.clear()
        self._handles.clear()
        self._free = []

    # ------------------------------------------------------------------ requests

    def _start_waiting(self):
        while self._free and self._waiting:
            future, url, headers, sink, connect_to, credentials, queued = \
                self._waiting.popleft()
            if future.done():       # cancelled while it waited
                continue
            handle = self._free.pop()
            try:
                self._prepare(handle, url, headers, connect_to, credentials)
            except Exception as exc:
                self._free.append(handle)
                future.set_exception(exc)
                continue
            handle.sink, handle.future = sink, future
            handle.waited = time.monotonic() - queued
            self._multi.add_handle(handle.curl)

    @staticmethod
    def _prepare(handle, url, headers, connect_to, credentials):
        curl = handle.curl
        curl.setopt(pycurl.URL, url)
        if headers != handle.headers:
            for line in headers:
                if b"\r" in line or b"\n" in line:
                    raise ValueError("a request header holds a line break: %r" % line)
            curl.setopt(pycurl.HTTPHEADER, headers)
            handle.headers = headers
        if connect_to != handle.connect_to:
            if connect_to is None:
                curl.unsetopt(pycurl.CONNECT_TO)
            else:
                curl.setopt(pycurl.CONNECT_TO, [connect_to])
            handle.connect_to = connect_to
        if credentials != handle.credentials:
            if credentials is None:
                curl.unsetopt(pycurl.USERNAME)
                curl.unsetopt(pycurl.PASSWORD)
            else:
                curl.setopt(pycurl.USERNAME, credentials[0].encode("utf-8"))
                curl.setopt(pycurl.PASSWORD, credentials[1].encode("utf-8"))
            handle.credentials = credentials

    def _release(self, handle):
        handle.sink = handle.future = None
        self._free.append(handle)

    def _abandon(self, future):
        """``future``'s fetch was cancelled: stop its transfer now, free its handle."""
        for handle in self._handles.values():
            if handle.future is future:
                self._multi.remove_handle(handle.curl)   # libcurl closes the connection
                self._release(handle)
                self._start_waiting()
                return

    def _finish(self, curl, errno=0, message=""):
        handle = self._handles[curl]
        future, waited = handle.future, handle.waited
        self._multi.remove_handle(curl)
        self._release(handle)
        if future.done():           # cancelled; its coroutine has not run yet
            return
        connect_code = curl.getinfo(pycurl.HTTP_CONNECTCODE) if self._proxy_name else 0
        if errno and self._proxy_name and (errno == _E_PROXY
                                           or connect_code and connect_code // 100 != 2):
            future.set_exception(ProxyError(errno, "proxy %s refused the tunnel (CONNECT "
                                            "answered %s): %s" % (self._proxy_name,
                                                                  connect_code or "nothing",
                                                                  message)))
        elif not errno:
            future.set_result(waited)
        elif errno == pycurl.E_OPERATION_TIMEDOUT:
            future.set_exception(TransferTimeout(errno, message))
        else:
            future.set_exception(TransferError(errno, message))

    # ------------------------------------------------------------------ libcurl's events

    def _on_socket(self, what, fd, multi, data):
        """libcurl's SOCKETFUNCTION: watch ``fd`` for ``what`` (or no more)."""
        registered = self._fds.get(fd)
        if what == pycurl.POLL_REMOVE:
            if registered == IOLoop.READ and fd in self._connections:
                self._parked.add(fd)    # back in libcurl's cache, most likely reused soon
            elif registered is not None:
                self._unregister(fd)
            return
        self._parked.discard(fd)
        events = _EVENTS.get(what, 0)
        if events == registered:
            return
        if registered is None:
            self._io_loop.add_handler(fd, self._on_events, events)
        elif fd in self._connections:   # the same socket (closing one unregisters it)
            self._io_loop.update_handler(fd, events)
        else:
            # remove and add rather than update: a socket libcurl closes without telling
            # (not a connection's) may have left its number to a new one, which epoll
            # has never seen
            self._io_loop.remove_handler(fd)
            self._io_loop.add_handler(fd, self._on_events, events)
        self._fds[fd] = events

    def _unregister(self, fd):
        self._io_loop.remove_handler(fd)
        del self._fds[fd]
        self._parked.discard(fd)

    def _on_new_socket(self, curlfd, purpose):
        """libcurl's SOCKOPTFUNCTION: a connection's socket is made (``abort_on_close``)."""
        if purpose == pycurl.SOCKTYPE_IPCXN:
            self._connections[curlfd] = os.fstat(curlfd).st_ino
        return abort_on_close(curlfd, purpose)

    def _on_close_socket(self, curlfd):
        """libcurl's CLOSESOCKETFUNCTION: close a connection's socket, its handler first
        (the next socket may get its number)."""
        if curlfd in self._fds:
            self._unregister(curlfd)
        self._connections.pop(curlfd, None)
        os.close(curlfd)
        return 0

    def _on_timer(self, msecs):
        """libcurl's TIMERFUNCTION: call ``socket_action`` in ``msecs`` ms (-1: never).

        A timer that fires no later than asked is kept (see the module docstring): a
        ``socket_action`` before libcurl's time finds nothing due, and ``_on_timeout``
        then asks for the time left."""
        if msecs < 0:
            return
        due = self._io_loop.time() + msecs / 1000.0
        if self._timer is not None:
            if self._timer_due <= due:
                return
            self._io_loop.remove_timeout(self._timer)
        self._timer = self._io_loop.call_at(due, self._on_timeout)
        self._timer_due = due

    def _on_events(self, fd, events):
        if fd in self._parked:
            # an idle kept-alive connection turned readable: the server closed it (or
            # sent what it should not); libcurl finds out when it takes it again
            self._unregister(fd)
            return
        action = 0
        if events & IOLoop.READ:
            action |= pycurl.CSELECT_IN
        if events & IOLoop.WRITE:
            action |= pycurl.CSELECT_OUT
        if events & IOLoop.ERROR:
            action |= pycurl.CSELECT_ERR
        self._act(fd, action)

    def _on_timeout(self):
        self._timer = None
        self._act(pycurl.SOCKET_TIMEOUT, 0)
        if self._timer is None:
            # libcurl set no new timer; if ours fired before libcurl's clock said so (a
            # little early, or a kept earlier timer), its timeout is still pending
            self._on_timer(self._multi.timeout())

    def _act(self, fd, action):
        while True:
            try:
                code, running = self._multi.socket_action(fd, action)
            except pycurl.error as exc:
                code, running = exc.args[0], 0
            if code != pycurl.E_CALL_MULTI_PERFORM:
                break
        if running < self.active:
            self._collect()

    def _collect(self):
        """Finish the transfers libcurl reports done, then start waiting requests."""
        while True:
            queued, done, failed = self._multi.info_read()
            for curl in done:
                self._finish(curl)
            for curl, errno, message in failed:
                self._finish(curl, errno, message)
            if not queued:
                break
        self._start_waiting()
