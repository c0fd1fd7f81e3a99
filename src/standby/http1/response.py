"""Response heads from a backend: strict parsing and the head sent to the client.

Every problem is a 502 for the client: a backend that frames its answer ambiguously could
make us and the client disagree about where the response ends.

Decisions:

- Status line ``HTTP/1.x DDD[ reason]``, DDD in 100..599 (RFC 9110 15: a status outside
  it, ``999``, is no status a client can act on); a missing reason (and its space) is
  accepted, since RFC 9112 4 asks clients to accept it and it changes nothing about framing.
- Content-Length: digits only; several headers are accepted only when identical (RFC 9112
  6.3 allows that for responses), different values -> 502.
- Transfer-Encoding: exactly ``chunked``; anything else (``chunked, chunked``, ``gzip,
  chunked``, ``gzip``) -> 502 since we forward the framing to clients that may not decode it.
- Content-Length with Transfer-Encoding, bare CR or LF, NUL or other controls, obsolete line
  folding, a head over ``max_head`` -> 502.
- No body for 1xx, 204, 304 and responses to HEAD (RFC 9112 6.3 rules 1 and 2); 101 ends the
  HTTP exchange (the shell opens a tunnel), so its connection is not reusable.
"""

from __future__ import annotations

import re
from typing import Protocol

from standby.http1._grammar import (
    CHUNKED,
    DIGITS_RE,
    FIELD_CHAR,
    FIELD_LINE_PREFIX_RE,
    OWS,
    TCHAR,
    TOKEN_RE,
)
from standby.http1.errors import HttpError
from standby.http1.fastpath import speedups, with_c
from standby.http1.request import (
    BODY_CHUNKED,
    BODY_LENGTH,
    BODY_NONE,
    BODY_UNTIL_CLOSE,
    MAX_CONTENT_LENGTH_DIGITS,
    V10,
    V11,
    _check_field_line,
)

# The C fast path (_speedups.c, see fastpath.py): parse_response_head is the C scanner in
# front of parse_response_head_python, or that function itself without the C module.

# Large Set-Cookie and CSP headers fit in 64 KiB; a bigger head is a broken backend.
MAX_RESPONSE_HEAD = 65536

_BAD = 502
# The range of status codes (RFC 9110 15); the C scanner checks the same bounds.
MIN_STATUS = 100
MAX_STATUS = 599

_T = rb"[" + TCHAR + rb"]+"
_RESPONSE_HEAD_RE = re.compile(
    rb"(HTTP/1\.[01]) ([0-9]{3})(?: [" + FIELD_CHAR + rb"]*+)?\r\n"
    rb"(?:[" + TCHAR + rb"]++:[" + FIELD_CHAR + rb"]*+\r\n)*+\r\n"
)
_STATUS_LINE_RE = re.compile(rb"(HTTP/1\.[01]) ([0-9]{3})(?: [" + FIELD_CHAR + rb"]*)?")
# As in request.py: a first-letter lookahead, then a trie; spans start at the LF.
_INTERESTING_RE = re.compile(
    rb"\n(?=[CcKkLlPpTtUu])(?i:(c(?:ontent-l(?:ength|ocation)|onnection)|keep-alive"
    rb"|proxy-connection|t(?:e|railer|ransfer-encoding)|upgrade|location)):([^\r]*+)"
)
# Connection values backends send, decoded once: (close, keep-alive).
_COMMON_CONNECTION: dict[bytes, tuple[bool, bool]] = {
    b"keep-alive": (False, True),
    b"close": (True, False),
    b"upgrade": (False, False),
}
_CL, _TE, _CONN, _HOP, _UPGRADE, _LOCATION = range(6)
_NAME_CODE: dict[bytes, int] = {
    b"content-length": _CL,
    b"transfer-encoding": _TE,
    b"connection": _CONN,
    b"keep-alive": _HOP,
    b"proxy-connection": _HOP,
    b"te": _HOP,
    b"trailer": _HOP,
    b"upgrade": _UPGRADE,
    b"location": _LOCATION,
    b"content-location": _LOCATION,
}
# Connection options that name no removable header, or one we must keep for framing.
_KEPT_OPTIONS = frozenset(
    {
        b"close",
        b"keep-alive",
        b"upgrade",
        b"te",
        b"trailer",
        b"proxy-connection",
        b"connection",
        b"content-length",
        b"transfer-encoding",
        b"location",
        b"content-location",
    }
)


