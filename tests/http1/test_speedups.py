"""The C fast path of the head parsers against the Python parsers it stands in for.

The contract (see _speedups.c): for any bytes, the C scanner either declines (None) or
returns exactly the fields the Python parser produces for the same bytes with the same
limits. Declining is always safe; agreeing must be exact. The generated heads aim at the
places where the two could differ: header names in any case, OWS around values, repeated
and conflicting headers, bytes that are invalid in one position and valid in another,
truncation anywhere, and limits small enough to be hit.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from standby.http1 import Limits, RequestHead, ResponseHead, chunked_end, parse_request_head
from standby.http1 import request as request_module
from standby.http1 import response as response_module
from standby.http1.body import chunked_end_python
from standby.http1.errors import HttpError
from standby.http1.request import field_block, field_block_python, parse_request_head_python
from standby.http1.response import (
    client_response_head,
    client_response_head_python,
    parse_response_head,
    parse_response_head_python,
)
from standby.model import methods_for_xhttp
from standby.observe.access import request_line, request_line_python

try:
    from standby.http1 import _speedups
except ImportError:  # pragma: no cover - depends on the install
    if os.environ.get("STANDBY_REQUIRE_SPEEDUPS") == "1":
        raise
    pytest.skip("standby was installed without its C module", allow_module_level=True)

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
METHODS = methods_for_xhttp(2)
LIMITS = Limits()
REQUEST_FIELDS = [name for name in RequestHead.__slots__ if name not in ("_lines", "_fields")]
RESPONSE_FIELDS = list(ResponseHead.__slots__)


def fields_of(head: Any, names: list[str]) -> dict[str, Any]:
    return {name: getattr(head, name) for name in names}


def python_request(
    buf: bytes, limits: Limits, parse: Any = parse_request_head_python
) -> tuple[str, Any]:
    try:
        parsed = parse(buf, limits, METHODS)
    except HttpError as exc:
        return "error", exc.status
    if parsed is None:
        return "incomplete", None
    head, used = parsed
    return "ok", (fields_of(head, REQUEST_FIELDS), used)


def python_response(buf: bytes, method: bytes, max_head: int) -> tuple[str, Any]:
    try:
        parsed = parse_response_head_python(buf, method, max_head)
    except HttpError as exc:
        return "error", exc.status
    if parsed is None:
        return "incomplete", None
    head, used = parsed
    return "ok", (fields_of(head, RESPONSE_FIELDS), used)


def check_request(buf: bytes, limits: Limits = LIMITS) -> bool:
    """The fast path agrees with Python on ``buf``; True when it did not decline."""
    fast = _speedups.scan_request(buf, METHODS, limits.packed)
    if fast is None:
        return False
    outcome, value = python_request(buf, limits)
    assert outcome == "ok", (buf, outcome, value)
    parsed = parse_request_head(buf, limits, METHODS)  # the public entry, through C
    assert parsed is not None
    head, used = parsed
    assert (fields_of(head, REQUEST_FIELDS), used) == value, buf
    return True


def check_response(buf: bytes, method: bytes = b"GET", max_head: int = 65536) -> bool:
    fast = _speedups.scan_response(buf, method == b"HEAD", max_head)
    if fast is None:
        return False
    outcome, value = python_response(buf, method, max_head)
    assert outcome == "ok", (buf, outcome, value)
    parsed = parse_response_head(buf, method, max_head)
    assert parsed is not None
    head, used = parsed
    assert (fields_of(head, RESPONSE_FIELDS), used) == value, buf
    return True


# -- the fast path is taken for real traffic ------------------------------------------------

BROWSER = (
    b"GET /wp-content/themes/site/style.css?ver=6.4 HTTP/1.1\r\n"
    b"Host: www.example.com\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
    b"Accept: text/css,*/*;q=0.1\r\n"
    b"Accept-Language: en-GB,en;q=0.5\r\n"
    b"Accept-Encoding: gzip, deflate, br\r\n"
    b"Connection: keep-alive\r\n"
    b"Referer: https://www.example.com/\r\n"
    b"Cookie: wordpress_test_cookie=WP%20Cookie%20check\r\n"
    b"Upgrade-Insecure-Requests: 1\r\n\r\n"
)
CRAWLER = (
    b"GET /robots.txt HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n"
    b"User-Agent: Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)\r\n"
    b"Accept: */*\r\nX-Forwarded-For: 203.0.113.7 \r\n\r\n"
)
FORM = (
    b"POST /wp-login.php HTTP/1.1\r\nHost: www.example.com\r\n"
    b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 42\r\n\r\n"
)
WRK = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"
OLD = b"GET / HTTP/1.0\r\nUser-Agent: ApacheBench/2.3\r\nAccept: */*\r\n\r\n"
# HTTP/1.0 that asks to keep the connection, and HTTP/1.1 that asks to close it.
OLD_KEEP = b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\nUser-Agent: ab\r\n\r\n"
CLOSING = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"

NGINX = (
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 26 Nov 2026 08:00:00 GMT\r\n"
    b"Content-Type: text/plain\r\nContent-Length: 73\r\nConnection: keep-alive\r\n\r\n"
)
APACHE_CHUNKED = (
    b"HTTP/1.1 200 OK\r\nDate: Thu, 26 Nov 2026 08:00:00 GMT\r\nServer: Apache/2.4.57\r\n"
    b"Vary: Accept-Encoding\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Type: text/html; charset=UTF-8\r\n\r\n"
)
NOT_MODIFIED = b'HTTP/1.1 304 Not Modified\r\nETag: "abc"\r\nConnection: close\r\n\r\n'
UNTIL_CLOSE = b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n"
NO_REASON = b"HTTP/1.1 204\r\n\r\n"


@pytest.mark.parametrize("head", [BROWSER, CRAWLER, FORM, WRK, OLD, OLD_KEEP, CLOSING])
def test_plain_requests_take_the_fast_path(head: bytes) -> None:
    assert check_request(head)
    assert check_request(head + b"GET / HTTP/1.1\r\n")  # a pipelined request behind it


@pytest.mark.parametrize("head", [NGINX, APACHE_CHUNKED, NOT_MODIFIED, UNTIL_CLOSE, NO_REASON])
def test_plain_responses_take_the_fast_path(head: bytes) -> None:
    assert check_response(head)
    assert check_response(head + b"body bytes")
    assert check_response(head, method=b"HEAD")


@pytest.mark.parametrize(
    "head",
    [
        b"\r\n" + WRK,  # leading empty line
        WRK[:-2],  # incomplete
        WRK.replace(b"1.1", b"2.0"),  # 505
        WRK.replace(b"Host", b"Hos t"),  # 400
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",  # duplicate Host
        b"GET / HTTP/1.1\r\n\r\n",  # missing Host
        b"BREW / HTTP/1.1\r\nHost: a\r\n\r\n",  # 405
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, foo\r\n\r\n",
        # issue 12: each is refused or edited by Python
        b"GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /\xe9 HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
        b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
        b"CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a:123456\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 05\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX-forwarded_FOR: 1.2.3.4\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nHTTP2-Settings: AAMA\r\n\r\n",
    ],
)
def test_unusual_requests_are_left_to_python(head: bytes) -> None:
    assert _speedups.scan_request(head, METHODS, LIMITS.packed) is None


@pytest.mark.parametrize(
    "head",
    [
        NGINX[:-2],
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        b"HTTP/1.1 302 Found\r\nLocation: http://10.0.0.3/x\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        b"HTTP/2 200 OK\r\n\r\n",
    ],
)
def test_unusual_responses_are_left_to_python(head: bytes) -> None:
    assert _speedups.scan_response(head, False, 65536) is None


def test_limits_are_left_to_python() -> None:
    tight = Limits(max_header_line=20, max_header_count=3, max_uri=10, max_head=200)
    assert not check_request(b"GET /" + b"a" * 10 + b" HTTP/1.1\r\nHost: a\r\n\r\n", tight)
    assert check_request(b"GET /" + b"a" * 9 + b" HTTP/1.1\r\nHost: a\r\n\r\n", tight)
    assert not check_request(b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"v" * 18 + b"\r\n\r\n", tight)
    assert check_request(b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"v" * 17 + b"\r\n\r\n", tight)
    four = b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"
    assert not check_request(four, tight)
    assert check_request(four.replace(b"C: 3\r\n", b""), tight)
    assert not check_request(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n", Limits(max_body=10)
    )
    assert not check_response(NGINX, max_head=len(NGINX) - 1)
    assert check_response(NGINX, max_head=len(NGINX))


def test_bad_arguments_raise() -> None:
    with pytest.raises(TypeError):
        _speedups.scan_request(bytearray(WRK), METHODS, LIMITS.packed)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _speedups.scan_request(WRK, METHODS, (1, 2))
    with pytest.raises(TypeError):
        _speedups.scan_response(bytearray(NGINX), False, 10)  # type: ignore[arg-type]


# -- generated heads ------------------------------------------------------------------------


def any_case(name: str) -> st.SearchStrategy[str]:
    return st.lists(st.booleans(), min_size=len(name), max_size=len(name)).map(
        lambda flips: "".join(c.upper() if f else c for c, f in zip(name, flips, strict=True))
    )


OWS = st.sampled_from(["", " ", "  ", "\t", " \t"])
RAW_VALUE = st.binary(max_size=12).map(lambda b: b.decode("latin-1"))

REQUEST_VALUES = {
    "host": ["www.example.com", "127.0.0.1:8080", "", "a b", "[::1]:80", "a/b", "a_b", "a:"],
    "content-length": ["0", "12", "007", "-1", "1,1", "1 1", "12345678901234567890", "", "+5"],
    # issue 12: names spelt with "_" are dropped by Python; HTTP2-Settings always.
    "content_length": ["5"],
    "transfer_encoding": ["chunked"],
    "x_forwarded-for": ["192.0.2.9"],
    "http2-settings": ["AAMA"],
    "connection": [
        "keep-alive",
        "close",
        "Keep-Alive",
        "CLOSE",
        "upgrade",
        "keep-alive, close",
        "foo",
        "",
        "close,",
    ],
    "transfer-encoding": ["chunked", "gzip, chunked", "identity"],
    "x-forwarded-for": ["192.0.2.1", "192.0.2.1, 198.51.100.2", "", " "],
    "x-forwarded-proto": ["https"],
    "upgrade": ["websocket", "h2c"],
    "expect": ["100-continue"],
    "te": ["trailers"],
    "keep-alive": ["timeout=5"],
    "accept": ["*/*"],
    "x-custom": ["1", "ä"],
}
RESPONSE_VALUES = {
    "content-length": ["0", "73", "007", "-1", "1,1", "12345678901234567890", ""],
    "transfer-encoding": ["chunked", "Chunked", "gzip, chunked", "chunked, chunked", ""],
    "connection": ["keep-alive", "close", "Keep-Alive", "upgrade", "close, foo", ""],
    "location": ["http://10.0.0.3/"],
    "keep-alive": ["timeout=5"],
    "server": ["nginx", "Apache/2.4"],
    "content-type": ["text/html; charset=UTF-8"],
}


@st.composite
def header_line(draw: st.DrawFn, table: dict[str, list[str]]) -> str:
    name = draw(st.sampled_from(sorted(table)))
    value = draw(st.one_of(st.sampled_from(table[name]), RAW_VALUE))
    return f"{draw(any_case(name))}:{draw(OWS)}{value}{draw(OWS)}\r\n"


def header_name(line: str) -> str:
    return line.partition(":")[0].lower()


DANGEROUS = [b"\r", b"\n", b" ", b"\t", b"\x00", b":", b"\x7f", b"\x80", b"\xff", b"A", b"0"]


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """``data``, perhaps with one byte replaced or inserted, perhaps cut short."""
    if data and draw(st.booleans()):
        at = draw(st.integers(0, len(data) - 1))
        byte = draw(st.sampled_from(DANGEROUS))
        data = data[:at] + byte + data[at + draw(st.integers(0, 1)) :]
    if draw(st.integers(0, 3)) == 0:
        data = data[: draw(st.integers(0, len(data)))]
    return data


@st.composite
def request_heads(draw: st.DrawFn) -> bytes:
    """Half plain heads (what the fast path takes, varied where it must still be exact),
    half wild ones (rare headers, bad versions, invalid bytes, cuts)."""
    if draw(st.booleans()):
        return draw(plain_request_heads())
    method = draw(st.sampled_from(["GET", "POST", "HEAD", "get", "BREW", "OPTIONS"]))
    target = draw(
        st.sampled_from(["/", "/index.php?p=1", "*", "/ä", "http://a/b", "/#", "ftp://a/", "a:1"])
    )
    version = draw(st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/1.2"]))
    lines = draw(st.lists(header_line(REQUEST_VALUES), max_size=8))
    text = f"{method} {target} {version}\r\n" + "".join(lines) + "\r\n"
    tail = draw(st.sampled_from([b"", b"body", b"GET / HTTP/1.1\r\n"]))
    return draw(mutated(text.encode("latin-1") + tail))


PLAIN_REQUEST_VALUES = {
    "content-length": ["0", "12", "007", "123456789012345678"],
    "content_length": ["12"],
    "connection": ["keep-alive", "close", "Keep-Alive", "CLOSE"],
    "x-forwarded-for": ["192.0.2.1", "192.0.2.1, 198.51.100.2", "", " "],
    "accept": ["*/*", ""],
    "user-agent": ["Mozilla/5.0 (compatible; Googlebot/2.1)", "curl/8.5.0", "é\t"],
}


# Hosts the scanner takes, and some it must leave to Python (invalid, or of a rarer shape).
PLAIN_HOSTS = [
    *("www.example.com", "127.0.0.1:8080", "", "[::1]:80", "Www.A-B.example:00080"),
    *("a:123456", "a_b.example", "a/b", "a:", "a..b", "-.-"),
]


@st.composite
def plain_request_heads(draw: st.DrawFn) -> bytes:
    method = draw(st.sampled_from(["GET", "POST", "HEAD", "PUT", "DELETE"]))
    target = draw(
        st.sampled_from(
            ["/", "/index.php?p=1", "*", "/\xe4", "http://a/b?x=%20", "/a#top", "/%zz", "//a"]
        )
    )
    http11 = draw(st.booleans())
    lines = draw(st.lists(header_line(PLAIN_REQUEST_VALUES), max_size=6, unique_by=header_name))
    if http11 or draw(st.booleans()):
        host = draw(st.sampled_from(PLAIN_HOSTS))
        line = f"{draw(any_case('host'))}:{draw(OWS)}{host}{draw(OWS)}\r\n"
        lines.insert(draw(st.integers(0, len(lines))), line)
    version = "HTTP/1.1" if http11 else "HTTP/1.0"
    text = f"{method} {target} {version}\r\n" + "".join(lines) + "\r\n"
    tail = draw(st.sampled_from([b"", b"body", b"GET / HTTP/1.1\r\n"]))
    data = text.encode("latin-1") + tail
    return draw(mutated(data)) if draw(st.integers(0, 4)) == 0 else data


@st.composite
def response_heads(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        return draw(plain_response_heads())
    version = draw(st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/1.2", "HTTP/2"]))
    status = draw(st.sampled_from(["200", "204", "304", "101", "100", "404", "503", "099", "2000"]))
    reason = draw(st.sampled_from(["", " OK", " ", " Not\tFound", " é"]))
    lines = draw(st.lists(header_line(RESPONSE_VALUES), max_size=8))
    text = f"{version} {status}{reason}\r\n" + "".join(lines) + "\r\n"
    tail = draw(st.sampled_from([b"", b"0123456789"]))
    return draw(mutated(text.encode("latin-1") + tail))


PLAIN_RESPONSE_VALUES = {
    "content-length": ["0", "73", "007"],
    "transfer-encoding": ["chunked", "Chunked"],
    "connection": ["keep-alive", "close", "Keep-Alive"],
    "server": ["nginx", "Apache/2.4", ""],
    "content-type": ["text/html; charset=UTF-8"],
    "set-cookie": ["a=b; Path=/; HttpOnly", "\xe9"],
}


@st.composite
def plain_response_heads(draw: st.DrawFn) -> bytes:
    version = draw(st.sampled_from(["HTTP/1.1", "HTTP/1.0"]))
    status = draw(st.sampled_from(["200", "204", "304", "404", "503", "599"]))
    reason = draw(st.sampled_from(["", " OK", " ", " Not\tFound", " \xe9"]))
    lines = draw(st.lists(header_line(PLAIN_RESPONSE_VALUES), max_size=6, unique_by=header_name))
    text = f"{version} {status}{reason}\r\n" + "".join(lines) + "\r\n"
    data = text.encode("latin-1") + draw(st.sampled_from([b"", b"0123456789"]))
    return draw(mutated(data)) if draw(st.integers(0, 4)) == 0 else data


small_limits = st.builds(
    Limits,
    max_request_line=st.integers(10, 80),
    max_uri=st.integers(1, 20),
    max_header_line=st.integers(5, 60),
    max_header_count=st.integers(0, 6),
    max_head=st.integers(20, 400),
    max_body=st.integers(0, 20),
)


@SETTINGS
@given(request_heads())
def test_request_scanner_agrees_with_python(buf: bytes) -> None:
    check_request(buf)


@SETTINGS
@given(request_heads(), small_limits)
def test_request_scanner_agrees_with_python_at_limits(buf: bytes, limits: Limits) -> None:
    check_request(buf, limits)


@SETTINGS
@given(response_heads(), st.sampled_from([b"GET", b"HEAD"]), st.integers(14, 400))
def test_response_scanner_agrees_with_python(buf: bytes, method: bytes, max_head: int) -> None:
    check_response(buf, method, max_head)


@SETTINGS
@given(st.binary(max_size=64))
def test_arbitrary_bytes_never_disagree(data: bytes) -> None:
    check_request(b"GET / HTTP/1.1\r\nHost: a\r\n" + data)
    check_response(b"HTTP/1.1 200 OK\r\n" + data)


def test_every_prefix_of_a_plain_head_declines_until_complete() -> None:
    for head in (BROWSER, CRAWLER, WRK):
        for cut in range(len(head)):
            assert not check_request(head[:cut])
        assert check_request(head)
    for resp in (NGINX, APACHE_CHUNKED):
        for cut in range(len(resp)):
            assert not check_response(resp[:cut])
        assert check_response(resp)


def test_binding_checks_the_slots_and_keeps_the_last_good_one() -> None:
    fields = request_module._C_FIELDS
    fallback = parse_request_head_python

    class NoSlots:
        method = property(lambda self: b"GET")

    with pytest.raises(TypeError):
        _speedups.bind_request(RequestHead, fields[:-1], b"HTTP/1.0", b"HTTP/1.1", fallback)
    with pytest.raises(TypeError):
        _speedups.bind_request(
            RequestHead, (fields[0],) * len(fields), b"HTTP/1.0", b"HTTP/1.1", fallback
        )
    with pytest.raises(TypeError):
        _speedups.bind_request(NoSlots, fields, b"HTTP/1.0", b"HTTP/1.1", fallback)
    with pytest.raises(TypeError):
        _speedups.bind_request(RequestHead, fields, b"HTTP/1.0", b"HTTP/1.1", None)  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        _speedups.bind_response(NoSlots, response_module._C_FIELDS, fallback, 65536)
    assert check_request(WRK)  # the binding made at import still holds
    assert check_response(NGINX)


def test_the_c_entry_points_hand_everything_else_to_python() -> None:
    # Whatever the scanner declines reaches the Python parser with the same arguments, and
    # its answer (or its HttpError) comes back unchanged.
    assert parse_request_head(bytearray(WRK), LIMITS, METHODS) is not None
    assert parse_request_head(WRK[:-1], LIMITS, METHODS) is None
    with pytest.raises(HttpError) as bad:
        parse_request_head(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", LIMITS, METHODS)
    assert bad.value.status == 505
    with pytest.raises(HttpError) as refused:
        parse_request_head(b"BREW / HTTP/1.1\r\nHost: a\r\n\r\n", LIMITS, METHODS)
    assert refused.value.status == 405
    parsed = parse_request_head(buf=WRK, limits=LIMITS, methods=METHODS)
    assert parsed is not None and parsed[1] == len(WRK)
    assert parse_response_head(bytearray(NGINX), b"GET") is not None
    with pytest.raises(HttpError):
        parse_response_head(NGINX + b"x", b"GET", len(NGINX) - 1)
    with pytest.raises(HttpError):
        parse_response_head(NGINX, b"GET", max_head=len(NGINX) - 1)
    head, used = parse_response_head(NGINX, b"HEAD") or (None, 0)
    assert head is not None and head.body == 0 and used == len(NGINX)


def test_the_parsers_use_the_c_module() -> None:
    # A refactoring that loses the import would silently make everything slow again.
    assert request_module.parse_request_head is _speedups.parse_request_head
    assert response_module.parse_response_head is _speedups.parse_response_head
    assert response_module.client_response_head is _speedups.client_response_head
    assert sorted(request_module._C_FIELDS) == sorted(RequestHead.__slots__)
    assert sorted(response_module._C_FIELDS) == sorted(ResponseHead.__slots__)


# --- client_response_head: the C version against the Python one ---------------------------

REWRITES = [None, (b"http://10.0.0.5:8080", b"https://www.example.com")]


@SETTINGS
@given(
    response_heads(),
    st.booleans(),
    st.booleans(),
    st.sampled_from(REWRITES),
    st.sampled_from([b"GET", b"HEAD"]),
)
def test_the_client_head_agrees_with_python(
    buf: bytes,
    keep_alive: bool,
    http11: bool,
    rewrite: tuple[bytes, bytes] | None,
    method: bytes,
) -> None:
    try:
        parsed = parse_response_head(buf, method)
    except HttpError:
        return
    if parsed is None:
        return
    resp = parsed[0]
    want = client_response_head_python(resp, keep_alive, http11, rewrite)
    got = client_response_head(resp, keep_alive, http11, rewrite)
    assert got == want
    if want is resp.raw:
        assert got is resp.raw  # unchanged heads are not copied
    assert client_response_head(resp, keep_alive, http11) == client_response_head_python(
        resp, keep_alive, http11
    )


@pytest.mark.parametrize(
    ("head", "keep_alive", "http11", "added"),
    [
        # The backend's keep-alive line stands for the client connection too.
        (
            b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
            True,
            True,
            None,
        ),
        (
            b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
            True,
            False,
            None,
        ),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", True, True, None),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", True, False, b"keep-alive"),
        (b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", False, True, b"close"),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", False, False, b"close"),
    ],
)
def test_the_client_head_in_c(
    head: bytes, keep_alive: bool, http11: bool, added: bytes | None
) -> None:
    parsed = parse_response_head(head, b"GET")
    assert parsed is not None
    resp = parsed[0]
    out = client_response_head(resp, keep_alive, http11)
    if added is None:
        assert out is resp.raw
    else:
        assert out == head[:-2] + b"Connection: " + added + b"\r\n\r\n"
    assert out == client_response_head_python(resp, keep_alive, http11)


def test_the_client_head_hands_the_rest_to_python() -> None:
    # Keywords, 1xx, a keep-alive line to remove, drops and rewrites: Python's answer.
    keep = parse_response_head(
        b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", b"GET"
    )
    assert keep is not None
    resp = keep[0]
    closing = client_response_head(resp, False, True)
    assert closing == b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    assert client_response_head(resp, keep_alive=True, client_http11=True) is resp.raw
    informational = parse_response_head(b"HTTP/1.1 100 Continue\r\n\r\n", b"GET")
    assert informational is not None
    assert client_response_head(informational[0], False, True) == b"HTTP/1.1 100 Continue\r\n\r\n"
    moved = parse_response_head(
        b"HTTP/1.1 301 Moved\r\nLocation: http://10.0.0.5:8080/a\r\nContent-Length: 0\r\n\r\n",
        b"GET",
    )
    assert moved is not None
    out = client_response_head(moved[0], True, True, REWRITES[1])
    assert b"Location: https://www.example.com/a\r\n" in out
    with pytest.raises(TypeError):
        client_response_head(moved[0])  # type: ignore[call-arg]


# -- the access log's request line --------------------------------------------------------

# Bytes around the edges of what the log shows as is: controls, the quote, the backslash,
# DEL, the top half, and plain text.
LOG_BYTES = st.binary(max_size=12) | st.lists(
    st.sampled_from([b"a", b"/", b" ", b'"', b"\\", b"\x00", b"\x1f", b"\x7f", b"\x80", b"\xff"]),
    max_size=8,
).map(b"".join)
VERSIONS = st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"1.1", b"HTTP/", b"HTTP", b""]) | LOG_BYTES


@SETTINGS
@given(method=LOG_BYTES, target=LOG_BYTES, version=VERSIONS)
def test_the_request_line_in_c_is_the_python_one(
    method: bytes, target: bytes, version: bytes
) -> None:
    line = _speedups.request_line(method, target, version)
    assert line == request_line_python(method, target, version)
    assert type(line) is str


def test_the_request_line_cases() -> None:
    line = _speedups.request_line
    assert line(b"GET", b"/a?b=c", b"HTTP/1.1") == "GET /a?b=c HTTP/1.1"
    assert line(b"GET", b"/", b"1.0") == "GET / HTTP/1.0"  # a bare version
    assert line(b"GET", b'/"x', b"HTTP/1.1") == 'GET /"x HTTP/1.1'  # kept, as Pound
    assert line(b"GET", b"/\xff", b"HTTP/1.1") == "GET /\\xff HTTP/1.1"


# -- the header lines HeadRequire looks at ------------------------------------------------

# Any bytes (the function takes any), and pieces of heads: CRLFs, lone CRs and LFs, colons,
# OWS, the top half of latin-1.
HEAD_PIECES = st.lists(
    st.sampled_from(
        [b"\r\n", b"\r", b"\n", b":", b" ", b"\t", b"Host", b"a", b"\xe9", b"\xff", b"\r\n\r\n"]
    ),
    max_size=24,
).map(b"".join)


@SETTINGS
@given(raw=request_heads() | HEAD_PIECES | st.binary(max_size=40))
def test_the_header_block_in_c_is_the_python_one(raw: bytes) -> None:
    assert _speedups.field_block(raw) == field_block_python(raw)


def test_the_header_block_cases() -> None:
    block = _speedups.field_block
    raw = b"GET / HTTP/1.1\r\nHost:  www.Example.com \t\r\nX-Empty:\r\nNoColon\r\nA: \xc9\r\n\r\n"
    assert block(raw) == (
        b"Host: www.Example.com\nX-Empty: \nNoColon: \nA: \xc9",
        b"host: www.example.com\nx-empty: \nnocolon: \na: \xc9",  # ASCII letters only
    )
    assert block(b"GET / HTTP/1.1\r\nA:b\r\n\r\n") == (b"A: b", b"a: b")
    assert block(b"GET / HTTP/1.1\r\n\r\n") == (b"", b"")
    assert block(b"") == (b"", b"")
    assert field_block is _speedups.field_block
    with pytest.raises(TypeError):
        block(bytearray(raw))  # type: ignore[arg-type]


def test_a_fallback_must_be_callable() -> None:
    for bind in (_speedups.bind_request_line, _speedups.bind_client_response_head):
        with pytest.raises(TypeError, match="must be callable"):
            bind(42)  # type: ignore[arg-type]


# -- where a chunked body ends ------------------------------------------------------------


@st.composite
def chunked_bodies(draw: st.DrawFn) -> bytes:
    """Chunked bodies, mostly well framed, some with extensions, trailers, odd sizes or a
    broken byte; cut short or followed by more bytes."""
    out = b""
    for size in draw(st.lists(st.integers(1, 40), max_size=4)):
        digits = draw(st.sampled_from(["%x", "%X", "%04x", "%016x", "%017x"])) % size
        ext = draw(st.sampled_from([b"", b"", b";a=b", b";a", b" "]))
        out += digits.encode() + ext + b"\r\n" + b"d" * size + b"\r\n"
    out += draw(st.sampled_from([b"0", b"00", b"0000000000000000", b"0;x"])) + b"\r\n"
    out += draw(st.sampled_from([b"", b"", b"T: v\r\n", b"bad\r\n"])) + b"\r\n"
    out += draw(st.sampled_from([b"", b"", b"HTTP/1.1 200 OK\r\n"]))
    if draw(st.integers(0, 3)) == 0:  # one byte changed
        at = draw(st.integers(0, len(out) - 1))
        out = out[:at] + draw(st.sampled_from([b"\r", b"\n", b"x", b"0", b" "])) + out[at + 1 :]
    if draw(st.integers(0, 3)) == 0:  # cut short
        out = out[: draw(st.integers(0, len(out)))]
    return out


# A pure function over short inputs: many examples cost little.
@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=st.sampled_from([b"", b"HTTP/1.1 200 OK\r\n\r\n"]), body=chunked_bodies())
def test_the_chunked_end_in_c_is_the_python_one(prefix: bytes, body: bytes) -> None:
    data = prefix + body
    assert _speedups.chunked_end(data, len(prefix)) == chunked_end_python(data, len(prefix))


def test_the_chunked_end_cases() -> None:
    end = _speedups.chunked_end
    whole = b"5\r\nhello\r\n0\r\n\r\n"
    assert end(whole, 0) == len(whole)
    assert end(whole + b"NEXT", 0) == len(whole)
    assert end(b"HEAD" + whole, 4) == 4 + len(whole)
    assert end(whole[:-1], 0) == -1  # more to come
    assert end(b"5\r\nhelloXY0\r\n\r\n", 0) == -1  # no CRLF after the data
    assert end(b"0\r\nX-T: x\r\n\r\n", 0) == len(b"0\r\nX-T: x\r\n\r\n")  # Python's
    assert end(b"5;ext=1\r\nhello\r\n0\r\n\r\n", 0) == 21  # Python's
    assert end(b"0" * 16 + b"5\r\nhello\r\n0\r\n\r\n", 0) == -1  # 17 digits: refused
    assert end(b"0" * 15 + b"5\r\nhello\r\n0\r\n\r\n", 0) == 30  # 16: taken
    assert end(b"5\r\nhello\rX0\r\n\r\n", 0) == -1  # CR without LF after the data


def test_the_c_functions_stand_in_for_the_python_ones() -> None:
    assert chunked_end is _speedups.chunked_end
    assert request_line is _speedups.request_line
    # And they reach their reference for what they leave to it (a trailer, an escape).
    assert chunked_end(b"0\r\nT: v\r\n\r\n", 0) == 11
    assert request_line(b"GET", b"/\x01", b"HTTP/1.1") == "GET /\\x01 HTTP/1.1"


@pytest.mark.parametrize("code", [b"600", b"700", b"999"])
def test_a_status_past_599_is_left_to_python_which_says_502(code: bytes) -> None:
    head = b"HTTP/1.1 " + code + b" Weird\r\nContent-Length: 2\r\n\r\n"
    assert _speedups.scan_response(head, False, 65536) is None
    with pytest.raises(HttpError) as caught:
        parse_response_head(head, b"GET")
    assert caught.value.status == 502


@SETTINGS
@given(st.integers(0, 999), st.sampled_from([b"GET", b"HEAD"]))
def test_every_status_code_the_scanner_and_python_agree(code: int, method: bytes) -> None:
    head = b"HTTP/1.1 %03d X\r\nContent-Length: 0\r\n\r\n" % code
    expected = python_response(head, method, 65536)
    assert expected[0] == ("ok" if 100 <= code <= 599 else "error"), expected
    check_response(head, method)


# -- what the C entry points are given (issue 12: found or aimed at by tests/fuzz) ----------

PLAIN_200 = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


def parsed_response(head: bytes = PLAIN_200) -> ResponseHead:
    parsed = parse_response_head(head, b"GET")
    assert parsed is not None
    return parsed[0]


@pytest.mark.parametrize("status", [2**70, -(2**70), 2**63, -(2**63) - 1])
def test_the_client_head_takes_a_status_beyond_a_c_long(status: int) -> None:
    # client_head read the status with PyLong_AsLong and no overflow check: it then called
    # the Python function with OverflowError set, and Python raised SystemError.
    resp = parsed_response()
    resp.status = status
    for keep_alive, http11 in ((True, False), (False, True), (True, True)):
        want = client_response_head_python(resp, keep_alive, http11)
        assert client_response_head(resp, keep_alive, http11) == want


@pytest.mark.parametrize(
    "limits",
    [
        Limits(max_body=2**64),
        Limits(max_head=2**63),
        Limits(max_header_count=2**70, max_uri=10**30),
        Limits(*(2**63 - 1,) * 6),  # the largest that fit: the scanner takes these itself
    ],
)
def test_limits_beyond_a_c_size_are_left_to_python(limits: Limits) -> None:
    # Limits takes any size; request_impl raised OverflowError for one beyond Py_ssize_t
    # where the Python parser answers. It declines such limits instead.
    for head in (WRK, FORM, BROWSER, b"BREW / HTTP/1.1\r\nHost: a\r\n\r\n", WRK[:-1]):
        assert c_request(head, limits) == python_request(head, limits)
        check_request(head, limits)  # the scanner: None, or the very head Python makes


def c_request(buf: bytes, limits: Limits) -> tuple[str, Any]:
    """python_request's answer, from the C entry point."""
    return python_request(buf, limits, parse_request_head)


