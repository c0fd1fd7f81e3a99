"""Response parsing, and the big transfers and idle connections against the built-in backend."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from standby_bench.net import (
    BenchError,
    close_all,
    count_open,
    download,
    open_idle,
    parse_response_head,
    request_head,
    response_complete,
    upload,
)
from standby_bench.servers import Spawned, start_backend

MIB = 1024 * 1024
BIG = 3 * MIB + 17  # not a multiple of any chunk size
DEADLINE = 30.0  # s to wait for a condition on a loaded machine
IO_TIMEOUT = 30.0


def test_parse_response_head() -> None:
    head = b"HTTP/1.1 200 OK\r\nServer: x\r\ncontent-length:  42 \r\n\r\n"
    assert parse_response_head(head) == (200, 42)
    assert parse_response_head(b"HTTP/1.0 204 No Content\r\n\r\n") == (204, None)


@pytest.mark.parametrize(
    "head",
    [
        b"SSH-2.0-OpenSSH\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
    ],
)
def test_parse_response_head_rejects(head: bytes) -> None:
    with pytest.raises(BenchError):
        parse_response_head(head)


def test_response_complete_byte_by_byte() -> None:
    whole = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    assert [response_complete(whole[:n]) for n in range(len(whole) + 1)] == [False] * len(whole) + [
        True
    ]
    assert response_complete(b"HTTP/1.1 304 Not Modified\r\n\r\n")


def test_request_head() -> None:
    assert request_head("POST", "/upload", 7) == (
        b"POST /upload HTTP/1.1\r\nHost: bench.local\r\nContent-Length: 7\r\n\r\n"
    )
    assert request_head("GET", "/").endswith(b"Host: bench.local\r\n\r\n")


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[Spawned]:
    server = start_backend("builtin", tmp_path, BIG)
    try:
        yield server
    finally:
        server.stop()


def test_upload_and_download_through_the_builtin_backend(backend: Spawned) -> None:
    assert upload(backend.port, "/upload", BIG, IO_TIMEOUT) > 0
    assert download(backend.port, "/big", BIG, IO_TIMEOUT) > 0
    with pytest.raises(BenchError, match="not 1000"):
        download(backend.port, "/big", 1000, IO_TIMEOUT)
    with pytest.raises(BenchError, match="404"):
        upload(backend.port, "/elsewhere", 10, IO_TIMEOUT)


def test_idle_connections_stay_open_until_the_server_goes(backend: Spawned) -> None:
    held = open_idle(backend.port, 300)
    try:
        assert len(held) == 300 and count_open(held) == 300
        backend.stop()
        deadline = time.monotonic() + DEADLINE
        while count_open(held) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert count_open(held) == 0
    finally:
        close_all(held)
