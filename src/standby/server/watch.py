"""``BasicAuth`` files re-read when they change (the shell part of htpasswd.py).

Every serving process looks at the stat of each watched htpasswd file of its current
configuration (piggybacking on the certificate poll, every CERT_POLL_INTERVAL seconds: one
stat call per file) and, when its size, mtime or inode changed, reads and parses it: a
good file replaces the users of every ``UserTable`` of that path; a malformed one is logged
and the users in memory stay. Each worker polls for itself, so all see a change within the
interval.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

from standby.htpasswd import HtpasswdError, UserTable, parse_htpasswd
from standby.model import ConditionSpec, ConfigSpec

log = logging.getLogger(__name__)

_Stamp = tuple[int, int, int]  # (inode, size, mtime in ns)


def user_tables(config: ConfigSpec) -> Iterator[UserTable]:
    """The watched BasicAuth tables of ``config``'s conditions."""
    services = [*config.services, *(s for lst in config.listeners for s in lst.services)]
    stack: list[ConditionSpec] = [c for s in services for c in s.conditions]
    while stack:
        condition = stack.pop()
        stack.extend(condition.children)
        users = condition.users
        if isinstance(users, UserTable) and users.watch:
            yield users


class UserFiles:
    """The last stat seen of each watched htpasswd file."""

    __slots__ = ("_stamps",)

    def __init__(self) -> None:
        self._stamps: dict[str, _Stamp] = {}

    def poll(self, config: ConfigSpec) -> None:
        """Re-read the files of ``config`` that changed since the last poll."""
        tables: dict[str, list[UserTable]] = {}
        for table in user_tables(config):
            tables.setdefault(table.path, []).append(table)
        for path, same in tables.items():
            try:
                st = os.stat(path)
            except OSError as exc:
                if self._stamps.pop(path, None) is not None:
                    log.warning("BasicAuth file %s: %s (its users stay)", path, exc.strerror)
                continue
            stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
            if self._stamps.get(path) == stamp:
                continue
            self._stamps[path] = stamp
            try:
                with open(path, "rb") as handle:
                    users = parse_htpasswd(handle.read().decode("latin-1"))
            except OSError as exc:
                log.warning("BasicAuth file %s: %s (its users stay)", path, exc.strerror)
                continue
            except HtpasswdError as exc:
                log.warning("%s:%d: bad htpasswd line: %s (its users stay)", path, exc.line, exc)
                continue
            for table in same:
                if table.users != users:
                    table.replace(users)
        for path in [p for p in self._stamps if p not in tables]:
            del self._stamps[path]
