"""The entry point the CLI calls: start-up in Pound's order, then serve or supervise.

Start-up order matters, and follows Pound: bind the listeners and the control socket (as
root, so ports below 1024 and a control socket in a directory only root may write to work;
the control socket stays the starting user's unless ``ChangeOwner``), open the log, build
the proxy (it resolves backend host names), detach, write the PID file,
chroot, drop privileges, then serve. With ``Workers 1`` the process serves itself
(``lifecycle.serve``, the prober in-process); with more, the same steps bind one socket set
per worker slot, the proxy is built once without a prober, and ``supervisor.supervise``
forks the workers, each starting its own copy of that proxy.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import logging.handlers
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace

from standby.control.server import BoundControl, ControlSocketError, bind_control
from standby.model import ConfigSpec
from standby.observe.access import AccessLog
from standby.observe.handlers import LogFileHandler
from standby.observe.logsetup import (
    STANDBY_ONLY,
    STYLE_STANDBY,
    LogSetupError,
    access_emitter,
    refresh_ident,
    setup_logging,
)
from standby.process import activation
from standby.process.daemon import PidFile, StartupNotifier, daemonize
from standby.process.lifecycle import (
    EXIT_FAILURE,
    EXIT_OK,
    STOP_SLACK,
    Lifecycle,
    Notifier,
    ProxyFactory,
    ProxyLike,
    SignalInbox,
    serve,
)
from standby.process.listeners import BindError, bind_listeners, bind_slots, describe
from standby.process.notify import SystemdNotifier
from standby.process.privileges import (
    PrivilegeError,
    drop_privileges,
    enter_jail,
    preload,
    resolve_identity,
)
from standby.process.supervision import backends_of, worker_count
from standby.process.supervisor import supervise

__all__ = [
    "EXIT_FAILURE",
    "EXIT_OK",
    "STOP_SLACK",
    "Lifecycle",
    "Notifier",
    "ProxyFactory",
    "ProxyLike",
    "RunOptions",
    "SignalInbox",
    "run",
    "serve",
]

log = logging.getLogger("standby.process")


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Command-line choices that override the configuration."""

    foreground: bool = False  # -F or -e: do not detach even with `Daemon 1`
    log_to_stderr: bool = False  # -e: ignore LogFacility, log to stderr
    verbose: bool = False  # -v: debug messages too
    pid_file: str | None = None  # -p: overrides PIDFile
    workers: int | None = None  # --workers: overrides Workers
    log_style: str = STYLE_STANDBY  # --log-style: how stderr lines look (logsetup)
    log_file: str | None = None  # --log-file: overrides LogFile, -e and LogFacility
    advice: tuple[str, ...] = ()  # `standby -c`'s warnings, logged once logging is set up


