"""``BasicAuth`` files and ``-filewatch`` lists re-read when they change (the shell part
of htpasswd.py and model.LiveFile).

Every serving process looks at the stat of each watched htpasswd file of its current
configuration (piggybacking on the certificate poll, every CERT_POLL_INTERVAL seconds: one
stat call per file) and, when its size, mtime or inode changed, reads and parses it: a
good file replaces the users of every ``UserTable`` of that path; a malformed one is logged
and the users in memory stay. Each worker polls for itself, so all see a change within the
interval.

The ``-filewatch`` files of ACLs and pattern conditions (model.LiveFile) are looked at every
WATCH_POLL_INTERVAL seconds: a changed file is parsed again and logged as Pound does
("file reloaded"); a removed one empties the list ("content cleared"); a malformed one is
logged and the content in memory stays.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

from standby.config.errors import ConfigError
from standby.htpasswd import HtpasswdError, UserTable, parse_htpasswd
from standby.model import ConditionSpec, ConfigSpec, LiveFile

# How often each process looks at the stat of its -filewatch files: a change is seen within
# about this long (Pound's tests set WatcherTTL 1 and wait 2 s for the reload to be logged);
# one stat call per file and interval.
WATCH_POLL_INTERVAL = 0.5
# The most a watched list file may hold (as when the configuration reads it).
MAX_WATCHED_FILE = 1 << 20

log = logging.getLogger(__name__)

_Stamp = tuple[int, int, int]  # (inode, size, mtime in ns)


def _conditions(config: ConfigSpec) -> Iterator[ConditionSpec]:
    services = [*config.services, *(s for lst in config.listeners for s in lst.services)]
    stack: list[ConditionSpec] = [c for s in services for c in s.conditions]
    while stack:
        condition = stack.pop()
        stack.extend(condition.children)
        yield condition


def live_files(config: ConfigSpec) -> Iterator[LiveFile]:
    """The -filewatch lists of ``config``'s conditions (ACLs and pattern files)."""
    for condition in _conditions(config):
        if condition.live is not None:
            yield condition.live
        if condition.acl is not None and condition.acl.live is not None:
            yield condition.acl.live


class ListFiles:
    """The -filewatch files of the current configuration and the last stat seen of each
    (None: it did not exist)."""

    __slots__ = ("_files", "_stamps")

    def __init__(self) -> None:
        self._files: dict[str, list[LiveFile]] = {}
        self._stamps: dict[str, _Stamp | None] = {}

    def follow(self, config: ConfigSpec) -> bool:
        """Watch the files of ``config`` (as it read them); whether it has any."""
        files: dict[str, list[LiveFile]] = {}
        seen: set[int] = set()
        for live in live_files(config):
            if id(live) not in seen:  # a named ACL is shared by its conditions
                seen.add(id(live))
                files.setdefault(live.path, []).append(live)
        self._files = files
        self._stamps = {path: self._stamp(path) for path in files}
        return bool(files)

    @staticmethod
    def _stamp(path: str) -> _Stamp | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def poll(self) -> None:
        """Re-read the files that changed since the last look: on a timer, so that a change
        is logged soon, and before routing each request (one stat per file), so that every
        worker routes by the new content as soon as any has logged it."""
        for path, lives in self._files.items():
            stamp = self._stamp(path)
            if self._stamps.get(path) == stamp:
                continue
            self._stamps[path] = stamp
            text: str | None = None
            if stamp is not None:
                try:
                    with open(path, "rb") as handle:
                        text = handle.read(MAX_WATCHED_FILE + 1).decode("latin-1")
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    log.warning("%s: can't open file: %s", path, exc.strerror)
                    continue
                if text is not None and len(text) > MAX_WATCHED_FILE:
                    log.warning("%s: over %d bytes (its content stays)", path, MAX_WATCHED_FILE)
                    continue
            for live in lives:
                try:
                    live.load(text)
                except ConfigError as exc:
                    log.warning("%s: %s (its content stays)", live.location, exc)
                    continue
                done = "file reloaded" if text is not None else "content cleared"
                log.info("%s: %s: %s", live.location, path, done)


def user_tables(config: ConfigSpec) -> Iterator[UserTable]:
    """The watched BasicAuth tables of ``config``'s conditions."""
    for condition in _conditions(config):
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
