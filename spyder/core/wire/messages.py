"""The two ZeroMQ message envelopes and their (de)serialisation.

``DataMessage`` carries a CrawlUri: frames ``[identity, body(, ticket)]`` where
``identity`` is the dispatching master's identity (workers copy it unchanged into
their reply), ``body`` is a msgpack map keyed by CrawlUri field names plus the
protocol version under ``"v"``, and ``ticket`` (optional) a msgpack map naming the
dispatch: its id and deadline from the master, the id, the answering worker and a
hand-back flag from the worker (keys ``TICKET_*`` in ``constants``), each key's type
checked on receipt (``check_ticket``).  Several URLs can share one message, ``[identity,
body1, ticket1, body2, ticket2, ...]``, sent to a peer that announced it takes them
(``ZEROMQ_DATA_BATCH``, ``data_batch``): ``joined_frames`` builds one,
``all_from_frames`` and ``received_data`` take one apart.  ``MgmtMessage`` is management traffic: ``[topic, identity, data]``
plus an optional 4th frame, a msgpack map of details (for example a worker's free
slots).

Both parse untrusted input: anything malformed raises ``MessageError`` (a
``ValueError``) with a short reason, and the receiving side counts and drops it.
See ``docs/protocol.md`` for the frame-by-frame description.
"""
import msgpack

from spyder.core import constants as C
from spyder.core.crawluri import CRAWLURI_FIELDS, CrawlUri
from spyder.core.settings import SettingsError

#: The data protocol version written into every data message.
PROTOCOL_VERSION = 1

#: Largest frame we parse; bounded again on sockets by ZEROMQ_MAX_MESSAGE_SIZE.
MAX_FRAME_SIZE = 256 * 1024 * 1024
#: Largest ZEROMQ_DATA_BATCH: URLs in one data message.
_MAX_BATCH = 1024
#: Largest WORKER_PREFETCH: dispatches a worker asks for beyond its slots.
MAX_PREFETCH = 1024

_STR_MAPS = ("req_header", "rep_header", "optional_vars")
_NUMBERS = ("begin_processing", "end_processing", "req_time", "queue_time")
_INTS = ("current_priority", "status_code", "depth", "attempt")


class MessageError(ValueError):
    """A received message is malformed; the reason says how."""


def _check_frames(frames, counts):
    if not isinstance(frames, (list, tuple)) or len(frames) not in counts:
        raise MessageError("expected %s frames, got %s" % (
            " or ".join(str(c) for c in counts),
            len(frames) if isinstance(frames, (list, tuple)) else type(frames).__name__))
    for frame in frames:
        if not isinstance(frame, (bytes, bytearray, memoryview)):
            raise MessageError("frame of type %s, expected bytes" % type(frame).__name__)
        if len(frame) > MAX_FRAME_SIZE:
            raise MessageError("frame of %d bytes exceeds %d" % (len(frame), MAX_FRAME_SIZE))
    return [bytes(f) for f in frames]


def _unpack_map(raw, what):
    try:
        value = msgpack.unpackb(raw, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types on garbage
        raise MessageError("%s is not valid msgpack: %s" % (what, exc)) from None
    if not isinstance(value, dict):
        raise MessageError("%s is a %s, expected a map" % (what, type(value).__name__))
    return value


def serialize_crawluri(curi):
    """Return the msgpack body of ``curi`` (with the protocol version)."""
    body = {name: getattr(curi, name) for name in CRAWLURI_FIELDS}
    body["v"] = PROTOCOL_VERSION
    return msgpack.packb(body, use_bin_type=True)


_ONLY_STR = frozenset((str,))


def _is_str_map(value):
    if not isinstance(value, dict):
        return False
    types = {*map(type, value), *map(type, value.values())}  # the quick test, in C
    return types <= _ONLY_STR or all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items())


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _test_for(name):
    """The type test of CrawlUri field ``name``'s (non-None) value."""
    if name in ("url", "effective_url"):
        return lambda value: isinstance(value, str)
    if name in _STR_MAPS:
        return _is_str_map
    if name in _NUMBERS:
        return _is_number
    if name in _INTS:
        return _is_int
    return lambda value: isinstance(value, bytes)  # content_body


#: (field, test of its value) for every CrawlUri field, in wire order.
_FIELD_TESTS = tuple((name, _test_for(name)) for name in CRAWLURI_FIELDS)


def _checked(values):
    """The CrawlUri fields among ``values`` (a mapping), type-checked: the keyword
    arguments of the CrawlUri.  ``None`` means the default; raises ``MessageError``."""
    kwargs = {}
    for name, test in _FIELD_TESTS:
        value = values.get(name)
        if value is None:
            continue
        if not test(value):
            raise MessageError("field %r has a value of type %s" % (name, type(value).__name__))
        kwargs[name] = value
    if "url" not in kwargs:
        raise MessageError("CrawlUri without a url")
    return kwargs


