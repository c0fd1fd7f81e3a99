"""The health board: the single writer of backend health, and its read-only view (pure).

Every opinion about a backend ends here: the server reports connect failures with
``mark_dead``, the prober reports probe results, the control API toggles ``set_enabled``.
Readers (balancers) see only ``HealthView``: ``is_alive``, ``is_enabled`` and a ``version``
that changes whenever one of those answers may have changed, so they can cache their
candidate lists and recompute only then.

Health is keyed by ``BackendSpec.identity``: the same server listed in two services, or
kept across a reload, shares one state. Liveness follows a table of (state, event) ->
(next state, reschedule probe); a transition between alive and dead is returned exactly
once (and passed to subscribers, e.g. the prober's logger), repeated reports return None.

Backends start alive (as in Pound: traffic flows until a failure is seen). A backend the
board has never seen reads as alive and enabled unless its spec says ``Disabled``; writing
about it registers it. Redirect "backends" have nothing to connect to: always alive.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Set
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from standby.clock import Clock
from standby.model import DEFAULT_ALIVE, BackendKind, BackendSpec

Identity = tuple[str, str, int | None]  # BackendSpec.identity

# Reason recorded for a backend nobody has reported on yet.
INITIAL_REASON = "configured"


class HealthView(Protocol):
    """What a balancer may ask about health; never writes."""

    def is_alive(self, spec: BackendSpec) -> bool: ...

    def is_enabled(self, spec: BackendSpec) -> bool: ...

    @property
    def version(self) -> int:
        """Changes whenever ``is_alive`` or ``is_enabled`` may answer differently."""
        ...


class State(enum.Enum):
    ALIVE = "alive"
    DEAD = "dead"
    PROBING = "probing"  # dead, with a probe in flight (not handed out again meanwhile)


class Event(enum.Enum):
    FAIL = "fail"  # a connect failed or timed out (request or probe)
    OK = "ok"  # a probe connected
    PROBE = "probe"  # a probe was started
    ABORT = "abort"  # a probe was abandoned without a result (prober stopped)


class _Step(NamedTuple):
    next: State
    reschedule: bool  # next probe = now + Alive


_TABLE: dict[tuple[State, Event], _Step] = {
    (State.ALIVE, Event.FAIL): _Step(State.DEAD, reschedule=True),
    (State.ALIVE, Event.OK): _Step(State.ALIVE, reschedule=False),
    (State.ALIVE, Event.PROBE): _Step(State.ALIVE, reschedule=False),
    (State.ALIVE, Event.ABORT): _Step(State.ALIVE, reschedule=False),
    (State.DEAD, Event.FAIL): _Step(State.DEAD, reschedule=False),
    (State.DEAD, Event.OK): _Step(State.ALIVE, reschedule=False),
    (State.DEAD, Event.PROBE): _Step(State.PROBING, reschedule=True),
    (State.DEAD, Event.ABORT): _Step(State.DEAD, reschedule=False),
    (State.PROBING, Event.FAIL): _Step(State.DEAD, reschedule=False),
    (State.PROBING, Event.OK): _Step(State.ALIVE, reschedule=False),
    (State.PROBING, Event.PROBE): _Step(State.PROBING, reschedule=False),
    (State.PROBING, Event.ABORT): _Step(State.DEAD, reschedule=False),
}

_ALIVE_STATES = frozenset({State.ALIVE})


@dataclass(frozen=True, slots=True)
class Transition:
    """A backend went dead or came back; reported once per change."""

    spec: BackendSpec
    alive: bool
    reason: str
    at: float  # wall-clock seconds

    def message(self) -> str:
        """One log line: the backend's address, its new state and why."""
        state = "alive" if self.alive else "dead"
        return f"backend {self.spec.describe()} is {state}: {self.reason}"


@dataclass(frozen=True, slots=True)
class BackendHealth:
    """One row of ``HealthBoard.snapshot()`` (for the control API)."""

    spec: BackendSpec
    state: State
    alive: bool
    enabled: bool  # not disabled by the operator (the config's `Disabled` is per spec)
    reason: str  # why it entered its current alive/dead state
    since: float  # wall time of that change (or of registration)
    last_check: float | None  # wall time of the last connect/probe result, if any
    last_result: str | None  # what that result was


class _Entry:
    __slots__ = (
        "last_check",
        "last_result",
        "next_probe",
        "operator_disabled",
        "probe_wanted",
        "reason",
        "since",
        "spec",
        "state",
    )

    def __init__(self, spec: BackendSpec, now_wall: float) -> None:
        self.spec = spec  # the first spec registered under this identity
        self.state = State.ALIVE
        self.operator_disabled = False
        # Probe only servers that some configured spec uses (Pound skips disabled ones).
        self.probe_wanted = not spec.disabled and spec.kind is BackendKind.PROXY
        self.reason = INITIAL_REASON
        self.since = now_wall
        self.last_check: float | None = None
        self.last_result: str | None = None
        self.next_probe = 0.0


TransitionCallback = Callable[[Transition], None]


