"""The IPC messages that carry a worker's Control service requests to the supervisor and
its replies back (issue 15)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from standby.process.ipc import (
    CONTROL_PART_SIZE,
    MAX_CONTROL_ASK_BODY,
    MAX_NUMBER,
    ControlAsk,
    ControlReply,
    FrameDecoder,
    control_parts,
    encode,
)
from standby.server.responders import MAX_CONTROL_BODY

u32 = st.integers(min_value=0, max_value=MAX_NUMBER)
texts = st.text(max_size=200)


@given(u32, texts, texts, st.binary(max_size=2000))
def test_an_ask_round_trips(serial: int, method: str, target: str, body: bytes) -> None:
    ask = ControlAsk(serial, method, target, body)
    assert FrameDecoder().feed(encode(ask)) == [ask]


def test_the_largest_relayed_body_fits_one_frame() -> None:
    assert MAX_CONTROL_BODY <= MAX_CONTROL_ASK_BODY
    ask = ControlAsk(1, "PATCH", "/" + "x" * 4000, b"b" * MAX_CONTROL_BODY)
    assert FrameDecoder().feed(encode(ask)) == [ask]


@given(u32, st.integers(min_value=100, max_value=599), st.integers(0, 3 * CONTROL_PART_SIZE))
def test_a_reply_of_any_size_is_cut_and_joined(serial: int, status: int, size: int) -> None:
    body = bytes(i % 251 for i in range(size))
    parts = control_parts(serial, status, "application/json", "GET, PUT", body)
    decoder = FrameDecoder()
    received = [m for part in parts for m in decoder.feed(encode(part))]
    assert received == parts
    assert all(isinstance(m, ControlReply) for m in received)
    replies = [m for m in received if isinstance(m, ControlReply)]
    assert [m.last for m in replies] == [False] * (len(replies) - 1) + [True]
    assert b"".join(m.data for m in replies) == body
    assert {(m.serial, m.status, m.allow) for m in replies} == {(serial, status, "GET, PUT")}
