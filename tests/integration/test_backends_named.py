"""Global named backends (`Backend "name"` at the top level, `UseBackend "name"` in
services) and `Balancer iwrr`, through real sockets (issue 15)."""

from __future__ import annotations

import json

from tests.support.backend import Backend
from tests.support.harness import Client, ProxyThread, config_with_ports, get, wait_until

from standby.config import load_config_text


def named(name: str, port: int, extra: str = "") -> str:
    return f'Backend "{name}"\n  Address 127.0.0.1\n  Port {port}\n  {extra}\nEnd\n'


def two_services(*, first: str, second: str, before: str = "", after: str = "") -> str:
    return f"""
Workers 1
Alive 1
{before}
ListenHTTP
  Address 127.0.0.1
  Port {{L0}}
  Service
    URL "^/one"
{first}
  End
  Service
{second}
  End
End
{after}
"""


def test_a_named_backend_used_by_two_services_is_one_backend() -> None:
    # The manual's case: one server behind several services. It has one identity: the
    # services share its connection pool, its counters and its health.
    with Backend("shared") as shared, Backend("spare") as spare:
        text = two_services(
            first='    UseBackend "app"',
            second=f'    UseBackend "app"\n    Emergency\n      Address 127.0.0.1\n'
            f"      Port {spare.port}\n    End",
            after=named("app", shared.port),  # defined after its use: Pound allows it
        )
        config, socks = config_with_ports(text)
        one = config.listeners[0].services[0].backends[0]
        two = config.listeners[0].services[1].backends[0]
        assert one is two and one.name == "app"
        with ProxyThread(config, socks) as p:
            with Client(p.port) as c:
                assert c.request("/one").body == b"shared"
                assert c.request("/two").body == b"shared"
            assert shared.requests == 2
            shared.stop()
            # Seen dead by a request of the second service: the first one knows too.
            assert get(p.port, "/two").body == b"spare"
            wait_until(lambda: not p.proxy.board.is_alive(one), what="shared seen dead")
            assert get(p.port, "/one").status == 503


def test_a_service_may_change_a_named_backend_s_priority() -> None:
    # `Backend "name"` in a Service takes the global backend with its own Priority
    # (or Disabled), and the same health.
    with Backend("a") as a, Backend("b") as b:
        text = two_services(
            first='    Balancer iwrr\n    Backend "a"\n      Priority 3\n    End\n'
            '    UseBackend "b"',
            second='    UseBackend "a"\n    Backend "b"\n      Disabled 1\n    End',
            before=named("a", a.port, "Priority 1") + named("b", b.port),
        )
        config, socks = config_with_ports(text)
        first = config.listeners[0].services[0].backends
        assert [spec.priority for spec in first] == [3, 5]
        assert first[0].identity == config.listeners[0].services[1].backends[0].identity
        with ProxyThread(config, socks) as p:
            bodies = "".join(get(p.port, "/one").body.decode() for _ in range(16))
            assert bodies == "abababbb" * 2  # iwrr, priorities 3 and 5: rounds 0..4
            assert {get(p.port, "/two").body for _ in range(4)} == {b"a"}


def test_iwrr_gives_pound_s_sequence_on_real_traffic() -> None:
    with Backend("A") as first, Backend("B") as second:
        text = two_services(
            first=f"""    Balancer iwrr
    BackEnd
      Address 127.0.0.1
      Port {first.port}
      Priority 1
    End
    BackEnd
      Address 127.0.0.1
      Port {second.port}
      Priority 3
    End""",
            second="    Error 404",
        )
        config, socks = config_with_ports(text)
        with ProxyThread(config, socks) as p, Client(p.port) as c:
            sequence = "".join(c.request("/one").body.decode() for _ in range(12))
        assert sequence == "ABBB" * 3


def test_global_balancer_applies_to_services_without_their_own() -> None:
    text = """
Balancer iwrr
ListenHTTP
  Address 127.0.0.1
  Port 8080
  Service
    Error 404
  End
  Service
    Balancer random
    Success
  End
End
"""
    config = load_config_text(text)
    services = config.listeners[0].services
    assert [s.balancer.value for s in services] == ["iwrr", "random"]


def test_named_backends_in_the_control_listing() -> None:
    with Backend("app") as app:
        text = two_services(
            first='    UseBackend "app"',
            second="    Control",
            before=named("app", app.port),
        )
        config, socks = config_with_ports(text)
        with ProxyThread(config, socks) as p, Client(p.port) as c:
            assert c.request("/one").body == b"app"
            listing = json.loads(c.request("/listener/0/service/0").body)
            assert listing["backends"][0]["address"] == f"127.0.0.1:{app.port}"
            assert listing["backends"][0]["requests"] == 1
