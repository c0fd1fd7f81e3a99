"""Pound 4's `Tunnel`: a connection accepted on a tunnel's socket is joined to its backend
and the bytes are copied both ways without being read.

Two asyncio protocols, one per side, share a ``Tunnel``. What one side receives is written
to the other; when the other side's write buffer goes above its high mark, reading from
this side pauses until it drains below the low mark (so a slow reader on one side holds
back the sender on the other: memory stays bounded by the marks). An EOF from one side is
passed on as a half-close (``write_eof``); the tunnel closes once both sides have sent
theirs, or when either side's connection is lost. As in Pound, ``TimeOut`` bounds how long
the tunnel may stay without a byte either way (Pound's poll timeout), and ``ConnTO`` how
long the backend may take to accept. Pound logs no access line for a tunnel, nor does this.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import cast

from standby.model import TunnelSpec
from standby.server.timers import Reaper

log = logging.getLogger(__name__)

# A side's write buffer above this pauses reading from the other side; below the low mark
# reading resumes. 256 KiB in flight per direction keeps a fast link busy, and bounds what
# one tunnel can hold in memory when its reader is slow.
HIGH_WATER = 256 * 1024
LOW_WATER = 64 * 1024


class Tunnel:
    """One accepted connection and its backend connection (a ``Reaper`` member)."""

    def __init__(self, spec: TunnelSpec, reaper: Reaper, loop: asyncio.AbstractEventLoop) -> None:
        self.spec = spec
        self.reaper = reaper
        self.loop = loop
        self.client = _Side(self, "client")
        self.backend = _Side(self, "backend")
        self.deadline = loop.time() + spec.conn_timeout
        self.connecting: asyncio.Task[None] | None = None
        # What the client sent before the backend accepted (reading is paused meanwhile:
        # at most a read or two).
        self.early: list[bytes] = []
        self.closed = False

    # -- the Reaper's interface -----------------------------------------------------------

    def on_deadline(self) -> None:
        if self.backend.transport is None:
            return  # still connecting: the connect task has its own ConnTO
        log.warning("I/O time out in tunnel (%s s without a byte)", f"{self.spec.timeout:g}")
        self.abort()

    def abort(self) -> None:
        """Close both sides at once, dropping what is buffered."""
        if self.connecting is not None:
            self.connecting.cancel()
        for side in (self.client, self.backend):
            if side.transport is not None:
                side.transport.abort()
        self._finish()

    # -- the sides' events ----------------------------------------------------------------

    def accepted(self) -> None:
        self.reaper.add(self)
        client = self.client.transport
        assert client is not None
        if self.spec.disabled:
            log.warning("tunnel backend %s is disabled: connection closed", self._backend())
            client.close()
            return
        # Until the backend accepts there is nowhere to put the bytes. (uvloop starts
        # reading after connection_made whatever it did: ``received`` pauses again.)
        client.pause_reading()
        self.connecting = self.loop.create_task(self._connect())

    async def _connect(self) -> None:
        spec = self.spec
        try:
            async with asyncio.timeout(spec.conn_timeout):
                if spec.backend_port is None:
                    await self.loop.create_unix_connection(
                        lambda: self.backend, spec.backend_address
                    )
                else:
                    await self.loop.create_connection(
                        lambda: self.backend, spec.backend_address, spec.backend_port
                    )
        except (OSError, TimeoutError) as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else str(exc)
            log.warning("can't connect to tunnel backend %s: %s", self._backend(), reason)
            if self.client.transport is not None:
                self.client.transport.close()
            self._finish()
            return
        finally:
            self.connecting = None
        if self.closed:  # the client left while the backend was accepting
            backend = self.backend.transport
            if backend is not None:
                backend.close()
            return
        self.touch()
        client = self.client.transport
        assert client is not None
        backend = self.backend.transport
        assert backend is not None
        for data in self.early:
            backend.write(data)
        self.early = []
        if self.client.eof:  # the client half-closed before the backend accepted
            self._pass_eof(self.backend)
        else:
            client.resume_reading()

    def touch(self) -> None:
        self.deadline = self.loop.time() + self.spec.timeout

    def received(self, side: _Side, data: bytes) -> None:
        peer = self.peer(side)
        if peer.transport is None:  # the client, before the backend accepted
            self.early.append(data)
            if side.transport is not None:
                side.transport.pause_reading()
        elif not peer.transport.is_closing():
            self.touch()
            peer.transport.write(data)

    def eof(self, side: _Side) -> None:
        self.touch()
        peer = self.peer(side)
        if peer.transport is not None:
            self._pass_eof(peer)
        if self.client.eof and self.backend.eof:
            for each in (self.client, self.backend):
                if each.transport is not None:
                    each.transport.close()  # what is buffered is sent first

    def _pass_eof(self, peer: _Side) -> None:
        transport = peer.transport
        assert transport is not None
        if transport.is_closing():
            return
        if transport.can_write_eof():
            transport.write_eof()
        else:
            transport.close()

    def lost(self, side: _Side) -> None:
        """One side is gone: the other is closed once its buffered bytes are sent."""
        peer = self.peer(side)
        if peer.transport is not None and not peer.lost:
            peer.transport.close()
        if side is self.client and self.connecting is not None:
            self.connecting.cancel()  # nobody is left to serve
        if self.client.lost and (self.backend.lost or self.backend.transport is None):
            self._finish()

    def pause(self, side: _Side) -> None:
        """``side``'s write buffer is full: stop reading from its peer."""
        peer = self.peer(side)
        if peer.transport is not None and not peer.transport.is_closing():
            peer.transport.pause_reading()

    def resume(self, side: _Side) -> None:
        self.touch()  # the slow reader took bytes: the tunnel is not idle
        peer = self.peer(side)
        if peer.transport is not None and not peer.transport.is_closing() and not peer.eof:
            peer.transport.resume_reading()

    def peer(self, side: _Side) -> _Side:
        return self.backend if side is self.client else self.client

    def _finish(self) -> None:
        if not self.closed:
            self.closed = True
            self.reaper.discard(self)

    def _backend(self) -> str:
        spec = self.spec
        if spec.backend_port is None:
            return spec.backend_address
        if ":" in spec.backend_address:
            return f"[{spec.backend_address}]:{spec.backend_port}"
        return f"{spec.backend_address}:{spec.backend_port}"


class _Side(asyncio.Protocol):
    """One socket of a tunnel; its events go to the ``Tunnel``."""

    def __init__(self, tunnel: Tunnel, name: str) -> None:
        self.tunnel = tunnel
        self.name = name
        self.transport: asyncio.Transport | None = None
        self.eof = False
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's are not asyncio.Transport subclasses).
        transport = cast("asyncio.Transport", transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=HIGH_WATER, low=LOW_WATER)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            # Bytes go on as they come: the tunnel adds no delay of its own.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self is self.tunnel.client:
            self.tunnel.accepted()

    def data_received(self, data: bytes) -> None:
        self.tunnel.received(self, data)

    def eof_received(self) -> bool:
        self.eof = True
        self.tunnel.eof(self)
        return True  # keep the socket open for what the peer still sends

    def pause_writing(self) -> None:
        self.tunnel.pause(self)

    def resume_writing(self) -> None:
        self.tunnel.resume(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.tunnel.lost(self)


def tunnel_factory(spec: TunnelSpec, reaper: Reaper) -> asyncio.Protocol:
    """The protocol of one accepted connection of the tunnel ``spec``."""
    return Tunnel(spec, reaper, asyncio.get_running_loop()).client
