"""A worker's side of the IPC asking the supervisor for the whole service's metrics, over
a real socket pair: the text in any number of pieces, shared by concurrent scrapes, a
supervisor gone, no answer; and its counters pushed when they changed."""

from __future__ import annotations

import asyncio
import socket
from types import SimpleNamespace
from typing import Any

import pytest
import uvloop

from standby.clock import SystemClock
from standby.config import load_config_text
from standby.health.board import HealthBoard
from standby.observe.metrics import LATENCY_BUCKETS
from standby.process import worker
from standby.process.channel import Channel
from standby.process.ipc import (
    CountsAsk,
    CountsDone,
    CountsPush,
    Message,
    MetricsAsk,
    metrics_parts,
)
from standby.process.supervision import backends_of
from standby.process.worker import WorkerLink
from standby.server.stats import BackendCounters

DEADLINE = 30.0  # bounds a wait for messages; never a timing check

TEXT = "# TYPE pound_uptime gauge\n" + "x" * 10_000 + "\n# EOF\n"  # several parts


async def linked(
    answer: bool, share: float = 0.0
) -> tuple[WorkerLink, Channel, list[Message], asyncio.Event]:
    """A WorkerLink (sharing a text for ``share`` seconds) on one end of a socket pair; on
    the other a supervisor's channel that answers every MetricsAsk with TEXT when
    ``answer``, records what it got and sets the event returned when a MetricsAsk arrives."""
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair()
    got: list[Message] = []
    asked = asyncio.Event()
    supervisor: Channel | None = None

    def on_message(message: Message) -> None:
        got.append(message)
        if isinstance(message, MetricsAsk):
            asked.set()
        if answer and isinstance(message, MetricsAsk) and supervisor is not None:
            for part in metrics_parts(message.serial, TEXT):
                supervisor.send(part)

    _, supervisor = await loop.create_unix_connection(
        lambda: Channel(on_message, lambda: None), sock=theirs
    )
    proxy: Any = SimpleNamespace(board=HealthBoard(SystemClock()))
    link = WorkerLink(proxy, [], lambda: None, metrics_share=share)
    _, link.channel = await loop.create_unix_connection(
        lambda: Channel(link.on_message, link.on_lost), sock=ours
    )
    return link, supervisor, got, asked


def test_the_text_comes_whole_and_twice() -> None:
    async def main() -> None:
        link, supervisor, got, _ = await linked(answer=True)
        try:
            assert await link.whole_metrics() == TEXT
            assert await link.whole_metrics() == TEXT
            assert [m.serial for m in got if isinstance(m, MetricsAsk)] == [1, 2]
        finally:
            link.close()
            supervisor.close()

    uvloop.run(main())


def test_scrapes_share_one_ask_and_its_text_within_the_interval() -> None:
    async def main() -> None:
        link, supervisor, got, _ = await linked(answer=True, share=3600.0)
        try:
            texts = await asyncio.gather(*(link.whole_metrics() for _ in range(16)))
            assert texts == [TEXT] * 16
            assert await link.whole_metrics() == TEXT  # later, within the interval
            assert [m.serial for m in got if isinstance(m, MetricsAsk)] == [1]
        finally:
            link.close()
            supervisor.close()

    uvloop.run(main())


def test_a_supervisor_gone_gives_none_at_once() -> None:
    async def main() -> None:
        link, supervisor, _, asked = await linked(answer=False)
        try:
            asking = asyncio.ensure_future(link.whole_metrics())
            async with asyncio.timeout(worker.METRICS_TIMEOUT / 2):
                await asked.wait()
            supervisor.close()
            async with asyncio.timeout(worker.METRICS_TIMEOUT / 2):
                assert await asking is None
            assert await link.whole_metrics() is None  # nobody left to ask
        finally:
            link.close()

    uvloop.run(main())


def test_no_answer_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker, "METRICS_TIMEOUT", 0.2)

    async def main() -> None:
        link, supervisor, got, _ = await linked(answer=False)
        try:
            assert await link.whole_metrics() is None
            assert any(isinstance(m, MetricsAsk) for m in got)
        finally:
            link.close()
            supervisor.close()

    uvloop.run(main())


def test_counters_are_pushed_when_they_changed_and_only_then() -> None:
    config = load_config_text(
        "ListenHTTP\n Address 127.0.0.1\n Port 80\n Service\n"
        "  BackEnd\n   Address 127.0.0.1\n   Port 8080\n  End\n"
        "  BackEnd\n   Address 127.0.0.1\n   Port 8081\n  End\n End\nEnd\n",
        "pound.cfg",
        "/",
    )
    backends = backends_of(config)
    counters = {spec.identity: BackendCounters() for spec in backends}
    first = counters[backends[0].identity]

    async def main() -> list[Message]:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()
        got: list[Message] = []
        marker = asyncio.Event()

        def on_message(message: Message) -> None:
            got.append(message)
            if isinstance(message, CountsDone) and message.serial == 99:
                marker.set()

        _, supervisor = await loop.create_unix_connection(
            lambda: Channel(on_message, lambda: None), sock=theirs
        )
        proxy: Any = SimpleNamespace(
            board=HealthBoard(SystemClock()), counters_of=lambda spec: counters[spec.identity]
        )
        link = WorkerLink(proxy, backends, lambda: None)
        _, link.channel = await loop.create_unix_connection(
            lambda: Channel(link.on_message, link.on_lost), sock=ours
        )
        try:
            link.push_counts()  # the first report: every backend
            first.requests += 3
            first.by_status[200] += 3
            first.latency.observe(0.01)
            link.push_counts()  # only the one that changed
            first.in_flight += 1
            link.push_counts()  # a gauge alone is not worth a push: nothing
            first.requests += 1
            link.on_message(CountsAsk(7))  # answered with everything...
            link.push_counts()  # ...so nothing is left to push
            link.on_message(CountsAsk(99))  # the marker: all of the above has arrived
            await asyncio.wait_for(marker.wait(), DEADLINE)
        finally:
            link.close()
            supervisor.close()
        return got

    got = uvloop.run(main())
    assert [type(m).__name__ for m in got] == [
        "CountsPush",
        "CountsPush",
        "CountsPush",
        "Counts",
        "Counts",
        "CountsDone",
        "Counts",
        "Counts",
        "CountsDone",
    ]
    pushed = got[2]
    assert isinstance(pushed, CountsPush) and pushed.identity == backends[0].identity
    assert (pushed.requests, pushed.statuses) == (3, ((200, 3),))
    assert pushed.latency[LATENCY_BUCKETS.index(0.01)] == 1
