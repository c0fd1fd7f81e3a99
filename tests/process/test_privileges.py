"""User/Group resolution (Pound's rules), the PID file."""

from __future__ import annotations

import grp
import os
import pwd
from pathlib import Path

import pytest

from standby.process.daemon import PidFile
from standby.process.privileges import (
    Identity,
    PrivilegeError,
    drop_privileges,
    resolve_identity,
)

NOBODY = pwd.getpwnam("nobody")


def _a_group() -> grp.struct_group:
    for name in ("nogroup", "nobody", "daemon"):
        try:
            return grp.getgrnam(name)
        except KeyError:
            continue
    pytest.skip("no well-known group on this machine")


def test_user_alone_takes_the_primary_group() -> None:
    assert resolve_identity("nobody", None) == Identity(NOBODY.pw_uid, NOBODY.pw_gid)


def test_user_and_group() -> None:
    group = _a_group()
    assert resolve_identity("nobody", group.gr_name) == Identity(NOBODY.pw_uid, group.gr_gid)


def test_group_alone_changes_only_the_group() -> None:
    group = _a_group()
    assert resolve_identity(None, group.gr_name) == Identity(None, group.gr_gid)


def test_neither_changes_nothing() -> None:
    identity = resolve_identity(None, None)
    assert not identity.changes
    drop_privileges(identity)  # a no-op, also when not root
    assert (os.getuid(), os.getgid()) == (os.getuid(), os.getgid())


def test_numeric_ids() -> None:
    assert resolve_identity(str(NOBODY.pw_uid), "4242") == Identity(NOBODY.pw_uid, 4242)


def test_unknown_names() -> None:
    with pytest.raises(PrivilegeError, match="unknown user 'no-such-user-x'"):
        resolve_identity("no-such-user-x", None)
    with pytest.raises(PrivilegeError, match="unknown group 'no-such-group-x'"):
        resolve_identity(None, "no-such-group-x")


def test_pid_file_written_and_removed(tmp_path: Path) -> None:
    path = tmp_path / "standby.pid"
    pid_file = PidFile(str(path))
    pid_file.write()
    assert path.read_text() == f"{os.getpid()}\n"
    assert path.stat().st_mode & 0o777 == 0o644 & ~_umask()
    pid_file.remove()
    assert not path.exists()
    pid_file.remove()  # twice is harmless


def test_pid_file_of_another_process_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "standby.pid"
    pid_file = PidFile(str(path))
    pid_file.write()
    path.write_text("1\n")  # a newer instance took over the file
    pid_file.remove()
    assert path.read_text() == "1\n"


def test_pid_file_in_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        PidFile(str(tmp_path / "missing" / "standby.pid")).write()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