def usable_cpus() -> int | None:
    """The CPUs this process may run on (a cpuset or taskset counts), else all of them."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count()


class _Startup:
    """Reports start-up errors where the operator sees them."""

    def __init__(self, handler: logging.Handler) -> None:
        self.handler = handler
        self.notifier = StartupNotifier(None)

    def fail(self, message: str) -> int:
        log.error("%s", message)
        self.notifier.failed(message)
        # Syslog or a log file is not where someone starting the program looks: say it
        # on stderr too (still the terminal until we detach; then the notifier carries it).
        if isinstance(self.handler, (logging.handlers.SysLogHandler, LogFileHandler)):
            with contextlib.suppress(OSError, ValueError):
                print(f"standby: {message}", file=sys.stderr)
        return EXIT_FAILURE


def control_owner(config: ConfigSpec) -> tuple[int, int] | None:
    """Who gets the control socket file: with ``ChangeOwner`` (Pound's), ``User`` and
    ``Group`` as resolved for dropping privileges (-1 for one not set); otherwise None:
    it stays the starting user's, so that the service user cannot drive the proxy."""
    if not config.control_owner:
        return None
    identity = resolve_identity(config.user, config.group)
    if not identity.changes:
        return None
    return (
        -1 if identity.uid is None else identity.uid,
        -1 if identity.gid is None else identity.gid,
    )


def default_loader() -> Callable[[str], ConfigSpec]:
    """``standby.config.load_config`` (TLS settings tried on OpenSSL, as ``standby -c``
    does), imported when a reload needs it."""
    from standby.config import load_config
    from standby.tls.context import check_settings

    return functools.partial(load_config, check_tls=check_settings)


def run(
    config: ConfigSpec,
    options: RunOptions,
    proxy_factory: ProxyFactory,
    loader: Callable[[str], ConfigSpec] | None = None,
) -> int:
    """Start, serve until a signal, stop; returns the exit status. ``loader`` reads the
    configuration again for a reload with several workers (default: ``load_config``)."""
    # A reload reads the same file after the daemon's chdir("/"): keep its full name.
    config = replace(config, source=os.path.abspath(config.source))
    try:
        handler = setup_logging(
            config.log_facility,
            to_stderr=options.log_to_stderr,
            verbose=options.verbose,
            tag=config.log_tag,
            style=options.log_style,
            # The command line wins: --log-file, then -e over the file's LogFile.
            log_file=options.log_file or (None if options.log_to_stderr else config.log_file),
        )
    except LogSetupError as exc:
        print(f"standby: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    startup = _Startup(handler)
    for line in options.advice:
        log.warning("%s", line, extra={STANDBY_ONLY: True})
    systemd = SystemdNotifier.from_environ()  # None unless systemd started us (Type=notify)
    try:
        workers = worker_count(options.workers, config.workers, usable_cpus())
    except ValueError as exc:
        return startup.fail(str(exc))
    try:
        identity = resolve_identity(config.user, config.group)
        # One process serves plain sockets; N workers get a SO_REUSEPORT set each.
        slots = [bind_listeners(config)] if workers == 1 else bind_slots(config, workers)
    except (PrivilegeError, BindError) as exc:
        return startup.fail(str(exc))
    all_sockets = [sock for group in slots for sock in group]
    stray = activation.unclaimed()
    if stray:  # socket activation: a socket systemd passed that no listener wants
        for sock in all_sockets:
            sock.close()
        return startup.fail(f"socket activation: no listener has the address of {stray[0]}")
    control: BoundControl | None = None
    if config.control is not None:
        try:
            control = bind_control(config.control, config.control_mode, control_owner(config))
        except ControlSocketError as exc:
            for sock in all_sockets:
                sock.close()
            return startup.fail(str(exc))
    for spec in config.listeners:
        log.debug("listening on %s", describe(spec))
    access_log = AccessLog.for_config(config, access_emitter())
    proxy: ProxyLike
    try:
        if workers == 1:
            proxy = proxy_factory(config, access_log=access_log)
        else:  # the supervisor probes; workers mirror its decisions
            proxy = proxy_factory(config, access_log=access_log, probe=False)
    except (OSError, ValueError) as exc:  # e.g. a backend host name that does not resolve
        for sock in all_sockets:
            sock.close()
        if control is not None:
            control.discard()
        return startup.fail(str(exc))
    if config.daemon and not options.foreground:
        startup.notifier = daemonize()
        refresh_ident(handler)
        if systemd is not None:  # systemd must follow the daemon (run with -F instead)
            systemd.main_pid = os.getpid()
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
        if workers == 1:
            proxy.control_socket, control = control, None  # the proxy serves it now
            return serve(proxy, slots[0], config.grace, startup.notifier, systemd)
        bound, control = control, None  # the supervisor serves it now
        return supervise(
            config,
            slots,
            proxy,
            backends_of(config),
            startup.notifier,
            handler,
            factory=proxy_factory,
            loader=loader or default_loader(),
            control=bound,
            systemd=systemd,
        )
    except PrivilegeError as exc:
        for sock in all_sockets:
            sock.close()
        if control is not None:
            control.discard()
        with contextlib.suppress(Exception):  # nothing was started; best effort
            proxy.abort()
        return startup.fail(str(exc))
    finally:
        if pid_file is not None:
            pid_file.remove()
