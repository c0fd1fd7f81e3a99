"""Stored copies: head cleaning, chunked decoding, rendering, the file format."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from standby.cache.entry import (
    ENTRY_OVERHEAD,
    FILE_PREFIX_SIZE,
    MAX_AGE_VALUE,
    CorruptEntry,
    Entry,
    dechunk,
    decode,
    decode_stored_at,
    encode,
    render,
    stored_head,
)
from standby.http1 import BODY_LENGTH, BODY_NONE, parse_response_head

RAW = (
    b"HTTP/1.0 200 Fine\r\n"
    b"Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
    b"Connection: keep-alive, X-Hop\r\n"
    b"Keep-Alive: timeout=5\r\n"
    b"X-Hop: 1\r\n"
    b"Transfer-Encoding: chunked\r\n"
    b"Trailer: X-Sum\r\n"
    b"Age: 7\r\n"
    b"Content-Type: text/html\r\n"
    b"Upgrade: h2c\r\n"
    b"Proxy-Connection: keep-alive\r\n"
    b"TE: trailers\r\n"
    b"X-End: yes\r\n"
    b"\r\n"
)


def test_stored_head_keeps_only_end_to_end_headers() -> None:
    head, age = stored_head(RAW)
    assert head == (
        b"HTTP/1.1 200 Fine\r\n"
        b"Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
        b"Content-Type: text/html\r\n"
        b"X-End: yes\r\n"
    )
    assert age == 7


@pytest.mark.parametrize(
    ("line", "age"), [(b"Age: 12", 12), (b"Age: -3", 0), (b"Age: 1e3", 0), (b"Age:9", 9)]
)
def test_stored_head_reads_the_age_it_carried(line: bytes, age: int) -> None:
    raw = b"HTTP/1.1 200 OK\r\n" + line + b"\r\nContent-Length: 3\r\n\r\n"
    head, initial_age = stored_head(raw)
    assert initial_age == age
    assert head == b"HTTP/1.1 200 OK\r\n"


def test_a_huge_age_is_capped() -> None:
    _, age = stored_head(b"HTTP/1.1 200 OK\r\nAge: 99999999999999999999\r\n\r\n")
    assert age == MAX_AGE_VALUE


@pytest.mark.parametrize(
    ("data", "body"),
    [
        (b"0\r\n\r\n", b""),
        (b"5\r\nhello\r\n0\r\n\r\n", b"hello"),
        (b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 1\r\n\r\n", b"hello world"),
        (b"A\r\n0123456789\r\n0\r\n\r\n", b"0123456789"),
        (b"5\r\nhello\r\n0\r\n", None),  # no final empty line
        (b"5\r\nhello\r\n", None),
        (b"5\r\nhell", None),
        (b"5\r\nhelloX\r\n0\r\n\r\n", None),
        (b"x\r\nhello\r\n0\r\n\r\n", None),
        (b"5\r\nhello\r\n0\r\n\r\nextra", None),
        (b"", None),
    ],
)
def test_dechunk(data: bytes, body: bytes | None) -> None:
    assert dechunk(data) == body


def chunked(body: bytes, cuts: list[int]) -> bytes:
    pieces = []
    start = 0
    for cut in [*sorted(c % (len(body) + 1) for c in cuts), len(body)]:
        if cut > start:
            pieces.append(b"%x\r\n%s\r\n" % (cut - start, body[start:cut]))
            start = cut
    return b"".join(pieces) + b"0\r\n\r\n"


@given(st.binary(max_size=300), st.lists(st.integers(min_value=0, max_value=300), max_size=8))
def test_dechunk_inverts_chunking(body: bytes, cuts: list[int]) -> None:
    data = chunked(body, cuts)
    assert dechunk(data) == body
    for end in range(len(data)):  # every truncation is incomplete, never a shorter body
        assert dechunk(data[:end]) is None


ENTRY = Entry(b"k", 200, b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n", b"hello", 1000.0, 3)


def test_render_adds_age_and_length() -> None:
    out = render(ENTRY, 1042.9, False)
    assert out == (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nAge: 45\r\nContent-Length: 5\r\n\r\nhello"
    )
    parsed = parse_response_head(out, b"GET")
    assert parsed is not None
    head, consumed = parsed
    assert (head.status, head.body, head.content_length) == (200, BODY_LENGTH, 5)
    assert out[consumed:] == b"hello"


def test_render_for_head_has_the_length_but_no_body() -> None:
    out = render(ENTRY, 1000.0, True)
    assert out.endswith(b"Age: 3\r\nContent-Length: 5\r\n\r\n")
    parsed = parse_response_head(out, b"HEAD")
    assert parsed is not None and parsed[1] == len(out)


def test_render_never_gives_a_negative_age() -> None:
    assert b"\r\nAge: 3\r\n" in render(ENTRY, 10.0, True)  # the wall clock stepped back


def test_render_204_has_no_content_length() -> None:
    entry = Entry(b"k", 204, b"HTTP/1.1 204 No Content\r\n", b"", 0.0)
    out = render(entry, 5.0, False)
    assert out == b"HTTP/1.1 204 No Content\r\nAge: 5\r\n\r\n"
    parsed = parse_response_head(out, b"GET")
    assert parsed is not None and parsed[0].body == BODY_NONE


@pytest.mark.parametrize(
    ("keep_alive", "http11", "line"),
    [
        (True, True, None),
        (False, True, b"Connection: close\r\n"),
        (False, False, b"Connection: close\r\n"),
        (True, False, b"Connection: keep-alive\r\n"),
    ],
)
def test_render_connection_header(keep_alive: bool, http11: bool, line: bytes | None) -> None:
    out = render(ENTRY, 1000.0, False, keep_alive=keep_alive, client_http11=http11)
    if line is None:
        assert b"Connection" not in out
    else:
        assert line in out


def test_cost_and_object_size() -> None:
    assert ENTRY.object_size == len(ENTRY.head) + 5
    assert ENTRY.cost == 1 + len(ENTRY.head) + 5 + ENTRY_OVERHEAD


entries = st.builds(
    Entry,
    key=st.binary(min_size=1, max_size=50),
    status=st.sampled_from([200, 204, 301, 404]),
    head=st.binary(max_size=50).map(lambda h: b"HTTP/1.1 200 OK\r\n" + h + b"\r\n"),
    body=st.binary(max_size=200),
    stored_at=st.floats(min_value=0, max_value=4e9),
    initial_age=st.integers(min_value=0, max_value=MAX_AGE_VALUE),
)


@given(entries)
def test_file_format_round_trip(entry: Entry) -> None:
    data = encode(entry)
    assert decode(data) == entry
    assert decode_stored_at(data[:FILE_PREFIX_SIZE]) == entry.stored_at


@given(entries, st.data())
def test_any_damage_is_detected(entry: Entry, data: st.DataObject) -> None:
    good = encode(entry)
    pos = data.draw(st.integers(min_value=0, max_value=len(good) - 1))
    flipped = good[:pos] + bytes([good[pos] ^ 0x01]) + good[pos + 1 :]
    with pytest.raises(CorruptEntry):
        decode(flipped)
    with pytest.raises(CorruptEntry):
        decode(good[:pos])
    with pytest.raises(CorruptEntry):
        decode(good + b"\0")


def test_decode_refuses_foreign_files() -> None:
    with pytest.raises(CorruptEntry):
        decode(b"")
    with pytest.raises(CorruptEntry):
        decode(b"#!/bin/sh\n" * 20)
    assert decode_stored_at(b"short") is None
