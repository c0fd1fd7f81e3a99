"""State shared by every connection of one proxy: precomputed per listener, service and
backend, so that per-request work is a few attribute and dict lookups."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from standby.balance import Balancer
from standby.health.board import HealthBoard
from standby.http1 import Limits
from standby.model import ConfigSpec, ListenerSpec
from standby.routing import Router
from standby.server.policy import ServicePolicy
from standby.server.stats import BackendCounters
from standby.server.timers import Reaper
from standby.upstream.pool import Pool

if TYPE_CHECKING:
    from standby.cache.store import StaleStore
    from standby.observe.access import AccessLog
    from standby.server.view import ProxyView

log = logging.getLogger("standby.server")


@dataclass(slots=True)
class ListenerRuntime:
    """One listener's precomputed request policy."""

    spec: ListenerSpec
    router: Router
    limits: Limits
    methods: frozenset[bytes]
    port: bytes  # for X-Forwarded-Port
    proto: bytes = b"http"  # for X-Forwarded-Proto
    enabled: bool = True  # the operator may disable a listener: it then answers 503


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
    balancers: dict[int, Balancer] = field(default_factory=dict)  # id(ServiceSpec) ->
    pools: dict[int, Pool] = field(default_factory=dict)  # id(BackendSpec) ->
    policies: dict[int, ServicePolicy] = field(default_factory=dict)  # id(ServiceSpec) ->
    counters: dict[int, BackendCounters] = field(default_factory=dict)  # id(BackendSpec) ->
    stale_stores: dict[int, StaleStore] = field(default_factory=dict)  # id(ServiceSpec) ->
    view: ProxyView | None = None  # for the Metrics service
    successor: Shared | None = None  # after a reload: the configuration that replaced this
    stopping: bool = False
