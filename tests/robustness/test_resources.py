"""Resource pressure on standby as its own process: thousands of idle keep-alive
connections, and file-descriptor exhaustion under a low ``RLIMIT_NOFILE``. No crash, no
busy loop, no backend marked dead for a local ``EMFILE``, full service soon after."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.robustness.report import Scenario
from tests.robustness.tools.canary import Canary
from tests.robustness.tools.resources import CpuWindow, ProxyProcess, fd_targets, settles
from tests.support.backend import Backend
from tests.support.harness import DEADLINE, Client

# Long enough that no idle connection times out during a scenario.
CLIENT_TIMEOUT = 60
IDLE_CONNECTIONS = 3000
# How long the proxy is watched doing nothing but holding connections.
IDLE_WINDOW = 3.0
# "No busy loop": CPU seconds per wall second while only idle connections are held. A
# periodic sweep of thousands of deadlines costs well under 1 %; a spinning loop costs 100 %.
MAX_IDLE_CPU_SHARE = 0.2
# The low file-descriptor limit of the exhaustion scenario, and how many clients press it.
LOW_NOFILE = 64
PRESSURE_CONNECTIONS = 120
# Issue 5: full service within this long after the pressure ends.
RECOVERY_LIMIT = 2.0
# Consecutive good requests that count as "full service".
RECOVERED_AFTER = 20
CANARY_MIN_SUCCESS = 0.999

CONFIG = f"""
Client {CLIENT_TIMEOUT}
Alive 1
ListenHTTP
  Address 127.0.0.1
  Port {{port}}
  Service
    BackEnd
      Address 127.0.0.1
      Port {{backend}}
    End
  End