class ResponseHead:
    """A parsed response head; ``raw`` is kept as received."""

    __slots__ = (
        "_drops",
        "_keep_alive_span",
        "_locations",
        "body",
        "content_length",
        "http11",
        "keep_alive",
        "raw",
        "status",
        "version",
    )

    status: int
    version: bytes
    http11: bool
    raw: bytes
    body: int
    content_length: int
    keep_alive: bool  # the backend connection may be reused after this response
    _drops: list[tuple[int, int]] | None  # hop-by-hop lines, as in request.py
    _locations: list[tuple[int, int]] | None  # value spans of Location/Content-Location
    _keep_alive_span: tuple[int, int] | None  # a lone "Connection: keep-alive" line

    def header(self, name: bytes) -> bytes | None:
        """First value of header ``name`` (case-insensitive), stripped; None when absent."""
        key = name.lower()
        for line in self.raw.split(b"\r\n")[1:-2]:
            field_name, _, value = line.partition(b":")
            if field_name.lower() == key:
                return value.strip(OWS)
        return None

    def __repr__(self) -> str:
        return (
            f"ResponseHead({self.status}, {self.version!r}, body={self.body}, "
            f"content_length={self.content_length}, keep_alive={self.keep_alive})"
        )


# ResponseHead's slots in the order scan_response fills them (_speedups.c, RS_*): all of them.
_C_FIELDS = (
    "status",
    "version",
    "http11",
    "raw",
    "body",
    "content_length",
    "keep_alive",
    "_drops",
    "_locations",
    "_keep_alive_span",
)
if sorted(_C_FIELDS) != sorted(ResponseHead.__slots__):  # pragma: no cover - a coding error
    raise RuntimeError("_C_FIELDS must name every slot of ResponseHead")


