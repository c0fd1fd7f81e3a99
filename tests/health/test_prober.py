"""The prober against real loopback sockets (no network mocks, no sleeping to sync)."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvloop

from standby.clock import SystemClock
from standby.health import HealthBoard, State
from standby.health.prober import PROBE_OK, Prober
from standby.model import BackendKind, BackendSpec

DEADLINE = 20.0  # generous: the machine is shared and noisy
FAST_ALIVE = 0.05  # probe often so tests finish quickly; nothing asserts timing
POLL = 0.01  # how often wait_until re-checks its condition


class RecordingBoard:
    """A real HealthBoard that also remembers every check result it was told: a wrapper,
    since the board is a compiled class (standby/compiled.py) and cannot be subclassed."""

    def __init__(self, alive: float) -> None:
        self.board = HealthBoard(SystemClock(), alive_interval=alive)
        self.results: list[tuple[int | str | None, bool, str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.board, name)

    def check_failed(self, spec: BackendSpec, reason: str) -> Any:
        self.results.append((spec.port or spec.address, False, reason))
        return self.board.check_failed(spec, reason)

    def check_passed(self, spec: BackendSpec, reason: str) -> Any:
        self.results.append((spec.port or spec.address, True, reason))
        return self.board.check_passed(spec, reason)

    def probe_results(self, spec: BackendSpec) -> list[tuple[bool, str]]:
        key = spec.port or spec.address
        return [(ok, why) for k, ok, why in self.results if k == key]


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Callable[[Coroutine[Any, Any, None]], None]:
    factory = uvloop.new_event_loop if request.param == "uvloop" else asyncio.new_event_loop

    def runner(coro: Coroutine[Any, Any, None]) -> None:
        async def bounded() -> None:  # in the main task: no wrapper task to account for
            async with asyncio.timeout(DEADLINE * 2):
                await coro

        with asyncio.Runner(loop_factory=factory) as r:
            r.run(bounded())

    return runner


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(POLL)


def inet(port: int, conn_timeout: float = 5.0) -> BackendSpec:
    return BackendSpec(
        kind=BackendKind.PROXY, address="127.0.0.1", port=port, conn_timeout=conn_timeout
    )


@contextmanager
def listening(port: int = 0, backlog: int = 16) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(backlog)
    try:
        yield sock
    finally:
        sock.close()


def closed_port() -> int:
    with listening() as sock:
        port: int = sock.getsockname()[1]
    return port


def accept_queue_length(port: int) -> int:
    """Connections waiting in a listening socket's accept queue (Linux /proc/net/tcp)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].split(":")[1], 16)
        if local_port == port and fields[3] == "0A":  # 0A = LISTEN
            return int(fields[4].split(":")[1], 16)
    raise LookupError(f"no listener on port {port}")


@contextmanager
def full_backlog() -> Iterator[int]:
    """A listener that never accepts and whose accept queue is full.

    With ``listen(0)`` Linux queues one connection; once it is there, new SYNs are
    dropped (not refused), so a connect hangs, retrying SYNs for minutes: exactly a
    server that is up but not answering. We wait for the queue to be seen full in
    /proc rather than assume the filler's handshake has been processed."""
    if not Path("/proc/net/tcp").exists():
        pytest.skip("needs Linux /proc/net/tcp to see the accept queue")
    with listening(backlog=0) as sock:
        port: int = sock.getsockname()[1]
        filler = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
        try:
            deadline = time.monotonic() + DEADLINE
            while accept_queue_length(port) < 1:  # poll a condition, with a deadline
                assert time.monotonic() < deadline, "the filler never reached the queue"
                time.sleep(POLL)
            yield port
        finally:
            filler.close()


def test_a_closed_port_stays_dead(
    run: Callable[[Coroutine[Any, Any, None]], None], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="standby.health")
    board = RecordingBoard(FAST_ALIVE)
    spec = inet(closed_port())

    async def scenario() -> None:
        prober = Prober(board, SystemClock())
        prober.start()
        try:
            board.mark_dead(spec, "connect refused")  # as the server would report it
            await wait_until(lambda: len(board.probe_results(spec)) >= 3, "3 probes ran")
        finally:
            await prober.stop()

    run(scenario())
    assert not board.is_alive(spec)
    for ok, why in board.probe_results(spec):
        assert not ok
        assert why.startswith("probe failed:")
    records = [r for r in caplog.records if r.name == "standby.health"]
    assert [(r.levelno, r.getMessage()) for r in records] == [
        (logging.WARNING, f"backend 127.0.0.1:{spec.port} is dead: connect refused")
    ]