End
"""

REQUEST = b"GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n"


@pytest.fixture
def backend() -> Iterator[Backend]:
    with Backend("app") as b:
        yield b


def _read_response(sock: socket.socket, body: bytes) -> bool:
    buf = b""
    while not (b"\r\n\r\n" in buf and buf.endswith(body)):
        data = sock.recv(4096)
        if not data:
            return False
        buf += data
    return buf.startswith(b"HTTP/1.1 200")


def _keepalive_crowd(port: int, count: int) -> list[socket.socket]:
    """``count`` connections that each made one request and now sit idle, kept alive."""
    socks = []
    try:
        for _ in range(count):
            s = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
            s.sendall(REQUEST)
            socks.append(s)
        for s in socks:  # all requests are in flight at once; collect the answers
            if not _read_response(s, b"app"):
                raise AssertionError("an idle-crowd request failed")
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks


def _service_back(port: int, deadline: float) -> float | None:
    """Seconds until ``RECOVERED_AFTER`` requests in a row succeed, each on a new
    connection (None: not within ``deadline``)."""
    start = time.monotonic()
    good = 0
    while time.monotonic() - start < deadline:
        try:
            with Client(port, timeout=5) as c:
                good = good + 1 if c.request("/").status == 200 else 0
        except OSError:
            good = 0
        if good >= RECOVERED_AFTER:
            return time.monotonic() - start
    return None


def _newcomer(port: int) -> str:
    """What a client arriving while the proxy has no descriptor left gets."""
    try:
        with Client(port, timeout=5) as c:
            return str(c.request("/").status)
    except TimeoutError:
        return "no answer in 5 s"
    except (OSError, ConnectionError) as exc:
        return f"closed ({type(exc).__name__})"


def _dead_lines(p: ProxyProcess) -> list[str]:
    return [
        line.decode("utf-8", "replace") for line in p.stderr().splitlines() if b" is dead" in line
    ]


def test_thousands_of_idle_keepalive_connections(
    backend: Backend, tmp_path: Path, scenario: Scenario
) -> None:
    text = CONFIG.format(port="{port}", backend=backend.port)
    with ProxyProcess(text, tmp_path) as p:
        fds0, rss0 = p.fds(), p.rss_kib()
        crowd = _keepalive_crowd(p.port, IDLE_CONNECTIONS)
        try:
            held_fds, held_rss = p.fds(), p.rss_kib()
            window = CpuWindow(p.pid)
            with Canary(p.port) as canary:
                time.sleep(IDLE_WINDOW)  # the observation window, not a synchronisation
            cpu, wall = window.used()
            stats = canary.stats()
        finally:
            for s in crowd:
                s.close()
        released_at = time.monotonic()
        # One pooled upstream connection may stay open for a while.
        freed, fds = settles(p.fds, fds0 + 1)
        freed_after = time.monotonic() - released_at
        left = [] if freed else fd_targets(p.pid)  # what stayed open, for the diagnosis
        after = _service_back(p.port, DEADLINE)
        alive = p.alive()
        unhandled = p.unhandled()
        status = p.stop()
    scenario.figure(
        connections=IDLE_CONNECTIONS,
        fds_idle=fds0,
        fds_held=held_fds,
        rss_idle_mib=round(rss0 / 1024, 1),
        rss_held_mib=round(held_rss / 1024, 1),
        rss_per_connection_kib=round((held_rss - rss0) / IDLE_CONNECTIONS, 1),
        idle_cpu_pct=round(100 * cpu / wall, 1),
        fds_released_after_s=round(freed_after, 2),
        **stats.figures(),
    )
    scenario.check(held_fds >= fds0 + IDLE_CONNECTIONS, f"all held: {held_fds} fds")
    scenario.check(cpu / wall <= MAX_IDLE_CPU_SHARE, f"idle CPU {cpu:.2f}s in {wall:.1f}s")
    scenario.check(
        stats.success_rate >= CANARY_MIN_SUCCESS, f"canary success {stats.success_rate:.4f}"
    )
    scenario.check(
        freed, f"fds released after the crowd left ({fds} > {fds0 + 1}; open: {', '.join(left)})"
    )
    scenario.check(after is not None, "serving after the crowd left")
    scenario.check(alive and status == 0, f"proxy alive, exit status {status}")
    scenario.check(not unhandled, f"unhandled exceptions: {unhandled[:3]}")
    scenario.finish()


def test_fd_exhaustion_no_crash_no_spin_backend_not_blamed(
    backend: Backend, tmp_path: Path, scenario: Scenario
) -> None:
    text = CONFIG.format(port="{port}", backend=backend.port)
    with ProxyProcess(text, tmp_path, nofile=LOW_NOFILE) as p:
        fds0 = p.fds()
        pressure: list[socket.socket] = []
        try:
            for _ in range(PRESSURE_CONNECTIONS):
                pressure.append(socket.create_connection(("127.0.0.1", p.port), DEADLINE))
            # Pressed: the proxy holds as many as it may (the rest wait in the backlog).
            exhausted, _ = settles(lambda: -p.fds(), -(LOW_NOFILE - 2))
            held = p.fds()
            window = CpuWindow(p.pid)
            # A request on an accepted connection needs a backend socket it cannot have.
            pressure[0].sendall(REQUEST)
            pressure[0].settimeout(DEADLINE)
            try:
                answer = pressure[0].recv(4096)
            except OSError as exc:
                answer = type(exc).__name__.encode()
            newcomer = _newcomer(p.port)
            time.sleep(IDLE_WINDOW)  # the observation window, not a synchronisation
            cpu, wall = window.used()
        finally:
            for s in pressure:
                s.close()
        recovery = _service_back(p.port, DEADLINE)
        requests = backend.requests
        dead = _dead_lines(p)
        alive = p.alive()
        unhandled = p.unhandled()
        status = p.stop()
    pressed_status = answer[9:12].decode("latin-1") if answer.startswith(b"HTTP/") else answer
    scenario.figure(
        nofile=LOW_NOFILE,
        clients=PRESSURE_CONNECTIONS,
        fds_idle=fds0,
        fds_pressed=held,
        pressed_cpu_pct=round(100 * cpu / wall, 1),
        answer_under_pressure=pressed_status,
        newcomer_under_pressure=newcomer,
        recovery_s=round(recovery, 2) if recovery is not None else "never",
        backend_requests_after=requests,
    )
    scenario.note(
        f"`RLIMIT_NOFILE` {LOW_NOFILE}; {PRESSURE_CONNECTIONS} clients connect and wait; "
        f"recovery is {RECOVERED_AFTER} good requests in a row on new connections. A client "
        "arriving meanwhile is accepted and closed at once (apparently libuv's reserve-descriptor "
        "trick against an accept busy loop), not left waiting."
    )
    scenario.check(exhausted, f"fds exhausted ({held} of {LOW_NOFILE})")
    scenario.check(cpu / wall <= MAX_IDLE_CPU_SHARE, f"CPU {cpu:.2f}s in {wall:.1f}s: busy loop")
    scenario.check(not dead, f"backend marked dead: {dead[:2]}")
    scenario.check(
        recovery is not None and recovery <= RECOVERY_LIMIT,
        f"full service {recovery}s after the pressure (limit {RECOVERY_LIMIT:g}s)",
    )
    scenario.check(requests >= RECOVERED_AFTER, "the backend serves traffic afterwards")
    scenario.check(alive and status == 0, f"proxy alive, exit status {status}")
    scenario.check(not unhandled, f"unhandled exceptions: {unhandled[:3]}")
    scenario.finish()
