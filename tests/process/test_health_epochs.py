"""Health decisions carry an epoch (issue 13 point 6b): a worker's report that a backend
is dead, made before the supervisor's latest decision about it and arriving after it, does
not undo that decision. The board's rule alone, then a real supervisor and a real
``WorkerLink`` talking over a socket pair with the real codec."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from types import SimpleNamespace
from typing import Any

from standby.clock import FakeClock, SystemClock
from standby.config import load_config_text
from standby.health.board import HealthBoard
from standby.model import BackendSpec
from standby.process.channel import Channel
from standby.process.daemon import StartupNotifier
from standby.process.ipc import ObservedDead
from standby.process.supervision import backends_of
from standby.process.supervisor import Supervisor
from standby.process.worker import WorkerLink
from tests.support.configs import one_backend

DEADLINE = 30.0  # generous: two noisy shared cores; only an upper bound
WORKER_PID = 4242  # the pid the test's supervisor believes its one worker has
TWO_BACKENDS = """
ListenHTTP
  Address 127.0.0.1
  Port 8080
  Service
    BackEnd
      Address 127.0.0.1
      Port 9001
    End
    BackEnd
      Address 127.0.0.1
      Port 9002
    End
  End
End
"""


def spec_of(port: int) -> BackendSpec:
    return load_config_text(one_backend(port, listen=8080)).listeners[0].services[0].backends[0]


def test_the_board_ignores_a_report_older_than_its_latest_decision() -> None:
    board = HealthBoard(FakeClock())
    spec = spec_of(9001)
    assert board.epoch_of(spec) == 0
    dead = board.report_dead(spec, "connect refused", http_level=False, epoch=0)
    assert dead is not None and dead.epoch == board.epoch_of(spec) == 1
    back = board.mark_alive(spec, "check passed")  # the writer brings it back
    assert back is not None and back.epoch == 2
    for late in (0, 1):  # seen before the comeback was known: late news
        assert board.report_dead(spec, "connect refused", http_level=False, epoch=late) is None
        assert board.is_alive(spec)
    fresh = board.report_dead(spec, "connect refused", http_level=False, epoch=2)
    assert fresh is not None and not fresh.alive and board.epoch_of(spec) == 3
    assert board.health_of(spec) is not None and board.health_of(spec).epoch == 3  # type: ignore[union-attr]


async def wait(condition: Any, what: str) -> None:
    async with asyncio.timeout(DEADLINE):
        while not condition():
            await asyncio.sleep(0.01)  # polling interval of a condition wait
    assert condition(), what


def test_a_late_observed_dead_does_not_knock_out_a_backend_brought_back() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        config = load_config_text(TWO_BACKENDS)
        backends = backends_of(config)
        first, fence = backends
        supervisor = Supervisor(
            loop,
            config,
            [[]],
            None,
            backends,
            StartupNotifier(None),
            logging.NullHandler(),  # type: ignore[arg-type]
        )
        supervisor.board.subscribe(supervisor._publish)
        worker_board = HealthBoard(SystemClock())
        link = WorkerLink(SimpleNamespace(board=worker_board), backends, lambda: None)  # type: ignore[arg-type]
        ours, theirs = socket.socketpair()
        supervisor.slots[0].spawned(WORKER_PID, time.monotonic())
        _, link.channel = await loop.create_unix_connection(
            lambda: Channel(link.on_message, link.on_lost), sock=theirs
        )
        await supervisor._attach(WORKER_PID, ours, supervisor.gen)  # sends the state, then Synced
        try:
            async with asyncio.timeout(DEADLINE):
                await link.synced.wait()
            assert link.epochs == {first.identity: 0, fence.identity: 0}
            # A refused connect in the worker: reported under epoch 0, the writer agrees.
            worker_board.mark_dead(first, "connect refused")
            await wait(lambda: not supervisor.board.is_alive(first), "the report applied")
            await wait(lambda: link.epochs[first.identity] == 1, "the decision mirrored")
            # The writer brings it back (its probes passed): decision 2, sent to the worker.
            supervisor.board.mark_alive(first, "probe connected")
            await wait(lambda: worker_board.is_alive(first), "the comeback mirrored")
            # A report the worker sent before decision 2 reached it arrives now.
            link.channel.send(ObservedDead(first.identity, "connect refused", False, 1))
            link.channel.send(ObservedDead(fence.identity, "connect refused", False, 0))
            await wait(lambda: not supervisor.board.is_alive(fence), "both reports read")
            assert supervisor.board.is_alive(first)  # the late one was ignored
            assert worker_board.is_alive(first)
            # A failure seen after the comeback is news: it takes the backend out again.
            worker_board.mark_dead(first, "connect refused again")
            await wait(lambda: not supervisor.board.is_alive(first), "the fresh report applied")
            assert supervisor.board.epoch_of(first) == 3
        finally:
            link.close()
            for channel in supervisor._channels.values():
                channel.close()

    asyncio.run(main())
