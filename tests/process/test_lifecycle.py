"""standby as a process: signals, graceful stop, daemon and PID file, privileges, jail.

Each test runs against the stand-in proxy (always) and the real one (once it exists)."""

from __future__ import annotations

import grp
import os
import pwd
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import (
    DEADLINE,
    Backend,
    Launcher,
    Setup,
    answers,
    free_port,
    http_get,
    in_flight,
    is_root,
    launcher_kinds,
    proc_status,
    process_gone,
    refuses,
    running,
    taken_port,
    wait_for,
)


@pytest.fixture
def backend() -> Iterator[Backend]:
    server = Backend()
    yield server
    server.close()


@pytest.fixture(params=launcher_kinds())
def launcher(request: pytest.FixtureRequest, tmp_path: Path) -> Launcher:
    kind, workers = request.param
    return Launcher(kind, tmp_path, workers)


def test_sigterm_lets_the_request_in_flight_finish(launcher: Launcher, backend: Backend) -> None:
    setup = Setup(free_port(), backend.port)
    with running(launcher, setup, "-e") as standby:
        thread, result = in_flight(setup.listen_port)
        wait_for(backend.held.is_set, "the request to reach the backend")
        standby.signal(signal.SIGTERM)
        wait_for(lambda: refuses(setup.listen_port), "standby to stop accepting")
        assert standby.proc.poll() is None  # still draining the request in flight
        backend.release.set()
        thread.join(DEADLINE)
        assert result and result[0].startswith(b"HTTP/1.")
        assert result[0].endswith(b"\r\n\r\nslow hello")
        assert standby.wait() == 0


def test_sigint_is_a_graceful_stop_too(launcher: Launcher, backend: Backend) -> None:
    setup = Setup(free_port(), backend.port)
    with running(launcher, setup, "-e") as standby:
        standby.signal(signal.SIGINT)
        assert standby.wait() == 0
        assert "Traceback" not in standby.stderr()


def test_sigquit_exits_at_once(launcher: Launcher, backend: Backend) -> None:
    setup = Setup(free_port(), backend.port, grace=int(DEADLINE * 10))
    with running(launcher, setup, "-e") as standby:
        thread, result = in_flight(setup.listen_port)
        wait_for(backend.held.is_set, "the request to reach the backend")
        standby.signal(signal.SIGQUIT)
        # Grace is far longer than the deadline: exiting proves nothing waited for it.
        assert standby.wait() == 0
        thread.join(DEADLINE)
        assert result and not result[0].endswith(b"slow hello")


def test_sighup_reloads_and_a_bad_file_keeps_the_old_configuration(
    launcher: Launcher, backend: Backend
) -> None:
    setup = Setup(free_port(), backend.port)
    with running(launcher, setup, "-e") as standby:
        standby.signal(signal.SIGHUP)
        wait_for(lambda: "configuration reloaded" in standby.stderr(), "the reload")
        assert "SIGHUP: reloading the configuration" in standby.stderr()
        assert answers(setup.listen_port)
        config = launcher.write_config(setup)
        config.write_text("this is not a configuration\n")
        standby.signal(signal.SIGHUP)
        wait_for(lambda: "reload rejected" in standby.stderr(), "the rejection")
        assert answers(setup.listen_port)
        assert standby.proc.poll() is None
        standby.signal(signal.SIGTERM)
        assert standby.wait() == 0
        assert "Traceback" not in standby.stderr()


def test_access_log_goes_to_stderr_with_dash_e(launcher: Launcher, backend: Backend) -> None:
    setup = Setup(free_port(), backend.port, log_level=1)
    with running(launcher, setup, "-e") as standby:
        http_get(setup.listen_port, b"/page")
        wait_for(
            lambda: "127.0.0.1 GET /page HTTP/1.0 - HTTP/1.0 200 OK" in standby.stderr(),
            "access line",
        )
        standby.signal(signal.SIGTERM)
        assert standby.wait() == 0


