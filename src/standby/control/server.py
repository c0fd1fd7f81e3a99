"""The control socket: HTTP/1.1 over a UNIX socket, one request per connection (shell).

``ControlServer(path, view)`` listens on ``path`` (mode 0600 unless told otherwise, as Pound
does), parses each request head with ``standby.http1``, reads a small body, lets
``control.api`` decide, runs a reload when the API asks for one, writes the answer and closes.

The socket is bound by ``bind_control`` at start-up, in Pound's order: with the listeners,
before privileges are dropped, so that it can live in a directory only root may write to
(``/run``) and belongs to the user who started standby (``ChangeOwner`` gives it to
``User``/``Group`` instead, as in Pound). ``ControlServer`` then serves that socket (or binds
one itself when given none: tests, embedding).

At start a stale socket file (one nobody listens on, left by a crash, or by a stop that had
no permission left to remove it) is removed; a socket somebody still listens on, or a path
that is not a socket, is an error (``ControlSocketError``) so that a second instance never
steals the first one's socket. At stop the file is removed if it is still ours (same inode)
and the process may still remove it: after privileges were dropped it usually may not, and
the next start removes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import stat
from dataclasses import dataclass
from typing import NamedTuple

from standby.clock import Clock, SystemClock
from standby.control import api
from standby.control.view import RuntimeView
from standby.http1 import BODY_CHUNKED, BODY_LENGTH, HttpError, Limits, parse_request_head
from standby.model import ConfigSpec

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


@dataclass(frozen=True, slots=True)
class BoundControl:
    """A control socket bound and listening, not yet served."""

    sock: socket.socket
    path: str
    inode: tuple[int, int]  # (st_dev, st_ino) of the file bound: removed only if still it

    def discard(self) -> None:
        """Close it and remove its file (a start-up that failed after binding)."""
        self.sock.close()
        _remove_if_ours(self.path, self.inode)


def control_changed(old: ConfigSpec, new: ConfigSpec) -> bool:
    """Whether a reload to ``new`` asks for another control socket (path, mode or
    owner): bound once at start-up, it takes effect at the next start only."""
    before = (old.control, old.control_mode, old.control_owner)
    return before != (new.control, new.control_mode, new.control_owner)


def bind_control(
    path: str, mode: int = DEFAULT_MODE, owner: tuple[int, int] | None = None
) -> BoundControl:
    """Bind and listen on ``path`` with permissions ``mode``; ``owner``: (uid, gid) to give
    the file (-1 keeps one), else it stays the binding process's. Raises
    ControlSocketError."""
    _remove_stale(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    bound = False
    try:
        # The file is created by bind() with the umask applied: no moment where it is
        # more open than ``mode``. chmod after, for modes the umask cannot express.
        old = os.umask(~mode & 0o777)
        try:
            sock.bind(path)
        finally:
            os.umask(old)
        bound = True
        os.chmod(path, mode)
        if owner is not None:
            os.chown(path, owner[0], owner[1])
        st = os.stat(path)
        sock.listen()
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        if bound:
            with contextlib.suppress(OSError):
                os.unlink(path)
        raise ControlSocketError(
            f"cannot listen on control socket {path}: {exc.strerror or exc}"
        ) from None
    return BoundControl(sock, path, (st.st_dev, st.st_ino))


class ControlServer:
    """Serves ``control.api`` for ``view`` on the UNIX socket ``path``."""

    def __init__(
        self,
        path: str,
        view: RuntimeView,
        *,
        mode: int = DEFAULT_MODE,
        clock: Clock | None = None,
        bound: BoundControl | None = None,
    ) -> None:
        """``bound``: the socket bound at start-up (``bind_control``); without it
        ``start`` binds ``path`` with ``mode``."""
        self.path = path
        self.mode = mode
        self._bound = bound
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
        """Serve the socket bound at start-up, or bind one now; raises
        ControlSocketError."""
        bound, self._bound = self._bound, None
        if bound is None:
            bound = bind_control(self.path, self.mode)
        self._inode = bound.inode
        try:
            self._server = await asyncio.start_unix_server(self._accept, sock=bound.sock)
        except OSError as exc:
            bound.discard()
            raise ControlSocketError(
                f"cannot listen on control socket {self.path}: {exc.strerror or exc}"
            ) from None

    async def stop(self) -> None:
        """Stop listening, abandon requests in progress, remove the socket file."""
        bound, self._bound = self._bound, None
        if bound is not None:  # bound at start-up, never served
            bound.discard()
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
            _remove_if_ours(self.path, self._inode)
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
            if isinstance(request, ControlRequest):
                request = await self.decide(request)
            if request is not None:
                writer.write(api.serialise(request))
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
    ) -> ControlRequest | api.Reply | None:
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
        return ControlRequest(head.method.decode("ascii"), head.target.decode("latin-1"), body)

    async def decide(self, request: ControlRequest) -> api.Reply:
        """The reply to one request (a subclass may answer some itself: the supervisor's
        shared metrics)."""
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


class ControlRequest(NamedTuple):
    """One request read from the control socket."""

    method: str
    target: str
    body: bytes


def _remove_if_ours(path: str, inode: tuple[int, int]) -> None:
    """Remove ``path`` if it is still the file we bound. Without the right to (standby
    dropped privileges and the directory is root's) it stays: nobody listens on it, so
    the next start removes it (``_remove_stale``)."""
    try:
        st = os.lstat(path)
        if (st.st_dev, st.st_ino) == inode:
            os.unlink(path)
    except PermissionError:
        log.info("control socket %s left in place (no permission to remove it)", path)
    except OSError:
        pass  # gone already, or replaced: not ours to touch


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
