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


# HTTP status codes a backend can send (RFC 9110 15: three digits, 1xx..5xx).
MIN_STATUS = 100
MAX_STATUS = 599
_STATUS_ITEM = re.compile(r"([0-9]{3})(?:-([0-9]{3}))?", re.ASCII)
# RFC 9110 9.1: a method is a token; we also require upper case, because methods are
# case-sensitive and `get` would silently never match a real GET.
_METHOD = re.compile(r"[A-Z][A-Z0-9!#$%&'*+.^_`|~-]*", re.ASCII)
MAX_METHOD_LENGTH = 32  # longer is a typo (the longest registered method has 17 letters)
MAX_MODE = 0o777
_MODE = re.compile(r"[0-7]{1,4}", re.ASCII)
# RFC 9112 3.2: a request target in origin form; visible ASCII only.
_REQUEST_PATH = re.compile(r"/[\x21-\x7e]*", re.ASCII)
# RFC 9110 7.2 / RFC 3986 3.2.2: a host (name, IPv4, or [IPv6]) and an optional port.
_HOST_HEADER = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~-]+)(?::[0-9]{1,5})?", re.ASCII)
MAX_HOST_HEADER = MAX_HOSTNAME_LENGTH + 8  # a host name, brackets and a port


def parse_statuses(text: str) -> tuple[tuple[int, int], ...]:
    """``200``, ``200-399`` or ``200,204,301-302`` -> inclusive (low, high) ranges."""
    ranges: list[tuple[int, int]] = []
    for item in text.split(","):
        match = _STATUS_ITEM.fullmatch(item)
        if match is None:
            raise ValueError("bad status list")
        low = int(match.group(1))
        high = low if match.group(2) is None else int(match.group(2))
        if not MIN_STATUS <= low <= high <= MAX_STATUS:
            raise ValueError("bad status list")
        ranges.append((low, high))
    return tuple(ranges)


def parse_method(text: str) -> tuple[str, ...]:
    if len(text) > MAX_METHOD_LENGTH or _METHOD.fullmatch(text) is None:
        raise ValueError("bad method")
    return (text,)


def parse_mode(text: str) -> int:
    """Octal permissions: ``0600``, ``660``."""
    if _MODE.fullmatch(text) is None or int(text, 8) > MAX_MODE:
        raise ValueError("bad mode")
    return int(text, 8)


def parse_request_path(text: str) -> str:
    if _REQUEST_PATH.fullmatch(text) is None:
        raise ValueError("bad path")
    return text


def parse_host_header(text: str) -> str:
    if len(text) > MAX_HOST_HEADER or _HOST_HEADER.fullmatch(text) is None:
        raise ValueError("bad host")
    return text


# A DNS name (RFC 1035 2.3.4 lengths, RFC 1123 letters, digits and hyphens): what an ACME
# order may ask for by HTTP-01 (no wildcard, no IP address).
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
MAX_DOMAIN = 253


def parse_domain(text: str) -> tuple[str, ...]:
    name = text.lower().rstrip(".")
    labels = name.split(".")
    if (
        len(name) > MAX_DOMAIN
        or len(labels) < 2
        or not all(_LABEL.fullmatch(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise ValueError("bad domain")
    return (name,)
