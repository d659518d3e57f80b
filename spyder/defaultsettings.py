"""Every Spyder setting, with its default and a one-line comment.

A crawl's ``settings.py`` (or ``-s KEY=VALUE`` on the command line) overrides any
of these; ``spyder.core.settings.Settings`` merges them.  A value of ``None`` on a
*derived* setting means "computed from other settings after merging" (see
``spyder.core.settings.DERIVED``): e.g. the worker-side socket addresses follow
the master-side ones, and every default address lives in PARENT_SOCKET_DIRECTORY.

Times are seconds (floats); timestamps are UTC epoch floats.
"""
import logging

# --------------------------------------------------------------------------- logging
# Root log level in the master process.
LOG_LEVEL_MASTER = logging.INFO
# Root log level in worker processes.
LOG_LEVEL_WORKER = logging.INFO
# Level of the logsink's own output; records below it are not written.
LOG_LEVEL_LOGSINK = logging.DEBUG
# Directory of the logsink's daily-rotated master.log / worker.log (when LOGSINK_CONFIG is unset).
LOG_DIR = "log"
# A logging.conf (fileConfig) or .json/.py dictConfig file for the logsink; None = stderr + LOG_DIR.
LOGSINK_CONFIG = None
# How many rotated daily log files the logsink keeps.
LOG_BACKUP_COUNT = 10

# --------------------------------------------------------------------------- fetching
# User-Agent header sent with every request; its product token is matched in robots.txt.
USER_AGENT = "Mozilla/5.0 (compatible; spyder/0.3; +https://github.com/retresco/spyder)"
# Concurrent HTTP requests per worker (its slots; each may buffer MAX_CONTENT_SIZE): raise it for many hosts with real latencies.
MAX_CLIENTS = 10
# Dispatches a worker holds beyond its free slots, so a slot that frees starts the next fetch without waiting for the master (at most what its slots finished in the last third of DISPATCH_CLAIM_TIMEOUT); 0 = none.
WORKER_PREFETCH = 20
# Let the HTTP client follow redirects itself (False: redirect targets become new links).
FOLLOW_REDIRECTS = False
# Redirects followed per request when FOLLOW_REDIRECTS is on.
MAX_REDIRECTS = 3
# Ask for gzip/deflate and decompress responses.
USE_GZIP = True
# HTTP client of the workers: "curl" (libcurl via pycurl, keeps connections alive, about a third of the CPU per fetch), "simple" (tornado's pure-Python client), "auto" (curl if pycurl is installed).
HTTP_CLIENT = "auto"
# HTTP proxy host; setting it needs PROXY_PORT and pycurl (pip install pycurl).
PROXY_HOST = None
# HTTP proxy port (an int) when PROXY_HOST is set.
PROXY_PORT = None
# HTTP proxy user name (optional).
PROXY_USERNAME = ""
# HTTP proxy password (optional).
PROXY_PASSWORD = ""
# Total time allowed for one request, in seconds.
REQUEST_TIMEOUT = 20.0
# Time allowed to connect, in seconds; None = REQUEST_TIMEOUT.
CONNECT_TIMEOUT = None
# Check TLS certificates (the real host name is fetched, so SNI and checks work).
VALIDATE_CERTIFICATES = True
# "host:port" -> ("ip", port) overrides applied by the workers' resolver.
STATIC_DNS_MAPPINGS = {}
# Entries of the DNS cache (workers' resolver, IP-based queue assignment).
SIZE_DNS_CACHE = 1000
# Seconds a DNS answer is cached.
DNS_CACHE_TTL = 300.0
# Largest body kept, in bytes; a larger one is cut and marked optional_vars["truncated"]="1" (robots.txt and sitemaps have their own limits).
MAX_CONTENT_SIZE = 10 * 1024 * 1024
# Content types downloaded past the headers (prefix match on the media type; robots.txt and sitemaps always are).
FETCH_CONTENT_TYPES = ["text/html", "application/xhtml+xml", "text/plain", "text/xml",
                       "application/xml"]

