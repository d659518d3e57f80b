"""Several masters on one Redis Cluster frontier (``docs/cluster.md``), on a real cluster
(``conftest.redis_cluster``; skipped where redis-server is missing).

The frontier-level tests drive two or three frontiers -- one per master, each with its own
name, sinks and slots -- over one simulated web with one shared clock, the way their
masters would, and judge from the simulated server's request log: every URL fetched once
(beyond the dispatches of a master that died), at most one request per host at a time,
at least ``FRONTIER_MIN_DELAY`` between two requests to a host, every outcome told to
one master's sinks once.
"""
import queue
import uuid

import pytest

from spyder.core.frontier import MultipleHostFrontier
from spyder.core.crawluri import CrawlUri
from spyder.core.store.protocol import UriRow
from spyder.errors import StartupError

from test_frontier_support import Clock, RecordingSink, deliver, make_settings

pytestmark = pytest.mark.timeout(300)

MIN_DELAY = 1.0
LATENCY = 0.3


def site(hosts=4, pages=25):
    """``{url: links}``: each page links to the next two of its host and to one page of
    the next host."""
    out = {}
    for h in range(hosts):
        for p in range(pages):
            links = ["http://h%d.test/p%d" % (h, (p + k) % pages) for k in (1, 2)]
            links.append("http://h%d.test/p%d" % ((h + 1) % hosts, (p * 7) % pages))
            out["http://h%d.test/p%d" % (h, p)] = links
    return out


class Master:
    """One master's frontier and its dispatches in the simulation."""

    def __init__(self, name, settings, clock, slots=2):
        settings.FRONTIER_MASTER_NAME = name
        self.name = name
        self.frontier = MultipleHostFrontier(settings, clock=clock)
        self.sink = RecordingSink()
        self.frontier.add_sink(self.sink)
        self.slots = slots
        self.flying = []          # (finish time, curi, start time)
        self.alive = True


def cluster_settings(tmp_path, url, **overrides):
    settings = make_settings(tmp_path, FRONTIER_MIN_DELAY=MIN_DELAY,
                             FRONTIER_CRAWL_DELAY_FACTOR=0.0, FRONTIER_HOST_CONCURRENCY=1,
                             FRONTIER_CHECKPOINT_SECONDS=0.5, FRONTIER_QUEUE_BUDGET=5,
                             FRONTIER_QUEUE_LEASE=10.0, **overrides)
    settings.FRONTIER_STORE = url
    return settings


def simulate(masters, clock, pages, max_steps=200000, on_step=None, tolerate_errors=False):
    """Run the masters until every live one says the crawl is done; returns the request
    log ``[(start, finish, url, master)]``.  ``tolerate_errors``: a frontier call that
    raises is handled as the master does (a result that fails is recorded as a server
    error; a dispatch that fails is tried again later)."""
    log = []
    for step in range(max_steps):
        if on_step is not None:
            on_step(clock, log)
        live = [m for m in masters if m.alive]
        live = live[step % len(live):] + live[:step % len(live)]   # no master always first
        for m in live:
            try:
                m.frontier.checkpoint()
            except Exception:
                if not tolerate_errors:
                    raise
            while len(m.flying) < m.slots:
                try:
                    curi = m.frontier.get_next()
                except queue.Empty:
                    break
                except Exception:
                    if not tolerate_errors:
                        raise
                    break
                m.flying.append((clock.t + LATENCY, curi, clock.t))
        flying = [(finish, m, curi, start) for m in live for finish, curi, start in m.flying]
        if flying:
            finish, m, curi, start = min(flying, key=lambda item: item[0])
            dues = [d for d in (_call(x.frontier.next_due, tolerate_errors, None) for x in live)
                    if d is not None]
            if dues and min(dues) < finish and min(dues) > clock.t:
                clock.t = min(dues)
                continue
            clock.t = max(clock.t, finish)
            m.flying.remove((finish, curi, start))
            log.append((start, finish, curi.url, m.name))
            links = pages.get(curi.url)
            try:
                deliver(m.frontier, curi, 200 if links is not None else 404, links or ())
            except Exception:
                if not tolerate_errors:
                    raise
                try:
                    deliver(m.frontier, curi, 599)
                except Exception:
                    pass
            continue
        if all(_call(m.frontier.crawl_done, tolerate_errors, False) for m in live):
            return log
        dues = [d for d in (_call(m.frontier.next_due, tolerate_errors, None) for m in live)
                if d is not None]
        clock.t = max(clock.t + 0.01, min(dues)) if dues else clock.t + 0.5
    raise AssertionError("the masters did not finish in %d steps" % max_steps)


