from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from standby.clock import FAKE_WALL_EPOCH, FakeClock
from standby.health import HealthBoard, State, Transition
from standby.health.board import INITIAL_REASON
from standby.model import BackendKind, BackendSpec

ALIVE = 10.0


def backend(
    port: int = 80, address: str = "127.0.0.1", priority: int = 5, disabled: bool = False
) -> BackendSpec:
    return BackendSpec(
        kind=BackendKind.PROXY, address=address, port=port, priority=priority, disabled=disabled
    )


def make() -> tuple[HealthBoard, FakeClock]:
    clock = FakeClock()
    return HealthBoard(clock, alive_interval=ALIVE), clock


def state_of(board: HealthBoard, spec: BackendSpec) -> State:
    (row,) = [r for r in board.snapshot() if r.spec.identity == spec.identity]
    return row.state


def drive_to(board: HealthBoard, spec: BackendSpec, state: State) -> None:
    if state is not State.ALIVE:
        board.mark_dead(spec, "setup")
    if state is State.PROBING:
        board.probe_started(spec)
    assert state_of(board, spec) is state


# The specification, written out independently of the implementation's table:
# (state, event) -> (next state, transition reported?)
EXPECTED = {
    (State.ALIVE, "dead"): (State.DEAD, True),
    (State.ALIVE, "alive"): (State.ALIVE, False),
    (State.ALIVE, "probe"): (State.ALIVE, False),
    (State.DEAD, "dead"): (State.DEAD, False),
    (State.DEAD, "alive"): (State.ALIVE, True),
    (State.DEAD, "probe"): (State.PROBING, False),
    (State.PROBING, "dead"): (State.DEAD, False),
    (State.PROBING, "alive"): (State.ALIVE, True),
    (State.PROBING, "probe"): (State.PROBING, False),
    (State.ALIVE, "cancel"): (State.ALIVE, False),
    (State.DEAD, "cancel"): (State.DEAD, False),
    (State.PROBING, "cancel"): (State.DEAD, False),
}


@pytest.mark.parametrize(("start", "event"), sorted(EXPECTED, key=str))
def test_state_table(start: State, event: str) -> None:
    board, _ = make()
    spec = backend()
    board.register(spec)
    drive_to(board, spec, start)
    version = board.version
    if event == "dead":
        result = board.mark_dead(spec, "why")
    elif event == "alive":
        result = board.mark_alive(spec, "why")
    elif event == "probe":
        board.probe_started(spec)
        result = None
    else:
        board.probe_cancelled(spec)
        result = None
    want_state, want_transition = EXPECTED[(start, event)]
    assert state_of(board, spec) is want_state
    assert (result is not None) is want_transition
    assert board.is_alive(spec) is (want_state is State.ALIVE)
    # Readers recompute only when the answer to is_alive may have changed.
    assert (board.version != version) is want_transition
    if result is not None:
        assert result == Transition(spec, want_state is State.ALIVE, "why", FAKE_WALL_EPOCH)


def test_each_transition_is_reported_once_with_its_reason() -> None:
    board, clock = make()
    spec = backend(3, address="192.0.2.3")
    seen: list[Transition] = []
    board.subscribe(seen.append)
    clock.advance(5)
    first = board.mark_dead(spec, "connect refused")
    assert first is not None and not first.alive and first.at == FAKE_WALL_EPOCH + 5
    assert first.message() == "backend 192.0.2.3:3 is dead: connect refused"
    assert board.mark_dead(spec, "connect refused again") is None
    back = board.mark_alive(spec, "probe connected")
    assert back is not None and back.message() == "backend 192.0.2.3:3 is alive: probe connected"
    assert board.mark_alive(spec, "probe connected") is None
    assert seen == [first, back]

    board.unsubscribe(seen.append)
    board.mark_dead(spec, "again")
    assert len(seen) == 2


def test_version_bumps_on_every_visible_change_only() -> None:
    board, _ = make()
    a = backend(1)
    versions = [board.version]
    board.register(a)
    versions.append(board.version)
    board.register(a)  # known identity: no change
    board.register(backend(1, priority=9))  # same server, other spec: same identity
    versions.append(board.version)
    board.mark_dead(a, "x")
    versions.append(board.version)
    board.mark_dead(a, "x")
    versions.append(board.version)
    assert board.set_enabled(a, False) is True
    versions.append(board.version)
    assert board.set_enabled(a, False) is False
    versions.append(board.version)
    assert versions == [0, 1, 1, 2, 2, 3, 3]


def test_identity_is_shared_by_specs_of_the_same_server() -> None:
    board, _ = make()
    in_one_service, in_another = backend(8080, priority=1), backend(8080, priority=9)
    board.mark_dead(in_one_service, "down")
    assert not board.is_alive(in_another)
    board.set_enabled(in_another, False)
    assert not board.is_enabled(in_one_service)


def test_enabled_combines_config_and_operator() -> None:
    board, _ = make()
    off = backend(1, disabled=True)
    on = backend(2)
    board.register_all([off, on])
    assert not board.is_enabled(off)
    assert board.is_enabled(on)
    board.set_enabled(off, True)  # the operator cannot override the config's Disabled
    assert not board.is_enabled(off)
    board.set_enabled(on, False)
    assert not board.is_enabled(on)
    board.set_enabled(on, True)
    assert board.is_enabled(on)


