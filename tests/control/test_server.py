"""The control socket end to end: a real UNIX socket in a temporary directory."""

from __future__ import annotations

import json
import os
import socket
import stat
from pathlib import Path

import pytest

from standby.control.server import ControlServer, ControlSocketError, bind_control
from standby.control.view import ObjectPath
from tests.control.fakes import RICH_CFG, FakeView, busy_seed_view, load
from tests.control.harness import exchange, run, serving, short_dir, split


@pytest.fixture
def sock() -> object:
    with short_dir() as d:
        yield d / "ctl.sock"


GET_ROOT = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"


def test_serves_json_with_mode_0600_and_removes_the_file_at_stop(sock: Path) -> None:
    async def scenario() -> None:
        async with serving(busy_seed_view(), sock):
            st = os.stat(sock)
            assert stat.S_ISSOCK(st.st_mode)
            assert stat.S_IMODE(st.st_mode) == 0o600
            status, headers, body = split(await exchange(sock, GET_ROOT))
            assert status == 200
            assert headers["content-type"] == "application/json"
            assert headers["connection"] == "close"
            assert json.loads(body)["kind"] == "pound"
        assert not sock.exists()

    run(scenario())


def test_mode_can_be_widened(sock: Path) -> None:
    async def scenario() -> None:
        async with serving(busy_seed_view(), sock, mode=0o660):
            assert stat.S_IMODE(os.stat(sock).st_mode) == 0o660

    run(scenario())


def test_a_stale_socket_file_is_replaced(sock: Path) -> None:
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(sock))  # bound, never listening, closed: what a crash leaves behind
    dead.close()

    async def scenario() -> None:
        async with serving(busy_seed_view(), sock):  # bind() would fail on the old file
            assert split(await exchange(sock, GET_ROOT))[0] == 200

    run(scenario())


def test_a_live_socket_is_not_stolen(sock: Path) -> None:
    live = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    live.bind(str(sock))
    live.listen()
    try:

        async def scenario() -> None:
            with pytest.raises(ControlSocketError, match="in use by another process"):
                await ControlServer(str(sock), busy_seed_view()).start()

        run(scenario())
        assert sock.exists()
    finally:
        live.close()


def test_a_regular_file_is_never_removed(sock: Path) -> None:
    sock.write_text("precious")

    async def scenario() -> None:
        with pytest.raises(ControlSocketError, match="exists and is not a socket"):
            await ControlServer(str(sock), busy_seed_view()).start()

    run(scenario())
    assert sock.read_text() == "precious"


def test_an_unusable_directory_is_a_clear_error(sock: Path) -> None:
    async def scenario() -> None:
        missing = sock.parent / "missing" / "ctl.sock"
        with pytest.raises(ControlSocketError, match="cannot listen on control socket"):
            await ControlServer(str(missing), busy_seed_view()).start()

    run(scenario())


def test_stop_leaves_a_socket_that_replaced_ours(sock: Path) -> None:
    async def scenario() -> None:
        async with serving(busy_seed_view(), sock):
            os.unlink(sock)
            other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            other.bind(str(sock))
            other.close()
        assert sock.exists()  # not ours: left alone

    run(scenario())


def test_a_socket_bound_at_start_up_is_the_one_served_and_removed(sock: Path) -> None:
    # The runner binds it before dropping privileges; the server only serves it.
    bound = bind_control(str(sock), 0o640)
    st = os.stat(sock)
    assert bound.inode == (st.st_dev, st.st_ino) and stat.S_IMODE(st.st_mode) == 0o640

    async def scenario() -> None:
        server = ControlServer(str(sock), busy_seed_view(), bound=bound)
        await server.start()
        try:
            assert server.descriptors() == [bound.sock.fileno()]
            assert split(await exchange(sock, GET_ROOT))[0] == 200
            assert os.stat(sock).st_ino == st.st_ino  # not bound again
        finally:
            await server.stop()
        assert not sock.exists()

    run(scenario())


def test_a_socket_bound_but_never_served_is_closed_and_removed(sock: Path) -> None:
    bound = bind_control(str(sock))
    run(ControlServer(str(sock), busy_seed_view(), bound=bound).stop())
    assert not sock.exists() and bound.sock.fileno() == -1
    again = bind_control(str(sock))  # and the path is free again
    again.discard()
    assert not sock.exists()


