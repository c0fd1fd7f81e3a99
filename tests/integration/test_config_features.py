"""Configuration features end to end: Redirect, UNIX socket and host-name backends,
Disabled, MaxRequest, CheckURL, the Client head deadline, and HEAD on proxy-made answers."""

from __future__ import annotations

import time
from pathlib import Path

from tests.support.backend import Backend
from tests.support.harness import Client, ProxyThread, config_with_ports, free_port, get
from tests.support.peers import RawBackend, respond_once

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nunix"


def listener(body: str, extra: str = "") -> str:
    return f"""
ListenHTTP
  Address 127.0.0.1
  Port {{L0}}
  {extra}
  Service
{body}
  End
End
"""


def backend(port: int, extra: str = "", address: str = "127.0.0.1") -> str:
    return f"""
    BackEnd
      Address {address}
      Port {port}
      {extra}
    End"""


def test_redirect_service_appends_the_target_when_the_url_has_no_path() -> None:
    text = listener('    Redirect "http://www.example.org"')
    config, socks = config_with_ports(text)
    with ProxyThread(config, socks) as p:
        r = get(p.port, "/a/b?c=1")
        assert r.status == 302
        assert r.header(b"location") == b"http://www.example.org/a/b?c=1"
    text = listener('    Redirect 301 "https://www.example.org/moved"')
    config, socks = config_with_ports(text)
    with ProxyThread(config, socks) as p:
        r = get(p.port, "/a/b")
        assert r.status == 301
        assert r.header(b"location") == b"https://www.example.org/moved"
    # As Pound: a path of a single "/" is dropped, and the target is not appended.
    text = listener('    Redirect 302 "http://www.example.org/"')
    config, socks = config_with_ports(text)
    with ProxyThread(config, socks) as p:
        r = get(p.port, "/a/b")
        assert r.status == 302
        assert r.header(b"location") == b"http://www.example.org"


def test_unix_socket_backend(tmp_path: Path) -> None:
    path = str(tmp_path / "backend.sock")
    with RawBackend(respond_once(OK), unix_path=path) as raw:
        text = listener(f'    BackEnd\n      Address "{path}"\n    End')
        config, socks = config_with_ports(text)
        with ProxyThread(config, socks) as p:
            assert get(p.port).body == b"unix"
        assert raw.all_bytes().startswith(b"GET / HTTP/1.1\r\n")


def test_host_name_backend() -> None:
    with Backend("named") as b:
        config, socks = config_with_ports(listener(backend(b.port, address="localhost")))
        with ProxyThread(config, socks) as p:
            assert get(p.port).body == b"named"


def test_disabled_backend_gets_no_traffic() -> None:
    with Backend("off") as off, Backend("on") as on:
        body = backend(off.port, "Disabled 1") + backend(on.port)
        config, socks = config_with_ports(listener(body))
        with ProxyThread(config, socks) as p:
            assert {get(p.port).body for _ in range(10)} == {b"on"}
        assert off.requests == 0


def test_max_request_gives_413_and_forwards_nothing() -> None:
    with RawBackend(respond_once(OK)) as raw:
        config, socks = config_with_ports(listener(backend(raw.port), "MaxRequest 10"))
        with ProxyThread(config, socks) as p:
            r = get(p.port, "/", method="POST", body=b"x" * 11)
            assert r.status == 413
            assert get(p.port, "/", method="POST", body=b"x" * 10).status == 200
        assert raw.accepted == 1


def test_check_url_refuses_other_targets() -> None:
    with RawBackend(respond_once(OK)) as raw:
        text = listener(backend(raw.port), 'CheckURL "^/[a-z/]*$"')
        config, socks = config_with_ports(text)
        with ProxyThread(config, socks) as p:
            assert get(p.port, "/Bad%00").status == 501  # as Pound 4
            assert get(p.port, "/good/path").status == 200
        assert raw.accepted == 1


def test_slow_header_client_is_cut_at_the_head_deadline() -> None:
    with Backend("b") as b:
        config, socks = config_with_ports(listener(backend(b.port), "Client 1"))
        with ProxyThread(config, socks) as p, Client(p.port) as c:
            start = time.monotonic()
            closed = False
            # A byte every 0.2 s would keep an idle timer alive forever; the head deadline
            # counts from the first byte. Bounded: at most 100 bytes.
            for byte in b"GET / HTTP/1.1\r\nX-Slow: " + b"a" * 80:
                try:
                    c.sock.sendall(bytes([byte]))
                except OSError:
                    closed = True
                    break
                c.sock.settimeout(0.2)
                try:
                    if c.sock.recv(65536) is not None:
                        closed = True
                        break
                except TimeoutError:
                    pass
            assert closed
            assert time.monotonic() - start < 10
        assert b.requests == 0


def test_head_request_to_a_proxy_made_answer_has_no_body() -> None:
    port = free_port()  # nothing listens there
    config, socks = config_with_ports(listener(backend(port)))
    with ProxyThread(config, socks) as p, Client(p.port) as c:
        r = c.request("/", method="HEAD")
        assert r.status == 503
        assert c.buf == b""  # no body bytes followed the head
        assert c.request("/", method="HEAD").status == 503  # still in step