def python_or_error(function: Any, *args: Any) -> Any:
    """What a call gives: its value, HttpError's status, or the type of its exception."""
    try:
        return "value", function(*args)
    except HttpError as exc:
        return "HttpError", exc.status
    except Exception as exc:
        return "raise", type(exc)


@pytest.mark.parametrize("max_head", [2**63, 2**70, -(2**70), 65536.0, 10.0])
def test_a_response_max_head_beyond_a_c_size_is_left_to_python(max_head: Any) -> None:
    # parse_response_head converted max_head with PyLong_AsSsize_t and raised its error
    # (OverflowError, or TypeError for a float) where the Python parser answers.
    for head in (NGINX, NGINX[:-1], b"HTTP/1.1 200 OK\r\nA: b\x00\r\n\r\n"):
        got = python_or_error(parse_response_head, head, b"GET", max_head)
        want = python_or_error(parse_response_head_python, head, b"GET", max_head)
        if got[0] == "value" and got[1] is not None:
            got = "value", (fields_of(got[1][0], RESPONSE_FIELDS), got[1][1])
            want = "value", (fields_of(want[1][0], RESPONSE_FIELDS), want[1][1])
        assert got == want


@pytest.mark.parametrize("start", [2**63, 2**70, -(2**70)])
def test_a_chunked_start_beyond_a_c_size_is_left_to_python(start: int) -> None:
    # chunked_end raised PyLong_AsSsize_t's OverflowError where Python says -1.
    whole = b"5\r\nhello\r\n0\r\n\r\n"
    assert _speedups.chunked_end(whole, start) == chunked_end_python(whole, start)


