"""The shipped unit files: ``systemd-analyze verify`` accepts them, and standby works under
their restrictions without systemd: the unit's CapabilityBoundingSet and NoNewPrivileges
applied with ``setpriv`` to a seed-like configuration (User, Group, RootJail, a port below
1024, a control socket given to the service user); without any one of those capabilities
the start fails. ExecReload, run as written, fails on a broken file."""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.process.harness import (
    DEADLINE,
    Backend,
    Setup,
    children,
    free_port,
    http_get,
    is_root,
    proc_status,
    running_command,
    running_standby,
    wait_for,
)
from tests.process.sdnotify import is_ready, notify_socket

UNITS = Path(__file__).resolve().parents[2] / "contrib" / "systemd"
SERVICE = UNITS / "standby.service"
SOCKET = UNITS / "standby.socket"
INSTALLED = {"/usr/sbin/standby": "standby", "/usr/sbin/standbyctl": "standbyctl"}
CONFIG = "/etc/standby/standby.cfg"  # where the Debian package puts it
CONTROL = "/run/standby/control.sock"  # the file's Control, in the RuntimeDirectory
SETPRIV = shutil.which("setpriv")
STRACE = shutil.which("strace")
ANALYZE = shutil.which("systemd-analyze")
# Ports below 1024 tried for the privileged listener (the first free one is used).
PRIVILEGED_PORTS = range(900, 1000)

Unit = dict[str, list[tuple[str, str]]]
Test = TypeVar("Test", bound=Callable[..., Any])


def parse_unit(path: Path) -> Unit:
    """Sections -> (key, value) in order (a key may repeat: ListenStream=)."""
    unit: Unit = {}
    section: list[tuple[str, str]] = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = unit.setdefault(line[1:-1], [])
        else:
            key, _, value = line.partition("=")
            section.append((key.strip(), value.strip()))
    return unit


def values(unit: Unit, section: str, key: str) -> list[str]:
    return [v for k, v in unit.get(section, []) if k == key]


def one(unit: Unit, section: str, key: str) -> str:
    found = values(unit, section, key)
    assert len(found) == 1, (section, key, found)
    return found[0]


def installed(command: str) -> str:
    """A unit's command line with the package's paths replaced by this venv's programs."""
    for path, name in INSTALLED.items():
        command = command.replace(path, str(Path(sys.executable).parent / name))
    return command


def test_the_service_says_what_the_brief_needs() -> None:
    unit = parse_unit(SERVICE)
    assert one(unit, "Service", "Type") == "notify"
    start = one(unit, "Service", "ExecStart").split()
    assert start[0] == "/usr/sbin/standby" and "-F" in start
    assert start[start.index("-f") + 1] == CONFIG
    assert one(unit, "Service", "ExecReload").split()[-3:] == ["-s", CONTROL, "reload"]
    assert one(unit, "Service", "KillMode") == "mixed"
    assert one(unit, "Service", "Restart") == "on-failure"
    assert one(unit, "Service", "WatchdogSec")
    assert one(unit, "Service", "NoNewPrivileges") == "yes"
    assert one(unit, "Service", "ProtectSystem") == "strict"
    assert one(unit, "Service", "RuntimeDirectory") == "standby"
    sockets = parse_unit(SOCKET)
    assert values(sockets, "Socket", "ListenStream")
    assert one(sockets, "Socket", "Service") == "standby.service"


@pytest.mark.skipif(
    ANALYZE is None and not os.environ.get("CI"), reason="systemd-analyze is not installed"
)
@pytest.mark.parametrize("workers", [None, 1], ids=["default-workers", "workers-1"])
def test_exec_reload_waits_for_the_result(
    workers: int | None, backend: Backend, tmp_path: Path
) -> None:
    """ExecReload as the unit writes it (the package's paths replaced): exit 0 once the
    new file serves, 1 on a broken file, which leaves the old one serving."""
    with tempfile.TemporaryDirectory(prefix="sd", dir="/tmp") as name:
        port = free_port()
        config = tmp_path / "standby.cfg"
        text = Setup(port, backend.port, grace=5).pound_cfg()
        config.write_text(f'Control "{Path(name) / "ctl.sock"}"\n' + text)
        reload = installed(one(parse_unit(SERVICE), "Service", "ExecReload"))
        reload = reload.replace(CONTROL, str(Path(name) / "ctl.sock")).split()
        with notify_socket() as notify, running_standby(config, workers, env=notify.env()):
            notify.wait_for(is_ready, "READY=1")
            done = subprocess.run(reload, capture_output=True, text=True, timeout=DEADLINE)
            assert done.returncode == 0, done.stderr
            # systemd hears of it too: RELOADING=1 then READY=1.
            seen = notify.wait_for(is_ready, "READY=1 after the reload")
            assert any(m.get("RELOADING") == "1" for m in seen[:-1]), seen
            config.write_text(config.read_text() + "NoSuchKeyword 1\n")
            done = subprocess.run(reload, capture_output=True, text=True, timeout=DEADLINE)
            assert done.returncode == 1
            assert "reload rejected" in done.stderr
            seen = notify.wait_for(is_ready, "READY=1 after the rejected reload")
            assert any(m.get("RELOADING") == "1" for m in seen[:-1]), seen
            assert http_get(port).endswith(b"hello")