def _call(method, tolerate_errors, default):
    try:
        return method()
    except Exception:
        if not tolerate_errors:
            raise
        return default


def check_politeness(log):
    """At most one request per host at a time, and MIN_DELAY between two of them."""
    by_host = {}
    for start, finish, url, master in log:
        by_host.setdefault(url.split("/")[2], []).append((start, finish, url, master))
    for host, requests in by_host.items():
        requests.sort()
        for (s1, f1, u1, m1), (s2, f2, u2, m2) in zip(requests, requests[1:]):
            assert s2 >= f1 + MIN_DELAY - 1e-6, (
                "%s: %s (%s, %.2f-%.2f) then %s (%s, %.2f)" % (host, u1, m1, s1, f1, u2, m2, s2))


@pytest.fixture
def url(redis_cluster):
    return "%s/c-%s" % (redis_cluster.url, uuid.uuid4().hex[:10])


def two_masters(tmp_path, url, hosts=0):
    """A clock and masters a and b on one crawl, a given the seeds of ``hosts`` hosts."""
    clock = Clock()
    a = Master("a", cluster_settings(tmp_path / "a", url), clock)
    b = Master("b", cluster_settings(tmp_path / "b", url), clock)
    for h in range(hosts):
        a.frontier.add_uri(CrawlUri(url="http://h%d.test/p0" % h))
    return clock, a, b


def test_two_masters_share_the_crawl_politely_and_fetch_every_url_once(tmp_path, url):
    pages = site()
    clock, a, b = two_masters(tmp_path, url, hosts=4)
    log = simulate([a, b], clock, pages)
    urls = [entry[2] for entry in log]
    assert sorted(urls) == sorted(pages)                       # complete, each once
    assert {entry[3] for entry in log} == {"a", "b"}           # both masters crawled
    check_politeness(log)
    told = [call[1] for call in a.sink.calls + b.sink.calls]
    assert sorted(told) == sorted(pages)                       # every outcome once
    crawl = a.frontier.stats()["crawl"]
    assert crawl["known"] == len(pages) and crawl["open"] == 0
    for m in (a, b):
        m.frontier.close()


def test_a_masters_death_returns_its_queues_when_their_leases_end(tmp_path, url):
    pages = site()
    clock, a, b = two_masters(tmp_path, url, hosts=4)
    died = {}

    def kill_a(clock, log):
        if not died and len(log) >= len(pages) // 3:
            a.alive = False            # SIGKILL: no commit, no release, dispatches lost
            died["at"] = clock.t
            died["flying"] = [curi.url for _, curi, _ in a.flying]
            died["held"] = len(a.frontier._store._held)
            a.frontier._store._r.close()
            a.flying = []
    log = simulate([a, b], clock, pages, on_step=kill_a)
    assert died and died["held"] > 0
    urls = [entry[2] for entry in log]
    assert set(urls) == set(pages)                             # complete
    refetched = {u for u in urls if urls.count(u) > 1}
    after = [e for e in log if e[0] >= died["at"]]
    assert all(e[3] == "b" for e in after)
    # what a lost since its last commit is fetched again, nothing else
    assert len(refetched) <= len(a.sink.calls) + len(died["flying"])
    # b took a's queues only once their leases ended (10 s after a's last renewal)
    check_politeness([e for e in log if e[3] == "b"])


def test_a_restarted_master_resumes_its_own_state_and_frees_its_old_queues_at_once(
        tmp_path, url):
    pages = site(hosts=2, pages=10)
    clock = Clock()
    settings = cluster_settings(tmp_path / "a", url)
    a = Master("a", settings, clock)
    for h in range(2):
        a.frontier.add_uri(CrawlUri(url="http://h%d.test/p0" % h))
    for _ in range(2):            # one per host
        a.frontier.get_next()
    a.frontier.checkpoint()
    a.frontier._checkpoints.commit()
    held = set(a.frontier._store._held)
    assert held
    store = a.frontier._store
    store._r.delete(store._mine("alive"))     # dies (no close), and its liveness key expired
    store._r.close()
    again = MultipleHostFrontier(cluster_settings(tmp_path / "a", url,
                                                  FRONTIER_MASTER_NAME="a"), clock=clock)
    assert again._store.recovered
    assert again._counters["known"] >= 2
    assert not again._store._r.smembers(again._store._mine("held"))
    log = simulate([_wrap(again, "a")], clock, pages)
    assert set(e[2] for e in log) == set(pages)
    again.close()