def check_crawluri(curi):
    """Raise ``MessageError`` if the receiving side would drop ``curi`` as malformed
    (what ``deserialize_crawluri`` checks, without the round trip through msgpack)."""
    _checked({name: getattr(curi, name, None) for name in CRAWLURI_FIELDS})


def deserialize_crawluri(raw):
    """Parse and validate a msgpack body into a CrawlUri.

    Unknown keys are ignored, missing keys take their defaults, a missing ``"v"``
    means the current version.  Raises ``MessageError`` on anything else.
    """
    body = _unpack_map(raw, "CrawlUri body")
    version = body.get("v", PROTOCOL_VERSION)
    if version != PROTOCOL_VERSION:
        raise MessageError("unsupported protocol version %r (this side speaks %d)"
                           % (version, PROTOCOL_VERSION))
    return CrawlUri(**_checked(body))


def _is_bool(value):
    return isinstance(value, bool)


def _is_int_list(value):
    return isinstance(value, list) and all(_is_int(item) for item in value)


#: The type test of every ticket key (values may also be ``None``, i.e. absent):
#: master -> worker ``id``, ``deadline``, ``claim_by``, ``body``; worker -> master ``id``,
#: ``worker``, ``back``, ``void`` and the credit snapshot ``free``, ``held``, ``n``.
#: Unknown keys pass.
_TICKET_TESTS = (
    (C.TICKET_ID, _is_int),
    (C.TICKET_DEADLINE, _is_number),
    (C.TICKET_CLAIM_BY, _is_number),
    (C.TICKET_VOID, _is_bool),
    (C.TICKET_WORKER, lambda value: isinstance(value, bytes)),
    (C.TICKET_HANDED_BACK, _is_bool),
    (C.TICKET_BODY, _is_bool),
    (C.MGMT_DETAIL_FREE, _is_int),
    (C.MGMT_DETAIL_HELD, _is_int_list),
    (C.MGMT_DETAIL_SEQ, _is_int),
)


def check_ticket(ticket):
    """Raise ``MessageError`` unless every known key of the ticket map ``ticket`` has a
    value of its type (an unhashable worker identity or a string id would otherwise
    fail deep in the master's bookkeeping)."""
    for key, test in _TICKET_TESTS:
        value = ticket.get(key)
        if value is not None and not test(value):
            raise MessageError("ticket key %r has a value of type %s"
                               % (key, type(value).__name__))
    return ticket


class DataMessage:
    """``[identity, msgpack(CrawlUri)(, msgpack(ticket))]``: a URL on its way to or from a
    worker; ``ticket`` is a dict or None."""

    __slots__ = ("identity", "curi", "serialized_curi", "ticket")

    def __init__(self, identity=None, curi=None, ticket=None):
        self.identity = identity
        self.curi = curi
        self.ticket = ticket
        self.serialized_curi = None

    @classmethod
    def from_frames(cls, frames):
        """Parse received frames; raises ``MessageError`` when malformed."""
        frames = _check_frames(frames, (2, 3))
        return cls._parse(frames[0], frames[1], frames[2] if len(frames) == 3 else None)

    @classmethod
    def all_from_frames(cls, frames, limit):
        """Parse a data message that may carry up to ``limit`` URLs: ``[identity, body(,
        ticket)]``, or ``[identity, body1, ticket1, ..., bodyN, ticketN]`` (2 <= N <= limit,
        every URL with its ticket).  Returns a list with one DataMessage per URL, or the
        ``MessageError`` of a URL whose body or ticket is malformed (the others stand);
        raises ``MessageError`` when the envelope itself is (its frame count)."""
        count = len(frames) if isinstance(frames, (list, tuple)) else 0
        if count <= 3:
            return [cls.from_frames(frames)]
        if count % 2 == 0 or count > 2 * limit + 1:
            raise MessageError("%d frames: not 2, 3, or an identity and up to %d (body, ticket) "
                               "pairs" % (count, limit))
        frames = _check_frames(frames, (count,))
        parsed = []
        for i in range(1, count, 2):
            try:
                parsed.append(cls._parse(frames[0], frames[i], frames[i + 1]))
            except MessageError as exc:
                parsed.append(exc)
        return parsed

    @classmethod
    def _parse(cls, identity, body, ticket):
        ticket = check_ticket(_unpack_map(ticket, "ticket frame")) if ticket is not None else None
        msg = cls(identity, deserialize_crawluri(body), ticket)
        msg.serialized_curi = body
        return msg

    def serialize(self):
        """The frames to send: ``[identity, body(, ticket)]``, all bytes."""
        frames = [self.identity or b"", serialize_crawluri(self.curi)]
        if self.ticket is not None:
            frames.append(msgpack.packb(self.ticket, use_bin_type=True))
        return frames

    def __eq__(self, other):
        return (isinstance(other, DataMessage) and self.identity == other.identity
                and self.curi == other.curi and self.ticket == other.ticket)

    def __repr__(self):
        return "DataMessage(identity=%r, curi=%r, ticket=%r)" % (self.identity, self.curi,
                                                                 self.ticket)


