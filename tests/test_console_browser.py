"""The dashboard steering a real crawl in headless Chromium, and what it must not allow.

A ``spyder master`` and ``spyder worker`` subprocesses crawl the generated demo site on
127.0.0.1; Chromium (``cdp.Browser``: the DevTools protocol, no driver download) clicks
the page's controls like an operator.  What the crawl did is judged from the web
server's own request log (``DemoServer.requests``), never from the page alone.
"""
import json
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest

from cdp import CHROMIUM, SKIP_REASON, Browser
from conftest import wait_until
from test_console import TOKEN, _requests, crawl  # noqa: F401 (crawl: the fixture)

pytestmark = [pytest.mark.timeout(240), pytest.mark.skipif(CHROMIUM is None, reason=SKIP_REASON)]

_RESULT = """(() => {
    const r = document.getElementById("result");
    return +r.dataset.seq > %d && [r.dataset.outcome, r.textContent];
})()"""


def _seq(page):
    return int(page.evaluate('document.getElementById("result").dataset.seq'))


def _order(page, selector, action=None):
    """Click ``selector`` (or run ``action``) and return the page's report of the order's
    answer: ``[outcome, text]``."""
    before = _seq(page)
    if action is None:
        page.click(selector)
    else:
        action()
    return page.wait(_RESULT % before, message="the page's report after %s" % selector)


def _in_flight_at(server, host):
    """Requests to ``host`` the site received and has not answered yet."""
    return [span for span in list(server.spans) if span[0] == host and span[3] is None]


def _state_shown(page):
    return page.evaluate('document.querySelector(\'[data-key="state"]\').textContent')


def _host_row_button(action, host):
    return 'table[data-source="hosts"] button[data-action="%s"][data-host="%s"]' % (action, host)


