"""One end of a supervisor <-> worker socketpair as an asyncio protocol (shell over ``ipc``).

Both sides use it: bytes in go through ``ipc.FrameDecoder``; each message is handed to a
callback; a broken frame or a closed peer ends the channel and calls ``on_lost`` once.

Flow control: what is written and not yet taken by the peer waits in the transport. Small
control messages (health, switches, counters) always go. Bulk senders (shared tables: a
worker's whole initial state, copies forwarded between workers) write only while
``can_bulk``, and are called back through ``on_drain`` once the buffer fell to the low-water
mark, so a slow peer holds at most ``HIGH_WATER`` plus one frame of them. A peer that lets
``HARD_CAP`` bytes pile up is not reading at all (stopped, or stuck in a loop): the channel
is closed rather than let the buffer grow without bound (the supervision of silent workers
replaces such a worker).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import cast

from standby.process.ipc import FrameDecoder, IpcError, Message, encode

log = logging.getLogger("standby.process")

# Bulk writes stop above HIGH_WATER and resume once the buffer fell to LOW_WATER: a few
# frames in the transport keep the socketpair busy while the peer reads; more would only
# be memory (the kernel's own socket buffer holds a few hundred KiB more).
HIGH_WATER = 256 * 1024
LOW_WATER = 64 * 1024
# Control messages are a few hundred bytes (a metrics text a few hundred KiB): 16 MiB
# waiting means the peer has not read for a long while; its channel is closed.
HARD_CAP = 16 * 1024 * 1024


class Channel(asyncio.Protocol):
    """Messages over a connected stream socket."""

    def __init__(self, on_message: Callable[[Message], None], on_lost: Callable[[], None]) -> None:
        self._on_message = on_message
        self._on_lost = on_lost
        self._decoder = FrameDecoder()
        self._transport: asyncio.Transport | None = None
        self._lost = False
        self._paused = False
        # Called when bulk writing may resume (the buffer fell to LOW_WATER).
        self.on_drain: Callable[[], None] | None = None

    @property
    def open(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    @property
    def can_bulk(self) -> bool:
        """True when a bulk message may be written now (see the module's text)."""
        return self.open and not self._paused

    @property
    def buffered(self) -> int:
        """Bytes written and not yet taken by the peer's socket."""
        transport = self._transport
        return 0 if transport is None else transport.get_write_buffer_size()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        self._transport.set_write_buffer_limits(high=HIGH_WATER, low=LOW_WATER)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self.on_drain is not None:
            self.on_drain()

    def data_received(self, data: bytes) -> None:
        try:
            messages = self._decoder.feed(data)
        except IpcError as exc:
            log.error("broken message from the other process: %s", exc)
            self.close()
            return
        for message in messages:
            self._on_message(message)

    def eof_received(self) -> bool | None:
        return False  # the peer is gone: close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if not self._lost:
            self._lost = True
            self._on_lost()

    def send(self, message: Message) -> None:
        """Queue ``message``; silently dropped once the channel is closed (the peer is
        gone, and whoever replaces it gets the full state anyway). A peer that stopped
        reading (``HARD_CAP`` bytes waiting) loses its channel."""
        if self.open:
            assert self._transport is not None
            self._transport.write(encode(message))
            if self._transport.get_write_buffer_size() > HARD_CAP:
                log.error(
                    "the other process has not read %d bytes of messages: channel closed",
                    self._transport.get_write_buffer_size(),
                )
                self.abort()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()
