"""CurlClient (and FetchProcessor on it) against a raw local HTTP/1.1 server: a cancelled
fetch stops its transfer and frees its slot at once, requests beyond MAX_CLIENTS wait
(and say how long), connections are kept alive (and stay registered with the loop while
idle, until the server closes them), errors are exceptions, proxies work."""
import asyncio
import base64
import time

import pytest

from spyder.core.crawluri import CrawlUri
from spyder.core.settings import Settings

pycurl = pytest.importorskip("pycurl")

from spyder.processor.curlclient import CurlClient, TransferError, TransferTimeout  # noqa: E402
from spyder.processor.fetcher import FetchProcessor  # noqa: E402

pytestmark = pytest.mark.timeout(60)

LINES = [b"User-Agent: spyder-test"]


class RawServer:
    """HTTP/1.1 on 127.0.0.1 with keep-alive: ``/fast`` answers at once, ``/slow``
    trickles a byte every 10 ms of a 1 MB body for as long as the client listens,
    ``/bye`` answers as ``/fast`` and closes its connection once ``bye`` is set.
    Records every request (line and headers), counts connections, and notes when a
    ``/slow`` client went away and how many bytes it had been sent by then."""

    def __init__(self):
        self.requests = []          # (request line, {header: value})
        self.connections = 0
        self.slow_closed = asyncio.Event()
        self.bye = asyncio.Event()  # set: ``/bye`` connections close after their answer
        self.slow_sent = 0

    async def start(self):
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def url(self, path, host="127.0.0.1"):
        return "http://%s:%d%s" % (host, self.port, path)

    async def close(self):
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader, writer):
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                line, *fields = head.decode("latin1").split("\r\n")[:-2]
                self.requests.append((line, dict(f.split(": ", 1) for f in fields)))
                if " /slow " in line or "/slow HTTP" in line:
                    await self._trickle(reader, writer)
                    return
                body = b"fast"
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()
                if "/bye" in line:  # kept alive by its headers, closed when the test says
                    await self.bye.wait()
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _trickle(self, reader, writer):
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                     b"Content-Length: 1000000\r\n\r\n")
        eof = asyncio.ensure_future(reader.read(1))   # the client closing its end
        try:
            while not eof.done() and self.slow_sent < 1000000:
                writer.write(b"x")
                await writer.drain()
                self.slow_sent += 1
                await asyncio.wait([eof], timeout=0.01)
        except ConnectionError:
            pass
        finally:
            eof.cancel()
            self.slow_closed.set()


class Sink:
    def __init__(self):
        self.lines = []
        self.body = bytearray()

    def curl_header(self, line):
        self.lines.append(line)

    def curl_write(self, chunk):
        self.body += chunk