# --------------------------------------------------------------------------- master
# Dotted path of f(settings, zmq_context, io_loop, frontier), run before the master starts.
MASTER_CALLBACK = None
# Seconds between the master's one-line status log (and status broadcast).
MASTER_STATUS_INTERVAL = 10.0
# Seconds between roll calls ("hello") while the master knows no worker.
MASTER_HELLO_INTERVAL = 2.0
# Seconds a dispatched URL may stay without a result before it goes back to the frontier; None = 2 x REQUEST_TIMEOUT + 30.
LEASE_TIMEOUT = None
# Seconds a dispatch may wait unread in a worker's pipe: one claimed later is handed back unread, an unclaimed one returns to its queue (no attempt) this + 1 s after its dispatch.
DISPATCH_CLAIM_TIMEOUT = 3.0
# Seconds of silence after which a worker counts as dead.
WORKER_HEARTBEAT_TIMEOUT = 30.0
# Seconds between a worker's heartbeats.
WORKER_HEARTBEAT_INTERVAL = 5.0
# Masters one worker serves at once, sharing its MAX_CLIENTS slots: each a master's PARENT_SOCKET_DIRECTORY or a map of its ZEROMQ_MASTER_PUSH/_SUB, ZEROMQ_MGMT_MASTER/_WORKER; [] = the one master of the ZEROMQ_* settings.
WORKER_MASTERS = []
# Seconds the master waits for quit.ack and in-flight results on shutdown (workers: to finish fetches).
SHUTDOWN_TIMEOUT = 10.0
# Event loop of master, workers and logsink: "asyncio", "uvloop" (less CPU per event; pip install 'spyder[uvloop]') or "auto" (uvloop if installed).
EVENT_LOOP = "auto"
# MB of freed memory master, workers and logsink keep for reuse (glibc's trim threshold); 0 = glibc's default.
MALLOC_KEEP_MB = 16
# URLs added to the frontier when the master starts (besides what MASTER_CALLBACK seeds).
SEED_URLS = []
# Stop the master (exit 0) once the frontier says the crawl is done.
CRAWL_EXIT_WHEN_DONE = False
# The master's console (dashboard, JSON API, /metrics) as "host:port"; port 0 = any free port; "" or None = off.
MASTER_HTTP_ADDRESS = "127.0.0.1:8480"
# Token the console's control requests (and, off loopback, every request) must carry; required off loopback.
MASTER_HTTP_TOKEN = None

# --------------------------------------------------------------------------- frontier
# Dotted path of the frontier class.
FRONTIER_CLASS = "spyder.core.frontier.MultipleHostFrontier"
# Where the frontier keeps the crawl: "sqlite" (the state file below), "memory" (nothing kept)
# or "redis://host:port,host:port[/crawl]": a Redis Cluster that several masters share
# (docs/cluster.md).
FRONTIER_STORE = "sqlite"
# With a Redis store: this master's name, unique among the crawl's masters and the same
# when it restarts (its own state and sinks' positions); None: "master".
FRONTIER_MASTER_NAME = None
# With a Redis store: seconds a host queue stays taken by a master that stopped renewing it.
FRONTIER_QUEUE_LEASE = 10.0
# With a Redis store: replicas of its primary each take, renewal, admission and commit must
# reach (WAIT) before it counts, so a primary's death cannot lose it; 0: no WAIT.
FRONTIER_REDIS_WAIT_REPLICAS = 1
# With a Redis store: seconds a WAIT waits for those replicas before it logs and goes on.
FRONTIER_REDIS_WAIT_TIMEOUT = 1.0
# The frontier's SQLite file (":memory:" for throw-away crawls).
FRONTIER_STATE_FILE = "./state.db"
# Commit the frontier after this many operations ...
FRONTIER_CHECKPOINTING = 1000
# ... or after this many seconds, whichever comes first.
FRONTIER_CHECKPOINT_SECONDS = 2.0
# SingleHostFrontier: URLs read from the state file into memory at a time.
FRONTIER_HEAP_SIZE = 500
# Politeness: wait FACTOR x the last download time between two fetches from one queue ...
FRONTIER_CRAWL_DELAY_FACTOR = 4.0
# ... but at least this many seconds.
FRONTIER_MIN_DELAY = 5.0
# Longest robots.txt Crawl-delay honoured, in seconds.
FRONTIER_MAX_CRAWL_DELAY = 300.0
# URLs of one queue (host) in flight at the same time.
FRONTIER_HOST_CONCURRENCY = 1
# MultipleHostFrontier: queues crawled at the same time.
FRONTIER_ACTIVE_QUEUES = 100
# MultipleHostFrontier: URLs per activation before a queue is put on hold.
FRONTIER_QUEUE_BUDGET = 50
# MultipleHostFrontier: budget cost of one server error.
FRONTIER_QUEUE_BUDGET_PUNISH = 5
# Entries of the in-memory cache in front of the SQLite URL-seen test.
FRONTIER_SEEN_CACHE_SIZE = 100000
# SQLite page cache of the state file, in MiB (bounds the master's memory).
FRONTIER_SQLITE_CACHE_MB = 32
# Bits per URL of the Bloom filter in front of the SQLite URL-seen test, built with room
# for twice the known URLs (0 = none).
FRONTIER_BLOOM_BITS_PER_URL = 10
# Sort query parameters when canonicalising URLs (False keeps their order).
CANONICAL_SORT_QUERY = False
# Link hops from a seed beyond which URLs are not added; None = no limit.
CRAWL_MAX_DEPTH = None
# Stop adding URLs once this many are known; 0 = no limit.
CRAWL_MAX_PAGES = 0
# Retries of a transient failure (5xx, 599, 408, 429, expired lease) before giving up.
MAX_RETRIES = 3
# Seconds before the first retry; doubled on each further attempt.
RETRY_BACKOFF = 30.0
# Longest Retry-After honoured, in seconds.
RETRY_AFTER_MAX = 3600.0

