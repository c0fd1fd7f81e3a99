"""The control API's routing, against a fake RuntimeView: every endpoint and every error."""

from __future__ import annotations

import json
from typing import Any

import pytest

from standby.control import api
from standby.control.view import ObjectPath
from standby.observe.metrics import CONTENT_TYPE
from tests.control.fakes import (
    NOW,
    RICH_CFG,
    SEED_CFG,
    FakeView,
    busy_seed_view,
    load,
    with_control,
)
from tests.control.golden import check_golden


def call(view: FakeView, method: str, target: str, body: bytes = b"") -> api.Reply:
    reply = api.handle(view, method, target, body, NOW)
    assert isinstance(reply, api.Reply)
    return reply


def get_json(view: FakeView, target: str) -> dict[str, Any]:
    reply = call(view, "GET", target)
    assert reply.status == 200, reply.body
    assert reply.content_type == api.JSON_TYPE
    obj = json.loads(reply.body)
    assert isinstance(obj, dict)
    return obj


def error(view: FakeView, method: str, target: str, body: bytes = b"") -> tuple[int, str]:
    reply = call(view, method, target, body)
    assert reply.content_type == api.JSON_TYPE
    message = json.loads(reply.body)["error"]
    assert isinstance(message, str) and message
    return reply.status, message


def rich_view() -> FakeView:
    return FakeView(with_control(load(RICH_CFG), "/run/standby.sock", 1))


# -- golden JSON for the seed configuration -------------------------------------------------


def test_seed_full_listing_golden() -> None:
    check_golden("seed_listing.json", call(busy_seed_view(), "GET", "/").body.decode())


def test_seed_backend_golden() -> None:
    reply = call(busy_seed_view(), "GET", "/listener/0/service/0/backend/0")
    check_golden("seed_backend.json", reply.body.decode())


def test_seed_with_control_socket_golden() -> None:
    view = busy_seed_view()
    view.cfg = with_control(view.cfg, "/run/standby.sock", 0)
    check_golden("seed_control_listing.json", call(view, "GET", "/").body.decode())


def test_rich_listing_golden() -> None:
    check_golden("rich_listing.json", call(rich_view(), "GET", "/").body.decode())


# -- reading --------------------------------------------------------------------------------


def test_full_listing_shape() -> None:
    obj = get_json(busy_seed_view(), "/")
    assert obj["kind"] == "pound"
    assert get_json(busy_seed_view(), "/listener") == obj  # the collection lists everything
    core = obj["core"]
    assert isinstance(core, dict)
    assert core["kind"] == "core" and core["pid"] == 4242
    assert core["uptime"] == 3_725_500_000  # microseconds, as Pound counts
    assert core["timestamp"] == "2024-01-01T01:02:05.500000Z"
    (listener,) = obj["listeners"]
    assert listener["address"] == "127.0.0.2:80"
    (service,) = listener["services"]
    assert [b["address"] for b in service["backends"]] == ["127.0.0.3:80"]
    assert service["emergency"]["address"] == "127.0.0.4:80"
    assert service["emergency"]["index"] == 1  # after the regular backends
    assert service["emergencies"] == [service["emergency"]]
    assert obj["services"] == []


def test_core_endpoint() -> None:
    # active: the requests in flight at the backends (the busy seed view has 3)
    workers = get_json(busy_seed_view(), "/core")["workers"]
    assert workers == {"count": 2, "active": 3, "unanswered": []}


def test_a_worker_that_did_not_answer_makes_in_flight_unknown_never_zero() -> None:
    view = busy_seed_view()
    view.make_silent(777)
    backend = get_json(view, "/listener/0/service/0/backend/0")
    assert backend["in_flight"] is None and backend["unanswered"] == [777]
    assert backend["requests"] == 1200  # counters: as the workers last reported them
    workers = {"count": 2, "active": None, "unanswered": [777]}  # active unknown too
    assert get_json(view, "/core")["workers"] == workers
    text = call(view, "GET", "/metrics").body.decode()
    assert "standby_workers_unanswered 1\n" in text
    assert "standby_backend_in_flight{" not in text  # no sample rather than a zero
    assert 'pound_backend_requests{listener="0",service="0",backend="0"} 1200' in text
    view.make_silent()
    text = call(view, "GET", "/metrics").body.decode()
    assert "standby_workers_unanswered 0\n" in text
    assert 'standby_backend_in_flight{listener="0",service="0",backend="0"} 3' in text


@pytest.mark.parametrize(
    ("method", "target", "expected"),
    [
        ("GET", "/metrics", True),
        ("GET", "/metrics/", True),
        ("GET", "/metrics?name=x", True),
        ("GET", "/%6detrics", True),  # the same path, percent-encoded
        ("PUT", "/metrics", False),
        ("GET", "/metrics/x", False),
        ("GET", "/", False),
        ("GET", "metrics", False),
    ],
)
def test_is_metrics_names_what_the_api_answers_with_metrics(
    method: str, target: str, expected: bool
) -> None:
    assert api.is_metrics(method, target) is expected
    reply = api.handle(busy_seed_view(), method, target, b"", NOW)
    assert isinstance(reply, api.Reply)
    assert (reply.status == 200 and reply.content_type == CONTENT_TYPE) is expected


