"""The running proxy as the control API and metrics see it (``control.view.RuntimeView``),
for a proxy that is its own health writer (one process)."""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from standby import __version__
from standby.control.view import (
    BackendState,
    CoreInfo,
    HealthDetail,
    ObjectPath,
    SessionInfo,
    resolve,
    services_of,
    session_add,
    session_delete,
    session_list,
)
from standby.model import BackendSpec, ConfigSpec, ListenerSpec, ServiceSpec

if TYPE_CHECKING:
    from standby.balance.sessions import SessionTables
    from standby.health.board import HealthBoard
    from standby.server.stats import BackendCounters

Reloader = Callable[[], Awaitable[tuple[bool, str]]]


class Viewed(Protocol):
    """What the view asks of its proxy (server/proxy.py's, which makes the view: typed here,
    so that no import runs back to it)."""

    config: ConfigSpec
    board: HealthBoard
    sessions: SessionTables  # issue 15

    def listener_enabled(self, index: int) -> bool: ...
    def set_listener_enabled(self, index: int, enabled: bool) -> None: ...
    def service_disabled(self, service: ServiceSpec) -> bool: ...
    def set_service_enabled(self, service: ServiceSpec, enabled: bool) -> None: ...
    def set_backend_enabled(self, backend: BackendSpec, enabled: bool) -> None: ...
    def counters_of(self, backend: BackendSpec) -> BackendCounters | None: ...
    async def reload_from_source(self) -> tuple[bool, str]: ...


class ProxyView:
    """``RuntimeView`` over one ``Proxy``: health from its board, counts from its shell."""

    def __init__(self, proxy: Viewed, started: float, reloader: Reloader | None = None) -> None:
        self._proxy = proxy
        self._started = started
        # What the control socket's reload runs; the single process routes it through its
        # life cycle, which tells systemd (process.lifecycle.serve).
        self.reloader = reloader

    def config(self) -> ConfigSpec:
        return self._proxy.config

    def core(self) -> CoreInfo:
        return CoreInfo(pid=os.getpid(), version=__version__, started=self._started, workers=1)

    def listener_enabled(self, listener: int) -> bool:
        return self._proxy.listener_enabled(listener)

    def service_enabled(self, path: ObjectPath) -> bool:
        spec = resolve(self.config(), path)
        assert isinstance(spec, ServiceSpec)
        return not spec.disabled and not self._proxy.service_disabled(spec)

    def backend_state(self, path: ObjectPath) -> BackendState:
        spec = resolve(self.config(), path)
        assert isinstance(spec, BackendSpec)
        board = self._proxy.board
        row = board.health_of(spec)
        counters = self._proxy.counters_of(spec)
        return BackendState(
            alive=board.is_alive(spec),
            enabled=board.is_enabled(spec),
            draining=board.is_draining(spec),
            in_flight=counters.in_flight if counters else 0,
            requests=counters.requests if counters else 0,
            since=row.since if row else self._started,
            reason=row.reason if row else "configured",
            health=HealthDetail(
                last_check=row.last_check if row else None,
                last_result=row.last_result if row else None,
                successes=row.successes if row else 0,
                failures=row.failures if row else 0,
            ),
            statuses=counters.statuses() if counters else {},
            failovers=counters.failovers if counters else 0,
            resends=counters.resends if counters else 0,
            transitions=counters.transitions if counters else 0,
            latency=counters.latency if counters else None,
            history=row.history if row else (),
        )

    def set_enabled(self, path: ObjectPath, enabled: bool) -> None:
        spec = resolve(self.config(), path)
        if isinstance(spec, ListenerSpec):
            assert path.listener is not None
            self._proxy.set_listener_enabled(path.listener, enabled)
        elif isinstance(spec, ServiceSpec):
            self._proxy.set_service_enabled(spec, enabled)
        else:
            self._proxy.set_backend_enabled(spec, enabled)

    def set_draining(self, path: ObjectPath, draining: bool) -> None:
        spec = resolve(self.config(), path)
        assert isinstance(spec, BackendSpec)
        self._proxy.board.set_draining(spec, draining)

    # --- issue 15: sessions (on the loop's clock: time.monotonic) ---

    def sessions(self, path: ObjectPath) -> list[SessionInfo] | None:
        service = resolve(self.config(), path)
        assert isinstance(service, ServiceSpec)
        return session_list(self._proxy.sessions, service, time.monotonic(), time.time())

    def add_session(self, path: ObjectPath, key: str) -> bool:
        return session_add(self._proxy.sessions, self.config(), path, key, time.monotonic())

    def delete_session(self, path: ObjectPath, key: str) -> bool:
        return session_delete(self._proxy.sessions, self.config(), path, key, time.monotonic())

    async def reload(self) -> tuple[bool, str]:
        if self.reloader is not None:
            return await self.reloader()
        return await self._proxy.reload_from_source()


__all__ = ["ProxyView", "services_of"]