async def wait_for(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in %.1f s" % timeout
        await asyncio.sleep(0.005)


def run(coro_fn, **overrides):
    """Run ``coro_fn(server, client)`` with a fresh RawServer and CurlClient."""
    async def go():
        server = await RawServer().start()
        client = CurlClient(Settings(overrides=overrides))
        try:
            return await coro_fn(server, client)
        finally:
            client.close()
            await server.close()
    return asyncio.run(go())


def test_a_cancelled_fetch_stops_its_transfer_and_frees_its_slot():
    async def go(server, client):
        sink = Sink()
        task = asyncio.ensure_future(client.fetch(server.url("/slow"), LINES, sink))
        await wait_for(lambda: len(sink.body) >= 3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        active_after_cancel = client.active
        received = len(sink.body)
        await asyncio.wait_for(server.slow_closed.wait(), 5)
        sent_at_close = server.slow_sent
        fast = Sink()
        waited = await asyncio.wait_for(client.fetch(server.url("/fast"), LINES, fast), 5)
        return active_after_cancel, received, len(sink.body), sent_at_close, fast, waited

    active, received, received_later, sent, fast, waited = run(go, MAX_CLIENTS=1)
    assert active == 0                      # the handle was taken out at once
    assert received_later == received       # nothing more reached the caller
    assert sent < 1000000                   # the server saw the connection go
    assert bytes(fast.body) == b"fast"      # the one slot serves the next fetch
    assert fast.lines[0].startswith(b"HTTP/1.1 200")
    assert waited >= 0


def test_fetch_processor_cancelled_at_a_deadline_closes_the_connection():
    """What the worker does at a dispatch deadline: cancel the task awaiting the fetcher."""
    async def go():
        server = await RawServer().start()
        fetcher = FetchProcessor(Settings(overrides={"HTTP_CLIENT": "curl", "MAX_CLIENTS": 1}))
        try:
            task = asyncio.ensure_future(fetcher(CrawlUri(url=server.url("/slow"))))
            await wait_for(lambda: server.slow_sent >= 3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.wait_for(server.slow_closed.wait(), 5)
            curi = await asyncio.wait_for(fetcher(CrawlUri(url=server.url("/fast"))), 5)
            return curi, server.slow_sent
        finally:
            fetcher.close()
            await server.close()

    curi, sent = asyncio.run(go())
    assert sent < 1000000
    assert curi.status_code == 200 and curi.content_body == b"fast"


def test_requests_beyond_max_clients_wait_and_report_their_queue_time():
    async def go(server, client):
        slow = asyncio.ensure_future(client.fetch(server.url("/slow"), LINES, Sink()))
        queued = asyncio.ensure_future(client.fetch(server.url("/fast"), LINES, Sink()))
        cancelled = asyncio.ensure_future(client.fetch(server.url("/fast?never"), LINES, Sink()))
        await wait_for(lambda: server.slow_sent >= 20)     # 19 pauses of 10 ms at least
        waiting = client.waiting
        cancelled.cancel()
        slow.cancel()
        waited = await asyncio.wait_for(queued, 5)
        await asyncio.gather(slow, cancelled, return_exceptions=True)
        return waiting, waited, [line for line, _ in server.requests]

    waiting, waited, requests = run(go, MAX_CLIENTS=1)
    assert waiting == 2
    assert waited >= 0.15                  # it waited for the slow one's handle
    assert [r.split()[1] for r in requests] == ["/slow", "/fast"]   # the cancelled never ran


def test_connections_are_kept_alive():
    async def go(server, client):
        for _ in range(5):
            sink = Sink()
            await client.fetch(server.url("/fast"), LINES, sink)
            assert bytes(sink.body) == b"fast"
        return server.connections, len(server.requests)

    assert run(go, MAX_CLIENTS=2) == (1, 5)


def _count_handler_calls(client):
    """The client's ``add_handler`` / ``update_handler`` / ``remove_handler`` calls on
    its IOLoop, as ``(name, fd)``."""
    calls = []
    loop = client._io_loop
    for name in ("add_handler", "update_handler", "remove_handler"):
        def counted(fd, *args, _name=name, _call=getattr(loop, name)):
            calls.append((_name, fd))
            return _call(fd, *args)
        setattr(loop, name, counted)
    return calls


def test_a_kept_alive_connection_stays_registered_between_requests():
    """The connection's socket is registered with the loop once: between requests it is
    parked (registered for reading, libcurl not watching), not removed and added again."""
    async def go(server, client):
        calls = _count_handler_calls(client)
        for _ in range(6):
            sink = Sink()
            await client.fetch(server.url("/fast"), LINES, sink)
            assert bytes(sink.body) == b"fast"
            assert len(client._parked) == 1
        connection, = client._parked
        return server.connections, [name for name, fd in calls if fd == connection]

    connections, calls = run(go, MAX_CLIENTS=1)
    assert connections == 1
    # added while connecting (writable), then readable: nothing more for 5 more requests
    assert calls == ["add_handler", "update_handler"], calls


def test_a_parked_connection_the_server_closes_is_dropped_and_the_next_fetch_works():
    """An idle connection the server closes turns readable: it is unregistered at once
    (no wake-up after wake-up on a socket libcurl does not watch); the next request gets
    a new connection, and the closed one's socket is closed (no descriptor leaks)."""
    import os

    def open_fds():
        return len(os.listdir("/proc/self/fd"))

    async def go(server, client):
        await client.fetch(server.url("/bye"), LINES, Sink())
        assert len(client._parked) == 1
        server.bye.set()
        await wait_for(lambda: not client._parked)
        sink = Sink()
        await client.fetch(server.url("/bye"), LINES, sink)
        assert bytes(sink.body) == b"fast"
        return server.connections

    before = open_fds()
    assert run(go, MAX_CLIENTS=1) == 2
    assert open_fds() == before


def test_closing_the_client_closes_its_kept_alive_connections():
    """``close()`` closes the multi handle (its cached connections, through the close
    callback, which unregisters them) before the easy handles: no socket is left open."""
    import os

    def open_fds():
        return len(os.listdir("/proc/self/fd"))

    async def go(server, client):
        sinks = [Sink() for _ in range(3)]
        await asyncio.gather(*(client.fetch(server.url("/fast"), LINES, sink)
                               for sink in sinks))
        assert all(bytes(sink.body) == b"fast" for sink in sinks)
        assert len(client._parked) == 3
        return server.connections

    before = open_fds()
    assert run(go, MAX_CLIENTS=3) == 3
    assert open_fds() == before


def test_headers_credentials_and_connect_to_change_per_request():
    async def go(server, client):
        await client.fetch(server.url("/fast", "www.example.test"), LINES + [b"X-A: 1"], Sink(),
                           connect_to="www.example.test:%d:127.0.0.1:%d" % (server.port,
                                                                            server.port),
                           credentials=("u", "p:wé"))
        await client.fetch(server.url("/fast"), LINES, Sink())
        return server.port, [headers for _, headers in server.requests]

    port, (first, second) = run(go, MAX_CLIENTS=1)
    assert first["Host"] == "www.example.test:%d" % port
    assert first["X-A"] == "1" and first["User-Agent"] == "spyder-test"
    assert first["Authorization"] == "Basic " + base64.b64encode("u:p:wé".encode("utf-8")).decode()
    assert "X-A" not in second and "Authorization" not in second
    assert second["Host"].startswith("127.0.0.1:")


def test_failures_are_exceptions():
    async def go(server, client):
        errors = []
        for url in ("http://127.0.0.1:1/", server.url("/slow")):
            try:
                await client.fetch(url, LINES, Sink())
            except TransferError as exc:
                errors.append(exc)
        try:
            await client.fetch(server.url("/fast"), [b"X-Bad: a\r\nX-Injected: b"], Sink())
        except ValueError as exc:
            errors.append(exc)
        return errors

    refused, timeout, bad_header = run(go, REQUEST_TIMEOUT=0.3, MAX_CLIENTS=1)
    assert not isinstance(refused, TransferTimeout) and refused.errno == pycurl.E_COULDNT_CONNECT
    assert isinstance(timeout, TransferTimeout) and isinstance(timeout, TimeoutError)
    assert "line break" in str(bad_header)


def test_a_timeout_strikes_while_other_transfers_come_and_go():
    """libcurl's timer is kept when it fires no later than asked (the requests coming and
    going meanwhile ask for later ones, and take theirs back): the slow request's
    timeout still strikes at its time, and the others are not held up."""
    async def go(server, client):
        started = time.monotonic()
        slow = asyncio.ensure_future(client.fetch(server.url("/slow"), LINES, Sink()))
        fast = 0
        while not slow.done():
            sink = Sink()
            await client.fetch(server.url("/fast"), LINES, sink)
            assert bytes(sink.body) == b"fast"
            fast += 1
            assert time.monotonic() - started < 10, "the slow request never timed out"
        with pytest.raises(TransferTimeout):
            slow.result()
        return time.monotonic() - started, fast

    waited, fast = run(go, REQUEST_TIMEOUT=0.5, MAX_CLIENTS=2)
    assert 0.45 <= waited and fast > 10, (waited, fast)


def test_a_proxy_gets_the_absolute_url_and_its_credentials():
    """PROXY_HOST: libcurl sends the request to the proxy, which resolves the host."""
    async def go():
        proxy = await RawServer().start()
        fetcher = FetchProcessor(Settings(overrides={
            "PROXY_HOST": "127.0.0.1", "PROXY_PORT": proxy.port,
            "PROXY_USERNAME": "pu", "PROXY_PASSWORD": "pp"}))
        try:
            curi = await fetcher(CrawlUri(url="http://www.example.invalid/fast"))
            return curi, proxy.requests
        finally:
            fetcher.close()
            await proxy.close()

    curi, requests = asyncio.run(go())
    assert curi.status_code == 200 and curi.content_body == b"fast"
    (line, headers), = requests
    assert line == "GET http://www.example.invalid/fast HTTP/1.1"
    assert headers["Host"] == "www.example.invalid"
    assert headers["Proxy-Authorization"] == "Basic " + base64.b64encode(b"pu:pp").decode()


class ConnectProxy:
    """A CONNECT-only proxy on 127.0.0.1 that never reaches an origin: it answers every
    CONNECT with ``answer`` (e.g. ``200 Connection established`` -- then the tunnel is
    silent and closed -- or ``407 Proxy Authentication Required``), and a plain proxied
    GET with ``get_answer``.  Records every request line."""

    def __init__(self, answer, get_answer=b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                 b"Proxy-Authenticate: Basic realm=p\r\nContent-Length: 0\r\n\r\n"):
        self.answer = answer
        self.get_answer = get_answer
        self.lines = []

    async def start(self):
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def close(self):
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader, writer):
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            line = head.split(b"\r\n")[0].decode("latin1")
            self.lines.append(line)
            if line.startswith("CONNECT "):
                writer.write(b"HTTP/1.1 " + self.answer + b"\r\nContent-Length: 0\r\n\r\n")
            else:
                writer.write(self.get_answer)
            await writer.drain()
            await asyncio.wait_for(reader.read(1), 2)  # the client's TLS hello, then EOF
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()


def _through_proxy(answer, url):
    async def go():
        proxy = await ConnectProxy(answer).start()
        fetcher = FetchProcessor(Settings(overrides={
            "PROXY_HOST": "127.0.0.1", "PROXY_PORT": proxy.port, "REQUEST_TIMEOUT": 10}))
        try:
            return await fetcher(CrawlUri(url=url)), proxy.lines
        finally:
            fetcher.close()
            await proxy.close()
    return asyncio.run(go())


def test_a_proxys_connection_established_is_not_the_origins_answer():
    """Issue 18 item 10: through an https tunnel whose origin never answers, the proxy's
    ``200 Connection established`` must not become a (truncated) success."""
    curi, lines = _through_proxy(b"200 Connection established",
                                 "https://silent.example.invalid/page")
    assert lines == ["CONNECT silent.example.invalid:443 HTTP/1.1"]
    assert curi.status_code == 599, (curi.status_code, curi.optional_vars)
    assert "truncated" not in curi.optional_vars and curi.rep_header == {}


@pytest.mark.parametrize("url", ["https://origin.example.invalid/page",
                                 "http://origin.example.invalid/page"])
def test_a_proxy_refusing_the_tunnel_is_a_retryable_network_error_naming_it(url):
    """Issue 18 item 10: a proxy's 407 (to CONNECT, or to a proxied GET) is the proxy's
    failure, not the page's: 599 with an error naming the proxy, never a 4xx."""
    curi, lines = _through_proxy(b"407 Proxy Authentication Required", url)
    assert len(lines) == 1
    assert curi.status_code == 599, (curi.status_code, curi.optional_vars)
    error = curi.optional_vars["error"]
    assert "ProxyError" in error and "proxy 127.0.0.1:" in error and "407" in error, error


@pytest.mark.parametrize("client", ["curl", "simple"])
def test_endless_response_headers_are_cut_at_a_bounded_size(client):
    """Budgets: a server sending header lines without end costs the header decoder a
    bounded share of memory: past MAX_HEADER_LINES the fetch is a network error."""
    from spyder.processor.fetcher import MAX_HEADER_LINES

    async def serve(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\n")
        try:
            for i in range(MAX_HEADER_LINES * 3):
                writer.write(b"X-H%d: v\r\n" % i)
                if i % 100 == 0:
                    await writer.drain()
            writer.write(b"Content-Length: 2\r\n\r\nok")
            await writer.drain()
        except ConnectionError:
            pass
        writer.close()

    async def go():
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        fetcher = FetchProcessor(Settings(overrides={"HTTP_CLIENT": client}))
        try:
            return await fetcher(CrawlUri(url="http://127.0.0.1:%d/" % port))
        finally:
            fetcher.close()
            server.close()

    curi = asyncio.run(go())
    assert curi.status_code == 599, (curi.status_code, curi.optional_vars)
    assert len(curi.rep_header) == 0


def test_connections_drop_undelivered_bytes_when_closed():
    """A connection's close (the worker's, or the kernel's when the worker dies) aborts it:
    a request written while the link was down is never delivered later, after its URL
    went to another worker."""
    import socket
    import struct

    import pycurl

    from spyder.processor.curlclient import abort_on_close
    sock = socket.socket()
    try:
        assert abort_on_close(sock.fileno(), pycurl.SOCKTYPE_IPCXN) == pycurl.SOCKOPT_OK
        assert struct.unpack("ii", sock.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8)) \
            == (1, 0)
        assert sock.fileno() >= 0   # still open: only a duplicate was closed
    finally:
        sock.close()
