"""The built-in sinks: JSON lines records and WARC files readable by warcio."""
import gzip
import hashlib
import json
import os
import queue
import threading
import zlib

import pytest
from warcio.archiveiterator import ArchiveIterator

from spyder.core import constants as C
from spyder.core.crawluri import CrawlUri
from spyder.core.frontier.frontiers import MultipleHostFrontier
from spyder.core.sink import AbstractCrawlUriSink
from spyder.sinks.jsonl import JsonLinesSink
from spyder.sinks.warc import WarcSink
from conftest import wait_until
from test_frontier_support import Clock, Site, crawl, make_settings

BODY = b"<html><a href='/x'>x</a></html>"


def _curi(url="http://a.test/", status=200, body=BODY, **fields):
    curi = CrawlUri(url=url, effective_url=url, status_code=status, content_body=body,
                    req_time=0.25, queue_time=0.01, depth=1, attempt=0,
                    req_header={"User-Agent": "spyder-test", "Accept-Encoding": "gzip"},
                    rep_header={"Content-Type": "text/html; charset=utf-8", "Etag": '"v1"',
                                "Transfer-Encoding": "chunked"},
                    begin_processing=1_700_000_000.0, end_processing=1_700_000_000.5)
    for name, value in fields.items():
        setattr(curi, name, value)
    return curi


def test_the_abstract_sink_accepts_everything():
    sink = AbstractCrawlUriSink(settings=None)
    for method in ("process_successful_crawl", "process_not_found", "process_redirect",
                   "process_server_error"):
        assert getattr(sink, method)(_curi()) is None
    sink.close()


def test_jsonl_records(tmp_path):
    settings = make_settings(tmp_path, JSONL_SINK_PATH=str(tmp_path / "out" / "crawl.jsonl"))
    sink = JsonLinesSink(settings)
    sink.process_successful_crawl(_curi(optional_vars={"extracted_urls": "http://a/1\nhttp://a/2",
                                                       C.CURI_LINKS_DROPPED: "3"}))
    sink.process_redirect(_curi(url="http://a.test/old", status=301, body=b"",
                                rep_header={"Location": "http://a.test/new"}))
    sink.process_not_found(_curi(url="http://a.test/gone", status=404, body=b"nope"))
    sink.process_server_error(_curi(url="http://a.test/down", status=599, body=None,
                                    rep_header={}, optional_vars={
                                        C.CURI_ERROR: "timeout", C.CURI_TRUNCATED: "0"}))
    sink.close()
    lines = (tmp_path / "out" / "crawl.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [(r["url"], r["outcome"], r["status"]) for r in records] == [
        ("http://a.test/", "success", 200), ("http://a.test/old", "redirect", 301),
        ("http://a.test/gone", "not_found", 404), ("http://a.test/down", "server_error", 599)]
    first = records[0]
    assert first["content_type"] == "text/html; charset=utf-8"
    assert first["content_length"] == len(BODY)
    assert first["sha1"] == hashlib.sha1(BODY).hexdigest()
    assert (first["links"], first["depth"], first["attempt"]) == (2, 1, 0)
    assert (first["links_dropped"], records[1]["links_dropped"]) == (3, 0)
    assert (first["req_time"], first["queue_time"], first["etag"]) == (0.25, 0.01, '"v1"')
    assert first["truncated"] is False and isinstance(first["time"], float)
    assert records[1]["location"] == "http://a.test/new"
    assert records[3]["error"] == "timeout"
    assert records[3]["content_length"] is None and records[3]["sha1"] is None
    # appending, not overwriting
    sink = JsonLinesSink(settings)
    sink.process_successful_crawl(_curi())
    sink.close()
    assert len((tmp_path / "out" / "crawl.jsonl").read_text().splitlines()) == 5


def test_jsonl_lines_of_a_loop_turn_go_out_in_one_write(tmp_path, monkeypatch):
    """The lines told in one event-loop turn are written together at its end -- and
    before a checkpoint reads the sink's position, so it never counts a line that is not
    in the file."""
    import asyncio

    from spyder.sinks import jsonl
    real_write, writes = os.write, []

    def counted(fd, data):
        writes.append(data.count(b"\n"))
        return real_write(fd, data)

    monkeypatch.setattr(jsonl.os, "write", counted)
    settings = make_settings(tmp_path)
    path = settings.JSONL_SINK_PATH

    async def turns():
        sink = JsonLinesSink(settings)
        for n in range(5):
            sink.process_successful_crawl(_curi("http://a.test/%d" % n))
        assert writes == [] and os.path.getsize(path) == 0   # the turn is not over
        assert sink.position()["size"] == os.path.getsize(path) > 0 and writes == [5]
        for n in range(5, 8):
            sink.process_not_found(_curi("http://a.test/%d" % n, status=404))
        await asyncio.sleep(0)   # the turn ends
        assert writes == [5, 3]
        sink.close()

    asyncio.run(turns())
    with open(path) as f:
        assert [json.loads(line)["url"] for line in f] == ["http://a.test/%d" % n
                                                          for n in range(8)]


