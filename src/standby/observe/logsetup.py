"""Where diagnostics and the access log go: syslog (``LogFacility``) or stderr.

Opened before any chroot: the syslog handler connects to ``/dev/log`` here, so the jail
does not need to contain it.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from collections.abc import Callable
from typing import TextIO

LOGGER_NAME = "standby"  # every module logs under this name
ACCESS_LOGGER_NAME = "standby.access"
STDERR_FACILITY = "-"  # ``LogFacility -`` means "log to stderr"
DEFAULT_FACILITY = "daemon"  # Pound's default facility
DEV_LOG = "/dev/log"  # the local syslog socket
SYSLOG_IDENT = "standby"
STDERR_FORMAT = "%(asctime)s " + SYSLOG_IDENT + "[%(process)d]: %(message)s"
SYSLOG_FORMAT = "%(message)s"  # syslog adds its own time and host


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
) -> logging.Handler:
    """The handler for the configuration: stderr when ``to_stderr`` (``-e``) or the
    facility is ``-``; otherwise syslog. Without a syslog socket, falls back to stderr
    with a warning so that messages are never silently lost."""
    name = DEFAULT_FACILITY if facility is None else facility
    err = sys.stderr if stream is None else stream
    if not to_stderr and name != STDERR_FACILITY:
        code = facility_code(name)
        if os.path.exists(syslog_address):
            syslog = logging.handlers.SysLogHandler(address=syslog_address, facility=code)
            syslog.setFormatter(logging.Formatter(SYSLOG_FORMAT))
            refresh_ident(syslog)
            return syslog
        print(
            f"{SYSLOG_IDENT}: no syslog socket at {syslog_address}, logging to stderr",
            file=err,
        )
    stderr = logging.StreamHandler(err)
    stderr.setFormatter(logging.Formatter(STDERR_FORMAT))
    return stderr


def setup_logging(
    facility: str | None,
    *,
    to_stderr: bool,
    verbose: bool,
    syslog_address: str = DEV_LOG,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send everything logged under ``standby`` to one handler; returns it."""
    handler = make_handler(
        facility, to_stderr=to_stderr, syslog_address=syslog_address, stream=stream
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
        handler.ident = f"{SYSLOG_IDENT}[{os.getpid()}]: "


def access_emitter() -> Callable[[str], None]:
    """``emit`` for ``AccessLog``: access lines go out at INFO, like Pound's."""
    return logging.getLogger(ACCESS_LOGGER_NAME).info
