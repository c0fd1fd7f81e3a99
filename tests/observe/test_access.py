"""Access log formats (Pound's LogLevel 0..5) on fixed records: golden strings."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from standby.model import BackendKind, BackendSpec, ListenerSpec, ServiceSpec
from standby.observe.access import (
    AccessLog,
    AccessRecord,
    UnparsedRequest,
    anonymise_peer,
    clf_time,
    escape,
    refusal_line,
)


@dataclass
class Head:
    """A parsed request head as the server hands it to the access log."""

    method: bytes = b"GET"
    target: bytes = b"/index.html?q=1"
    version: bytes = b"HTTP/1.1"
    headers: dict[bytes, bytes] = field(default_factory=dict)

    def header(self, name: bytes) -> bytes | None:
        return self.headers.get(name.lower())


LISTENER = ListenerSpec(name=None, address="127.0.0.1", port=8080)
SERVICE = ServiceSpec(name="web")
BACKEND = BackendSpec(kind=BackendKind.PROXY, address="127.0.0.1", port=8081)
STARTED = 1700000000.25  # 2023-11-14 22:13:20.25 UTC
AUTH = b"Basic " + base64.b64encode(b"alice:secret")


def record(**changes: object) -> AccessRecord:
    head = Head(
        headers={
            b"host": b"www.nire.com",
            b"referer": b"http://ref.example/",
            b"user-agent": b"curl/8.0",
            b"authorization": AUTH,
        }
    )
    values: dict[str, object] = {
        "peer": "192.0.2.7",
        "listener": LISTENER,
        "service": SERVICE,
        "backend": BACKEND,
        "request": head,
        "status": 200,
        "bytes_out": 5120,
        "started": STARTED,
        "duration": 0.1234,
    }
    values.update(changes)
    return AccessRecord(**values)  # type: ignore[arg-type]


def line(level: int, rec: AccessRecord, anonymise: bool = False) -> str:
    lines: list[str] = []
    AccessLog(level, anonymise, lines.append, tz=UTC).log(rec)
    assert len(lines) == 1
    return lines[0]


COMBINED = (
    '192.0.2.7 - alice [14/Nov/2023:22:13:20 +0000] "GET /index.html?q=1 HTTP/1.1" 200 5120'
    ' "http://ref.example/" "curl/8.0"'
)


def test_level_0_logs_nothing() -> None:
    lines: list[str] = []
    log = AccessLog(0, False, lines.append)
    log.log(record())
    assert lines == []
    assert log.format(record()) is None


def test_level_1_regular() -> None:
    assert line(1, record()) == "192.0.2.7 GET /index.html?q=1 HTTP/1.1 - 200"


def test_level_2_extended() -> None:
    assert line(2, record()) == (
        "192.0.2.7 GET /index.html?q=1 HTTP/1.1 - 200"
        " (www.nire.com/web -> 127.0.0.1:8081) 0.123 sec"
    )


def test_level_3_vhost_combined() -> None:
    assert line(3, record()) == "www.nire.com " + COMBINED


def test_level_4_combined() -> None:
    assert line(4, record()) == COMBINED


def test_level_5_detailed() -> None:
    assert line(5, record()) == "www.nire.com " + COMBINED + " (web -> 127.0.0.1:8081) 0.123 sec"


def test_missing_fields_are_dashes() -> None:
    rec = record(service=None, backend=None, request=None, status=400, bytes_out=0)
    assert line(1, rec) == "192.0.2.7 - - 400"
    assert line(2, rec) == "192.0.2.7 - - 400 (-/- -> -) 0.123 sec"
    assert line(5, rec) == (
        '- 192.0.2.7 - - [14/Nov/2023:22:13:20 +0000] "-" 400 - "-" "-" (- -> -) 0.123 sec'
    )


def test_headers_absent_and_unnamed_service() -> None:
    rec = record(request=Head(version=b"HTTP/1.0"), service=ServiceSpec(name=None))
    assert line(5, rec) == (
        '- 192.0.2.7 - - [14/Nov/2023:22:13:20 +0000] "GET /index.html?q=1 HTTP/1.0"'
        ' 200 5120 "-" "-" (- -> 127.0.0.1:8081) 0.123 sec'
    )


def test_bare_version_gets_http_prefix() -> None:
    assert line(1, record(request=Head(version=b"1.1"))).endswith("HTTP/1.1 - 200")


def test_ipv6_backend_and_redirect_backend() -> None:
    v6 = BackendSpec(kind=BackendKind.PROXY, address="::1", port=80)
    assert line(2, record(backend=v6)).endswith("(www.nire.com/web -> [::1]:80) 0.123 sec")
    redirect = BackendSpec(kind=BackendKind.REDIRECT, redirect_url="https://x.example/")
    assert "(web -> redirect 302 https://x.example/)" in line(5, record(backend=redirect))


def test_non_basic_or_broken_authorization_has_no_user() -> None:
    for value in (b"Bearer abc", b"Basic !!!notbase64", b"Basic " + base64.b64encode(b":pw")):
        head = Head(headers={b"authorization": value})
        assert line(4, record(request=head)).startswith("192.0.2.7 - - [")


def test_quotes_and_control_bytes_are_escaped() -> None:
    head = Head(headers={b"user-agent": b'evil"\x01\\agent\xff', b"referer": b"a\tb"})
    assert line(4, record(request=head)).endswith('"a\\x09b" "evil\\"\\x01\\\\agent\\xff"')


def test_time_zone_is_applied() -> None:
    assert clf_time(STARTED, timezone(timedelta(hours=9))) == "15/Nov/2023:07:13:20 +0900"
    assert clf_time(STARTED, timezone(-timedelta(hours=7))) == "14/Nov/2023:15:13:20 -0700"


def test_local_time_is_the_default() -> None:
    text = AccessLog(4, False, lambda _: None).format(record())
    assert text is not None and "/Nov/2023:" in text


@pytest.mark.parametrize("level", [-1, 6])
def test_bad_level_is_refused(level: int) -> None:
    with pytest.raises(ValueError, match="LogLevel"):
        AccessLog(level, False, lambda _: None)


@pytest.mark.parametrize(
    ("peer", "hidden"),
    [
        ("192.0.2.7", "192.0.2.0"),
        ("10.1.2.255", "10.1.2.0"),
        ("2001:db8::1:2:3:abcd", "2001:db8::1:2:3:0"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2:3:4:5:0"),
        ("::ffff:198.51.100.9", "::ffff:198.51.100.0"),
        ("/run/standby.sock", "/run/standby.sock"),
        ("not an address", "not an address"),
    ],
)
def test_anonymise(peer: str, hidden: str) -> None:
    assert anonymise_peer(peer) == hidden


def test_anonymise_applies_to_every_level() -> None:
    for level in range(1, 6):
        text = line(level, record(), anonymise=True)
        assert "192.0.2.0" in text and "192.0.2.7" not in text


def _unescape(text: str) -> bytes:
    out = bytearray()
    i = 0
    while i < len(text):
        if text[i] == "\\":
            if text[i + 1] == "x":
                out.append(int(text[i + 2 : i + 4], 16))
                i += 4
                continue
            out.append(ord(text[i + 1]))
            i += 2
            continue
        out.append(ord(text[i]))
        i += 1
    return bytes(out)


@given(st.binary(max_size=200))
def test_escape_is_printable_and_reversible(value: bytes) -> None:
    text = escape(value)
    assert all(0x20 <= ord(ch) < 0x7F for ch in text)
    assert '"' not in text.replace('\\"', "")
    assert _unescape(text) == value


@given(st.binary(max_size=100), st.binary(max_size=100))
def test_a_client_cannot_break_a_line(agent: bytes, target: bytes) -> None:
    head = Head(target=b"/" + target, headers={b"user-agent": agent})
    text = line(5, record(request=head))
    assert "\n" not in text and "\r" not in text
    # Exactly the six quote characters of the format are unescaped.
    assert _bare_quotes(text) == 6


def _bare_quotes(text: str) -> int:
    count = 0
    i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        count += text[i] == '"'
        i += 1
    return count


def test_escaped_backslash_before_a_closing_quote() -> None:
    head = Head(headers={b"user-agent": b"agent\\"})
    text = line(4, record(request=head))
    assert text.endswith('"agent\\\\"')
    assert _bare_quotes(text) == 6


@given(
    st.sampled_from(["192.0.2.7", "2001:db8::1", "unix"]),
    st.binary(max_size=40),
    st.sampled_from([b"HTTP/1.1", b"1.0"]),
    st.integers(100, 999),
    st.booleans(),
    st.booleans(),
)
def test_the_regular_shortcut_writes_the_regular_line(
    peer: str, target: bytes, version: bytes, status: int, anonymise: bool, parsed: bool
) -> None:
    # The shell logs LogLevel 1 without a record: the same line as from a record.
    lines: list[str] = []
    log = AccessLog(1, anonymise, lines.append)
    head = Head(target=target, version=version) if parsed else None
    log.log(record(peer=peer, request=head, status=status))
    log.log_regular(peer, head, status)
    assert len(lines) == 2 and lines[0] == lines[1]


# -- refused requests ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "known"),
    [
        (b"GARBAGE\r\n\r\n", b"GARBAGE"),
        (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", b"GET / HTTP/2.0"),
        (b"GET /a HTTP/1.1\nHost: x\n\n", b"GET /a HTTP/1.1"),  # a bare LF ends it too
        (b"GET /" + b"a" * 100, b""),  # the line never ended
        (b"GET /" + b"a" * 100 + b" HTTP/1.1\r\n", b""),  # it ended past the limit
        (b"GET /" + b"a" * 50 + b" HTTP/1.1\r\n", b"GET /" + b"a" * 50 + b" HTTP/1.1"),
        (b"", b""),
    ],
)
def test_what_is_known_of_a_refused_request_line(head: bytes, known: bytes) -> None:
    assert UnparsedRequest.of(head, 80).line == known


def test_a_refused_request_in_each_format() -> None:
    garbage = record(
        request=UnparsedRequest(b'GAR"BAGE\x01'),
        service=None,
        backend=None,
        status=400,
        bytes_out=150,
    )
    assert line(1, garbage) == '192.0.2.7 GAR\\"BAGE\\x01 - 400'
    assert line(2, garbage) == '192.0.2.7 GAR\\"BAGE\\x01 - 400 (-/- -> -) 0.123 sec'
    combined = '192.0.2.7 - - [14/Nov/2023:22:13:20 +0000] "GAR\\"BAGE\\x01" 400 150 "-" "-"'
    assert line(4, garbage) == combined
    assert line(3, garbage) == "- " + combined
    assert line(5, garbage) == "- " + combined + " (- -> -) 0.123 sec"
    unknown = record(request=UnparsedRequest(b""), service=None, backend=None, status=414)
    assert line(1, unknown) == "192.0.2.7 - - 414"


def test_the_diagnostic_line_of_a_refusal() -> None:
    assert (
        refusal_line(400, "192.0.2.7", None, UnparsedRequest(b"GARBAGE"), "malformed")
        == 'e400: 192.0.2.7: "GARBAGE": malformed'
    )
    assert (
        refusal_line(408, "192.0.2.7", "127.0.0.1:8081", Head(method=b"POST"), "timed out")
        == 'e408: 192.0.2.7 => 127.0.0.1:8081: "POST /index.html?q=1 HTTP/1.1": timed out'
    )
    assert refusal_line(431, "::1", None, UnparsedRequest(b""), "too large") == (
        "e431: ::1: too large"
    )
    # A client cannot forge a line: the request line is escaped as in the access log.
    forged = refusal_line(400, "::1", None, UnparsedRequest(b'x\n2 GET / "'), "r")
    assert "\n" not in forged and forged == 'e400: ::1: "x\\x0a2 GET / \\"": r'
