"""The console's Prometheus metrics (``/metrics``): results, fetch times, body sizes, gauges.

``Metrics(master)`` is told every result (``observe``, from the master's result
listeners) and counts it in plain numbers -- prometheus_client's ``Counter`` and
``Histogram`` cost ~15 us per result on the master's loop -- turned into metric families
only when ``/metrics`` is scraped (``exposition``); the gauges read one
``master.stats()`` per scrape.  ``status_class`` names a result's HTTP status class for
the dashboard.
"""
import bisect
import collections

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.utils import floatToGoString

__all__ = ["CONTENT_TYPE_LATEST", "Metrics", "STATUS_CLASSES", "status_class"]

_FETCH_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_SIZE_BUCKETS = tuple(1024 * 4 ** i for i in range(9))  # 1 KiB .. 64 MiB


class _Histogram:
    """Bucket counts as plain numbers, turned into a metric family only when scraped
    (prometheus_client's ``Histogram`` takes a lock and walks its buckets on every
    observation: the master observes two per result)."""

    def __init__(self, name, text, bounds):
        self._name, self._text, self._bounds = name, text, bounds
        self._counts = [0] * (len(bounds) + 1)    # the last one: above every bound
        self._sum = 0.0

    def observe(self, value):
        self._counts[bisect.bisect_left(self._bounds, value)] += 1
        self._sum += value

    def family(self):
        buckets, total = [], 0
        for bound, count in zip(self._bounds + (float("inf"),), self._counts):
            total += count
            buckets.append((floatToGoString(bound), total))
        return HistogramMetricFamily(self._name, self._text, buckets=buckets,
                                     sum_value=self._sum)


class Metrics:
    """The Prometheus figures, in the console's own ``CollectorRegistry``: results and the
    two histograms are counted per result in plain numbers (``collect``), the gauges
    read one ``master.stats()`` per scrape."""

    def __init__(self, master):
        self.registry = CollectorRegistry(auto_describe=True)
        self._results = collections.Counter()   # (outcome, status) -> results
        self._fetch = _Histogram("spyder_fetch_seconds", "Time a worker spent fetching a URL",
                                 _FETCH_BUCKETS)
        self._size = _Histogram("spyder_body_bytes", "Size of the bodies received",
                                _SIZE_BUCKETS)
        self.registry.register(self)
        self._stats = master.stats
        self._snapshot = None      # one master.stats() for all gauges of a scrape
        for name, text, value in (
                ("spyder_queued", "URLs waiting to be crawled",
                 lambda s: s["frontier"].get("queued", 0)),
                ("spyder_known", "URLs the crawl knows", lambda s: s["frontier"].get("known", 0)),
                ("spyder_in_flight", "URLs dispatched and not answered", lambda s: s["in_flight"]),
                ("spyder_workers", "Registered workers", lambda s: s["workers"]),
                ("spyder_slots", "Fetch slots of the registered workers", lambda s: s["slots"]),
                ("spyder_hosts_active", "Host queues being crawled",
                 lambda s: s["frontier"].get("hosts_active", 0)),
                ("spyder_paused", "1 while dispatch is paused",
                 lambda s: int(bool(s["frontier"].get("paused")))),
        ):
            Gauge(name, text, registry=self.registry).set_function(
                lambda value=value: value(self._snapshot or self._stats()))

    def collect(self):
        """The counted figures as metric families (prometheus_client's collector interface)."""
        results = CounterMetricFamily("spyder_results", "Results received, by outcome and HTTP "
                                      "status (outcome robots: the frontier's robots.txt "
                                      "requests)", labels=["outcome", "status"])
        for (outcome, status), count in sorted(self._results.items()):
            results.add_metric([outcome, status], count)
        return [results, self._fetch.family(), self._size.family()]

    def observe(self, curi, outcome):
        status = curi.status_code
        self._results[outcome, str(status) if isinstance(status, int) else "none"] += 1
        if isinstance(curi.req_time, (int, float)) and curi.req_time >= 0:
            self._fetch.observe(curi.req_time)
        self._size.observe(curi.content_length or 0)

    def exposition(self):
        self._snapshot = self._stats()
        try:
            return generate_latest(self.registry)
        finally:
            self._snapshot = None


STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx", "network", "other")


def status_class(status):
    if status == 599:
        return "network"
    if isinstance(status, int) and 200 <= status < 600:
        return "%dxx" % (status // 100)
    return "other"