def test_the_dashboard_pauses_resumes_blocks_adds_seeds_and_stops_a_crawl(
        crawl, demo_site, tmp_path):
    server = demo_site(pages=400, hosts=2, latency=0.05)
    other = demo_site(pages=5, hosts=1, seed=2)          # nothing links to it
    first, second = server.netlocs
    c = crawl(server.seeds).start_master().start_workers(1)
    wait_until(lambda: len(_requests(server)) >= 5, timeout=60, message="the crawl under way")

    with Browser(tmp_path) as browser:
        page = browser.open(c.url)
        page.wait("document.body.dataset.updated", message="the page's first refresh")

        # pause: the page asks for the token once, then sends the order
        outcome, text = _order(page, 'button[data-action="pause"]')
        assert outcome == "refused" and "token" in text
        assert page.evaluate('!document.getElementById("tokenform").hidden')
        assert c.status()["state"] == "running", "an order went out without the token"
        page.type("#token", TOKEN)
        outcome, text = _order(page, '#tokenform button[type="submit"]')
        assert (outcome, text) == ("accepted", "pause: accepted: crawl paused")
        assert page.evaluate('sessionStorage.getItem("spyder-console-token")') == TOKEN
        assert page.evaluate("document.cookie") == ""
        assert TOKEN not in page.evaluate("location.href + document.documentElement.outerHTML")
        page.wait('document.querySelector(\'[data-key="state"]\').textContent === "paused"',
                  message="the page showing the crawl paused")
        # URLs already in flight finish; from then on the site serves nothing
        wait_until(lambda: c.status()["in_flight"] == 0 and server.pending == 0, timeout=30,
                   message="the in-flight requests answered")
        served = len(_requests(server))
        start = c.status()["uptime"]
        wait_until(lambda: c.status()["uptime"] >= start + 2.0, timeout=30,
                   message="2 s of the master's uptime")
        assert c.status()["state"] == "paused" and c.status()["queued"] > 0
        assert len(_requests(server)) == served, "the site served requests while paused"

        outcome, text = _order(page, 'button[data-action="resume"]')
        assert (outcome, text) == ("accepted", "resume: accepted: crawl running")
        wait_until(lambda: len(_requests(server)) > served + 3, timeout=30,
                   message="requests again after resume")
        page.wait('document.querySelector(\'[data-key="state"]\').textContent === "running"',
                  message="the page showing the crawl running")

        # block the second host from the hosts table: nothing for it while the first is served
        page.wait("!!document.querySelector(%s)" % json.dumps(_host_row_button("block", second)),
                  message="the second host's row with its Block button")
        outcome, text = _order(page, _host_row_button("block", second))
        assert outcome == "accepted" and text.startswith(
            "block %s: accepted: %s blocked until unblocked" % (second, second))
        page.wait("!!document.querySelector(%s)" % json.dumps(_host_row_button("unblock", second)),
                  message="the row offering Unblock")
        wait_until(lambda: not _in_flight_at(server, second)
                   and c.client.get("api/hosts/%s" % second)["host"]["in_flight"] == 0,
                   timeout=30, message="the blocked host's requests answered")
        blocked_at = len(_requests(server, second))
        first_at = len(_requests(server, first))
        wait_until(lambda: len(_requests(server, first)) >= first_at + 10, timeout=60,
                   message="the first host crawled on")
        assert len(_requests(server, second)) == blocked_at, "a blocked host was served"

        outcome, text = _order(page, _host_row_button("unblock", second))
        assert outcome == "accepted" and "%s not blocked" % second in text
        wait_until(lambda: len(_requests(server, second)) > blocked_at, timeout=30,
                   message="the unblocked host served again")

        # the host's own page: its queue, recent fetches, and its delay
        page.click('table[data-source="hosts"] a[href="/hosts/%s"]' % second)
        page.wait('location.pathname === "/hosts/%s" && document.readyState === "complete"'
                  % second, message="the host's page")
        page.wait('document.querySelectorAll(\'table[data-source="fetches"] tbody tr\').length',
                  message="the host's recent fetches")
        assert page.evaluate('document.querySelector(".hostname").textContent') == second
        assert page.evaluate('[...document.querySelectorAll(\'table[data-source="queue"] '
                             'tbody td:nth-child(2)\')].every(td => td.textContent.includes(%s))'
                             % json.dumps("//" + second + "/"))
        page.type("input[data-delay-for]", "0.5")
        outcome, text = _order(page, '.hostctl button[data-action="delay"]')
        assert outcome == "accepted" and "delay 0.5 s (set)" in text, text
        assert c.client.get("api/hosts/%s" % second)["host"]["delay_override"] == 0.5
        page.wait('document.querySelector(\'[data-key="host.delay"]\').textContent === '
                  '"0.5 s (set)"', message="the host page showing the delay")
        outcome, text = _order(page, '.hostctl button[data-action="auto"]')
        assert outcome == "accepted"
        assert c.client.get("api/hosts/%s" % second)["host"]["delay_override"] is None

        # add a seed: the token is still known in this tab
        page.goto(c.url)
        page.type("#seeds", other.seeds[0])
        outcome, text = _order(page, '#seedform button[type="submit"]')
        assert (outcome, text) == ("accepted", "add seeds: accepted: added 1 seed(s)")
        seed = urllib.parse.urlsplit(other.seeds[0])
        wait_until(lambda: any(r.path == seed.path for r in _requests(other, seed.netloc)),
                   timeout=60, message="the added seed crawled")

        # stop: cancelled at the confirmation, then confirmed
        browser.dialog_answer = False
        outcome, text = _order(page, 'button[data-action="stop"]')
        assert (outcome, text) == ("cancelled", "stop: cancelled")
        assert browser.dialogs[-1]["type"] == "confirm"
        assert "Stop the crawl?" in browser.dialogs[-1]["message"]
        assert c.status()["state"] in ("running", "done")
        browser.dialog_answer = True
        outcome, text = _order(page, 'button[data-action="stop"]')
        assert (outcome, text) == ("accepted", "stop: accepted: crawl draining")
        assert len(browser.dialogs) == 2
        assert c.master.wait(30) == 0, c.log()
        page.wait('!document.getElementById("stale").hidden',
                  message="the page noticing the master is gone")