@pytest.mark.parametrize("which", ["request", "response"])
def test_binding_refuses_slots_borrowed_from_another_class(which: str) -> None:
    # bind_class took any writable member descriptor the class had as an attribute, even one
    # of another class's layout: a class holding RequestHead's descriptors was accepted, and
    # the scanner then filled its (smaller) instances at RequestHead's offsets, past their
    # end (AddressSanitizer: heap-buffer-overflow in build()).
    source = RequestHead if which == "request" else ResponseHead
    fields = request_module._C_FIELDS if which == "request" else response_module._C_FIELDS
    borrowed = type("Borrowed", (), {name: getattr(source, name) for name in fields})
    try:
        with pytest.raises(TypeError, match="not a writable slot"):
            if which == "request":
                _speedups.bind_request(
                    borrowed, fields, b"HTTP/1.0", b"HTTP/1.1", parse_request_head_python
                )
            else:
                _speedups.bind_response(
                    borrowed, fields, parse_response_head_python, response_module.MAX_RESPONSE_HEAD
                )
    finally:  # never leave a bad binding to the tests after this one
        rebind_heads()
    assert check_request(WRK)
    assert check_response(NGINX)


def rebind_heads() -> None:
    """The bindings request.py and response.py make at import."""
    _speedups.bind_request(
        RequestHead, request_module._C_FIELDS, b"HTTP/1.0", b"HTTP/1.1", parse_request_head_python
    )
    _speedups.bind_response(
        ResponseHead,
        response_module._C_FIELDS,
        parse_response_head_python,
        response_module.MAX_RESPONSE_HEAD,
    )


