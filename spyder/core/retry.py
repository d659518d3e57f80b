"""The retry policy: which statuses are transient, how long to wait, ``Retry-After``.

A result's status decides its *result class* (``result_class``): 2xx success,
3xx redirect, 4xx other than 408/429 not found, and everything else -- 5xx, 408,
429, the internal 599/710/711, no status at all -- a server error, which the
frontier retries.  The master routes by this class, the frontier retries by it and
robots.txt decides "allow all" or "try again" by it: one definition for all three.

``RetryPolicy`` gives the wait before the next try: ``RETRY_BACKOFF`` seconds,
doubling with each retry, at least the response's ``Retry-After`` (seconds or an
HTTP date, capped at ``RETRY_AFTER_MAX``), for up to ``MAX_RETRIES`` retries.  A 429
or 503 also holds the whole host for its ``Retry-After`` (``host_hold``).
"""
import datetime
import email.utils
import re

#: The result classes, in the order they are reported.
RESULT_CLASSES = ("success", "redirect", "not_found", "server_error")

#: 4xx statuses that are transient (Request Timeout, Too Many Requests).
TRANSIENT_CLIENT_ERRORS = frozenset((408, 429))

#: Statuses whose Retry-After holds every URL of the host, not only the one URL.
_HOST_HOLD_STATUSES = frozenset((429, 503))

#: Retry-After in seconds (ASCII digits only: str.isdigit also accepts "\xb2").
_DIGITS = re.compile(r"[0-9]+\Z")


def result_class(status):
    """The result class of an HTTP (or Spyder) status code; see the module docstring."""
    if isinstance(status, int) and not isinstance(status, bool):
        if 200 <= status < 300:
            return "success"
        if 300 <= status < 400:
            return "redirect"
        if 400 <= status < 500 and status not in TRANSIENT_CLIENT_ERRORS:
            return "not_found"
    return "server_error"


def is_server_fault(status):
    """A real HTTP answer that says the server is failing or overloaded (5xx, 408, 429)."""
    return (isinstance(status, int)
            and (500 <= status < 600 or status in TRANSIENT_CLIENT_ERRORS))


class RetryPolicy:
    """How often and after how long a transient failure is tried again."""

    def __init__(self, settings):
        self.max_retries = int(settings.MAX_RETRIES)
        self.backoff = float(settings.RETRY_BACKOFF)
        self._retry_after_max = float(settings.RETRY_AFTER_MAX)

    def wait(self, retries_so_far, curi, now):
        """Seconds before the next try: RETRY_BACKOFF doubling, at least Retry-After."""
        wait = self.backoff * (2 ** retries_so_far)
        retry_after = self.retry_after(curi, now)
        return wait if retry_after is None else max(wait, retry_after)

    def host_hold(self, curi, now):
        """Seconds the whole host waits after this result (429/503), or ``None``."""
        status = curi.status_code
        if not isinstance(status, int) or status not in _HOST_HOLD_STATUSES:
            return None
        hold = self.retry_after(curi, now)
        return self.backoff if hold is None else hold

    def retry_after(self, curi, now):
        """The response's Retry-After in seconds from ``now`` (capped), or ``None``."""
        value = (curi.rep_header or {}).get("Retry-After")
        if not value:
            return None
        value = value.strip()
        if _DIGITS.match(value):
            seconds = float(value)
        else:
            try:
                date = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError, IndexError, OverflowError):
                return None
            if date.tzinfo is None:  # "-0000": UTC as well
                date = date.replace(tzinfo=datetime.timezone.utc)
            seconds = date.timestamp() - now
        return min(max(seconds, 0.0), self._retry_after_max)
