"""systemd's service notifications (``sd_notify``), spoken without libsystemd.

The protocol is small: each notification is one datagram of ``KEY=VALUE`` lines sent to
the AF_UNIX socket named by ``$NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract
namespace). The messages are built by the pure functions below; ``SystemdNotifier`` is
the thin shell that sends them. Without ``$NOTIFY_SOCKET`` there is no notifier at all
(``from_environ`` returns None), so nothing is sent and nothing costs.

What standby says, and when (the supervisor, or the single process with ``Workers 1``):
``READY=1`` once every listener is bound and every worker serves; ``RELOADING=1`` with
``MONOTONIC_USEC`` when a reload begins and ``READY=1`` when it ends, whether the new file
was taken or rejected (either way a configuration serves); ``STOPPING=1`` when a stop
begins; a one-line ``STATUS=`` refreshed every ``STATUS_REFRESH`` seconds and at each
backend health transition; ``WATCHDOG=1`` every half ``$WATCHDOG_USEC`` from the
supervisor's own event loop, so that a supervisor that hangs stops feeding it and systemd
restarts the service.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass

from standby.health.board import BackendHealth
from standby.model import BackendKind

log = logging.getLogger("standby.process")

NOTIFY_SOCKET = "NOTIFY_SOCKET"
WATCHDOG_USEC = "WATCHDOG_USEC"
WATCHDOG_PID = "WATCHDOG_PID"
# Read once and removed from the environment: children (workers, ACME hooks) must not
# notify in the service's name.
NOTIFY_VARIABLES = (NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID)

USEC = 1_000_000
# systemd asks for a keep-alive "at least" every WatchdogSec; sd_watchdog_enabled(3)
# advises half of it, so that one late tick on a busy machine is not a restart.
WATCHDOG_FRACTION = 0.5
# STATUS= is refreshed this often (seconds) between health transitions: `systemctl
# status` shows the requests served without the line being resent for every request.
STATUS_REFRESH = 5.0
# One STATUS line at most this long (characters): `systemctl status` shows one line.
MAX_STATUS = 200


# -- the messages (pure) -----------------------------------------------------------------------


def one_line(text: str) -> str:
    """``text`` as one STATUS value: line breaks would start new assignments."""
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_STATUS else flat[: MAX_STATUS - 1] + "…"


def ready_message(status: str | None = None, main_pid: int | None = None) -> str:
    """``READY=1`` (with ``MAINPID`` when the notifying process is not the one systemd
    started: after ``Daemon 1`` detached)."""
    lines = ["READY=1"]
    if main_pid is not None:
        lines.append(f"MAINPID={main_pid}")
    if status is not None:
        lines.append(f"STATUS={one_line(status)}")
    return "\n".join(lines)


def reloading_message(monotonic_usec: int) -> str:
    """A reload begins: systemd (253 and later) matches it with its own reload job by the
    CLOCK_MONOTONIC time in microseconds."""
    return f"RELOADING=1\nMONOTONIC_USEC={monotonic_usec}\nSTATUS=reloading the configuration"


def stopping_message() -> str:
    return "STOPPING=1\nSTATUS=stopping"


def status_message(status: str) -> str:
    return f"STATUS={one_line(status)}"


def watchdog_message() -> str:
    return "WATCHDOG=1"


def status_line(up: int, down: int, disabled: int, requests: int, workers: int) -> str:
    """What ``systemctl status`` shows: backends up and down (and disabled by the
    operator, if any), requests served, workers."""
    backends = f"backends {up} up, {down} down"
    if disabled:
        backends += f", {disabled} disabled"
    plural = "" if workers == 1 else "s"
    return f"{backends}; {requests} requests served; {workers} worker{plural}"


def backend_counts(rows: Iterable[BackendHealth]) -> tuple[int, int, int]:
    """(up, down, disabled) over the proxied backends of a health board's snapshot
    (redirects have no health to tell)."""
    up = down = disabled = 0
    for row in rows:
        if row.spec.kind is not BackendKind.PROXY:
            continue
        if not row.enabled:
            disabled += 1
        elif row.alive:
            up += 1
        else:
            down += 1
    return up, down, disabled


def socket_address(value: str) -> str | bytes | None:
    """The address ``$NOTIFY_SOCKET`` names: a path, or ``@name`` for the abstract
    namespace (a leading NUL byte); None for an empty or unusable value."""
    if value.startswith("@") and len(value) > 1:
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    return None


def watchdog_interval(environ: Mapping[str, str], pid: int) -> float | None:
    """Seconds between keep-alives, or None when systemd wants none from ``pid``:
    ``$WATCHDOG_USEC`` absent, not a positive number, or ``$WATCHDOG_PID`` naming another
    process."""
    owner = environ.get(WATCHDOG_PID)
    if owner is not None and owner.strip() != str(pid):
        return None
    try:
        usec = int(environ.get(WATCHDOG_USEC, ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    return usec / USEC * WATCHDOG_FRACTION


# -- the shell ---------------------------------------------------------------------------------


@dataclass(slots=True)
class SystemdNotifier:
    """Sends notifications to ``address``; a failed send (systemd gone, or not reading) is
    logged once, never raised and never waited for: it must not stop the proxy."""

    address: str | bytes
    watchdog: float | None = None  # seconds between WATCHDOG=1, or None
    # Set after `Daemon 1` detached: the process systemd must follow from now on (it
    # accepts that only with NotifyAccess=all; the shipped unit runs standby with -F).
    main_pid: int | None = None
    _failed: bool = False

    @classmethod
    def from_environ(
        cls, environ: MutableMapping[str, str] | None = None, pid: int | None = None
    ) -> SystemdNotifier | None:
        """The notifier systemd asked for (removing its variables), or None."""
        env = os.environ if environ is None else environ
        values = {name: env.pop(name) for name in NOTIFY_VARIABLES if name in env}
        address = socket_address(values.get(NOTIFY_SOCKET, ""))
        if address is None:
            return None
        return cls(address, watchdog_interval(values, os.getpid() if pid is None else pid))

    def send(self, message: str) -> None:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                # Never wait: a peer that does not read (its queue holds a few datagrams)
                # must not stall the event loop; the notification is dropped instead.
                sock.setblocking(False)
                sock.sendto(message.encode("utf-8", "replace"), self.address)
        except OSError as exc:
            if not self._failed:
                self._failed = True
                log.warning("cannot notify systemd: %s", exc.strerror or exc)

    def ready(self, status: str | None = None) -> None:
        self.send(ready_message(status, self.main_pid))

    def reloading(self) -> None:
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.send(reloading_message(usec))

    def stopping(self) -> None:
        self.send(stopping_message())

    def status(self, status: str) -> None:
        self.send(status_message(status))

    async def tend(self, describe: Callable[[], str]) -> None:
        """Until cancelled, from the caller's event loop: ``WATCHDOG=1`` every
        ``watchdog`` seconds, ``STATUS=describe()`` every ``STATUS_REFRESH``."""
        tick = STATUS_REFRESH if self.watchdog is None else min(self.watchdog, STATUS_REFRESH)
        next_status = time.monotonic() + STATUS_REFRESH  # READY=1 carried the first
        while True:
            if self.watchdog is not None:
                self.send(watchdog_message())
            now = time.monotonic()
            if now >= next_status:
                next_status = now + STATUS_REFRESH
                try:
                    self.status(describe())
                except Exception as exc:  # the watchdog must go on: a restart is worse
                    log.warning("cannot describe the status for systemd: %r", exc)
            await asyncio.sleep(tick)
