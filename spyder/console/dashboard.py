"""The console's pages: the crawl's dashboard (``/``) and a host's own view (``/hosts/<host>``).

``render(status, workers, hosts, token)`` and ``render_host(view, token)`` draw each page
whole on the server, so everything reads without JavaScript; the page's script
(``static/console.js``, served at ``/static/console.js``, with ``static/console.css``:
the console's Content-Security-Policy allows no inline script or style) then polls the
JSON API every ``POLL_SECONDS``, redraws the same elements, and carries the operator's
orders (pause, resume, stop, add seeds, block / unblock a host, set its delay) to the
control endpoints, showing each answer -- accepted, or refused and why -- on the page.

Both renderers are driven by the same markup: a figure is an element with ``data-key``
(a path into the page's JSON document), ``data-fmt`` and, for the formats that read a
whole row, ``data-row``; a table's ``<th>`` name the ``data-col`` and ``data-fmt`` of
each column, so the script needs no second copy of the layout.

Where a token is set (``MASTER_HTTP_TOKEN``) the pages know only that one is needed:
the script asks for it at the first order and keeps it in the tab's ``sessionStorage``
(never a cookie, a URL or the page).  Everything from the crawl (hosts, URLs, error
texts) is hostile input: the server escapes it, the script only sets ``textContent``
and attributes.  No CDN, no build step: it works offline.
"""
import html
import json
import os
import time
from urllib.parse import quote

#: Where the pages' script and style sheet are (``static_file``).
STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")


def static_file(name):
    """The text of the static file ``name`` (``console.js``, ``console.css``)."""
    with open(os.path.join(STATIC_DIR, name), encoding="utf-8") as f:
        return f.read()


#: Seconds between two refreshes of the page's figures.
POLL_SECONDS = 2.0
#: Rows of the hosts table.
HOSTS = 25
#: URLs of a host's queue shown on its page.
QUEUE_ROWS = 25

FIGURES = (("State", "state", "text"), ("Pages", "pages", "int"),
            ("Pages/s", "pages_per_second", "rate"), ("Queued", "queued", "int"),
            ("In flight", "in_flight", "int"), ("Errors", "errors", "int"),
            ("Hosts active", "hosts_active", "int"), ("Workers", "workers", "int"),
            ("Elapsed", "uptime", "duration"), ("Downloaded", "bytes", "bytes"),
            ("Sinks", "sinks", "text"))
_OUTCOMES = (("2xx", "status_classes.2xx"), ("3xx", "status_classes.3xx"),
             ("4xx", "status_classes.4xx"), ("5xx", "status_classes.5xx"),
             ("network (599)", "status_classes.network"), ("other", "status_classes.other"),
             ("retries", "master.frontier.retries"), ("gave up", "master.frontier.gave_up"),
             ("robots.txt fetches", "robots"),
             ("robots.txt disallowed", "master.frontier.robots_disallowed"))
#: The host page's figures: (label, path into ``/api/hosts/<host>``, format).
HOST_FIGURES = (("Queued", "host.queued", "int"), ("In flight", "host.in_flight", "int"),
                ("Fetched", "host.fetched", "int"), ("Errors", "host.errors", "int"),
                ("Downloaded", "host.bytes", "bytes"), ("Last status", "host.last_status", "text"),
                ("Last fetch", "host.last_time", "ago"), ("Delay", "host.delay", "delay"),
                ("Next fetch", "host.next_allowed", "time"),
                ("Blocked", "host.blocked", "blockstate"),
                ("robots.txt", "host.robots", "robots"),
                ("robots.txt status", "host.robots.status", "text"),
                ("Crawl-delay", "host.robots.crawl_delay", "text"),
                ("robots.txt until", "host.robots.expires", "time"))
TABLES = {
    "workers": (("identity", "Identity", "text"), ("host", "Host", "text"),
                ("slots", "Slots", "int"), ("prefetch", "Prefetch", "int"),
                ("free", "Free", "int"),
                ("claimed", "Claimed", "int"), ("returned_unclaimed", "Returned unclaimed", "int"),
                ("last_heartbeat", "Last heard", "ago"),
                ("loop_lag_max", "Loop lag (worst)", "seconds"), ("pages", "Pages", "int"),
                ("errors", "Errors", "int")),
    "hosts": (("host", "Host", "text"), ("queued", "Queued", "int"),
              ("in_flight", "In flight", "int"), ("fetched", "Fetched", "int"),
              ("errors", "Errors", "int"), ("delay", "Delay", "delay"),
              ("robots", "robots.txt", "robots"), ("blocked", "Blocked", "blocked")),
    "errors": (("time", "Time (UTC)", "time"), ("status", "Status", "text"),
               ("url", "URL", "text"), ("error", "Error", "text")),
    "queue": (("due", "Due (UTC)", "due"), ("url", "URL", "text"),
              ("attempt", "Attempt", "int"), ("depth", "Depth", "int")),
    "fetches": (("time", "Time (UTC)", "time"), ("status", "Status", "text"),
                ("url", "URL", "text"), ("seconds", "Fetch time", "seconds"),
                ("bytes", "Size", "bytes")),
    "host_errors": (("time", "Time (UTC)", "time"), ("status", "Status", "text"),
                    ("url", "URL", "text"), ("error", "Error", "text")),
}
_CHART_W, _CHART_H = 640, 140


