"""Names shared by every Spyder process: management topics and payloads,
``CrawlUri.optional_vars`` keys and Spyder's own (non-HTTP) status codes.

Every management frame is ``bytes``; ``optional_vars`` keys and values are ``str``.
The wire protocol built on these names is documented in ``docs/protocol.md``.
"""

# --- management topics (frame 0 of a management message) -------------------------
#: The general prefix of all management topics (never sent on its own).
ZMQ_SPYDER_MGMT = b"spyder."
#: Topic of everything exchanged between the master and its workers.
ZMQ_SPYDER_MGMT_WORKER = b"spyder.worker."
#: Topic of the master's crawl status broadcast, for supervisors such as ``spyder crawl``.
ZMQ_SPYDER_MGMT_MASTER = b"spyder.master."

# --- management payloads (frame 2) -------------------------------------------------
#: worker -> master: "I am here, send me work" (registration; details carry the slots).
ZMQ_SPYDER_MGMT_WORKER_AVAIL = b"be here now"
#: master -> workers: stop taking work, finish up and acknowledge.
ZMQ_SPYDER_MGMT_WORKER_QUIT = b"quit"
#: worker -> master: acknowledgement of ``quit``; the worker is leaving.
ZMQ_SPYDER_MGMT_WORKER_QUIT_ACK = b"quit.ack"
#: worker -> master: periodic sign of life (details carry the free slots).
ZMQ_SPYDER_MGMT_WORKER_HEARTBEAT = b"heartbeat"
#: master -> workers: roll call; every worker answers with ``be here now``.
ZMQ_SPYDER_MGMT_WORKER_HELLO = b"hello"
#: worker -> master: its free slots and the dispatches it holds changed (details as heartbeat).
ZMQ_SPYDER_MGMT_WORKER_CREDIT = b"credit"
#: master -> workers: a heartbeat's echo (details: worker, t, m, dead_after); the worker's
#: clock sample and licence to fetch (see ``spyder.core.wire.masterclock``).
ZMQ_SPYDER_MGMT_WORKER_ECHO = b"heartbeat.echo"
#: master -> supervisors (topic ``spyder.master.``): crawl status, details carry the numbers.
ZMQ_SPYDER_MGMT_MASTER_STATUS = b"status"
#: Topic prefix of the master's claim confirmations: ``spyder.claims.<worker identity>``,
#: so that only that worker's SUB receives them (publisher-side filtering).
ZMQ_SPYDER_MGMT_CLAIMS = b"spyder.claims."
#: master -> one worker (topic ``spyder.claims.<identity>``): the dispatch ids whose claim
#: the master registered in time (details ``ok``) and those that are not the worker's
#: (details ``void``): a claimed fetch goes on past its claim deadline only once confirmed.
ZMQ_SPYDER_MGMT_WORKER_CLAIMS = b"claims"
#: supervisor -> master: a worker process exited (details ``worker``: its identity); its
#: claimed dispatches return at once instead of after WORKER_HEARTBEAT_TIMEOUT.
ZMQ_SPYDER_MGMT_WORKER_GONE = b"worker.gone"

# --- keys of the optional 4th management frame (a msgpack map) ----------------------
#: int: how many URLs the worker can work on at once (its MAX_CLIENTS).
MGMT_DETAIL_SLOTS = "slots"
#: int: how many of those slots are free right now (0 while it may not take work).
MGMT_DETAIL_FREE = "free"
#: list of int: the dispatch ids the worker holds (taken from its PULL socket, unanswered).
MGMT_DETAIL_HELD = "held"
#: int: the number of the worker's credit snapshot (``free`` + ``held``): snapshots travel
#: in management messages and in results, which can overtake each other; the newest wins.
MGMT_DETAIL_SEQ = "n"
#: float: the worker's monotonic clock when it sent the heartbeat (echoed back as is).
MGMT_DETAIL_SENT = "t"
#: bytes: whose heartbeat an echo answers.
MGMT_DETAIL_WORKER = "worker"
#: float: the master's monotonic clock when it received the echoed heartbeat.
MGMT_DETAIL_RECEIVED = "m"
#: float: seconds of silence after which the master declares a worker dead.
MGMT_DETAIL_DEAD_AFTER = "dead_after"
#: float: the worker's worst event-loop lag (seconds) since its previous heartbeat.
MGMT_DETAIL_LOOP_LAG = "lag"
#: float: the worker's worst event-loop lag (seconds) since it started.
MGMT_DETAIL_LOOP_LAG_MAX = "lag_max"
#: int: the most URLs one data message may carry to the sender (worker: dispatches, in its
#: registration and heartbeats; master: results, in its heartbeat echoes); absent = 1.
MGMT_DETAIL_BATCH = "batch"
#: int: the most dispatches a worker asks for beyond its slots (``WORKER_PREFETCH``: its
#: ``free`` may exceed its ``slots`` by that much), in its registration and heartbeats;
#: absent = 0.
MGMT_DETAIL_PREFETCH = "prefetch"
#: list of int: dispatch ids whose claim the master registered (``claims``).
MGMT_DETAIL_OK = "ok"
#: list of int: dispatch ids a worker reported holding that are not its own (``claims``).
MGMT_DETAIL_VOID = "void"

