"""Socket activation as systemd does it: the test holds the listening socket (systemd's
role), passes it as descriptor 3 with LISTEN_FDS and LISTEN_PID (the child's own pid, set by
a small exec wrapper), and standby serves through it; a connection made while standby is
dead waits in the kernel's queue and is served by the next standby."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.process.harness import (
    DEADLINE,
    IO_TIMEOUT,
    Backend,
    Setup,
    Standby,
    answers,
    children,
    free_port,
    http_get,
    process_gone,
    running_command,
    running_standby,
    wait_for,
)
from tests.robustness.misbehaving import recorded

FIRST_FD = 3  # SD_LISTEN_FDS_START
# The exec wrapper systemd's manager amounts to: the socket moved to descriptor 3, and
# LISTEN_PID the pid of the process that then becomes standby.
WRAPPER = (
    "import os, sys; os.dup2(int(sys.argv[1]), 3); "
    "os.environ['LISTEN_PID'] = str(os.getpid()); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[2:]])"
)
BACKLOG = 16  # the queue that holds a connection while no standby runs


@pytest.fixture
def backend() -> Iterator[Backend]:
    server = Backend()
    yield server
    server.close()


@contextlib.contextmanager
def listening_socket(port: int) -> Iterator[socket.socket]:
    """systemd's socket: bound and listening before any standby runs."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(BACKLOG)
        yield sock


def activated_command(config: Path, sock: socket.socket, *options: str) -> list[str]:
    wrapper = [sys.executable, "-c", WRAPPER, str(sock.fileno())]
    return [*wrapper, "-m", "standby", "-f", str(config), "-e", *options]


ACTIVATION_ENV = {"LISTEN_FDS": "1", "LISTEN_FDNAMES": "standby.socket"}


@contextlib.contextmanager
def activated(config: Path, sock: socket.socket, *options: str) -> Iterator[Standby]:
    """standby on ``sock`` until the block ends; its workers are killed with it."""
    command = activated_command(config, sock, *options)
    env = {**os.environ, **ACTIVATION_ENV}
    with running_command(command, config.parent, env=env, pass_fds=(sock.fileno(),)) as run:
        yield run


def kill_all(run: Standby) -> None:
    """SIGKILL to the workers and the supervisor: nothing of standby is left to accept."""
    pids = children(run.proc.pid)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    run.kill()
    wait_for(lambda: all(process_gone(pid) for pid in pids), "the workers gone")


def socket_inodes(pid: int) -> set[int]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(FileNotFoundError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(int(target[len("socket:[") : -1]))
    return inodes


def write_config(tmp_path: Path, port: int, backend: Backend, *extra_ports: int) -> Path:
    text = Setup(port, backend.port, grace=5).pound_cfg()
    for extra in extra_ports:  # more listeners, bound by standby itself
        text += Setup(extra, backend.port).pound_cfg().split("LogLevel 1\n", 1)[1]
    path = tmp_path / "standby.cfg"
    path.write_text(text)
    return path


@pytest.mark.parametrize("workers", [None, "1"], ids=["default-workers", "workers-1"])
def test_serves_through_the_passed_socket(
    workers: str | None, backend: Backend, tmp_path: Path
) -> None:
    port, other = free_port(), free_port()
    config = write_config(tmp_path, port, backend, other)
    options = ("--workers", workers) if workers else ()
    with listening_socket(port) as sock, activated(config, sock, *options) as run:
        assert http_get(port).endswith(b"hello")
        assert answers(other)  # a listener without a passed socket is bound as usual
        # Every serving process holds the passed socket itself, not one of its own.
        ours = os.fstat(sock.fileno()).st_ino
        serving = children(run.proc.pid) or {run.proc.pid}
        assert all(ours in socket_inodes(pid) for pid in serving)
        # A reload keeps the passed socket (the file did not change its address).
        run.signal(signal.SIGHUP)
        wait_for(lambda: "configuration reloaded" in run.stderr(), "the reload")
        assert http_get(port).endswith(b"hello")
        run.signal(signal.SIGTERM)
        assert run.wait() == 0
        # Stopped standby closed its copies only: systemd's socket still queues visitors.
        with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT):
            pass


def test_a_connection_made_while_standby_is_dead_is_served_by_the_next(
    backend: Backend, tmp_path: Path
) -> None:
    port = free_port()
    config = write_config(tmp_path, port, backend)
    with listening_socket(port) as sock:
        with activated(config, sock) as first:
            assert http_get(port).endswith(b"hello")
            kill_all(first)  # crashed: SIGKILL, no goodbye
        # Nobody accepts now; the kernel queues the connection on the held socket.
        client = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
        with client:
            client.sendall(b"GET / HTTP/1.0\r\nHost: www.nire.com\r\n\r\n")
            with activated(config, sock):
                chunks = []
                while chunk := client.recv(65536):
                    chunks.append(chunk)
        assert b"".join(chunks).endswith(b"hello"), chunks


