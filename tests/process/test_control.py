"""The supervisor's control side: requests in flight asked of every worker over real
socketpairs (a worker that does not answer makes them unknown, never zero), counters from
the ledger, and the metrics text shared by concurrent scrapes."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from standby.clock import FakeClock, SystemClock
from standby.control import api
from standby.control.view import ObjectPath
from standby.health.board import HealthBoard
from standby.model import BackendSpec, ConfigSpec
from standby.observe.metrics import LatencyHistogram
from standby.process.channel import Channel
from standby.process.control import (
    CountsGather,
    Gathered,
    SharedMetrics,
    SupervisorControl,
    SupervisorView,
    row_of,
)
from standby.process.ipc import Counts, CountsAsk, CountsDone, Message
from standby.process.ledger import Ledger
from standby.process.supervision import backends_of
from tests.control.fakes import load
from tests.control.harness import exchange, short_dir, split

DEADLINE = 30.0  # bounds each test's coroutine; never a timing check
A = ("inet", "127.0.0.1", 8080)
B = ("inet", "127.0.0.1", 8081)
Rows = list[tuple[tuple[str, str, int], int, int]]


def counts(serial: int, identity: tuple[str, str, int], in_flight: int, requests: int) -> Counts:
    return Counts(
        serial,
        identity,
        in_flight=in_flight,
        requests=requests,
        failovers=1,
        resends=0,
        statuses=((200, requests),),
        latency=(requests,) + (0,) * (len(LatencyHistogram().cumulative()) - 1),
        latency_sum=0.5,
    )


async def worker_pair(
    answer: bool, rows: Rows, asked: asyncio.Event
) -> tuple[socket.socket, Channel]:
    """(supervisor's socket, worker's channel); the worker answers ``CountsAsk`` with
    ``rows`` if ``answer`` (else it stays silent) and sets ``asked``."""
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair()
    worker: list[Channel] = []

    def on_message(message: Message) -> None:
        if isinstance(message, CountsAsk):
            asked.set()
        if answer and isinstance(message, CountsAsk):
            for identity, in_flight, requests in rows:
                worker[0].send(counts(message.serial, identity, in_flight, requests))
            worker[0].send(CountsDone(message.serial))

    _, theirs_channel = await loop.create_unix_connection(
        lambda: Channel(on_message, lambda: None), sock=theirs
    )
    worker.append(theirs_channel)
    return ours, theirs_channel


async def attach(
    gather: CountsGather, pid: int, sock: socket.socket, ledger: Ledger | None = None
) -> Channel:
    """The supervisor's end of a worker's socketpair, routed as the supervisor does."""
    loop = asyncio.get_running_loop()
    if ledger is not None:
        ledger.open(pid)

    def on_message(message: Message) -> None:
        if isinstance(message, Counts):
            if ledger is not None:
                ledger.update(pid, message.identity, row_of(message))
            gather.on_counts(pid, message)
        elif isinstance(message, CountsDone):
            gather.on_done(pid, message)

    _, channel = await loop.create_unix_connection(
        lambda: Channel(on_message, lambda: gather.on_gone(pid)), sock=sock
    )
    return channel


def test_requests_in_flight_are_summed_over_every_worker() -> None:
    async def main() -> Gathered:
        gather = CountsGather(timeout=DEADLINE)
        ours1, _w1 = await worker_pair(True, [(A, 1, 10), (B, 0, 3)], asyncio.Event())
        ours2, _w2 = await worker_pair(True, [(A, 2, 5)], asyncio.Event())
        channels = {
            101: await attach(gather, 101, ours1),
            102: await attach(gather, 102, ours2),
        }
        return await asyncio.wait_for(gather.gather(channels), DEADLINE)

    gathered = asyncio.run(main())
    assert gathered == Gathered({A: 3, B: 0}, ())


def test_a_silent_worker_is_named_never_counted_as_zero(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> Gathered:
        gather = CountsGather(timeout=0.2)  # the silent worker never answers: any bound works
        ours1, _w1 = await worker_pair(True, [(A, 1, 10)], asyncio.Event())
        ours2, _w2 = await worker_pair(False, [], asyncio.Event())
        channels = {
            201: await attach(gather, 201, ours1),
            202: await attach(gather, 202, ours2),
        }
        return await asyncio.wait_for(gather.gather(channels), DEADLINE)

    with caplog.at_level(logging.WARNING, logger="standby.process"):
        gathered = asyncio.run(main())
    assert gathered.unanswered == (202,)
    assert gathered.in_flight == {A: 1}  # what the others said: a lower bound, not the figure
    assert "pid 202 did not report" in caplog.text and "unknown" in caplog.text


def test_a_worker_that_exits_ends_the_wait(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> Gathered:
        gather = CountsGather(timeout=DEADLINE)
        asked = asyncio.Event()
        ours, worker = await worker_pair(False, [], asked)
        channels = {301: await attach(gather, 301, ours)}
        task = asyncio.ensure_future(gather.gather(channels))
        await asyncio.wait_for(asked.wait(), DEADLINE)
        worker.close()  # its end closes: the supervisor's channel is lost
        return await asyncio.wait_for(task, DEADLINE)

    with caplog.at_level(logging.WARNING, logger="standby.process"):
        # Gone is not silent: nothing of it is in flight any more.
        assert asyncio.run(main()) == Gathered({}, ())
    assert "did not report" not in caplog.text  # its exit ended the wait, not the timeout


# -- the supervisor's view ------------------------------------------------------------------

CONFIG = """\
ListenHTTP
  Address 127.0.0.1
  Port 80
  Service
    BackEnd
      Address 127.0.0.1
      Port 8080
    End
    BackEnd
      Address 127.0.0.1
      Port 8081
    End
  End
