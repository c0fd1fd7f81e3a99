"""The supervisor <-> worker protocol: small messages on a socketpair (pure: no I/O here).

A frame is a 4-byte big-endian body length, then the body: one tag byte and the message's
fields in order. Field kinds: ``str`` (2-byte length, UTF-8), ``bool`` (one byte, 0 or 1),
``identity`` (``BackendSpec.identity``: two ``str`` and an optional number, a presence byte
then 4 bytes), ``u32``, ``u32?`` (a presence byte, then 4 bytes), ``u64``, ``f64``, ``u64s``
(a 2-byte count, then 8 bytes each), ``counts`` (a 2-byte count, then pairs of a 4-byte key
and an 8-byte count) and ``blob`` (a 4-byte length and the bytes). Backends are named by
identity, never by position, so both sides agree whatever order they built their tables in;
listeners and services by configuration indexes, which both sides of one worker share (a
reload starts new workers).

Worker -> supervisor: ``ObservedDead`` (the worker's board took a backend out: a refused
connect, or ``fall`` failures in a row seen by its requests; an observation to the writer),
``Ready`` (serving), ``Failed`` (could not start, and why). Supervisor -> worker:
``Health`` (the single writer's decision about one backend) and ``Synced`` (the current
state has been sent in full: the worker may start serving).

The operator's switches (control socket, in the supervisor) reach every worker as
``Operator`` (a backend's enable and drain state) and ``Switch`` (a listener or service
enabled or not); a (re)started worker gets them before ``Synced``. Counters are summed on
demand: ``CountsAsk`` (supervisor -> worker), answered by one ``Counts`` per backend and
then ``CountsDone`` with the same serial; a worker also pushes its changed counters
(``CountsPush``) for the supervisor's ledger (``process.ledger``).

Supervision: every worker sends ``Beat`` every second from its event loop; a worker silent
too long is killed. While a slot has no serving worker (or one that missed two beats),
another worker of the same generation is told to ``Adopt`` its listening sockets, and to
``Release`` them once the slot's own worker serves (or beats) again.

Shared tables (issue 13: state that belongs to the proxy; today the stale copies): records
travel both ways as ``TablePart`` pieces (``blob``: a 4-byte length and the bytes, bounded
by the frame), a freshness confirmation as ``TableTouch``; ``TableSynced`` tells a new
worker it has every table whole. ``process/tables.py`` drives them.

A worker's ``Control`` service (issue 15) relays each request as ``ControlAsk``; the
supervisor decides it as on the control socket and answers with ``ControlReply`` pieces.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Identity = tuple[str, str, int | None]  # BackendSpec.identity

# A frame carries one backend's identity and a short reason: anything bigger is a broken
# peer, not a message to buffer.
MAX_FRAME = 64 * 1024
# Text fields (addresses, reasons): plenty for a reason or an address, and small enough
# that any message of a few fields stays far below MAX_FRAME; senders clip longer reasons.
MAX_TEXT = 4096
MAX_NUMBER = 0xFFFFFFFF  # the optional number of an identity: a port or a status code
SERIAL_MODULO = 1 << 32  # serials (CountsAsk, MetricsAsk...) travel as u32: they wrap here
MAX_COUNT = 0xFFFFFFFFFFFFFFFF  # a counter: 64 bits never wrap in a process's life
# Entries of a list field (status codes seen, latency buckets): status codes are 3 digits,
# so 1000 is every possible one; far below what would make a frame exceed MAX_FRAME.
MAX_ITEMS = 1000
_LENGTH = struct.Struct("!I")
_TEXT_LENGTH = struct.Struct("!H")
_NUMBER = struct.Struct("!I")
_COUNT = struct.Struct("!Q")
_FLOAT = struct.Struct("!d")
_PAIR = struct.Struct("!IQ")


# The bytes of a record carried by one TablePart: a frame also holds the tag, the table's
# name (text, at most MAX_TEXT) and the field lengths.
TABLE_PART_SIZE = MAX_FRAME - MAX_TEXT - 64
_BLOB_LENGTH = struct.Struct("!I")


class IpcError(Exception):
    """A frame that cannot be encoded or decoded: the channel is unusable."""


@dataclass(frozen=True, slots=True)
class ObservedDead:
    """Worker -> supervisor: this backend failed here. ``http_level``: it accepted the
    connection but answered badly (probe it with HTTP). ``epoch``: that of the last
    ``Health`` of this backend the worker had applied when it saw the failure (the
    supervisor ignores an observation older than its latest decision)."""

    identity: Identity
    reason: str
    http_level: bool = False
    epoch: int = 0


@dataclass(frozen=True, slots=True)
class Ready:
    """Worker -> supervisor: the worker serves its listeners."""


@dataclass(frozen=True, slots=True)
class Failed:
    """Worker -> supervisor: the worker could not start."""

    message: str


@dataclass(frozen=True, slots=True)
class Health:
    """Supervisor -> worker: the backend is alive or dead, and why. ``epoch``: the
    number of this decision (``HealthBoard.epoch_of``), echoed in ``ObservedDead``."""

    identity: Identity
    alive: bool
    reason: str
    epoch: int = 0


@dataclass(frozen=True, slots=True)
class Synced:
    """Supervisor -> worker: every backend's current state has been sent."""


