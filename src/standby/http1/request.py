"""Request heads: strict parsing and the head sent upstream.

The fast path validates a complete head with one compiled pattern, then a second pattern
finds only the headers that matter to framing and forwarding (a typical browser request
yields two matches: Host and Connection). The head is kept as the bytes it arrived in;
``forward_request_head`` splices the changes into those bytes. A head that fails the fast
pattern, or that is large enough to break a per-line limit, goes through a line walker that
names the first problem in stream order, so a head fed whole and one fed byte by byte get
the same status.

Before all that, a C module (``_speedups.c``) scans the plain, valid heads that make up
nearly all traffic in one pass and builds the same RequestHead. Every other head it hands to
``parse_request_head_python``, so every decision below about errors, limits and unusual
framing stays the only one.

Decisions (RFC 9112 and issue 2 section 3):

- Content-Length: only digits; a second Content-Length header is refused even with the same
  value (RFC 9112 6.3 allows either; refusing is simpler and leaves no room for a backend
  that keeps the other one).
- Transfer-Encoding: exactly one ``chunked`` is accepted. ``chunked`` twice, or not last, or
  an element that is not a bare token -> 400 (6.3: a request whose final coding is not
  chunked cannot be framed). Any other coding (``gzip, chunked``, ``identity``) -> 501: we
  could frame ``gzip, chunked`` by its final chunked, but a backend that does not implement
  gzip would read a different body, so we refuse what we do not implement (6.1).
- Content-Length together with Transfer-Encoding -> 400; Transfer-Encoding in HTTP/1.0 -> 400.
- Versions: HTTP/1.0 and HTTP/1.1 only. A well-formed ``HTTP/x.y`` of another version gets
  505 (RFC 9110 15.6.6 names that status for it); anything else, HTTP/0.9's
  version-less request line included, is malformed -> 400.
- Bare LF or bare CR anywhere in the head -> 400 (RFC 9112 2.2 allows rejecting them).
- Up to ``max_head`` bytes of empty lines before the request line are skipped (2.2).
- A ``Connection`` header that names Host, Content-Length or Transfer-Encoding does not
  remove it: the framing we parsed is the framing we forward. One that names X-Forwarded-For
  removes the client's, and ours is added after (issue 12: a client cannot keep its own by
  naming it hop-by-hop, nor remove ours).

Request validation (issue 12, each rule refused with 400 unless it says otherwise):

- request-target (RFC 9112 3.2, RFC 3986): visible ASCII only, and no ``#`` (a fragment is
  never sent); origin-form (``/...``), or ``*`` for OPTIONS, or authority-form for CONNECT, or
  absolute-form with the scheme ``http`` or ``https``, no userinfo, and an authority equal to
  the Host header (RFC 9112 3.2.2 lets a recipient trust either; they must not disagree).
- Host (RFC 9110 7.2, RFC 3986 3.2.2): ``reg-name``, ``IP-literal`` or ``IPv4address``,
  then an optional port of at most 5 digits; empty is allowed (RFC 9112 3.2).
- Content-Length: canonical decimal only; a leading zero (``05``) is refused, never
  forwarded as received.
- A field name that spells a framing, routing or forwarding field with ``_`` for ``-``
  (``Transfer_Encoding``, ``X_Forwarded_For``) is dropped: CGI and WSGI backends map both
  spellings to one variable (HTTP_TRANSFER_ENCODING) and would read it as the real one.
- ``Upgrade: h2c`` is not an upgrade: h2c would tunnel past every rule of the proxy, so the
  Upgrade field is dropped and the request forwarded as a plain one; ``HTTP2-Settings`` is
  always dropped (hop-by-hop by definition, RFC 7540 3.2.1). Other upgrades (WebSocket)
  are forwarded.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Final

from standby.http1._grammar import (
    CHUNKED,
    DIGITS_RE,
    FIELD_CHAR,
    FIELD_LINE_PREFIX_RE,
    FIELD_LINE_RE,
    OWS,
    TARGET_CHAR,
    TCHAR,
    TOKEN_RE,
)
from standby.http1.errors import HttpError
from standby.http1.fastpath import speedups
from standby.http1.limits import Limits
from standby.model import HEADER_FORWARDED, HEADER_SSL

# The C fast path (_speedups.c, see fastpath.py): parse_request_head scans a plain, valid,
# complete head in C and builds its RequestHead there; any other head goes to
# parse_request_head_python, which the C function calls itself.


def speedups_loaded() -> bool:
    """Whether the C fast path is in use (``standby -V`` says)."""
    return speedups is not None


BODY_NONE: Final = 0  # no body follows the head
BODY_LENGTH: Final = 1  # exactly content_length bytes follow
BODY_CHUNKED: Final = 2  # chunked framing follows
BODY_UNTIL_CLOSE: Final = 3  # responses only: the body ends when the backend closes

# 18 decimal digits stay below 2**63: no backend's signed 64-bit parser can overflow on it.
MAX_CONTENT_LENGTH_DIGITS = 18

V10 = b"HTTP/1.0"
V11 = b"HTTP/1.1"

_T = rb"[" + TCHAR + rb"]+"
# The whole head, validated in one pass. Possessive quantifiers: no line can be re-split.
_REQUEST_HEAD_RE = re.compile(
    rb"(" + _T + rb") ([" + TARGET_CHAR + rb"]++) (HTTP/[0-9]\.[0-9])\r\n"
    rb"(?:[" + TCHAR + rb"]++:[" + FIELD_CHAR + rb"]*+\r\n)*+\r\n"
)
_T_RE = re.compile(_T)
_REQUEST_LINE_RE = re.compile(rb"(" + _T + rb") ([" + TARGET_CHAR + rb"]+) (HTTP/[0-9]\.[0-9])")
# What a request line can look like while it is still arriving.
_REQUEST_LINE_PREFIX_RE = re.compile(
    rb"(?:" + _T + rb"(?: (?:[" + TARGET_CHAR + rb"]+"
    rb"(?: (?:H(?:T(?:T(?:P(?:/(?:[0-9](?:\.[0-9]?)?)?)?)?)?)?)?)?)?)?)?"
)
# The headers that framing, routing and forwarding care about, as a trie behind a first-letter
# lookahead (measured twice as fast as a plain alternation). The match starts at the LF
# before the line and stops before its CR, so dropping (start - 1, end) leaves a valid block.
# A name spelt with "_" for "-" matches too (its line is dropped: see the module docstring).
_INTERESTING_RE = re.compile(
    rb"\n(?=[CcEeHhKkPpTtUuXx])(?i:(c(?:ontent[-_]length|onnection)|h(?:ost|ttp2[-_]settings)"
    rb"|upgrade|expect|t(?:e|railer|ransfer[-_]encoding)|keep[-_]alive|proxy[-_]connection"
    rb"|x[-_]forwarded[-_](?:for|proto|port))):([^\r]*+)"
)

# Name codes for the headers above.
_CL, _TE, _HOST, _CONN, _UPGRADE, _EXPECT, _HOP, _XFF, _XFREPLACE = range(9)
_NAME_CODE: dict[bytes, int] = {
    b"content-length": _CL,
    b"transfer-encoding": _TE,
    b"host": _HOST,
    b"connection": _CONN,
    b"upgrade": _UPGRADE,
    b"expect": _EXPECT,
    b"te": _HOP,
    b"trailer": _HOP,
    b"keep-alive": _HOP,
    b"proxy-connection": _HOP,
    b"http2-settings": _HOP,
    b"x-forwarded-for": _XFF,
    b"x-forwarded-proto": _XFREPLACE,
    b"x-forwarded-port": _XFREPLACE,
}
# Connection options that name no extra header (or one already handled above).
_HANDLED_OPTIONS = frozenset(
    {
        b"close",
        b"keep-alive",
        b"upgrade",
        b"te",
        b"trailer",
        b"proxy-connection",
        b"host",
        b"content-length",
        b"transfer-encoding",
        b"x-forwarded-proto",
        b"x-forwarded-port",
        b"http2-settings",
        b"connection",
        b"expect",
    }
)
# Connection naming it removes the client's X-Forwarded-For before ours is added.
_XFF_OPTION = b"x-forwarded-for"
# The upgrade token of HTTP/2 over cleartext (RFC 7540 3.2), never forwarded.
_H2C = b"h2c"

# Host (RFC 3986 3.2.2): IP-literal, or reg-name (which includes IPv4address), then a port.
# 5 digits hold every port; a longer one can only probe a backend's integer parsing.
_REG_NAME = rb"(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*+"
_HOST_RE = re.compile(rb"(?:\[([^\]]*)\]|" + _REG_NAME + rb")(?::([0-9]{0,5}))?")
# IPvFuture inside brackets: "v" HEXDIG "." 1*( unreserved / sub-delims / ":" ).
_IPV_FUTURE_RE = re.compile(rb"[vV][0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+")
# absolute-form: scheme "://" authority, then the path and query (RFC 3986 3).
_ABSOLUTE_RE = re.compile(rb"([A-Za-z][A-Za-z0-9+\-.]*)://([^/?]*)([/?].*)?", re.DOTALL)
_SCHEMES = {b"http": b":80", b"https": b":443"}  # the schemes we forward, with default ports
_CONNECT = b"CONNECT"
_OPTIONS = b"OPTIONS"


# Connection values browsers and tools send, decoded once: (close, keep-alive, upgrade).
_COMMON_CONNECTION: dict[bytes, tuple[bool, bool, bool]] = {
    b"keep-alive": (False, True, False),
    b"close": (True, False, False),
    b"upgrade": (False, False, True),
    b"keep-alive, upgrade": (False, True, True),
    b"upgrade, keep-alive": (False, True, True),
}


class RequestHead:
    """A parsed request head. ``raw`` is kept as received; everything else points into it."""

    __slots__ = (
        "_drops",
        "_fields",
        "_lines",
        "_xff_end",
        "body",
        "client_cert",
        "content_length",
        "expect_continue",
        "host",
        "http11",
        "keep_alive",
        "method",
        "raw",
        "target",
        "upgrade",
        "version",
    )

    method: bytes
    target: bytes
    version: bytes
    http11: bool
    raw: bytes
    host: bytes | None
    body: int
    content_length: int
    keep_alive: bool
    upgrade: bytes | None
    expect_continue: bool
    client_cert: bytes | None  # the connection's TLS client certificate, where routing asks
    # Spans (start, end) of raw to leave out upstream, sorted; None when there are none.
    _drops: list[tuple[int, int]] | None
    _xff_end: int  # where ", peer" goes in the last X-Forwarded-For line; -1 when absent
    _lines: list[str] | None
    _fields: list[tuple[bytes, bytes]] | None

    def header(self, name: bytes) -> bytes | None:
        """First value of header ``name`` (case-insensitive), stripped; None when absent."""
        fields = self._fields
        if fields is None:
            fields = self._fields = _split_fields(self.raw)
        key = name.lower()
        for field_name, value in fields:
            if field_name == key:
                return value
        return None

    def header_lines(self) -> list[str]:
        """Header lines as ``"Name: value"`` (value stripped), latin-1."""
        lines = self._lines
        if lines is None:
            lines = self._lines = field_lines_python(self.raw)
        return lines

    def header_block(self) -> tuple[bytes, bytes]:
        """The header lines joined by LF, as bytes, and the same lower-cased: what the
        header conditions (HeadRequire, HeadDeny) search."""
        return field_block(self.raw)

    @property
    def path(self) -> str:
        """The target without its query string, latin-1."""
        return self.target.partition(b"?")[0].decode("latin-1")

    def __repr__(self) -> str:
        return (
            f"RequestHead({self.method!r}, {self.target!r}, {self.version!r}, "
            f"host={self.host!r}, body={self.body}, content_length={self.content_length})"
        )


# RequestHead's slots in the order scan_request fills them (_speedups.c, RQ_*): all of them.
_C_FIELDS = (
    "method",
    "target",
    "version",
    "http11",
    "raw",
    "host",
    "body",
    "content_length",
    "keep_alive",
    "upgrade",
    "expect_continue",
    "_drops",
    "_xff_end",
    "_lines",
    "_fields",
    "client_cert",
)
if sorted(_C_FIELDS) != sorted(RequestHead.__slots__):  # pragma: no cover - a coding error
    raise RuntimeError("_C_FIELDS must name every slot of RequestHead")


def _split_fields(raw: bytes) -> list[tuple[bytes, bytes]]:
    fields = []
    for line in raw.split(b"\r\n")[1:-2]:
        name, _, value = line.partition(b":")
        fields.append((name.lower(), value.strip(OWS)))
    return fields


def field_lines_python(raw: bytes) -> list[str]:
    """The header lines of ``raw`` as HeadRequire matches them."""
    lines = []
    for line in raw.split(b"\r\n")[1:-2]:
        name, _, value = line.partition(b":")
        lines.append(f"{name.decode('latin-1')}: {value.strip(OWS).decode('latin-1')}")
    return lines


def line_prefix_python(raw: bytes, prefixes: tuple[bytes, ...]) -> int:
    """Where the first header line of ``raw`` that begins with one of ``prefixes``
    (lower-case, compared in any case) ends that prefix, or -1: ``b"\\r\\n" + prefix``
    searched in ``raw.lower()``, the earliest position first, then the first prefix
    (``line_prefix`` is this function, or its C version)."""
    low = raw.lower()
    best, end = -1, -1
    for prefix in prefixes:
        at = low.find(b"\r\n" + prefix)
        if at >= 0 and (best < 0 or at < best):
            best, end = at, at + 2 + len(prefix)
    return end


_OWS: Final = b" \t"
_SEMICOLON: Final = ord(";")


def cookie_span(raw: bytes, low: bytes, at: int, end: int, needle: bytes) -> tuple[int, int] | None:
    """Where the value of the first item of ``raw[at:end]`` (a Cookie or Set-Cookie value;
    ``low``: ``raw`` lower-cased) that begins with ``needle`` (a cookie's lower-case name and
    ``=``) lies: from after the needle to the next ``;`` or ``end``. An item begins at
    ``at`` or after a ``;``, and spaces or tabs. None when there is none."""
    found = low.find(needle, at, end)
    while found >= 0:
        before = found
        while before > at and raw[before - 1] in _OWS:
            before -= 1
        if before == at or raw[before - 1] == _SEMICOLON:
            first = found + len(needle)
            last = raw.find(b";", first, end)
            return first, end if last < 0 else last
        found = low.find(needle, found + 1, end)
    return None


def line_cookie_python(
    raw: bytes, prefixes: tuple[bytes, ...], needle: bytes, limit: int
) -> bytes | None:
    """In the first header line of ``raw`` that begins with one of ``prefixes`` (as
    ``line_prefix``), the value of the first item beginning with ``needle`` (a cookie's
    lower-case name and ``=``, compared in any case): up to the next ``;``, or for the last
    item up to the end of the line less trailing spaces and tabs; at most ``limit`` bytes
    (``line_cookie`` is this function, or its C version)."""
    at = line_prefix_python(raw, prefixes)
    if at < 0:
        return None
    end = raw.find(b"\r\n", at)
    if end < 0:
        end = len(raw)
    span = cookie_span(raw, raw.lower(), at, end, needle)
    if span is None:
        return None
    first, last = span
    value = raw[first:last]
    return (value.rstrip(_OWS) if last == end else value)[:limit]


def field_block_python(raw: bytes) -> tuple[bytes, bytes]:
    """``field_lines_python(raw)`` joined by LF, as bytes, and the same lower-cased
    (``field_block`` is this function, or its C version)."""
    block = "\n".join(field_lines_python(raw)).encode("latin-1")
    return block, block.lower()


def parse_request_head_python(
    buf: bytes | bytearray, limits: Limits, methods: frozenset[bytes]
) -> tuple[RequestHead, int] | None:
    """One request head at the start of ``buf`` (``parse_request_head`` is this function,
    or the C scanner in front of it).

    Returns (head, bytes consumed) when complete, None when more bytes are needed, and raises
    HttpError as soon as the bytes seen are invalid or over a limit. Empty lines before the
    request line are skipped (and counted in ``consumed``). A method outside ``methods`` gets
    405 once the head is otherwise valid.
    """
    start = 0
    while buf.startswith(b"\r\n", start):
        start += 2
    m = _REQUEST_HEAD_RE.match(buf, start)
    if m is None:
        end = buf.find(b"\r\n\r\n", start)
        if end < 0:
            _walk(buf, start, len(buf), limits, complete=False)
            return None
        _walk(buf, start, end + 4, limits, complete=True)
        raise HttpError(400, "malformed request head")  # a guard: _walk names the problem
    stop = m.end()
    whole = isinstance(buf, bytes) and start == 0 and stop == len(buf)
    raw = buf if whole and isinstance(buf, bytes) else bytes(buf[start:stop])
    size = stop - start
    if (
        stop > limits.max_head
        or (size > limits.line_bound and _long_line(raw, limits))
        or (size > limits.count_bound and raw.count(b"\n") - 2 > limits.max_header_count)
    ):
        _walk(buf, start, stop, limits, complete=True)
    method, target, version = m.groups()
    if version == V11:
        http11 = True
        version = V11
    elif version == V10:
        http11 = False
        version = V10
    else:
        raise HttpError(505, f"unsupported version {version!r}")
    if len(target) > limits.max_uri:
        raise HttpError(414, f"request target of {len(target)} bytes")
    authority = None
    # Not origin-form: checked. A CONNECT may have an origin-form target too: Pound relays
    # it like any request where CONNECT is allowed (xHTTP 3), and answers 405 elsewhere.
    if target[0] != 0x2F:
        authority = _target_authority(method, target)

    head = RequestHead()
    head.method = method
    head.target = target
    head.version = version
    head.http11 = http11
    head.raw = raw
    head._lines = None
    head._fields = None
    head.client_cert = None
    _interpret(head, raw, m.end(3) - start + 1, limits)
    if authority is not None:
        _check_authority_is_host(authority, head.host)
    if method not in methods:
        raise HttpError(405, f"method {method!r} not allowed")
    return head, stop


def _interpret(head: RequestHead, raw: bytes, first_lf: int, limits: Limits) -> None:
    """Framing, persistence and forwarding spans from the interesting headers."""
    host: bytes | None = None
    content_length: bytes | None = None
    te_values: list[bytes] | None = None
    connection: list[bytes] | None = None
    upgrade: bytes | None = None
    expect = False
    drops: list[tuple[int, int]] | None = None
    upgrade_spans: list[tuple[int, int]] | None = None
    xff_spans: list[tuple[int, int]] | None = None
    xff_end = -1
    for m in _INTERESTING_RE.finditer(raw, first_lf):
        # A name spelt with "_" is not in the table: dropped as a hop-by-hop line is.
        code = _NAME_CODE.get(m.group(1).lower(), _HOP)
        if code == _HOST:
            if host is not None:
                raise HttpError(400, "duplicate Host")
            host = m.group(2).strip(OWS)
        elif code == _CONN:
            if connection is None:
                connection = []
            connection.append(m.group(2))
            if drops is None:
                drops = []
            drops.append((m.start() - 1, m.end()))
        elif code == _CL:
            if content_length is not None:
                raise HttpError(400, "duplicate Content-Length")
            content_length = m.group(2).strip(OWS)
        elif code == _TE:
            if te_values is None:
                te_values = []
            te_values.append(m.group(2))
        elif code == _UPGRADE:
            upgrade = m.group(2).strip(OWS)
            if upgrade_spans is None:
                upgrade_spans = []
            upgrade_spans.append((m.start() - 1, m.end()))
        elif code == _EXPECT:
            expect = m.group(2).strip(OWS).lower() == b"100-continue"
        elif code == _XFF:
            value = m.group(2)
            xff_end = m.end() - (len(value) - len(value.rstrip(OWS)))
            if xff_spans is None:
                xff_spans = []
            xff_spans.append((m.start() - 1, m.end()))
        else:  # _HOP or _XFREPLACE
            if drops is None:
                drops = []
            drops.append((m.start() - 1, m.end()))

    http11 = head.http11
    if host is None:
        if http11:
            raise HttpError(400, "missing Host")
    elif host and not _valid_host(host):
        raise HttpError(400, f"invalid Host {host[:60]!r}")
    if te_values is not None:
        if content_length is not None:
            raise HttpError(400, "Content-Length with Transfer-Encoding")
        if not http11:
            raise HttpError(400, "Transfer-Encoding in HTTP/1.0")
        _check_chunked_only(te_values)
        head.body = BODY_CHUNKED
        head.content_length = 0
    elif content_length is not None:
        length = _content_length(content_length)
        if limits.max_body and length > limits.max_body:
            raise HttpError(413, f"Content-Length {length} over the limit")
        head.body = BODY_LENGTH if length else BODY_NONE
        head.content_length = length
    else:
        head.body = BODY_NONE
        head.content_length = 0

    keep_alive = http11
    wants_upgrade = False
    if connection is not None:
        common = _COMMON_CONNECTION.get(connection[0].strip(OWS).lower())
        if common is not None and len(connection) == 1:
            close, ka, wants_upgrade = common
        else:
            close = ka = False
            extra: list[bytes] | None = None
            for option in _list_elements(b",".join(connection), "Connection"):
                if option == b"close":
                    close = True
                elif option == b"keep-alive":
                    ka = True
                elif option == b"upgrade":
                    wants_upgrade = True
                elif option == _XFF_OPTION:
                    if xff_spans is not None:  # the client's go; ours is added as for none
                        assert drops is not None  # the Connection line itself is in drops
                        drops.extend(xff_spans)
                        xff_end = -1
                elif option not in _HANDLED_OPTIONS:
                    if extra is None:
                        extra = []
                    extra.append(option)
            if extra is not None:
                assert drops is not None  # the Connection line itself is in drops
                drops.extend(_spans_of(raw, extra))
        keep_alive = not close and (http11 or ka)
    if wants_upgrade and http11 and upgrade and not _asks_h2c(raw, upgrade_spans):
        head.upgrade = upgrade.lower()
    else:
        head.upgrade = None
        if upgrade_spans is not None:
            drops = upgrade_spans if drops is None else drops + upgrade_spans
    if drops is not None and len(drops) > 1:
        # A line can be dropped for two reasons (Connection names "Keep_Alive", which is
        # dropped for its spelling too): each span once, in order.
        drops = sorted(set(drops))
    head.keep_alive = keep_alive
    head.host = host
    head.expect_continue = expect and http11
    head._drops = drops
    head._xff_end = xff_end


def _content_length(value: bytes) -> int:
    if not DIGITS_RE.fullmatch(value):
        raise HttpError(400, f"invalid Content-Length {value[:40]!r}")
    if len(value) > MAX_CONTENT_LENGTH_DIGITS:
        raise HttpError(400, "Content-Length too large")
    if value[0] == 0x30 and len(value) > 1:  # "05": a backend may read it as octal, or refuse
        raise HttpError(400, f"Content-Length with a leading zero {value[:40]!r}")
    return int(value)


def _valid_host(value: bytes) -> bool:
    """Whether ``value`` is a Host field value: ``uri-host [ ":" port ]`` (RFC 9110 7.2)."""
    m = _HOST_RE.fullmatch(value)
    if m is None:
        return False
    literal = m.group(1)
    if literal is None:
        return True
    if _IPV_FUTURE_RE.fullmatch(literal):
        return True
    if b"%" in literal:  # a zone identifier is not part of a URI (RFC 6874 is not for HTTP)
        return False
    try:
        ipaddress.IPv6Address(literal.decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        return False
    return True


def _target_authority(method: bytes, target: bytes) -> bytes | None:
    """Check a request-target that is not in origin-form (RFC 9112 3.2); for absolute-form,
    return the authority the Host field must equal (``scheme`` lower-cased, "://" joined)."""
    if target == b"*":
        if method != _OPTIONS:
            raise HttpError(400, "asterisk-form target outside OPTIONS")
        return None
    if method == _CONNECT:
        m = _HOST_RE.fullmatch(target)
        if m is None or not m.group(2) or not _valid_host(target):
            raise HttpError(400, f"CONNECT target is not host:port {target[:60]!r}")
        return None
    m = _ABSOLUTE_RE.fullmatch(target)
    if m is None:
        raise HttpError(400, f"request target in no valid form {target[:60]!r}")
    scheme = m.group(1).lower()
    if scheme not in _SCHEMES:
        raise HttpError(400, f"absolute-form target with scheme {scheme[:20]!r}")
    authority = m.group(2)
    if not authority or b"@" in authority or not _valid_host(authority):
        raise HttpError(400, f"absolute-form target with authority {authority[:60]!r}")
    return scheme + b"://" + authority


def _check_authority_is_host(authority: bytes, host: bytes | None) -> None:
    """An absolute-form target and the Host field must name the same host and port."""
    scheme, _, name = authority.partition(b"://")
    default_port = _SCHEMES[scheme]
    if host is None or _normal_host(name, default_port) != _normal_host(host, default_port):
        raise HttpError(400, "absolute-form target and Host differ")


def _normal_host(value: bytes, default_port: bytes) -> bytes:
    value = value.lower()
    if value.endswith(default_port):
        value = value[: -len(default_port)]
    return value.removesuffix(b":")  # an empty port is the default one (RFC 3986 3.2.3)


def _asks_h2c(raw: bytes, spans: list[tuple[int, int]] | None) -> bool:
    """Whether the Upgrade field (its lines: ``spans`` of ``raw``) offers HTTP/2 over
    cleartext."""
    for start, end in spans or ():
        for element in raw[start:end].partition(b":")[2].split(b","):
            if element.strip(OWS).partition(b"/")[0].lower() == _H2C:
                return True
    return False


def _list_elements(value: bytes, what: str) -> list[bytes]:
    """Lower-cased tokens of a comma-separated list header; empty elements are skipped."""
    out = []
    for element in value.split(b","):
        element = element.strip(OWS)
        if not element:
            continue
        if not TOKEN_RE.fullmatch(element):
            raise HttpError(400, f"invalid {what} element {element[:40]!r}")
        out.append(element.lower())
    return out


def _check_chunked_only(values: list[bytes]) -> None:
    """Transfer-Encoding must be exactly one ``chunked`` (see the module docstring)."""
    codings: list[bytes] = []
    for value in values:
        for element in value.split(b","):
            element = element.strip(OWS)
            if not TOKEN_RE.fullmatch(element):
                raise HttpError(400, f"invalid transfer coding {element[:40]!r}")
            codings.append(element.lower())
    chunked = codings.count(CHUNKED)
    if chunked > 1:
        raise HttpError(400, "chunked applied more than once")
    if chunked == 1 and codings[-1] != CHUNKED:
        raise HttpError(400, "chunked is not the final transfer coding")
    if len(codings) != 1 or chunked != 1:
        raise HttpError(501, f"transfer coding {b', '.join(codings)[:60]!r} not implemented")


def _spans_of(raw: bytes, names: list[bytes]) -> list[tuple[int, int]]:
    """Spans of the lines of headers ``names`` (tokens, lower case), as in _INTERESTING_RE."""
    alternatives = b"|".join(re.escape(name) for name in names)
    pattern = re.compile(rb"\r\n(?i:" + alternatives + rb"):[^\r]*")
    return [m.span() for m in pattern.finditer(raw, raw.index(b"\r\n"))]


def _long_line(raw: bytes, limits: Limits) -> bool:
    first = raw.index(b"\r\n")
    if first > limits.max_request_line:
        return True
    return max(len(line) for line in raw[first + 2 :].split(b"\r\n")) > limits.max_header_line


def _walk(buf: bytes | bytearray, start: int, stop: int, limits: Limits, *, complete: bool) -> None:
    """Check buf[start:stop] line by line and raise at the first problem in stream order.

    For an incomplete head the last, unfinished line is checked as a prefix: every byte that
    can no longer become part of a valid head raises now, not when the head completes.
    """
    pos = start
    first = True
    count = 0
    while True:
        nl = buf.find(b"\n", pos, stop)
        if nl < 0:
            break
        if nl == pos or buf[nl - 1] != 0x0D:
            raise HttpError(400, "bare LF in head")
        line = bytes(buf[pos : nl - 1])
        if b"\r" in line:
            raise HttpError(400, "bare CR in head")
        if first:
            _check_request_line(line, limits)
            first = False
        elif not line:
            return
        else:
            if len(line) > limits.max_header_line:
                raise HttpError(431, f"header line of {len(line)} bytes")
            count += 1
            if count > limits.max_header_count:
                raise HttpError(431, f"more than {limits.max_header_count} header lines")
            _check_field_line(line)
        if nl + 1 > limits.max_head:
            raise HttpError(431, "head too large")
        pos = nl + 1
    if complete:
        return
    # The unfinished last line: a final CR may still be followed by LF.
    tail = bytes(buf[pos:stop])
    if tail.endswith(b"\r"):
        tail = tail[:-1]
    if b"\r" in tail:
        raise HttpError(400, "bare CR in head")
    if first:
        if len(tail) > limits.max_request_line:
            raise HttpError(414, "request line too long")
        if not _REQUEST_LINE_PREFIX_RE.fullmatch(tail):
            raise HttpError(400, _request_line_problem(tail))
    else:
        if len(tail) > limits.max_header_line:
            raise HttpError(431, "header line too long")
        if count >= limits.max_header_count and tail:
            raise HttpError(431, f"more than {limits.max_header_count} header lines")
        if not FIELD_LINE_PREFIX_RE.fullmatch(tail):
            _check_field_line(tail)  # raises with the precise reason
    if stop > limits.max_head:
        raise HttpError(431, "head too large")


def _check_request_line(line: bytes, limits: Limits) -> None:
    if len(line) > limits.max_request_line:
        raise HttpError(414, f"request line of {len(line)} bytes")
    m = _REQUEST_LINE_RE.fullmatch(line)
    if m is None:
        raise HttpError(400, _request_line_problem(line))
    version = m.group(3)
    if version != V11 and version != V10:
        raise HttpError(505, f"unsupported version {version!r}")
    target = m.group(2)
    if len(target) > limits.max_uri:
        raise HttpError(414, f"request target of {len(target)} bytes")
    if target[0] != 0x2F:
        _target_authority(m.group(1), target)


def _request_line_problem(line: bytes) -> str:
    """Why a (perhaps partial) request line is malformed, for the log."""
    parts = line.split(b" ")
    if len(parts) >= 2 and _T_RE.fullmatch(parts[0]):
        target = parts[1]
        if b"#" in target:
            return f"fragment in request target {target[:60]!r}"
        if any(byte > 0x7E for byte in target):
            return f"byte outside visible ASCII in request target {target[:60]!r}"
    return f"malformed request line {line[:60]!r}"


def _check_field_line(line: bytes, status: int = 400) -> None:
    """Raise with a precise reason when ``line`` (no CRLF; may be partial) is not a field."""
    if FIELD_LINE_RE.fullmatch(line):
        return
    if line[:1] in (b" ", b"\t"):
        raise HttpError(status, "obsolete line folding")
    name, colon, value = line.partition(b":")
    if name[-1:] in (b" ", b"\t"):
        raise HttpError(status, f"whitespace before colon after {name.strip()[:40]!r}")
    if not TOKEN_RE.fullmatch(name):
        if colon or not FIELD_LINE_PREFIX_RE.fullmatch(line):
            raise HttpError(status, f"invalid header name {name[:40]!r}")
        return  # a partial name: still fine
    if b"\x00" in value:
        raise HttpError(status, "NUL in header value")
    raise HttpError(status, f"control character in value of {name[:40]!r}")


ParseRequestHead = Callable[
    [bytes | bytearray, Limits, frozenset[bytes]], "tuple[RequestHead, int] | None"
]
parse_request_head: ParseRequestHead
field_block: Callable[[bytes], tuple[bytes, bytes]] = field_block_python
line_prefix: Callable[[bytes, tuple[bytes, ...]], int] = line_prefix_python
line_cookie: Callable[[bytes, tuple[bytes, ...], bytes, int], bytes | None] = line_cookie_python
if speedups is not None:
    speedups.bind_request(RequestHead, _C_FIELDS, V10, V11, parse_request_head_python)
    parse_request_head = speedups.parse_request_head
    # Made for each request a HeadRequire condition looks at: 5 us in Python for a browser's
    # fourteen header lines, 0.2 us in C (no string object per line).
    field_block = speedups.field_block
    line_prefix = speedups.line_prefix
    # A Session COOKIE's key, per request: 0.1 us in C, 0.5 us as slices and finds.
    line_cookie = speedups.line_cookie
else:  # pragma: no cover - depends on the install
    parse_request_head = parse_request_head_python


class Forwarding:
    """The lines forward_request_head adds for one client connection, made once per
    connection rather than once per request. ``extra``: more lines (each ending in CRLF),
    such as an HTTPS connection's ``X-SSL-*``; ``strip_ssl``: the client's own ``X-SSL-*``
    lines are left out (an HTTPS listener: nobody may forge what the proxy vouches for)."""

    __slots__ = ("extra", "for_line", "peer", "port", "proto", "rest", "strip_ssl", "with_for")

    def __init__(
        self, peer: bytes, proto: bytes, port: bytes, extra: bytes = b"", strip_ssl: bool = False
    ) -> None:
        self.peer = peer
        self.proto = proto
        self.port = port
        self.extra = extra
        self.strip_ssl = strip_ssl
        self.for_line = b"X-Forwarded-For: " + peer + b"\r\n"
        self.rest = (
            b"X-Forwarded-Proto: "
            + proto
            + b"\r\nX-Forwarded-Port: "
            + port
            + b"\r\n"
            + extra
            + b"\r\n"
        )
        self.with_for = self.for_line + self.rest


# A client's X-SSL-* field line (from its CRLF to the next): dropped on HTTPS listeners.
_X_SSL_LINE = re.compile(rb"\r\n[Xx]-[Ss][Ss][Ll]-[^\r\n]*")


def _ssl_drops(head: RequestHead) -> list[tuple[int, int]] | None:
    """``head``'s drops with the client's X-SSL-* lines added; None when it has none."""
    raw = head.raw
    spans = [(m.start() + 2, m.end() + 2) for m in _X_SSL_LINE.finditer(raw, 0, len(raw) - 2)]
    if not spans:
        return None
    return sorted((head._drops or []) + spans)


def forward_request_head(head: RequestHead, peer: bytes, proto: bytes, port: bytes) -> bytes:
    """The head to send upstream.

    The request line is unchanged; hop-by-hop headers are removed (Connection and what it
    names, Keep-Alive, Proxy-Connection, TE, Trailer, and Upgrade unless this is an upgrade
    request, which gets ``Connection: Upgrade``); ``peer`` is appended to the last
    X-Forwarded-For (or a new one is added); X-Forwarded-Proto and X-Forwarded-Port replace
    the client's. Everything else is the raw block as received.
    """
    return forward_head(head, Forwarding(peer, proto, port))


def forward_head(head: RequestHead, fwd: Forwarding) -> bytes:
    """forward_request_head with the connection's lines made beforehand."""
    raw = head.raw
    if fwd.strip_ssl:
        drops = _ssl_drops(head)
        if drops is not None:
            return forward_spliced(head, fwd, drops)
    if head.upgrade is None and head._xff_end < 0:
        drops = head._drops
        if drops is None:
            return raw[:-2] + fwd.with_for  # a plain request: the common case
        if len(drops) == 1:
            # One hop-by-hop line: a browser's "Connection: keep-alive", the next commonest.
            start, end = drops[0]
            return b"".join((raw[:start], raw[end:-2], fwd.with_for))
    return forward_spliced(head, fwd)


