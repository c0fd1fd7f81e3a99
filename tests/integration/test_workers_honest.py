"""Honest answers to operators with several workers (issue 13, points 2 and 3), with real
processes on loopback: a worker that does not answer the supervisor is reported as such,
never counted as zero (``drain --wait``, ``list``, metrics), and counters never go back
when a worker is killed and restarted or a reload retires the old workers. Every wait is a
condition with a deadline."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.test_workers_ops import backend_json, children, ctl, standby
from tests.process import harness as process_harness
from tests.process.harness import HOLD_PATH, http_get
from tests.process.harness import Backend as HoldingBackend
from tests.support.backend import Backend
from tests.support.configs import one_backend, primary_and_emergency
from tests.support.harness import REPO, free_port, get, wait_until

pytestmark = pytest.mark.timeout(180)

DEADLINE = 60.0  # generous: forks and reloads on two noisy shared cores
REQUESTS = 200  # the figure
AFTER_RESTART = 20  # requests once the killed worker is replaced
METRICS_REQUESTS = 20  # before the scrapes, so that the figures are not all zero
RELOADED = "]: configuration reloaded"
# How long the first `drain --wait` may wait while the worker is stopped: it must give up
# and say why.
STOPPED_WAIT = 5
# The held request lasts the whole test (until released): the holding backend keeps it
# this long at most, and standby waits that long for its answer (`TimeOut`, 15 s by
# default, would fail it over to the Emergency backend meanwhile).
HOLD_LIMIT = 150


def globals_of(sock: Path) -> str:
    """The global directives of these tests, one a line. With supervision by heartbeat
    (issue 13, point 1), add `WorkerTimeout 120` here: a stopped worker must stay stopped
    (not be replaced) for as long as these tests look at it."""
    lines = ["Alive 1", "Grace 10", "LogLevel 0", f"TimeOut {HOLD_LIMIT}", f'Control "{sock}"']
    return "\n".join(lines)


def worker_connected_to(port: int, pids: set[int]) -> int:
    """The worker among ``pids`` that holds an established connection to loopback
    ``port`` (the backend that holds a request)."""
    inodes: set[str] = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote_port = int(fields[2].rsplit(":", 1)[1], 16)
        if remote_port == port and fields[3] == "01":  # ESTABLISHED
            inodes.add(f"socket:[{fields[9]}]")
    found = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd) in inodes:
                    found.add(pid)
    assert len(found) == 1, (found, pids)
    return found.pop()


class Ctl:
    """``standbyctl`` running in the background; its stderr collected line by line."""

    def __init__(self, sock: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "standby.control.ctl", "-s", str(sock), *args],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.err: list[str] = []
        self.reader = threading.Thread(target=self._collect, daemon=True)
        self.reader.start()

    def _collect(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.err.append(line)

    def stderr(self) -> str:
        return "".join(self.err)

    def finish(self) -> tuple[int, str, str]:
        assert self.proc.stdout is not None
        out = self.proc.stdout.read()
        code = self.proc.wait(DEADLINE)
        self.reader.join(DEADLINE)
        return code, out, self.stderr()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(DEADLINE)


@contextlib.contextmanager
def stopped(pid: int) -> Iterator[None]:
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)  # whatever happened: never leave it stopped


def test_drain_wait_does_not_say_drained_while_the_worker_serving_the_request_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(process_harness, "DEADLINE", HOLD_LIMIT)  # how long it holds
    sock = tmp_path / "control.sock"
    config = tmp_path / "pound.cfg"
    port = free_port()
    primary = HoldingBackend()
    try:
        with Backend("standby") as backup:
            config.write_text(
                primary_and_emergency(
                    primary.port, backup.port, port=port, global_extra=globals_of(sock)
                )
            )
            with standby(config, 2) as running:
                held: list[bytes] = []
                holder = threading.Thread(
                    target=lambda: held.append(http_get(port, HOLD_PATH, timeout=HOLD_LIMIT)),
                    daemon=True,
                )
                holder.start()
                wait_until(primary.held.is_set, DEADLINE, "the held request at the primary")
                busy = worker_connected_to(primary.port, children(running.proc.pid))
                drainer: Ctl | None = None
                try:
                    with stopped(busy):
                        # The other worker has nothing in flight; the stopped one does.
                        out = ctl(sock, "drain", "/1/0/0", "--wait", "--timeout", f"{STOPPED_WAIT}")
                        assert out.returncode == 1, out
                        assert "drained" not in out.stdout
                        assert f"worker pid {busy} did not answer" in out.stderr, out.stderr
                        assert "requests in flight unknown" in out.stderr
                        listing = ctl(sock, "list")
                        row = next(r for r in listing.stdout.splitlines() if r.startswith("/1/0/0"))
                        assert row.split()[4] == "?", listing.stdout
                        assert f"pid {busy} did not answer" in listing.stdout
                        metrics = ctl(sock, "metrics").stdout
                        assert "standby_workers_unanswered 1\n" in metrics
                        # Unknown: no sample (the control socket's own row is known).
                        assert 'standby_backend_in_flight{listener="1"' not in metrics
                        # A second wait, started while it is stopped, goes on past SIGCONT.
                        drainer = Ctl(sock, "drain", "/1/0/0", "--wait", "--timeout", "50")
                        wait_until(
                            lambda: "did not answer; waiting" in drainer.stderr(),  # type: ignore[union-attr]
                            DEADLINE,
                            "the drain to see the stopped worker",
                        )
                    # It answers again: one request in flight, not drained.
                    wait_until(
                        lambda: backend_json(sock, "/1/0/0")["in_flight"] == 1,
                        DEADLINE,
                        "the request in flight counted",
                    )
                    state = backend_json(sock, "/1/0/0")
                    assert state["unanswered"] == [] and state["draining"], state
                    assert drainer.proc.poll() is None  # the request is still running
                    primary.release.set()
                    code, out_text, _ = drainer.finish()
                    assert (code, out_text) == (0, "drained /1/0/0: no request in flight\n")
                    holder.join(DEADLINE)
                    assert held and held[0].endswith(b"slow hello")
                finally:
                    if drainer is not None:
                        drainer.kill()
                assert "Traceback" not in running.stderr()
    finally:
        primary.close()


def totals(sock: Path) -> dict[str, int]:
    """Every counter family summed over its samples, from the control socket's metrics."""
    out = ctl(sock, "metrics")
    assert out.returncode == 0, out.stderr
    families = {
        "requests": "pound_backend_requests{",
        "responses": "standby_backend_responses_total{",
        "latency": "standby_backend_latency_seconds_count{",
        "le_1s": 'standby_backend_latency_seconds_bucket{listener="1",service="0",'
        'backend="0",le="1.0"}',
    }
    sums = dict.fromkeys(families, 0)
    for line in out.stdout.splitlines():
        for name, prefix in families.items():
            if line.startswith(prefix):
                sums[name] += int(line.rsplit(" ", 1)[1])
    return sums