@dataclass(frozen=True, slots=True)
class Operator:
    """Supervisor -> worker: the operator's state of one backend (enabled, draining)."""

    identity: Identity
    enabled: bool
    draining: bool


@dataclass(frozen=True, slots=True)
class Switch:
    """Supervisor -> worker: a listener (``service`` None) or a service enabled or not.
    ``listener`` None with a ``service``: one of the global services. Both None: the
    process's keep-alive (``standbyctl keepalive on|off``, an HA handover)."""

    listener: int | None
    service: int | None
    enabled: bool


@dataclass(frozen=True, slots=True)
class CountsAsk:
    """Supervisor -> worker: send your counters, tagged ``serial``."""

    serial: int


@dataclass(frozen=True, slots=True)
class Counts:
    """Worker -> supervisor: one backend's counters (an answer to ``CountsAsk``).
    ``latency``: observations per latency bucket (not cumulative), ``latency_sum`` seconds."""

    serial: int
    identity: Identity
    in_flight: int
    requests: int
    failovers: int
    resends: int
    statuses: tuple[tuple[int, int], ...]
    latency: tuple[int, ...]
    latency_sum: float


@dataclass(frozen=True, slots=True)
class CountsDone:
    """Worker -> supervisor: every ``Counts`` of ``serial`` has been sent."""

    serial: int


@dataclass(frozen=True, slots=True)
class MetricsAsk:
    """Worker -> supervisor: the OpenMetrics text of the whole service (every worker's
    counters summed), for a ``Metrics`` service; answered with ``MetricsPart`` pieces and
    one ``MetricsEnd``, tagged ``serial``."""

    serial: int


@dataclass(frozen=True, slots=True)
class MetricsPart:
    """Supervisor -> worker: the next piece of the text asked for by ``serial``."""

    serial: int
    text: str


@dataclass(frozen=True, slots=True)
class MetricsEnd:
    """Supervisor -> worker: the text of ``serial`` is complete."""

    serial: int


# -- issue 15: a worker's Control service asks the supervisor (tags 60-69) ---------------


@dataclass(frozen=True, slots=True)
class ControlAsk:
    """Worker -> supervisor: one request to a ``Control`` service, decided by the
    supervisor (the single writer of the operator's switches, and the one that reloads),
    so that every worker answers it alike; answered by ``ControlReply`` pieces."""

    serial: int
    method: str
    target: str
    body: bytes


@dataclass(frozen=True, slots=True)
class ControlReply:
    """Supervisor -> worker: a piece of the reply to ``serial``: its status, type and
    Allow (the same in every piece) and the next bytes of its body; ``last`` ends it."""

    serial: int
    status: int
    content_type: str
    allow: str
    data: bytes
    last: bool


# -- honest counters (issue 13): tags 30-39 ------------------------------------------------


@dataclass(frozen=True, slots=True)
class CountsPush:
    """Worker -> supervisor, unasked: one backend's counters, sent when they changed since
    the worker last reported them (with each ``Beat``: every second) and once more when it
    stops gracefully, so that the supervisor's ledger loses little when a worker dies.
    The fields of ``Counts`` without a serial; ``in_flight`` is informative only."""

    identity: Identity
    in_flight: int
    requests: int
    failovers: int
    resends: int
    statuses: tuple[tuple[int, int], ...]
    latency: tuple[int, ...]
    latency_sum: float


