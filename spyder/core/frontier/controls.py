"""The operator's controls over a running frontier: seeds, pause, host orders, host views.

Part of the frontier (``spyder.core.frontier``), called through the frontier by the
console (``spyder.console``: the HTTP API and ``spyder ctl``) on the master's IOLoop.
``add_seeds`` adds URLs as any seed (all or none); ``pause`` / ``resume`` stop and
restart handing out URLs (``paused`` is part of the checkpoint's state); ``block_host``
/ ``unblock_host`` / ``set_host_delay`` give per-host orders (``hostcontrols``);
``host`` / ``hosts`` describe hosts from the per-host counters (``hoststats``) and the
active queues; ``host_queue`` lists a host's next URLs and those in flight (the
console's host page).  Every order is committed with the next checkpoint, never ahead of the
sinks' output, so it holds after a restart.
"""
import logging

from spyder.core.frontier.hostcontrols import FOREVER
from spyder.core.urls import check_seed, host_key

log = logging.getLogger("spyder.frontier")


class OperatorControls:
    """The operator's controls (see the module docstring).

    ``add_seed(url)``: the frontier's way to add one seed (True if new or revived);
    ``paused``: the state the last run left; ``clock``: the UTC epoch source; the other
    arguments are the frontier parts the orders act on or describe.
    """

    def __init__(self, add_seed, paused, clock, store, controls, host_stats, queues, robots,
                 in_flight, checkpoints):
        self._add_seed = add_seed
        self._paused = bool(paused)
        self._now = clock
        self._store = store
        self._controls = controls
        self._host_stats = host_stats
        self._queues = queues
        self._robots = robots
        self._in_flight = in_flight
        self._checkpoints = checkpoints

    def add_seeds(self, urls):
        """Add seeds from the operator: all of them or, if one is not a crawlable URL,
        none (``ValueError`` names it).  Returns the URLs that were new (or revived)."""
        for url in urls:
            check_seed(url)
        return [url for url in urls if self._add_seed(url)]

    @property
    def paused(self):
        """True while the frontier hands out nothing (``pause()``), also after a restart."""
        return self._paused

    def set_paused(self, paused):
        """Stop (True) or restart (False) handing out URLs; those in flight still finish."""
        if paused != self._paused:
            self._paused = paused
            self._order_given()
            log.info("frontier::%s", "paused" if paused else "resumed")

    def _order_given(self):
        """An operator's order changed the state: it is committed with the next checkpoint
        (never ahead of the sinks' output, which keeps them exactly-once)."""
        self._checkpoints.note()
        self._checkpoints.maybe_commit(self._now())

    def block_host(self, host, until=None):
        """Hand out no URL of ``host`` (a host key: ``name[:port]``) until ``until`` (UTC
        epoch; ``None``: until ``unblock_host``); its URLs stay queued.  ``KeyError`` for
        a host the crawl does not know."""
        self._known_host(host)
        self._controls.block(host, FOREVER if until is None else float(until))
        self._order_given()
        log.info("frontier::host %s blocked%s", host,
                 "" if until is None else " until %.0f" % until)

    def unblock_host(self, host):
        """Lift a block; the host's URLs are due again at once."""
        stats = self._known_host(host)
        self._controls.unblock(host)
        queue_id = stats["queue"]
        q = self._queues.get(queue_id)
        if q is not None:
            q.lift_hold()
            self._queues.schedule(q, self._now())
        elif queue_id is not None:  # on hold: due when its first URL is, hold forgotten
            head = self._store.queue_head(queue_id, 1)
            self._store.put_queue(queue_id, head[0].next_date if head else None, None)
        self._order_given()
        log.info("frontier::host %s unblocked", host)

    def set_host_delay(self, host, seconds):
        """Wait ``seconds`` after each fetch of ``host`` instead of the computed politeness
        delay (robots.txt Crawl-delay and Retry-After still lengthen it); ``None`` goes
        back to the computed delay.  Applies from the host's next fetch on."""
        self._known_host(host)
        if seconds is not None and not (0 <= seconds < FOREVER):
            raise ValueError("a delay is a number of seconds >= 0, got %r" % (seconds,))
        self._controls.set_delay(host, seconds)
        self._order_given()
        log.info("frontier::host %s delay %s", host,
                 "computed again" if seconds is None else "%s s" % seconds)

    def host(self, host):
        """Everything known about ``host`` (see ``docs/console.md``); ``KeyError`` if unknown."""
        return self._describe_host(self._known_host(host), self._now())

    def host_queue(self, host, limit=20):
        """``{"in_flight": [...], "queued": [...]}``: ``host``'s URLs in flight and its next
        ``limit`` queued ones, due first (each ``{"url", "due", "attempt", "depth"}``;
        ``due`` is ``None`` in flight).  With a shared politeness queue (IP-based
        assignment) other hosts' URLs are skipped, so fewer than ``limit`` may show.
        ``KeyError`` if the crawl does not know ``host``."""
        stats = self._known_host(host)

        def entry(row, due):
            return {"url": row.url, "due": due, "attempt": row.attempt, "depth": row.depth}

        flying = [entry(row, None) for row in self._in_flight.pages_of(host)][:limit]
        queued = []
        if stats["queue"] is not None:
            rows = self._store.queue_head(stats["queue"], 4 * limit + len(flying))
            queued = [entry(row, row.next_date) for row in rows
                      if row.is_open and row.url not in self._in_flight
                      and host_key(row.url) == host]
        return {"in_flight": flying, "queued": queued[:limit]}

    def hosts(self, sort="queued", limit=20):
        """The ``limit`` hosts with the largest ``sort`` (``queued``, ``fetched``,
        ``errors``, ``in_flight``; ``host``: by name); ``ValueError`` for another sort."""
        now = self._now()
        if sort == "in_flight":
            rows = [self._host_stats.get(host)
                    for host, _ in self._in_flight.busiest_hosts(limit)]
        else:
            rows = self._host_stats.top(sort, limit)
        return [self._describe_host(row, now) for row in rows if row is not None]

    def _known_host(self, host):
        stats = self._host_stats.get(host) if isinstance(host, str) else None
        if stats is None:
            raise KeyError("the crawl knows no host %r (write it as a URL's host[:port])"
                           % (host,))
        return stats

    def _describe_host(self, stats, now):
        host = stats["host"]
        q = self._queues.get(stats["queue"])
        in_flight = sum(1 for url in q.flying if host_key(url) == host) if q is not None else 0
        until = self._controls.blocked_until(host, now)
        return {
            "host": host, "queued": max(0, stats["queued"] - in_flight), "in_flight": in_flight,
            "fetched": stats["fetched"], "errors": stats["errors"], "bytes": stats["bytes"],
            "last_status": stats["last_status"], "last_time": stats["last_time"],
            "active": q is not None,
            "next_allowed": q.next_allowed if q is not None and q.next_allowed > now else None,
            "delay": q.delay if q is not None else None,
            "delay_override": self._controls.delay(host),
            "blocked": until is not None,
            "blocked_until": until if until is not None and until < FOREVER else None,
            "robots": self._robots.describe(self._origins(host), now),
        }

    @staticmethod
    def _origins(host):
        return ["%s://%s" % (scheme, host) for scheme in ("http", "https")]