def test_binding_takes_a_subclass_of_the_head_class() -> None:
    # The descriptors a subclass inherits are its own layout: that binding stays valid.
    class Sub(RequestHead):
        __slots__ = ()

    fields = request_module._C_FIELDS
    try:
        _speedups.bind_request(Sub, fields, b"HTTP/1.0", b"HTTP/1.1", parse_request_head_python)
        parsed = parse_request_head(WRK, LIMITS, METHODS)
        assert parsed is not None and type(parsed[0]) is Sub and parsed[0].host == b"127.0.0.1:8080"
    finally:
        rebind_heads()


class PackedOnly:
    """Not a Limits: a ``packed`` of the wrong shape, and no limit of its own."""

    packed = (1, 2)


class PackedRaises:
    @property
    def packed(self) -> tuple[int, ...]:
        raise ValueError("no packed limits")


@pytest.mark.parametrize("limits", [None, (1, 2, 3), PackedOnly(), PackedRaises()])
def test_limits_that_are_no_limits_get_the_python_answer(limits: Any) -> None:
    # parse_request_head read limits.packed itself and raised its own TypeError (or the
    # error of reading it) where the Python parser raises AttributeError: whatever the
    # scanner cannot read goes to Python now, which answers for any argument.
    for head in (WRK, b"", WRK[:-1]):
        want = python_or_error(parse_request_head_python, head, limits, METHODS)
        assert python_or_error(parse_request_head, head, limits, METHODS) == want


