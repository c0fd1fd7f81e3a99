"""The supervisor <-> worker codec: round trips, any split of the stream, broken frames."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from standby.process.ipc import (
    MAX_COUNT,
    MAX_FRAME,
    MAX_ITEMS,
    MAX_NUMBER,
    MAX_TEXT,
    TABLE_PART_SIZE,
    Counts,
    CountsAsk,
    CountsDone,
    CountsPush,
    DnsTargets,
    Failed,
    FrameDecoder,
    Health,
    IpcError,
    Message,
    MetricsAsk,
    MetricsEnd,
    MetricsPart,
    ObservedDead,
    Operator,
    Ready,
    SessionAnswer,
    SessionAsk,
    Switch,
    Synced,
    TablePart,
    TableSynced,
    TableTouch,
    Tag,
    clip,
    decode_body,
    encode,
    metrics_parts,
)

texts = st.text(max_size=200)
identities = st.tuples(
    st.sampled_from(["inet", "unix", "redirect"]),
    texts,
    st.none() | st.integers(min_value=0, max_value=MAX_NUMBER),
)
u32 = st.integers(min_value=0, max_value=MAX_NUMBER)
u64 = st.integers(min_value=0, max_value=MAX_COUNT)
counts = st.builds(
    Counts,
    u32,
    identities,
    u64,
    u64,
    u64,
    u64,
    st.lists(st.tuples(u32, u64), max_size=20).map(tuple),
    st.lists(u64, max_size=20).map(tuple),
    st.floats(allow_nan=False),
)
pushes = st.builds(
    CountsPush,
    identities,
    u64,
    u64,
    u64,
    u64,
    st.lists(st.tuples(u32, u64), max_size=20).map(tuple),
    st.lists(u64, max_size=20).map(tuple),
    st.floats(allow_nan=False),
)
messages: st.SearchStrategy[Message] = st.one_of(
    pushes,
    st.builds(Operator, identities, st.booleans(), st.booleans()),
    st.builds(Switch, st.none() | u32, st.none() | u32, st.booleans()),
    st.builds(CountsAsk, u32),
    counts,
    st.builds(MetricsAsk, u32),
    st.builds(MetricsPart, u32, texts),
    st.builds(MetricsEnd, u32),
    st.builds(CountsDone, u32),
    st.builds(ObservedDead, identities, texts, st.booleans(), u32),
    st.just(Ready()),
    st.builds(Failed, texts),
    st.builds(Health, identities, st.booleans(), texts, u32),
    st.just(Synced()),
    # shared tables (stale copies)
    st.builds(TablePart, texts, st.binary(max_size=300), st.booleans()),
    st.builds(TableTouch, texts, st.binary(max_size=300), st.floats(allow_nan=False), u32),
    st.just(TableSynced()),
    # issue 15: dynamic backends
    st.builds(DnsTargets, u32, st.binary(max_size=300)),
    # issue 15: sessions
    st.builds(SessionAsk, u32, texts, st.binary(max_size=300)),
    st.builds(SessionAnswer, u32, st.binary(max_size=300)),
)


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


@given(messages)
def test_round_trip(message: Message) -> None:
    assert FrameDecoder().feed(encode(message)) == [message]


@given(st.lists(messages, max_size=8), st.lists(st.integers(min_value=0, max_value=4000)))
def test_any_split_of_the_stream_gives_the_same_messages(
    sent: list[Message], cuts: list[int]
) -> None:
    stream = b"".join(encode(m) for m in sent)
    points = sorted({c for c in cuts if 0 < c < len(stream)})
    decoder = FrameDecoder()
    received: list[Message] = []
    last = 0
    for point in [*points, len(stream)]:
        received += decoder.feed(stream[last:point])
        last = point
    assert received == sent
    assert decoder.pending == 0


def test_byte_by_byte() -> None:
    sent: list[Message] = [
        Health(("inet", "127.0.0.1", 8080), False, "connect failed: Connection refused", 7),
        ObservedDead(("unix", "/run/app.sock", None), "refused \u00e9"),
        ObservedDead(("inet", "::1", 80), "502", http_level=True, epoch=0xFFFFFFFF),
        Synced(),
    ]
    decoder = FrameDecoder()
    received: list[Message] = []
    for piece in bytewise(b"".join(encode(m) for m in sent)):
        received += decoder.feed(piece)
    assert received == sent


def test_wire_format_is_length_then_tag() -> None:
    frame = encode(Health(("inet", "a", 80), True, "ok"))
    (length,) = struct.unpack("!I", frame[:4])
    assert length == len(frame) - 4
    assert frame[4] == Tag.HEALTH
    assert encode(Ready()) == b"\x00\x00\x00\x01" + bytes([Tag.READY])


def test_oversized_frame_is_refused_before_it_is_buffered() -> None:
    with pytest.raises(IpcError, match="exceeds"):
        FrameDecoder().feed(struct.pack("!I", MAX_FRAME + 1))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty frame"),
        (bytes([99]), "unknown message tag"),
        (bytes([Tag.READY]) + b"x", "after the last field"),
        (bytes([Tag.FAILED]) + b"\x00\x05ab", "truncated"),
        (bytes([Tag.FAILED]) + b"\x00\x01\xff", "not UTF-8"),
        (bytes([Tag.HEALTH]) + b"\x00\x00\x00\x00\x00\x02\x00\x00", "bad boolean"),
        (bytes([Tag.COUNTS_ASK]) + b"\x00\x00", "truncated"),
        (bytes([Tag.SWITCH]) + b"\x02", "bad boolean"),
        # A list longer than any sender may write: refused before reading its items.
        (bytes([Tag.COUNTS]) + bytes(4 + 2 + 2 + 1 + 32) + b"\xff\xff", "items exceed"),
    ],
)
def test_broken_bodies(body: bytes, message: str) -> None:
    with pytest.raises(IpcError, match=message):
        decode_body(body)
    with pytest.raises(IpcError, match=message):
        FrameDecoder().feed(struct.pack("!I", len(body)) + body)


@given(st.binary(max_size=300))
def test_garbage_either_decodes_or_raises_ipc_error(data: bytes) -> None:
    try:
        FrameDecoder().feed(data)
    except IpcError:
        pass


@pytest.mark.parametrize(
    "message",
    [
        Failed("x" * (MAX_TEXT + 1)),
        ObservedDead(("inet", "a", MAX_NUMBER + 1), "r"),
        ObservedDead(("inet", "a", -1), "r"),
        ObservedDead(("inet", "a", 1), "r", True, MAX_NUMBER + 1),
        Health(("inet", "a", 1), True, "r", -1),
        CountsAsk(MAX_NUMBER + 1),
        Switch(-1, None, True),
        Counts(1, ("inet", "a", 1), MAX_COUNT + 1, 0, 0, 0, (), (), 0.0),
        Counts(1, ("inet", "a", 1), 0, 0, 0, 0, ((200, 1),) * (MAX_ITEMS + 1), (), 0.0),
        Counts(1, ("inet", "a", 1), 0, 0, 0, 0, (), (1,) * (MAX_ITEMS + 1), 0.0),
        Counts(1, ("inet", "a", 1), 0, 0, 0, 0, ((200, -1),), (), 0.0),
    ],
)
def test_values_that_do_not_fit_are_refused(message: Message) -> None:
    with pytest.raises(IpcError):
        encode(message)


@given(st.text(max_size=MAX_TEXT), st.integers(min_value=0, max_value=50))
def test_clip_fits_and_keeps_a_prefix(text: str, limit: int) -> None:
    clipped = clip(text, limit)
    assert len(clipped.encode("utf-8", "replace")) <= limit
    assert text.startswith(clipped)


def test_clip_lets_any_reason_be_sent() -> None:
    message = Failed(clip("\u00e9" * MAX_TEXT))
    assert FrameDecoder().feed(encode(message)) == [message]


@given(u32, st.text(max_size=20_000))
def test_metrics_text_of_any_size_goes_in_parts_that_fit(serial: int, text: str) -> None:
    parts = metrics_parts(serial, text)
    assert parts[-1] == MetricsEnd(serial)
    for part in parts:
        assert len(encode(part)) <= MAX_FRAME  # each encodes: its text fits MAX_TEXT
    pieces = [p.text for p in parts[:-1] if isinstance(p, MetricsPart) and p.serial == serial]
    assert "".join(pieces) == text and len(pieces) == len(parts) - 1


def test_a_table_part_of_full_size_with_the_longest_name_fits_a_frame() -> None:
    part = TablePart("n" * MAX_TEXT, b"x" * TABLE_PART_SIZE, True)
    assert len(encode(part)) <= MAX_FRAME + 4
    assert decode_body(encode(part)[4:]) == part
    with pytest.raises(IpcError):
        encode(TablePart("n", b"x" * MAX_FRAME, True))