def test_a_listening_port_is_resurrected(
    run: Callable[[Coroutine[Any, Any, None]], None], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="standby.health")
    board = RecordingBoard(FAST_ALIVE)
    port = closed_port()
    spec = inet(port)

    async def scenario() -> None:
        prober = Prober(board, SystemClock())
        prober.start()
        try:
            board.mark_dead(spec, "connect refused")
            await wait_until(lambda: len(board.probe_results(spec)) >= 1, "a probe failed")
            assert not board.is_alive(spec)
            with listening(port):  # the primary comes back on its port
                await wait_until(lambda: board.is_alive(spec), "the backend is alive")
        finally:
            await prober.stop()

    run(scenario())
    assert board.probe_results(spec)[-2:] == [(True, PROBE_OK)] * 2  # Rise 2
    messages = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "standby.health"]
    assert messages == [
        (logging.WARNING, f"backend 127.0.0.1:{port} is dead: connect refused"),
        (logging.INFO, f"backend 127.0.0.1:{port} is alive: {PROBE_OK} (2 good checks in a row)"),
    ]


def test_unix_socket_backends(
    run: Callable[[Coroutine[Any, Any, None]], None], tmp_path: Path
) -> None:
    board = RecordingBoard(FAST_ALIVE)
    up_path, down_path = tmp_path / "up.sock", tmp_path / "down.sock"
    up = BackendSpec(kind=BackendKind.PROXY, address=str(up_path), unix=True, conn_timeout=5)
    down = BackendSpec(kind=BackendKind.PROXY, address=str(down_path), unix=True, conn_timeout=5)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(up_path))
    server.listen(16)

    async def scenario() -> None:
        prober = Prober(board, SystemClock())
        prober.start()
        try:
            board.mark_dead(up, "connect refused")
            board.mark_dead(down, "no such file")
            await wait_until(lambda: board.is_alive(up), "the unix backend is alive")
            await wait_until(lambda: len(board.probe_results(down)) >= 2, "2 probes failed")
        finally:
            await prober.stop()
            server.close()

    run(scenario())
    assert not board.is_alive(down)
    assert all(not ok for ok, _ in board.probe_results(down))


def test_probes_are_bounded_by_conn_timeout(
    run: Callable[[Coroutine[Any, Any, None]], None],
) -> None:
    board = RecordingBoard(FAST_ALIVE)

    async def scenario() -> None:
        with full_backlog() as port:
            spec = inet(port, conn_timeout=0.2)
            prober = Prober(board, SystemClock())
            prober.start()
            try:
                board.mark_dead(spec, "connect timed out")
                # Without the bound each probe would hang through minutes of SYN retries.
                await wait_until(lambda: len(board.probe_results(spec)) >= 2, "2 probes ended")
            finally:
                await prober.stop()
            assert not board.is_alive(spec)
            assert board.probe_results(spec)[:2] == [(False, "probe timed out after 0.2 s")] * 2

    run(scenario())


def test_probes_run_concurrently(run: Callable[[Coroutine[Any, Any, None]], None]) -> None:
    board = RecordingBoard(FAST_ALIVE)

    async def scenario() -> None:
        with full_backlog() as stuck_port, listening() as server:
            stuck = inet(stuck_port, conn_timeout=DEADLINE * 10)  # its probe never ends here
            healthy = inet(server.getsockname()[1])
            prober = Prober(board, SystemClock())
            prober.start()
            try:
                board.mark_dead(stuck, "connect timed out")
                await wait_until(lambda: _state(board, stuck) is State.PROBING, "stuck probe")
                board.mark_dead(healthy, "connect refused")
                await wait_until(lambda: board.is_alive(healthy), "the healthy one is back")
                assert _state(board, stuck) is State.PROBING  # still waiting, in parallel
            finally:
                await prober.stop()

    run(scenario())


def _state(board: HealthBoard, spec: BackendSpec) -> State:
    (row,) = [r for r in board.snapshot() if r.spec.identity == spec.identity]
    return row.state


def test_stop_cancels_probes_in_flight(
    run: Callable[[Coroutine[Any, Any, None]], None], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="standby.health")
    board = RecordingBoard(FAST_ALIVE)

    async def scenario() -> None:
        with full_backlog() as port:
            spec = inet(port, conn_timeout=DEADLINE * 10)
            prober = Prober(board, SystemClock())
            prober.start()
            with pytest.raises(RuntimeError, match="already started"):
                prober.start()
            board.mark_dead(spec, "connect timed out")
            await wait_until(lambda: _state(board, spec) is State.PROBING, "a probe in flight")
            assert prober.running
            await asyncio.wait_for(prober.stop(), DEADLINE)
            assert not prober.running
            others = asyncio.all_tasks() - {asyncio.current_task()}
            assert others == set(), others
            # Left plain dead, so a later prober would probe it again.
            assert _state(board, spec) is State.DEAD
            assert board.probe_results(spec) == []  # no result invented
            await prober.stop()  # idempotent
            board.mark_alive(spec, "operator")  # no longer logged: the prober is gone

    run(scenario())
    messages = [r.getMessage() for r in caplog.records if r.name == "standby.health"]
    assert len(messages) == 1 and "is dead" in messages[0]
