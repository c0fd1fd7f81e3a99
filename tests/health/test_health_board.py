"""The health board with a FakeClock: rise/fall, passive counting, drain, schedule."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from standby.clock import FAKE_WALL_EPOCH, FakeClock
from standby.health import BackendHealth, HealthBoard, State, Transition
from standby.health.board import (
    HISTORY_KEPT,
    INITIAL_REASON,
    OPERATOR_REASON,
    RISE_RECHECK_INTERVAL,
    Cause,
)
from standby.health.check import check_request
from standby.model import BackendKind, BackendSpec, HealthCheckSpec

ALIVE = 10.0


def backend(
    port: int = 80,
    address: str = "127.0.0.1",
    priority: int = 5,
    disabled: bool = False,
    rise: int = 2,
    fall: int = 3,
    passive: bool = True,
    check: HealthCheckSpec | None = None,
) -> BackendSpec:
    return BackendSpec(
        kind=BackendKind.PROXY,
        address=address,
        port=port,
        priority=priority,
        disabled=disabled,
        rise=rise,
        fall=fall,
        passive=passive,
        check=check,
    )


def make() -> tuple[HealthBoard, FakeClock]:
    clock = FakeClock()
    return HealthBoard(clock, alive_interval=ALIVE), clock


def row_of(board: HealthBoard, spec: BackendSpec) -> BackendHealth:
    (row,) = [r for r in board.snapshot() if r.spec.identity == spec.identity]
    return row


# -- rise and fall --------------------------------------------------------------------------


def test_fall_failures_in_a_row_take_a_backend_out() -> None:
    board, clock = make()
    spec = backend(fall=3)
    seen: list[Transition] = []
    board.subscribe(seen.append)
    assert board.observe_failure(spec, "status 503", http_level=True) is None
    assert board.observe_failure(spec, "status 503", http_level=True) is None
    assert board.is_alive(spec) and row_of(board, spec).failures == 2
    clock.advance(2)
    out = board.observe_failure(spec, "status 503", http_level=True)
    assert out == Transition(
        spec,
        False,
        "status 503 (3 failures in a row)",
        FAKE_WALL_EPOCH + 2,
        Cause.PASSIVE,
        http_level=True,
        epoch=1,
    )
    assert out.message() == "backend 127.0.0.1:80 is dead: status 503 (3 failures in a row)"
    assert seen == [out]
    assert not board.is_alive(spec)
    assert board.observe_failure(spec, "status 503", http_level=True) is None  # once only


def test_a_success_ends_the_run_of_failures() -> None:
    board, _ = make()
    spec = backend(fall=3)
    for _ in range(5):
        board.observe_failure(spec, "timeout", http_level=True)
        board.observe_failure(spec, "timeout", http_level=True)
        board.observe_success(spec)
    assert board.is_alive(spec)
    assert row_of(board, spec).failures == 0


def test_active_and_passive_failures_share_one_run() -> None:
    board, _ = make()
    spec = backend(fall=3, check=HealthCheckSpec(fall=3))
    board.observe_failure(spec, "reset before the response head", http_level=True)
    board.check_failed(spec, "check got status 500")
    out = board.observe_failure(spec, "status 502", http_level=True)
    assert out is not None and not out.alive
    assert out.reason == "status 502 (3 failures in a row)"


def test_rise_good_checks_in_a_row_bring_it_back_no_flapping() -> None:
    board, clock = make()
    spec = backend(rise=3)
    board.mark_dead(spec, "connection refused")
    assert board.check_passed(spec, "probe connected") is None
    assert board.check_passed(spec, "probe connected") is None
    assert board.check_failed(spec, "probe failed: refused") is None  # the run restarts
    assert row_of(board, spec).successes == 0
    assert board.check_passed(spec, "probe connected") is None
    assert board.check_passed(spec, "probe connected") is None
    assert not board.is_alive(spec)
    clock.advance(1)
    back = board.check_passed(spec, "probe connected")
    assert back is not None and back.alive and back.cause is Cause.CHECK
    assert back.reason == "probe connected (3 good checks in a row)"
    assert back.at == FAKE_WALL_EPOCH + 1


def test_a_refused_connect_is_immediate_and_mark_alive_forces_back() -> None:
    board, _ = make()
    spec = backend(rise=5, fall=5)
    out = board.mark_dead(spec, "connection refused")
    assert out is not None and not out.alive and out.reason == "connection refused"
    assert out.cause is Cause.REPORTED and not out.http_level
    back = board.mark_alive(spec, "the supervisor says so")
    assert back is not None and back.alive and back.reason == "the supervisor says so"


def test_one_threshold_means_no_run() -> None:
    board, _ = make()
    spec = backend(rise=1, fall=1)
    out = board.observe_failure(spec, "status 503", http_level=True)
    assert out is not None and out.reason == "status 503"
    back = board.check_passed(spec, "check got status 200")
    assert back is not None and back.reason == "check got status 200"


def test_passive_checks_off_and_redirects_count_nothing() -> None:
    board, _ = make()
    quiet = backend(fall=1, passive=False)
    assert board.observe_failure(quiet, "status 503", http_level=True) is None
    assert board.is_alive(quiet)
    assert board.mark_dead(quiet, "connection refused") is not None  # connects still count
    moved = BackendSpec(kind=BackendKind.REDIRECT, redirect_url="https://example.com/")
    assert board.observe_failure(moved, "x", http_level=False) is None
    assert board.check_failed(moved, "x") is None
    assert board.is_alive(moved)


def test_observe_success_on_the_hot_path_writes_nothing_without_a_run() -> None:
    board, _ = make()
    spec = backend()
    board.observe_success(spec)  # unknown: not even registered
    assert board.snapshot() == ()
    board.register(spec)
    version = board.version
    board.observe_success(spec)
    assert board.version == version
    board.mark_dead(spec, "refused")
    board.check_passed(spec, "probe connected")
    board.observe_success(spec)  # a request's success is not a check: no rise credit
    assert row_of(board, spec).successes == 1 and not board.is_alive(spec)


# The rules, written out independently of the board's table: a reference model.
def reference(
    alive: bool, fails: int, passes: int, event: str, rise: int, fall: int
) -> tuple[bool, int, int]:
    if event == "down":
        return False, 0, 0
    if event == "up":
        return True, (fails if alive else 0), 0
    if event == "fail":
        if not alive:
            return False, 0, 0
        return (False, 0, 0) if fails + 1 >= fall else (True, fails + 1, 0)
    if event == "pass":
        if alive:
            return True, 0, 0
        return (True, 0, 0) if passes + 1 >= rise else (False, 0, passes + 1)
    assert event == "ok"  # a request's success
    return alive, (0 if alive else fails), passes


EVENTS = ["down", "up", "fail", "pass", "ok", "passive"]


@given(
    st.lists(st.sampled_from(EVENTS), max_size=50),
    st.integers(1, 4),
    st.integers(1, 4),
)
def test_any_event_sequence_follows_the_rules(events: list[str], rise: int, fall: int) -> None:
    board, clock = make()
    spec = backend(rise=rise, fall=fall)
    board.register(spec)
    seen: list[Transition] = []
    board.subscribe(seen.append)
    alive, fails, passes = True, 0, 0
    changes = 0
    for event in events:
        clock.advance(1)
        if event == "down":
            t = board.mark_dead(spec, event)
        elif event == "up":
            t = board.mark_alive(spec, event)
        elif event == "fail":
            t = board.check_failed(spec, event)
        elif event == "passive":
            t = board.observe_failure(spec, event, http_level=True)
            event = "fail"
        elif event == "pass":
            t = board.check_passed(spec, event)
        else:
            board.observe_success(spec)
            t = None
        before = alive
        alive, fails, passes = reference(alive, fails, passes, event, rise, fall)
        assert (t is not None) is (alive != before)
        changes += alive != before
        row = row_of(board, spec)
        assert (row.alive, row.failures, row.successes) == (alive, fails, passes)
        assert board.is_alive(spec) is alive
    assert len(seen) == changes
    assert [t.alive for t in seen] == [i % 2 == 1 for i in range(len(seen))]


# -- how a down backend is probed -----------------------------------------------------------


def test_http_level_deaths_are_probed_with_head_and_the_backends_own_host() -> None:
    # Never the Host of the client request that failed: a client chooses it, and could
    # pick one the backend answers with 5xx to keep the backend out (issue 13 point 6c).
    board, _ = make()
    spec = backend(fall=1)
    assert board.probe_check(spec) is None  # alive, no HealthCheck: nothing to check
    board.observe_failure(spec, "status 503", http_level=True)
    check = board.probe_check(spec)
    assert check is not None
    assert (check.method, check.path, check.host) == (b"HEAD", b"/", None)
    assert b"\r\nHost: 127.0.0.1\r\n" in check_request(check, spec)  # its address (port 80)
    assert check.accepts(200) and check.accepts(404) and check.accepts(499)
    assert not check.accepts(500) and not check.accepts(503)
    assert check.timeout == spec.timeout
    assert row_of(board, spec).probe == "http"
    board.mark_dead(spec, "connection refused")  # still dead: still an HTTP probe
    assert board.probe_check(spec) is not None
    board.mark_alive(spec, "back")
    board.mark_dead(spec, "connection refused")  # a new death by refusal: TCP
    assert board.probe_check(spec) is None
    assert row_of(board, spec).probe == "tcp"


def test_a_configured_check_is_always_used() -> None:
    board, _ = make()
    check = HealthCheckSpec(method=b"GET", path=b"/health")
    spec = backend(check=check, fall=1)
    assert board.probe_check(spec) is check
    board.observe_failure(spec, "status 503", http_level=True)
    assert board.probe_check(spec) is check


# -- operator states ------------------------------------------------------------------------


def test_drain_is_an_operator_state_with_its_own_version() -> None:
    board, _ = make()
    spec = backend()
    board.register(spec)
    version = board.version
    assert not board.is_draining(spec)
    assert board.set_draining(spec, True) is True
    assert board.set_draining(spec, True) is False
    assert board.is_draining(spec) and board.version == version + 1
    assert board.is_alive(spec) and board.is_enabled(spec)  # draining is neither
    assert row_of(board, spec).draining
    assert board.set_draining(spec, False) is True
    assert not board.is_draining(spec) and board.version == version + 2
    assert not board.is_draining(backend(9))  # unknown: not draining


def test_version_bumps_on_every_visible_change_only() -> None:
    board, _ = make()
    a = backend(1, fall=2)
    versions = [board.version]
    board.register(a)
    versions.append(board.version)
    board.register(a)  # known identity: no change
    board.register(backend(1, priority=9))  # same server, other spec: same identity
    board.observe_failure(a, "x", http_level=False)  # a run, not a change of answer
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
    board.set_draining(in_one_service, True)
    assert board.is_draining(in_another)


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
    assert row.alive and row.probe == "none"


# -- the schedule ---------------------------------------------------------------------------


def test_dead_backends_are_probed_every_alive_then_soon_while_rising() -> None:
    board, clock = make()
    spec = backend(rise=2)
    board.register(spec)
    assert board.due_probes() == []  # alive without a HealthCheck: never checked
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
    assert row_of(board, spec).state is State.PROBING
    clock.advance(ALIVE * 3)  # even if the probe takes long
    assert board.due_probes() == []
    board.check_failed(spec, "probe failed: refused")  # its result, at t=140
    assert row_of(board, spec).state is State.DEAD
    assert board.next_probe_at() == 140 + ALIVE  # scheduled from the result
    assert board.due_probes(exclude={spec.identity}) == []

    clock.advance(ALIVE)
    board.probe_started(spec)
    board.check_passed(spec, "probe connected")  # t=150: one good check of two
    assert board.next_probe_at() == 150 + RISE_RECHECK_INTERVAL  # confirmed soon
    clock.advance(RISE_RECHECK_INTERVAL)
    assert board.due_probes() == [spec]
    board.probe_started(spec)
    board.probe_cancelled(spec)  # a stopped prober hands it back, on its schedule
    assert row_of(board, spec).state is State.DEAD
    assert board.next_probe_at() == 151 + RISE_RECHECK_INTERVAL
    clock.advance(RISE_RECHECK_INTERVAL)
    board.probe_started(spec)
    assert board.check_passed(spec, "probe connected") is not None
    assert board.due_probes() == [] and board.next_probe_at() is None


def test_backends_with_a_health_check_are_checked_every_interval_alive_or_not() -> None:
    board, clock = make()
    check = HealthCheckSpec(interval=2.0, fall=1)
    spec = backend(check=check, fall=1)
    board.register(spec)
    assert board.due_probes() == [spec]  # checked at once
    board.probe_started(spec)
    assert board.due_probes() == []
    board.check_passed(spec, "check got status 200")
    assert board.next_probe_at() == 2.0
    clock.advance(2.0)
    board.probe_started(spec)
    out = board.check_failed(spec, "check got status 503")
    assert out is not None and not out.alive and out.cause is Cause.CHECK
    assert board.next_probe_at() == 4.0  # dead: still every Interval, not Alive


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


def test_draining_backends_are_still_checked() -> None:
    board, clock = make()
    spec = backend()
    board.mark_dead(spec, "refused")
    board.set_draining(spec, True)
    clock.advance(ALIVE)
    assert board.due_probes() == [spec]


# -- reload ---------------------------------------------------------------------------------


def test_adopt_keeps_the_state_of_servers_still_configured() -> None:
    board, _ = make()
    kept, dropped = backend(1), backend(2)
    board.register_all([kept, dropped])
    board.mark_dead(kept, "refused")
    board.set_draining(kept, True)
    board.set_enabled(dropped, False)
    new_kept = dataclasses.replace(kept, check=HealthCheckSpec(path=b"/health"), priority=9)
    added = backend(3)
    version = board.version
    board.adopt([new_kept, added])
    assert board.version > version
    assert [r.spec for r in board.snapshot()] == [new_kept, added]
    assert not board.is_alive(kept) and board.is_draining(kept)
    assert board.probe_check(kept) == HealthCheckSpec(path=b"/health")  # new settings
    assert board.due_probes() == [new_kept]  # re-checked at once, with its new check
    assert board.is_enabled(dropped)  # forgotten: reads as configured again


# -- the snapshot ---------------------------------------------------------------------------


def test_snapshot_reports_health_detail() -> None:
    board, clock = make()
    spec = backend(fall=2)
    board.register(spec)
    row = row_of(board, spec)
    assert (row.alive, row.enabled, row.state, row.draining) == (True, True, State.ALIVE, False)
    assert (row.reason, row.since, row.last_check, row.last_result, row.last_ok) == (
        INITIAL_REASON,
        FAKE_WALL_EPOCH,
        None,
        None,
        None,
    )
    clock.advance(3)
    board.observe_failure(spec, "response timed out", http_level=True)
    row = row_of(board, spec)
    assert (row.failures, row.last_result, row.last_ok) == (1, "response timed out", False)
    board.observe_failure(spec, "response timed out", http_level=True)
    clock.advance(ALIVE)
    board.probe_started(spec)
    clock.advance(1)
    board.check_passed(spec, "check got status 200")
    board.set_enabled(spec, False)
    row = row_of(board, spec)
    assert (row.alive, row.enabled, row.state) == (False, False, State.DEAD)
    assert row.reason == "response timed out (2 failures in a row)"
    assert row.cause is Cause.PASSIVE
    assert row.since == FAKE_WALL_EPOCH + 3
    assert row.last_check == FAKE_WALL_EPOCH + 3 + ALIVE + 1
    assert (row.last_result, row.last_ok) == ("check got status 200", True)
    assert (row.failures, row.successes, row.probe) == (0, 1, "http")


def test_alive_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="Alive"):
        HealthBoard(FakeClock(), alive_interval=0)


def test_unsubscribed_callbacks_hear_nothing() -> None:
    board, _ = make()
    spec = backend()
    seen: list[Transition] = []
    board.subscribe(seen.append)
    board.mark_dead(spec, "once")
    board.unsubscribe(seen.append)
    board.mark_alive(spec, "twice")
    assert [t.reason for t in seen] == ["once"]


# -- the hot path's shortcut ----------------------------------------------------------------


def test_failure_runs_says_whether_any_run_is_under_way() -> None:
    board, _ = make()
    a, b = backend(port=1, fall=3), backend(port=2, fall=3)
    board.register_all((a, b))
    assert not board.failure_runs
    board.observe_failure(a, "timeout", http_level=True)
    assert board.failure_runs
    board.observe_success(b)  # another backend's success ends nothing of a's run
    assert board.failure_runs and row_of(board, a).failures == 1
    board.check_failed(b, "check refused")
    board.observe_success(a)
    assert row_of(board, a).failures == 0
    assert board.failure_runs  # b's run goes on
    board.observe_success(b)
    assert not board.failure_runs and row_of(board, b).failures == 0


@given(st.lists(st.tuples(st.sampled_from(EVENTS), st.integers(0, 1)), max_size=60))
def test_failure_runs_is_false_only_when_no_backend_has_failures(
    events: list[tuple[str, int]],
) -> None:
    board, clock = make()
    specs = (backend(port=1, rise=2, fall=3), backend(port=2, rise=1, fall=2))
    board.register_all(specs)
    for event, which in events:
        clock.advance(1)
        spec = specs[which]
        if event == "down":
            board.mark_dead(spec, event)
        elif event == "up":
            board.mark_alive(spec, event)
        elif event == "fail":
            board.check_failed(spec, event)
        elif event == "passive":
            board.observe_failure(spec, event, http_level=True)
        elif event == "pass":
            board.check_passed(spec, event)
        else:
            board.observe_success(spec)
        failures = [row_of(board, s).failures for s in specs]
        if not board.failure_runs:
            assert failures == [0, 0]
        if event == "ok":
            assert row_of(board, spec).failures == 0  # the shortcut never skips a reset


def test_a_reload_forgetting_the_failing_backend_ends_failure_runs() -> None:
    board, _ = make()
    a, b = backend(port=1, fall=3), backend(port=2, fall=3)
    board.register_all((a, b))
    board.observe_failure(a, "timeout", http_level=True)
    board.adopt([a, b])
    assert board.failure_runs  # a is still configured: its run goes on
    board.adopt([b])
    assert not board.failure_runs


def test_history_keeps_the_last_changes_with_their_reasons_operator_ones_too() -> None:
    board, clock = make()
    spec = backend(fall=1, rise=1)
    board.register(spec)
    assert row_of(board, spec).history == ()  # configured: no change yet
    board.mark_dead(spec, "connect failed: Connection refused")
    clock.advance(5)
    board.check_passed(spec, "connected")
    board.set_draining(spec, True)
    board.set_enabled(spec, False)
    history = row_of(board, spec).history
    assert [(c.state, c.reason) for c in history] == [
        ("down", "connect failed: Connection refused"),
        ("up", "connected"),
        ("draining", OPERATOR_REASON),
        ("disabled", OPERATOR_REASON),
    ]
    assert history[1].at == history[0].at + 5  # wall times, oldest first
    for n in range(HISTORY_KEPT):  # a flapping backend: only the last changes stay
        board.mark_dead(spec, f"down {n}")
        board.mark_alive(spec, f"up {n}")
    history = row_of(board, spec).history
    assert len(history) == HISTORY_KEPT
    assert history[-1].reason == f"up {HISTORY_KEPT - 1}"
    board.set_draining(spec, True)  # no change: nothing recorded
    assert row_of(board, spec).history == history
