"""The master's console: a live dashboard, a JSON API, Prometheus metrics and controls.

``Console(settings, master, frontier)`` (``server``) serves HTTP with tornado on the master's own
IOLoop at ``MASTER_HTTP_ADDRESS`` (``host:port``; port 0 = any free port; ``""`` /
``None`` = off).  ``start()`` binds and returns the console's URL, which the master
logs, announces in its ``READY`` status and puts in its status broadcast
(``console``), so ``spyder crawl`` and tests learn the real port.  If the default
loopback port is taken (another crawl on this machine) the console takes a free one
instead, with a warning; any other address that cannot be bound is a start-up error.

Read-only: ``GET /`` (the dashboard, ``dashboard``), ``/hosts/<host>`` (a host's
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
from spyder.console.server import (READY_STATUS, RECENT_HOSTS, RECENT_PER_HOST, Console,
                                   is_loopback, parse_address, url_in_status, url_of)

__all__ = ["READY_STATUS", "RECENT_HOSTS", "RECENT_PER_HOST", "Console", "is_loopback",
           "parse_address", "url_in_status", "url_of"]
