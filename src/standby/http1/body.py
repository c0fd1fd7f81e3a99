"""Pass-through body framers: find where a message body ends, validating as bytes pass.

``feed(data)`` returns (bytes of this message to forward now, bytes after its end). The bytes
forwarded are the bytes received (chunk framing included), so a body costs no copies beyond
the slicing at its end. ``ChunkedBody`` forwards only validated bytes: an incomplete chunk-size
or trailer line is held back until it is complete, so a message whose first chunk line is bad
forwards nothing at all. Two exceptions to "as received": a trailer field that may not be a
trailer (``FORBIDDEN_TRAILER_FIELDS``) is cut out, and ``DechunkedBody`` gives the payload
alone, for a client that cannot read chunked framing (HTTP/1.0).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from standby.http1._grammar import FIELD_LINE_RE, QUOTED_STRING, TOKEN
from standby.http1.errors import HttpError
from standby.http1.fastpath import with_c

# A chunk-size line with extensions; 4 KiB is far beyond any real extension use.
MAX_CHUNK_LINE = 4096
# 16 hex digits hold any 64-bit size; more (even leading zeros) only probe parser overflow.
MAX_CHUNK_SIZE_DIGITS = 16
# The trailer section, all lines together: trailers are rare and small.
MAX_TRAILER = 16384

# No whitespace around ";" and "=": RFC 9112 allows BWS there, but llhttp (Node.js) and
# other backends refuse it, and extensions are unused in practice, so strict costs nothing.
_CHUNK_LINE_RE = re.compile(
    rb"([0-9A-Fa-f]{1,%d})" % MAX_CHUNK_SIZE_DIGITS
    + rb"(?:;"
    + TOKEN
    + rb"(?:=(?:"
    + TOKEN
    + rb"|"
    + QUOTED_STRING
    + rb"))?)*"
)

# Trailer fields never forwarded (RFC 9110 6.5.1: a field whose evaluation is needed before
# the content, or that controls the message or the connection, must not be sent in, and
# cannot be taken from, a trailer; a recipient that merged it into the header section would
# be fooled). Matched case-insensitively, ``_`` read as ``-``: CGI and WSGI backends see
# ``Content_Length`` as ``Content-Length``.
FORBIDDEN_TRAILER_FIELDS: frozenset[bytes] = frozenset(
    {
        # message framing (RFC 9112 6)
        b"transfer-encoding",
        b"content-length",
        b"trailer",
        # routing
        b"host",
        b"forwarded",
        b"http2-settings",
        # request modifiers: controls (RFC 9110 7.6.2, 10.1, 13.1) and caching (RFC 9111)
        b"cache-control",
        b"expect",
        b"max-forwards",
        b"pragma",
        b"range",
        b"te",
        b"if-match",
        b"if-none-match",
        b"if-modified-since",
        b"if-unmodified-since",
        b"if-range",
        # authentication and state (RFC 9110 11, RFC 6265)
        b"authorization",
        b"proxy-authorization",
        b"www-authenticate",
        b"proxy-authenticate",
        b"cookie",
        b"set-cookie",
        # response control data (RFC 9110 10.2, RFC 9111 5)
        b"age",
        b"expires",
        b"date",
        b"location",
        b"retry-after",
        b"vary",
        b"warning",
        # content metadata needed to process the content (RFC 9110 8)
        b"content-encoding",
        b"content-type",
        b"content-range",
        # hop-by-hop (RFC 9110 7.6.1)
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"upgrade",
    }
)
# Every field with this prefix is set by proxies about the connection: never a trailer.
FORBIDDEN_TRAILER_PREFIX = b"x-forwarded-"


def forbidden_trailer(name: bytes) -> bool:
    """Whether a trailer field named ``name`` must not be forwarded."""
    key = name.lower().replace(b"_", b"-")
    return key in FORBIDDEN_TRAILER_FIELDS or key.startswith(FORBIDDEN_TRAILER_PREFIX)


# ChunkedBody states; _STEPS below is the transition table.
_SIZE, _DATA, _DATA_CR, _DATA_LF, _TRAILER, _DONE = range(6)


class LengthBody:
    """A body of exactly ``length`` bytes."""

    __slots__ = ("_length", "_remaining")

    def __init__(self, length: int) -> None:
        self._length = length
        self._remaining = length

    @property
    def done(self) -> bool:
        return self._remaining == 0

    @property
    def received(self) -> int:
        return self._length - self._remaining

    def feed(self, data: bytes) -> tuple[bytes, bytes]:
        remaining = self._remaining
        if len(data) <= remaining:
            self._remaining = remaining - len(data)
            return data, b""
        self._remaining = 0
        return data[:remaining], data[remaining:]


class UntilCloseBody:
    """A response body that ends when the backend closes; the shell calls ``finish()``."""

    __slots__ = ("done", "received")

    def __init__(self) -> None:
        self.done = False
        self.received = 0

    def feed(self, data: bytes) -> tuple[bytes, bytes]:
        self.received += len(data)
        return data, b""

    def finish(self) -> None:
        self.done = True


class ChunkedBody:
    """Chunked framing (RFC 9112 section 7.1), forwarded as received, less the trailer
    fields that must not be forwarded (``FORBIDDEN_TRAILER_FIELDS``).

    Errors raise HttpError(``error_status``): 400 for a request, 502 for a response. With
    ``max_body`` > 0, a chunk that would take the body past it raises 413 before any of its
    bytes are forwarded. ``edited``: a trailer line was cut (what went out is not what came).
    """

    __slots__ = (
        "_cuts",
        "_held",
        "_max_body",
        "_remaining",
        "_state",
        "_status",
        "_trailer",
        "edited",
        "received",
    )

    def __init__(self, *, error_status: int = 400, max_body: int = 0) -> None:
        self._state = _SIZE
        self._remaining = 0  # data bytes left in the current chunk
        self._held = b""  # an incomplete line, not yet validated
        self._status = error_status
        self._max_body = max_body
        self._trailer = 0  # trailer bytes seen
        self._cuts: list[tuple[int, int]] | None = None  # spans of this feed's buffer to drop
        self.edited = False
        self.received = 0  # chunk data bytes (the decoded body size)

    @property
    def done(self) -> bool:
        return self._state == _DONE

    def feed(self, data: bytes) -> tuple[bytes, bytes]:
        if self._state == _DONE:
            return b"", data
        held = self._held
        buf = held + data if held else data
        n = len(buf)
        pos = 0
        steps = _STEPS
        while pos < n:
            nxt = steps[self._state](self, buf, pos)
            if nxt < 0:  # an incomplete line: keep it for the next feed
                self._held = buf[pos:]
                return self._out(buf, pos), b""
            pos = nxt
            if self._state == _DONE:
                self._held = b""
                return self._out(buf, pos), buf[pos:]
        self._held = b""
        return self._out(buf, n), b""

    def _out(self, buf: bytes, end: int) -> bytes:
        """buf[:end], less the trailer lines cut from it."""
        cuts = self._cuts
        if cuts is None:
            return buf if end == len(buf) else buf[:end]
        self._cuts = None
        pieces: list[bytes] = []
        pos = 0
        for start, stop in cuts:
            pieces.append(buf[pos:start])
            pos = stop
        pieces.append(buf[pos:end])
        return b"".join(pieces)

    def _fail(self, reason: str) -> HttpError:
        self._state = _DONE  # nothing more is accepted from this message
        return HttpError(self._status, reason)

    def _line(self, buf: bytes, pos: int, limit: int) -> int:
        """End (index of LF) of the CRLF line at pos, -1 when incomplete; raises on bad ends."""
        nl = buf.find(b"\n", pos, pos + limit + 2)
        if nl < 0:
            if len(buf) - pos > limit + 1:
                raise self._fail("chunk or trailer line too long")
            cr = buf.find(b"\r", pos, len(buf) - 1)
            if cr >= 0:
                raise self._fail("bare CR in chunk framing")
            return -1
        if nl == pos or buf[nl - 1] != 0x0D:
            raise self._fail("bare LF in chunk framing")
        if buf.find(b"\r", pos, nl - 1) >= 0:
            raise self._fail("bare CR in chunk framing")
        return nl

    def _size(self, buf: bytes, pos: int) -> int:
        nl = self._line(buf, pos, MAX_CHUNK_LINE)
        if nl < 0:
            return -1
        m = _CHUNK_LINE_RE.fullmatch(buf, pos, nl - 1)
        if m is None:
            raise self._fail(f"bad chunk line {buf[pos : min(nl, pos + 40)]!r}")
        size = int(m.group(1), 16)
        if self._max_body and self.received + size > self._max_body:
            self._state = _DONE
            raise HttpError(413, "chunked body over the limit")
        self.received += size
        if size:
            self._remaining = size
            self._state = _DATA
        else:
            self._state = _TRAILER
        return nl + 1

    def _data(self, buf: bytes, pos: int) -> int:
        take = min(self._remaining, len(buf) - pos)
        self._remaining -= take
        if self._remaining == 0:
            self._state = _DATA_CR
        return pos + take

    def _data_cr(self, buf: bytes, pos: int) -> int:
        if buf[pos] != 0x0D:
            raise self._fail("missing CRLF after chunk data")
        self._state = _DATA_LF
        return pos + 1

    def _data_lf(self, buf: bytes, pos: int) -> int:
        if buf[pos] != 0x0A:
            raise self._fail("missing CRLF after chunk data")
        self._state = _SIZE
        return pos + 1

    def _trailer_line(self, buf: bytes, pos: int) -> int:
        nl = self._line(buf, pos, MAX_TRAILER - self._trailer)
        if nl < 0:
            return -1
        self._trailer += nl + 1 - pos
        if nl - 1 == pos:
            self._state = _DONE
        elif not FIELD_LINE_RE.fullmatch(buf, pos, nl - 1):
            raise self._fail(f"bad trailer line {buf[pos : min(nl, pos + 40)]!r}")
        elif forbidden_trailer(buf[pos : buf.index(b":", pos)]):
            self.edited = True
            if self._cuts is None:
                self._cuts = [(pos, nl + 1)]
            else:
                self._cuts.append((pos, nl + 1))
        return nl + 1


class DechunkedBody(ChunkedBody):
    """Chunked framing validated as ``ChunkedBody`` does, decoded: ``feed`` gives the
    payload alone (no chunk lines, no trailer), for a client that cannot read chunked
    framing (HTTP/1.0, RFC 9112 7.1: a recipient that removes the coding may drop the
    trailer fields)."""

    __slots__ = ()

    def feed(self, data: bytes) -> tuple[bytes, bytes]:
        if self._state == _DONE:
            return b"", data
        held = self._held
        buf = held + data if held else data
        n = len(buf)
        pos = 0
        steps = _STEPS
        payload: list[bytes] = []
        while pos < n:
            state = self._state
            nxt = steps[state](self, buf, pos)
            if nxt < 0:
                self._held = buf[pos:]
                break
            if state == _DATA:
                payload.append(buf[pos:nxt])
            pos = nxt
            if self._state == _DONE:
                self._held = b""
                self._cuts = None
                return b"".join(payload), buf[pos:]
        else:
            self._held = b""
        self._cuts = None
        return b"".join(payload), b""


_STEPS: tuple[Callable[[ChunkedBody, bytes, int], int], ...] = (
    ChunkedBody._size,
    ChunkedBody._data,
    ChunkedBody._data_cr,
    ChunkedBody._data_lf,
    ChunkedBody._trailer_line,
)


def chunked_end_python(data: bytes, start: int) -> int:
    """Where the chunked body that starts at ``start`` ends (just past its last CRLF), when
    it ends within ``data``, is well framed and can go out as received; -1 otherwise (more
    to come, an error, or a trailer field to cut: whoever reads the body with a
    ``ChunkedBody`` will say which, and cut it)."""
    body = ChunkedBody(error_status=502)
    try:
        _, extra = body.feed(data[start:])
    except HttpError:
        return -1
    return len(data) - len(extra) if body.done and not body.edited else -1


# The C fast path (_speedups.c) takes the plain shape (no extension, no trailer) and calls
# chunked_end_python for the rest; tests/http1/test_speedups.py compares the two.
chunked_end = with_c("chunked_end", chunked_end_python)
