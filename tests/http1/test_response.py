from __future__ import annotations

import pytest

from standby.http1 import (
    BODY_CHUNKED,
    BODY_LENGTH,
    BODY_NONE,
    BODY_UNTIL_CLOSE,
    HttpError,
    ResponseHead,
    client_response_head,
    parse_response_head,
)
from standby.http1.response import dechunked_head, parse_response_head_python
from tests.http1.feeding import head_status


def resp(*lines: str, line1: str = "HTTP/1.1 200 OK") -> bytes:
    return "\r\n".join((line1, *lines, "", "")).encode("latin-1")


def parse(data: bytes, method: bytes = b"GET") -> ResponseHead:
    result = parse_response_head(data, method)
    assert result is not None
    head, consumed = result
    assert consumed == len(data)
    return head


def status(data: bytes, max_head: int = 65536) -> int | str:
    return head_status(lambda buf: parse_response_head(buf, b"GET", max_head), data)


def test_typical_response() -> None:
    data = resp("Content-Type: text/html", "Content-Length: 100")
    head = parse(data)
    assert (head.status, head.version, head.http11) == (200, b"HTTP/1.1", True)
    assert head.raw == data
    assert (head.body, head.content_length, head.keep_alive) == (BODY_LENGTH, 100, True)
    assert head.header(b"content-type") == b"text/html"
    assert head.header(b"x") is None


def test_pipelined_bytes_are_left() -> None:
    data = resp("Content-Length: 2")
    result = parse_response_head(bytearray(data + b"hi"), b"GET")
    assert result is not None and result[1] == len(data) and result[0].raw == data


def test_status_line_variants() -> None:
    assert parse(resp("Content-Length: 0", line1="HTTP/1.1 204")).status == 204
    assert parse(resp("Content-Length: 0", line1="HTTP/1.1 200 ")).status == 200
    assert parse(resp("Content-Length: 0", line1="HTTP/1.0 404 Not  Found")).version == b"HTTP/1.0"


@pytest.mark.parametrize(
    ("data", "method", "body", "length", "keep_alive"),
    [
        (resp("Content-Length: 5"), b"HEAD", BODY_NONE, 0, True),
        (resp("Transfer-Encoding: chunked"), b"HEAD", BODY_NONE, 0, True),
        (resp("Content-Length: 5", line1="HTTP/1.1 204 No Content"), b"GET", BODY_NONE, 0, True),
        (resp("Content-Length: 5", line1="HTTP/1.1 304 Not Modified"), b"GET", BODY_NONE, 0, True),
        (resp(line1="HTTP/1.1 100 Continue"), b"POST", BODY_NONE, 0, True),
        (
            resp("Upgrade: websocket", "Connection: Upgrade", line1="HTTP/1.1 101 Switching"),
            b"GET",
            BODY_NONE,
            0,
            False,
        ),
        (resp("Transfer-Encoding: Chunked"), b"GET", BODY_CHUNKED, 0, True),
        (resp("Content-Length: 7", "Content-Length: 7"), b"GET", BODY_LENGTH, 7, True),
        (resp("Content-Length: 0"), b"GET", BODY_NONE, 0, True),
        (resp(), b"GET", BODY_UNTIL_CLOSE, 0, False),
        (resp("Content-Length: 1", "Connection: close"), b"GET", BODY_LENGTH, 1, False),
        (resp("Content-Length: 1", line1="HTTP/1.0 200 OK"), b"GET", BODY_LENGTH, 1, False),
        (
            resp("Content-Length: 1", "Connection: Keep-Alive", line1="HTTP/1.0 200 OK"),
            b"GET",
            BODY_LENGTH,
            1,
            True,
        ),
        (
            resp("Connection: keep-alive", line1="HTTP/1.0 200 OK"),
            b"GET",
            BODY_UNTIL_CLOSE,
            0,
            False,
        ),
    ],
)
def test_framing(data: bytes, method: bytes, body: int, length: int, keep_alive: bool) -> None:
    head = parse(data, method)
    assert (head.body, head.content_length, head.keep_alive) == (body, length, keep_alive)


