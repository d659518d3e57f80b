"""The master's console: a live dashboard, a JSON API, Prometheus metrics and controls.

``Console(settings, master, frontier)`` serves HTTP with tornado on the master's own
IOLoop at ``MASTER_HTTP_ADDRESS`` (``host:port``; port 0 = any free port; ``""`` /
``None`` = off).  ``start()`` binds and returns the console's URL, which the master
logs, announces in its ``READY`` status and puts in its status broadcast
(``console``), so ``spyder crawl`` and tests learn the real port.  If the default
loopback port is taken (another crawl on this machine) the console takes a free one
instead, with a warning; any other address that cannot be bound is a start-up error.

Read-only: ``GET /`` (the dashboard, ``spyder.dashboard``), ``/hosts/<host>`` (a host's
own page), ``/static/console.js`` and ``.css`` (the pages' script and style),
``/api/status``, ``/api/workers``, ``/api/hosts?sort=&limit=``, ``/api/hosts/<host>``
(with the host's queue and its recent fetches and errors, which the console keeps from
the master's ``result_listeners``, bounded per host and in hosts), ``/metrics``.
Control (``POST`` with a JSON object body): ``/api/seeds``, ``/api/pause``,
``/api/resume``, ``/api/stop``, ``/api/hosts/<host>/block`` / ``unblock`` /
``delay`` -- each goes through the frontier (which keeps it in the state file) and
wakes the master's dispatch.  Every answer is JSON except the page and the metrics;
bad input gets a 4xx with ``{"error": "..."}`` and changes nothing.  The shapes are
in ``docs/console.md``.

Security: off loopback ``MASTER_HTTP_TOKEN`` is required (the master refuses to start
without it) and every request must present it: ``Authorization: Bearer <token>`` or
``X-Spyder-Token: <token>`` (or, for the read-only pages only, as the password of
HTTP Basic auth, so a browser can open the dashboard).  On loopback the read-only
pages are open and control requests need the token when one is set.  There are no
cookies, and control requests must carry ``Content-Type: application/json``, which a
cross-site form cannot send, and a control request that names another origin
(``Origin``, ``Sec-Fetch-Site``) is refused: no CSRF.  On loopback the ``Host`` header
must name a loopback host, which defeats DNS rebinding.  Every answer carries a
``Content-Security-Policy`` that lets the pages run only the console's own script
(no inline script, style or event handler) and talk only to their own origin.
"""
import bisect
import collections
import errno
import hmac
import ipaddress
import json
import logging
import math
import re
import time
from base64 import b64decode

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.utils import floatToGoString
from tornado import web
from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop, PeriodicCallback
from tornado.netutil import bind_sockets

from spyder import dashboard
from spyder.core.constants import CURI_ERROR as _CURI_ERROR
from spyder.core.retry import RESULT_CLASSES
from spyder.core.urls import host_key
from spyder.errors import StartupError

log = logging.getLogger("spyder.console")

#: Seconds between two samples of the page count (the pages/s chart).
SAMPLE_SECONDS = 2.0
#: Samples kept: ten minutes of the chart.
SAMPLES = 300
#: Seconds over which the headline pages/s is measured.
RATE_WINDOW = 10.0
#: Largest request body accepted, in bytes.
MAX_BODY = 1024 * 1024
#: Most seed URLs in one request.
MAX_SEEDS = 10000
#: Most hosts in one /api/hosts answer.
MAX_HOSTS = 1000
#: How the master's ``READY=1`` status names the console (``url_in_status`` reads it back).
READY_STATUS = "console at %s"
#: Recent fetches (and, apart, recent errors) kept per host for its page.
RECENT_PER_HOST = 20
#: Hosts whose recent fetches are kept (the least recently fetched are forgotten).
RECENT_HOSTS = 1000
#: What every answer allows a browser to do with it: only the console's own script and
#: style, requests only to the console, no frames, no form submissions.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
#: Host names that count as loopback besides loopback IP addresses.
_LOOPBACK_NAMES = ("localhost",)

#: The frontier methods the host pages and the control requests need.
_FRONTIER_CONTROLS = ("add_seeds", "pause", "resume", "block_host", "unblock_host",
                      "set_host_delay", "host", "hosts")
