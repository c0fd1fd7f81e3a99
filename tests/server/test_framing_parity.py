"""Framing rules Pound gets right, through the running proxy (issue 12, point 4), with the
fast lane on (and off, when CI runs this again with STANDBY_LANE=0):

- an HTTP/1.0 client never gets chunked framing: a chunked answer that arrived whole goes
  out with a Content-Length (the connection kept if the client asked), one that streams goes
  out decoded and ends with the connection;
- trailer fields RFC 9110 6.5.1 forbids in trailers are cut, in requests and responses;
- a backend status outside 100..599 is an invalid answer: 502.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

from tests.support.configs import one_backend
from tests.support.harness import DEADLINE, Client, ProxyThread, config_with_ports, wait_until
from tests.support.peers import RawBackend

from standby.observe.access import AccessLog

CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"
CHUNKS = b"5\r\nhello\r\n6;ext=1\r\n world\r\n"
TRAILER = (
    b"0\r\nX-Sum: 42\r\nContent-Length: 99\r\nSet-Cookie: admin=1\r\nContent_Length: 5\r\n"
    b"X-Forwarded-For: 10.0.0.1\r\nServer-Timing: db;dur=1\r\n\r\n"
)
KEPT_TRAILER = b"0\r\nX-Sum: 42\r\nServer-Timing: db;dur=1\r\n\r\n"
CHUNKED_ANSWER = CHUNKED_HEAD + CHUNKS + TRAILER


def each_request(answer: bytes) -> Callable[[socket.socket, bytes], bool]:
    """A RawBackend script: ``answer`` in one send for every request head received."""
    answered: dict[socket.socket, int] = {}

    def script(conn: socket.socket, received: bytes) -> bool:
        while answered.get(conn, 0) < received.count(b"\r\n\r\n"):
            answered[conn] = answered.get(conn, 0) + 1
            conn.sendall(answer)
        return True

    return script


def head_and_body(data: bytes) -> tuple[bytes, bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n", body


def read_response_with_length(client: Client) -> tuple[bytes, bytes]:
    """One response framed by Content-Length (asserted): (head, body)."""
    while b"\r\n\r\n" not in client.buf:
        assert client._more(), "closed before a response head"
    head, client.buf = head_and_body(client.buf)
    length = [
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    ]
    assert len(length) == 1, head
    while len(client.buf) < length[0]:
        assert client._more(), "closed before the end of the body"
    body, client.buf = client.buf[: length[0]], client.buf[length[0] :]
    return head, body


# -- an HTTP/1.0 client and a chunked answer ------------------------------------------------


def test_an_http10_client_gets_a_whole_chunked_answer_with_a_length_and_keeps_its_connection() -> (
    None
):
    with RawBackend(each_request(CHUNKED_ANSWER)) as raw:
        config, socks = config_with_ports(one_backend(raw.port))
        with ProxyThread(config, socks) as proxy, Client(proxy.port) as client:
            for _ in range(2):  # the same connection, kept alive
                client.send(b"GET / HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
                head, body = read_response_with_length(client)
                assert body == b"hello world"
                lowered = head.lower()
                assert b"transfer-encoding" not in lowered and b"trailer" not in lowered
                assert b"\r\nconnection: keep-alive\r\n" in lowered
                assert b"content-length: 11\r\n" in lowered
            client.send(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")  # no keep-alive: closed after
            head, body = read_response_with_length(client)
            assert body == b"hello world"
            assert b"\r\nConnection: close\r\n" in head
            assert client.closed_by_peer()
        assert proxy.errors == []
        assert raw.accepted == 1  # the backend connection was reused too


def test_an_http10_client_gets_a_streamed_chunked_answer_decoded_until_close() -> None:
    first_part_seen = threading.Event()

    def script(conn: socket.socket, received: bytes) -> bool:
        if received.endswith(b"\r\n\r\n"):
            conn.sendall(CHUNKED_HEAD + b"5\r\nhello\r\n")
            # The rest only once the client has the first part: it must stream.
            assert first_part_seen.wait(DEADLINE)
            conn.sendall(b"6\r\n world\r\n" + TRAILER)
        return True

    with RawBackend(script) as raw:
        config, socks = config_with_ports(one_backend(raw.port))
        with ProxyThread(config, socks) as proxy, Client(proxy.port) as client:
            client.send(b"GET / HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
            while b"hello" not in client.buf:
                assert client._more(), "closed before the first part"
            first_part_seen.set()
            head, body = head_and_body(client.read_all())  # it ends with the connection
        assert proxy.errors == []
    assert body == b"hello world"
    assert head == b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"


def test_an_http11_client_still_gets_the_chunked_framing() -> None:
    with RawBackend(each_request(CHUNKED_HEAD + CHUNKS + KEPT_TRAILER)) as raw:
        config, socks = config_with_ports(one_backend(raw.port))
        with ProxyThread(config, socks) as proxy, Client(proxy.port) as client:
            client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            expected = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + CHUNKS
            expected += KEPT_TRAILER
            while len(client.buf) < len(expected):
                assert client._more()
            assert client.buf == expected
        assert proxy.errors == []


def test_a_stale_copy_of_a_chunked_answer_taken_for_an_http10_client_is_served_whole() -> None:
    # The backend closes its connections: none is pooled to outlive it.
    closing = CHUNKED_ANSWER.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)
    with RawBackend(each_request(closing)) as raw:
        text = one_backend(raw.port).replace(
            "  Service\n", "  Service\n    StaleFallback\n      Size 1m\n    End\n", 1
        )
        config, socks = config_with_ports(text)
        with ProxyThread(config, socks) as proxy:
            with Client(proxy.port) as client:
                client.send(b"GET /page HTTP/1.0\r\nHost: x\r\n\r\n")
                _head, body = read_response_with_length(client)
                assert body == b"hello world"
            raw.stop()  # the backend goes away: the copy answers
            wait_until(lambda: _refused(raw.port), what="the backend to refuse connections")
            with Client(proxy.port) as client:
                client.send(b"GET /page HTTP/1.1\r\nHost: x\r\n\r\n")
                head, body = read_response_with_length(client)
            assert body == b"hello world"
            assert b"\r\nAge: " in head
        assert proxy.errors == []


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=DEADLINE).close()
    except OSError:
        return True
    return False


# -- trailer fields that must not be forwarded ----------------------------------------------


def test_forbidden_response_trailer_fields_never_reach_the_client() -> None:
    # In one read (where the lane would forward the backend's bytes as they are) and split.
    for split in (None, len(CHUNKED_ANSWER) - 20):

        def script(conn: socket.socket, received: bytes, split: int | None = split) -> bool:
            if received.endswith(b"\r\n\r\n"):
                if split is None:
                    conn.sendall(CHUNKED_ANSWER)
                else:
                    conn.sendall(CHUNKED_ANSWER[:split])
                    conn.sendall(CHUNKED_ANSWER[split:])
            return True

        with RawBackend(script) as raw:
            config, socks = config_with_ports(one_backend(raw.port))
            with ProxyThread(config, socks) as proxy, Client(proxy.port) as client:
                client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                expected = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + CHUNKS
                expected += KEPT_TRAILER
                while len(client.buf) < len(expected):
                    assert client._more(), client.buf
                assert client.buf == expected
                client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # the connection still works
                while len(client.buf) < 2 * len(expected):
                    assert client._more()
            assert proxy.errors == []


def test_forbidden_request_trailer_fields_never_reach_the_backend() -> None:
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

    def script(conn: socket.socket, received: bytes) -> bool:
        if received.endswith(b"0\r\n" + KEPT_TRAILER[3:]):
            conn.sendall(ok)
        return True

    with RawBackend(script) as raw:
        config, socks = config_with_ports(one_backend(raw.port))
        with ProxyThread(config, socks) as proxy, Client(proxy.port) as client:
            head = b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            client.send(head + CHUNKS)
            for byte in TRAILER:  # the trailer a byte at a time
                client.send(bytes([byte]))
            answer = client.response()
            assert (answer.status, answer.body) == (200, b"ok")
        assert proxy.errors == []
    received = raw.all_bytes()
    assert received.endswith(CHUNKS + KEPT_TRAILER), received
    for smuggled in (b"Content-Length: 99", b"Set-Cookie", b"Content_Length", b"10.0.0.1"):
        assert smuggled not in received


# -- a status outside 100..599 --------------------------------------------------------------


def test_a_status_past_599_is_a_502_for_the_client() -> None:
    lines: list[str] = []
    weird = b"HTTP/1.1 999 Weird\r\nContent-Length: 2\r\n\r\nok"
    with RawBackend(each_request(weird)) as raw:
        config, socks = config_with_ports(one_backend(raw.port))
        access = AccessLog(1, False, lines.append)
        with ProxyThread(config, socks, access_log=access) as proxy, Client(proxy.port) as client:
            client.send(b"GET /weird HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = client.response()
            wait_until(lambda: len(lines) == 1, what="the access line")
        assert proxy.errors == []
    assert answer.status == 502
    assert b"ok" not in answer.body
    assert lines == ["127.0.0.1 GET /weird HTTP/1.1 - HTTP/1.1 502 Bad Gateway"]
