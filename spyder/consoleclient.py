"""The client side of the master's console, for ``spyder status`` and ``spyder ctl``.

``ConsoleClient.from_settings(settings, url)`` finds the console at ``--url`` or at
``MASTER_HTTP_ADDRESS`` (a wildcard address is reached on loopback) and sends
``MASTER_HTTP_TOKEN`` with every request.  Every failure -- no master answering, a
refusal, an answer that is not the console's -- is a ``ConsoleError`` with one line
for the operator.  ``parse_until`` reads the ``--until`` of ``spyder ctl block``.
"""
import datetime
import json
import re
import socket
import time
import urllib.error
import urllib.request

from spyder.console import parse_address, url_of
from spyder.console.dashboard import FIGURES, TABLES, format_value, lookup
from spyder.errors import ConsoleError

#: Seconds a request to the console may take.
TIMEOUT = 10.0

_DURATION = re.compile(r"^\+?(\d+(?:\.\d+)?)\s*([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class ConsoleClient:
    """Requests to the console at ``url`` (ending in ``/``) with an optional ``token``."""

    def __init__(self, url, token=None, timeout=TIMEOUT):
        self.url = url if url.endswith("/") else url + "/"
        self._token = token
        self._timeout = timeout

    @classmethod
    def from_settings(cls, settings, url=None):
        if url is None:
            address = settings.MASTER_HTTP_ADDRESS
            if not address:
                raise ConsoleError("the master's console is off (MASTER_HTTP_ADDRESS is "
                                   "empty); set it, or pass --url")
            try:
                host, port = parse_address(address)
            except ValueError as exc:
                raise ConsoleError(str(exc)) from None
            if port == 0:
                raise ConsoleError("MASTER_HTTP_ADDRESS=%r has no fixed port; pass --url with "
                                   "the address the master logged" % address)
            if host in ("", "0.0.0.0", "::"):
                host = "127.0.0.1"
            url = url_of(host, port)
        return cls(url, settings.MASTER_HTTP_TOKEN)

    def get(self, path):
        """The JSON answer to ``GET path``."""
        return self._request("GET", path)

    def post(self, path, body=None):
        """The JSON answer to ``POST path`` with the JSON ``body`` (default ``{}``)."""
        return self._request("POST", path, json.dumps(body or {}).encode("utf-8"))

    def _request(self, method, path, data=None):
        request = urllib.request.Request(self.url + path.lstrip("/"), data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self._token:
            request.add_header("Authorization", "Bearer " + self._token)
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            raise ConsoleError("the master at %s refused %s /%s: %s (HTTP %d)" % (
                self.url, method, path.lstrip("/"), _error_text(exc), exc.code)) from None
        except (urllib.error.URLError, socket.timeout, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ConsoleError("no master answers at %s (%s); is it running, and is "
                               "MASTER_HTTP_ADDRESS (or --url) its console's address?"
                               % (self.url, reason)) from None
        except ValueError:
            raise ConsoleError("%s did not answer with JSON; is it a Spyder master's console?"
                               % self.url) from None


def _error_text(exc):
    try:
        return json.loads(exc.read())["error"]
    except (ValueError, KeyError, TypeError):
        return exc.reason


def parse_until(text, now=None):
    """A UTC epoch from ``--until``: epoch seconds, an ISO 8601 time (local time unless it
    has an offset) or a duration from now (``90s``, ``30m``, ``2h``, ``1d``)."""
    now = time.time() if now is None else now
    text = text.strip()
    match = _DURATION.match(text)
    if match:
        return now + float(match.group(1)) * _UNITS[match.group(2)]
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise ConsoleError("--until %r is neither a duration (30m, 2h, 1d), an ISO 8601 time "
                           "(2030-01-31T18:00) nor UTC epoch seconds" % text) from None


def snapshot(client, hosts=10):
    """``{"status", "workers", "hosts"}``: what ``spyder status`` shows, in three requests."""
    return {"status": client.get("api/status"), "workers": client.get("api/workers")["workers"],
            "hosts": client.get("api/hosts?sort=queued&limit=%d" % hosts)["hosts"]}


def _whole_crawl(status):
    """With a frontier several masters share (docs/cluster.md): the whole crawl's line."""
    frontier = ((status.get("master") or {}).get("frontier") or {})
    crawl = frontier.get("crawl")
    if not crawl:
        return []
    return ["whole crawl (masters: %s): known %d, to crawl %d, success %d, redirect %d, "
            "not found %d, server error %d" % (
                " ".join(frontier.get("masters") or []) or "?", crawl.get("known", 0),
                max(0, crawl.get("open", 0)), crawl.get("success", 0), crawl.get("redirect", 0),
                crawl.get("not_found", 0), crawl.get("server_error", 0))]


def render_text(snap):
    """``snapshot`` as text: the dashboard's figures, workers and hosts tables."""
    status = snap["status"]
    lines = ["  ".join("%s: %s" % (label, format_value(fmt, lookup(status, key)))
                       for label, key, fmt in FIGURES)]
    lines.extend(_whole_crawl(status))
    for name, rows in (("workers", snap["workers"]), ("hosts", snap["hosts"])):
        columns = TABLES[name]
        cells = [[label for _, label, _ in columns]] + [
            [format_value(fmt, row.get(col), row) for col, _, fmt in columns] for row in rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
        lines.append("")
        lines.extend("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
                     for row in cells)
        if not rows:
            lines.append("(no %s)" % name)
    return "\n".join(lines)