# Dotted path of the prioritizer class.
PRIORITIZER_CLASS = "spyder.core.prioritizer.SimpleTimestampPrioritizer"
# Highest priority level (a page unchanged N times is recrawled after N x CRAWL_DELTA).
PRIORITIZER_NUM_PRIORITIES = 10
# Priority level of new URLs.
PRIORITIZER_DEFAULT_PRIORITY = 1
# Seconds between two visits of a page at priority level 1.
PRIORITIZER_CRAWL_DELTA = 86400.0
# Dotted path of the queue selector class (MultipleHostFrontier).
QUEUE_SELECTOR_CLASS = "spyder.core.queueselector.BiasedQueueSelector"
# Dotted path of the queue assignment class: host-based or IP-based queues.
QUEUE_ASSIGNMENT_CLASS = "spyder.core.queueassignment.HostBasedQueueAssignment"

# --------------------------------------------------------------------------- robots.txt
# Fetch and obey robots.txt (Disallow and Crawl-delay).
ROBOTSTXT_OBEY = True
# Seconds a host's robots.txt is cached before it is fetched again.
ROBOTSTXT_TTL = 86400.0
# Largest robots.txt downloaded and parsed, in bytes (RFC 9309: at least 500 KiB); the rest is ignored.
ROBOTSTXT_MAX_SIZE = 512 * 1024
# Rules of a robots.txt obeyed for our user agent, in units (a rule is 1, plus 1 per '*' and per 64 characters); the rest is ignored: each parse and check is bounded.
ROBOTSTXT_MAX_RULES = 1000
# Longest wait between two tries of an unreachable robots.txt (5xx, network error); its origin's URLs wait meanwhile.
ROBOTSTXT_RETRY_MAX_WAIT = 3600.0
# Crawl the sitemaps listed in robots.txt: their <loc> URLs join the crawl.
ROBOTSTXT_SITEMAPS = False
# Sitemap indexes followed below a sitemap robots.txt names (0 = the listed sitemaps only).
SITEMAP_MAX_DEPTH = 2
# URLs taken from one sitemap file; the rest is ignored.
SITEMAP_MAX_URLS = 50000
# Largest sitemap read, in bytes after decompression; the rest is ignored.
SITEMAP_MAX_SIZE = 50 * 1024 * 1024
# Bytes all sitemap decodes in progress in one worker may hold together (inflated steps, URLs kept); a decode past it stops, its file read in part.
WORKER_DECODE_MEMORY_MAX = 32 * 1024 * 1024
# Links taken from one page (HTML extraction); the rest are dropped and the result marked links_truncated.
LINKS_MAX_PER_PAGE = 20000
# Pages (and every sitemap) with a body above this many bytes are processed in the worker's extract thread, off its event loop.
EXTRACT_INLINE_MAX_SIZE = 128 * 1024

# --------------------------------------------------------------------------- processing
# Worker extract stage: dotted processor classes, run in order.
SPYDER_EXTRACTOR_PIPELINE = [
    "spyder.processor.limiter.DefaultLimiter",
    "spyder.processor.robotstag.RobotsTagProcessor",
    "spyder.processor.htmllinkextractor.DefaultHtmlLinkExtractor",
    "spyder.processor.httpextractor.HttpExtractor",
    "spyder.processor.sitemaps.SitemapExtractor",
]
# Worker scoper stage, run after the extractors.
SPYDER_SCOPER_PIPELINE = [
    "spyder.processor.scoper.RegexScoper",
    "spyder.processor.stripsessions.StripSessionIds",
    "spyder.processor.cleanupquery.CleanupQueryString",
]
# Regexes (case-insensitive, anchored at the start): a URL must match one; [] = the seeds' hosts.
REGEX_SCOPE_POSITIVE = []
# Regexes (case-insensitive, anchored at the start): a URL matching any is out of scope.
REGEX_SCOPE_NEGATIVE = []
# Redirect targets that are never followed (soft-404 pages).
HTTP_EXTRACTOR_404_REDIRECT = []
# Drop #fragments from extracted links.
REMOVE_ANCHORS_FROM_LINKS = True
# Query parameter names removed from links, besides the session ids (case-insensitive).
REMOVE_QUERY_NAMES = []
# Respect rel=nofollow and <meta name=robots content=nofollow>.
OBEY_NOFOLLOW = True

