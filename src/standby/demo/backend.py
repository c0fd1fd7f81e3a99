"""A tiny HTTP/1.1 server for the demo (and the benchmark's fallback backend).

It answers every request with a short text page naming itself ("primary" or "standby") and
the request path, keeps connections alive when the client wants it, and takes commands on a
UNIX control socket: `down` closes its listening socket and drops every connection (so it
looks like a stopped server), `up` listens again, `status` tells which it is.

Run as ``python -m standby.demo.backend --name primary --port 8081 [--control PATH]``.
It prints ``ready PORT`` on stdout once it listens. With ``--watch-stdin`` it exits when its
standard input reaches end of file, i.e. when the parent that holds the pipe dies, so a killed
demo never leaves backends behind.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import sys
from typing import cast

import httptools
import uvloop

from standby.demo.settings import DEMO_HOST

# Longest request target the demo echoes; longer ones are refused, the demo keeps no big state.
MAX_TARGET = 8192
# A control command is one short word; anything longer is not one.
MAX_CONTROL_LINE = 64
# How long a control client may take to send its command before it is dropped.
CONTROL_READ_TIMEOUT = 5.0

CONTROL_COMMANDS = ("down", "up", "status")

_BAD_REQUEST = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n"
    b"Connection: close\r\n\r\nbad request\n"
)
_URI_TOO_LONG = (
    b"HTTP/1.1 414 URI Too Long\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n"
    b"Connection: close\r\n\r\nURI too long\n"
)


def render_response(
    name: str, port: int, method: bytes, target: bytes, *, keep_alive: bool, http10: bool
) -> bytes:
    """The whole response to one request: a small text page that says who answered."""
    body = (
        f"Hello from the {name} backend ({DEMO_HOST}:{port}): "
        f"{method.decode('latin-1')} {target.decode('latin-1')}\n"
    ).encode()
    head = [
        b"HTTP/1.1 200 OK",
        b"Content-Type: text/plain; charset=utf-8",
        b"Content-Length: " + str(len(body)).encode(),
        b"X-Demo-Backend: " + name.encode(),
    ]
    if not keep_alive:
        head.append(b"Connection: close")
    elif http10:
        head.append(b"Connection: keep-alive")
    response = b"\r\n".join(head) + b"\r\n\r\n"
    return response if method == b"HEAD" else response + body


class _Exchange(asyncio.Protocol):
    """One client connection: feed httptools, answer each complete request in order."""

    def __init__(self, backend: DemoBackend) -> None:
        self._backend = backend
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._target = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport but implement it.
        self._transport = cast(asyncio.Transport, transport)
        self._backend.connections.add(self._transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._backend.connections.discard(self._transport)

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._target.clear()

    def on_url(self, url: bytes) -> None:
        self._target += url

    def on_message_complete(self) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        keep_alive = self._parser.should_keep_alive()
        transport.write(
            render_response(
                self._backend.name,
                self._backend.port,
                self._parser.get_method(),
                bytes(self._target),
                keep_alive=keep_alive,
                http10=self._parser.get_http_version() == "1.0",
            )
        )
        if not keep_alive:
            transport.close()

    def data_received(self, data: bytes) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            transport.close()  # the demo speaks plain HTTP only
        except httptools.HttpParserError:
            transport.write(_BAD_REQUEST)
            transport.close()
        else:
            if len(self._target) > MAX_TARGET:
                transport.write(_URI_TOO_LONG)
                transport.close()


class DemoBackend:
    """The listening side of a demo backend, which can be taken down and brought up."""

    def __init__(self, name: str, host: str, port: int) -> None:
        self.name = name
        self.host = host
        self.port = port  # 0 until the first bind picks one, then kept across down/up
        self.connections: set[asyncio.Transport] = set()
        self._server: asyncio.AbstractServer | None = None

    @property
    def is_up(self) -> bool:
        return self._server is not None

    async def up(self) -> None:
        """Listen (again). Raises OSError if the port cannot be bound."""
        if self._server is not None:
            return
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: _Exchange(self), self.host, self.port, reuse_address=True
        )
        if self.port == 0:
            self.port = int(server.sockets[0].getsockname()[1])
        self._server = server

    def down(self) -> None:
        """Stop listening and drop every connection, as a stopped server would."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for transport in list(self.connections):
            transport.abort()
        self.connections.clear()

    def describe(self) -> str:
        state = "up" if self.is_up else "down"
        return f"{self.name} backend is {state} ({self.host}:{self.port})"


async def _control_command(backend: DemoBackend, command: str) -> str:
    if command == "down":
        backend.down()
    elif command == "up":
        try:
            await backend.up()
        except OSError as exc:
            return f"error: cannot listen on {backend.host}:{backend.port}: {exc.strerror}"
    elif command != "status":
        return f"error: unknown command {command!r} (use {', '.join(CONTROL_COMMANDS)})"
    return backend.describe()


async def _serve_control(backend: DemoBackend, path: str) -> asyncio.AbstractServer:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), CONTROL_READ_TIMEOUT)
            command = line[:MAX_CONTROL_LINE].decode("ascii", "replace").strip().lower()
            was_up = backend.is_up
            answer = await _control_command(backend, command)
            if backend.is_up != was_up:
                print(f"standby demo: {answer}", file=sys.stderr, flush=True)
            writer.write(answer.encode() + b"\n")
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    _refuse_if_alive(path)
    return await asyncio.start_unix_server(handle, path)


def _refuse_if_alive(path: str) -> None:
    """Remove a control socket left by a demo that died, but never steal a live one."""
    if not os.path.exists(path):
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        os.unlink(path)  # nobody listens: a leftover
        return
    finally:
        probe.close()
    raise OSError(f"another demo backend answers on {path}")


async def serve(name: str, host: str, port: int, control: str | None, watch_stdin: bool) -> int:
    backend = DemoBackend(name, host, port)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await backend.up()
    except OSError as exc:
        print(f"standby demo: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        return 1
    control_server: asyncio.AbstractServer | None = None
    if control is not None:
        try:
            control_server = await _serve_control(backend, control)
        except OSError as exc:
            print(f"standby demo: control socket: {exc}", file=sys.stderr)
            backend.down()
            return 1
    if watch_stdin:

        class _ParentGone(asyncio.Protocol):
            def connection_lost(self, exc: Exception | None) -> None:
                stop.set()

        await loop.connect_read_pipe(_ParentGone, sys.stdin)
    print(f"ready {backend.port}", flush=True)
    try:
        await stop.wait()
    finally:
        backend.down()
        if control_server is not None and control is not None:
            control_server.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(control)
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m standby.demo.backend", description=__doc__)
    parser.add_argument("--name", required=True, help="what the page says: primary, standby...")
    parser.add_argument("--host", default=DEMO_HOST, help="loopback address to listen on")
    parser.add_argument("--port", type=int, required=True, help="port (0 picks a free one)")
    parser.add_argument("--control", help="UNIX socket path for down/up/status commands")
    parser.add_argument(
        "--watch-stdin", action="store_true", help="exit when standard input is closed"
    )
    args = parser.parse_args(argv)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(serve(args.name, args.host, args.port, args.control, args.watch_stdin))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
