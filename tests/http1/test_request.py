from __future__ import annotations

import pytest

from standby.http1 import (
    BODY_CHUNKED,
    BODY_LENGTH,
    BODY_NONE,
    MAX_HEADER_COUNT,
    HttpError,
    Limits,
    RequestHead,
    forward_request_head,
    parse_request_head,
)
from standby.model import methods_for_xhttp
from tests.http1.feeding import bytewise, feed_head, head_status

LIMITS = Limits()
METHODS = methods_for_xhttp(1)


def parse(data: bytes, limits: Limits = LIMITS) -> RequestHead:
    result = parse_request_head(data, limits, METHODS)
    assert result is not None
    head, consumed = result
    assert consumed == len(data)
    return head


def status(data: bytes, limits: Limits = LIMITS) -> int | str:
    return head_status(lambda buf: parse_request_head(buf, limits, METHODS), data)


def req(*lines: str, line1: str = "GET / HTTP/1.1") -> bytes:
    return "\r\n".join((line1, *lines, "", "")).encode("latin-1")


# --- valid requests ----------------------------------------------------------------------


def test_typical_request() -> None:
    data = req("Host: www.nire.com", "User-Agent: t", "Accept: */*", line1="GET /a?b=c HTTP/1.1")
    head = parse(data)
    assert (head.method, head.target, head.version) == (b"GET", b"/a?b=c", b"HTTP/1.1")
    assert head.http11 and head.keep_alive
    assert head.raw == data
    assert head.host == b"www.nire.com"
    assert head.body == BODY_NONE and head.content_length == 0
    assert head.upgrade is None and not head.expect_continue
    assert head.path == "/a"
    assert head.header(b"USER-agent") == b"t"
    assert head.header(b"missing") is None
    assert head.header_lines() == ["Host: www.nire.com", "User-Agent: t", "Accept: */*"]


def test_header_lines_normalise_spacing_and_keep_order() -> None:
    head = parse(req("Host:a", "X-Dup:  1 ", "x-dup: 2"))
    assert head.header_lines() == ["Host: a", "X-Dup: 1", "x-dup: 2"]
    assert head.header(b"x-dup") == b"1"


def test_bytearray_buffer_and_pipelined_bytes_are_not_consumed() -> None:
    first = req("Host: a", "Content-Length: 3")
    buf = bytearray(first + b"abcGET / HTTP/1.1\r\n")
    result = parse_request_head(buf, LIMITS, METHODS)
    assert result is not None
    head, consumed = result
    assert consumed == len(first)
    assert isinstance(head.raw, bytes) and head.raw == first
    assert head.body == BODY_LENGTH and head.content_length == 3


def test_leading_empty_lines_are_skipped_and_counted() -> None:
    data = b"\r\n\r\n" + req("Host: a")
    result = parse_request_head(data, LIMITS, METHODS)
    assert result is not None
    head, consumed = result
    assert consumed == len(data)
    assert head.raw == data[4:]


def test_leading_empty_lines_cannot_grow_without_bound() -> None:
    assert status(b"\r\n" * 40, Limits(max_head=64)) == 431


def test_incomplete_head_needs_more() -> None:
    data = req("Host: a")
    for end in range(len(data)):
        assert parse_request_head(data[:end], LIMITS, METHODS) is None


def test_chunked_and_length_framing() -> None:
    head = parse(req("Host: a", "Transfer-Encoding: chunked", line1="POST / HTTP/1.1"))
    assert head.body == BODY_CHUNKED
    head = parse(req("Host: a", "Transfer-Encoding:  Chunked ", line1="POST / HTTP/1.1"))
    assert head.body == BODY_CHUNKED
    head = parse(req("Host: a", "Content-Length: 12", line1="POST / HTTP/1.1"))
    assert (head.body, head.content_length) == (BODY_LENGTH, 12)
    head = parse(req("Host: a", "Content-Length: 0", line1="POST / HTTP/1.1"))
    assert (head.body, head.content_length) == (BODY_NONE, 0)


