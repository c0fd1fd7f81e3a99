"""What the proxy holds: file descriptors, asyncio tasks, memory and CPU time.

Two ways to run it: in-process (``ProxyThread``; fds of this whole process, tasks of the
proxy's loop) or as its own process (``ProxyProcess``: ``python -m standby -e -f cfg``, for
RSS, CPU time and a lowered ``RLIMIT_NOFILE``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from tests.support.harness import DEADLINE, REPO, Client, ProxyThread, free_port, wait_until

_TICKS = os.sysconf("SC_CLK_TCK")
# Lines in a proxy's stderr that mean an exception reached the loop's default handler (or
# escaped a task) instead of being handled by standby.
UNHANDLED = re.compile(
    rb"Traceback \(most recent call last\)|Exception in callback|"
    rb"Task exception was never retrieved|exception was never retrieved|Unhandled exception"
)
# How long a stopped proxy process may take to exit before it is killed.
STOP_TIMEOUT = 15.0


def fd_count(pid: int | str = "self") -> int:
    """Open file descriptors of a process (``self``: this one)."""
    return len(os.listdir(f"/proc/{pid}/fd"))


# /proc/net/tcp state codes worth naming in a diagnosis.
_TCP_STATES = {"01": "ESTABLISHED", "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT",
               "0A": "LISTEN", "04": "FIN_WAIT1", "05": "FIN_WAIT2", "09": "LAST_ACK"}  # fmt: skip


def fd_targets(pid: int | str) -> list[str]:
    """What a process's descriptors are, for a failure message: files by path, TCP sockets
    as ``local->remote STATE`` (ports only: everything here is on loopback)."""
    sockets: dict[str, str] = {}
    for table in ("tcp", "tcp6"):
        path = Path(f"/proc/{pid}/net/{table}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            if len(fields) < 10:
                continue
            local, remote = (int(a.rsplit(":", 1)[1], 16) for a in fields[1:3])
            state = _TCP_STATES.get(fields[3], fields[3])
            sockets[fields[9]] = f"tcp :{local}->:{remote} {state}"
    out = []
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in sorted(fd_dir.iterdir(), key=lambda p: int(p.name)):
        try:
            target = os.readlink(fd)
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            target = sockets.get(target[8:-1], target)
        out.append(f"{fd.name}={target}")
    return out


def status_kib(pid: int | str, field: str) -> int:
    """A ``/proc/PID/status`` figure in KiB (VmRSS, VmHWM...)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def cpu_seconds(pid: int | str) -> float:
    """User + system CPU time of a process so far (all its threads)."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def proxy_tasks(proxy: ProxyThread) -> int:
    """asyncio tasks alive in an in-process proxy's loop."""
    loop = proxy.loop
    assert loop is not None
    return int(proxy.call(lambda: len(asyncio.all_tasks(loop))))


def proxy_connections(proxy: ProxyThread) -> int:
    """Client connections the in-process proxy tracks."""
    assert proxy.proxy is not None
    p = proxy.proxy
    return int(proxy.call(lambda: p.connections))


def settles(measure: Callable[[], int], target: int, timeout: float = DEADLINE) -> tuple[bool, int]:
    """Wait until ``measure()`` is at most ``target``: (whether it got there, last value)."""
    last = [measure()]

    def ok() -> bool:
        last[0] = measure()
        return last[0] <= target

    try:
        wait_until(ok, timeout)
    except AssertionError:
        return False, last[0]
    return True, last[0]


def settle(measure: Callable[[], int], target: int, what: str, timeout: float = DEADLINE) -> int:
    """``settles``, failing the test with ``what`` if the value stays above ``target``."""
    ok, last = settles(measure, target, timeout)
    assert ok, f"{what}: {last} > {target} after {timeout:g}s"
    return last


def can_connect(port: int) -> bool:
    try:
        Client(port, timeout=1).close()
        return True
    except OSError:
        return False


