"""Session tables shared over real socketpairs, as between the supervisor and its workers:
a session made in one worker reaches the others, a use keeps the others' copies alive, an
operator's deletion reaches every worker, and a worker asks the owner about a key its copy
lacks (process/sessions.py)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

from standby.balance.sessions import SHARE_USE_EVERY, SessionTables
from standby.model import (
    BackendKind,
    BackendSpec,
    ConfigSpec,
    ListenerSpec,
    ServiceSpec,
    SessionSpec,
    SessionType,
)
from standby.process.channel import Channel
from standby.process.ipc import (
    Message,
    SessionAnswer,
    SessionAsk,
    TablePart,
    TableSynced,
    TableTouch,
)
from standby.process.sessions import SessionAsker, answer
from standby.process.tables import TableOwner, TableReplica

DEADLINE = 20.0  # generous: the machine is shared and noisy
ONE: tuple[str, str, int | None] = ("127.0.0.1", "tcp", 1)
TWO: tuple[str, str, int | None] = ("127.0.0.1", "tcp", 2)

SERVICE = ServiceSpec(
    name="app",
    backends=(BackendSpec(kind=BackendKind.PROXY, address="127.0.0.1", port=1),),
    session=SessionSpec(SessionType.COOKIE, 30.0, "sid"),
)
CONFIG = ConfigSpec(
    listeners=(ListenerSpec(name=None, address="127.0.0.1", port=80, services=(SERVICE,)),)
)


def tables() -> SessionTables:
    made = SessionTables()
    made.configure(CONFIG)
    return made


(NAME,) = tables().names()


async def wait_for(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(DEADLINE):
        while not condition():
            await asyncio.sleep(0.005)  # polling a condition, not synchronising on time


class Worker:
    def __init__(self) -> None:
        self.sessions = tables()
        self.synced = asyncio.Event()
        self.replica: TableReplica | None = None
        self.asker: SessionAsker | None = None

    @property
    def table(self) -> object:
        return self.sessions.table(NAME)

    def on_message(self, message: Message) -> None:
        assert self.replica is not None and self.asker is not None
        if isinstance(message, TablePart):
            self.replica.on_part(message)
        elif isinstance(message, TableTouch):
            self.replica.on_touch(message)
        elif isinstance(message, TableSynced):
            self.synced.set()
        elif isinstance(message, SessionAnswer):
            self.asker.on_answer(message)


async def attach(owner: TableOwner, owned: SessionTables, pid: int, worker: Worker) -> None:
    ours, theirs = socket.socketpair()
    sides: list[Channel] = []

    def from_worker(message: Message) -> None:
        if isinstance(message, TablePart):
            owner.on_part(pid, message)
        elif isinstance(message, TableTouch):
            owner.on_touch(pid, message)
        elif isinstance(message, SessionAsk):
            sides[0].send(answer(message, owned.table(message.table)))

    owner_side = Channel(from_worker, lambda: None)
    sides.append(owner_side)
    loop = asyncio.get_running_loop()
    await loop.create_unix_connection(lambda: owner_side, sock=ours)
    worker_side = Channel(worker.on_message, lambda: None)
    worker.replica = TableReplica(worker.sessions.table, worker_side, [NAME])
    worker.sessions.on_change = worker.replica.changed
    worker.asker = SessionAsker(worker_side, worker.sessions.table)
    worker.sessions.ask = worker.asker.ask
    await loop.create_unix_connection(lambda: worker_side, sock=theirs)
    owner.attach(pid, owner_side, [NAME])


def test_sessions_travel_between_workers_and_a_miss_asks_the_owner() -> None:
    async def scenario() -> None:
        owned = tables()
        owner = TableOwner(owned.table)
        owned.on_change = lambda name, key, content: owner.changed(name, key) if content else None
        table = owned.table(NAME)
        assert table is not None
        table.add(b"old", ONE, 0.0)  # before the workers start: they get it whole
        one, two = Worker(), Worker()
        await attach(owner, owned, 1, one)
        await attach(owner, owned, 2, two)
        async with asyncio.timeout(DEADLINE):
            await one.synced.wait()
            await two.synced.wait()
        first, second = one.sessions.table(NAME), two.sessions.table(NAME)
        assert first is not None and second is not None
        assert first.find(b"old", 1.0) == ONE and second.find(b"old", 1.0) == ONE

        # Made in one worker: in the owner's table and the other worker's.
        first.add(b"k", TWO, 2.0)
        await wait_for(lambda: second.knows(b"k", 2.0))
        assert second.find(b"k", 2.0) == TWO and table.find(b"k", 2.0) == TWO

        # Used in one worker (past SHARE_USE_EVERY): the others' copies live as long.
        later = 2.0 + SHARE_USE_EVERY + 25.0
        assert first.find(b"k", later) == TWO
        await wait_for(lambda: second.knows(b"k", later + 29.0))

        # The operator deletes a session at the owner: every worker's copy loses it.
        assert table.remove(b"old", 40.0)
        await wait_for(lambda: first.find(b"old", 41.0) is None)
        await wait_for(lambda: second.find(b"old", 41.0) is None)

        # A session the owner holds that a worker's copy lacks (its record still on its
        # way, here never sent): the worker asks, and then knows it.
        owned.on_change = None
        table.add(b"late", ONE, 42.0)
        assert not second.knows(b"late", 42.5)
        ask = two.sessions.ask
        assert ask is not None
        await ask(NAME, b"late")
        assert second.find(b"late", 43.0) == ONE
        # A key nobody knows: the answer is empty, and nothing is made.
        await ask(NAME, b"nobody")
        assert not second.knows(b"nobody", 43.0)

    asyncio.run(scenario())
