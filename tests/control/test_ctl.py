"""standbyctl: table and JSON output (golden files), commands end to end, exit codes."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from standby.config import ConfigError, load_config_text
from standby.control import api, ctl
from standby.control.view import BackendState, ObjectPath
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
from tests.control.harness import run, serving, short_dir, wait_until


@pytest.fixture
def sock() -> Iterator[Path]:
    with short_dir() as d:
        yield d / "ctl.sock"


def listing(view: FakeView, target: str = "/") -> dict[str, object]:
    reply = api.handle(view, "GET", target, b"", NOW)
    assert isinstance(reply, api.Reply) and reply.status == 200
    obj = json.loads(reply.body)
    assert isinstance(obj, dict)
    return obj


def ctl_run(
    view: FakeView, sock: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """Run standbyctl in a thread against a served ``view``."""

    async def scenario() -> int:
        async with serving(view, sock):
            return await asyncio.to_thread(ctl.main, ["-s", str(sock), *argv])

    code = run(scenario())
    out, err = capsys.readouterr()
    return code, out, err


# -- golden output --------------------------------------------------------------------------


def test_list_table_golden_for_the_seed() -> None:
    check_golden("seed_list.txt", ctl.render_table(listing(busy_seed_view())))


def test_list_table_golden_with_control_and_globals() -> None:
    view = FakeView(with_control(load(RICH_CFG), "/run/standby.sock", 1))
    view.update(ObjectPath(0, 0, 0), alive=False, since=NOW - 30, reason="connect refused")
    view.update(ObjectPath(0, 0, 1), draining=True, in_flight=2, requests=17)
    view.services[ObjectPath(None, 0)] = False
    check_golden("rich_list.txt", ctl.render_table(listing(view)))


def test_list_end_to_end_matches_the_golden_files(
    sock: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = ctl_run(busy_seed_view(), sock, ["list"], capsys)
    assert (code, err) == (0, "")
    check_golden("seed_list.txt", out)
    code, out, err = ctl_run(busy_seed_view(), sock, ["--json", "list"], capsys)
    assert (code, err) == (0, "")
    check_golden("seed_listing.json", out)  # exactly the API's JSON


def test_list_one_object(sock: Path, capsys: pytest.CaptureFixture[str]) -> None:
    view = FakeView(load(RICH_CFG))
    code, out, _ = ctl_run(view, sock, ["list", "/web/site"], capsys)
    assert code == 0
    rows = [line.split()[0] for line in out.splitlines()]
    assert rows == ["OBJECT", "/web/0", "/web/0/0", "/web/0/1", "/web/0/2"]
    code, out, _ = ctl_run(view, sock, ["list", "/0/0/2"], capsys)
    assert code == 0
    assert out.splitlines()[1].split()[:4] == ["/0/0/2", "emergency", "127.0.0.1:8082", "active"]
    code, out, _ = ctl_run(view, sock, ["list", "/-"], capsys)
    assert [line.split()[0] for line in out.splitlines()] == ["OBJECT", "/-/0", "/-/0/0"]
    code, out, _ = ctl_run(view, sock, ["list", "/1"], capsys)
    assert out.splitlines()[1].split()[:3] == ["/1", "listener", "[::1]:8090"]


# -- actions --------------------------------------------------------------------------------


def test_enable_disable(sock: Path, capsys: pytest.CaptureFixture[str]) -> None:
    view = FakeView(load(RICH_CFG))
    assert ctl_run(view, sock, ["disable", "/0/0/1"], capsys)[:2] == (0, "disabled /0/0/1\n")
    assert ctl_run(view, sock, ["enable", "/web/site/1"], capsys)[:2] == (
        0,
        "enabled /web/site/1\n",
    )
    code, out, _ = ctl_run(view, sock, ["--json", "disable", "/-/fallback"], capsys)
    assert code == 0
    assert json.loads(out)["enabled"] is False
    assert view.actions == [
        ("enabled", ObjectPath(0, 0, 1), False),
        ("draining", ObjectPath(0, 0, 1), False),
        ("enabled", ObjectPath(0, 0, 1), True),
        ("enabled", ObjectPath(None, 0), False),
    ]


def test_drain_without_wait(sock: Path, capsys: pytest.CaptureFixture[str]) -> None:
    view = busy_seed_view()
    code, out, _ = ctl_run(view, sock, ["drain", "/0/0/0"], capsys)
    assert (code, out) == (0, "draining /0/0/0: 3 requests in flight\n")
    assert view.states[ObjectPath(0, 0, 0)].draining


def test_drain_wait_returns_when_nothing_is_in_flight(
    sock: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    view = busy_seed_view()  # the primary has 3 requests in flight

    async def scenario() -> int:
        async with serving(view, sock):
            client = asyncio.create_task(
                asyncio.to_thread(ctl.main, ["-s", str(sock), "drain", "/0/0/0", "--wait"])
            )
            reads = view.state_reads
            # The client drained, then polled at least twice while requests were in flight.
            await wait_until(lambda: view.state_reads >= reads + 3, "standbyctl to poll")
            assert not client.done()
            view.update(ObjectPath(0, 0, 0), in_flight=0)
            return await client

    assert run(scenario()) == 0
    out, err = capsys.readouterr()
    assert (out, err) == ("drained /0/0/0: no request in flight\n", "")
    assert view.actions == [("draining", ObjectPath(0, 0, 0), True)]


def test_drain_wait_gives_up_after_its_timeout(
    sock: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = ctl_run(
        busy_seed_view(), sock, ["drain", "/0/0/0", "--wait", "--timeout", "0.3"], capsys
    )
    assert (code, out) == (1, "")
    assert err == "standbyctl: /0/0/0 still has 3 requests in flight after 0.3 s\n"


def test_the_table_shows_an_unknown_in_flight_and_who_did_not_answer() -> None:
    view = busy_seed_view()
    view.make_silent(777, 778)
    table = ctl.render_table(listing(view))
    rows = {line.split()[0]: line.split() for line in table.splitlines()}
    assert rows["/0/0/0"][4] == "?" and rows["/0/0/1"][4] == "?"
    assert table.splitlines()[-1] == (
        "?: unknown, workers pid 777, pid 778 did not answer (requests as they last reported them)"
    )
    view.make_silent()
    assert "did not answer" not in ctl.render_table(listing(view))


def test_drain_without_wait_says_unknown(sock: Path, capsys: pytest.CaptureFixture[str]) -> None:
    view = busy_seed_view()
    view.make_silent(777)
    code, out, _ = ctl_run(view, sock, ["drain", "/0/0/0"], capsys)
    assert (code, out) == (
        0,
        "draining /0/0/0: requests in flight unknown (worker pid 777 did not answer)\n",
    )


def test_drain_wait_never_says_drained_while_a_worker_does_not_answer(
    sock: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    view = busy_seed_view()
    view.update(ObjectPath(0, 0, 0), in_flight=0)
    view.make_silent(777)  # the others have nothing in flight; 777 did not answer
    code, out, err = ctl_run(view, sock, ["drain", "/0/0/0", "--wait", "--timeout", "0.3"], capsys)
    assert (code, out) == (1, "")
    assert err == (
        "standbyctl: /0/0/0: worker pid 777 did not answer; waiting\n"
        "standbyctl: /0/0/0 not known to be drained after 0.3 s: worker pid 777 did not "
        "answer, requests in flight unknown\n"
    )


def test_drain_wait_goes_on_until_every_worker_confirmed(
    sock: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    view = busy_seed_view()
    view.update(ObjectPath(0, 0, 0), in_flight=0)
    view.make_silent(777)

    async def scenario() -> int:
        async with serving(view, sock):
            client = asyncio.create_task(
                asyncio.to_thread(ctl.main, ["-s", str(sock), "drain", "/0/0/0", "--wait"])
            )
            reads = view.state_reads
            await wait_until(lambda: view.state_reads >= reads + 3, "standbyctl to poll")
            assert not client.done()
            view.make_silent()  # 777 answers: nothing in flight there either
            return await client

    assert run(scenario()) == 0
    out, err = capsys.readouterr()
    assert out == "drained /0/0/0: no request in flight\n"
    assert err == "standbyctl: /0/0/0: worker pid 777 did not answer; waiting\n"


class StaleAtDrain(FakeView):
    """The answer to the drain itself was counted before the workers got it (as the
    supervisor's is): it says 0 while a request started just before the drain arrived."""

    def set_draining(self, path: ObjectPath, draining: bool) -> None:
        super().set_draining(path, draining)
        self.stale_reads = 1

    def backend_state(self, path: ObjectPath) -> BackendState:
        state = super().backend_state(path)
        if getattr(self, "stale_reads", 0):
            self.stale_reads -= 1
            return dataclasses.replace(state, in_flight=0)
        return state


def test_drain_wait_asks_again_after_the_drain(
    sock: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    view = StaleAtDrain(load(SEED_CFG))
    view.update(ObjectPath(0, 0, 0), in_flight=1)

    async def scenario() -> int:
        async with serving(view, sock):
            client = asyncio.create_task(
                asyncio.to_thread(ctl.main, ["-s", str(sock), "drain", "/0/0/0", "--wait"])
            )
            reads = view.state_reads
            await wait_until(lambda: view.state_reads >= reads + 3, "standbyctl to poll")
            assert not client.done()  # the stale 0 of the drain's own answer was not believed
            view.update(ObjectPath(0, 0, 0), in_flight=0)
            return await client

    assert run(scenario()) == 0
    assert capsys.readouterr().out == "drained /0/0/0: no request in flight\n"


def test_reload(sock: Path, capsys: pytest.CaptureFixture[str]) -> None:
    view = busy_seed_view()
    view.reload_result = (True, "1 listener, 2 backends")
    assert ctl_run(view, sock, ["reload"], capsys)[:2] == (0, "reloaded: 1 listener, 2 backends\n")
    view.reload_result = (False, 'pound.cfg:7.3: unknown keyword "Bogus"')
    code, out, err = ctl_run(view, sock, ["reload"], capsys)
    assert (code, out) == (1, "")
    assert err == 'standbyctl: reload rejected: pound.cfg:7.3: unknown keyword "Bogus"\n'


def test_metrics(sock: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = ctl_run(busy_seed_view(), sock, ["metrics"], capsys)
    assert code == 0
    assert out.startswith("# TYPE pound_uptime gauge\n")
    assert out.endswith("# EOF\n")


# -- errors: exit 1, one line, never a traceback --------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["disable", "/0/0/9"], "standbyctl: no backend '9'\n"),
        (["enable", "/nope"], "standbyctl: no listener 'nope'\n"),
        (
            ["disable", "/0//1"],
            "standbyctl: bad object '/0//1': expected /LISTENER[/SERVICE[/BACKEND]]\n",
        ),
        (["drain", "/0/0"], "standbyctl: drain needs a backend: /L/S/B, not '/0/0'\n"),
        (["drain", "/0/0/0", "--timeout", "3"], "standbyctl: --timeout goes with --wait\n"),
        (
            ["list", "/0/0/0/0"],
            "standbyctl: bad object '/0/0/0/0': expected /LISTENER[/SERVICE[/BACKEND]]\n",
        ),
    ],
)
def test_errors_are_one_line(
    sock: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = ctl_run(busy_seed_view(), sock, argv, capsys)
    assert (code, out, err) == (1, "", message)


def test_no_server(capsys: pytest.CaptureFixture[str]) -> None:
    with short_dir() as d:
        assert ctl.main(["-s", str(d / "none.sock"), "list"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("standbyctl: cannot talk to ") and err.endswith(
        "No such file or directory\n"
    )


@pytest.mark.parametrize(
    "argv", [[], ["frobnicate"], ["-s", "x", "-f", "y", "list"], ["drain"], ["list", "--bogus"]]
)
def test_usage_errors_exit_1(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert ctl.main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("standbyctl: ") and err.count("\n") == 1


def test_config_without_control(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "pound.cfg"
    cfg.write_text(SEED_CFG)
    assert ctl.main(["-f", str(cfg), "list"]) == 1
    assert capsys.readouterr().err == (
        f"standbyctl: {cfg} has no Control statement; name the socket with -s SOCKET\n"
    )


def test_config_errors_are_reported_as_the_config_says(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ctl.main(["-f", str(tmp_path / "missing.cfg"), "list"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("standbyctl: ") and "missing.cfg" in err and err.count("\n") == 1
    bad = tmp_path / "bad.cfg"
    bad.write_text("Bogus 1\n")
    assert ctl.main(["-f", str(bad), "list"]) == 1
    assert capsys.readouterr().err.startswith(f"standbyctl: {bad}:1.1: ")


def test_socket_found_through_the_config_file(
    sock: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = f'Control "{sock}"\n' + SEED_CFG
    try:
        load_config_text(text, "pound.cfg", "/")
    except ConfigError as exc:
        if "not supported yet" in str(exc):
            pytest.skip("the Control keyword is not compiled yet")
        raise
    cfg = sock.parent / "pound.cfg"
    cfg.write_text(text)

    async def scenario() -> int:
        async with serving(busy_seed_view(), sock):
            return await asyncio.to_thread(ctl.main, ["-f", str(cfg), "list"])

    assert run(scenario()) == 0
    assert capsys.readouterr().out.startswith("OBJECT")


def test_object_targets() -> None:
    assert ctl.object_target(["0"]) == "/listener/0"
    assert ctl.object_target(["-", "my site", "1"]) == "/listener/-/service/my%20site/backend/1"
    assert ctl.object_parts("0/1/") == ["0", "1"]
