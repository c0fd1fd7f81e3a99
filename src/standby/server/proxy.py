"""The proxy of one process: listeners, connections, upstream pools and health.

``Proxy`` is what the process runner drives: construct it (resolving backend names, before
any chroot), ``start`` it on bound sockets, ``stop`` it gracefully or ``abort`` it.

The stale stores are kept by name (``cache.services``) across reloads, as pools are kept by
backend identity. In one process the proxy owns them with their ``Directory``; in a
supervised worker (``probe`` False) they are replicas without one, filled and shared by the
worker's link (``table``, ``on_table_change``) with the supervisor, which owns them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, cast

from standby.acme.manager import AcmeManager
from standby.acme.manager import follow as follow_acme
from standby.balance import Balancer
from standby.balance.sessions import SessionTable, SessionTables, Sticky
from standby.cache.policy import CachePolicy
from standby.cache.services import stale_services
from standby.cache.store import StaleStore, renewed
from standby.clock import Clock, SystemClock
from standby.config import ConfigError, reload_config
from standby.control.server import BoundControl, ControlServer, control_changed
from standby.control.view import HANDOVER_LINGER
from standby.dns.expand import Target, expand
from standby.dns.tracker import DnsTracker
from standby.health.board import HealthBoard, Transition
from standby.health.prober import Prober
from standby.http1 import Limits
from standby.http1.edit import editor
from standby.model import (
    BackendKind,
    BackendSpec,
    ConfigSpec,
    ListenerSpec,
    ServiceSpec,
    TunnelSpec,
    listening,
)
from standby.routing import Router
from standby.server.client import ClientProtocol
from standby.server.lane import edits_lane, lane_wanted
from standby.server.policy import service_policy
from standby.server.ratelimit import LIMITER as RATE_LIMITS
from standby.server.ratelimit import install as install_rate_limiter
from standby.server.shared import (
    BackendRuntime,
    ControlSource,
    ListenerRuntime,
    MetricsSource,
    ServiceRuntime,
    Shared,
)
from standby.server.stats import BackendCounters
from standby.server.timers import Reaper
from standby.server.tunnel import Tunnel, tunnel_factory
from standby.server.view import ProxyView
from standby.server.watch import WATCH_POLL_INTERVAL, ListFiles
from standby.tls.context import check_settings
from standby.tls.store import CERT_POLL_INTERVAL, TlsListener
from standby.upstream.pool import Pool, resolve
from standby.upstream.tls import prepare as prepare_backend_tls

if TYPE_CHECKING:
    from standby.observe.access import AccessLog

log = logging.getLogger("standby.server")

# How often idle upstream connections past their idle timeout are closed.
POOL_PRUNE_INTERVAL = 1.0
# Listen backlog for sockets the proxy binds itself (tests, demo); the runner binds its own.
LISTEN_BACKLOG = 1024


# Told of a capture in a stale store: (store name, key, False if only its time changed).
TableListener = Callable[[str, bytes, bool], None]


def listener_limits(spec: ListenerSpec) -> Limits:
    """The request limits of a listener (MaxURI, MaxRequest override the defaults)."""
    default = Limits()
    if spec.line_buffer:  # LineBufferSize: lines and, unless MaxURI says, the target
        return Limits(
            max_request_line=spec.line_buffer,
            max_uri=spec.max_uri or spec.line_buffer,
            max_header_line=spec.line_buffer,
            max_body=spec.max_request,
        )
    return Limits(
        max_uri=spec.max_uri or default.max_uri, max_body=spec.max_request or default.max_body
    )


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


ListenerKey = tuple[str, int]


def listener_key(spec: ListenerSpec) -> ListenerKey:
    """A listener's identity across reloads: the socket it serves."""
    return (spec.address, spec.port)


def tunnels_by_key(config: ConfigSpec) -> dict[ListenerKey, TunnelSpec]:
    return {listener_key(tunnel.listen): tunnel for tunnel in config.tunnels}


