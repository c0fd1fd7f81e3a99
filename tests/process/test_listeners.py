"""Binding listener sockets: options, families, and the error message."""

from __future__ import annotations

import socket

import pytest

from standby.model import ConfigSpec, ListenerSpec
from standby.process.listeners import LISTEN_BACKLOG, BindError, bind_listeners


def _listener(address: str, port: int) -> ListenerSpec:
    return ListenerSpec(name=None, address=address, port=port)


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


def test_binds_listening_non_blocking_reusable_sockets() -> None:
    config = ConfigSpec(listeners=(_listener("127.0.0.1", 0), _listener("127.0.0.1", 0)))
    sockets = bind_listeners(config)
    try:
        assert len(sockets) == 2
        for sock in sockets:
            assert sock.family == socket.AF_INET
            assert sock.getblocking() is False
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 1
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
            with socket.create_connection(sock.getsockname()[:2], timeout=10):
                pass
        assert LISTEN_BACKLOG > 0
    finally:
        for sock in sockets:
            sock.close()


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback here")
def test_ipv6_address_gives_an_ipv6_only_socket() -> None:
    (sock,) = bind_listeners(ConfigSpec(listeners=(_listener("::1", 0),)))
    try:
        assert sock.family == socket.AF_INET6
        assert sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 1
    finally:
        sock.close()


def test_address_in_use_is_a_clear_error_and_nothing_stays_bound() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            free = probe.getsockname()[1]
        config = ConfigSpec(listeners=(_listener("127.0.0.1", free), _listener("127.0.0.1", busy)))
        with pytest.raises(BindError) as caught:
            bind_listeners(config)
        assert str(caught.value) == f"cannot bind 127.0.0.1:{busy}: Address already in use"
    # The first listener was closed again: its port can be bound at once.
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", free))


def test_ipv6_message_uses_brackets() -> None:
    with pytest.raises(BindError, match=r"^cannot bind \[192\.0\.2::1\]:80: "):
        bind_listeners(ConfigSpec(listeners=(_listener("192.0.2::1", 80),)))


def test_address_not_on_this_machine() -> None:
    # 192.0.2.1 is TEST-NET-1: never a local address, so bind() fails; nothing is sent.
    with pytest.raises(BindError, match=r"^cannot bind 192\.0\.2\.1:8080: Cannot assign"):
        bind_listeners(ConfigSpec(listeners=(_listener("192.0.2.1", 8080),)))
