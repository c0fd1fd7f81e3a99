"""The status page (issue 16), pure: its document from a fake RuntimeView, the page made
from it (escaped), the control API's routes and what they are sent with."""

from __future__ import annotations

import dataclasses
import json
from html.parser import HTMLParser
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from standby.control import api, status
from standby.control.view import ObjectPath
from standby.health.board import OPERATOR_REASON, Change
from tests.control.fakes import (
    NOW,
    SEED_CFG,
    STARTED,
    FakeView,
    busy_seed_view,
    load,
    with_control,
)

PRIMARY = ObjectPath(0, 0, 0)
EMERGENCY = ObjectPath(0, 0, 1)


def reply(view: FakeView, target: str, method: str = "GET") -> api.Reply:
    answer = api.handle(view, method, target, b"", NOW)
    assert isinstance(answer, api.Reply)
    return answer


def document(view: FakeView) -> dict[str, Any]:
    answer = reply(view, "/status.json")
    assert answer.status == 200 and answer.content_type == api.JSON_TYPE
    doc = json.loads(answer.body)
    assert isinstance(doc, dict)
    return doc


def site(doc: dict[str, Any]) -> dict[str, Any]:
    service = doc["listeners"][0]["services"][0]
    assert isinstance(service, dict)
    return service


def test_a_dead_primary_shows_down_since_when_and_why_and_the_emergency_serving() -> None:
    view = busy_seed_view()
    view.update(
        PRIMARY,
        alive=False,
        since=STARTED + 100,
        reason="connect failed: Connection refused",
        history=(
            Change(STARTED + 10, "down", "timeout"),
            Change(STARTED + 40, "up", "connected"),
            Change(STARTED + 100, "down", "connect failed: Connection refused"),
        ),
    )
    service = site(document(view))
    primary, emergency = service["backends"]
    assert service["serving"] == "emergency"
    assert (primary["state"], primary["serving"], emergency["serving"]) == ("down", False, True)
    assert primary["since"] == status._time(STARTED + 100)
    assert primary["reason"] == "connect failed: Connection refused"
    assert [c["state"] for c in primary["history"]] == ["down", "up", "down"]
    assert primary["address"] == "127.0.0.3:80" and emergency["emergency"] is True
    # The figures are the view's, as the metrics read them: 5xx answers are errors.
    assert (primary["requests"], primary["errors"], primary["failovers"]) == (1200, 45, 45)
    assert (service["requests"], service["errors"], service["failovers"]) == (1245, 45, 45)
    # 6 responses, 0.7 s and 20 s among them: the 95% bound is past the last bucket.
    assert primary["latency"]["count"] == 6 and primary["latency"]["p95_ms"] is None
    assert primary["latency"]["mean_ms"] == pytest.approx(3454.4, abs=0.1)
    assert emergency["latency"] is None  # nothing measured: nothing shown


def test_while_the_primary_is_up_the_regular_tier_serves_unless_the_service_is_off() -> None:
    view = busy_seed_view()
    service = site(document(view))
    assert service["serving"] == "regular"
    assert [b["state"] for b in service["backends"]] == ["up", "up"]
    view.set_enabled(ObjectPath(0, 0), False)
    service = site(document(view))
    assert (service["enabled"], service["serving"]) == (False, "none")
    assert [b["serving"] for b in service["backends"]] == [False, False]


@pytest.mark.parametrize(
    ("changes", "word"),
    [
        ({"draining": True}, "draining"),
        ({"enabled": False}, "disabled"),
        ({"enabled": False, "draining": True, "alive": False}, "disabled"),
    ],
)
def test_operator_states_show_since_the_operator_changed_them(
    changes: dict[str, bool], word: str
) -> None:
    view = FakeView(load(SEED_CFG))
    history = (Change(STARTED + 30, "down", "timeout"), Change(STARTED + 77, word, OPERATOR_REASON))
    view.update(PRIMARY, history=history, **changes)
    primary = site(document(view))["backends"][0]
    assert primary["state"] == word
    assert primary["since"] == status._time(STARTED + 77)
    assert primary["serving"] is False


