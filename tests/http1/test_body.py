from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from standby.http1 import (
    MAX_CHUNK_LINE,
    MAX_TRAILER,
    ChunkedBody,
    LengthBody,
    UntilCloseBody,
)
from standby.http1.body import (
    FORBIDDEN_TRAILER_FIELDS,
    DechunkedBody,
    chunked_end_python,
    forbidden_trailer,
)
from tests.http1.feeding import bytewise, feed_body, pieces


def test_length_body() -> None:
    body = LengthBody(5)
    assert not body.done
    assert body.feed(b"ab") == (b"ab", b"")
    assert body.received == 2
    assert body.feed(b"cdeGET") == (b"cde", b"GET")
    assert body.done and body.received == 5
    assert body.feed(b"more") == (b"", b"more")
    assert LengthBody(0).done


def test_until_close_body() -> None:
    body = UntilCloseBody()
    assert body.feed(b"abc") == (b"abc", b"")
    assert body.feed(b"de") == (b"de", b"")
    assert not body.done and body.received == 5
    body.finish()
    assert body.done


VALID_CHUNKED = [
    b"0\r\n\r\n",
    b"5\r\nhello\r\n0\r\n\r\n",
    b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    b"A\r\n0123456789\r\n0\r\n\r\n",
    b"a;name=value\r\n0123456789\r\n0;last\r\n\r\n",
    b'3;q="quoted \\" string";x\r\nabc\r\n0\r\n\r\n',
    b"000003\r\nabc\r\n0\r\nServer-Timing: db;dur=53\r\nX-Sum:\tabc\r\n\r\n",
    b"1\r\n\r\r\n1\r\n\n\r\n0\r\n\r\n",  # CR and LF inside chunk data are data
]


@pytest.mark.parametrize("data", VALID_CHUNKED)
def test_chunked_valid_whole_and_byte_by_byte(data: bytes) -> None:
    for chunks in ([data + b"NEXT"], bytewise(data + b"NEXT")):
        body = ChunkedBody()
        forwarded, after, error = feed_body(body, chunks)
        assert error is None
        assert body.done
        assert forwarded == data
        assert after == b"NEXT"