def test_jsonl_records_a_result_whose_body_the_worker_left_out(tmp_path):
    settings = make_settings(tmp_path, JSONL_SINK_PATH=str(tmp_path / "crawl.jsonl"))
    sink = JsonLinesSink(settings)
    digest = hashlib.sha1(BODY).hexdigest()
    sink.process_successful_crawl(_curi(body=None, optional_vars={
        C.CURI_CONTENT_LENGTH: str(len(BODY)), C.CURI_CONTENT_SHA1: digest}))
    sink.close()
    [record] = [json.loads(line) for line in open(settings.JSONL_SINK_PATH)]
    assert (record["content_length"], record["sha1"]) == (len(BODY), digest)


def test_the_frontier_asks_for_bodies_only_when_a_sink_reads_them(tmp_path):
    robots = CrawlUri(url="http://a.test/robots.txt",
                      optional_vars={C.CURI_ROBOTS_FETCH: C.CURI_OPTIONAL_TRUE})
    page = CrawlUri(url="http://a.test/")
    wanted = {}
    for name, sinks in (("none", []), ("jsonl", ["spyder.sinks.jsonl.JsonLinesSink"]),
                        ("warc", ["spyder.sinks.jsonl.JsonLinesSink",
                                  "spyder.sinks.warc.WarcSink"])):
        (tmp_path / name).mkdir()
        frontier = MultipleHostFrontier(make_settings(tmp_path / name, SINKS=sinks),
                                        clock=Clock())
        wanted[name] = (frontier.wants_body(page), frontier.wants_body(robots))
        if name == "jsonl":
            frontier.add_sink(AbstractCrawlUriSink())  # says nothing: it may read bodies
            wanted["jsonl + one more"] = (frontier.wants_body(page), frontier.wants_body(robots))
        frontier.close()
    # robots.txt is parsed by the master: its body always comes
    assert wanted == {"none": (False, True), "jsonl": (False, True),
                      "jsonl + one more": (True, True), "warc": (True, True)}


def test_jsonl_lines_are_what_json_dumps_writes(tmp_path, monkeypatch):
    """The line is formatted directly: it must be byte for byte what ``json.dumps`` of the
    record's dict writes (escapes, numbers, NaN, keys in order)."""
    from spyder.sinks import jsonl
    monkeypatch.setattr(jsonl.time, "time", lambda: 1_700_000_000.123456)
    curis = [
        _curi(url="http://a.test/\u00e9\"\\\n\u2028", req_time=float("nan"), queue_time=3,
              rep_header={"Content-Type": "text/html; \u00fc", "Etag": '"v\x00"',
                          "Last-Modified": "Mon", "Location": "http://b.test/\t"},
              optional_vars={C.CURI_EXTRACTED_URLS: "http://a/1\n\nhttp://a/2\n",
                             C.CURI_NOINDEX: C.CURI_OPTIONAL_TRUE, C.CURI_LINKS_DROPPED: "7",
                             C.CURI_CONTENT_SHA1: "ab" * 20, C.CURI_ERROR: "\ud800 err"}),
        _curi(body=None, status=None, req_time=None, queue_time=float("inf"), rep_header=None,
              optional_vars={C.CURI_EXTRACTED_URLS: "http://a/1\nhttp://a/2",
                             C.CURI_NOFOLLOW: C.CURI_OPTIONAL_TRUE, C.CURI_TRUNCATED: "1"}),
    ]
    for curi in curis:
        headers, optional = curi.rep_header or {}, curi.optional_vars
        body = curi.content_body
        expected = {
            "url": curi.url, "outcome": "success", "status": curi.status_code,
            "depth": curi.depth, "attempt": curi.attempt, "time": 1_700_000_000.123456,
            "req_time": curi.req_time, "queue_time": curi.queue_time,
            "content_type": headers.get("Content-Type"),
            "content_length": curi.content_length,
            "sha1": None if body is None else optional[C.CURI_CONTENT_SHA1],
            "truncated": curi.truncated_reason is not None,
            "truncated_reason": curi.truncated_reason,
            "noindex": C.CURI_NOINDEX in optional, "nofollow": C.CURI_NOFOLLOW in optional,
            "links": len(curi.extracted_urls),
            "links_dropped": int(optional.get(C.CURI_LINKS_DROPPED, 0)),
            "etag": headers.get("Etag"), "last_modified": headers.get("Last-Modified"),
            "location": headers.get("Location"), "error": optional.get(C.CURI_ERROR)}
        assert jsonl.record("success", curi) == (
            json.dumps(expected, separators=(",", ":")) + "\n").encode()


