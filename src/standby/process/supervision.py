"""Decisions of the supervisor (pure: times are passed in, nothing here does I/O).

How many workers, the life of one worker slot as a table, the restart back-off that
keeps a crash loop from spinning, and which serving worker adopts the listening sockets of
a slot that has none serving.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from standby.model import MAX_WORKERS, BackendSpec, ConfigSpec
from standby.process.ipc import Identity
from standby.process.signals import Phase

# Restart back-off: a worker that died after serving a while comes back at once; one that
# dies again soon after each start waits FIRST, 2*FIRST, 4*FIRST... up to MAX seconds.
RESTART_DELAY_FIRST = 0.1  # small: a single crash should cost its slot almost nothing
RESTART_DELAY_MAX = 30.0  # a crash loop retries this often at most: visible, not spinning
STABLE_RUN = 10.0  # a worker that lived this long is healthy: its death resets the back-off
_MAX_DOUBLINGS = 16  # past this the delay is long capped at MAX; keeps 2**n finite


def worker_count(option: int | None, configured: int | None, cpus: int | None) -> int:
    """``--workers`` wins over ``Workers``; the default is one worker per CPU."""
    for value in (option, configured):
        if value is not None:
            if not 1 <= value <= MAX_WORKERS:
                raise ValueError(f"workers must be between 1 and {MAX_WORKERS}, not {value}")
            return value
    return max(1, min(cpus or 1, MAX_WORKERS))


class SlotState(enum.Enum):
    WAITING = "waiting"  # no process; (re)start when ``restart_at`` comes
    STARTING = "starting"  # forked, not serving yet
    SERVING = "serving"  # said Ready
    STOPPED = "stopped"  # no process, and none will be started again


class SlotEvent(enum.Enum):
    SPAWNED = "spawned"  # a process was forked for the slot
    READY = "ready"  # the worker serves its sockets
    EXITED = "exited"  # the process was reaped
    STOP = "stop"  # the supervisor stops: no more (re)starts


# (supervisor phase, slot state, event) -> next slot state; a missing entry is a no-op.
SLOT_TRANSITIONS: dict[tuple[Phase, SlotState, SlotEvent], SlotState] = {
    (Phase.RUNNING, SlotState.WAITING, SlotEvent.SPAWNED): SlotState.STARTING,
    (Phase.RUNNING, SlotState.STARTING, SlotEvent.READY): SlotState.SERVING,
    (Phase.RUNNING, SlotState.STARTING, SlotEvent.EXITED): SlotState.WAITING,
    (Phase.RUNNING, SlotState.SERVING, SlotEvent.EXITED): SlotState.WAITING,
    (Phase.RUNNING, SlotState.WAITING, SlotEvent.STOP): SlotState.STOPPED,
    (Phase.STOPPING, SlotState.WAITING, SlotEvent.STOP): SlotState.STOPPED,
    (Phase.STOPPING, SlotState.STARTING, SlotEvent.EXITED): SlotState.STOPPED,
    (Phase.STOPPING, SlotState.SERVING, SlotEvent.EXITED): SlotState.STOPPED,
    (Phase.STOPPING, SlotState.WAITING, SlotEvent.EXITED): SlotState.STOPPED,
    # A worker may say Ready just as the stop begins; it is stopped with the others.
    (Phase.STOPPING, SlotState.STARTING, SlotEvent.READY): SlotState.SERVING,
}


@dataclass(slots=True)
class Slot:
    """One worker position: its sockets are bound once; its process comes and goes."""

    index: int
    state: SlotState = SlotState.WAITING
    pid: int | None = None
    started_at: float = 0.0  # monotonic time of the last fork
    restart_at: float = 0.0  # monotonic time when a WAITING slot is due
    quick_deaths: int = 0  # consecutive deaths before STABLE_RUN
    ever_ready: bool = False

    def apply(self, phase: Phase, event: SlotEvent) -> SlotState:
        self.state = SLOT_TRANSITIONS.get((phase, self.state, event), self.state)
        if event is SlotEvent.READY:
            self.ever_ready = True
        return self.state

    def spawned(self, pid: int, now: float) -> None:
        self.pid = pid
        self.started_at = now
        self.apply(Phase.RUNNING, SlotEvent.SPAWNED)

    def exited(self, phase: Phase, now: float, *, hung: bool = False) -> float:
        """The process is gone; returns the restart delay (meaningful while RUNNING).
        ``hung``: it was killed for missing its heartbeat, which counts as a quick death
        however long it had served (a worker that hangs again and again backs off)."""
        self.pid = None
        self.apply(phase, SlotEvent.EXITED)
        delay = restart_delay(self.quick_deaths, 0.0 if hung else now - self.started_at)
        self.quick_deaths = 0 if delay == 0.0 else self.quick_deaths + 1
        self.restart_at = now + delay
        return delay

    def spawn_failed(self, now: float) -> None:
        """fork() itself failed: try again later, backing off like a quick death."""
        self.restart_at = now + restart_delay(self.quick_deaths, 0.0)
        self.quick_deaths += 1

    def due(self, now: float) -> bool:
        return self.state is SlotState.WAITING and self.restart_at <= now


def restart_delay(quick_deaths: int, ran_for: float) -> float:
    """Seconds to wait before restarting a worker that ran ``ran_for`` seconds, after
    ``quick_deaths`` earlier deaths that each came soon after a start."""
    if ran_for >= STABLE_RUN:
        return 0.0
    doublings = min(quick_deaths, _MAX_DOUBLINGS)
    return min(RESTART_DELAY_MAX, RESTART_DELAY_FIRST * 2.0**doublings)


def plan_adoptions(serving: Sequence[bool], current: Mapping[int, int]) -> dict[int, int]:
    """Which serving slot accepts on the sockets of each slot that has no serving worker
    (dead, waiting out its back-off, starting, or killed), as {orphan: adopter}.

    ``serving[i]``: slot i has a worker that serves (said Ready, not condemned);
    ``current``: the adoptions in force. One that still stands (the orphan still has none,
    its adopter still serves) is kept, so that nothing moves needlessly; any other orphan
    goes to the serving slot with the fewest adoptions (the lowest index on a tie). No
    serving slot at all: nobody can adopt, the sockets' queues wait for a worker."""
    adopters = [i for i, up in enumerate(serving) if up]
    if not adopters:
        return {}
    plan = {
        orphan: adopter
        for orphan, adopter in current.items()
        if 0 <= orphan < len(serving)
        and not serving[orphan]
        and 0 <= adopter < len(serving)
        and serving[adopter]
    }
    load = {i: 0 for i in adopters}
    for adopter in plan.values():
        load[adopter] += 1
    for orphan, up in enumerate(serving):
        if not up and orphan not in plan:
            adopter = min(adopters, key=lambda i: (load[i], i))
            plan[orphan] = adopter
            load[adopter] += 1
    return plan


def backends_of(config: ConfigSpec) -> list[BackendSpec]:
    """Every backend and emergency the configuration names, listeners' services first."""
    services = [s for listener in config.listeners for s in listener.services]
    services.extend(config.services)
    return [b for s in services for b in (*s.backends, *s.emergencies)]


def by_identity(backends: list[BackendSpec]) -> dict[Identity, BackendSpec]:
    """The first spec of each identity: how both sides of the IPC name a backend."""
    table: dict[Identity, BackendSpec] = {}
    for spec in backends:
        table.setdefault(spec.identity, spec)
    return table