# -- heartbeat and adoption (issue 13, point 1) ---------------------------------------------


@dataclass(frozen=True, slots=True)
class Beat:
    """Worker -> supervisor: my event loop runs (sent every ``HEARTBEAT_INTERVAL``)."""


@dataclass(frozen=True, slots=True)
class Adopt:
    """Supervisor -> worker: also accept on the listening sockets of worker slot ``slot``
    (its own worker is dead, restarting or starting), until ``Release``."""

    slot: int


@dataclass(frozen=True, slots=True)
class Release:
    """Supervisor -> worker: stop accepting on slot ``slot``'s sockets (its worker serves)."""

    slot: int


# -- shared tables (issue 13, stale copies; tags 40-49) -----------------------------------


@dataclass(frozen=True, slots=True)
class TablePart:
    """Both ways: the next piece of one record of table ``table``; ``last`` ends it. The
    pieces of one record follow each other on a channel (other messages may come between)."""

    table: str
    data: bytes
    last: bool


@dataclass(frozen=True, slots=True)
class TableTouch:
    """Both ways: the copy of ``key`` whose value has ``digest`` was confirmed at ``stamp``
    (a capture with the same content: only the time travels)."""

    table: str
    key: bytes
    stamp: float
    digest: int


@dataclass(frozen=True, slots=True)
class TableSynced:
    """Supervisor -> worker: every record of every table the worker serves has been sent."""


# --- issue 15: dynamic backends --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DnsTargets:
    """Supervisor -> worker: what DNS now says of the dynamic backend template ``index``
    (``DynamicSpec.index``): its targets, ``dns.expand.encode_targets``'s lines. The
    supervisor resolves (it owns health); every worker serves the same set. Sent at
    each change, and to a new worker before ``Synced``."""

    index: int
    targets: bytes


# --- issue 15: sessions ---


@dataclass(frozen=True, slots=True)
class SessionAsk:
    """Worker -> supervisor: the session ``key`` of table ``table``, which this worker's
    copy lacks (a miss in a worker's copy is not a miss of the proxy)."""

    serial: int
    table: str
    key: bytes


@dataclass(frozen=True, slots=True)
class SessionAnswer:
    """Supervisor -> worker: the record of the session asked by ``serial`` (empty: none)."""

    serial: int
    record: bytes


Message = (
    ObservedDead
    | Ready
    | Failed
    | Health
    | Synced
    | Operator
    | Switch
    | CountsAsk
    | Counts
    | CountsDone
    | MetricsAsk
    | MetricsPart
    | MetricsEnd
    | CountsPush
    | Beat
    | Adopt
    | Release
    | TablePart
    | TableTouch
    | TableSynced
    | ControlAsk
    | ControlReply
    | DnsTargets
    | SessionAsk
    | SessionAnswer
)


class Tag(enum.IntEnum):
    OBSERVED_DEAD = 1
    READY = 2
    FAILED = 3
    HEALTH = 4
    SYNCED = 5
    OPERATOR = 6
    SWITCH = 7
    COUNTS_ASK = 8
    COUNTS = 9
    COUNTS_DONE = 10
    METRICS_ASK = 11
    METRICS_PART = 12
    METRICS_END = 13
    COUNTS_PUSH = 30
    BEAT = 20
    ADOPT = 21
    RELEASE = 22
    TABLE_PART = 40
    TABLE_TOUCH = 41
    TABLE_SYNCED = 42
    CONTROL_ASK = 60
    CONTROL_REPLY = 61
    DNS_TARGETS = 50  # issue 15
    SESSION_ASK = 52
    SESSION_ANSWER = 53


