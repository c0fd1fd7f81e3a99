"""A supervisor and N worker processes, for real: loopback sockets, signals, kill -9.

Which worker serves what is read from the access log (``-e`` prefixes each line with the
pid of the process that wrote it) and, for a connection still open, from /proc (which
worker holds the proxy's end of it). No timing assertions: every wait is a condition with
a generous deadline.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from standby.config import load_config

from .harness import (
    DEADLINE,
    HOLD_PATH,
    IO_TIMEOUT,
    Backend,
    Standby,
    free_port,
    http_get,
    process_gone,
    real_standby_available,
    refuses,
    wait_for,
)

pytestmark = [
    pytest.mark.skipif(not real_standby_available(), reason="needs the real proxy"),
    pytest.mark.timeout(120),
]

# The regular line ends with the status line sent (Pound's), the extended one goes on.
ACCESS = re.compile(r"standby\[(\d+)\]: 127\.0\.0\.1 GET (\S+) HTTP/1\.\d - HTTP/1\.\d (\d+)(.*)$")
SPREAD_REQUESTS = 150  # new connections: plenty for the kernel's hash to reach every worker
MAX_HELD = 40  # held requests opened while looking for one on every worker


class CountingBackend:
    """A backend whose port can be closed (refusing) and reopened; since the last opening it
    records every connection in order: ``probe`` (closed without sending anything, as a health
    probe does) or ``request`` (answered ``primary``)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.events: list[str] = []
        self.sock: socket.socket | None = None
        self.open()

    def open(self) -> None:
        """Listen again, with a fresh record."""
        self.events.clear()
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(128)
        self.sock = sock
        threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def close(self) -> None:
        if self.sock is not None:
            # shutdown() wakes the thread blocked in accept() and stops listening at
            # once; close() alone would leave the port open until that accept returns.
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
            self.sock.close()
            self.sock = None

    def _serve(self, sock: socket.socket) -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(IO_TIMEOUT)
            try:
                data = conn.recv(4096)
                if not data:
                    self.events.append("probe")
                    return
                self.events.append("request")
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    data += chunk
                conn.sendall(
                    b"HTTP/1.0 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\nprimary"
                )
            except OSError:
                return

    def count(self, kind: str) -> int:
        return sum(1 for event in self.events if event == kind)


def pound_cfg(
    listen: int,
    primary: int,
    emergency: int | None = None,
    *,
    workers: int | None,
    alive: int = 30,
    log_level: int = 1,
    grace: int = 20,
) -> str:
    lines = ["Daemon 0", f"LogLevel {log_level}", f"Alive {alive}", f"Grace {grace}"]
    if workers is not None:
        lines.append(f"Workers {workers}")
    lines += ["ListenHTTP", "  Address 127.0.0.1", f"  Port {listen}", "  Service"]
    lines += ["    BackEnd", "      Address 127.0.0.1", f"      Port {primary}", "    End"]
    if emergency is not None:
        lines += ["    Emergency", "      Address 127.0.0.1", f"      Port {emergency}", "    End"]
    lines += ["  End", "End"]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def standby(tmp_path: Path, config: str, *options: str) -> Iterator[Standby]:
    path = tmp_path / "pound.cfg"
    path.write_text(config)
    proc = subprocess.Popen(
        [sys.executable, "-m", "standby", "-f", str(path), "-e", *options],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=str(tmp_path),
    )
    running = Standby(proc)
    try:
        wait_for(lambda: " started (pid " in running.stderr() or proc.poll() is not None, "start")
        assert proc.poll() is None, running.stderr()
        yield running
    finally:
        pids = children(proc.pid)
        running.kill()
        for pid in pids:  # never leave a worker behind, whatever the test did
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def rise_of(tmp_path: Path) -> int:
    """How many good probes in a row bring the (first) backend back."""
    config = load_config(str(tmp_path / "pound.cfg"))
    return int(getattr(config.listeners[0].services[0].backends[0], "rise", 1))


