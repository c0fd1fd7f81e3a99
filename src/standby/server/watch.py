"""Watched files re-read when they change, as Pound's watcher does: ``BasicAuth`` htpasswd
files (htpasswd.UserTable, unless ``-file``) and the ``-filewatch`` lists of ACLs and
pattern conditions (model.LiveFile). The shell part of those modules.

Every serving process looks at the stat of each watched file of its current configuration
(one stat call per file) every WATCH_POLL_INTERVAL seconds, so that a change is logged
soon, and before routing each request (the Router's refresh hook), so that every worker
routes by the new content as soon as any has logged it. When the size, mtime or inode
changed, the file is read and parsed: good content replaces what is in memory ("file
reloaded", as Pound logs it); a removed file empties it ("content cleared"); a malformed
one is logged and the content in memory stays.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator

from standby.config.conditions import MAX_HTPASSWD_FILE, MAX_LIST_FILE
from standby.config.errors import ConfigError
from standby.htpasswd import HtpasswdError, UserTable, parse_htpasswd
from standby.model import ConditionSpec, ConfigSpec, LiveFile, Location
from standby.observe.logsetup import NOTICE

# How often each process looks at the stat of its watched files on its own (requests look
# too): Pound's tests set WatcherTTL 1 and wait 2 s for the reload to be logged.
WATCH_POLL_INTERVAL = 0.5
# The most a watched file may hold: as much as the configuration reads.
MAX_WATCHED_FILE = max(MAX_LIST_FILE, MAX_HTPASSWD_FILE)

log = logging.getLogger(__name__)

_Stamp = tuple[int, int, int]  # (inode, size, mtime in ns)
# What a file's text (None: it is gone) does to what is in memory; raises ConfigError or
# HtpasswdError for a malformed file.
_Load = Callable[[str | None], None]


def _conditions(config: ConfigSpec) -> Iterator[ConditionSpec]:
    services = [*config.services, *(s for lst in config.listeners for s in lst.services)]
    stack: list[ConditionSpec] = [c for s in services for c in s.conditions]
    while stack:
        condition = stack.pop()
        stack.extend(condition.children)
        yield condition


def _user_loader(table: UserTable) -> _Load:
    def load(text: str | None) -> None:
        table.replace(parse_htpasswd(text or ""))

    return load


def watched(config: ConfigSpec) -> dict[str, list[tuple[Location, _Load]]]:
    """The watched files of ``config``'s conditions: for each path, where each use was
    written and how the file's text reaches it (a named ACL, shared by the conditions that
    use it, once)."""
    files: dict[str, list[tuple[Location, _Load]]] = {}
    seen: set[int] = set()
    for condition in _conditions(config):
        users = condition.users
        lives: list[LiveFile] = []
        if condition.live is not None:
            lives.append(condition.live)
        if condition.acl is not None and condition.acl.live is not None:
            lives.append(condition.acl.live)
        for live in lives:
            if id(live) not in seen:
                seen.add(id(live))
                files.setdefault(live.path, []).append((live.location, live.load))
        if isinstance(users, UserTable) and users.watch and id(users) not in seen:
            seen.add(id(users))
            files.setdefault(users.path, []).append((condition.location, _user_loader(users)))
    return files


class ListFiles:
    """The watched files of the current configuration and the last stat seen of each
    (None: it did not exist)."""

    __slots__ = ("_files", "_stamps")

    def __init__(self) -> None:
        self._files: dict[str, list[tuple[Location, _Load]]] = {}
        self._stamps: dict[str, _Stamp | None] = {}

    def follow(self, config: ConfigSpec) -> bool:
        """Watch the files of ``config``; whether it has any. A file watched already keeps
        its last stamp: a configuration rebuilt around the same conditions (new addresses
        from DNS) has not read it again, so a change not yet seen is still seen."""
        self._files = watched(config)
        old = self._stamps
        self._stamps = {p: old[p] if p in old else self._stamp(p) for p in self._files}
        return bool(self._files)

    @staticmethod
    def _stamp(path: str) -> _Stamp | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def poll(self) -> None:
        """Re-read the files that changed since the last look."""
        for path, uses in self._files.items():
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
            for location, load in uses:
                try:
                    load(text)
                except ConfigError as exc:
                    log.warning("%s: %s (its content stays)", location, exc)
                    continue
                except HtpasswdError as exc:
                    log.warning(
                        "%s: %s:%d: bad htpasswd line: %s (its users stay)",
                        location,
                        path,
                        exc.line,
                        exc,
                    )
                    continue
                done = "file reloaded" if text is not None else "content cleared"
                # A notice, as Pound logs it: an operator's change took effect.
                log.log(NOTICE, "%s: %s: %s", location, path, done)
