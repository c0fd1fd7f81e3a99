"""The access log: one line per request, in Pound's formats (``LogLevel 0..5``, their names, or
a ``LogFormat`` of one's own), field by field as Pound 4.23 writes them.

Pure code: it formats records and hands the line to an ``emit`` callable (the shell wires
that to syslog or stderr). A format definition is parsed once (observe/logformat.py) and
compiled here into a list of field makers, one call each per line; the built-in formats
are definitions like any other, and ``regular`` (Pound's default, the seed's) has its own
path that builds no record at all.

As Pound: an absent header is empty text in ``%{H}i`` (``""`` in the combined formats),
``%>s`` is the response's status line as sent (``HTTP/1.1 200 OK``; ``302 -`` for a
``Redirect``), byte counts are body bytes (the decoded size of a chunked answer), and the
virtual host of ``%v`` is the Host name without its port, or the listener's address. Bytes
a client sent that are not printable ASCII are escaped (``\\xNN``) so that nobody can
write a line break or a terminal control into the log; quotes and backslashes are kept, as
Pound keeps them.
A refused request (one the proxy answers itself without a backend, such as a 400 for a
malformed head) gets its access line too, with the request line as far as it arrived
(``UnparsedRequest``) and no service or backend, and a diagnostic line (``refusal_line``)
saying why, as Pound writes both.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Protocol, cast

from standby.acl import client_address
from standby.http1.fastpath import with_c
from standby.model import BackendKind, BackendSpec, ListenerSpec, ServiceSpec
from standby.observe import logformat
from standby.observe.logformat import BUILTIN_FORMATS, BUILTIN_NAMES, REGULAR_FORMAT, Conversion

if TYPE_CHECKING:
    from standby.model import ConfigSpec

NO_LOGGING = 0
REGULAR = 1  # Pound's default LogLevel: it needs the peer, the request line and the status
MAX_LOG_LEVEL = len(BUILTIN_FORMATS) - 1  # Pound's built-in formats are 0..5
LEVEL_NAMES = BUILTIN_NAMES
MISSING = "-"  # what Apache and Pound write for an absent field
# Month names for the CLF timestamp, fixed so that the process locale cannot change them.
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MICRO = 1_000_000  # %D and %{us}T count microseconds
MILLI = 1_000
METRICS_BACKEND = "metrics"  # %{backend}N of a `Metrics` service's answer, as Pound names it
# The reasons of Pound's diagnostic lines for a 503 made without a backend (fail2ban filters
# written for Pound may look for them).
NO_SERVICE = "no suitable service found"
NO_BACKEND = "no backend found"
# LogSuppress: a service's mask has bit N set to keep status class N (NXX) out of the log.
ALL_CLASSES = (1 << 10) - 1  # `all`: every class, 0XX to 9XX


class RequestView(Protocol):
    """What the access log reads from a parsed request head."""

    @property
    def method(self) -> bytes: ...

    @property
    def target(self) -> bytes: ...

    @property
    def version(self) -> bytes: ...

    def header(self, name: bytes) -> bytes | None: ...

    @property
    def raw(self) -> bytes: ...


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
    response: bytes = b""  # starts with the status line sent (%>s); b"": only the status


class UnparsedRequest:
    """A refused request whose head could not be parsed: its request line as received when
    that line arrived whole (``b""``: unknown), and the header lines that followed it in
    ``raw`` (the bytes of the head as far as they arrived), read only for the log."""

    __slots__ = ("line", "raw")

    method = target = version = b""  # (RequestView; the log shows ``line``)

    def __init__(self, line: bytes, raw: bytes = b"") -> None:
        self.line = line
        self.raw = raw

    def header(self, name: bytes) -> bytes | None:
        """The first value of header ``name`` among the lines after the request line (as
        Pound shows the Host of a request it refused), stripped; None when absent."""
        if not self.line:
            return None
        key = name.lower()
        for text in self.raw.split(b"\n")[1:]:
            text = text.rstrip(b"\r")
            if not text:
                break
            field, colon, value = text.partition(b":")
            if colon and field.lower() == key:
                return value.strip(b" \t")
        return None

    @classmethod
    def of(cls, head: bytes, max_line: int) -> UnparsedRequest:
        """What is known of the request line at the start of ``head`` (bytes of a refused
        head): the line when its end arrived within ``max_line`` bytes."""
        end = head.find(b"\n", 0, max_line + 2)
        if end < 0:
            return cls(b"")
        return cls(head[: end - 1] if end and head[end - 1] == 0x0D else head[:end], head)


def _escape_table() -> dict[int, str]:
    table = {c: f"\\x{c:02x}" for c in range(0x20)}
    table.update({c: f"\\x{c:02x}" for c in range(0x7F, 0x100)})
    return table


_ESCAPES = _escape_table()


def escape(value: bytes) -> str:
    """Request bytes as log-safe text (printable ASCII kept, the rest escaped)."""
    text = value.decode("latin-1")
    # The usual case, nothing to escape, found by C scans, not a Python loop over the bytes:
    # ASCII and printable is exactly 0x20..0x7e.
    if value.isascii() and text.isprintable():
        return text
    return text.translate(_ESCAPES)


def anonymise_peer(peer: str) -> str:
    """Pound's ``Anonymise``: the address's text after its last ``.`` (IPv4, and IPv4 in
    IPv6) or else its last ``:`` becomes ``0`` (``192.0.2.7`` -> ``192.0.2.0``, ``::1`` ->
    ``::0``); anything else is returned as is."""
    cut = peer.rfind(".")
    if cut < 0:
        cut = peer.rfind(":")
    return peer if cut < 0 else peer[: cut + 1] + "0"


def clf_time(started: float, tz: tzinfo | None) -> str:
    """``10/Oct/2000:13:55:36 -0700`` in ``tz`` (None: the local time zone)."""
    when = _when(started, tz)
    return (
        f"{when.day:02d}/{_MONTHS[when.month - 1]}/{when.year:04d}:"
        f"{when.hour:02d}:{when.minute:02d}:{when.second:02d} {when.strftime('%z')}"
    )


def _when(moment: float, tz: tzinfo | None) -> datetime:
    if tz is not None:
        return datetime.fromtimestamp(moment, tz)
    return datetime.fromtimestamp(moment).astimezone()


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
        return ""
    method = request.method
    if not method:  # an UnparsedRequest (a parsed head always has a method): cheaper to test
        return escape(cast(UnparsedRequest, request).line)  # than isinstance, per line
    return request_line(method, request.target, request.version)


def refusal_line(
    status: int, peer: str, backend: str | None, request: RequestView | None, reason: str
) -> str:
    """The diagnostic line for a request refused with ``status``, in Pound's shape:
    ``eSTATUS: PEER[ => BACKEND][: "REQUEST-LINE"]: REASON`` (the request line when known,
    escaped like the access log's)."""
    where = peer if backend is None else f"{peer} => {backend}"
    line = _request_line(request)
    if not line:
        return f"e{status}: {where}: {reason}"
    return f'e{status}: {where}: "{line}": {reason}'


def status_line(response: bytes, status: int) -> str:
    """``%>s``: the first line of ``response`` (the answer as sent), else the status."""
    end = response.find(b"\r\n")
    line = response if end < 0 else response[:end]
    if not line:
        return str(status)
    text = _STATUS_LINES.get(line)
    if text is None:
        text = escape(line)
        if len(_STATUS_LINES) >= MAX_CACHED_STATUS_LINES:
            _STATUS_LINES.clear()
        _STATUS_LINES[line] = text
    return text


# Status lines already made into text: a backend sends the same few over and over, and the
# seed's access line needs one per request. Bounded: a backend may vary its reason phrases.
MAX_CACHED_STATUS_LINES = 256
_STATUS_LINES: dict[bytes, str] = {}


def chunked_payload(data: bytes, start: int, end: int) -> int:
    """The payload bytes of the whole, well-framed chunked body ``data[start:end]`` (what
    the log counts: the chunk data, not the chunk lines)."""
    total = 0
    pos = start
    while pos < end:
        line_end = data.find(b"\r\n", pos, end)
        if line_end < 0:
            break
        size_text = data[pos:line_end].partition(b";")[0].strip()
        size = int(size_text, 16) if size_text else 0
        if size == 0:
            break
        total += size
        pos = line_end + 2 + size + 2
    return total


def redirect_line(status: int) -> bytes:
    """What ``%>s`` shows for a ``Redirect`` answer: Pound logs its code and a dash."""
    return b"%d -" % status


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


def backend_name(backend: BackendSpec | None) -> str:
    """``%{backend}N``: the address, or ``redirect:URL`` (Pound's names)."""
    if backend is None:
        return MISSING
    if backend.kind is BackendKind.REDIRECT:
        return "redirect:" + backend.redirect_url
    return backend.describe()


def virtual_host(record: AccessRecord) -> str:
    """``%v``: the Host name without its port; the listener's address without a Host."""
    request = record.request
    host = None if request is None else request.header(b"host")
    if not host:
        return record.listener.address
    if host.startswith(b"["):  # an IPv6 literal keeps its brackets
        end = host.find(b"]")
        return escape(host if end < 0 else host[: end + 1])
    return escape(host.partition(b":")[0])


def _target(request: RequestView | None) -> bytes | None:
    return None if request is None or not request.method else request.target


# -- field makers: one per conversion, bound to its argument and to the log's settings ----

Field = Callable[[AccessRecord], str]


def _literal(text: str) -> Field:
    return lambda record: text


def _header_field(name: str, absent: str) -> Field:
    key = name.lower().encode("latin-1")

    def field(record: AccessRecord) -> str:
        request = record.request
        value = None if request is None else request.header(key)
        return absent if value is None else escape(value)

    return field


def forwarded_values(raw: bytes, key: bytes) -> bytes | None:
    """The values of every ``key`` (lower-case) line of the head ``raw``, joined by commas,
    as Pound walks them all for the client address; None when there is none."""
    values = []
    for text in raw.split(b"\n")[1:]:
        text = text.rstrip(b"\r")
        if not text:
            break
        name, colon, value = text.partition(b":")
        if colon and name.lower() == key:
            values.append(value.strip(b" \t"))
    return b", ".join(values) if values else None


def client(peer: str, request: RequestView | None, listener: ListenerSpec) -> str:
    """The client's address (%a): ``peer``, or behind proxies the listener's TrustedIP
    allow, the last address of its forwarded header lines they do not vouch for."""
    forwarded = listener.forwarded
    if forwarded is None or request is None:
        return peer
    return client_address(peer, forwarded_values(request.raw, forwarded.header), forwarded)


def _client_field(record: AccessRecord) -> str:
    return client(record.peer, record.request, record.listener)


def _name_field(obj: str) -> Field:
    if obj == "listener":
        return lambda record: record.listener.name or MISSING
    if obj == "service":
        return lambda record: (
            (record.service.name if record.service is not None else None) or (MISSING)
        )
    return _backend_field


def _backend_field(record: AccessRecord) -> str:
    service = record.service
    if record.backend is None and service is not None and service.metrics:
        return METRICS_BACKEND
    return backend_name(record.backend)


def _location_field(obj: str) -> Field:
    def field(record: AccessRecord) -> str:
        spec = record.listener if obj == "listener" else getattr(record, obj)
        return MISSING if spec is None else str(spec.location)

    return field


def _duration_field(unit: str | None) -> Field:
    if unit == "f":
        return lambda record: f"{record.duration:.3f}"
    if unit == "ms":
        return lambda record: str(int(record.duration * MILLI))
    if unit == "us":
        return lambda record: str(int(record.duration * MICRO))
    return lambda record: str(int(record.duration))


def _time_field(spec: str | None, tz: tzinfo | None) -> Field:
    """``%t`` and ``%{FORMAT}t``: FORMAT is strftime's, after an optional ``begin:`` or
    ``end:``, or one of Pound's ``msec``, ``usec``, ``msec_frac``, ``usec_frac``."""
    if not spec:
        return lambda record: f"[{clf_time(record.started, tz)}]"
    at_end = False
    if spec.startswith("end:"):
        at_end, spec = True, spec[4:]
    elif spec.startswith("begin:"):
        spec = spec[6:]

    def moment(record: AccessRecord) -> float:
        return record.started + record.duration if at_end else record.started

    if spec == "msec":
        return lambda record: str(int(moment(record) * MILLI))
    if spec == "usec":
        return lambda record: str(int(moment(record) * MICRO))
    if spec == "msec_frac":
        return lambda record: f"{int(moment(record) * MILLI) % MILLI:03d}"
    if spec == "usec_frac":
        return lambda record: f"{int(moment(record) * MICRO) % MICRO:06d}"
    text = spec
    return lambda record: _when(moment(record), tz).strftime(text)


def _query(record: AccessRecord) -> str:
    target = _target(record.request)
    if target is None:
        return ""
    mark = target.find(b"?")
    return "" if mark < 0 else escape(target[mark:])


def _path(record: AccessRecord) -> str:
    target = _target(record.request)
    return MISSING if target is None else escape(target.partition(b"?")[0])


def _method(record: AccessRecord) -> str:
    request = record.request
    return MISSING if request is None or not request.method else escape(request.method)


_SIMPLE: dict[str, Field] = {
    "A": lambda record: record.listener.address,
    "B": lambda record: str(record.bytes_out),
    "b": lambda record: str(record.bytes_out) if record.bytes_out > 0 else MISSING,
    "D": lambda record: str(int(record.duration * MICRO)),
    "h": lambda record: record.peer,
    "H": lambda record: "http" if record.listener.tls is None else "https",
    "l": lambda record: MISSING,
    "m": _method,
    "p": lambda record: str(record.listener.port),
    "P": lambda record: f"{threading.get_ident():x}",
    "q": _query,
    "r": lambda record: _request_line(record.request),
    "s": lambda record: str(record.status),
    ">s": lambda record: status_line(record.response, record.status),
    "u": lambda record: _user(record.request),
    "U": _path,
    "v": virtual_host,
}


class Formatter:
    """A format definition compiled into field makers; ``regular`` when it is Pound's
    default (``%a %r - %>s``), which ``AccessLog.log_regular`` writes without a record."""

    __slots__ = ("fields", "regular", "text")

    def __init__(self, text: str, anonymise: bool, tz: tzinfo | None) -> None:
        self.text = text
        self.regular = text == REGULAR_FORMAT
        self.fields = [_field(piece, anonymise, tz) for piece in logformat.parse(text)]

    def render(self, record: AccessRecord) -> str:
        return "".join([field(record) for field in self.fields])


def _field(piece: str | Conversion, anonymise: bool, tz: tzinfo | None) -> Field:
    if isinstance(piece, str):
        return _literal(piece)
    conv, arg = piece.conv, piece.arg
    if conv == "a":
        if anonymise:
            return lambda record: anonymise_peer(_client_field(record))
        return _client_field
    if conv in ("i", "I"):
        return _header_field(arg or "", "" if conv == "i" else MISSING)
    if conv == "N":
        return _name_field(arg or "")
    if conv == "L":
        return _location_field(arg or "")
    if conv == "T":
        return _duration_field(arg)
    if conv == "t":
        return _time_field(arg, tz)
    return _SIMPLE[conv]


class AccessLog:
    """Formats each request in its listener's format (``LogLevel``, global or the
    listener's own) and passes the line to ``emit``.

    ``tz`` is the time zone of the timestamps (None: local time, as Pound does).
    ``level`` is the global built-in level (0 also when the global format is a custom one
    that writes nothing); ``form`` the global format compiled, None when it is empty.
    """

    __slots__ = ("_compiled", "_emit", "_tz", "anonymise", "form", "level")

    def __init__(
        self,
        level: int,
        anonymise: bool,
        emit: Callable[[str], None],
        *,
        tz: tzinfo | None = None,
        fmt: str | None = None,
    ) -> None:
        self._emit = emit
        self._tz = tz
        self._compiled: dict[str, Formatter | None] = {}
        self.level = level
        self.anonymise = anonymise
        self.form: Formatter | None = None
        self.configure(level, anonymise, fmt)

    @classmethod
    def for_config(
        cls, config: ConfigSpec, emit: Callable[[str], None], *, tz: tzinfo | None = None
    ) -> AccessLog:
        """The access log ``config`` asks for."""
        access = cls(config.log_level, config.anonymise, emit, tz=tz, fmt=config.log_format)
        access.prepare(config)
        return access

    def use_config(self, config: ConfigSpec) -> None:
        """Switch to ``config``'s formats (a reload)."""
        self.configure(config.log_level, config.anonymise, config.log_format)
        self.prepare(config)

    def configure(self, level: int, anonymise: bool, fmt: str | None = None) -> None:
        """Switch to another global format: the built-in ``level``, or the definition
        ``fmt`` when given; and ``Anonymise``."""
        if not NO_LOGGING <= level <= MAX_LOG_LEVEL:
            raise ValueError(f"LogLevel must be {NO_LOGGING}..{MAX_LOG_LEVEL}, not {level}")
        self.anonymise = anonymise
        self._compiled = {}
        text = BUILTIN_FORMATS[level] if fmt is None else fmt
        self.form = self.compiled(text)
        self.level = level if self.form is not None else NO_LOGGING

    def prepare(self, config: ConfigSpec) -> None:
        """Compile the listeners' own formats now, not at their first request."""
        for listener in config.listeners:
            if listener.log_format is not None:
                self.compiled(listener.log_format)

    def compiled(self, text: str) -> Formatter | None:
        """The definition ``text`` compiled (None: it writes nothing), made once."""
        try:
            return self._compiled[text]
        except KeyError:
            pass
        form = Formatter(text, self.anonymise, self._tz) if text else None
        self._compiled[text] = form
        return form

    def form_for(self, listener: ListenerSpec) -> Formatter | None:
        """The format of requests to ``listener`` (None: they are not logged)."""
        text = listener.log_format
        return self.form if text is None else self.compiled(text)

    def format(self, record: AccessRecord) -> str | None:
        """The line for ``record`` (None when its listener logs nothing)."""
        form = self.form_for(record.listener)
        return None if form is None else form.render(record)

    def flush(self) -> None:
        """Write out lines the emitter may still buffer (at stop)."""
        flush = getattr(self._emit, "flush", None)
        if flush is not None:
            flush()

    def log(self, record: AccessRecord) -> None:
        form = self.form_for(record.listener)
        if form is not None:
            self._emit(form.render(record))

    def write(self, form: Formatter, record: AccessRecord) -> None:
        """``record``'s line in ``form`` (the caller found the format: ``form_for``)."""
        self._emit(form.render(record))

    def log_regular(
        self,
        peer: str,
        request: RequestView | None,
        status: int,
        response: bytes,
        listener: ListenerSpec | None = None,
    ) -> None:
        """The line of the ``regular`` format (LogLevel 1) from the fields it shows
        (``response`` starts with the status line sent): the shell calls this per request
        without building a record. ``listener``: where the client address comes from."""
        if listener is not None and listener.forwarded is not None:
            peer = client(peer, request, listener)
        if self.anonymise:
            peer = anonymise_peer(peer)
        self._emit(f"{peer} {_request_line(request)} - {status_line(response, status)}")


def suppressed(service: ServiceSpec | None, status: int) -> bool:
    """Whether the service's ``LogSuppress`` keeps ``status`` out of the access log."""
    if service is None:
        return False
    mask = service.log_suppress
    return bool(mask) and bool(mask >> (status // 100) & 1)