MALFORMED = [
    ("short status", resp(line1="HTTP/1.1 20 OK")),
    ("long status", resp(line1="HTTP/1.1 2000 OK")),
    ("status letters", resp(line1="HTTP/1.1 abc OK")),
    ("status below 100", resp(line1="HTTP/1.1 099 Low")),
    ("double space", resp(line1="HTTP/1.1  200 OK")),
    ("HTTP/2", resp(line1="HTTP/2 200 OK")),
    ("HTTP/1.2", resp(line1="HTTP/1.2 200 OK")),
    ("not http", resp(line1="ICY 200 OK")),
    ("CL differ", resp("Content-Length: 5", "Content-Length: 6")),
    ("CL invalid", resp("Content-Length: 5x")),
    ("CL list", resp("Content-Length: 5, 5")),
    ("CL with TE", resp("Content-Length: 5", "Transfer-Encoding: chunked")),
    ("TE chunked twice", resp("Transfer-Encoding: chunked, chunked")),
    ("TE chunked twice lines", resp("Transfer-Encoding: chunked", "Transfer-Encoding: chunked")),
    ("TE gzip chunked", resp("Transfer-Encoding: gzip, chunked")),
    ("TE gzip", resp("Transfer-Encoding: gzip")),
    ("bare CR", resp("X: a\rb")),
    ("NUL", resp("X: a\x00b")),
    ("control", resp("X: a\x02b")),
    ("obs-fold", resp("X: a", " b")),
    ("space before colon", resp("Content-Length : 5")),
    ("bare LF", b"HTTP/1.1 200 OK\nContent-Length: 0\n\n"),
    ("bare LF after status", b"HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n"),
]