def data_batch(settings):
    """``ZEROMQ_DATA_BATCH``, checked: the most URLs this process puts in one data message
    and takes in one (its peer's announcement may lower the first)."""
    batch = settings.ZEROMQ_DATA_BATCH
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= _MAX_BATCH:
        raise SettingsError("ZEROMQ_DATA_BATCH = %r: expected a whole number from 1 (one URL "
                            "per message) to %d" % (batch, _MAX_BATCH))
    return batch


def received_data(frames, limit, dropped, where):
    """The DataMessages of the received message ``frames`` (up to ``limit`` URLs): each
    malformed URL, or the whole message if its envelope is, is counted in ``dropped``
    (a ``DropCounter``) under ``where`` and left out."""
    try:
        parsed = DataMessage.all_from_frames(frames, limit)
    except MessageError as exc:
        parsed = [exc]
    good = []
    for msg in parsed:
        if isinstance(msg, MessageError):
            dropped.drop(where, msg)
        else:
            good.append(msg)
    return good


def announced_batch(details):
    """The most URLs per data message a peer announced in the management ``details`` (a
    map): 1 if it announced none (a Spyder of before) or nonsense."""
    batch = details.get(C.MGMT_DETAIL_BATCH)
    return batch if isinstance(batch, int) and not isinstance(batch, bool) and batch >= 1 else 1


def announced_prefetch(details):
    """The most dispatches beyond its slots a worker announced in the management
    ``details`` (at most ``MAX_PREFETCH``): 0 if it announced none (a Spyder of before) or
    nonsense."""
    prefetch = details.get(C.MGMT_DETAIL_PREFETCH)
    if isinstance(prefetch, int) and not isinstance(prefetch, bool) and prefetch > 0:
        return min(prefetch, MAX_PREFETCH)
    return 0


def joined_frames(messages):
    """One data message of several: the frames ``[identity, body1, ticket1, ...]`` of the
    serialized messages ``messages`` (each ``[identity, body, ticket]``, one identity)."""
    frames = [messages[0][0]]
    for message in messages:
        frames += message[1:]
    return frames


class MgmtMessage:
    """``[topic, identity, data(, details)]``: management traffic.

    ``details`` is an optional dict sent as a msgpack map in a 4th frame.
    """

    __slots__ = ("topic", "identity", "data", "details")

    def __init__(self, topic=None, identity=None, data=None, details=None):
        self.topic = topic
        self.identity = identity
        self.data = data
        self.details = details

    @classmethod
    def from_frames(cls, frames):
        """Parse received frames; raises ``MessageError`` when malformed."""
        frames = _check_frames(frames, (3, 4))
        details = _unpack_map(frames[3], "details frame") if len(frames) == 4 else None
        return cls(frames[0], frames[1], frames[2], details)

    def serialize(self):
        """The frames to send; an unset field becomes an empty frame."""
        frames = [self.topic or b"", self.identity or b"", self.data or b""]
        if self.details is not None:
            frames.append(msgpack.packb(self.details, use_bin_type=True))
        return frames

    def __eq__(self, other):
        return (isinstance(other, MgmtMessage) and self.topic == other.topic
                and self.identity == other.identity and self.data == other.data
                and self.details == other.details)

    def __repr__(self):
        return "MgmtMessage(topic=%r, identity=%r, data=%r, details=%r)" % (
            self.topic, self.identity, self.data, self.details)


class DropCounter:
    """Counts malformed messages per socket; logs the first and then every 1000th.

    A flood of garbage must neither crash a process nor flood its log.
    """

    def __init__(self, logger):
        self._logger = logger
        self.counts = {}

    def drop(self, where, reason):
        count = self.counts.get(where, 0) + 1
        self.counts[where] = count
        if count == 1 or count % 1000 == 0:
            self._logger.warning("dropped malformed message #%d on %s: %s", count, where, reason)

    @property
    def total(self):
        return sum(self.counts.values())
