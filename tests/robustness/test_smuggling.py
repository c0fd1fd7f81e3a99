"""Request smuggling, property-based: whatever standby forwards is what a strict parser reads.

Hypothesis builds requests with mutated framing (duplicated and obfuscated
Transfer-Encoding, conflicting or duplicated Content-Length, odd whitespace around the colon,
chunk extensions and sizes, bare LF and bare CR, mixed case, a request hidden in the body,
an extra request appended). Each goes to one proxy on a fresh connection; one recording
backend behind it reads what arrives with ``read_one``, a small strict reference parser of
RFC 9112 written here independently of ``standby.http1``.

The invariant, for each example (its requests carry a unique token in their targets):

- what reached the backend is, on every backend connection, a sequence of well-formed
  requests; the ones with this example's token are the first requests the strict parser
  reads in the client's bytes, in order, each with the same method, target, framing and
  body bytes; nothing else of the example arrives, except
- a prefix of the next request (head and part of its body) on a backend connection that is
  then closed, when that request's body is chunked (an error found inside it) or the client
  itself stopped sending mid-body;
- the client got one backend answer per forwarded request, in order; and an error status
  followed by the end of the connection when standby refused anything;
- nothing a backend could read differently arrives (issue 12): no framing or forwarding
  field spelt with ``_``, no h2c upgrade or HTTP2-Settings, and an X-Forwarded-For that ends
  with the client's address (that address alone when the client named X-Forwarded-For in
  Connection).
"""

from __future__ import annotations

import itertools
import os
import re
import socket
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.robustness.misbehaving import Action, ScriptedBackend, Then, recorded
from tests.support.backend import Backend
from tests.support.configs import one_backend
from tests.support.harness import (
    DEADLINE,
    Client,
    ProxyThread,
    Response,
    config_with_ports,
    wait_until,
)

# Several thousand examples in CI; STANDBY_SMUGGLING_EXAMPLES raises it for a longer hunt.
EXAMPLES = int(os.environ.get("STANDBY_SMUGGLING_EXAMPLES", "3000"))
# Waiting for a proxy that neither answers nor closes is a failure: fail after this long.
CLIENT_WAIT = 10.0

pytestmark = pytest.mark.timeout(600)

CONFIG = """\
Alive 600
ListenHTTP
  Address 127.0.0.1
  Port {{L0}}
  xHTTP 0
  Client 2
  Service
    BackEnd
      Address 127.0.0.1
      Port {port}
      TimeOut 5
    End
  End
End
"""


# -- the strict reference parser (RFC 9112, with the hardening issue 2 asks for) --------------

OWS = b" \t"
_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
TOKEN_RE = re.compile(_TOKEN)
# Visible ASCII only, no fragment (RFC 9112 3.2).
REQUEST_LINE_RE = re.compile(rb"(" + _TOKEN + rb") ([\x21\x22\x24-\x7e]+) (HTTP/1\.[01])")
# A Host value (RFC 3986 3.2.2), for what the generator makes: reg-name or an IPv6 literal of
# hex digits and colons, then a port.
_REG_NAME = rb"(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*"
HOST_RE = re.compile(rb"(?:\[[0-9A-Fa-f:]*:[0-9A-Fa-f:]*\]|" + _REG_NAME + rb")(?::[0-9]{0,5})?")
# absolute-form with the schemes a gateway forwards: scheme, authority, the rest.
ABSOLUTE_RE = re.compile(rb"(?i:(https?))://([^/?@]+)([/?].*)?")
DEFAULT_PORTS = {b"http": b":80", b"https": b":443"}
FIELD_RE = re.compile(
    rb"(" + _TOKEN + rb"):[ \t]*((?:[\x21-\x7e\x80-\xff]+(?:[ \t]+[\x21-\x7e\x80-\xff]+)*)?)[ \t]*"
)
_QUOTED = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
# chunk-size [ chunk-ext ], chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] ).
CHUNK_LINE_RE = re.compile(
    rb"([0-9A-Fa-f]+)((?:[ \t]*;[ \t]*"
    + _TOKEN
    + rb"(?:[ \t]*=[ \t]*(?:"
    + _TOKEN
    + rb"|"
    + _QUOTED
    + rb"))?)*)"
)
DIGITS_RE = re.compile(rb"0|[1-9][0-9]*")  # canonical: no leading zero
# A Content-Length longer than this could overflow a signed 64-bit backend: refuse it.
MAX_LENGTH_DIGITS = 18
# Trailer fields RFC 9110 6.5.1 forbids (framing, routing, authentication, response control,
# content metadata, hop-by-hop), as the generator spells them: a proxy never forwards them.
FORBIDDEN_TRAILERS = {
    b"content-length",
    b"transfer-encoding",
    b"host",
    b"authorization",
    b"set-cookie",
    b"cache-control",
    b"content-type",
    b"connection",
    b"x-forwarded-for",
}
# A chunk size over 2**64 is refused by every sane parser: treat it as an error.
MAX_CHUNK_SIZE = 1 << 64