class HealthBoard:
    """Alive/dead and operator enable/disable for every backend; implements HealthView."""

    def __init__(self, clock: Clock, alive_interval: float = DEFAULT_ALIVE) -> None:
        if alive_interval <= 0:
            raise ValueError(f"Alive must be positive, not {alive_interval}")
        self._clock = clock
        self.alive_interval = alive_interval
        self._entries: dict[Identity, _Entry] = {}
        self._version = 0
        self._subscribers: list[TransitionCallback] = []

    # -- read side (HealthView) ---------------------------------------------------------

    @property
    def version(self) -> int:
        return self._version

    def is_alive(self, spec: BackendSpec) -> bool:
        if spec.kind is BackendKind.REDIRECT:
            return True
        entry = self._entries.get(spec.identity)
        return entry is None or entry.state in _ALIVE_STATES

    def is_enabled(self, spec: BackendSpec) -> bool:
        if spec.disabled:
            return False
        entry = self._entries.get(spec.identity)
        return entry is None or not entry.operator_disabled

    # -- registration ---------------------------------------------------------------------

    def register(self, spec: BackendSpec) -> None:
        """Start tracking ``spec`` (idempotent; a known identity keeps its state)."""
        self._entry(spec)

    def register_all(self, specs: Iterable[BackendSpec]) -> None:
        for spec in specs:
            self._entry(spec)

    def subscribe(self, callback: TransitionCallback) -> None:
        """Call ``callback`` with every transition, once, as it happens."""
        self._subscribers.append(callback)

    def unsubscribe(self, callback: TransitionCallback) -> None:
        self._subscribers.remove(callback)

    def _entry(self, spec: BackendSpec) -> _Entry:
        key = spec.identity
        entry = self._entries.get(key)
        if entry is None:
            entry = _Entry(spec, self._clock.wall())
            self._entries[key] = entry
            self._version += 1
        elif not spec.disabled and spec.kind is BackendKind.PROXY:
            entry.probe_wanted = True
        return entry

    # -- writes -------------------------------------------------------------------------

    def mark_dead(self, spec: BackendSpec, reason: str) -> Transition | None:
        """A connect to ``spec`` failed (request or probe). Transition if it was alive."""
        if spec.kind is BackendKind.REDIRECT:
            return None
        return self._apply(self._entry(spec), Event.FAIL, reason)

    def mark_alive(self, spec: BackendSpec, reason: str) -> Transition | None:
        """A probe connected to ``spec``. Transition if it was dead."""
        if spec.kind is BackendKind.REDIRECT:
            return None
        return self._apply(self._entry(spec), Event.OK, reason)

    def probe_started(self, spec: BackendSpec) -> None:
        """A probe of ``spec`` is in flight: not due again until Alive seconds from now."""
        self._apply(self._entry(spec), Event.PROBE, "probe started")

    def probe_cancelled(self, spec: BackendSpec) -> None:
        """A probe ended without a result: back to plain dead (if still probing), so the
        next prober probes it; says nothing about the backend itself."""
        self._apply(self._entry(spec), Event.ABORT, "probe cancelled")

    def set_enabled(self, spec: BackendSpec, enabled: bool) -> bool:
        """Operator enable/disable (control API). Returns True if that changed anything."""
        entry = self._entry(spec)
        if entry.operator_disabled == (not enabled):
            return False
        entry.operator_disabled = not enabled
        self._version += 1
        return True

    def _apply(self, entry: _Entry, event: Event, reason: str) -> Transition | None:
        step = _TABLE[(entry.state, event)]
        was_alive = entry.state in _ALIVE_STATES
        entry.state = step.next
        if step.reschedule:
            entry.next_probe = self._clock.monotonic() + self.alive_interval
        now_wall = self._clock.wall()
        if event is Event.FAIL or event is Event.OK:
            entry.last_check = now_wall
            entry.last_result = reason
        is_alive = step.next in _ALIVE_STATES
        if was_alive == is_alive:
            return None
        entry.reason = reason
        entry.since = now_wall
        self._version += 1
        transition = Transition(entry.spec, is_alive, reason, now_wall)
        for callback in tuple(self._subscribers):
            callback(transition)
        return transition

    # -- probing schedule -------------------------------------------------------------------

    def _probe_candidates(self, exclude: Set[Identity]) -> Iterable[_Entry]:
        for key, entry in self._entries.items():
            if (
                entry.state is State.DEAD
                and entry.probe_wanted
                and not entry.operator_disabled
                and key not in exclude
            ):
                yield entry

    def due_probes(self, exclude: Set[Identity] = frozenset()) -> list[BackendSpec]:
        """Dead backends whose next probe time has come (none with a probe in flight).

        ``exclude``: identities the caller is still probing (a request may have reported
        a failure meanwhile, which ends PROBING on the board but not the caller's probe)."""
        now = self._clock.monotonic()
        return [e.spec for e in self._probe_candidates(exclude) if e.next_probe <= now]

    def next_probe_at(self, exclude: Set[Identity] = frozenset()) -> float | None:
        """Monotonic time of the earliest scheduled probe, or None when none is waiting."""
        return min((e.next_probe for e in self._probe_candidates(exclude)), default=None)

    # -- control API ------------------------------------------------------------------------

    def snapshot(self) -> tuple[BackendHealth, ...]:
        """Every backend's health, in registration order."""
        return tuple(
            BackendHealth(
                spec=e.spec,
                state=e.state,
                alive=e.spec.kind is BackendKind.REDIRECT or e.state in _ALIVE_STATES,
                enabled=not e.operator_disabled,
                reason=e.reason,
                since=e.since,
                last_check=e.last_check,
                last_result=e.last_result,
            )
            for e in self._entries.values()
        )