def test_chunked_received_counts_payload() -> None:
    body = ChunkedBody()
    feed_body(body, [b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"])
    assert body.received == 11


def test_chunked_after_done_passes_everything_on() -> None:
    body = ChunkedBody()
    assert body.feed(b"0\r\n\r\n") == (b"0\r\n\r\n", b"")
    assert body.feed(b"xyz") == (b"", b"xyz")


def test_chunk_size_line_is_held_until_complete() -> None:
    body = ChunkedBody()
    assert body.feed(b"5") == (b"", b"")
    assert body.feed(b";a=b\r") == (b"", b"")
    assert body.feed(b"\nhel") == (b"5;a=b\r\nhel", b"")
    assert body.feed(b"lo\r") == (b"lo\r", b"")
    assert body.feed(b"\n0\r\nX: y\r") == (b"\n0\r\n", b"")
    assert body.feed(b"\n\r\n") == (b"X: y\r\n\r\n", b"")
    assert body.done


INVALID_CHUNKED = [
    ("not hex", b"zz\r\nhello\r\n0\r\n\r\n"),
    ("empty size", b"\r\nhello\r\n0\r\n\r\n"),
    ("negative", b"-5\r\nhello\r\n0\r\n\r\n"),
    ("0x prefix", b"0x5\r\nhello\r\n0\r\n\r\n"),
    ("leading space", b" 5\r\nhello\r\n0\r\n\r\n"),
    ("trailing space", b"5 \r\nhello\r\n0\r\n\r\n"),
    ("too many digits", b"00000000000000005\r\nhello\r\n0\r\n\r\n"),
    ("extension without name", b"5;\r\nhello\r\n0\r\n\r\n"),
    ("space before extension", b"5 ;a\r\nhello\r\n0\r\n\r\n"),
    ("space around equals", b"5;a = b\r\nhello\r\n0\r\n\r\n"),
    ("extension empty value", b"5;a=\r\nhello\r\n0\r\n\r\n"),
    ("extension no name", b"5;=b\r\nhello\r\n0\r\n\r\n"),
    ("extension open quote", b'5;a="b\r\nhello\r\n0\r\n\r\n'),
    ("extension control", b"5;a=\x01\r\nhello\r\n0\r\n\r\n"),
    ("bare LF size", b"5\nhello\r\n0\r\n\r\n"),
    ("bare CR size", b"5\rhello\r\n0\r\n\r\n"),
    ("CR inside size", b"5\r5\r\nhello\r\n0\r\n\r\n"),
    ("missing CRLF after data", b"5\r\nhelloXX0\r\n\r\n"),
    ("data too long", b"5\r\nhello!\r\n0\r\n\r\n"),
    ("bare LF after data", b"5\r\nhello\n0\r\n\r\n"),
    ("CR only after data", b"5\r\nhello\rX0\r\n\r\n"),
    ("bad trailer name", b"0\r\nX Y: z\r\n\r\n"),
    ("space before colon trailer", b"0\r\nX : z\r\n\r\n"),
    ("folded trailer", b"0\r\nX: y\r\n z\r\n\r\n"),
    ("NUL in trailer", b"0\r\nX: \x00\r\n\r\n"),
    ("bare LF trailer end", b"0\r\n\n"),
    ("chunk line too long", b"5;a=" + b"b" * MAX_CHUNK_LINE + b"\r\nhello\r\n0\r\n\r\n"),
    ("trailer too long", b"0\r\nX: " + b"y" * MAX_TRAILER + b"\r\n\r\n"),
]


@pytest.mark.parametrize(
    "data", [c[1] for c in INVALID_CHUNKED], ids=[c[0] for c in INVALID_CHUNKED]
)
@pytest.mark.parametrize("error_status", [400, 502])
def test_chunked_invalid_whole_and_byte_by_byte(data: bytes, error_status: int) -> None:
    for chunks in ([data], bytewise(data)):
        forwarded, _after, error = feed_body(ChunkedBody(error_status=error_status), chunks)
        assert error == error_status
        # Only bytes that came before the error were forwarded (none from the failing feed).
        assert data.startswith(forwarded)
        assert forwarded != data


@pytest.mark.parametrize(
    "data", [c[1] for c in INVALID_CHUNKED[:17]], ids=[c[0] for c in INVALID_CHUNKED[:17]]
)
def test_bad_first_chunk_line_forwards_nothing(data: bytes) -> None:
    for chunks in ([data], bytewise(data), pieces(data, [1, 3])):
        forwarded, _after, error = feed_body(ChunkedBody(), chunks)
        assert error == 400
        assert forwarded == b""


def test_error_in_later_chunk_forwards_only_validated_bytes() -> None:
    data = b"5\r\nhello\r\nzz\r\n"
    forwarded, _after, error = feed_body(ChunkedBody(), bytewise(data))
    assert error == 400
    assert forwarded == b"5\r\nhello\r\n"


def test_chunked_body_limit() -> None:
    data = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    forwarded, _after, error = feed_body(ChunkedBody(max_body=10), [data[:10], data[10:]])
    assert error == 413
    assert forwarded == b"5\r\nhello\r\n"
    forwarded, _after, error = feed_body(ChunkedBody(max_body=10), bytewise(data))
    assert error == 413
    assert forwarded == b"5\r\nhello\r\n"
    forwarded, _after, error = feed_body(ChunkedBody(max_body=11), bytewise(data))
    assert (forwarded, error) == (data, None)


def test_chunked_body_refuses_more_after_an_error() -> None:
    body = ChunkedBody()
    with pytest.raises(Exception):  # noqa: B017 - the HttpError itself is tested above
        body.feed(b"zz\r\n")
    assert body.done
    assert body.feed(b"0\r\n\r\n") == (b"", b"0\r\n\r\n")


# -- trailer fields that must not be forwarded (RFC 9110 6.5.1) ---------------------------


def _spellings(name: bytes) -> list[bytes]:
    """``name`` as a backend may write it: lower, Title-Case, upper, with ``_`` for ``-``."""
    title = b"-".join(part.capitalize() for part in name.split(b"-"))
    return [name, title, name.upper(), name.replace(b"-", b"_"), title.replace(b"-", b"_")]


@pytest.mark.parametrize("name", sorted(FORBIDDEN_TRAILER_FIELDS))
def test_each_forbidden_trailer_field_is_recognised_in_every_spelling(name: bytes) -> None:
    for spelling in _spellings(name):
        assert forbidden_trailer(spelling), spelling


@pytest.mark.parametrize(
    "name",
    [b"X-Forwarded-For", b"x_forwarded_proto", b"X-FORWARDED-HOST", b"X-Forwarded-Port"],
)
def test_x_forwarded_fields_are_forbidden_trailers(name: bytes) -> None:
    assert forbidden_trailer(name)


@pytest.mark.parametrize(
    "name",
    [b"X-Sum", b"Server-Timing", b"Digest", b"ETag", b"X-Forwarded", b"Content-MD5", b"Hosts"],
)
def test_other_trailer_fields_are_kept(name: bytes) -> None:
    assert not forbidden_trailer(name)


@pytest.mark.parametrize("error_status", [400, 502])
@pytest.mark.parametrize("name", sorted(FORBIDDEN_TRAILER_FIELDS))
def test_a_forbidden_trailer_line_is_cut_whole_and_byte_by_byte(
    name: bytes, error_status: int
) -> None:
    kept = b"5\r\nhello\r\n0\r\nX-Sum: 1\r\n"
    for spelling in _spellings(name):
        data = kept + spelling + b": smuggled\r\nServer-Timing: a\r\n\r\n"
        expected = kept + b"Server-Timing: a\r\n\r\n"
        for chunks in ([data + b"NEXT"], bytewise(data + b"NEXT")):
            body = ChunkedBody(error_status=error_status)
            forwarded, after, error = feed_body(body, chunks)
            assert (forwarded, after, error) == (expected, b"NEXT", None), spelling
            assert body.done and body.edited


def test_a_trailer_of_allowed_fields_goes_out_as_received() -> None:
    data = b"0\r\nX-Sum: 1\r\nServer-Timing: db;dur=1\r\n\r\n"
    body = ChunkedBody()
    assert feed_body(body, bytewise(data)) == (data, b"", None)
    assert not body.edited


def test_a_trailer_line_split_over_reads_is_cut_once_complete() -> None:
    body = ChunkedBody()
    assert body.feed(b"0\r\nContent-Le") == (b"0\r\n", b"")
    assert body.feed(b"ngth: 5\r\nX-A: b\r\n") == (b"X-A: b\r\n", b"")
    assert body.feed(b"\r\nGET") == (b"\r\n", b"GET")


def test_chunked_end_leaves_a_trailer_to_cut_to_the_framer() -> None:
    edited = b"5\r\nhello\r\n0\r\nSet-Cookie: a=b\r\n\r\n"
    plain = b"5\r\nhello\r\n0\r\nX-Sum: 1\r\n\r\n"
    assert chunked_end_python(b"HEAD" + edited, 4) == -1  # must not go out raw
    assert chunked_end_python(b"HEAD" + plain, 4) == 4 + len(plain)


# -- the decoding framer (a chunked body for an HTTP/1.0 client) ----------------------------


@st.composite
def chunked_messages(draw: st.DrawFn) -> tuple[bytes, bytes, bytes]:
    """(wire, payload, wire as forwarded): a valid chunked body with extensions and a
    trailer of allowed and forbidden fields in any spelling."""
    payload = draw(st.binary(max_size=300))
    out = []
    rest = payload
    while rest:
        size = draw(st.integers(1, len(rest)))
        ext = draw(st.sampled_from([b"", b";a", b";a=b", b';q="x y"']))
        digits = draw(st.sampled_from([b"%x", b"%X", b"00%x"])) % size
        out.append(digits + ext + b"\r\n" + rest[:size] + b"\r\n")
        rest = rest[size:]
    names = st.sampled_from(
        [b"X-Sum", b"Server-Timing", b"X-Forwarded-For"]
        + [n for name in sorted(FORBIDDEN_TRAILER_FIELDS)[:12] for n in _spellings(name)[:4:3]]
    )
    trailer = [
        (name, draw(st.sampled_from([b"1", b"", b" v a l"])))
        for name in draw(st.lists(names, max_size=4))
    ]
    lines = [name + b":" + value + b"\r\n" for name, value in trailer]
    kept = [
        line for (name, _), line in zip(trailer, lines, strict=True) if not forbidden_trailer(name)
    ]
    head = b"".join(out) + b"0\r\n"
    return head + b"".join(lines) + b"\r\n", payload, head + b"".join(kept) + b"\r\n"


@settings(max_examples=300, deadline=None)
@given(chunked_messages(), st.lists(st.integers(0, 2000), max_size=8))
@example((b"0\r\nHost: x\r\n\r\n", b"", b"0\r\n\r\n"), [])
def test_forwarded_and_decoded_bodies_whole_in_pieces_and_byte_by_byte(
    message: tuple[bytes, bytes, bytes], cuts: list[int]
) -> None:
    wire, payload, forwarded_wire = message
    data = wire + b"NEXT"
    for chunks in ([data], pieces(data, cuts), bytewise(data)):
        assert feed_body(ChunkedBody(error_status=502), chunks) == (forwarded_wire, b"NEXT", None)
        decoder = DechunkedBody(error_status=502)
        assert feed_body(decoder, chunks) == (payload, b"NEXT", None)
        assert decoder.done and decoder.received == len(payload)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=60), st.lists(st.integers(0, 100), max_size=4))
