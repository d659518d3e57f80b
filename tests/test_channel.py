"""The work channel under faults, judged from the web server's own request log.

Real ``spyder crawl`` processes crawl the demo site, which answers after 20 ms and
logs each request's start and end (``DemoServer.spans``), so two requests to one host
at once show as overlapping spans.  With ``FRONTIER_HOST_CONCURRENCY=1`` there must
never be any; a URL may be fetched twice only if its lease expired or its worker was
declared dead (the master logs each), and a worker handing URLs back costs them no
attempt.
"""
import os
import re
import signal
import time

import pytest

from conftest import wait_until
from test_e2e import _assert_complete, crawl  # noqa: F401 (crawl: the fixture)

LATENCY = 0.02
HOSTS = 4
FAST = dict(FRONTIER_HOST_CONCURRENCY=1, REQUEST_TIMEOUT=2.0, LEASE_TIMEOUT=5.0,
            WORKER_HEARTBEAT_INTERVAL=0.25, WORKER_HEARTBEAT_TIMEOUT=3.0)


def overlaps(server):
    """Pairs of requests to one host whose [start, end] intervals intersect."""
    found = []
    by_host = {}
    for host, path, start, end in list(server.spans):
        by_host.setdefault(host, []).append((start, end if end is not None else float("inf"),
                                             path))
    for spans in by_host.values():
        spans.sort()
        for (s1, e1, p1), (s2, e2, p2) in zip(spans, spans[1:]):
            if s2 < e1:
                found.append((p1, p2))
    return found


def returned_leases(run):
    with open(os.path.join(run.log_dir, "master.log"), errors="replace") as log:
        text = log.read()
    return set(re.findall(r"lease on (\S+) (?:expired|returned)", text)), text


@pytest.mark.timeout(150)
def test_a_stopped_worker_strands_few_urls_and_nothing_overlaps(demo_site, crawl):
    # at most 80 pages/s (4 hosts, one request at a time, 50 ms each): the 210 pages left
    # after the stop take the other worker more than 4.5 s, stall or not -- a smaller or
    # faster site can be done before the check below looks
    server = demo_site(pages=240, hosts=HOSTS, latency=0.05)
    run = crawl(server, workers=2, **FAST).start()
    wait_until(lambda: len(server.requests) >= 30, 60, message="30 requests")
    worker = sorted(pid for pid, role in run.children().items() if role == "worker")[0]
    os.kill(worker, signal.SIGSTOP)
    stopped_at = time.time()
    try:
        # longer than LEASE_TIMEOUT and WORKER_HEARTBEAT_TIMEOUT: the other worker goes on
        wait_until(lambda: time.time() - stopped_at > 7.0, 30, message="7 s")
        served_while_stopped = [r for r in server.requests if r.time > stopped_at + 4.5]
    finally:
        os.kill(worker, signal.SIGCONT)
    assert served_while_stopped, "the crawl stalled while a worker was stopped"
    assert run.wait(120) == 0, run.output()
    fetched = server.fetched()
    _assert_complete(server, fetched)
    assert overlaps(server) == []
    returned, log = returned_leases(run)
    twice = {u for u, n in fetched.items() if n > 1}
    assert twice <= returned, "only URLs whose lease ended were fetched again"
    stranded = [int(n) for n in re.findall(r"dispatching the (\d+) URL\(s\) it held", log)]
    # The stopped worker strands what it held when it stopped (its slots plus what credit
    # let into its pipe: also fetches it took but had not reported yet, which wait out
    # their lease) and nothing dealt to it later: its connection is gone by the time it
    # is declared dead.  Here that is at most what is ever in flight, one URL per host.
    assert len(returned) <= HOSTS * FAST["FRONTIER_HOST_CONCURRENCY"], (returned, stranded)
    print("stranded by the stopped worker: %d (returned leases: %d)"
          % (sum(stranded), len(returned)))
    urls = [r["url"] for r in run.records()]
    assert sorted(urls) == sorted(server.expected_urls())


@pytest.mark.timeout(150)
def test_a_restarted_worker_hands_back_its_urls_without_an_attempt(demo_site, crawl):
    # slow answers: when the worker is told to stop, it has fetches in flight and queued
    server = demo_site(pages=60, hosts=4, latency=0.5)
    run = crawl(server, workers=1, MAX_CLIENTS=4, SHUTDOWN_TIMEOUT=0.1,
                **dict(FAST, FRONTIER_HOST_CONCURRENCY=2, REQUEST_TIMEOUT=5.0,
                       LEASE_TIMEOUT=15.0)).start()
    wait_until(lambda: len(server.requests) >= 10 and server.pending >= 2, 60,
               message="fetches in flight")
    [worker] = [pid for pid, role in run.children().items() if role == "worker"]
    os.kill(worker, signal.SIGTERM)  # `spyder crawl` restarts it
    assert run.wait(120) == 0, run.output()
    _assert_complete(server, server.fetched())
    records = run.records()
    assert sorted(r["url"] for r in records) == sorted(server.expected_urls())
    with open(os.path.join(run.log_dir, "worker.log"), errors="replace") as log:
        handed = set(re.findall(r"handing (\S+) back unfetched: worker shutting down", log.read()))
    assert handed, "the worker had nothing to hand back"
    assert all(server.fetched()[url] <= 2 for url in handed)
    # nothing handed back used an attempt: every page's outcome is its first attempt
    assert [r["url"] for r in records if r["attempt"]] == []
