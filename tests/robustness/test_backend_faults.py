"""Backend faults and oversized requests, with a healthy service beside the faulty one.

One proxy serves two services: ``faulty.test`` goes to a misbehaving backend (the fault is
the first path segment, see ``misbehaving.FAULTS``), everything else to a healthy backend
that a canary keeps busy. For each fault the client must see the right outcome (502, 504, a
truncated message), the broken backend connection must be closed and never carry another
request, and the canary must stay at 100 % success.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.robustness.misbehaving import (
    ANNOUNCED_BODY,
    FAULTS,
    MALFORMED,
    TRUNCATING,
    FaultRequest,
    FullBacklog,
    ScriptedBackend,
    fault_responder,
    recorded,
)
from tests.support.backend import Backend
from tests.support.harness import DEADLINE, Client, ProxyThread, config_with_ports, wait_until
from tests.support.load import Load

pytestmark = pytest.mark.timeout(120)

FAULTY_HOST = "faulty.test"
# Body limit of the listener (MaxRequest): small, so that floods hit it at once.
MAX_REQUEST = 4096
# The faulty backend's TimeOut, in seconds: the 504 and mid-body timeouts come after it.
BACKEND_TIMEOUT = 1
# Bytes a flooding client offers: far more than any limit, so only a bounded proxy survives.
FLOOD = 16 << 20
# Python heap the proxy may grow by while refusing a flood: a small multiple of its 64 KiB
# head limit and read size, far below the flood.
FLOOD_MEMORY_BOUND = 4 << 20
# Canary: connections and pause between two requests of one connection (seconds).
CANARY_CONNECTIONS = 2
CANARY_PACE = 0.005
# The canary must have made at least this many requests during a scenario to count.
CANARY_MIN_REQUESTS = 5
# Concurrent faulty requests in the mixed scenario.
MIXED_FAULTS = 24
# Strings no error page may show.
LEAKS = (b"Traceback", b"Error:", b"Python", b"standby", b"uvloop", b".py", b"127.0.0.1")

CANARY_OK = ("200 b'healthy'",)

CONFIG = """\
Alive 600
ListenHTTP
  Address 127.0.0.1
  Port {{L0}}
  Client 5
  MaxRequest {max_request}
  Service
    Host "{host}"
    PassiveChecks 0
    BackEnd
      Address 127.0.0.1
      Port {faulty}
      TimeOut {timeout}
    End
  End
  Service
    BackEnd
      Address 127.0.0.1
      Port {healthy}
    End
  End
