"""Binding the listening sockets, before privileges are dropped."""

from __future__ import annotations

import contextlib
import errno
import os
import socket
from dataclasses import replace

from standby.model import ConfigSpec, ListenerSpec, listening
from standby.process import activation

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


# `SocketFrom`: the sender passes one descriptor (any more in the message are cut off).
MAX_PASSED_FDS = 1
PASS_MESSAGE = 1  # bytes of ordinary data read with the descriptor (senders send one or more)
RECEIVE_TIMEOUT = 30.0  # seconds to wait for the sender to pass the socket

# Sockets received for `SocketFrom`, by the path given: the sender serves the path once, so
# a reload that names it again reuses the socket received at start.
_received: dict[str, socket.socket] = {}


def receive_socket(path: str) -> tuple[str, int]:
    """Connect to the UNIX socket ``path``, receive a listening socket (SCM_RIGHTS) and keep
    it for ``bind_listener``; returns its (address, port). Raises ``OSError``."""
    kept = _received.get(path)
    if kept is None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as channel:
            channel.settimeout(RECEIVE_TIMEOUT)
            channel.connect(path)
            _, fds, _, _ = socket.recv_fds(channel, PASS_MESSAGE, MAX_PASSED_FDS)
        if not fds:
            raise OSError(errno.EPROTO, "no socket was passed")
        try:
            kept = socket.socket(fileno=fds[0])
        except OSError:
            os.close(fds[0])  # not a socket at all
            raise
        if kept.type != socket.SOCK_STREAM or kept.family not in (
            socket.AF_INET,
            socket.AF_INET6,
        ):
            kept.close()
            raise OSError(errno.ENOTSOCK, "the descriptor passed is not a TCP socket")
        kept.set_inheritable(False)
        _received[path] = kept
    address = kept.getsockname()
    return str(address[0]), int(address[1])


def _received_copy(spec: ListenerSpec) -> socket.socket:
    """A descriptor of the socket received for ``spec`` (each user closes its own)."""
    assert spec.socket_from is not None
    kept = _received.get(spec.socket_from)
    if kept is None:
        raise BindError(f"no socket was received from {spec.socket_from!r}")
    sock = kept.dup()
    try:
        sock.listen(LISTEN_BACKLOG)  # the sender may have passed it before listen()
    except OSError as exc:
        sock.close()
        raise BindError(
            f"cannot listen on the socket from {spec.socket_from}: {_reason(exc)}"
        ) from None
    sock.setblocking(False)
    return sock


def bind_listener(spec: ListenerSpec, *, reuse_port: bool = False) -> socket.socket:
    """One listening, non-blocking socket for ``spec``; raises ``BindError``.

    ``reuse_port``: join a ``SO_REUSEPORT`` group (one socket per worker slot). A
    ``SocketFrom`` listener, or one whose address systemd passed a socket for
    (``activation``), gets a copy of that socket instead (every slot shares its one accept
    queue)."""
    if spec.socket_from is not None:
        return _received_copy(spec)
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
    inherited = activation.claim(spec, sockaddr, family)
    if inherited is not None:  # systemd bound it (socket activation): every slot shares it
        inherited.setblocking(False)
        return inherited
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            # "::" written means IPv6 only, so that "0.0.0.0" on the same port can coexist;
            # a listener without Address is Pound's "::" for both (ListenerSpec.dual_stack).
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if spec.dual_stack else 1)
        sock.bind(sockaddr)
        sock.listen(LISTEN_BACKLOG)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise BindError(f"cannot bind {describe(spec)}: {_reason(exc)}") from None
    return sock


def _close_all(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.close()


def bind_listeners(config: ConfigSpec) -> list[socket.socket]:
    """One socket per ``config.listeners`` then per ``config.tunnels`` (``listening``),
    same order; all or nothing."""
    sockets: list[socket.socket] = []
    try:
        for spec in listening(config):
            sockets.append(bind_listener(spec))
    except BindError:
        _close_all(sockets)
        raise
    return sockets


def bind_slots(config: ConfigSpec, count: int) -> list[list[socket.socket]]:
    """``count`` sets of sockets (one per worker slot), each with one socket per listener,
    all in ``SO_REUSEPORT`` groups: the kernel spreads new connections over the slots.

    Each address is first bound once without ``SO_REUSEPORT``: if anything else holds it
    (another standby included, whose sockets would otherwise let us join their group and
    share its traffic), that fails as a plain bind would. Port 0 takes the port the first
    slot got, so that every slot serves the same address. All or nothing."""
    specs = list(listening(config))  # the HTTP listeners', then the tunnels'
    for spec in specs:
        if spec.port != 0 and spec.socket_from is None:
            bind_listener(spec).close()
    slots: list[list[socket.socket]] = []
    try:
        for _ in range(count):
            sockets: list[socket.socket] = []
            slots.append(sockets)
            for position, spec in enumerate(specs):
                sock = bind_listener(spec, reuse_port=True)
                sockets.append(sock)
                if spec.port == 0:
                    specs[position] = replace(spec, port=int(sock.getsockname()[1]))
    except BindError:
        for sockets in slots:
            _close_all(sockets)
        raise
    return slots
