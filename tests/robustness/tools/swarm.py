"""Swarms of abusive clients on one asyncio loop: slow senders (slowloris, slow bodies) and
idle connections. Each client reports when and how the proxy ended its connection.

Every call is bounded by ``give_up``: a client the proxy never closes reports "held".
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Sequence
from dataclasses import dataclass

# Connections opened at once while building a swarm (a burst of SYNs past the listen
# backlog would measure the kernel, not the proxy).
CONNECT_CONCURRENCY = 64
# Bytes read at a time from the proxy.
READ_SIZE = 65536


@dataclass(frozen=True)
class Ending:
    """How one abusive connection ended."""

    how: str  # "eof", "reset", "held" (still open when we gave up), "refused"
    after: float  # seconds from its first byte to the end (or to giving up)
    sent: int  # bytes we managed to send
    response: bytes  # what the proxy answered (possibly empty)

    @property
    def status(self) -> int | None:
        if self.response.startswith(b"HTTP/1.") and len(self.response) >= 12:
            with contextlib.suppress(ValueError):
                return int(self.response[9:12])
        return None


async def _read_until_closed(reader: asyncio.StreamReader, into: bytearray) -> str:
    try:
        while True:
            data = await reader.read(READ_SIZE)
            if not data:
                return "eof"
            into.extend(data)
    except (ConnectionResetError, BrokenPipeError):
        return "reset"


async def slow_sender(
    port: int,
    pieces: Sequence[bytes],
    interval: float,
    give_up: float,
    gate: asyncio.Semaphore | None = None,
) -> Ending:
    """Send ``pieces`` one every ``interval`` seconds (then nothing) and wait for the proxy
    to end the connection, at most ``give_up`` seconds after the first byte."""
    loop = asyncio.get_running_loop()
    try:
        if gate is not None:
            async with gate:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
        else:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return Ending("refused", 0.0, 0, b"")
    received = bytearray()
    watcher = asyncio.create_task(_read_until_closed(reader, received))
    started = loop.time()
    sent = 0
    how = "held"
    try:
        async with asyncio.timeout(give_up):
            for piece in pieces:
                if watcher.done():
                    break
                try:
                    writer.write(piece)
                    await writer.drain()
                except (ConnectionError, OSError):
                    break
                sent += len(piece)
                # Wait for the next slot, or less if the proxy closes meanwhile.
                await asyncio.wait({watcher}, timeout=interval)
            how = await watcher
    except TimeoutError:
        how = "held"
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        writer.transport.abort()
    return Ending(how, loop.time() - started, sent, bytes(received))


async def slow_swarm(
    port: int, count: int, pieces: Sequence[bytes], interval: float, give_up: float
) -> list[Ending]:
    """``count`` slow senders at once."""
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    return list(
        await asyncio.gather(
            *(slow_sender(port, pieces, interval, give_up, gate) for _ in range(count))
        )
    )


def one_byte_at_a_time(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


# Linux TCP states (include/net/tcp_states.h), as TCP_INFO reports them.
TCP_ESTABLISHED = 1
TCP_INFO_SIZE = 8  # the state is the first byte of struct tcp_info


def tcp_state(sock: socket.socket) -> int:
    """The kernel's TCP state of a connected socket, read without consuming any data."""
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, TCP_INFO_SIZE)[0]


def peer_closed(sock: socket.socket) -> bool:
    """The peer sent FIN or RST (the connection left ESTABLISHED), unread data or not."""
    return tcp_state(sock) != TCP_ESTABLISHED