def forward_spliced(
    head: RequestHead, fwd: Forwarding, drops: list[tuple[int, int]] | None = None
) -> bytes:
    """forward_head in general: any drops, an X-Forwarded-For to extend, an upgrade.
    ``drops``: instead of the head's own."""
    raw = head.raw
    xff_end = head._xff_end
    if drops is None:
        drops = head._drops
    added = fwd.rest if head.upgrade is None else b"Connection: Upgrade\r\n" + fwd.rest
    if xff_end < 0:
        added = fwd.for_line + added
    peer = fwd.peer
    if drops is None:
        if xff_end < 0:
            return raw[:-2] + added
        return b"".join((raw[:xff_end], b", ", peer, raw[xff_end:-2], added))
    pieces: list[bytes] = []
    pos = 0
    for drop_start, drop_end in drops:
        if pos <= xff_end <= drop_start:  # the X-Forwarded-For line is never dropped
            pieces += (raw[pos:xff_end], b", ", peer)
            pos = xff_end
            xff_end = -1
        pieces.append(raw[pos:drop_start])
        pos = drop_end
    if xff_end >= 0:
        pieces += (raw[pos:xff_end], b", ", peer)
        pos = xff_end
    pieces += (raw[pos:-2], added)
    return b"".join(pieces)


# The client's lines a listener without `HeaderOption forwarded` passes on as sent.
_FORWARDED_LINE = re.compile(rb"\r\n(?i:x-forwarded-(?:proto|port)):")