def test_a_passed_socket_no_listener_wants_is_an_error(backend: Backend, tmp_path: Path) -> None:
    config = write_config(tmp_path, free_port(), backend)
    stray = free_port()
    with listening_socket(stray) as sock:
        done = subprocess.run(
            activated_command(config, sock),
            env={**os.environ, **ACTIVATION_ENV},
            pass_fds=(sock.fileno(),),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=DEADLINE,
        )
    assert done.returncode == 1
    expected = f"fd {FIRST_FD} (standby.socket), bound to 127.0.0.1:{stray}"
    assert f"socket activation: no listener has the address of {expected}" in done.stderr


def test_variables_for_another_process_are_ignored(backend: Backend, tmp_path: Path) -> None:
    """LISTEN_PID of another process (a parent's variables): standby binds its own
    sockets and closes the descriptor like any other inherited one."""
    port = free_port()
    config = write_config(tmp_path, port, backend)
    env = {**os.environ, "LISTEN_FDS": "1", "LISTEN_PID": "1"}
    with running_standby(config, env=env):
        assert http_get(port).endswith(b"hello")


def test_a_malformed_count_is_an_error(backend: Backend, tmp_path: Path) -> None:
    config = write_config(tmp_path, free_port(), backend)
    command = [sys.executable, "-c", WRAPPER, "0", "-m", "standby", "-f", str(config), "-e"]
    env = {**os.environ, "LISTEN_FDS": "two"}
    done = subprocess.run(
        command, env=env, capture_output=True, timeout=DEADLINE, stdin=subprocess.DEVNULL
    )
    assert done.returncode == 1
    assert "socket activation: LISTEN_FDS='two' is not a number" in done.stderr.decode()


# The restart-under-load scenario: client threads, each sending requests one after the
# other on new connections, at most MAX_REQUESTS in all (bounded whatever happens).
CLIENT_THREADS = 4
MAX_REQUESTS = 2000
BEFORE_KILL = 40  # requests answered before standby is killed
AFTER_RESTART = 40  # requests connected after the restart, answered, before the end


class Load:
    """Requests from CLIENT_THREADS threads until stopped; each outcome with the time its
    connection was made."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.outcomes: list[tuple[float, str]] = []  # (connected at, answered|refused|failed)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, daemon=True) for _ in range(CLIENT_THREADS)
        ]
        for thread in self._threads:
            thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                if len(self.outcomes) >= MAX_REQUESTS:
                    return
            started = time.monotonic()
            try:
                answer = http_get(self.port)
                outcome = "answered" if answer.endswith(b"hello") else f"failed {answer[:60]!r}"
            except ConnectionRefusedError:
                outcome = "refused"
            except OSError as exc:
                outcome = f"failed {exc!r}"  # reset: accepted by a worker killed mid-request
            with self._lock:
                self.outcomes.append((started, outcome))

    def count(self, outcome: str, since: float = 0.0) -> int:
        with self._lock:
            return sum(1 for at, what in self.outcomes if what.startswith(outcome) and at >= since)

    def stop(self) -> None:
        """Stop sending and wait for the requests in flight (again: nothing to do)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(DEADLINE)


def test_restart_under_load_refuses_nobody(backend: Backend, tmp_path: Path) -> None:
    """Socket activation's promise, measured: standby killed (SIGKILL, default workers)
    and started again while clients keep connecting; nobody is refused, and every
    connection made while no standby ran is answered by the next one."""
    port = free_port()
    config = write_config(tmp_path, port, backend)
    name = "test_restart_under_load_refuses_nobody"
    scenario = "socket activation: standby killed (SIGKILL) and restarted under load"
    command = f"python -m pytest tests/process/test_systemd_activation.py::{name}"
    with recorded(scenario, command) as figures, listening_socket(port) as sock:
        with activated(config, sock) as first:
            load = Load(port)
            try:
                wait_for(lambda: load.count("answered") >= BEFORE_KILL, "answers before the kill")
                kill_all(first)
                dead_at = time.monotonic()  # from now on nothing of standby accepts
                with activated(config, sock):
                    started_at = time.monotonic()
                    wait_for(
                        lambda: load.count("answered", since=started_at) >= AFTER_RESTART,
                        "answers after the restart",
                    )
                    load.stop()  # before this standby goes: only the restart is measured
            finally:
                load.stop()
        queued = [w for at, w in load.outcomes if dead_at <= at < started_at]
        figures["requests"] = len(load.outcomes)
        figures["answered"] = load.count("answered")
        figures["refused"] = load.count("refused")
        figures["cut by the kill (in flight in a killed worker)"] = load.count("failed")
        # Between the kill and the new standby's start message: some of these waited in
        # the kernel's queue while no standby ran, the rest were served by the new one.
        figures["connected between the kill and the restart's start, answered"] = (
            f"{queued.count('answered')}/{len(queued)}"
        )
        figures["kill to the restart's start message (s)"] = round(started_at - dead_at, 2)
        assert load.count("refused") == 0
        assert all(w == "answered" for w in queued), queued
        assert load.count("failed", since=dead_at) == 0, [
            (round(at - dead_at, 3), w) for at, w in load.outcomes if w != "answered"
        ]
