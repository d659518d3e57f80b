"""An example Spyder crawl configuration.

Run a whole crawl on this machine with it:

    spyder crawl --settings settings.py https://www.example.org/

or run the daemons separately (each reads the same file):

    spyder logsink --settings settings.py
    spyder master  --settings settings.py
    spyder worker  --settings settings.py     # as many as you like, on any machine

Every setting and its default is listed in ``spyder/defaultsettings.py`` (and in the
README); only what differs from the defaults needs to be here.  ``spyder settings
--settings settings.py`` prints the effective values.
"""
import logging

# Who we are: sites see this User-Agent and match its product token in robots.txt.
USER_AGENT = "Mozilla/5.0 (compatible; spyder/0.3; +https://github.com/retresco/spyder)"

# Log INFO and above, in the master and in the workers.
LOG_LEVEL_MASTER = logging.INFO
LOG_LEVEL_WORKER = logging.INFO

# Where the frontier keeps its state; run again with the same file to resume.
FRONTIER_STATE_FILE = "./state.db"

# Seeds (besides the URLs given to `spyder crawl`), added when the master starts.
SEED_URLS = []

# Scope: with no positive pattern only the seeds' hosts are crawled.  Patterns are
# case-insensitive regular expressions anchored at the start of the URL.
REGEX_SCOPE_POSITIVE = []
REGEX_SCOPE_NEGATIVE = [r".*\.(jpe?g|png|gif|pdf|zip|gz|mp4|avi)$"]

# Politeness: at least 2 s between two requests to one host, longer for slow hosts
# (4 x the last download time), and whatever robots.txt's Crawl-delay asks for.
FRONTIER_MIN_DELAY = 2.0
FRONTIER_CRAWL_DELAY_FACTOR = 4.0
ROBOTSTXT_OBEY = True

# Limits: follow links at most 5 hops from a seed; stop adding URLs at 100,000.
CRAWL_MAX_DEPTH = 5
CRAWL_MAX_PAGES = 100000

# Results: one JSON line per URL and WARC files with the raw responses.
SINKS = ["spyder.sinks.jsonl.JsonLinesSink", "spyder.sinks.warc.WarcSink"]
JSONL_SINK_PATH = "crawl.jsonl"
WARC_DIR = "warc"

# Each worker fetches up to 10 pages at once.
MAX_CLIENTS = 10
