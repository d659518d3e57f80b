"""Wire messages: CrawlUri round trips, DataMessage and MgmtMessage frames, validation."""
import msgpack
import pytest

from spyder.core.crawluri import CrawlUri
from spyder.core.wire.messages import (DataMessage, MessageError, MgmtMessage,
                                  deserialize_crawluri, serialize_crawluri)

pytestmark = pytest.mark.timeout(30)


def full_curi():
    return CrawlUri(
        url="http://www.example.com/ä?x=1", effective_url="http://www.example.com/",
        current_priority=2, begin_processing=1700000000.5, end_processing=1700000001.25,
        req_header={"Etag": '"abc"'}, rep_header={"Content-Type": "text/html"},
        req_time=0.75, queue_time=0.01, status_code=200, content_body=b"\x00\xffbody",
        optional_vars={"extracted_urls": "http://a/\nhttp://b/"}, depth=3, attempt=1)


def test_that_serialization_works():
    curi = full_curi()
    assert deserialize_crawluri(serialize_crawluri(curi)) == curi
    assert curi.extracted_urls == ["http://a/", "http://b/"]


def test_body_is_a_msgpack_map_with_version_and_field_names():
    body = msgpack.unpackb(serialize_crawluri(full_curi()), raw=False)
    assert body["v"] == 1
    assert body["url"] == "http://www.example.com/ä?x=1"
    assert body["content_body"] == b"\x00\xffbody"
    assert body["optional_vars"]["extracted_urls"] == "http://a/\nhttp://b/"


def test_missing_keys_default_unknown_keys_ignored_no_version_means_current():
    raw = msgpack.packb({"url": "http://a/", "future_field": [1, 2]}, use_bin_type=True)
    curi = deserialize_crawluri(raw)
    assert curi == CrawlUri(url="http://a/")
    assert curi.req_header == {} and curi.depth == 0 and curi.content_body is None


def test_that_data_messages_work():
    curi = full_curi()
    ticketed = DataMessage(b"master:host:1", curi, {"id": 7, "deadline": 12.5})
    assert DataMessage.from_frames(ticketed.serialize()) == ticketed
    frames = DataMessage(b"master:host:1", curi).serialize()
    assert all(isinstance(frame, bytes) for frame in frames)
    msg = DataMessage.from_frames(frames)
    assert msg.identity == b"master:host:1" and msg.curi == curi
    assert msg.serialize() == frames
    assert msg == DataMessage(b"master:host:1", full_curi())


def test_that_mgmt_messages_work():
    frames = [b"spyder.worker.", b"worker:h:2", b"be here now"]
    msg = MgmtMessage.from_frames(frames)
    assert (msg.topic, msg.identity, msg.data, msg.details) == tuple(frames) + (None,)
    assert msg.serialize() == frames
    assert msg == MgmtMessage(b"spyder.worker.", b"worker:h:2", b"be here now")
    with_details = MgmtMessage(b"spyder.worker.", b"w", b"heartbeat", {"slots": 10, "free": 3})
    parsed = MgmtMessage.from_frames(with_details.serialize())
    assert parsed.details == {"slots": 10, "free": 3} and parsed == with_details


def test_that_construction_works():
    msg = MgmtMessage(data=b"quit")
    assert msg.topic is None and msg.identity is None
    assert msg.serialize() == [b"", b"", b"quit"]  # never None frames
    data = DataMessage(identity=b"me")
    assert data.curi is None


@pytest.mark.parametrize("frames,reason", [
    ([b"one"], "expected 2 or 3 frames, got 1"),
    ([b"a", b"b", b"c", b"d"], "expected 2 or 3 frames, got 4"),
    ([b"id", msgpack.packb({"url": "u"}), b"\xc1"], "ticket frame is not valid msgpack"),
    ("not a list", "expected 2 or 3 frames"),
    ([b"id", "text"], "frame of type str"),
    ([b"id", b"\xc1"], "not valid msgpack"),
    ([b"id", msgpack.packb([1])], "expected a map"),
    ([b"id", msgpack.packb({"url": 1})], "field 'url'"),
    ([b"id", msgpack.packb({"url": "u", "req_time": "1"})], "field 'req_time'"),
    ([b"id", msgpack.packb({"url": "u", "status_code": True})], "field 'status_code'"),
    ([b"id", msgpack.packb({"url": "u", "optional_vars": {"a": 2}})], "field 'optional_vars'"),
    ([b"id", msgpack.packb({"url": "u", "content_body": "text"})], "field 'content_body'"),
    ([b"id", msgpack.packb({"url": "u", "v": 2})], "unsupported protocol version 2"),
    ([b"id", msgpack.packb({"status_code": 200})], "without a url"),
    # issue 18 item 8: every ticket key is type-checked
    ([b"id", msgpack.packb({"url": "u"}), msgpack.packb({"worker": [1]})], "ticket key 'worker'"),
    ([b"id", msgpack.packb({"url": "u"}), msgpack.packb({"id": "7"})], "ticket key 'id'"),
    ([b"id", msgpack.packb({"url": "u"}), msgpack.packb({"id": True})], "ticket key 'id'"),
    ([b"id", msgpack.packb({"url": "u"}), msgpack.packb({"deadline": "1"})],
     "ticket key 'deadline'"),
    ([b"id", msgpack.packb({"url": "u"}), msgpack.packb({"back": 1})], "ticket key 'back'"),
    ([b"id", msgpack.packb({"url": "u"}), msgpack.packb({"body": 0})], "ticket key 'body'"),
    ([b"id", msgpack.packb({"url": "u"}), msgpack.packb({"held": [1, "x"]})],
     "ticket key 'held'"),
    ([b"id", msgpack.packb({"url": "u"}), msgpack.packb({"free": 1.0})], "ticket key 'free'"),
])
def test_malformed_data_messages_raise_message_error(frames, reason):
    with pytest.raises(MessageError, match=reason):
        DataMessage.from_frames(frames)


def test_malformed_mgmt_messages_raise_message_error():
    for frames in ([b"a", b"b"], [b"a", b"b", b"c", b"\xc1"], [b"a", b"b", b"c", msgpack.packb(3)],
                   [b"a"] * 5):
        with pytest.raises(MessageError):
            MgmtMessage.from_frames(frames)
