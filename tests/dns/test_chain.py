"""Aliases followed within the allowed length (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from standby.dns.chain import ChainError, allowed_aliases, follow
from standby.dns.wire import Record, RType


def chain(length: int, ttls: list[int]) -> tuple[Record, ...]:
    """n0 -> n1 -> ... -> n{length} (CNAMEs), then n{length}'s address."""
    records = [Record(f"n{i}.test", RType.CNAME, ttls[i], f"n{i + 1}.test") for i in range(length)]
    records.append(Record(f"n{length}.test", RType.A, ttls[length], "192.0.2.1"))
    return tuple(records)


@given(st.integers(0, 8), st.integers(0, 8), st.lists(st.integers(0, 1000), min_size=9, max_size=9))
def test_a_chain_is_followed_up_to_the_limit(length: int, setting: int, ttls: list[int]) -> None:
    limit = allowed_aliases(setting)
    records = chain(length, ttls)
    if length > limit:
        with pytest.raises(ChainError):
            follow(records, "n0.test", RType.A, 0, limit)
        return
    found = follow(records, "N0.test.", RType.A, 0, limit)
    assert [r.data for r in found.records] == ["192.0.2.1"]
    assert found.ttl == min(ttls[: length + 1]) and found.aliases == length
    assert found.next_name is None


def test_one_alias_is_always_allowed_and_loops_are_refused() -> None:
    assert allowed_aliases(0) == 1
    loop = (
        Record("a.test", RType.CNAME, 5, "b.test"),
        Record("b.test", RType.CNAME, 5, "a.test"),
    )
    with pytest.raises(ChainError):
        follow(loop, "a.test", RType.A, 0, 10)


def test_an_alias_without_its_target_names_the_next_question() -> None:
    found = follow((Record("a.test", RType.CNAME, 5, "b.test"),), "a.test", RType.A, 0, 1)
    assert found.records == () and found.next_name == "b.test" and found.ttl == 5
    empty = follow((), "a.test", RType.A, 0, 1)
    assert empty.next_name is None and empty.records == ()
