"""Abusive clients: slow headers (slowloris), slow request bodies, slow readers, and
clients that disconnect mid-upload or mid-download. Each scenario records its figures
(``docs/robustness.md``) and asserts what issue 5 requires."""

from __future__ import annotations

import asyncio
import socket
import statistics
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.robustness.report import Scenario
from tests.robustness.tools.canary import Canary, baseline
from tests.robustness.tools.resources import (
    ProxyProcess,
    clean_proxy,
    fd_count,
    proxy_connections,
    proxy_tasks,
    remote_ports,
    settle,
    settles,
)
from tests.robustness.tools.swarm import one_byte_at_a_time, slow_swarm
from tests.support.backend import Backend
from tests.support.harness import Client, ProxyThread, config_with_ports, wait_until
from tests.support.peers import RawBackend

# `Client 2`: the request-head deadline, short to keep CI quick.
CLIENT_TIMEOUT = 2
# `TimeOut 3`: how long the proxy waits on a stalled backend or client write.
BACKEND_TIMEOUT = 3
# Slack on top of a timeout before a connection counts as "held": the reaper sweeps every
# 0.25 s, and the machine is 2 shared, noisy cores.
SLACK = 6.0
# Slowloris: hundreds of connections, one byte each every second.
SLOWLORIS_CONNECTIONS = 300
SLOWLORIS_INTERVAL = 1.0
# The canary must stay at least this successful under abuse (issue 5).
CANARY_MIN_SUCCESS = 0.999