@pytest.mark.parametrize(
    ("line1", "connection", "keep_alive"),
    [
        ("GET / HTTP/1.1", None, True),
        ("GET / HTTP/1.1", "close", False),
        ("GET / HTTP/1.1", "Keep-Alive", True),
        ("GET / HTTP/1.1", "foo, CLOSE", False),
        ("GET / HTTP/1.0", None, False),
        ("GET / HTTP/1.0", "keep-alive", True),
        ("GET / HTTP/1.0", "Keep-Alive, close", False),
        ("GET / HTTP/1.0", "x, keep-alive", True),
    ],
)
def test_keep_alive(line1: str, connection: str | None, keep_alive: bool) -> None:
    lines = ["Host: a"] + ([f"Connection: {connection}"] if connection else [])
    assert parse(req(*lines, line1=line1)).keep_alive is keep_alive


def test_upgrade_needs_connection_upgrade_and_http11() -> None:
    head = parse(req("Host: a", "Connection: keep-alive, Upgrade", "Upgrade: WebSocket"))
    assert head.upgrade == b"websocket"
    assert parse(req("Host: a", "Upgrade: websocket")).upgrade is None
    head = parse(
        req("Host: a", "Connection: upgrade", "Upgrade: websocket", line1="GET / HTTP/1.0")
    )
    assert head.upgrade is None


def test_expect_continue_only_in_http11() -> None:
    assert parse(req("Host: a", "Expect: 100-Continue")).expect_continue
    assert not parse(req("Host: a", "Expect: 100-continue", line1="GET / HTTP/1.0")).expect_continue
    assert not parse(req("Host: a", "Expect: other")).expect_continue


def test_http10_without_host_and_htab_in_value_are_fine() -> None:
    assert parse(req("X: a\tb", line1="GET / HTTP/1.0")).host is None
    assert parse(req("Host:", "X: \xe9t\xe9")).host == b""


# --- strict parsing: every case whole and byte by byte ------------------------------------

