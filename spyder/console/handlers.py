"""The console's HTTP handlers: one tornado ``RequestHandler`` per page and order.

``routes(console)`` lists them for ``Console.start``.  Every handler checks access
first (``_Handler.prepare``: the ``Host`` header on loopback, the origin of an order, the
token) and answers errors as JSON (the HTML pages as HTML); the pages are rendered by
``dashboard``, the figures come from the ``Console`` they are given, and every order goes
through ``Console.control``.  The security rules are in ``spyder.console``'s docstring.
"""
import json
import logging
import re

from tornado import web

from spyder.console import dashboard
from spyder.console.metrics import CONTENT_TYPE_LATEST

log = logging.getLogger("spyder.console")

#: Largest request body accepted, in bytes.
MAX_BODY = 1024 * 1024
#: Most hosts in one /api/hosts answer.
MAX_HOSTS = 1000
#: What every answer allows a browser to do with it: only the console's own script and
#: style, requests only to the console, no frames, no form submissions.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
#: The frontier methods the host pages and the control requests need.
FRONTIER_CONTROLS = ("add_seeds", "pause", "resume", "block_host", "unblock_host",
                     "set_host_delay", "host", "hosts")
#: The pages' static files (in ``spyder/console/static``): name -> content type.
_STATIC_TYPES = {"console.js": "text/javascript; charset=utf-8",
                 "console.css": "text/css; charset=utf-8"}
_STATIC = {name: dashboard.static_file(name) for name in _STATIC_TYPES}


def _log_request(handler):
    """Requests go to the log at debug level (the dashboard polls), failures as warnings."""
    status = handler.get_status()
    log.log(logging.WARNING if status >= 500 else logging.DEBUG, "console::%d %s %s",
            status, handler.request.method, handler.request.uri)


class _Handler(web.RequestHandler):
    """What every console page shares: access checks and JSON errors."""

    control = False   # a control request (needs the JSON body and, if set, the token)

    def initialize(self, console):
        self.console = console

    needs_frontier_controls = False

    def set_default_headers(self):
        self.set_header("Content-Security-Policy", CSP)
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("X-Frame-Options", "DENY")
        self.set_header("Cross-Origin-Resource-Policy", "same-origin")

    def prepare(self):
        if not self.console.allowed_host_header(self.request.host):
            raise web.HTTPError(403, "the Host header %r is not a loopback host"
                                % self.request.host)
        if self.control:
            refused = self.console.same_origin(self.request)
            if refused is not None:
                raise web.HTTPError(403, "a control request from another origin is refused (%s); "
                                         "give orders from the console's own pages, spyder ctl "
                                         "or a client that sends no Origin" % refused)
        if not self.console.token_ok(self.request, self.control):
            if not self.control:
                self.set_header("WWW-Authenticate", 'Basic realm="spyder"')
            raise web.HTTPError(401, "missing or wrong token: send 'Authorization: Bearer "
                                     "<MASTER_HTTP_TOKEN>' or 'X-Spyder-Token: <token>'")
        if self.needs_frontier_controls and not self.console.steerable:
            raise web.HTTPError(501, "this FRONTIER_CLASS keeps no host statistics and takes no "
                                     "orders (it lacks %s)" % ", ".join(FRONTIER_CONTROLS))

    def _unimplemented_method(self, *args, **kwargs):
        allowed = [m for m in ("GET", "POST")
                   if getattr(type(self), m.lower()) is not _Handler._unimplemented_method]
        self.set_header("Allow", ", ".join(allowed))
        raise web.HTTPError(405, "%s is not allowed on %s; use %s"
                            % (self.request.method, self.request.path, " or ".join(allowed)))

    get = post = head = delete = put = patch = options = _unimplemented_method

    def write_error(self, status_code, **kwargs):
        exc = kwargs.get("exc_info", (None, None))[1]
        message = exc.log_message if isinstance(exc, web.HTTPError) and exc.log_message else \
            self._reason
        self.write_json({"error": message, "status": status_code})

    def log_exception(self, typ, value, tb):
        if not isinstance(value, web.HTTPError):
            super().log_exception(typ, value, tb)

    def write_json(self, document):
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(document, allow_nan=False, default=str))


class _NotFound(_Handler):
    def prepare(self):
        super().prepare()
        raise web.HTTPError(404, "no such page: %s (see /, /hosts/<host>, /api/status, "
                                 "/api/workers, /api/hosts, /metrics)" % self.request.path)


class _Page(_Handler):
    """An HTML page: its errors are HTML too."""

    def write_html(self, text):
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(text)

    def write_error(self, status_code, **kwargs):
        exc = kwargs.get("exc_info", (None, None))[1]
        message = exc.log_message if isinstance(exc, web.HTTPError) and exc.log_message else \
            self._reason
        self.write_html(dashboard.render_error(status_code, message))


