"""Pound 4's token bucket filter (the ``TBF key rate burst`` condition), pure: the clock
is passed in, nothing here reads the time or does I/O.

A bucket per key holds at most ``burst`` tokens and gains one every ``interval``; a
request takes one token and is accepted, or finds none and is not. A key never seen (or
idle long enough to be full again) starts with a full bucket, so a client gets ``burst``
requests at once and then ``rate``. Buckets idle that long are forgotten, and at most
``MAX_BUCKETS`` are kept, so keys made of request data (a path part, an address) cannot
grow memory without bound.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass

# Keys are request data (``TBF "$1"``): a flood of distinct keys evicts the least recently
# used bucket beyond this many, which bounds memory to about this many small entries.
MAX_BUCKETS = 65536
# Pound's rate units: a bare number is per second.
_UNITS = {"": 1_000_000_000, "s": 1_000_000_000, "ms": 1_000_000, "us": 1_000}
_RATE = re.compile(r"([0-9]+)(?:/([0-9]*)(s|ms|us)?)?", re.ASCII)
# A rate beyond this many tokens per second is a typo: it cannot limit anything.
MAX_RATE_PER_SECOND = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Rate:
    """``tokens`` every ``period_ns`` nanoseconds, as written (``5``, ``1/2s``, ``200/500ms``)."""

    tokens: int
    period_ns: int

    @property
    def interval_ns(self) -> int:
        """Nanoseconds between two tokens (at least 1)."""
        return max(1, self.period_ns // self.tokens)


def parse_rate(text: str) -> Rate:
    """Pound's TBF rate: ``N`` per second, or ``N/M`` with unit ``s`` (default), ``ms``
    or ``us``: ``1/2s`` is one request per two seconds. Raises ValueError."""
    match = _RATE.fullmatch(text)
    if match is None:
        raise ValueError(f"bad rate {text!r}")
    tokens = int(match.group(1))
    count = int(match.group(2) or "1")
    period = count * _UNITS[match.group(3) or ""]
    if tokens == 0 or period == 0:
        raise ValueError(f"rate {text!r} is zero")
    if tokens * 1_000_000_000 > MAX_RATE_PER_SECOND * period:
        raise ValueError(f"rate {text!r} is beyond {MAX_RATE_PER_SECOND} per second")
    return Rate(tokens, period)


class _Bucket:
    __slots__ = ("stamp", "tokens")

    def __init__(self, stamp: int, tokens: int) -> None:
        self.stamp = stamp  # when ``tokens`` was last brought up to date (ns)
        self.tokens = tokens


class TokenBuckets:
    """The buckets of one ``TBF`` condition, by key."""

    __slots__ = ("_buckets", "_burst", "_interval", "_limit")

    def __init__(self, rate: Rate, burst: int, limit: int = MAX_BUCKETS) -> None:
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self._interval = rate.interval_ns
        self._burst = burst
        self._limit = limit
        # Least recently used first: every bucket has the same refill time, so this is
        # also the order in which they become full and can be forgotten.
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def admit(self, key: str, now_ns: int) -> bool:
        """Take a token from ``key``'s bucket at ``now_ns`` (a monotonic clock in ns);
        False when it has none."""
        self._forget_full(now_ns)
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._limit:
                self._buckets.popitem(last=False)
            bucket = self._buckets[key] = _Bucket(now_ns, self._burst)
        else:
            self._buckets.move_to_end(key)
            gained = (now_ns - bucket.stamp) // self._interval
            if gained > 0:
                bucket.tokens = min(self._burst, bucket.tokens + gained)
                # Tokens arrive on a fixed beat: the part of an interval already elapsed
                # counts towards the next one (tokens beyond the burst are lost).
                bucket.stamp += gained * self._interval
        if bucket.tokens == 0:
            return False
        bucket.tokens -= 1
        return True

    def _forget_full(self, now_ns: int) -> None:
        """Drop the buckets idle long enough to be full: a new one is the same."""
        refill = self._burst * self._interval
        while self._buckets:
            key, bucket = next(iter(self._buckets.items()))
            if now_ns - bucket.stamp < refill:
                return
            del self._buckets[key]
