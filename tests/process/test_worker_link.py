"""A worker's side of the IPC asking the supervisor for the whole service's metrics, over
a real socket pair: the text in any number of pieces, a supervisor gone, no answer."""

from __future__ import annotations

import asyncio
import socket
from types import SimpleNamespace
from typing import Any

import pytest
import uvloop

from standby.clock import SystemClock
from standby.health.board import HealthBoard
from standby.process import worker
from standby.process.channel import Channel
from standby.process.ipc import Message, MetricsAsk, metrics_parts
from standby.process.worker import WorkerLink

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
