"""Feed a parser the same bytes whole and in pieces; outcomes must not depend on the split."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from standby.http1 import ChunkedBody, HttpError, LengthBody, UntilCloseBody

Parser = Callable[[bytes], Any]


def pieces(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    """``data`` cut at the given positions (any order, duplicates and out-of-range ignored)."""
    points = sorted({c for c in cuts if 0 < c < len(data)})
    out, last = [], 0
    for point in [*points, len(data)]:
        out.append(data[last:point])
        last = point
    return out


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def feed_head(parse: Parser, chunks: Sequence[bytes]) -> tuple[str, Any]:
    """Accumulate chunks into a buffer, parsing after each one, as the shell does.

    ("ok", (head, consumed)), ("error", status) or ("incomplete", None).
    """
    buf = bytearray()
    for chunk in chunks:
        buf += chunk
        try:
            result = parse(bytes(buf))
        except HttpError as exc:
            return "error", exc.status
        if result is not None:
            return "ok", result
    return "incomplete", None


def head_status(parse: Parser, data: bytes) -> int | str:
    """The status of ``data`` fed whole, asserted equal to the status fed byte by byte."""
    whole = feed_head(parse, [data])
    single = feed_head(parse, bytewise(data))
    assert whole[0] == single[0], (whole, single)
    if whole[0] == "error":
        assert whole[1] == single[1], (whole, single)
        return int(whole[1])
    return whole[0]


Framer = ChunkedBody | LengthBody | UntilCloseBody


def feed_body(framer: Framer, chunks: Sequence[bytes]) -> tuple[bytes, bytes, int | None]:
    """(forwarded bytes, bytes after the message, error status or None)."""
    forwarded = bytearray()
    after = bytearray()
    for chunk in chunks:
        if framer.done:
            after += chunk
            continue
        try:
            fwd, rest = framer.feed(chunk)
        except HttpError as exc:
            return bytes(forwarded), bytes(after), exc.status
        forwarded += fwd
        after += rest
    return bytes(forwarded), bytes(after), None