End
"""


class FakeSupervisor:
    """What ``SupervisorView`` reads of a supervisor: its config, board and channels."""

    def __init__(self, config: ConfigSpec, channels: dict[int, Channel]) -> None:
        self._config = config
        self.channels = channels
        self.board = HealthBoard(SystemClock())
        self.board.register_all(backends_of(config))
        self.started_wall = 1_700_000_000.0
        self.keep_alive = True  # `standbyctl keepalive` (tests/ha/test_keepalive.py)

    @property
    def config(self) -> ConfigSpec:
        return self._config

    @property
    def worker_count(self) -> int:
        return len(self.channels)

    def listener_on(self, index: int) -> bool:
        return True

    def service_on(self, listener: int | None, service: int) -> bool:
        return True

    def switch(self, listener: int | None, service: int | None, enabled: bool) -> None:
        raise AssertionError("not used here")

    def operate(self, spec: BackendSpec, *, enabled: bool | None, draining: bool | None) -> None:
        raise AssertionError("not used here")

    def transitions_of(self, spec: BackendSpec) -> int:
        return 0

    def worker_channels(self) -> dict[int, Channel]:
        return dict(self.channels)

    async def reload(self) -> tuple[bool, str]:
        return False, "not here"


async def view_with(silent: bool) -> tuple[SupervisorView, Ledger]:
    """A view over two workers (pids 11 and 12); worker 12 stays silent if ``silent``.
    Worker 12 reported 7 requests to A before (the ledger has them)."""
    gather = CountsGather(timeout=0.2 if silent else DEADLINE)
    ledger = Ledger()
    ours1, _w1 = await worker_pair(True, [(A, 1, 10), (B, 0, 3)], asyncio.Event())
    ours2, _w2 = await worker_pair(not silent, [(A, 2, 9)], asyncio.Event())
    channels = {
        11: await attach(gather, 11, ours1, ledger),
        12: await attach(gather, 12, ours2, ledger),
    }
    ledger.update(12, A, row_of(counts(0, A, 0, 7)))
    view = SupervisorView(FakeSupervisor(load(CONFIG), channels), gather, ledger)
    await asyncio.wait_for(view.refresh(), DEADLINE)
    return view, ledger


def test_view_reports_unknown_in_flight_and_the_last_counters_of_a_silent_worker() -> None:
    async def main() -> dict[str, Any]:
        view, _ = await view_with(silent=True)
        state = view.backend_state(ObjectPath(0, 0, 0))
        assert state.in_flight is None and state.unanswered == (12,)
        assert state.requests == 10 + 7  # worker 12 as it last reported, never zero
        assert view.core().unanswered == (12,)
        reply = api.handle(view, "GET", "/listener/0/service/0/backend/0", b"", 0.0)
        assert isinstance(reply, api.Reply)
        obj: dict[str, Any] = json.loads(reply.body)
        metrics = api.handle(view, "GET", "/metrics", b"", 0.0)
        assert isinstance(metrics, api.Reply)
        obj["metrics"] = metrics.body.decode()
        return obj

    obj = asyncio.run(main())
    assert obj["in_flight"] is None and obj["unanswered"] == [12] and obj["requests"] == 17
    assert "standby_workers_unanswered 1\n" in obj["metrics"]
    assert "standby_backend_in_flight{" not in obj["metrics"]  # unknown: no sample at all


def test_view_with_every_worker_answering() -> None:
    async def main() -> tuple[int | None, int, tuple[int, ...]]:
        view, _ = await view_with(silent=False)
        state = view.backend_state(ObjectPath(0, 0, 0))
        return state.in_flight, state.requests, state.unanswered

    assert asyncio.run(main()) == (3, 19, ())  # worker 12's answer replaced its older report


# -- shared metrics ---------------------------------------------------------------------------


class Collector:
    """A collection that waits for the test to let it finish."""

    def __init__(self) -> None:
        self.started = 0
        self.release = asyncio.Event()
        self.fail: Exception | None = None

    async def __call__(self) -> str:
        self.started += 1
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return f"text {self.started}\n"


def run(coro: Callable[[], Awaitable[None]]) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(coro(), DEADLINE)

    asyncio.run(bounded())


async def until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0)  # let the other tasks run: a condition wait


def test_concurrent_scrapes_share_one_collection() -> None:
    async def main() -> None:
        collect = Collector()
        clock = FakeClock()
        shared = SharedMetrics(collect, interval=1.0, clock=clock)
        scrapes = [asyncio.ensure_future(shared.text()) for _ in range(16)]
        await until(lambda: collect.started == 1)
        late = asyncio.ensure_future(shared.text())  # arrives while it runs: waits for it
        collect.release.set()
        texts = await asyncio.gather(*scrapes, late)
        assert set(texts) == {"text 1\n"} and collect.started == 1
        clock.advance(0.5)
        assert await shared.text() == "text 1\n"  # within the interval: the same rendering
        clock.advance(0.6)
        assert await shared.text() == "text 2\n"  # past it: a new collection
        assert shared.collections == 2

    run(main)


def test_a_scrape_that_leaves_does_not_cancel_the_others() -> None:
    async def main() -> None:
        collect = Collector()
        shared = SharedMetrics(collect, interval=1.0, clock=FakeClock())
        leaving = asyncio.ensure_future(shared.text())
        staying = asyncio.ensure_future(shared.text())
        await until(lambda: collect.started == 1)
        leaving.cancel()
        collect.release.set()
        assert await staying == "text 1\n"
        assert leaving.cancelled()

    run(main)


def test_a_failed_collection_fails_its_waiters_and_the_next_scrape_collects_again() -> None:
    async def main() -> None:
        collect = Collector()
        collect.fail = RuntimeError("broken")
        shared = SharedMetrics(collect, interval=1.0, clock=FakeClock())
        first = asyncio.ensure_future(shared.text())
        await until(lambda: collect.started == 1)
        collect.release.set()
        with pytest.raises(RuntimeError):
            await first
        collect.fail = None
        assert await shared.text() == "text 2\n"

    run(main)


def test_the_control_socket_answers_metrics_from_the_shared_rendering() -> None:
    async def main(path: Path) -> list[bytes]:
        collect = Collector()
        collect.release.set()
        shared = SharedMetrics(collect, interval=3600.0, clock=FakeClock())
        view, _ = await view_with(silent=False)
        server = SupervisorControl(str(path), view, shared, mode=0o600, clock=SystemClock())
        await server.start()
        try:
            request = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
            bodies = await asyncio.gather(*(exchange(path, request) for _ in range(8)))
            bodies.append(await exchange(path, b"GET /metrics/?x=1 HTTP/1.1\r\nHost: x\r\n\r\n"))
            # Anything else is decided by the API as before.
            bodies.append(await exchange(path, b"PUT /metrics HTTP/1.1\r\nHost: x\r\n\r\n"))
        finally:
            await server.stop()
        assert collect.started == 1
        return bodies

    with short_dir() as d:
        replies = asyncio.run(asyncio.wait_for(main(d / "ctl.sock"), DEADLINE))
    for reply in replies[:-1]:
        status, headers, body = split(reply)
        assert (status, body) == (200, b"text 1\n")
        assert headers["content-type"].startswith("application/openmetrics-text")
    assert split(replies[-1])[0] == 405
