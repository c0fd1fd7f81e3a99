"""Access log formats (Pound's LogLevel 0..5 and LogFormat) on fixed records: the lines
Pound 4.23 writes for the same fields."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from standby.model import BackendKind, BackendSpec, ListenerSpec, ServiceSpec
from standby.observe import access
from standby.observe.access import (
    LEVEL_NAMES,
    MAX_CACHED_STATUS_LINES,
    AccessLog,
    AccessRecord,
    UnparsedRequest,
    anonymise_peer,
    chunked_payload,
    clf_time,
    escape,
    redirect_line,
    refusal_line,
    status_line,
    suppressed,
)
from standby.observe.logformat import (
    BUILTIN_FORMATS,
    Conversion,
    LogFormatError,
    builtin,
    parse,
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
        "response": OK,
    }
    values.update(changes)
    return AccessRecord(**values)  # type: ignore[arg-type]


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 5120\r\n\r\n"


def line(level: int, rec: AccessRecord, anonymise: bool = False) -> str:
    lines: list[str] = []
    AccessLog(level, anonymise, lines.append, tz=UTC).log(rec)
    assert len(lines) == 1
    return lines[0]


def custom(fmt: str, rec: AccessRecord, anonymise: bool = False) -> str:
    text = AccessLog(1, anonymise, lambda _: None, tz=UTC, fmt=fmt).format(rec)
    assert text is not None
    return text


# The expected lines below are Pound 4.23's for the same fields (learned by running it on
# our own configurations and requests, tests/integration/test_access_log_pound.py).
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


def test_level_1_regular_has_the_status_line() -> None:
    assert line(1, record()) == "192.0.2.7 GET /index.html?q=1 HTTP/1.1 - HTTP/1.1 200 OK"


def test_level_2_extended() -> None:
    assert line(2, record()) == (
        "192.0.2.7 GET /index.html?q=1 HTTP/1.1 - HTTP/1.1 200 OK"
        " (www.nire.com/web -> 127.0.0.1:8081) 0.123 sec"
    )


def test_level_3_vhost_combined_has_the_listener_port() -> None:
    assert line(3, record()) == "www.nire.com:8080 " + COMBINED


def test_level_4_combined() -> None:
    assert line(4, record()) == COMBINED


def test_level_5_detailed() -> None:
    assert line(5, record()) == (
        "www.nire.com:8080 " + COMBINED + " (web -> 127.0.0.1:8081) 0.123 sec"
    )


def test_the_levels_by_name_are_the_numbers() -> None:
    for number, name in enumerate(LEVEL_NAMES):
        assert builtin(name) == BUILTIN_FORMATS[number] == builtin(str(number))


def test_absent_headers_are_empty_and_an_unnamed_service_a_dash() -> None:
    rec = record(request=Head(version=b"HTTP/1.0"), service=ServiceSpec(name=None))
    assert line(5, rec) == (
        '127.0.0.1:8080 192.0.2.7 - - [14/Nov/2023:22:13:20 +0000] "GET /index.html?q=1'
        ' HTTP/1.0" 200 5120 "" "" (- -> 127.0.0.1:8081) 0.123 sec'
    )
    assert line(2, rec) == (
        "192.0.2.7 GET /index.html?q=1 HTTP/1.0 - HTTP/1.1 200 OK (/- -> 127.0.0.1:8081) 0.123 sec"
    )


@pytest.mark.parametrize(
    ("host", "vhost"),
    [
        (b"x.example:8080", "x.example:8080"),  # the Host's port gives way to the listener's
        (b"[::1]:99", "[::1]:8080"),
        (b"[::1]", "[::1]:8080"),
        (b"x", "x:8080"),
    ],
)
def test_the_virtual_host_is_the_host_name_and_the_listener_port(host: bytes, vhost: str) -> None:
    rec = record(request=Head(headers={b"host": host}))
    assert line(3, rec).startswith(vhost + " 192.0.2.7 ")
    assert f"({host.decode()}/web -> " in line(2, rec)  # %{Host}i: the header as sent


def test_the_status_line_is_the_one_sent() -> None:
    fine = b"HTTP/1.0 200 Fine Thanks\r\n\r\n"
    assert line(1, record(response=fine)).endswith(" - HTTP/1.0 200 Fine Thanks")
    # A Redirect answer: Pound logs its code and a dash, and the backend as redirect:URL.
    redirect = BackendSpec(kind=BackendKind.REDIRECT, redirect_url="https://x.example/")
    rec = record(backend=redirect, status=302, response=redirect_line(302), bytes_out=0)
    assert line(1, rec).endswith(" - 302 -")
    assert line(5, rec).endswith(
        '302 - "http://ref.example/" "curl/8.0" (web -> redirect:https://x.example/) 0.123 sec'
    )
    assert line(1, record(response=b"")).endswith(" - 200")  # nothing sent: the status


def test_ipv6_backend() -> None:
    v6 = BackendSpec(kind=BackendKind.PROXY, address="::1", port=80)
    assert line(2, record(backend=v6)).endswith("(www.nire.com/web -> [::1]:80) 0.123 sec")


def test_non_basic_or_broken_authorization_has_no_user() -> None:
    for value in (b"Bearer abc", b"Basic !!!notbase64", b"Basic " + base64.b64encode(b":pw")):
        head = Head(headers={b"authorization": value})
        assert line(4, record(request=head)).startswith("192.0.2.7 - - [")


def test_quotes_are_kept_and_control_bytes_escaped() -> None:
    # Pound writes quotes and backslashes as received; standby also escapes what is not
    # printable ASCII, so that no line break or terminal control reaches the log.
    head = Head(headers={b"user-agent": b'evil"\x01\\agent\xff', b"referer": b"a\tb"})
    assert line(4, record(request=head)).endswith('"a\\x09b" "evil"\\x01\\agent\\xff"')


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
        ("127.0.0.1", "127.0.0.0"),
        ("::1", "::0"),  # Pound's text, not "::"
        ("2001:db8::1:2:3:abcd", "2001:db8::1:2:3:0"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2:3:4:5:0"),
        ("::ffff:198.51.100.9", "::ffff:198.51.100.0"),
        ("not an address", "not an address"),
    ],
)
def test_anonymise(peer: str, hidden: str) -> None:
    assert anonymise_peer(peer) == hidden


def test_anonymise_hides_a_but_not_h() -> None:
    for level in range(1, 6):
        text = line(level, record(), anonymise=True)
        assert "192.0.2.0" in text and "192.0.2.7" not in text
    assert custom("a=%a h=%h", record(), anonymise=True) == "a=192.0.2.0 h=192.0.2.7"


# -- LogFormat ---------------------------------------------------------------------------

EVERY = (
    "a=%a A=%A B=%B b=%b D=%D h=%h H=%H i=[%{Referer}i] I=[%{X-None}I] l=%l m=%m "
    "Nl=%{listener}N Ns=%{service}N Nb=%{backend}N p=%p q=[%q] r=[%r] s=%s S=[%>s] u=%u "
    "U=%U v=%v T=%T Tms=%{ms}T Tus=%{us}T Ts=%{s}T Tf=%{f}T pc=%% t=%t t1=%{%Y-%m-%d}t "
    "t2=%{end:%H:%M:%S}t t3=%{msec}t t4=%{usec_frac}t t5=%{end:msec_frac}t t6=%{sec}t"
)


def test_every_conversion() -> None:
    rec = record(duration=2.5)
    assert custom(EVERY, rec) == (
        "a=192.0.2.7 A=127.0.0.1 B=5120 b=5120 D=2500000 h=192.0.2.7 H=http "
        "i=[http://ref.example/] I=[-] l=- m=GET Nl=- Ns=web Nb=127.0.0.1:8081 p=8080 "
        "q=[?q=1] r=[GET /index.html?q=1 HTTP/1.1] s=200 S=[HTTP/1.1 200 OK] u=alice "
        "U=/index.html v=www.nire.com T=2 Tms=2500 Tus=2500000 Ts=2 Tf=2.500 pc=% "
        "t=[14/Nov/2023:22:13:20 +0000] t1=2023-11-14 t2=22:13:22 t3=1700000000250 "
        "t4=250000 t5=750 t6=sec"  # Pound 4.23 takes "sec" for a strftime format
    )


def test_conversions_without_a_request_or_a_body() -> None:
    rec = record(
        request=UnparsedRequest(b"GARBAGE"),
        service=None,
        backend=None,
        status=400,
        bytes_out=0,
        listener=ListenerSpec(name="front", address="127.0.0.1", port=80),
    )
    assert custom("%B %b [%q] %U %m %{listener}N %{service}N %{backend}N %v %r %u", rec) == (
        "0 - [] - - front - - 127.0.0.1 GARBAGE -"
    )


def test_a_format_is_compiled_once() -> None:
    log = AccessLog(1, False, lambda _: None, fmt="%h %s")
    listener = ListenerSpec(name=None, address="127.0.0.1", port=1, log_format="%a %U")
    first = log.form_for(listener)
    assert first is not None and first is log.form_for(listener)
    assert log.form is not None and log.form.text == "%h %s"
    assert log.format(record(listener=listener)) == "192.0.2.7 /index.html"


def test_an_empty_format_logs_nothing() -> None:
    lines: list[str] = []
    listener = ListenerSpec(name=None, address="127.0.0.1", port=1, log_format="")
    log = AccessLog(1, False, lines.append)
    log.log(record(listener=listener))
    assert lines == []


@pytest.mark.parametrize(
    ("text", "message", "offset"),
    [
        # The faults and where Pound 4.23 points at them (the column less the string's).
        ("%Z", "unknown format char", 0),
        ("x%", "unknown format char", 1),
        ("%>x", "unknown format char", 0),
        ("%{x}N", "unrecognized Pound object name", 1),
        ("%{h}T", "bad process time format", 1),
        ("%i", "format specifier requires argument", 0),
        ("%{abc", "missing terminating `}'", 0),
        ("%{Host}v", "format specifier does not take arguments", 6),
    ],
)
def test_bad_definitions(text: str, message: str, offset: int) -> None:
    with pytest.raises(LogFormatError) as caught:
        parse(text)
    assert (caught.value.message, caught.value.offset) == (message, offset)


def test_parse_pieces() -> None:
    assert parse("%{}i%%x%>s") == (Conversion("i", ""), "%x", Conversion(">s"))
    assert parse("") == ()
    assert parse("%{%d}t") == (Conversion("t", "%d"),)


@given(st.text(alphabet="%{}>aisTtNLxX ", max_size=12))
def test_parse_either_fails_cleanly_or_keeps_the_text(text: str) -> None:
    try:
        pieces = parse(text)
    except LogFormatError as exc:
        assert 0 <= exc.offset < len(text)
        return
    assert all(piece for piece in pieces)


# -- LogSuppress, chunked bodies ----------------------------------------------------------


def test_log_suppress_by_status_class() -> None:
    quiet = ServiceSpec(name="m", log_suppress=(1 << 2) | (1 << 4))
    assert suppressed(quiet, 200) and suppressed(quiet, 404)
    assert not suppressed(quiet, 302) and not suppressed(quiet, 503)
    assert not suppressed(None, 200) and not suppressed(SERVICE, 200)


def test_chunked_payload_counts_the_data_only() -> None:
    body = b"HEAD5\r\nhello\r\n6;x=1\r\n world\r\n0\r\n\r\n"
    assert chunked_payload(body, 4, len(body)) == 11
    assert chunked_payload(b"0\r\n\r\n", 0, 5) == 0


def _unescape(text: str) -> bytes:
    out = bytearray()
    i = 0
    while i < len(text):
        if text.startswith("\\x", i) and len(text) >= i + 4:
            out.append(int(text[i + 2 : i + 4], 16))
            i += 4
            continue
        out.append(ord(text[i]))
        i += 1
    return bytes(out)


@given(st.binary(max_size=200))
def test_escape_is_printable(value: bytes) -> None:
    text = escape(value)
    assert all(0x20 <= ord(ch) < 0x7F for ch in text)
    if b"\\x" not in value:
        assert _unescape(text) == value


@given(st.binary(max_size=100), st.binary(max_size=100))
def test_a_client_cannot_break_a_line(agent: bytes, target: bytes) -> None:
    head = Head(target=b"/" + target, headers={b"user-agent": agent})
    for level in range(1, 6):
        text = line(level, record(request=head))
        assert text.isprintable() and text.isascii()


@given(
    st.sampled_from(["192.0.2.7", "2001:db8::1", "unix"]),
    st.binary(max_size=40),
    st.sampled_from([b"HTTP/1.1", b"1.0"]),
    st.integers(100, 999),
    st.sampled_from([b"", b"HTTP/1.1 200 OK\r\n\r\n", b"302 -"]),
    st.booleans(),
    st.booleans(),
)
def test_the_regular_shortcut_writes_the_regular_line(
    peer: str,
    target: bytes,
    version: bytes,
    status: int,
    response: bytes,
    anonymise: bool,
    parsed: bool,
) -> None:
    # The shell logs LogLevel 1 without a record: the same line as from a record.
    lines: list[str] = []
    log = AccessLog(1, anonymise, lines.append)
    head = Head(target=target, version=version) if parsed else None
    log.log(record(peer=peer, request=head, status=status, response=response))
    log.log_regular(peer, head, status, response)
    assert len(lines) == 2 and lines[0] == lines[1]
    assert log.form is not None and log.form.regular


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
        response=b"HTTP/1.1 400 Bad Request\r\nContent-Length: 150\r\n\r\n",
    )
    assert line(1, garbage) == '192.0.2.7 GAR"BAGE\\x01 - HTTP/1.1 400 Bad Request'
    assert line(2, garbage) == (
        '192.0.2.7 GAR"BAGE\\x01 - HTTP/1.1 400 Bad Request (/- -> -) 0.123 sec'
    )
    combined = '192.0.2.7 - - [14/Nov/2023:22:13:20 +0000] "GAR"BAGE\\x01" 400 150 "" ""'
    assert line(4, garbage) == combined
    assert line(3, garbage) == "127.0.0.1:8080 " + combined
    assert line(5, garbage) == "127.0.0.1:8080 " + combined + " (- -> -) 0.123 sec"
    unknown = record(
        request=UnparsedRequest(b""),
        service=None,
        backend=None,
        status=414,
        response=b"HTTP/1.1 414 URI Too Long\r\n\r\n",
    )
    # Pound: an empty request line between two spaces; "" in the combined formats.
    assert line(1, unknown) == "192.0.2.7  - HTTP/1.1 414 URI Too Long"
    assert '"" 414 5120' in line(4, unknown)


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
    assert "\n" not in forged and forged == 'e400: ::1: "x\\x0a2 GET / "": r'


def test_status_lines_are_remembered_within_a_bound() -> None:
    for n in range(MAX_CACHED_STATUS_LINES * 2):
        assert status_line(b"HTTP/1.1 200 R%d\r\n\r\n" % n, 200) == f"HTTP/1.1 200 R{n}"
    assert status_line(b"", 503) == "503" and status_line(b"", 200) == "200"
    assert status_line(b"HTTP/1.1 200 \x01\r\n", 200) == "HTTP/1.1 200 \\x01"
    assert len(access._STATUS_LINES) <= MAX_CACHED_STATUS_LINES


def test_a_refused_request_shows_the_host_it_sent() -> None:
    # Pound logs the Host of a request it refused (a method it does not allow, say).
    refused = UnparsedRequest.of(b"PUT / HTTP/1.1\r\nX: 1\r\nhost:  www.x \r\n\r\nHost: no", 80)
    rec = record(request=refused, service=None, backend=None, status=405)
    assert line(2, rec).endswith("(www.x/- -> -) 0.123 sec")
    assert line(3, rec).startswith("www.x:8080 ")
    assert UnparsedRequest.of(b"GARBAGE\r\n\r\n", 80).header(b"host") is None
    assert UnparsedRequest.of(b"GET /" + b"a" * 99 + b"\r\nHost: x\r\n", 80).header(b"host") is None


def test_a_metrics_answer_is_named_as_pound_names_it() -> None:
    metrics = ServiceSpec(name="m", metrics=True)
    rec = record(service=metrics, backend=None, bytes_out=0)
    assert line(5, rec).endswith('200 - "http://ref.example/" "curl/8.0" (m -> metrics) 0.123 sec')
    assert line(5, record(service=SERVICE, backend=None)).endswith("(web -> -) 0.123 sec")
