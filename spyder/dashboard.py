"""The console's dashboard page: one self-contained HTML document (inline CSS and JS).

``render(status, workers, hosts)`` draws the whole page on the server, so the numbers
show without JavaScript; the page's script then polls the JSON API (``/api/status``,
``/api/workers``, ``/api/hosts``) every ``POLL_SECONDS`` and redraws the same
elements.  Both renderers are driven by the same markup: a figure is an element with
``data-key`` (a path into ``/api/status``) and ``data-fmt``; a table's ``<th>`` name
the ``data-col`` and ``data-fmt`` of each column, so the script needs no second copy
of the layout.  No CDN, no build step: it works offline.
"""
import html
import json
import time

#: Seconds between two refreshes of the page's figures.
POLL_SECONDS = 2.0
#: Rows of the hosts table.
HOSTS = 25

FIGURES = (("State", "state", "text"), ("Pages", "pages", "int"),
            ("Pages/s", "pages_per_second", "rate"), ("Queued", "queued", "int"),
            ("In flight", "in_flight", "int"), ("Errors", "errors", "int"),
            ("Hosts active", "hosts_active", "int"), ("Workers", "workers", "int"),
            ("Elapsed", "uptime", "duration"), ("Downloaded", "bytes", "bytes"))
_OUTCOMES = (("2xx", "status_classes.2xx"), ("3xx", "status_classes.3xx"),
             ("4xx", "status_classes.4xx"), ("5xx", "status_classes.5xx"),
             ("network (599)", "status_classes.network"), ("other", "status_classes.other"),
             ("retries", "master.frontier.retries"), ("gave up", "master.frontier.gave_up"),
             ("robots.txt fetches", "robots"),
             ("robots.txt disallowed", "master.frontier.robots_disallowed"))
TABLES = {
    "workers": (("identity", "Identity", "text"), ("host", "Host", "text"),
                ("slots", "Slots", "int"), ("free", "Free", "int"),
                ("claimed", "Claimed", "int"), ("returned_unclaimed", "Returned unclaimed", "int"),
                ("last_heartbeat", "Last heard", "ago"), ("pages", "Pages", "int"),
                ("errors", "Errors", "int")),
    "hosts": (("host", "Host", "text"), ("queued", "Queued", "int"),
              ("in_flight", "In flight", "int"), ("fetched", "Fetched", "int"),
              ("errors", "Errors", "int"), ("delay", "Delay", "delay"),
              ("robots", "robots.txt", "robots"), ("blocked", "Blocked", "blocked")),
    "errors": (("time", "Time (UTC)", "time"), ("status", "Status", "text"),
               ("url", "URL", "text"), ("error", "Error", "text")),
}
_CHART_W, _CHART_H = 640, 140


def format_value(fmt, value, row=None):
    """The text of ``value`` in format ``fmt`` (``row``: the table row it is in); the
    page's script does the same, and ``spyder status`` prints with it."""
    row = row or {}
    if fmt == "blocked":
        if not row.get("blocked"):
            return ""
        return "until " + format_value("time", row.get("blocked_until")) if row.get(
            "blocked_until") else "until unblocked"
    if fmt == "delay":
        value = row.get("delay_override") if row.get("delay_override") is not None else value
        return "" if value is None else "%.1f s%s" % (
            value, " (set)" if row.get("delay_override") is not None else "")
    if fmt == "robots":
        return (value or {}).get("state", "")
    if value is None:
        return ""
    if fmt == "int":
        return "{:,}".format(int(value))
    if fmt == "rate":
        return "%.1f" % value
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
    if fmt == "time":
        return time.strftime("%H:%M:%S", time.gmtime(value))
    return str(value)


def lookup(document, path):
    """The value at a dotted ``path`` in a JSON document, or ``None``."""
    for part in path.split("."):
        document = document.get(part) if isinstance(document, dict) else None
    return document


def _figure(status, label, key, fmt, tag="div"):
    text = format_value(fmt, lookup(status, key))
    return ('<%s class="fig"><span>%s</span><b data-key="%s" data-fmt="%s">%s</b></%s>'
            % (tag, html.escape(label), key, fmt, html.escape(text), tag))


def _table(name, rows):
    columns = TABLES[name]
    head = "".join('<th data-col="%s" data-fmt="%s">%s</th>' % (col, fmt, html.escape(label))
                   for col, label, fmt in columns)
    body = "".join("<tr>%s</tr>" % "".join(
        "<td>%s</td>" % html.escape(format_value(fmt, row.get(col), row))
        for col, _, fmt in columns) for row in rows)
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


