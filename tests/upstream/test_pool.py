"""The keep-alive pool: most recently used first, idle timeout, size cap (no sockets)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from standby.model import BackendKind, BackendSpec
from standby.upstream.pool import POOL_IDLE_TIMEOUT, POOL_MAX_IDLE, Pool
from standby.upstream.protocol import UpstreamProtocol

SPEC = BackendSpec(kind=BackendKind.PROXY, address="127.0.0.1", port=9)


@pytest.fixture
def pool() -> Iterator[Pool]:
    loop = asyncio.new_event_loop()
    try:
        yield Pool(SPEC, loop, address=(socket.AF_INET, ("127.0.0.1", 9)))
    finally:
        loop.close()


def test_the_most_recently_released_connection_comes_back_first(pool: Pool) -> None:
    older, newer = UpstreamProtocol(), UpstreamProtocol()
    pool.release(older, 100.0)
    pool.release(newer, 101.0)
    assert newer.idle_since == 101.0
    assert pool.acquire(102.0) is newer
    assert pool.acquire(102.0) is older
    assert pool.acquire(102.0) is None


def test_stale_and_closed_connections_are_skipped(pool: Pool) -> None:
    stale, closed, fresh = UpstreamProtocol(), UpstreamProtocol(), UpstreamProtocol()
    pool.release(fresh, 100.0)
    pool.release(stale, 100.0 - POOL_IDLE_TIMEOUT)
    pool.release(closed, 100.0)
    closed.close()
    now = 100.0 + POOL_IDLE_TIMEOUT / 2  # stale is past the timeout, fresh is not
    assert pool.acquire(now) is fresh
    assert stale.closed  # dropped on the way
    assert pool.acquire(now) is None


def test_a_closed_connection_is_not_kept_and_the_pool_is_capped(pool: Pool) -> None:
    closed = UpstreamProtocol()
    closed.close()
    pool.release(closed, 1.0)
    assert pool.acquire(1.0) is None
    conns = [UpstreamProtocol() for _ in range(POOL_MAX_IDLE + 1)]
    for conn in conns:
        pool.release(conn, 1.0)
    assert conns[-1].closed and not any(c.closed for c in conns[:-1])
