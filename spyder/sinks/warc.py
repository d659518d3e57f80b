"""WarcSink: every HTTP exchange the crawl finished, as WARC request and response records.

Enable it with ``SINKS = ["spyder.sinks.warc.WarcSink"]``.  Files are written to
``WARC_DIR`` as ``spyder-<start time>-<pid>-<n>.warc.gz`` (gzip per record, as
WARC readers such as warcio and pywb expect), each opening with a ``warcinfo``
record; a new file is started once the current one reaches ``WARC_MAX_SIZE``
bytes.  For each final outcome that has an HTTP response (network errors 599 and
Spyder's own 7xx codes have none) a ``response`` record (status line, headers,
body) and a ``request`` record (``GET`` with the headers sent) are written,
linked by ``WARC-Concurrent-To``.  The body is the one the worker kept: already
decompressed (tornado renames ``Content-Encoding`` to
``X-Consumed-Content-Encoding``), so ``Transfer-Encoding`` is dropped and
``Content-Length`` is set to the stored length.

Records tell the truth about bodies not kept in full: a body cut short carries
``WARC-Truncated`` with the worker's reason (``length``: a size limit; ``time``: the
request timeout struck mid-body; ``disconnect``: the connection broke mid-body), and
a body never downloaded (its content type is not in ``FETCH_CONTENT_TYPES``) is not
written as a response at all -- a replay tool would serve it as the page -- but as a
``metadata`` record (``application/warc-fields``: the status line and the headers the
server sent) with ``WARC-Truncated: unspecified``, next to its ``request`` record.
With ``WARC_ROBOTS_TXT`` (default on) the answers to the frontier's robots.txt
requests are archived too, as Heritrix does.

Records are built, compressed and written by one writer thread, in the order the
frontier told them, so the master's event loop never waits for gzip or the disk.
While the thread is behind by ``WARC_MAX_BACKLOG`` bytes of bodies or more, the sink
is ``behind()`` and the frontier dispatches nothing; should the results still in
flight take it past twice that, telling the sink waits for the thread (logged), so
memory stays bounded whatever the disk does.
Where the output stands (file and size, always at a record boundary) is part of
every checkpoint: the frontier commits only once the thread has caught up (and,
with ``SINK_FSYNC``, has fsynced the file whenever it runs out of work, so a power
cut cannot leave a file shorter than a committed size), and after a crash the
restart cuts the last file back to the commit and deletes files begun after it, so
each outcome's records are in the files exactly once.

A write that fails (disk full, EIO) never counts as done: the file is cut back to
the last record boundary, the sink says why (``failure()``) and is ``behind()`` --
the frontier dispatches nothing and commits nothing -- and the thread tries the same
outcome again every ``_RETRY_SECONDS`` (the outcomes told meanwhile wait behind it,
bounded by the URLs in flight) until it is written or the sink is closed.
"""
import concurrent.futures
import datetime
import http.client
import io
import logging
import os
import threading
import time
from urllib.parse import urlsplit

from warcio.statusandheaders import StatusAndHeaders
from warcio.timeutils import datetime_to_iso_date
from warcio.warcwriter import WARCWriter

from spyder import __version__
from spyder.core import faults
from spyder.core.sink import AbstractCrawlUriSink

_DROPPED_HEADERS = {"transfer-encoding", "content-length"}
#: The frontier's conditional-GET hints in ``req_header``; sent as If-None-Match /
#: If-Modified-Since (which the worker records), never under these names.
_HINT_HEADERS = {"etag", "last-modified"}
#: The WARC-Truncated reason of a body never downloaded.
_NOT_DOWNLOADED = "unspecified"

log = logging.getLogger("spyder.frontier")

#: Seconds between two tries of a write that failed.
_RETRY_SECONDS = 1.0