@example(b"5\r\nhel", [])
@example(b"5;\r\nhello\r\n0\r\n\r\n", [])
def test_the_decoder_refuses_and_stops_where_the_framer_does(data: bytes, cuts: list[int]) -> None:
    """Whatever the bytes: the same verdict (error status, done or not, what follows), and
    the decoded payload is the payload of the chunks the framer let through."""
    for chunks in ([data], pieces(data, cuts), bytewise(data)):
        framer, decoder = ChunkedBody(error_status=502), DechunkedBody(error_status=502)
        forwarded, after, error = feed_body(framer, chunks)
        decoded, decoded_after, decoded_error = feed_body(decoder, chunks)
        assert (decoded_after, decoded_error, decoder.done) == (after, error, framer.done)
        if error is None and framer.done:
            assert decoded == _payload_of(forwarded)


def _payload_of(wire: bytes) -> bytes:
    """The payload of a complete, valid chunked body (a plain reference decoder)."""
    out = bytearray()
    pos = 0
    while True:
        nl = wire.index(b"\r\n", pos)
        size = int(wire[pos:nl].split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += wire[nl + 2 : nl + 2 + size]
        pos = nl + 2 + size + 2


def test_the_decoder_drops_the_whole_trailer() -> None:
    data = b"5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nX-Sum: 1\r\nHost: x\r\n\r\n"
    assert feed_body(DechunkedBody(), bytewise(data)) == (b"hello world", b"", None)
    assert feed_body(DechunkedBody(), [data]) == (b"hello world", b"", None)


def test_the_decoder_keeps_the_body_limit() -> None:
    data = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    # As ChunkedBody: what an erring read held is not given out; earlier reads were.
    assert feed_body(DechunkedBody(max_body=10), [data]) == (b"", b"", 413)
    assert feed_body(DechunkedBody(max_body=10), bytewise(data)) == (b"hello", b"", 413)
