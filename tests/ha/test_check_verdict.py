"""``standby.control.check``'s decision from a control listing (pure) and its connect."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from standby.control.check import CheckFailed, connect, short_form, split_address, verdict


def backend(alive: bool = True, enabled: bool = True, draining: bool = False) -> dict[str, Any]:
    return {"alive": alive, "enabled": enabled, "draining": draining, "type": "backend"}


def listing(*backends: dict[str, Any], emergencies: tuple[dict[str, Any], ...] = ()) -> Any:
    service = {"index": 0, "name": "web", "enabled": True, "backends": list(backends)}
    service["emergencies"] = list(emergencies)
    control = {
        "index": 0,
        "address": "/run/standby.sock",
        "enabled": True,
        "services": [{"backends": [{"type": "control"}]}],
    }
    listener = {"index": 1, "address": "0.0.0.0:80", "enabled": True, "services": [service]}
    return {"listeners": [control, listener], "services": []}


def test_a_usable_backend_and_the_addresses_to_try() -> None:
    assert verdict(listing(backend())) == ([("127.0.0.1", 80)], 1)


@pytest.mark.parametrize(
    "state",
    [
        {"alive": False},
        {"enabled": False},
        {"draining": True},
    ],
)
def test_an_unusable_backend_fails_unless_an_emergency_serves(state: dict[str, Any]) -> None:
    with pytest.raises(CheckFailed, match=r"service /1/0 \(web\): none of its 1 backends"):
        verdict(listing(backend(**state)))
    assert verdict(listing(backend(**state), emergencies=(backend(),)))[1] == 1


def test_a_disabled_listener_fails_and_a_disabled_service_is_skipped() -> None:
    obj = listing(backend(alive=False))
    obj["listeners"][1]["services"][0]["enabled"] = False
    assert verdict(obj) == ([("127.0.0.1", 80)], 0)
    obj["listeners"][1]["enabled"] = False
    with pytest.raises(CheckFailed, match=r"listener /1 0\.0\.0\.0:80 is disabled"):
        verdict(obj)


def test_global_services_count() -> None:
    obj = listing(backend())
    obj["services"] = [{"index": 0, "enabled": True, "backends": [backend(alive=False)]}]
    with pytest.raises(CheckFailed, match="service /-/0"):
        verdict(obj)


def test_addresses() -> None:
    assert split_address("[::]:8080") == ("::1", 8080)
    assert split_address("[2001:db8::1]:80") == ("2001:db8::1", 80)
    assert split_address("192.0.2.1:443") == ("192.0.2.1", 443)


def test_a_port_nobody_listens_on_fails() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and is closed now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(CheckFailed, match=f"listener 127.0.0.1:{port}: "):
        connect("127.0.0.1", port)


def test_the_short_command_lines() -> None:
    assert short_form(["-s", "/s", "check"]) == ("/s", False)
    assert short_form(["-s", "/s", "-v", "check"]) == ("/s", True)
    assert short_form(["-v", "-s", "/s", "check", "-v"]) == ("/s", True)
    for other in (
        ["check"],
        ["-f", "x", "check"],
        ["-s", "/s", "list"],
        ["-s", "/s", "check", "x"],
    ):
        assert short_form(other) is None