def never_less(before: dict[str, int], after: dict[str, int]) -> bool:
    return all(after[name] >= before[name] for name in before)


def test_counters_never_go_back_when_a_worker_is_killed_or_a_reload_retires_them(
    tmp_path: Path,
) -> None:
    sock = tmp_path / "control.sock"
    config = tmp_path / "pound.cfg"
    port = free_port()
    with Backend("a") as a:
        config.write_text(one_backend(a.port, listen=port, global_extra=globals_of(sock)))
        with standby(config, 2) as running:
            for _ in range(REQUESTS):  # each on its own connection: both workers get some
                assert get(port).body == b"a"
            # Scrapes share a rendering for METRICS_SHARE_INTERVAL: wait for one made after.
            wait_until(lambda: totals(sock)["requests"] == REQUESTS, DEADLINE, "the count")
            first = totals(sock)
            assert first["requests"] == REQUESTS and first["responses"] == REQUESTS, first
            assert first["latency"] == REQUESTS and first["le_1s"] > 0, first
            workers = children(running.proc.pid)
            victim = min(workers)
            os.kill(victim, signal.SIGKILL)
            wait_until(
                lambda: len(children(running.proc.pid) - {victim}) == 2,
                DEADLINE,
                "the killed worker replaced",
            )
            after_kill = totals(sock)
            assert never_less(first, after_kill), (first, after_kill)
            for _ in range(AFTER_RESTART):
                assert get(port).body == b"a"
            target = first["requests"] + AFTER_RESTART
            wait_until(lambda: totals(sock)["requests"] >= target, DEADLINE, "the new count")
            restarted = totals(sock)
            assert never_less(after_kill, restarted), (after_kill, restarted)
            # A reload with the same file: new workers, the old ones retire.
            before = children(running.proc.pid)
            running.signal(signal.SIGHUP)
            wait_until(lambda: RELOADED in running.stderr(), DEADLINE, "the reload")
            wait_until(
                lambda: (
                    len(children(running.proc.pid)) == 2 and not children(running.proc.pid) & before
                ),
                DEADLINE,
                "the old workers gone",
            )
            reloaded = totals(sock)
            assert never_less(restarted, reloaded), (restarted, reloaded)
            assert reloaded["requests"] == restarted["requests"], (restarted, reloaded)
            for _ in range(AFTER_RESTART):
                assert get(port).body == b"a"
            target = reloaded["requests"] + AFTER_RESTART
            wait_until(lambda: totals(sock)["requests"] == target, DEADLINE, "counted after")
        assert "Traceback" not in running.stderr()


