"""MaxURI and MaxRequest as Pound 4.23 applies them (checked side by side with Pound): a
request target of exactly MaxURI bytes passes and one more byte is 414; a body of exactly
MaxRequest bytes passes and one more is 413, whether announced by Content-Length or sent
chunked; each listener has its own limits."""

from __future__ import annotations

from tests.support.backend import Backend
from tests.support.harness import Client, ProxyThread, config_with_ports, get

LISTENER = """
ListenHTTP
  Address 127.0.0.1
  Port {{L{n}}}
  {limits}
  Service
    BackEnd
      Address 127.0.0.1
      Port {backend}
    End
  End
End
"""


def chunked(port: int, sizes: tuple[int, ...]) -> int:
    """The status of a POST whose body is sent in chunks of ``sizes`` bytes."""
    body = b"".join(b"%x\r\n%s\r\n" % (size, b"x" * size) for size in sizes) + b"0\r\n\r\n"
    with Client(port) as client:
        client.send(
            b"POST / HTTP/1.1\r\nHost: www.example.com\r\nTransfer-Encoding: chunked\r\n\r\n" + body
        )
        return client.response(b"POST").status


def test_limits_at_pound_boundaries_per_listener() -> None:
    with Backend("ok") as backend:
        text = LISTENER.format(n=0, limits="MaxURI 100\n  MaxRequest 100", backend=backend.port)
        text += LISTENER.format(n=1, limits="MaxURI 200", backend=backend.port)
        config, socks = config_with_ports(text, 2)
        with ProxyThread(config, socks) as proxy:
            limited, other = (sock.getsockname()[1] for sock in socks)
            assert proxy.port == limited
            assert get(limited, "/" + "a" * 99).status == 200  # 100 bytes
            assert get(limited, "/" + "a" * 100).status == 414  # 101 bytes
            assert get(other, "/" + "a" * 100).status == 200  # its own MaxURI
            assert get(other, "/" + "a" * 200).status == 414
            post = {"method": "POST"}
            assert get(limited, body=b"x" * 100, **post).status == 200
            refused = get(limited, body=b"x" * 101, **post)
            assert (refused.status, refused.reason) == (413, b"Payload Too Large")  # Pound's
            assert get(limited, "/" + "a" * 100).reason == b"URI Too Long"
            assert get(other, body=b"x" * 10_000, **post).status == 200  # no MaxRequest
            assert chunked(limited, (60, 40)) == 200
            assert chunked(limited, (60, 41)) == 413
            assert chunked(limited, (101,)) == 413


def test_line_buffer_size_sets_the_line_limits() -> None:
    # Pound's LineBufferSize bounds the request line and each header line, and is the
    # default MaxURI; the global one is every listener's default.
    with Backend("ok") as backend:
        text = "LineBufferSize 16384\n"
        text += LISTENER.format(n=0, limits="LineBufferSize 4096", backend=backend.port)
        text += LISTENER.format(n=1, limits="", backend=backend.port)
        config, socks = config_with_ports(text, 2)
        with ProxyThread(config, socks):
            small, large = (sock.getsockname()[1] for sock in socks)
            assert get(small, headers="X-Big: " + "b" * 4000 + "\r\n").status == 200
            assert get(small, headers="X-Big: " + "b" * 5000 + "\r\n").status == 431
            assert get(small, "/" + "a" * 4000).status == 200
            assert get(small, "/" + "a" * 4096).status == 414
            # Beyond the built-in 8192 bytes a header line, within the global 16384.
            assert get(large, headers="X-Big: " + "b" * 12000 + "\r\n").status == 200
            assert get(large, "/" + "a" * 12000).status == 200
