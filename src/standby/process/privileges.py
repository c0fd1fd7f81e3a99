"""RootJail and User/Group: everything needed later is loaded before the jail closes.

Order (see ``runner``): resolve the user and group names (needs /etc/passwd), bind,
open syslog, resolve backends, ``preload()``, ``enter_jail()``, ``drop_privileges()``.
"""

from __future__ import annotations

import grp
import importlib
import logging
import os
import pkgutil
import pwd
import time
from dataclasses import dataclass

log = logging.getLogger("standby.process")

# Modules the standard library imports lazily at run time: after chroot the interpreter can
# no longer find them on disk, so they are imported before.
PRELOAD_MODULES: tuple[str, ...] = (
    "asyncio",
    "concurrent.futures.thread",  # run_in_executor
    "encodings.idna",  # str host names passed to socket functions
    "encodings.ascii",
    "encodings.latin_1",
    "encodings.utf_8",
    "logging.handlers",
    "uvloop",
    "httptools",
)


class PrivilegeError(Exception):
    """An unknown user or group, or a failed chroot/setuid."""


@dataclass(frozen=True, slots=True)
class Identity:
    """The ids to switch to; None keeps the current one."""

    uid: int | None
    gid: int | None

    @property
    def changes(self) -> bool:
        return self.uid is not None or self.gid is not None


def _lookup_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        if name.isdigit():
            try:
                return pwd.getpwuid(int(name))
            except KeyError:
                pass
        raise PrivilegeError(f"unknown user {name!r}") from None


def _lookup_group(name: str) -> int:
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        if name.isdigit():
            return int(name)
        raise PrivilegeError(f"unknown group {name!r}") from None


def resolve_identity(user: str | None, group: str | None) -> Identity:
    """Pound's rule: ``User`` alone also takes that user's primary group; ``Group`` alone
    changes only the group."""
    uid: int | None = None
    gid: int | None = None
    if user is not None:
        entry = _lookup_user(user)
        uid, gid = entry.pw_uid, entry.pw_gid
    if group is not None:
        gid = _lookup_group(group)
    return Identity(uid, gid)


def preload() -> None:
    """Import everything that could be imported lazily later, and read the time zone."""
    for name in PRELOAD_MODULES:
        importlib.import_module(name)
    import standby

    for info in pkgutil.walk_packages(standby.__path__, "standby."):
        if info.name.rpartition(".")[2] == "__main__":
            continue  # entry points run a program when imported
        try:
            importlib.import_module(info.name)
        except (Exception, SystemExit) as exc:  # a broken optional module must not stop us
            log.warning("cannot preload %s: %s", info.name, exc)
    time.tzset()
    time.localtime()  # the C library reads /etc/localtime once and keeps it


def enter_jail(path: str) -> None:
    """chroot to ``path`` and make ``/`` the working directory."""
    try:
        os.chroot(path)
        os.chdir("/")
    except OSError as exc:
        raise PrivilegeError(f"cannot chroot to {path}: {exc.strerror}") from None


def drop_privileges(identity: Identity) -> None:
    """setgroups([]) then setgid then setuid; a no-op when nothing is configured."""
    if not identity.changes:
        return
    try:
        if os.geteuid() == 0:
            os.setgroups([])
        if identity.gid is not None:
            os.setgid(identity.gid)
        if identity.uid is not None:
            os.setuid(identity.uid)
    except OSError as exc:
        raise PrivilegeError(
            f"cannot switch to uid {identity.uid} gid {identity.gid}: {exc.strerror}"
        ) from None
