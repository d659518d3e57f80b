"""Support for the worker tests (no tests here): a real tornado web site on 127.0.0.1.

``Site(directory)`` (created inside a running event loop) serves, on an ephemeral port:
static files from ``directory`` (with ETag / Last-Modified and real conditional
GET), redirects, error statuses, an endless slow page, big and chunked bodies,
non-HTML types, gzip, repeated headers, an echo of the request headers and raw
byte pages given by the test.  It also holds ``wait_for``, the deadline poller.
"""
import asyncio
import gzip
import json
import time

from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler, StaticFileHandler


def wait_for(predicate, timeout=10.0, interval=0.02, message="condition"):
    """Poll ``predicate`` until it returns a truthy value; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1f s waiting for %s" % (timeout, message))
        time.sleep(interval)


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
            (r"/slow", Slow),
            (r"/big/(\d+)/(plain|chunked)", Big),
            (r"/typed", Typed),
            (r"/gzip", Gzipped),
            (r"/multi", Multi),
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
