"""The backend side of one connection: hands bytes and events to the exchange using it."""

from __future__ import annotations

import asyncio
from typing import Protocol

from standby.upstream.tls import keep_session
from standby.upstream.unconnected import UNCONNECTED


class UpstreamUser(Protocol):
    """The exchange currently using an upstream connection."""

    def upstream_data(self, data: bytes) -> None: ...

    def upstream_eof(self) -> None: ...

    def upstream_lost(self, exc: Exception | None) -> None: ...

    def upstream_pause_writing(self) -> None: ...

    def upstream_resume_writing(self) -> None: ...


class UpstreamProtocol:
    """One TCP (or UNIX) connection to a backend; idle in a pool or used by one exchange.

    An asyncio protocol by its methods, not by inheritance: compiled by mypyc (setup.py) a
    class can only be native, its attributes struct fields, if its bases are native too,
    and asyncio.Protocol is not. asyncio and uvloop only call the methods."""

    __slots__ = ("closed", "idle_since", "reused", "tls", "transport", "user")

    def __init__(self) -> None:
        self.transport = UNCONNECTED
        self.user: UpstreamUser | None = None
        self.closed = False
        self.idle_since = 0.0
        self.reused = False
        self.tls = False  # an HTTPS backend's connection (set by the pool)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        user = self.user
        if user is not None:
            user.upstream_data(data)
        else:
            # Bytes on an idle connection: the backend is out of step; never reuse it.
            self.close()

    def eof_received(self) -> bool:
        user = self.user
        if user is not None:
            user.upstream_eof()
        else:
            self.close()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.tls and exc is None:  # a clean end: its session can be resumed
            keep_session(self.transport.get_extra_info("ssl_object"))
        self.closed = True
        user = self.user
        self.user = None
        if user is not None:
            user.upstream_lost(exc)

    def pause_writing(self) -> None:
        if self.user is not None:
            self.user.upstream_pause_writing()

    def resume_writing(self) -> None:
        if self.user is not None:
            self.user.upstream_resume_writing()

    def close(self) -> None:
        self.closed = True
        self.transport.close()

    def abort(self) -> None:
        self.closed = True
        self.transport.abort()
