"""The console's pages: the crawl's dashboard (``/``) and a host's own view (``/hosts/<host>``).

``render(status, workers, hosts, token)`` and ``render_host(view, token)`` draw each page
whole on the server, so everything reads without JavaScript; the page's script
(``SCRIPT``, served at ``/static/console.js``, with ``STYLE`` at ``/static/console.css``:
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
import time
from urllib.parse import quote

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
                ("slots", "Slots", "int"), ("free", "Free", "int"),
                ("last_heartbeat", "Last heartbeat", "ago"), ("pages", "Pages", "int"),
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

#: The pages' style sheet (``/static/console.css``).
STYLE = """\
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
header{background:#1d2330;color:#fff;padding:10px 20px;display:flex;gap:16px;align-items:baseline}
header h1{font-size:18px;margin:0}header a{color:#fff;text-decoration:none}
header small{color:#f88}
main{padding:14px 20px;display:grid;gap:14px;grid-template-columns:1fr 1fr}
section{background:#fff;border-radius:6px;padding:10px 14px;box-shadow:0 1px 2px #0002}
section.wide{grid-column:1/3}h2{font-size:14px;margin:0 0 8px;color:#546}
#answer:not(:has(#result:not(:empty))):not(:has(#tokenform:not([hidden]))){display:none}
.figs{display:flex;flex-wrap:wrap;gap:10px}.fig{min-width:110px}
.fig span{display:block;font-size:12px;color:#667}.fig b{font-size:22px}
ul.outcomes{list-style:none;padding:0;margin:0;columns:2}ul.outcomes .fig b{font-size:16px}
ul.outcomes .fig{display:flex;justify-content:space-between;padding:2px 8px 2px 0}
ul.outcomes .fig span{display:inline;font-size:13px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:3px 8px;border-bottom:1px solid #e4e6ea;white-space:nowrap;font-size:13px}
td{font-variant-numeric:tabular-nums;max-width:480px;overflow:hidden;text-overflow:ellipsis}
svg{width:100%;height:auto;background:#fafbfc}polyline{fill:none;stroke:#2a6fdb;stroke-width:2}
.row{display:flex;flex-wrap:wrap;gap:8px;align-items:center}
button{font:inherit;padding:3px 10px;border:1px solid #9aa3b5;border-radius:4px;background:#eef1f6;cursor:pointer}
button:hover{background:#dde3ee}button.danger{border-color:#c33;color:#a11}
td button{padding:1px 6px;font-size:12px;margin-right:4px}
input[type=number]{width:5em;font:inherit;font-size:12px}
form.seeds{display:flex;gap:8px;align-items:center;flex:1;min-width:320px}
form.seeds textarea{flex:1;font:12px monospace}form.seeds label{font-size:12px;color:#667}
form.token{margin:0 0 6px}form.token input{font:inherit;width:16em}
#result{margin:0;font-weight:600}#result:empty{display:none}
#result[data-outcome=accepted]{color:#17693a}#result[data-outcome=refused]{color:#b3261e}
#result[data-outcome=cancelled]{color:#666}
.note{color:#667;margin:0}.hostname{font-family:monospace;font-size:15px;color:#1d2330}
"""

#: The pages' script (``/static/console.js``); see the module docstring.
SCRIPT = r"""
"use strict";
const C = JSON.parse(document.body.dataset.config);
const TOKEN_KEY = "spyder-console-token";
let pending = null;   // the order waiting for the token
let orders = 0;

const F = {
  int: v => Math.round(v).toLocaleString("en-US"),
  rate: v => v.toFixed(1),
  seconds: v => v.toFixed(2) + " s",
  bytes: v => { const u = ["B", "KiB", "MiB", "GiB"]; let i = 0;
    while (v >= 1024 && i < 3) { v /= 1024; i++; } return i ? v.toFixed(1) + " " + u[i] : v + " B"; },
  duration: v => { v = Math.floor(v); const p = n => String(n).padStart(2, "0");
    return Math.floor(v / 3600) + "h " + p(Math.floor(v / 60) % 60) + "m " + p(v % 60) + "s"; },
  ago: v => Math.max(0, Date.now() / 1000 - v).toFixed(0) + " s ago",
  time: v => new Date(v * 1000).toISOString().substring(11, 19),
  text: v => String(v),
};
F.due = v => v <= Date.now() / 1000 ? "now" : F.time(v);
F.hostlink = F.text;

function show(fmt, v, row) {
  row = row || {};
  if (fmt === "blocked" || fmt === "blockstate") return !row.blocked ? (fmt === "blockstate" ? "no" : "") :
    row.blocked_until ? "until " + F.time(row.blocked_until) : "until unblocked";
  if (fmt === "delay") { const o = row.delay_override; if (o !== null && o !== undefined) v = o;
    return v === null || v === undefined ? "" : v.toFixed(1) + " s" + (o !== null && o !== undefined ? " (set)" : ""); }
  if (fmt === "robots") return v ? v.state : "";
  if (fmt === "due" && (v === null || v === undefined)) return "in flight";
  if (fmt === "controls") return "";
  return v === null || v === undefined ? "" : F[fmt](v);
}

function lookup(doc, path) {
  for (const part of path.split(".")) doc = doc && typeof doc === "object" ? doc[part] : undefined;
  return doc;
}

function element(tag, text, data) {
  const el = document.createElement(tag);
  if (text !== undefined) el.textContent = text;
  for (const [k, v] of Object.entries(data || {})) el.dataset[k] = v;
  return el;
}

function button(label, action, host) {
  const b = element("button", label, {action: action, host: host});
  b.type = "button";
  return b;
}

function hostControls(row) {
  const delay = element("input", undefined, {delayFor: row.host});
  delay.type = "number"; delay.min = "0"; delay.step = "any"; delay.placeholder = "s";
  delay.setAttribute("aria-label", "delay in seconds for " + row.host);
  const items = [row.blocked ? button("Unblock", "unblock", row.host) : button("Block", "block", row.host),
                 delay, button("Set delay", "delay", row.host)];
  if (row.delay_override !== null && row.delay_override !== undefined)
    items.push(button("Computed delay", "auto", row.host));
  return items;
}

function hostLink(host) {
  const a = element("a", host);
  a.href = "/hosts/" + encodeURIComponent(host).replace(/%3A/g, ":");   // as host_path()
  return a;
}

function fill(name, rows) {
  const table = document.querySelector('table[data-source="' + name + '"]');
  if (!table) return;
  const old = table.tBodies[0];
  // never pull a delay box from under the operator's hands
  const inputs = [...old.querySelectorAll("input")];
  if (inputs.some(i => i.value || i === document.activeElement)) return;
  const cols = [...table.querySelectorAll("th")].map(th => [th.dataset.col, th.dataset.fmt]);
  const body = document.createElement("tbody");
  for (const row of rows) {
    const tr = body.insertRow();
    for (const [col, fmt] of cols) {
      const td = tr.insertCell();
      if (fmt === "hostlink") td.append(hostLink(row.host));
      else if (fmt === "controls") td.append(...hostControls(row));
      else td.textContent = show(fmt, row[col], row);
    }
  }
  old.replaceWith(body);
}

function figures(doc) {
  for (const el of document.querySelectorAll("[data-key]"))
    el.textContent = show(el.dataset.fmt, lookup(doc, el.dataset.key),
                          el.dataset.row ? lookup(doc, el.dataset.row) : null);
}

function chart(series) {
  if (series.length < 2) return;
  const top = Math.max(...series.map(s => s[1])) || 1, t0 = series[0][0];
  const span = (series[series.length - 1][0] - t0) || 1;
  document.getElementById("chart").setAttribute("points", series.map(([t, r]) =>
    ((t - t0) / span * C.w).toFixed(1) + "," + (C.h - r / top * (C.h - 10)).toFixed(1)).join(" "));
  document.getElementById("top").textContent = top.toFixed(1);
}

async function get(path) {
  const answer = await fetch(path, {cache: "no-store", credentials: "same-origin"});
  if (!answer.ok) throw new Error(path + ": " + answer.status);
  return answer.json();
}

async function refresh() {
  try {
    let now;
    if (C.page === "crawl") {
      const [status, workers, hosts] = await Promise.all([get("/api/status"), get("/api/workers"),
        get("/api/hosts?sort=queued&limit=" + C.hosts)]);
      figures(status);
      chart(status.chart.pages_per_second);
      fill("workers", workers.workers);
      fill("hosts", hosts.hosts);
      fill("errors", status.recent_errors);
      document.title = "Spyder crawl: " + status.state;
      now = status.now;
    } else if (C.page === "host") {
      const view = await get("/api/hosts/" + encodeURIComponent(C.host));
      figures(view);
      fill("queue", view.queue.in_flight.concat(view.queue.queued));
      fill("fetches", view.fetches);
      fill("host_errors", view.errors);
      now = Date.now() / 1000;
    } else return;
    document.getElementById("stale").hidden = true;
    document.body.dataset.updated = String(now);
  } catch (e) {
    document.getElementById("stale").hidden = false;
  }
}

function report(outcome, text) {
  const el = document.getElementById("result");
  el.textContent = text;
  el.dataset.outcome = outcome;
  el.dataset.seq = String(++orders);
}

function askToken(why) {
  const form = document.getElementById("tokenform");
  form.hidden = false;
  document.getElementById("token").focus();
  report("refused", why);
}

function summary(doc) {
  if (doc.host && typeof doc.host === "object") {
    const h = doc.host;
    return h.host + (h.blocked ? " blocked " + show("blocked", true, h) : " not blocked") +
      ", delay " + (show("delay", h.delay, h) || "computed") + ", " + h.queued + " queued";
  }
  if (Array.isArray(doc.added))
    return "added " + doc.added.length + " seed(s)" + (doc.not_added.length ?
      ", not added (already known or out of scope): " + doc.not_added.join(" ") : "");
  return doc.state ? "crawl " + doc.state : "";
}

async function order(path, body, label) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (C.token && !token) {
    pending = [path, body, label];
    askToken(label + ": not sent yet: the master needs its token (MASTER_HTTP_TOKEN) for orders; enter it above");
    return;
  }
  const headers = {"Content-Type": "application/json"};
  if (token) headers["X-Spyder-Token"] = token;
  let answer, doc;
  try {
    answer = await fetch(path, {method: "POST", headers: headers, body: JSON.stringify(body),
                                cache: "no-store", credentials: "same-origin"});
    doc = await answer.json().catch(() => ({}));
  } catch (e) {
    report("refused", label + ": no answer from the master (" + e.message + ")");
    return;
  }
  if (answer.ok) {
    report("accepted", label + ": accepted: " + summary(doc));
  } else {
    if (answer.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      document.getElementById("tokenform").hidden = false;
    }
    report("refused", label + ": refused (HTTP " + answer.status + "): " + (doc.error || answer.statusText));
  }
  refresh();
}

function hostOrder(action, host, control) {
  const path = "/api/hosts/" + encodeURIComponent(host) + "/";
  if (action === "block") return order(path + "block", {}, "block " + host);
  if (action === "unblock") return order(path + "unblock", {}, "unblock " + host);
  if (action === "auto") return order(path + "delay", {seconds: null}, "computed delay for " + host);
  const input = control.closest("tr, .hostctl").querySelector("input[data-delay-for]");
  const seconds = input.value.trim() === "" ? NaN : Number(input.value);
  if (!(seconds >= 0)) {
    report("refused", "delay for " + host + ": not sent: enter a number of seconds >= 0");
    return;
  }
  input.value = "";
  input.blur();
  return order(path + "delay", {seconds: seconds}, "delay " + seconds + " s for " + host);
}

document.addEventListener("click", event => {
  const control = event.target.closest("button[data-action]");
  if (!control) return;
  const action = control.dataset.action;
  if (action === "pause" || action === "resume") order("/api/" + action, {}, action);
  else if (action === "stop") {
    if (confirm("Stop the crawl? The master lets the URLs in flight finish, saves its state and exits."))
      order("/api/stop", {}, "stop");
    else report("cancelled", "stop: cancelled");
  } else hostOrder(action, control.dataset.host, control);
});

document.addEventListener("submit", event => {
  event.preventDefault();
  if (event.target.id === "tokenform") {
    const value = document.getElementById("token").value.trim();
    if (!value) return;
    sessionStorage.setItem(TOKEN_KEY, value);
    document.getElementById("token").value = "";
    event.target.hidden = true;
    const again = pending;
    pending = null;
    if (again) order(...again);
    else report("accepted", "token kept for this tab");
  } else if (event.target.id === "seedform") {
    const box = document.getElementById("seeds");
    const urls = box.value.split(/\s+/).filter(u => u);
    if (!urls.length) {
      report("refused", "add seeds: not sent: enter at least one URL");
      return;
    }
    box.value = "";
    order("/api/seeds", {urls: urls}, "add seeds");
  }
});

for (const el of document.querySelectorAll("[data-needs-js]")) el.hidden = false;
refresh();
setInterval(refresh, C.poll * 1000);
"""