# One backend's counters, the fields ``Counts`` (asked) and ``CountsPush`` (pushed) share.
_BACKEND_FIGURES: tuple[tuple[str, str], ...] = (
    ("in_flight", "u64"),
    ("requests", "u64"),
    ("failovers", "u64"),
    ("resends", "u64"),
    ("statuses", "counts"),
    ("latency", "u64s"),
    ("latency_sum", "f64"),
)
# The layout table: tag -> (message class, its fields in wire order with their kinds).
_LAYOUT: dict[Tag, tuple[type[Message], tuple[tuple[str, str], ...]]] = {
    Tag.OBSERVED_DEAD: (
        ObservedDead,
        (("identity", "identity"), ("reason", "str"), ("http_level", "bool"), ("epoch", "u32")),
    ),
    Tag.READY: (Ready, ()),
    Tag.FAILED: (Failed, (("message", "str"),)),
    Tag.HEALTH: (
        Health,
        (("identity", "identity"), ("alive", "bool"), ("reason", "str"), ("epoch", "u32")),
    ),
    Tag.SYNCED: (Synced, ()),
    Tag.OPERATOR: (
        Operator,
        (("identity", "identity"), ("enabled", "bool"), ("draining", "bool")),
    ),
    Tag.SWITCH: (Switch, (("listener", "u32?"), ("service", "u32?"), ("enabled", "bool"))),
    Tag.COUNTS_ASK: (CountsAsk, (("serial", "u32"),)),
    Tag.COUNTS: (Counts, (("serial", "u32"), ("identity", "identity"), *_BACKEND_FIGURES)),
    Tag.COUNTS_DONE: (CountsDone, (("serial", "u32"),)),
    Tag.METRICS_ASK: (MetricsAsk, (("serial", "u32"),)),
    Tag.METRICS_PART: (MetricsPart, (("serial", "u32"), ("text", "str"))),
    Tag.METRICS_END: (MetricsEnd, (("serial", "u32"),)),
    Tag.COUNTS_PUSH: (CountsPush, (("identity", "identity"), *_BACKEND_FIGURES)),
    Tag.BEAT: (Beat, ()),
    Tag.ADOPT: (Adopt, (("slot", "u32"),)),
    Tag.RELEASE: (Release, (("slot", "u32"),)),
    Tag.TABLE_PART: (TablePart, (("table", "str"), ("data", "blob"), ("last", "bool"))),
    Tag.TABLE_TOUCH: (
        TableTouch,
        (("table", "str"), ("key", "blob"), ("stamp", "f64"), ("digest", "u32")),
    ),
    Tag.TABLE_SYNCED: (TableSynced, ()),
    Tag.CONTROL_ASK: (
        ControlAsk,
        (("serial", "u32"), ("method", "str"), ("target", "str"), ("body", "blob")),
    ),
    Tag.CONTROL_REPLY: (
        ControlReply,
        (
            ("serial", "u32"),
            ("status", "u32"),
            ("content_type", "str"),
            ("allow", "str"),
            ("data", "blob"),
            ("last", "bool"),
        ),
    ),
    Tag.DNS_TARGETS: (DnsTargets, (("index", "u32"), ("targets", "blob"))),
    Tag.SESSION_ASK: (SessionAsk, (("serial", "u32"), ("table", "str"), ("key", "blob"))),
    Tag.SESSION_ANSWER: (SessionAnswer, (("serial", "u32"), ("record", "blob"))),
}
_TAGS: dict[type[Message], Tag] = {cls: tag for tag, (cls, _) in _LAYOUT.items()}


def clip(text: str, limit: int = MAX_TEXT) -> str:
    """``text`` shortened so that its UTF-8 form fits in ``limit`` bytes."""
    raw = text.encode("utf-8", "replace")
    if len(raw) <= limit:
        return text
    return raw[:limit].decode("utf-8", "ignore")


# -- encoding ------------------------------------------------------------------------------


def _put_str(out: bytearray, value: object) -> None:
    if not isinstance(value, str):
        raise IpcError(f"expected text, got {type(value).__name__}")
    raw = value.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_TEXT:
        raise IpcError(f"text of {len(raw)} bytes exceeds {MAX_TEXT}")
    out += _TEXT_LENGTH.pack(len(raw))
    out += raw


def _put_bool(out: bytearray, value: object) -> None:
    if not isinstance(value, bool):
        raise IpcError(f"expected a bool, got {type(value).__name__}")
    out.append(1 if value else 0)