def _post(url, body=b"{}", **headers):
    """The HTTP status of a POST to ``url`` with ``headers``."""
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_no_order_without_the_token_or_from_another_origin(crawl, demo_site, tmp_path):
    server = demo_site(pages=10, hosts=1)
    host = server.netlocs[0]
    c = crawl(server.seeds).start_master()          # no worker: nothing changes by itself
    before = c.status()

    # what the master serves: the pages' own script only, never the token
    with urllib.request.urlopen(c.url, timeout=10) as answer:
        csp = answer.headers["Content-Security-Policy"]
        html = answer.read().decode()
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert "unsafe-inline" not in csp
    assert re.findall(r"<script\b[^>]*>", html) == ['<script src="/static/console.js" defer>']
    assert not re.search(r"\son[a-z]+\s*=", html), "an inline event handler"
    assert TOKEN not in html
    for path in ("static/console.js", "hosts/%s" % host, "api/status"):
        with urllib.request.urlopen(c.url + path, timeout=10) as answer:
            assert answer.headers["Content-Security-Policy"] == csp
            assert answer.headers["X-Content-Type-Options"] == "nosniff"

    # orders from another origin, with the token and JSON even: refused by the master
    pause = c.url + "api/pause"
    json_type = {"Content-Type": "application/json", "X-Spyder-Token": TOKEN}
    assert _post(pause, Origin="http://evil.example", **json_type) == 403
    assert _post(pause, Origin="null", **json_type) == 403
    assert _post(pause, **{"Sec-Fetch-Site": "cross-site"}, **json_type) == 403
    assert _post(pause, Host="evil.example", **json_type) == 403
    assert _post(pause, **{"Content-Type": "application/x-www-form-urlencoded",
                           "X-Spyder-Token": TOKEN}) == 415
    assert _post(pause, **{"Content-Type": "text/plain", "X-Spyder-Token": TOKEN}) == 415

    with Browser(tmp_path) as browser:
        # reading works without JavaScript; the controls are not offered
        page = browser.open(c.url, script=False)
        assert page.evaluate('document.querySelector(\'[data-key="state"]\').textContent') \
            == "running"
        assert page.evaluate('document.querySelector(\'table[data-source="hosts"] a\')'
                             '.textContent') == host
        assert page.evaluate('document.querySelector(".controls").hidden')
        page.goto(c.url + "hosts/" + host)
        assert page.evaluate('document.querySelector(".hostname").textContent') == host
        assert page.evaluate('document.querySelectorAll(\'table[data-source="queue"] tbody tr\')'
                             '.length') >= 1

        # a page without the token: asks for it, sends nothing; a wrong one is refused
        page = browser.open(c.url)
        page.wait("document.body.dataset.updated", message="the page's first refresh")
        for action in ("pause", "stop"):
            browser.dialog_answer = True
            outcome, text = _order(page, 'button[data-action="%s"]' % action)
            assert outcome == "refused" and "not sent yet" in text and "token" in text
        outcome, text = _order(page, _host_row_button("block", host))
        assert outcome == "refused" and "not sent yet" in text
        page.type("#token", "not-the-token")
        outcome, text = _order(page, '#tokenform button[type="submit"]')
        assert outcome == "refused" and "HTTP 401" in text and "token" in text
        assert page.evaluate('sessionStorage.getItem("spyder-console-token")') is None

        # a page of another origin (the crawled site) cannot order, token or not
        page.goto(server.seeds[0])
        outcomes = page.evaluate("""(async () => {
            const url = %s, token = %s, out = {};
            try {
                await fetch(url, {method: "POST", body: "{}", headers:
                    {"Content-Type": "application/json", "X-Spyder-Token": token}});
                out.cors = "sent";
            } catch (e) { out.cors = "blocked"; }
            try {   // sent (a "simple" request), refused by the master, unreadable (CORP)
                await fetch(url, {method: "POST", mode: "no-cors", body: "{}",
                                  headers: {"Content-Type": "text/plain"}});
                out.blind = "read";
            } catch (e) { out.blind = "blocked"; }
            return out;
        })()""" % (json.dumps(pause), json.dumps(TOKEN)))
        assert outcomes == {"cors": "blocked", "blind": "blocked"}
        # a cross-site form (the classic CSRF) lands on the master's refusal
        page.evaluate("""(() => {
            const form = document.createElement("form");
            form.method = "POST"; form.action = %s; form.enctype = "text/plain";
            const field = document.createElement("input");
            field.name = '{"a":"'; field.value = '"}';
            form.append(field); document.body.append(form); form.submit();
        })()""" % json.dumps(pause))
        page.wait('location.href === %s && document.readyState === "complete"'
                  % json.dumps(pause), message="the form's answer")
        assert json.loads(page.evaluate("document.body.innerText"))["status"] == 403

    after = c.status()
    assert after["state"] == "running" and after["known"] == before["known"]
    assert c.client.get("api/hosts/%s" % host)["host"]["blocked"] is False
    assert c.master.poll() is None
    c.stop_master()


def test_on_loopback_without_a_token_the_controls_work_as_the_api_does(crawl, demo_site, tmp_path):
    server = demo_site(pages=10, hosts=1)
    c = crawl(server.seeds, MASTER_HTTP_TOKEN=None)
    c.start_master()
    c.client = type(c.client)(c.url)               # no token to send
    with Browser(tmp_path) as browser:
        page = browser.open(c.url)
        page.wait("document.body.dataset.updated", message="the page's first refresh")
        outcome, text = _order(page, 'button[data-action="pause"]')
        assert (outcome, text) == ("accepted", "pause: accepted: crawl paused")
        assert page.evaluate('document.getElementById("tokenform").hidden')
        assert c.status()["state"] == "paused"
        outcome, text = _order(page, 'button[data-action="resume"]')
        assert (outcome, text) == ("accepted", "resume: accepted: crawl running")
        # a refusal shows why
        page.evaluate('document.getElementById("seeds").value = "ftp://nope.test/"')
        outcome, text = _order(page, '#seedform button[type="submit"]')
        assert outcome == "refused" and text.startswith("add seeds: refused (HTTP 400): ")
        assert "ftp://nope.test/" in text
    assert c.status()["state"] == "running"
    c.stop_master()
