"""Supervision with real processes (issue 13, point 1): a worker that stops beating (stopped
with SIGSTOP, or stuck in a busy loop) is killed and replaced, and the connections that
queued on its listening socket meanwhile are answered; a slot in a crash loop does not hold
connections for its back-off. ``Workers 2``, loopback only; every wait is a condition with
a deadline, and no assertion is about how long something took (only the silence the
supervisor logs is compared with the configured timeouts). The figures, slowest answers
included, are recorded for docs/robustness.md."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.process.harness import (
    IO_TIMEOUT,
    Backend,
    Standby,
    children,
    free_port,
    http_get,
    process_gone,
    refuses,
    running_standby,
    wait_for,
)
from tests.robustness.misbehaving import recorded
from tests.support.backend import Backend as KeepAliveBackend
from tests.support.harness import Client

pytestmark = pytest.mark.timeout(180)

DEADLINE = 60.0  # generous: forks on two noisy shared cores
WORKER_TIMEOUT = 3  # seconds of silence before a worker is killed (the floor is 2)
# How long past WORKER_TIMEOUT the kill and the replacement may take before the test
# fails: an upper bound for a loaded machine, not a measurement.
MARGIN = 30.0
CONNECTIONS = 20  # new connections made while a worker is stuck, and as many after
# The crash loop: kill the slot's new workers until its restart delay is this long...
BACKOFF = 6.0
MAX_KILLS = 12  # ...which the doubling back-off reaches long before this many kills
SPIN_SIGNAL = signal.SIGUSR2  # standby does not handle it; the test's sitecustomize does
RESTARTING = re.compile(r"worker (\d+) \(pid (\d+)\) killed by SIGKILL; restarting in ([\d.]+)s")
SILENCE = re.compile(r"sent no heartbeat for ([\d.]+)s: killed")

# Installed in every standby process of the busy-loop test through PYTHONPATH: SPIN_SIGNAL
# makes the process run Python in a loop forever, as a worker stuck in a busy loop does
# (its event loop never runs again).
SITECUSTOMIZE = f"""\
import signal


def _spin(signum, frame):
    while True:
        pass