@dataclass
class Message:
    """One request as the strict reader sees it. Offsets are into the bytes it was read
    from; ``raw_body`` is the bytes after the head up to the message's end (or up to the
    end of the data, or of what was valid, when the body did not complete)."""

    method: bytes
    target: bytes
    version: bytes
    fields: list[tuple[bytes, bytes]]
    framing: str  # "none", "length" or "chunked"
    length: int
    start: int
    head_end: int
    end: int = -1
    raw_body: bytes = b""
    body: bytes = b""
    trailers: list[tuple[bytes, bytes]] = field(default_factory=list)
    # Spans of raw_body (trailer lines with their CRLF) a proxy must cut: forbidden fields.
    cuts: list[tuple[int, int]] = field(default_factory=list)

    def values(self, name: bytes) -> list[bytes]:
        return [v for n, v in self.fields if n == name]

    def forwardable_body(self) -> bytes:
        """raw_body as a proxy must forward it: without the forbidden trailer lines."""
        pieces, pos = [], 0
        for start, end in self.cuts:
            pieces.append(self.raw_body[pos:start])
            pos = end
        pieces.append(self.raw_body[pos:])
        return b"".join(pieces)


@dataclass
class Step:
    kind: str  # "done", "incomplete" or "error"
    message: Message | None = None  # when the head was read
    reason: str = ""
    where: str = ""  # "head" or "body", for an error


class StrictError(Exception):
    pass


def _lines_ok(segment: bytes) -> list[bytes]:
    lines = segment.split(b"\r\n")
    for line in lines:
        if b"\r" in line or b"\n" in line:
            raise StrictError("bare CR or LF")
    return lines


def _head(data: bytes, start: int) -> Message | None:
    """The head at ``start`` (None: incomplete); raises StrictError."""
    end = data.find(b"\r\n\r\n", start)
    if end < 0:
        rest = data[start:]
        stripped = rest[:-1] if rest.endswith(b"\r") else rest
        _lines_ok(stripped)  # a bare CR or LF in a complete line is already an error
        return None
    lines = _lines_ok(data[start:end])
    m = REQUEST_LINE_RE.fullmatch(lines[0])
    if m is None:
        raise StrictError(f"bad request line {lines[0][:60]!r}")
    method, target, version = m.groups()
    fields = []
    for line in lines[1:]:
        fm = FIELD_RE.fullmatch(line)
        if fm is None:
            raise StrictError(f"bad field line {line[:60]!r}")
        fields.append((fm.group(1).lower(), fm.group(2)))
    hosts = [v for n, v in fields if n == b"host"]
    if version == b"HTTP/1.1" and len(hosts) != 1:
        raise StrictError("HTTP/1.1 needs exactly one Host")
    if len(hosts) > 1 or (hosts and not HOST_RE.fullmatch(hosts[0])):
        raise StrictError(f"bad Host {hosts!r}")
    if not target.startswith(b"/"):
        am = ABSOLUTE_RE.fullmatch(target)
        if am is None or not HOST_RE.fullmatch(am.group(2)):
            raise StrictError(f"target in no form a gateway forwards {target[:60]!r}")
        port = DEFAULT_PORTS[am.group(1).lower()]
        if not hosts or same_host(am.group(2), port) != same_host(hosts[0], port):
            raise StrictError("absolute-form target and Host differ")
    te = [v for n, v in fields if n == b"transfer-encoding"]
    cl = [v for n, v in fields if n == b"content-length"]
    framing, length = "none", 0
    if te:
        if version != b"HTTP/1.1":
            raise StrictError("Transfer-Encoding outside HTTP/1.1")
        if cl:
            raise StrictError("Content-Length with Transfer-Encoding")
        codings = [e.strip(OWS) for v in te for e in v.split(b",")]
        codings = [c.lower() for c in codings if c]  # empty list elements are ignored
        if not all(TOKEN_RE.fullmatch(c) for c in codings):
            raise StrictError("bad transfer coding")
        if codings != [b"chunked"]:
            raise StrictError(f"transfer codings {codings!r}: only one chunked is understood")
        framing = "chunked"
    elif cl:
        if len(cl) != 1 or not DIGITS_RE.fullmatch(cl[0]) or len(cl[0]) > MAX_LENGTH_DIGITS:
            raise StrictError(f"bad Content-Length {cl!r}")
        length = int(cl[0])
        framing = "length" if length else "none"
    return Message(method, target, version, fields, framing, length, start, end + 4)