class Untestable:
    """An object whose truth cannot be tested (numpy arrays are such)."""

    def __bool__(self) -> bool:
        raise ValueError("no truth value")


@pytest.mark.parametrize(
    ("keep_alive", "http11"),
    [
        (Untestable(), Untestable()),
        (Untestable(), True),
        (False, Untestable()),
        (True, Untestable()),
    ],
)
def test_the_client_head_tests_the_flags_as_python_does(keep_alive: Any, http11: Any) -> None:
    # client_head tested both flags at once: with keep_alive's error still set it called
    # client_http11's __bool__ (SystemError: a result with an exception set), and it raised
    # for client_http11 where the Python function never tests it (keep_alive false, or a
    # keep-alive line of the backend's own). It tests them as Python does now.
    for head in (PLAIN_200, NGINX):
        resp = parsed_response(head)
        want = python_or_error(client_response_head_python, resp, keep_alive, http11)
        assert python_or_error(client_response_head, resp, keep_alive, http11) == want


@pytest.mark.parametrize("slot", ["_keep_alive_span", "_drops", "_locations", "raw", "status"])
def test_the_client_head_of_a_head_with_a_slot_unset(slot: str) -> None:
    # A ResponseHead with _keep_alive_span never set made client_head take it for a
    # keep-alive line (NULL is not None) and answer where Python raises AttributeError.
    resp = parsed_response()
    delattr(resp, slot)
    for keep_alive, http11 in ((True, True), (True, False), (False, True)):
        want = python_or_error(client_response_head_python, resp, keep_alive, http11)
        assert python_or_error(client_response_head, resp, keep_alive, http11) == want
        rewrite = (b"http://a", b"http://b")
        want = python_or_error(client_response_head_python, resp, keep_alive, http11, rewrite)
        assert python_or_error(client_response_head, resp, keep_alive, http11, rewrite) == want
