"""Pound 4.23's expansion rules in edits through real sockets (issue 15, round 3): the
Constants a header edit names (a Service's over its listener's over the top level's),
several conditions' back-references, what an expansion that cannot be made answers, and
the file a SendFile backend sends after the request's path was edited."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.backend import Backend
from tests.support.harness import ProxyThread, config_with_ports, get

pytestmark = pytest.mark.timeout(120)


def echoed_lines(port: int, target: str = "/echo", headers: str = "") -> list[bytes]:
    """The header lines the /echo backend received for a GET of ``target``."""
    r = get(port, target, headers=headers)
    assert r.status == 200, r
    return r.body.split(b"\r\n")[1:-2]


def test_set_header_expands_the_constants_of_its_scope(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"from a file\n\n")
    template = """
Constant "a" "top A"
Constant "b" "top B"
Constant "f" -file "{secret}" -trim
Constant "g" -file "{secret}"
ListenHTTP
  Address 127.0.0.1
  Port {{L0}}
  Constant "b" "listener B"
  SetHeader "X-Listener-B: %[const b]"
  Service
    Constant "a" "service A"
    SetHeader "X-A: %[const a]"
    SetHeader "X-A-url: %[const a url]"
    SetHeader "X-B-base64: %[const b base64]"
    SetHeader "X-F: %[const f]"
    SetHeader "X-G-url: %[const g url]"
    SetPath "/echo/%[const a url]"
    BackEnd
      Address 127.0.0.1
      Port {port}
    End
  End
End
"""
    with Backend("echo") as b:
        config, socks = config_with_ports(template.format(secret=secret, port=b.port))
        with ProxyThread(config, socks) as p:
            r = get(p.port, "/anything")
            assert r.status == 200, r
            assert r.body.startswith(b"GET /echo/service%20A HTTP/1.1\r\n")
            got = r.body.split(b"\r\n")[1:-2]
            assert got[-6:] == [
                b"X-Listener-B: listener B",
                b"X-A: service A",
                b"X-A-url: service%20A",
                b"X-B-base64: bGlzdGVuZXIgQg==",  # the listener's b: the service has none
                b"X-F: from a file",
                b"X-G-url: from%20a%20file%0A%0A",
            ]
