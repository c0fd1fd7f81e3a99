"""The embedded demo: its settings, its backends, and the whole newcomer's path end to end
(run the demo, curl through it, take the primary down and up again)."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from standby.demo.app import demo_config_text
from standby.demo.backend import render_response
from standby.demo.settings import (
    DEFAULT_LISTEN_PORT,
    DEFAULT_PRIMARY_PORT,
    DEFAULT_STANDBY_PORT,
    ENV_LISTEN_PORT,
    ENV_PRIMARY_PORT,
    ENV_RUNDIR,
    ENV_STANDBY_PORT,
    DemoError,
    DemoPorts,
    control_path,
    ports_from_env,
    render_config,
    rundir_from_env,
)
from tests.support.harness import free_port

# Generous bounds: the machine has two noisy shared cores.
START_DEADLINE = 60.0  # interpreter start-up of three processes and the first answer
FAILOVER_DEADLINE = 30.0  # a request after `primary down` must reach the standby
STOP_DEADLINE = 60.0  # Ctrl-C until every process of the demo has exited
DEMO_ALIVE = 3.0  # `Alive` in demo.cfg
COMEBACK_MARGIN = 7.0  # on top of Alive, for probe scheduling on a loaded machine
REQUEST_TIMEOUT = 10.0
POLL = 0.05  # pause between two attempts while waiting for a condition


def free_ports(count: int) -> list[int]:
    """Ports that are free right now, all different (see ``free_port``)."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def get(port: int, path: str = "/") -> tuple[int, dict[str, str], str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read().decode()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
    finally:
        conn.close()


def wait_for(what: str, deadline: float, probe: Callable[[], object]) -> object:
    """Call ``probe`` until it returns something truthy; fail with ``what`` at the deadline."""
    end = time.monotonic() + deadline
    last: object = None
    while time.monotonic() < end:
        try:
            last = probe()
        except OSError as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(POLL)
    pytest.fail(f"timed out waiting for {what}; last result: {last!r}")


# --- settings ----------------------------------------------------------------------------


def test_ports_default_and_from_env() -> None:
    assert ports_from_env({}) == DemoPorts(8080, 8081, 8082)
    env = {ENV_LISTEN_PORT: "9000", ENV_PRIMARY_PORT: "9001", ENV_STANDBY_PORT: " 9002 "}
    assert ports_from_env(env) == DemoPorts(9000, 9001, 9002)


@pytest.mark.parametrize("value", ["0", "65536", "http", "-1", "80.5"])
def test_bad_port_is_refused(value: str) -> None:
    with pytest.raises(DemoError, match=ENV_PRIMARY_PORT):
        ports_from_env({ENV_PRIMARY_PORT: value})


def test_ports_must_differ() -> None:
    with pytest.raises(DemoError, match="three different ports"):
        ports_from_env({ENV_STANDBY_PORT: str(DEFAULT_PRIMARY_PORT)})


def test_rundir_is_per_user_and_port_unless_given() -> None:
    ports = DemoPorts(listen=9000)
    assert rundir_from_env({}, "/tmp", 1000, ports) == "/tmp/standby-demo-1000-9000"
    assert rundir_from_env({ENV_RUNDIR: "/run/x"}, "/tmp", 1000, ports) == "/run/x"
    assert control_path("/run/x", "primary") == "/run/x/primary.sock"


def test_render_config_moves_exactly_the_three_ports() -> None:
    template = demo_config_text(DemoPorts())
    moved = render_config(template, DemoPorts(18080, 18081, 18082))
    port_lines = [ln.split("#")[0].split() for ln in moved.splitlines() if "Port " in ln]
    assert [p for p in port_lines if p and p[0] == "Port"] == [
        ["Port", "18080"],
        ["Port", "18081"],
        ["Port", "18082"],
    ]
    for default in (DEFAULT_LISTEN_PORT, DEFAULT_PRIMARY_PORT, DEFAULT_STANDBY_PORT):
        assert f"Port {default}" not in moved


def test_render_config_refuses_a_template_without_a_port() -> None:
    with pytest.raises(DemoError, match="8082"):
        render_config(
            "ListenHTTP\n  Port 8080\n  BackEnd\n    Port 8081\n  End\nEnd\n", DemoPorts()
        )


def test_demo_config_compiles_to_the_seed_shape() -> None:
    from standby.config import load_config_text

    ports = DemoPorts(18080, 18081, 18082)
    spec = load_config_text(demo_config_text(ports), "demo.cfg")
    assert not spec.daemon
    assert spec.log_facility == "-"
    assert spec.log_level >= 1
    assert spec.alive == DEMO_ALIVE
    (listener,) = spec.listeners
    assert (listener.address, listener.port) == ("127.0.0.1", 18080)
    (service,) = listener.services
    assert [(b.address, b.port) for b in service.backends] == [("127.0.0.1", 18081)]
    assert [(b.address, b.port) for b in service.emergencies] == [("127.0.0.1", 18082)]


# --- the demo backend --------------------------------------------------------------------


