"""A small HTTP/1.1 backend for tests: real sockets on loopback, keep-alive aware.

It answers by path:
  /                      "<name>" (text), keep-alive
  /size/N                N bytes of body
  /download/N            N bytes streamed in 64 KiB writes (pattern from ``pattern_bytes``)
  /chunked/N             N bytes as a chunked response
  /upload                reads the body (Content-Length or chunked), answers its SHA-256
  /echo                  answers the request head it received, verbatim
  /status/N              answers status N (with a small body unless N forbids one)
  /slow/S                waits S seconds (float) then answers
  /close                 answers with Connection: close and closes
  /location              302 with Location: http://<its own address>/moved
  /ws                    with an Upgrade header: 101, then echoes bytes back
Every request's raw head is recorded in ``Backend.heads``.

Run in a thread (``Backend(...).start()``) or as a process
(``python -m tests.support.backend NAME PORT``: prints "ready PORT" when listening).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import socket
import struct
import sys
import threading
from dataclasses import dataclass
from typing import Any

CHUNK = 64 * 1024
_PATTERN = bytes(range(256)) * 256  # 64 KiB


def pattern_bytes(n: int) -> bytes:
    """The first n bytes of the download pattern (for checking digests)."""
    reps, rest = divmod(n, len(_PATTERN))
    return _PATTERN * reps + _PATTERN[:rest]


def download_digest(n: int) -> str:
    h = hashlib.sha256()
    left = n
    while left:
        part = _PATTERN[: min(left, len(_PATTERN))]
        h.update(part)
        left -= len(part)
    return h.hexdigest()


_STATUS_TEXT = {
    200: "OK",
    101: "Switching Protocols",
    204: "No Content",
    302: "Found",
    304: "Not Modified",
    404: "Not Found",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


class _Conn(asyncio.Protocol):
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.buf = b""
        self.transport: asyncio.Transport | None = None
        self.task: asyncio.Task[None] | None = None
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.can_write = asyncio.Event()
        self.can_write.set()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.backend.conns.add(self)
        if self.backend.ssl is not None:  # made after the handshake: what the client did
            ssl_object = transport.get_extra_info("ssl_object")
            self.backend.tls_connections.append(
                TlsSeen(
                    peer_cert=transport.get_extra_info("peercert"),
                    resumed=bool(ssl_object.session_reused),
                    version=ssl_object.version(),
                )
            )
        self.task = asyncio.get_running_loop().create_task(self.serve())

    def data_received(self, data: bytes) -> None:
        self.queue.put_nowait(data)

    def eof_received(self) -> bool:
        self.queue.put_nowait(None)
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.backend.conns.discard(self)
        self.queue.put_nowait(None)
        self.can_write.set()

    def pause_writing(self) -> None:
        self.can_write.clear()

    def resume_writing(self) -> None:
        self.can_write.set()

    async def read_more(self) -> bool:
        data = await self.queue.get()
        if data is None:
            return False
        self.buf += data
        return True

    async def read_head(self) -> bytes | None:
        while b"\r\n\r\n" not in self.buf:
            if not await self.read_more():
                return None
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        return head + b"\r\n\r\n"

    async def read_exact(self, n: int, sink: Any) -> bool:
        while n:
            if not self.buf and not await self.read_more():
                return False
            part, self.buf = self.buf[:n], self.buf[n:]
            sink(part)
            n -= len(part)
        return True

    async def read_line(self) -> bytes | None:
        while b"\r\n" not in self.buf:
            if not await self.read_more():
                return None
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    async def read_body(self, head: bytes, sink: Any) -> bool:
        lower = head.lower()
        m = re.search(rb"\r\ncontent-length:\s*(\d+)", lower)
        if m:
            return await self.read_exact(int(m.group(1)), sink)
        if re.search(rb"\r\ntransfer-encoding:\s*chunked", lower):
            while True:
                line = await self.read_line()
                if line is None:
                    return False
                size = int(line.split(b";")[0], 16)
                if size == 0:
                    while True:  # trailers
                        t = await self.read_line()
                        if t is None:
                            return False
                        if t == b"":
                            return True
                if not await self.read_exact(size, sink):
                    return False
                if await self.read_line() != b"":
                    return False
        return True

    async def write(self, data: bytes) -> None:
        await self.can_write.wait()
        assert self.transport is not None
        if not self.transport.is_closing():
            self.transport.write(data)

    async def serve(self) -> None:
        try:
            while True:
                head = await self.read_head()
                if head is None:
                    break
                self.backend.heads.append(head)
                self.backend.requests += 1
                if not await self.handle(head):
                    break
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            if self.transport is not None:
                self.transport.close()

    def respond(
        self,
        status: int,
        body: bytes,
        headers: list[str] | None = None,
        close: bool = False,
        head_only: bool = False,
    ) -> bytes:
        lines = [
            f"HTTP/1.1 {status} {_STATUS_TEXT.get(status, 'Status')}",
            f"X-Backend: {self.backend.name}",
        ]
        if status not in (204, 304) and status >= 200:
            lines.append(f"Content-Length: {len(body)}")
        lines.extend(headers or [])
        if close:
            lines.append("Connection: close")
        out = ("\r\n".join(lines) + "\r\n\r\n").encode()
        return out if head_only else out + body

    async def handle(self, head: bytes) -> bool:
        mode = self.backend.mode
        if mode != "ok":
            return await self.misbehave(mode, head)
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        method, target, version = line.split(" ")
        path = target.split("?")[0]
        is_head = method == "HEAD"
        close = version == "HTTP/1.0" and b"keep-alive" not in head.lower()
        if b"\r\nconnection: close" in head.lower():
            close = True
        parts = path.strip("/").split("/")
        name = self.backend.name.encode()
        assert self.transport is not None
        if path == "/upload":
            h = hashlib.sha256()
            if not await self.read_body(head, h.update):
                return False
            await self.write(self.respond(200, h.hexdigest().encode(), close=close))
            return not close
        body_ok = await self.read_body(head, lambda _b: None)
        if not body_ok:
            return False
        if parts[0] == "size":
            body = b"x" * int(parts[1])
            await self.write(self.respond(200, body, close=close, head_only=is_head))
        elif parts[0] == "download":
            n = int(parts[1])
            await self.write(
                self.respond(200, b"", close=close)[:-4].replace(
                    b"Content-Length: 0", f"Content-Length: {n}".encode()
                )
                + b"\r\n\r\n"
            )
            sent = 0
            while sent < n:
                part = _PATTERN[: min(CHUNK, n - sent)]
                await self.write(part)
                sent += len(part)
        elif parts[0] == "chunked":
            n = int(parts[1])
            await self.write(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Backend: " + name + b"\r\n\r\n"
            )
            sent = 0
            while sent < n:
                part = _PATTERN[: min(CHUNK, n - sent)]
                await self.write(b"%x\r\n%s\r\n" % (len(part), part))
                sent += len(part)
            await self.write(b"0\r\n\r\n")
        elif parts[0] == "echo":
            await self.write(self.respond(200, head, close=close))
        elif parts[0] == "status":
            code = int(parts[1])
            body = b"" if code in (204, 304) else f"status {code}\n".encode()
            await self.write(self.respond(code, body, close=close, head_only=is_head))
        elif parts[0] == "slow":
            await asyncio.sleep(float(parts[1]))
            await self.write(self.respond(200, name, close=close))
        elif parts[0] == "close":
            await self.write(self.respond(200, name, close=True))
            return False
        elif parts[0] == "location":
            host, port = self.backend.address
            loc = f"Location: http://{host}:{port}/moved"
            await self.write(self.respond(302, b"moved", [loc], close=close))
        elif parts[0] == "ws":
            await self.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\n\r\n"
            )
            if self.buf:
                await self.write(self.buf)
                self.buf = b""
            while await self.read_more():
                await self.write(self.buf)
                self.buf = b""
            return False
        else:
            await self.write(self.respond(200, name, close=close, head_only=is_head))
        return not close

    async def misbehave(self, mode: str, head: bytes) -> bool:
        assert self.transport is not None
        if mode == "503":
            # What WordPress answers during an upgrade.
            await self.read_body(head, lambda _b: None)
            await self.write(
                self.respond(
                    503, b"Briefly unavailable for scheduled maintenance.", ["Retry-After: 600"]
                )
            )
            return True
        if mode == "reset":
            sock = self.transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.transport.abort()
            return False
        if mode == "hang":
            while await self.read_more():
                pass
            return False
        raise AssertionError(f"unknown mode {mode}")


@dataclass(frozen=True)
class TlsSeen:
    """What a TLS backend saw of one connection's handshake."""

    peer_cert: dict[str, Any] | None  # the client certificate, when one was verified
    resumed: bool  # the client offered a session and the backend resumed it
    version: str | None