def test_backend_json_carries_live_state() -> None:
    obj = get_json(busy_seed_view(), "/listener/0/service/0/backend/0")
    assert obj["kind"] == "backend" and obj["type"] == "backend"
    assert (obj["in_flight"], obj["requests"], obj["state"]) == (3, 1200, "active")
    assert obj["transition"] == {"time": "2024-01-01T00:10:00.250000Z", "reason": "probe connected"}
    assert obj["health"] == {
        "last_check": "2024-01-01T01:01:40.000000Z",
        "result": "connected",
        "successes": 2,
        "failures": 0,
    }
    assert (obj["conn_to"], obj["io_to"], obj["ws_to"]) == (15, 15, 600)


@pytest.mark.parametrize(
    ("target", "kind", "index"),
    [
        ("/listener/0", "listener", 0),
        ("/listener/web", "listener", 0),  # by name
        ("/listener/1", "listener", 1),  # the Control socket, where it appears
        ("/listener/2", "listener", 2),
        ("/listener/0/service/site", "service", 0),
        ("/listener/web/service/1", "service", 1),
        ("/listener/-/service/0", "service", 0),
        ("/listener/-1/service/fallback", "service", 0),  # Pound 2's -1 for global
        ("/listener/0/service/0/backend/2", "backend", 2),
        ("/listener/-/service/0/backend/0", "backend", 0),
        ("/listener/web/service/site/backend/1/", "backend", 1),  # trailing slash
        ("/listener/1/service/0", "service", 0),
        ("/listener/1/service/0/backend/0", "backend", 0),
    ],
)
def test_addressing_by_index_and_name(target: str, kind: str, index: int) -> None:
    obj = get_json(rich_view(), target)
    assert (obj["kind"], obj["index"]) == (kind, index)


def test_control_listener_is_numbered_where_it_appears() -> None:
    view = rich_view()
    listeners = get_json(view, "/")["listeners"]
    assert isinstance(listeners, list)
    assert [x["address"] for x in listeners] == [
        "127.0.0.1:8080",
        "/run/standby.sock",
        "[::1]:8090",
    ]
    assert listeners[1]["services"][0]["backends"][0]["type"] == "control"
    # The listener after the control socket is config listener 1: its state is asked for.
    view.listeners[1] = False
    assert get_json(view, "/listener/2")["enabled"] is False


def test_global_scope_listing() -> None:
    obj = get_json(rich_view(), "/listener/-")
    assert obj["kind"] == "global"
    assert [s["name"] for s in obj["services"]] == ["fallback"]


def test_redirect_and_unix_backends() -> None:
    view = rich_view()
    redirect = get_json(view, "/listener/0/service/1/backend/0")
    assert (redirect["type"], redirect["url"], redirect["code"]) == (
        "redirect",
        "https://example.com",
        301,
    )
    assert redirect["redir_req"] is True  # a bare host: the request path is appended
    unix = get_json(view, "/listener/0/service/0/backend/1")
    assert unix["address"] == "/run/app.sock"


def test_percent_encoded_names() -> None:
    view = FakeView(load(RICH_CFG.replace('Service "site"', 'Service "my site"')))
    assert get_json(view, "/listener/web/service/my%20site")["name"] == "my site"


# -- acting ---------------------------------------------------------------------------------


def test_put_and_delete_toggle_each_level() -> None:
    view = rich_view()
    assert get_json(view, "/listener/2")["enabled"] is True
    reply = call(view, "DELETE", "/listener/2")
    assert reply.status == 200 and json.loads(reply.body)["enabled"] is False
    assert call(view, "PUT", "/listener/2").status == 200
    assert call(view, "DELETE", "/listener/web/service/site").status == 200
    assert call(view, "DELETE", "/listener/-/service/0/backend/0").status == 200
    assert view.actions == [
        ("enabled", ObjectPath(1), False),
        ("enabled", ObjectPath(1), True),
        ("enabled", ObjectPath(0, 0), False),
        ("enabled", ObjectPath(None, 0, 0), False),
    ]
    assert get_json(view, "/listener/0/service/0")["enabled"] is False
    assert get_json(view, "/listener/-/service/0/backend/0")["state"] == "disabled"


def test_drain_then_enable_ends_the_maintenance_window() -> None:
    view = busy_seed_view()
    target = "/listener/0/service/0/backend/0"
    reply = call(view, "PATCH", target, b'{"state": "drain"}')
    assert reply.status == 200
    obj = json.loads(reply.body)
    assert (obj["state"], obj["draining"], obj["in_flight"]) == ("draining", True, 3)
    reply = call(view, "PUT", target)
    assert json.loads(reply.body)["state"] == "active"
    assert view.actions == [
        ("draining", ObjectPath(0, 0, 0), True),
        ("draining", ObjectPath(0, 0, 0), False),
        ("enabled", ObjectPath(0, 0, 0), True),
    ]