def forward_head_options(head: RequestHead, fwd: Forwarding, options: int) -> bytes:
    """forward_head for a listener whose ``HeaderOption`` is not Pound's default
    (``options``: model.HEADER_* bits). Without ``forwarded`` no X-Forwarded-* line is
    added and the client's own go through; without ``ssl`` no X-SSL-* line is added (the
    client's are still dropped on an HTTPS listener)."""
    extra = fwd.extra if options & HEADER_SSL else b""
    if options & HEADER_FORWARDED:
        return forward_head(head, Forwarding(fwd.peer, fwd.proto, fwd.port, extra, fwd.strip_ssl))
    raw = head.raw
    drops = [span for span in head._drops or () if not _FORWARDED_LINE.match(raw, span[0])]
    if fwd.strip_ssl:
        ssl = _X_SSL_LINE.finditer(raw, 0, len(raw) - 2)
        drops += [(m.start() + 2, m.end() + 2) for m in ssl]
    pieces: list[bytes] = []
    pos = 0
    for start, end in sorted(set(drops)):
        pieces.append(raw[pos:start])
        pos = end
    upgrade = b"" if head.upgrade is None else b"Connection: Upgrade\r\n"
    pieces += (raw[pos:-2], upgrade, extra, b"\r\n")
    return b"".join(pieces)
