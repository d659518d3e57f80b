"""DefaultLimiter: the first extract-stage processor; no links are taken from robots.txt.

It marks a ``robots.txt`` response (by the URL's path, or the frontier's
``robots_fetch`` flag) with ``optional_vars["extraction_finished"] = "1"``, which
makes the link extractor skip the body.  Obeying robots.txt is the master's job
(``spyder.core.frontier.robots``).
"""
from urllib.parse import urlsplit

from spyder.core.constants import (CURI_EXTRACTION_FINISHED, CURI_OPTIONAL_TRUE,
                                   CURI_ROBOTS_FETCH)


class DefaultLimiter:
    """Stop link extraction for robots.txt responses."""

    def __init__(self, settings):
        pass

    def __call__(self, curi):
        url = curi.effective_url or curi.url or ""
        if (curi.optional_vars.get(CURI_ROBOTS_FETCH) == CURI_OPTIONAL_TRUE
                or ("robots.txt" in url and urlsplit(url).path.endswith("/robots.txt"))):
            curi.optional_vars[CURI_EXTRACTION_FINISHED] = CURI_OPTIONAL_TRUE
        return curi
