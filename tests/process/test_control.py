"""The supervisor's counters: asked of every worker over real socketpairs, summed; a worker
that does not answer in time counts as zero."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from standby.observe.metrics import LatencyHistogram
from standby.process.channel import Channel
from standby.process.control import CountsGather, Summed, histogram
from standby.process.ipc import Counts, CountsAsk, CountsDone, Message

DEADLINE = 30.0  # bounds each test's coroutine; never a timing check
A = ("inet", "127.0.0.1", 8080)
B = ("inet", "127.0.0.1", 8081)


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
    answer: bool, rows: list[tuple[tuple[str, str, int], int, int]], asked: asyncio.Event
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


async def attach(gather: CountsGather, pid: int, sock: socket.socket) -> Channel:
    loop = asyncio.get_running_loop()

    def on_message(message: Message) -> None:
        if isinstance(message, Counts):
            gather.on_counts(pid, message)
        elif isinstance(message, CountsDone):
            gather.on_done(pid, message)

    _, channel = await loop.create_unix_connection(
        lambda: Channel(on_message, lambda: gather.on_gone(pid)), sock=sock
    )
    return channel


def test_counters_are_summed_over_every_worker() -> None:
    async def main() -> dict[tuple[str, str, int | None], Summed]:
        gather = CountsGather(timeout=DEADLINE)
        ours1, _w1 = await worker_pair(True, [(A, 1, 10), (B, 0, 3)], asyncio.Event())
        ours2, _w2 = await worker_pair(True, [(A, 2, 5)], asyncio.Event())
        channels = {
            101: await attach(gather, 101, ours1),
            102: await attach(gather, 102, ours2),
        }
        return await asyncio.wait_for(gather.gather(channels), DEADLINE)

    sums = asyncio.run(main())
    assert sums[A].in_flight == 3 and sums[A].requests == 15
    assert sums[A].statuses == {200: 15} and sums[A].failovers == 2
    assert sums[A].latency.count == 15 and sums[A].latency.total == pytest.approx(1.0)
    assert sums[B].requests == 3 and sums[B].in_flight == 0


def test_a_silent_worker_counts_as_zero_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> dict[tuple[str, str, int | None], Summed]:
        gather = CountsGather(timeout=0.2)  # the silent worker never answers: any bound works
        ours1, _w1 = await worker_pair(True, [(A, 1, 10)], asyncio.Event())
        ours2, _w2 = await worker_pair(False, [], asyncio.Event())
        channels = {
            201: await attach(gather, 201, ours1),
            202: await attach(gather, 202, ours2),
        }
        return await asyncio.wait_for(gather.gather(channels), DEADLINE)

    with caplog.at_level(logging.WARNING, logger="standby.process"):
        sums = asyncio.run(main())
    assert sums[A].requests == 10
    assert "pid 202 did not report" in caplog.text and "counted as zero" in caplog.text


def test_a_worker_that_exits_ends_the_wait(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> dict[tuple[str, str, int | None], Summed]:
        gather = CountsGather(timeout=DEADLINE)
        asked = asyncio.Event()
        ours, worker = await worker_pair(False, [], asked)
        channels = {301: await attach(gather, 301, ours)}
        task = asyncio.ensure_future(gather.gather(channels))
        await asyncio.wait_for(asked.wait(), DEADLINE)
        worker.close()  # its end closes: the supervisor's channel is lost
        return await asyncio.wait_for(task, DEADLINE)

    with caplog.at_level(logging.WARNING, logger="standby.process"):
        assert asyncio.run(main()) == {}
    assert "counted as zero" not in caplog.text  # its exit ended the wait, not the timeout


def test_histogram_of_another_layout_is_dropped() -> None:
    assert histogram((1, 2), 3.0).count == 0
    layout = len(LatencyHistogram().cumulative())
    rebuilt = histogram((1,) * layout, 2.0)
    assert rebuilt.count == layout and rebuilt.cumulative()[-1][1] == layout
