"""Shared tables over real socketpairs: a new worker gets every table whole before
``TableSynced``, a worker's change reaches the owner and the other workers (a touch when
only its time changed), and a peer that does not read holds bounded memory on our side."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

from standby.cache.entry import Entry
from standby.cache.policy import CachePolicy, request_key
from standby.cache.store import REFRESH_INTERVAL, StaleStore
from standby.clock import FakeClock
from standby.process.channel import HARD_CAP, HIGH_WATER, Channel
from standby.process.ipc import (
    MAX_FRAME,
    Message,
    TablePart,
    TableSynced,
    TableTouch,
)
from standby.process.tables import MAX_PENDING_KEYS, Outbox, TableOwner, TableReplica

NAME = "stale 127.0.0.1:80 #0"
DEADLINE = 20.0  # generous: the machine is shared and noisy
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"


def run(coro: Callable[[], object]) -> None:
    asyncio.run(coro())  # type: ignore[arg-type]


async def wait_for(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(DEADLINE):
        while not condition():
            await asyncio.sleep(0.005)  # polling a condition, not synchronising on time


async def connect(on_message: Callable[[Message], None], sock: socket.socket) -> Channel:
    channel = Channel(on_message, lambda: None)
    await asyncio.get_running_loop().create_unix_connection(lambda: channel, sock=sock)
    return channel


def key_for(path: str) -> bytes:
    k = request_key(b"GET", path.encode(), b"example.com", [], CachePolicy())
    assert k is not None
    return k


class Worker:
    """A worker's side: a replica store and its link."""

    def __init__(self, clock: FakeClock) -> None:
        self.store = StaleStore(CachePolicy(), clock.wall)
        self.synced = asyncio.Event()
        self.parts_sent = 0
        self.replica: TableReplica | None = None

    def table(self, name: str) -> StaleStore | None:
        return self.store if name == NAME else None

    def on_message(self, message: Message) -> None:
        assert self.replica is not None
        if isinstance(message, TablePart):
            self.replica.on_part(message)
        elif isinstance(message, TableTouch):
            self.replica.on_touch(message)
        elif isinstance(message, TableSynced):
            self.synced.set()

    def capture(self, path: str, body: bytes) -> None:
        head = HEAD + b"Content-Length: %d\r\n\r\n" % len(body)
        c = self.store.begin(key_for(path), 200, head)
        assert c is not None
        c.feed(body)
        assert c.finish()


async def attach(owner: TableOwner, pid: int, worker: Worker) -> tuple[Channel, Channel]:
    ours, theirs = socket.socketpair()

    def from_worker(message: Message) -> None:
        if isinstance(message, TablePart):
            worker.parts_sent += 1
            owner.on_part(pid, message)
        elif isinstance(message, TableTouch):
            owner.on_touch(pid, message)

    owner_side = await connect(from_worker, ours)
    worker_side = Channel(worker.on_message, lambda: None)
    worker.replica = TableReplica(worker.table, worker_side, [NAME])
    replica = worker.replica
    worker.store.on_commit = lambda key, changed: replica.changed(NAME, key, changed)
    await asyncio.get_running_loop().create_unix_connection(lambda: worker_side, sock=theirs)
    owner.attach(pid, owner_side, [NAME])
    return owner_side, worker_side


def test_workers_get_the_table_whole_then_share_their_captures() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        stores = {NAME: StaleStore(CachePolicy(), clock.wall)}
        owner = TableOwner(stores.get)
        for i in range(50):  # 50 x 20 KiB: more than HIGH_WATER, so the sync pauses
            stores[NAME].put(Entry(key_for(f"/{i}"), 200, HEAD, b"%d" % i * 10000, clock.wall()))
        one, two = Worker(clock), Worker(clock)
        channels = [*await attach(owner, 1, one), *await attach(owner, 2, two)]
        async with asyncio.timeout(DEADLINE):
            await one.synced.wait()
            await two.synced.wait()
        for worker in (one, two):
            assert worker.store.keys() == stores[NAME].keys()  # whole, in the same order
            entry = worker.store.lookup(key_for("/7"))
            assert entry is not None and entry.body == b"7" * 10000

        one.capture("/new", b"made by one")
        await wait_for(lambda: key_for("/new") in two.store)
        assert key_for("/new") in stores[NAME]
        assert one.parts_sent == 1

        # The same content later: only its time travels.
        clock.advance(REFRESH_INTERVAL + 5)
        one.capture("/new", b"made by one")
        stamp = clock.wall()

        def freshened() -> bool:
            entry = two.store.lookup(key_for("/new"))
            return entry is not None and entry.stored_at == stamp

        await wait_for(freshened)
        owned = stores[NAME].lookup(key_for("/new"))
        assert owned is not None and owned.stored_at == stamp
        assert one.parts_sent == 1  # a touch, not the copy again

        # Changed content goes whole, from the other side too.
        clock.advance(REFRESH_INTERVAL)
        two.capture("/new", b"changed by two")

        def changed() -> bool:
            entry = one.store.lookup(key_for("/new"))
            return entry is not None and entry.body == b"changed by two"

        await wait_for(changed)
        for channel in channels:
            channel.close()

    run(scenario)


def test_a_peer_that_does_not_read_holds_bounded_memory_then_gets_everything() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        store = StaleStore(CachePolicy(size=64 * 1024 * 1024), clock.wall)
        ours, theirs = socket.socketpair()
        channel = await connect(lambda m: None, ours)
        outbox = Outbox(channel, {NAME: store}.get, [NAME])
        body = b"x" * 20_000
        for i in range(MAX_PENDING_KEYS + 500):  # about 90 MiB of copies, never read
            key = key_for(f"/{i}")
            store.put(Entry(key, 200, HEAD, body, clock.wall()))
            outbox.put(NAME, key)
            assert channel.buffered <= HIGH_WATER + MAX_FRAME
        assert channel.open
        # Now the peer reads: it gets every copy the store holds.
        peer = Worker(clock)
        peer_channel = Channel(peer.on_message, lambda: None)
        peer.replica = TableReplica(peer.table, peer_channel, [NAME])
        await asyncio.get_running_loop().create_unix_connection(lambda: peer_channel, sock=theirs)
        # The count alone can match mid-transfer (copies sent before the overflow, since
        # evicted here, are still held there): wait for the very keys.
        await wait_for(lambda: outbox.idle and set(peer.store.keys()) == set(store.keys()))
        channel.close()
        peer_channel.close()

    run(scenario)


def test_a_channel_whose_peer_stopped_reading_is_closed_at_the_hard_cap() -> None:
    async def scenario() -> None:
        ours, theirs = socket.socketpair()
        lost: list[bool] = []
        channel = Channel(lambda m: None, lambda: lost.append(True))
        await asyncio.get_running_loop().create_unix_connection(lambda: channel, sock=ours)
        touch = TableTouch(NAME, b"k" * 60_000, 1.0, 1)  # small messages always go...
        sent = 0
        while channel.open:
            channel.send(touch)
            sent += 1
            assert sent * 60_000 < 2 * HARD_CAP
        assert channel.buffered <= HARD_CAP + MAX_FRAME or not channel.open
        await wait_for(lambda: lost == [True])  # ...until the hard cap closes the channel
        theirs.close()

    run(scenario)
