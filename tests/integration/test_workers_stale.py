"""Stale copies belong to the proxy, not to a worker (issue 13 point 3): with several workers
a copy made by one is served by every one, from memory and from ``Directory``, across a
reload and across a worker's restart. Real processes on loopback; every wait is a condition
with a deadline."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from pathlib import Path

import pytest
from tests.process.harness import Standby, children, running_standby
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


def standby(config: Path, workers: int) -> contextlib.AbstractContextManager[Standby]:
    return running_standby(config, workers, deadline=DEADLINE)


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


# -- a stuck worker and a flood of copies: the supervisor's memory stays bounded ------------

FLOOD_PAGES = 600
FLOOD_PAGE = 64 * 1024  # bytes per page: 600 of them are about 38 MiB of copies
# The supervisor holds its own store (Size 2m here), at most HIGH_WATER plus one frame
# towards the stopped worker and a bounded list of keys; unbounded, it would buffer every
# copy for the stopped worker (about 38 MiB). Allocator slack included.
MAX_SUPERVISOR_GROWTH = 16 * 1024 * 1024


def rss(pid: int, field: str = "VmRSS") -> int:
    with open(f"/proc/{pid}/status") as src:
        for line in src:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for {pid}")


def owner_of(client: socket.socket, listen_port: int, pids: set[int]) -> int:
    """The worker holding the server side of ``client``'s connection."""
    client_port = client.getsockname()[1]
    inode = None
    with open("/proc/net/tcp") as src:
        for line in src.readlines()[1:]:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if local.endswith(f":{listen_port:04X}") and remote.endswith(f":{client_port:04X}"):
                inode = fields[9]
    assert inode is not None, "connection not found"
    for pid in pids:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                    return pid
    raise AssertionError("no worker holds the connection")


def keep_alive_get(sock: socket.socket, target: str) -> tuple[int, int]:
    """One request on a kept-alive connection: (status, body length)."""
    sock.sendall(f"GET {target} HTTP/1.1\r\nHost: www.example.com\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "connection closed"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed"
        body += chunk
    return int(head.split(b" ", 2)[1]), len(body)


def test_a_stopped_worker_and_a_flood_of_copies_keep_the_supervisor_bounded(
    tmp_path: Path,
) -> None:
    from tests.robustness.misbehaving import recorded

    port = free_port()
    config = tmp_path / "pound.cfg"
    with (
        recorded(
            "stopped worker, flood of stale copies: supervisor memory bounded",
            "pytest tests/integration/test_workers_stale.py"
            "::test_a_stopped_worker_and_a_flood_of_copies_keep_the_supervisor_bounded",
            notes=f"Workers 2, Size 2m; {FLOOD_PAGES} distinct {FLOOD_PAGE} B pages captured "
            "by one worker while the other is SIGSTOPped",
        ) as figures,
        Backend("primary") as backend,
    ):
        config.write_text(config_text(port, backend.port, size="2m"))
        with standby(config, 2) as running:
            supervisor = running.proc.pid
            workers = children(supervisor)
            assert len(workers) == 2
            with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as client:
                assert keep_alive_get(client, "/size/10")[0] == 200
                serving = owner_of(client, port, workers)
                (stopped,) = workers - {serving}
                os.kill(stopped, signal.SIGSTOP)
                try:
                    before = rss(supervisor)
                    for i in range(FLOOD_PAGES):
                        status, length = keep_alive_get(client, f"/size/{FLOOD_PAGE + i}")
                        assert (status, length) == (200, FLOOD_PAGE + i)
                    peak = rss(supervisor, "VmHWM")
                    figures.update(
                        flood_mib=round(FLOOD_PAGES * FLOOD_PAGE / 2**20, 1),
                        supervisor_rss_before_mib=round(before / 2**20, 1),
                        supervisor_peak_mib=round(peak / 2**20, 1),
                        growth_mib=round((peak - before) / 2**20, 1),
                    )
                    assert peak - before < MAX_SUPERVISOR_GROWTH, figures
                finally:
                    os.kill(stopped, signal.SIGCONT)
            # The stopped worker reads its backlog (or, had its channel been closed, is
            # replaced): every new connection is answered again.
            wait_until(lambda: batch_ok(port, 10), DEADLINE, "both workers answering")
            assert "Traceback" not in running.stderr()


def batch_ok(port: int, count: int) -> bool:
    return all(fetch(port, "/size/10")[0] == 200 for _ in range(count))


@pytest.mark.parametrize("workers", [1, 2])
def test_a_reload_that_changes_the_section_carries_the_copies_over(
    tmp_path: Path, workers: int
) -> None:
    port = free_port()
    config = tmp_path / "pound.cfg"
    directory = tmp_path / "stale"
    with Backend("primary") as backend:
        config.write_text(config_text(port, backend.port))
        with standby(config, workers) as running:
            served_then_down(port, backend)
            every_connection_gets_the_copy(port, 10)
            # Another Size and a Directory: a new store, holding the copies of the old one.
            config.write_text(config_text(port, backend.port, directory, size="2m"))
            running.signal(signal.SIGHUP)
            wait_until(lambda: RELOADED in running.stderr(), DEADLINE, "reload")
            assert batch(port, 10) == [200] * 10
            wait_until(lambda: any(directory.glob("*.stale")), DEADLINE, "copy on disk")
            assert "Traceback" not in running.stderr()