class _Dashboard(_Page):
    def get(self):
        console = self.console
        self.write_html(dashboard.render(console.status(), console.workers()["workers"],
                                         console.hosts("queued", dashboard.HOSTS)["hosts"],
                                         console.token_required))


class _HostPage(_Page):
    needs_frontier_controls = True

    def get(self, host):
        try:
            view = self.console.host_view(host)
        except KeyError as exc:
            raise web.HTTPError(404, exc.args[0]) from None
        if view["queue"] is None:
            view["queue"] = {"in_flight": [], "queued": []}
        self.write_html(dashboard.render_host(view, self.console.token_required))


class _Static(_Handler):
    """The pages' script and style sheet (``static/console.js`` / ``console.css``)."""

    def get(self, name):
        self.set_header("Content-Type", _STATIC_TYPES[name])
        self.set_header("Cache-Control", "no-cache")
        self.finish(_STATIC[name])


class _Status(_Handler):
    def get(self):
        self.write_json(self.console.status())


class _Workers(_Handler):
    def get(self):
        self.write_json(self.console.workers())


class _Hosts(_Handler):
    def get(self):
        sort = self.get_query_argument("sort", "queued")
        limit = self.get_query_argument("limit", "20")
        if not limit.isdigit() or not 1 <= int(limit) <= MAX_HOSTS:
            raise web.HTTPError(400, "limit must be a number from 1 to %d, got %r"
                                % (MAX_HOSTS, limit))
        try:
            self.write_json(self.console.hosts(sort, int(limit)))
        except ValueError:
            raise web.HTTPError(400, "cannot sort hosts by %r; use queued, in_flight, fetched, "
                                     "errors or host" % sort) from None


class _Host(_Handler):
    def get(self, host):
        try:
            self.write_json(self.console.host_view(host))
        except KeyError as exc:
            raise web.HTTPError(404, exc.args[0]) from None


class _MetricsPage(_Handler):
    def get(self):
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(self.console.metrics.exposition())


@web.stream_request_body
class _Control(_Handler):
    """``POST`` with a JSON object body; the action is given by the route."""

    control = True

    @property
    def needs_frontier_controls(self):
        return self.action != "stop"   # stopping needs only the master

    def initialize(self, console, action):
        super().initialize(console)
        self.action = action
        self._chunks = []
        self._size = 0

    def prepare(self):
        super().prepare()
        if self.request.method != "POST":
            return
        length = self.request.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY:
            raise web.HTTPError(413, "the body is %s bytes; at most %d are accepted"
                                % (length, MAX_BODY))
        media = self.request.headers.get("Content-Type", "").partition(";")[0].strip().lower()
        if media != "application/json":
            raise web.HTTPError(415, "control requests need 'Content-Type: application/json' "
                                     "and a JSON object body ({} if nothing else)")

    def data_received(self, chunk):
        self._size += len(chunk)
        if self._size <= MAX_BODY:
            self._chunks.append(chunk)

    def post(self, host=None):
        if self._size > MAX_BODY:
            raise web.HTTPError(413, "the body is larger than %d bytes" % MAX_BODY)
        try:
            body = json.loads(b"".join(self._chunks) or b"{}")
        except ValueError as exc:
            raise web.HTTPError(400, "the body is not JSON: %s" % exc) from None
        if not isinstance(body, dict):
            raise web.HTTPError(400, "the body must be a JSON object")
        try:
            answer = self.console.control(self.action, body, host)
        except KeyError as exc:
            raise web.HTTPError(404, exc.args[0]) from None
        except ValueError as exc:
            raise web.HTTPError(400, str(exc)) from None
        self.set_status(202 if self.action == "stop" else 200)
        self.write_json(answer)


def application(console):
    """The console's tornado application: its routes, a JSON 404 for anything else."""
    return web.Application(_routes(console), default_handler_class=_NotFound,
                           default_handler_args={"console": console},
                           log_function=_log_request)


def _routes(console):
    c = {"console": console}
    host = r"/api/hosts/([^/]+)"
    return [
        (r"/", _Dashboard, c),
        (r"/hosts/([^/]+)", _HostPage, c),
        (r"/static/(%s)" % "|".join(re.escape(name) for name in _STATIC), _Static, c),
        (r"/api/status", _Status, c),
        (r"/api/workers", _Workers, c),
        (r"/api/hosts", _Hosts, c),
        (host, _Host, c),
        (r"/metrics", _MetricsPage, c),
    ] + [(r"/api/%s" % action, _Control, dict(c, action=action))
         for action in ("seeds", "pause", "resume", "stop")] + [
        (host + "/" + action, _Control, dict(c, action=action))
        for action in ("block", "unblock", "delay")]
