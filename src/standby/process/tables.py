"""Shared tables: state that belongs to the proxy, owned by the supervisor, replicated in
every worker (DESIGN.md, "State that belongs to the proxy"). Today: the stale copies, one
table per service with ``StaleFallback``; sessions can use the same layer.

- The *owner* (``TableOwner``, in the supervisor) holds the authoritative tables (the
  stale stores with their ``Directory``: it is the only writer), keeps them across worker
  restarts and reloads, and knows which tables each worker serves.
- Each worker holds a *replica* (``TableReplica``) of the tables it serves, so that a lookup
  stays a local dict lookup. A change made in a worker (a capture) is applied there at
  once and sent to the owner, which applies it and forwards it to the other workers
  serving that table. A (re)started worker gets every table whole after ``Synced`` and
  then ``TableSynced``; it starts serving only then (``SYNC_TABLES_TIMEOUT`` bounds that).
- A change travels as a whole record (``TablePart`` pieces) or, when it only confirmed
  what the other side holds, as a ``TableTouch`` (key, time, digest of the value).

Records are bulk: an ``Outbox`` per channel queues only *keys* (the record is read from the
table when its turn comes, so the latest value goes and nothing is copied while waiting),
writes while the channel has room (``Channel.can_bulk``) and resumes on its drain. A peer
that falls ``MAX_PENDING_KEYS`` behind gets its tables whole again once it reads (the queue
is dropped, not grown). Touches are small and always go.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from standby.process.channel import Channel
from standby.process.ipc import (
    MAX_FRAME,
    MAX_TEXT,
    TABLE_PART_SIZE,
    Message,
    TablePart,
    TableSynced,
    TableTouch,
)

log = logging.getLogger("standby.process")

# Keys waiting towards one peer: beyond this the peer is far behind (or stopped), and
# sending its tables whole again when it reads is cheaper than remembering every key.
MAX_PENDING_KEYS = 4096
# A key that does not fit a TableTouch frame (with the table name and the numbers) goes
# as a whole record instead.
MAX_TOUCH_KEY = MAX_FRAME - MAX_TEXT - 64
# A new worker waits this long for its tables before serving anyway (they keep coming):
# a second or two for a full 64 MiB store; the bound only guards against a stuck owner.
SYNC_TABLES_TIMEOUT = 10.0


class Table(Protocol):
    """What the layer needs of a table (``StaleStore`` is one)."""

    def keys(self) -> list[bytes]: ...

    def record(self, key: bytes) -> bytes | None: ...

    def max_record(self) -> int: ...

    def absorb(self, record: bytes) -> bytes | None: ...

    def freshness(self, key: bytes) -> tuple[float, int] | None: ...

    def touch(self, key: bytes, stamp: float, digest: int) -> bool: ...


Tables = Callable[[str], Table | None]  # a table by name, None if not (or no longer) here
# Told of a local change: (table, key, False if only its time changed).
TableListener = Callable[[str, bytes, bool], None]


class Outbox:
    """Records towards one peer, written as its channel has room (see the module)."""

    def __init__(self, channel: Channel, tables: Tables, names: Iterable[str]) -> None:
        self.channel = channel
        self._tables = tables
        self.names = frozenset(names)  # the tables the peer has
        self._pending: OrderedDict[tuple[str, bytes], None] = OrderedDict()
        # Whole tables to send: (name, keys) snapshots, consumed from the front.
        self._whole: deque[tuple[str, Iterator[bytes]]] = deque()
        self._record: tuple[str, bytes, int] | None = None  # name, record, offset sent
        self._then: list[Message] = []  # sent once everything queued before has gone
        channel.on_drain = self.pump

    @property
    def idle(self) -> bool:
        return not (self._pending or self._whole or self._record or self._then)

    def send_whole(self, then: Message | None = None) -> None:
        """Queue every record of the peer's tables (before any single one queued), then
        ``then`` once they have all gone."""
        for name in sorted(self.names):
            table = self._tables(name)
            if table is not None:
                self._whole.append((name, iter(table.keys())))
        if then is not None:
            self._then.append(then)
        if not self._whole:
            self._flush_then()
        self.pump()

    def _flush_then(self) -> None:
        while self._then:
            self.channel.send(self._then.pop(0))

    def put(self, name: str, key: bytes) -> None:
        """Queue the current record of ``key`` (the latest value goes when its turn comes)."""
        if name not in self.names:
            return
        self._pending[(name, key)] = None
        if len(self._pending) > MAX_PENDING_KEYS:
            log.warning("a worker is far behind on shared tables: it gets them whole later")
            self._pending.clear()
            self._whole.clear()
            self.send_whole()
            return
        self.pump()

    def pump(self) -> None:
        """Write while the channel has room."""
        channel = self.channel
        while channel.can_bulk:
            if self._record is None and not self._next_record():
                return
            assert self._record is not None
            name, record, offset = self._record
            end = offset + TABLE_PART_SIZE
            last = end >= len(record)
            channel.send(TablePart(name, record[offset:end], last))
            self._record = None if last else (name, record, end)

    def _next_record(self) -> bool:
        while self._pending or self._whole:
            if self._whole:  # whole tables first: a new worker waits for them
                name, keys = self._whole[0]
                found = next(keys, None)
                if found is None:
                    self._whole.popleft()
                    if not self._whole:
                        self._flush_then()
                    continue
                key = found
            else:
                (name, key), _ = self._pending.popitem(last=False)
            table = self._tables(name)
            record = None if table is None else table.record(key)
            if record is not None:
                self._record = (name, record, 0)
                return True
        return False


class Inbox:
    """Records from one peer, assembled from their pieces."""

    def __init__(self, tables: Tables) -> None:
        self._tables = tables
        self._name: str | None = None
        self._parts: list[bytes] = []
        self._size = 0
        self._broken = False

    def part(self, message: TablePart) -> tuple[str, bytes] | None:
        """Take a piece; (table, key) once a whole record changed a table."""
        if self._name != message.table:
            self._reset(message.table)
        table = self._tables(message.table)
        self._size += len(message.data)
        if table is None or self._broken or self._size > table.max_record():
            self._broken = True  # dropped: an unknown table or an oversized record
        else:
            self._parts.append(message.data)
        if not message.last:
            return None
        record = b"".join(self._parts)
        broken = self._broken
        self._reset(None)
        if broken or table is None:
            return None
        key = table.absorb(record)
        return None if key is None else (message.table, key)

    def _reset(self, name: str | None) -> None:
        self._name = name
        self._parts = []
        self._size = 0
        self._broken = False


def touch_message(table: Table, name: str, key: bytes) -> TableTouch | None:
    """The touch that confirms the value of ``key`` held in ``table`` elsewhere; None when
    there is none or the key is too long for one frame (send the record instead)."""
    fresh = table.freshness(key)
    if fresh is None or len(key) > MAX_TOUCH_KEY:
        return None
    return TableTouch(name, key, fresh[0], fresh[1])


class TableOwner:
    """The supervisor's side: the authoritative tables and one link per worker."""

    def __init__(self, tables: Tables) -> None:
        self.table = tables
        self._outboxes: dict[int, Outbox] = {}  # by worker pid
        self._inboxes: dict[int, Inbox] = {}

    def attach(self, pid: int, channel: Channel, names: Iterable[str]) -> None:
        """A worker serving tables ``names`` started: send them whole, then TableSynced."""
        outbox = Outbox(channel, self.table, names)
        self._outboxes[pid] = outbox
        self._inboxes[pid] = Inbox(self.table)
        outbox.send_whole(TableSynced())

    def detach(self, pid: int) -> None:
        self._outboxes.pop(pid, None)
        self._inboxes.pop(pid, None)

    def on_part(self, pid: int, message: TablePart) -> None:
        inbox = self._inboxes.get(pid)
        if inbox is None:
            return
        changed = inbox.part(message)
        if changed is not None:
            name, key = changed
            for other, outbox in self._outboxes.items():
                if other != pid:
                    outbox.put(name, key)

    # --- issue 15: sessions ---
    def changed(self, name: str, key: bytes) -> None:
        """A change made here (a session added or deleted by the operator): to every
        worker that has the table."""
        for outbox in self._outboxes.values():
            outbox.put(name, key)

    def on_touch(self, pid: int, message: TableTouch) -> None:
        table = self.table(message.table)
        if table is None or not table.touch(message.key, message.stamp, message.digest):
            return  # not the copy held here: the record that replaced it is on its way
        for other, outbox in self._outboxes.items():
            if other != pid and message.table in outbox.names:
                outbox.channel.send(message)


class TableReplica:
    """A worker's side: its replicas, what it sends to the owner and what it applies."""

    def __init__(self, tables: Tables, channel: Channel, names: Iterable[str]) -> None:
        self._tables = tables
        self.channel = channel
        self._outbox = Outbox(channel, tables, names)
        self._inbox = Inbox(tables)

    def changed(self, name: str, key: bytes, content: bool) -> None:
        """A local change of ``key`` (a capture): the record, or a touch when only the
        time changed."""
        if not content:
            table = self._tables(name)
            touch = None if table is None else touch_message(table, name, key)
            if touch is not None:
                self.channel.send(touch)
                return
        self._outbox.put(name, key)

    def on_part(self, message: TablePart) -> None:
        self._inbox.part(message)

    def on_touch(self, message: TableTouch) -> None:
        table = self._tables(message.table)
        if table is not None:
            table.touch(message.key, message.stamp, message.digest)