End
"""

_tokens = itertools.count()


def token() -> str:
    return f"tok{next(_tokens)}"


def command(test: str) -> str:
    return f"python -m pytest tests/robustness/test_backend_faults.py::{test}"


@dataclass
class Env:
    proxy: ProxyThread
    faulty: ScriptedBackend
    healthy: Backend


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    with ScriptedBackend(fault_responder) as faulty, Backend("healthy") as healthy:
        text = CONFIG.format(
            max_request=MAX_REQUEST,
            host=FAULTY_HOST,
            faulty=faulty.port,
            timeout=BACKEND_TIMEOUT,
            healthy=healthy.port,
        )
        config, socks = config_with_ports(text)
        with ProxyThread(config, socks) as proxy:
            yield Env(proxy, faulty, healthy)
        assert proxy.errors == []


class Canary:
    """Steady requests to the healthy service while a scenario runs."""

    def __init__(self, port: int) -> None:
        self.load = Load(port, connections=CANARY_CONNECTIONS, pace=CANARY_PACE)

    def __enter__(self) -> Canary:
        self.load.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            wait_until(
                lambda: self.load.total() >= CANARY_MIN_REQUESTS, DEADLINE, "canary requests"
            )
        self.load.__exit__()

    def figures(self) -> dict[str, object]:
        total = self.load.total()
        failed = sum(self.load.failures(CANARY_OK).values())
        return {
            "canary requests": total,
            "canary success %": 100.0 * (total - failed) / total if total else 0.0,
        }

    def assert_all_ok(self) -> None:
        assert self.load.failures(CANARY_OK) == {}
        assert self.load.total() >= CANARY_MIN_REQUESTS


# -- reading what the client got -------------------------------------------------------------


@dataclass
class Seen:
    status: int
    head: bytes
    body: bytes  # everything after the head until the proxy closed
    complete: bool  # the body is a whole message by the head's framing
    seconds: float


def _framing_complete(head: bytes, body: bytes) -> bool:
    lower = head.lower()
    if b"\r\ntransfer-encoding: chunked" in lower:
        pos = 0
        while True:
            nl = body.find(b"\r\n", pos)
            if nl < 0:
                return False
            size = int(body[pos:nl].split(b";")[0], 16)
            if size == 0:
                return body.find(b"\r\n\r\n", nl) >= 0 or body[nl + 2 : nl + 4] == b"\r\n"
            pos = nl + 2 + size + 2
            if pos > len(body):
                return False
    for line in lower.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return True


def ask(port: int, target: str, host: str = FAULTY_HOST) -> Seen:
    """One GET on a fresh connection; everything the proxy sends until it closes."""
    start = time.monotonic()
    with Client(port) as c:
        c.send(f"GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        data = b""
        try:
            while True:
                part = c.sock.recv(65536)
                if not part:
                    break
                data += part
                head_end = data.find(b"\r\n\r\n")
                if (
                    head_end >= 0
                    and _framing_complete(data[: head_end + 4], data[head_end + 4 :])
                    and b"connection: close" not in data[:head_end].lower()
                ):
                    break  # a complete keep-alive answer: the proxy will not close
        except ConnectionResetError:
            pass  # a reset after a truncated body is one of the outcomes we look for
    seconds = time.monotonic() - start
    head, sep, body = data.partition(b"\r\n\r\n")
    assert sep, f"no response head: {data[:200]!r}"
    return Seen(int(head[9:12]), head + sep, body, _framing_complete(head + sep, body), seconds)


def carriers(backend: ScriptedBackend, tok: str) -> list[tuple[int, int]]:
    """(connection index, request index) of every request whose target ends in ``tok``."""
    found = []
    for rec in backend.snapshot():
        for i, req in enumerate(rec.requests):
            assert isinstance(req, FaultRequest)
            if req.target.endswith(b"/" + tok.encode()):
                found.append((rec.index, i))
    return found


def check_never_reused(env: Env, tok: str) -> int:
    """Every backend connection that carried the faulty request ended, with that request as
    its last one; returns how many connections carried it (a resend on a fresh connection
    after a pooled one failed is allowed)."""
    found = carriers(env.faulty, tok)
    assert found, "the faulty request never reached the backend"
    conns = {c for c, _ in found}
    wait_until(
        lambda: all(env.faulty.snapshot()[c].ended for c in conns),
        DEADLINE,
        "the broken backend connection closed",
    )
    snapshot = env.faulty.snapshot()
    for c, i in found:
        assert i == len(snapshot[c].requests) - 1, "a broken backend connection was reused"
    return len(conns)


def fault_scenario(env: Env, fault: str, figures: dict[str, object]) -> None:
    """Run one fault under the canary; check the client's outcome and the backend side."""
    tok = token()
    expect = FAULTS[fault].expect
    with Canary(env.proxy.port) as canary:
        seen = ask(env.proxy.port, f"/{fault}/{tok}")
        figures.update(
            {
                "status": seen.status if expect != "truncated" else "200, truncated",
                "seconds": round(seen.seconds, 3),
                "body bytes seen": len(seen.body),
            }
        )
        figures["backend connections"] = check_never_reused(env, tok)
        # The same service answers the next request, on a connection of its own.
        after = ask(env.proxy.port, f"/ok/{tok}-after")
        assert (after.status, after.body) == (200, b"ok")
    figures.update(canary.figures())
    canary.assert_all_ok()
    if expect == "truncated":
        assert seen.status == 200
        assert not seen.complete, "a broken response reached the client as a complete one"
    else:
        assert seen.status == int(expect)
        assert b"connection: close" in seen.head.lower()
        for leak in (*LEAKS, str(env.faulty.port).encode()):
            assert leak not in seen.head + seen.body
    ok_conns = {c for c, _ in carriers(env.faulty, f"{tok}-after")}
    assert ok_conns.isdisjoint(c for c, _ in carriers(env.faulty, tok))


