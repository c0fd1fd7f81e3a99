"""The control socket: HTTP/1.1 over a UNIX socket, one request per connection (shell).

``ControlServer(path, view)`` listens on ``path`` (mode 0600 unless told otherwise, as Pound
does), parses each request head with ``standby.http1``, reads a small body, lets
``control.api`` decide, runs a reload when the API asks for one, writes the answer and closes.

At start a stale socket file (one nobody listens on, left by a crash) is removed; a socket
somebody still listens on, or a path that is not a socket, is an error (``ControlSocketError``)
so that a second instance never steals the first one's socket. At stop the file is removed
if it is still ours (same inode).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import stat
from typing import NamedTuple

from standby.clock import Clock, SystemClock
from standby.control import api
from standby.control.view import RuntimeView
from standby.http1 import BODY_CHUNKED, BODY_LENGTH, HttpError, Limits, parse_request_head
from standby.http1.messages import reason_phrase

log = logging.getLogger("standby.control")

DEFAULT_MODE = 0o600  # Pound's default: only the user who started the proxy may control it
MAX_BODY = 64 * 1024  # a control request carries at most a small JSON object
READ_TIMEOUT = 10.0  # seconds a client may take to send its whole request
READ_CHUNK = 16 * 1024  # bytes per read; requests are a few hundred bytes
# Heads are a request line and a few headers; 16 KiB leaves room for long names in paths.
LIMITS = Limits(max_request_line=8192, max_uri=8000, max_head=16 * 1024)
METHODS = frozenset({b"GET", b"PUT", b"DELETE", b"PATCH", b"POST"})


class ControlSocketError(Exception):
    """The control socket cannot be set up; the message names the path and why."""


class ControlServer:
    """Serves ``control.api`` for ``view`` on the UNIX socket ``path``."""

    def __init__(
        self,
        path: str,
        view: RuntimeView,
        *,
        mode: int = DEFAULT_MODE,
        clock: Clock | None = None,
    ) -> None:
        self.path = path
        self.mode = mode
        self._view = view
        self._clock: Clock = clock or SystemClock()
        self._server: asyncio.AbstractServer | None = None
        self._inode: tuple[int, int] | None = None  # (st_dev, st_ino) of the file we bound
        self._tasks: set[asyncio.Task[None]] = set()
        self._connections: set[int] = set()  # descriptors of open connections

    async def before_request(self) -> None:
        """Called before each request is decided: a view that gathers figures from
        elsewhere (the supervisor's, from its workers) refreshes them here."""

    def descriptors(self) -> list[int]:
        """The listening socket's and every open connection's descriptors (a process that
        forks closes them in the child)."""
        fds = set(self._connections)
        server = self._server
        if isinstance(server, asyncio.Server):
            fds.update(sock.fileno() for sock in server.sockets)
        return sorted(fd for fd in fds if fd >= 0)

    async def start(self) -> None:
        """Bind and listen; raises ControlSocketError."""
        _remove_stale(self.path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            # The file is created by bind() with the umask applied: no moment where it is
            # more open than ``mode``. chmod after, for modes the umask cannot express.
            old = os.umask(~self.mode & 0o777)
            try:
                sock.bind(self.path)
            finally:
                os.umask(old)
            os.chmod(self.path, self.mode)
            st = os.stat(self.path)
            self._inode = (st.st_dev, st.st_ino)
            sock.listen()
            sock.setblocking(False)
            self._server = await asyncio.start_unix_server(self._accept, sock=sock)
        except OSError as exc:
            sock.close()
            raise ControlSocketError(
                f"cannot listen on control socket {self.path}: {exc.strerror or exc}"
            ) from None

    async def stop(self) -> None:
        """Stop listening, abandon requests in progress, remove the socket file."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if server is not None:
            await server.wait_closed()
        if self._inode is not None:
            with contextlib.suppress(OSError):
                st = os.lstat(self.path)
                if (st.st_dev, st.st_ino) == self._inode:
                    os.unlink(self.path)
            self._inode = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        sock = writer.get_extra_info("socket")
        fd = sock.fileno() if sock is not None else -1
        self._connections.add(fd)
        try:
            async with asyncio.timeout(READ_TIMEOUT):  # reading only: a reload may take longer
                request = await self._read(reader, writer)
            if isinstance(request, _Request):
                request = await self._decide(request)
            if request is not None:
                writer.write(_serialise(request))
                await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            self._tasks.discard(task)
            self._connections.discard(fd)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _read(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> _Request | api.Reply | None:
        """One request, or the error answer it gets, or None when the client left first."""
        buf = b""
        try:
            while True:
                parsed = parse_request_head(buf, LIMITS, METHODS)
                if parsed is not None:
                    break
                data = await reader.read(READ_CHUNK)
                if not data:
                    return None
                buf += data
        except HttpError as exc:
            return api.error_reply(exc.status, exc.reason)
        head, consumed = parsed
        if head.body == BODY_CHUNKED:
            return api.error_reply(411, "send the body with a Content-Length")
        body = buf[consumed:]
        if head.body == BODY_LENGTH:
            if head.content_length > MAX_BODY:
                return api.error_reply(413, f"the body is limited to {MAX_BODY} bytes")
            if head.expect_continue and len(body) < head.content_length:
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            try:
                body += await reader.readexactly(head.content_length - len(body))
            except asyncio.IncompleteReadError:
                return None
            body = body[: head.content_length]
        else:
            body = b""
        return _Request(head.method.decode("ascii"), head.target.decode("latin-1"), body)

    async def _decide(self, request: _Request) -> api.Reply:
        method, target, body = request
        try:
            await self.before_request()
            decided = api.handle(self._view, method, target, body, self._clock.wall())
            if isinstance(decided, api.Reply):
                return decided
            ok, message = await self._view.reload()
            log.info("reload requested on the control socket: %s", message)
            return api.reload_reply(ok, message)
        except Exception as exc:  # one bad request must not take the control socket down
            log.exception("control request %s %s failed", method, target)
            return api.error_reply(500, f"internal error: {type(exc).__name__}: {exc}")


class _Request(NamedTuple):
    method: str
    target: str
    body: bytes


def _serialise(reply: api.Reply) -> bytes:
    lines = [
        b"HTTP/1.1 %d %s\r\n" % (reply.status, reason_phrase(reply.status)),
        b"Content-Type: %s\r\n" % reply.content_type.encode("ascii"),
        b"Content-Length: %d\r\n" % len(reply.body),
    ]
    if reply.allow:
        lines.append(b"Allow: %s\r\n" % ", ".join(reply.allow).encode("ascii"))
    lines.append(b"Cache-Control: no-store\r\nConnection: close\r\n\r\n")
    lines.append(reply.body)
    return b"".join(lines)


def _remove_stale(path: str) -> None:
    """Remove ``path`` if it is a socket nobody listens on; refuse anything else."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ControlSocketError(f"control socket {path}: {exc.strerror or exc}") from None
    if not stat.S_ISSOCK(st.st_mode):
        raise ControlSocketError(f"control socket {path} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)  # a UNIX connect answers at once: accepted or refused
    except ConnectionRefusedError:
        os.unlink(path)  # nobody listens: a leftover from a process that died
        log.info("removed stale control socket %s", path)
        return
    except OSError as exc:
        raise ControlSocketError(f"control socket {path}: {exc.strerror or exc}") from None
    finally:
        probe.close()
    raise ControlSocketError(f"control socket {path} is in use by another process")