class Proxy:
    """Serves a configuration on already bound listening sockets; reloads in place."""

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
        decisions into ``self.board`` instead.

        Backend host names are resolved here (blocking), before a chroot hides the
        resolver's files."""
        self.config = config
        install_rate_limiter()  # TBF conditions: this process's bucket tables
        self.access_log = access_log
        self.clock = clock or SystemClock()
        self.board = HealthBoard(self.clock, alive_interval=config.alive)
        self.board.register_all(all_backends(config))
        self._addresses = resolve_all(config, {})
        # HTTPS listeners' contexts and certificates, by listener: loaded here, before
        # privileges are dropped (a key only root may read) and before workers fork.
        self._tls: dict[ListenerKey, TlsListener] = tls_listeners(config, {})
        self._list_files = ListFiles()  # htpasswd and -filewatch files (server/watch.py)
        self._list_poll: asyncio.TimerHandle | None = None
        self._cert_poll: asyncio.TimerHandle | None = None
        # HTTPS backends' contexts, client certificates read now (before privileges drop).
        prepare_backend_tls(all_backends(config))
        # Carried across reloads by backend identity: health (the board), counters, pools.
        self._counters: dict[object, BackendCounters] = {}
        self._pools: dict[object, Pool] = {}
        # Stale stores by name, kept across reloads; the configuration's, by name.
        self._stale: dict[str, StaleStore] = {}
        self._stale_specs = stale_services(config)
        # A supervised worker's link: told of every capture, to share it.
        self.on_table_change: TableListener | None = None
        # Issue 15: session tables by name, kept across reloads; shared like stale stores.
        self.sessions = SessionTables()
        self.sessions.configure(config)
        self.sessions.on_change = self._stale_committed
        self._sockets: dict[ListenerKey, socket.socket] = {}
        # Issue 15: Pound 4's tunnels by their socket (server/tunnel.py); the newest
        # configuration's serves each new connection.
        self._tunnels = tunnels_by_key(config)
        self._servers: dict[ListenerKey, asyncio.AbstractServer] = {}
        # A supervised worker: other slots' listening sockets it holds (``hold``) and the
        # servers on those it accepts on for now (``serve_extra``), by slot.
        self._held: list[socket.socket] = []
        self._extra: dict[int, list[asyncio.AbstractServer]] = {}
        self._accepting = True
        # `standbyctl keepalive off` (a planned switchover of an HA pair, docs/ha.md): every
        # answer closes its connection and idle ones are closed, while the listeners go on
        # accepting. Kept across reloads.
        self._keep_alive = True
        self._idle_close: asyncio.TimerHandle | None = None
        self._shared: Shared | None = None
        self._retired: list[Shared] = []  # older generations with connections still busy
        self._prober: Prober | None = None
        self._probe = probe
        self.acme: AcmeManager | None = None  # the ACME client, in the health owner
        self._prune: asyncio.TimerHandle | None = None
        self._control: ControlServer | None = None
        self._reload_lock = asyncio.Lock()
        self.view = ProxyView(self, self.clock.wall())
        # Set by a worker process: a Metrics service then shows the whole service.
        self.metrics_source: MetricsSource | None = None
        self.control_source: ControlSource | None = None  # issue 15: a Control service's
        # Set by the runner: the control socket it bound before dropping privileges.
        self.control_socket: BoundControl | None = None
        # The fast lane for common requests (server/lane.py); off only to test the
        # general path alone (STANDBY_LANE=0).
        self.lane = lane_wanted()
        self.board.subscribe(self._count_transition)
        # Issue 15, dynamic backends: the configuration as loaded (templates unexpanded),
        # what DNS says of its templates, and, in the health owner, the tracker that
        # asks (a supervised worker is told by its supervisor: ``set_targets``).
        self._base = config
        self._resolved: dict[int, tuple[Target, ...]] = {}
        self._dns = DnsTracker(self._dns_changed) if probe else None
        self._dns_reloads: set[asyncio.Task[tuple[bool, str]]] = set()

    @property
    def connections(self) -> int:
        return sum(len(s.reaper) for s in self._generations())

    def _generations(self) -> list[Shared]:
        return [*self._retired, *([self._shared] if self._shared is not None else [])]

    async def start(self, sockets: list[socket.socket]) -> None:
        """Serve ``config.listeners`` then ``config.tunnels`` on ``sockets`` (same order,
        bound and listening)."""
        if len(sockets) != len(listening(self.config)):
            raise ValueError("one socket per listener is required")
        loop = asyncio.get_running_loop()
        for spec, sock in zip(listening(self.config), sockets, strict=True):
            self._sockets[listener_key(spec)] = sock
        if self._resolved:  # a worker told its targets before it serves
            self._serve_resolved()
        self._shared = await self._build(self.config, loop)
        if self._dns is not None:
            self._dns.follow(self._base)
        if self._probe:
            self._prober = Prober(self.board, self.clock)
            self._prober.start()
            self.acme = await follow_acme(None, self.config.acme)
        for key in self._sockets:
            await self._serve(key, loop)
        self._prune = loop.call_later(POOL_PRUNE_INTERVAL, self._prune_pools)
        self._cert_poll = loop.call_later(CERT_POLL_INTERVAL, self._poll_certs)
        self._list_poll = loop.call_later(WATCH_POLL_INTERVAL, self._poll_lists)
        if self._probe and self.config.control is not None:
            # The health writer owns the control socket (in one process: this one).
            bound, self.control_socket = self.control_socket, None
            self._control = ControlServer(
                self.config.control,
                self.view,
                mode=self.config.control_mode,
                clock=self.clock,
                bound=bound,
            )
            await self._control.start()

    def _client_factory(self, key: ListenerKey) -> Callable[[], asyncio.Protocol]:
        def new_client() -> ClientProtocol:
            # The newest configuration serves every new connection.
            shared = self._shared
            assert shared is not None
            return ClientProtocol(shared, shared.listener_by_key[key])

        # An asyncio protocol by its methods (see ClientProtocol).
        return cast("Callable[[], asyncio.Protocol]", new_client)

    async def _serve(self, key: ListenerKey, loop: asyncio.AbstractEventLoop) -> None:
        self._servers[key] = await self._create_server(key, self._sockets[key], loop)

    async def _create_server(
        self, key: ListenerKey, sock: socket.socket, loop: asyncio.AbstractEventLoop
    ) -> asyncio.AbstractServer:
        if key in self._tunnels:
            return await loop.create_server(
                self._tunnel_factory(key), sock=sock, backlog=LISTEN_BACKLOG
            )
        tls = self._tls.get(key)
        if tls is None:
            return await loop.create_server(
                self._client_factory(key), sock=sock, backlog=LISTEN_BACKLOG
            )
        # A handshake is bounded by the listener's Client timeout, as a request head is.
        return await loop.create_server(
            self._client_factory(key),
            sock=sock,
            backlog=LISTEN_BACKLOG,
            ssl=tls.context,
            ssl_handshake_timeout=self._client_timeout(key),
        )

    def _tunnel_factory(self, key: ListenerKey) -> Callable[[], asyncio.Protocol]:
        def new_tunnel() -> asyncio.Protocol:
            shared = self._shared
            assert shared is not None
            return tunnel_factory(self._tunnels[key], shared.reaper)

        return new_tunnel

    def _client_timeout(self, key: ListenerKey) -> float:
        for spec in self.config.listeners:
            if listener_key(spec) == key:
                return spec.client_timeout
        return self.config.client_timeout

    def _poll_certs(self) -> None:
        """Load certificate files that changed (each process looks for itself)."""
        for tls in self._tls.values():
            tls.poll()
        shared = self._shared
        if shared is not None and self._accepting:
            self._cert_poll = shared.loop.call_later(CERT_POLL_INTERVAL, self._poll_certs)

    def _poll_lists(self) -> None:
        """Read -filewatch files that changed (each process looks for itself)."""
        self._list_files.poll()
        shared = self._shared
        if shared is not None and self._accepting:
            self._list_poll = shared.loop.call_later(WATCH_POLL_INTERVAL, self._poll_lists)

    # -- another worker slot's sockets (a supervised worker) ------------------------------

    def hold(self, sockets: list[socket.socket]) -> None:
        """Keep ``sockets`` (listening sockets of other worker slots, for ``serve_extra``);
        they are closed here when this proxy stops accepting, so that a stopping worker
        keeps no listening socket open."""
        self._held.extend(sockets)

    def serve_extra(self, tag: int, sockets: list[socket.socket]) -> asyncio.Task[None] | None:
        """Also accept on ``sockets`` (one per listener, in configuration order) from now on
        until ``release_extra(tag)``, which undoes it even before the servers are open.
        They open in the task returned (the caller keeps it; None: nothing to do, already
        serving ``tag`` or stopped). Each server gets a duplicate descriptor, which is all
        that closing it closes: the socket itself, with the connections waiting in its
        queue, stays open for its own worker."""
        if not self._accepting or tag in self._extra or self._shared is None:
            return None
        if len(sockets) != len(listening(self.config)):
            raise ValueError("one socket per listener is required")
        servers: list[asyncio.AbstractServer] = []
        self._extra[tag] = servers  # now, so that a release from here on is honoured
        return asyncio.get_running_loop().create_task(self._open_extra(tag, servers, sockets))

    async def _open_extra(
        self, tag: int, servers: list[asyncio.AbstractServer], sockets: list[socket.socket]
    ) -> None:
        loop = asyncio.get_running_loop()
        for spec, sock in zip(listening(self.config), sockets, strict=True):
            server = await self._create_server(listener_key(spec), sock.dup(), loop)
            if self._extra.get(tag) is not servers:  # released or stopped meanwhile
                server.close()
                return
            servers.append(server)

    def release_extra(self, tag: int) -> None:
        """Stop accepting on the sockets of ``serve_extra(tag)``; connections already
        accepted carry on."""
        for server in self._extra.pop(tag, []):
            server.close()

    def serving_extra(self) -> list[int]:
        """The tags whose sockets this proxy accepts on besides its own."""
        return sorted(self._extra)

    async def _build(self, config: ConfigSpec, loop: asyncio.AbstractEventLoop) -> Shared:
        """Everything connections need for ``config``; pools, counters and health of
        backends that were already configured are reused."""
        shared = Shared(
            loop=loop,
            config=config,
            board=self.board,
            reaper=Reaper(loop),
            access_log=self.access_log,
        )
        names = {id(service): name for name, (service, _) in self._stale_specs.items()}
        for service in all_services(config):
            store = None
            name = names.get(id(service))
            if name is not None:
                store = await self._stale_store(name, self._stale_specs[name][1])
            shared.services[id(service)] = ServiceRuntime(
                spec=service,
                balancer=Balancer(service, self.board),
                policy=service_policy(service, config),
                stale=store,
                special=service.metrics
                or bool(service.acme)
                or store is not None
                or bool(service.response_edits)  # issue 15: responses go through an Exchange
                or bool(service.rewrite_errors),
                request_edits=editor(service.request_edits, service.conditions),
                response_edits=editor(service.response_edits, service.conditions, response=True),
            )
            table = self.sessions.of(service)
            if service.session is not None and table is not None:  # issue 15: sessions
                srt = shared.services[id(service)]
                name = self.sessions.name_of(service) or ""
                srt.sticky = Sticky(
                    service.session, table, srt.balancer, self.board, self.sessions, name
                )
        for backend in all_backends(config):
            key = backend.identity
            backend_runtime = BackendRuntime(
                spec=backend, counters=self._counters.setdefault(key, BackendCounters())
            )
            if backend.kind is BackendKind.PROXY:
                pool = self._pools.get(key)
                if pool is not None and pool.spec.tls != backend.tls:
                    # Other TLS settings: connections made under the old ones are not kept.
                    self._pools.pop(key).close()
                    pool = None
                if pool is None:
                    pool = Pool(backend, loop, address=self._addresses[key])
                    self._pools[key] = pool
                backend_runtime.pool = pool
            shared.backends[id(backend)] = backend_runtime
        shared.view = self.view
        shared.metrics_source = self.metrics_source
        shared.control_source = self.control_source
        refresh = self._list_files.poll if self._list_files.follow(config) else None
        for spec in config.listeners:
            cert_conditions = spec.tls is not None and bool(spec.tls.condition_certs)
            runtime = ListenerRuntime(
                spec=spec,
                router=Router(spec, config.services, refresh),
                limits=listener_limits(spec),
                methods=spec.methods,
                port=str(spec.port).encode("ascii"),
                proto=b"http" if spec.tls is None else b"https",
                tls=spec.tls is not None,
                client_certs=spec.tls is not None and spec.tls.client_cert != 0,
                no_https11=0 if spec.tls is None else spec.tls.no_https11,
                cert_conditions=cert_conditions,
                # The lane routes without the client's certificate (exchange.py sets it).
                lane=self.lane and edits_lane(spec) and not cert_conditions,
                request_edits=editor(spec.request_edits, (), spec.combine_headers),
                response_edits=editor(spec.response_edits, (), spec.combine_headers, True),
                edits=bool(spec.request_edits or spec.combine_headers)
                or any(service.request_edits for service in (*spec.services, *config.services)),
            )
            shared.listeners.append(runtime)
            shared.listener_by_key[listener_key(spec)] = runtime
        shared.stopping = not self._keep_alive  # Connection: close, as when stopping
        return shared

    # -- stale stores, kept by name ----------------------------------------------------------

    def _policy_here(self, policy: CachePolicy) -> CachePolicy:
        # A supervised worker holds a replica: the supervisor alone writes the directory.
        return policy if self._probe else replace(policy, directory=None)

    def _new_store(self, name: str, policy: CachePolicy) -> StaleStore:
        store = StaleStore(policy, self.clock.wall)
        store.on_commit = functools.partial(self._stale_committed, name)
        return store

    async def _stale_store(self, name: str, policy: CachePolicy) -> StaleStore:
        """The store of ``name``: the one kept from before if its section is unchanged,
        else a new one (its directory loaded) holding what the old one had that fits."""
        make = functools.partial(self._new_store, name)
        store, _ = await renewed(self._stale.get(name), self._policy_here(policy), make)
        self._stale[name] = store
        return store

    def table_names(self) -> list[str]:
        """The names of this configuration's stale stores and session tables."""
        return [*self._stale_specs, *self.sessions.names()]

    def table(self, name: str) -> StaleStore | SessionTable | None:
        """The stale store of ``name`` (made now, empty, if it was not yet: a worker fills
        its replicas before it starts serving), or the session table; None if the
        configuration has none."""
        sessions = self.sessions.table(name)
        if sessions is not None:
            return sessions
        store = self._stale.get(name)
        if store is None:
            found = self._stale_specs.get(name)
            if found is None:
                return None
            store = self._new_store(name, self._policy_here(found[1]))
            self._stale[name] = store
        return store

    def _stale_committed(self, name: str, key: bytes, changed: bool) -> None:
        if self.on_table_change is not None:
            self.on_table_change(name, key, changed)

    # -- reload -------------------------------------------------------------------------

    async def reload(self, config: ConfigSpec) -> tuple[bool, str]:
        """Serve ``config`` from now on, without closing a listening socket that both
        configurations have and without failing a request: requests in flight finish under
        the old configuration, every connection takes the new one for its next request.
        On error nothing changes and the reason is returned. One reload at a time: each
        waits in a thread for name resolution and must not interleave with another."""
        async with self._reload_lock:
            return await self._reload(config)

    async def _reload(self, config: ConfigSpec, *, dns: bool = False) -> tuple[bool, str]:
        old = self._shared
        if old is None:
            return False, "not started"
        loop = old.loop
        base = config  # issue 15: serve it with its dynamic backends as DNS has them
        if config is self._base:
            resolved = self._resolved
        else:
            resolved = {} if self._dns is None else self._dns.carried(config)
        config = expand(base, resolved)
        try:
            # getaddrinfo blocks: in a thread, so that the loop keeps serving meanwhile.
            addresses = await asyncio.to_thread(resolve_all, config, dict(self._addresses))
            await asyncio.to_thread(prepare_backend_tls, all_backends(config))
        except (OSError, ValueError) as exc:
            return False, str(exc)
        keys = [listener_key(spec) for spec in listening(config)]
        try:
            # Certificates are read here: a file that does not load fails the reload,
            # unless the running configuration had it (its certificate then stays).
            tls, restart = await asyncio.to_thread(renewed_tls, config, self._tls)
        except ValueError as exc:
            return False, str(exc)
        opened: dict[ListenerKey, socket.socket] = {}
        try:
            for spec, key in zip(listening(config), keys, strict=True):
                if key not in self._sockets:
                    opened[key] = bind_listener(spec)
        except OSError as exc:
            for sock in opened.values():
                sock.close()
            return False, str(exc)
        self._addresses = addresses
        if self._probe and control_changed(self.config, config):
            log.warning("a changed Control takes effect at the next start")
        self.board.adopt(all_backends(config))
        if self.access_log is not None:
            self.access_log.use_config(config)
        self._stale_specs = stale_services(config)
        self.sessions.configure(config)  # the sessions of services that stay are kept
        shared = await self._build(config, loop)
        self.config = config
        self._shared = shared
        # A socket that changes between HTTP listener and tunnel needs a new server too.
        tunnels = tunnels_by_key(config)
        switched = [k for k in self._servers if (k in self._tunnels) != (k in tunnels)]
        self._tunnels = tunnels
        if base is not self._base:
            self._base, self._resolved = base, resolved
            if self._dns is not None:
                # What the tracker knows now (a change may have come while this reloaded).
                self._resolved = self._dns.follow(base)
                if self._resolved != resolved:
                    self._reload_base()
        old.successor = shared
        self._retired.append(old)
        self._sockets.update(opened)
        self._tls = tls
        for listener in tls.values():
            listener.activate()  # a kept base context now asks the new certificates
        for key in [*restart, *switched]:
            if key in self._servers and key not in opened:
                # New TLS settings (or a socket that became or stopped being a tunnel's):
                # a new server with the new base context on the same
                # listening socket through a duplicate descriptor, which becomes the one
                # kept: closing the old server closes the old descriptor, never the socket
                # (nor the connections waiting in its queue).
                old_server = self._servers[key]
                duplicate = self._sockets[key].dup()
                self._servers[key] = await self._create_server(key, duplicate, loop)
                old_server.close()
                self._sockets[key] = duplicate
        for key in opened:
            await self._serve(key, loop)
        for key in [k for k in self._sockets if k not in keys]:
            server = self._servers.pop(key)
            server.close()
            self._sockets.pop(key).close()
        # Idle connections take the new configuration now; busy ones after their exchange.
        for member in old.reaper.members():
            if isinstance(member, ClientProtocol):
                member.follow_successor()
        self._forget_unused(shared)
        RATE_LIMITS.retain((config,))  # TBF tables of statements the file no longer has
        if self._prober is not None:
            self._prober.wake()
        if self._probe:
            self.acme = await follow_acme(self.acme, config.acme)
        log.info(
            "%s: %d listeners, %d backends",
            "dynamic backends updated" if dns else "configuration reloaded",
            len(config.listeners),
            len(all_backends(config)),
        )
        return True, "reloaded"

    async def reload_from_source(self) -> tuple[bool, str]:
        """Re-read the configuration file this proxy was started with, then ``reload``.
        A file that does not load leaves the running configuration untouched."""
        try:
            config = await asyncio.to_thread(reload_config, self.config, check_settings)
        except ConfigError as exc:
            log.error("reload rejected, the running configuration stays: %s", exc)
            return False, str(exc)
        ok, message = await self.reload(config)
        if not ok:
            log.error("reload failed, the running configuration stays: %s", message)
        return ok, message

    def _forget_unused(self, shared: Shared) -> None:
        """Close pools and stores the newest configuration no longer uses."""
        used = {backend.identity for backend in all_backends(shared.config)}
        for key in [k for k in self._pools if k not in used]:
            self._pools.pop(key).close()
        for key in [k for k in self._counters if k not in used]:
            del self._counters[key]
        for name in [n for n in self._stale if n not in self._stale_specs]:
            self._stale.pop(name).close()  # an old generation may still read it: memory stays
        still = []
        for generation in self._retired:
            if len(generation.reaper):
                still.append(generation)
            else:
                generation.reaper.close()
        self._retired = still

    # -- issue 15: dynamic backends -----------------------------------------------------

    def _dns_changed(self, resolved: dict[int, tuple[Target, ...]]) -> None:
        """The tracker found new targets: serve them (a reload of the same file)."""
        self._resolved = resolved
        self._reload_base()

    def set_targets(self, index: int, targets: tuple[Target, ...]) -> list[BackendSpec]:
        """A supervised worker: the supervisor's targets of template ``index``. Returns
        every backend served from now on (the link names them in Health messages)."""
        self._resolved = {**self._resolved, index: targets}
        expanded = expand(self._base, self._resolved)
        backends = all_backends(expanded)
        self.board.adopt(backends)  # now: the supervisor's Health for them comes next
        if self._shared is not None:
            self._reload_base()
        return backends

    def _serve_resolved(self) -> None:
        """Before serving: the configuration with the targets known so far."""
        self.config = expand(self._base, self._resolved)
        self.board.adopt(all_backends(self.config))
        self._addresses = resolve_all(self.config, self._addresses)  # addresses: no DNS
        prepare_backend_tls(all_backends(self.config))

    def _reload_base(self) -> None:
        if self._shared is None or not self._accepting:
            return
        task = self._shared.loop.create_task(self._reload_dns())
        self._dns_reloads.add(task)
        task.add_done_callback(self._dns_reloaded)

    async def _reload_dns(self) -> tuple[bool, str]:
        # The base is read under the lock: a file reloaded meanwhile is the one kept.
        async with self._reload_lock:
            return await self._reload(self._base, dns=True)

    def _dns_reloaded(self, task: asyncio.Task[tuple[bool, str]]) -> None:
        self._dns_reloads.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        ok, message = (False, repr(error)) if error is not None else task.result()
        if not ok:
            log.error("dynamic backends not updated: %s", message)

    # -- the operator's switches (control API) ------------------------------------------

    def listener_enabled(self, index: int) -> bool:
        shared = self._shared
        return shared is None or shared.listeners[index].enabled

    def set_listener_enabled(self, index: int, enabled: bool) -> None:
        """A disabled listener keeps its socket but answers 503 to every request."""
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
        return self._counters.get(backend.identity)

    def _count_transition(self, transition: Transition) -> None:
        counters = self._counters.get(transition.spec.identity)
        if counters is not None:
            counters.transitions += 1
        if self._probe and not transition.alive:
            # Issue 15: the health writer drops a dead backend's sessions (a worker's copy
            # hears of it from the supervisor's).
            self.sessions.drop_backend(transition.spec.identity, time.monotonic())

    def _prune_pools(self) -> None:
        shared = self._shared
        if shared is None:
            return
        for pool in self._pools.values():
            pool.prune()
        if self._retired:
            self._forget_unused(shared)
        self._prune = shared.loop.call_later(POOL_PRUNE_INTERVAL, self._prune_pools)

    # -- keep-alive (HA handover) ---------------------------------------------------------

    @property
    def keep_alive(self) -> bool:
        return self._keep_alive

    def set_keep_alive(self, enabled: bool) -> None:
        """Off: every answer from now on says ``Connection: close`` and the connections
        still idle ``HANDOVER_LINGER`` later are closed (see there); new connections are
        still accepted. The old owner of a floating address must have no connection a
        client would reuse after the address moved (its next request would meet the new
        owner's reset). Ignored while stopping: a stop closes them anyway."""
        if not self._accepting:
            return
        self._keep_alive = enabled
        for shared in self._generations():
            shared.stopping = not enabled
        if self._idle_close is not None:
            self._idle_close.cancel()
            self._idle_close = None
        if not enabled:
            loop = asyncio.get_running_loop()
            self._idle_close = loop.call_later(HANDOVER_LINGER, self._close_idle)

    def _close_idle(self) -> None:
        """Keep-alive off for ``HANDOVER_LINGER``: the connections still idle close now."""
        self._idle_close = None
        if self._keep_alive or not self._accepting:
            return
        _close_idle_clients(self._generations())

    # -- stopping -----------------------------------------------------------------------

    def _stop_accepting(self) -> None:
        self._accepting = False
        for server in self._servers.values():
            server.close()
        self._servers = {}
        for tag in list(self._extra):
            self.release_extra(tag)
        for sock in self._held:
            with contextlib.suppress(OSError):
                sock.close()
        self._held = []

    async def stop(self, grace: float, *, linger: float = 0.0) -> None:
        """Stop accepting; let requests in flight finish within ``grace`` seconds; close.

        ``linger``: idle keep-alive connections stay open this long first (within
        ``grace``), so that a client about to send its next request gets it answered, with
        ``Connection: close``, instead of racing our close. A worker replaced by a reload
        lingers: its clients then move to the new workers without an error."""
        self._stop_accepting()
        generations = self._generations()
        for shared in generations:
            shared.stopping = True  # every exchange now answers with Connection: close
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                if linger > 0:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(min(linger, grace)):
                            for shared in generations:
                                await shared.reaper.wait_empty()
                # Idle keep-alive connections close now; busy ones after their response.
                _close_idle_clients(generations)
                for shared in generations:
                    await shared.reaper.wait_empty()
        await self._shutdown()

    def abort(self) -> None:
        """Close everything at once."""
        self._stop_accepting()
        if self._dns is not None:
            self._dns.stop()
        for shared in self._generations():
            shared.stopping = True
            for member in shared.reaper.members():
                if isinstance(member, ClientProtocol | Tunnel):
                    member.abort()
            shared.close_stale_stores()
            shared.reaper.close()
        for pool in self._pools.values():
            pool.close()
        for store in self._stale.values():
            store.close()
        if self._prune is not None:
            self._prune.cancel()
            self._prune = None
        if self._cert_poll is not None:
            self._cert_poll.cancel()
            self._cert_poll = None
        if self._list_poll is not None:
            self._list_poll.cancel()
            self._list_poll = None

    async def _shutdown(self) -> None:
        if self._dns is not None:
            await self._dns.close()
        if self.access_log is not None:
            self.access_log.flush()
        if self._control is not None:
            await self._control.stop()
            self._control = None
        if self._prober is not None:
            await self._prober.stop()
            self._prober = None
        self.acme = await follow_acme(self.acme, None)
        self.abort()