def _records(paths):
    out = []
    for path in paths:
        with open(path, "rb") as stream:
            for record in ArchiveIterator(stream):
                out.append((os.path.basename(path), record.rec_type,
                            record.rec_headers.get_header("WARC-Target-URI"), record.http_headers,
                            record.rec_headers, record.content_stream().read()))
    return out


def _gzip_members(path):
    data, members = open(path, "rb").read(), 0
    while data:
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        decompressor.decompress(data)
        data = decompressor.unused_data
        members += 1
    return members


def test_warc_request_and_response_records(tmp_path):
    sink = WarcSink(make_settings(tmp_path))
    sink.process_successful_crawl(_curi(url="http://a.test/page?q=1", req_header={
        "Etag": '"v0"', "User-Agent": "spyder-test", "If-None-Match": '"v0"'}))
    sink.process_redirect(_curi(url="http://a.test/old", status=301, body=b"",
                                rep_header={"Location": "http://a.test/new"}))
    sink.process_not_found(_curi(url="http://a.test/big", status=404, body=b"x" * 10,
                                 optional_vars={C.CURI_TRUNCATED: "1"}))
    sink.process_server_error(_curi(url="http://a.test/timeout", status=599, body=None))
    sink.process_server_error(_curi(url="http://a.test/crash", status=710, body=b""))
    sink.close()
    [path] = sink.paths
    records = _records(sink.paths)
    assert [(r[1], r[2]) for r in records] == [
        ("warcinfo", None),
        ("response", "http://a.test/page?q=1"), ("request", "http://a.test/page?q=1"),
        ("response", "http://a.test/old"), ("request", "http://a.test/old"),
        ("response", "http://a.test/big"), ("request", "http://a.test/big")]
    _, _, _, http, warc, body = records[1]
    assert http.statusline == "200 OK" and body == BODY
    assert http.get_header("Content-Length") == str(len(BODY))
    assert http.get_header("Transfer-Encoding") is None
    assert warc.get_header("WARC-Date") == "2023-11-14T22:13:20Z"
    request_http, request_warc = records[2][3], records[2][4]
    assert request_http.protocol == "GET" and request_http.statusline == "/page?q=1 HTTP/1.1"
    assert request_http.get_header("Host") == "a.test"
    assert request_http.get_header("User-Agent") == "spyder-test"
    assert request_warc.get_header("WARC-Concurrent-To") == warc.get_header("WARC-Record-ID")
    assert request_http.get_header("If-None-Match") == '"v0"'
    assert request_http.get_header("Etag") is None  # the frontier's hint, not a sent header
    assert records[3][3].get_header("Location") == "http://a.test/new"
    assert records[5][4].get_header("WARC-Truncated") == "length"
    assert _gzip_members(path) == len(records)  # gzip per record
    with gzip.open(path, "rb") as whole:
        assert whole.read().count(b"WARC/1.") == len(records)


def test_warc_files_rotate_at_the_maximum_size(tmp_path):
    sink = WarcSink(make_settings(tmp_path, WARC_MAX_SIZE=3000))
    for i in range(12):
        sink.process_successful_crawl(_curi(url="http://a.test/%d" % i, body=os.urandom(1000)))
    sink.close()
    assert len(sink.paths) > 2
    for path in sink.paths[:-1]:
        assert os.path.getsize(path) >= 3000
        assert os.path.getsize(path) < 3000 + 2 * 2000  # rotated right after crossing
    records = _records(sink.paths)
    assert [r[1] for r in records].count("warcinfo") == len(sink.paths)
    assert [r[2] for r in records if r[1] == "response"] == ["http://a.test/%d" % i
                                                             for i in range(12)]


