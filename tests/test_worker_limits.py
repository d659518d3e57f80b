"""A result never exceeds the master's ZEROMQ_MAX_MESSAGE_SIZE: links, then the body,
are cut so the URL still gets its outcome instead of a dropped connection."""
import pytest

from spyder.core import constants as C
from spyder.core.crawluri import CrawlUri
from spyder.core.wire.messages import DataMessage, deserialize_crawluri
from spyder.core.worker.zmqworker import _fit

pytestmark = pytest.mark.timeout(30)


def oversized(links, body):
    curi = CrawlUri(url="http://example.test/huge", status_code=200, content_body=body,
                    optional_vars={C.CURI_EXTRACTED_URLS: "\n".join(links)})
    msg = DataMessage(b"master:x:1", curi)
    return msg, msg.serialize()


def test_links_are_cut_at_a_line_to_fit():
    links = ["http://example.test/page/%06d" % i for i in range(20000)]
    msg, frames = oversized(links, b"x" * 1000)
    limit = len(frames[1]) // 2
    fitted = _fit(frames, msg, limit)
    assert len(fitted[1]) <= limit
    curi = deserialize_crawluri(fitted[1])
    kept = curi.extracted_urls
    assert 0 < len(kept) < len(links) and kept == links[:len(kept)]
    assert curi.optional_vars[C.CURI_LINKS_TRUNCATED] == "1"
    assert curi.content_body == b"x" * 1000 and C.CURI_TRUNCATED not in curi.optional_vars


def test_the_body_is_cut_when_links_are_not_enough():
    msg, frames = oversized(["http://example.test/a"], b"y" * 200000)
    fitted = _fit(frames, msg, 100000)
    assert len(fitted[1]) <= 100000
    curi = deserialize_crawluri(fitted[1])
    assert curi.optional_vars[C.CURI_TRUNCATED] == "1"
    assert 0 < len(curi.content_body) < 100000


def test_small_results_are_untouched():
    msg, frames = oversized(["http://example.test/a"], b"z")
    assert _fit(frames, msg, 10 ** 6) == frames
