"""What the control API reads and changes: the ``RuntimeView`` protocol (pure).

The proxy (one process) and the supervisor (several workers) implement ``RuntimeView``; the
control API (``control.api``) and the metrics renderer only talk to it. Objects are addressed
by ``ObjectPath``: indexes into the *configuration* (``ConfigSpec.listeners``, a listener's
``services``, the global ``ConfigSpec.services``), never Pound's numbering with the Control
socket counted as a listener: translating between the two is the API's job, so implementers
never see it.

A backend index counts a service's regular backends first, then its Emergency backends, in
configuration order: ``ServiceSpec.backends + ServiceSpec.emergencies``.

This module is pure: no I/O, no clock. ``reload`` is the one coroutine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from standby.balance.sessions import MAX_KEY, SessionTables
from standby.health.board import Change
from standby.model import BackendSpec, ConfigSpec, ListenerSpec, ServiceSpec
from standby.observe.metrics import LatencyHistogram

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class ObjectPath:
    """A listener, a service or a backend, by configuration indexes.

    ``listener`` is an index into ``ConfigSpec.listeners``, or None for the global services
    (then ``service`` is required). ``backend`` indexes ``backends + emergencies``.
    """

    listener: int | None
    service: int | None = None
    backend: int | None = None

    def __post_init__(self) -> None:
        if self.listener is None and self.service is None:
            raise ValueError("the global scope needs a service index")
        if self.backend is not None and self.service is None:
            raise ValueError("a backend index needs a service index")


@dataclass(frozen=True, slots=True)
class HealthDetail:
    """The health writer's last word on a backend."""

    last_check: float | None = None  # wall time of the last check or passive observation
    last_result: str | None = None  # what it found ("connected", "status 503", "timeout"...)
    successes: int = 0  # consecutive good checks
    failures: int = 0  # consecutive failures


@dataclass(frozen=True, slots=True)
class BackendState:
    """Everything live about one backend, as one consistent snapshot."""

    alive: bool
    enabled: bool  # not disabled by the operator nor by `Disabled 1`
    draining: bool  # no new requests or sessions; in-flight ones finish
    # Requests in flight to it now; None when unknown: a worker did not answer (then its
    # pid is in ``unanswered``), and it may be serving some.
    in_flight: int | None
    requests: int  # requests sent to it since start (or since it was configured)
    since: float  # wall time of its last transition (or of its registration)
    reason: str  # why that transition happened
    health: HealthDetail = field(default_factory=HealthDetail)
    statuses: Mapping[int, int] = field(default_factory=dict)  # responses by status code
    failovers: int = 0  # requests that left it for another backend after a failure
    resends: int = 0  # requests it received as a resend
    transitions: int = 0  # alive <-> dead transitions since start
    latency: LatencyHistogram | None = None  # response-head latency, when measured
    # Worker processes (pids) that did not answer for this reading: its in-flight count is
    # unknown, and its counters are as that worker last reported them.
    unanswered: tuple[int, ...] = ()
    # The last changes (up, down, disabled, draining...) with their reasons, oldest first.
    history: tuple[Change, ...] = ()


@dataclass(frozen=True, slots=True)
class CoreInfo:
    """The process as a whole (Pound's "core" object)."""

    pid: int
    version: str
    started: float  # wall time of start
    workers: int  # worker processes (1 when the proxy runs in-process)
    unanswered: tuple[int, ...] = ()  # workers (pids) that did not answer for this reading


class RuntimeView(Protocol):
    """The running proxy as the control API sees it. Paths are validated by the caller:
    every ``ObjectPath`` passed in names an object of ``config()``."""

    def config(self) -> ConfigSpec:
        """The configuration in force (it changes after a successful reload)."""
        ...

    def core(self) -> CoreInfo: ...

    def listener_enabled(self, listener: int) -> bool: ...

    def service_enabled(self, path: ObjectPath) -> bool: ...

    def backend_state(self, path: ObjectPath) -> BackendState: ...

    def set_enabled(self, path: ObjectPath, enabled: bool) -> None:
        """Enable or disable a listener, a service or a backend."""
        ...

    def set_draining(self, path: ObjectPath, draining: bool) -> None:
        """Start or stop draining a backend."""
        ...

    async def reload(self) -> tuple[bool, str]:
        """Re-read the configuration: (True, what changed) or (False, the error); on error
        the old configuration keeps running."""
        ...


