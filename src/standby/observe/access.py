"""The access log: one line per request in Pound's ``LogLevel`` formats 0..5.

Pure code: it formats records and hands the line to an ``emit`` callable (the shell wires
that to syslog or stderr). Formats, as standby writes them:

- 0 ``null``: nothing.
- 1 ``regular``: ``PEER REQUEST-LINE - STATUS``
- 2 ``extended``: regular, then ``(VHOST/SERVICE -> BACKEND) SECONDS sec``
- 3 ``vhost_combined``: ``VHOST`` then the Apache combined line
- 4 ``combined``: ``PEER - USER [TIME] "REQUEST-LINE" STATUS BYTES "REFERER" "USER-AGENT"``
- 5 ``detailed``: vhost_combined, then ``(SERVICE -> BACKEND) SECONDS sec``

A missing value is ``-``. Text taken from the request is escaped (``"``, ``\\`` and
non-printable bytes) so that a client cannot forge log lines or break the quoting.
A refused request (one the proxy answers itself without a backend, such as a 400 for a
malformed head) gets its access line too, with the request line as far as it arrived
(``UnparsedRequest``) and no service or backend, and a diagnostic line (``refusal_line``)
saying why, as Pound writes both.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Protocol, cast

from standby.http1.fastpath import with_c
from standby.model import BackendSpec, ListenerSpec, ServiceSpec

NO_LOGGING = 0
REGULAR = 1  # Pound's default LogLevel: it needs the peer, the request line and the status
MAX_LOG_LEVEL = 5  # Pound's built-in formats are 0..5
LEVEL_NAMES = ("null", "regular", "extended", "vhost_combined", "combined", "detailed")
MISSING = "-"  # what Apache and Pound write for an absent field
# Month names for the CLF timestamp, fixed so that the process locale cannot change them.
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
IPV4_HOST_MASK = 0xFF  # Anonymise zeroes the last byte of an IPv4 address
IPV6_HOST_MASK = 0xFFFF  # ... and the last 16-bit group of an IPv6 address


class RequestView(Protocol):
    """What the access log reads from a parsed request head."""

    @property
    def method(self) -> bytes: ...

    @property
    def target(self) -> bytes: ...

    @property
    def version(self) -> bytes: ...

    def header(self, name: bytes) -> bytes | None: ...


@dataclass(slots=True)
class AccessRecord:
    """One request, as the server saw it; ``request`` is None when it could not be parsed.

    The field order is part of the interface: the shell builds a record per request with
    positional arguments (keywords make a dataclass's construction twice as slow)."""

    peer: str
    listener: ListenerSpec
    service: ServiceSpec | None
    backend: BackendSpec | None
    request: RequestView | None
    status: int
    bytes_out: int  # response body bytes sent to the client
    started: float  # wall-clock epoch seconds when the request arrived
    duration: float  # seconds from arrival to the end of the response


class UnparsedRequest:
    """A refused request whose head could not be parsed: its request line as received when
    that line arrived whole (``b""``: unknown), and no header."""

    __slots__ = ("line",)

    method = target = version = b""  # (RequestView; the log shows ``line``)

    def __init__(self, line: bytes) -> None:
        self.line = line

    def header(self, name: bytes) -> bytes | None:
        return None

    @classmethod
    def of(cls, head: bytes, max_line: int) -> UnparsedRequest:
        """What is known of the request line at the start of ``head`` (bytes of a refused
        head): the line when its end arrived within ``max_line`` bytes."""
        end = head.find(b"\n", 0, max_line + 2)
        if end < 0:
            return cls(b"")
        return cls(head[: end - 1] if end and head[end - 1] == 0x0D else head[:end])


def _escape_table() -> dict[int, str]:
    table = {c: f"\\x{c:02x}" for c in range(0x20)}
    table.update({c: f"\\x{c:02x}" for c in range(0x7F, 0x100)})
    table[ord('"')] = '\\"'
    table[ord("\\")] = "\\\\"
    return table


_ESCAPES = _escape_table()


def escape(value: bytes) -> str:
    """Request bytes as log-safe text (printable ASCII kept, the rest escaped)."""
    text = value.decode("latin-1")
    # The usual case, nothing to escape, found by C scans, not a Python loop over the bytes:
    # ASCII and printable is exactly 0x20..0x7e, which leaves the quote and the backslash.
    if value.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return text
    return text.translate(_ESCAPES)


def anonymise_peer(peer: str) -> str:
    """Zero the host part Pound's ``Anonymise`` hides; anything not an IP is returned as is."""
    try:
        addr = ipaddress.ip_address(peer)
    except ValueError:
        return peer
    if isinstance(addr, ipaddress.IPv4Address):
        return str(ipaddress.IPv4Address(int(addr) & ~IPV4_HOST_MASK))
    mapped = addr.ipv4_mapped
    if mapped is not None:  # an IPv4 client on a dual-stack socket: hide it like IPv4
        return "::ffff:" + str(ipaddress.IPv4Address(int(mapped) & ~IPV4_HOST_MASK))
    return str(ipaddress.IPv6Address(int(addr) & ~IPV6_HOST_MASK))


def clf_time(started: float, tz: tzinfo | None) -> str:
    """``10/Oct/2000:13:55:36 -0700`` in ``tz`` (None: the local time zone)."""
    when = (
        datetime.fromtimestamp(started, tz)
        if tz is not None
        else (datetime.fromtimestamp(started).astimezone())
    )
    return (
        f"{when.day:02d}/{_MONTHS[when.month - 1]}/{when.year:04d}:"
        f"{when.hour:02d}:{when.minute:02d}:{when.second:02d} {when.strftime('%z')}"
    )


def request_line_python(method: bytes, target: bytes, version: bytes) -> str:
    """``GET / HTTP/1.1`` as the log shows it (a bare version gets its ``HTTP/``)."""
    if not version.startswith(b"HTTP/"):
        version = b"HTTP/" + version
    # Escaped as one piece: escaping works byte by byte and leaves the spaces alone.
    return escape(b" ".join((method, target, version)))


# The C fast path (http1/_speedups.c) makes the line when nothing needs escaping, the usual
# case, and calls request_line_python for the rest; tests/http1/test_speedups.py compares.
request_line = with_c("request_line", request_line_python)


def _request_line(request: RequestView | None) -> str:
    if request is None:
        return MISSING
    method = request.method
    if not method:  # an UnparsedRequest (a parsed head always has a method): cheaper to test
        line = cast(UnparsedRequest, request).line  # than isinstance, on every access line
        return escape(line) if line else MISSING
    return request_line(method, request.target, request.version)


def refusal_line(
    status: int, peer: str, backend: str | None, request: RequestView | None, reason: str
) -> str:
    """The diagnostic line for a request refused with ``status``, in Pound's shape:
    ``eSTATUS: PEER[ => BACKEND][: "REQUEST-LINE"]: REASON`` (the request line when known,
    escaped like the access log's)."""
    where = peer if backend is None else f"{peer} => {backend}"
    line = _request_line(request)
    if line == MISSING:
        return f"e{status}: {where}: {reason}"
    return f'e{status}: {where}: "{line}": {reason}'


def _header(request: RequestView | None, name: bytes) -> str:
    if request is None:
        return MISSING
    value = request.header(name)
    return MISSING if not value else escape(value)


def _user(request: RequestView | None) -> str:
    """The user name of HTTP Basic authentication, as Apache's ``%u`` shows it."""
    if request is None:
        return MISSING
    value = request.header(b"authorization")
    if not value:
        return MISSING
    scheme, _, credentials = value.strip().partition(b" ")
    if scheme.lower() != b"basic":
        return MISSING
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True)
    except (binascii.Error, ValueError):
        return MISSING
    user = decoded.partition(b":")[0]
    return escape(user) if user else MISSING


