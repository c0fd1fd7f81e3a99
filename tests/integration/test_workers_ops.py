"""Operating a running standby process: reload on SIGHUP and with ``standbyctl reload``, in
one process and with several workers, and the maintenance drain through the supervisor's
control socket. Real processes on loopback, steady load, zero failed requests; every wait
is a condition with a deadline."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from tests.process.harness import HOLD_PATH, Standby, children, http_get, refuses, running_standby
from tests.process.harness import Backend as HoldingBackend
from tests.support.backend import Backend
from tests.support.configs import one_backend, primary_and_emergency
from tests.support.harness import REPO, free_port, get, wait_until
from tests.support.load import Load

pytestmark = pytest.mark.timeout(180)

DEADLINE = 60.0  # generous: forks and reloads on two noisy shared cores
A = "200 b'a'"
B = "200 b'b'"
PRIMARY = "200 b'hello'"  # the holding backend's answer
STANDBY = "200 b'standby'"
RELOADS = 20
RELOADED = "]: configuration reloaded"  # the reload's own line, not the control socket's echo


def two_backends(
    sock: Path, port: int, a: int, b: int, pa: int = 5, pb: int = 5, extra: int | None = None
) -> str:
    """One service over backends a and b (a Priority 0 leaves one out), and optionally a
    second listener on ``extra`` serving the same."""
    lines = ["Alive 1", "Grace 10", "LogLevel 0", f'Control "{sock}"']
    for listen in (port, extra):
        if listen is None:
            continue
        lines += ["ListenHTTP", "  Address 127.0.0.1", f"  Port {listen}", "  Service"]
        for backend, priority in ((a, pa), (b, pb)):
            if priority:
                lines += ["    BackEnd", "      Address 127.0.0.1", f"      Port {backend}"]
                lines += [f"      Priority {priority}", "    End"]
        lines += ["  End", "End"]
    return "\n".join(lines) + "\n"


def standby(config: Path, workers: int) -> contextlib.AbstractContextManager[Standby]:
    return running_standby(config, workers, deadline=DEADLINE)


def ctl(sock: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "standby.control.ctl", "-s", str(sock), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )


def backend_json(sock: Path, path: str) -> dict[str, Any]:
    out = ctl(sock, "--json", "list", path)
    assert out.returncode == 0, out.stderr
    found: dict[str, Any] = json.loads(out.stdout)
    return found


def lines_with(running: Standby, text: str) -> int:
    return sum(1 for line in list(running.lines) if text in line)


@pytest.mark.parametrize("workers", [1, 2])
def test_sighup_switches_backends_and_a_broken_file_keeps_the_old_one(
    tmp_path: Path, workers: int
) -> None:
    sock = tmp_path / "control.sock"
    config = tmp_path / "pound.cfg"
    port = free_port()
    with Backend("a") as a, Backend("b") as b:
        config.write_text(two_backends(sock, port, a.port, b.port, pb=0))
        with standby(config, workers) as running, Load(port, 8, pace=0.005) as load:
            wait_until(lambda: load.count(A) >= 100, DEADLINE, "load on a")
            config.write_text(two_backends(sock, port, a.port, b.port, pa=0))  # only b now
            running.signal(signal.SIGHUP)
            wait_until(lambda: load.count(B) >= 50, DEADLINE, "traffic on b")
            assert lines_with(running, RELOADED) == 1
            served_by_a = load.count(A)
            seen = load.count(B)
            wait_until(lambda: load.count(B) >= seen + 100, DEADLINE, "more traffic on b")
            assert load.count(A) == served_by_a  # a left the configuration
            config.write_text("ListenHTTP\n  Port 99999\nEnd\n")
            running.signal(signal.SIGHUP)
            wait_until(lambda: lines_with(running, "reload rejected") == 1, DEADLINE, "reject")
            assert "pound.cfg:" in running.stderr()  # FILE:LINE.COL: message
            seen = load.count(B)
            wait_until(lambda: load.count(B) >= seen + 100, DEADLINE, "b still serving")
            assert running.proc.poll() is None
        assert load.failures((A, B)) == {}, load.outcomes
        assert "Traceback" not in running.stderr()


def test_twenty_reloads_with_two_workers_lose_nothing(tmp_path: Path) -> None:
    sock = tmp_path / "control.sock"
    config = tmp_path / "pound.cfg"
    port = free_port()
    extra = free_port()
    with Backend("a") as a, Backend("b") as b:
        config.write_text(two_backends(sock, port, a.port, b.port))
        with standby(config, 2) as running, Load(port, 8, pace=0.005) as load:
            wait_until(lambda: load.total() >= 100, DEADLINE, "load running")
            for i in range(RELOADS):
                # A changed configuration each time; a second listener for a few of them.
                text = two_backends(
                    sock, port, a.port, b.port, 1 + i % 9, 9 - i % 9, extra if 5 <= i < 10 else None
                )
                config.write_text(text)
                if i % 2:
                    out = ctl(sock, "reload")
                    assert out.returncode == 0, out.stdout + out.stderr
                else:
                    done = lines_with(running, RELOADED)
                    running.signal(signal.SIGHUP)
                    wait_until(
                        lambda d=done: lines_with(running, RELOADED) > d,
                        DEADLINE,
                        f"reload {i}",
                    )
                target = load.total() + 20
                wait_until(lambda t=target: load.total() >= t, DEADLINE, f"traffic after {i}")
                if i == 5:
                    assert http_get(extra).endswith((b"a", b"b"))  # the added listener
                if i == 10:  # removed: closed once the old workers are gone
                    wait_until(lambda: refuses(extra), DEADLINE, "the removed listener closed")
            assert lines_with(running, RELOADED) == RELOADS
            config.write_text("ListenHTTP\n  Port 99999\nEnd\n")
            out = ctl(sock, "reload")
            assert out.returncode == 1 and "pound.cfg:" in out.stderr + out.stdout
            before = load.total()
            wait_until(lambda: load.total() >= before + 100, DEADLINE, "still serving")
            # Only the last generation is left: two workers.
            wait_until(lambda: len(children(running.proc.pid)) == 2, DEADLINE, "old ones gone")
        assert load.failures((A, B)) == {}, load.outcomes
        assert load.count(A) and load.count(B)
        assert "Traceback" not in running.stderr()


def maintenance_config(sock: Path, port: int, primary: int, standby_port: int) -> str:
    return primary_and_emergency(
        primary,
        standby_port,
        port=port,
        global_extra=f'Alive 1\nGrace 10\nLogLevel 0\nControl "{sock}"',
    )


def test_drain_with_two_workers_waits_for_the_request_in_flight(tmp_path: Path) -> None:
    sock = tmp_path / "control.sock"
    config = tmp_path / "pound.cfg"
    port = free_port()
    primary = HoldingBackend()
    try:
        with Backend("standby") as backup:
            config.write_text(maintenance_config(sock, port, primary.port, backup.port))
            with standby(config, 2) as running, Load(port, 8, pace=0.005) as load:
                wait_until(lambda: load.count(PRIMARY) >= 100, DEADLINE, "load on primary")
                # Counters are summed over both workers: at least what the load saw.
                seen = load.count(PRIMARY)
                state = backend_json(sock, "/1/0/0")
                assert state["requests"] >= seen, state
                held: list[bytes] = []
                holder = threading.Thread(
                    target=lambda: held.append(http_get(port, HOLD_PATH)), daemon=True
                )
                holder.start()
                wait_until(primary.held.is_set, DEADLINE, "the held request at the primary")
                drained: list[subprocess.CompletedProcess[str]] = []
                drainer = threading.Thread(
                    target=lambda: drained.append(
                        ctl(sock, "drain", "/1/0/0", "--wait", "--timeout", "50")
                    ),
                    daemon=True,
                )
                drainer.start()
                at_standby = load.count(STANDBY)
                wait_until(
                    lambda: load.count(STANDBY) >= at_standby + 100, DEADLINE, "standby serving"
                )
                state = backend_json(sock, "/1/0/0")
                assert state["draining"] and state["in_flight"] == 1, state
                assert drainer.is_alive()  # the held request is still in flight
                primary.release.set()
                drainer.join(DEADLINE)
                assert drained and drained[0].returncode == 0, drained
                holder.join(DEADLINE)
                assert held and held[0].endswith(b"slow hello")
                by_primary = load.count(PRIMARY)
                at_standby = load.count(STANDBY)
                wait_until(
                    lambda: load.count(STANDBY) >= at_standby + 100, DEADLINE, "still standby"
                )
                assert load.count(PRIMARY) == by_primary  # nothing new went to it
                assert ctl(sock, "enable", "/1/0/0").returncode == 0
                back = load.count(PRIMARY)
                wait_until(lambda: load.count(PRIMARY) >= back + 100, DEADLINE, "primary back")
                listing = ctl(sock, "list")
                assert listing.returncode == 0, listing.stderr
                assert f"127.0.0.1:{primary.port}" in listing.stdout
            assert load.failures((PRIMARY, STANDBY)) == {}, load.outcomes
            assert "Traceback" not in running.stderr()
    finally:
        primary.close()


METRICS_REQUESTS = 40  # each on its own connection: both workers get some
SCRAPES = 8  # each on its own connection: both workers answer some


def test_a_metrics_service_shows_every_workers_requests(tmp_path: Path) -> None:
    # Whichever worker answers the scrape, the figures are the whole service's: a counter
    # that changed with the worker answering would break every rate() over it.
    config = tmp_path / "pound.cfg"
    port = free_port()
    with Backend("a") as a:
        metrics = 'Service "metrics"\n    URL "^/metrics$"\n    Metrics\n  End'
        config.write_text(
            one_backend(a.port, metrics, listen=port, global_extra="Alive 1\nLogLevel 0")
        )
        with standby(config, 2) as running:
            for _ in range(METRICS_REQUESTS):
                assert get(port).body == b"a"
            for _ in range(SCRAPES):
                scrape = get(port, "/metrics")
                assert scrape.status == 200
                lines = scrape.body.decode().splitlines()
                counts = [
                    int(line.rsplit(" ", 1)[1])
                    for line in lines
                    if line.startswith("pound_backend_requests{")
                ]
                assert sum(counts) == METRICS_REQUESTS, lines
            assert "Traceback" not in running.stderr()
