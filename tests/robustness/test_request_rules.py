"""Issue 12's request rules through the running proxy, one scenario per rule.

Each case is a request a backend could read differently from standby. It is sent to a fresh
proxy with a fresh recording backend, once whole and once a byte per write, and must either
be refused (the expected status, the connection closed, no byte at the backend) or reach
the backend with exactly the expected head (what could be misread removed). The property
test in test_smuggling.py generates the same shapes mixed with framing mutations.
"""

from __future__ import annotations

import socket

import pytest

from tests.robustness.report import Scenario
from tests.support.configs import one_backend
from tests.support.harness import (
    Client,
    ProxyThread,
    Response,
    config_with_ports,
)
from tests.support.peers import RawBackend

pytestmark = pytest.mark.timeout(300)

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

H = b"Host: x\r\n"
GET = b"GET / HTTP/1.1\r\n"
POST = b"POST / HTTP/1.1\r\n"
# What standby adds to every forwarded head; the port is the listener's, filled in per run.
XF = b"X-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Port: {port}\r\n"

CHUNKED = POST + H + b"Transfer-Encoding: chunked\r\n\r\n"

# rule -> [(case, request, expected)]: an int is the status of a refusal; bytes are the head
# the backend must receive (XF appended unless it is there already); (head, body) adds the
# body it must receive after that head.
Expected = int | bytes | tuple[bytes, bytes]
RULES: dict[str, list[tuple[str, bytes, Expected]]] = {
    "request-target": [
        ("fragment", b"GET /a#b HTTP/1.1\r\n" + H + b"\r\n", 400),
        ("fragment only", b"GET /# HTTP/1.1\r\n" + H + b"\r\n", 400),
        ("raw UTF-8", b"GET /caf\xc3\xa9 HTTP/1.1\r\n" + H + b"\r\n", 400),
        ("high byte in query", b"GET /?q=\xff HTTP/1.1\r\n" + H + b"\r\n", 400),
        ("no form", b"GET index.html HTTP/1.1\r\n" + H + b"\r\n", 400),
        ("asterisk for GET", b"GET * HTTP/1.1\r\n" + H + b"\r\n", 400),
        ("authority-form for GET", b"GET x:80 HTTP/1.1\r\n" + H + b"\r\n", 400),
        ("scheme ftp", b"GET ftp://x/ HTTP/1.1\r\n" + H + b"\r\n", 400),
        ("scheme file", b"GET file:///etc/passwd HTTP/1.1\r\n" + H + b"\r\n", 400),
        ("userinfo", b"GET http://admin@x/ HTTP/1.1\r\n" + H + b"\r\n", 400),
        ("authority other than Host", b"GET http://internal/ HTTP/1.1\r\n" + H + b"\r\n", 400),
        ("authority port other than Host", b"GET http://x:8080/ HTTP/1.1\r\n" + H + b"\r\n", 400),
        ("authority without Host", b"GET http://x/ HTTP/1.0\r\n\r\n", 400),
        (
            "absolute-form equal to Host",
            b"GET HTTP://X:80/a?b HTTP/1.1\r\n" + H + b"\r\n",
            b"GET HTTP://X:80/a?b HTTP/1.1\r\n" + H,
        ),
        (
            "OPTIONS *",
            b"OPTIONS * HTTP/1.1\r\n" + H + b"\r\n",
            b"OPTIONS * HTTP/1.1\r\n" + H,
        ),
    ],
    "Host": [
        ("slash", GET + b"Host: x/y\r\n\r\n", 400),
        ("userinfo", GET + b"Host: user@x\r\n\r\n", 400),
        ("space", GET + b"Host: x y\r\n\r\n", 400),
        ("list", GET + b"Host: x, y\r\n\r\n", 400),
        ("quote", GET + b'Host: "x"\r\n\r\n', 400),
        ("backslash", GET + b"Host: x\\y\r\n\r\n", 400),
        ("raw UTF-8", GET + b"Host: caf\xc3\xa9\r\n\r\n", 400),
        ("two ports", GET + b"Host: x:80:80\r\n\r\n", 400),
        ("port letters", GET + b"Host: x:8o\r\n\r\n", 400),
        ("six-digit port", GET + b"Host: x:000080\r\n\r\n", 400),
        ("bad percent", GET + b"Host: x%zz\r\n\r\n", 400),
        ("unclosed literal", GET + b"Host: [::1\r\n\r\n", 400),
        ("zone id", GET + b"Host: [fe80::1%25eth0]\r\n\r\n", 400),
        ("IPv6 literal", GET + b"Host: [::1]:8080\r\n\r\n", GET + b"Host: [::1]:8080\r\n"),
        ("underscore name", GET + b"Host: my_host.lan\r\n\r\n", GET + b"Host: my_host.lan\r\n"),
    ],
    "Content-Length": [
        ("leading zero", POST + H + b"Content-Length: 05\r\n\r\nhello", 400),
        ("zeros", POST + H + b"Content-Length: 00\r\n\r\n", 400),
        ("sign", POST + H + b"Content-Length: +5\r\n\r\nhello", 400),
        ("list", POST + H + b"Content-Length: 5, 5\r\n\r\nhello", 400),
    ],
    "underscore names": [
        (
            "framing",
            GET + H + b"Transfer_Encoding: chunked\r\nContent_Length: 3\r\n\r\n",
            GET + H,
        ),
        (
            "forwarding",
            GET + H + b"X_Forwarded_For: 6.6.6.6\r\nx-forwarded_proto: https\r\n"
            b"X_FORWARDED_PORT: 1\r\n\r\n",
            GET + H,
        ),
        (
            "hop-by-hop",
            GET + H + b"Keep_Alive: 300\r\nProxy_Connection: keep-alive\r\n\r\n",
            GET + H,
        ),
        ("other names kept", GET + H + b"X_Custom: 1\r\n\r\n", GET + H + b"X_Custom: 1\r\n"),
    ],
    "Connection nominations": [
        (
            "X-Forwarded-For named",
            GET
            + H
            + b"X-Forwarded-For: 6.6.6.6\r\nConnection: keep-alive, X-Forwarded-For\r\n\r\n",
            GET + H,
        ),
        (
            "X-Forwarded-For named before it",
            GET + H + b"Connection: x-forwarded-for\r\nX-Forwarded-For: 6.6.6.6, 7.7.7.7\r\n\r\n",
            GET + H,
        ),
        (
            "framing named",
            POST + H + b"Content-Length: 2\r\nConnection: Content-Length, Host\r\n\r\nab",
            (POST + H + b"Content-Length: 2\r\n", b"ab"),
        ),
        (
            "other field named",
            GET + H + b"Connection: X-Secret\r\nX-Secret: 1\r\nX-Kept: 2\r\n\r\n",
            GET + H + b"X-Kept: 2\r\n",
        ),
    ],
    "h2c upgrade": [
        (
            "h2c",
            GET + H + b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
            b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
            GET + H,
        ),
        (
            "h2c among others",
            GET + H + b"Connection: Upgrade\r\nUpgrade: websocket, H2C\r\n\r\n",
            GET + H,
        ),
        ("HTTP2-Settings alone", GET + H + b"HTTP2-Settings: AAMA\r\n\r\n", GET + H),
        (
            "websocket still forwarded",
            GET + H + b"Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            GET
            + H
            + b"Upgrade: websocket\r\n"
            + XF.replace(b"\r\n", b"\r\nConnection: Upgrade\r\n", 1),
        ),
    ],
    "forbidden trailer fields": [
        (
            "framing",
            CHUNKED + b"5\r\nhello\r\n0\r\nContent-Length: 5\r\nTransfer_Encoding: x\r\n\r\n",
            (POST + H + b"Transfer-Encoding: chunked\r\n", b"5\r\nhello\r\n0\r\n\r\n"),
        ),
        (
            "routing and authentication among allowed ones",
            CHUNKED + b"0\r\nX-A: 1\r\nHost: evil\r\nAuthorization: Basic YTpi\r\nX-B: 2\r\n\r\n",
            (POST + H + b"Transfer-Encoding: chunked\r\n", b"0\r\nX-A: 1\r\nX-B: 2\r\n\r\n"),
        ),
        (
            "forwarding",
            CHUNKED + b"0\r\nX-Forwarded-For: 6.6.6.6\r\nx_forwarded_proto: https\r\n\r\n",
            (POST + H + b"Transfer-Encoding: chunked\r\n", b"0\r\n\r\n"),
        ),
    ],
}


