"""State shared by every connection of one proxy: precomputed per listener, service and
backend, so that per-request work is a few attribute and dict lookups."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from standby.balance import Balancer
from standby.balance.sessions import Sticky
from standby.health.board import HealthBoard
from standby.http1 import Limits
from standby.http1.edit import HeadEditor
from standby.model import BackendSpec, ConfigSpec, ListenerSpec, ServiceSpec
from standby.routing import Router
from standby.server.policy import ServicePolicy
from standby.server.stats import BackendCounters
from standby.server.timers import Reaper
from standby.upstream.pool import Pool

if TYPE_CHECKING:
    from standby.cache.store import StaleStore
    from standby.control.api import Reply
    from standby.observe.access import AccessLog
    from standby.server.view import ProxyView

log = logging.getLogger("standby.server")

# Where a Metrics service gets its text when this process is one of several workers: the
# supervisor's, with every worker's counters summed (None: it could not be had in time).
MetricsSource = Callable[[], Awaitable[str | None]]
# Issue 15: where a Control service's requests are decided when this process is one of
# several workers: the supervisor (method, target, body -> its reply; None: no answer).
ControlSource = Callable[[str, str, bytes], Awaitable["Reply | None"]]


@dataclass(slots=True)
class ListenerRuntime:
    """One listener's precomputed request policy."""

    spec: ListenerSpec
    router: Router
    limits: Limits
    methods: frozenset[bytes]
    port: bytes  # for X-Forwarded-Port
    proto: bytes = b"http"  # for X-Forwarded-Proto
    tls: bool = False  # an HTTPS listener: X-SSL-* lines, the client's dropped
    client_certs: bool = False  # it asks for client certificates (X-SSL-Subject...)
    cert_conditions: bool = False  # its services have `ClientCert` conditions
    no_https11: int = 0  # NoHTTPS11: 1 one request per connection, 2 for MSIE only
    enabled: bool = True  # the operator may disable a listener: it then answers 503
    lane: bool = True  # requests without a body may take the fast lane (server/lane.py)
    # Issue 15 (http1/edit.py): the listener's edits, None when it has none; ``edits``:
    # this listener or one of its services edits requests (one test per request).
    request_edits: HeadEditor | None = None
    response_edits: HeadEditor | None = None
    edits: bool = False


@dataclass(slots=True)
class ServiceRuntime:
    """One service's precomputed request policy and balancer: what a request that matched
    it looks up once (one dict lookup per request, not one per piece)."""

    spec: ServiceSpec
    balancer: Balancer
    policy: ServicePolicy
    stale: StaleStore | None = None  # StaleFallback's store, when on
    # A Metrics service or a stale store: start() has more to do than route and dispatch.
    special: bool = False
    # Issue 15 (http1/edit.py): the service's edits, None when it has none.
    request_edits: HeadEditor | None = None
    response_edits: HeadEditor | None = None
    sticky: Sticky | None = None  # issue 15: `Session`; None: the balancer alone chooses


@dataclass(slots=True)
class BackendRuntime:
    """One backend's connection pool and counters, as the exchange uses them."""

    spec: BackendSpec
    counters: BackendCounters
    pool: Pool | None = None  # None: the backend is not proxied to (a Redirect)


@dataclass(slots=True)
class Shared:
    """Everything a connection needs beyond its own state."""

    loop: asyncio.AbstractEventLoop
    config: ConfigSpec
    board: HealthBoard
    reaper: Reaper
    access_log: AccessLog | None
    listeners: list[ListenerRuntime] = field(default_factory=list)
    listener_by_key: dict[tuple[str, int], ListenerRuntime] = field(default_factory=dict)
    services: dict[int, ServiceRuntime] = field(default_factory=dict)  # id(ServiceSpec) ->
    backends: dict[int, BackendRuntime] = field(default_factory=dict)  # id(BackendSpec) ->
    view: ProxyView | None = None  # for the Metrics service
    metrics_source: MetricsSource | None = None  # with several workers (else the view)
    control_source: ControlSource | None = None  # issue 15: likewise, for Control services
    successor: Shared | None = None  # after a reload: the configuration that replaced this
    stopping: bool = False

    def close_stale_stores(self) -> None:
        """Close the services' stale stores (once: a closed one is forgotten)."""
        for runtime in self.services.values():
            store = runtime.stale
            if store is not None:
                runtime.stale = None
                store.close()