#: Static files of the pages: path -> (attribute of ``spyder.dashboard``, content type).
_STATIC = {"console.js": ("SCRIPT", "text/javascript; charset=utf-8"),
           "console.css": ("STYLE", "text/css; charset=utf-8")}
_FETCH_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_SIZE_BUCKETS = tuple(1024 * 4 ** i for i in range(9))  # 1 KiB .. 64 MiB


def parse_address(address):
    """``(host, port)`` of a ``host:port`` address (``[v6]:port`` too); ``ValueError``."""
    host, sep, port = str(address).rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError("MASTER_HTTP_ADDRESS=%r is not host:port (like 127.0.0.1:8480)"
                         % (address,))
    return host, int(port)


def is_loopback(host):
    """Is ``host`` (a name or an address) on this machine only?"""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_in_status(text):
    """The console URL in a master's ``READY=1`` status text, or ``None``."""
    match = re.search(re.escape(READY_STATUS % "") + r"(http://\S+)", text or "")
    return match.group(1) if match else None


def url_of(host, port):
    """The http URL of a console listening on ``host:port``."""
    return "http://%s:%d/" % ("[%s]" % host if ":" in host else host, port)


class _Histogram:
    """Bucket counts as plain numbers, turned into a metric family only when scraped
    (prometheus_client's ``Histogram`` takes a lock and walks its buckets on every
    observation: the master observes two per result)."""

    def __init__(self, name, text, bounds):
        self._name, self._text, self._bounds = name, text, bounds
        self._counts = [0] * (len(bounds) + 1)    # the last one: above every bound
        self._sum = 0.0

    def observe(self, value):
        self._counts[bisect.bisect_left(self._bounds, value)] += 1
        self._sum += value

    def family(self):
        buckets, total = [], 0
        for bound, count in zip(self._bounds + (float("inf"),), self._counts):
            total += count
            buckets.append((floatToGoString(bound), total))
        return HistogramMetricFamily(self._name, self._text, buckets=buckets,
                                     sum_value=self._sum)


class _Metrics:
    """The Prometheus figures, in the console's own ``CollectorRegistry``: results and the
    two histograms are counted per result in plain numbers (``collect``), the gauges
    read one ``master.stats()`` per scrape."""

    def __init__(self, master):
        self.registry = CollectorRegistry(auto_describe=True)
        self._results = collections.Counter()   # (outcome, status) -> results
        self._fetch = _Histogram("spyder_fetch_seconds", "Time a worker spent fetching a URL",
                                 _FETCH_BUCKETS)
        self._size = _Histogram("spyder_body_bytes", "Size of the bodies received",
                                _SIZE_BUCKETS)
        self.registry.register(self)
        self._stats = master.stats
        self._snapshot = None      # one master.stats() for all gauges of a scrape
        for name, text, value in (
                ("spyder_queued", "URLs waiting to be crawled",
                 lambda s: s["frontier"].get("queued", 0)),
                ("spyder_known", "URLs the crawl knows", lambda s: s["frontier"].get("known", 0)),
                ("spyder_in_flight", "URLs dispatched and not answered", lambda s: s["in_flight"]),
                ("spyder_workers", "Registered workers", lambda s: s["workers"]),
                ("spyder_slots", "Fetch slots of the registered workers", lambda s: s["slots"]),
                ("spyder_hosts_active", "Host queues being crawled",
                 lambda s: s["frontier"].get("hosts_active", 0)),
                ("spyder_paused", "1 while dispatch is paused",
                 lambda s: int(bool(s["frontier"].get("paused")))),
        ):
            Gauge(name, text, registry=self.registry).set_function(
                lambda value=value: value(self._snapshot or self._stats()))

    def collect(self):
        """The counted figures as metric families (prometheus_client's collector interface)."""
        results = CounterMetricFamily("spyder_results", "Results received, by outcome and HTTP "
                                      "status (outcome robots: the frontier's robots.txt "
                                      "requests)", labels=["outcome", "status"])
        for (outcome, status), count in sorted(self._results.items()):
            results.add_metric([outcome, status], count)
        return [results, self._fetch.family(), self._size.family()]

    def observe(self, curi, outcome):
        status = curi.status_code
        self._results[outcome, str(status) if isinstance(status, int) else "none"] += 1
        if isinstance(curi.req_time, (int, float)) and curi.req_time >= 0:
            self._fetch.observe(curi.req_time)
        self._size.observe(curi.content_length or 0)

    def exposition(self):
        self._snapshot = self._stats()
        try:
            return generate_latest(self.registry)
        finally:
            self._snapshot = None