class ProxyProcess:
    """standby as its own process (one worker; ``workers=None``: its default count) on a
    configuration text whose listener port is written ``{port}``; stderr goes to a file (a
    pipe nobody reads could block it)."""

    def __init__(
        self,
        config_text: str,
        workdir: Path,
        *,
        nofile: int | None = None,
        workers: int | None = 1,
    ) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.config_path = workdir / "standby.cfg"
        self.config_path.write_text(config_text.replace("{port}", str(self.port)))
        self.stderr_path = workdir / "standby.stderr"
        self.nofile = nofile
        self.workers = workers
        self.proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self.returncode: int | None = None

    def start(self) -> ProxyProcess:
        self._stderr = self.stderr_path.open("wb")
        workers = [] if self.workers is None else ["--workers", str(self.workers)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "standby", "-e", *workers, "-f", str(self.config_path)],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )
        proc = self.proc
        if self.nofile is not None:
            # prlimit from here rather than a preexec_fn: this process runs threads, and a
            # fork with threads must exec without running Python code first.
            limit = (self.nofile, self.nofile)
            resource.prlimit(proc.pid, resource.RLIMIT_NOFILE, limit)
        wait_until(
            lambda: proc.poll() is not None or can_connect(self.port), what="standby listening"
        )
        if proc.poll() is not None:
            raise RuntimeError(f"standby exited at start: {self.stderr()[-2000:]!r}")
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss_kib(self) -> int:
        return status_kib(self.pid, "VmRSS")

    def peak_kib(self) -> int:
        return status_kib(self.pid, "VmHWM")

    def fds(self) -> int:
        return fd_count(self.pid)

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def stderr(self) -> bytes:
        return self.stderr_path.read_bytes() if self.stderr_path.exists() else b""

    def unhandled(self) -> list[str]:
        """Lines of stderr showing an exception nobody handled."""
        return [
            line.decode("utf-8", "replace")
            for line in self.stderr().splitlines()
            if UNHANDLED.search(line)
        ]

    def stop(self) -> int:
        """SIGTERM, then wait (kill past ``STOP_TIMEOUT``); the exit status."""
        proc = self.proc
        if proc is None:
            return self.returncode if self.returncode is not None else 0
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(STOP_TIMEOUT)
        self.returncode = proc.returncode
        self.proc = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        return self.returncode

    def __enter__(self) -> ProxyProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class CpuWindow:
    """CPU seconds a process spends over a stretch of wall time."""

    def __init__(self, pid: int | str) -> None:
        self.pid = pid
        self.cpu0 = cpu_seconds(pid)
        self.wall0 = time.monotonic()

    def used(self) -> tuple[float, float]:
        """(CPU seconds, wall seconds) since the window opened."""
        return cpu_seconds(self.pid) - self.cpu0, time.monotonic() - self.wall0


@contextlib.contextmanager
def clean_proxy(proxy: ProxyThread) -> Iterator[ProxyThread]:
    """Run ``proxy``; on the way out, no exception may have reached its loop's handler."""
    with proxy:
        yield proxy
    assert proxy.errors == [], f"unhandled in the proxy's loop: {proxy.errors}"


def slope(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (x, y) samples (y per unit of x)."""
    n = len(samples)
    if n < 2:
        return 0.0
    mx = sum(x for x, _ in samples) / n
    my = sum(y for _, y in samples) / n
    sxx = sum((x - mx) ** 2 for x, _ in samples)
    if sxx == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in samples) / sxx


def socket_inodes(pid: int | str) -> set[int]:
    """Inodes of the sockets a process holds open."""
    inodes = set()
    base = Path(f"/proc/{pid}/fd")
    for entry in base.iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(entry)
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    return inodes


def remote_ports(pid: int | str) -> set[int]:
    """Remote ports of the IPv4 TCP connections a process holds (its own file descriptors,
    not sockets the kernel still flushes after a close)."""
    mine = socket_inodes(pid)
    ports = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[9]) in mine:
            ports.add(int(fields[2].rsplit(":", 1)[1], 16))
    return ports