def parse_response_head_python(
    buf: bytes | bytearray, request_method: bytes, max_head: int = MAX_RESPONSE_HEAD
) -> tuple[ResponseHead, int] | None:
    """One response head at the start of ``buf``: (head, consumed), None for more bytes,
    HttpError(502) for anything malformed (see the module docstring). ``parse_response_head``
    is this function, or the C scanner in front of it."""
    m = _RESPONSE_HEAD_RE.match(buf)
    if m is None:
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            _walk(buf, len(buf), max_head, complete=False)
            return None
        if end + 4 > max_head:
            raise HttpError(_BAD, "response head too large")
        _walk(buf, end + 4, max_head, complete=True)
        raise HttpError(_BAD, "malformed response head")  # a guard: _walk names the problem
    stop = m.end()
    if stop > max_head:
        raise HttpError(_BAD, "response head too large")
    raw = buf if stop == len(buf) and isinstance(buf, bytes) else bytes(buf[:stop])
    version, status_bytes = m.groups()
    status = int(status_bytes)
    if not MIN_STATUS <= status <= MAX_STATUS:
        raise HttpError(_BAD, f"invalid status {status}")
    head = ResponseHead()
    head.status = status
    head.http11 = http11 = version == V11
    head.version = V11 if http11 else V10
    head.raw = raw

    content_length: bytes | None = None
    te_values: list[bytes] | None = None
    connection: list[bytes] | None = None
    drops: list[tuple[int, int]] | None = None
    locations: list[tuple[int, int]] | None = None
    upgrade_spans: list[tuple[int, int]] | None = None
    for fm in _INTERESTING_RE.finditer(raw, m.end(2)):
        code = _NAME_CODE[fm.group(1).lower()]
        if code == _CL:
            value = fm.group(2).strip(OWS)
            if content_length is not None and value != content_length:
                raise HttpError(_BAD, "different Content-Length values")
            content_length = value
        elif code == _TE:
            if te_values is None:
                te_values = []
            te_values.append(fm.group(2))
        elif code == _LOCATION:
            value = fm.group(2)
            value_start = fm.start(2) + len(value) - len(value.lstrip(OWS))
            value_end = fm.end(2) - (len(value) - len(value.rstrip(OWS)))
            if locations is None:
                locations = []
            locations.append((value_start, value_end))
        elif code == _UPGRADE:
            if upgrade_spans is None:
                upgrade_spans = []
            upgrade_spans.append((fm.start() - 1, fm.end()))
        elif code == _CONN:
            if connection is None:
                connection = []
                conn_span = (fm.start() - 1, fm.end())
            else:
                if drops is None:
                    drops = []
                drops.append(conn_span)
                conn_span = (fm.start() - 1, fm.end())
            connection.append(fm.group(2))
        else:
            if drops is None:
                drops = []
            drops.append((fm.start() - 1, fm.end()))

    close = keep_alive_option = False
    keep_alive_span: tuple[int, int] | None = None
    if connection is not None:
        common = _COMMON_CONNECTION.get(connection[0].strip(OWS).lower())
        if common is not None and len(connection) == 1:
            close, keep_alive_option = common
            if keep_alive_option:
                # The most common case by far: kept as is while the client connection
                # stays open too (it says the truth about that connection), else removed.
                keep_alive_span = conn_span
            else:
                drops = [conn_span] if drops is None else [*drops, conn_span]
        else:
            drops = [conn_span] if drops is None else [*drops, conn_span]
            extra: list[bytes] = []
            for element in b",".join(connection).split(b","):
                option = element.strip(OWS).lower()
                if not option:
                    continue
                if not TOKEN_RE.fullmatch(option):
                    raise HttpError(_BAD, f"invalid Connection element {option[:40]!r}")
                if option == b"close":
                    close = True
                elif option == b"keep-alive":
                    keep_alive_option = True
                elif option not in _KEPT_OPTIONS:
                    extra.append(option)
            if extra:
                assert drops is not None
                drops.extend(_spans_of(raw, extra))
    if upgrade_spans is not None and status != 101:
        drops = upgrade_spans if drops is None else drops + upgrade_spans
    if drops is not None and len(drops) > 1:
        drops.sort()
    head._drops = drops
    head._locations = locations
    head._keep_alive_span = keep_alive_span

    if te_values is not None:
        if content_length is not None:
            raise HttpError(_BAD, "Content-Length with Transfer-Encoding")
        codings = [e.strip(OWS).lower() for v in te_values for e in v.split(b",")]
        if codings != [CHUNKED]:
            raise HttpError(_BAD, f"transfer coding {b', '.join(codings)[:60]!r}")
    length = 0
    if content_length is not None:
        if (
            not DIGITS_RE.fullmatch(content_length)
            or len(content_length) > MAX_CONTENT_LENGTH_DIGITS
        ):
            raise HttpError(_BAD, f"invalid Content-Length {content_length[:40]!r}")
        length = int(content_length)

    if status < 200 or status in (204, 304) or request_method == b"HEAD":
        body = BODY_NONE
        length = 0
    elif te_values is not None:
        body = BODY_CHUNKED
    elif content_length is not None:
        body = BODY_LENGTH if length else BODY_NONE
    else:
        body = BODY_UNTIL_CLOSE
    head.body = body
    head.content_length = length
    keep_alive = not close and (http11 or keep_alive_option)
    head.keep_alive = keep_alive and body != BODY_UNTIL_CLOSE and status != 101
    return head, stop


class ParseResponseHead(Protocol):
    def __call__(
        self, buf: bytes | bytearray, request_method: bytes, max_head: int = ...
    ) -> tuple[ResponseHead, int] | None: ...


parse_response_head: ParseResponseHead
if speedups is not None:
    speedups.bind_response(ResponseHead, _C_FIELDS, parse_response_head_python, MAX_RESPONSE_HEAD)
    parse_response_head = speedups.parse_response_head
else:  # pragma: no cover - depends on the install
    parse_response_head = parse_response_head_python


def _spans_of(raw: bytes, names: list[bytes]) -> list[tuple[int, int]]:
    alternatives = b"|".join(re.escape(name) for name in names)
    pattern = re.compile(rb"\r\n(?i:" + alternatives + rb"):[^\r]*")
    return [m.span() for m in pattern.finditer(raw, raw.index(b"\r\n"))]


