"""`Balancer iwrr`: Pound 4's interleaved weighted round robin, a deterministic cycle."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from standby.balance import Balancer
from standby.clock import FakeClock
from standby.health import HealthBoard
from standby.model import BackendKind, BackendSpec, ServiceSpec
from standby.model import Balancer as Algorithm


def backend(port: int, priority: int) -> BackendSpec:
    return BackendSpec(kind=BackendKind.PROXY, address="127.0.0.1", port=port, priority=priority)


def setup(priorities: Sequence[int]) -> tuple[Balancer, HealthBoard, list[BackendSpec]]:
    board = HealthBoard(FakeClock(), alive_interval=10)
    specs = [backend(1000 + i, p) for i, p in enumerate(priorities)]
    spec = ServiceSpec(name="s", backends=tuple(specs), balancer=Algorithm.IWRR)
    board.register_all(spec.backends)
    return Balancer(spec, board, random.Random(1)), board, specs


def letters(balancer: Balancer, specs: list[BackendSpec], count: int) -> str:
    names = {spec: chr(ord("A") + i) for i, spec in enumerate(specs)}
    out = []
    for _ in range(count):
        chosen = balancer.choose()
        assert chosen is not None
        out.append(names[chosen])
    return "".join(out)


def test_the_sequences_pound_4_23_gives() -> None:
    # Observed with Pound 4.23 on loopback: priorities 1, 3 and 2, 5, 1.
    balancer, _, specs = setup([1, 3])
    assert letters(balancer, specs, 16) == "ABBB" * 4
    balancer, _, specs = setup([2, 5, 1])
    assert letters(balancer, specs, 24) == "ABCABBBB" * 3


def test_equal_priorities_are_plain_round_robin() -> None:
    balancer, _, specs = setup([5, 5, 5])
    assert letters(balancer, specs, 9) == "ABC" * 3


@given(st.lists(st.integers(min_value=1, max_value=9), min_size=2, max_size=6))
def test_each_backend_gets_its_priority_share_of_every_cycle(priorities: list[int]) -> None:
    balancer, _, specs = setup(priorities)
    cycle = sum(priorities)
    counts = Counter(balancer.choose() for _ in range(cycle * 3))
    assert [counts[spec] for spec in specs] == [3 * p for p in priorities]


def test_a_dead_backend_leaves_the_cycle_and_comes_back() -> None:
    balancer, board, specs = setup([1, 1, 1])
    a, b, c = specs
    assert [balancer.choose() for _ in range(3)] == [a, b, c]
    board.mark_dead(b, "connect refused")
    assert {balancer.choose() for _ in range(6)} == {a, c}
    board.mark_alive(b, "probe connected")
    assert {balancer.choose() for _ in range(3)} == {a, b, c}


def test_exclude_skips_backends_a_request_already_tried() -> None:
    balancer, _, specs = setup([1, 1, 1])
    a, b, c = specs
    assert balancer.choose(frozenset({a})) in (b, c)
    assert balancer.choose(frozenset({a, b})) is c
    assert balancer.choose(frozenset(specs)) is None