# --------------------------------------------------------------------------- sinks
# Dotted paths of sink classes, constructed with settings and added to the frontier.
SINKS = []
# fsync the built-in sinks' files before each checkpoint commits their positions (so a power cut cannot leave a gap).
SINK_FSYNC = True
# JsonLinesSink: the file outcomes are appended to.
JSONL_SINK_PATH = "crawl.jsonl"
# WarcSink: directory of the WARC files.
WARC_DIR = "warc"
# WarcSink: start a new WARC file once the current one is this large, in bytes.
WARC_MAX_SIZE = 1024 * 1024 * 1024
# WarcSink: archive the robots.txt responses too (as Heritrix does).
WARC_ROBOTS_TXT = True
# WarcSink: body bytes waiting for the writer thread at which dispatch pauses (at twice this the master waits).
WARC_MAX_BACKLOG = 64 * 1024 * 1024

# --------------------------------------------------------------------------- sockets
# Private directory (mode 0700) of the ipc sockets and the master lock; None = $XDG_RUNTIME_DIR/spyder-<uid> or /tmp/spyder-<uid>.
PARENT_SOCKET_DIRECTORY = None
# Master PUSH -> workers: CrawlUris to fetch; None = ipc://<PARENT_SOCKET_DIRECTORY>/spyder-zmq-master-push.sock.
ZEROMQ_MASTER_PUSH = None
# Send high-water mark of the master's PUSH socket (per worker).
ZEROMQ_MASTER_PUSH_HWM = 1
# Worker PULL <- master; None = ZEROMQ_MASTER_PUSH.
ZEROMQ_WORKER_PROC_FETCHER_PULL = None
# Receive high-water mark of that PULL; 0 = none (credit bounds the queue): a full queue stalls the connection, and libzmq 4.3.5 can then abort on SIGCONT.
ZEROMQ_WORKER_PROC_FETCHER_PULL_HWM = 0
# Worker PUB -> master: processed CrawlUris; None = ZEROMQ_MASTER_SUB.
ZEROMQ_WORKER_PROC_EXTRACTOR_PUB = None
# Send high-water mark of the result PUB (dispatch is credit-based, so it is never reached).
ZEROMQ_WORKER_PROC_EXTRACTOR_PUB_HWM = 10000
# Master SUB <- workers: processed CrawlUris; None = ipc://<PARENT_SOCKET_DIRECTORY>/spyder-zmq-master-sub.sock.
ZEROMQ_MASTER_SUB = None
# Master PUB -> workers: management (the master publishes here); None = ipc://<dir>/spyder-zmq-mgmt-master.sock.
ZEROMQ_MGMT_MASTER = None
# Workers PUB -> master: management (workers publish here); None = ipc://<dir>/spyder-zmq-mgmt-worker.sock.
ZEROMQ_MGMT_WORKER = None
# Logsink SUB <- everyone's log records; None = ipc://<PARENT_SOCKET_DIRECTORY>/spyder-logging.sock.
ZEROMQ_LOGGING = None
# CurveZMQ keys made by `spyder keys DIR`: encrypt and authenticate every socket; None = off.
ZEROMQ_CURVE_KEYS_DIR = None
# Seconds between ZeroMQ heartbeats on every connection (0 = none) ...
ZEROMQ_HEARTBEAT_IVL = 1.0
# ... and the silence after which a peer's connection is dropped.
ZEROMQ_HEARTBEAT_TIMEOUT = 5.0
# Largest message accepted on a bound socket, in bytes; None = 2 x MAX_CONTENT_SIZE + 1 MiB.
ZEROMQ_MAX_MESSAGE_SIZE = None
# Most URLs one data message carries (dispatches, results); each end announces its own, the smaller wins; 1 = one per message.
ZEROMQ_DATA_BATCH = 16