signal.signal({int(SPIN_SIGNAL)}, _spin)
"""


def config_text(port: int, backend: int, timeout: float = WORKER_TIMEOUT) -> str:
    lines = ["Daemon 0", "LogLevel 1", "Grace 5", "Workers 2", f"WorkerTimeout {timeout}"]
    lines += ["ListenHTTP", "  Address 127.0.0.1", f"  Port {port}", "  Service"]
    lines += ["    BackEnd", "      Address 127.0.0.1", f"      Port {backend}", "    End"]
    lines += ["  End", "End"]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def standby(path: Path, env: dict[str, str] | None = None) -> Iterator[Standby]:
    """standby on ``path`` (its ``Workers 2``), once both workers are forked."""
    with running_standby(path, env=env, deadline=DEADLINE) as running:
        wait_for(lambda: len(children(running.proc.pid)) == 2, "two workers", DEADLINE)
        yield running


def lines_with(running: Standby, text: str) -> list[str]:
    return [line for line in list(running.lines) if text in line]


def kills(running: Standby, pid: int | None = None) -> list[str]:
    """The supervisor's lines about killing a silent worker (``pid``'s, or any)."""
    who = f"(pid {pid}) " if pid is not None else ""
    return [line for line in lines_with(running, who) if SILENCE.search(line)]


def served_by(running: Standby, pid: int) -> bool:
    """Whether ``pid`` wrote an access log line (``-e`` names the writer)."""
    return bool(lines_with(running, f"standby[{pid}]: 127.0.0.1 GET "))


def command(test: str) -> str:
    return f"python -m pytest tests/integration/test_supervision_live.py::{test}"


class Clients:
    """``count`` requests, each on a new connection from its own thread, at once; how long
    the slowest took is a figure for the report, never checked."""

    def __init__(self, port: int, count: int) -> None:
        self.results: list[bytes] = []
        self.slowest = 0.0
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._one, args=(port,)) for _ in range(count)]
        for thread in self.threads:
            thread.start()

    def _one(self, port: int) -> None:
        start = time.monotonic()
        try:
            body = http_get(port, timeout=IO_TIMEOUT)
        except OSError as exc:
            body = f"error: {exc}".encode()
        with self._lock:
            self.results.append(body)
            self.slowest = max(self.slowest, time.monotonic() - start)

    def wait(self) -> list[bytes]:
        for thread in self.threads:
            thread.join(IO_TIMEOUT + DEADLINE)
        return self.results


def unanswered(results: list[bytes]) -> list[bytes]:
    return [body for body in results if not body.endswith(b"\r\n\r\nhello")]


@pytest.fixture
def backend() -> Iterator[Backend]:
    server = Backend()
    yield server
    server.close()


def stuck_worker_is_replaced(
    running: Standby, port: int, victim: int, stick: signal.Signals, figures: dict[str, object]
) -> None:
    """Make ``victim`` stop beating with ``stick``; check it is killed and replaced and
    that every connection made meanwhile and after is answered."""
    figures["WorkerTimeout (s)"] = WORKER_TIMEOUT
    supervisor = running.proc.pid
    workers = children(supervisor)
    (other,) = workers - {victim}
    os.kill(victim, stick)
    clients = Clients(port, CONNECTIONS)  # about half queue on the stuck worker's socket
    wait_for(
        lambda: victim not in children(supervisor) and len(children(supervisor)) == 2,
        "the stuck worker to be killed and replaced",
        WORKER_TIMEOUT + MARGIN,
    )
    (replacement,) = children(supervisor) - {other}
    assert replacement != victim
    killed = kills(running, victim)
    assert len(killed) == 1, running.stderr()
    assert len(kills(running)) == 1  # the other one beats
    silence = SILENCE.search(killed[0])
    assert silence is not None, killed[0]
    figures["silence when killed (s)"] = float(silence[1])
    assert f"worker pid {victim}" not in killed[0]  # named by its slot
    assert lines_with(running, f"(pid {victim}) killed by SIGKILL; restarting in ")
    results = clients.wait()
    figures["connections while stuck"] = len(results)
    figures["answered"] = len(results) - len(unanswered(results))
    figures["slowest answer (s)"] = round(clients.slowest, 2)
    assert len(results) == CONNECTIONS
    assert unanswered(results) == [], running.stderr()
    after = Clients(port, CONNECTIONS).wait()
    figures["connections after, answered"] = f"{CONNECTIONS - len(unanswered(after))}/{CONNECTIONS}"
    assert unanswered(after) == [], running.stderr()
    assert running.proc.poll() is None
    assert other in children(supervisor)  # the healthy worker was left alone


def test_a_stopped_worker_is_killed_and_replaced_and_its_queue_answered(
    tmp_path: Path, backend: Backend
) -> None:
    port = free_port()
    path = tmp_path / "pound.cfg"
    path.write_text(config_text(port, backend.port))
    name = "test_a_stopped_worker_is_killed_and_replaced_and_its_queue_answered"
    with (
        recorded("supervision: a stopped worker (SIGSTOP), Workers 2", command(name)) as figures,
        standby(path) as running,
    ):
        victim = min(children(running.proc.pid))
        stuck_worker_is_replaced(running, port, victim, signal.SIGSTOP, figures)


def test_a_worker_in_a_busy_loop_is_killed_and_replaced_and_its_queue_answered(
    tmp_path: Path, backend: Backend
) -> None:
    port = free_port()
    path = tmp_path / "pound.cfg"
    path.write_text(config_text(port, backend.port))
    spin = tmp_path / "spin"
    spin.mkdir()
    (spin / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(spin), env.get("PYTHONPATH")]))
    name = "test_a_worker_in_a_busy_loop_is_killed_and_replaced_and_its_queue_answered"
    with (
        recorded("supervision: a worker in a busy loop, Workers 2", command(name)) as figures,
        standby(path, env) as running,
    ):
        victim = max(children(running.proc.pid))
        stuck_worker_is_replaced(running, port, victim, SPIN_SIGNAL, figures)


def test_a_reload_applies_a_new_worker_timeout(tmp_path: Path, backend: Backend) -> None:
    port = free_port()
    path = tmp_path / "pound.cfg"
    long_timeout = 60
    path.write_text(config_text(port, backend.port, timeout=long_timeout))
    with standby(path) as running:
        path.write_text(config_text(port, backend.port))
        before = children(running.proc.pid)
        running.signal(signal.SIGHUP)
        wait_for(
            lambda: (
                bool(lines_with(running, "]: configuration reloaded"))
                and not children(running.proc.pid) & before
                and len(children(running.proc.pid)) == 2
            ),
            "the reload's new workers",
            DEADLINE,
        )
        victim = min(children(running.proc.pid))
        os.kill(victim, signal.SIGSTOP)
        wait_for(
            lambda: bool(kills(running, victim)),
            "the stopped worker to be killed",
            long_timeout,
        )
        (line,) = kills(running, victim)
        match = SILENCE.search(line)
        assert match is not None, line
        # Killed for the new timeout's silence, not the old one's.
        assert WORKER_TIMEOUT <= float(match[1]) < long_timeout


def test_a_crash_looping_slot_does_not_hold_connections_for_its_back_off(
    tmp_path: Path, backend: Backend
) -> None:
    port = free_port()
    path = tmp_path / "pound.cfg"
    path.write_text(config_text(port, backend.port))
    name = "test_a_crash_looping_slot_does_not_hold_connections_for_its_back_off"
    with (
        recorded("supervision: a crash-looping worker slot, Workers 2", command(name)) as figures,
        standby(path) as running,
    ):
        supervisor = running.proc.pid
        keeper = max(children(supervisor))
        delay = 0.0
        kills = 0
        # Kill each new worker of the other slot as soon as it appears.
        while delay < BACKOFF:
            assert kills < MAX_KILLS, running.stderr()
            found: list[int] = []

            def appeared(found: list[int] = found) -> bool:
                found[:] = list(children(supervisor) - {keeper})
                return len(found) == 1

            wait_for(appeared, "the slot's next worker", DEADLINE)
            victim = found[0]
            os.kill(victim, signal.SIGKILL)
            kills += 1
            wait_for(
                lambda victim=victim: bool(lines_with(running, f"(pid {victim}) killed by")),
                "the supervisor to see it",
                DEADLINE,
            )
            (line,) = lines_with(running, f"(pid {victim}) killed by")
            match = RESTARTING.search(line)
            assert match is not None, line
            delay = float(match[3])
        # The slot now waits `delay` seconds with no worker; its socket still takes about
        # half of the new connections. All are answered, and before its restart.
        clients = Clients(port, CONNECTIONS)
        results = clients.wait()
        restarted = children(supervisor) != {keeper}
        figures["workers killed"] = kills
        figures["restart delay (s)"] = delay
        figures["connections during it"] = len(results)
        figures["answered before the restart"] = (
            0 if restarted else CONNECTIONS - len(unanswered(results))
        )
        figures["slowest answer (s)"] = round(clients.slowest, 2)
        assert unanswered(results) == [], running.stderr()
        assert not restarted, "answered only once the slot restarted"
        assert lines_with(running, f"(pid {keeper}) accepts worker ")
        assert not lines_with(running, "sent no heartbeat")  # killed here, never for silence
        # Once it does restart, its new worker serves and the keeper lets go.
        wait_for(lambda: len(children(supervisor)) == 2, "the slot's restart", DEADLINE)
        assert unanswered(Clients(port, CONNECTIONS).wait()) == []


def test_a_worker_stalled_briefly_is_left_alone_and_its_queue_served_meanwhile(
    tmp_path: Path, backend: Backend
) -> None:
    """Two beats missed: another worker takes the quiet worker's connections at once,
    long before WorkerTimeout; once it beats again it serves its own."""
    port = free_port()
    path = tmp_path / "pound.cfg"
    long_timeout = 60  # far beyond this test's life: nothing may be killed
    path.write_text(config_text(port, backend.port, timeout=long_timeout))
    name = "test_a_worker_stalled_briefly_is_left_alone_and_its_queue_served_meanwhile"
    with (
        recorded(
            "supervision: a worker stopped for a while, WorkerTimeout 60, Workers 2",
            command(name),
        ) as figures,
        standby(path) as running,
    ):
        supervisor = running.proc.pid
        victim = min(children(supervisor))
        os.kill(victim, signal.SIGSTOP)
        try:
            clients = Clients(port, CONNECTIONS)
            results = clients.wait()
            figures["connections while it is stopped"] = len(results)
            figures["answered"] = len(results) - len(unanswered(results))
            figures["slowest answer (s)"] = round(clients.slowest, 2)
            assert unanswered(results) == [], running.stderr()
            assert victim in children(supervisor)  # answered by the other, nobody killed
            assert lines_with(running, f"(pid {victim}) sent no heartbeat for ")
            assert not kills(running)
        finally:
            os.kill(victim, signal.SIGCONT)
        wait_for(
            lambda: bool(lines_with(running, f"(pid {victim}) sends heartbeats again")),
            "its heartbeats",
            DEADLINE,
        )

        def victim_serves() -> bool:
            assert http_get(port).endswith(b"\r\n\r\nhello")
            return served_by(running, victim)

        wait_for(victim_serves, "the worker to serve again", DEADLINE)
        assert not kills(running)
        assert children(supervisor) >= {victim}


def test_a_stopped_worker_does_not_hold_up_a_graceful_stop(
    tmp_path: Path, backend: Backend
) -> None:
    """SIGTERM while a worker is stopped: it cannot drain, so it is killed for its silence
    (not after Grace and the stop's slack); the other drains and standby exits 0."""
    port = free_port()
    path = tmp_path / "pound.cfg"
    path.write_text(config_text(port, backend.port))
    with standby(path) as running:
        workers = children(running.proc.pid)
        victim = min(workers)
        os.kill(victim, signal.SIGSTOP)
        running.signal(signal.SIGTERM)
        assert running.wait() == 0, running.stderr()
        assert len(kills(running, victim)) == 1, running.stderr()
        assert not lines_with(running, "did not exit after SIGKILL")


def test_a_stopped_worker_of_the_previous_configuration_is_killed_too(
    tmp_path: Path, backend: Backend
) -> None:
    """A reload replaces the workers; an old one that is stopped never drains nor exits by
    itself: its silence ends it, and only the new generation is left."""
    port = free_port()
    path = tmp_path / "pound.cfg"
    path.write_text(config_text(port, backend.port))
    with standby(path) as running:
        supervisor = running.proc.pid
        old = children(supervisor)
        victim = min(old)
        os.kill(victim, signal.SIGSTOP)
        path.write_text(config_text(port, backend.port).replace("Grace 5", "Grace 4"))
        running.signal(signal.SIGHUP)
        wait_for(
            lambda: bool(lines_with(running, "]: configuration reloaded")),
            "the reload",
            DEADLINE,
        )
        wait_for(
            lambda: not children(supervisor) & old and len(children(supervisor)) == 2,
            "only the new workers left",
            WORKER_TIMEOUT + MARGIN,
        )
        assert len(kills(running, victim)) == 1, running.stderr()
        assert unanswered(Clients(port, CONNECTIONS).wait()) == []


def test_the_workers_of_a_killed_supervisor_serve_on_then_leave(tmp_path: Path) -> None:
    # An HA pair's peer takes the floating address within a second or two of the kill
    # (docs/ha.md): until then the workers go on answering new connections, each answer
    # closing its connection, and then leave by themselves.
    port = free_port()
    path = tmp_path / "standby.cfg"
    with KeepAliveBackend("app") as backend:
        path.write_text(config_text(port, backend.port))
        with standby(path) as running:
            orphans_serve_then_leave(running, port)


def orphans_serve_then_leave(running: Standby, port: int) -> None:
    """Kill the supervisor; its workers answer a new keep-alive request, closing the
    connection, then leave by themselves and the port refuses."""
    workers = children(running.proc.pid)
    running.signal(signal.SIGKILL)
    wait_for(
        lambda: len(lines_with(running, "the supervisor is gone")) == 2,
        "both workers to notice",
        DEADLINE,
    )
    with Client(port) as client:  # HTTP/1.1, asking to keep the connection
        reply = client.request("/")
        assert (reply.status, reply.body) == (200, b"app")
        assert reply.header(b"connection") == b"close"
        assert client.read_all() == b""  # and the server closed it (a timeout raises)
    wait_for(lambda: all(process_gone(pid) for pid in workers), "them to leave", DEADLINE)
    assert refuses(port)