def test_systemd_analyze_verifies_the_units(tmp_path: Path) -> None:
    assert ANALYZE is not None, "systemd-analyze must be installed in CI (.ci/run)"
    # verify insists that ExecStart's program exists: the same files, with the package's
    # paths replaced by this venv's programs (nothing else differs).
    copies = []
    for unit in (SERVICE, SOCKET):
        copy = tmp_path / unit.name
        copy.write_text(installed(unit.read_text()))
        copies.append(str(copy))
    done = subprocess.run(
        [ANALYZE, "verify", "--man=no", *copies],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


# -- the unit's restrictions, applied without systemd -------------------------------------


def bounding_set() -> list[str]:
    """The unit's CapabilityBoundingSet, as setpriv's capability names."""
    caps = one(parse_unit(SERVICE), "Service", "CapabilityBoundingSet").split()
    return [cap.removeprefix("CAP_").lower() for cap in caps]


def restricted(command: list[str], caps: list[str]) -> list[str]:
    assert SETPRIV is not None, "setpriv (util-linux) must be installed in CI (.ci/run)"
    assert one(parse_unit(SERVICE), "Service", "NoNewPrivileges") == "yes"
    bounding = ",".join(["-all", *(f"+{cap}" for cap in caps)])
    return [SETPRIV, f"--bounding-set={bounding}", "--no-new-privs", *command]


def group_for_nobody() -> str:
    for name in ("nogroup", "nobody"):
        with contextlib.suppress(KeyError):
            return grp.getgrnam(name).gr_name
    pytest.skip("no group for nobody")


@contextlib.contextmanager
def privileged_port() -> Iterator[int]:
    for port in PRIVILEGED_PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        yield port
        return
    pytest.skip("no free port below 1024 on 127.0.0.1")


@pytest.fixture
def backend() -> Iterator[Backend]:
    server = Backend()
    yield server
    server.close()


def seed_config(folder: Path, port: int, backend: Backend) -> Path:
    """The seed's shape: User/Group, RootJail, a low port, a control socket for them."""
    jail = folder / "jail"
    jail.mkdir()
    path = folder / "standby.cfg"
    path.write_text(
        f'User "nobody"\nGroup "{group_for_nobody()}"\nRootJail "{jail}"\nGrace 5\n'
        f'Control\n  Socket "{folder / "ctl.sock"}"\n  ChangeOwner 1\nEnd\n'
        f"ListenHTTP\n  Address 127.0.0.1\n  Port {port}\n  Service\n    BackEnd\n"
        f"      Address 127.0.0.1\n      Port {backend.port}\n    End\n  End\nEnd\n"
    )
    return path


def standby_command(config: Path) -> list[str]:
    return [sys.executable, "-m", "standby", "-F", "-e", "-f", str(config)]


def cap_mask(caps: list[str]) -> int:
    """The CapBnd bit mask of ``caps`` (linux/capability.h numbers)."""
    numbers = {"chown": 0, "setgid": 6, "setuid": 7, "net_bind_service": 10, "sys_chroot": 18}
    return sum(1 << numbers[cap] for cap in caps)


def needs_setpriv(test: Test) -> Test:
    """Root (User, RootJail, a low port) and setpriv."""
    marks = (
        pytest.mark.root,
        pytest.mark.skipif(not is_root(), reason="needs root (User, RootJail)"),
        pytest.mark.skipif(
            SETPRIV is None and not os.environ.get("CI"), reason="setpriv is not installed"
        ),
    )
    for mark in marks:
        test = mark(test)
    return test


@needs_setpriv
def test_serves_under_the_units_restrictions(backend: Backend) -> None:
    caps = bounding_set()
    with tempfile.TemporaryDirectory(prefix="sd", dir="/tmp") as name, privileged_port() as port:
        folder = Path(name)
        config = seed_config(folder, port, backend)
        command = restricted(standby_command(config), caps)
        with running_command(command, folder) as run:
            assert http_get(port).endswith(b"hello")
            nobody = pwd.getpwnam("nobody").pw_uid
            for pid in {run.proc.pid, *children(run.proc.pid)}:
                status = proc_status(pid)
                assert int(status["CapBnd"], 16) == cap_mask(caps)
                assert status["NoNewPrivs"] == "1"
                assert status["Uid"].split()[0] == str(nobody)
                assert int(status["CapEff"], 16) == 0  # dropped with root
                assert os.readlink(f"/proc/{pid}/root") == str(folder / "jail")
            assert os.stat(folder / "ctl.sock").st_uid == nobody  # ChangeOwner: CAP_CHOWN
            run.signal(signal.SIGTERM)
            assert run.wait() == 0


# Each capability of the unit, and what fails without it.
WITHOUT = {
    "net_bind_service": "cannot bind 127.0.0.1:{port}: Permission denied",
    "chown": "cannot listen on control socket",
    "setgid": "cannot switch to uid",
    "setuid": "cannot switch to uid",
    "sys_chroot": "cannot chroot to",
}


@needs_setpriv
@pytest.mark.parametrize("missing", sorted(WITHOUT))
def test_each_capability_is_needed(missing: str, backend: Backend) -> None:
    caps = bounding_set()
    assert missing in caps
    with tempfile.TemporaryDirectory(prefix="sd", dir="/tmp") as name, privileged_port() as port:
        config = seed_config(Path(name), port, backend)
        done = subprocess.run(
            restricted(standby_command(config), [c for c in caps if c != missing]),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=DEADLINE,
            cwd=name,
        )
    assert done.returncode == 1, done.stderr
    assert WITHOUT[missing].format(port=port) in done.stderr


# -- the unit's system call filter -------------------------------------------------------


def syscall_groups(analyze: str) -> dict[str, list[str]]:
    """``systemd-analyze syscall-filter``: every @group and its entries (calls, @groups)."""
    listing = subprocess.run(
        [analyze, "syscall-filter"], capture_output=True, text=True, timeout=DEADLINE
    ).stdout
    groups: dict[str, list[str]] = {}
    entries: list[str] = []
    for raw in listing.splitlines():
        line = raw.strip()
        if raw.startswith("@"):
            entries = groups.setdefault(line, [])
        elif line and not line.startswith("#"):
            entries.append(line)
    return groups


def allowed_calls(analyze: str) -> set[str]:
    """What the unit's SystemCallFilter= lets through, its groups expanded."""
    groups = syscall_groups(analyze)
    allowed: set[str] = set()
    pending = one(parse_unit(SERVICE), "Service", "SystemCallFilter").split()
    while pending:
        entry = pending.pop()
        if entry.startswith("@"):
            pending.extend(groups[entry])
        else:
            allowed.add(entry)
    return allowed


def traced_calls(summary: Path) -> set[str]:
    """The system calls in ``strace -c``'s table (its last column; not the total)."""
    calls = set()
    for line in summary.read_text().splitlines():
        fields = line.split()
        if fields and fields[0][0].isdigit() and fields[-1] != "total":
            calls.add(fields[-1])
    return calls


@needs_setpriv
@pytest.mark.skipif(
    (STRACE is None or ANALYZE is None) and not os.environ.get("CI"),
    reason="strace or systemd-analyze is not installed",
)
def test_system_calls_stay_within_the_units_filter(backend: Backend) -> None:
    """Every system call standby makes (start as root, chroot, privilege drop, workers,
    requests, a reload, a stop) is one the unit's SystemCallFilter allows: under systemd
    any other would fail with EPERM."""
    assert STRACE is not None and ANALYZE is not None, "strace and systemd must be in CI"
    with tempfile.TemporaryDirectory(prefix="sd", dir="/tmp") as name, privileged_port() as port:
        folder = Path(name)
        summary = folder / "summary"
        config = seed_config(folder, port, backend)
        inside = folder / "jail" / folder.relative_to("/")  # a reload reads it in the jail
        inside.mkdir(parents=True)
        shutil.copy(config, inside / config.name)
        command = [STRACE, "-f", "-qq", "-c", "-o", str(summary), *standby_command(config)]
        with running_command(command, folder) as run:
            (standby,) = children(run.proc.pid)  # strace's child
            assert http_get(port).endswith(b"hello")
            os.kill(standby, signal.SIGHUP)
            wait_for(lambda: "configuration reloaded" in run.stderr(), "the reload")
            assert http_get(port).endswith(b"hello")
            os.kill(standby, signal.SIGTERM)
            assert run.wait() == 0
        used = traced_calls(summary)
    assert len(used) > 20, used  # the table was read
    assert used - allowed_calls(ANALYZE) == set()
