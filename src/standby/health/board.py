"""The health board: the single writer of backend health, and its read-only view (pure).

Every opinion about a backend ends here: the server reports refused connections with
``mark_dead`` and what requests saw with ``observe_failure``/``observe_success``, the
prober reports check results with ``check_passed``/``check_failed``, the operator (control
API) toggles ``set_enabled`` and ``set_draining``. Readers (balancers) see only
``HealthView``: ``is_alive``, ``is_enabled``, ``is_draining`` and a ``version`` that changes
whenever one of those answers may have changed, so they can cache their candidate lists.

Health is keyed by ``BackendSpec.identity``: the same server listed in two services, or
kept across a reload, shares one state. Liveness follows ``_TABLE``: (alive?, event,
threshold reached?) -> (alive?, what happens to the run counters). Counted events need a
run: ``fall`` failures in a row take a live backend out, ``rise`` good checks in a row bring
a dead one back, so one lucky check cannot make it flap. A refused connection (``mark_dead``)
takes a backend out at once, as in Pound; ``mark_alive`` brings one back at once (the single
writer's decision applied elsewhere, or the operator's). A change between alive and dead is
returned exactly once, with why (and passed to subscribers, e.g. the prober's logger);
repeated reports return None.

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
from standby.model import (
    DEFAULT_ALIVE,
    DEFAULT_CHECK_METHOD,
    DEFAULT_CHECK_PATH,
    PASSIVE_PROBE_BELOW,
    BackendKind,
    BackendSpec,
    HealthCheckSpec,
)

Identity = tuple[str, str, int | None]  # BackendSpec.identity

# Reason recorded for a backend nobody has reported on yet.
INITIAL_REASON = "configured"
# A dead backend without a HealthCheck that passed a probe is probed again this soon (at
# most Alive), so that `rise` probes bring it back in seconds, not `rise` times Alive.
RISE_RECHECK_INTERVAL = 1.0
# The reason of an operator's change (control API, standbyctl) in a backend's history.
OPERATOR_REASON = "by the operator"
# Changes kept per backend for the status page (the last transitions with their reasons):
# enough to see a flapping backend at a glance; the log keeps the full story.
HISTORY_KEPT = 6


class Change(NamedTuple):
    """One change of a backend's state, for the status page."""

    at: float  # wall time
    state: str  # "up", "down", "disabled", "enabled", "draining", "drain ended"
    reason: str


class HealthView(Protocol):
    """What a balancer may ask about health; never writes."""

    def is_alive(self, spec: BackendSpec) -> bool: ...

    def is_enabled(self, spec: BackendSpec) -> bool: ...

    def is_draining(self, spec: BackendSpec) -> bool: ...

    @property
    def version(self) -> int:
        """Changes whenever ``is_alive``, ``is_enabled`` or ``is_draining`` may answer
        differently."""
        ...


class State(enum.Enum):
    """A backend's health as the control API shows it."""

    ALIVE = "alive"
    DEAD = "dead"
    PROBING = "probing"  # dead, with a check in flight


class Event(enum.Enum):
    DOWN = "down"  # out at once: a refused or timed-out connect, or the writer's decision
    UP = "up"  # back at once: the writer's decision (or the operator's)
    FAIL = "fail"  # counted: a failed check, or a failure a request saw (passive)
    PASS = "pass"  # counted: a good check


class Count(enum.Enum):
    """What an event does to the run counters (failures while alive, passes while dead)."""

    KEEP = "keep"
    RESET = "reset"  # both runs start again
    FAIL = "fail"  # one more failure in a row
    PASS = "pass"  # one more good check in a row


class Cause(enum.Enum):
    """Who reported what made a backend change state."""

    REPORTED = "reported"  # mark_dead / mark_alive: a refused connect, or a decision
    PASSIVE = "passive"  # failures seen by requests
    CHECK = "check"  # the prober's checks


class _Step(NamedTuple):
    alive: bool
    counters: Count


