"""The single-process runner: it owns the event loop, the signals and the proxy.

Start-up order matters, and follows Pound: bind (as root, so ports below 1024 work), open
the log, build the proxy (it resolves backend host names), detach, write the PID file,
chroot, drop privileges, then serve. Signal handlers only record the signal; the main
coroutine (``Lifecycle``) decides with the table in ``signals`` and acts.

A later supervisor with N workers keeps this shape: it replaces ``Lifecycle`` and passes
the bound sockets to its workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import logging.handlers
import os
import signal
import socket
import sys
from dataclasses import dataclass
from typing import Protocol

import uvloop

from standby import __version__
from standby.model import ConfigSpec
from standby.observe.access import AccessLog
from standby.observe.logsetup import (
    LogSetupError,
    access_emitter,
    refresh_ident,
    setup_logging,
)
from standby.process.daemon import PidFile, StartupNotifier, daemonize
from standby.process.listeners import BindError, bind_listeners, describe
from standby.process.privileges import (
    PrivilegeError,
    drop_privileges,
    enter_jail,
    preload,
    resolve_identity,
)
from standby.process.signals import HANDLED_SIGNALS, Action, Phase, decide

log = logging.getLogger("standby.process")

# How long past Grace a stop may take before it is cut short (the proxy's own grace timer
# should have fired by then; this only guards against a stop that hangs).
STOP_SLACK = 5.0
EXIT_OK = 0
EXIT_FAILURE = 1


class ProxyLike(Protocol):
    """What the runner needs from ``standby.server.proxy.Proxy``."""

    async def start(self, sockets: list[socket.socket]) -> None: ...

    async def stop(self, grace: float) -> None: ...

    def abort(self) -> None: ...


class ProxyFactory(Protocol):
    def __call__(self, config: ConfigSpec, *, access_log: AccessLog | None) -> ProxyLike: ...


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Command-line choices that override the configuration."""

    foreground: bool = False  # -F or -e: do not detach even with `Daemon 1`
    log_to_stderr: bool = False  # -e: ignore LogFacility, log to stderr
    verbose: bool = False  # -v: debug messages too
    pid_file: str | None = None  # -p: overrides PIDFile


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
        notifier: StartupNotifier,
    ) -> None:
        self.proxy = proxy
        self.sockets = sockets
        self.grace = grace
        self.inbox = inbox
        self.notifier = notifier
        self.phase = Phase.RUNNING

    async def run(self) -> int:
        try:
            await self.proxy.start(self.sockets)
        except Exception as exc:
            message = f"cannot start: {exc}"
            log.error("%s", message)
            self.notifier.failed(message)
            self.proxy.abort()
            return EXIT_FAILURE
        log.info("standby %s started (pid %d)", __version__, os.getpid())
        self.notifier.ready()
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
                    action = decide(self.phase, signum)
                    name = signal.Signals(signum).name
                    if action is Action.GRACEFUL_STOP:
                        log.info("%s: stopping, in-flight requests get %gs", name, self.grace)
                        self.phase = Phase.STOPPING
                        stop_task = asyncio.ensure_future(self._graceful_stop())
                    elif action is Action.ABORT:
                        log.info("%s: exiting at once", name)
                        if stop_task is not None:
                            stop_task.cancel()
                        self.proxy.abort()
                        return EXIT_OK
                    elif action is Action.IGNORE_RELOAD:
                        log.warning("reload is not implemented yet, ignoring %s", name)
        finally:
            signal_task.cancel()

    async def _graceful_stop(self) -> int:
        try:
            await asyncio.wait_for(self.proxy.stop(self.grace), self.grace + STOP_SLACK)
        except TimeoutError:
            log.warning("stop did not finish within Grace; closing what is left")
            self.proxy.abort()
        except Exception as exc:
            log.error("error while stopping: %s", exc)
            self.proxy.abort()
            return EXIT_FAILURE
        log.info("stopped")
        return EXIT_OK


def serve(
    proxy: ProxyLike, sockets: list[socket.socket], grace: float, notifier: StartupNotifier
) -> int:
    """Run the proxy on a fresh uvloop event loop until a signal ends it."""
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    inbox = SignalInbox()
    try:
        inbox.install(loop)
        return loop.run_until_complete(Lifecycle(proxy, sockets, grace, inbox, notifier).run())
    finally:
        inbox.uninstall(loop)
        with contextlib.suppress(Exception):
            loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        asyncio.set_event_loop(None)


class _Startup:
    """Reports start-up errors where the operator sees them."""

    def __init__(self, handler: logging.Handler) -> None:
        self.handler = handler
        self.notifier = StartupNotifier(None)

    def fail(self, message: str) -> int:
        log.error("%s", message)
        self.notifier.failed(message)
        # Syslog is not where someone starting the program looks: say it on stderr too
        # (still the terminal until we detach; after that the notifier carries it).
        if isinstance(self.handler, logging.handlers.SysLogHandler):
            with contextlib.suppress(OSError, ValueError):
                print(f"standby: {message}", file=sys.stderr)
        return EXIT_FAILURE


def run(config: ConfigSpec, options: RunOptions, proxy_factory: ProxyFactory) -> int:
    """Start, serve until a signal, stop; returns the exit status."""
    try:
        handler = setup_logging(
            config.log_facility, to_stderr=options.log_to_stderr, verbose=options.verbose
        )
    except LogSetupError as exc:
        print(f"standby: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    startup = _Startup(handler)
    try:
        identity = resolve_identity(config.user, config.group)
        sockets = bind_listeners(config)
    except (PrivilegeError, BindError) as exc:
        return startup.fail(str(exc))
    for spec in config.listeners:
        log.debug("listening on %s", describe(spec))
    access_log = AccessLog(config.log_level, config.anonymise, access_emitter())
    try:
        proxy = proxy_factory(config, access_log=access_log)
    except (OSError, ValueError) as exc:  # e.g. a backend host name that does not resolve
        for sock in sockets:
            sock.close()
        return startup.fail(str(exc))
    if config.daemon and not options.foreground:
        startup.notifier = daemonize()
        refresh_ident(handler)
    pid_path = options.pid_file or config.pid_file
    pid_file = PidFile(pid_path) if pid_path else None
    try:
        if pid_file is not None:
            try:
                pid_file.write()
            except OSError as exc:
                return startup.fail(f"cannot write PID file {pid_file.path}: {exc.strerror}")
        if config.root_jail is not None:
            preload()
            enter_jail(config.root_jail)
        drop_privileges(identity)
        return serve(proxy, sockets, config.grace, startup.notifier)
    except PrivilegeError as exc:
        for sock in sockets:
            sock.close()
        with contextlib.suppress(Exception):  # nothing was started; best effort
            proxy.abort()
        return startup.fail(str(exc))
    finally:
        if pid_file is not None:
            pid_file.remove()
