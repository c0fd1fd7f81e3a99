"""Proxying HTTP/1.1 end to end through real loopback sockets."""

from __future__ import annotations

import hashlib
import socket
import time
from collections.abc import Iterator

import pytest
from tests.support import configs
from tests.support.backend import Backend, download_digest
from tests.support.harness import (
    Client,
    ProxyThread,
    config_with_ports,
    free_port,
    get,
    wait_until,
)
from tests.support.peers import FullBacklog, RawBackend, respond_once


def one_backend(port: int, listener_extra: str = "", backend_extra: str = "") -> str:
    """configs.one_backend with every method allowed (xHTTP 2)."""
    return configs.one_backend(port, "xHTTP 2\n" + listener_extra, backend_extra)


@pytest.fixture
def backend() -> Iterator[Backend]:
    with Backend("b1") as b:
        yield b


@pytest.fixture
def proxy(backend: Backend) -> Iterator[ProxyThread]:
    config, socks = config_with_ports(one_backend(backend.port))
    with ProxyThread(config, socks) as p:
        yield p
    assert p.errors == []


def test_keep_alive_both_sides(proxy: ProxyThread, backend: Backend) -> None:
    with Client(proxy.port) as c:
        for _ in range(20):
            assert c.request("/").body == b"b1"
    assert backend.requests == 20
    # The upstream connection was pooled and reused, not opened per request.
    assert len(backend.conns) <= 2


def test_http10_client_gets_a_closed_connection(proxy: ProxyThread) -> None:
    with Client(proxy.port) as c:
        c.send(b"GET / HTTP/1.0\r\n\r\n")
        raw = c.read_all()
    assert raw.startswith(b"HTTP/1.1 200") or raw.startswith(b"HTTP/1.0 200")
    assert raw.endswith(b"b1")


def test_http10_keep_alive(proxy: ProxyThread) -> None:
    with Client(proxy.port) as c:
        for _ in range(3):
            c.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            resp = c.response()
            assert resp.status == 200 and resp.body == b"b1"


def test_forwarded_headers(proxy: ProxyThread, backend: Backend) -> None:
    resp = get(
        proxy.port,
        "/echo",
        headers="X-Forwarded-For: 10.1.2.3\r\n"
        "Connection: keep-alive, X-Private\r\nX-Private: secret\r\n",
    )
    head = resp.body.lower()
    assert b"x-forwarded-for: 10.1.2.3, 127.0.0.1\r\n" in head
    assert b"x-forwarded-proto: http\r\n" in head
    assert f"x-forwarded-port: {proxy.port}\r\n".encode() in head
    assert b"x-private" not in head  # named in Connection: hop-by-hop


def test_head_204_304_have_no_body(proxy: ProxyThread) -> None:
    with Client(proxy.port) as c:
        r = c.request("/size/100", method="HEAD")
        assert r.status == 200 and r.body == b""
        assert c.request("/status/204").status == 204
        assert c.request("/status/304").status == 304
        assert c.request("/").body == b"b1"  # the connection is still in step


def test_chunked_both_ways(proxy: ProxyThread) -> None:
    with Client(proxy.port) as c:
        c.send(
            b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        )
        assert c.response().body == hashlib.sha256(b"hello world").hexdigest().encode()
        r = c.request("/chunked/200000")
        assert r.header(b"transfer-encoding") == b"chunked"
        assert hashlib.sha256(r.body).hexdigest() == download_digest(200000)


