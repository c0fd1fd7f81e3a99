"""Binding the listening sockets, before privileges are dropped."""

from __future__ import annotations

import contextlib
import os
import socket

from standby.model import ConfigSpec, ListenerSpec

# Accept queue length; the kernel caps it at net.core.somaxconn. Large, so that a burst of
# visitors waits in the queue instead of being refused.
LISTEN_BACKLOG = 511


class BindError(Exception):
    """A listener could not be bound: ``cannot bind ADDRESS:PORT: reason``."""


def describe(spec: ListenerSpec) -> str:
    """``127.0.0.1:80`` or ``[::1]:80``."""
    if ":" in spec.address:
        return f"[{spec.address}]:{spec.port}"
    return f"{spec.address}:{spec.port}"


def _reason(exc: OSError) -> str:
    if exc.errno is not None:
        return os.strerror(exc.errno)
    return str(exc)


def bind_listener(spec: ListenerSpec) -> socket.socket:
    """One listening, non-blocking socket for ``spec``; raises ``BindError``."""
    try:
        infos = socket.getaddrinfo(
            spec.address,
            spec.port,
            type=socket.SOCK_STREAM,
            flags=socket.AI_PASSIVE | socket.AI_NUMERICSERV,
        )
    except socket.gaierror as exc:
        raise BindError(f"cannot bind {describe(spec)}: {exc.strerror}") from None
    family, kind, proto, _, sockaddr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            # "::" then means IPv6 only, so that "0.0.0.0" on the same port can coexist.
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(sockaddr)
        sock.listen(LISTEN_BACKLOG)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise BindError(f"cannot bind {describe(spec)}: {_reason(exc)}") from None
    return sock


def bind_listeners(config: ConfigSpec) -> list[socket.socket]:
    """One socket per ``config.listeners``, same order; all or nothing."""
    sockets: list[socket.socket] = []
    try:
        for spec in config.listeners:
            sockets.append(bind_listener(spec))
    except BindError:
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.close()
        raise
    return sockets
