"""Sessions with several workers: a worker asks the supervisor for a session its copy lacks
before choosing a backend (DESIGN.md: a miss in a worker's cache is not a miss of the
proxy).

Sessions travel between the workers' copies and the supervisor's as records of the shared
tables (``process/tables.py``), within a few milliseconds of being made. A request whose
key its worker does not know may still belong to a session made a moment ago elsewhere:
the worker sends ``SessionAsk`` and waits at most ``SESSION_ASK_TIMEOUT`` for the
supervisor's ``SessionAnswer``, takes the record it carries, and only then chooses.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from standby.balance.sessions import SessionTable
from standby.process.channel import Channel
from standby.process.ipc import SERIAL_MODULO, SessionAnswer, SessionAsk

# How long a request waits for the supervisor's answer before choosing without it: far
# more than a round trip on a socketpair, far less than a client notices.
SESSION_ASK_TIMEOUT = 0.25


class SessionAsker:
    """A worker's questions to the supervisor, by serial."""

    def __init__(self, channel: Channel, tables: Callable[[str], SessionTable | None]) -> None:
        self._channel = channel
        self._tables = tables
        self._serial = 0
        self._pending: dict[int, asyncio.Future[bytes]] = {}

    async def ask(self, name: str, key: bytes) -> None:
        """Bring the supervisor's record of session ``key`` of table ``name`` into this
        worker's copy, if it has one (bounded wait)."""
        self._serial = (self._serial + 1) % SERIAL_MODULO
        serial = self._serial
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[serial] = future
        try:
            self._channel.send(SessionAsk(serial, name, key))
            async with asyncio.timeout(SESSION_ASK_TIMEOUT):
                record = await future
        except TimeoutError:
            return
        finally:
            self._pending.pop(serial, None)
        table = self._tables(name)
        if record and table is not None:
            table.absorb(record)

    def on_answer(self, message: SessionAnswer) -> None:
        future = self._pending.get(message.serial)
        if future is not None and not future.done():
            future.set_result(message.record)

    def close(self) -> None:
        for future in self._pending.values():
            with contextlib.suppress(asyncio.InvalidStateError):
                future.cancel()
        self._pending.clear()


def answer(ask: SessionAsk, table: SessionTable | None) -> SessionAnswer:
    """The supervisor's answer to ``ask`` from its copy ``table``."""
    record = None if table is None else table.record(ask.key)
    return SessionAnswer(ask.serial, record or b"")
