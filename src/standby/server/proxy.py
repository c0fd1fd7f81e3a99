"""The proxy of one process: listeners, connections, upstream pools and health.

``Proxy`` is what the process runner drives: construct it (resolving backend names, before
any chroot), ``start`` it on bound sockets, ``stop`` it gracefully or ``abort`` it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import TYPE_CHECKING

from standby.balance import Balancer
from standby.cache.policy import CachePolicy, CookieMode
from standby.cache.store import StaleStore
from standby.clock import Clock, SystemClock
from standby.control.server import ControlServer
from standby.health.board import HealthBoard, Transition
from standby.health.prober import Prober
from standby.http1 import Limits
from standby.model import (
    BackendKind,
    BackendSpec,
    ConfigSpec,
    ListenerSpec,
    ServiceSpec,
    StaleSpec,
)
from standby.routing import Router
from standby.server.client import ClientProtocol
from standby.server.policy import service_policy
from standby.server.shared import ListenerRuntime, Shared
from standby.server.stats import BackendCounters
from standby.server.timers import Reaper
from standby.server.view import ProxyView
from standby.upstream.pool import Pool

if TYPE_CHECKING:
    from standby.observe.access import AccessLog

log = logging.getLogger("standby.server")

# How often idle upstream connections past their idle timeout are closed.
POOL_PRUNE_INTERVAL = 1.0
# Listen backlog for sockets the proxy binds itself (tests, demo); the runner binds its own.
LISTEN_BACKLOG = 1024


def cache_policy(spec: StaleSpec) -> CachePolicy:
    """The stale store's policy for a ``StaleFallback`` section."""
    return CachePolicy(
        size=spec.size,
        max_object=spec.max_object,
        directory=spec.directory,
        cookies=CookieMode.KEY if spec.key_cookies else CookieMode.SKIP,
        max_age=spec.max_age,
    )


def listener_limits(spec: ListenerSpec) -> Limits:
    """The request limits of a listener (MaxURI, MaxRequest override the defaults)."""
    limits = Limits()
    changes: dict[str, int] = {}
    if spec.max_uri:
        changes["max_uri"] = spec.max_uri
    if spec.max_request:
        changes["max_body"] = spec.max_request
    if changes:
        from dataclasses import replace

        limits = replace(limits, **changes)
    return limits


def all_backends(config: ConfigSpec) -> list[BackendSpec]:
    services: list[ServiceSpec] = list(config.services)
    for listener in config.listeners:
        services.extend(listener.services)
    found: list[BackendSpec] = []
    for service in services:
        found.extend(service.backends)
        found.extend(service.emergencies)
    return found


def all_services(config: ConfigSpec) -> list[ServiceSpec]:
    services: list[ServiceSpec] = [s for lst in config.listeners for s in lst.services]
    services.extend(config.services)
    return services