def all_backends(service: ServiceSpec) -> tuple[BackendSpec, ...]:
    """A service's backends in index order: regular ones, then Emergency ones."""
    return service.backends + service.emergencies


def services_of(config: ConfigSpec, listener: int | None) -> tuple[ServiceSpec, ...]:
    """The services of listener ``listener``, or the global ones for None."""
    if listener is None:
        return config.services
    return config.listeners[listener].services


def resolve(config: ConfigSpec, path: ObjectPath) -> ListenerSpec | ServiceSpec | BackendSpec:
    """The spec ``path`` names; IndexError when it names nothing."""
    if path.service is None:
        assert path.listener is not None  # ObjectPath guarantees it
        return _at(config.listeners, path.listener)
    service = _at(services_of(config, path.listener), path.service)
    if path.backend is None:
        return service
    return _at(all_backends(service), path.backend)


def listener_address(spec: ListenerSpec) -> str:
    if ":" in spec.address:
        return f"[{spec.address}]:{spec.port}"
    return f"{spec.address}:{spec.port}"


def backend_address(spec: BackendSpec) -> str:
    if spec.unix:
        return spec.address
    if ":" in spec.address:
        return f"[{spec.address}]:{spec.port}"
    return f"{spec.address}:{spec.port}"


def backend_state_word(state: BackendState) -> str:
    """One word for tables: disabled beats draining beats dead."""
    if not state.enabled:
        return "disabled"
    if state.draining:
        return "draining"
    return "active" if state.alive else "dead"


def _at(items: tuple[_T, ...], index: int) -> _T:
    if not 0 <= index < len(items):
        raise IndexError(index)
    return items[index]


# --- issue 15: sessions -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """One session of a service, as the control interface shows it."""

    key: str  # as the request carried it (latin-1)
    backend: int  # index into the service's backends (``all_backends``)
    expires: float  # wall time at which it expires unless used again


class SessionView(Protocol):
    """What a ``RuntimeView`` offers for sessions (both implementations have it)."""

    def sessions(self, path: ObjectPath) -> list[SessionInfo] | None:
        """The live sessions of a service; None when it has no `Session`."""
        ...

    def add_session(self, path: ObjectPath, key: str) -> bool:
        """Make (or move) the session ``key`` to the backend ``path``; False when its
        service has no `Session`."""
        ...

    def delete_session(self, path: ObjectPath, key: str) -> bool:
        """Delete the session ``key`` of a service; False when it had none."""
        ...


def session_list(
    tables: SessionTables, service: ServiceSpec, mono: float, wall: float
) -> list[SessionInfo] | None:
    """``service``'s sessions from ``tables``; ``mono`` is the tables' clock now, ``wall``
    the wall clock now (expiry is shown as a wall time)."""
    table = tables.of(service)
    if table is None:
        return None
    index = {b.identity: i for i, b in enumerate(all_backends(service))}
    return [
        SessionInfo(s.key.decode("latin-1"), index[s.identity], wall + s.expires - mono)
        for s in table.sessions(mono)
        if s.identity in index
    ]


def session_add(
    tables: SessionTables, config: ConfigSpec, path: ObjectPath, key: str, mono: float
) -> bool:
    backend = resolve(config, path)
    service = resolve(config, ObjectPath(path.listener, path.service))
    assert isinstance(backend, BackendSpec) and isinstance(service, ServiceSpec)
    table = tables.of(service)
    if table is None:
        return False
    table.add(key.encode("latin-1")[:MAX_KEY], backend.identity, mono)
    return True


def session_delete(
    tables: SessionTables, config: ConfigSpec, path: ObjectPath, key: str, mono: float
) -> bool:
    service = resolve(config, path)
    assert isinstance(service, ServiceSpec)
    table = tables.of(service)
    return table is not None and table.remove(key.encode("latin-1")[:MAX_KEY], mono)