def _walk(buf: bytes | bytearray, stop: int, max_head: int, *, complete: bool) -> None:
    """Raise 502 at the first problem of buf[:stop], line by line (see request._walk)."""
    pos = 0
    first = True
    while True:
        nl = buf.find(b"\n", pos, stop)
        if nl < 0:
            break
        if nl == pos or buf[nl - 1] != 0x0D:
            raise HttpError(_BAD, "bare LF in response head")
        line = bytes(buf[pos : nl - 1])
        if b"\r" in line:
            raise HttpError(_BAD, "bare CR in response head")
        if first:
            if not _STATUS_LINE_RE.fullmatch(line):
                raise HttpError(_BAD, f"malformed status line {line[:60]!r}")
            first = False
        elif not line:
            return
        else:
            _check_field_line(line, _BAD)
        pos = nl + 1
    if complete:
        return
    tail = bytes(buf[pos:stop])
    if tail.endswith(b"\r"):
        tail = tail[:-1]
    if b"\r" in tail:
        raise HttpError(_BAD, "bare CR in response head")
    if first and not b"HTTP/1.".startswith(tail[:7]):
        raise HttpError(_BAD, f"malformed status line {tail[:60]!r}")
    if not first and not FIELD_LINE_PREFIX_RE.fullmatch(tail):
        _check_field_line(tail, _BAD)
    if stop > max_head:
        raise HttpError(_BAD, "response head too large")


def client_response_head_python(
    resp: ResponseHead,
    keep_alive: bool,
    client_http11: bool,
    location_rewrite: tuple[bytes, bytes] | None = None,
) -> bytes:
    """The head to send the client (``client_response_head`` is this function, or the C
    version in front of it, which answers the cases with nothing to drop or rewrite).

    Hop-by-hop headers are removed (Connection and what it names, Keep-Alive,
    Proxy-Connection, TE, Trailer, Upgrade except in a 101). ``Connection: close`` is added
    when the client connection closes after this response, ``Connection: keep-alive`` when
    an HTTP/1.0 client keeps it; a 101 gets ``Connection: Upgrade`` and other 1xx nothing.
    ``keep_alive`` is the shell's decision: the client asked for it, and the response is
    delimited (not BODY_UNTIL_CLOSE). ``location_rewrite=(old, new)`` replaces a leading
    ``old`` in Location and Content-Location by ``new`` (Pound's RewriteLocation).
    Returns ``resp.raw`` itself when nothing changes.
    """
    raw = resp.raw
    status = resp.status
    keep_alive_span = resp._keep_alive_span
    drops = resp._drops
    if status == 101:
        added = b"Connection: Upgrade\r\n"
    elif status < 200:
        added = b""
    elif not keep_alive:
        added = b"Connection: close\r\n"
    elif keep_alive_span is not None:
        # The backend's own "Connection: keep-alive" is true of the client connection too.
        added = b""
        keep_alive_span = None
    elif not client_http11:
        added = b"Connection: keep-alive\r\n"
    else:
        added = b""
    if keep_alive_span is not None:
        drops = [keep_alive_span] if drops is None else sorted([*drops, keep_alive_span])
    edits: list[tuple[int, int, bytes]] = []
    if drops is not None:
        edits = [(start, end, b"") for start, end in drops]
    if location_rewrite is not None and resp._locations is not None:
        old, new = location_rewrite
        for start, end in resp._locations:
            if raw.startswith(old, start, end):
                edits.append((start, start + len(old), new))
        edits.sort()
    if not edits:
        if not added:
            return raw
        return raw[:-2] + added + b"\r\n"
    pieces: list[bytes] = []
    pos = 0
    for start, end, replacement in edits:
        pieces += (raw[pos:start], replacement)
        pos = end
    pieces += (raw[pos:-2], added, b"\r\n")
    return b"".join(pieces)


client_response_head = with_c("client_response_head", client_response_head_python)

_TRANSFER_ENCODING_LINE_RE = re.compile(rb"\r\n(?i:transfer-encoding):[^\r]*")


def dechunked_head(head: bytes, length: int | None) -> bytes:
    """A client head (from ``client_response_head``) for a chunked body sent decoded:
    without Transfer-Encoding, and with ``Content-Length: length`` when the whole body is
    known (None: the body ends when the connection closes, which the head already says)."""
    out = _TRANSFER_ENCODING_LINE_RE.sub(b"", head)
    if length is None:
        return out
    return b"%sContent-Length: %d\r\n\r\n" % (out[:-2], length)
