"""Stored copies: what is kept of a response, how it is given back, how it is written down.

Pure: bytes in, bytes out. The store (``standby.cache.store``) does the I/O.

- ``stored_head`` keeps the status line (as HTTP/1.1: we are the sender now) and the
  end-to-end header lines; hop-by-hop headers, the framing (Content-Length,
  Transfer-Encoding) and Age go, since ``render`` recomputes them.
- ``dechunk`` decodes a complete chunked body (trailers are dropped, as RFC 9112 7.1.2
  allows), so a copy is always re-framed with Content-Length.
- ``render`` gives the copy as the client gets it: ``Age`` added, Content-Length set (not
  for a 204), Connection as the client connection needs it.
- ``encode`` / ``decode``: the file format of one entry, with a SHA-256 of the whole record so
  that a torn or corrupt file (no fsync before the rename) is detected, never served.
"""

from __future__ import annotations

import hashlib
import re
import struct
import zlib
from dataclasses import dataclass

# Hop-by-hop (RFC 9110 7.6.1) and framing headers, plus Age: recomputed by render().
_DROPPED = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"content-length",
        b"age",
    }
)
_OWS = b" \t"
# An Age beyond 2**31 s (68 years) is nonsense; RFC 9111 1.2.2 caps delta-seconds there too.
MAX_AGE_VALUE = 2**31
_DIGITS_RE = re.compile(rb"[0-9]+")
_CHUNK_SIZE_RE = re.compile(rb"([0-9A-Fa-f]{1,16})(?:;[^\r\n]*)?")

# Per entry bookkeeping (object headers, dict slot, list node) counted against the budget,
# so that many tiny entries cannot hold far more memory than Size says.
ENTRY_OVERHEAD = 256

FILE_MAGIC = b"standby-stale/1\n"
# stored_at (wall seconds), initial age, status, key length, head length, body length.
_FILE_HEADER = struct.Struct("<dIHIII")
_DIGEST_SIZE = 32
FILE_PREFIX_SIZE = len(FILE_MAGIC) + _FILE_HEADER.size


class CorruptEntry(ValueError):
    """A file that does not hold one complete, intact entry."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One stored copy. ``head`` is the status line and header lines, each ending in CRLF,
    without the empty line; ``stored_at`` is wall-clock seconds (it survives restarts)."""

    key: bytes
    status: int
    head: bytes
    body: bytes
    stored_at: float
    initial_age: int = 0  # the Age the response already had when it reached us

    @property
    def object_size(self) -> int:
        """What ``MaxObject`` limits: the stored head and body."""
        return len(self.head) + len(self.body)

    @property
    def cost(self) -> int:
        """What the entry counts against ``Size``."""
        return len(self.key) + len(self.head) + len(self.body) + ENTRY_OVERHEAD

    def age(self, now: float) -> int:
        """Seconds of age to announce at wall time ``now`` (RFC 9111 4.2.3, without the
        Date-based apparent age: backend clocks are not trusted)."""
        resident = max(0, int(now - self.stored_at))  # the wall clock may step back
        return min(self.initial_age + resident, MAX_AGE_VALUE)


def stored_head(raw: bytes) -> tuple[bytes, int]:
    """The head to keep from a validated raw response head, and the Age it carried."""
    lines = raw.split(b"\r\n")
    status_line = lines[0]
    _, _, rest = status_line.partition(b" ")
    kept = [b"HTTP/1.1 " + rest]
    fields: list[tuple[bytes, bytes]] = []
    named: set[bytes] = set()
    initial_age = 0
    for line in lines[1:]:
        if not line:
            break
        name, _, value = line.partition(b":")
        lname = name.lower()
        if lname == b"connection":
            named.update(e.strip(_OWS).lower() for e in value.split(b","))
        elif lname == b"age":
            age = value.strip(_OWS)
            if _DIGITS_RE.fullmatch(age):
                initial_age = min(int(age), MAX_AGE_VALUE)
        fields.append((lname, line))
    for lname, line in fields:
        if lname not in _DROPPED and lname not in named:
            kept.append(line)
    kept.append(b"")
    return b"\r\n".join(kept), initial_age


def dechunk(data: bytes) -> bytes | None:
    """The decoded body of a complete chunked message body; None if incomplete, malformed
    or followed by extra bytes."""
    parts: list[bytes] = []
    pos = 0
    n = len(data)
    while True:
        nl = data.find(b"\r\n", pos)
        if nl < 0:
            return None
        m = _CHUNK_SIZE_RE.fullmatch(data, pos, nl)
        if m is None:
            return None
        size = int(m.group(1), 16)
        pos = nl + 2
        if size == 0:
            break
        end = pos + size
        if end + 2 > n or data[end : end + 2] != b"\r\n":
            return None
        parts.append(data[pos:end])
        pos = end + 2
    while True:  # trailer lines, then the empty line
        nl = data.find(b"\r\n", pos)
        if nl < 0:
            return None
        if nl == pos:
            return b"".join(parts) if nl + 2 == n else None
        pos = nl + 2


