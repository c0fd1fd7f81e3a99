"""Pound's ``ACME "DIR"``: answer ``/.well-known/acme-challenge/NAME`` from the file NAME of
a challenge directory, ahead of the listener's services.

The file is opened and read in a thread (``asyncio.to_thread``): a token is tiny, but the
directory may be on a slow or network file system, and a challenge request is rare (a few
per certificate and renewal), so the thread hop costs nothing that matters while a stalled
disk never stalls the event loop. Opened with ``O_NOFOLLOW``: a symbolic link planted in
the directory does not make standby serve another file.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import stat

from standby.acme.challenge import MAX_CHALLENGE_FILE, challenge_name

log = logging.getLogger("standby.acme")

CHALLENGE_METHODS = frozenset({b"GET", b"HEAD"})
ALLOW = (b"Allow", b"GET, HEAD")
CONTENT_TYPE = b"application/octet-stream"  # RFC 8555 8.3's example; validators ignore it
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


def read_challenge(directories: tuple[str, ...], name: str) -> bytes | None:
    """The contents of ``name`` in the first directory that has it as a regular file of at
    most MAX_CHALLENGE_FILE bytes; None when none has; OSError for any other failure."""
    for directory in directories:
        try:
            fd = os.open(os.path.join(directory, name), _OPEN_FLAGS)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                continue  # absent (or a link, refused by O_NOFOLLOW): not served
            raise
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_CHALLENGE_FILE:
                continue
            return os.read(fd, MAX_CHALLENGE_FILE + 1)[:MAX_CHALLENGE_FILE]
        finally:
            os.close(fd)
    return None


async def answer_challenge(
    directories: tuple[str, ...], method: bytes, target: bytes
) -> tuple[int, bytes]:
    """(status, file contents): 200 with the file, 404 when the name is unsafe or absent,
    405 for a method other than GET and HEAD, 500 when the file cannot be read (logged)."""
    if method not in CHALLENGE_METHODS:
        return 405, b""
    name = challenge_name(target.partition(b"?")[0])
    if name is None:
        return 404, b""
    try:
        data = await asyncio.to_thread(read_challenge, directories, name)
    except OSError as exc:
        log.error("ACME challenge %s: cannot read it: %s", name, exc)
        return 500, b""
    return (404, b"") if data is None else (200, data)


def challenge_ok(body: bytes, keep: bool) -> bytes:
    """The 200 answer carrying a challenge file."""
    return b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n%s" % (
        CONTENT_TYPE,
        len(body),
        b"" if keep else b"Connection: close\r\n",
        body,
    )