POST = "POST / HTTP/1.1"
REJECTED = [
    # framing
    (
        "CL with TE",
        req("Host: a", "Content-Length: 5", "Transfer-Encoding: chunked", line1=POST),
        400,
    ),
    (
        "TE with CL",
        req("Host: a", "Transfer-Encoding: chunked", "Content-Length: 5", line1=POST),
        400,
    ),
    (
        "duplicate CL equal",
        req("Host: a", "Content-Length: 5", "Content-Length: 5", line1=POST),
        400,
    ),
    (
        "duplicate CL differ",
        req("Host: a", "Content-Length: 5", "Content-Length: 6", line1=POST),
        400,
    ),
    ("CL list", req("Host: a", "Content-Length: 5, 5", line1=POST), 400),
    ("CL sign", req("Host: a", "Content-Length: +5", line1=POST), 400),
    ("CL negative", req("Host: a", "Content-Length: -1", line1=POST), 400),
    ("CL hex", req("Host: a", "Content-Length: 0x5", line1=POST), 400),
    ("CL inner space", req("Host: a", "Content-Length: 5 5", line1=POST), 400),
    ("CL empty", req("Host: a", "Content-Length:", line1=POST), 400),
    ("CL huge", req("Host: a", "Content-Length: " + "9" * 19, line1=POST), 400),
    ("TE gzip chunked", req("Host: a", "Transfer-Encoding: gzip, chunked", line1=POST), 501),
    ("TE gzip", req("Host: a", "Transfer-Encoding: gzip", line1=POST), 501),
    ("TE identity", req("Host: a", "Transfer-Encoding: identity", line1=POST), 501),
    ("TE unknown", req("Host: a", "Transfer-Encoding: xchunked", line1=POST), 501),
    (
        "TE split lines",
        req("Host: a", "Transfer-Encoding: gzip", "Transfer-Encoding: chunked", line1=POST),
        501,
    ),
    ("TE chunked twice", req("Host: a", "Transfer-Encoding: chunked, chunked", line1=POST), 400),
    (
        "TE chunked twice lines",
        req("Host: a", "Transfer-Encoding: chunked", "Transfer-Encoding: chunked", line1=POST),
        400,
    ),
    ("TE chunked not last", req("Host: a", "Transfer-Encoding: chunked, gzip", line1=POST), 400),
    ("TE parameter", req("Host: a", "Transfer-Encoding: chunked;q=1", line1=POST), 400),
    ("TE empty element", req("Host: a", "Transfer-Encoding: chunked,", line1=POST), 400),
    ("TE empty", req("Host: a", "Transfer-Encoding:", line1=POST), 400),
    ("TE in HTTP/1.0", req("Transfer-Encoding: chunked", line1="POST / HTTP/1.0"), 400),
    ("TE vertical tab", req("Host: a", "Transfer-Encoding: chunked\x0b", line1=POST), 400),
    # header syntax
    ("obs-fold", req("Host: a", "X-A: b", " c"), 400),
    ("obs-fold tab", req("Host: a", "X-A: b", "\tc"), 400),
    ("fold first header", req(" Host: a"), 400),
    ("space before colon", req("Host : a"), 400),
    ("tab before colon", req("Host: a", "Content-Length\t: 0"), 400),
    ("name paren", req("Host: a", "X(a): b"), 400),
    ("name at", req("Host: a", "X@Y: b"), 400),
    ("name DEL", req("Host: a", "X\x7fY: b"), 400),
    ("name non-ascii", req("Host: a", "X\xe9: b"), 400),
    ("empty name", req("Host: a", ": b"), 400),
    ("no colon", req("Host: a", "Header-without-colon"), 400),
    ("NUL in value", req("Host: a", "X: a\x00b"), 400),
    ("bare CR in value", req("Host: a", "X: a\rb"), 400),
    ("bare LF in value", req("Host: a", "X: a\nb"), 400),
    ("control in value", req("Host: a", "X: a\x01b"), 400),
    ("escape in value", req("Host: a", "X: a\x1bb"), 400),
    ("DEL in value", req("Host: a", "X: a\x7fb"), 400),
    # Host
    ("missing Host", req("X: a"), 400),
    ("duplicate Host", req("Host: a", "Host: a"), 400),
    ("duplicate Host case", req("Host: a", "HOST: b"), 400),
    ("duplicate Host 1.0", req("Host: a", "Host: b", line1="GET / HTTP/1.0"), 400),
    # request line and versions
    ("HTTP/2.0", req("Host: a", line1="GET / HTTP/2.0"), 505),
    ("HTTP/1.2", req("Host: a", line1="GET / HTTP/1.2"), 505),
    ("HTTP/0.9 form", b"GET /\r\n\r\n", 400),
    ("lower-case version", req("Host: a", line1="GET / http/1.1"), 400),
    ("short version", req("Host: a", line1="GET / HTTP/1"), 400),
    ("long version", req("Host: a", line1="GET / HTTP/1.10"), 400),
    ("method token", req("Host: a", line1="G@T / HTTP/1.1"), 400),
    ("method empty", req("Host: a", line1=" / HTTP/1.1"), 400),
    ("double space", req("Host: a", line1="GET  / HTTP/1.1"), 400),
    ("space in target", req("Host: a", line1="GET /a b HTTP/1.1"), 400),
    ("tab in target", req("Host: a", line1="GET /a\tb HTTP/1.1"), 400),
    ("control in target", req("Host: a", line1="GET /a\x01b HTTP/1.1"), 400),
    ("NUL in target", req("Host: a", line1="GET /a\x00 HTTP/1.1"), 400),
    ("trailing space", req("Host: a", line1="GET / HTTP/1.1 "), 400),
    # line endings
    ("bare LF everywhere", b"GET / HTTP/1.1\nHost: a\n\n", 400),
    ("bare LF request line", b"GET / HTTP/1.1\nHost: a\r\n\r\n", 400),
    ("bare LF end", b"GET / HTTP/1.1\r\nHost: a\r\n\n", 400),
    ("bare CR line end", b"GET / HTTP/1.1\rHost: a\r\n\r\n", 400),
    ("leading LF", b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    # methods
    ("method not allowed", req("Host: a", line1="CONNECT a:443 HTTP/1.1"), 405),
    ("method case", req("Host: a", line1="get / HTTP/1.1"), 405),
    # request-target (issue 12): no fragment, visible ASCII, a valid form
    ("fragment", req("Host: a", line1="GET /a#b HTTP/1.1"), 400),
    ("fragment alone", req("Host: a", line1="GET # HTTP/1.1"), 400),
    ("obs-text in target", req("Host: a", line1="GET /caf\xe9 HTTP/1.1"), 400),
    ("high byte in query", req("Host: a", line1="GET /?q=\xff HTTP/1.1"), 400),
    ("no form", req("Host: a", line1="GET a/b HTTP/1.1"), 400),
    ("asterisk outside OPTIONS", req("Host: a", line1="GET * HTTP/1.1"), 400),
    ("authority-form outside CONNECT", req("Host: a", line1="GET a:80 HTTP/1.1"), 400),
    ("CONNECT without port", req("Host: a", line1="CONNECT a HTTP/1.1"), 400),
    # Pound: a CONNECT outside the allowed methods is 405 whatever its target.
    ("CONNECT origin-form, not allowed", req("Host: a", line1="CONNECT /x HTTP/1.1"), 405),
    ("scheme ftp", req("Host: a", line1="GET ftp://a/ HTTP/1.1"), 400),
    ("scheme file", req("Host: a", line1="GET file:///etc/passwd HTTP/1.1"), 400),
    ("scheme javascript", req("Host: a", line1="GET javascript://a/ HTTP/1.1"), 400),
    ("empty authority", req("Host: a", line1="GET http:///x HTTP/1.1"), 400),
    ("userinfo", req("Host: a", line1="GET http://u:p@a/ HTTP/1.1"), 400),
    ("authority not Host", req("Host: a", line1="GET http://b/ HTTP/1.1"), 400),
    ("authority port not Host", req("Host: a", line1="GET http://a:81/ HTTP/1.1"), 400),
    ("https default port", req("Host: a", line1="GET https://a:80/ HTTP/1.1"), 400),
    ("authority without Host", req("X: 1", line1="GET http://a/ HTTP/1.0"), 400),
    ("authority bad", req("Host: a%", line1="GET http://a%/ HTTP/1.1"), 400),
    ("authority bad port", req("Host: a:x", line1="GET http://a:x/ HTTP/1.1"), 400),
    # Host (issue 12): uri-host [ ":" port ]
    ("Host slash", req("Host: a/b"), 400),
    ("Host at", req("Host: user@a"), 400),
    ("Host space", req("Host: a b"), 400),
    ("Host tab", req("Host: a\tb"), 400),
    ("Host quote", req('Host: "a"'), 400),
    ("Host backslash", req("Host: a\\b"), 400),
    ("Host question", req("Host: a?b"), 400),
    ("Host hash", req("Host: a#b"), 400),
    ("Host obs-text", req("Host: caf\xe9"), 400),
    ("Host two ports", req("Host: a:80:80"), 400),
    ("Host port letters", req("Host: a:8o"), 400),
    ("Host long port", req("Host: a:000080"), 400),
    ("Host bad percent", req("Host: a%zz"), 400),
    ("Host open bracket", req("Host: [::1"), 400),
    ("Host bad literal", req("Host: [::g]"), 400),
    ("Host zone id", req("Host: [fe80::1%25eth0]"), 400),
    ("Host bare IPv6", req("Host: ::1"), 400),
    ("Host list", req("Host: a, b"), 400),
    # Content-Length (issue 12): canonical only
    ("CL leading zero", req("Host: a", "Content-Length: 05", line1=POST), 400),
    ("CL zeros", req("Host: a", "Content-Length: 00", line1=POST), 400),
    ("CL zero-padded", req("Host: a", "Content-Length: 0012", line1=POST), 400),
]


@pytest.mark.parametrize(
    ("data", "expected"), [c[1:] for c in REJECTED], ids=[c[0] for c in REJECTED]
)
def test_rejected_whole_and_byte_by_byte(data: bytes, expected: int) -> None:
    assert status(data) == expected


@pytest.mark.parametrize(
    ("line1", "expected"),
    [("CONNECT /x HTTP/1.1", "ok"), ("CONNECT a HTTP/1.1", 400), ("GET / HTTP/1.1", 405)],
)
def test_connect_where_connect_is_allowed(line1: str, expected: int | str) -> None:
    # As in Pound: an origin-form CONNECT is a request like others; another target must
    # be host:port.
    only_connect = frozenset({b"CONNECT"})
    data = req("Host: a", line1=line1)
    assert head_status(lambda buf: parse_request_head(buf, LIMITS, only_connect), data) == expected


SMALL = Limits(
    max_request_line=64,
    max_uri=32,
    max_header_line=40,
    max_header_count=4,
    max_head=160,
    max_body=100,
)
OVER_LIMITS = [
    ("request line", req("Host: a", line1="GET /" + "a" * 60 + " HTTP/1.1"), 414),
    ("uri", req("Host: a", line1="GET /" + "a" * 40 + " HTTP/1.1"), 414),
    ("header line", req("Host: a", "X: " + "b" * 40), 431),
    ("header count", req("Host: a", "A: 1", "B: 2", "C: 3", "D: 4"), 431),
    ("head size", req("Host: a", *(["X: " + "y" * 30] * 4)), 431),
    ("content length", req("Host: a", "Content-Length: 101", line1=POST), 413),
]


@pytest.mark.parametrize(
    ("data", "expected"), [c[1:] for c in OVER_LIMITS], ids=[c[0] for c in OVER_LIMITS]
)
def test_limits_whole_and_byte_by_byte(data: bytes, expected: int) -> None:
    assert status(data, SMALL) == expected


def test_at_the_limits_is_accepted() -> None:
    data = req("Host: a", "A: 1", "B: 2", "X: " + "b" * 37, line1="GET /" + "a" * 31 + " HTTP/1.1")
    assert len(data) <= SMALL.max_head
    assert status(data, SMALL) == "ok"
    assert parse(req("Host: a", "Content-Length: 100", line1=POST), SMALL).content_length == 100


def test_incomplete_head_over_a_limit_fails_before_it_ends() -> None:
    endless_line = b"GET /" + b"a" * 100
    assert feed_head(lambda b: parse_request_head(b, SMALL, METHODS), bytewise(endless_line)) == (
        "error",
        414,
    )
    endless_header = req("Host: a")[:-2] + b"X: " + b"b" * 60
    assert feed_head(lambda b: parse_request_head(b, SMALL, METHODS), [endless_header]) == (
        "error",
        431,
    )
    many = req("Host: a", *[f"H{i}: x" for i in range(MAX_HEADER_COUNT + 5)])[:-2]
    with pytest.raises(HttpError) as err:
        parse_request_head(many, LIMITS, METHODS)
    assert err.value.status == 431


def test_invalid_bytes_fail_before_the_head_ends() -> None:
    for partial in (b"GET /a\x00", b"G\x01", b"GET / HTTP/1.1\r\nHost: a\r\nX\x00", b"GET /\n"):
        with pytest.raises(HttpError) as err:
            parse_request_head(partial, LIMITS, METHODS)
        assert err.value.status == 400, partial


def test_limits_validation() -> None:
    with pytest.raises(ValueError):
        Limits(max_head=0)
    with pytest.raises(ValueError):
        Limits(max_body=-1)


# --- forwarding ---------------------------------------------------------------------------


def forward(*lines: str, line1: str = "GET / HTTP/1.1") -> bytes:
    return forward_request_head(parse(req(*lines, line1=line1)), b"10.0.0.9", b"https", b"443")


XF = "X-Forwarded-Proto: https", "X-Forwarded-Port: 443"


def test_forward_fast_path_appends_new_lines() -> None:
    assert forward("Host: a", "Accept: */*") == req(
        "Host: a", "Accept: */*", "X-Forwarded-For: 10.0.0.9", *XF
    )


def test_forward_removes_hop_by_hop_headers() -> None:
    got = forward(
        "Connection: keep-alive, X-Secret",
        "Host: a",
        "Keep-Alive: 300",
        "X-Secret: 1",
        "TE: trailers",
        "Accept: */*",
        "Trailer: X",
        "Proxy-Connection: keep-alive",
        "Upgrade: h2c",
        "x-secret: 2",
    )
    assert got == req("Host: a", "Accept: */*", "X-Forwarded-For: 10.0.0.9", *XF)


def test_forward_appends_to_the_last_x_forwarded_for() -> None:
    got = forward(
        "X-Forwarded-For: 1.1.1.1",
        "Host: a",
        "Connection: close",
        "x-forwarded-for: 2.2.2.2  ",
        "Accept: x",
    )
    assert got == req(
        "X-Forwarded-For: 1.1.1.1",
        "Host: a",
        "x-forwarded-for: 2.2.2.2, 10.0.0.9  ",
        "Accept: x",
        *XF,
    )
    assert forward("Host: a", "X-Forwarded-For: 1.1.1.1") == req(
        "Host: a", "X-Forwarded-For: 1.1.1.1, 10.0.0.9", *XF
    )
    assert forward("X-Forwarded-For: 1.1.1.1", "Host: a", "Connection: close") == req(
        "X-Forwarded-For: 1.1.1.1, 10.0.0.9", "Host: a", *XF
    )


def test_forward_appends_to_x_forwarded_for_right_before_a_dropped_line() -> None:
    assert forward("Host: a", "X-Forwarded-For: 1.1.1.1", "Connection: close", "TE: x") == req(
        "Host: a", "X-Forwarded-For: 1.1.1.1, 10.0.0.9", *XF
    )


def test_forward_replaces_client_forwarded_proto_and_port() -> None:
    got = forward("X-Forwarded-Proto: http", "Host: a", "X-Forwarded-Port: 1")
    assert got == req("Host: a", "X-Forwarded-For: 10.0.0.9", *XF)


def test_forward_upgrade_keeps_upgrade() -> None:
    got = forward(
        "Host: a", "Connection: keep-alive, Upgrade", "Upgrade: websocket", "Keep-Alive: 1"
    )
    assert got == req(
        "Host: a", "Upgrade: websocket", "X-Forwarded-For: 10.0.0.9", "Connection: Upgrade", *XF
    )


def test_connection_cannot_remove_framing_headers() -> None:
    got = forward(
        "Host: a",
        "Content-Length: 2",
        "Connection: Content-Length, Host, Transfer-Encoding",
        line1=POST,
    )
    assert got == req("Host: a", "Content-Length: 2", "X-Forwarded-For: 10.0.0.9", *XF, line1=POST)


@pytest.mark.parametrize(
    "connection", ["X-Forwarded-For", "close, x-forwarded-for", "keep-alive,X-FORWARDED-FOR"]
)
def test_connection_naming_x_forwarded_for_drops_the_clients_and_keeps_ours(
    connection: str,
) -> None:
    got = forward(
        "X-Forwarded-For: 1.1.1.1",
        "Host: a",
        f"Connection: {connection}",
        "x-forwarded-for: 2.2.2.2",
        "Accept: x",
    )
    assert got == req("Host: a", "Accept: x", "X-Forwarded-For: 10.0.0.9", *XF)


def test_connection_naming_x_forwarded_for_without_one_adds_ours() -> None:
    got = forward("Host: a", "Connection: X-Forwarded-For, X-Forwarded-Proto")
    assert got == req("Host: a", "X-Forwarded-For: 10.0.0.9", *XF)


UNDERSCORE_NAMES = [
    "Transfer_Encoding: chunked",
    "Content_Length: 5",
    "content_length: 5",
    "Keep_Alive: 300",
    "Proxy_Connection: close",
    "X_Forwarded_For: 1.1.1.1",
    "X-Forwarded_For: 1.1.1.1",
    "x_forwarded-proto: https",
    "X_Forwarded_Port: 1",
    "HTTP2_Settings: AAMAAABkAARAAAAAAAIAAAAA",
]


@pytest.mark.parametrize("line", UNDERSCORE_NAMES)
def test_framing_and_forwarding_names_spelt_with_underscores_are_dropped(line: str) -> None:
    head = parse(req("Host: a", line, "X_Other: kept"))
    assert (head.body, head.content_length) == (BODY_NONE, 0)
    assert forward("Host: a", line, "X_Other: kept") == req(
        "Host: a", "X_Other: kept", "X-Forwarded-For: 10.0.0.9", *XF
    )


def test_an_underscore_name_named_in_connection_is_dropped_once() -> None:
    got = forward("Host: a", "Connection: keep_alive, X-Y", "Keep_Alive: 1", "X-Y: 2", "Z: 3")
    assert got == req("Host: a", "Z: 3", "X-Forwarded-For: 10.0.0.9", *XF)


@pytest.mark.parametrize("upgrade", ["h2c", "H2C", "h2c, websocket", "websocket, h2c/1.0", " h2c "])
def test_an_h2c_upgrade_is_forwarded_as_a_plain_request(upgrade: str) -> None:
    lines = ("Host: a", "Connection: Upgrade, HTTP2-Settings", f"Upgrade: {upgrade}")
    head = parse(req(*lines, "HTTP2-Settings: AAMAAABkAAQAAP__"))
    assert head.upgrade is None and head.keep_alive
    assert forward(*lines, "HTTP2-Settings: AAMAAABkAAQAAP__") == req(
        "Host: a", "X-Forwarded-For: 10.0.0.9", *XF
    )


def test_http2_settings_is_dropped_even_without_an_upgrade() -> None:
    assert forward("Host: a", "HTTP2-Settings: AAMA", "X: 1") == req(
        "Host: a", "X: 1", "X-Forwarded-For: 10.0.0.9", *XF
    )


def test_a_websocket_upgrade_still_goes_through() -> None:
    head = parse(req("Host: a", "Connection: Upgrade", "Upgrade: websocket"))
    assert head.upgrade == b"websocket"


@pytest.mark.parametrize(
    ("line1", "host"),
    [
        ("GET http://a/x HTTP/1.1", "a"),
        ("GET HTTP://A/x?y HTTP/1.1", "a"),
        ("GET http://a:80/ HTTP/1.1", "a"),
        ("GET http://a/ HTTP/1.1", "A:80"),
        ("GET http://a: HTTP/1.1", "a"),
        ("GET https://a:443?q HTTP/1.1", "a"),
        ("GET http://a:8080/ HTTP/1.1", "a:8080"),
        ("GET http://[::1]:8080/ HTTP/1.1", "[::1]:8080"),
        ("GET http://127.0.0.1/ HTTP/1.0", "127.0.0.1"),
        ("OPTIONS * HTTP/1.1", "a"),
        ("CONNECT a:443 HTTP/1.1", "a:443"),
    ],
)
def test_other_target_forms_that_agree_with_host(line1: str, host: str) -> None:
    methods = METHODS | {b"CONNECT", b"OPTIONS"}
    result = parse_request_head(req(f"Host: {host}", line1=line1), LIMITS, methods)
    assert result is not None


@pytest.mark.parametrize(
    "host",
    [
        "",
        "a",
        "www.example.com:8080",
        "127.0.0.1",
        "[::1]",
        "[2001:db8::1]:443",
        "[v1.fe80::a+en1]",
        "my_host.local",
        "a%20b",
        "xn--caf-dma.example",
        "a:",
        "!$&'()*+,;=~",
    ],
)
def test_valid_hosts(host: str) -> None:
    assert parse(req(f"Host: {host}")).host == host.encode()


def test_forward_keeps_request_line_and_everything_else_byte_for_byte() -> None:
    got = forward("host:   a  ", "X-Odd:\tvalue\t", "Cookie: a=b; c=d", line1="GET /x?y HTTP/1.0")
    assert got.startswith(
        b"GET /x?y HTTP/1.0\r\nhost:   a  \r\nX-Odd:\tvalue\t\r\nCookie: a=b; c=d\r\n"
    )
