"""Support for the worker tests (no tests here): a real tornado web site on 127.0.0.1.

``Site(directory)`` (created inside a running event loop) serves, on an ephemeral port:
static files from ``directory`` (with ETag / Last-Modified and real conditional
GET), redirects, error statuses, an endless slow page, big and chunked bodies,
non-HTML types, gzip, repeated headers, an echo of the request headers and raw
byte pages given by the test.  ``ThreadedSite`` runs it in a thread of its own
(for tests that talk to a ``spyder worker`` subprocess), and ``FakeMaster`` is the
master's side of the worker protocol in plain blocking pyzmq, waiting with deadlines.
"""
import asyncio
import gzip
import json
import os
import threading
import time

import zmq

from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler, StaticFileHandler

from spyder.core import constants as C
from spyder.core.wire.messages import DataMessage, MgmtMessage


class Echo(RequestHandler):
    def get(self):
        self.set_header("Content-Type", "text/plain")
        self.write(json.dumps({"headers": dict(self.request.headers.get_all()),
                               "path": self.request.path}))


class Html(RequestHandler):
    def get(self, name):
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.write("<html><body><h1>%s</h1><a href='/page/next'>next</a></body></html>" % name)


class Status(RequestHandler):
    def get(self, code):
        self.set_status(int(code))
        self.set_header("Content-Type", "text/html")
        self.write("<html><body>status %s <a href='/page/x'>x</a></body></html>" % code)


class Redirect(RequestHandler):
    def get(self, code, hops):
        hops = int(hops)
        target = "/page/target" if hops <= 1 else "/redirect/%s/%d" % (code, hops - 1)
        self.redirect(target, status=int(code))


class RawUtf8Redirect(RequestHandler):
    """A redirect whose Location holds raw UTF-8 bytes and a space (seen in the wild)."""

    def get(self):
        self.set_status(302)
        self.set_header("Location", "/page/caf\u00e9 au lait".encode("utf-8").decode("latin-1"))


class Loop(RequestHandler):
    def get(self):
        self.redirect("/loop", status=302)


class Slow(RequestHandler):
    async def get(self):
        self.set_header("Content-Type", "text/html")
        await self.application.settings["never"].wait()


class Big(RequestHandler):
    async def get(self, size, chunked):
        size = int(size)
        self.set_header("Content-Type", "text/html")
        if chunked == "chunked":
            sent = 0
            while sent < size:
                n = min(4096, size - sent)
                self.write(b"x" * n)
                await self.flush()
                sent += n
        else:
            self.set_header("Content-Length", str(size))
            self.write(b"y" * size)


class Typed(RequestHandler):
    def get(self):
        self.set_header("Content-Type", self.get_argument("type"))
        self.write(b"\x89PNG" + b"\0" * 100000)


class Gzipped(RequestHandler):
    def get(self):
        self.set_header("Content-Type", "text/html; charset=utf-8")
        body = b"<html><body>" + b"compressible " * 1000 + b"</body></html>"
        if "gzip" in self.request.headers.get("Accept-Encoding", ""):
            self.set_header("Content-Encoding", "gzip")
            body = gzip.compress(body)
        self.write(body)


class Multi(RequestHandler):
    def get(self):
        self.add_header("X-Multi", "a")
        self.add_header("X-Multi", "b")
        self.write("ok")


class TwiceTyped(RequestHandler):
    """Two Content-Type headers (a server default and the page's own); the last counts."""

    def get(self):
        self.set_header("Content-Type", "application/octet-stream")
        self.add_header("Content-Type", "text/html; charset=utf-8")
        self.write("<html><a href='/page/caf\u00e9'>caf\u00e9</a></html>")


class Raw(RequestHandler):
    """Serve bytes exactly as given in the ``pages`` setting (malformed HTML, charsets)."""

    def get(self, name):
        content_type, body = self.application.settings["pages"][name]
        if content_type:
            self.set_header("Content-Type", content_type)
        else:
            self.clear_header("Content-Type")
        self.write(body)


class Site:
    def __init__(self, directory, pages=None):
        self.never = asyncio.Event()
        self.app = Application([
            (r"/echo", Echo),
            (r"/page/(.*)", Html),
            (r"/status/(\d+)", Status),
            (r"/redirect/(\d+)/(\d+)", Redirect),
            (r"/loop", Loop),
            (r"/raw-utf8-redirect", RawUtf8Redirect),
            (r"/slow", Slow),
            (r"/big/(\d+)/(plain|chunked)", Big),
            (r"/typed", Typed),
            (r"/gzip", Gzipped),
            (r"/multi", Multi),
            (r"/twice-typed", TwiceTyped),
            (r"/raw/(.*)", Raw),
            (r"/static/(.*)", StaticFileHandler, {"path": str(directory)}),
        ], never=self.never, pages=pages or {})
        sockets = bind_sockets(0, "127.0.0.1")
        self.port = sockets[0].getsockname()[1]
        self.server = HTTPServer(self.app)
        self.server.add_sockets(sockets)

    def url(self, path, host="127.0.0.1"):
        return "http://%s:%d%s" % (host, self.port, path)

    async def close(self):
        self.never.set()
        self.server.stop()
        await self.server.close_all_connections()