def format_value(fmt, value, row=None):
    """The text of ``value`` in format ``fmt`` (``row``: the table row it is in); the
    page's script does the same, and ``spyder status`` prints with it."""
    row = row or {}
    if fmt in ("blocked", "blockstate"):   # blockstate: "no" rather than nothing
        if not row.get("blocked"):
            return "no" if fmt == "blockstate" else ""
        return "until " + format_value("time", row.get("blocked_until")) if row.get(
            "blocked_until") else "until unblocked"
    if fmt == "delay":
        value = row.get("delay_override") if row.get("delay_override") is not None else value
        return "" if value is None else "%.1f s%s" % (
            value, " (set)" if row.get("delay_override") is not None else "")
    if fmt == "robots":
        return (value or {}).get("state", "")
    if fmt == "due" and (value is None or value <= time.time()):
        return "in flight" if value is None else "now"
    if value is None:
        return ""
    if fmt == "int":
        return "{:,}".format(int(value))
    if fmt == "rate":
        return "%.1f" % value
    if fmt == "seconds":
        return "%.2f s" % value
    if fmt == "bytes":
        for unit in ("B", "KiB", "MiB", "GiB"):
            if value < 1024 or unit == "GiB":
                return ("%d %s" if unit == "B" else "%.1f %s") % (value, unit)
            value /= 1024.0
    if fmt == "duration":
        value = int(value)
        return "%dh %02dm %02ds" % (value // 3600, value // 60 % 60, value % 60)
    if fmt == "ago":
        return "%.0f s ago" % max(0.0, time.time() - value)
    if fmt in ("time", "due"):
        return time.strftime("%H:%M:%S", time.gmtime(value))
    return str(value)


def lookup(document, path):
    """The value at a dotted ``path`` in a JSON document, or ``None``."""
    for part in path.split("."):
        document = document.get(part) if isinstance(document, dict) else None
    return document


def host_path(host):
    """The path of ``host``'s own page (the host percent-encoded: it is crawl input)."""
    return "/hosts/" + quote(host, safe=":")


def _figure(document, label, key, fmt, tag="div", row=None):
    text = format_value(fmt, lookup(document, key), lookup(document, row) if row else None)
    return ('<%s class="fig"><span>%s</span><b data-key="%s" data-fmt="%s"%s>%s</b></%s>'
            % (tag, html.escape(label), key, fmt,
               ' data-row="%s"' % row if row else "", html.escape(text), tag))


def _table(name, rows, controls=False):
    """A table (``controls``: host links and a column of per-host controls, drawn by
    the script: they do nothing without it)."""
    columns = TABLES[name]
    head = "".join('<th data-col="%s" data-fmt="%s">%s</th>' % (
        col, "hostlink" if controls and col == "host" else fmt, html.escape(label))
        for col, label, fmt in columns)
    if controls:
        head += '<th data-col="" data-fmt="controls">Controls</th>'

    def cell(row, col, fmt):
        text = html.escape(format_value(fmt, row.get(col), row))
        if controls and col == "host":
            return '<td><a href="%s">%s</a></td>' % (html.escape(host_path(row["host"])), text)
        return "<td>%s</td>" % text

    body = "".join("<tr>%s%s</tr>" % ("".join(cell(row, col, fmt) for col, _, fmt in columns),
                                      "<td></td>" if controls else "") for row in rows)
    return ('<table data-source="%s"><thead><tr>%s</tr></thead><tbody>%s</tbody></table>'
            % (name, head, body))


def _chart_points(series):
    """The polyline of the pages/s chart and its top value (the script's ``chart``)."""
    if len(series) < 2:
        return "", 0.0
    top = max(rate for _, rate in series) or 1.0
    first, last = series[0][0], series[-1][0]
    span = (last - first) or 1.0
    return " ".join("%.1f,%.1f" % ((t - first) / span * _CHART_W,
                                   _CHART_H - rate / top * (_CHART_H - 10))
                    for t, rate in series), top


def _document(title, config, body):
    return _PAGE % {"title": html.escape(title), "body": body,
                    "config": html.escape(json.dumps(dict(config, poll=POLL_SECONDS)))}


def render(status, workers, hosts, token=False):
    """The dashboard as one HTML document (``token``: orders need ``MASTER_HTTP_TOKEN``)."""
    points, top = _chart_points(status["chart"]["pages_per_second"])
    body = _CRAWL % {
        "figures": "".join(_figure(status, *f) for f in FIGURES),
        "outcomes": "".join(_figure(status, label, key, "int", "li") for label, key in _OUTCOMES),
        "points": points, "top": "%.1f" % top, "w": _CHART_W, "h": _CHART_H,
        "workers": _table("workers", workers), "hosts": _table("hosts", hosts, controls=True),
        "errors": _table("errors", status["recent_errors"]), "controls": _CONTROLS,
        "noscript": _NOSCRIPT,
    }
    return _document("Spyder crawl: %s" % status["state"],
                     {"page": "crawl", "token": bool(token), "hosts": HOSTS,
                      "w": _CHART_W, "h": _CHART_H}, body)


def render_host(view, token=False):
    """A host's own page from its ``/api/hosts/<host>`` document (``Console.host_view``)."""
    host = view["host"]["host"]
    queue = view["queue"]
    body = _HOST % {
        "host": html.escape(host), "attr": html.escape(host),
        "figures": "".join(_figure(view, label, key, fmt, row="host")
                           for label, key, fmt in HOST_FIGURES),
        "controls": _CONTROLS, "noscript": _NOSCRIPT,
        "queue": _table("queue", queue["in_flight"] + queue["queued"]),
        "fetches": _table("fetches", view["fetches"]),
        "errors": _table("host_errors", view["errors"]),
    }
    return _document("Spyder host %s" % host,
                     {"page": "host", "token": bool(token), "host": host}, body)


def render_error(status, message):
    """A page's error as HTML (``message`` may quote crawl input: it is escaped)."""
    return _document("Spyder console: %d" % status, {"page": "error"},
                     '<main><section class="wide"><h2>%d</h2><p>%s</p><p><a href="/">The '
                     'dashboard</a></p></section></main>' % (status, html.escape(message)))


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>%(title)s</title>
<link rel="stylesheet" href="/static/console.css">
<script src="/static/console.js" defer></script>
</head>
<body data-config="%(config)s">
<header><h1><a href="/">Spyder crawl</a></h1>
<small id="stale" hidden>connection lost: figures are stale</small></header>
%(body)s
</body></html>
"""

_NOSCRIPT = """<noscript><section class="wide"><p class="note">The controls need JavaScript; \
<code>spyder ctl</code> gives the same orders from a shell.</p></section></noscript>"""

_CONTROLS = """<form id="tokenform" class="token" hidden>
<label>Orders need the console's token (MASTER_HTTP_TOKEN), kept for this tab only:
<input id="token" type="password" autocomplete="off" spellcheck="false"></label>
<button type="submit">Use token</button>
</form>
<p id="result" role="status" aria-live="polite" data-seq="0"></p>"""

_CRAWL = """<main>
<section class="wide"><div class="figs">%(figures)s</div></section>
<section class="wide controls" data-needs-js hidden><h2>Controls</h2>
<div class="row">
<button type="button" data-action="pause">Pause</button>
<button type="button" data-action="resume">Resume</button>
<button type="button" data-action="stop" class="danger">Stop crawl…</button>
<form id="seedform" class="seeds">
<label for="seeds">Add seeds (one URL a line)</label>
<textarea id="seeds" rows="2" spellcheck="false" placeholder="https://example.com/"></textarea>
<button type="submit">Add seeds</button>
</form>
</div>
</section>
<section class="wide" id="answer">%(controls)s</section>%(noscript)s
<section><h2>Pages/s, last minutes (top <span id="top">%(top)s</span>)</h2>
<svg viewBox="0 0 %(w)s %(h)s" preserveAspectRatio="none"><polyline id="chart" points="%(points)s"/></svg>
</section>
<section><h2>Outcomes</h2><ul class="outcomes">%(outcomes)s</ul></section>
<section class="wide"><h2>Workers</h2>%(workers)s</section>
<section class="wide"><h2>Hosts (most queued)</h2>%(hosts)s</section>
<section class="wide"><h2>Latest errors</h2>%(errors)s</section>
</main>"""

_HOST = """<main>
<section class="wide"><h2>Host <span class="hostname">%(host)s</span></h2>
<div class="figs">%(figures)s</div></section>
<section class="wide controls" data-needs-js hidden><h2>Controls</h2>
<div class="row hostctl">
<button type="button" data-action="block" data-host="%(attr)s">Block</button>
<button type="button" data-action="unblock" data-host="%(attr)s">Unblock</button>
<label>Delay <input type="number" min="0" step="any" placeholder="seconds"
 data-delay-for="%(attr)s"></label>
<button type="button" data-action="delay" data-host="%(attr)s">Set delay</button>
<button type="button" data-action="auto" data-host="%(attr)s">Computed delay</button>
</div>
</section>
<section class="wide" id="answer">%(controls)s</section>%(noscript)s
<section class="wide"><h2>Queue (in flight, then due first)</h2>%(queue)s</section>
<section class="wide"><h2>Recent fetches</h2>%(fetches)s</section>
<section class="wide"><h2>Recent errors</h2>%(errors)s</section>
</main>"""