@pytest.mark.parametrize(("state", "enabled"), [("enabled", True), ("disabled", False)])
def test_patch_enable_disable(state: str, enabled: bool) -> None:
    view = rich_view()
    body = json.dumps({"state": state}).encode()
    assert call(view, "PATCH", "/listener/0/service/0", body).status == 200
    assert view.actions == [("enabled", ObjectPath(0, 0), enabled)]


def test_reload_is_left_to_the_shell() -> None:
    assert api.handle(rich_view(), "POST", "/reload", b"", NOW) is api.RELOAD
    ok = api.reload_reply(True, "3 backends kept")
    assert (ok.status, json.loads(ok.body)["message"]) == (200, "3 backends kept")
    bad = api.reload_reply(False, "pound.cfg:3.1: unknown keyword")
    assert bad.status == 422
    assert json.loads(bad.body) == {
        "kind": "reload",
        "ok": False,
        "error": "pound.cfg:3.1: unknown keyword",
    }


def test_metrics_endpoint() -> None:
    reply = call(busy_seed_view(), "GET", "/metrics")
    assert (reply.status, reply.content_type) == (200, CONTENT_TYPE)
    assert reply.body.endswith(b"# EOF\n")


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "fragment"),
    [
        ("/nope", "no such resource"),
        ("/listener/3", "no listener '3'"),
        ("/listener/api", "no listener 'api'"),
        ("/listener/0/service/2", "no service '2'"),
        ("/listener/0/service/shop", "no service 'shop'"),
        ("/listener/0/service/0/backend/3", "no backend '3'"),
        ("/listener/0/service/0/backend/first", "no backend 'first'"),
        ("/listener/1/service/1", "no service '1'"),
        ("/listener/1/service/0/backend/1", "no backend '1'"),
        ("/listener/0/backend/0", "no such object"),
        ("/listener/0/service", "no such object"),
        ("/listener/0/service/0/backend/0/extra", "no such object"),
        ("/listener/99999999999999999999", "no listener"),
    ],
)
def test_404(target: str, fragment: str) -> None:
    status, message = error(rich_view(), "GET", target)
    assert status == 404
    assert fragment in message


@pytest.mark.parametrize(
    ("method", "target", "allow"),
    [
        ("POST", "/", ("GET",)),
        ("PUT", "/core", ("GET",)),
        ("DELETE", "/metrics", ("GET",)),
        ("GET", "/reload", ("POST",)),
        ("POST", "/listener/0", ("GET", "PUT", "DELETE", "PATCH")),
        ("PUT", "/listener/-", ("GET",)),
    ],
)
def test_405_names_the_allowed_methods(method: str, target: str, allow: tuple[str, ...]) -> None:
    reply = call(rich_view(), method, target)
    assert reply.status == 405
    assert reply.allow == allow


@pytest.mark.parametrize(
    ("target", "body", "fragment"),
    [
        ("/listener/0/service/0/backend/0", b"{", "not valid JSON"),
        ("/listener/0/service/0/backend/0", b"\xff", "not valid JSON"),
        ("/listener/0/service/0/backend/0", b"", "PATCH needs a body"),
        ("/listener/0/service/0/backend/0", b'["drain"]', "PATCH needs a body"),
        ("/listener/0/service/0/backend/0", b'{"state": "sleep"}', "PATCH needs a body"),
        ("/listener/0/service/0", b'{"state": "drain"}', "only a backend can be drained"),
    ],
)
def test_400(target: str, body: bytes, fragment: str) -> None:
    view = rich_view()
    status, message = error(view, "PATCH", target, body)
    assert status == 400
    assert fragment in message
    assert view.actions == []


def test_400_for_a_target_that_is_not_a_path() -> None:
    assert error(rich_view(), "GET", "http://host/")[0] == 400


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_the_control_listener_cannot_be_changed(method: str) -> None:
    view = rich_view()
    for target in ("/listener/1", "/listener/1/service/0", "/listener/1/service/0/backend/0"):
        assert error(view, method, target)[0] == 403
    assert view.actions == []


def test_control_position_defaults_to_first_when_unknown() -> None:
    config = load(SEED_CFG)
    plain: Any = type("Plain", (), {})()
    for name in ("listeners", "services", "conn_timeout", "timeout", "ws_timeout"):
        setattr(plain, name, getattr(config, name))
    plain.control = "/run/x.sock"
    slots = api.listener_slots(plain)
    assert slots[1:] == [0]
    assert api.control_socket(plain) == "/run/x.sock"
    assert api.pound_index(plain, 0) == 1
