"""The canary measures what a steady visitor sees; the swarm reports how connections end;
the resource helpers count what a process holds."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from tests.robustness.tools.canary import Canary, percentile
from tests.robustness.tools.resources import fd_count, remote_ports, slope
from tests.robustness.tools.swarm import one_byte_at_a_time, peer_closed, slow_sender
from tests.support.backend import Backend
from tests.support.harness import wait_until


@pytest.fixture
def backend() -> Iterator[Backend]:
    with Backend("canary-target") as b:
        yield b


def test_canary_counts_successes_then_failures(backend: Backend) -> None:
    with Canary(backend.port, rate=100) as canary:
        wait_until(lambda: canary.stats().successes >= 10, what="canary successes")
        backend.stop()  # from now on every request fails
        wait_until(lambda: sum(canary.stats().failures.values()) >= 3, what="failures seen")
    stats = canary.stats()
    assert stats.attempts == stats.successes + sum(stats.failures.values())
    assert 0 < stats.success_rate < 1
    assert 0 < stats.p50_ms <= stats.p99_ms <= stats.max_ms


def test_canary_flags_an_unexpected_status(backend: Backend) -> None:
    with Canary(backend.port, rate=100, target="/status/500") as canary:
        wait_until(lambda: canary.stats().attempts >= 3, what="canary attempts")
    stats = canary.stats()
    assert stats.successes == 0 and stats.failures.get("status 500", 0) >= 3


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.99)) == (50.0, 99.0)
    assert percentile([], 0.5) == 0.0


def test_slope_least_squares() -> None:
    assert slope([(0, 1), (1, 3), (2, 5)]) == pytest.approx(2.0)
    assert slope([(0, 7), (1, 7)]) == 0.0


def test_slow_sender_sees_the_peer_close_and_what_it_said() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]

    async def scenario() -> None:
        task = asyncio.create_task(slow_sender(port, one_byte_at_a_time(b"abcdef"), 0.05, 20))
        conn, _ = await asyncio.to_thread(server.accept)
        with conn:
            assert await asyncio.to_thread(conn.recv, 1) == b"a"
            conn.sendall(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
        ending = await task
        assert ending.how in ("eof", "reset") and ending.status == 408
        assert 1 <= ending.sent < 6

    try:
        asyncio.run(scenario())
    finally:
        server.close()


def test_fd_and_peer_counting_see_a_new_connection() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    before = fd_count()
    client = socket.create_connection(server.getsockname())
    conn, _ = server.accept()
    try:
        assert fd_count() == before + 2
        assert client.getsockname()[1] in remote_ports("self")
        assert not peer_closed(client)
        conn.close()
        wait_until(lambda: peer_closed(client), what="FIN seen by the client's socket")
    finally:
        client.close()
        server.close()
