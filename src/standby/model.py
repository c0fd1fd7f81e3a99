"""Frozen specifications compiled from a configuration file.

What the configuration *says* lives here; what changes at run time (alive, disabled
by the operator, pools, counters) lives in state objects keyed by the stable ids below,
so that a reload can map old state onto the new configuration.

The vocabulary is Pound's: a ``ConfigSpec`` has listeners, each listener has services,
each service has backends and emergency backends. Services may also be global (declared
outside any listener); they are tried after the listener's own services.

This module is part of the pure core: it imports no I/O modules.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

# Pound's defaults (seconds), named so that the compiler, the docs and the runtime agree.
DEFAULT_ALIVE = 30.0
DEFAULT_CLIENT_TIMEOUT = 10.0
DEFAULT_BACKEND_TIMEOUT = 15.0
DEFAULT_WS_TIMEOUT = 600.0
DEFAULT_GRACE = 30.0
DEFAULT_LOG_LEVEL = 1
DEFAULT_PRIORITY = 5
MIN_PRIORITY = 1
MAX_PRIORITY = 9
DEFAULT_REDIRECT_CODE = 302


@dataclass(frozen=True, slots=True)
class Location:
    """Where a spec came from, for error messages and the control API."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}.{self.col}"


UNKNOWN_LOCATION = Location("<builtin>", 0, 0)


class ConditionKind(enum.Enum):
    """What a service condition matches against."""

    URL = "url"  # regex searched in the request target (path and query)
    PATH = "path"  # regex searched in the path only (no query string)
    HOST = "host"  # exact, case-insensitive comparison with the Host header value
    HEADER = "header"  # regex searched in each header line "Name: value", case-insensitive


@dataclass(frozen=True, slots=True)
class ConditionSpec:
    """One service condition. ``HeadRequire`` compiles to HEADER; ``HeadDeny`` to a
    negated HEADER; ``Not`` before a condition sets ``negate``."""

    kind: ConditionKind
    pattern: str  # as written in the configuration, for messages and the control API
    regex: re.Pattern[str] | None  # compiled Python regex (None for HOST)
    negate: bool
    location: Location = UNKNOWN_LOCATION


class BackendKind(enum.Enum):
    PROXY = "proxy"  # a real server: Address/Port
    REDIRECT = "redirect"  # answer with a redirect (Service's `Redirect [code] "url"`)


@dataclass(frozen=True, slots=True)
class BackendSpec:
    """A ``BackEnd`` or ``Emergency`` section, or a ``Redirect``."""

    kind: BackendKind
    # PROXY: an IP address or host name with ``port``, or a UNIX socket path with port None.
    address: str = ""
    port: int | None = None
    unix: bool = False
    priority: int = DEFAULT_PRIORITY
    timeout: float = DEFAULT_BACKEND_TIMEOUT  # TimeOut: waiting for the response
    conn_timeout: float = DEFAULT_BACKEND_TIMEOUT  # ConnTO: waiting for connect()
    ws_timeout: float = DEFAULT_WS_TIMEOUT  # WSTimeOut: idle WebSocket tunnel
    disabled: bool = False  # `Disabled 1` in the configuration
    emergency: bool = False
    # REDIRECT
    redirect_code: int = DEFAULT_REDIRECT_CODE
    redirect_url: str = ""
    location: Location = UNKNOWN_LOCATION

    @property
    def identity(self) -> tuple[str, str, int | None]:
        """Stable identity across reloads: the same server keeps its health state."""
        if self.kind is BackendKind.REDIRECT:
            return ("redirect", self.redirect_url, self.redirect_code)
        return ("unix" if self.unix else "inet", self.address, self.port)

    def describe(self) -> str:
        """Human-readable address for logs (never shown to clients)."""
        if self.kind is BackendKind.REDIRECT:
            return f"redirect {self.redirect_code} {self.redirect_url}"
        if self.unix:
            return self.address
        if ":" in self.address:
            return f"[{self.address}]:{self.port}"
        return f"{self.address}:{self.port}"


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    name: str | None
    conditions: tuple[ConditionSpec, ...] = ()
    backends: tuple[BackendSpec, ...] = ()  # regular tier (may include redirects)
    emergencies: tuple[BackendSpec, ...] = ()  # used only when no regular backend is alive
    disabled: bool = False
    location: Location = UNKNOWN_LOCATION