class Proxy:
    """Serves a configuration on already bound listening sockets."""

    def __init__(
        self,
        config: ConfigSpec,
        *,
        access_log: AccessLog | None = None,
        clock: Clock | None = None,
        probe: bool = True,
    ) -> None:
        """``probe``: run the health prober in this process (the single writer). A worker
        supervised by another process passes False and mirrors the supervisor's health
        decisions into ``self.board`` instead."""
        self.config = config
        self.access_log = access_log
        self.clock = clock or SystemClock()
        self.board = HealthBoard(self.clock, alive_interval=config.alive)
        self._backends = all_backends(config)
        for backend in self._backends:
            self.board.register(backend)
        # Resolve host names now (blocking), before a chroot hides the resolver's files.
        self._resolved: dict[int, BackendSpec] = {}
        self._pools: dict[int, Pool] = {}
        self._servers: list[asyncio.AbstractServer] = []
        self._shared: Shared | None = None
        self._prober: Prober | None = None
        self._probe = probe
        self._prune: asyncio.TimerHandle | None = None
        self._pool_specs = [b for b in self._backends if b.kind is BackendKind.PROXY]
        self._counters: dict[int, BackendCounters] = {
            id(b): BackendCounters() for b in self._backends
        }
        self._by_identity: dict[object, list[BackendCounters]] = {}
        for backend in self._backends:
            self._by_identity.setdefault(backend.identity, []).append(self._counters[id(backend)])
        self._listener_enabled = [True] * len(config.listeners)
        self._control: ControlServer | None = None
        self.view = ProxyView(self, self.clock.wall())
        self.board.subscribe(self._count_transition)
        # Resolution is done by Pool; build the address table eagerly to fail early.
        from standby.upstream.pool import resolve

        self._addresses = {id(b): resolve(b) for b in self._pool_specs}

    @property
    def in_flight(self) -> int:
        return self._shared.in_flight if self._shared is not None else 0

    @property
    def connections(self) -> int:
        return len(self._shared.reaper) if self._shared is not None else 0

    async def start(self, sockets: list[socket.socket]) -> None:
        """Serve ``config.listeners`` on ``sockets`` (same order, bound and listening)."""
        if len(sockets) != len(self.config.listeners):
            raise ValueError("one socket per listener is required")
        loop = asyncio.get_running_loop()
        shared = Shared(
            loop=loop,
            config=self.config,
            board=self.board,
            reaper=Reaper(loop),
            access_log=self.access_log,
        )
        for service in all_services(self.config):
            shared.balancers[id(service)] = Balancer(service, self.board)
            shared.policies[id(service)] = service_policy(service, self.config)
            if service.stale is not None:
                store = StaleStore(cache_policy(service.stale), self.clock.wall)
                # Before serving (nothing else uses the store yet); may read many files.
                await asyncio.to_thread(store.load)
                shared.stale_stores[id(service)] = store
        shared.counters = self._counters
        shared.view = self.view
        for backend in self._pool_specs:
            shared.pools[id(backend)] = Pool(backend, loop, address=self._addresses[id(backend)])
        for spec in self.config.listeners:
            shared.listeners.append(
                ListenerRuntime(
                    spec=spec,
                    router=Router(spec, self.config.services),
                    limits=listener_limits(spec),
                    methods=spec.methods,
                    port=str(spec.port).encode("ascii"),
                )
            )
        self._shared = shared
        if self._probe:
            self._prober = Prober(self.board, self.clock)
            self._prober.start()
        for runtime, sock in zip(shared.listeners, sockets, strict=True):
            server = await loop.create_server(
                lambda rt=runtime: ClientProtocol(shared, rt),  # type: ignore[misc]
                sock=sock,
                backlog=LISTEN_BACKLOG,
            )
            self._servers.append(server)
        self._prune = loop.call_later(POOL_PRUNE_INTERVAL, self._prune_pools)
        if self._probe and self.config.control is not None:
            # The health writer owns the control socket (in one process: this one).
            self._control = ControlServer(
                self.config.control, self.view, mode=self.config.control_mode, clock=self.clock
            )
            await self._control.start()

    # -- the operator's switches (control API) ------------------------------------------

    def listener_enabled(self, index: int) -> bool:
        return self._listener_enabled[index]

    def set_listener_enabled(self, index: int, enabled: bool) -> None:
        """A disabled listener keeps its socket but answers 503 to every request."""
        self._listener_enabled[index] = enabled
        if self._shared is not None:
            self._shared.listeners[index].enabled = enabled

    def _routers(self) -> list[Router]:
        return [rt.router for rt in self._shared.listeners] if self._shared is not None else []

    def service_disabled(self, service: ServiceSpec) -> bool:
        return any(service in r.services and r.is_disabled(service) for r in self._routers())

    def set_service_enabled(self, service: ServiceSpec, enabled: bool) -> None:
        for router in self._routers():
            if service in router.services:
                router.set_disabled(service, not enabled)

    def set_backend_enabled(self, backend: BackendSpec, enabled: bool) -> None:
        if self.board.set_enabled(backend, enabled) and self._prober is not None:
            self._prober.wake()

    def counters_of(self, backend: BackendSpec) -> BackendCounters | None:
        return self._counters.get(id(backend))

    def _count_transition(self, transition: Transition) -> None:
        for counters in self._by_identity.get(transition.spec.identity, ()):
            counters.transitions += 1

    def _prune_pools(self) -> None:
        shared = self._shared
        if shared is None:
            return
        for pool in shared.pools.values():
            pool.prune()
        self._prune = shared.loop.call_later(POOL_PRUNE_INTERVAL, self._prune_pools)

    def _stop_accepting(self) -> None:
        for server in self._servers:
            server.close()
        self._servers = []

    async def stop(self, grace: float) -> None:
        """Stop accepting; let requests in flight finish within ``grace`` seconds; close."""
        shared = self._shared
        self._stop_accepting()
        if shared is None:
            return
        shared.stopping = True
        # Close idle keep-alive connections now; busy ones close after their response
        # (every exchange sees ``stopping`` and answers with Connection: close).
        for member in shared.reaper.members():
            if isinstance(member, ClientProtocol):
                member.close_if_idle()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await shared.reaper.wait_empty()
        await self._shutdown()

    def abort(self) -> None:
        """Close everything at once."""
        self._stop_accepting()
        shared = self._shared
        if shared is not None:
            shared.stopping = True
            for member in shared.reaper.members():
                if isinstance(member, ClientProtocol):
                    member.abort()
            for pool in shared.pools.values():
                pool.close()
            for store in shared.stale_stores.values():
                store.close()
            shared.stale_stores.clear()
            shared.reaper.close()
        if self._prune is not None:
            self._prune.cancel()
            self._prune = None

    async def _shutdown(self) -> None:
        if self._control is not None:
            await self._control.stop()
            self._control = None
        if self._prober is not None:
            await self._prober.stop()
            self._prober = None
        self.abort()