def test_sinks_from_the_settings_see_a_crawl(tmp_path):
    settings = make_settings(tmp_path, SINKS=["spyder.sinks.jsonl.JsonLinesSink",
                                              "spyder.sinks.warc.WarcSink"])
    clock = Clock()
    frontier = MultipleHostFrontier(settings, clock=clock)
    frontier.add_uri(CrawlUri(url="http://a.test/"))
    site = Site({"http://a.test/": (200, ["http://a.test/gone"], {"Content-Type": "text/html"},
                                    BODY)})
    crawl(frontier, clock, site)
    frontier.close()
    records = [json.loads(line) for line in open(settings.JSONL_SINK_PATH)]
    assert [(r["url"], r["outcome"], r["depth"]) for r in records] == [
        ("http://a.test/", "success", 0), ("http://a.test/gone", "not_found", 1)]
    warcs = [os.path.join(settings.WARC_DIR, name) for name in os.listdir(settings.WARC_DIR)]
    assert [(r[1], r[2]) for r in _records(warcs) if r[1] != "warcinfo"] == [
        ("response", "http://a.test/"), ("request", "http://a.test/"),
        ("response", "http://a.test/gone"), ("request", "http://a.test/gone")]


def test_the_warc_backlog_is_bounded(tmp_path):
    """With the disk behind by WARC_MAX_BACKLOG body bytes, telling the sink waits for the
    writer thread instead of queueing more bodies in memory."""
    sink = WarcSink(make_settings(tmp_path, WARC_MAX_BACKLOG=len(BODY) // 2 + 1))
    disk = threading.Event()
    write_records = sink._write_records
    sink._write_records = lambda curi: (disk.wait(10), write_records(curi))
    assert not sink.behind()
    sink.process_successful_crawl(_curi(url="http://a.test/1"))  # in the thread, held up
    assert sink.behind(), "the frontier dispatches nothing now"
    second = threading.Thread(target=sink.process_successful_crawl,
                              args=(_curi(url="http://a.test/2"),))
    second.start()
    wait_until(lambda: sink._waited, message="the second body to wait for the backlog")
    assert second.is_alive() and sink._submitted == 1
    disk.set()
    second.join(10)
    sink.close()
    urls = []
    for path in sink.paths:
        with open(path, "rb") as stream:
            urls += [r.rec_headers.get_header("WARC-Target-URI")
                     for r in ArchiveIterator(stream) if r.rec_type == "response"]
    assert urls == ["http://a.test/1", "http://a.test/2"]


class _SlowSink(AbstractCrawlUriSink):
    """A sink writing in a thread, as far behind as the test says."""
    lagging = False
    unsynced = False

    def behind(self):
        return self.lagging

    def synced(self):
        return not self.unsynced


def test_dispatch_pauses_while_a_sink_is_behind_never_the_loop(tmp_path):
    clock = Clock()
    frontier = MultipleHostFrontier(make_settings(tmp_path, FRONTIER_CHECKPOINT_SECONDS=1.0),
                                    clock=clock)
    sink = _SlowSink()
    frontier.add_sink(sink)
    for i in range(4):
        frontier.add_uri(CrawlUri(url="http://a.test/%d" % i))
    sink.lagging = True  # a backlog too large: nothing goes out, the master looks again soon
    with pytest.raises(queue.Empty):
        frontier.get_next()
    assert frontier.next_due() == clock.t + 0.05
    sink.lagging = False
    first = frontier.get_next()
    # not synced: before the commit is due dispatch goes on; once it is due, dispatch
    # pauses at once until the sink has caught up (issue 18 item 3: a sink that is never
    # idle under load must not put commits off for ever)
    sink.unsynced = True
    first.status_code = 200
    frontier.process_successful_crawl(first)
    checkpoints = frontier.stats()["checkpoints"]
    assert frontier.next_due() != clock.t + 0.05
    clock.advance(1.0)
    frontier.checkpoint()
    with pytest.raises(queue.Empty):
        frontier.get_next()
    assert frontier.stats()["checkpoints"] == checkpoints
    sink.unsynced = False  # caught up: the commit is made and dispatch goes on
    assert frontier.get_next().url.startswith("http://a.test/")
    assert frontier.stats()["checkpoints"] == checkpoints + 1
    assert frontier.stats()["checkpoint_waits"] == 1
    frontier.close()
