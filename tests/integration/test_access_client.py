"""The access log's client address (%a, and the built-in levels) behind proxies, through
real sockets: with `TrustedIP`, the last address of every forwarded header line that the
trusted proxies do not vouch for, as Pound 4.23 logs it (checked beside it); the
connection's address without TrustedIP, or when the header holds nothing better."""

from __future__ import annotations

import pytest
from tests.support.backend import Backend
from tests.support.harness import ProxyThread, config_with_ports, get, wait_until

from standby.observe.access import AccessLog

CONFIG = """
{top}
LogLevel {level}
ListenHTTP
  Address 127.0.0.1
  Port {{L0}}
  {listener}
  Service
    BackEnd
      Address 127.0.0.1
      Port {port}
    End
  End
End
"""
TRUSTED = 'TrustedIP\n  "127.0.0.1"\n  "192.0.2.10"\nEnd'

# (forwarded header lines, the client Pound 4.23 logs with TRUSTED)
CASES = [
    ("X-Forwarded-For: 192.0.2.4, 192.0.2.5\r\n", "192.0.2.5"),
    (
        "X-Forwarded-For: 192.0.2.4, 192.0.2.5\r\nX-Foo: bar\r\nX-Forwarded-For: 192.0.2.10\r\n",
        "192.0.2.5",
    ),
    ("X-Forwarded-For: 192.0.2.4, 192.0.2.5\r\nX-Forwarded-For: 127.0.0.1\r\n", "192.0.2.5"),
    ("X-Forwarded-For: 127.0.0.1\r\n", "127.0.0.1"),
    ("X-Forwarded-For: junk, 192.0.2.10\r\n", "127.0.0.1"),
    ("", "127.0.0.1"),
]


def logged(text: str, headers: list[str]) -> list[str]:
    """The access lines of one request per entry of ``headers``."""
    lines: list[str] = []
    with Backend("app") as app:
        config, socks = config_with_ports(text.replace("{port}", str(app.port)))
        with ProxyThread(config, socks, access_log=AccessLog.for_config(config, lines.append)) as p:
            for extra in headers:
                assert get(p.port, "/x", headers=extra).status == 200
            wait_until(lambda: len(lines) == len(headers), what="access lines")
    return lines


@pytest.mark.parametrize("where", ["top", "listener"])
def test_client_address_behind_trusted_proxies(where: str) -> None:
    text = CONFIG.format(
        top=('LogFormat "a" "%a"\n' + (TRUSTED if where == "top" else "")),
        listener=TRUSTED.replace("\n", "\n  ") if where == "listener" else "",
        level='"a"',
        port="{port}",
    )
    assert logged(text, [h for h, _ in CASES]) == [client for _, client in CASES]


def test_other_forwarded_header_and_the_built_in_levels() -> None:
    top = TRUSTED + '\nForwardedHeader "X-My-Forwarded-For"'
    text = CONFIG.format(top=top, listener="", level="1", port="{port}")
    lines = logged(text, ["X-My-Forwarded-For: 192.0.2.4\r\nX-Forwarded-For: 192.0.2.7\r\n"])
    assert lines == ["192.0.2.4 GET /x HTTP/1.1 - HTTP/1.1 200 OK"]
    # Without TrustedIP: the connection's address, whatever the header says.
    text = CONFIG.format(top="", listener="", level="1", port="{port}")
    lines = logged(text, ["X-Forwarded-For: 192.0.2.4\r\n"])
    assert lines == ["127.0.0.1 GET /x HTTP/1.1 - HTTP/1.1 200 OK"]
