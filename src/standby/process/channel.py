"""One end of a supervisor <-> worker socketpair as an asyncio protocol (shell over ``ipc``).

Both sides use it: bytes in go through ``ipc.FrameDecoder``; each message is handed to a
callback; a broken frame or a closed peer ends the channel and calls ``on_lost`` once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import cast

from standby.process.ipc import FrameDecoder, IpcError, Message, encode

log = logging.getLogger("standby.process")


class Channel(asyncio.Protocol):
    """Messages over a connected stream socket."""

    def __init__(self, on_message: Callable[[Message], None], on_lost: Callable[[], None]) -> None:
        self._on_message = on_message
        self._on_lost = on_lost
        self._decoder = FrameDecoder()
        self._transport: asyncio.Transport | None = None
        self._lost = False

    @property
    def open(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)

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
        gone, and whoever replaces it gets the full state anyway)."""
        if self.open:
            assert self._transport is not None
            self._transport.write(encode(message))

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()
