"""The logging handler classes of standby's own making, kept out of the compiled hot path.

A class in a module compiled by mypyc (standby/compiled.py) with a regular Python class as
its base, as every logging handler has, becomes a native class over a Python layout; with
mypy 2.4 on Python 3.11 its instances corrupted the heap (logging's weak references to
handlers came back as other objects and the process crashed in garbage collection). Here,
interpreted, it is an ordinary subclass.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from typing import TextIO

from standby.config.lexer import read_text
from standby.config.pound_form import POUND_FORM, PoundForm, render


class PoundStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """stderr in the "pound" style: each message after ``prefix`` (``pound: ``), and only
    the records ``worthy`` lets through (logsetup decides which)."""

    def __init__(
        self, stream: TextIO, prefix: str, worthy: Callable[[logging.LogRecord], bool]
    ) -> None:
        super().__init__(stream)
        self.setFormatter(PoundFormatter(prefix))
        self.addFilter(worthy)


class PoundFormatter(logging.Formatter):
    """``prefix`` and the message; a configuration diagnostic that carries Pound's form
    (config/pound_form.py) is written as Pound writes it, a line per note."""

    TEXTS_KEPT = 8  # files whose text is kept between records (a load warns in a few)

    def __init__(self, prefix: str) -> None:
        super().__init__(prefix + "%(message)s")
        self._prefix = prefix
        # path -> (size and mtime when read, text): a file with a warning on every line
        # (Pound warns of each backslash escape) is read once, not once per warning.
        self._texts: dict[str, tuple[tuple[int, int], str | None]] = {}

    def format(self, record: logging.LogRecord) -> str:
        form = getattr(record, POUND_FORM, None)
        if not isinstance(form, PoundForm):
            return super().format(record)
        return "\n".join(self._prefix + line for line in render(form, self._text))

    def _text(self, path: str) -> str | None:
        try:
            info = os.stat(path)
        except OSError:
            return None
        stamp = (info.st_size, info.st_mtime_ns)
        kept = self._texts.get(path)
        if kept is not None and kept[0] == stamp:
            return kept[1]
        if len(self._texts) >= self.TEXTS_KEPT:
            self._texts.clear()
        text = read_text(path)
        self._texts[path] = (stamp, text)
        return text


class JournalFormatter(logging.Formatter):
    """Lines for journald's stream (stderr when ``$JOURNAL_STREAM`` names it): each line
    starts with ``<N>``, the record's syslog severity (sd-daemon's convention, which
    journald reads as the entry's priority), and carries no time stamp (journald adds
    its own). A message of several lines (a traceback) gets the prefix on each, since
    journald makes each line an entry of its own."""

    def __init__(self, severity: Callable[[int], int]) -> None:
        super().__init__("%(message)s")
        self._severity = severity

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{self._severity(record.levelno)}>"
        return prefix + super().format(record).replace("\n", "\n" + prefix)


class AppendFile:
    """A log file every process appends to (``O_APPEND``: the kernel puts each write at
    the current end, so whole-line writes of several workers never interleave), reopened
    by name after a rotation. The name is looked up from its directory, opened once at
    start-up: a reopen works after chroot (``RootJail``) and after the daemon's
    ``chdir("/")`` alike."""

    FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
    MODE = 0o640  # a file that logrotate has not created yet: readable by the group (adm)

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        directory, self._name = os.path.split(self.path)
        self._dir = os.open(directory, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            self.fd = self._open()
        except OSError:
            os.close(self._dir)
            raise

    def _open(self) -> int:
        return os.open(self._name, self.FLAGS, self.MODE, dir_fd=self._dir)

    def write(self, text: str) -> None:
        """One ``write`` for ``text`` (whole lines); a short write (a full disk) goes on
        with the rest."""
        data = text.encode("utf-8", "replace")
        while data:
            written = os.write(self.fd, data)
            data = data[written:]

    def flush(self) -> None:
        """Nothing is buffered here."""

    def reopen(self) -> None:
        """Open the name again (logrotate moved the file away); on failure the old file
        stays in use and ``OSError`` says why."""
        fresh = self._open()
        old, self.fd = self.fd, fresh
        os.close(old)

    def close(self) -> None:
        for fd in (self.fd, self._dir):
            with contextlib.suppress(OSError):
                os.close(fd)


class LogFileHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Messages to an ``AppendFile``, one ``write`` per line (``StreamHandler.emit``
    writes the message and its newline together)."""

    def __init__(self, file: AppendFile, format: str) -> None:
        super().__init__(file)
        self.file = file
        self.setFormatter(logging.Formatter(format))

    def reopen(self) -> None:
        self.acquire()
        try:
            self.file.reopen()
        finally:
            self.release()

    def close(self) -> None:
        super().close()
        self.file.close()
