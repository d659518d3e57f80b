"""Resuming a crawl from the state file: after a clean stop and after a SIGKILL.

The crash test runs a crawl in a child process that writes, after every commit,
the URLs whose final outcome that commit contained to a journal (fsync'd); the
test kills the child with SIGKILL at some point between commits, checks that the
state file is consistent (every finished page's links are there, the counters
match the rows), then resumes in-process and checks that nothing committed is
fetched again and nothing is lost.
"""
import signal
import sqlite3
import subprocess
import sys
import time

from spyder.core.crawluri import CrawlUri
from spyder.core.frontier.frontiers import MultipleHostFrontier
from test_frontier_support import T0, Clock, Site, crash, crawl, deliver, drain, make_settings

# The simulated site, shared by the child (as source) and the test (exec'd below).
SITE_CODE = '''
PAGES = 300

def url_of(i):
    return "http://h%d.test/p%d" % (i % 4, i)

def index_of(url):
    return int(url.rsplit("/p", 1)[1])

def links_of(i):
    return [url_of(j) for j in (2 * i + 1, 2 * i + 2, (7 * i + 3) % PAGES) if j < PAGES]

def answer(url, attempt):
    """(status, links) of a page: some 404s, some 503s that succeed on the retry."""
    i = index_of(url)
    if i % 17 == 5:
        return 404, []
    if i % 13 == 4 and attempt == 0:
        return 503, []
    return 200, links_of(i)
'''
SITE = {}
exec(SITE_CODE, SITE)
SEEDS = [SITE["url_of"](i) for i in range(4)]

CHILD = SITE_CODE + '''
import os, queue, sys
from spyder.core.crawluri import CrawlUri
from spyder.core.frontier.frontiers import MultipleHostFrontier
from spyder.core.settings import Settings

state, journal_path = sys.argv[1], sys.argv[2]
settings = Settings()
settings.FRONTIER_STATE_FILE = state
settings.FRONTIER_CHECKPOINTING = 7
settings.FRONTIER_CHECKPOINT_SECONDS = 1e9
settings.FRONTIER_MIN_DELAY = 0.0
settings.FRONTIER_CRAWL_DELAY_FACTOR = 0.0
settings.ROBOTSTXT_OBEY = False
settings.RETRY_BACKOFF = 1.0
clock = [%r]
frontier = MultipleHostFrontier(settings, clock=lambda: clock[0])
for i in range(4):
    frontier.add_uri(CrawlUri(url=url_of(i)))
journal = open(journal_path, "a")
finished, checkpoints = [], frontier.stats()["checkpoints"]
while not frontier.crawl_done():
    try:
        curi = frontier.get_next()
    except queue.Empty:
        clock[0] = max(clock[0], frontier.next_due())
        continue
    status, links = answer(curi.url, curi.attempt)
    curi.status_code, curi.req_time = status, 0.01
    curi.optional_vars["extracted_urls"] = "\\n".join(links)
    if status == 200:
        frontier.process_successful_crawl(curi)
    elif status == 404:
        frontier.process_not_found(curi)
    else:
        frontier.process_server_error(curi)
    if status != 503:
        finished.append(curi.url)
    now = frontier.stats()["checkpoints"]
    if now != checkpoints:
        journal.write("".join("C %%s\\n" %% url for url in finished))
        journal.flush()
        os.fsync(journal.fileno())
        finished, checkpoints = [], now
    import time; time.sleep(0.004)
journal.write("DONE\\n")
journal.flush()
''' % T0


def _reachable():
    seen, todo = set(), [SITE["index_of"](url) for url in SEEDS]
    while todo:
        i = todo.pop()
        if i in seen:
            continue
        seen.add(i)
        status, links = SITE["answer"](SITE["url_of"](i), 1)  # the answer after any retry
        todo.extend(SITE["index_of"](u) for u in links)
    return {SITE["url_of"](i) for i in seen}


class _SiteAdapter(Site):
    def answer(self, curi):
        status, links = SITE["answer"](curi.url, curi.attempt)
        return status, links, {}, b""


def _check_consistent(path):
    """The committed state: finished pages have their links, counters match the rows."""
    db = sqlite3.connect(path)
    rows = {url: (next_date, status, attempt) for url, next_date, status, attempt in
            db.execute("SELECT url, next_date, status, attempt FROM urls")}
    for url, (_, status, attempt) in rows.items():
        if status == 200:
            for link in SITE["links_of"](SITE["index_of"](url)):
                assert link in rows, "%s was recorded without its link %s" % (url, link)
    import json
    counters = json.loads(db.execute("SELECT value FROM meta WHERE key = 'counters'")
                          .fetchone()[0])
    pending = [r for r in rows.values() if r[0] is not None]
    assert counters["known"] == len(rows)
    assert counters["pending"] == len(pending)
    assert counters["open"] == sum(1 for r in pending if r[1] is None or r[2] > 0)
    db.close()
    return rows