def resolve_all(
    config: ConfigSpec, known: dict[object, tuple[int, object]]
) -> dict[object, tuple[int, object]]:
    """Socket addresses of every proxied backend by identity (blocking for host names;
    addresses already known are kept)."""
    out: dict[object, tuple[int, object]] = {}
    for backend in all_backends(config):
        if backend.kind is BackendKind.PROXY:
            key = backend.identity
            if key not in out:
                out[key] = known[key] if key in known else resolve(backend)
    return out


def tls_listeners(
    config: ConfigSpec, running: dict[ListenerKey, TlsListener]
) -> dict[ListenerKey, TlsListener]:
    """The TLS side of every HTTPS listener of ``config`` (new ones loaded)."""
    return renewed_tls(config, running)[0]


def renewed_tls(
    config: ConfigSpec, running: dict[ListenerKey, TlsListener]
) -> tuple[dict[ListenerKey, TlsListener], list[ListenerKey]]:
    """For a reload: the TLS listeners of ``config``, and the keys whose settings changed
    (their server must restart with the new base context). A listener whose settings
    are unchanged keeps its base context; its certificates are renewed only when the
    reload is committed (files that did not change are not read again)."""
    out: dict[ListenerKey, TlsListener] = {}
    restart: list[ListenerKey] = []
    for spec in config.listeners:
        if spec.tls is None:
            continue
        key = listener_key(spec)
        old = running.get(key)
        if old is not None and old.same_settings(spec.tls):
            out[key] = old.renewed(spec.tls)
        else:
            out[key] = TlsListener(spec.tls, old)
            if old is not None:
                restart.append(key)
    return out, restart


def bind_listener(spec: ListenerSpec) -> socket.socket:
    """A listening socket for a listener added by a reload."""
    family = socket.AF_INET6 if ":" in spec.address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((spec.address, spec.port))
        sock.listen(LISTEN_BACKLOG)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot bind {spec.address}:{spec.port}: {exc.strerror or exc}") from None
    return sock


def _close_idle_clients(generations: list[Shared]) -> None:
    """Close every client connection of ``generations`` that waits for its next request;
    a busy one closes after its response (``Connection: close``, set by the caller)."""
    for shared in generations:
        for member in shared.reaper.members():
            if isinstance(member, ClientProtocol):
                member.close_if_idle()
