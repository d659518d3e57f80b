"""Headless Chromium for the browser tests, driven over the Chrome DevTools Protocol.

No driver to download: Debian's ``chromium`` is started with ``--remote-debugging-port=0``
and a fresh profile, the port is read from the profile's ``DevToolsActivePort``, and the
protocol is spoken over tornado's websocket client on a private asyncio loop, so the
test calls it synchronously::

    with Browser(tmp_path) as browser:
        page = browser.open("http://127.0.0.1:8480/")
        page.click('button[data-action="pause"]')
        page.wait('document.querySelector("#result").textContent')

Clicks and typing are real input events (``Input.dispatchMouseEvent`` at the element's
centre, ``Input.insertText``), so a hidden or covered control cannot be clicked.
JavaScript dialogs (``confirm``) are answered with ``Browser.dialog_answer`` (``True``:
OK, ``False``: Cancel) and recorded in ``Browser.dialogs``.  Chromium may resolve no
host name but 127.0.0.1 and localhost: the tests send no traffic elsewhere.
"""
import asyncio
import json
import os
import shutil
import subprocess
import time

from tornado.websocket import websocket_connect

#: Debian's Chromium, or None (the browser tests are skipped).
CHROMIUM = next((path for path in ("/usr/bin/chromium", "/usr/bin/chromium-browser")
                 if os.access(path, os.X_OK)), None)
SKIP_REASON = "no Chromium installed (Debian: apt-get install chromium); .ci/run installs it"


class CdpError(Exception):
    """Chromium refused a DevTools command, or the page's script threw."""


class Browser:
    """One headless Chromium with a fresh profile under ``directory``."""

    def __init__(self, directory, timeout=30.0):
        self.timeout = timeout
        self.dialog_answer = None     # None: leave a dialog open
        self.dialogs = []             # the params of every Page.javascriptDialogOpening
        self._id = 0
        self._profile = str(directory / ("chromium-%d" % time.monotonic_ns()))
        os.makedirs(self._profile)
        self._log = open(os.path.join(self._profile, "chromium.log"), "w")
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--disable-extensions",
             "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
             "--window-size=1280,1000", "--user-data-dir=%s" % self._profile, "about:blank"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log)
        self._loop = asyncio.new_event_loop()
        try:
            port, path = self._devtools_address()
            self._ws = self._run(self._connect("ws://127.0.0.1:%d%s" % (port, path)))
        except BaseException:
            self.close()
            raise

    @staticmethod
    async def _connect(url):
        return await websocket_connect(url, max_message_size=256 * 1024 * 1024)

    def _devtools_address(self):
        active = os.path.join(self._profile, "DevToolsActivePort")
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise CdpError("Chromium exited (%s) before listening: see %s"
                               % (self.proc.returncode, self._log.name))
            try:
                with open(active) as f:
                    lines = f.read().split("\n")
                if len(lines) >= 2 and lines[0].isdigit() and lines[1]:
                    return int(lines[0]), lines[1]
            except FileNotFoundError:
                pass
            time.sleep(0.05)
        raise CdpError("Chromium wrote no DevToolsActivePort within %.0f s" % self.timeout)

    def _run(self, awaitable, timeout=None):
        return self._loop.run_until_complete(asyncio.wait_for(awaitable, timeout or self.timeout))

    def send(self, method, params=None, session=None, timeout=None):
        """The result of one DevTools command (``CdpError`` if it failed)."""
        self._id += 1
        message = {"id": self._id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        try:
            return self._run(self._call(message), timeout)
        except asyncio.TimeoutError:
            raise CdpError("Chromium did not answer %s within %.0f s"
                           % (method, timeout or self.timeout)) from None

    async def _call(self, message):
        await self._ws.write_message(json.dumps(message))
        while True:
            raw = await self._ws.read_message()
            if raw is None:
                raise CdpError("Chromium closed the DevTools connection")
            answer = json.loads(raw)
            if answer.get("id") == message["id"]:
                if "error" in answer:
                    raise CdpError("%s: %s" % (message["method"], answer["error"]))
                return answer.get("result", {})
            if answer.get("method") == "Page.javascriptDialogOpening":
                await self._dialog(answer)

    async def _dialog(self, event):
        self.dialogs.append(event["params"])
        if self.dialog_answer is not None:
            self._id += 1
            await self._ws.write_message(json.dumps({
                "id": self._id, "method": "Page.handleJavaScriptDialog",
                "params": {"accept": bool(self.dialog_answer)},
                "sessionId": event.get("sessionId")}))

    def open(self, url, script=True):
        """A new tab on ``url``, loaded (``script=False``: JavaScript off)."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target,
                                                      "flatten": True})["sessionId"]
        page = Page(self, session)
        for method in ("Page.enable", "Runtime.enable"):
            self.send(method, session=session)
        if not script:
            self.send("Emulation.setScriptExecutionDisabled", {"value": True}, session)
        page.goto(url)
        return page

    def close(self):
        try:
            if getattr(self, "_ws", None) is not None:
                self._ws.close()
        finally:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(10)
            self._loop.close()
            self._log.close()
            shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Page:
    """One tab: evaluate script, wait on a condition, click and type like a user."""

    def __init__(self, browser, session):
        self.browser = browser
        self.session = session

    def send(self, method, params=None, timeout=None):
        return self.browser.send(method, params, self.session, timeout)

    def goto(self, url):
        """Navigate and wait for the load event (``document.readyState``)."""
        answer = self.send("Page.navigate", {"url": url})
        if answer.get("errorText"):
            raise CdpError("cannot load %s: %s" % (url, answer["errorText"]))
        self.wait('document.readyState === "complete" && location.href === %s'
                  % json.dumps(url), message="%s loaded" % url)

    def evaluate(self, expression):
        """The value of a JavaScript expression (promises awaited)."""
        answer = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        if "exceptionDetails" in answer:
            details = answer["exceptionDetails"]
            raise CdpError("%s threw: %s" % (expression, details.get("exception", {}).get(
                "description", details.get("text"))))
        return answer["result"].get("value")

    def wait(self, expression, timeout=30.0, message=None):
        """Evaluate ``expression`` until it is truthy (returned); ``AssertionError`` at the
        deadline."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() >= deadline:
                raise AssertionError("timed out after %.0f s waiting for %s (last value %r)"
                                     % (timeout, message or expression, value))
            time.sleep(0.05)

    def click(self, selector):
        """A real mouse click at the centre of the element ``selector`` names, which must
        be on the page and shown."""
        centre = self.evaluate("""(() => {
            const el = document.querySelector(%s);
            if (!el) return "none";
            el.scrollIntoView({block: "center"});
            const r = el.getBoundingClientRect();
            if (!r.width || !r.height) return "hidden";
            const x = r.x + r.width / 2, y = r.y + r.height / 2;
            const top = document.elementFromPoint(x, y);
            return top === el || el.contains(top) ? [x, y] : "covered";
        })()""" % json.dumps(selector))
        if not isinstance(centre, list):
            raise AssertionError("cannot click %s: %s" % (selector, {
                "none": "no such element", "hidden": "it is not shown",
                "covered": "another element covers it"}[centre]))
        x, y = centre
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y,
                                                   "button": "left", "clickCount": 1})

    def type(self, selector, text):
        """Click into ``selector`` and type ``text``."""
        self.click(selector)
        self.send("Input.insertText", {"text": text})