@pytest.mark.parametrize("data", [c[1] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_whole_and_byte_by_byte(data: bytes) -> None:
    assert status(data) == 502


def test_oversized_head() -> None:
    data = resp(*[f"X-{i}: {'v' * 50}" for i in range(10)], "Content-Length: 0")
    assert status(data, max_head=len(data)) == "ok"
    assert status(data, max_head=len(data) - 1) == 502
    with pytest.raises(HttpError) as err:
        parse_response_head(data[:300], b"GET", 200)
    assert err.value.status == 502


# --- client_response_head -----------------------------------------------------------------


def client(data: bytes, **kw: object) -> bytes:
    head = parse(data)
    options: dict[str, object] = {"keep_alive": True, "client_http11": True}
    options.update(kw)
    return client_response_head(head, **options)  # type: ignore[arg-type]


def test_unchanged_head_is_the_same_object() -> None:
    data = resp("Content-Length: 3", "Location: http://x/")
    head = parse(data)
    assert client_response_head(head, keep_alive=True, client_http11=True) is head.raw
    assert (
        client_response_head(
            head, keep_alive=True, client_http11=True, location_rewrite=(b"http://y", b"http://z")
        )
        is head.raw
    )


def test_connection_header_for_the_client() -> None:
    data = resp("Content-Length: 3")
    assert client(data, keep_alive=False) == resp("Content-Length: 3", "Connection: close")
    assert client(data, client_http11=False) == resp("Content-Length: 3", "Connection: keep-alive")
    assert client(data, keep_alive=False, client_http11=False) == resp(
        "Content-Length: 3", "Connection: close"
    )


def test_hop_by_hop_headers_removed() -> None:
    data = resp(
        "Connection: Keep-Alive, X-Internal",
        "Keep-Alive: timeout=5",
        "Content-Length: 3",
        "X-Internal: secret",
        "Upgrade: h2c",
        "Proxy-Connection: x",
        "Trailer: Y",
        "Server: s",
    )
    assert client(data) == resp("Content-Length: 3", "Server: s")
    assert client(data, keep_alive=False) == resp(
        "Content-Length: 3", "Server: s", "Connection: close"
    )


def test_switching_protocols_keeps_upgrade() -> None:
    data = resp(
        "Upgrade: websocket",
        "Connection: upgrade",
        "Sec-WebSocket-Accept: x",
        line1="HTTP/1.1 101 Switching Protocols",
    )
    assert client(data, keep_alive=False) == resp(
        "Upgrade: websocket",
        "Sec-WebSocket-Accept: x",
        "Connection: Upgrade",
        line1="HTTP/1.1 101 Switching Protocols",
    )


def test_continue_gets_no_connection_header() -> None:
    data = resp(line1="HTTP/1.1 100 Continue")
    assert client(data, keep_alive=False) == data


def test_location_rewrite() -> None:
    data = resp(
        "Location:  http://127.0.0.1:8080/path?q ",
        "Content-Location: http://127.0.0.1:8080/c",
        "X-Location: http://127.0.0.1:8080/untouched",
        "Content-Length: 0",
        "Connection: close",
    )
    got = client(data, keep_alive=False, location_rewrite=(b"http://127.0.0.1:8080", b"https://w"))
    assert got == resp(
        "Location:  https://w/path?q ",
        "Content-Location: https://w/c",
        "X-Location: http://127.0.0.1:8080/untouched",
        "Content-Length: 0",
        "Connection: close",
    )
    other = client(data, keep_alive=False, location_rewrite=(b"http://10.0.0.1", b"https://w"))
    assert b"Location:  http://127.0.0.1:8080/path?q \r\n" in other


def test_lone_keep_alive_connection_header_is_kept_when_the_client_stays() -> None:
    data = resp("Content-Length: 3", "Connection: keep-alive")
    head = parse(data)
    assert client_response_head(head, keep_alive=True, client_http11=True) is head.raw
    assert client(data, client_http11=False) == data
    assert client(data, keep_alive=False) == resp("Content-Length: 3", "Connection: close")


# -- the status code range (RFC 9110 15: 100..599) -------------------------------------------


@pytest.mark.parametrize("code", ["000", "099", "600", "700", "999"])
@pytest.mark.parametrize("framing", ["Content-Length: 2", "Transfer-Encoding: chunked"])
def test_a_status_outside_100_to_599_is_a_bad_gateway(code: str, framing: str) -> None:
    data = resp(framing, line1=f"HTTP/1.1 {code} Weird")
    assert status(data) == 502  # whole and byte by byte
    with pytest.raises(HttpError) as caught:
        parse_response_head_python(data, b"GET")
    assert caught.value.status == 502


@pytest.mark.parametrize("code", [100, 199, 200, 418, 599])
def test_the_bounds_of_the_status_range_are_statuses(code: int) -> None:
    head = parse(resp("Content-Length: 0", line1=f"HTTP/1.1 {code} X"))
    assert head.status == code


# -- a chunked answer's head for a client that gets the body decoded ------------------------


def test_the_dechunked_head_loses_transfer_encoding_and_may_gain_a_length() -> None:
    head = b"HTTP/1.1 200 OK\r\nX-A: 1\r\ntransfer-ENCODING:  chunked\r\nX-B: 2\r\n\r\n"
    assert dechunked_head(head, None) == b"HTTP/1.1 200 OK\r\nX-A: 1\r\nX-B: 2\r\n\r\n"
    assert dechunked_head(head, 11) == (
        b"HTTP/1.1 200 OK\r\nX-A: 1\r\nX-B: 2\r\nContent-Length: 11\r\n\r\n"
    )


def test_the_dechunked_head_of_a_parsed_answer() -> None:
    data = resp("Transfer-Encoding: chunked", "Trailer: X-Sum", line1="HTTP/1.1 200 OK")
    head = parse(data)
    assert head.body == BODY_CHUNKED
    closing = dechunked_head(client_response_head(head, False, False), None)
    assert closing == b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
    kept = dechunked_head(client_response_head(head, True, False), 0)
    assert kept == b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"
