from __future__ import annotations

import pytest

from standby.http1 import (
    MAX_CHUNK_LINE,
    MAX_TRAILER,
    ChunkedBody,
    LengthBody,
    UntilCloseBody,
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
    b"000003\r\nabc\r\n0\r\nExpires: never\r\nX-Sum:\tabc\r\n\r\n",
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
