"""Every request the proxy refuses leaves a trace, as in Pound: a diagnostic line saying why
(at NOTICE, whatever the LogLevel) and an access line in the configured format with the
request line as far as it arrived, the status, the error page's size and no backend. A head
that never arrives whole (408) gets the diagnostic line only: Pound writes no access line
for a request it never had.

Real sockets on loopback; the access log is recorded through ``AccessLog``'s ``emit``, the
diagnostics through a handler on the ``standby.server`` logger."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from tests.support.configs import one_backend
from tests.support.harness import Client, ProxyThread, config_with_ports, wait_until
from tests.support.peers import RawBackend

from standby.http1 import error_response
from standby.observe.access import AccessLog
from standby.observe.logsetup import NOTICE

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class Lines(logging.Handler):
    """The messages logged under a logger, as text with their level."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[tuple[int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.levelno, record.getMessage()))

    def refusals(self) -> list[tuple[int, str]]:
        return [(level, text) for level, text in self.records if re.match(r"e\d{3}: ", text)]


@contextmanager
def diagnostics() -> Iterator[Lines]:
    logger = logging.getLogger("standby.server")
    lines = Lines()
    logger.addHandler(lines)
    old = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        logger.removeHandler(lines)
        logger.setLevel(old)


def answer_ok(conn: object, received: bytes) -> bool:
    import socket

    assert isinstance(conn, socket.socket)
    if received.endswith(b"\r\n\r\n") or received.endswith(b"0\r\n\r\n"):
        conn.sendall(OK)
    return True


@dataclass(frozen=True)
class Refusal:
    name: str
    request: bytes
    status: int
    line: str  # the request line the logs show ("-": unknown)
    reason: str  # a part of the diagnostic's reason
    listener_extra: str = ""


LONG_URI = "/" + "a" * 300
REFUSALS = [
    Refusal("malformed", b"GARBAGE\r\n\r\n", 400, "GARBAGE", "malformed request line"),
    Refusal(
        "method",
        b"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        405,
        "PUT / HTTP/1.1",
        "not allowed",
        "xHTTP 0",
    ),
    Refusal(
        "uri",
        f"GET {LONG_URI} HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
        414,
        f"GET {LONG_URI} HTTP/1.1",
        "request target of 301 bytes",
        "MaxURI 100",
    ),
    Refusal(
        "header",
        b"GET /h HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n",
        431,
        "GET /h HTTP/1.1",
        "header line",
    ),
    Refusal("version", b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, "GET / HTTP/2.0", "version"),
    Refusal(
        "checkurl",
        b"GET /BAD HTTP/1.1\r\nHost: x\r\n\r\n",
        501,  # Pound 4's answer
        "GET /BAD HTTP/1.1",
        "CheckURL",
        'CheckURL "^/[a-z]*$"',
    ),
    Refusal(
        "length",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n" + b"x" * 50,
        413,
        "POST / HTTP/1.1",
        "over the limit",
        "MaxRequest 10",
    ),
    Refusal(
        "bad-chunk",
        b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n",
        400,
        "POST /c HTTP/1.1",
        "bad chunk line",
    ),
    Refusal(
        "chunks-over-limit",
        b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n20\r\n" + b"y" * 32 + b"\r\n0\r\n\r\n",
        413,
        "POST /c HTTP/1.1",
        "over the limit",
        "MaxRequest 10",
    ),
]


def refuse(case: Refusal, level: int) -> tuple[bytes, list[str], list[tuple[int, str]]]:
    """``case`` through a proxy at ``level``: (what the client got, access lines,
    refusal diagnostics)."""
    access_lines: list[str] = []
    with RawBackend(answer_ok) as raw, diagnostics() as logged:
        config, socks = config_with_ports(one_backend(raw.port, case.listener_extra))
        access = AccessLog(level, False, access_lines.append)
        with ProxyThread(config, socks, access_log=access) as proxy, Client(proxy.port) as client:
            client.send(case.request)
            answer = client.read_all()
            wait_until(lambda: len(access_lines) >= 1, what="the access line")
        assert proxy.errors == []
    return answer, access_lines, logged.refusals()


def first_line(answer: bytes) -> str:
    return answer.split(b"\r\n", 1)[0].decode("latin-1")