class _Output:
    """An open WARC file as warcio writes to it: records are gathered in memory and
    written whole by ``write_out`` (one system call, or an ``OSError``); ``size`` is
    what the file holds."""

    def __init__(self, path):
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        self._pending = []
        self.size = 0

    def write(self, data):
        self._pending.append(data)

    def flush(self):
        """(warcio's end of a record: records are written out together, by ``write_out``.)"""

    def tell(self):
        return self.size

    def write_out(self):
        data = b"".join(self._pending)
        self._pending = []
        done = 0
        while done < len(data):  # a short write: the disk is full, the next one says so
            done += os.write(self._fd, data[done:])
        self.size += done

    def cut(self, size):
        """Drop what was gathered and cut the file back to ``size`` bytes."""
        self._pending = []
        os.ftruncate(self._fd, size)
        os.lseek(self._fd, size, os.SEEK_SET)
        self.size = size

    def fsync(self):
        os.fsync(self._fd)

    def close(self):
        os.close(self._fd)


class WarcSink(AbstractCrawlUriSink):
    """Write request/response records to rotating ``.warc.gz`` files in ``WARC_DIR``."""

    def __init__(self, settings):
        super().__init__(settings)
        self._directory = settings.WARC_DIR
        self._max_size = int(settings.WARC_MAX_SIZE)
        self._user_agent = settings.USER_AGENT
        self._robots_txt = bool(settings.WARC_ROBOTS_TXT)
        self._fsync = bool(settings.SINK_FSYNC)
        os.makedirs(self._directory, exist_ok=True)
        self._prefix = _new_prefix(self._directory, "spyder-%s-%d" % (
            time.strftime("%Y%m%d%H%M%S", time.gmtime()), os.getpid()))
        self._serial = 0
        self._file = None          # the _Output of the open file (the writer thread's)
        self._writer = None
        self._unsynced = False     # written since the last fsync (the writer thread's)
        self._failure = None       # why the last write failed, until one succeeds
        self._closing = threading.Event()
        self._thread = concurrent.futures.ThreadPoolExecutor(1, "warc-writer")
        self._last = None          # the Future of the newest write
        self._submitted = 0        # outcomes handed to the thread (counted on the loop)
        self._done = 0             # ... and written (counted in the thread)
        self._max_backlog = int(settings.WARC_MAX_BACKLOG)
        self._backlog = 0          # body bytes handed to the thread and not written yet
        self._caught_up = threading.Condition()
        self._waited = False       # the backlog made the master wait (logged once)
        self._position = {"prefix": self._prefix, "file": None, "size": 0}
        #: Paths of the files written so far (the last one may still be open).
        self.paths = []

    def process_successful_crawl(self, curi):
        self._write(curi)

    def process_redirect(self, curi):
        self._write(curi)

    def process_not_found(self, curi):
        self._write(curi)

    def process_server_error(self, curi):
        self._write(curi)

    def process_robots_txt(self, curi):
        if self._robots_txt:
            self._write(curi)

    def close(self):
        self._closing.set()  # a write that keeps failing gives up: it was not committed
        self._thread.shutdown(wait=True)
        try:
            self._close_file()
        except OSError as exc:
            log.error("frontier::closing %s failed: %s", self.paths[-1], exc)

    def position(self):
        return dict(self._position)

    def synced(self):
        return self._done == self._submitted

    def behind(self):
        return self._backlog >= self._max_backlog or self._failure is not None

    def failure(self):
        return self._failure

    def wait(self):
        """Block until the thread has written everything told, or a write failed."""
        while self._last is not None and self._failure is None:
            if concurrent.futures.wait([self._last], timeout=_RETRY_SECONDS).done:
                return

    def restore(self, position):
        """Cut the files of an earlier run back to ``position``: the file it names to its
        size, later files of that run deleted (they hold only uncommitted records)."""
        if not isinstance(position, dict) or not isinstance(position.get("prefix"), str):
            return
        prefix, name, size = position["prefix"], position.get("file"), position.get("size")
        kept = _serial_of(name) if isinstance(name, str) else 0
        for other in os.listdir(self._directory):
            serial = _serial_of(other) if other.startswith(prefix + "-") else None
            path = os.path.join(self._directory, other)
            if serial is not None and serial > kept:
                log.info("frontier::removing %s: it holds only records of outcomes after "
                         "the last commit", path)
                os.remove(path)
            elif other == name and isinstance(size, int) and os.path.getsize(path) > size:
                log.info("frontier::cutting %s back to %d bytes (the last commit)", path, size)
                os.truncate(path, size)

    def _write(self, curi):
        size = len(curi.content_body or b"")
        with self._caught_up:
            limit = 2 * self._max_backlog
            if self._backlog and self._backlog + size > limit and not self._waited:
                self._waited = True
                log.warning("frontier::the WARC writer is %d bytes behind (twice "
                            "WARC_MAX_BACKLOG=%d): the master waits for the disk",
                            self._backlog, self._max_backlog)
            while self._backlog and self._backlog + size > limit and self._failure is None:
                self._caught_up.wait(_RETRY_SECONDS)  # a failed disk: bounded by the flights
            self._backlog += size
        self._submitted += 1
        self._last = self._thread.submit(self._write_now, curi, size)
        self._last.add_done_callback(_report_failure)

    def _close_file(self):
        """(In the writer thread, or after it ended.)  Close the file, fsynced."""
        if self._file is not None:
            self._make_durable(self._file)
            output, self._file, self._writer = self._file, None, None
            output.close()

    def _make_durable(self, output):
        if self._fsync and self._unsynced:
            output.fsync()
            self._unsynced = False

    def _settle(self):
        """Close a full file; fsync the open one (the writer is idle: a commit may come)."""
        if self._file.size >= self._max_size:
            self._close_file()
        else:
            self._make_durable(self._file)

    def _write_now(self, curi, size):
        """(In the writer thread.)  Write one outcome's records, trying again while the
        disk refuses them; fsync once there is nothing more to write."""
        try:
            faults.point("warc.before_write")
            if not self._retrying(self._write_records, curi):
                return  # closing: this outcome was not committed, it is crawled again
            faults.point("warc.after_write")
            if self._file is not None and (self._file.size >= self._max_size
                                           or self._done + 1 == self._submitted):
                if not self._retrying(self._settle):
                    return
            if self._failure is not None:
                log.warning("frontier::%s can be written again; the crawl goes on",
                            self._directory)
                self._failure = None
        finally:
            self._done += 1
            with self._caught_up:
                self._backlog -= size
                self._caught_up.notify()

    def _retrying(self, work, *args):
        """``work(*args)`` until it succeeds (True) or the sink closes (False); after a failed
        write of records the file is cut back to the last record boundary."""
        while True:
            try:
                work(*args)
                return True
            except OSError as exc:
                if work == self._write_records:
                    self._cut_back()
                self._failed(exc)
                if self._closing.wait(_RETRY_SECONDS):
                    return False
            except Exception:
                if work == self._write_records:
                    self._cut_back()
                raise  # a record that cannot be built (logged): the file stays whole

    def _failed(self, exc):
        if self._failure is None:
            log.error("frontier::writing WARC records to %s failed: %s. The crawl dispatches "
                      "nothing and commits nothing until they can be written (tried every "
                      "%.0f s)", self._directory, exc, _RETRY_SECONDS)
        self._failure = "cannot write WARC_DIR=%s: %s" % (self._directory, exc.strerror or exc)

    def _cut_back(self):
        """After a failed write: the open file back to the last record boundary (a file
        whose warcinfo record could not be written is removed)."""
        output = self._file
        if output is None:
            return
        if self._position.get("file") == os.path.basename(output.path):
            try:
                output.cut(self._position["size"])
                return
            except OSError:
                log.exception("frontier::cutting %s back to %d bytes failed", output.path,
                              self._position["size"])
        self._file = self._writer = None  # a new file, or one that cannot be cut: given up
        try:
            output.close()
            if self._position.get("file") != os.path.basename(output.path):
                os.remove(output.path)
                self.paths.remove(output.path)
        except OSError:
            log.exception("frontier::removing %s failed", output.path)

    def _write_records(self, curi):
        status = curi.status_code
        if (not isinstance(status, int) or not 100 <= status < 599
                or curi.content_body is None):
            return
        if self._writer is None:
            self._open()
        date = _warc_date(curi.end_processing or curi.begin_processing or time.time())
        truncated = curi.truncated_reason
        if truncated == _NOT_DOWNLOADED:
            response = self._not_downloaded(curi, status, date)
        else:
            response = self._response(curi, status, date, truncated)
        request = self._request(curi, date, response.rec_headers.get_header("WARC-Record-ID"))
        self._writer.write_record(response)
        self._writer.write_record(request)
        self._file.write_out()
        self._unsynced = True
        self._position = {"prefix": self._prefix, "file": os.path.basename(self._file.path),
                          "size": self._file.size}

    def _open(self):
        while True:  # never overwrite: another sink may have started in the same second
            self._serial += 1
            path = os.path.join(self._directory, "%s-%05d.warc.gz" % (self._prefix, self._serial))
            try:
                self._file = _Output(path)
                break
            except FileExistsError:
                continue
        self._writer = WARCWriter(self._file, gzip=True)
        self.paths.append(path)
        info = self._writer.create_warcinfo_record(os.path.basename(path), {
            "software": "Spyder %s" % __version__,
            "format": "WARC File Format 1.0",
            "http-header-user-agent": self._user_agent,
        })
        self._writer.write_record(info)
        if self._fsync:  # the new file's name is durable before a commit names it
            directory = os.open(self._directory, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)

    def _response(self, curi, status, date, truncated):
        body = curi.content_body
        headers = [(name, value) for name, value in (curi.rep_header or {}).items()
                   if name.lower() not in _DROPPED_HEADERS]
        headers.append(("Content-Length", str(len(body))))
        warc_headers = {"WARC-Date": date}
        if truncated:
            warc_headers["WARC-Truncated"] = truncated
        return self._writer.create_warc_record(
            curi.url, "response", payload=io.BytesIO(body), length=len(body),
            warc_headers_dict=warc_headers,
            http_headers=StatusAndHeaders(_status_line(status), headers, protocol="HTTP/1.1"))

    def _not_downloaded(self, curi, status, date):
        """The status and headers of a response whose body was never read."""
        fields = [("http-status", _status_line(status))]
        fields += [("http-header-" + name, value)
                   for name, value in (curi.rep_header or {}).items()]
        payload = "".join("%s: %s\r\n" % (name, " ".join(str(value).split()))
                          for name, value in fields).encode("utf-8")
        return self._writer.create_warc_record(
            curi.url, "metadata", payload=io.BytesIO(payload), length=len(payload),
            warc_content_type="application/warc-fields",
            warc_headers_dict={"WARC-Date": date, "WARC-Truncated": _NOT_DOWNLOADED})

    def _request(self, curi, date, response_id):
        parts = urlsplit(curi.url)
        target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
        headers = [(name, value) for name, value in (curi.req_header or {}).items()
                   if name.lower() not in _HINT_HEADERS]
        if not any(name.lower() == "host" for name, _ in headers):
            headers.insert(0, ("Host", parts.netloc.rpartition("@")[2]))
        return self._writer.create_warc_record(
            curi.url, "request", payload=io.BytesIO(b""), length=0,
            warc_headers_dict={"WARC-Date": date, "WARC-Concurrent-To": response_id},
            http_headers=StatusAndHeaders("GET %s HTTP/1.1" % target, headers,
                                          is_http_request=True))


def _status_line(status):
    return "%d %s" % (status, http.client.responses.get(status, "Unknown"))


def _new_prefix(directory, prefix):
    """``prefix``, or ``prefix`` + ``r<n>`` if files of it exist (a sink started again in
    the same second by the same process): a restore of this run's position must never
    take an earlier run's files for its own."""
    names = os.listdir(directory)
    candidate, n = prefix, 1
    while any(name.startswith(candidate + "-") for name in names):
        candidate, n = "%sr%d" % (prefix, n), n + 1
    return candidate


def _serial_of(name):
    """The serial number in a file name written here, or None."""
    stem = name[:-len(".warc.gz")] if name.endswith(".warc.gz") else ""
    serial = stem.rpartition("-")[2]
    return int(serial) if serial.isdigit() else None


def _report_failure(future):
    if future.exception() is not None:
        log.error("frontier::the WARC writer failed", exc_info=future.exception())


def _warc_date(epoch):
    return datetime_to_iso_date(datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
                                .replace(tzinfo=None))