# Pound's xHTTP levels: each level adds methods to the previous one.
XHTTP_METHODS: tuple[frozenset[bytes], ...] = (
    frozenset({b"GET", b"POST", b"HEAD"}),
    frozenset({b"PUT", b"PATCH", b"DELETE"}),
    frozenset(
        {
            b"LOCK",
            b"UNLOCK",
            b"PROPFIND",
            b"PROPPATCH",
            b"SEARCH",
            b"MKCOL",
            b"MOVE",
            b"COPY",
            b"OPTIONS",
            b"TRACE",
            b"MKACTIVITY",
            b"CHECKOUT",
            b"MERGE",
            b"REPORT",
        }
    ),
    frozenset(
        {
            b"SUBSCRIBE",
            b"UNSUBSCRIBE",
            b"NOTIFY",
            b"BPROPFIND",
            b"BPROPPATCH",
            b"POLL",
            b"BMOVE",
            b"BCOPY",
            b"BDELETE",
            b"CONNECT",
        }
    ),
    frozenset({b"RPC_IN_DATA", b"RPC_OUT_DATA"}),
)


def methods_for_xhttp(level: int) -> frozenset[bytes]:
    """All methods allowed at ``xHTTP level`` (0..4)."""
    allowed: frozenset[bytes] = frozenset()
    for group in XHTTP_METHODS[: level + 1]:
        allowed |= group
    return allowed


@dataclass(frozen=True, slots=True)
class ListenerSpec:
    """A ``ListenHTTP`` section."""

    name: str | None
    address: str
    port: int
    xhttp: int = 0
    methods: frozenset[bytes] = field(default_factory=lambda: methods_for_xhttp(0))
    client_timeout: float = DEFAULT_CLIENT_TIMEOUT
    max_request: int = 0  # largest request body in bytes; 0 = unlimited
    max_uri: int = 0  # longest request target in bytes; 0 = the built-in limit
    check_url: re.Pattern[str] | None = None  # request targets must match or get 400
    error_pages: tuple[tuple[int, bytes], ...] = ()  # (status, HTML body) read at load time
    rewrite_location: int = 1  # 0 off, 1 on, 2 on and also compare the port
    services: tuple[ServiceSpec, ...] = ()
    location: Location = UNKNOWN_LOCATION

    def error_page(self, status: int) -> bytes | None:
        for code, body in self.error_pages:
            if code == status:
                return body
        return None


@dataclass(frozen=True, slots=True)
class ConfigSpec:
    """A whole configuration file after ``Include`` expansion and compilation."""

    source: str = "<builtin>"
    user: str | None = None
    group: str | None = None
    root_jail: str | None = None
    daemon: bool = True  # Pound's default: detach unless -F/-e
    log_level: int = DEFAULT_LOG_LEVEL
    log_facility: str | None = "daemon"  # syslog facility name; "-" means stderr
    alive: float = DEFAULT_ALIVE
    client_timeout: float = DEFAULT_CLIENT_TIMEOUT
    timeout: float = DEFAULT_BACKEND_TIMEOUT
    conn_timeout: float = DEFAULT_BACKEND_TIMEOUT
    ws_timeout: float = DEFAULT_WS_TIMEOUT
    grace: float = DEFAULT_GRACE
    pid_file: str | None = None
    anonymise: bool = False  # log client addresses with the last byte zeroed
    listeners: tuple[ListenerSpec, ...] = ()
    services: tuple[ServiceSpec, ...] = ()  # global services, tried after a listener's own
