"""Starting standby as a subprocess against real loopback backends, and waiting for
conditions with deadlines (never sleeping to synchronise)."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.harness import free_port as support_free_port

DEADLINE = 30.0  # generous: two noisy shared cores; only an upper bound, never a timing check
POLL = 0.02  # seconds between checks of a condition
IO_TIMEOUT = 30.0  # socket operations in tests
STANDIN = str(Path(__file__).with_name("standin.py"))
HOLD_PATH = b"/slow"  # the backend holds this request until released


def wait_for(condition: Callable[[], bool], what: str, deadline: float = DEADLINE) -> None:
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(POLL)  # polling interval of a condition wait, not a synchronisation sleep


free_port = support_free_port  # outside the ephemeral range (tests/support/harness.py)


@contextlib.contextmanager
def taken_port() -> Iterator[int]:
    """A loopback port that is taken (listening) for the duration of the block."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def real_standby_available() -> bool:
    if importlib.util.find_spec("standby.server.proxy") is None:
        return False
    return hasattr(importlib.import_module("standby.config"), "load_config")


class Backend:
    """A loopback HTTP/1.0 backend; requests for ``HOLD_PATH`` wait until ``release``."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = int(self.sock.getsockname()[1])
        self.held = threading.Event()  # a held request has arrived
        self.held_count = 0  # how many have
        self._lock = threading.Lock()
        self.release = threading.Event()
        self.closed = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(IO_TIMEOUT)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    data += chunk
                target = data.split(b" ", 2)[1]
                body = b"hello"
                if target == HOLD_PATH:
                    with self._lock:
                        self.held_count += 1
                    self.held.set()
                    self.release.wait(DEADLINE)
                    body = b"slow hello"
                conn.sendall(
                    b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                    % (len(body), body)
                )
            except OSError:
                return

    def close(self) -> None:
        self.release.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


def http_get(port: int, path: bytes = b"/", timeout: float = IO_TIMEOUT) -> bytes:
    """One HTTP/1.0 request; the whole response until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(b"GET " + path + b" HTTP/1.0\r\nHost: www.nire.com\r\n\r\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def refuses(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT):
            return False
    except ConnectionRefusedError:
        return True


def answers(port: int) -> bool:
    try:
        return http_get(port).endswith(b"hello")
    except OSError:
        return False


def process_gone(pid: int) -> bool:
    """True once ``pid`` has exited (gone, or a zombie nobody has reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat") as src:
            state = src.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def proc_status(pid: int) -> dict[str, str]:
    out = {}
    with open(f"/proc/{pid}/status") as src:
        for line in src:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


@dataclass
class Setup:
    """What a test asks for; written as pound.cfg (real) or JSON (stand-in)."""

    listen_port: int
    backend_port: int
    daemon: bool = False
    grace: int = 20
    user: str | None = None
    group: str | None = None
    root_jail: str | None = None
    pid_file: str | None = None
    log_level: int = 1

    def pound_cfg(self) -> str:
        lines = [f"Daemon {int(self.daemon)}", f"Grace {self.grace}", f"LogLevel {self.log_level}"]
        if self.user:
            lines.append(f'User "{self.user}"')
        if self.group:
            lines.append(f'Group "{self.group}"')
        if self.root_jail:
            lines.append(f'RootJail "{self.root_jail}"')
        if self.pid_file:
            lines.append(f'PIDFile "{self.pid_file}"')
        lines += [
            "ListenHTTP",
            "  Address 127.0.0.1",
            f"  Port {self.listen_port}",
            "  Service",
            "    BackEnd",
            "      Address 127.0.0.1",
            f"      Port {self.backend_port}",
            "    End",
            "  End",
            "End",
        ]
        return "\n".join(lines) + "\n"

    def json(self) -> str:
        return json.dumps(
            {
                "listeners": [["127.0.0.1", self.listen_port]],
                "backend": ["127.0.0.1", self.backend_port],
                "daemon": self.daemon,
                "grace": self.grace,
                "user": self.user,
                "group": self.group,
                "root_jail": self.root_jail,
                "pid_file": self.pid_file,
                "log_level": self.log_level,
            }
        )


@dataclass
class Standby:
    """A running standby subprocess; stderr is collected line by line."""

    proc: subprocess.Popen[bytes]
    lines: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.reader = threading.Thread(target=self._collect, daemon=True)
        self.reader.start()

    def _collect(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            self.lines.append(raw.decode(errors="replace"))

    def stderr(self) -> str:
        return "".join(self.lines)

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def wait(self) -> int:
        code = self.proc.wait(DEADLINE)
        self.reader.join(DEADLINE)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(DEADLINE)


class Launcher:
    """Starts the real ``python -m standby`` or the stand-in with the same options, in one
    process (``workers`` 1) or as a supervisor with workers."""

    def __init__(self, kind: str, tmp: Path, workers: int = 1) -> None:
        self.kind = kind
        self.tmp = tmp
        self.workers = workers

    def write_config(self, setup: Setup) -> Path:
        if self.kind == "real":
            path = self.tmp / "pound.cfg"
            path.write_text(setup.pound_cfg())
        else:
            path = self.tmp / "standby.json"
            path.write_text(setup.json())
        return path

    def command(self, setup: Setup, *options: str) -> list[str]:
        entry = ["-m", "standby"] if self.kind == "real" else [STANDIN]
        workers = ["--workers", str(self.workers)]
        return [sys.executable, *entry, "-f", str(self.write_config(setup)), *workers, *options]

    def start(self, setup: Setup, *options: str) -> Standby:
        proc = subprocess.Popen(
            self.command(setup, *options),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=str(self.tmp),
        )
        return Standby(proc)

    def run(self, setup: Setup, *options: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            self.command(setup, *options),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=DEADLINE,
            cwd=str(self.tmp),
        )


def launcher_kinds() -> list[object]:
    """(kind, workers) pairs: each life-cycle test runs in one process and supervised."""
    real = pytest.mark.skipif(
        not real_standby_available(),
        reason="standby.config.load_config / standby.server.proxy not there yet",
    )
    params: list[object] = []
    for workers in (1, 2):
        params.append(pytest.param(("standin", workers), id=f"standin-w{workers}"))
        params.append(pytest.param(("real", workers), id=f"real-w{workers}", marks=real))
    return params


@contextlib.contextmanager
def running(launcher: Launcher, setup: Setup, *options: str) -> Iterator[Standby]:
    standby = launcher.start(setup, *options)
    try:
        wait_for(lambda: answers(setup.listen_port) or standby.proc.poll() is not None, "ready")
        assert standby.proc.poll() is None, standby.stderr()
        yield standby
    finally:
        standby.kill()


def in_flight(port: int, path: bytes = HOLD_PATH) -> tuple[threading.Thread, list[bytes]]:
    """A request sent from a thread; its response lands in the returned list."""
    result: list[bytes] = []

    def client() -> None:
        try:
            result.append(http_get(port, path))
        except OSError as exc:
            result.append(f"error: {exc}".encode())

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    return thread, result


def is_root() -> bool:
    return os.geteuid() == 0


def children(pid: int) -> set[int]:
    """The child processes of ``pid`` (a supervisor's workers)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as src:
            return {int(p) for p in src.read().split()}
    except (FileNotFoundError, ProcessLookupError):
        return set()


@contextlib.contextmanager
def running_standby(
    config: Path,
    workers: int | None = None,
    *,
    env: dict[str, str] | None = None,
    deadline: float = DEADLINE,
    options: tuple[str, ...] = (),
    pass_fds: tuple[int, ...] = (),
    program: tuple[str, ...] = (sys.executable, "-m", "standby"),
) -> Iterator[Standby]:
    """The installed program on ``config`` (``--workers`` if given, else the file's or the
    default count; then ``options``; ``pass_fds`` inherited), logging to stderr, until the
    block ends; started means it said so. Every process it forked is killed at the end,
    whatever the test did to them. ``program``: another installed standby (the .deb's)."""
    command = [*program, "-f", str(config), "-e"]
    if workers is not None:
        command += ["--workers", str(workers)]
    command += options
    with running_command(
        command, config.parent, env=env, deadline=deadline, pass_fds=pass_fds
    ) as running:
        yield running


@contextlib.contextmanager
def running_command(
    command: list[str],
    cwd: Path,
    *,
    env: dict[str, str] | None = None,
    deadline: float = DEADLINE,
    pass_fds: tuple[int, ...] = (),
) -> Iterator[Standby]:
    """``command`` (a standby logging to stderr, however it is started), until the block
    ends; started means it said so. Every process it forked is killed at the end."""
    proc = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=str(cwd),
        env=env,
        pass_fds=pass_fds,
    )
    running = Standby(proc)
    try:
        wait_for(
            lambda: " started (pid " in running.stderr() or proc.poll() is not None,
            "start",
            deadline,
        )
        assert proc.poll() is None, running.stderr()
        yield running
    finally:
        pids = children(proc.pid)
        running.kill()
        for pid in pids:  # never leave a worker behind (a stopped one least of all)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
