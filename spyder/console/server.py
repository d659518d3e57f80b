"""Console: the master's HTTP console -- its life cycle, figures, access rules and orders.

The package docstring (``spyder.console``) describes what it serves and its security
rules; ``handlers`` holds the HTTP handlers, ``metrics`` the Prometheus figures and
``dashboard`` the pages.
"""
import collections
import errno
import hmac
import ipaddress
import logging
import math
import re
import time
from base64 import b64decode

from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop, PeriodicCallback
from tornado.netutil import bind_sockets

from spyder.console import dashboard, handlers
from spyder.console.metrics import STATUS_CLASSES, Metrics, status_class
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
#: Most seed URLs in one request.
MAX_SEEDS = 10000
#: How the master's ``READY=1`` status names the console (``url_in_status`` reads it back).
READY_STATUS = "console at %s"
#: Recent fetches (and, apart, recent errors) kept per host for its page.
RECENT_PER_HOST = 20
#: Hosts whose recent fetches are kept (the least recently fetched are forgotten).
RECENT_HOSTS = 1000
#: Host names that count as loopback besides loopback IP addresses.
_LOOPBACK_NAMES = ("localhost",)


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
        self.steerable = all(hasattr(frontier, name) for name in handlers.FRONTIER_CONTROLS)
        self.metrics = Metrics(master)
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
        self._server = HTTPServer(handlers.application(self), max_body_size=handlers.MAX_BODY + 1)
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
            classes[status_class(status)] += count
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
            "status_classes": {name: classes.get(name, 0) for name in STATUS_CLASSES},
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


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


