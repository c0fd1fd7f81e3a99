"""One serving process's main coroutine: start the proxy, report readiness, act on signals.

The single process (``Workers 1``) and every supervised worker run this same code; they
differ only in the signal table and in where readiness is reported (the daemon's status
pipe, or the supervisor). Signal handlers only record the signal; ``Lifecycle`` decides
with the table in ``signals`` and acts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from typing import TYPE_CHECKING, Protocol

import uvloop

from standby import __version__
from standby.model import ConfigSpec
from standby.observe.logsetup import reopen_log_file
from standby.process.notify import backend_counts, status_line
from standby.process.signals import (
    HANDLED_SIGNALS,
    TRANSITIONS,
    Action,
    Phase,
    SignalTable,
    decide,
)
from standby.server.view import ProxyView

if TYPE_CHECKING:
    from standby.balance.sessions import SessionTables
    from standby.control.server import BoundControl
    from standby.dns.expand import Target
    from standby.health.board import HealthBoard
    from standby.model import BackendSpec, ServiceSpec
    from standby.observe.access import AccessLog
    from standby.process.notify import SystemdNotifier
    from standby.process.tables import Table, TableListener
    from standby.server.shared import ControlSource, MetricsSource
    from standby.server.stats import BackendCounters

log = logging.getLogger("standby.process")

# How long past Grace a stop may take before it is cut short (the proxy's own grace timer
# should have fired by then; this only guards against a stop that hangs).
STOP_SLACK = 5.0
EXIT_OK = 0
EXIT_FAILURE = 1


class ProxyLike(Protocol):
    """What the runner needs from ``standby.server.proxy.Proxy``."""

    @property
    def board(self) -> HealthBoard: ...

    @property
    def config(self) -> ConfigSpec: ...

    async def start(self, sockets: list[socket.socket]) -> None: ...

    async def stop(self, grace: float, *, linger: float = ...) -> None:
        """Graceful stop; ``linger``: idle keep-alive connections stay open that long
        first, so that a request their client is sending is answered, not cut."""
        ...

    def abort(self) -> None: ...

    async def reload_from_source(self) -> tuple[bool, str]:
        """Re-read the configuration file and serve it; (False, why) leaves the old one."""
        ...

    # The operator's switches and counters, relayed by the supervisor to its workers.

    def set_listener_enabled(self, index: int, enabled: bool) -> None: ...

    def set_service_enabled(self, service: ServiceSpec, enabled: bool) -> None: ...

    def counters_of(self, backend: BackendSpec) -> BackendCounters | None: ...

    # Issue 15: a worker serves the dynamic backends its supervisor resolved; returns
    # every backend it serves from now on.
    def set_targets(self, index: int, targets: tuple[Target, ...]) -> list[BackendSpec]: ...

    # A worker's Metrics service asks the supervisor for the whole service's figures.
    metrics_source: MetricsSource | None
    # Issue 15: a worker's Control service relays its requests to the supervisor.
    control_source: ControlSource | None

    # The control socket bound at start-up (before privileges are dropped) for the
    # proxy to serve when it is the health writer (one process).
    control_socket: BoundControl | None

    # A supervised worker holds the other slots' listening sockets and accepts on one of
    # them while the supervisor says so (its own worker is down): Adopt and Release.

    def hold(self, sockets: list[socket.socket]) -> None: ...

    def serve_extra(
        self, tag: int, sockets: list[socket.socket]
    ) -> asyncio.Future[None] | None: ...

    def release_extra(self, tag: int) -> None: ...

    # Shared tables (the stale stores), replicated by a worker (process/tables.py).
    def table_names(self) -> list[str]: ...

    def table(self, name: str) -> Table | None: ...

    on_table_change: TableListener | None

    # Issue 15: the session tables (a worker asks the supervisor about a key it lacks).
    sessions: SessionTables


class ProxyFactory(Protocol):
    """``Proxy``'s constructor. ``probe=False``: no prober in this process (a supervised
    worker; the supervisor probes and tells it)."""

    def __call__(
        self, config: ConfigSpec, *, access_log: AccessLog | None, probe: bool = ...
    ) -> ProxyLike: ...


class Notifier(Protocol):
    """Told once whether the start worked (the daemon's status pipe, or the supervisor)."""

    def ready(self) -> None: ...

    def failed(self, message: str) -> None: ...


class SignalInbox:
    """Where signal handlers drop signal numbers for the main coroutine."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[int] = asyncio.Queue()

    def record(self, signum: int) -> None:
        self._queue.put_nowait(signum)

    async def next(self) -> int:
        return await self._queue.get()

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in HANDLED_SIGNALS:
            loop.add_signal_handler(sig, self.record, int(sig))

    def uninstall(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in HANDLED_SIGNALS:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)


class Lifecycle:
    """The main coroutine: start the proxy, report readiness, act on signals."""

    def __init__(
        self,
        proxy: ProxyLike,
        sockets: list[socket.socket],
        grace: float,
        inbox: SignalInbox,
        notifier: Notifier,
        *,
        table: SignalTable = TRANSITIONS,
        name: str | None = None,
        level: int = logging.INFO,
        linger: float = 0.0,
        systemd: SystemdNotifier | None = None,
    ) -> None:
        """``table``: the signal rules; ``name`` (e.g. ``worker 2``), ``level``: how
        life-cycle messages are logged (a supervised worker logs them at DEBUG: the
        supervisor says it once); ``linger``: passed to ``proxy.stop``; ``systemd``: the
        service manager to notify (the single process only)."""
        self.proxy = proxy
        self.sockets = sockets
        self.grace = grace
        self.inbox = inbox
        self.notifier = notifier
        self.table = table
        self.name = name
        self.level = level
        self.linger = linger
        self.systemd = systemd
        self.phase = Phase.RUNNING

    def describe(self) -> str:
        """The one-line STATUS= for systemd."""
        rows = self.proxy.board.snapshot()
        counters = [self.proxy.counters_of(row.spec) for row in rows]
        requests = sum(c.requests for c in counters if c is not None)
        return status_line(*backend_counts(rows), requests, workers=1)

    def _systemd_status(self, _transition: object) -> None:
        if self.systemd is not None:
            self.systemd.status(self.describe())

    async def run(self) -> int:
        try:
            await self.proxy.start(self.sockets)
        except Exception as exc:
            message = f"cannot start: {exc}"
            log.error("%s", message)
            self.notifier.failed(message)
            self.proxy.abort()
            return EXIT_FAILURE
        title = self.name or f"standby {__version__}"
        log.log(self.level, "%s started (pid %d)", title, os.getpid())
        self.notifier.ready()
        tending: asyncio.Task[None] | None = None
        if self.systemd is not None:
            self.systemd.ready(self.describe())
            tending = asyncio.ensure_future(self.systemd.tend(self.describe))
            self.proxy.board.subscribe(self._systemd_status)
        signal_task = asyncio.ensure_future(self.inbox.next())
        stop_task: asyncio.Task[int] | None = None
        try:
            while True:
                waiting: set[asyncio.Future[int]] = {signal_task}
                if stop_task is not None:
                    waiting.add(stop_task)
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if stop_task is not None and stop_task in done:
                    return stop_task.result()
                if signal_task in done:
                    signum = signal_task.result()
                    signal_task = asyncio.ensure_future(self.inbox.next())
                    action = decide(self.phase, signum, self.table)
                    name = signal.Signals(signum).name
                    stops = action in (Action.GRACEFUL_STOP, Action.ABORT)
                    if stops and self.phase is Phase.RUNNING and self.systemd is not None:
                        self.systemd.stopping()
                    if action is Action.GRACEFUL_STOP:
                        log.log(
                            self.level,
                            "%s: stopping, in-flight requests get %gs",
                            name,
                            self.grace,
                        )
                        self.phase = Phase.STOPPING
                        stop_task = asyncio.ensure_future(self._graceful_stop())
                    elif action is Action.ABORT:
                        log.log(self.level, "%s: exiting at once", name)
                        if stop_task is not None:
                            stop_task.cancel()
                        self.proxy.abort()
                        return EXIT_OK
                    elif action is Action.RELOAD:
                        # Awaited here: a stop asked for meanwhile waits for it (a reload
                        # is one file read and some tables), and reloads never overlap.
                        log.info("%s: reloading the configuration", name)
                        await self.reload()  # logs its outcome
                    elif action is Action.REOPEN_LOGS:
                        reopen_log_file()
        finally:
            signal_task.cancel()
            if tending is not None:
                tending.cancel()
                self.proxy.board.unsubscribe(self._systemd_status)

    async def reload(self) -> tuple[bool, str]:
        """``proxy.reload_from_source``, between RELOADING=1 and READY=1 for systemd."""
        if self.systemd is not None:
            self.systemd.reloading()
        try:
            return await self.proxy.reload_from_source()
        finally:
            if self.systemd is not None and self.phase is Phase.RUNNING:
                self.systemd.ready(self.describe())  # the new or the old file serves

    async def _graceful_stop(self) -> int:
        try:
            await asyncio.wait_for(
                self.proxy.stop(self.grace, linger=self.linger), self.grace + STOP_SLACK
            )
        except TimeoutError:
            log.warning("stop did not finish within Grace; closing what is left")
            self.proxy.abort()
        except Exception as exc:
            log.error("error while stopping: %s", exc)
            self.proxy.abort()
            return EXIT_FAILURE
        log.log(self.level, "%s", f"{self.name} stopped" if self.name else "stopped")
        return EXIT_OK


def serve(
    proxy: ProxyLike,
    sockets: list[socket.socket],
    grace: float,
    notifier: Notifier,
    systemd: SystemdNotifier | None = None,
) -> int:
    """Run the proxy on a fresh uvloop event loop until a signal ends it."""
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    inbox = SignalInbox()
    try:
        inbox.install(loop)
        lifecycle = Lifecycle(proxy, sockets, grace, inbox, notifier, systemd=systemd)
        view = getattr(proxy, "view", None)  # the real proxy's, not a test stand-in's
        if systemd is not None and isinstance(view, ProxyView):
            view.reloader = lifecycle.reload  # the control socket's reloads notify too
        return loop.run_until_complete(lifecycle.run())
    finally:
        inbox.uninstall(loop)
        with contextlib.suppress(Exception):
            loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        asyncio.set_event_loop(None)
