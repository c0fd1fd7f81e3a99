"""A fault-injecting TCP relay for tests (asyncio, loopback only).

Put it between two peers (proxy and backend, or client and proxy): it listens on
127.0.0.1, connects each accepted connection to the target, and copies bytes both ways
through a ``Fault`` per direction: added latency, a bandwidth limit, a cut after N bytes
(RST or FIN), a blackhole (bytes read and dropped), one corrupted byte at offset N. Faults
may be changed while it runs (read for every chunk). Run it in a thread with its own loop
(``with FaultRelay(...)``) or inside a test's loop (``async with``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from dataclasses import dataclass, field
from enum import Enum

from tests.support.harness import DEADLINE

# Bytes read per chunk; also the granularity of cuts, corruption and bandwidth pacing.
CHUNK = 16 * 1024
# A bandwidth-limited direction sends at most this many pacing slices per second.
PACING_SLICES = 20
# A relay connection lives at most this long, whatever the test does.
MAX_LIFETIME = 600.0


class Cut(Enum):
    FIN = "fin"  # an orderly close
    RST = "rst"  # SO_LINGER 0: the close sends a reset


@dataclass
class Fault:
    """What happens to the bytes of one direction (per connection offsets)."""

    latency: float = 0.0  # seconds added before each chunk is sent on
    bandwidth: int | None = None  # bytes per second
    cut_after: int | None = None  # close both sides once this many bytes were sent on
    cut: Cut = Cut.FIN
    blackhole: bool = False  # read and drop everything
    corrupt_at: int | None = None  # XOR 0xFF into the byte at this offset


@dataclass
class Counters:
    connections: int = 0
    upstream_bytes: int = 0  # sent on from the accepting side to the target
    downstream_bytes: int = 0  # sent on from the target back
    cuts: int = 0
    open: int = 0
    dropped: int = 0  # bytes read and thrown away by a blackhole


def _reset_on_close(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


@dataclass(eq=False)  # identity: links live in a set
class _Link:
    client_w: asyncio.StreamWriter
    target_w: asyncio.StreamWriter
    cut_done: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def cut(self, how: Cut) -> None:
        if self.cut_done:
            return
        self.cut_done = True
        for w in (self.client_w, self.target_w):
            if how is Cut.RST:
                _reset_on_close(w)
                w.transport.abort()
            else:
                w.close()


class FaultRelay:
    """Relays 127.0.0.1:``port`` to ``target``, applying ``up`` (towards the target) and
    ``down`` (back) faults."""

    def __init__(
        self, target: tuple[str, int], up: Fault | None = None, down: Fault | None = None
    ) -> None:
        if target[0] not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the relay only talks to loopback")
        self.target = target
        self.up = up or Fault()
        self.down = down or Fault()
        self.counters = Counters()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # counters read from other threads
        self._stop_event: asyncio.Event | None = None

    # -- in a test's loop ---------------------------------------------------------------

    async def start_async(self) -> FaultRelay:
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def stop_async(self) -> None:
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            link.cut(Cut.FIN)
            for t in link.tasks:
                t.cancel()
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(DEADLINE):
                    await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> FaultRelay:
        return await self.start_async()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop_async()

    # -- in a thread of its own ---------------------------------------------------------

    def start(self) -> FaultRelay:
        ready = threading.Event()
        stop: list[asyncio.Event] = []

        async def main() -> None:
            stop.append(asyncio.Event())
            await self.start_async()
            ready.set()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(MAX_LIFETIME):
                    await stop[0].wait()
            await self.stop_async()

        def run() -> None:
            try:
                asyncio.run(main())
            finally:
                ready.set()

        self._thread = threading.Thread(target=run, name="fault-relay", daemon=True)
        self._thread.start()
        if not ready.wait(DEADLINE) or self.port == 0:
            raise RuntimeError("relay did not start")
        self._stop_event = stop[0]
        return self

    def stop(self) -> None:
        loop, thread, event = self._loop, self._thread, self._stop_event
        if loop is not None and thread is not None and event is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(event.set)
            thread.join(DEADLINE)
        self._thread = None

    def __enter__(self) -> FaultRelay:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- relaying -----------------------------------------------------------------------

    def snapshot(self) -> Counters:
        with self._lock:
            c = self.counters
            return Counters(
                c.connections, c.upstream_bytes, c.downstream_bytes, c.cuts, c.open, c.dropped
            )

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            target_r, target_w = await asyncio.open_connection(*self.target)
        except OSError:
            _reset_on_close(client_w)
            client_w.transport.abort()
            return
        link = _Link(client_w, target_w)
        self._links.add(link)
        with self._lock:
            self.counters.connections += 1
            self.counters.open += 1
        up = asyncio.create_task(self._pump(client_r, target_w, link, upstream=True))
        down = asyncio.create_task(self._pump(target_r, client_w, link, upstream=False))
        link.tasks = [up, down]
        try:
            async with asyncio.timeout(MAX_LIFETIME):
                await asyncio.gather(up, down, return_exceptions=True)
        except TimeoutError:
            link.cut(Cut.FIN)
        finally:
            for w in (client_w, target_w):
                w.close()
            self._links.discard(link)
            with self._lock:
                self.counters.open -= 1

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        link: _Link,
        *,
        upstream: bool,
    ) -> None:
        offset = 0  # bytes of this direction seen so far
        try:
            while not link.cut_done:
                data = await reader.read(CHUNK)
                if not data:
                    if writer.can_write_eof() and not writer.is_closing():
                        writer.write_eof()
                    return
                fault = self.up if upstream else self.down
                start = offset
                offset += len(data)
                if fault.blackhole:
                    with self._lock:
                        self.counters.dropped += len(data)
                    continue
                corrupt = fault.corrupt_at
                if corrupt is not None and start <= corrupt < offset:
                    i = corrupt - start
                    data = data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :]
                cut = fault.cut_after
                cutting = cut is not None and offset >= cut
                if cutting:
                    assert cut is not None
                    data = data[: max(0, cut - start)]
                if fault.latency:
                    await asyncio.sleep(fault.latency)  # the injected fault itself
                await self._send(writer, data, fault.bandwidth, upstream)
                if cutting:
                    with self._lock:
                        self.counters.cuts += 1
                    link.cut(fault.cut)
                    return
        except (ConnectionError, OSError):
            link.cut(Cut.FIN)

    async def _send(
        self, writer: asyncio.StreamWriter, data: bytes, bandwidth: int | None, upstream: bool
    ) -> None:
        step = len(data) if not bandwidth else max(1, bandwidth // PACING_SLICES)
        for i in range(0, len(data), step):
            part = data[i : i + step]
            writer.write(part)
            await writer.drain()
            with self._lock:
                if upstream:
                    self.counters.upstream_bytes += len(part)
                else:
                    self.counters.downstream_bytes += len(part)
            if bandwidth:
                await asyncio.sleep(len(part) / bandwidth)  # pacing: the injected fault
