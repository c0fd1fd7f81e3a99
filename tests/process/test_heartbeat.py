"""Supervision's pure decisions with plain numbers: heartbeat deadlines, which worker adopts
a slot's sockets, a heartbeat kill in the back-off; and the messages that carry them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from standby.config import ConfigError, load_config_text
from standby.model import DEFAULT_WORKER_TIMEOUT, MIN_WORKER_TIMEOUT
from standby.process import heartbeat
from standby.process.heartbeat import HEARTBEAT_INTERVAL, QUIET_AFTER, Heartbeats
from standby.process.ipc import (
    MAX_NUMBER,
    Adopt,
    Beat,
    FrameDecoder,
    IpcError,
    Message,
    Release,
    Tag,
    decode_body,
    encode,
)
from standby.process.signals import Phase
from standby.process.supervision import (
    RESTART_DELAY_FIRST,
    STABLE_RUN,
    Slot,
    SlotEvent,
    plan_adoptions,
)

TIMEOUT = 5.0

# -- heartbeat deadlines -------------------------------------------------------------------


def test_a_worker_that_beats_is_never_overdue() -> None:
    beats = Heartbeats()
    beats.started(10, now=100.0)
    for second in range(1, 60):
        beats.beat(10, now=100.0 + second)
        assert beats.overdue(100.0 + second + TIMEOUT - 0.5, TIMEOUT) == []


def test_the_fork_counts_as_a_beat_and_silence_is_counted_from_the_last_one() -> None:
    beats = Heartbeats()
    beats.started(10, now=100.0)
    assert beats.next_deadline(TIMEOUT) == 105.0
    assert beats.overdue(104.9, TIMEOUT) == []
    assert beats.overdue(105.0, TIMEOUT) == [10]
    beats.beat(10, now=103.0)
    assert beats.overdue(105.0, TIMEOUT) == []
    assert beats.next_deadline(TIMEOUT) == 108.0
    assert beats.silence(10, 107.5) == 4.5


def test_a_late_delivered_old_beat_does_not_move_the_deadline_back() -> None:
    beats = Heartbeats()
    beats.started(10, now=100.0)
    beats.beat(10, now=103.0)
    beats.beat(10, now=102.0)
    assert beats.next_deadline(TIMEOUT) == 108.0


def test_the_earliest_deadline_of_several_workers() -> None:
    beats = Heartbeats()
    beats.started(10, now=100.0)
    beats.started(11, now=101.0)
    beats.beat(10, now=102.5)
    assert beats.next_deadline(TIMEOUT) == 106.0
    assert beats.overdue(106.0, TIMEOUT) == [11]
    assert beats.overdue(110.0, TIMEOUT) == [10, 11]
    # A new timeout (a reload) applies to the same beats at once.
    assert beats.overdue(104.0, 2.0) == [11]


def test_a_condemned_worker_is_killed_once_and_sets_no_deadline() -> None:
    beats = Heartbeats()
    beats.started(10, now=100.0)
    beats.started(11, now=100.0)
    beats.beat(11, now=104.0)
    assert beats.overdue(105.0, TIMEOUT) == [10]
    beats.condemn(10)
    assert beats.condemned(10)
    assert beats.overdue(200.0, TIMEOUT) == [11]
    assert beats.next_deadline(TIMEOUT) == 109.0
    beats.beat(10, now=106.0)  # a stopped process resumed just before SIGKILL: still condemned
    assert beats.condemned(10)
    assert beats.overdue(106.0, TIMEOUT) == []


def test_a_reaped_worker_is_forgotten_and_its_pid_may_come_back() -> None:
    beats = Heartbeats()
    beats.started(10, now=100.0)
    beats.condemn(10)
    beats.forget(10)
    assert 10 not in beats
    assert not beats.condemned(10)
    assert beats.next_deadline(TIMEOUT) is None
    beats.beat(10, now=101.0)  # a beat still in a closed channel's buffer: ignored
    assert 10 not in beats
    beats.started(10, now=300.0)  # the kernel reused the pid for a new worker
    assert beats.overdue(302.0, TIMEOUT) == []
    assert beats.next_deadline(TIMEOUT) == 305.0


def test_condemning_an_unknown_pid_changes_nothing() -> None:
    beats = Heartbeats()
    beats.condemn(42)
    assert not beats.condemned(42)
    assert beats.overdue(1e9, TIMEOUT) == []


@given(
    st.lists(st.tuples(st.integers(0, 5), st.floats(0, 100, allow_nan=False)), max_size=40),
    st.floats(0, 200, allow_nan=False),
    st.floats(MIN_WORKER_TIMEOUT, 30, allow_nan=False),
)
def test_overdue_is_exactly_the_pids_past_the_deadline(
    events: list[tuple[int, float]], now: float, timeout: float
) -> None:
    beats = Heartbeats()
    last: dict[int, float] = {}
    for pid, at in events:
        if pid not in last:
            beats.started(pid, at)
            last[pid] = at
        else:
            beats.beat(pid, at)
            last[pid] = max(last[pid], at)
    assert beats.overdue(now, timeout) == sorted(p for p, t in last.items() if t + timeout <= now)
    deadline = beats.next_deadline(timeout)
    assert deadline == (min(last.values()) + timeout if last else None)
    if deadline is not None:  # nothing is overdue before the deadline next_work waits for
        assert beats.overdue(deadline, timeout) != []


def test_a_worker_goes_quiet_before_it_is_overdue_and_back_when_it_beats() -> None:
    beats = Heartbeats()
    beats.started(10, now=100.0)
    beats.started(11, now=100.0)
    beats.beat(11, now=101.5)
    assert beats.quiet(101.9) == set()
    assert beats.quiet(100.0 + QUIET_AFTER) == {10}
    assert beats.overdue(100.0 + QUIET_AFTER, TIMEOUT) == []  # quiet is not dead
    beats.beat(10, now=102.5)
    assert beats.quiet(103.0) == set()
    assert beats.quiet(103.6) == {11}


def test_the_next_quiet_deadline_skips_workers_already_quiet() -> None:
    """next_work waits for the next change, never for one already past (no busy wait)."""
    beats = Heartbeats()
    beats.started(10, now=100.0)
    beats.started(11, now=101.0)
    assert beats.next_deadline(QUIET_AFTER, now=100.5) == 100.0 + QUIET_AFTER
    assert beats.next_deadline(QUIET_AFTER, now=102.5) == 101.0 + QUIET_AFTER
    assert beats.next_deadline(QUIET_AFTER, now=103.5) is None
    assert beats.next_deadline(TIMEOUT, now=103.5) == 105.0


def test_a_condemned_worker_stays_quiet_whatever_it_sends() -> None:
    beats = Heartbeats()
    beats.started(10, now=100.0)
    beats.started(11, now=100.0)
    beats.condemn(10)
    beats.beat(10, now=100.5)
    assert beats.quiet(100.6) == {10}


def test_the_timeout_leaves_room_for_late_beats() -> None:
    assert QUIET_AFTER >= 2 * HEARTBEAT_INTERVAL
    assert MIN_WORKER_TIMEOUT >= QUIET_AFTER
    assert MIN_WORKER_TIMEOUT >= 2 * HEARTBEAT_INTERVAL
    assert DEFAULT_WORKER_TIMEOUT >= MIN_WORKER_TIMEOUT


def test_the_heartbeat_module_is_pure() -> None:
    tree = ast.parse(Path(heartbeat.__file__).read_text())
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    forbidden = {"asyncio", "socket", "time", "os", "signal", "select", "threading"}
    assert not {name.split(".")[0] for name in imported} & forbidden, imported


# -- adoption --------------------------------------------------------------------------------


def test_every_serving_slot_adopts_nobody() -> None:
    assert plan_adoptions([True, True, True], {}) == {}


def test_a_slot_without_a_worker_is_adopted_by_a_serving_one() -> None:
    assert plan_adoptions([True, False], {}) == {1: 0}
    assert plan_adoptions([False, True], {}) == {0: 1}


def test_nobody_serving_nobody_adopts() -> None:
    assert plan_adoptions([False, False], {}) == {}
    assert plan_adoptions([False, False], {0: 1}) == {}


def test_orphans_are_spread_over_the_serving_slots() -> None:
    assert plan_adoptions([True, False, True, False], {}) == {1: 0, 3: 2}
    plan = plan_adoptions([True, False, False, False, True], {})
    assert sorted(plan) == [1, 2, 3]
    loads = [list(plan.values()).count(i) for i in (0, 4)]
    assert sorted(loads) == [1, 2]


def test_an_adoption_that_stands_is_kept() -> None:
    # Slot 2 adopted 1; slot 0 (lower index, same load) would otherwise be chosen.
    assert plan_adoptions([True, False, True], {1: 2}) == {1: 2}


def test_the_slot_back_in_service_is_released() -> None:
    assert plan_adoptions([True, True], {1: 0}) == {}


def test_an_adopter_that_stops_serving_hands_over() -> None:
    # Slot 0 adopted 1, then 0 died too: 2 takes both.
    assert plan_adoptions([False, False, True], {1: 0}) == {0: 2, 1: 2}


def test_stale_entries_out_of_range_are_dropped() -> None:
    assert plan_adoptions([True, False], {5: 0, 1: 7}) == {1: 0}


@given(
    st.lists(st.booleans(), max_size=12), st.dictionaries(st.integers(0, 12), st.integers(0, 12))
)
def test_a_plan_covers_every_orphan_with_a_serving_slot(
    serving: list[bool], current: dict[int, int]
) -> None:
    plan = plan_adoptions(serving, current)
    orphans = {i for i, up in enumerate(serving) if not up}
    if any(serving):
        assert set(plan) == orphans
        assert all(serving[adopter] for adopter in plan.values())
        loads = [list(plan.values()).count(i) for i, up in enumerate(serving) if up]
        kept = {o: a for o, a in current.items() if plan.get(o) == a}
        if not kept:  # freshly planned: spread evenly
            assert max(loads) - min(loads) <= 1
    else:
        assert plan == {}


# -- a heartbeat kill and the back-off ---------------------------------------------------------


def test_a_heartbeat_kill_counts_as_a_quick_death_however_long_it_served() -> None:
    slot = Slot(0)
    slot.spawned(10, now=0.0)
    slot.apply(Phase.RUNNING, SlotEvent.READY)
    # Served for an hour then died: restarted at once, the back-off reset.
    assert slot.exited(Phase.RUNNING, now=3600.0) == 0.0
    slot.spawned(11, now=3600.0)
    slot.apply(Phase.RUNNING, SlotEvent.READY)
    # Served for an hour then hung: the back-off starts.
    assert slot.exited(Phase.RUNNING, now=7200.0, hung=True) == RESTART_DELAY_FIRST
    slot.spawned(12, now=7200.1)
    assert slot.exited(Phase.RUNNING, now=7200.1 + 2 * STABLE_RUN, hung=True) == (
        2 * RESTART_DELAY_FIRST
    )


# -- the configuration keyword -------------------------------------------------------------

LISTENER = (
    "ListenHTTP\n Address 127.0.0.1\n Port 8080\n Service\n"
    "  BackEnd\n   Address 127.0.0.1\n   Port 8081\n  End\n End\nEnd\n"
)


def test_worker_timeout_default_and_value() -> None:
    assert load_config_text(LISTENER).worker_timeout == DEFAULT_WORKER_TIMEOUT
    assert load_config_text("WorkerTimeout 3\n" + LISTENER).worker_timeout == 3.0
    assert load_config_text("WorkerTimeout 2.5\n" + LISTENER).worker_timeout == 2.5


@pytest.mark.parametrize("value", ["1", "0", "-3", "soon"])
def test_worker_timeout_too_short_or_not_a_duration_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match=r"^<string>:1\."):
        load_config_text(f"WorkerTimeout {value}\n" + LISTENER)


# -- the messages ------------------------------------------------------------------------------

u32 = st.integers(min_value=0, max_value=MAX_NUMBER)
supervision_messages: st.SearchStrategy[Message] = st.one_of(
    st.just(Beat()), st.builds(Adopt, u32), st.builds(Release, u32)
)


@given(st.lists(supervision_messages, max_size=10))
def test_round_trip_byte_by_byte(sent: list[Message]) -> None:
    stream = b"".join(encode(m) for m in sent)
    decoder = FrameDecoder()
    received: list[Message] = []
    for i in range(len(stream)):
        received += decoder.feed(stream[i : i + 1])
    assert received == sent


def test_tags_are_in_the_heartbeat_range() -> None:
    for tag in (Tag.BEAT, Tag.ADOPT, Tag.RELEASE):
        assert 20 <= tag <= 29
    assert encode(Beat()) == b"\x00\x00\x00\x01" + bytes([Tag.BEAT])
    assert encode(Adopt(3)) == b"\x00\x00\x00\x05" + bytes([Tag.ADOPT]) + b"\x00\x00\x00\x03"


@pytest.mark.parametrize("message", [Adopt(-1), Release(MAX_NUMBER + 1)])
def test_slots_out_of_range_are_refused(message: Message) -> None:
    with pytest.raises(IpcError):
        encode(message)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (bytes([Tag.BEAT]) + b"\x00", "after the last field"),
        (bytes([Tag.ADOPT]) + b"\x00\x00", "truncated"),
        (bytes([Tag.RELEASE]), "truncated"),
    ],
)
def test_broken_bodies(body: bytes, error: str) -> None:
    with pytest.raises(IpcError, match=error):
        decode_body(body)