def _wrap(frontier, name):
    m = Master.__new__(Master)
    m.name, m.frontier, m.slots, m.flying, m.alive = name, frontier, 2, [], True
    m.sink = RecordingSink()
    frontier.add_sink(m.sink)
    return m


def test_a_second_master_with_the_same_name_is_refused(tmp_path, url):
    from spyder.core.store.rediscluster import RedisStore
    first = RedisStore(url, master="same")
    with pytest.raises(Exception, match="a master named 'same' is running"):
        RedisStore(url, master="same", wait_alive=0.3)
    first.close()
    RedisStore(url, master="same", wait_alive=0.3).close()


def test_an_unreachable_store_or_one_that_is_not_a_cluster_is_a_clear_startup_error(
        tmp_path, redis_cluster):
    import rediscluster
    settings = make_settings(tmp_path)
    port, = rediscluster.free_ports(1)
    settings.FRONTIER_STORE = "redis://127.0.0.1:%d" % port
    with pytest.raises(StartupError, match="cannot reach the Redis Cluster"):
        MultipleHostFrontier(settings)
    import subprocess
    import tempfile
    workdir = tempfile.mkdtemp(prefix="spyder-redis-")
    plain = subprocess.Popen([rediscluster.SERVER, "--port", str(port), "--bind", "127.0.0.1",
                              "--save", "", "--dir", workdir], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        for _ in range(100):
            if redis_cluster.cli(port, "PING").strip() == "PONG":
                break
            __import__("time").sleep(0.05)
        with pytest.raises(StartupError, match="not a Redis Cluster"):
            MultipleHostFrontier(settings)
    finally:
        plain.kill()
        plain.wait(10)
        __import__("shutil").rmtree(workdir, ignore_errors=True)


def test_the_seen_test_stores_a_fixed_size_fingerprint_per_url(url):
    from spyder.core.store.rediscluster import RedisStore
    store = RedisStore(url, master="m")
    store.queue_id("h.test")
    long_url = "http://h.test/" + "x" * 500
    store.admit([UriRow(long_url, 1, next_date=None, status=404, reason="status")])
    fields = store._r.hkeys(store._k("h.test", "u"))
    assert [len(f) for f in fields] == [8]
    assert long_url.encode() not in store._r.hget(store._k("h.test", "u"), fields[0])
    assert store.find(long_url).reason == "status"
    store.close()



class _Unreachable:
    """A Redis client whose every command fails as if the network were cut."""

    def __getattr__(self, name):
        def fail(*args, **kwargs):
            from redis.exceptions import ConnectionError
            raise ConnectionError("the link to the cluster is cut (test)")
        return fail


def test_a_master_cut_from_the_cluster_stops_dispatching_and_politeness_holds(tmp_path, url):
    """Master a's link to the cluster is cut for 20 s (longer than its 10 s leases): it
    sends nothing more once half a lease passed without a renewal, b takes a's queues
    when their leases end, and a -- which finds its leases lost with outcomes not
    committed -- stops without committing (a restart would cut its sinks back)."""
    pages = site()
    clock, a, b = two_masters(tmp_path, url)
    stopped = []
    a.frontier._store._on_broken = lambda: stopped.append(clock.t)
    for h in range(4):
        a.frontier.add_uri(CrawlUri(url="http://h%d.test/p0" % h))
    cut = {}
    store = a.frontier._store

    def partition(clock, log):
        if not cut and len(log) >= len(pages) // 4 and store._held:
            cut["at"], cut["client"] = clock.t, store._r
            store._r = _Unreachable()
        elif cut and "healed" not in cut and clock.t >= cut["at"] + 20:
            store._r = cut["client"]
            cut["healed"] = clock.t
        if stopped and a.alive:          # it stops itself (SIGTERM in a real master)
            a.alive = False
            a.flying = []
    log = simulate([a, b], clock, pages, on_step=partition, tolerate_errors=True)
    assert cut and "healed" in cut
    check_politeness(log)
    urls = [e[2] for e in log]
    assert set(urls) == set(pages)
    sent_in_cut = [e for e in log if e[3] == "a" and cut["at"] + store.lease / 2 < e[0]
                   < cut["healed"]]
    assert sent_in_cut == []


def test_spyder_status_shows_the_whole_crawl_of_a_shared_frontier():
    from spyder.consoleclient import _whole_crawl
    status = {"master": {"frontier": {"crawl": {"known": 10, "open": 4, "success": 6},
                                      "masters": ["m1", "m2"]}}}
    assert _whole_crawl(status) == ["whole crawl (masters: m1 m2): known 10, to crawl 4, "
                                    "success 6, redirect 0, not found 0, server error 0"]
    assert _whole_crawl({"master": {"frontier": {"known": 3}}}) == []


def test_spyder_crawl_with_two_masters_on_the_cluster(tmp_path, redis_cluster, demo_site):
    """``spyder crawl --masters 2 --redis``: real processes, a served site; judged from the
    server's request log and the masters' JSONL files."""
    import json
    import os
    import subprocess
    import sys
    server = demo_site(pages=120, hosts=3, latency=0.01)
    min_delay = 0.05
    url = "%s/e2e-%s" % (redis_cluster.url, uuid.uuid4().hex[:8])
    env = {k: v for k, v in os.environ.items() if k not in ("SPYDER_SETTINGS", "NOTIFY_SOCKET")}
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))] + [p for p in [env.get("PYTHONPATH")] if p])
    out = subprocess.run(
        [sys.executable, "-m", "spyder", "crawl", "--masters", "2", "--workers", "1",
         "--redis", url, "-s", "FRONTIER_MIN_DELAY=%r" % min_delay,
         "-s", "FRONTIER_CRAWL_DELAY_FACTOR=0.0", "-s", "ROBOTSTXT_SITEMAPS=False"]
        + server.seeds, cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    outcomes = []
    for name in ("m1", "m2"):
        path = tmp_path / ("spyder-crawl-%s.jsonl" % name)
        if path.exists():
            outcomes += [json.loads(line)["url"] for line in path.read_text().splitlines()]
    assert sorted(outcomes) == sorted(server.expected_urls())          # complete, each once
    spans = sorted((host, start, end) for host, _, start, end in server.spans)
    for (h1, s1, e1), (h2, s2, e2) in zip(spans, spans[1:]):
        if h1 == h2:
            assert s2 >= e1 + min_delay - 0.005, (h1, s1, e1, s2)     # one at a time, polite


def test_links_a_master_admitted_but_never_committed_are_crawled_after_its_death(
        tmp_path, url):
    """The URL lost in a failover run: a master admits a page's new links (at once, in
    the store) and stops before the commit that counts them (SIGKILL, or stopping itself
    after its leases were lost).  The crawl-wide ``open`` counter never counts them, so
    it reaches 0 while they are still scheduled; the other master must crawl them all the
    same, not end the crawl."""
    pages = {"http://h0.test/p%d" % i: ["http://h0.test/p%d" % (i + 1)] for i in range(6)}
    pages["http://h0.test/p6"] = []
    clock, a, b = two_masters(tmp_path, url)
    a.frontier.add_uri(CrawlUri(url="http://h0.test/p0"))
    a.frontier.checkpoint()
    a.frontier._checkpoints.commit()          # the seed is counted
    # a crawls p0: p1 is admitted in the store, its +1 to `open` only in a's memory
    curi = a.frontier.get_next()
    assert curi.url == "http://h0.test/p0"
    deliver(a.frontier, curi, 200, pages[curi.url])
    store = a.frontier._store
    assert store.find("http://h0.test/p1") is not None
    store._r.delete(store._mine("alive"))     # a dies before committing
    store._r.close()
    a.alive = False
    log = simulate([b], clock, pages)
    fetched = [e[2] for e in log]
    assert set(fetched) == set(pages)         # the chain p1 ... p6 is not lost
    assert not b.frontier._store._r.exists(b.frontier._store._mine("journal"))
    b.frontier.close()


def _replica_port(cluster, store, key):
    """The port of a replica of ``key``'s primary (from ``CLUSTER NODES``)."""
    primary = store._r.get_node_from_key(key)
    primary_id = cluster.node_id(primary.port)
    for line in cluster.cli(primary.port, "CLUSTER", "NODES").splitlines():
        fields = line.split()
        if len(fields) > 3 and "slave" in fields[2] and fields[3] == primary_id \
                and "fail" not in fields[2]:
            return int(fields[1].split("@")[0].rsplit(":", 1)[1])
    raise AssertionError("no replica of %s" % primary.name)


def _replica_client(cluster, store, key):
    """A plain client on a replica of ``key``'s primary, reading it (READONLY)."""
    import redis
    client = redis.Redis(host=cluster.bind, port=_replica_port(cluster, store, key))
    client.execute_command("READONLY")
    return client


def test_a_take_and_a_commit_are_on_a_replica_when_they_return(url, redis_cluster):
    """WAIT (FRONTIER_REDIS_WAIT_REPLICAS=1): what a take and a commit wrote is on the
    replica of its primary as soon as they return."""
    from spyder.core.store.rediscluster import RedisStore
    redis_cluster.wait_replicas()
    store = RedisStore(url, master="w", wait_replicas=1)
    q = store.queue_id("h.test")
    store.admit([UriRow("http://h.test/a", q, next_date=1.0)])
    store.commit({})
    assert store.take_queue(q) is not None
    key = store._k("h.test", "q")
    replica = _replica_client(redis_cluster, store, key)
    assert replica.hget(key, "own").startswith(b"w@")
    store.record(UriRow("http://h.test/a", q, next_date=None, status=200, reason="status"))
    store.put_queue(q, None)
    store.commit({"counters": {"success": 1}})
    assert replica.hget(key, "own") is None
    row = replica.hget(store._k("h.test", "u"), __import__(
        "spyder.core.store.rediscluster", fromlist=["fingerprint"]).fingerprint("http://h.test/a"))
    assert row is not None and b"200" in row
    replica.close()
    store.close()


def test_links_admitted_before_a_failover_are_admitted_again_before_the_commit(url, caplog):
    """A failover between an admission and the commit may have lost the links; the commit
    admits them again first (simulated: the row deleted, the primaries' names changed)."""
    from spyder.core.store.rediscluster import RedisStore, fingerprint
    store = RedisStore(url, master="f", wait_replicas=1)
    q = store.queue_id("h.test")
    store.commit({})
    store.admit([UriRow("http://h.test/lost", q, next_date=1.0)])
    store._r.hdel(store._k("h.test", "u"), fingerprint("http://h.test/lost"))  # the loss
    store._r.delete(store._k("h.test", "z"))
    store._primaries = frozenset(["10.0.0.1:7000"])                           # a failover
    with caplog.at_level("WARNING", logger="spyder.frontier"):
        store.commit({"counters": {"open": 1}})
    assert "admitting again the 1 link batch(es)" in caplog.text
    assert store.find("http://h.test/lost") is not None
    assert [r.url for r in store.queue_head(q, 5)] == ["http://h.test/lost"]
    assert store._admits == []
    store.close()


def test_a_wait_that_times_out_is_logged(url, redis_cluster, caplog):
    """A replica that does not answer (SIGSTOPped for a moment): the WAIT after a take
    times out, the master is told which primary and what, and goes on."""
    import signal
    from spyder.core.store.rediscluster import RedisStore
    redis_cluster.wait_replicas()
    store = RedisStore(url, master="t", wait_replicas=1, wait_timeout=0.2)
    q = store.queue_id("h.test")
    key = store._k("h.test", "q")
    proc = redis_cluster.procs[_replica_port(redis_cluster, store, key)]
    proc.send_signal(signal.SIGSTOP)
    try:
        with caplog.at_level("WARNING", logger="spyder.frontier"):
            assert store.take_queue(q) is not None
    finally:
        proc.send_signal(signal.SIGCONT)
    assert "WAIT timed out: taking host queue h.test reached 0 of 1 replica(s)" in caplog.text
    store.close()


def test_a_late_script_of_a_dead_run_cannot_touch_the_new_runs_lease(url):
    """A queue's ``own`` names the master's run, not only its name: a take or renewal that
    a dead run of master m wrote into a cut link, delivered when the link came back, after
    m's restarted run took the queue, is refused -- it would otherwise set the new run's
    lease to the old (past) end, and another master would crawl the host beside it."""
    from spyder.core.store.rediscluster import RedisStore
    store = RedisStore(url, master="late")
    q = store.queue_id("late.test")
    store.admit([UriRow("http://late.test/a", q, next_date=1.0)])
    store.commit({})
    assert store.take_queue(q) is not None
    key = store._k("late.test", "q")
    own, lease = store._r.hget(key, "own"), store._r.hget(key, "lease")
    dead_run = "late@elsewhere:1:0dead0"
    then = store._clock() - 30.0
    took = store._call(store._r, "take", [key], [dead_run, then, repr(then + 10.0), "0"])
    assert took[0] == 0                                   # held by the new run
    assert store._call(store._r, "renew", [key], [dead_run, repr(then + 10.0)]) == 0
    assert store._call(store._r, "hold", [key], [dead_run, "1.0"]) == 0
    assert store._r.hget(key, "own") == own and store._r.hget(key, "lease") == lease
    assert own.startswith(b"late@")
    store.close()
