"""The prober's HTTP checks against real loopback servers (inet and UNIX sockets)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from tests.health.test_prober import FAST_ALIVE, RecordingBoard, run, wait_until

from standby.clock import SystemClock
from standby.config.pattern import compile_pattern
from standby.health import HealthBoard, Transition
from standby.health.prober import Prober
from standby.model import BackendKind, BackendSpec, HealthCheckSpec

__all__ = ["run"]  # the event-loop fixture, parametrised over asyncio and uvloop

Run = Callable[[Coroutine[Any, Any, None]], None]


class CheckServer:
    """An HTTP server on loopback that answers every request with ``status`` and ``body``
    (or never answers, when ``hang``), recording the request heads it received."""

    def __init__(self, status: int = 200, body: bytes = b"ok") -> None:
        self.status = status
        self.body = body
        self.hang = False
        self.heads: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            self.heads.append(head)
            if self.hang:
                await reader.read()  # until the prober gives up and closes
                return
            body = b"" if head.startswith(b"HEAD ") else self.body
            writer.write(
                b"HTTP/1.1 %d Whatever\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                % (self.status, len(self.body), body)
            )
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def start_inet(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def start_unix(self, path: str) -> None:
        self.server = await asyncio.start_unix_server(self._serve, path)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


def inet(
    port: int, check: HealthCheckSpec | None = None, rise: int = 2, fall: int = 2
) -> BackendSpec:
    return BackendSpec(
        kind=BackendKind.PROXY,
        address="127.0.0.1",
        port=port,
        conn_timeout=5.0,
        timeout=5.0,
        check=check,
        rise=rise,
        fall=fall,
    )


async def with_prober(
    board: HealthBoard, scenario: Callable[[], Coroutine[Any, Any, None]]
) -> None:
    prober = Prober(board, SystemClock())
    prober.start()
    try:
        await scenario()
    finally:
        await prober.stop()


def test_a_backend_answering_503_stays_down_then_returns_after_rise(run: Run) -> None:
    board = RecordingBoard(FAST_ALIVE)
    server = CheckServer(status=503)
    seen: list[Transition] = []
    board.subscribe(seen.append)

    async def scenario() -> None:
        spec = inet(await server.start_inet(), fall=1)

        async def steps() -> None:
            # What the shell reports when the primary answers 503 (WordPress maintenance).
            board.observe_failure(spec, "status 503", http_level=True)
            await wait_until(lambda: len(board.probe_results(spec)) >= 3, "3 checks ran")
            assert not board.is_alive(spec)  # a TCP connect would have brought it back
            assert all(r == (False, "check got status 503") for r in board.probe_results(spec))
            server.status = 200
            await wait_until(lambda: board.is_alive(spec), "the backend is back")

        await with_prober(board, steps)
        await server.close()
        head = server.heads[0].decode()
        assert head.startswith("HEAD / HTTP/1.1\r\n")
        # The backend's own address: never a Host a client chose (issue 13 point 6c).
        assert f"\r\nHost: 127.0.0.1:{spec.port}\r\n" in head
        assert "\r\nConnection: close\r\n" in head
        assert board.probe_results(spec)[-2:] == [(True, "check got status 200")] * 2

    run(scenario())
    assert [(t.alive, t.reason) for t in seen] == [
        (False, "status 503"),
        (True, "check got status 200 (2 good checks in a row)"),
    ]


def test_configured_checks_watch_live_backends_with_a_body_pattern(run: Run) -> None:
    board = RecordingBoard(FAST_ALIVE)
    server = CheckServer(status=200, body=b"<p>all good</p>")
    check = HealthCheckSpec(
        method=b"GET",
        path=b"/health?deep=1",
        host=b"check.example:8080",
        statuses=((200, 200),),
        body=compile_pattern("all good"),
        interval=0.05,
        timeout=5.0,
        rise=2,
        fall=2,
    )
    seen: list[Transition] = []
    board.subscribe(seen.append)

    async def scenario() -> None:
        spec = inet(await server.start_inet(), check=check)
        board.register(spec)

        async def steps() -> None:
            await wait_until(lambda: len(board.probe_results(spec)) >= 3, "3 checks of a live one")
            assert board.is_alive(spec)
            server.body = b"<p>database error</p>"
            await wait_until(lambda: not board.is_alive(spec), "the backend is out")

        await with_prober(board, steps)
        await server.close()
        head = server.heads[0].decode()
        assert head.startswith("GET /health?deep=1 HTTP/1.1\r\n")
        assert "\r\nHost: check.example:8080\r\n" in head

    run(scenario())
    assert [(t.alive, t.reason) for t in seen] == [
        (False, "check got status 200 without the expected body (2 failures in a row)")
    ]


def test_a_check_that_gets_no_answer_times_out(run: Run) -> None:
    board = RecordingBoard(FAST_ALIVE)
    server = CheckServer()
    server.hang = True
    check = HealthCheckSpec(interval=0.05, timeout=0.2, fall=1)

    async def scenario() -> None:
        spec = inet(await server.start_inet(), check=check, fall=1)
        board.register(spec)

        async def steps() -> None:
            await wait_until(lambda: len(board.probe_results(spec)) >= 2, "2 checks ended")

        await with_prober(board, steps)
        await server.close()
        assert board.probe_results(spec)[:2] == [(False, "check timed out after 0.2 s")] * 2
        assert not board.is_alive(spec)

    run(scenario())


def test_a_refused_check_and_a_bad_answer_fail(run: Run) -> None:
    board = RecordingBoard(FAST_ALIVE)
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        closed = free.getsockname()[1]
    check = HealthCheckSpec(interval=0.05, timeout=5.0, fall=1)

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"SMTP ready\r\n\r\n")
        await writer.drain()
        writer.close()

    async def scenario() -> None:
        server = await asyncio.start_server(garbage, "127.0.0.1", 0)
        refused = inet(closed, check=check, fall=1)
        odd = inet(server.sockets[0].getsockname()[1], check=check, fall=1)
        board.register_all([refused, odd])

        async def steps() -> None:
            await wait_until(
                lambda: bool(board.probe_results(refused) and board.probe_results(odd)),
                "both checked",
            )

        await with_prober(board, steps)
        server.close()
        await server.wait_closed()
        assert board.probe_results(refused)[0] == (False, "check failed: Connection refused")
        assert board.probe_results(odd)[0] == (False, "check got no valid HTTP status line")

    run(scenario())


def test_http_checks_over_a_unix_socket(run: Run, tmp_path: Path) -> None:
    board = RecordingBoard(FAST_ALIVE)
    server = CheckServer(status=204, body=b"")
    path = str(tmp_path / "backend.sock")
    check = HealthCheckSpec(statuses=((204, 204),), interval=0.05, timeout=5.0)
    spec = BackendSpec(
        kind=BackendKind.PROXY, address=path, unix=True, conn_timeout=5.0, check=check
    )

    async def scenario() -> None:
        await server.start_unix(path)
        board.mark_dead(spec, "connection refused")

        async def steps() -> None:
            await wait_until(lambda: board.is_alive(spec), "the unix backend is back")

        await with_prober(board, steps)
        await server.close()
        assert "\r\nHost: localhost\r\n" in server.heads[0].decode()

    run(scenario())
    assert board.probe_results(spec)[-2:] == [(True, "check got status 204")] * 2