def same_host(value: bytes, default_port: bytes) -> bytes:
    value = value.lower()
    return value[: -len(default_port)] if value.endswith(default_port) else value.rstrip(b":")


def _line(data: bytes, pos: int) -> bytes | None:
    nl = data.find(b"\r\n", pos)
    if nl < 0:
        rest = data[pos:]
        _lines_ok(rest[:-1] if rest.endswith(b"\r") else rest)
        return None
    line = data[pos:nl]
    _lines_ok(line)
    return line


def _chunked(data: bytes, msg: Message) -> Step:
    pos = msg.head_end
    body = bytearray()
    while True:
        valid_until = pos
        try:
            line = _line(data, pos)
        except StrictError as exc:
            return _body_error(data, msg, valid_until, body, str(exc))
        if line is None:
            return _body_short(data, msg, body)
        m = CHUNK_LINE_RE.fullmatch(line)
        if m is None or int(m.group(1), 16) >= MAX_CHUNK_SIZE:
            return _body_error(data, msg, valid_until, body, f"bad chunk line {line[:40]!r}")
        size = int(m.group(1), 16)
        pos += len(line) + 2
        if size == 0:
            break
        if len(data) < pos + size:
            body += data[pos:]
            return _body_short(data, msg, body)
        body += data[pos : pos + size]
        pos += size
        tail = data[pos : pos + 2]
        if tail != b"\r\n"[: len(tail)]:
            return _body_error(data, msg, pos, body, "no CRLF after chunk data")
        if len(tail) < 2:
            return _body_short(data, msg, body)
        pos += 2
    while True:  # trailer section
        valid_until = pos
        try:
            line = _line(data, pos)
        except StrictError as exc:
            return _body_error(data, msg, valid_until, body, str(exc))
        if line is None:
            return _body_short(data, msg, body)
        pos += len(line) + 2
        if not line:
            break
        tm = FIELD_RE.fullmatch(line)
        if tm is None:
            return _body_error(data, msg, valid_until, body, f"bad trailer {line[:40]!r}")
        name = tm.group(1).lower()
        msg.trailers.append((name, tm.group(2)))
        if name.replace(b"_", b"-") in FORBIDDEN_TRAILERS:
            msg.cuts.append((valid_until - msg.head_end, pos - msg.head_end))
    msg.end = pos
    msg.raw_body = data[msg.head_end : pos]
    msg.body = bytes(body)
    return Step("done", msg)


def _body_short(data: bytes, msg: Message, body: bytearray) -> Step:
    msg.raw_body = data[msg.head_end :]
    msg.body = bytes(body)
    return Step("incomplete", msg)


def _body_error(data: bytes, msg: Message, valid_until: int, body: bytearray, why: str) -> Step:
    msg.raw_body = data[msg.head_end : valid_until]
    msg.body = bytes(body)
    return Step("error", msg, why, "body")


def read_one(data: bytes, start: int = 0) -> Step:
    """The request at ``start`` (empty lines before it skipped, as RFC 9112 2.2 allows)."""
    while data.startswith(b"\r\n", start):
        start += 2
    try:
        msg = _head(data, start)
    except StrictError as exc:
        return Step("error", None, str(exc), "head")
    if msg is None:
        return Step("incomplete")
    if msg.framing == "chunked":
        return _chunked(data, msg)
    end = msg.head_end + msg.length
    if len(data) < end:
        msg.raw_body = msg.body = data[msg.head_end :]
        return Step("incomplete", msg)
    msg.end = end
    msg.raw_body = msg.body = data[msg.head_end : end]
    return Step("done", msg)


@dataclass
class Reading:
    """All the requests in a client's bytes: complete ones, then how the bytes end."""

    messages: list[Message] = field(default_factory=list)
    outcome: str = "clean"  # "clean", "incomplete", "error", or "close" (a request ended it)
    failed: Message | None = None  # the request that did not complete, if its head was read
    reason: str = ""


def persistent(msg: Message) -> bool:
    """Whether the connection carries another request after ``msg`` (RFC 9112 9.3)."""
    options = {e.strip(OWS).lower() for v in msg.values(b"connection") for e in v.split(b",")}
    if b"close" in options:
        return False
    return msg.version == b"HTTP/1.1" or b"keep-alive" in options