def page_size(status: int) -> int:
    response = error_response(status)
    return len(response) - response.index(b"\r\n\r\n") - 4


@pytest.mark.parametrize("case", REFUSALS, ids=[c.name for c in REFUSALS])
def test_a_refusal_is_logged_twice_at_loglevel_1(case: Refusal) -> None:
    answer, access_lines, refusals = refuse(case, 1)
    assert answer.startswith(b"HTTP/1.1 %d " % case.status), answer[:80]
    # Pound's regular line: the status line the client got.
    assert access_lines == [f"127.0.0.1 {case.line} - {first_line(answer)}"]
    [(level, text)] = refusals
    assert level == NOTICE
    # The whole request came in one read: refused before any backend was chosen.
    assert text.startswith(f"e{case.status}: 127.0.0.1: "), text
    assert f': "{case.line}": ' in text, text
    assert case.reason in text, text


@pytest.mark.parametrize("level", [2, 3, 4, 5])
@pytest.mark.parametrize("case", [REFUSALS[0], REFUSALS[1], REFUSALS[5]], ids=lambda c: c.name)
def test_a_refusal_in_every_access_log_format(case: Refusal, level: int) -> None:
    answer, [line], [(_, text)] = refuse(case, level)
    assert text.startswith(f"e{case.status}: 127.0.0.1: ")
    size = page_size(case.status)
    if level == 2:
        regular = rf"127\.0\.0\.1 {re.escape(case.line)} - {re.escape(first_line(answer))}"
        assert re.fullmatch(regular + r" \([^ ]*/- -> -\) \d+\.\d{3} sec", line), line
        return
    # Absent headers are empty, as Pound writes them.
    combined = rf'127\.0\.0\.1 - - \[[^]]+\] "{re.escape(case.line)}" {case.status} {size} "" ""'
    if level == 4:
        assert re.fullmatch(combined, line), line
    elif level == 3:
        assert re.fullmatch(r"\S+ " + combined, line), line
    else:
        assert re.fullmatch(r"\S+ " + combined + r" \(- -> -\) \d+\.\d{3} sec", line), line


def test_a_head_that_never_arrives_whole_is_dropped_with_a_diagnostic_only() -> None:
    access_lines: list[str] = []
    with RawBackend(answer_ok) as raw, diagnostics() as logged:
        config, socks = config_with_ports(one_backend(raw.port, "Client 1"))
        access = AccessLog(5, False, access_lines.append)
        with ProxyThread(config, socks, access_log=access) as proxy, Client(proxy.port) as client:
            client.send(b"GET /slow HTTP/1.1\r\nHost: x\r\n")
            answer = client.read_all()
            wait_until(lambda: logged.refusals() != [], what="the diagnostic")
        assert proxy.errors == []
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert logged.refusals() == [
        (NOTICE, 'e408: 127.0.0.1: "GET /slow HTTP/1.1": request head not received in time')
    ]
    assert access_lines == []


def test_a_body_that_stops_coming_is_refused_and_logged() -> None:
    access_lines: list[str] = []
    with RawBackend(answer_ok) as raw, diagnostics() as logged:
        config, socks = config_with_ports(one_backend(raw.port, "Client 1"))
        access = AccessLog(1, False, access_lines.append)
        with ProxyThread(config, socks, access_log=access) as proxy, Client(proxy.port) as client:
            client.send(b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
            answer = client.read_all()
            wait_until(lambda: len(access_lines) == 1, what="the access line")
        assert proxy.errors == []
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert access_lines == [f"127.0.0.1 POST /p HTTP/1.1 - {first_line(answer)}"]
    [(level, text)] = logged.refusals()
    assert level == NOTICE
    assert text.startswith("e408: 127.0.0.1 => 127.0.0.1:"), text
    assert text.endswith(': "POST /p HTTP/1.1": request body timed out'), text


def test_a_request_line_that_never_ended_is_unknown_in_the_logs() -> None:
    case = Refusal(
        "line",
        b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        414,
        "-",
        "request line",
    )
    answer, access_lines, [(_, text)] = refuse(case, 1)
    assert answer.startswith(b"HTTP/1.1 414 ")
    assert access_lines == [f"127.0.0.1  - {first_line(answer)}"]  # Pound: an empty line
    assert text.startswith("e414: 127.0.0.1: request line"), text