def _put_identity(out: bytearray, value: object) -> None:
    if not isinstance(value, tuple) or len(value) != 3:
        raise IpcError("an identity is (kind, address, number or None)")
    kind, address, number = value
    _put_str(out, kind)
    _put_str(out, address)
    if number is None:
        out.append(0)
        return
    if not isinstance(number, int) or isinstance(number, bool) or not 0 <= number <= MAX_NUMBER:
        raise IpcError(f"identity number out of range: {number!r}")
    out.append(1)
    out += _NUMBER.pack(number)


def _int(value: object, limit: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= limit:
        raise IpcError(f"number out of range: {value!r}")
    return value


def _put_u32(out: bytearray, value: object) -> None:
    out += _NUMBER.pack(_int(value, MAX_NUMBER))


def _put_optional_u32(out: bytearray, value: object) -> None:
    if value is None:
        out.append(0)
        return
    out.append(1)
    _put_u32(out, value)


def _put_u64(out: bytearray, value: object) -> None:
    out += _COUNT.pack(_int(value, MAX_COUNT))


def _put_f64(out: bytearray, value: object) -> None:
    if not isinstance(value, float):
        raise IpcError(f"expected a float, got {type(value).__name__}")
    out += _FLOAT.pack(value)


def _items(value: object) -> tuple[object, ...]:
    if not isinstance(value, tuple):
        raise IpcError(f"expected a tuple, got {type(value).__name__}")
    if len(value) > MAX_ITEMS:
        raise IpcError(f"{len(value)} items exceed {MAX_ITEMS}")
    return value


def _put_u64s(out: bytearray, value: object) -> None:
    items = _items(value)
    out += _TEXT_LENGTH.pack(len(items))
    for item in items:
        _put_u64(out, item)


def _put_counts(out: bytearray, value: object) -> None:
    items = _items(value)
    out += _TEXT_LENGTH.pack(len(items))
    for item in items:
        if not isinstance(item, tuple) or len(item) != 2:
            raise IpcError("a count is (key, count)")
        out += _PAIR.pack(_int(item[0], MAX_NUMBER), _int(item[1], MAX_COUNT))


def _put_blob(out: bytearray, value: object) -> None:
    if not isinstance(value, bytes):
        raise IpcError(f"expected bytes, got {type(value).__name__}")
    out += _BLOB_LENGTH.pack(len(value))  # the frame's own bound (MAX_FRAME) limits it
    out += value


_PUT: dict[str, Callable[[bytearray, object], None]] = {
    "str": _put_str,
    "bool": _put_bool,
    "identity": _put_identity,
    "u32": _put_u32,
    "u32?": _put_optional_u32,
    "u64": _put_u64,
    "f64": _put_f64,
    "u64s": _put_u64s,
    "counts": _put_counts,
    "blob": _put_blob,
}


def encode(message: Message) -> bytes:
    """One frame for ``message``; raises ``IpcError`` if a field does not fit."""
    tag = _TAGS[type(message)]
    body = bytearray((tag,))
    for name, kind in _LAYOUT[tag][1]:
        _PUT[kind](body, getattr(message, name))
    if len(body) > MAX_FRAME:
        raise IpcError(f"frame of {len(body)} bytes exceeds {MAX_FRAME}")
    return _LENGTH.pack(len(body)) + bytes(body)


# -- decoding ------------------------------------------------------------------------------


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, count: int) -> bytes:
        end = self.pos + count
        if end > len(self.data):
            raise IpcError("truncated field")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def text(self) -> str:
        (length,) = _TEXT_LENGTH.unpack(self.take(_TEXT_LENGTH.size))
        try:
            return self.take(length).decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            raise IpcError("text is not UTF-8") from None

    def flag(self) -> bool:
        byte = self.take(1)[0]
        if byte > 1:
            raise IpcError(f"bad boolean byte {byte}")
        return byte == 1

    def identity(self) -> Identity:
        kind = self.text()
        address = self.text()
        if not self.flag():
            return (kind, address, None)
        (number,) = _NUMBER.unpack(self.take(_NUMBER.size))
        return (kind, address, number)

    def u32(self) -> int:
        (number,) = _NUMBER.unpack(self.take(_NUMBER.size))
        return int(number)

    def optional_u32(self) -> int | None:
        return self.u32() if self.flag() else None

    def u64(self) -> int:
        (number,) = _COUNT.unpack(self.take(_COUNT.size))
        return int(number)

    def f64(self) -> float:
        (number,) = _FLOAT.unpack(self.take(_FLOAT.size))
        return float(number)

    def _length(self) -> int:
        (length,) = _TEXT_LENGTH.unpack(self.take(_TEXT_LENGTH.size))
        if length > MAX_ITEMS:
            raise IpcError(f"{length} items exceed {MAX_ITEMS}")
        return int(length)

    def u64s(self) -> tuple[int, ...]:
        return tuple(self.u64() for _ in range(self._length()))

    def blob(self) -> bytes:
        (length,) = _BLOB_LENGTH.unpack(self.take(_BLOB_LENGTH.size))
        return self.take(length)

    def counts(self) -> tuple[tuple[int, int], ...]:
        pairs = []
        for _ in range(self._length()):
            key, count = _PAIR.unpack(self.take(_PAIR.size))
            pairs.append((int(key), int(count)))
        return tuple(pairs)


