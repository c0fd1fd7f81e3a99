"""The supervisor's pure decisions: worker count, slot life cycle, restart back-off."""

from __future__ import annotations

import itertools
import signal

import pytest

from standby.config import load_config_text
from standby.model import MAX_WORKERS
from standby.process.signals import (
    HANDLED_SIGNALS,
    TRANSITIONS,
    WORKER_TRANSITIONS,
    Action,
    Phase,
    decide,
)
from standby.process.supervision import (
    RESTART_DELAY_FIRST,
    RESTART_DELAY_MAX,
    STABLE_RUN,
    Slot,
    SlotEvent,
    SlotState,
    backends_of,
    by_identity,
    restart_delay,
    worker_count,
)


@pytest.mark.parametrize(
    ("option", "configured", "cpus", "expected"),
    [
        (None, None, 4, 4),  # default: one per CPU
        (None, None, None, 1),  # unknown CPU count
        (None, 3, 4, 3),  # Workers
        (2, 3, 4, 2),  # --workers wins
        (1, None, 8, 1),
        (None, None, 10_000, MAX_WORKERS),
    ],
)
def test_worker_count(
    option: int | None, configured: int | None, cpus: int | None, expected: int
) -> None:
    assert worker_count(option, configured, cpus) == expected


@pytest.mark.parametrize(("option", "configured"), [(0, None), (None, MAX_WORKERS + 1)])
def test_worker_count_out_of_range(option: int | None, configured: int | None) -> None:
    with pytest.raises(ValueError, match="between 1 and"):
        worker_count(option, configured, 2)


def test_restart_delay_backs_off_and_is_capped() -> None:
    delays = [restart_delay(n, 0.5) for n in range(40)]
    assert delays[0] == RESTART_DELAY_FIRST
    assert delays[1] == 2 * RESTART_DELAY_FIRST
    assert all(a <= b for a, b in itertools.pairwise(delays))
    assert delays[-1] == RESTART_DELAY_MAX


def test_a_worker_that_ran_long_enough_restarts_at_once() -> None:
    assert restart_delay(30, STABLE_RUN) == 0.0


def test_slot_crash_loop_backs_off_then_a_stable_run_resets_it() -> None:
    slot = Slot(0)
    assert slot.due(0.0)
    now = 0.0
    delays = []
    for pid in range(100, 105):
        slot.spawned(pid, now)
        assert slot.state is SlotState.STARTING and not slot.due(now)
        now += 1.0  # dies a second after each start
        delays.append(slot.exited(Phase.RUNNING, now))
        assert slot.state is SlotState.WAITING and slot.pid is None
        assert not slot.due(now) and slot.due(now + delays[-1])
        now += delays[-1]
    assert delays == [RESTART_DELAY_FIRST * 2**i for i in range(5)]
    slot.spawned(200, now)
    slot.apply(Phase.RUNNING, SlotEvent.READY)
    assert slot.state is SlotState.SERVING and slot.ever_ready
    assert slot.exited(Phase.RUNNING, now + STABLE_RUN) == 0.0
    assert slot.quick_deaths == 0


def test_stopping_slots_are_never_restarted() -> None:
    serving, waiting = Slot(0), Slot(1)
    serving.spawned(10, 0.0)
    serving.apply(Phase.RUNNING, SlotEvent.READY)
    waiting.spawned(11, 0.0)
    waiting.exited(Phase.RUNNING, 1.0)
    for slot in (serving, waiting):
        slot.apply(Phase.STOPPING, SlotEvent.STOP)
    assert waiting.state is SlotState.STOPPED and not waiting.due(1e9)
    serving.exited(Phase.STOPPING, 2.0)
    assert serving.state is SlotState.STOPPED and not serving.due(1e9)


def test_spawn_failure_retries_later() -> None:
    slot = Slot(0)
    slot.spawn_failed(5.0)
    assert not slot.due(5.0) and slot.due(5.0 + RESTART_DELAY_FIRST)


def test_worker_signal_table() -> None:
    assert {(p, s) for p in Phase for s in HANDLED_SIGNALS} == set(WORKER_TRANSITIONS)
    # A stop forwarded by the supervisor and also sent to the whole group does not cut
    # the drain short; the supervisor's own rules are unchanged.
    sigterm = int(signal.SIGTERM)
    assert decide(Phase.STOPPING, sigterm, WORKER_TRANSITIONS) is Action.NOTHING
    assert decide(Phase.STOPPING, sigterm, TRANSITIONS) is Action.ABORT
    assert decide(Phase.STOPPING, int(signal.SIGQUIT), WORKER_TRANSITIONS) is Action.ABORT
    assert decide(Phase.RUNNING, int(signal.SIGHUP), WORKER_TRANSITIONS) is Action.NOTHING


def test_backends_by_identity() -> None:
    config = load_config_text(
        """
ListenHTTP
  Address 127.0.0.1
  Port 8080
  Service
    BackEnd
      Address 127.0.0.1
      Port 9001
    End
    Emergency
      Address 127.0.0.1
      Port 9002
    End
  End
End
Service
  BackEnd
    Address 127.0.0.1
    Port 9001
    Priority 2
  End
End
"""
    )
    backends = backends_of(config)
    assert [b.port for b in backends] == [9001, 9002, 9001]
    table = by_identity(backends)
    assert set(table) == {("inet", "127.0.0.1", 9001), ("inet", "127.0.0.1", 9002)}
    assert table[("inet", "127.0.0.1", 9001)] is backends[0]
