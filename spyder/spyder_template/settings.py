"""The settings of this crawl (made by ``spyder start``).

Only what differs from Spyder's defaults is set here; ``spyder settings`` prints
every setting with its effective value, ``spyder/defaultsettings.py`` explains each.

Run the whole crawl on this machine from this directory with ``spyder crawl``, or
the processes one by one (each in its own terminal, in this order):

    spyder logsink
    spyder master
    spyder worker          (as many as you like, on any machine)
"""
import logging
import os

here = os.path.dirname(os.path.abspath(__file__))

# Seeds come from seeds.txt and every outcome goes to sink.MySink: see master.py.
MASTER_CALLBACK = "master.initialize"

# The crawl's state (what is known, what is due when); keep it to resume a crawl.
FRONTIER_STATE_FILE = os.path.join(here, "state.db")

# Scope: a link is followed when it matches one of these regular expressions
# (case-insensitive, anchored at the start) ...  [] = the hosts of the seeds.
REGEX_SCOPE_POSITIVE = []
# ... and none of these.
REGEX_SCOPE_NEGATIVE = [r"^.*\.(jpe?g|png|gif|ico|css|js|zip|gz|pdf|mp3|mp4|avi)$"]

# Politeness: at least this many seconds between two requests to one host.
FRONTIER_MIN_DELAY = 5.0

# Logging: processes log at these levels; the logsink writes log/master.log and
# log/worker.log as logging.conf says.
LOG_LEVEL_MASTER = logging.INFO
LOG_LEVEL_WORKER = logging.INFO
LOGSINK_CONFIG = os.path.join(here, "logging.conf")