class Console:
    """The master's HTTP console (see the module docstring)."""

    def __init__(self, settings, master, frontier, io_loop=None):
        self._settings = settings
        self._master = master
        self._frontier = frontier
        self._io_loop = io_loop or IOLoop.current()
        self._token = settings.MASTER_HTTP_TOKEN or None
        try:
            self.bind_host, self.port = parse_address(settings.MASTER_HTTP_ADDRESS)
        except ValueError as exc:
            raise StartupError(str(exc)) from None
        self.loopback = is_loopback(self.bind_host)
        if not self.loopback and self._token is None:
            raise StartupError("MASTER_HTTP_ADDRESS=%r is not a loopback address: set "
                               "MASTER_HTTP_TOKEN to a secret (every request must present "
                               "it), or listen on 127.0.0.1" % settings.MASTER_HTTP_ADDRESS)
        self.url = None
        #: the frontier has the operator's controls (a FRONTIER_CLASS may not)
        self.steerable = all(hasattr(frontier, name) for name in _FRONTIER_CONTROLS)
        self.metrics = _Metrics(master)
        self._by_status = collections.Counter()      # HTTP status (or None) -> results
        self._recent = collections.OrderedDict()     # host -> (fetches, errors), LRU
        self._samples = collections.deque(maxlen=SAMPLES + 1)  # (time, pages)
        self._server = None
        self._sampler = None

    # ------------------------------------------------------------------ life cycle
    def start(self):
        """Listen; returns the console's URL (``StartupError`` if it cannot)."""
        sockets = self._bind()
        self.port = sockets[0].getsockname()[1]
        self.url = url_of(self.bind_host, self.port)
        app = web.Application(_routes(self), default_handler_class=_NotFound,
                              default_handler_args={"console": self}, log_function=_log_request)
        self._server = HTTPServer(app, max_body_size=MAX_BODY + 1)
        self._server.add_sockets(sockets)
        self._master.result_listeners.append(self._observe)
        self._master.console_url = self.url
        self._sample()
        self._sampler = PeriodicCallback(self._sample, SAMPLE_SECONDS * 1000)
        self._sampler.start()
        log.info("console::dashboard and API at %s%s", self.url,
                 "" if self._token is None else " (token required)")
        return self.url

    def _bind(self):
        address = self._settings.MASTER_HTTP_ADDRESS
        try:
            return bind_sockets(self.port, self.bind_host)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE and self.loopback and self.port:
                log.warning("console::%s is in use (another crawl?); listening on a free port",
                            address)
                return bind_sockets(0, self.bind_host)
            raise StartupError("MASTER_HTTP_ADDRESS=%r cannot be used: %s"
                               % (address, exc.strerror or exc)) from exc

    def stop(self):
        """Stop listening (idempotent)."""
        if self._sampler is not None:
            self._sampler.stop()
            self._sampler = None
        if self._server is not None:
            self._server.stop()
            self._server = None

    # ------------------------------------------------------------------ figures
    def _observe(self, curi, outcome):
        self.metrics.observe(curi, outcome)
        if outcome != "robots":
            self._by_status[curi.status_code if isinstance(curi.status_code, int) else None] += 1
        self._remember(curi, outcome)

    def _remember(self, curi, outcome):
        """Keep the result among its host's recent fetches (and errors), bounded."""
        host = host_key(curi.url or "")
        recent = self._recent.get(host)
        if recent is None:
            recent = self._recent[host] = (collections.deque(maxlen=RECENT_PER_HOST),
                                           collections.deque(maxlen=RECENT_PER_HOST))
            if len(self._recent) > RECENT_HOSTS:
                self._recent.popitem(last=False)
        else:
            self._recent.move_to_end(host)
        status = curi.status_code if isinstance(curi.status_code, int) else None
        entry = {"time": time.time(), "url": curi.url, "status": status, "outcome": outcome,
                 "seconds": curi.req_time if _is_number(curi.req_time) else None,
                 "bytes": curi.content_length, "error": curi.optional_vars.get(
                     _CURI_ERROR) if isinstance(curi.optional_vars, dict) else None}
        recent[0].append(entry)
        if outcome in ("not_found", "server_error"):
            recent[1].append(entry)

    def _sample(self):
        self._samples.append((time.time(), sum(self._master.results.values())))

    def _rate(self, window):
        """Pages per second over the last ``window`` seconds of samples, with now."""
        now, pages = time.time(), sum(self._master.results.values())
        start = next(((t, p) for t, p in self._samples if now - t <= window + SAMPLE_SECONDS),
                     None)
        if start is None or now - start[0] < 0.5:
            return 0.0
        return (pages - start[1]) / (now - start[0])

    def _series(self):
        samples = list(self._samples)
        return [[round(t1, 1), round(max(0.0, (p1 - p0) / (t1 - t0)), 2)]
                for (t0, p0), (t1, p1) in zip(samples, samples[1:]) if t1 > t0]

    def status(self):
        """The ``/api/status`` document (see ``docs/console.md``)."""
        stats = self._master.stats()
        frontier = stats["frontier"]
        results = stats["results"]
        classes = collections.Counter()
        for status, count in self._by_status.items():
            classes[_status_class(status)] += count
        return {
            "state": stats["state"], "now": time.time(), "uptime": stats["uptime"],
            "pages": sum(results.values()), "pages_per_second": round(self._rate(RATE_WINDOW), 2),
            "queued": frontier.get("queued"), "known": frontier.get("known"),
            "in_flight": stats["in_flight"],
            "errors": results.get("not_found", 0) + results.get("server_error", 0),
            "hosts_active": frontier.get("hosts_active"), "workers": stats["workers"],
            "sinks": frontier.get("sink_failure") or "writing",
            "slots": stats["slots"], "bytes": stats["bytes"], "robots": stats["robots"],
            "outcomes": {kind: results.get(kind, 0) for kind in RESULT_CLASSES},
            "status_classes": {name: classes.get(name, 0) for name in _STATUS_CLASSES},
            "chart": {"interval": SAMPLE_SECONDS, "pages_per_second": self._series()},
            "recent_errors": list(self._master.recent_errors)[::-1],
            "master": stats,
        }

    def workers(self):
        return {"workers": self._master.worker_table()}

    def hosts(self, sort, limit):
        """The top hosts (none from a FRONTIER_CLASS that keeps no host statistics)."""
        hosts = self._frontier.hosts(sort, limit) if self.steerable else []
        return {"sort": sort, "limit": limit, "hosts": hosts}

    def host(self, host):
        """``KeyError`` for a host the crawl does not know."""
        if not self.steerable:
            raise KeyError("this FRONTIER_CLASS keeps no host statistics")
        return {"host": self._frontier.host(host)}

    def host_view(self, host, limit=dashboard.QUEUE_ROWS):
        """The ``/api/hosts/<host>`` document: the host, its queue (in flight and next
        ``limit`` due; ``null`` from a frontier without ``host_queue``) and its recent
        fetches and errors, newest first.  ``KeyError`` for a host the crawl does not know."""
        view = self.host(host)
        queue_of = getattr(self._frontier, "host_queue", None)
        fetches, errors = self._recent.get(host, ((), ()))
        view.update(queue=queue_of(host, limit) if queue_of is not None else None,
                    fetches=list(fetches)[::-1], errors=list(errors)[::-1])
        return view

    # ------------------------------------------------------------------ access
    def allowed_host_header(self, value):
        """On loopback, does the ``Host`` header name this machine (no DNS rebinding)?"""
        if not self.loopback:
            return True
        host = value.rpartition(":")[0] if value.rpartition(":")[2].isdigit() else value
        return is_loopback(host.strip("[]"))

    @property
    def token_required(self):
        """Do orders need ``MASTER_HTTP_TOKEN`` (the pages ask for it)?"""
        return self._token is not None

    @staticmethod
    def same_origin(request):
        """``None`` if a control request comes from the console's own origin (or names
        none: a non-browser client), else why it is refused."""
        origin = request.headers.get("Origin")
        if origin is not None and origin.lower() != "http://" + request.host.lower():
            return "Origin %r is not this console (http://%s)" % (origin, request.host)
        site = request.headers.get("Sec-Fetch-Site", "same-origin").lower()
        if site not in ("same-origin", "none"):
            return "Sec-Fetch-Site is %r" % site
        return None

    def token_ok(self, request, control):
        """Does ``request`` carry what its kind of request needs (see the module docstring)?"""
        if self._token is None or (self.loopback and not control):
            return True
        headers = request.headers
        presented = headers.get("X-Spyder-Token")
        scheme, _, value = headers.get("Authorization", "").partition(" ")
        if presented is None and scheme.lower() == "bearer":
            presented = value.strip()
        elif presented is None and scheme.lower() == "basic" and not control:
            try:
                presented = b64decode(value.strip()).decode("utf-8").partition(":")[2]
            except (ValueError, UnicodeDecodeError):
                presented = None
        return presented is not None and hmac.compare_digest(presented.encode("utf-8"),
                                                             self._token.encode("utf-8"))

    # ------------------------------------------------------------------ control
    def control(self, action, body, host=None):
        """Carry out one control request; returns the answer (``ValueError`` /
        ``KeyError``: bad input, nothing changed)."""
        frontier, master = self._frontier, self._master
        if action == "seeds":
            urls = body.get("urls")
            if (not isinstance(urls, list) or not urls or len(urls) > MAX_SEEDS
                    or not all(isinstance(u, str) for u in urls)):
                raise ValueError('the body must be {"urls": [URL, ...]} with 1 to %d URLs'
                                 % MAX_SEEDS)
            added = frontier.add_seeds(urls)
            master.wake()
            new = set(added)
            return {"added": added, "not_added": [u for u in urls if u not in new]}
        if action == "pause":
            master.pause()
        elif action == "resume":
            master.resume()
        elif action == "stop":
            if master.state != "draining":  # a second shutdown() would stop at once
                self._io_loop.add_callback(master.shutdown)
            return {"state": "draining"}
        elif action == "block":
            until = body.get("until")
            if until is not None and (not _is_number(until) or until <= time.time()):
                raise ValueError('"until" must be a time in the future (UTC epoch seconds) '
                                 'or null for "until unblocked"')
            frontier.block_host(host, until)
        elif action == "unblock":
            frontier.unblock_host(host)
            master.wake()
        elif action == "delay":
            seconds = body.get("seconds", ())
            if seconds == () or not (seconds is None or _is_number(seconds)):
                raise ValueError('the body must be {"seconds": number >= 0} or '
                                 '{"seconds": null} to go back to the computed delay')
            frontier.set_host_delay(host, seconds)
            master.wake()
        if host is not None:
            return self.host(host)
        return {"state": master.state}


_STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx", "network", "other")


def _status_class(status):
    if status == 599:
        return "network"
    if isinstance(status, int) and 200 <= status < 600:
        return "%dxx" % (status // 100)
    return "other"


def _log_request(handler):
    """Requests go to the log at debug level (the dashboard polls), failures as warnings."""
    status = handler.get_status()
    log.log(logging.WARNING if status >= 500 else logging.DEBUG, "console::%d %s %s",
            status, handler.request.method, handler.request.uri)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# ---------------------------------------------------------------------- handlers
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
                                     "orders (it lacks %s)" % ", ".join(_FRONTIER_CONTROLS))

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
    """The pages' script and style sheet (``spyder.dashboard.SCRIPT`` / ``STYLE``)."""

    def get(self, name):
        attribute, content_type = _STATIC[name]
        self.set_header("Content-Type", content_type)
        self.set_header("Cache-Control", "no-cache")
        self.finish(getattr(dashboard, attribute))


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
