"""The token bucket filter of Pound's TBF condition (server/tbf.py), driven by an explicit
clock, on a private table; and the rates as Pound writes them (config/tbf.py)."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from standby.config.tbf import MAX_RATE_PER_SECOND, parse_rate
from standby.model import TbfSpec
from standby.server.tbf import PROBE, SLOTS, TABLE_BYTES, admit, key_hash

SECOND = 1_000_000_000


def spec(tokens: int, period: int, burst: int) -> TbfSpec:
    return TbfSpec("k", tokens, period, burst)


class Buckets:
    def __init__(self, tbf: TbfSpec) -> None:
        self.tbf = tbf
        self.table = bytearray(TABLE_BYTES)

    def admit(self, key: str, now: int) -> bool:
        return admit(self.table, self.tbf, key.encode(), now)


@pytest.mark.parametrize(
    ("text", "tokens", "period"),
    [
        ("5", 5, SECOND),
        ("1/2s", 1, 2 * SECOND),
        ("200/500ms", 200, SECOND // 2),
        ("3/10us", 3, 10_000),
        ("7/s", 7, SECOND),
    ],
)
def test_rates_as_pound_writes_them(text: str, tokens: int, period: int) -> None:
    assert parse_rate(text) == (tokens, period)


@pytest.mark.parametrize(
    "text", ["", "0", "x", "5/0s", "-1", "1/2h", "1.5", f"{MAX_RATE_PER_SECOND + 1}", "9" * 40]
)
def test_bad_rates(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rate(text)


def test_a_burst_then_the_rate() -> None:
    # Pound's example: TBF "$1" 5 10 -- five a second, bursts of ten.
    buckets = Buckets(spec(5, SECOND, 10))
    assert [buckets.admit("repo", 0) for _ in range(11)] == [True] * 10 + [False]
    assert not buckets.admit("repo", SECOND // 5 - 1)
    assert buckets.admit("repo", SECOND // 5)  # one token every 200 ms
    assert not buckets.admit("repo", SECOND // 5)
    assert [buckets.admit("repo", SECOND + SECOND // 5) for _ in range(5)] == [True] * 5
    assert not buckets.admit("repo", SECOND + SECOND // 5)


def test_keys_have_their_own_buckets() -> None:
    buckets = Buckets(spec(1, 2 * SECOND, 1))
    assert buckets.admit("a", 0) and buckets.admit("b", 0)
    assert not buckets.admit("a", SECOND) and not buckets.admit("b", SECOND)
    assert buckets.admit("a", 2 * SECOND)


def colliding(count: int) -> list[str]:
    """``count`` keys whose hashes start at the same slot."""
    found: list[str] = []
    start = key_hash(b"k0") % SLOTS
    i = 0
    while len(found) < count:
        key = f"k{i}"
        if key_hash(key.encode()) % SLOTS == start:
            found.append(key)
        i += 1
    return found


def test_a_full_probe_window_evicts_the_oldest_bucket() -> None:
    buckets = Buckets(spec(1, 60 * SECOND, 1))
    keys = colliding(PROBE + 1)
    for at, key in enumerate(keys[:PROBE]):
        assert buckets.admit(key, at)
        assert not buckets.admit(key, at)
    # The window is full of empty buckets: a new key takes the oldest one's slot...
    assert buckets.admit(keys[PROBE], PROBE)
    # ...so that key starts full again, and the others keep theirs (empty).
    assert buckets.admit(keys[0], PROBE + 1)
    assert not buckets.admit(keys[PROBE - 1], PROBE + 1)


def test_a_bucket_idle_until_full_frees_its_slot() -> None:
    buckets = Buckets(spec(1, SECOND, 2))
    keys = colliding(PROBE + 1)
    for key in keys[:PROBE]:
        assert buckets.admit(key, 0)
    # Two seconds on, every bucket is full again: the new key takes a slot without
    # costing another key its tokens.
    assert buckets.admit(keys[PROBE], 2 * SECOND)
    assert all(buckets.admit(key, 2 * SECOND) for key in keys)


def test_a_fractional_interval_keeps_its_remainder() -> None:
    # Tokens every 300 ms: calls at 200 ms steps must not lose the 100 ms left over.
    buckets = Buckets(spec(10, 3 * SECOND, 2))
    step = SECOND // 5
    accepted = sum(buckets.admit("k", i * step) for i in range(31))  # 0 .. 6 s
    assert accepted == 2 + 6 * SECOND // (3 * SECOND // 10)


@example(times=[0, 25641026, 51282050], burst=1, per_second=39)  # just after, just before
@given(
    st.lists(st.integers(min_value=0, max_value=5 * SECOND), max_size=200),
    st.integers(min_value=1, max_value=20),
    st.integers(min_value=1, max_value=50),
)
def test_never_more_than_burst_plus_rate(times: list[int], burst: int, per_second: int) -> None:
    buckets = Buckets(spec(per_second, SECOND, burst))
    interval = buckets.tbf.interval_ns
    accepted = [t for t in sorted(times) if buckets.admit("k", t)]
    # In any window [start, end] that begins with an admission, at most the burst (what the
    # bucket held, the first admission's token included) plus the beats in (start, end]:
    # tokens come on a fixed beat, so a window of less than an interval may hold one.
    for i, start in enumerate(accepted):
        for j in range(i, len(accepted)):
            beats = -(-(accepted[j] - start) // interval)
            assert j - i + 1 <= burst + beats


@given(st.integers(min_value=1, max_value=20), st.integers(min_value=1, max_value=50))
def test_requests_at_the_rate_are_never_refused(burst: int, per_second: int) -> None:
    buckets = Buckets(spec(per_second, SECOND, burst))
    interval = SECOND // per_second
    assert all(buckets.admit("k", i * interval) for i in range(100))


@given(
    st.integers(min_value=1, max_value=10**6),
    st.integers(min_value=1, max_value=10**4),
    st.sampled_from(["", "s", "ms", "us"]),
)
def test_any_rate_pound_can_write_reads_back(tokens: int, count: int, unit: str) -> None:
    period = count * {"": SECOND, "s": SECOND, "ms": SECOND // 1000, "us": 1000}[unit]
    text = f"{tokens}/{count}{unit}"
    if tokens * SECOND > MAX_RATE_PER_SECOND * period:
        with pytest.raises(ValueError):
            parse_rate(text)
    else:
        assert parse_rate(text) == (tokens, period)


@given(st.text(alphabet="0123456789/smu\u0663 .-", max_size=30))
def test_a_rate_is_read_or_refused_never_misread(text: str) -> None:
    # Only Pound's grammar is read (ASCII digits: int() alone would take other scripts').
    try:
        tokens, period = parse_rate(text)
    except ValueError:
        return
    assert re.fullmatch(r"[0-9]+(/[0-9]*(s|ms|us)?)?", text, re.ASCII)
    assert tokens >= 1 and period >= 1000