class Backend:
    """A test backend on 127.0.0.1, run in its own thread with its own event loop.
    With ``ssl`` (a server context) it speaks HTTPS and records each TLS connection in
    ``tls_connections`` and each name a client sent (SNI, None for none) in ``sni``."""

    def __init__(self, name: str, port: int = 0, host: str = "127.0.0.1", ssl: Any = None) -> None:
        self.name = name
        self.ssl = ssl
        self.tls_connections: list[TlsSeen] = []
        self.sni: list[str | None] = []
        if ssl is not None:
            ssl.sni_callback = lambda _obj, server_name, _ctx: self.sni.append(server_name)
        self.host = host
        self.port = port
        self.heads: list[bytes] = []
        self.requests = 0
        self.mode = "ok"  # or "503", "reset", "hang": how to answer every request
        self.conns: set[_Conn] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._ready = threading.Event()

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def _bind(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(512)
        self.port = sock.getsockname()[1]
        return sock

    async def serve_forever(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Conn(self), sock=sock, ssl=self.ssl)
        self._ready.set()
        await self._server.serve_forever()

    def start(self) -> Backend:
        sock = self._bind()
        self._ready.clear()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(self.serve_forever(sock))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name=f"backend-{self.name}", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("backend did not start")
        return self

    def stop(self) -> None:
        """Close the listener and every connection (like a process that died)."""
        loop = self._loop
        if loop is None or self._thread is None:
            return

        def shut() -> None:
            if self._server is not None:
                self._server.close()
            for conn in list(self.conns):
                if conn.transport is not None:
                    conn.transport.abort()
                if conn.task is not None:
                    conn.task.cancel()
            for task in asyncio.all_tasks(loop):
                task.cancel()

        loop.call_soon_threadsafe(shut)
        self._thread.join(10)
        self._thread = None
        self._loop = None

    def __enter__(self) -> Backend:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    name, port = sys.argv[1], int(sys.argv[2])
    backend = Backend(name, port)
    sock = backend._bind()
    print(f"ready {backend.port}", flush=True)
    try:
        import uvloop

        uvloop.run(backend.serve_forever(sock))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