def test_expect_100_continue(proxy: ProxyThread) -> None:
    with Client(proxy.port) as c:
        c.send(
            b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        # The backend (ours) does not send 100; a real one might. Send the body anyway.
        c.send(b"hello")
        r = c.response()
        while r.status == 100:
            r = c.response()
        assert r.body == hashlib.sha256(b"hello").hexdigest().encode()


def test_pipelined_requests_answered_in_order(proxy: ProxyThread) -> None:
    with Client(proxy.port) as c:
        c.send(
            b"GET /size/3 HTTP/1.1\r\nHost: x\r\n\r\nGET /size/5 HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /size/7 HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        assert [len(c.response().body) for _ in range(3)] == [3, 5, 7]


def test_websocket_upgrade_becomes_a_tunnel(proxy: ProxyThread) -> None:
    with Client(proxy.port) as c:
        c.send(b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
        r = c.response()
        assert r.status == 101
        for msg in (b"ping", b"x" * 100000):
            c.send(msg)
            got = c.buf
            c.buf = b""
            while len(got) < len(msg):
                got += c.sock.recv(65536)
            assert got == msg


def test_location_rewritten_to_the_client_host(proxy: ProxyThread, backend: Backend) -> None:
    r = get(proxy.port, "/location", host="www.example.com")
    assert r.status == 302
    assert r.header(b"location") == b"http://www.example.com/moved"


def test_streaming_large_bodies_both_ways(proxy: ProxyThread) -> None:
    size = 100 * 1024 * 1024
    with Client(proxy.port, timeout=120) as c:
        h = hashlib.sha256()
        c.send(f"GET /download/{size} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        resp = c.response(sink=h.update)
        assert resp.status == 200
        assert h.hexdigest() == download_digest(size)
        c.send(f"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n".encode())
        block = bytes(range(256)) * 256
        up = hashlib.sha256()
        for _ in range(size // len(block)):
            c.sock.sendall(block)
            up.update(block)
        assert c.response().body == up.hexdigest().encode()


def test_connect_refused_fails_over_to_emergency() -> None:
    port = free_port()  # nothing listens there
    with Backend("standby") as standby:
        config, socks = config_with_ports(configs.primary_and_emergency(port, standby.port))
        with ProxyThread(config, socks) as p:
            for method in ("GET", "POST"):
                assert get(p.port, "/", method=method).body == b"standby"


def test_backlog_full_primary_fails_over_after_connto_then_is_skipped() -> None:
    with FullBacklog() as hung, Backend("standby") as standby:
        text = configs.primary_and_emergency(
            hung.port, standby.port, global_extra="Alive 600", backend_extra="ConnTO 1"
        )
        config, socks = config_with_ports(text)
        with ProxyThread(config, socks) as p:
            start = time.monotonic()
            assert get(p.port).body == b"standby"
            first = time.monotonic() - start
            assert first >= 0.9  # it did wait for ConnTO
            start = time.monotonic()
            for _ in range(5):
                assert get(p.port).body == b"standby"
            # Later requests skip the dead primary instead of waiting ConnTO each.
            assert time.monotonic() - start < 5 * 0.9


def test_both_down_503_with_retry_after_and_custom_page(tmp_path: object) -> None:
    import pathlib

    page = pathlib.Path(str(tmp_path)) / "503.html"
    page.write_bytes(b"<h1>back soon</h1>")
    ports = [free_port(), free_port()]  # nothing listens there
    for extra, body in (("", None), (f'ErrorFile 503 "{page}"', b"<h1>back soon</h1>")):
        text = configs.primary_and_emergency(
            ports[0], ports[1], global_extra="Alive 45", listener_extra=extra
        )
        config, socks = config_with_ports(text)
        with ProxyThread(config, socks) as p:
            r = get(p.port)
            assert r.status == 503
            assert r.header(b"retry-after") == b"45"
            # No cache may keep the outage's page (built-in or the site's own).
            assert r.header(b"cache-control") == b"no-cache,no-store"
            if body is not None:
                assert r.body == body
            else:
                assert b"127.0.0.1" not in r.body and b"Python" not in r.body


def test_backend_timeout_gives_504() -> None:
    with Backend("slow") as slow:
        config, socks = config_with_ports(one_backend(slow.port, backend_extra="TimeOut 1"))
        with ProxyThread(config, socks) as p:
            start = time.monotonic()
            r = get(p.port, "/slow/30")
            assert r.status == 504
            assert time.monotonic() - start < 15


@pytest.mark.parametrize(
    "response",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
        b"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-Bad: a\rb\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-Bad: a\x00b\r\nContent-Length: 0\r\n\r\n",
        b"garbage\r\n\r\n",
    ],
)
def test_malformed_response_gives_502(response: bytes) -> None:
    with RawBackend(respond_once(response)) as raw:
        config, socks = config_with_ports(one_backend(raw.port))
        with ProxyThread(config, socks) as p:
            assert get(p.port).status == 502


def test_backend_breaking_off_mid_body_truncates_the_client() -> None:
    partial = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 100
    for reset in (False, True):
        with RawBackend(respond_once(partial, close=True, reset=reset)) as raw:
            config, socks = config_with_ports(one_backend(raw.port))
            with ProxyThread(config, socks) as p, Client(p.port) as c:
                c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                with pytest.raises(ConnectionError):
                    c.response()


def test_idle_client_is_closed_after_client_timeout(backend: Backend) -> None:
    config, socks = config_with_ports(one_backend(backend.port, listener_extra="Client 1"))
    with ProxyThread(config, socks) as p, Client(p.port) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n")  # an unfinished head
        start = time.monotonic()
        data = c.read_all()
        assert time.monotonic() - start < 10
        assert data == b"" or data.startswith(b"HTTP/1.1 408")


def test_graceful_stop_lets_the_request_finish(backend: Backend) -> None:
    config, socks = config_with_ports(one_backend(backend.port))
    p = ProxyThread(config, socks).start()
    c = Client(p.port)
    c.send(b"GET /slow/1 HTTP/1.1\r\nHost: x\r\n\r\n")
    wait_until(lambda: backend.requests == 1)
    p.stop()  # returns once the proxy stopped: after the response went out
    r = c.response()
    assert r.status == 200
    c.close()


def test_backend_100_continue_is_relayed_before_the_final_response() -> None:
    answers = [b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"]

    def script(conn: socket.socket, received: bytes) -> bool:
        if answers and b"\r\n\r\n" in received and len(answers) == 2:
            conn.sendall(answers.pop(0))  # 100 as soon as the head is in
        elif len(answers) == 1 and received.endswith(b"hello"):
            conn.sendall(answers.pop(0))
        return True

    with RawBackend(script) as raw:
        config, socks = config_with_ports(one_backend(raw.port))
        with ProxyThread(config, socks) as p, Client(p.port) as c:
            c.send(
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
            )
            assert c.response().status == 100  # before we sent the body
            c.send(b"hello")
            r = c.response()
            assert (r.status, r.body) == (200, b"ok")
        assert raw.all_bytes().endswith(b"\r\n\r\nhello")


def test_idle_websocket_tunnel_is_closed_after_wstimeout(backend: Backend) -> None:
    config, socks = config_with_ports(one_backend(backend.port, backend_extra="WSTimeOut 1"))
    with ProxyThread(config, socks) as p, Client(p.port) as c:
        c.send(b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
        assert c.response().status == 101
        c.send(b"still here")
        start = time.monotonic()
        assert c.read_all() == b"still here"  # the echo, then EOF once idle for WSTimeOut
        assert time.monotonic() - start < 10


def test_each_health_transition_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()  # nothing listens there yet
    with Backend("standby") as standby:
        text = configs.primary_and_emergency(port, standby.port, global_extra="Alive 1")
        caplog.set_level("INFO", logger="standby.health")
        config, socks = config_with_ports(text)
        with ProxyThread(config, socks) as p:
            for _ in range(5):
                assert get(p.port).body == b"standby"
            with Backend("primary", port):
                wait_until(lambda: get(p.port).body == b"primary", what="primary back")
        lines = [r.getMessage() for r in caplog.records if r.name == "standby.health"]
        address = f"127.0.0.1:{port}"
        down = [m for m in lines if address in m and "dead" in m]
        up = [m for m in lines if address in m and "alive" in m]
        assert len(down) == 1 and "refused" in down[0].lower(), lines
        assert len(up) == 1, lines
