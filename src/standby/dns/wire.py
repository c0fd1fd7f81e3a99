"""DNS messages on the wire (RFC 1035, RFC 3596 AAAA, RFC 2782 SRV): a query out, the
records of an answer in. Pure: bytes to values, no sockets.

Only what a stub resolver for dynamic backends needs: one question per query, recursion
desired; the answer section's A, AAAA, CNAME and SRV records (others are skipped by their
length), compressed names followed with a bound on the pointers. Anything malformed is a
``WireError``: the resolver treats it as a failed lookup, never as an empty answer.
"""

from __future__ import annotations

import enum
import ipaddress
import struct
from dataclasses import dataclass

# RFC 1035 2.3.4: a name is at most 255 bytes on the wire, a label at most 63.
MAX_NAME = 255
MAX_LABEL = 63
# Compression pointers followed while reading one name: a name has at most 127 labels,
# so more pointers than that is a loop.
MAX_POINTERS = 127
# RFC 1035 4.2.1: what a UDP answer may hold without EDNS; longer ones come truncated.
UDP_SIZE = 512
HEADER = struct.Struct("!HHHHHH")
_QUESTION_TAIL = struct.Struct("!HH")
_RECORD_HEAD = struct.Struct("!HHIH")
_SRV_HEAD = struct.Struct("!HHH")
CLASS_IN = 1
FLAG_QR = 0x8000
FLAG_TC = 0x0200
FLAG_RD = 0x0100
RCODE_MASK = 0x000F


class RType(enum.IntEnum):
    A = 1
    CNAME = 5
    AAAA = 28
    SRV = 33


class Rcode(enum.IntEnum):
    NOERROR = 0
    FORMERR = 1
    SERVFAIL = 2
    NXDOMAIN = 3
    NOTIMP = 4
    REFUSED = 5


class WireError(ValueError):
    """A message that is not a well-formed DNS message (or not the answer asked for)."""


@dataclass(frozen=True, slots=True)
class Srv:
    priority: int
    weight: int
    port: int
    target: str


@dataclass(frozen=True, slots=True)
class Record:
    """One resource record of the answer section. ``data``: the address as text (A,
    AAAA), the canonical name (CNAME) or an ``Srv``; None for other types."""

    name: str  # lower case, without the final dot
    rtype: int
    ttl: int
    data: str | Srv | None


@dataclass(frozen=True, slots=True)
class Answer:
    ident: int
    truncated: bool
    rcode: int
    records: tuple[Record, ...]


def normalise(name: str) -> str:
    """``name`` as records carry it: lower case (RFC 4343), without the final dot."""
    return name.rstrip(".").lower()


def encode_name(name: str) -> bytes:
    """``name`` as labels; WireError for an empty label, a label or name too long, or
    characters outside ASCII (IDNs are written in their ``xn--`` form)."""
    text = normalise(name)
    out = bytearray()
    if text:
        for label in text.split("."):
            try:
                raw = label.encode("ascii")
            except UnicodeEncodeError:
                raise WireError(f"{name!r}: not an ASCII name") from None
            if not raw or len(raw) > MAX_LABEL:
                raise WireError(f"{name!r}: a label is empty or longer than {MAX_LABEL}")
            out.append(len(raw))
            out += raw
    out.append(0)
    if len(out) > MAX_NAME:
        raise WireError(f"{name!r}: longer than {MAX_NAME} bytes")
    return bytes(out)


def encode_query(ident: int, name: str, rtype: int) -> bytes:
    """A query for ``name``/``rtype`` (class IN), recursion desired."""
    header = HEADER.pack(ident & 0xFFFF, FLAG_RD, 1, 0, 0, 0)
    return header + encode_name(name) + _QUESTION_TAIL.pack(rtype, CLASS_IN)