_GET: dict[str, Callable[[_Reader], object]] = {
    "str": _Reader.text,
    "bool": _Reader.flag,
    "identity": _Reader.identity,
    "u32": _Reader.u32,
    "u32?": _Reader.optional_u32,
    "u64": _Reader.u64,
    "f64": _Reader.f64,
    "u64s": _Reader.u64s,
    "counts": _Reader.counts,
    "blob": _Reader.blob,
}


def decode_body(body: bytes) -> Message:
    """The message in one frame body (without its length prefix)."""
    if not body:
        raise IpcError("empty frame")
    try:
        tag = Tag(body[0])
    except ValueError:
        raise IpcError(f"unknown message tag {body[0]}") from None
    cls, fields = _LAYOUT[tag]
    reader = _Reader(body)
    reader.pos = 1
    values: dict[str, Any] = {name: _GET[kind](reader) for name, kind in fields}
    if reader.pos != len(body):
        raise IpcError(f"{len(body) - reader.pos} bytes after the last field")
    return cls(**values)


class FrameDecoder:
    """Bytes in, messages out, however the stream is split; an ``IpcError`` is final."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Bytes received that do not yet form a whole frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Message]:
        buffer = self._buffer
        buffer += data
        messages: list[Message] = []
        start = 0
        while len(buffer) - start >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(buffer, start)
            if length > MAX_FRAME:
                raise IpcError(f"frame of {length} bytes exceeds {MAX_FRAME}")
            end = start + _LENGTH.size + length
            if end > len(buffer):
                break
            messages.append(decode_body(bytes(buffer[start + _LENGTH.size : end])))
            start = end
        del buffer[:start]
        return messages


# Characters of metrics text per MetricsPart: at most 4 UTF-8 bytes each, within MAX_TEXT.
METRICS_PART_CHARS = MAX_TEXT // 4


def metrics_parts(serial: int, text: str) -> list[Message]:
    """``text`` as the MetricsPart messages that carry it, then MetricsEnd."""
    parts: list[Message] = [
        MetricsPart(serial, text[i : i + METRICS_PART_CHARS])
        for i in range(0, len(text), METRICS_PART_CHARS)
    ]
    parts.append(MetricsEnd(serial))
    return parts


# Body bytes per ControlReply: the frame also holds the tag, the serial, the status and two
# short texts (a content type and an Allow list).
CONTROL_PART_SIZE = MAX_FRAME - 2 * MAX_TEXT - 64
# The largest request body a Control service relays: its frame holds a method and a target.
MAX_CONTROL_ASK_BODY = MAX_FRAME - 2 * MAX_TEXT - 64


def control_parts(
    serial: int, status: int, content_type: str, allow: str, body: bytes
) -> list[Message]:
    """A Control service's reply as the ControlReply messages that carry it."""
    starts = range(0, max(len(body), 1), CONTROL_PART_SIZE)
    return [
        ControlReply(
            serial,
            status,
            content_type,
            allow,
            body[start : start + CONTROL_PART_SIZE],
            start + CONTROL_PART_SIZE >= len(body),
        )
        for start in starts
    ]
