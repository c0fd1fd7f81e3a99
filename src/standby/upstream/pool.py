"""Connections to one backend: connect with ConnTO, and a keep-alive pool of idle ones.

Errors are mapped once, here, to ``ConnectFailed`` with a reason for the health log, so the
exchange above only knows "this backend could not be reached".
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
from collections import deque
from typing import TYPE_CHECKING, Final, cast

from standby.model import BackendSpec
from standby.upstream import tls
from standby.upstream.protocol import UpstreamProtocol

if TYPE_CHECKING:
    from collections.abc import Callable

# An idle pooled connection is dropped after this long: shorter than Apache's default
# KeepAliveTimeout (5 s), so we close it before the backend does and rarely race a close.
POOL_IDLE_TIMEOUT: Final = 4.0
# Idle connections kept per backend; enough for the 50-connection benchmark with headroom.
POOL_MAX_IDLE: Final = 256
# Local resource exhaustion is our problem, not the backend's: never mark a backend dead
# because we ran out of file descriptors or memory.
LOCAL_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
# asyncio's own bound on a TLS handshake, set beyond ConnTO so that ConnTO (which covers
# the TCP connect and the handshake together) is always the one that fires.
HANDSHAKE_TIMEOUT_SLACK: Final = 1.0


class ConnectFailed(Exception):
    """The backend could not be reached; ``local`` means the fault was ours (EMFILE...)."""

    def __init__(self, reason: str, *, local: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.local = local


def resolve(spec: BackendSpec) -> tuple[int, object]:
    """(address family, socket address) for a backend, resolved once (blocking; call before
    chroot so that name service files are still reachable)."""
    if spec.unix:
        return socket.AF_UNIX, spec.address
    try:
        infos = socket.getaddrinfo(spec.address, spec.port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise OSError(f"cannot resolve backend {spec.address}: {exc.strerror or exc}") from None
    if not infos:  # pragma: no cover - getaddrinfo raises instead
        raise OSError(f"cannot resolve backend {spec.address}")
    family, _, _, _, sockaddr = infos[0]
    return family, sockaddr


class Pool:
    """Idle keep-alive connections to one backend, most recently used first."""

    __slots__ = ("_family", "_idle", "_loop", "_server_hostname", "_sockaddr", "spec", "tls")

    def __init__(
        self,
        spec: BackendSpec,
        loop: asyncio.AbstractEventLoop,
        address: tuple[int, object] | None = None,
    ) -> None:
        self.spec = spec
        self._loop = loop
        self._family, self._sockaddr = address if address is not None else resolve(spec)
        self._idle: deque[UpstreamProtocol] = deque()
        # HTTPS: connections are TLS, made with the backend's context (upstream/tls.py).
        self.tls = spec.tls is not None
        self._server_hostname = tls.server_hostname(spec) if self.tls else ""

    def acquire(self, now: float) -> UpstreamProtocol | None:
        """An idle connection that is still open and fresh, or None. ``now``: the loop's
        time, as the caller just read it (one clock reading serves a whole event)."""
        idle = self._idle
        while idle:
            conn = idle.pop()
            if conn.closed:
                continue
            if now - conn.idle_since > POOL_IDLE_TIMEOUT:
                conn.close()
                continue
            return conn
        return None

    def release(self, conn: UpstreamProtocol, now: float) -> None:
        """Keep ``conn`` for reuse, idle since ``now`` (the loop's time)."""
        if conn.closed:
            return
        if self.tls and not conn.reused:  # its first request: the backend's session
            tls.keep_session(conn.transport.get_extra_info("ssl_object"))
        idle = self._idle
        if len(idle) >= POOL_MAX_IDLE:
            conn.close()
            return
        conn.idle_since = now
        idle.append(conn)

    def prune(self) -> None:
        """Close idle connections past POOL_IDLE_TIMEOUT (called by the periodic sweep)."""
        now = self._loop.time()
        while self._idle and now - self._idle[0].idle_since > POOL_IDLE_TIMEOUT:
            self._idle.popleft().close()

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()

    async def connect(
        self, factory: Callable[[], UpstreamProtocol], timeout: float
    ) -> tuple[asyncio.Transport, UpstreamProtocol]:
        """A new connection within ``timeout`` seconds (for HTTPS, the TLS handshake
        included), or ConnectFailed. A handshake that fails or stalls is a connect
        failure: no request byte has left."""
        context = None
        if self.tls:
            try:
                context = tls.client_context(self.spec)
            except ValueError as exc:  # a certificate file that went bad since start-up
                raise ConnectFailed(f"TLS set-up failed: {exc}", local=True) from None
        try:
            sock = socket.socket(self._family, socket.SOCK_STREAM)
        except OSError as exc:
            raise ConnectFailed(exc.strerror or str(exc), local=True) from None
        handshaking = False
        # (UpstreamProtocol has the methods of an asyncio.Protocol but, being a native
        # class when compiled, cannot derive from it: see its docstring.)
        protocol_factory = cast("Callable[[], asyncio.Protocol]", factory)
        try:
            sock.setblocking(False)
            if self._family != socket.AF_UNIX:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            async with asyncio.timeout(timeout):
                await self._loop.sock_connect(sock, self._sockaddr)  # type: ignore[arg-type]
                if context is None:
                    transport, protocol = await self._loop.create_connection(
                        protocol_factory, sock=sock
                    )
                else:
                    handshaking = True
                    transport, protocol = await self._loop.create_connection(
                        protocol_factory,
                        sock=sock,
                        ssl=context,
                        server_hostname=self._server_hostname,
                        ssl_handshake_timeout=timeout + HANDSHAKE_TIMEOUT_SLACK,
                    )
        except TimeoutError:
            sock.close()
            what = "TLS handshake" if handshaking else "connect"
            raise ConnectFailed(f"{what} timed out after {timeout:g}s") from None
        except OSError as exc:  # ssl.SSLError is one
            sock.close()
            if handshaking:
                raise ConnectFailed(tls.handshake_failure(exc)) from None
            local = exc.errno in LOCAL_ERRNOS
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise ConnectFailed(f"connect failed: {reason}", local=local) from None
        except BaseException:
            sock.close()
            raise
        conn = cast(UpstreamProtocol, protocol)
        conn.tls = context is not None
        return transport, conn