# (alive, event, threshold reached) -> step. "Reached": this FAIL makes `fall` in a row
# (only while alive), this PASS makes `rise` in a row (only while dead); it is False for
# every other event. Only reachable keys are listed.
_TABLE: dict[tuple[bool, Event, bool], _Step] = {
    (True, Event.DOWN, False): _Step(False, counters=Count.RESET),
    (True, Event.UP, False): _Step(True, counters=Count.KEEP),
    (True, Event.FAIL, False): _Step(True, counters=Count.FAIL),
    (True, Event.FAIL, True): _Step(False, counters=Count.RESET),
    (True, Event.PASS, False): _Step(True, counters=Count.RESET),
    (False, Event.DOWN, False): _Step(False, counters=Count.RESET),
    (False, Event.UP, False): _Step(True, counters=Count.RESET),
    (False, Event.FAIL, False): _Step(False, counters=Count.RESET),
    (False, Event.PASS, False): _Step(False, counters=Count.PASS),
    (False, Event.PASS, True): _Step(True, counters=Count.RESET),
}


@dataclass(frozen=True, slots=True)
class Transition:
    """A backend went dead or came back; reported once per change, with why."""

    spec: BackendSpec
    alive: bool
    reason: str
    at: float  # wall-clock seconds
    cause: Cause = Cause.REPORTED
    # Down for an HTTP-level reason (a bad status, a timeout, a reset): it accepts
    # connections, so without a HealthCheck it is probed with HEAD /.
    http_level: bool = False
    # The backend's decision count after this change (see HealthBoard.epoch_of).
    epoch: int = 0

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
    last_check: float | None  # wall time of the last check or reported result, if any
    last_result: str | None  # what that result was
    draining: bool = False  # the operator drains it: no new requests
    cause: Cause = Cause.REPORTED  # who reported the last change
    last_ok: bool | None = None  # whether the last result was good
    failures: int = 0  # failures in a row while alive (towards fall)
    successes: int = 0  # good checks in a row while dead (towards rise)
    probe: str = "none"  # how it is checked now: "http" (a HealthCheck or HEAD /), "tcp"
    epoch: int = 0  # changes between alive and dead so far (HealthBoard.epoch_of)
    history: tuple[Change, ...] = ()  # the last changes, oldest first (HISTORY_KEPT)


class _Entry:
    __slots__ = (
        "alive",
        "cause",
        "checking",
        "draining",
        "epoch",
        "fails",
        "history",
        "http_probe",
        "last_check",
        "last_ok",
        "last_result",
        "next_probe",
        "operator_disabled",
        "passes",
        "probe_wanted",
        "reason",
        "since",
        "spec",
    )

    def __init__(self, spec: BackendSpec, now_wall: float) -> None:
        self.spec = spec  # the first spec registered under this identity
        self.alive = True
        self.checking = False  # a check is in flight
        self.fails = 0  # failures in a row while alive
        self.passes = 0  # good checks in a row while dead
        self.operator_disabled = False
        self.draining = False
        # Probe only servers that some configured spec uses (Pound skips disabled ones).
        self.probe_wanted = _wants_probe(spec)
        self.http_probe = False  # dead for an HTTP-level reason
        self.epoch = 0  # changes between alive and dead so far
        self.reason = INITIAL_REASON
        self.cause = Cause.REPORTED
        self.since = now_wall
        self.last_check: float | None = None
        self.last_result: str | None = None
        self.last_ok: bool | None = None
        self.next_probe = 0.0
        self.history: tuple[Change, ...] = ()

    def record(self, at: float, state: str, reason: str) -> None:
        self.history = (*self.history[1 - HISTORY_KEPT :], Change(at, state, reason))

    @property
    def state(self) -> State:
        if self.alive:
            return State.ALIVE
        return State.PROBING if self.checking else State.DEAD


def _wants_probe(spec: BackendSpec) -> bool:
    return not spec.disabled and spec.kind is BackendKind.PROXY


TransitionCallback = Callable[[Transition], None]


def passive_probe(timeout: float, spec: BackendSpec) -> HealthCheckSpec:
    """The check of a backend taken out for an HTTP-level reason without a configured
    HealthCheck: ``HEAD /``, any status below 500 passes. Its Host is the backend's own
    address (``check.host_header``), never the Host of the client request that failed:
    a client chooses that one, and could pick a name the backend answers badly to keep
    the backend out."""
    return HealthCheckSpec(
        method=DEFAULT_CHECK_METHOD,
        path=DEFAULT_CHECK_PATH,
        host=None,
        statuses=((100, PASSIVE_PROBE_BELOW - 1),),
        timeout=timeout,
        rise=spec.rise,
        fall=spec.fall,
    )