CONFIG = f"""
Client {CLIENT_TIMEOUT}
TimeOut {BACKEND_TIMEOUT}
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

# A request head long enough that sending it a byte a second outlasts every deadline.
SLOW_HEAD = (
    b"GET /slow-headers HTTP/1.1\r\nHost: www.example.com\r\n"
    b"User-Agent: a-very-patient-client/1.0\r\nAccept: */*\r\n\r\n"
)


def proxy_config(backend_port: int) -> str:
    return CONFIG.format(port="{L0}", backend=backend_port)


@pytest.fixture
def backend() -> Iterator[Backend]:
    with Backend("app") as b:
        yield b


@pytest.fixture
def proxy(backend: Backend) -> Iterator[ProxyThread]:
    config, socks = config_with_ports(proxy_config(backend.port))
    with clean_proxy(ProxyThread(config, socks)) as p:
        yield p


def test_slowloris_headers_closed_at_deadline_canary_unharmed(
    proxy: ProxyThread, backend: Backend, scenario: Scenario
) -> None:
    quiet = baseline(proxy.port)
    before = backend.requests
    pieces = one_byte_at_a_time(SLOW_HEAD)
    give_up = CLIENT_TIMEOUT + SLACK + 10
    assert len(pieces) * SLOWLORIS_INTERVAL > give_up  # no slow client can finish
    with Canary(proxy.port) as canary:
        endings = asyncio.run(
            slow_swarm(proxy.port, SLOWLORIS_CONNECTIONS, pieces, SLOWLORIS_INTERVAL, give_up)
        )
    stats = canary.stats()
    held = [e for e in endings if e.how == "held"]
    times = sorted(e.after for e in endings if e.how in ("eof", "reset"))
    statuses = {e.status for e in endings}
    scenario.figure(
        connections=len(endings),
        closed=len(times),
        close_p50_s=round(statistics.median(times), 2) if times else -1,
        close_max_s=round(times[-1], 2) if times else -1,
        bytes_sent_max=max(e.sent for e in endings),
        **stats.figures(),
        **quiet.figures("baseline"),
    )
    scenario.note(f"`Client {CLIENT_TIMEOUT}`, one byte every {SLOWLORIS_INTERVAL:g} s.")
    scenario.check(not held, f"{len(held)} slow connections still open after {give_up}s")
    scenario.check(
        bool(times) and times[-1] <= CLIENT_TIMEOUT + SLACK,
        f"closed within Client + {SLACK:g}s",
    )
    scenario.check(statuses <= {408, None}, f"408 or a plain close, got {statuses}")
    scenario.check(
        stats.success_rate >= CANARY_MIN_SUCCESS, f"canary success {stats.success_rate:.4f}"
    )
    forwarded = backend.requests - before - stats.successes
    scenario.check(forwarded == 0, f"{forwarded} slow requests reached the backend")
    scenario.check(not proxy.errors, f"unhandled in the proxy's loop: {proxy.errors[:2]}")
    scenario.finish()
    settle(lambda: proxy_connections(proxy), 0, "client connections after the swarm")


# -- slow bodies and slow readers, with the proxy in its own process (for its RSS) ---------

# Slow bodies: connections that announce a large upload, send a little, then stall.
SLOW_BODY_CONNECTIONS = 100
SLOW_BODY_SIZE = 10 * 1024 * 1024
SLOW_BODY_SENT = 1000
# Slow readers: connections that ask for a large download and never read it.
SLOW_READERS = 20
SLOW_READER_SIZE = 200 * 1024 * 1024
# The client's receive buffer: small, so the stall reaches the proxy quickly.
READER_RCVBUF = 16 * 1024
# RSS the proxy may gain while the slow readers stall: what it buffers per connection is
# bounded by the transport's write high-water mark (64 KiB), so 20 readers need ~1.3 MiB;
# whole bodies (200 MiB each) would be far beyond this.
MAX_READER_GROWTH_KIB = 32 * 1024


@pytest.fixture
def proxy_process(backend: Backend, tmp_path: Path) -> Iterator[ProxyProcess]:
    text = CONFIG.format(port="{port}", backend=backend.port)
    with ProxyProcess(text, tmp_path) as p:
        yield p


def test_slow_request_body_closed_at_timeout(
    proxy_process: ProxyProcess, backend: Backend, scenario: Scenario
) -> None:
    p = proxy_process
    assert Client(p.port).request("/").status == 200
    rss0 = p.rss_kib()
    head = (
        f"POST /upload HTTP/1.1\r\nHost: www.example.com\r\n"
        f"Content-Length: {SLOW_BODY_SIZE}\r\n\r\n"
    ).encode()
    pieces = [head + b"x" * SLOW_BODY_SENT]
    limit = max(CLIENT_TIMEOUT, BACKEND_TIMEOUT) + SLACK
    give_up = limit + 10
    with Canary(p.port) as canary:
        endings = asyncio.run(slow_swarm(p.port, SLOW_BODY_CONNECTIONS, pieces, 0.0, give_up))
    stats = canary.stats()
    rss = p.rss_kib()
    times = sorted(e.after for e in endings if e.how in ("eof", "reset"))
    held = [e for e in endings if e.how == "held"]
    statuses = {e.status for e in endings}
    wait_until(lambda: not backend.conns, what="backend connections of the stalled uploads")
    scenario.figure(
        connections=len(endings),
        closed=len(times),
        close_p50_s=round(statistics.median(times), 2) if times else -1,
        close_max_s=round(times[-1], 2) if times else -1,
        rss_before_mib=round(rss0 / 1024, 1),
        rss_after_mib=round(rss / 1024, 1),
        **stats.figures(),
    )
    scenario.note(
        f"{SLOW_BODY_CONNECTIONS} uploads announce {SLOW_BODY_SIZE >> 20} MiB, send "
        f"{SLOW_BODY_SENT} bytes and stall; `Client {CLIENT_TIMEOUT}`, `TimeOut "
        f"{BACKEND_TIMEOUT}` (the first wait after the backend connect is `TimeOut`)."
    )
    scenario.check(not held, f"{len(held)} stalled uploads still open")
    scenario.check(bool(times) and times[-1] <= limit, f"closed within {limit:g}s")
    scenario.check(statuses <= {408}, f"408 for a stalled body, got {statuses}")
    scenario.check(
        stats.success_rate >= CANARY_MIN_SUCCESS, f"canary success {stats.success_rate:.4f}"
    )
    scenario.check(not p.unhandled(), f"unhandled exceptions: {p.unhandled()[:3]}")
    scenario.finish()


def _slow_reader(port: int) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, READER_RCVBUF)
    sock.connect(("127.0.0.1", port))
    sock.sendall(
        f"GET /download/{SLOW_READER_SIZE} HTTP/1.1\r\nHost: www.example.com\r\n\r\n".encode()
    )
    return sock


def _drain(sock: socket.socket) -> tuple[int, str]:
    """Read what is left; (bytes, how it ended)."""
    sock.settimeout(10)
    total = 0
    try:
        while data := sock.recv(1 << 20):
            total += len(data)
    except ConnectionResetError:
        return total, "reset"
    except TimeoutError:
        return total, "open"
    return total, "eof"


def test_slow_reader_closed_at_timeout_memory_bounded(
    proxy_process: ProxyProcess, backend: Backend, scenario: Scenario
) -> None:
    p = proxy_process
    with Client(p.port) as c:
        assert c.request("/download/1000000").status == 200
    fds0 = p.fds()
    rss0 = p.rss_kib()
    peak = rss0
    readers = [_slow_reader(p.port) for _ in range(SLOW_READERS)]
    try:
        ports = {s.getsockname()[1] for s in readers}
        wait_until(lambda: ports <= remote_ports(p.pid), what="slow readers accepted")
        opened = p.fds()
        limit = BACKEND_TIMEOUT + SLACK
        with Canary(p.port) as canary:

            def all_closed() -> bool:
                # The proxy's side: a close with unsent data leaves the FIN queued behind
                # it in the kernel, so the reader itself may not see it while it reads not.
                nonlocal peak
                peak = max(peak, p.rss_kib())
                return not ports & remote_ports(p.pid)

            closed = True
            stalled_at = time.monotonic()
            try:
                wait_until(all_closed, limit, "slow readers closed")
            except AssertionError:
                closed = False
            close_after = time.monotonic() - stalled_at
        stats = canary.stats()
        endings = [_drain(s) for s in readers]
    finally:
        for s in readers:
            s.close()
    truncated = [n for n, how in endings if how != "open" and n < SLOW_READER_SIZE]
    scenario.figure(
        readers=SLOW_READERS,
        all_closed_after_s=round(close_after, 2),
        fds_idle=fds0,
        fds_stalled=opened,
        rss_before_mib=round(rss0 / 1024, 1),
        rss_peak_mib=round(peak / 1024, 1),
        rss_growth_per_reader_kib=round((peak - rss0) / SLOW_READERS),
        received_max_kib=max(n for n, _ in endings) // 1024,
        **stats.figures(),
    )
    scenario.note(
        f"{SLOW_READERS} clients ask for {SLOW_READER_SIZE >> 20} MiB and never read; "
        f"closed once the backend side is stalled for `TimeOut {BACKEND_TIMEOUT}`."
    )
    scenario.check(closed, f"slow readers closed within {limit:g}s")
    scenario.check(len(truncated) == SLOW_READERS, f"{len(truncated)} responses truncated")
    scenario.check(peak - rss0 <= MAX_READER_GROWTH_KIB, f"RSS growth {peak - rss0} KiB")
    scenario.check(
        stats.success_rate >= CANARY_MIN_SUCCESS, f"canary success {stats.success_rate:.4f}"
    )
    # Nothing left behind: the proxy's fds back to idle (one pooled connection at most).
    settle(p.fds, fds0, "proxy file descriptors after the slow readers")
    scenario.check(not p.unhandled(), f"unhandled exceptions: {p.unhandled()[:3]}")
    scenario.finish()


# -- clients that go away mid-exchange -------------------------------------------------

UPLOAD_SIZE = 10 * 1024 * 1024  # announced; the client leaves long before
UPLOAD_SENT = 256 * 1024
DOWNLOAD_SIZE = 100 * 1024 * 1024
DOWNLOAD_READ = 1024 * 1024  # read this much, then leave
DISCONNECT_ROUNDS = 10  # several departures, so a leak per departure shows


def _leave(sock: socket.socket, how: str) -> None:
    if how == "rst":
        # SO_LINGER on, zero seconds: close() sends a reset.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _upload_arrived(raw: RawBackend, index: int, head: int) -> Callable[[], bool]:
    """The ``index``-th backend connection received more than the request head."""
    return lambda: raw.accepted > index and len(raw.received[index]) > head


def _resources(proxy: ProxyThread) -> tuple[int, int, int]:
    return fd_count(), proxy_tasks(proxy), proxy_connections(proxy)


@pytest.mark.parametrize("how", ["fin", "rst"])
def test_client_disconnects_mid_upload(how: str, scenario: Scenario) -> None:
    scenario.name = f"client disconnects mid-upload ({how})"
    with RawBackend() as raw:
        config, socks = config_with_ports(proxy_config(raw.port))
        with clean_proxy(ProxyThread(config, socks)) as proxy:
            fds0, tasks0, _ = _resources(proxy)
            head = (
                f"POST /upload HTTP/1.1\r\nHost: www.example.com\r\n"
                f"Content-Length: {UPLOAD_SIZE}\r\n\r\n"
            ).encode()
            for i in range(DISCONNECT_ROUNDS):
                with Client(proxy.port) as c:
                    c.send(head + b"u" * UPLOAD_SENT)
                    wait_until(_upload_arrived(raw, i, len(head)), what="upload at the backend")
                    _leave(c.sock, how)
            ended = settles(lambda: raw.accepted - raw.ended, 0)[0]
            fds_ok, fds = settles(fd_count, fds0)
            tasks_ok, tasks = settles(lambda: proxy_tasks(proxy), tasks0)
            conns_ok, _ = settles(lambda: proxy_connections(proxy), 0)
            forwarded = min(len(b) for b in raw.received)
    scenario.figure(
        rounds=DISCONNECT_ROUNDS,
        backend_connections=raw.accepted,
        backend_closed=raw.ended,
        min_bytes_forwarded=forwarded,
        fds_before=fds0,
        fds_after=fds,
        tasks_before=tasks0,
        tasks_after=tasks,
    )
    scenario.check(ended and raw.accepted == DISCONNECT_ROUNDS, "every backend side closed")
    _check_no_leak(scenario, proxy, fds_ok, tasks_ok, conns_ok)
    scenario.finish()


def _check_no_leak(
    scenario: Scenario, proxy: ProxyThread, fds: bool, tasks: bool, conns: bool
) -> None:
    scenario.check(not proxy.errors, f"unhandled in the proxy's loop: {proxy.errors[:2]}")
    scenario.check(fds, "file descriptors back to their count before")
    scenario.check(tasks, "asyncio tasks back to their count before")
    scenario.check(conns, "no client connection left")


@pytest.mark.parametrize("how", ["fin", "rst"])
def test_client_disconnects_mid_download(how: str, backend: Backend, scenario: Scenario) -> None:
    scenario.name = f"client disconnects mid-download ({how})"
    config, socks = config_with_ports(proxy_config(backend.port))
    with clean_proxy(ProxyThread(config, socks)) as proxy:
        fds0, tasks0, _ = _resources(proxy)
        for _ in range(DISCONNECT_ROUNDS):
            with Client(proxy.port) as c:
                c.send(f"GET /download/{DOWNLOAD_SIZE} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                while len(c.buf) < DOWNLOAD_READ:
                    assert c._more(), "download ended early"
                _leave(c.sock, how)
        ended = settles(lambda: len(backend.conns), 0)[0]
        fds_ok, fds = settles(fd_count, fds0)
        tasks_ok, tasks = settles(lambda: proxy_tasks(proxy), tasks0)
        conns_ok, _ = settles(lambda: proxy_connections(proxy), 0)
        with Client(proxy.port) as c:
            serving = c.request("/").status == 200
    scenario.figure(
        rounds=DISCONNECT_ROUNDS,
        fds_before=fds0,
        fds_after=fds,
        tasks_before=tasks0,
        tasks_after=tasks,
        backend_requests=backend.requests,
    )
    scenario.check(ended, "every backend side closed")
    _check_no_leak(scenario, proxy, fds_ok, tasks_ok, conns_ok)
    scenario.check(serving, "still serving afterwards")
    scenario.finish()
