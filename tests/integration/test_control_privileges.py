"""The control socket is made before privileges are dropped (issue 13 point 4): standby
started as root with the seed's ``User``/``Group`` and ``Control`` in a directory only root
may write to (the documented ``/run/...`` case) starts; the socket is root's, mode 0600;
the service user cannot use it while root can; the file left at stop (the service user
may not remove it) is cleared by the next start. One process and two workers."""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import signal
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.test_workers_ops import ctl, standby
from tests.support.backend import Backend
from tests.support.configs import one_backend
from tests.support.harness import free_port, get

from standby.control.ctl import main as ctl_main

SERVICE_USER = "nobody"
SERVICE_GROUP = "nogroup"

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(
        os.geteuid() != 0,
        reason="needs root: standby must start as root and drop to an unprivileged user "
        "(CI runs the suite as root)",
    ),
]


def service_ids() -> tuple[int, int]:
    try:
        return pwd.getpwnam(SERVICE_USER).pw_uid, grp.getgrnam(SERVICE_GROUP).gr_gid
    except KeyError:
        pytest.skip(f"no {SERVICE_USER}/{SERVICE_GROUP} account on this machine")


@pytest.fixture
def run_dir() -> Iterator[Path]:
    """A root-owned 0755 directory the service user can enter but not write to (in /tmp,
    whose every ancestor it may traverse: pytest's own tmp_path is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="standby-run-", dir="/tmp"))
    try:
        os.chmod(path, 0o755)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def ctl_as(uid: int, gid: int, sock: Path, *args: str) -> tuple[int, str]:
    """standbyctl run as another user (the service user): a forked child that drops to
    ``uid``/``gid`` and runs standbyctl's ``main`` (this machine's interpreter may live
    where that user cannot read, so it cannot be exec'd as them). Its exit status and
    what it wrote."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 70
        try:
            os.close(read_end)
            os.dup2(write_end, 1)
            os.dup2(write_end, 2)
            sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - pytest replaced them
            sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            code = ctl_main(["-s", str(sock), *args])
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as out:
        text = out.read().decode(errors="replace")  # ends when the child exits
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), text


@pytest.mark.parametrize("workers", [1, 2])
def test_the_control_socket_is_roots_and_the_service_user_cannot_drive_it(
    tmp_path: Path, run_dir: Path, workers: int
) -> None:
    uid, gid = service_ids()
    sock = run_dir / "standby.sock"
    config = tmp_path / "pound.cfg"
    port = free_port()
    with Backend("a") as a:
        config.write_text(
            one_backend(
                a.port,
                listen=port,
                global_extra=(
                    f'User "{SERVICE_USER}"\nGroup "{SERVICE_GROUP}"\nLogLevel 0\nControl "{sock}"'
                ),
            )
        )
        for start in ("first", "second"):  # the second finds the first one's file
            with standby(config, workers) as running:
                st = os.stat(sock)
                assert stat.S_ISSOCK(st.st_mode)
                assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (0, 0, 0o600), start
                # The supervisor (or the one process) runs as the service user now.
                assert os.stat(f"/proc/{running.proc.pid}").st_uid == uid
                assert get(port).body == b"a"
                code, text = ctl_as(uid, gid, sock, "list")
                assert code != 0 and "Permission denied" in text, text
                code, text = ctl_as(uid, gid, sock, "disable", "/0/0/0")
                assert code != 0 and "Permission denied" in text, text
                assert get(port).body == b"a"  # nothing changed
                allowed = ctl(sock, "list")  # root may
                assert allowed.returncode == 0, allowed.stderr
                assert "a" in allowed.stdout or str(a.port) in allowed.stdout
                running.signal(signal.SIGTERM)
                assert running.wait() == 0, running.stderr()
                assert "Traceback" not in running.stderr()
            # The service user could not remove the file from root's directory: left,
            # listened on by nobody; the next start removes it.
            assert sock.exists()


def test_change_owner_gives_the_socket_to_the_service_user_as_pound_does(
    tmp_path: Path, run_dir: Path
) -> None:
    # Pound's section form: Mode and ChangeOwner. The operator asked for it: the service
    # user and its group own the socket and may drive the proxy.
    uid, gid = service_ids()
    sock = run_dir / "standby.sock"
    config = tmp_path / "pound.cfg"
    port = free_port()
    with Backend("a") as a:
        control = f'Control\n  Socket "{sock}"\n  Mode 660\n  ChangeOwner true\nEnd'
        config.write_text(
            one_backend(
                a.port,
                listen=port,
                global_extra=f'User "{SERVICE_USER}"\nGroup "{SERVICE_GROUP}"\n{control}',
            )
        )
        with standby(config, 1):
            st = os.stat(sock)
            assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (uid, gid, 0o660)
            code, text = ctl_as(uid, gid, sock, "list")
            assert code == 0, text