def test_a_metrics_service_answers_503_rather_than_one_workers_figures(tmp_path: Path) -> None:
    # Without the supervisor's sums, one worker's own counters would read as a reset of
    # every counter to Prometheus: the scrape fails instead, and succeeds again after.
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
            with stopped(running.proc.pid):  # the supervisor: it answers nothing
                scrape = get(port, "/metrics")
                assert scrape.status == 503, scrape
            wait_until(lambda: get(port, "/metrics").status == 200, DEADLINE, "scrapes again")
            assert "no metrics within" in running.stderr()
            assert "Traceback" not in running.stderr()


def test_a_response_that_ends_on_a_retiring_worker_is_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The old worker's last counts reach the supervisor in its reports (every second, and
    # once more when it stops), not in an answer to a control request: nobody asks
    # between the release and its exit.
    monkeypatch.setattr(process_harness, "DEADLINE", HOLD_LIMIT)
    sock = tmp_path / "control.sock"
    config = tmp_path / "pound.cfg"
    port = free_port()
    primary = HoldingBackend()
    try:
        config.write_text(one_backend(primary.port, listen=port, global_extra=globals_of(sock)))
        with standby(config, 2) as running:
            for _ in range(METRICS_REQUESTS):
                assert http_get(port).endswith(b"hello")
            wait_until(lambda: totals(sock)["responses"] == METRICS_REQUESTS, DEADLINE, "count")
            held: list[bytes] = []
            holder = threading.Thread(
                target=lambda: held.append(http_get(port, HOLD_PATH, timeout=HOLD_LIMIT)),
                daemon=True,
            )
            holder.start()
            wait_until(primary.held.is_set, DEADLINE, "the held request at the primary")
            old = children(running.proc.pid)
            running.signal(signal.SIGHUP)
            wait_until(lambda: RELOADED in running.stderr(), DEADLINE, "the reload")
            primary.release.set()  # the old worker that holds it is draining now
            holder.join(DEADLINE)
            assert held and held[0].endswith(b"slow hello")
            wait_until(lambda: not children(running.proc.pid) & old, DEADLINE, "old ones gone")
            want = METRICS_REQUESTS + 1
            wait_until(lambda: totals(sock)["responses"] == want, DEADLINE, "all counted")
            final = totals(sock)
            assert final["requests"] == want and final["latency"] == want, final
            assert "Traceback" not in running.stderr()
    finally:
        primary.close()