# --- keys of a data message's ticket (its optional 3rd frame, a msgpack map) --------
#: int: the dispatch id (master -> worker, copied back in the result).
TICKET_ID = "id"
#: float: the master's monotonic clock by which the fetch must be over.
TICKET_DEADLINE = "deadline"
#: bytes: the worker that answers (worker -> master).
TICKET_WORKER = "worker"
#: bool: the worker hands the URL back unfetched (worker -> master).
TICKET_HANDED_BACK = "back"
#: float: the master's monotonic clock by which a worker must have claimed the dispatch
#: (master -> worker); one read later is handed back unread, an unclaimed one returns.
TICKET_CLAIM_BY = "claim_by"
#: bool: handed back unread because its claim deadline had passed (worker -> master).
TICKET_VOID = "void"
#: bool: false = leave the body out of the result, send its length and SHA-1 only
#: (master -> worker; absent = true).
TICKET_BODY = "body"
#: A result's ticket also carries the worker's credit snapshot under the management
#: keys ``free``, ``held`` and ``n`` (``MGMT_DETAIL_FREE``, ``_HELD``, ``_SEQ``).

# --- optional_vars keys -------------------------------------------------------------
#: user name for HTTP basic auth, taken from ``user:pass@`` in the URL.
CURI_SITE_USERNAME = "username"
#: password for HTTP basic auth.
CURI_SITE_PASSWORD = "password"
#: "1" once no more links must be extracted from this URL (set by the limiter for robots.txt).
CURI_EXTRACTION_FINISHED = "extraction_finished"
#: newline-separated absolute URLs found in the page (and redirect targets).
CURI_EXTRACTED_URLS = "extracted_urls"
#: number of link values on the page (or Location headers) that could not be parsed.
CURI_LINKS_DROPPED = "links_dropped"
#: "1" when the body was not kept in full (cut at a size limit, timeout or disconnect mid-body,
#: or not downloaded for its content type); the reason is in ``CURI_TRUNCATED_REASON``.
CURI_TRUNCATED = "truncated"
#: why the body was not kept in full, in WARC-Truncated words: ``length`` (a size limit),
#: ``time`` (timeout mid-body), ``disconnect`` (connection lost mid-body) or ``unspecified``
#: (not downloaded for its content type).
CURI_TRUNCATED_REASON = "truncated_reason"
#: "1" when the extracted links were cut to fit the master's ZEROMQ_MAX_MESSAGE_SIZE.
CURI_LINKS_TRUNCATED = "links_truncated"
#: "1" when the body was not downloaded because its content type is not wanted.
CURI_SKIPPED_CONTENT_TYPE = "skipped_content_type"
#: human-readable text of the error that produced a 599 or 710 status.
CURI_ERROR = "error"
#: "1" on the frontier's own robots.txt requests, so their results reach the robots logic.
CURI_ROBOTS_FETCH = "robots_fetch"
#: "1" on the frontier's requests for a sitemap (named by robots.txt, or by a sitemap index).
CURI_SITEMAP_FETCH = "sitemap_fetch"
#: newline-separated absolute URLs of the sitemaps a sitemap index names.
CURI_SITEMAPS = "sitemaps"
#: "1" when the page asked not to be followed (``<meta name=robots content=nofollow>`` or an
#: ``X-Robots-Tag: nofollow`` header).
CURI_NOFOLLOW = "nofollow"
#: "1" when the page asked not to be indexed (meta robots or ``X-Robots-Tag`` ``noindex``).
CURI_NOINDEX = "noindex"
#: hex SHA-1 of the body as sent, set by the worker's extract stage (so that the master's
#: sinks need not hash large bodies on its event loop).
CURI_CONTENT_SHA1 = "content_sha1"
#: the body's length in bytes (decimal), set by a worker that left the body out of its
#: result because the dispatch's ticket said ``body`` = false (no sink needs bodies).
CURI_CONTENT_LENGTH = "content_length"

CURI_OPTIONAL_TRUE = "1"
CURI_OPTIONAL_FALSE = "0"

# --- Spyder's own status codes ------------------------------------------------------
#: tornado's "no HTTP response": timeout, connection refused, DNS failure, TLS error.
CURI_ENETWORK = 599
#: an exception while processing the URL (a worker stage, or the master's handlers).
CURI_EUNCAUGHT_EXCEPTION = 710
#: the master's lease on a dispatched URL expired without a result (or its worker died).
CURI_ELEASE_EXPIRED = 711
