"""Coarse deadlines for many connections with one timer.

Every connection keeps a ``deadline`` (loop time, seconds) that it moves forward on progress:
a float store per event instead of a timer handle cancelled and re-armed per request. One
periodic sweep calls ``on_deadline()`` on the connections whose deadline has passed. Pound's
timeouts are whole seconds, so a sweep every ``SWEEP_INTERVAL`` is precise enough.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

# Granularity of every client/backend timeout; small against Pound's 1 s resolution.
SWEEP_INTERVAL = 0.25


class Expiring(Protocol):
    deadline: float

    def on_deadline(self) -> None: ...


class Reaper:
    """Owns the set of live connections and fires their deadlines."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._members: set[Expiring] = set()
        self._handle: asyncio.TimerHandle | None = None
        self._empty: asyncio.Event | None = None

    def add(self, member: Expiring) -> None:
        self._members.add(member)
        if self._handle is None:
            self._handle = self._loop.call_later(SWEEP_INTERVAL, self._sweep)

    def discard(self, member: Expiring) -> None:
        self._members.discard(member)
        if not self._members and self._empty is not None:
            self._empty.set()

    async def wait_empty(self) -> None:
        """Return once no member is left (for a graceful stop)."""
        if not self._members:
            return
        if self._empty is None:
            self._empty = asyncio.Event()
        self._empty.clear()
        await self._empty.wait()

    def __len__(self) -> int:
        return len(self._members)

    def members(self) -> list[Expiring]:
        return list(self._members)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _sweep(self) -> None:
        self._handle = None
        now = self._loop.time()
        expired = [m for m in self._members if m.deadline <= now]
        for member in expired:
            member.on_deadline()
        if self._members:
            self._handle = self._loop.call_later(SWEEP_INTERVAL, self._sweep)