@pytest.mark.parametrize("fault", MALFORMED)
def test_malformed_response_gets_502(env: Env, fault: str) -> None:
    with recorded(
        f"backend fault: {fault} -> 502", command(f"test_malformed_response_gets_502[{fault}]")
    ) as figures:
        fault_scenario(env, fault, figures)


@pytest.mark.parametrize("fault", ["close", "reset"])
def test_backend_closing_without_answer_gets_502(env: Env, fault: str) -> None:
    with recorded(
        f"backend fault: {fault} without answer -> 502",
        command(f"test_backend_closing_without_answer_gets_502[{fault}]"),
    ) as figures:
        fault_scenario(env, fault, figures)


def test_backend_never_answering_gets_504(env: Env) -> None:
    with recorded(
        "backend fault: no answer within TimeOut -> 504",
        command("test_backend_never_answering_gets_504"),
        notes=f"TimeOut {BACKEND_TIMEOUT}; the proxy closed the hung backend connection",
    ) as figures:
        fault_scenario(env, "silent", figures)


@pytest.mark.parametrize("fault", TRUNCATING)
def test_backend_breaking_off_mid_body_truncates(env: Env, fault: str) -> None:
    with recorded(
        f"backend fault: {fault} -> truncated response",
        command(f"test_backend_breaking_off_mid_body_truncates[{fault}]"),
        notes=f"the backend announced {ANNOUNCED_BODY} bytes or a chunked body",
    ) as figures:
        fault_scenario(env, fault, figures)


