"""Converters for argument values: numbers, booleans, durations, sizes, names.

Each raises ``ValueError`` with a short reason; the parser turns it into a
``ConfigError`` at the argument's location.
"""

from __future__ import annotations

import ipaddress
import re

# Longer numbers are typos in a proxy configuration, and capping them keeps int() and
# float arithmetic exact (and clear of Python's huge-int conversion limit).
MAX_NUMBER_DIGITS = 15
# The longest accepted duration: a year. Anything longer is a typo, and keeping timers
# finite avoids overflow in event-loop arithmetic.
MAX_DURATION = 365 * 86400.0
# The largest accepted size (1 TiB): larger request limits are typos.
MAX_SIZE = 1 << 40
# RFC 1035: a host name is at most 253 characters, each label at most 63.
MAX_HOSTNAME_LENGTH = 253

TRUE_WORDS = frozenset({"1", "yes", "true", "on"})
FALSE_WORDS = frozenset({"0", "no", "false", "off"})

DURATION_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_DURATION_ORDER = "dhms"
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)([dhms]?)", re.ASCII | re.IGNORECASE)

SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
_SIZE = re.compile(r"([0-9]+)([kmg]?)", re.ASCII | re.IGNORECASE)

# syslog(3) facility names Pound accepts; "-" means standard error instead of syslog.
SYSLOG_FACILITIES = (
    "auth", "authpriv", "cron", "daemon", "ftp", "kern", "lpr", "mail", "news",
    "syslog", "user", "uucp",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
)  # fmt: skip
STDERR_FACILITY = "-"

# Pound's built-in log formats by name, in LogLevel order 0..5.
LOG_FORMAT_NAMES = ("null", "regular", "extended", "vhost_combined", "combined", "detailed")

_HOST_LABEL = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?", re.ASCII)


def parse_number(text: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > MAX_NUMBER_DIGITS:
        raise ValueError("bad number")
    return int(text)


def parse_bool(text: str) -> bool:
    word = text.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError("bad boolean")


def parse_duration(text: str) -> float:
    """``90``, ``1m30s``, ``1.5h``, ``2d``: parts in the order d, h, m, s, each at
    most once; a bare number (no unit) is seconds and must stand alone."""
    if not text or len(text) > 4 * MAX_NUMBER_DIGITS:
        raise ValueError("bad duration")
    total = 0.0
    pos = 0
    last_rank = -1
    while pos < len(text):
        match = _DURATION_PART.match(text, pos)
        if match is None or len(match.group(1)) > MAX_NUMBER_DIGITS:
            raise ValueError("bad duration")
        unit = match.group(2).lower()
        if not unit:
            if pos != 0 or match.end() != len(text):
                raise ValueError("bad duration")
            unit = "s"
        rank = _DURATION_ORDER.index(unit)
        if rank <= last_rank:
            raise ValueError("bad duration")
        last_rank = rank
        total += float(match.group(1)) * DURATION_UNITS[unit]
        pos = match.end()
    if total > MAX_DURATION:
        raise ValueError("bad duration")
    return total


def parse_size(text: str) -> int:
    """``1024``, ``64k``, ``10M``, ``1g`` (1024-based)."""
    match = _SIZE.fullmatch(text)
    if match is None or len(match.group(1)) > MAX_NUMBER_DIGITS:
        raise ValueError("bad size")
    value = int(match.group(1)) * SIZE_UNITS[match.group(2).lower()]
    if value > MAX_SIZE:
        raise ValueError("bad size")
    return value


def parse_facility(text: str) -> str:
    name = text.lower()
    if name == STDERR_FACILITY or name in SYSLOG_FACILITIES:
        return name
    raise ValueError("unknown syslog facility")


def parse_log_level(text: str) -> int:
    """A number 0..5 or one of Pound's built-in format names."""
    name = text.lower()
    if name in LOG_FORMAT_NAMES:
        return LOG_FORMAT_NAMES.index(name)
    if text.isascii() and text.isdigit() and len(text) <= MAX_NUMBER_DIGITS:
        level = int(text)
        if level < len(LOG_FORMAT_NAMES):
            return level
    raise ValueError("bad log level")


def is_hostname(text: str) -> bool:
    if not text or len(text) > MAX_HOSTNAME_LENGTH:
        return False
    labels = text[:-1].split(".") if text.endswith(".") else text.split(".")
    return all(_HOST_LABEL.fullmatch(label) for label in labels)


def parse_address(text: str, allow_unix: bool) -> tuple[str, bool]:
    """An IPv4 or IPv6 address (brackets optional), a host name, or (when allowed) a
    UNIX socket path beginning with ``/``. Returns (address, is_unix)."""
    if allow_unix and text.startswith("/"):
        return text, True
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        return str(ipaddress.ip_address(bare)), False
    except ValueError:
        pass
    if bare is text and is_hostname(text) and not text.replace(".", "").isdigit():
        return text, False
    raise ValueError("bad address")
