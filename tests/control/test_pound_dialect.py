"""Pound's REST requests to a `Control` service (GET /core, /listener/L/S/B, /service/S...)
answered in Pound's JSON, and Pound's core and backend objects filled with standby's own
figures (issue 15: Pound's testsuite groups ctl-core, ctl-listener, ctl-service, list)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from standby import __version__
from standby.control import poundview
from standby.control.api import Reply
from standby.control.poundview import PoundRequest, pound_request
from tests.process.harness import running_standby
from tests.support.backend import Backend
from tests.support.harness import Client, ProxyThread, config_with_ports, free_port, get

pytestmark = pytest.mark.timeout(240)

POUND_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}")


# -- which requests are Pound's, and the API target each one stands for -------------------


@pytest.mark.parametrize(
    ("method", "target", "api_target"),
    [
        ("GET", "/", "/"),
        ("GET", "/?indent=2", "/"),
        ("GET", "/listener", "/"),
        ("GET", "/core", "/core"),
        ("GET", "/listener/-", "/"),
        ("GET", "/listener/1", "/listener/1"),
        ("GET", "/listener/1/2", "/listener/1/service/2"),
        ("GET", "/listener/1/two/0?indent=4", "/listener/1/service/two/backend/0"),
        ("GET", "/listener/-/0", "/listener/-/service/0"),
        ("GET", "/service/0", "/listener/-/service/0"),
        ("GET", "/service/default/1", "/listener/-/service/default/backend/1"),
        ("GET", "/listener/web/a%2Fb", "/listener/web/service/a%2Fb"),
        ("PUT", "/listener/1/0/0", "/listener/1/service/0/backend/0"),
        ("DELETE", "/service/0", "/listener/-/service/0"),
    ],
)
def test_pound_paths_map_to_the_api(method: str, target: str, api_target: str) -> None:
    request = pound_request(method, target)
    assert isinstance(request, PoundRequest)
    assert request.target == api_target
    assert request.change is (method != "GET")


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("GET", "/listener/0/service/1"),  # standby's own long form
        ("GET", "/listener/0/service/1/backend/0"),
        ("PATCH", "/listener/0/1/0"),  # no PATCH in Pound: the API's
        ("GET", "/metrics"),
        ("GET", "/session/0/0"),
        ("POST", "/reload"),
        ("PUT", "/core"),
        ("GET", "/service"),
        ("GET", "/listener/0/1/0/extra"),
    ],
)
def test_other_requests_stay_the_apis(method: str, target: str) -> None:
    assert pound_request(method, target) is None


@pytest.mark.parametrize("query", ["indent=81", "indent=-1", "indent=x", "indent="])
def test_a_bad_indent_is_refused_as_pound_does(query: str) -> None:
    reply = pound_request("GET", "/core?" + query)
    assert isinstance(reply, Reply) and reply.status == 400


@given(st.integers(0, poundview.MAX_INDENT))
def test_every_indent_pound_takes_is_taken(indent: int) -> None:
    request = pound_request("GET", f"/listener/0?indent={indent}")
    assert isinstance(request, PoundRequest) and request.indent == indent


def test_an_error_of_the_api_is_passed_on_and_a_change_answers_true() -> None:
    change = pound_request("PUT", "/listener/1/0/0")
    assert isinstance(change, PoundRequest)
    missing = Reply(404, b'{"error": "no listener"}\n')
    assert change.reply(missing) is missing
    assert change.reply(Reply(200, b'{"kind": "backend"}')).body == b"true"


# -- Pound's objects from the API's -----------------------------------------------------------


def test_the_core_object_has_pounds_fields_with_standbys_figures() -> None:
    api_core = {
        "kind": "core",
        "pid": 42,
        "version": "9.9",
        "uptime": 5,
        "timestamp": "2024-01-01T00:00:00.000001Z",
        "workers": {"count": 3, "active": 7, "unanswered": []},
    }
    assert poundview.core(api_core) == {
        "kind": "core",
        "pid": 42,
        "version": "9.9",
        "uptime": 5,
        "timestamp": "2024-01-01T00:00:00.000001",
        "queue": {"len": 0, "max": 0},
        "queue_len": 0,
        "workers": {"active": 7, "count": 3, "max": 3, "min": 3, "timeout": 0},
    }


def test_special_backends_as_pound_shows_them() -> None:
    redirect = {
        "kind": "backend",
        "type": "redirect",
        "url": "http://x.example",
        "code": 302,
        "redir_req": True,
        "priority": 5,
        "alive": True,
        "enabled": True,
        "conn_to": 15,
        "emergency": False,
    }
    assert poundview.backend(redirect) == {
        "alive": True,
        "code": 302,
        "enabled": True,
        "has_uri": False,
        "kind": "backend",
        "priority": 1,
        "type": "redirect",
        "url": "http://x.example",
        "weight": 0,
    }
    assert poundview.backend({**redirect, "redir_req": False})["has_uri"] is True
    proxied = {"type": "backend", "address": "127.0.0.1:1", "emergency": True, "priority": 5}
    assert poundview.backend(proxied)["weight"] == poundview.EMERGENCY_GROUP
    metrics = {"kind": "service", "name": "m", "enabled": True, "backends": [], "metrics": True}
    assert [b["type"] for b in poundview.service(metrics)["backends"]] == ["metrics"]


# -- through a Control service ------------------------------------------------------------------


def control_config(app: int, page: Path) -> str:
    return f"""
