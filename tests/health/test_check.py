"""The pure half of HTTP checks: the request, the end of the head, the verdict."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from standby.config.pattern import compile_pattern
from standby.health.board import passive_probe
from standby.health.check import (
    MAX_CHECK_BODY,
    Verdict,
    check_request,
    head_end,
    verdict,
)
from standby.model import BackendKind, BackendSpec, HealthCheckSpec


def spec(address: str = "127.0.0.1", port: int | None = 8080, unix: bool = False) -> BackendSpec:
    return BackendSpec(kind=BackendKind.PROXY, address=address, port=port, unix=unix)


def test_the_request_names_the_backend_unless_a_host_is_configured() -> None:
    default = HealthCheckSpec()
    assert check_request(default, spec()) == (
        b"HEAD / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: standby-health-check\r\n"
        b"Accept: */*\r\nConnection: close\r\n\r\n"
    )
    assert b"\r\nHost: 10.0.0.1\r\n" in check_request(default, spec("10.0.0.1", 80))
    assert b"\r\nHost: [::1]:81\r\n" in check_request(default, spec("::1", 81))
    assert b"\r\nHost: localhost\r\n" in check_request(default, spec("/run/b.sock", None, True))
    custom = HealthCheckSpec(method=b"GET", path=b"/health?x=1", host=b"www.example.com")
    assert check_request(custom, spec()).startswith(
        b"GET /health?x=1 HTTP/1.1\r\nHost: www.example.com\r\n"
    )


def test_status_ranges_decide() -> None:
    check = HealthCheckSpec(statuses=((200, 204), (301, 302)))
    assert verdict(check, b"HTTP/1.1 204 No Content\r\n\r\n") == Verdict(
        True, "check got status 204"
    )
    assert verdict(check, b"HTTP/1.0 302 Found\r\n\r\n").ok
    assert verdict(check, b"HTTP/1.1 300 Multiple\r\n\r\n") == Verdict(
        False, "check got status 300"
    )
    assert verdict(check, b"HTTP/1.1 200\r\n\r\n").ok  # an empty reason is allowed
    assert not verdict(check, b"HTTP/1.1 503 Service Unavailable\r\n\r\n").ok


def test_malformed_status_lines_fail() -> None:
    check = HealthCheckSpec()
    bad = Verdict(False, "check got no valid HTTP status line")
    for head in (b"", b"HTTP/2 200 OK\r\n\r\n", b"HTTP/1.1 20 OK\r\n", b"hello\r\n\r\n"):
        assert verdict(check, head) == bad, head
    assert verdict(check, b"HTTP/1.1 600 Odd\r\n\r\n") == bad


def test_the_body_pattern_is_searched_in_a_bounded_body() -> None:
    check = HealthCheckSpec(method=b"GET", body=compile_pattern("ok|fine"))
    head = b"HTTP/1.1 200 OK\r\n\r\n"
    assert verdict(check, head, b"<p>all fine</p>").ok
    assert verdict(check, head, b"<p>error</p>") == Verdict(
        False, "check got status 200 without the expected body"
    )
    assert not verdict(check, head, b"x" * MAX_CHECK_BODY + b"ok").ok  # past the limit
    assert verdict(check, head, b"\xff\xfe ok").ok  # any bytes: read as Latin-1


def test_the_passive_probe_accepts_any_status_below_500() -> None:
    probe = passive_probe(7.0, spec())
    assert (probe.method, probe.path, probe.host, probe.timeout) == (b"HEAD", b"/", None, 7.0)
    assert all(verdict(probe, b"HTTP/1.1 %d x\r\n\r\n" % s).ok for s in (100, 200, 404, 499))
    assert not any(verdict(probe, b"HTTP/1.1 %d x\r\n\r\n" % s).ok for s in (500, 503, 599))


def test_head_end_fed_byte_by_byte() -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    ends = [head_end(answer[:n]) for n in range(len(answer) + 1)]
    first = answer.index(b"\r\n\r\n") + 4
    assert ends[:first] == [None] * first
    assert ends[first:] == [first] * (len(answer) + 1 - first)
    assert head_end(b"HTTP/1.1 200 OK\n\nbody") == len(b"HTTP/1.1 200 OK\n\n")  # bare LF


@given(st.binary(max_size=200), st.binary(max_size=200))
def test_verdict_never_raises_and_only_a_status_line_can_pass(head: bytes, body: bytes) -> None:
    result = verdict(HealthCheckSpec(body=compile_pattern("a")), head, body)
    assert isinstance(result, Verdict)
    if result.ok:
        assert re.match(rb"HTTP/1\.[01] [23][0-9]{2}", head)


@given(st.integers(100, 599), st.integers(100, 599), st.integers(100, 599))
def test_ranges_are_inclusive(low: int, high: int, status: int) -> None:
    low, high = min(low, high), max(low, high)
    check = HealthCheckSpec(statuses=((low, high),))
    line = b"HTTP/1.1 %d R\r\n\r\n" % status
    assert verdict(check, line).ok is (low <= status <= high)
