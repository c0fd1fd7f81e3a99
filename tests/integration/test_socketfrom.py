"""SocketFrom: the installed program serves on a listening socket passed to it over a UNIX
socket (SCM_RIGHTS), as Pound's test harness passes them; it never binds one itself, keeps
it across a reload, and -W close-extra-fds closes what it inherited."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from tests.process.harness import DEADLINE, Standby, children, running_standby, wait_for
from tests.support.backend import Backend
from tests.support.harness import get

CONFIG = """\
Daemon 0
LogLevel 0
{control}ListenHTTP
  SocketFrom "{path}"
  Service
    Backend
      Address 127.0.0.1
      Port {backend}
    End
  End
End
"""


def _default_sighup() -> None:
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


class Passer:
    """A listening TCP socket on 127.0.0.1 and a UNIX socket that hands it to the first
    client (then both of ours are closed: only the receiver has it)."""

    def __init__(self, path: Path) -> None:
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(16)
        self.port = int(self.tcp.getsockname()[1])
        self.unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.unix.bind(str(path))
        self.unix.listen(1)
        self.unix.settimeout(DEADLINE)
        self.passed = threading.Event()
        self.thread = threading.Thread(target=self._pass, daemon=True)
        self.thread.start()

    def _pass(self) -> None:
        with contextlib.suppress(OSError):
            conn, _ = self.unix.accept()
            with conn:
                socket.send_fds(conn, [b"\0"], [self.tcp.fileno()])
            self.passed.set()
        self.tcp.close()
        self.unix.close()

    def close(self) -> None:
        self.unix.close()
        self.thread.join(DEADLINE)
        self.tcp.close()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serves_on_the_socket_it_was_passed_and_keeps_it_across_a_reload(
    tmp_path: Path, workers: str
) -> None:
    with Backend("passed") as backend:
        passer = Passer(tmp_path / "lst0.sock")
        path = tmp_path / "pound.cfg"
        path.write_text(CONFIG.format(control="", path="lst0.sock", backend=backend.port))
        try:
            with running_standby(path, int(workers)) as running:
                assert passer.passed.is_set()
                response = get(passer.port)
                assert (response.status, response.body) == (200, b"passed"), running.stderr()
                # The passer serves once: a reload must reuse the socket received at start.
                passer.thread.join(DEADLINE)
                assert not passer.thread.is_alive()
                running.signal(signal.SIGHUP)
                wait_for(lambda: "configuration reloaded" in running.stderr(), "reload")
                response = get(passer.port)
                assert (response.status, response.body) == (200, b"passed"), running.stderr()
        finally:
            passer.close()


def test_check_receives_nothing(tmp_path: Path) -> None:
    path = tmp_path / "pound.cfg"
    path.write_text(CONFIG.format(control="", path="nowhere.sock", backend=9))
    done = subprocess.run(
        [sys.executable, "-m", "standby", "-c", "-f", str(path)],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        cwd=str(tmp_path),
    )
    # Nothing but issue 16's advice (its lone backend has no Emergency).
    errors = [line for line in done.stderr.splitlines() if ": warning: " not in line]
    assert (done.returncode, errors) == (0, [])


def test_a_socket_that_cannot_be_received_is_a_start_error(tmp_path: Path) -> None:
    path = tmp_path / "pound.cfg"
    path.write_text(CONFIG.format(control="", path="nowhere.sock", backend=9))
    done = subprocess.run(
        [sys.executable, "-m", "standby", "-e", "-f", str(path)],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        cwd=str(tmp_path),
    )
    assert done.returncode == 1
    assert done.stderr == (
        f'{path}:3.1: cannot receive a socket from "nowhere.sock": No such file or directory\n'
    )


def test_address_and_socketfrom_together_are_refused(tmp_path: Path) -> None:
    from standby.config import ConfigError, load_config_text

    text = CONFIG.format(control="", path="x.sock", backend=9).replace(
        '  SocketFrom "x.sock"\n', '  Address 127.0.0.1\n  SocketFrom "x.sock"\n'
    )
    with pytest.raises(ConfigError) as info:
        load_config_text(text, "t.cfg")
    assert str(info.value) == 't.cfg:5.3: duplicate "Address" or "SocketFrom"'


@pytest.mark.parametrize(("option", "kept"), [((), False), (("-W", "no-close-extra-fds"), True)])
def test_inherited_descriptors_are_closed_unless_asked(
    tmp_path: Path, option: tuple[str, ...], kept: bool
) -> None:
    with Backend("passed") as backend:
        passer = Passer(tmp_path / "lst0.sock")
        path = tmp_path / "pound.cfg"
        path.write_text(CONFIG.format(control="", path="lst0.sock", backend=backend.port))
        read_end, write_end = os.pipe()
        try:
            with running_standby(path, 1, options=tuple(option), pass_fds=(write_end,)) as running:
                inherited = os.stat(write_end)
                pid = running.proc.pid
                held = set()
                for name in os.listdir(f"/proc/{pid}/fd"):
                    with contextlib.suppress(OSError):
                        st = os.stat(f"/proc/{pid}/fd/{name}")
                        held.add((st.st_dev, st.st_ino))
                assert ((inherited.st_dev, inherited.st_ino) in held) is kept
        finally:
            os.close(read_end)
            os.close(write_end)
            passer.close()


def test_the_pound_wrapper_stops_on_sighup_as_pound_4(tmp_path: Path) -> None:
    """contrib/pound-compat/pound: SIGHUP stops (Pound 4), where standby would reload; the
    wrapper exits with standby's status."""
    from tests.support.harness import REPO

    with Backend("passed") as backend:
        passer = Passer(tmp_path / "lst0.sock")
        path = tmp_path / "pound.cfg"
        path.write_text(CONFIG.format(control="", path="lst0.sock", backend=backend.port))
        wrapper = REPO / "contrib" / "pound-compat" / "pound"
        env = {**os.environ, "STANDBY": str(Path(sys.executable).parent / "standby")}
        proc = subprocess.Popen(
            [str(wrapper), "-e", "-f", str(path), "-W", "no-dns", "-W", "no-include-dir"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=str(tmp_path),
            env=env,
            # A shell cannot trap a signal ignored when it started (POSIX): under nohup the
            # wrapper, like Pound, would never see the SIGHUP this test sends.
            preexec_fn=_default_sighup,
        )
        running = Standby(proc)
        try:
            # Pound's stderr style says nothing at start: the socket taken is the sign.
            wait_for(lambda: passer.passed.is_set() or proc.poll() is not None, "start")
            response = get(passer.port)
            assert (response.status, response.body) == (200, b"passed"), running.stderr()
            proc.send_signal(signal.SIGHUP)
            assert running.wait() == 0, running.stderr()
            assert "configuration reloaded" not in running.stderr()
            # Pound's lines (LogLevel 0: no access lines): none of standby's start and stop
            # news, and whatever there is has Pound's tag and no time stamp.
            lines = running.stderr().splitlines()
            assert all(line.startswith("pound: ") for line in lines), lines
            assert not any("started" in line or "stopped" in line for line in lines), lines
        finally:
            # The wrapper is a shell: killing it would leave standby (its child) running.
            for pid in children(proc.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            running.kill()
            passer.close()


def comm(pid: int) -> str:
    """A process's command name ("" once it is gone)."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def test_the_pound_wrapper_exits_with_the_programs_status(tmp_path: Path) -> None:
    """Its own exit status when it ends by itself; 0 when the wrapper stopped it before it
    could handle SIGTERM (a program that dies of it), as Pound exits 0 when told to stop."""
    from tests.support.harness import REPO

    wrapper = str(REPO / "contrib" / "pound-compat" / "pound")
    # Programs that take no standby options (the wrapper adds --log-style).
    exits = tmp_path / "exits"
    exits.write_text("#!/bin/sh\nexit 3\n")
    sleeps = tmp_path / "sleeps"
    sleeps.write_text(f"#!/bin/sh\nexec /bin/sleep {int(DEADLINE)}\n")
    for script in (exits, sleeps):
        script.chmod(0o755)
    done = subprocess.run(
        [wrapper, "-c", "exit 3"],
        env={**os.environ, "STANDBY": str(exits)},
        timeout=DEADLINE,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 3
    proc = subprocess.Popen(
        [wrapper],
        env={**os.environ, "STANDBY": str(sleeps)},
        stdin=subprocess.DEVNULL,
        preexec_fn=_default_sighup,
    )
    try:
        wait_for(lambda: any(comm(pid) == "sleep" for pid in children(proc.pid)), "sleep")
        proc.send_signal(signal.SIGHUP)
        assert proc.wait(DEADLINE) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_what_is_not_a_tcp_socket_is_refused(tmp_path: Path) -> None:
    from standby.process.listeners import receive_socket

    path = tmp_path / "pipe.sock"
    read_end, write_end = os.pipe()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    server.settimeout(DEADLINE)

    def pass_a_pipe() -> None:
        with contextlib.suppress(OSError):
            conn, _ = server.accept()
            with conn:
                socket.send_fds(conn, [b"\0"], [read_end])

    thread = threading.Thread(target=pass_a_pipe, daemon=True)
    thread.start()
    try:
        with pytest.raises(OSError):
            receive_socket(str(path))
    finally:
        thread.join(DEADLINE)
        server.close()
        os.close(read_end)
        os.close(write_end)
