"""The supervisor's ledger of counters: a reading never goes down, whatever the workers'
reports, exits and reloads (property test), and exact sums in the simple cases."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

import standby.process.ledger as ledger_module
from standby.observe.metrics import LatencyHistogram
from standby.process.ledger import Ledger, Row, Tally

A = ("inet", "127.0.0.1", 8080)
B = ("inet", "127.0.0.1", 8081)
C = ("unix", "/run/app.sock", None)
BUCKETS = len(LatencyHistogram().counts())


def row(requests: int, failovers: int = 0, statuses: dict[int, int] | None = None) -> Row:
    return Row(
        requests=requests,
        failovers=failovers,
        resends=0,
        statuses=tuple((statuses or {200: requests}).items()),
        latency=(requests,) + (0,) * (BUCKETS - 1),
        latency_sum=0.001 * requests,
    )


def flat(tally: Tally) -> tuple[int, ...]:
    """Every counter of a tally, for comparisons: each must never go down."""
    statuses = tuple(tally.statuses[s] for s in (200, 404, 503))
    buckets = tuple(n for _, n in tally.latency.cumulative())
    return (tally.requests, tally.failovers, tally.resends, *statuses, *buckets)


def test_a_reading_is_retired_plus_the_live_workers_latest() -> None:
    ledger = Ledger()
    ledger.open(1)
    ledger.open(2)
    ledger.update(1, A, row(5))
    ledger.update(1, A, row(8))  # a later report replaces the earlier one
    ledger.update(2, A, row(3))
    ledger.update(2, B, row(1))
    assert ledger.reading()[A].requests == 11
    ledger.retire(1)
    ledger.open(3)  # its replacement counts from zero
    assert ledger.reading()[A].requests == 11
    ledger.update(3, A, row(2))
    reading = ledger.reading()
    assert reading[A].requests == 13 and reading[A].statuses == {200: 13}
    assert reading[A].latency.count == 13 and reading[B].requests == 1


def test_reports_of_a_worker_not_open_are_ignored() -> None:
    ledger = Ledger()
    ledger.open(1)
    ledger.update(1, A, row(4))
    ledger.retire(1)
    ledger.update(1, A, row(9))  # read after its exit was accounted: already retired
    assert ledger.reading()[A].requests == 4
    assert ledger.live == frozenset()


def test_a_reload_keeps_the_backends_that_stay_and_forgets_the_others() -> None:
    ledger = Ledger()
    ledger.open(1)
    ledger.update(1, A, row(4))
    ledger.update(1, B, row(6))
    ledger.retire(1, keep={A, B})
    ledger.keep_only({A})  # B left the configuration
    assert set(ledger.reading()) == {A}
    ledger.open(2)
    ledger.update(2, C, row(1))
    ledger.retire(2, keep={A})  # C was never configured in force
    assert set(ledger.reading()) == {A}


def test_a_histogram_of_another_layout_is_dropped_not_mislabelled() -> None:
    tally = Tally()
    tally.add(Row(1, 0, 0, ((200, 1),), (1, 2), 0.5))
    assert tally.requests == 1 and tally.latency.count == 0


def test_the_ledger_is_pure() -> None:
    tree = ast.parse(Path(ledger_module.__file__).read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    }
    assert not imported & {"asyncio", "socket", "time", "os", "select", "threading"}


# -- the property: a reading never goes down ------------------------------------------------

IDENTITIES = (A, B, C)
PIDS = (101, 102, 103, 104)


@dataclass
class World:
    """The workers as they really count (each only grows while it lives)."""

    ledger: Ledger = field(default_factory=Ledger)
    counts: dict[int, dict[tuple[str, str, int | None], list[int]]] = field(default_factory=dict)
    configured: set[tuple[str, str, int | None]] = field(default_factory=lambda: set(IDENTITIES))


steps = st.lists(
    st.one_of(
        st.tuples(st.just("start"), st.sampled_from(PIDS)),
        st.tuples(
            st.just("serve"),
            st.sampled_from(PIDS),
            st.sampled_from(IDENTITIES),
            st.integers(0, 5),
            st.sampled_from((200, 404, 503)),
        ),
        st.tuples(st.just("report"), st.sampled_from(PIDS), st.sampled_from(IDENTITIES)),
        st.tuples(st.just("exit"), st.sampled_from(PIDS)),
        st.tuples(st.just("reload"), st.sets(st.sampled_from(IDENTITIES), min_size=1)),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(steps)
def test_no_counter_of_a_configured_backend_ever_goes_down(plan: list[tuple[object, ...]]) -> None:
    world = World()
    seen: dict[tuple[str, str, int | None], tuple[int, ...]] = {}
    for step in plan:
        kind = step[0]
        if kind == "start":
            pid = step[1]
            assert isinstance(pid, int)
            if pid not in world.counts:
                world.counts[pid] = {}
                world.ledger.open(pid)
        elif kind == "serve":
            _, pid, identity, n, status = step
            assert isinstance(pid, int) and isinstance(n, int) and isinstance(status, int)
            if pid in world.counts:
                mine = world.counts[pid].setdefault(identity, [0, 0, 0, 0])
                mine[0] += n
                mine[(200, 404, 503).index(status) + 1] += n
        elif kind == "report":
            _, pid, identity = step
            assert isinstance(pid, int)
            mine = world.counts.get(pid, {}).get(identity)
            if mine is not None:
                statuses = dict(zip((200, 404, 503), mine[1:], strict=True))
                world.ledger.update(pid, identity, row(mine[0], statuses=statuses))
        elif kind == "exit":
            pid = step[1]
            assert isinstance(pid, int)
            if world.counts.pop(pid, None) is not None:
                world.ledger.retire(pid, world.configured)
        else:  # a reload: some backends leave the configuration, some come (back)
            kept = step[1]
            assert isinstance(kept, set)
            gone = world.configured - kept
            world.configured = set(kept)
            world.ledger.keep_only(world.configured)
            for identity in gone:
                seen.pop(identity, None)  # a removed backend is forgotten, as in one process
        reading = world.ledger.reading()
        for identity in world.configured:
            now = flat(reading.get(identity) or Tally())
            before = seen.get(identity)
            if before is not None:
                assert all(b <= n for b, n in zip(before, now, strict=True)), (before, now)
            seen[identity] = now