def test_daemon_writes_pid_file_and_stops_on_sigterm(
    launcher: Launcher, backend: Backend, tmp_path: Path
) -> None:
    pid_path = tmp_path / "standby.pid"
    setup = Setup(free_port(), backend.port, daemon=True)
    done = launcher.run(setup, "-p", str(pid_path))
    assert done.returncode == 0, done.stderr
    pid = int(pid_path.read_text())
    try:
        status = proc_status(pid)
        assert status["PPid"] != str(os.getpid())  # detached from us
        assert answers(setup.listen_port)
        with open(f"/proc/{pid}/stat") as src:  # a new session, no controlling terminal
            fields = src.read().rsplit(")", 1)[1].split()
        assert fields[3] != str(pid)  # session id (field 6) is not its own pid: double fork
        assert os.readlink(f"/proc/{pid}/cwd") == "/"
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: process_gone(pid), "the daemon to exit")
        wait_for(lambda: not pid_path.exists(), "the PID file to be removed")
    finally:
        if not process_gone(pid):
            os.kill(pid, signal.SIGKILL)


def test_daemon_start_failure_is_reported_by_the_starting_process(
    launcher: Launcher, backend: Backend
) -> None:
    with taken_port() as busy:
        setup = Setup(busy, backend.port, daemon=True)
        done = launcher.run(setup)
    assert done.returncode == 1
    assert f"cannot bind 127.0.0.1:{busy}: Address already in use" in done.stderr.decode()


def test_bind_failure_in_the_foreground(launcher: Launcher, backend: Backend) -> None:
    with taken_port() as busy:
        done = launcher.run(Setup(busy, backend.port), "-e")
    assert done.returncode == 1
    stderr = done.stderr.decode()
    assert f"cannot bind 127.0.0.1:{busy}: Address already in use" in stderr
    assert "Traceback" not in stderr


def _group_for_nobody() -> str:
    for name in ("nogroup", "nobody"):
        try:
            grp.getgrnam(name)
            return name
        except KeyError:
            continue
    pytest.skip("no group for nobody")


@pytest.mark.root
@pytest.mark.skipif(not is_root(), reason="needs root")
def test_privileges_are_dropped_after_binding(launcher: Launcher, backend: Backend) -> None:
    group = _group_for_nobody()
    setup = Setup(free_port(), backend.port, user="nobody", group=group)
    with running(launcher, setup, "-e") as standby:
        status = proc_status(standby.proc.pid)
        uid = pwd.getpwnam("nobody").pw_uid
        gid = grp.getgrnam(group).gr_gid
        assert status["Uid"].split() == [str(uid)] * 4
        assert status["Gid"].split() == [str(gid)] * 4
        assert status["Groups"] == ""
        standby.signal(signal.SIGTERM)
        assert standby.wait() == 0


@pytest.mark.root
@pytest.mark.skipif(not is_root(), reason="needs root")
def test_root_jail(launcher: Launcher, backend: Backend, tmp_path: Path) -> None:
    jail = tmp_path / "jail"
    jail.mkdir()
    group = _group_for_nobody()
    setup = Setup(free_port(), backend.port, user="nobody", group=group, root_jail=str(jail))
    with running(launcher, setup, "-e") as standby:
        assert os.readlink(f"/proc/{standby.proc.pid}/root") == str(jail)
        assert proc_status(standby.proc.pid)["Uid"].split()[0] == str(pwd.getpwnam("nobody").pw_uid)
        assert answers(setup.listen_port)  # still serving inside the jail
        standby.signal(signal.SIGTERM)
        assert standby.wait() == 0
        assert "Traceback" not in standby.stderr()


@pytest.mark.root
@pytest.mark.skipif(not is_root(), reason="needs root")
def test_missing_jail_is_a_clear_error(
    launcher: Launcher, backend: Backend, tmp_path: Path
) -> None:
    setup = Setup(free_port(), backend.port, root_jail=str(tmp_path / "missing"))
    done = launcher.run(setup, "-e")
    assert done.returncode == 1
    assert f"cannot chroot to {tmp_path / 'missing'}: No such file or directory" in (
        done.stderr.decode()
    )
