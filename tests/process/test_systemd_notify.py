"""systemd notifications from the installed program, read from a real notification socket
(the protocol, not a mock): READY, STATUS, RELOADING/READY around a reload (good or
broken file), STOPPING, and the watchdog, which stops with the supervisor."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.process.harness import (
    DEADLINE,
    Backend,
    Setup,
    answers,
    children,
    free_port,
    http_get,
    process_gone,
    running_standby,
    wait_for,
)
from tests.process.sdnotify import NotifySocket, is_ready, notify_socket

# Workers: the default count (the machine's CPUs), and the single process (its own path).
WORKER_COUNTS = [pytest.param(None, id="default-workers"), pytest.param(1, id="workers-1")]
# A watchdog this short makes keep-alives frequent enough to see several in a test.
WATCHDOG_USEC = 400_000
# While the supervisor is stopped, keep-alives are awaited for this many watchdog intervals:
# none may come (a healthy supervisor sends two per interval).
SILENT_INTERVALS = 10
STATUS_PATTERN = re.compile(
    r"backends (\d+) up, (\d+) down(?:, \d+ disabled)?; (\d+) requests served; (\d+) workers?"
)


@pytest.fixture
def backend() -> Iterator[Backend]:
    server = Backend()
    yield server
    server.close()


def config_for(tmp_path: Path, backend: Backend) -> tuple[Path, int]:
    port = free_port()
    path = tmp_path / "standby.cfg"
    path.write_text(Setup(port, backend.port, grace=5).pound_cfg())
    return path, port


def status_of(message: dict[str, str]) -> tuple[int, int, int, int]:
    found = STATUS_PATTERN.fullmatch(message["STATUS"])
    assert found is not None, message
    up, down, requests, workers = (int(g) for g in found.groups())
    return up, down, requests, workers


@pytest.mark.parametrize("workers", WORKER_COUNTS)
def test_ready_once_serving_then_reload_and_stop(
    workers: int | None, backend: Backend, tmp_path: Path
) -> None:
    config, port = config_for(tmp_path, backend)
    with notify_socket() as notify, running_standby(config, workers, env=notify.env()) as run:
        before = notify.wait_for(is_ready, "READY=1")
        # Nothing claimed readiness before: READY is the first word, and when it arrives
        # the port answers through the proxy and every worker is there.
        assert [m for m in before if "READY" in m] == before[-1:]
        assert http_get(port).endswith(b"hello")
        up, down, _, count = status_of(before[-1])
        assert (up, down) == (1, 0)
        assert count == (workers or len(children(run.proc.pid)))
        if workers is None:
            assert count == len(os.sched_getaffinity(0))

        # A good reload: RELOADING=1 with the monotonic time it began, then READY=1.
        start = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        run.signal(signal.SIGHUP)
        seen = notify.wait_for(is_ready, "READY=1 after the reload")
        end = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        reloading = [m for m in seen if m.get("RELOADING") == "1"]
        assert len(reloading) == 1, seen
        assert start <= int(reloading[0]["MONOTONIC_USEC"]) <= end
        assert seen.index(reloading[0]) < len(seen) - 1  # before READY=1
        wait_for(lambda: "configuration reloaded" in run.stderr(), "the reload's log line")

        # A broken file: the same pair (a configuration serves: the old one).
        config.write_text(config.read_text() + "NoSuchKeyword 1\n")
        run.signal(signal.SIGHUP)
        seen = notify.wait_for(is_ready, "READY=1 after the rejected reload")
        assert any(m.get("RELOADING") == "1" for m in seen[:-1]), seen
        wait_for(lambda: "reload rejected" in run.stderr(), "the rejection's log line")
        assert answers(port)

        run.signal(signal.SIGTERM)
        seen = notify.wait_for(lambda m: m.get("STOPPING") == "1", "STOPPING=1")
        assert not any(is_ready(m) for m in seen)
        assert run.wait() == 0


def test_status_tells_requests_and_a_backend_going_down(backend: Backend, tmp_path: Path) -> None:
    config, port = config_for(tmp_path, backend)
    requests = 3
    with notify_socket() as notify, running_standby(config, env=notify.env()):
        notify.wait_for(is_ready, "READY=1")
        for _ in range(requests):
            assert http_get(port).endswith(b"hello")
        # Refreshed periodically: the count reaches what was served.
        notify.wait_for(
            lambda m: "STATUS" in m and status_of(m)[2] >= requests,
            f"STATUS with {requests} requests served",
        )
        backend.close()
        http_get(port)  # the failed connection marks it dead (503: no other backend)
        seen = notify.wait_for(
            lambda m: "STATUS" in m and status_of(m)[:2] == (0, 1), "STATUS with 1 down"
        )
        assert all("\n" not in m["STATUS"] for m in seen if "STATUS" in m)


def test_watchdog_is_fed_by_the_supervisor_and_stops_with_it(
    backend: Backend, tmp_path: Path
) -> None:
    config, _ = config_for(tmp_path, backend)
    env = {"WATCHDOG_USEC": str(WATCHDOG_USEC)}
    with (
        notify_socket(abstract=True) as notify,
        running_standby(config, env=notify.env(**env)) as run,
    ):
        notify.wait_for(is_ready, "READY=1")
        for n in range(3):
            notify.wait_for(lambda m: m.get("WATCHDOG") == "1", f"keep-alive {n + 1}")
        run.signal(signal.SIGSTOP)
        wait_for(lambda: _state(run.proc.pid) == "T", "the supervisor stopped")
        notify.drain()  # sent before it stopped
        silent = _watchdogs_within(notify, SILENT_INTERVALS * WATCHDOG_USEC / 1e6)
        assert silent == 0, "a stopped supervisor fed the watchdog"
        run.signal(signal.SIGCONT)
        notify.wait_for(lambda m: m.get("WATCHDOG") == "1", "keep-alives again")


def test_no_watchdog_for_another_process(backend: Backend, tmp_path: Path) -> None:
    """WATCHDOG_PID naming another process: the watchdog is not ours to feed."""
    config, _ = config_for(tmp_path, backend)
    env = {"WATCHDOG_USEC": str(WATCHDOG_USEC), "WATCHDOG_PID": "1"}
    with notify_socket() as notify, running_standby(config, 1, env=notify.env(**env)) as run:
        notify.wait_for(is_ready, "READY=1")
        assert _watchdogs_within(notify, SILENT_INTERVALS * WATCHDOG_USEC / 1e6) == 0
        run.signal(signal.SIGTERM)
        notify.wait_for(lambda m: m.get("STOPPING") == "1", "STOPPING=1")
        assert run.wait() == 0


def _watchdogs_within(notify: NotifySocket, seconds: float) -> int:
    """How many WATCHDOG=1 arrive within ``seconds``."""
    end = time.monotonic() + seconds
    count = 0
    while (left := end - time.monotonic()) > 0:
        message = notify.next(left)
        if message is not None and message.get("WATCHDOG") == "1":
            count += 1
    return count


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as src:
        return src.read().rsplit(")", 1)[1].split()[0]


def test_a_daemon_names_itself_as_the_main_pid(backend: Backend, tmp_path: Path) -> None:
    """`Daemon 1` without -F under NOTIFY_SOCKET: READY=1 comes from the detached daemon,
    with MAINPID naming it (the pid in the PID file), not the process systemd started."""
    port = free_port()
    pid_file = tmp_path / "standby.pid"
    config = tmp_path / "standby.cfg"
    setup = Setup(port, backend.port, daemon=True, grace=5, pid_file=str(pid_file))
    config.write_text(setup.pound_cfg())
    command = [sys.executable, "-m", "standby", "-f", str(config)]
    with notify_socket() as notify:
        done = subprocess.run(
            command, env=notify.env(), stdin=subprocess.DEVNULL, capture_output=True,
            timeout=DEADLINE, cwd=str(tmp_path),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        daemon = int(pid_file.read_text())
        try:
            ready = notify.wait_for(is_ready, "READY=1")[-1]
            assert ready["MAINPID"] == str(daemon)
            assert http_get(port).endswith(b"hello")
            os.kill(daemon, signal.SIGTERM)
            notify.wait_for(lambda m: m.get("STOPPING") == "1", "STOPPING=1")
            wait_for(lambda: process_gone(daemon), "the daemon's exit")
        finally:
            with contextlib.suppress(ProcessLookupError):
                for pid in children(daemon):
                    os.kill(pid, signal.SIGKILL)
                os.kill(daemon, signal.SIGKILL)


def test_a_manager_that_does_not_read_never_stalls_standby(
    backend: Backend, tmp_path: Path
) -> None:
    """Nobody reads the notification socket: once its queue is full, notifications are
    dropped (said once in the log), and standby goes on serving and stops on request."""
    config, port = config_for(tmp_path, backend)
    env = {"WATCHDOG_USEC": str(WATCHDOG_USEC)}
    with notify_socket() as notify, running_standby(config, env=notify.env(**env)) as run:
        wait_for(lambda: "cannot notify systemd" in run.stderr(), "the queue full")
        assert http_get(port).endswith(b"hello")
        run.signal(signal.SIGTERM)
        assert run.wait() == 0
        assert run.stderr().count("cannot notify systemd") == 1