def _service(record: AccessRecord) -> str:
    service = record.service
    if service is None or not service.name:
        return MISSING
    return service.name


def _backend(record: AccessRecord) -> str:
    return MISSING if record.backend is None else record.backend.describe()


def _bytes(record: AccessRecord) -> str:
    return str(record.bytes_out) if record.bytes_out > 0 else MISSING


class AccessLog:
    """Formats each request in the configured ``LogLevel`` and passes the line to ``emit``.

    ``tz`` is the time zone of the timestamps (None: local time, as Pound does).
    """

    __slots__ = ("_emit", "_format", "_tz", "anonymise", "level")

    def __init__(
        self,
        level: int,
        anonymise: bool,
        emit: Callable[[str], None],
        *,
        tz: tzinfo | None = None,
    ) -> None:
        if not NO_LOGGING <= level <= MAX_LOG_LEVEL:
            raise ValueError(f"LogLevel must be {NO_LOGGING}..{MAX_LOG_LEVEL}, not {level}")
        self._emit = emit
        self._tz = tz
        self._format: Callable[[AccessRecord], str] | None = None
        self.level = level
        self.anonymise = anonymise
        self.configure(level, anonymise)

    def configure(self, level: int, anonymise: bool) -> None:
        """Switch to another ``LogLevel``/``Anonymise`` (a reload)."""
        if not NO_LOGGING <= level <= MAX_LOG_LEVEL:
            raise ValueError(f"LogLevel must be {NO_LOGGING}..{MAX_LOG_LEVEL}, not {level}")
        self.level = level
        self.anonymise = anonymise
        method = _FORMATS[level]
        self._format = None if method is None else getattr(self, method)

    def format(self, record: AccessRecord) -> str | None:
        """The line for ``record`` (None at level 0)."""
        fmt = self._format
        return None if fmt is None else fmt(record)

    def flush(self) -> None:
        """Write out lines the emitter may still buffer (at stop)."""
        flush = getattr(self._emit, "flush", None)
        if flush is not None:
            flush()

    def log(self, record: AccessRecord) -> None:
        fmt = self._format
        if fmt is not None:
            self._emit(fmt(record))

    def log_regular(self, peer: str, request: RequestView | None, status: int) -> None:
        """``log`` at LogLevel 1 (``level == REGULAR``) from the three fields that format
        shows: the shell calls this per request without building a record."""
        self._emit(self._regular_line(peer, request, status))

    def _peer(self, record: AccessRecord) -> str:
        return anonymise_peer(record.peer) if self.anonymise else record.peer

    def _regular(self, record: AccessRecord) -> str:
        return self._regular_line(record.peer, record.request, record.status)

    def _regular_line(self, peer: str, request: RequestView | None, status: int) -> str:
        if self.anonymise:
            peer = anonymise_peer(peer)
        return f"{peer} {_request_line(request)} - {status}"

    def _extended(self, record: AccessRecord) -> str:
        return (
            f"{self._regular(record)} ({_header(record.request, b'host')}/{_service(record)}"
            f" -> {_backend(record)}) {record.duration:.3f} sec"
        )

    def _combined(self, record: AccessRecord) -> str:
        request = record.request
        return (
            f"{self._peer(record)} - {_user(request)} [{clf_time(record.started, self._tz)}]"
            f' "{_request_line(request)}" {record.status} {_bytes(record)}'
            f' "{_header(request, b"referer")}" "{_header(request, b"user-agent")}"'
        )

    def _vhost_combined(self, record: AccessRecord) -> str:
        return f"{_header(record.request, b'host')} {self._combined(record)}"

    def _detailed(self, record: AccessRecord) -> str:
        return (
            f"{self._vhost_combined(record)} ({_service(record)} -> {_backend(record)})"
            f" {record.duration:.3f} sec"
        )


# LogLevel -> the method that writes that format (None: no access log).
_FORMATS: tuple[str | None, ...] = (
    None,
    "_regular",
    "_extended",
    "_vhost_combined",
    "_combined",
    "_detailed",
)