def test_render_response_names_the_backend_and_path() -> None:
    resp = render_response("primary", 8081, b"GET", b"/a?b", keep_alive=True, http10=False)
    head, body = resp.split(b"\r\n\r\n", 1)
    assert body == b"Hello from the primary backend (127.0.0.1:8081): GET /a?b\n"
    assert b"Content-Length: %d" % len(body) in head
    assert b"X-Demo-Backend: primary" in head
    assert b"Connection" not in head
    head10 = render_response("standby", 1, b"HEAD", b"/", keep_alive=True, http10=True)
    assert head10.endswith(b"Connection: keep-alive\r\n\r\n")  # HEAD: no body
    closing = render_response("standby", 1, b"GET", b"/", keep_alive=False, http10=False)
    assert b"Connection: close\r\n" in closing


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, str]]:
    control = str(tmp_path / "b.sock")
    child = subprocess.Popen(
        [
            *(sys.executable, "-m", "standby.demo.backend", "--name", "primary", "--port", "0"),
            *("--control", control, "--watch-stdin"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline().split()
        assert line[0] == b"ready", line
        yield child, int(line[1]), control
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        for pipe in (child.stdin, child.stdout):
            if pipe is not None:
                pipe.close()


def control(path: str, command: str) -> str:
    from standby.demo.app import send_control

    return send_control(path, command)


def test_backend_keeps_alive_and_goes_down_and_up(
    backend: tuple[subprocess.Popen[bytes], int, str],
) -> None:
    child, port, ctl = backend
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    bodies = []
    for path in ("/one", "/two"):
        conn.request("GET", path)
        resp = conn.getresponse()
        assert resp.status == 200
        assert resp.getheader("X-Demo-Backend") == "primary"
        bodies.append(resp.read())
        if path == "/one":
            first_sock = conn.sock
    assert conn.sock is first_sock  # the second request reused the connection
    assert bodies[1].endswith(b": GET /two\n")
    assert control(ctl, "status") == f"primary backend is up (127.0.0.1:{port})"

    assert control(ctl, "down") == f"primary backend is down (127.0.0.1:{port})"
    with pytest.raises(OSError):  # the kept-alive connection was dropped
        conn.request("GET", "/three")
        conn.getresponse().read()
    conn.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=REQUEST_TIMEOUT).close()

    assert control(ctl, "up") == f"primary backend is up (127.0.0.1:{port})"
    assert get(port, "/four")[2].endswith(": GET /four\n")
    assert control(ctl, "reboot").startswith("error: unknown command")
    assert child.poll() is None


def test_backend_exits_when_its_parent_goes(
    backend: tuple[subprocess.Popen[bytes], int, str],
) -> None:
    child, _port, ctl = backend
    assert child.stdin is not None
    child.stdin.close()  # what the parent's death looks like from the child
    assert child.wait(STOP_DEADLINE) == 0
    assert not os.path.exists(ctl)


def test_control_without_a_demo_says_how_to_start_one(tmp_path: Path) -> None:
    env = dict(os.environ, **{ENV_RUNDIR: str(tmp_path)})
    done = subprocess.run(
        [sys.executable, "-m", "standby.demo", "primary", "down"],
        env=env,
        capture_output=True,
        text=True,
        timeout=STOP_DEADLINE,
    )
    assert done.returncode == 1
    assert "no demo is running" in done.stderr
    assert "make demo" in done.stderr


# --- end to end --------------------------------------------------------------------------


def backend_of(port: int) -> str | None:
    status, headers, body = get(port, "/probe")
    assert status == 200, (status, body)
    return headers.get("x-demo-backend")


def test_demo_fails_over_and_comes_back(tmp_path: Path) -> None:
    listen, primary, standby = free_ports(3)
    env = dict(
        os.environ,
        **{
            ENV_LISTEN_PORT: str(listen),
            ENV_PRIMARY_PORT: str(primary),
            ENV_STANDBY_PORT: str(standby),
            ENV_RUNDIR: str(tmp_path / "run"),
        },
    )
    log = (tmp_path / "demo.log").open("wb")
    demo = subprocess.Popen(
        [sys.executable, "-m", "standby.demo"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, like a terminal's foreground job
    )

    def ctl(action: str) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "standby.demo", "primary", action],
            env=env,
            capture_output=True,
            text=True,
            timeout=STOP_DEADLINE,
        )
        assert done.returncode == 0, done.stderr
        assert f"primary backend is {action}" in done.stdout

    def answers(name: str) -> bool:
        if demo.poll() is not None:
            pytest.fail(f"the demo exited with {demo.returncode}:\n{demo_log()}")
        return backend_of(listen) == name

    def demo_log() -> str:
        return (tmp_path / "demo.log").read_text(errors="replace")

    try:
        wait_for("the primary through the demo", START_DEADLINE, lambda: answers("primary"))
        status, _, body = get(listen, "/hello")
        assert (status, body) == (
            200,
            f"Hello from the primary backend (127.0.0.1:{primary}): GET /hello\n",
        )

        ctl("down")
        # The very next request is answered by the standby: no error page in between.
        assert backend_of(listen) == "standby"
        wait_for("the standby to keep answering", FAILOVER_DEADLINE, lambda: answers("standby"))

        ctl("up")
        wait_for(
            "the primary to come back", DEMO_ALIVE + COMEBACK_MARGIN, lambda: answers("primary")
        )

        os.killpg(demo.pid, signal.SIGINT)  # Ctrl-C in the demo's terminal
        assert demo.wait(STOP_DEADLINE) == 0, demo_log()
        for port in (listen, primary, standby):
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", port), timeout=REQUEST_TIMEOUT)
        assert not os.path.exists(control_path(str(tmp_path / "run"), "primary"))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(demo.pid, signal.SIGKILL)  # whatever is left of the group
        demo.wait()
        log.close()
