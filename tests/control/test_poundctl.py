"""standbyctl with poundctl's command line: -j prints what Pound 4.23's poundctl -j prints.

The expected texts were taken by running Pound 4.23 and its poundctl beside each other on the
configuration below (CONFIG; Pound with `Control "..."` first, so the control socket is
listener 0); values that belong to the running process (core: pid, uptime, time) are left out
of the comparisons."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from standby.control import ctl, poundview
from tests.control.fakes import FakeView, load, with_control
from tests.control.harness import short_dir
from tests.control.test_ctl import ctl_run

CONFIG = """\
Service "default"
  Backend
    Address 127.0.0.1
    Port 28791
  End
End
ListenHTTP
  Address 127.0.0.1
  Port 28790
  Service "one"
    Backend
      Address 127.0.0.1
      Port 28792
    End
    Backend
      Address 127.0.0.1
      Port 28793
      Priority 3
    End
  End
  Service "two"
    Backend
      Address 127.0.0.1
      Port 28794
    End
  End
End
"""
CONTROL = "/tmp/hz/p.ctl"

# poundctl -j list /1/0/0, byte for byte (no final newline).
BACKEND = (
    '{"address":"127.0.0.1:28792", "alive":true, "conn_to":15, "enabled":true, "io_to":15, '
    '"kind":"backend", "priority":5, "protocol":"http", "servername":null, "type":"backend", '
    '"weight":0, "ws_to":600}'
)
# poundctl -j list, without its "core" member.
LISTING = {
    "kind": "pound",
    "listeners": [
        {
            "address": CONTROL,
            "enabled": True,
            "kind": "listener",
            "name": None,
            "protocol": "http",
            "services": [
                {
                    "backends": [
                        {
                            "alive": True,
                            "enabled": True,
                            "kind": "backend",
                            "priority": 1,
                            "type": "control",
                            "weight": 0,
                        }
                    ],
                    "enabled": True,
                    "kind": "service",
                    "name": None,
                    "session_type": "NONE",
                    "sessions": None,
                }
            ],
        },
        {
            "address": "127.0.0.1:28790",
            "enabled": True,
            "kind": "listener",
            "name": None,
            "protocol": "http",
            "services": [
                {
                    "backends": [
                        json.loads(BACKEND),
                        {**json.loads(BACKEND), "address": "127.0.0.1:28793", "priority": 3},
                    ],
                    "enabled": True,
                    "kind": "service",
                    "name": "one",
                    "session_type": "NONE",
                    "sessions": None,
                },
                {
                    "backends": [{**json.loads(BACKEND), "address": "127.0.0.1:28794"}],
                    "enabled": True,
                    "kind": "service",
                    "name": "two",
                    "session_type": "NONE",
                    "sessions": None,
                },
            ],
        },
    ],
    "services": [
        {
            "backends": [{**json.loads(BACKEND), "address": "127.0.0.1:28791"}],
            "enabled": True,
            "kind": "service",
            "name": "default",
            "session_type": "NONE",
            "sessions": None,
        }
    ],
}
# poundctl -j -i 2 list /-/0: the same object, indented.
INDENTED_GLOBAL = """\
{
  "backends": [
    {
      "address": "127.0.0.1:28791",
      "alive": true,
      "conn_to": 15,
      "enabled": true,
      "io_to": 15,
      "kind": "backend",
      "priority": 5,
      "protocol": "http",
      "servername": null,
      "type": "backend",
      "weight": 0,
      "ws_to": 600
    }
  ],
  "enabled": true,
  "kind": "service",
  "name": "default",
  "session_type": "NONE",
  "sessions": null
}"""


@pytest.fixture
def sock() -> Iterator[Path]:
    with short_dir() as d:
        yield d / "ctl.sock"


def view() -> FakeView:
    return FakeView(with_control(load(CONFIG), CONTROL, 0))


def test_list_is_poundctls_json(sock: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = ctl_run(view(), sock, ["-j", "list"], capsys)
    assert (code, err) == (0, "")
    listing = json.loads(out)
    core = listing.pop("core")
    assert listing == LISTING
    assert {"kind", "pid", "timestamp", "uptime", "version"} <= set(core)
    assert not out.endswith("\n")


def test_no_command_lists(sock: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = ctl_run(view(), sock, ["-j"], capsys)
    assert code == 0
    assert json.loads(out)["listeners"] == LISTING["listeners"]


def test_one_backend_byte_for_byte(sock: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert ctl_run(view(), sock, ["-j", "list", "/1/0/0"], capsys) == (0, BACKEND, "")


def test_indented(sock: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = ctl_run(view(), sock, ["-j", "-i", "2", "list", "/-/0"], capsys)
    assert (code, out) == (0, INDENTED_GLOBAL)


@pytest.mark.parametrize(
    ("argv", "enabled"),
    [
        (["disable", "/1/0/0"], False),
        (["off", "/1/0/0"], False),
        (["enable", "/1/0/0"], True),
        (["on", "/1/0/0"], True),
    ],
)
def test_a_change_prints_true(
    argv: list[str], enabled: bool, sock: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = view()
    assert ctl_run(fake, sock, ["-j", *argv], capsys) == (0, "true", "")
    assert [(name, on) for name, _, on in fake.actions][-1:] == [("enabled", enabled)]


def test_a_missing_object_fails(sock: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = ctl_run(view(), sock, ["-j", "list", "/9"], capsys)
    assert (code, out) == (1, "")
    assert err.startswith("standbyctl: ") and err.count("\n") == 1


def test_verbose_names_the_socket(sock: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = ctl_run(view(), sock, ["-v", "-j", "list", "/1/0/0"], capsys)
    assert code == 0
    assert err == f"standbyctl: info: using socket {sock}\n"


@pytest.mark.parametrize(
    ("argv", "what"),
    [
        (["-S", "remote", "list"], "-S"),
        (["-k", "list"], "-k"),
        (["-i", "2", "list"], "-i goes with -j"),
    ],
)
def test_what_standbyctl_does_not_do_is_said(
    argv: list[str], what: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ctl.main(["-s", "/nonexistent.sock", *argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith("standbyctl: ") and what in err and err.count("\n") == 1


def test_session_targets() -> None:
    assert ctl.session_target(["1", "0", "2"], "a b/c") == "/session/1/0/2?key=a%20b%2Fc"
    assert ctl.session_target(["-", "web"], "10.0.0.1") == "/session/-/web?key=10.0.0.1"


def test_sessions_keep_pounds_fields() -> None:
    service = {
        "kind": "service",
        "index": 1,
        "name": "two",
        "enabled": True,
        "session_type": "IP",
        "sessions": [{"key": "127.0.0.2", "backend": 0, "expire": "2026-12-06T04:59:29.062483Z"}],
        "backends": [],
        "emergencies": [],
    }
    assert poundview.render(poundview.pound_object(service)) == (
        '{"backends":[], "enabled":true, "kind":"service", "name":"two", "session_type":"IP", '
        '"sessions":[{"backend":0, "expire":"2026-12-06T04:59:29.062483", "key":"127.0.0.2"}]}'
    )
