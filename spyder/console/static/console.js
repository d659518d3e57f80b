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