class HealthBoard:
    """Health, operator enable/disable and drain for every backend; implements HealthView."""

    def __init__(self, clock: Clock, alive_interval: float = DEFAULT_ALIVE) -> None:
        if alive_interval <= 0:
            raise ValueError(f"Alive must be positive, not {alive_interval}")
        self._clock = clock
        self.alive_interval = alive_interval
        self._entries: dict[Identity, _Entry] = {}
        # HealthView.version, a plain attribute: balancers read it on every request.
        self.version = 0
        # False only while no backend has a run of failures under way (every entry's
        # ``fails`` is 0): then a good answer has nothing to reset (see observe_success).
        self.failure_runs = False
        self._subscribers: list[TransitionCallback] = []

    # -- read side (HealthView) ---------------------------------------------------------

    def is_alive(self, spec: BackendSpec) -> bool:
        if spec.kind is not BackendKind.PROXY:
            return True
        entry = self._entries.get(spec.identity)
        return entry is None or entry.alive

    def is_enabled(self, spec: BackendSpec) -> bool:
        if spec.disabled:
            return False
        entry = self._entries.get(spec.identity)
        return entry is None or not entry.operator_disabled

    def is_draining(self, spec: BackendSpec) -> bool:
        entry = self._entries.get(spec.identity)
        return entry is not None and entry.draining

    # -- registration ---------------------------------------------------------------------

    def register(self, spec: BackendSpec) -> None:
        """Start tracking ``spec`` (idempotent; a known identity keeps its state)."""
        self._entry(spec)

    def register_all(self, specs: Iterable[BackendSpec]) -> None:
        for spec in specs:
            self._entry(spec)

    def adopt(self, specs: Iterable[BackendSpec]) -> None:
        """A reload: track exactly ``specs``. A server still configured keeps its health,
        counters, drain and operator state, and takes its new settings (checks,
        thresholds) from the first spec naming it; the others are forgotten."""
        now_wall = self._clock.wall()
        entries: dict[Identity, _Entry] = {}
        for spec in specs:
            key = spec.identity
            entry = entries.get(key)
            if entry is not None:
                entry.probe_wanted = entry.probe_wanted or _wants_probe(spec)
                continue
            entry = self._entries.get(key)
            if entry is None:
                entry = _Entry(spec, now_wall)
            else:
                entry.spec = spec
                entry.probe_wanted = _wants_probe(spec)
                entry.next_probe = 0.0  # the check may have changed: check it soon
            entries[key] = entry
        self._entries = entries
        self.failure_runs = any(e.fails for e in entries.values())  # forgotten runs end
        self.version += 1

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
            self.version += 1
        elif _wants_probe(spec):
            entry.probe_wanted = True
        return entry

    # -- writes: reports ------------------------------------------------------------------

    def mark_dead(
        self,
        spec: BackendSpec,
        reason: str,
        *,
        http_level: bool = False,
    ) -> Transition | None:
        """``spec`` is out at once: a connect failed (Pound's behaviour), or the single
        writer decided so (``http_level`` as in its Transition). Transition if it was
        alive."""
        if spec.kind is not BackendKind.PROXY:
            return None
        return self._apply(self._entry(spec), Event.DOWN, reason, 0, Cause.REPORTED, http_level)

    def report_dead(
        self, spec: BackendSpec, reason: str, *, http_level: bool, epoch: int
    ) -> Transition | None:
        """Another process saw ``spec`` fail (a worker's ``ObservedDead``) while it knew
        the decision numbered ``epoch``. An observation made before the board's latest
        decision about ``spec`` (e.g. a request that failed before the backend was
        brought back, reported late) says nothing about the backend now: ignored.
        Otherwise as ``mark_dead``."""
        entry = self._entries.get(spec.identity)
        if entry is not None and epoch < entry.epoch:
            return None
        return self.mark_dead(spec, reason, http_level=http_level)

    def epoch_of(self, spec: BackendSpec) -> int:
        """How many times ``spec`` changed between alive and dead on this board: the
        number of the decision in force, which workers echo in their observations."""
        entry = self._entries.get(spec.identity)
        return 0 if entry is None else entry.epoch

    def mark_alive(self, spec: BackendSpec, reason: str) -> Transition | None:
        """``spec`` is back at once (the single writer's or the operator's decision).
        Transition if it was dead. Probe results go to ``check_passed`` instead."""
        if spec.kind is not BackendKind.PROXY:
            return None
        return self._apply(self._entry(spec), Event.UP, reason, 0, Cause.REPORTED)

    def observe_failure(
        self, spec: BackendSpec, reason: str, http_level: bool
    ) -> Transition | None:
        """A request saw ``spec`` fail after connecting: a response timeout, a reset before
        the response head, or a FailoverStatus answer (``http_level``: it answered or
        accepted, so it is probed with HTTP). ``fall`` in a row take it out. Nothing when
        the spec's service turned passive checks off."""
        if not spec.passive or spec.kind is not BackendKind.PROXY:
            return None
        entry = self._entry(spec)
        return self._apply(entry, Event.FAIL, reason, spec.fall, Cause.PASSIVE, http_level)

    def observe_success(self, spec: BackendSpec) -> None:
        """A request to ``spec`` got a good answer: its run of failures ends. The hot
        path: nothing to do while ``failure_runs`` is False (the fast lane tests it first
        and skips the call), else one lookup, and nothing written unless a run was under
        way."""
        if not self.failure_runs:
            return
        entry = self._entries.get(spec.identity)
        if entry is not None and entry.fails:
            entry.fails = 0
            self.failure_runs = any(e.fails for e in self._entries.values())

    def check_passed(self, spec: BackendSpec, reason: str) -> Transition | None:
        """A check (HealthCheck, HEAD / or TCP probe) of ``spec`` succeeded."""
        if spec.kind is not BackendKind.PROXY:
            return None
        entry = self._entry(spec)
        entry.checking = False
        transition = self._apply(entry, Event.PASS, reason, spec.rise, Cause.CHECK)
        self._schedule(entry)
        return transition

    def check_failed(self, spec: BackendSpec, reason: str) -> Transition | None:
        """A check of ``spec`` failed (refused, timed out, or a bad answer)."""
        if spec.kind is not BackendKind.PROXY:
            return None
        entry = self._entry(spec)
        entry.checking = False
        transition = self._apply(entry, Event.FAIL, reason, spec.fall, Cause.CHECK)
        self._schedule(entry)
        return transition

    def probe_started(self, spec: BackendSpec) -> None:
        """A check of ``spec`` is in flight: not due again before its interval."""
        entry = self._entry(spec)
        entry.checking = True
        self._schedule(entry)

    def probe_cancelled(self, spec: BackendSpec) -> None:
        """A check ended without a result (prober stopped): says nothing about the
        backend, which stays as it was, to be checked by the next prober."""
        self._entry(spec).checking = False

    # -- writes: the operator -------------------------------------------------------------

    def set_enabled(self, spec: BackendSpec, enabled: bool) -> bool:
        """Operator enable/disable (control API). Returns True if that changed anything."""
        entry = self._entry(spec)
        if entry.operator_disabled == (not enabled):
            return False
        entry.operator_disabled = not enabled
        entry.record(self._clock.wall(), "enabled" if enabled else "disabled", OPERATOR_REASON)
        self.version += 1
        return True

    def set_draining(self, spec: BackendSpec, draining: bool) -> bool:
        """Operator drain (control API): no new requests or sessions go to ``spec``;
        those in flight finish. Returns True if that changed anything."""
        entry = self._entry(spec)
        if entry.draining == draining:
            return False
        entry.draining = draining
        word = "draining" if draining else "drain ended"
        entry.record(self._clock.wall(), word, OPERATOR_REASON)
        self.version += 1
        return True

    # -- the table --------------------------------------------------------------------------

    def _apply(
        self,
        entry: _Entry,
        event: Event,
        reason: str,
        threshold: int,
        cause: Cause,
        http_level: bool = False,
    ) -> Transition | None:
        was_alive = entry.alive
        if event is Event.FAIL:
            run = entry.fails + 1 if was_alive else 0
        elif event is Event.PASS:
            run = 0 if was_alive else entry.passes + 1
        else:
            run = 0
        reached = run > 0 and run >= threshold
        step = _TABLE[(was_alive, event, reached)]
        if step.counters is Count.RESET:
            entry.fails = entry.passes = 0
        elif step.counters is Count.FAIL:
            entry.fails += 1
            self.failure_runs = True
        elif step.counters is Count.PASS:
            entry.passes += 1
        now_wall = self._clock.wall()
        if event is not Event.UP:
            entry.last_check = now_wall
            entry.last_result = reason
            entry.last_ok = event is Event.PASS
        if step.alive == was_alive:
            return None
        if run > 1:
            counted = "failures" if event is Event.FAIL else "good checks"
            reason = f"{reason} ({run} {counted} in a row)"
        entry.alive = step.alive
        entry.reason = reason
        entry.cause = cause
        entry.since = now_wall
        entry.record(now_wall, "up" if step.alive else "down", reason)
        entry.epoch += 1
        if not step.alive:
            entry.http_probe = http_level
            self._schedule(entry)
        self.version += 1
        transition = Transition(
            entry.spec, step.alive, reason, now_wall, cause, http_level, entry.epoch
        )
        for callback in tuple(self._subscribers):
            callback(transition)
        return transition

    # -- probing schedule -------------------------------------------------------------------

    def _interval(self, entry: _Entry) -> float:
        check = entry.spec.check
        if check is not None:
            return check.interval
        if entry.passes:
            return min(self.alive_interval, RISE_RECHECK_INTERVAL)
        return self.alive_interval

    def _schedule(self, entry: _Entry) -> None:
        entry.next_probe = self._clock.monotonic() + self._interval(entry)

    def _probe_candidates(self, exclude: Set[Identity]) -> Iterable[_Entry]:
        for key, entry in self._entries.items():
            if (
                (not entry.alive or entry.spec.check is not None)
                and not entry.checking
                and entry.probe_wanted
                and not entry.operator_disabled
                and key not in exclude
            ):
                yield entry

    def due_probes(self, exclude: Set[Identity] = frozenset()) -> list[BackendSpec]:
        """Backends whose check is due: dead ones, and live ones with a HealthCheck.

        ``exclude``: identities the caller is still checking."""
        now = self._clock.monotonic()
        return [e.spec for e in self._probe_candidates(exclude) if e.next_probe <= now]

    def next_probe_at(self, exclude: Set[Identity] = frozenset()) -> float | None:
        """Monotonic time of the earliest scheduled check, or None when none is waiting."""
        return min((e.next_probe for e in self._probe_candidates(exclude)), default=None)

    def probe_check(self, spec: BackendSpec) -> HealthCheckSpec | None:
        """How to check ``spec`` now: its HealthCheck; ``HEAD /`` expecting a status below
        500 when it is down for an HTTP-level reason; None for a TCP connect (Alive)."""
        entry = self._entries.get(spec.identity)
        current = spec if entry is None else entry.spec
        if current.check is not None:
            return current.check
        if entry is not None and not entry.alive and entry.http_probe:
            return passive_probe(current.timeout, current)
        return None

    # -- control API ------------------------------------------------------------------------

    def snapshot(self) -> tuple[BackendHealth, ...]:
        """Every backend's health, in registration order."""
        return tuple(self._row(e) for e in self._entries.values())

    def health_of(self, spec: BackendSpec) -> BackendHealth | None:
        """One backend's row of ``snapshot()``; None for a backend never registered."""
        entry = self._entries.get(spec.identity)
        return None if entry is None else self._row(entry)

    def _row(self, e: _Entry) -> BackendHealth:
        redirect = e.spec.kind is not BackendKind.PROXY
        if redirect:
            probe = "none"
        elif e.spec.check is not None or (not e.alive and e.http_probe):
            probe = "http"
        else:
            probe = "tcp"
        return BackendHealth(
            spec=e.spec,
            state=e.state,
            alive=redirect or e.alive,
            enabled=not e.operator_disabled,
            reason=e.reason,
            since=e.since,
            last_check=e.last_check,
            last_result=e.last_result,
            draining=e.draining,
            cause=e.cause,
            last_ok=e.last_ok,
            failures=e.fails,
            successes=e.passes,
            probe=probe,
            epoch=e.epoch,
            history=e.history,
        )
