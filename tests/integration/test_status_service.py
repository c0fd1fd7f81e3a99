"""`Status` in a Service (issue 16): the status page over a listener, through real
sockets (one process; the browser test runs the installed program with its workers), and
the authorization a `Status` or `Control` service needs beyond loopback, refused at load
with the place and what to add."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.support.backend import Backend
from tests.support.harness import Client, ProxyThread, config_with_ports, get, wait_until

from standby.config import ConfigError, load_config_text
from standby.control import status


def test_a_status_service_serves_the_page_its_document_script_and_style() -> None:
    with Backend("app") as app:
        text = f"""
Workers 1
ListenHTTP
  Address 127.0.0.1
  Port {{L0}}
  Service "board"
    URL "^/ops/"
    Status
  End
  Service "app"
    BackEnd
      Address 127.0.0.1
      Port {app.port}
    End
  End
End
"""
        config, socks = config_with_ports(text)
        with ProxyThread(config, socks) as p, Client(p.port) as c:
            assert get(p.port, "/x").body == b"app"
            page = c.request("/ops/status")
            assert page.status == 200
            assert page.header(b"content-type") == status.HTML_TYPE.encode()
            csp = page.header(b"content-security-policy")
            assert csp is not None and csp.startswith(b"default-src 'self'")
            assert b'<script src="status.js"' in page.body
            doc = json.loads(c.request("/ops/status.json").body)
            app_service = doc["listeners"][0]["services"][1]
            assert app_service["name"] == "app" and app_service["requests"] >= 1
            assert app_service["backends"][0]["state"] == "up"
            script = c.request("/ops/status.js")
            assert script.body == status.SCRIPT.encode()
            assert c.request("/ops/status.css").body == status.STYLE.encode()
            head = c.request("/ops/status", method="HEAD")
            assert head.status == 200 and head.body == b""
            refused = c.request("/ops/status", method="POST", body=b"{}")
            assert refused.status == 405 and refused.header(b"allow") == b"GET, HEAD"
            # The page follows the backend: disabled through the control interface...
            p.call(
                lambda: p.proxy.board.set_enabled(
                    config.listeners[0].services[1].backends[0], False
                )
            )

            def disabled() -> bool:
                doc = json.loads(get(p.port, "/ops/status.json").body)
                backend = doc["listeners"][0]["services"][1]["backends"][0]
                return bool(backend["state"] == "disabled" and backend["history"])

            wait_until(disabled, what="the page to show the backend disabled")


def service_on(address: str, conditions: str = "", kind: str = "Status") -> str:
    return f"""ListenHTTP
  Address {address}
  Port 8080
  Service
    URL "^/status"
{conditions}    {kind}
  End
End
"""


@pytest.mark.parametrize("address", ["0.0.0.0", "192.0.2.10", "::"])
def test_beyond_loopback_a_status_service_needs_authorization(address: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_config_text(service_on(address), "standby.cfg", "/")
    message = str(refused.value)
    assert message.startswith("standby.cfg:6.5: ")  # the Status line
    assert f"a Status service on listener {address}:8080" in message
    assert "ACL" in message and "BasicAuth" in message


@pytest.mark.parametrize("address", ["0.0.0.0", "192.0.2.10", "::"])
def test_beyond_loopback_an_unguarded_control_service_loads_with_a_warning(
    address: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Pound 4 takes it: a Pound file must still load; the warning says what to add.
    config = load_config_text(service_on(address, kind="Control"), "standby.cfg", "/")
    assert config.listeners[0].services[0].backends[0].kind.value == "control"
    [warning] = [r.getMessage() for r in caplog.records if "Control service" in r.getMessage()]
    assert warning.startswith(f"standby.cfg:6.5: a Control service on listener {address}:8080")
    assert "ACL" in warning and "BasicAuth" in warning


def test_a_global_status_service_counts_every_listener() -> None:
    text = """ListenHTTP
  Address 127.0.0.1
  Port 8080
End
ListenHTTP
  Address 0.0.0.0
  Port 8081
End
Service
  Status
End
"""
    with pytest.raises(ConfigError, match=r"^g\.cfg:10\.3: .*0\.0\.0\.0:8081"):
        load_config_text(text, "g.cfg", "/")


@pytest.mark.parametrize(
    "conditions",
    [
        '    ACL "admins"\n',
        '    ACL\n      "10.0.0.0/8"\n    End\n',
        '    BasicAuth "{dir}/users.htpasswd"\n',
        '    Match AND\n      URL "^/status"\n      ACL "admins"\n    End\n',
    ],
)
def test_an_acl_or_basic_auth_lets_it_listen_anywhere(conditions: str, tmp_path: Path) -> None:
    (tmp_path / "users.htpasswd").write_text("ops:{PLAIN}secret\n")
    conditions = conditions.replace("{dir}", str(tmp_path))
    text = 'ACL "admins"\n  "192.0.2.0/24"\nEnd\n' + service_on("0.0.0.0", conditions)
    config = load_config_text(text, "standby.cfg", str(tmp_path))
    assert config.listeners[0].services[0].backends[0].kind.value == "status"


@pytest.mark.parametrize(
    "conditions",
    [
        '    Not ACL "admins"\n',  # everyone but them: no authorization
        '    Match OR\n      URL "^/status"\n      ACL "admins"\n    End\n',
    ],
)
def test_a_condition_anyone_can_meet_is_not_authorization(conditions: str) -> None:
    text = 'ACL "admins"\n  "192.0.2.0/24"\nEnd\n' + service_on("0.0.0.0", conditions)
    with pytest.raises(ConfigError, match="needs an authorization condition"):
        load_config_text(text, "standby.cfg", "/")


@pytest.mark.parametrize("address", ["127.0.0.1", "127.3.4.5", "::1"])
def test_on_loopback_no_authorization_is_needed(address: str) -> None:
    config = load_config_text(service_on(address), "standby.cfg", "/")
    assert config.listeners[0].services[0].backends[0].kind.value == "status"