def test_the_owner_asked_for_is_given(sock: Path) -> None:
    bound = bind_control(str(sock), owner=(-1, os.getgid()))  # a group any user may set
    try:
        st = os.stat(sock)
        assert (st.st_uid, st.st_gid) == (os.geteuid(), os.getgid())
    finally:
        bound.discard()


def test_requests_fed_byte_by_byte(sock: Path) -> None:
    view = busy_seed_view()
    body = b'{"state": "drain"}'
    request = (
        b"PATCH /listener/0/service/0/backend/0 HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )

    async def scenario() -> None:
        async with serving(view, sock):
            status, _, reply = split(await exchange(sock, request, byte_by_byte=True))
            assert status == 200
            assert json.loads(reply)["state"] == "draining"

    run(scenario())
    assert view.actions == [("draining", ObjectPath(0, 0, 0), True)]


def test_expect_100_continue(sock: Path) -> None:
    view = FakeView(load(RICH_CFG))

    async def scenario() -> None:
        import asyncio

        async with serving(view, sock):
            reader, writer = await asyncio.open_unix_connection(str(sock))
            writer.write(
                b"PATCH /listener/0/service/0 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                b"Content-Length: 23\r\n\r\n"
            )
            assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
            writer.write(b'{"state": "disabled"}\r\n')
            status, _, _ = split(await reader.read())
            writer.close()
            assert status == 200

    run(scenario())
    assert view.actions == [("enabled", ObjectPath(0, 0), False)]


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host
        (b"OPTIONS / HTTP/1.1\r\nHost: x\r\n\r\n", 405),
        (b"PATCH / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 411),
        (b"PATCH / HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n", 413),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n", 404),
    ],
)
def test_bad_requests_get_json_errors(sock: Path, request_bytes: bytes, status: int) -> None:
    async def scenario() -> None:
        async with serving(busy_seed_view(), sock):
            got, headers, body = split(await exchange(sock, request_bytes))
            assert got == status
            assert headers["content-type"] == "application/json"
            assert json.loads(body)["error"]

    run(scenario())


def test_405_carries_allow(sock: Path) -> None:
    async def scenario() -> None:
        async with serving(busy_seed_view(), sock):
            got, headers, _ = split(
                await exchange(sock, b"GET /reload HTTP/1.1\r\nHost: x\r\n\r\n")
            )
            assert (got, headers["allow"]) == (405, "POST")

    run(scenario())


def test_reload_runs_in_the_view(sock: Path) -> None:
    view = busy_seed_view()
    post = b"POST /reload HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"

    async def scenario() -> None:
        async with serving(view, sock):
            status, _, body = split(await exchange(sock, post))
            assert (status, json.loads(body)["ok"]) == (200, True)
            view.reload_result = (False, "pound.cfg:2.1: unknown keyword")
            status, _, body = split(await exchange(sock, post))
            assert (status, json.loads(body)["error"]) == (422, "pound.cfg:2.1: unknown keyword")

    run(scenario())
    assert view.reloads == 2


def test_a_failing_view_gets_500_and_the_socket_keeps_serving(sock: Path) -> None:
    class Broken(FakeView):
        def core(self):  # type: ignore[no-untyped-def]
            raise RuntimeError("supervisor gone")

    async def scenario() -> None:
        async with serving(Broken(load(RICH_CFG)), sock):
            status, _, body = split(await exchange(sock, GET_ROOT))
            assert status == 500
            assert "supervisor gone" in json.loads(body)["error"]
            get = b"GET /listener/0 HTTP/1.1\r\nHost: x\r\n\r\n"
            assert split(await exchange(sock, get))[0] == 200

    run(scenario())


def test_a_client_that_leaves_early_is_harmless(sock: Path) -> None:
    async def scenario() -> None:
        async with serving(busy_seed_view(), sock):
            # EOF before a whole head: the server gives up at once, answering nothing.
            assert await exchange(sock, b"GET / HTT", half_close=True) == b""
            assert split(await exchange(sock, GET_ROOT))[0] == 200

    run(scenario())