def render(
    entry: Entry,
    now: float,
    head_only: bool,
    *,
    keep_alive: bool = True,
    client_http11: bool = True,
) -> bytes:
    """The stored response as the client gets it at wall time ``now``; ``head_only`` for a
    HEAD request (same head, Content-Length of the GET body, no body). ``keep_alive`` and
    ``client_http11`` choose the Connection header as ``http1.client_response_head`` does."""
    added = b"Age: %d\r\n" % entry.age(now)
    if entry.status != 204:  # RFC 9110 8.6: never a Content-Length in a 204
        added += b"Content-Length: %d\r\n" % len(entry.body)
    if not keep_alive:
        added += b"Connection: close\r\n"
    elif not client_http11:
        added += b"Connection: keep-alive\r\n"
    if head_only:
        return entry.head + added + b"\r\n"
    return b"".join((entry.head, added, b"\r\n", entry.body))


def encode(entry: Entry) -> bytes:
    """The file contents of an entry."""
    record = pack(entry)
    return record + hashlib.sha256(record).digest()


def pack(entry: Entry) -> bytes:
    """An entry as a record for another process: the file format without its checksum (a
    socketpair neither tears nor flips bytes; hashing every copy in every process would
    cost the supervisor for nothing)."""
    return b"".join(
        (
            FILE_MAGIC,
            _FILE_HEADER.pack(
                entry.stored_at,
                entry.initial_age,
                entry.status,
                len(entry.key),
                len(entry.head),
                len(entry.body),
            ),
            entry.key,
            entry.head,
            entry.body,
        )
    )


def decode_stored_at(prefix: bytes) -> float | None:
    """The ``stored_at`` of the file whose first ``FILE_PREFIX_SIZE`` bytes are given."""
    if len(prefix) < FILE_PREFIX_SIZE or not prefix.startswith(FILE_MAGIC):
        return None
    stored_at: float = _FILE_HEADER.unpack_from(prefix, len(FILE_MAGIC))[0]
    return stored_at


def decode(data: bytes) -> Entry:
    """The entry a file holds; CorruptEntry for anything else."""
    if len(data) < FILE_PREFIX_SIZE + _DIGEST_SIZE or not data.startswith(FILE_MAGIC):
        raise CorruptEntry("not a stale fallback entry")
    record, digest = data[:-_DIGEST_SIZE], data[-_DIGEST_SIZE:]
    if hashlib.sha256(record).digest() != digest:
        raise CorruptEntry("checksum mismatch")
    return _decode_record(record)


def _decode_record(record: bytes) -> Entry:
    if len(record) < FILE_PREFIX_SIZE or not record.startswith(FILE_MAGIC):
        raise CorruptEntry("not a stale fallback entry")
    stored_at, initial_age, status, key_len, head_len, body_len = _FILE_HEADER.unpack_from(
        record, len(FILE_MAGIC)
    )
    if FILE_PREFIX_SIZE + key_len + head_len + body_len != len(record):
        raise CorruptEntry("lengths do not add up")
    pos = FILE_PREFIX_SIZE
    key = record[pos : pos + key_len]
    head = record[pos + key_len : pos + key_len + head_len]
    body = record[pos + key_len + head_len :]
    if not head.startswith(b"HTTP/1.1 ") or not head.endswith(b"\r\n"):
        raise CorruptEntry("not a response head")
    return Entry(key, status, head, body, stored_at, initial_age)


def unpack(record: bytes) -> Entry:
    """The entry a record holds; CorruptEntry for anything else."""
    return _decode_record(record)


def body_digest(body: bytes) -> int:
    """A short fingerprint of a body: which version of a copy a freshness message confirms
    (not a security measure: a collision only misdates one copy)."""
    return zlib.crc32(body)


def same_content(old: Entry, new: Entry) -> bool:
    """True when ``new`` says what ``old`` says: same status, body and header lines but
    for ``Date`` (which changes on every response): it only makes ``old`` fresher."""
    if old.status != new.status or old.body != new.body:
        return False
    if old.head == new.head:
        return True
    return _without_date(old.head) == _without_date(new.head)


def _without_date(head: bytes) -> list[bytes]:
    return [line for line in head.split(b"\r\n") if line[:5].lower() != b"date:"]