def wanted(expected: bytes | tuple[bytes, bytes], port: int) -> bytes:
    """Everything the backend must receive for an edited case, on a listener at ``port``."""
    head, body = expected if isinstance(expected, tuple) else (expected, b"")
    head = head if b"{port}" in head else head + XF
    return head.replace(b"{port}", str(port).encode()) + b"\r\n" + body


def run_case(data: bytes, bytewise: bool, expected: Expected) -> tuple[Response, bool, bytes, int]:
    """One request on a fresh proxy and backend: the client's response, whether the proxy
    then closed the connection, everything the backend received, the listener's port.
    The backend answers once it has all it must get (it never answers a refused one), so
    an answer never races the rest of the request's body."""
    size = [0]  # what the backend must receive, known once the listener's port is

    def answer_when_whole(conn: socket.socket, received: bytes) -> bool:
        if size[0] and len(received) >= size[0]:
            size[0] = 0
            conn.sendall(OK)
        return True

    with RawBackend(answer_when_whole) as raw:
        config, socks = config_with_ports(one_backend(raw.port, "xHTTP 2"))
        with ProxyThread(config, socks) as proxy, Client(proxy.port) as c:
            port = proxy.port
            if not isinstance(expected, int):
                size[0] = len(wanted(expected, port))
            try:
                if bytewise:
                    c.send_bytewise(data)
                else:
                    c.send(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # refused before the end: the answer is readable
            response = c.response()
            closed = response.status < 400 or c.closed_by_peer()
        assert proxy.errors == []
        return response, closed, raw.all_bytes(), port


@pytest.mark.parametrize("rule", sorted(RULES))
def test_issue_12_request_rule(rule: str, scenario: Scenario) -> None:
    """Every case of ``rule``, whole and byte by byte: refused with nothing forwarded, or
    forwarded with exactly the expected head."""
    scenario.name = f"issue 12 request rule: {rule}, whole and byte by byte"
    refused = edited = reached = 0
    for case, data, expected in RULES[rule]:
        for bytewise in (False, True):
            how = f"{case} ({'byte by byte' if bytewise else 'whole'})"
            response, closed, forwarded, port = run_case(data, bytewise, expected)
            if isinstance(expected, int):
                refused += scenario.check(
                    response.status == expected and closed, f"{how}: {expected} and closed"
                )
                reached += len(forwarded)
            else:
                edited += scenario.check(
                    response.status == 200 and forwarded == wanted(expected, port),
                    f"{how}: the backend got {forwarded!r}",
                )
    scenario.figure(
        cases=len(RULES[rule]),
        sent=2 * len(RULES[rule]),
        refused_as_required=refused,
        forwarded_edited_as_required=edited,
        bytes_of_refused_requests_at_the_backend=reached,
    )
    scenario.check(reached == 0, "no byte of a refused request reached the backend")
    scenario.finish()