class ThreadedSite:
    """A ``Site`` served by its own event loop in a daemon thread."""

    def __init__(self, directory, pages=None):
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run():
            asyncio.set_event_loop(self._loop)

            async def make():
                self.site = Site(directory, pages)

            self._loop.run_until_complete(make())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="test-site", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise AssertionError("the test web site did not start")
        self.port = self.site.port
        self.url = self.site.url

    def close(self):
        asyncio.run_coroutine_threadsafe(self.site.close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


class FakeMaster:
    """The master's four sockets, bound on ipc in ``socket_dir`` as the defaults say.

    A bound SUB socket only sends its subscription to a newly connected PUB once the
    application touches it (libzmq processes the attach on the next socket call), so
    every call here touches the results socket: no result is published unsubscribed.
    """

    identity = b"master:test:1"

    def __init__(self, socket_dir):
        self.ctx = zmq.Context()
        self.push = self._bind(zmq.PUSH, socket_dir, "spyder-zmq-master-push.sock")
        self.push.sndtimeo = 5000
        self.results = self._bind(zmq.SUB, socket_dir, "spyder-zmq-master-sub.sock")
        self.mgmt_in = self._bind(zmq.SUB, socket_dir, "spyder-zmq-mgmt-worker.sock")
        self.mgmt_out = self._bind(zmq.PUB, socket_dir, "spyder-zmq-mgmt-master.sock")
        self.heartbeats = []

    def _bind(self, kind, socket_dir, name):
        sock = self.ctx.socket(kind)
        sock.linger = 0
        if kind == zmq.SUB:
            sock.setsockopt(zmq.SUBSCRIBE, b"")
        sock.bind("ipc://" + os.path.join(socket_dir, name))
        return sock

    def _touch(self):
        self.results.poll(0)

    def send(self, curi):
        self._touch()
        self.push.send_multipart(DataMessage(self.identity, curi).serialize())

    def publish(self, data, topic=C.ZMQ_SPYDER_MGMT_WORKER):
        self.mgmt_out.send_multipart([topic, self.identity, data])

    def next_mgmt(self, timeout):
        """The next management message from a worker, or None after ``timeout`` s.

        Heartbeats and registrations are echoed as the master does (with a dead-after
        of an hour, so one echo licenses the worker for the whole test)."""
        self._touch()
        if self.mgmt_in.poll(max(timeout, 0) * 1000):
            msg = MgmtMessage.from_frames(self.mgmt_in.recv_multipart())
            if msg.data == C.ZMQ_SPYDER_MGMT_WORKER_HEARTBEAT:
                self.heartbeats.append(msg)
            if msg.details and "t" in msg.details:
                self.mgmt_out.send_multipart(MgmtMessage(
                    C.ZMQ_SPYDER_MGMT_WORKER, self.identity, C.ZMQ_SPYDER_MGMT_WORKER_ECHO,
                    {"worker": msg.identity, "t": msg.details["t"], "m": time.monotonic(),
                     "dead_after": 3600.0}).serialize())
            return msg
        return None

    def wait_mgmt(self, data, timeout=15.0, repeat=None, every=0.2):
        """Wait for ``data`` from a worker; publish ``repeat`` every ``every`` s meanwhile
        (PUB/SUB may drop what is sent before the worker's subscription arrives)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if repeat is not None:
                self.publish(repeat)
            end = min(deadline, time.monotonic() + every)
            while time.monotonic() < end:
                msg = self.next_mgmt(end - time.monotonic())
                if msg is not None and msg.data == data:
                    return msg
        raise AssertionError("no %r from the worker within %.1f s" % (data, timeout))

    def recv_result(self, timeout):
        """The next result (a DataMessage), or None after ``timeout`` s."""
        if self.results.poll(max(timeout, 0) * 1000):
            return DataMessage.from_frames(self.results.recv_multipart())
        return None

    def results_by_url(self, count, timeout=20.0):
        """Collect ``count`` results as ``{url: DataMessage}``."""
        got = {}
        deadline = time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            msg = self.recv_result(deadline - time.monotonic())
            if msg is not None:
                got[msg.curi.url] = msg
        if len(got) < count:
            raise AssertionError("got %d of %d results within %.1f s (e.g. %s)"
                                 % (len(got), count, timeout, sorted(got)[:3]))
        return got

    def close(self):
        self.ctx.destroy(linger=0)
