"""Configuration reload under load: 20 reloads, each with a changed configuration, lose no
request; a broken configuration is rejected and the old one keeps serving; backends that
stay keep their health and drain state; a reload that cannot bind a new listener is rolled
back whole; a listener dropped by a reload finishes its connections politely."""

from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from tests.support.backend import Backend
from tests.support.configs import one_backend
from tests.support.harness import (
    Client,
    ProxyThread,
    config_with_ports,
    free_port,
    get,
    wait_until,
)
from tests.support.load import Load

from standby.config import load_config
from standby.model import BackendSpec
from standby.server import proxy as proxy_module
from standby.upstream.pool import resolve as real_resolve

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
                assert proxy.reload() == (True, "reloaded")
                wait_until(lambda t=target: load.total() >= t, what=f"traffic after reload {i}")
            path.write_text("ListenHTTP\n  Port 99999\nEnd\n")  # broken
            ok_flag, message = proxy.reload()
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
            assert proxy.reload()[0]
            new_a = proxy.proxy.config.listeners[0].services[0].backends[0]
            assert new_a.priority == 3
            assert proxy.call(lambda: board.is_draining(new_a))
            for _ in range(10):
                assert get(proxy.port).body == b"b"  # a is still drained


def listeners_text(ports: list[int], backend: Backend) -> str:
    """One listener per port, each in front of ``backend``."""
    return "".join(one_backend(backend.port, listen=port) for port in ports)


def refused(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_a_reload_that_cannot_bind_changes_nothing(tmp_path: Path) -> None:
    # The new configuration switches to backend b and adds two listeners; the second one's
    # port is taken. Nothing changes: a keeps answering on the old port, and the listener
    # that did bind is closed again.
    path = tmp_path / "standby.cfg"
    with Backend("a") as a, Backend("b") as b, socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        _, socks = config_with_ports(one_backend(a.port))
        port = socks[0].getsockname()[1]
        path.write_text(listeners_text([port], a))
        with ProxyThread(load_config(str(path)), socks) as proxy:
            assert get(port).body == b"a"
            extra = free_port()
            path.write_text(listeners_text([port, extra, taken.getsockname()[1]], b))
            ok, message = proxy.reload()
            assert not ok and "in use" in message
            assert get(port).body == b"a"
            assert refused(extra)  # bound during the attempt, closed by its rollback
            path.write_text(listeners_text([port, extra], b))  # the port is free: it works
            assert proxy.reload() == (True, "reloaded")
            assert get(port).body == b"b" and get(extra).body == b"b"
        assert proxy.errors == []


def test_a_listener_dropped_by_a_reload_finishes_its_connections(tmp_path: Path) -> None:
    # A keep-alive client of a listener the new configuration no longer has gets the answer
    # to its next request, with Connection: close, and then the connection ends; the port
    # stops accepting at once.
    path = tmp_path / "standby.cfg"
    with Backend("a") as a:
        _, socks = config_with_ports(one_backend(a.port))
        old_port = socks[0].getsockname()[1]
        path.write_text(listeners_text([old_port], a))
        with ProxyThread(load_config(str(path)), socks) as proxy, Client(old_port) as client:
            client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert client.response().body == b"a"  # now idle, kept alive
            new_port = free_port()
            path.write_text(listeners_text([new_port], a))
            assert proxy.reload() == (True, "reloaded")
            assert refused(old_port) and get(new_port).body == b"a"
            client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            last = client.response()
            assert (last.body, last.header(b"connection")) == (b"a", b"close")
            assert client.closed_by_peer()
        assert proxy.errors == []


SLOW_NAME = "slow-to-resolve.test"  # a backend name whose resolution the test holds
BY_NAME = """
ListenHTTP
  Address 127.0.0.1
  Port {port}
  Service
    BackEnd
      Address {name}
      Port {backend}
    End
  End
End
"""


def test_a_reload_resolves_names_off_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A reload adds a backend by host name; its resolution is held until the test lets it
    # go. Meanwhile the proxy keeps answering: the loop is not the thread that resolves.
    path = tmp_path / "standby.cfg"
    started = threading.Event()
    release = threading.Event()
    outcome: dict[str, object] = {}

    def held_resolve(spec: BackendSpec) -> tuple[int, object]:
        if spec.address != SLOW_NAME:
            return real_resolve(spec)
        outcome["thread"] = threading.current_thread().name
        started.set()
        outcome["released"] = release.wait(60)  # False: nobody released it (loop blocked)
        return real_resolve(replace(spec, address="127.0.0.1"))

    monkeypatch.setattr(proxy_module, "resolve", held_resolve)
    with Backend("a") as a, Backend("b") as b:
        _, socks = config_with_ports(one_backend(a.port))
        port = socks[0].getsockname()[1]
        path.write_text(one_backend(a.port, listen=port))
        with ProxyThread(load_config(str(path)), socks) as proxy:
            assert proxy.loop is not None and proxy.proxy is not None
            loop_thread = proxy.call(lambda: threading.current_thread().name)
            path.write_text(BY_NAME.format(port=port, name=SLOW_NAME, backend=b.port))
            reloading = asyncio.run_coroutine_threadsafe(
                proxy.proxy.reload_from_source(), proxy.loop
            )
            assert started.wait(60), "the reload never resolved the new backend"
            for _ in range(5):  # answered while the name is still being resolved
                assert get(port).body == b"a"
            assert not release.is_set() and "released" not in outcome
            release.set()
            assert reloading.result(60) == (True, "reloaded")
            assert outcome["released"] is True and outcome["thread"] != loop_thread
            assert get(port).body == b"b"
        assert proxy.errors == []
