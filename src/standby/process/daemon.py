"""Detaching from the terminal, and the PID file.

``daemonize()`` keeps a pipe to the original process, which waits until the daemon says
it is serving (exit 0) or why it failed (the message on stderr, exit 1): a start script
learns of a bad start from the exit status, as with a foreground start.
"""

from __future__ import annotations

import contextlib
import os
import sys

DEV_NULL = "/dev/null"
DAEMON_UMASK = 0o022  # files the daemon creates (the PID file) are not world-writable
PID_FILE_MODE = 0o644
_READY = b"\x00"  # first byte on the pipe: started
_FAILED = b"\x01"  # first byte on the pipe: failed, the message follows
_PIPE_CHUNK = 4096  # read size for the status pipe; messages are one line


class StartupNotifier:
    """The daemon's end of the status pipe (also a no-op stand-in in the foreground)."""

    def __init__(self, fd: int | None) -> None:
        self._fd = fd

    def _send(self, payload: bytes) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.write(self._fd, payload)
        with contextlib.suppress(OSError):
            os.close(self._fd)
        self._fd = None

    def discard(self) -> None:
        """Close our copy of the pipe without a word (a forked worker must not hold it:
        the waiting command reads until every copy is closed)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def ready(self) -> None:
        self._send(_READY)

    def failed(self, message: str) -> None:
        self._send(_FAILED + message.encode("utf-8", "replace"))


def _wait_for_daemon(read_fd: int) -> int:
    """In the original process: relay the daemon's start status as an exit code."""
    chunks: list[bytes] = []
    while True:
        chunk = os.read(read_fd, _PIPE_CHUNK)
        if not chunk:
            break
        chunks.append(chunk)
    data = b"".join(chunks)
    if data[:1] == _READY:
        return 0
    message = data[1:].decode("utf-8", "replace") if data else "daemon exited while starting"
    print(f"standby: {message}", file=sys.stderr)
    return 1


def daemonize() -> StartupNotifier:
    """Double fork and setsid; returns only in the daemon. The original process exits with
    the daemon's start status. Call before any event loop or thread exists."""
    read_fd, write_fd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    if os.fork() > 0:
        os.close(write_fd)
        code = _wait_for_daemon(read_fd)
        os._exit(code)
    os.close(read_fd)
    os.setsid()  # leave the terminal's session: no SIGHUP when it closes
    if os.fork() > 0:
        os._exit(0)  # the daemon is not a session leader: it can never get a terminal back
    os.chdir("/")
    os.umask(DAEMON_UMASK)
    null = os.open(DEV_NULL, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    if null > 2:
        os.close(null)
    return StartupNotifier(write_fd)


class PidFile:
    """Writes our PID; removes the file at exit if it still holds our PID.

    Keeps the directory open so that removal works after a chroot (if the user we switched
    to may still write there)."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        self._dir_fd: int | None = None
        self._name = os.path.basename(self.path)
        self._pid = 0

    def write(self) -> None:
        self._pid = os.getpid()
        dir_fd = os.open(os.path.dirname(self.path), os.O_RDONLY | os.O_DIRECTORY)
        try:
            fd = os.open(
                self._name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PID_FILE_MODE, dir_fd=dir_fd
            )
            with os.fdopen(fd, "w") as out:
                out.write(f"{self._pid}\n")
        except OSError:
            os.close(dir_fd)
            raise
        self._dir_fd = dir_fd

    def remove(self) -> None:
        dir_fd = self._dir_fd
        if dir_fd is None:
            return
        self._dir_fd = None
        with contextlib.suppress(OSError):
            fd = os.open(self._name, os.O_RDONLY, dir_fd=dir_fd)
            with os.fdopen(fd) as src:
                owner = src.read().strip()
            if owner == str(self._pid):
                os.unlink(self._name, dir_fd=dir_fd)
        os.close(dir_fd)