def render(status, workers, hosts):
    """The dashboard as one HTML document (see the module docstring)."""
    points, top = _chart_points(status["chart"]["pages_per_second"])
    figures = "".join(_figure(status, *f) for f in FIGURES)
    outcomes = "".join(_figure(status, label, key, "int", "li") for label, key in _OUTCOMES)
    return _PAGE % {
        "title": html.escape("Spyder crawl: %s" % status["state"]),
        "figures": figures, "outcomes": outcomes, "points": points,
        "top": "%.1f" % top, "w": _CHART_W, "h": _CHART_H,
        "workers": _table("workers", workers), "hosts": _table("hosts", hosts),
        "errors": _table("errors", status["recent_errors"]),
        "config": html.escape(json.dumps({"poll": POLL_SECONDS, "hosts": HOSTS,
                                          "w": _CHART_W, "h": _CHART_H})),
    }


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>%(title)s</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
header{background:#1d2330;color:#fff;padding:10px 20px;display:flex;gap:16px;align-items:baseline}
header h1{font-size:18px;margin:0}header small{opacity:.7}
main{padding:14px 20px;display:grid;gap:14px;grid-template-columns:1fr 1fr}
section{background:#fff;border-radius:6px;padding:10px 14px;box-shadow:0 1px 2px #0002}
section.wide{grid-column:1/3}h2{font-size:14px;margin:0 0 8px;color:#546}
.figs{display:flex;flex-wrap:wrap;gap:10px}.fig{min-width:110px}
.fig span{display:block;font-size:12px;color:#667}.fig b{font-size:22px}
ul.outcomes{list-style:none;padding:0;margin:0;columns:2}ul.outcomes .fig b{font-size:16px}
ul.outcomes .fig{display:flex;justify-content:space-between;padding:2px 8px 2px 0}
ul.outcomes .fig span{display:inline;font-size:13px}
table{border-collapse:collapse;width:100%%;font-size:13px}
th,td{text-align:left;padding:3px 8px;border-bottom:1px solid #e4e6ea;white-space:nowrap}
td{font-variant-numeric:tabular-nums;max-width:480px;overflow:hidden;text-overflow:ellipsis}
svg{width:100%%;height:auto;background:#fafbfc}polyline{fill:none;stroke:#2a6fdb;stroke-width:2}
#stale{color:#c33;display:none}
</style></head>
<body data-config="%(config)s">
<header><h1>Spyder crawl</h1><small id="stale">connection lost: figures are stale</small></header>
<main>
<section class="wide"><div class="figs">%(figures)s</div></section>
<section><h2>Pages/s, last minutes (top <span id="top">%(top)s</span>)</h2>
<svg viewBox="0 0 %(w)s %(h)s" preserveAspectRatio="none"><polyline id="chart" points="%(points)s"/></svg>
</section>
<section><h2>Outcomes</h2><ul class="outcomes">%(outcomes)s</ul></section>
<section class="wide"><h2>Workers</h2>%(workers)s</section>
<section class="wide"><h2>Hosts (most queued)</h2>%(hosts)s</section>
<section class="wide"><h2>Latest errors</h2>%(errors)s</section>
</main>
<script>
"use strict";
const C = JSON.parse(document.body.dataset.config);
const F = {
  int: v => Math.round(v).toLocaleString("en-US"),
  rate: v => v.toFixed(1),
  bytes: v => { const u = ["B", "KiB", "MiB", "GiB"]; let i = 0;
    while (v >= 1024 && i < 3) { v /= 1024; i++; } return i ? v.toFixed(1) + " " + u[i] : v + " B"; },
  duration: v => { v = Math.floor(v); const p = n => String(n).padStart(2, "0");
    return Math.floor(v / 3600) + "h " + p(Math.floor(v / 60) %% 60) + "m " + p(v %% 60) + "s"; },
  ago: v => Math.max(0, Date.now() / 1000 - v).toFixed(0) + " s ago",
  time: v => new Date(v * 1000).toISOString().substring(11, 19),
  text: v => String(v),
};
function show(fmt, v, row) {
  row = row || {};
  if (fmt === "blocked") return !row.blocked ? "" :
    row.blocked_until ? "until " + F.time(row.blocked_until) : "until unblocked";
  if (fmt === "delay") { const o = row.delay_override; if (o !== null && o !== undefined) v = o;
    return v === null || v === undefined ? "" : v.toFixed(1) + " s" + (o !== null && o !== undefined ? " (set)" : ""); }
  if (fmt === "robots") return v ? v.state : "";
  return v === null || v === undefined ? "" : F[fmt](v);
}
function lookup(doc, path) {
  for (const part of path.split(".")) doc = doc && typeof doc === "object" ? doc[part] : undefined;
  return doc;
}
function fill(name, rows) {
  const table = document.querySelector('table[data-source="' + name + '"]');
  const cols = [...table.querySelectorAll("th")].map(th => [th.dataset.col, th.dataset.fmt]);
  const body = document.createElement("tbody");
  for (const row of rows) {
    const tr = body.insertRow();
    for (const [col, fmt] of cols) tr.insertCell().textContent = show(fmt, row[col], row);
  }
  table.tBodies[0].replaceWith(body);
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
  const answer = await fetch(path, {cache: "no-store"});
  if (!answer.ok) throw new Error(path + ": " + answer.status);
  return answer.json();
}
async function refresh() {
  try {
    const [status, workers, hosts] = await Promise.all([get("/api/status"), get("/api/workers"),
      get("/api/hosts?sort=queued&limit=" + C.hosts)]);
    for (const el of document.querySelectorAll("[data-key]"))
      el.textContent = show(el.dataset.fmt, lookup(status, el.dataset.key));
    chart(status.chart.pages_per_second);
    fill("workers", workers.workers);
    fill("hosts", hosts.hosts);
    fill("errors", status.recent_errors);
    document.getElementById("stale").style.display = "none";
    document.body.dataset.updated = String(status.now);
  } catch (e) {
    document.getElementById("stale").style.display = "inline";
  }
}
setInterval(refresh, C.poll * 1000);
</script>
</body></html>
"""
