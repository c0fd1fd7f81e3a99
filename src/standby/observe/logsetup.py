"""Where diagnostics and the access log go: syslog (``LogFacility``), stderr, or a log
file (``LogFile``, ``--log-file``).

Opened before any chroot: the syslog handler connects to ``/dev/log`` here, so the jail
does not need to contain it; a log file keeps its directory open for reopening.

On stderr, when stderr is journald's stream (systemd names it in ``$JOURNAL_STREAM``),
each line starts with its syslog severity as ``<N>`` and has no time stamp of its own.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import logging.handlers
import os
import sys
import time
from collections.abc import Callable
from typing import TextIO

from standby.config.pound_form import POUND_FORM
from standby.observe.handlers import (
    AppendFile,
    JournalFormatter,
    LogFileHandler,
    PoundStderrHandler,
)

LOGGER_NAME = "standby"  # every module logs under this name
ACCESS_LOGGER_NAME = "standby.access"
STDERR_FACILITY = "-"  # ``LogFacility -`` means "log to stderr"
DEFAULT_FACILITY = "daemon"  # Pound's default facility
DEV_LOG = "/dev/log"  # the local syslog socket
SYSLOG_IDENT = "standby"
STDERR_FORMAT = "%(asctime)s " + SYSLOG_IDENT + "[%(process)d]: %(message)s"
SYSLOG_FORMAT = "%(message)s"  # syslog adds its own time and host
# How lines look on stderr. "standby" (the default): STDERR_FORMAT. "pound": as Pound 4's
# with -e, for scripts and testsuites written for it (the `pound` wrapper in
# contrib/pound-compat asks for it): its tag and the message, no time stamp or pid, and none
# of standby's own INFO and DEBUG lines (start, workers, stop), of which Pound says nothing.
STYLE_STANDBY = "standby"
STYLE_POUND = "pound"
STDERR_STYLES = (STYLE_STANDBY, STYLE_POUND)
POUND_TAG = "pound"
POUND_PREFIX = POUND_TAG + ": "


# Pound logs why it refused a request at syslog's "notice", between INFO and WARNING: a level
# of that name, which the syslog handler maps to that priority.
NOTICE = 25
logging.addLevelName(NOTICE, "NOTICE")
logging.handlers.SysLogHandler.priority_map.setdefault("NOTICE", "notice")


# systemd sets this to "DEVICE:INODE" of the journal stream it connected to stdout and
# stderr (systemd.exec(5)); a stderr with that device and inode number is the journal.
JOURNAL_STREAM = "JOURNAL_STREAM"
# The syslog severities (RFC 5424) of the levels standby logs at; LOG_DEBUG below INFO.
SEVERITIES: tuple[tuple[int, int], ...] = (
    (logging.CRITICAL, 2),
    (logging.ERROR, 3),
    (logging.WARNING, 4),
    (NOTICE, 5),
    (logging.INFO, 6),
)
SYSLOG_DEBUG = 7


def severity(levelno: int) -> int:
    """The syslog severity of a logging level (a level between two takes the lower's)."""
    for level, code in SEVERITIES:
        if levelno >= level:
            return code
    return SYSLOG_DEBUG


def is_journal(stream: TextIO, environ: dict[str, str] | None = None) -> bool:
    """Whether ``stream`` is the journal stream ``$JOURNAL_STREAM`` names: a stderr
    redirected elsewhere (``2>file``) keeps the variable but not the device and inode."""
    value = (os.environ if environ is None else environ).get(JOURNAL_STREAM, "")
    device, _, inode = value.partition(":")
    try:
        info = os.fstat(stream.fileno())
        return (info.st_dev, info.st_ino) == (int(device), int(inode))
    except (OSError, ValueError, AttributeError):  # not set, malformed, or no descriptor
        return False


# `LogTag` of the syslog handlers made here (by id: the handler class has no room for it).
_tags: dict[int, str] = {}


# Set on a record (``extra={STANDBY_ONLY: True}``) that has no counterpart in Pound's output:
# `standby -c`'s advice, a worker carrying on after its supervisor died. The "pound" style
# leaves it out, so that what reads Pound's lines finds only those.
STANDBY_ONLY = "standby_only"


def _pound_worthy(record: logging.LogRecord) -> bool:
    """The "pound" style shows standby's own messages at NOTICE or above (refusals,
    warnings, errors) but those marked ``STANDBY_ONLY``, every access line, and each
    configuration diagnostic that has Pound's form (Pound warns of more than standby)."""
    if getattr(record, STANDBY_ONLY, False):
        return False
    if hasattr(record, POUND_FORM):  # a diagnostic Pound gives (even one standby does not)
        return True
    return record.levelno >= NOTICE or record.name == ACCESS_LOGGER_NAME


class LogSetupError(Exception):
    """The configured destination cannot be used (for example an unknown facility)."""


def facility_code(name: str) -> int:
    """The syslog facility number for a name such as ``daemon`` or ``local0``."""
    code = logging.handlers.SysLogHandler.facility_names.get(name.lower())
    if code is None:
        raise LogSetupError(f"unknown syslog facility {name!r}")
    return code


def make_handler(
    facility: str | None,
    *,
    to_stderr: bool,
    syslog_address: str = DEV_LOG,
    stream: TextIO | None = None,
    tag: str | None = None,
    style: str = STYLE_STANDBY,
    log_file: str | None = None,
) -> logging.Handler:
    """The handler for the configuration: the file ``log_file`` when given (raises
    ``LogSetupError`` if it cannot be opened); else stderr when ``to_stderr`` (``-e``) or the
    facility is ``-``, its lines in ``style``; otherwise syslog, its messages tagged
    ``tag`` (``LogTag``; None: the program's name). Without a syslog socket, falls back to
    stderr with a warning so that messages are never silently lost."""
    if style not in STDERR_STYLES:
        raise LogSetupError(f"unknown log style {style!r}")
    name = DEFAULT_FACILITY if facility is None else facility
    err = sys.stderr if stream is None else stream
    if log_file is not None:
        try:
            return LogFileHandler(AppendFile(log_file), STDERR_FORMAT)
        except OSError as exc:
            raise LogSetupError(f"cannot open log file {log_file}: {exc.strerror}") from None
    if not to_stderr and name != STDERR_FACILITY:
        code = facility_code(name)
        if os.path.exists(syslog_address):
            syslog = logging.handlers.SysLogHandler(address=syslog_address, facility=code)
            syslog.setFormatter(logging.Formatter(SYSLOG_FORMAT))
            if tag is not None:
                _tags[id(syslog)] = tag
            refresh_ident(syslog)
            return syslog
        print(
            f"{SYSLOG_IDENT}: no syslog socket at {syslog_address}, logging to stderr",
            file=err,
        )
    if style == STYLE_POUND:
        return PoundStderrHandler(err, POUND_PREFIX, _pound_worthy)
    stderr = logging.StreamHandler(err)
    journal = is_journal(err)
    stderr.setFormatter(JournalFormatter(severity) if journal else logging.Formatter(STDERR_FORMAT))
    return stderr


def setup_logging(
    facility: str | None,
    *,
    to_stderr: bool,
    verbose: bool,
    syslog_address: str = DEV_LOG,
    stream: TextIO | None = None,
    tag: str | None = None,
    style: str = STYLE_STANDBY,
    log_file: str | None = None,
) -> logging.Handler:
    """Send everything logged under ``standby`` to one handler; returns it."""
    handler = make_handler(
        facility,
        to_stderr=to_stderr,
        syslog_address=syslog_address,
        stream=stream,
        tag=tag,
        style=style,
        log_file=log_file,
    )
    logger = logging.getLogger(LOGGER_NAME)
    for old in list(logger.handlers):
        logger.removeHandler(old)
        old.close()
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False  # the root logger may belong to an embedding application
    return handler


def refresh_ident(handler: logging.Handler) -> None:
    """Set the RFC 3164 tag (``standby[PID]: ``); call again after a fork."""
    if isinstance(handler, logging.handlers.SysLogHandler):
        handler.ident = f"{_tags.get(id(handler), SYSLOG_IDENT)}[{os.getpid()}]: "


def reopen_log_file() -> bool:
    """Reopen the log file (SIGUSR1, after logrotate moved it away): False without one.
    A failure is logged (to the file still open) and the old file stays in use."""
    for handler in logging.getLogger(LOGGER_NAME).handlers:
        if isinstance(handler, LogFileHandler):
            logger = logging.getLogger(LOGGER_NAME)
            try:
                handler.reopen()
            except OSError as exc:
                logger.error("cannot reopen log file %s: %s", handler.file.path, exc.strerror)
            else:  # the first line of the new file, one per process (tests count them)
                logger.info("log file %s reopened", handler.file.path)
            return True
    return False


def access_emitter() -> Callable[[str], None]:
    """``emit`` for ``AccessLog``: access lines go where the ``standby`` logger's handler
    sends messages, at INFO like Pound's, in the same format, but without building a
    ``LogRecord`` per request (that cost a quarter of the throughput): to stderr through a
    short buffer, to syslog as one datagram each. Any other handler gets ``logger.info``."""
    handlers = logging.getLogger(LOGGER_NAME).handlers
    handler = handlers[0] if len(handlers) == 1 else None
    if isinstance(handler, logging.handlers.SysLogHandler) and handler.unixsocket:
        return SyslogAccessWriter(handler)
    if type(handler) is logging.StreamHandler:
        if isinstance(handler.formatter, JournalFormatter):
            return StderrAccessWriter(handler.stream, prefix=f"<{SYSLOG_INFO}>")
        return StderrAccessWriter(handler.stream)
    if type(handler) is LogFileHandler:  # its stream is the AppendFile, reopened in place
        return StderrAccessWriter(handler.stream)
    if type(handler) is PoundStderrHandler:
        return StderrAccessWriter(handler.stream, prefix=POUND_PREFIX)
    return logging.getLogger(ACCESS_LOGGER_NAME).info


# Access lines wait at most this long in the stderr buffer (a busy proxy flushes sooner,
# every ACCESS_BUFFER_LINES lines): one write per batch instead of one per request.
ACCESS_FLUSH_DELAY = 0.1
ACCESS_BUFFER_LINES = 256
# syslog severity of access lines (LOG_INFO), as Pound logs them.
SYSLOG_INFO = 6


class _Stamp:
    """The line prefix (``asctime`` and the process id) of the current millisecond, made
    once per millisecond (a busy proxy logs many lines in one), from the date text of the
    current second (the pid changes after a fork, the date once a second)."""

    __slots__ = ("_pid", "_second", "_text", "millis", "text")

    def __init__(self) -> None:
        self.millis = -1  # the millisecond of ``text``
        self.text = ""  # the prefix of that millisecond
        self._second = -1
        self._text = ""
        self._pid = 0

    def prefix(self, now: float) -> str:
        millis = int(now * 1000)
        if millis == self.millis:
            return self.text
        return self.renew(millis)

    def renew(self, millis: int) -> str:
        """The prefix of another millisecond (``millis`` since the epoch)."""
        self.millis = millis
        second = millis // 1000
        if second != self._second:
            self._second = second
            self._text = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
            self._pid = os.getpid()
        self.text = f"{self._text},{millis % 1000:03d} {SYSLOG_IDENT}[{self._pid}]: "
        return self.text


class StderrAccessWriter:
    """Access lines to a text stream in STDERR_FORMAT, written in batches."""

    def __init__(self, stream: TextIO, prefix: str | None = None) -> None:
        self._stream = stream
        self._prefix = prefix  # a fixed line prefix (the "pound" style), else the stamp
        self._stamp = _Stamp()
        self._lines: list[str] = []
        self._timer: asyncio.TimerHandle | None = None
        atexit.register(self.flush)  # lines still buffered when the process stops

    def __call__(self, line: str) -> None:
        lines = self._lines
        stamp = self._stamp
        prefix = self._prefix
        if prefix is None:
            millis = int(time.time() * 1000)  # _Stamp.prefix, inlined: a call per line saved
            prefix = stamp.text if millis == stamp.millis else stamp.renew(millis)
        lines.append(f"{prefix}{line}\n")
        if len(lines) >= ACCESS_BUFFER_LINES:
            self.flush()
        elif self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # not in the event loop (tests, start-up): write now
                self.flush()
                return
            self._timer = loop.call_later(ACCESS_FLUSH_DELAY, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._lines:
            text = "".join(self._lines)
            self._lines.clear()
            try:
                self._stream.write(text)
                self._stream.flush()
            except (OSError, ValueError):
                pass  # stderr closed or full: never fail a request over its log line


class SyslogAccessWriter:
    """Access lines to the local syslog socket, one datagram each, with the handler's
    facility and tag (RFC 3164 ``<PRI>standby[PID]: line``)."""

    def __init__(self, handler: logging.handlers.SysLogHandler) -> None:
        self._handler = handler
        self._priority = f"<{handler.facility * 8 + SYSLOG_INFO}>"

    def __call__(self, line: str) -> None:
        handler = self._handler
        data = (self._priority + handler.ident + line + "\0").encode("utf-8", "replace")
        try:
            handler.socket.send(data)  # type: ignore[attr-defined]
        except OSError:
            handler.emit(logging.makeLogRecord({"msg": line, "levelno": logging.INFO}))