Workers 1
ListenHTTP
  Address 127.0.0.1
  Port {{L0}}
  xHTTP 1
  Service "site"
    URL "^/app"
    BackEnd
      Address 127.0.0.1
      Port {app}
    End
  End
  Service "gone"
    URL "^/gone"
    Error 404 "{page}"
  End
  Service "stats"
    URL "^/metrics"
    Metrics
  End
  Service
    Control
  End
End
Service "default"
  BackEnd
    Address 127.0.0.1
    Port {app}
  End
End
"""


def test_a_control_service_answers_pounds_requests_in_pounds_json(tmp_path: Path) -> None:
    page = tmp_path / "404.html"
    page.write_bytes(b"gone\n")
    with Backend("app") as app:
        config, socks = config_with_ports(control_config(app.port, page))
        with ProxyThread(config, socks) as p, Client(p.port) as c:
            r = c.request("/core?indent=2")
            assert r.status == 200 and r.header(b"content-type") == b"application/json"
            core = json.loads(r.body)
            assert r.body.startswith(b'{\n  "kind": "core",\n  "pid": ')  # sorted, indented
            assert core["version"] == __version__  # standby's own, never Pound's
            assert POUND_TIME.fullmatch(core["timestamp"])
            assert core["workers"] == {"active": 0, "count": 1, "max": 1, "min": 1, "timeout": 0}
            listener = json.loads(c.request("/listener/0").body)
            assert list(listener) == ["address", "enabled", "kind", "name", "protocol", "services"]
            site, gone, stats, control = listener["services"]
            assert site["backends"][0]["address"] == f"127.0.0.1:{app.port}"
            assert (site["session_type"], site["sessions"]) == ("NONE", None)
            assert gone["backends"][0]["text"] == "gone\n"
            assert [s["backends"][0]["type"] for s in (stats, control)] == ["metrics", "control"]
            named = json.loads(c.request("/listener/0/site/0").body)
            assert named == site["backends"][0]
            default = json.loads(c.request("/service/0").body)
            assert default["name"] == "default" and "index" not in default
            compact = c.request("/service/default/0").body  # poundctl's one-line layout
            assert compact.startswith(b'{"address":"127.0.0.1:') and b", " in compact
            # Pound's change requests: `true`, and the backend stops getting traffic.
            r = c.request("/listener/0/0/0", method="DELETE")
            assert (r.status, r.body) == (200, b"true")
            assert get(p.port, "/app").status == 503
            assert c.request("/listener/0/0/0", method="PUT").body == b"true"
            assert get(p.port, "/app").body == b"app"
            # standby's own paths and answers are unchanged beside Pound's.
            own = json.loads(c.request("/listener/0/service/0").body)
            assert own["index"] == 0 and "in_flight" in own["backends"][0]
            assert c.request("/nowhere?indent=2").status == 404
            assert c.request("/core?indent=99").status == 400
        assert p.errors == []


def test_pounds_requests_relayed_by_a_worker_get_pounds_json(tmp_path: Path) -> None:
    # With two workers the supervisor decides; the worker reshapes its answer.
    port = free_port()
    page = tmp_path / "404.html"
    page.write_bytes(b"gone\n")
    path = tmp_path / "standby.cfg"
    with Backend("app") as app:
        path.write_text(
            control_config(app.port, page)
            .replace("Workers 1", "Alive 1\nLogLevel 0")
            .replace("{L0}", str(port))
        )
        with running_standby(path, 2) as running:
            core = json.loads(get(port, "/core").body)
            assert core["workers"]["count"] == core["workers"]["min"] == 2
            assert core["version"] == __version__ and core["queue"] == {"len": 0, "max": 0}
            backend = json.loads(get(port, "/listener/0/0/0?indent=1").body)
            assert backend["address"] == f"127.0.0.1:{app.port}" and "requests" not in backend
            assert get(port, "/listener/0/0/0", method="DELETE").body == b"true"
            assert {get(port, "/app").status for _ in range(8)} == {503}
            assert running.proc.poll() is None
