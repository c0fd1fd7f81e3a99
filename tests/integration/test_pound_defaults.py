"""Pound's defaults where a pound.cfg leaves things out: a listener's Address and Port, a
backend's Port (80, or 443 with HTTPS), an Emergency backend's 120 s timeouts whatever the
global ones (shown on real traffic), and a Service without backends (Pound takes it with a
warning): the requests it matches get 503."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable

import pytest
from tests.support.harness import ProxyThread, config_with_ports, free_port, get
from tests.support.peers import RawBackend, respond_once

from standby import model
from standby.config import load_config_text

EMERGENCY_PAGE = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nmirror"
SLOWER_THAN_GLOBAL = 2.5  # the emergency's answer time: well past the global TimeOut 1


def test_a_listener_without_address_or_port_listens_on_every_interface_port_80() -> None:
    spec = load_config_text(
        "ListenHTTP\n  Service\n    BackEnd\n      Address 127.0.0.1\n    End\n  End\nEnd\n"
    )
    listener = spec.listeners[0]
    assert (listener.address, listener.port) == (model.DEFAULT_LISTEN_ADDRESS, 80)
    assert listener.dual_stack
    written = load_config_text(
        "ListenHTTP\n  Address ::\n  Service\n    Error 404\n  End\nEnd\n"
    ).listeners[0]
    assert not written.dual_stack  # "::" written stays IPv6 only


UNSHARE = shutil.which("unshare")
RUN_TIMEOUT = 60.0  # generous bound for a short-lived process on a loaded machine
# Run in a network namespace of its own (only its loopback exists): binds what the
# configuration says, Pound's default "::" port 80, and connects over IPv4 and IPv6.
IN_NAMESPACE = textwrap.dedent(
    """
    import socket, subprocess
    from standby.config import load_config_text
    from standby.process.listeners import bind_listener

    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    text = "ListenHTTP\\n Service\\n  Error 404\\n End\\nEnd\\n"
    spec = load_config_text(text).listeners[0]
    sock = bind_listener(spec)
    sock.setblocking(True)
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        with socket.socket(family) as client:
            client.settimeout(10)
            client.connect((host, spec.port))
            accepted, _ = sock.accept()
            accepted.close()
    print(spec.address, spec.port, "ipv4 and ipv6")
    """
)


@pytest.mark.skipif(
    (UNSHARE is None or os.geteuid() != 0) and not os.environ.get("CI"),
    reason="needs root and unshare(1) for a network namespace",
)
def test_the_default_listener_takes_ipv4_and_ipv6_on_port_80() -> None:
    assert UNSHARE is not None
    done = subprocess.run(
        [UNSHARE, "--net", sys.executable, "-c", IN_NAMESPACE],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.stdout.strip() == ":: 80 ipv4 and ipv6", done.stderr


def test_a_backend_without_port_gets_80_or_443_with_https() -> None:
    spec = load_config_text(
        "ListenHTTP\n  Address 127.0.0.1\n  Port 8080\n  Service\n"
        "    BackEnd\n      Address 127.0.0.1\n    End\n"
        "    BackEnd\n      Address 127.0.0.2\n      HTTPS\n    End\n  End\nEnd\n"
    )
    ports = [b.port for b in spec.listeners[0].services[0].backends]
    assert ports == [model.HTTP_PORT, model.HTTPS_PORT]


def test_an_emergency_has_120_s_timeouts_unless_it_sets_its_own() -> None:
    spec = load_config_text(
        "TimeOut 5\nConnTO 3\nWSTimeOut 30\n"
        "ListenHTTP\n  Address 127.0.0.1\n  Port 8080\n  Service\n"
        "    BackEnd\n      Address 127.0.0.1\n      Port 1\n    End\n"
        "    Emergency\n      Address 127.0.0.1\n      Port 2\n    End\n"
        "    Emergency\n      Address 127.0.0.1\n      Port 3\n      TimeOut 7\n    End\n"
        "  End\nEnd\n"
    )
    service = spec.listeners[0].services[0]
    regular = service.backends[0]
    assert (regular.timeout, regular.conn_timeout, regular.ws_timeout) == (5, 3, 30)
    plain, own = service.emergencies
    assert (plain.timeout, plain.conn_timeout, plain.ws_timeout) == (120, 120, 120)
    assert (own.timeout, own.conn_timeout, own.ws_timeout) == (7, 120, 120)


def slow_answer(response: bytes, delay: float) -> Callable[[socket.socket, bytes], bool]:
    """A backend script that takes ``delay`` seconds before answering (a cold mirror)."""
    answer = respond_once(response)

    def script(conn: socket.socket, received: bytes) -> bool:
        if b"\r\n\r\n" in received:
            time.sleep(delay)  # the peer's own slowness, not synchronisation
        return answer(conn, received)

    return script


def test_a_slow_emergency_answers_past_the_global_timeout() -> None:
    dead = free_port()  # nothing listens: the regular backend is down
    with RawBackend(slow_answer(EMERGENCY_PAGE, SLOWER_THAN_GLOBAL)) as mirror:
        config, socks = config_with_ports(
            f"""
TimeOut 1
ListenHTTP
  Address 127.0.0.1
  Port {{L0}}
  Service
    BackEnd
      Address 127.0.0.1
      Port {dead}
    End
    Emergency
      Address 127.0.0.1
      Port {mirror.port}
    End
  End
End
"""
        )
        with ProxyThread(config, socks) as proxy:
            response = get(proxy.port, "/")
    assert (response.status, response.body) == (200, b"mirror")


def test_a_service_without_backends_answers_503_for_what_it_matches() -> None:
    config, socks = config_with_ports(
        """
ListenHTTP
  Address 127.0.0.1
  Port {L0}
  Service
    URL "^/empty"
  End
  Service
    Error 404
  End
End
"""
    )
    with ProxyThread(config, socks) as proxy:
        assert get(proxy.port, "/empty").status == 503
        assert get(proxy.port, "/other").status == 404
