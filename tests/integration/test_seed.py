"""The seed's configuration, verbatim but for loopback addresses, with real backends."""

from __future__ import annotations

import time

from tests.support.backend import Backend
from tests.support.harness import (
    BackendProcess,
    ProxyThread,
    config_with_ports,
    get,
    wait_until,
)
from tests.support.load import Load

SEED = """\
User "pound"
Group "pound"
LogLevel 1
Alive {alive}
Daemon 1
ListenHTTP
  Address 127.0.0.1
  Port {{L0}}
  Service
    HeadRequire "Host: www.example.com.*"
    BackEnd
      Address 127.0.0.1
      Port {primary}
    End
    Emergency
      Address 127.0.0.1
      Port {standby}
    End
  End
End
"""


PRIMARY = "200 b'primary'"
STANDBY = "200 b'standby'"


def seed(primary: int, standby: int, alive: int = 60) -> str:
    return SEED.format(primary=primary, standby=standby, alive=alive)


def test_matching_host_reaches_primary_other_host_gets_503() -> None:
    with Backend("primary") as primary, Backend("standby") as standby:
        config, socks = config_with_ports(seed(primary.port, standby.port))
        with ProxyThread(config, socks) as proxy:
            resp = get(proxy.port, "/", host="www.example.com")
            assert resp.status == 200
            assert resp.body == b"primary"
            resp = get(proxy.port, "/", host="other.example.org")
            assert resp.status == 503
            assert primary.requests == 1
            assert standby.requests == 0


def test_standby_answers_while_primary_is_down_and_traffic_returns() -> None:
    with Backend("standby") as standby:
        primary = BackendProcess("primary").start()
        port = primary.port
        config, socks = config_with_ports(seed(port, standby.port, alive=1))
        with ProxyThread(config, socks) as proxy:
            assert get(proxy.port).body == b"primary"
            primary.kill()
            assert get(proxy.port).body == b"standby"
            assert get(proxy.port).body == b"standby"
            start = time.monotonic()
            primary = BackendProcess("primary", port).start()
            try:
                wait_until(lambda: get(proxy.port).body == b"primary", what="primary back")
                # Alive 1: the next probe brings it back within Alive + 1 s (plus CI noise).
                assert time.monotonic() - start < 1 + 1 + 5
            finally:
                primary.kill()


def test_killing_the_primary_under_load_loses_no_request() -> None:
    """The seed verbatim (Alive 60): kill the primary under load from 20 connections, then
    restart it; no request fails, and traffic returns within Alive + 1 s."""
    with Backend("standby") as standby:
        primary = BackendProcess("primary").start()
        port = primary.port
        config, socks = config_with_ports(seed(port, standby.port))
        assert config.alive == 60
        try:
            with ProxyThread(config, socks) as proxy, Load(proxy.port, 20, pace=0.02) as load:
                wait_until(lambda: load.count(PRIMARY) >= 200, what="load on primary")
                primary.kill()
                seen = load.count(STANDBY)
                wait_until(lambda: load.count(STANDBY) >= seen + 200, what="standby")
                primary = BackendProcess("primary", port).start()
                restarted = time.monotonic()
                back = load.count(PRIMARY)
                wait_until(lambda: load.count(PRIMARY) > back, 90, what="primary back")
                returned = time.monotonic() - restarted
                wait_until(lambda: load.count(PRIMARY) >= back + 200, what="primary load")
            print(f"\ntraffic back on the primary {returned:.1f} s after its restart (Alive 60)")
            # Within Alive + 1 s, plus a margin for two noisy shared cores.
            assert returned <= config.alive + 1 + 3
            ok = (PRIMARY, STANDBY)
            bad = {k: v for k, v in load.outcomes.items() if k not in ok}
            assert bad == {}, f"failed requests: {bad} of {load.total()}"
            print(f"requests: {dict(load.outcomes)}")
        finally:
            primary.kill()
