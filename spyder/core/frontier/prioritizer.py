"""The prioritizer: when is a fetched URL due again, and at which priority level.

After every visit the frontier asks ``PRIORITIZER_CLASS`` for
``(level, seconds)``: the URL's new priority level and how long until its recrawl.
``SimpleTimestampPrioritizer`` (the original's) recrawls a page after
``PRIORITIZER_CRAWL_DELTA`` seconds times its level; each consecutive ``304 Not
Modified`` raises the level by one, up to ``PRIORITIZER_NUM_PRIORITIES``, so pages
that never change are visited less and less often.  Any other outcome (the page
changed, or it redirected) resets the level to ``PRIORITIZER_DEFAULT_PRIORITY``,
which is also the level of new URLs.  Lower levels sort first among URLs due at
the same time.
"""


class SimpleTimestampPrioritizer:
    """Recrawl after ``CRAWL_DELTA x level``; a 304 raises the level (see module doc)."""

    def __init__(self, settings):
        self._num_priorities = max(1, int(settings.PRIORITIZER_NUM_PRIORITIES))
        self.default_priority = min(max(1, int(settings.PRIORITIZER_DEFAULT_PRIORITY)),
                                    self._num_priorities)
        self._crawl_delta = float(settings.PRIORITIZER_CRAWL_DELTA)

    def calculate_priority(self, curi):
        """``(level, seconds until the next visit)`` for a URL that was just fetched."""
        if curi.current_priority and curi.status_code == 304:
            level = min(curi.current_priority + 1, self._num_priorities)
        else:
            level = self.default_priority
        return level, self._crawl_delta * level
