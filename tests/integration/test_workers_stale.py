"""Stale copies belong to the proxy, not to a worker (issue 13 point 3): with several workers
a copy made by one is served by every one, from memory and from ``Directory``, across a
reload and across a worker's restart. Real processes on loopback; every wait is a condition
with a deadline."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.process.harness import Standby
from tests.support.backend import Backend
from tests.support.harness import free_port, wait_until

pytestmark = pytest.mark.timeout(240)

DEADLINE = 60.0  # generous: forks and reloads on two noisy shared cores
IO_TIMEOUT = 30.0
PAGE = "/size/300"
RELOADED = "]: configuration reloaded"  # the reload's own log line


def config_text(port: int, backend: int, directory: Path | None = None, size: str = "1m") -> str:
    lines = [
        "Alive 1",
        "Grace 2",
        "LogLevel 0",
        "ListenHTTP",
        "  Address 127.0.0.1",
        f"  Port {port}",
        "  Service",
        "    BackEnd",
        "      Address 127.0.0.1",
        f"      Port {backend}",
        "    End",
        "    StaleFallback",
        f"      Size {size}",
    ]
    if directory is not None:
        lines.append(f'      Directory "{directory}"')
    lines += ["    End", "  End", "End"]
    return "\n".join(lines) + "\n"


def children(pid: int) -> set[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as src:
            return {int(p) for p in src.read().split()}
    except (FileNotFoundError, ProcessLookupError):
        return set()


@contextlib.contextmanager
def standby(config: Path, workers: int) -> Iterator[Standby]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "standby", "-f", str(config), "-e", "--workers", str(workers)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=str(config.parent),
    )
    running = Standby(proc)
    try:
        wait_until(
            lambda: " started (pid " in running.stderr() or proc.poll() is not None,
            DEADLINE,
            "start",
        )
        assert proc.poll() is None, running.stderr()
        yield running
    finally:
        pids = children(proc.pid)
        running.kill()
        for pid in pids:  # never leave a worker behind, whatever the test did
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def fetch(port: int, target: str = PAGE) -> tuple[int, bytes, bytes]:
    """One request on a new connection: (status, head, body); status 0 if it failed."""
    request = f"GET {target} HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n\r\n"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as sock:
            sock.sendall(request.encode())
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
    except OSError:
        return 0, b"", b""
    data = b"".join(chunks)
    head, _, body = data.partition(b"\r\n\r\n")
    try:
        status = int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0, head, body
    return status, head, body


def is_copy(answer: tuple[int, bytes, bytes], size: int = 300) -> bool:
    status, head, body = answer
    return status == 200 and len(body) == size and b"\r\nage: " in head.lower()


def batch(port: int, count: int, target: str = PAGE) -> list[int]:
    """``count`` requests, each on a new connection (each lands on any worker): statuses,
    200 only for the stale copy."""
    return [200 if is_copy(a) else a[0] or -1 for a in (fetch(port, target) for _ in range(count))]


def served_then_down(port: int, backend: Backend) -> None:
    assert fetch(port)[0] == 200  # captured by whichever worker took it
    backend.stop()


def every_connection_gets_the_copy(port: int, count: int) -> None:
    """The copy reaches every worker shortly after it was made: wait until a whole batch of
    new connections gets it, then every later one must."""
    seen: list[list[int]] = []

    def all_copies() -> bool:
        seen.append(batch(port, count))
        return seen[-1] == [200] * count

    try:
        wait_until(all_copies, DEADLINE, "every connection served the copy")
    except AssertionError:
        raise AssertionError(f"not every connection got the copy: last {seen[-1]}") from None
    assert batch(port, count) == [200] * count


@pytest.mark.parametrize(("workers", "count"), [(2, 10), (4, 40)])
def test_a_copy_made_by_one_worker_is_served_by_every_worker(
    tmp_path: Path, workers: int, count: int
) -> None:
    port = free_port()
    config = tmp_path / "pound.cfg"
    with Backend("primary") as backend:
        config.write_text(config_text(port, backend.port))
        with standby(config, workers) as running:
            served_then_down(port, backend)
            every_connection_gets_the_copy(port, count)
            assert "Traceback" not in running.stderr()


def test_with_directory_every_worker_serves_the_copy_now_and_after_a_restart(
    tmp_path: Path,
) -> None:
    port = free_port()
    config = tmp_path / "pound.cfg"
    directory = tmp_path / "stale"
    with Backend("primary") as backend:
        config.write_text(config_text(port, backend.port, directory))
        with standby(config, 2) as running:
            served_then_down(port, backend)
            every_connection_gets_the_copy(port, 10)
            wait_until(lambda: any(directory.glob("*.stale")), DEADLINE, "copy on disk")
            assert "Traceback" not in running.stderr()
        # A new start with the backend still down: every worker has the copy before serving.
        with standby(config, 2) as running:
            assert batch(port, 10) == [200] * 10, running.stderr()
            assert "Traceback" not in running.stderr()


@pytest.mark.parametrize("workers", [1, 2])
def test_sighup_during_an_outage_keeps_the_copies(tmp_path: Path, workers: int) -> None:
    port = free_port()
    config = tmp_path / "pound.cfg"
    with Backend("primary") as backend:
        config.write_text(config_text(port, backend.port))
        with standby(config, workers) as running:
            served_then_down(port, backend)
            every_connection_gets_the_copy(port, 10)
            running.signal(signal.SIGHUP)
            wait_until(lambda: RELOADED in running.stderr(), DEADLINE, "reload")
            # The new workers had every copy before they said ready: no wait here.
            assert batch(port, 10) == [200] * 10
            running.signal(signal.SIGHUP)
            wait_until(lambda: running.stderr().count(RELOADED) == 2, DEADLINE, "2nd reload")
            assert batch(port, 10) == [200] * 10
            assert "Traceback" not in running.stderr()


def test_a_worker_killed_during_an_outage_is_replaced_by_one_with_the_copies(
    tmp_path: Path,
) -> None:
    port = free_port()
    config = tmp_path / "pound.cfg"
    with Backend("primary") as backend:
        config.write_text(config_text(port, backend.port))
        with standby(config, 2) as running:
            served_then_down(port, backend)
            every_connection_gets_the_copy(port, 10)
            workers = sorted(children(running.proc.pid))
            assert len(workers) == 2
            os.kill(workers[0], signal.SIGKILL)
            wait_until(
                lambda: workers[0] not in children(running.proc.pid), DEADLINE, "worker reaped"
            )
            # Connections on the dead worker's slot wait for its replacement, which serves
            # only once it holds every copy.
            assert batch(port, 10) == [200] * 10
            wait_until(lambda: len(children(running.proc.pid)) == 2, DEADLINE, "replacement")
            assert batch(port, 10) == [200] * 10
            assert "Traceback" not in running.stderr()


def test_a_capture_keeps_being_served_after_later_copies_of_other_pages(tmp_path: Path) -> None:
    """Many pages captured on several workers: every one is served by every worker."""
    port = free_port()
    config = tmp_path / "pound.cfg"
    pages = [f"/size/{200 + i}" for i in range(20)]
    with Backend("primary") as backend:
        config.write_text(config_text(port, backend.port))
        with standby(config, 2) as running:
            for page in pages:
                assert fetch(port, page)[0] == 200
            backend.stop()

            def all_served() -> bool:
                return all(is_copy(fetch(port, p), 200 + i) for i, p in enumerate(pages))

            wait_until(all_served, DEADLINE, "every page from every worker")
            for _ in range(3):
                assert all_served()
            assert "Traceback" not in running.stderr()