def test_other_service_unaffected_by_concurrent_faults(env: Env) -> None:
    """Many faulty requests at once (hangs, resets, malformed answers) while the canary
    runs: the healthy service keeps answering every request."""
    faults = ["silent", "reset", "two-lengths", "length-then-reset", "oversized-header", "close"]
    outcomes: list[int | str] = []
    lock = threading.Lock()

    def one(fault: str) -> None:
        try:
            seen = ask(env.proxy.port, f"/{fault}/{token()}")
            result: int | str = seen.status if seen.complete else "truncated"
        except (OSError, AssertionError) as exc:
            result = f"error {exc!r}"
        with lock:
            outcomes.append(result)

    with recorded(
        "other service during concurrent backend faults",
        command("test_other_service_unaffected_by_concurrent_faults"),
        notes="hangs, resets, malformed and truncated answers at once on one service",
    ) as figures:
        with Canary(env.proxy.port) as canary:
            threads = [
                threading.Thread(target=one, args=(faults[i % len(faults)],), daemon=True)
                for i in range(MIXED_FAULTS)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(DEADLINE)
        figures.update({"faulty requests": MIXED_FAULTS, **canary.figures()})
        canary.assert_all_ok()
        assert len(outcomes) == MIXED_FAULTS
        assert all(o in (502, 504, "truncated") for o in outcomes), outcomes


def test_full_backlog_gets_503_and_other_service_unaffected() -> None:
    """A backend whose connects hang: ConnTO marks it dead, the client gets 503 with
    Retry-After (there is no Emergency), later requests get it without waiting."""
    with FullBacklog() as hung, Backend("healthy") as healthy:
        text = CONFIG.format(
            max_request=MAX_REQUEST,
            host=FAULTY_HOST,
            faulty=hung.port,
            timeout=BACKEND_TIMEOUT,
            healthy=healthy.port,
        ).replace("      TimeOut", "      ConnTO 1\n      TimeOut")
        config, socks = config_with_ports(text)
        with recorded(
            "backend fault: full backlog (connect hangs) -> 503",
            command("test_full_backlog_gets_503_and_other_service_unaffected"),
            notes="ConnTO 1: the first request waits for it, later ones skip the dead backend",
        ) as figures:
            with ProxyThread(config, socks) as proxy, Canary(proxy.port) as canary:
                first = ask(proxy.port, "/ok/first")
                later = ask(proxy.port, "/ok/later")
            figures["first 503 seconds"] = round(first.seconds, 3)
            figures["later 503 seconds"] = round(later.seconds, 3)
            figures.update(canary.figures())
            assert proxy.errors == []
            canary.assert_all_ok()
            for seen in (first, later):
                assert seen.status == 503
                assert b"\r\nretry-after: " in seen.head.lower()
                assert str(hung.port).encode() not in seen.head + seen.body


# -- oversized requests ----------------------------------------------------------------------

H = f"Host: {FAULTY_HOST}\r\n".encode()
CHUNKED_HEAD = b"POST /silent/%s HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"

# (case, bytes before the flood, the repeated flood unit, status, may forward a prefix)
OVERSIZED = [
    ("request line", b"GET /ok/%s/", b"a" * 1024, 414, False),
    ("header line", b"GET /ok/%s HTTP/1.1\r\n" + H + b"X-A: ", b"a" * 1024, 431, False),
    ("header count", b"GET /ok/%s HTTP/1.1\r\n" + H, b"X-A: 1\r\n", 431, False),
    ("head size", b"GET /ok/%s HTTP/1.1\r\n" + H, b"X-A: " + b"a" * 4000 + b"\r\n", 431, False),
    (
        "content-length over MaxRequest",
        b"POST /ok/%s HTTP/1.1\r\n" + H + b"Content-Length: 100000000\r\n\r\n",
        b"a" * 1024,
        413,
        False,
    ),
    ("first chunk over MaxRequest", CHUNKED_HEAD + b"1000000\r\n", b"a" * 1024, 413, False),
    # Chunks under the limit one by one: the first ones may have left, on a connection that
    # is then closed.
    ("chunked total over MaxRequest", CHUNKED_HEAD, b"400\r\n" + b"a" * 1024 + b"\r\n", 413, True),
]


def flood(sock: socket.socket, data: bytes, sent: list[int]) -> None:
    view = memoryview(data)
    try:
        while view:
            n = sock.send(view[:65536])
            sent[0] += n
            view = view[n:]
    except OSError:
        pass  # the proxy closed after its answer: the point of the test


@pytest.mark.parametrize(
    ("case", "prefix", "unit", "status", "prefix_allowed"),
    OVERSIZED,
    ids=[c[0].replace(" ", "-") for c in OVERSIZED],
)
def test_oversized_request_refused_quickly_bounded_nothing_forwarded(
    env: Env, case: str, prefix: bytes, unit: bytes, status: int, prefix_allowed: bool
) -> None:
    cmd = command(
        "test_oversized_request_refused_quickly_bounded_nothing_forwarded"
        f"[{case.replace(' ', '-')}]"
    )
    notes = f"a {FLOOD >> 20} MiB flood; heap traced with tracemalloc"
    with recorded(f"oversized request: {case} -> {status}", cmd, notes) as figures:
        oversized(env, prefix, unit, status, prefix_allowed, figures)


def oversized(
    env: Env,
    prefix: bytes,
    unit: bytes,
    status: int,
    prefix_allowed: bool,
    figures: dict[str, object],
) -> None:
    tok = token()
    data = (prefix % tok.encode()) + unit * (FLOOD // len(unit))
    accepted_before = env.faulty.accepted
    sent = [0]
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        start = time.monotonic()
        with Client(env.proxy.port) as c:
            sender = threading.Thread(target=flood, args=(c.sock, data, sent), daemon=True)
            sender.start()
            resp = c.response()
            seconds = time.monotonic() - start
            offered = sent[0]
            assert c.closed_by_peer()
            sender.join(DEADLINE)
            assert not sender.is_alive()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    grown = peak - base
    carried = [rec for rec in env.faulty.snapshot()[accepted_before:] if rec.data]
    figures.update(
        {
            "status": resp.status,
            "seconds to status": round(seconds, 3),
            "bytes offered before status": offered,
            "python heap growth KiB": grown // 1024,
            "bytes forwarded": sum(len(r.data) for r in carried),
        }
    )
    assert resp.status == status
    assert resp.header(b"connection") == b"close"
    for leak in LEAKS:
        assert leak not in resp.raw_head + resp.body
    assert grown < FLOOD_MEMORY_BOUND
    if prefix_allowed:
        # At most the one request's head and first chunks, on connections now closed.
        wait_until(lambda: all(r.ended for r in env.faulty.snapshot()[accepted_before:]))
        for rec in carried:
            assert bytes(rec.data).count(b"POST ") == 1
            assert tok.encode() in rec.data
            assert len(rec.data) < len(CHUNKED_HEAD) + 2 * MAX_REQUEST
    else:
        assert carried == []
