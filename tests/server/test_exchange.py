"""The exchange's common path (a whole response in one read) against real loopback sockets:
what reaches the client, and when the backend connection is reused."""

from __future__ import annotations

import socket
from collections.abc import Callable

from tests.support.configs import one_backend, primary_and_emergency
from tests.support.harness import Client, ProxyThread, config_with_ports, free_port, wait_until
from tests.support.peers import RawBackend

from standby.server.stats import BackendCounters

REQUESTS = 3


def answer_each_request(response: bytes) -> Callable[[socket.socket, bytes], bool]:
    """A RawBackend script: ``response`` in one send for every request head received on
    each connection."""
    answered: dict[socket.socket, int] = {}

    def script(conn: socket.socket, received: bytes) -> bool:
        while answered.get(conn, 0) < received.count(b"\r\n\r\n"):
            answered[conn] = answered.get(conn, 0) + 1
            conn.sendall(response)
        return True

    return script


def run(response: bytes) -> RawBackend:
    """REQUESTS requests on one client connection, each answered with ``response``; checks
    each reached the client whole and returns the backend (to count its connections)."""
    with RawBackend(answer_each_request(response)) as raw:
        config, socks = config_with_ports(one_backend(raw.port))
        with ProxyThread(config, socks) as proxy, Client(proxy.port) as client:
            for _ in range(REQUESTS):
                client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                answer = client.response()
                assert answer.body == b"hello"
                # Hop-by-hop: the backend's wish to close is not the client connection's.
                assert answer.header(b"connection") is None
            assert not client.buf  # nothing more than the response
        assert proxy.errors == []
    return raw


def test_an_unchanged_response_is_relayed_as_sent_and_its_connection_reused() -> None:
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello"
    with RawBackend(answer_each_request(response)) as raw:
        config, socks = config_with_ports(one_backend(raw.port))
        with ProxyThread(config, socks) as proxy, Client(proxy.port) as client:
            for _ in range(REQUESTS):
                client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                while len(client.buf) < len(response):
                    assert client._more()
                assert client.buf == response  # byte for byte
                client.buf = b""
        assert proxy.errors == []
        assert raw.accepted == 1


def test_bytes_beyond_the_body_are_dropped_and_the_connection_not_reused() -> None:
    raw = run(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA")
    assert raw.accepted == REQUESTS  # out of step: never reused
    wait_until(lambda: raw.ended == REQUESTS, what="the proxy closing each connection")


def test_a_changed_head_goes_out_with_the_body_in_one_piece() -> None:
    # The backend wants to close: the client, who did not, gets the head without
    # "Connection: close" and the same body; the next request opens a new connection.
    raw = run(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello")
    assert raw.accepted == REQUESTS


def test_an_interim_response_and_the_final_one_in_one_read() -> None:
    response = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
    response += b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    with RawBackend(answer_each_request(response)) as raw:
        config, socks = config_with_ports(one_backend(raw.port))
        with ProxyThread(config, socks) as proxy, Client(proxy.port) as client:
            for _ in range(REQUESTS):
                client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                early = client.response()
                assert early.status == 103 and early.header(b"link") == b"</a.css>"
                final = client.response()
                assert (final.status, final.body) == (200, b"hello")
        assert proxy.errors == []
        assert raw.accepted == 1


def close_at_once(conn: socket.socket, received: bytes) -> bool:
    """A RawBackend script: a backend that drops every connection on its first bytes."""
    return False


def test_failovers_and_resends_are_counted_per_backend() -> None:
    # The primary breaks the connection on one request and answers another with a failover
    # status: both requests end on the Emergency backend, and the counters say so.
    answered = answer_each_request(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
    unavailable = b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n"

    def primary_script(conn: socket.socket, received: bytes) -> bool:
        if b"/lost" in received:
            return False
        if received.endswith(b"\r\n\r\n"):
            conn.sendall(unavailable)
        return True

    with RawBackend(primary_script) as primary, RawBackend(answered) as emergency:
        config, socks = config_with_ports(primary_and_emergency(primary.port, emergency.port))
        with ProxyThread(config, socks) as proxy:
            for path in (b"/lost", b"/busy"):
                with Client(proxy.port) as client:
                    client.send(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
                    answer = client.response()
                    assert (answer.status, answer.body) == (200, b"hello"), path

            first, second = counters_of(proxy)
            assert (first.requests, first.failovers, first.statuses()) == (2, 2, {503: 1})
            assert (second.requests, second.resends, second.statuses()) == (2, 2, {200: 2})
            assert first.in_flight == second.in_flight == 0
        assert proxy.errors == []


def test_a_refused_connection_counts_a_failover_too() -> None:
    # The usual failover: the primary is down. The first request finds out and goes to the
    # Emergency backend (later ones go there directly: the primary is marked dead).
    answered = answer_each_request(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
    with RawBackend(answered) as emergency:
        config, socks = config_with_ports(primary_and_emergency(free_port(), emergency.port))
        with ProxyThread(config, socks) as proxy:
            for _ in range(REQUESTS):
                with Client(proxy.port) as client:
                    client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                    assert client.response().status == 200
            first, second = counters_of(proxy)
            assert (first.requests, first.failovers) == (0, 1)
            assert (second.requests, second.resends, second.statuses()) == (REQUESTS, 1, {200: 3})


def counters_of(proxy: ProxyThread) -> tuple[BackendCounters, BackendCounters]:
    """The counters of the primary backend and of the Emergency one."""
    (service,) = proxy.config.listeners[0].services
    found = [proxy.proxy.counters_of(spec) for spec in (*service.backends, *service.emergencies)]
    first, second = found
    assert first is not None and second is not None
    return first, second


def test_a_pooled_connection_closed_under_a_request_is_retried_on_a_fresh_one() -> None:
    # The backend closes an idle keep-alive connection just as the next request reaches it
    # (its keep-alive timeout): the request goes again on a new connection to the same
    # backend, which is no sign of a sick backend (no failure, no failover).
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"

    def first_request_only(conn: socket.socket, received: bytes) -> bool:
        heads = received.count(b"\r\n\r\n")
        if heads == 1 and received.endswith(b"\r\n\r\n"):
            conn.sendall(ok)
        return heads < 2

    with RawBackend(first_request_only) as raw:
        config, socks = config_with_ports(one_backend(raw.port))
        with ProxyThread(config, socks) as proxy, Client(proxy.port) as client:
            for _ in range(2):
                client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                assert client.response().body == b"hello"
            (spec,) = proxy.config.listeners[0].services[0].backends
            counters = proxy.proxy.counters_of(spec)
            assert counters is not None
            assert (counters.requests, counters.failovers, counters.resends) == (3, 0, 0)
            health = proxy.proxy.board.health_of(spec)
            assert health is not None and health.alive and health.failures == 0
        assert raw.accepted == 2
        assert proxy.errors == []
