"""Issue 15's backends with the installed program and two workers: what a visitor or an
operator sees does not depend on the worker that answers. A Control service's requests
are decided by the supervisor (one switch for every worker); Error, SendFile and named
backends answer alike everywhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.process.harness import running_standby
from tests.support.backend import Backend
from tests.support.harness import Client, free_port, get

pytestmark = pytest.mark.timeout(240)

WORKERS = 2
# New connections, so that both workers (each accepting on its own) answer some.
CONNECTIONS = 16


def config(tmp_path: Path, port: int, one: int, two: int) -> Path:
    static = tmp_path / "static"
    static.mkdir()
    (static / "page.txt").write_bytes(b"static page\n")
    path = tmp_path / "standby.cfg"
    path.write_text(
        f"""
Alive 1
LogLevel 0
ListenHTTP
  Address 127.0.0.1
  Port {port}
  xHTTP 1
  Service
    URL "^/(listener|core|metrics|reload)"
    Control
  End
  Service
    URL "^/page.txt"
    SendFile "{static}"
  End
  Service
    URL "^/app"
    UseBackend "one"
    UseBackend "two"
  End
  Service
    Error 404
  End
End
Backend "one"
  Address 127.0.0.1
  Port {one}
End
Backend "two"
  Address 127.0.0.1
  Port {two}
End
"""
    )
    return path


def test_a_control_service_switch_reaches_every_worker(tmp_path: Path) -> None:
    port = free_port()
    with (
        Backend("one") as one,
        Backend("two") as two,
        running_standby(config(tmp_path, port, one.port, two.port), WORKERS) as running,
    ):
        assert {get(port, "/app").body for _ in range(CONNECTIONS)} == {b"one", b"two"}
        assert {get(port, "/page.txt").body for _ in range(4)} == {b"static page\n"}
        assert {get(port, "/nothing").status for _ in range(4)} == {404}
        with Client(port) as c:
            r = c.request("/listener/0/service/2/backend/0", method="DELETE")
            assert r.status == 200, r.body
            assert json.loads(r.body)["enabled"] is False
        # Every worker, on any connection, sends nothing more to "one".
        before = one.requests
        assert {get(port, "/app").body for _ in range(CONNECTIONS)} == {b"two"}
        assert one.requests == before
        listings = {
            json.loads(get(port, "/listener/0/service/2/backend/0").body)["enabled"]
            for _ in range(CONNECTIONS)
        }
        assert listings == {False}
        # The requests counter is the whole service's, whichever worker answers.
        counts = {
            json.loads(get(port, "/listener/0/service/2/backend/1").body)["requests"]
            for _ in range(4)
        }
        assert len(counts) == 1
        assert running.proc.poll() is None
