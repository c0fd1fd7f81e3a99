"""The token bucket filter of Pound's TBF condition, driven by an explicit clock."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from standby.server.tbf import MAX_RATE_PER_SECOND, Rate, TokenBuckets, parse_rate

SECOND = 1_000_000_000


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
    assert parse_rate(text) == Rate(tokens, period)


@pytest.mark.parametrize(
    "text", ["", "0", "x", "5/0s", "-1", "1/2h", "1.5", f"{MAX_RATE_PER_SECOND + 1}"]
)
def test_bad_rates(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rate(text)


def test_a_burst_then_the_rate() -> None:
    # Pound's example: TBF "$1" 5 10 -- five a second, bursts of ten.
    buckets = TokenBuckets(parse_rate("5"), 10)
    assert [buckets.admit("repo", 0) for _ in range(11)] == [True] * 10 + [False]
    assert not buckets.admit("repo", SECOND // 5 - 1)
    assert buckets.admit("repo", SECOND // 5)  # one token every 200 ms
    assert not buckets.admit("repo", SECOND // 5)
    assert [buckets.admit("repo", SECOND + SECOND // 5) for _ in range(5)] == [True] * 5
    assert not buckets.admit("repo", SECOND + SECOND // 5)


def test_keys_have_their_own_buckets() -> None:
    buckets = TokenBuckets(parse_rate("1/2s"), 1)
    assert buckets.admit("a", 0) and buckets.admit("b", 0)
    assert not buckets.admit("a", SECOND) and not buckets.admit("b", SECOND)
    assert buckets.admit("a", 2 * SECOND)


def test_idle_buckets_are_forgotten_and_their_number_is_bounded() -> None:
    buckets = TokenBuckets(parse_rate("1"), 2, limit=3)
    for key in "abcd":
        buckets.admit(key, 0)
    assert len(buckets) == 3  # "a", the least recently used, went first
    buckets.admit("e", 2 * SECOND)  # every other bucket is full again by now
    assert len(buckets) == 1


def test_a_fractional_interval_keeps_its_remainder() -> None:
    # Tokens every 300 ms: calls at 200 ms steps must not lose the 100 ms left over.
    buckets = TokenBuckets(Rate(10, 3 * SECOND), 2)
    step = SECOND // 5
    accepted = sum(buckets.admit("k", i * step) for i in range(31))  # 0 .. 6 s
    assert accepted == 2 + 6 * SECOND // (3 * SECOND // 10)


@given(
    st.lists(st.integers(min_value=0, max_value=5 * SECOND), max_size=200),
    st.integers(min_value=1, max_value=20),
    st.integers(min_value=1, max_value=50),
)
def test_never_more_than_burst_plus_rate(times: list[int], burst: int, per_second: int) -> None:
    buckets = TokenBuckets(Rate(per_second, SECOND), burst)
    interval = SECOND // per_second
    accepted = [t for t in sorted(times) if buckets.admit("k", t)]
    # In any window, at most the burst plus the tokens the window can make.
    for i, start in enumerate(accepted):
        for j in range(i, len(accepted)):
            assert j - i + 1 <= burst + (accepted[j] - start) // interval


@given(st.integers(min_value=1, max_value=20), st.integers(min_value=1, max_value=50))
def test_requests_at_the_rate_are_never_refused(burst: int, per_second: int) -> None:
    buckets = TokenBuckets(Rate(per_second, SECOND), burst)
    interval = SECOND // per_second
    assert all(buckets.admit("k", i * interval) for i in range(100))
