"""The benchmark's built-in backend, for machines without nginx (and for the smoke test).

``python -m standby_bench.builtin_backend --port N --big-size BYTES`` serves the same paths
as the nginx backend: the small page at /, a 64 KiB page, a BYTES-long download, and an
upload sink that reads the whole request body before answering 200. It exits when its
standard input reaches end of file, so a killed benchmark never leaves it behind.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import threading

from standby_bench.configs import (
    BIG_PATH,
    PAGE_64K_PATH,
    PAGE_64K_SIZE,
    SMALL_PAGE,
    UPLOAD_PATH,
)
from standby_bench.net import HOST, MAX_HEAD, TRANSFER_CHUNK

_NOT_FOUND = b"not found\n"
_UNSUPPORTED = b"HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def _response(status: str, body_length: int, *, keep_alive: bool) -> bytes:
    connection = "keep-alive" if keep_alive else "close"
    head = f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {body_length}\r\n"
    return (head + f"Connection: {connection}\r\n\r\n").encode()


class Backend:
    def __init__(self, big_size: int) -> None:
        self.big_size = big_size
        self.small = SMALL_PAGE.encode()
        self.page_64k = b"x" * PAGE_64K_SIZE
        self.zeros = bytes(TRANSFER_CHUNK)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, ValueError):
            while await self._exchange(reader, writer):
                pass
        writer.close()

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """One request and its response; whether the connection stays open."""
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head[:-4].split(b"\r\n")
        _method, path, version = lines[0].split(b" ", 2)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip().lower()
        if b"transfer-encoding" in headers:
            writer.write(_UNSUPPORTED)  # the bench and the proxies send Content-Length
            return False
        left = int(headers.get(b"content-length", b"0"))
        while left > 0:  # read (and drop) the whole body before answering
            data = await reader.read(min(left, TRANSFER_CHUNK))
            if not data:
                return False
            left -= len(data)
        keep_alive = version == b"HTTP/1.1" and headers.get(b"connection") != b"close"
        if path == BIG_PATH.encode():
            writer.write(_response("200 OK", self.big_size, keep_alive=keep_alive))
            left = self.big_size
            while left > 0:
                writer.write(self.zeros[: min(left, len(self.zeros))])
                left -= min(left, len(self.zeros))
                await writer.drain()
        else:
            body = {
                b"/": self.small,
                PAGE_64K_PATH.encode(): self.page_64k,
                UPLOAD_PATH.encode(): b"uploaded\n",
            }.get(path, _NOT_FOUND)
            status = "404 Not Found" if body is _NOT_FOUND else "200 OK"
            writer.write(_response(status, len(body), keep_alive=keep_alive) + body)
            await writer.drain()
        return keep_alive


async def _main(port: int, big_size: int) -> None:
    backend = Backend(big_size)
    server = await asyncio.start_server(backend.serve, HOST, port, limit=MAX_HEAD)
    async with server:
        await server.serve_forever()


def _exit_when_stdin_closes() -> None:
    sys.stdin.buffer.read()
    os._exit(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--big-size", type=int, required=True, help="bytes served at /big")
    args = parser.parse_args()
    threading.Thread(target=_exit_when_stdin_closes, daemon=True).start()
    try:
        import uvloop

        uvloop.run(_main(args.port, args.big_size))
    except ImportError:
        asyncio.run(_main(args.port, args.big_size))


if __name__ == "__main__":
    main()