def _read_name(data: bytes, pos: int) -> tuple[str, int]:
    """The name at ``pos`` and the position after it (after the first pointer, if any)."""
    labels: list[str] = []
    size = 0
    end = -1
    pointers = 0
    while True:
        if pos >= len(data):
            raise WireError("name runs past the message")
        length = data[pos]
        if length & 0xC0 == 0xC0:
            if pos + 1 >= len(data):
                raise WireError("truncated compression pointer")
            pointers += 1
            if pointers > MAX_POINTERS:
                raise WireError("compression pointers loop")
            if end < 0:
                end = pos + 2
            pos = ((length & 0x3F) << 8) | data[pos + 1]
            continue
        if length & 0xC0:
            raise WireError(f"unknown label type {length:#x}")
        pos += 1
        if length == 0:
            break
        label = data[pos : pos + length]
        if len(label) != length:
            raise WireError("label runs past the message")
        size += length + 1
        if size + 1 > MAX_NAME:
            raise WireError(f"name longer than {MAX_NAME} bytes")
        labels.append(label.decode("latin-1").lower())
        pos += length
    return ".".join(labels), (end if end >= 0 else pos)


def _record_data(data: bytes, rtype: int, start: int, length: int) -> str | Srv | None:
    rdata = data[start : start + length]
    if rtype == RType.A:
        if length != 4:
            raise WireError(f"A record of {length} bytes")
        return str(ipaddress.IPv4Address(rdata))
    if rtype == RType.AAAA:
        if length != 16:
            raise WireError(f"AAAA record of {length} bytes")
        return str(ipaddress.IPv6Address(rdata))
    if rtype == RType.CNAME:
        name, end = _read_name(data, start)
        if end != start + length:
            raise WireError("CNAME data length does not match its name")
        return name
    if rtype == RType.SRV:
        if length < _SRV_HEAD.size + 1:
            raise WireError(f"SRV record of {length} bytes")
        priority, weight, port = _SRV_HEAD.unpack_from(data, start)
        target, end = _read_name(data, start + _SRV_HEAD.size)
        if end != start + length:
            raise WireError("SRV data length does not match its target")
        return Srv(priority, weight, port, target)
    return None


def decode_answer(data: bytes, ident: int, name: str, rtype: int) -> Answer:
    """The answer to the query ``ident``/``name``/``rtype``: WireError if ``data`` is not
    a response to that very question (a stray or spoofed datagram is not an answer)."""
    data = bytes(data)  # slices of it are addresses: bytes, whatever buffer it came in
    if len(data) < HEADER.size:
        raise WireError("shorter than a DNS header")
    got_ident, flags, qdcount, ancount, _, _ = HEADER.unpack_from(data)
    if got_ident != ident & 0xFFFF or not flags & FLAG_QR:
        raise WireError("not the answer to this query")
    truncated = bool(flags & FLAG_TC)
    if qdcount != 1:
        if truncated:  # a truncated answer may stop anywhere: only its flag matters
            return Answer(got_ident, True, flags & RCODE_MASK, ())
        raise WireError(f"{qdcount} questions in the answer")
    pos = HEADER.size
    try:
        qname, pos = _read_name(data, pos)
        if pos + _QUESTION_TAIL.size > len(data):
            raise WireError("truncated question")
        qtype, qclass = _QUESTION_TAIL.unpack_from(data, pos)
    except WireError:
        if truncated:
            return Answer(got_ident, True, flags & RCODE_MASK, ())
        raise
    if qname != normalise(name) or qtype != rtype or qclass != CLASS_IN:
        raise WireError("the answer is about another question")
    pos += _QUESTION_TAIL.size
    records: list[Record] = []
    for _ in range(ancount):
        try:
            owner, pos = _read_name(data, pos)
            if pos + _RECORD_HEAD.size > len(data):
                raise WireError("truncated record")
            rrtype, rrclass, ttl, length = _RECORD_HEAD.unpack_from(data, pos)
            pos += _RECORD_HEAD.size
            if pos + length > len(data):
                raise WireError("record data runs past the message")
        except WireError:
            if truncated:
                break  # keep what arrived whole; the caller asks again over TCP
            raise
        if rrclass == CLASS_IN:
            value = _record_data(data, rrtype, pos, length)
            # RFC 2181 8: a TTL with the top bit set is read as zero.
            records.append(Record(owner, rrtype, ttl if ttl < 1 << 31 else 0, value))
        pos += length
    return Answer(got_ident, truncated, flags & RCODE_MASK, tuple(records))