def test_resume_after_sigkill_loses_nothing_and_refetches_nothing_committed(tmp_path):
    state, journal = str(tmp_path / "state.db"), tmp_path / "journal"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    child = subprocess.Popen([sys.executable, str(script), state, str(journal)],
                             stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    try:
        while True:
            assert child.poll() is None, child.stderr.read().decode()
            assert time.monotonic() < deadline, "the child made no progress"
            if journal.exists() and journal.read_text().count("C ") >= 60:
                break
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stderr.close()
    text = journal.read_text()
    assert "DONE" not in text, "the child finished before it could be killed"
    committed = {line[2:] for line in text.splitlines() if line.startswith("C ")}

    rows = _check_consistent(state)
    resumed_at = T0 + 3600
    for url in committed:
        next_date, status, _ = rows[url]
        assert status in (200, 404) and (next_date is None or next_date > resumed_at), url

    settings = make_settings(tmp_path)
    frontier = MultipleHostFrontier(settings, clock=Clock(resumed_at))
    assert frontier.stats()["known"] == len(rows)
    trace = crawl(frontier, frontier._now, _SiteAdapter())
    refetched = committed & set(trace.urls)
    assert not refetched, "finished URLs fetched again: %s" % sorted(refetched)
    assert frontier.crawl_done()
    frontier.close()
    final = _check_consistent(state)
    reachable = _reachable()
    assert set(final) == reachable
    for url in reachable:
        assert final[url][1] in (200, 404), url


def test_resume_after_a_clean_stop(tmp_path):
    settings = make_settings(tmp_path)
    clock = Clock()
    frontier = MultipleHostFrontier(settings, clock=clock)
    for url in SEEDS:
        frontier.add_uri(CrawlUri(url=url))
    site = _SiteAdapter()
    trace = crawl(frontier, clock, site, until=lambda t: len(t.finished) >= 40)
    finished = {url for _, url, status in trace.finished if status != 503}
    in_flight = drain(frontier)[:2]  # dispatched, never answered: the master stopped
    assert in_flight
    known = frontier.stats()["known"]
    frontier.close()

    frontier = MultipleHostFrontier(settings, clock=clock)
    assert frontier.stats()["known"] == known and frontier.stats()["in_flight"] == 0
    trace = crawl(frontier, clock, site)
    fetched = set(trace.urls)
    assert {curi.url for curi in in_flight} <= fetched      # due again
    assert not fetched & finished                           # not fetched again
    assert frontier.crawl_done()
    frontier.close()
    assert set(_check_consistent(settings.FRONTIER_STATE_FILE)) == _reachable()


def test_a_late_result_from_before_the_restart_is_harmless(tmp_path):
    settings = make_settings(tmp_path)
    frontier = MultipleHostFrontier(settings, clock=Clock())
    frontier.add_uri(CrawlUri(url=SEEDS[0]))
    curi = frontier.get_next()
    frontier.close()
    frontier = MultipleHostFrontier(settings, clock=Clock())
    deliver(frontier, curi, 200, ["http://h0.test/late"])
    assert frontier.stats()["unexpected_results"] == 1
    assert [c.url for c in drain(frontier)] == [SEEDS[0]]
    frontier.close()


def test_a_hosts_politeness_delay_survives_a_crash(tmp_path):
    """The time a host may next be fetched is in the state file, also for a host queue
    that was in memory when the master died: the restart waits for it."""
    settings = make_settings(tmp_path, FRONTIER_MIN_DELAY=30.0, FRONTIER_CHECKPOINT_SECONDS=0.0)
    clock = Clock()
    frontier = MultipleHostFrontier(settings, clock=clock)
    frontier.add_uri(CrawlUri(url=SEEDS[0]))
    deliver(frontier, frontier.get_next(), 200, ["http://h0.test/next"])
    frontier.checkpoint()
    crash(frontier)  # no close(), no clean flag

    frontier = MultipleHostFrontier(settings, clock=clock)
    assert drain(frontier) == []
    clock.advance(29.0)
    assert drain(frontier) == []
    clock.advance(1.5)
    assert [c.url for c in drain(frontier)] == ["http://h0.test/next"]
    frontier.close()


def test_a_handed_back_url_costs_no_attempt_and_no_budget(tmp_path):
    settings = make_settings(tmp_path, FRONTIER_QUEUE_BUDGET=1)
    clock = Clock()
    frontier = MultipleHostFrontier(settings, clock=clock)
    frontier.add_uri(CrawlUri(url=SEEDS[0]))
    curi = frontier.get_next()
    curi.status_code = 599
    frontier.process_handed_back(curi)
    again = frontier.get_next()  # at once, with the budget of one refunded
    assert (again.url, again.attempt) == (SEEDS[0], 0)
    assert frontier.stats()["retries"] == 0
    deliver(frontier, again, 200)
    assert frontier.stats()["success"] == 1
    frontier.close()
