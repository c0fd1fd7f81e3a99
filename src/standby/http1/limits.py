"""Size limits for request heads, per listener."""

from __future__ import annotations

from dataclasses import dataclass, field

# Apache's and nginx's request-line buffer is 8 KiB; longer lines are abuse, not browsers.
MAX_REQUEST_LINE = 8192
# RFC 9112 section 3 recommends supporting targets of at least 8000 octets.
MAX_URI = 8000
# Apache's LimitRequestFieldSize is 8190: big cookies fit, header floods do not.
MAX_HEADER_LINE = 8192
# Apache's LimitRequestFields is 100; browsers send about 15.
MAX_HEADER_COUNT = 100
# Whole head including leading empty lines: 64 KiB bounds the memory one client can pin.
MAX_HEAD = 65536
# Smallest header line "a:" plus CRLF: a head shorter than count * this cannot hold too many.
_MIN_FIELD_LINE = 4


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-listener limits of a request head (``MaxURI`` and ``MaxRequest`` override)."""

    max_request_line: int = MAX_REQUEST_LINE  # longer request line -> 414
    max_uri: int = MAX_URI  # longer request target -> 414
    max_header_line: int = MAX_HEADER_LINE  # longer header line -> 431
    max_header_count: int = MAX_HEADER_COUNT  # more header lines -> 431
    max_head: int = MAX_HEAD  # bigger head -> 431
    max_body: int = 0  # Content-Length (or chunked total) above -> 413; 0 = unlimited
    # Heads up to this size cannot break a per-line limit: the fast path skips those checks.
    line_bound: int = field(init=False, repr=False, compare=False)
    # Heads up to this size cannot hold too many header lines: no need to count them.
    count_bound: int = field(init=False, repr=False, compare=False)
    # The limits in the order the C fast path takes them (see _speedups.c scan_request).
    packed: tuple[int, int, int, int, int, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("max_request_line", "max_uri", "max_header_line", "max_head"):
            if getattr(self, name) < 1:
                raise ValueError(f"Limits.{name} must be positive")
        if self.max_header_count < 0 or self.max_body < 0:
            raise ValueError("Limits.max_header_count and max_body must not be negative")
        object.__setattr__(self, "line_bound", min(self.max_request_line, self.max_header_line))
        object.__setattr__(self, "count_bound", _MIN_FIELD_LINE * self.max_header_count)
        packed = (
            self.max_request_line,
            self.max_uri,
            self.max_header_line,
            self.max_header_count,
            self.max_head,
            self.max_body,
        )
        object.__setattr__(self, "packed", packed)