def test_unknown_backends_read_as_configured_and_writing_registers_them() -> None:
    board, _ = make()
    stranger = backend(7)
    assert board.is_alive(stranger)
    assert board.is_enabled(stranger)
    assert not board.is_enabled(backend(7, disabled=True))
    assert board.snapshot() == ()
    assert board.mark_dead(stranger, "x") is not None
    assert [r.spec for r in board.snapshot()] == [stranger]


def test_redirects_never_die() -> None:
    board, _ = make()
    moved = BackendSpec(kind=BackendKind.REDIRECT, redirect_url="https://example.com/")
    board.register(moved)
    assert board.mark_dead(moved, "x") is None
    assert board.is_alive(moved)
    assert board.due_probes() == []
    (row,) = board.snapshot()
    assert row.alive


def test_due_probes_follow_the_alive_interval() -> None:
    board, clock = make()
    spec = backend()
    board.register(spec)
    assert board.due_probes() == []
    assert board.next_probe_at() is None

    clock.advance(100)
    board.mark_dead(spec, "refused")  # dies at t=100: first probe at 110
    assert board.next_probe_at() == 100 + ALIVE
    clock.advance(ALIVE - 0.5)
    assert board.due_probes() == []
    clock.advance(0.5)
    assert board.due_probes() == [spec]

    board.probe_started(spec)  # t=110: in flight, not handed out again
    assert board.due_probes() == []
    assert board.next_probe_at() is None
    clock.advance(ALIVE * 3)  # even if the probe takes long
    assert board.due_probes() == []
    board.mark_dead(spec, "probe failed: refused")  # the probe's result, at t=140
    assert board.next_probe_at() == 110 + ALIVE  # scheduled from the probe's start
    assert board.due_probes() == [spec]
    assert board.due_probes(exclude={spec.identity}) == []
    assert board.next_probe_at(exclude={spec.identity}) is None

    board.probe_started(spec)  # t=140, next at 150
    board.probe_cancelled(spec)  # a stopped prober hands the backend back...
    assert board.next_probe_at() == 140 + ALIVE  # ...still on its schedule
    clock.advance(ALIVE)
    assert board.due_probes() == [spec]
    board.probe_started(spec)
    board.mark_alive(spec, "probe connected")
    assert board.due_probes() == []
    assert board.next_probe_at() is None
    board.probe_cancelled(spec)  # too late to matter: alive stays alive
    assert board.is_alive(spec)


def test_disabled_backends_are_not_probed() -> None:
    board, clock = make()
    off = backend(1, disabled=True)
    paused = backend(2)
    board.register_all([off, paused])
    board.mark_dead(off, "x")
    board.mark_dead(paused, "x")
    board.set_enabled(paused, False)
    clock.advance(ALIVE)
    assert board.due_probes() == []
    board.set_enabled(paused, True)
    assert board.due_probes() == [paused]
    board.register(backend(1, priority=2))  # another service uses the same server enabled
    assert {s.port for s in board.due_probes()} == {1, 2}


def test_snapshot_reports_reason_since_and_last_check() -> None:
    board, clock = make()
    spec = backend()
    board.register(spec)
    (row,) = board.snapshot()
    assert (row.alive, row.enabled, row.state) == (True, True, State.ALIVE)
    assert (row.reason, row.since, row.last_check, row.last_result) == (
        INITIAL_REASON,
        FAKE_WALL_EPOCH,
        None,
        None,
    )
    clock.advance(3)
    board.mark_dead(spec, "connect timed out")
    clock.advance(ALIVE)
    board.probe_started(spec)
    clock.advance(1)
    board.mark_dead(spec, "probe failed: refused")
    board.set_enabled(spec, False)
    (row,) = board.snapshot()
    assert (row.alive, row.enabled, row.state) == (False, False, State.DEAD)
    assert row.reason == "connect timed out"
    assert row.since == FAKE_WALL_EPOCH + 3
    assert row.last_check == FAKE_WALL_EPOCH + 3 + ALIVE + 1
    assert row.last_result == "probe failed: refused"


def test_alive_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="Alive"):
        HealthBoard(FakeClock(), alive_interval=0)


@given(st.lists(st.sampled_from(["dead", "alive", "probe", "cancel", "tick"]), max_size=40))
def test_any_event_sequence_reports_alternating_transitions(events: list[str]) -> None:
    board, clock = make()
    spec = backend()
    board.register(spec)
    seen: list[Transition] = []
    board.subscribe(seen.append)
    returned: list[Transition] = []
    last_version = board.version
    for event in events:
        if event == "dead":
            t = board.mark_dead(spec, event)
        elif event == "alive":
            t = board.mark_alive(spec, event)
        elif event == "probe":
            board.probe_started(spec)
            t = None
        elif event == "cancel":
            board.probe_cancelled(spec)
            t = None
        else:
            clock.advance(ALIVE / 3)
            t = None
        if t is not None:
            returned.append(t)
        assert board.version >= last_version
        last_version = board.version
        # Never handed out while in flight; due only when dead long enough.
        due = board.due_probes()
        assert due == [] or state_of(board, spec) is State.DEAD
    assert returned == seen
    assert [t.alive for t in seen] == [i % 2 == 1 for i in range(len(seen))]
    assert board.is_alive(spec) is (not seen or seen[-1].alive)
    assert board.version == 1 + len(seen)
