"""Configuration reload under load: 20 reloads, each with a changed configuration, lose no
request; a broken configuration is rejected and the old one keeps serving; backends that
stay keep their health and drain state."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from tests.support.backend import Backend
from tests.support.harness import ProxyThread, config_with_ports, get, wait_until
from tests.support.load import Load

from standby.config import load_config

TEMPLATE = """
Alive 1
ListenHTTP
  Address 127.0.0.1
  Port {port}
  Service
    HeadRequire "Host: www.example.com.*"
    BackEnd
      Address 127.0.0.1
      Port {a}
      Priority {pa}
    End
    BackEnd
      Address 127.0.0.1
      Port {b}
      Priority {pb}
    End
  End
End
"""


def listening(a: Backend, b: Backend) -> list[socket.socket]:
    _, socks = config_with_ports(TEMPLATE.format(port="{L0}", a=a.port, b=b.port, pa=5, pb=5))
    return socks


def reload_from(proxy: ProxyThread, path: Path) -> tuple[bool, str]:
    async def run() -> tuple[bool, str]:
        assert proxy.proxy is not None
        return await proxy.proxy.reload_from_source()

    assert proxy.loop is not None
    return asyncio.run_coroutine_threadsafe(run(), proxy.loop).result(60)


def test_twenty_reloads_under_load_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "standby.cfg"
    with Backend("a") as a, Backend("b") as b:
        socks = listening(a, b)
        port = socks[0].getsockname()[1]

        def write(pa: int, pb: int) -> None:
            path.write_text(TEMPLATE.format(port=port, a=a.port, b=b.port, pa=pa, pb=pb))

        write(5, 5)
        ok = ("200 b'a'", "200 b'b'")
        with (
            ProxyThread(load_config(str(path)), socks) as proxy,
            Load(proxy.port, 10, pace=0.005) as load,
        ):
            wait_until(lambda: load.total() >= 100, what="load running")
            for i in range(20):
                write(1 + i % 9, 9 - i % 9)  # a changed configuration each time
                target = load.total() + 20
                assert reload_from(proxy, path) == (True, "reloaded")
                wait_until(lambda t=target: load.total() >= t, what=f"traffic after reload {i}")
            path.write_text("ListenHTTP\n  Port 99999\nEnd\n")  # broken
            ok_flag, message = reload_from(proxy, path)
            assert not ok_flag and "standby.cfg" in message
            before = load.total()
            wait_until(lambda: load.total() >= before + 50, what="still serving")
        assert load.failures(ok) == {}, load.outcomes
        assert load.count("200 b'a'") and load.count("200 b'b'")


def test_reload_keeps_health_and_drain_of_backends_that_stay(tmp_path: Path) -> None:
    path = tmp_path / "standby.cfg"
    with Backend("a") as a, Backend("b") as b:
        socks = listening(a, b)
        port = socks[0].getsockname()[1]
        path.write_text(TEMPLATE.format(port=port, a=a.port, b=b.port, pa=5, pb=5))
        with ProxyThread(load_config(str(path)), socks) as proxy:
            assert proxy.proxy is not None
            board = proxy.proxy.board
            spec_a = proxy.proxy.config.listeners[0].services[0].backends[0]
            proxy.call(lambda: board.set_draining(spec_a, True))
            path.write_text(TEMPLATE.format(port=port, a=a.port, b=b.port, pa=3, pb=7))
            assert reload_from(proxy, path)[0]
            new_a = proxy.proxy.config.listeners[0].services[0].backends[0]
            assert new_a.priority == 3
            assert proxy.call(lambda: board.is_draining(new_a))
            for _ in range(10):
                assert get(proxy.port).body == b"b"  # a is still drained