def read_stream(data: bytes) -> Reading:
    reading = Reading()
    pos = 0
    while True:
        while data.startswith(b"\r\n", pos):
            pos += 2
        if pos >= len(data):
            return reading
        step = read_one(data, pos)
        if step.kind != "done":
            reading.outcome = step.kind
            reading.failed = step.message
            reading.reason = f"{step.where}: {step.reason}" if step.kind == "error" else ""
            return reading
        assert step.message is not None
        reading.messages.append(step.message)
        pos = step.message.end
        if not persistent(step.message):
            reading.outcome = "close" if pos < len(data) else "clean"
            return reading


def test_reference_parser_reads_the_textbook_cases() -> None:
    """The reference parser itself, on cases whose reading RFC 9112 settles."""
    h = b"POST /a HTTP/1.1\r\nHost: x\r\n"
    ok = read_stream(h + b"Content-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
    assert [m.target for m in ok.messages] == [b"/a", b"/b"] and ok.outcome == "clean"
    assert ok.messages[0].body == b"abc"
    chunked = read_stream(
        h + b'Transfer-Encoding: Chunked\r\n\r\n3 ; x="y"\r\nabc\r\n0\r\nT: 1\r\n\r\n'
    )
    assert chunked.outcome == "clean" and chunked.messages[0].body == b"abc"
    for bad in (
        b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        b"Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
        b"Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
        b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
        b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
        b"Content-Length: +3\r\n\r\nabc",
        b"X: a\nContent-Length: 0\r\n\r\n",
    ):
        assert read_stream(h + bad).outcome == "error", bad
    late = read_stream(h + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabcXX0\r\n\r\n")
    assert late.outcome == "error" and late.failed is not None
    assert late.failed.raw_body == b"3\r\nabc"
    kept = read_stream(
        b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\n\r\n"
        b"GET /c HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    assert [m.target for m in kept.messages] == [b"/a", b"/b"] and kept.outcome == "close"
    closing = read_stream(h + b"Connection: close\r\n\r\n" + h + b"\r\n")
    assert len(closing.messages) == 1 and closing.outcome == "close"
    short = read_stream(h + b"Content-Length: 10\r\n\r\nabc")
    assert short.outcome == "incomplete" and short.failed is not None


# -- the generator ----------------------------------------------------------------------------

EOL = b"\r\n"
# Mostly right, sometimes a bare LF or CR.
EOLS = (EOL,) * 40 + (b"\n", b"\r")
TE_NAMES = (b"Transfer-Encoding",) * 8 + (
    b"transfer-encoding",
    b"TRANSFER-ENCODING",
    b"Transfer-encoding",
    b"Transfer_Encoding",
    b" Transfer-Encoding",
    b"X-Transfer-Encoding",
)
TE_VALUES = (b"chunked",) * 20 + (
    b"Chunked",
    b"CHUNKED",
    b" chunked",
    b"chunked ",
    b"\tchunked",
    b"chunked\t",
    b"chunked, chunked",
    b"chunked,chunked",
    b"identity, chunked",
    b"chunked, identity",
    b"gzip, chunked",
    b"chunked;x",
    b"chunked; q=1",
    b"xchunked",
    b"chunkedx",
    b"chunk",
    b'"chunked"',
    b"chunked, ",
    b", chunked",
    b"chunked\x0b",
    b"\x0cchunked",
    b"chunked\x00",
    b"ch unked",
    b"identity",
    b"",
)
SEPARATORS = (b": ",) * 30 + (b":", b":\t", b":  ", b" :", b"\t:", b": \t")
# Content-Length forms; {n} is the real body length.
CL_FORMS = ("{n}",) * 16 + (
    "{m}",
    "{p}",
    "0",
    "+{n}",
    "{n}, {n}",
    "{n},{p}",
    "0{n}",
    "{n}.0",
    "",
    "-1",
    "0x{n:x}",
    "99999999999999999999",
    "{n}a",
    "{n} {n}",
)
CL_NAMES = (b"Content-Length",) * 4 + (b"content-length", b"CONTENT-LENGTH", b"Content-Length ")
CHUNK_EXTS = (b"",) * 30 + (
    b";a",
    b";a=b",
    b';a="b c"',
    b";a=b;c=d",
    b" ;a",
    b"; a",
    b";a =b",
    b";a= b",
    b";",
    b";=b",
    b";a=",
    b';a="open',
    b";a=b c",
    b"\t;a",
)
# How a chunk size is written: {n} the real size.
SIZE_FORMS = ("{n:x}",) * 30 + (
    "{n:X}",
    "000{n:x}",
    "{m:x}",
    "{p:x}",
    "0x{n:x}",
    " {n:x}",
    "{n:x} ",
    "+{n:x}",
    "-{n:x}",
)
DATA_ENDS = (EOL,) * 30 + (b"\n", b"\r", b"", b"XX", b"\r\r\n")
LAST_CHUNKS = (b"0",) * 12 + (b"000", b"0;x=y", b"0 ", b"00000000000000000")
TRAILERS = ((),) * 8 + (
    (b"X-Trailer: 1",),
    (b"X-Trailer : 1",),
    (b" folded",),
    (b"Server-Timing: db;dur=53",),
    # issue 12: cut by the proxy (with what surrounds them kept)
    (b"Content-Length: 5",),
    (b"X-A: 1", b"Transfer_Encoding: chunked", b"X-B: 2"),
    (b"Host: evil",),
    (b"Authorization: Basic YTpi", b"Set-Cookie: s=1"),
    (b"cache-control: no-store",),
    (b"Content-Type: text/html", b"Connection: close"),
    (b"X-Forwarded-For: 6.6.6.6",),
)
# Placeholder for a whole request hidden in a body (the classic smuggling payload).
HIDDEN = b"\x00HIDDEN\x00"
PAYLOADS = (b"", b"hello", b"0\r\n\r\n", HIDDEN, b"x" * 40)
# How the target is written (issue 12); {t} is the path with the example's token.
TARGET_FORMS = ("{t}",) * 24 + (
    "{t}#frag",
    "{t}\xe9",
    "{t}?q=\xff",
    "http://x{t}",
    "HTTP://X:80{t}",
    "https://x{t}",
    "http://y{t}",
    "ftp://x{t}",
    "http://u@x{t}",
    "//x{t}",
)
HOST_VALUES = (b"x",) * 24 + (b"X:80", b"x:", b"x/y", b"u@x", b"x y", b"[::1]", b"x:8o", b"")
# Lines a backend could misread, each an ordered group (issue 12).
EXTRA_LINES: tuple[tuple[bytes, ...], ...] = ((),) * 12 + (
    (b"Transfer_Encoding: chunked",),
    (b"Content_Length: 3",),
    (b"X_Forwarded_For: 6.6.6.6",),
    (b"x-forwarded_port: 1",),
    (b"X_Plain: 1",),
    (b"Connection: X-Forwarded-For", b"X-Forwarded-For: 6.6.6.6"),
    (b"X-Forwarded-For: 6.6.6.6", b"Connection: keep-alive, x-forwarded-for"),
    (b"X-Forwarded-For: 6.6.6.6",),
    (b"Connection: Upgrade, HTTP2-Settings", b"Upgrade: h2c", b"HTTP2-Settings: AAMA"),
    (b"Connection: Upgrade", b"Upgrade: websocket, h2c"),
    (b"HTTP2-Settings: AAMA",),
    (b"Connection: Upgrade", b"Upgrade: websocket"),
)


@dataclass(frozen=True)
class Chunk:
    size_form: str
    ext: bytes
    line_end: bytes
    data_end: bytes


@dataclass(frozen=True)
class Case:
    """One generated request (plus, maybe, a second one after it); rendered per token."""

    leading_crlf: bool
    method: bytes
    version: bytes
    host_lines: int
    te: tuple[tuple[bytes, bytes, bytes, bytes], ...]  # name, separator, value, line end
    cl: tuple[tuple[bytes, bytes, str, bytes], ...]  # name, separator, form, line end
    padding: tuple[bytes, bytes]  # an extra header's separator and line end
    order: tuple[int, ...]
    payload: bytes
    chunked_body: bool | None  # None: chunked when a Transfer-Encoding line is there
    splits: tuple[int, ...]
    chunks: tuple[Chunk, ...]
    last_chunk: bytes
    trailers: tuple[bytes, ...]
    append: bool
    target_form: str = "{t}"
    host_value: bytes = b"x"
    extra: tuple[bytes, ...] = ()

    def render(self, token: str) -> bytes:
        t = token.encode()
        target = self.target_form.format(t=f"/s/{token}/1").encode("latin-1")
        hidden = b"GET /s/" + t + b"/9 HTTP/1.1\r\nHost: x\r\n\r\n"
        payload = self.payload.replace(HIDDEN, hidden)
        chunked = bool(self.te) if self.chunked_body is None else self.chunked_body
        body = self._chunked(payload) if chunked else payload
        n = len(body)
        lines: list[bytes] = [b"Host: " + self.host_value + EOL] * self.host_lines
        for name, sep, value, end in self.te:
            lines.append(name + sep + value + end)
        for name, sep, form, end in self.cl:
            value = form.format(n=n, m=max(n - 1, 0), p=n + 1).encode()
            lines.append(name + sep + value + end)
        lines.append(b"X-Pad" + self.padding[0] + b"p" + self.padding[1])
        if self.extra:
            lines.append(b"".join(line + EOL for line in self.extra))  # moved as one
        # ``order`` names lines to move to the front, in that order (a cheap shuffle).
        first: list[int] = []
        for i in self.order:
            if i % len(lines) not in first:
                first.append(i % len(lines))
        ordered = [lines[i] for i in first] + [x for i, x in enumerate(lines) if i not in first]
        out = (
            (EOL if self.leading_crlf else b"")
            + self.method
            + b" "
            + target
            + b" "
            + self.version
            + EOL
            + b"".join(ordered)
            + EOL
            + body
        )
        if self.append:
            out += b"GET /s/" + t + b"/2 HTTP/1.1\r\nHost: x\r\n\r\n"
        return out

    def _chunked(self, payload: bytes) -> bytes:
        pieces = []
        pos = 0
        cuts = [*sorted({min(s, len(payload)) for s in self.splits}), len(payload)]
        for i, cut in enumerate(cuts):
            part = payload[pos:cut]
            pos = cut
            if not part:
                continue
            chunk = self.chunks[i % len(self.chunks)]
            n = len(part)
            size = chunk.size_form.format(n=n, m=max(n - 1, 0), p=n + 1).encode()
            pieces.append(size + chunk.ext + chunk.line_end + part + chunk.data_end)
        pieces.append(self.last_chunk + EOL)
        pieces.extend(t + EOL for t in self.trailers)
        pieces.append(EOL)
        return b"".join(pieces)


te_lines = st.tuples(
    st.sampled_from(TE_NAMES),
    st.sampled_from(SEPARATORS),
    st.sampled_from(TE_VALUES),
    st.sampled_from(EOLS),
)
cl_lines = st.tuples(
    st.sampled_from(CL_NAMES),
    st.sampled_from(SEPARATORS),
    st.sampled_from(CL_FORMS),
    st.sampled_from(EOLS),
)
chunks = st.builds(
    Chunk,
    size_form=st.sampled_from(SIZE_FORMS),
    ext=st.sampled_from(CHUNK_EXTS),
    line_end=st.sampled_from(EOLS),
    data_end=st.sampled_from(DATA_ENDS),
)
cases = st.builds(
    Case,
    leading_crlf=st.sampled_from((False,) * 9 + (True,)),
    method=st.sampled_from((b"POST",) * 12 + (b"GET",) * 3 + (b"get", b"PoSt")),
    version=st.sampled_from((b"HTTP/1.1",) * 9 + (b"HTTP/1.0",)),
    host_lines=st.sampled_from((1,) * 30 + (0, 2)),
    te=st.lists(te_lines, max_size=2).map(tuple),
    cl=st.lists(cl_lines, max_size=2).map(tuple),
    padding=st.tuples(st.sampled_from(SEPARATORS), st.sampled_from(EOLS)),
    order=st.lists(st.integers(0, 6), max_size=6).map(tuple),
    payload=st.sampled_from(PAYLOADS) | st.binary(max_size=24),
    chunked_body=st.sampled_from((None,) * 8 + (True, False)),
    splits=st.lists(st.integers(0, 48), max_size=3).map(tuple),
    chunks=st.lists(chunks, min_size=1, max_size=3).map(tuple),
    last_chunk=st.sampled_from(LAST_CHUNKS),
    trailers=st.sampled_from(TRAILERS),
    append=st.booleans(),
    target_form=st.sampled_from(TARGET_FORMS),
    host_value=st.sampled_from(HOST_VALUES),
    extra=st.sampled_from(EXTRA_LINES),
)


# -- the recording backend --------------------------------------------------------------------

# Fields a CGI or WSGI backend reads under the same name whether spelt with "-" or "_".
SPECIAL_NAMES = {
    b"content-length",
    b"transfer-encoding",
    b"keep-alive",
    b"proxy-connection",
    b"x-forwarded-for",
    b"x-forwarded-proto",
    b"x-forwarded-port",
    b"http2-settings",
}


def arrival_problem(msg: Message) -> str | None:
    """What must never reach a backend in a request that is otherwise well-formed."""
    for name, _ in msg.trailers:
        if name.replace(b"_", b"-") in FORBIDDEN_TRAILERS:
            return f"a forbidden trailer field forwarded: {name!r}"
    for name, _ in msg.fields:
        if b"_" in name and name.replace(b"_", b"-") in SPECIAL_NAMES:
            return f"a field a CGI backend reads as {name.replace(b'_', b'-')!r}: {name!r}"
    if msg.values(b"http2-settings"):
        return "HTTP2-Settings forwarded"
    for value in msg.values(b"upgrade"):
        if any(e.strip(OWS).split(b"/")[0].lower() == b"h2c" for e in value.split(b",")):
            return "an h2c upgrade forwarded"
    return None


def strict_responder(pending: bytes) -> Action | None:
    """Answer each complete request (its target echoed in X-Token); a request the strict
    parser refuses is recorded as an error and the connection closed."""
    step = read_one(pending)
    if step.kind == "incomplete":
        return None
    if step.kind == "error":
        return Action(
            consumed=len(pending),
            send=b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            then=Then.CLOSE,
            error=f"{step.where}: {step.reason}; bytes {pending[:300]!r}",
        )
    msg = step.message
    assert msg is not None
    problem = arrival_problem(msg)
    if problem is not None:
        return Action(
            consumed=len(pending),
            send=b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            then=Then.CLOSE,
            error=f"{problem}; bytes {pending[:300]!r}",
        )
    return Action(
        consumed=msg.end,
        send=b"HTTP/1.1 200 OK\r\nX-Token: " + msg.target + b"\r\nContent-Length: 0\r\n\r\n",
        then=Then.KEEP,
        request=msg,
    )


@dataclass
class Env:
    proxy: ProxyThread
    backend: ScriptedBackend
    checked: dict[int, int] = field(default_factory=dict)  # conn -> requests already checked
    partial_seen: set[int] = field(default_factory=set)  # conns whose partial was checked
    errors_seen: dict[int, int] = field(default_factory=dict)  # conn -> errors reported
    stats: Counter[str] = field(default_factory=Counter)


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    with ScriptedBackend(strict_responder) as backend:
        config, socks = config_with_ports(CONFIG.format(port=backend.port))
        with ProxyThread(config, socks) as proxy:
            yield Env(proxy, backend)
        assert proxy.errors == []


_tokens = itertools.count()
# The client address standby adds to X-Forwarded-For.
PEER = b"127.0.0.1"


# -- one example ------------------------------------------------------------------------------


def exchange(port: int, data: bytes, reading: Reading) -> tuple[list[Response], bool]:
    """Send ``data`` on a fresh connection; read backend answers until as many as the strict
    reading expects, or until an answer made by the proxy, or the end of the connection.
    Returns the responses and whether the connection ended."""
    responses: list[Response] = []
    with Client(port, timeout=CLIENT_WAIT) as c:
        try:
            c.send(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the proxy refused before the end; its answer is readable
        if reading.outcome == "incomplete":
            # The client is done sending: a request the strict reading found unfinished
            # must not hold the proxy until its Client timeout. (Only then: after a
            # half-close standby answers the request in progress and drops the rest.)
            c.sock.shutdown(socket.SHUT_WR)
        while True:
            if (
                reading.outcome == "clean"
                and len(responses) == len(reading.messages)
                and all(r.header(b"x-token") for r in responses)
            ):
                return responses, False
            try:
                resp = c.response()
            except (ConnectionError, OSError) as exc:
                if isinstance(exc, TimeoutError):
                    raise AssertionError("the proxy neither answered nor closed") from None
                assert c.buf == b"", f"bytes after the last response: {c.buf[:200]!r}"
                return responses, True
            responses.append(resp)
            if resp.header(b"x-token") is None:
                # An answer of the proxy itself: the connection must end right after it.
                try:
                    rest = c.read_all()
                except ConnectionResetError:
                    rest = b""
                assert rest == b"", f"bytes after the proxy's error answer: {rest[:200]!r}"
                return responses, True


def check_example(env: Env, case: Case) -> None:
    tok = f"t{next(_tokens)}"
    data = case.render(tok)
    reading = read_stream(data)
    marker = f"/s/{tok}/".encode()
    responses, ended = exchange(env.proxy.port, data, reading)
    wait_until(env.backend.settled, DEADLINE, "the backend read everything")
    assert env.proxy.errors == []

    # What reached the backend for this example, and nothing of earlier ones left over.
    forwarded: list[Message] = []
    partial: list[tuple[int, bytes]] = []
    for rec in env.backend.snapshot():
        errors = rec.errors[env.errors_seen.get(rec.index, 0) :]
        env.errors_seen[rec.index] = len(rec.errors)
        assert errors == [], f"standby forwarded bytes a strict parser refuses: {errors}"
        new = rec.requests[env.checked.get(rec.index, 0) :]
        env.checked[rec.index] = len(rec.requests)
        for msg in new:
            assert isinstance(msg, Message)
            assert marker in msg.target, f"a request of another example: {msg.target!r}"
            forwarded.append(msg)
        if rec.pending and rec.index not in env.partial_seen:
            env.partial_seen.add(rec.index)
            assert marker in rec.pending, f"stray bytes on a backend connection: {rec.pending!r}"
            partial.append((rec.index, rec.pending))

    expected = reading.messages
    n = len(forwarded)
    context = f"client sent {data!r}; strict reading: {reading.outcome} {reading.reason}"
    assert [m.target for m in forwarded] == [m.target for m in expected[:n]], context
    for got, want in zip(forwarded, expected, strict=False):
        assert (got.method, got.framing, got.length) == (want.method, want.framing, want.length)
        assert got.raw_body == want.forwardable_body(), context
        assert got.body == want.body, context
        assert got.values(b"x-forwarded-for") == forwarded_for(want), context

    answers = [r.header(b"x-token") for r in responses if r.header(b"x-token") is not None]
    refusals = [r for r in responses if r.header(b"x-token") is None]
    assert answers == [m.target for m in forwarded], context
    assert all(r.status >= 400 for r in refusals), context
    if n < len(expected) or reading.outcome == "error":
        assert len(refusals) == 1 and ended, f"refused without an error answer; {context}"
    if refusals:
        env.stats["refused"] += 1

    assert len(partial) <= 1, context
    if partial:
        index, pending = partial[0]
        env.stats["prefix forwarded"] += 1
        wait_until(
            lambda: env.backend.snapshot()[index].ended,
            DEADLINE,
            "the backend connection of a broken request closed",
        )
        head = read_one(pending).message
        assert head is not None, f"a partial head was forwarded: {pending!r}; {context}"
        got = head
        if n < len(expected):
            want = expected[n]  # standby was stricter than the reference inside this body
        else:
            assert reading.failed is not None, f"forwarded a request never sent: {context}"
            want = reading.failed
        assert got.target == want.target and got.framing == want.framing, context
        assert want.framing == "chunked" or reading.outcome == "incomplete", context
        assert want.forwardable_body().startswith(got.raw_body), context
        if want is not reading.failed:
            assert len(got.raw_body) < len(want.forwardable_body()), context
    env.stats[f"strict reading {reading.outcome}"] += 1
    env.stats["requests forwarded"] += n


def forwarded_for(msg: Message) -> list[bytes]:
    """The X-Forwarded-For lines a backend must get for the client's request ``msg``: the
    client's with our address appended to the last, or ours alone when it had none or
    named X-Forwarded-For in Connection (hop-by-hop: it is not forwarded)."""
    client = msg.values(b"x-forwarded-for")
    options = {e.strip(OWS).lower() for v in msg.values(b"connection") for e in v.split(b",")}
    if not client or b"x-forwarded-for" in options:
        return [PEER]
    return [*client[:-1], client[-1] + b", " + PEER]


def test_forwarded_framing_matches_a_strict_reader(env: Env) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(case=cases)
    def examples(case: Case) -> None:
        check_example(env, case)

    with recorded(
        "request smuggling: forwarded framing equals a strict reading (property)",
        "python -m pytest tests/robustness/test_smuggling.py",
        notes="hypothesis; STANDBY_SMUGGLING_EXAMPLES sets the number of examples",
    ) as figures:
        try:
            examples()
        finally:
            figures["examples"] = sum(
                v for k, v in env.stats.items() if k.startswith("strict reading")
            )
            figures.update(sorted(env.stats.items()))


def test_pipelined_requests_before_a_half_close_each_get_a_response() -> None:
    """Two requests, then the client shuts its sending side: both get an answer. The
    first is slow (the backend holds it a second) so that the half-close surely arrives
    while it is in progress."""
    with recorded(
        "pipelined requests before a client half-close each get a response",
        "python -m pytest tests/robustness/test_smuggling.py"
        "::test_pipelined_requests_before_a_half_close_each_get_a_response",
        notes="found by the smuggling property; fixed: pending requests are served",
    ) as figures:
        with Backend("b") as backend:
            config, socks = config_with_ports(one_backend(backend.port))
            with ProxyThread(config, socks) as proxy, Client(proxy.port) as c:
                c.send(
                    b"GET /slow/1 HTTP/1.1\r\nHost: x\r\n\r\n"
                    + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
                )
                c.sock.shutdown(socket.SHUT_WR)
                answers = c.read_all().count(b"HTTP/1.1 200 ")
            assert proxy.errors == []
        figures["requests"] = 2
        figures["responses"] = answers
        assert answers == 2