def children(pid: int) -> set[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as src:
            return {int(p) for p in src.read().split()}
    except (FileNotFoundError, ProcessLookupError):
        return set()


def access(lines: list[str]) -> list[tuple[int, str, str]]:
    """(pid, path, rest of the line) of every access log line."""
    found = []
    for line in list(lines):
        match = ACCESS.search(line.rstrip("\n"))
        if match:
            found.append((int(match[1]), match[2], match[4]))
    return found


def count_lines(standby: Standby, text: str) -> int:
    return sum(1 for line in list(standby.lines) if text in line)


def logged_by(standby: Standby, text: str) -> list[int]:
    """The pids that logged a line containing ``text``."""
    pids = []
    for line in list(standby.lines):
        match = re.search(r"standby\[(\d+)\]: ", line)
        if match and text in line:
            pids.append(int(match[1]))
    return pids


def _socket_inode(listen_port: int, client_port: int) -> int | None:
    """The inode of the proxy's end of the connection from ``client_port``, once accepted."""
    with open("/proc/net/tcp") as src:
        next(src)
        for row in src:
            fields = row.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if local_port == listen_port and remote_port == client_port and fields[9] != "0":
                return int(fields[9])
    return None


def owner(client: socket.socket, listen_port: int, pids: set[int]) -> int | None:
    """Which of ``pids`` holds the proxy's end of ``client``'s connection, if any yet."""
    inode = _socket_inode(listen_port, int(client.getsockname()[1]))
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                        return pid
    return None


def held_on_every_worker(
    listen_port: int, pids: set[int], backend: Backend
) -> dict[socket.socket, int]:
    """Open HOLD_PATH requests until every worker holds at least one; returns their owners."""
    owners: dict[socket.socket, int] = {}
    while set(owners.values()) != pids:
        assert len(owners) < MAX_HELD, f"no held request reached some worker: {owners}"
        client = socket.create_connection(("127.0.0.1", listen_port), timeout=IO_TIMEOUT)
        client.sendall(b"GET " + HOLD_PATH + b" HTTP/1.0\r\nHost: www.nire.com\r\n\r\n")
        found: list[int] = []

        def located(client: socket.socket = client, found: list[int] = found) -> bool:
            pid = owner(client, listen_port, pids)
            if pid is not None:
                found.append(pid)
            return bool(found)

        wait_for(located, "the connection to be accepted by a worker")
        owners[client] = found[0]
    count = len(owners)
    wait_for(lambda: backend.held_count >= count, "every held request to reach the backend")
    return owners


def read_all(client: socket.socket) -> bytes:
    chunks = []
    with client:
        try:
            while chunk := client.recv(65536):
                chunks.append(chunk)
        except OSError:
            pass
    return b"".join(chunks)


@pytest.fixture
def backend() -> Iterator[Backend]:
    server = Backend()
    yield server
    server.close()


def test_load_spreads_over_all_workers(tmp_path: Path, backend: Backend) -> None:
    port = free_port()
    with standby(tmp_path, pound_cfg(port, backend.port, workers=3)) as running:
        wait_for(lambda: len(children(running.proc.pid)) == 3, "three workers")
        workers = children(running.proc.pid)
        for _ in range(SPREAD_REQUESTS):
            assert http_get(port).endswith(b"\r\n\r\nhello")
        wait_for(lambda: len(access(running.lines)) >= SPREAD_REQUESTS, "every access line")
        served = Counter(pid for pid, _, _ in access(running.lines))
        assert set(served) == workers, served
        assert running.proc.pid not in served  # the supervisor serves nothing itself


def test_a_dead_backend_seen_by_one_worker_is_avoided_by_all_and_probed_once(
    tmp_path: Path, backend: Backend
) -> None:
    primary = CountingBackend()
    port = free_port()
    config = pound_cfg(port, primary.port, backend.port, workers=3, alive=5, log_level=2)
    try:
        with standby(tmp_path, config) as running:
            wait_for(lambda: len(children(running.proc.pid)) == 3, "three workers")
            workers = children(running.proc.pid)
            assert http_get(port).endswith(b"primary")
            primary.close()  # the port now refuses: the next request's connect fails
            mark = len(running.lines)
            assert http_get(port).endswith(b"\r\n\r\nhello")  # one worker saw it, failed over
            wait_for(lambda: count_lines(running, " is dead: ") == 1, "the dead transition")
            # Logged once, by the supervisor (the health writer), not by a worker.
            assert logged_by(running, " is dead: ") == [running.proc.pid]
            primary.open()  # observed from now on: requests and probes are counted
            # Every worker, not only the one that saw the failure, avoids the primary
            # until the supervisor's probe finds it again (Alive 5 leaves time to ask all).
            seen: set[int] = set()
            while seen != workers:
                body = http_get(port)
                if primary.count("probe"):
                    break  # alive again from here on: the rest is checked below
                assert body.endswith(b"\r\n\r\nhello"), body
                seen = {
                    pid
                    for pid, _, rest in access(running.lines[mark:])
                    if f":{backend.port})" in rest
                }
            assert seen == workers or primary.count("probe") == 1
            first_probe = primary.events.index("probe") if primary.count("probe") else None
            assert "request" not in primary.events[:first_probe], primary.events
            # The supervisor's probes bring it back for every worker: none of them probes.
            wait_for(lambda: count_lines(running, " is alive: ") == 1, "the alive transition")
            mark = len(running.lines)
            back: set[int] = set()

            def all_back() -> bool:
                http_get(port)
                back.update(
                    pid
                    for pid, _, rest in access(running.lines[mark:])
                    if f":{primary.port})" in rest
                )
                return back == workers

            wait_for(all_back, "every worker to use the primary again")
            # `rise` good probes in a row bring it back: that many from the one prober;
            # a prober per worker would have made (at least) that many each.
            assert primary.count("probe") == rise_of(tmp_path), primary.events
            assert count_lines(running, " is alive: ") == 1
    finally:
        primary.close()


def test_a_killed_worker_is_restarted_and_the_others_finish_their_requests(
    tmp_path: Path, backend: Backend
) -> None:
    port = free_port()
    with standby(tmp_path, pound_cfg(port, backend.port, workers=2)) as running:
        wait_for(lambda: len(children(running.proc.pid)) == 2, "two workers")
        workers = children(running.proc.pid)
        owners = held_on_every_worker(port, workers, backend)
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        wait_for(
            lambda: (
                len(children(running.proc.pid) - workers) == 1
                and victim not in children(running.proc.pid)
            ),
            "a new worker in the killed one's place",
        )
        (replacement,) = children(running.proc.pid) - workers
        assert count_lines(running, f"(pid {victim}) killed by SIGKILL; restarting") == 1
        backend.release.set()
        for client, pid in owners.items():
            response = read_all(client)
            if pid != victim:  # in flight on a healthy worker: unaffected
                assert response.endswith(b"\r\n\r\nslow hello"), response
            else:
                assert not response.endswith(b"slow hello")
        # The service keeps answering, and the new worker takes its share.
        mark = len(running.lines)

        def replacement_serves() -> bool:
            assert http_get(port).endswith(b"\r\n\r\nhello")
            return replacement in {pid for pid, _, _ in access(running.lines[mark:])}

        wait_for(replacement_serves, "the restarted worker to serve")
        assert running.proc.poll() is None


def test_graceful_stop_drains_every_worker(tmp_path: Path, backend: Backend) -> None:
    port = free_port()
    with standby(tmp_path, pound_cfg(port, backend.port, workers=2)) as running:
        wait_for(lambda: len(children(running.proc.pid)) == 2, "two workers")
        workers = children(running.proc.pid)
        owners = held_on_every_worker(port, workers, backend)
        running.signal(signal.SIGTERM)
        wait_for(lambda: refuses(port), "standby to stop accepting")
        assert running.proc.poll() is None  # still draining
        assert all(not process_gone(pid) for pid in workers)
        backend.release.set()
        for client in owners:
            assert read_all(client).endswith(b"\r\n\r\nslow hello")
        assert running.wait() == 0
        assert all(process_gone(pid) for pid in workers)
        assert count_lines(running, "SIGTERM: stopping 2 workers") == 1


def test_sigquit_stops_every_worker_at_once(tmp_path: Path, backend: Backend) -> None:
    port = free_port()
    with standby(tmp_path, pound_cfg(port, backend.port, workers=2)) as running:
        wait_for(lambda: len(children(running.proc.pid)) == 2, "two workers")
        workers = children(running.proc.pid)
        owners = held_on_every_worker(port, workers, backend)
        running.signal(signal.SIGQUIT)
        assert running.wait() == 0
        assert all(process_gone(pid) for pid in workers)
        for client in owners:  # cut short, not drained
            assert not read_all(client).endswith(b"slow hello")


def test_workers_leave_when_the_supervisor_dies(tmp_path: Path, backend: Backend) -> None:
    port = free_port()
    with standby(tmp_path, pound_cfg(port, backend.port, workers=2)) as running:
        wait_for(lambda: len(children(running.proc.pid)) == 2, "two workers")
        workers = children(running.proc.pid)
        running.proc.kill()
        running.proc.wait(DEADLINE)
        wait_for(lambda: all(process_gone(pid) for pid in workers), "the workers to exit")


@pytest.mark.parametrize(
    ("configured", "options", "expected"),
    [(1, (), 0), (None, ("--workers", "1"), 0), (1, ("--workers", "2"), 2)],
)
def test_workers_1_is_one_process(
    tmp_path: Path,
    backend: Backend,
    configured: int | None,
    options: tuple[str, ...],
    expected: int,
) -> None:
    port = free_port()
    with standby(tmp_path, pound_cfg(port, backend.port, workers=configured), *options) as run:
        wait_for(lambda: len(children(run.proc.pid)) == expected, f"{expected} children")
        assert http_get(port).endswith(b"\r\n\r\nhello")
        wait_for(lambda: bool(access(run.lines)), "the access line")
        served_by = {pid for pid, _, _ in access(run.lines)}
        if expected == 0:
            assert served_by == {run.proc.pid}
            assert len(children(run.proc.pid)) == 0
        else:
            assert run.proc.pid not in served_by