def test_listeners_keep_pounds_numbers_and_the_control_socket_is_not_shown() -> None:
    view = FakeView(with_control(load(SEED_CFG), "/run/secret-place.sock", 0))
    doc = document(view)
    assert [listener["index"] for listener in doc["listeners"]] == [1]
    assert "secret-place" not in json.dumps(doc)
    assert doc["core"]["workers"] == 2 and doc["core"]["uptime"] == int(NOW - STARTED)


def test_no_condition_or_header_value_is_shown() -> None:
    cfg = SEED_CFG.replace(
        'HeadRequire "Host: www.nire.com.*"', 'HeadRequire "X-Token: s3cr3t-value"'
    )
    view = FakeView(load(cfg))
    for target in ("/status", "/status.json"):
        assert b"s3cr3t" not in reply(view, target).body


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.captions: list[str] = []
        self._in_caption = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self._in_caption = self._in_caption or tag == "caption"
        if tag == "caption":
            self.captions.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "caption":
            self._in_caption = False

    def handle_data(self, data: str) -> None:
        if self._in_caption:
            self.captions[-1] += data


PAGE_TAGS = {
    "html", "head", "meta", "title", "noscript", "link", "script", "body", "header", "h1",
    "p", "main", "section", "h2", "table", "caption", "span", "thead", "tr", "th", "tbody",
    "td", "ol", "li",
}  # fmt: skip


@given(st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=40))
def test_a_name_from_the_configuration_stays_text(name: str) -> None:
    config = load(SEED_CFG)
    listener = config.listeners[0]
    service = dataclasses.replace(listener.services[0], name=name)
    config = dataclasses.replace(
        config, listeners=(dataclasses.replace(listener, services=(service,)),)
    )
    page = reply(FakeView(config), "/status").body.decode()
    parser = _Tags()
    parser.feed(page)
    parser.close()
    assert parser.tags <= PAGE_TAGS
    assert page.count("<script") == 1  # the page's own, with a src
    assert parser.captions[0].startswith(f"service 0 “{name}”")


def test_a_script_in_a_name_is_inert() -> None:
    view = FakeView(load(SEED_CFG.replace("Service\n", 'Service "<script>alert(1)</script>"\n')))
    page = reply(view, "/status").body.decode()
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_page_and_its_resources_are_sent_with_their_policy() -> None:
    view = busy_seed_view()
    page = reply(view, "/status")
    assert page.status == 200 and page.content_type == status.HTML_TYPE
    head = api.serialise(page).split(b"\r\n\r\n")[0].decode()
    assert "Content-Security-Policy: default-src 'self';" in head
    assert "frame-ancestors 'none'" in head and "X-Content-Type-Options: nosniff" in head
    assert 'http-equiv="refresh"' in page.body.decode()
    assert b"<style" not in page.body and b"<script>" not in page.body  # nothing inline
    for name, kind, text in (
        ("status.js", status.SCRIPT_TYPE, status.SCRIPT),
        ("status.css", status.STYLE_TYPE, status.STYLE),
    ):
        answer = reply(view, "/" + name)
        assert (answer.status, answer.content_type, answer.body) == (200, kind, text.encode())
        assert b"X-Content-Type-Options: nosniff" in api.serialise(answer)
    assert b"innerHTML" not in status.SCRIPT.encode()  # names stay text in the live page too
    refused = reply(view, "/status", "POST")
    assert (refused.status, refused.allow) == (405, ("GET",))


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/status", "status"),
        ("/status/", "status"),
        ("/admin/board?x=1", "status"),
        ("/status.json", "status.json"),
        ("/admin/status.json?fresh=1", "status.json"),
        ("/status.js", "status.js"),
        ("/a/status.css", "status.css"),
    ],
)
def test_a_status_service_answers_by_the_paths_last_segment(path: str, name: str) -> None:
    assert status.resource_of(path) == name
