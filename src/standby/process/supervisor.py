"""The supervisor: N worker processes, their restarts, signals, and the health writer.

It owns what must exist once: the listening sockets (one ``SO_REUSEPORT`` set per worker
slot, bound before it started and held for its whole life, so a worker's restart never
closes a listening socket: connections wait in the slot's queue), the ``HealthBoard`` and
the ``Prober`` (probes run once, not per worker; transitions are logged here, once).

Workers report connect failures (``ObservedDead``); the supervisor applies them to its
board, and every transition of the board, whoever caused it, is published to every
worker. A (re)started worker first receives the whole current state, then ``Synced``.

The stale copies belong to the proxy: the supervisor owns one store per service with
``StaleFallback`` (by name, ``cache.services``; it loads ``Directory`` and alone writes it),
keeps them across worker restarts and reloads, and replicates them to every worker
(``process.tables``: a new worker gets them all before it serves; a worker's capture goes
to the others through here).

With ``Control``, the supervisor serves the control socket (``process.control``): the
operator's switches go to its board and to every worker (``Operator``, ``Switch``, also
part of a new worker's initial state); counters are summed over the workers on demand.

Reload (SIGHUP, ``standbyctl reload``): the file is read again; a bad one changes nothing.
A good one becomes a new *generation*: the board adopts its backends (health and drain
kept by identity), listeners it adds are bound (one ``SO_REUSEPORT`` set, as at start),
and a new worker per slot is forked on the same slot sockets. Once every new worker is
ready the old ones get SIGTERM and drain within their Grace; a listening socket both
configurations have is never closed, so no connection is refused. A new worker that dies
before it is ready rolls the reload back: the old generation never stopped serving.
Until the new workers are ready the operator sees and switches the old generation (the one
serving); listener and service switches belong to a generation, so a rollback keeps them
and a successful reload starts without any, as a reload in one process does. Backends'
enable and drain are on the board, by identity: every generation keeps them.

Supervision: every worker beats (``Beat``) once a second; one silent for ``WorkerTimeout``
(stopped, or stuck in a busy loop) is killed with SIGKILL, logged once, and restarted like
any dead worker (the kill counts as a quick death for the back-off). While a slot has no
serving worker (dead, waiting out its back-off, starting, killed, or *quiet*: silent for
``QUIET_AFTER``, two beats), another serving worker of the same generation accepts on its
sockets (``Adopt``, then ``Release`` once the slot's own worker is ready or beats again):
the connections queued there are served meanwhile, not held until the timeout.

Forking: the supervisor's event loop (the standard selector loop, not uvloop: nothing of
it is used by a child) is never running when it forks. ``supervise`` drives it in slices:
``next_work`` returns the slots to (re)start, they are forked from plain code, then the
loop resumes. Signal handlers only record the signal; ``next_work`` decides with the
table in ``signals`` and acts. Decisions about slots and back-off are in ``supervision``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from standby import __version__
from standby.acme.manager import AcmeManager
from standby.acme.manager import follow as follow_acme
from standby.balance.sessions import SessionTables, session_services
from standby.cache.services import stale_services
from standby.cache.store import StaleStore, renewed
from standby.clock import SystemClock
from standby.control.api import metrics_snapshot
from standby.control.server import (
    BoundControl,
    ControlRequest,
    ControlSocketError,
    control_changed,
)
from standby.dns.expand import Target, encode_targets, expand
from standby.dns.tracker import DnsTracker
from standby.health.board import HealthBoard, Transition
from standby.health.prober import Prober
from standby.model import BackendKind, BackendSpec, ConfigSpec, ListenerSpec, listening
from standby.observe.access import AccessLog
from standby.observe.logsetup import access_emitter, reopen_log_file
from standby.observe.metrics import render_openmetrics
from standby.process.channel import Channel
from standby.process.control import (
    CountsGather,
    SharedMetrics,
    SupervisorControl,
    SupervisorView,
    row_of,
)
from standby.process.daemon import StartupNotifier
from standby.process.heartbeat import QUIET_AFTER, Heartbeats
from standby.process.ipc import (
    Adopt,
    Beat,
    ControlAsk,
    Counts,
    CountsDone,
    CountsPush,
    DnsTargets,
    Failed,
    Health,
    Identity,
    Message,
    MetricsAsk,
    ObservedDead,
    Operator,
    Ready,
    Release,
    SessionAsk,
    Switch,
    Synced,
    TablePart,
    TableTouch,
    clip,
    control_parts,
    metrics_parts,
)
from standby.process.ledger import Ledger
from standby.process.lifecycle import EXIT_FAILURE, EXIT_OK, STOP_SLACK, ProxyFactory, ProxyLike
from standby.process.listeners import BindError, bind_slots
from standby.process.notify import SystemdNotifier, backend_counts, status_line
from standby.process.sessions import answer as answer_session
from standby.process.signals import HANDLED_SIGNALS, Action, Phase, decide
from standby.process.supervision import (
    Slot,
    SlotEvent,
    SlotState,
    backends_of,
    by_identity,
    plan_adoptions,
)
from standby.process.tables import Table, TableOwner
from standby.process.worker import FORK_BLOCKED, run_child
from standby.server.ratelimit import LIMITER as RATE_LIMITS

log = logging.getLogger("standby.process")

QUIT_WAIT = 2.0  # after SIGQUIT, how long workers get to close everything before SIGKILL
KILL_WAIT = 5.0  # after SIGKILL, how long to wait for the kernel to report their exit
# A reload's new workers must all be serving within this long, or the reload is rolled
# back (they sync and start in well under a second; generous for two noisy cores).
RELOAD_READY_TIMEOUT = 30.0
# Reads of what an exited worker left unread in its socket (its last counters), at most
# READ_REST_SIZE bytes each: a socket buffer holds a few hundred kilobytes at most.
READ_REST_COUNT = 64
READ_REST_SIZE = 64 * 1024

Loader = Callable[[str], ConfigSpec]  # standby.config.load_config; raises on a bad file
ListenerKey = tuple[str, int]


def listener_key(spec: ListenerSpec) -> ListenerKey:
    """A listener's identity across reloads: the address it is bound to."""
    return (spec.address, spec.port)


@dataclass(slots=True)
class Generation:
    """One configuration and the workers serving it."""

    config: ConfigSpec
    proxy: ProxyLike  # never started here: each worker starts its own copy
    backends: list[BackendSpec]
    sockets: list[list[socket.socket]]  # per slot: model.listening(config) order
    slots: list[Slot]
    # The operator's switches of this configuration's listeners and services, by its
    # indexes (a new generation starts with none, as a reload in one process does);
    # backends' are on the board, by identity.
    listeners_off: set[int] = field(default_factory=set)
    services_off: set[tuple[int | None, int]] = field(default_factory=set)
    # Slots without a serving worker -> the slot whose worker accepts on their sockets.
    adopted: dict[int, int] = field(default_factory=dict)
    # Issue 15: what DNS says of the configuration's dynamic backend templates (by
    # DynamicSpec.index), and the configuration with them (None: none resolved yet).
    resolved: dict[int, tuple[Target, ...]] = field(default_factory=dict)
    expanded: ConfigSpec | None = None

    def socket_ids(self) -> set[int]:
        return {id(sock) for group in self.sockets for sock in group}


def describe_status(status: int) -> str:
    """``exited with status 1`` or ``killed by SIGKILL``, from a ``waitpid`` status."""
    code = os.waitstatus_to_exitcode(status)
    if code >= 0:
        return f"exited with status {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    return f"killed by {name}"


class Supervisor:
    """State and event handling of the supervisor; ``supervise`` drives it."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        config: ConfigSpec,
        slot_sockets: list[list[socket.socket]],
        proxy: ProxyLike,
        backends: list[BackendSpec],
        notifier: StartupNotifier,
        handler: logging.Handler,
        *,
        factory: ProxyFactory | None = None,
        loader: Loader | None = None,
        control: BoundControl | None = None,
        systemd: SystemdNotifier | None = None,
    ) -> None:
        """``factory`` and ``loader`` make reload possible (without them it is refused);
        ``control``: the control socket bound at start-up, before privileges were dropped
        (without it, ``open`` binds the configured one); ``systemd``: the service manager
        to notify (``process.notify``)."""
        self.loop = loop
        self.systemd = systemd
        self._tending: asyncio.Task[None] | None = None  # systemd's watchdog and STATUS
        self._control_socket = control
        self.notifier = notifier
        self.handler = handler
        self.factory = factory
        self.loader = loader
        slots = [Slot(i) for i in range(len(slot_sockets))]
        self.gen = Generation(config, proxy, backends, slot_sockets, slots)
        # While a reload waits for its new workers: the generation still serving.
        self._previous: Generation | None = None
        self._retiring: dict[int, int] = {}  # pid -> slot, old workers draining after a reload
        self.board = HealthBoard(SystemClock(), alive_interval=config.alive)
        self.board.register_all(backends)
        self.specs = by_identity(backends)
        self.started_wall = time.time()
        self.phase = Phase.RUNNING
        self.started = False
        self._transitions: Counter[Identity] = Counter()
        self._channels: dict[int, Channel] = {}  # by worker pid
        self._ipc_socks: dict[int, socket.socket] = {}  # supervisor ends, by worker pid
        self._failures: dict[int, str] = {}  # a worker's own account of a failed start, by pid
        self._beats = Heartbeats()  # every live worker's last sign of life
        self._quiet: set[int] = set()  # pids silent for QUIET_AFTER: their sockets adopted
        self._signals: list[int] = []
        self._wake = asyncio.Event()
        self._changed = asyncio.Event()  # a worker became ready or exited (reload waits)
        self._reload_lock = asyncio.Lock()
        self._reload_failure: str | None = None
        self._tasks: set[asyncio.Task[tuple[bool, str]]] = set()
        self._metrics_tasks: set[asyncio.Task[None]] = set()  # answers to MetricsAsk
        self._prober: Prober | None = None
        self.acme: AcmeManager | None = None  # the ACME client: here, not in the workers
        self._gather = CountsGather()
        # The workers' counters: monotonic across their restarts and reloads.
        self._ledger = Ledger()
        self._metrics = SharedMetrics(self._collect_metrics)
        self._control: SupervisorControl | None = None
        self._deadline: float | None = None  # while stopping: when to escalate
        self._escalated = False
        self._exit_code = EXIT_OK
        self._listening = True
        # The stale stores, by name: the authoritative copies every worker replicates.
        self._stale: dict[str, StaleStore] = {}
        self._tables = TableOwner(self._table)
        # Issue 15: the session tables, by name: authoritative copies, shared the same way.
        self.sessions = SessionTables()
        self.sessions.on_change = self._session_changed
        # Issue 15: the supervisor resolves dynamic backends and tells every worker.
        self._dns = DnsTracker(self._dns_changed)
        self._dns_gen = self.gen  # the generation whose templates it resolves

    @property
    def serving(self) -> Generation:
        """The generation in force: while a reload waits for its new workers, the old
        one, which still serves every connection; it is what the operator sees and
        switches (a switch made meanwhile survives a rollback, and a successful reload
        resets it like any other)."""
        return self._previous if self._previous is not None else self.gen

    @property
    def config(self) -> ConfigSpec:
        serving = self.serving
        return serving.config if serving.expanded is None else serving.expanded

    @property
    def slots(self) -> list[Slot]:
        return self.gen.slots

    # -- set-up and tear-down (inside the loop) ------------------------------------------

    async def open(self) -> bool:
        """Signals, the prober and the control socket; False (reported) if that fails."""
        for sig in (*HANDLED_SIGNALS, signal.SIGCHLD):
            self.loop.add_signal_handler(sig, self._record, int(sig))
        self.board.subscribe(self._publish)
        await self._configure_stale(self.config)  # before the first worker forks
        RATE_LIMITS.share(self.config)  # TBF buckets every worker sees, before forking
        self.sessions.configure(self.config)
        self._prober = Prober(self.board, SystemClock())
        self._prober.start()  # logs every transition, once, here
        self._dns.follow(self.gen.config)
        config = self.config
        self.acme = await follow_acme(None, config.acme)
        if config.control is not None:
            view = SupervisorView(self, self._gather, self._ledger)
            bound, self._control_socket = self._control_socket, None
            control = SupervisorControl(
                config.control,
                view,
                self._metrics,
                mode=config.control_mode,
                clock=SystemClock(),
                bound=bound,
            )
            try:
                await control.start()
            except ControlSocketError as exc:
                log.error("%s", exc)
                self.notifier.failed(str(exc))
                self._exit_code = EXIT_FAILURE
                return False
            self._control = control
        return True

    async def close(self) -> None:
        await self._dns.close()
        if self._tending is not None:
            self._tending.cancel()
            await asyncio.gather(self._tending, return_exceptions=True)
            self._tending = None
        tasks = [*self._tasks, *self._metrics_tasks]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await self._metrics.close()
        if self._control is not None:
            await self._control.stop()
            self._control = None
        bound, self._control_socket = self._control_socket, None
        if bound is not None:  # bound at start-up, never served
            bound.discard()
        if self._prober is not None:
            await self._prober.stop()
            self._prober = None
        self.acme = await follow_acme(self.acme, None)
        for sig in (*HANDLED_SIGNALS, signal.SIGCHLD):
            with contextlib.suppress(Exception):
                self.loop.remove_signal_handler(sig)
        for channel in self._channels.values():
            channel.abort()
        self._channels.clear()
        self._close_listeners()
        for store in self._stale.values():
            store.close()  # the last copies reach the directory

    def _record(self, signum: int) -> None:
        self._signals.append(signum)
        self._wake.set()

    def _all_sockets(self) -> list[socket.socket]:
        """Every listening socket the supervisor holds, once each."""
        seen: dict[int, socket.socket] = {}
        for gen in (self.gen, self._previous):
            if gen is not None:
                for group in gen.sockets:
                    for sock in group:
                        seen.setdefault(id(sock), sock)
        return list(seen.values())

    def _close_listeners(self) -> None:
        if not self._listening:
            return
        self._listening = False
        for sock in self._all_sockets():
            with contextlib.suppress(OSError):
                sock.close()

    # -- the main decision loop ------------------------------------------------------------

    def _live_pids(self) -> list[int]:
        pids = [slot.pid for slot in self.slots if slot.pid is not None]
        if self._previous is not None:
            pids += [slot.pid for slot in self._previous.slots if slot.pid is not None]
        return pids + list(self._retiring)

    async def next_work(self) -> list[int] | int:
        """Handle what happened; return the slots to fork now, or the exit status."""
        while True:
            self._wake.clear()
            self._reap()
            signals, self._signals = self._signals, []
            for signum in signals:
                if signum != signal.SIGCHLD:
                    self._on_signal(signum)
            now = time.monotonic()
            beat_deadline = self._check_heartbeats(now)
            wait: float | None = None
            if self.phase is Phase.STOPPING:
                if not self._live_pids():
                    return self._exit_code
                assert self._deadline is not None
                if now >= self._deadline:
                    if self._escalated:
                        log.error("workers did not exit after SIGKILL; leaving")
                        return self._exit_code
                    self._kill_all(signal.SIGKILL)
                    self._escalated = True
                    self._deadline = now + KILL_WAIT
                wait = self._deadline - now
            else:
                due = [slot.index for slot in self.slots if slot.due(now)]
                if due:
                    return due
                waiting = [s.restart_at for s in self.slots if s.state is SlotState.WAITING]
                if waiting:
                    wait = max(0.0, min(waiting) - now)
            if beat_deadline is not None:  # wake up when a worker may go quiet or overdue
                until = max(0.0, beat_deadline - now)
                wait = until if wait is None else min(wait, until)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()

    def _on_signal(self, signum: int) -> None:
        action = decide(self.phase, signum)
        name = signal.Signals(signum).name
        if action is Action.GRACEFUL_STOP:
            log.info(
                "%s: stopping %d workers, in-flight requests get %gs",
                name,
                len(self.slots),
                self.config.grace,
            )
            self._begin_stop(signal.SIGTERM, self.config.grace + STOP_SLACK)
        elif action is Action.ABORT:
            log.info("%s: exiting at once", name)
            self._begin_stop(signal.SIGQUIT, QUIT_WAIT)
        elif action is Action.RELOAD:
            log.info("%s: reloading the configuration", name)
            task = self.loop.create_task(self.reload())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif action is Action.REOPEN_LOGS and reopen_log_file():
            self._kill_all(signal.SIGUSR1)  # each worker holds its own descriptor

    def _begin_stop(self, sig: signal.Signals, wait: float) -> None:
        if self.phase is Phase.RUNNING and self.systemd is not None:
            self.systemd.stopping()
        self.phase = Phase.STOPPING
        for gen in (self.gen, self._previous):
            if gen is not None:
                for slot in gen.slots:
                    slot.apply(self.phase, SlotEvent.STOP)
        self._changed.set()  # a reload waiting for its workers gives up
        # Workers close their copies as they stop; once ours are closed too, new
        # connections are refused, as with a single process.
        self._close_listeners()
        self._kill_all(sig)
        deadline = time.monotonic() + wait
        self._deadline = deadline if self._deadline is None else min(self._deadline, deadline)

    def _kill_all(self, sig: signal.Signals) -> None:
        for pid in self._live_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def _fail_start(self, message: str) -> None:
        log.error("%s", message)
        self.notifier.failed(message)
        self._exit_code = EXIT_FAILURE
        self._begin_stop(signal.SIGQUIT, QUIT_WAIT)

    # -- workers' exits ---------------------------------------------------------------------

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            hung = self._beats.condemned(pid)
            self._forget(pid)
            for slot in self.slots:
                if slot.pid == pid:
                    self._on_exit(slot, pid, status, hung=hung)
                    break
            else:
                self._on_old_exit(pid, status)
            self._changed.set()

    def _forget(self, pid: int) -> None:
        channel = self._channels.pop(pid, None)
        sock = self._ipc_socks.pop(pid, None)
        if channel is not None:
            if sock is not None:
                _read_rest(sock, channel)
            channel.close()
        self._gather.on_gone(pid)
        self._beats.forget(pid)
        self._quiet.discard(pid)
        # What it counted stays counted (by identity, for the backends still configured).
        self._ledger.retire(pid, self._configured())
        self._tables.detach(pid)

    def _configured(self) -> set[Identity]:
        """Backends of the configuration in force, and of the one a reload may return to."""
        identities = set(self.specs)
        if self._previous is not None:
            identities.update(spec.identity for spec in self._previous.backends)
        return identities

    def _on_old_exit(self, pid: int, status: int) -> None:
        """A worker of an earlier configuration (retiring, or still serving while a
        reload waits for its new workers) exited; it is not restarted."""
        how = describe_status(status)
        index = self._retiring.pop(pid, None)
        if index is not None:
            log.debug("worker %d of the previous configuration (pid %d) %s", index, pid, how)
            return
        if self._previous is not None:
            for slot in self._previous.slots:
                if slot.pid == pid:
                    slot.exited(self.phase, time.monotonic())
                    log.warning("worker %d (pid %d) %s during a reload", slot.index, pid, how)
                    self._rebalance(self._previous)
                    return

    def _on_exit(self, slot: Slot, pid: int, status: int, *, hung: bool = False) -> None:
        how = describe_status(status)
        phase = self.phase
        ever_ready = slot.ever_ready
        delay = slot.exited(phase, time.monotonic(), hung=hung)
        self._rebalance(self.gen)
        why = self._failures.pop(pid, None)
        if phase is Phase.STOPPING:
            log.debug("worker %d (pid %d) %s", slot.index, pid, how)
            return
        detail = f": {why}" if why else ""
        if not self.started and not ever_ready:
            self._fail_start(f"worker {slot.index} (pid {pid}) {how} while starting{detail}")
            return
        if self._previous is not None and not ever_ready and self._reload_failure is None:
            self._reload_failure = f"new worker {slot.index} (pid {pid}) {how}{detail}"
            return
        log.warning("worker %d (pid %d) %s; restarting in %gs", slot.index, pid, how, delay)

    # -- supervision: heartbeats and adoption ----------------------------------------------

    def _name(self, pid: int) -> str:
        """``worker N (pid P)``, whichever generation the worker belongs to."""
        for gen in (self.gen, self._previous):
            if gen is not None:
                for slot in gen.slots:
                    if slot.pid == pid:
                        return f"worker {slot.index} (pid {pid})"
        index = self._retiring.get(pid)
        return f"worker {index} (pid {pid})" if index is not None else f"worker pid {pid}"

    def _check_heartbeats(self, now: float) -> float | None:
        """Kill every worker silent for WorkerTimeout, have the sockets of quiet ones
        adopted; returns when to look again."""
        timeout = self.config.worker_timeout
        changed = False
        for pid in self._beats.overdue(now, timeout):
            silence = self._beats.silence(pid, now)
            self._beats.condemn(pid)
            # SIGKILL: a stopped process cannot act on anything else; a stuck one would not.
            log.error("%s sent no heartbeat for %.1fs: killed", self._name(pid), silence)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            changed = True
        quiet = self._beats.quiet(now)
        for pid in sorted(quiet - self._quiet - {p for p in quiet if self._beats.condemned(p)}):
            log.warning(
                "%s sent no heartbeat for %.1fs; another worker takes its connections, "
                "and it is killed if silent for %gs",
                self._name(pid),
                self._beats.silence(pid, now),
                timeout,
            )
        if quiet != self._quiet:
            self._quiet = quiet
            changed = True
        if changed:  # sockets get an adopter now, not once an exit is reaped
            self._rebalance_all()
        due = [self._beats.next_deadline(timeout), self._beats.next_deadline(QUIET_AFTER, now)]
        return min((d for d in due if d is not None), default=None)

    def _rebalance_all(self) -> None:
        for gen in (self.gen, self._previous):
            if gen is not None:
                self._rebalance(gen)

    def _serving(self, slot: Slot) -> bool:
        pid = slot.pid
        return (
            slot.state is SlotState.SERVING
            and pid is not None
            and pid in self._channels
            and pid not in self._quiet  # condemned ones are quiet too
        )

    def _rebalance(self, gen: Generation) -> None:
        """Have the slots of ``gen`` without a serving worker adopted by serving ones."""
        if self.phase is not Phase.RUNNING:
            return
        plan = plan_adoptions([self._serving(slot) for slot in gen.slots], gen.adopted)
        for orphan, adopter in gen.adopted.items():
            if plan.get(orphan) != adopter:
                self._tell(gen.slots[adopter], Release(orphan))
                log.debug("worker %d no longer accepts worker %d's connections", adopter, orphan)
        for orphan, adopter in plan.items():
            if gen.adopted.get(orphan) != adopter:
                self._tell(gen.slots[adopter], Adopt(orphan))
                # Worth an operator's line when a slot lost its worker; not while a
                # configuration's workers start one after the other.
                log.log(
                    logging.INFO if gen.slots[orphan].ever_ready else logging.DEBUG,
                    "worker %d (pid %s) accepts worker %d's connections until it serves",
                    adopter,
                    gen.slots[adopter].pid,
                    orphan,
                )
        gen.adopted = plan

    def _tell(self, slot: Slot, message: Message) -> None:
        channel = self._channels.get(slot.pid) if slot.pid is not None else None
        if channel is not None:
            channel.send(message)

    # -- messages from workers --------------------------------------------------------------

    def _slot_of(self, pid: int) -> Slot | None:
        for slot in self.slots:
            if slot.pid == pid:
                return slot
        return None

    def _on_message(self, pid: int, message: Message) -> None:
        if isinstance(message, Beat):
            self._beats.beat(pid, time.monotonic())
            if pid in self._quiet and not self._beats.condemned(pid):
                self._quiet.discard(pid)  # back: its sockets are its own again
                log.info("%s sends heartbeats again", self._name(pid))
                self._rebalance_all()
        elif isinstance(message, ObservedDead):
            spec = self.specs.get(message.identity)
            if spec is not None:  # publishes if it changes; the prober then probes it
                self._observed_dead(pid, spec, message)
        elif isinstance(message, Counts):
            self._ledger.update(pid, message.identity, row_of(message))
            self._gather.on_counts(pid, message)
        elif isinstance(message, CountsPush):
            self._ledger.update(pid, message.identity, row_of(message))
        elif isinstance(message, CountsDone):
            self._gather.on_done(pid, message)
        elif isinstance(message, MetricsAsk):
            task = self.loop.create_task(self._answer_metrics(pid, message.serial))
            self._metrics_tasks.add(task)
            task.add_done_callback(self._metrics_tasks.discard)
        elif isinstance(message, ControlAsk):  # issue 15: a worker's Control service
            task = self.loop.create_task(self._answer_control(pid, message))
            self._metrics_tasks.add(task)
            task.add_done_callback(self._metrics_tasks.discard)
        elif isinstance(message, Ready):
            slot = self._slot_of(pid)
            if slot is not None:
                slot.apply(self.phase, SlotEvent.READY)
                log.debug("worker %d serving (pid %d)", slot.index, pid)
                self._check_started()
                self._changed.set()
            for gen in (self.gen, self._previous):
                if gen is not None and any(s.pid == pid for s in gen.slots):
                    self._rebalance(gen)
        elif isinstance(message, Failed):
            self._failures[pid] = message.message
        elif isinstance(message, TablePart):
            self._tables.on_part(pid, message)
        elif isinstance(message, TableTouch):
            self._tables.on_touch(pid, message)
        elif isinstance(message, SessionAsk):  # issue 15: a worker lacks a session
            channel = self._channels.get(pid)
            if channel is not None:
                channel.send(answer_session(message, self.sessions.table(message.table)))
        else:
            log.debug("unexpected message from worker pid %d: %r", pid, message)

    async def _answer_metrics(self, pid: int, serial: int) -> None:
        """A worker's Metrics service asks for the whole service's figures (as the control
        socket's /metrics shows them, the same shared rendering), in pieces."""
        text = await self._metrics.text()
        channel = self._channels.get(pid)
        if channel is None or not channel.open:
            return  # the worker left meanwhile
        for part in metrics_parts(serial, text):
            channel.send(part)

    async def _answer_control(self, pid: int, ask: ControlAsk) -> None:
        """A worker's Control service relays a request: decided here, as on the control
        socket (the same view, switches and reload), so every worker answers alike."""
        decider = self._control
        if decider is None:  # no Control socket: the same decisions, without a socket
            view = SupervisorView(self, self._gather, self._ledger)
            decider = SupervisorControl("", view, self._metrics, mode=0, clock=SystemClock())
        reply = await decider.decide(ControlRequest(ask.method, ask.target, ask.body))
        channel = self._channels.get(pid)
        if channel is None or not channel.open:
            return  # the worker left meanwhile
        allow = ", ".join(reply.allow)
        for part in control_parts(ask.serial, reply.status, reply.content_type, allow, reply.body):
            channel.send(part)

    async def _collect_metrics(self) -> str:
        """One collection: every worker asked, the ledger read, the text rendered."""
        view = SupervisorView(self, self._gather, self._ledger)
        await view.refresh()
        return render_openmetrics(metrics_snapshot(view, time.time()))

    def _on_lost(self, pid: int) -> None:
        self._wake.set()  # its exit follows; SIGCHLD tells

    def _check_started(self) -> None:
        if self.started or self.phase is not Phase.RUNNING:
            return
        if all(slot.ever_ready for slot in self.slots):
            self.started = True
            log.info(
                "standby %s started (pid %d, %d workers)", __version__, os.getpid(), len(self.slots)
            )
            self.notifier.ready()
            if self.systemd is not None:
                self.systemd.ready(self.describe())
                self._tending = self.loop.create_task(self.systemd.tend(self.describe))

    def describe(self) -> str:
        """The one-line STATUS= for systemd: backends, requests served, workers."""
        requests = sum(tally.requests for tally in self._ledger.reading().values())
        counts = backend_counts(self.board.snapshot())
        return status_line(*counts, requests, workers=len(self.slots))

    # -- health: the single writer -----------------------------------------------------------

    def _observed_dead(self, pid: int, spec: BackendSpec, message: ObservedDead) -> None:
        """A worker's report; one made before the board's latest decision about the
        backend (its epoch is older) is late news, ignored (``HealthBoard.report_dead``)."""
        done = self.board.report_dead(
            spec, message.reason, http_level=message.http_level, epoch=message.epoch
        )
        if done is None and message.epoch < self.board.epoch_of(spec):
            log.debug(
                "late report from worker pid %d ignored: %s %s (epoch %d < %d)",
                pid,
                spec.describe(),
                message.reason,
                message.epoch,
                self.board.epoch_of(spec),
            )

    def _publish(self, transition: Transition) -> None:
        self._transitions[transition.spec.identity] += 1
        if not transition.alive:  # issue 15: a dead backend's sessions go (to every worker)
            self.sessions.drop_backend(transition.spec.identity, time.monotonic())
        message = Health(
            transition.spec.identity,
            transition.alive,
            clip(transition.reason),
            transition.epoch,
        )
        for channel in self._channels.values():
            channel.send(message)
        if self.systemd is not None and self.started:
            self.systemd.status(self.describe())

    def _send_state(self, channel: Channel, gen: Generation) -> None:
        """Everything a new worker of ``gen`` must know before it serves."""
        for index, targets in sorted(gen.resolved.items()):  # its backends, then their health
            channel.send(DnsTargets(index, encode_targets(targets)))
        for row in self.board.snapshot():
            if row.spec.kind is BackendKind.PROXY:
                channel.send(Health(row.spec.identity, row.alive, clip(row.reason), row.epoch))
            if row.draining or not row.enabled:
                channel.send(Operator(row.spec.identity, row.enabled, row.draining))
        for listener in sorted(gen.listeners_off):
            channel.send(Switch(listener, None, False))
        for scope, service in sorted(gen.services_off, key=lambda k: (k[0] is None, k)):
            channel.send(Switch(scope, service, False))
        channel.send(Synced())

    # -- issue 15: dynamic backends ----------------------------------------------------------

    def _dns_changed(self, resolved: dict[int, tuple[Target, ...]]) -> None:
        """The tracker found new targets for its generation: the board's entries
        (health kept by identity) and every one of its workers follow."""
        gen = self._dns_gen
        changed = [i for i, t in resolved.items() if gen.resolved.get(i) != t]
        changed += [i for i in gen.resolved if i not in resolved]
        gen.resolved = dict(resolved)
        gen.expanded = expand(gen.config, gen.resolved)
        gen.backends = backends_of(gen.expanded)
        if gen is self.gen:
            self._adopt(gen)
        else:  # a reload is starting new workers: the board tracks both generations
            self.board.adopt([*self.gen.backends, *gen.backends])
            self.specs = by_identity([*self.gen.backends, *gen.backends])
        channels = [self._channels[s.pid] for s in gen.slots if s.pid in self._channels]
        for index in sorted(changed):
            message = DnsTargets(index, encode_targets(gen.resolved.get(index, ())))
            for channel in channels:
                channel.send(message)

    # -- the operator (control socket) -------------------------------------------------------

    @property
    def worker_count(self) -> int:
        return len(self.slots)

    def worker_channels(self) -> dict[int, Channel]:
        return dict(self._channels)

    def _current_channels(self) -> list[Channel]:
        """Channels of the workers serving the configuration in force (indexes in
        ``Switch`` name its objects; workers of another generation have other ones)."""
        slots = self.serving.slots
        return [self._channels[s.pid] for s in slots if s.pid in self._channels]

    def listener_on(self, index: int) -> bool:
        return index not in self.serving.listeners_off

    def service_on(self, listener: int | None, service: int) -> bool:
        return (listener, service) not in self.serving.services_off

    def switch(self, listener: int | None, service: int | None, enabled: bool) -> None:
        gen = self.serving
        if service is None:
            assert listener is not None
            (gen.listeners_off.discard if enabled else gen.listeners_off.add)(listener)
        else:
            key = (listener, service)
            (gen.services_off.discard if enabled else gen.services_off.add)(key)
        for channel in self._current_channels():
            channel.send(Switch(listener, service, enabled))

    def operate(self, spec: BackendSpec, *, enabled: bool | None, draining: bool | None) -> None:
        changed = False
        if enabled is not None:
            changed = self.board.set_enabled(spec, enabled)
            if changed and self._prober is not None:
                self._prober.wake()
        if draining is not None:
            changed = self.board.set_draining(spec, draining) or changed
        if changed:
            message = Operator(
                spec.identity, self.board.is_enabled(spec), self.board.is_draining(spec)
            )
            for channel in self._channels.values():
                channel.send(message)

    def transitions_of(self, spec: BackendSpec) -> int:
        return self._transitions[spec.identity]

    # -- reload --------------------------------------------------------------------------------

    async def reload(self) -> tuple[bool, str]:
        """Re-read the configuration file and serve it with a new generation of workers;
        (False, why) leaves everything as it was. One reload at a time."""
        async with self._reload_lock:
            # A reload asked for while the first workers start waits for them.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RELOAD_READY_TIMEOUT):
                    while not self.started and self.phase is Phase.RUNNING:
                        self._changed.clear()
                        await self._changed.wait()
            if self.phase is not Phase.RUNNING or not self.started:
                return False, "not serving: nothing to reload"
            if self.systemd is not None:
                self.systemd.reloading()
            ok, message = await self._reload()
            if self.systemd is not None and self.phase is Phase.RUNNING:
                self.systemd.ready(self.describe())  # the new or the old file serves
            if ok:
                log.info("%s", message)
            else:
                log.error("reload rejected, the running configuration stays: %s", message)
            return ok, message

    async def _reload(self) -> tuple[bool, str]:
        if self.loader is None or self.factory is None:
            return False, "reload is not available"
        old = self.gen
        try:
            config = await asyncio.to_thread(self.loader, old.config.source)
        except Exception as exc:  # ConfigError (FILE:LINE.COL: message) or worse
            return False, str(exc)
        if config.workers is not None and config.workers != len(old.slots):
            log.warning("Workers %d takes effect at the next start", config.workers)
        if control_changed(old.config, config):
            log.warning("a changed Control takes effect at the next start")
        try:
            new = await self._prepare(config, old)
        except (OSError, ValueError, BindError) as exc:
            return False, str(exc)
        await self._configure_stale(config)  # stores that stay are kept
        RATE_LIMITS.share(config)  # TBF tables that stay are kept, with their buckets
        self.sessions.configure(config)  # so are the sessions of services that stay
        ok, message = await self._switch_to(new, old)
        if ok:  # issue 15: resolve the new templates (a change meanwhile applied now)
            self._dns_gen = self.gen
            latest = self._dns.follow(self.gen.config)
            if latest != self.gen.resolved:
                self._dns_changed(latest)
        if not ok:  # rolled back: the old sections again (copies taken over both ways)
            await self._configure_stale(self.gen.config)
            self.sessions.configure(self.gen.config)
        RATE_LIMITS.retain((self.gen.config,))
        self.acme = await follow_acme(self.acme, self.gen.config.acme)
        self._retain_stale(self.gen.config)
        return ok, message

    # -- issue 15: sessions ---------------------------------------------------------------

    def _table(self, name: str) -> Table | None:
        """A shared table by name: a stale store or a session table."""
        store = self._stale.get(name)
        return store if store is not None else self.sessions.table(name)

    def _session_changed(self, name: str, key: bytes, content: bool) -> None:
        """A session added or deleted here (the control interface): to every worker."""
        if content:
            self._tables.changed(name, key)

    # -- stale copies: the authoritative stores -------------------------------------------------

    async def _configure_stale(self, config: ConfigSpec) -> None:
        """A store for each stale service of ``config``: kept if it was there with the
        same section, else new (``Directory`` loaded, the old one's copies taken over)."""
        for name, (_, policy) in stale_services(config).items():
            make = functools.partial(StaleStore, clock=time.time)
            store, count = await renewed(self._stale.get(name), policy, make)
            if count:
                log.info("stale fallback %s: %d copies loaded", name, count)
            self._stale[name] = store

    def _retain_stale(self, config: ConfigSpec) -> None:
        """Close the stores ``config`` (the one in force) no longer has."""
        names = stale_services(config)
        for name in [n for n in self._stale if n not in names]:
            self._stale.pop(name).close()

    async def _prepare(self, config: ConfigSpec, old: Generation) -> Generation:
        """The new generation: its proxy (resolving backend names) and its sockets, the
        ones both configurations have shared with ``old``, new ones bound now."""
        factory = self.factory
        assert factory is not None
        access_log = AccessLog.for_config(config, access_emitter())
        proxy = await asyncio.to_thread(lambda: factory(config, access_log=access_log, probe=False))
        count = len(old.slots)
        by_key: dict[ListenerKey, list[socket.socket]] = {}
        for position, spec in enumerate(listening(old.config)):  # tunnels' sockets too
            by_key[listener_key(spec)] = [old.sockets[i][position] for i in range(count)]
        added = [spec for spec in listening(config) if listener_key(spec) not in by_key]
        if added:
            bound = bind_slots(replace(config, listeners=tuple(added), tunnels=()), count)
            for position, spec in enumerate(added):
                by_key[listener_key(spec)] = [bound[i][position] for i in range(count)]
        sockets = [[by_key[listener_key(s)][i] for s in listening(config)] for i in range(count)]
        slots = [Slot(i) for i in range(count)]
        resolved = self._dns.carried(config)  # issue 15: templates that stay keep targets
        expanded = expand(config, resolved)
        return Generation(
            config, proxy, backends_of(expanded), sockets, slots,
            resolved=resolved, expanded=expanded if resolved else None,
        )  # fmt: skip

    def _adopt(self, gen: Generation) -> None:
        self.board.adopt(gen.backends)
        self.board.alive_interval = gen.config.alive
        self.specs = by_identity(gen.backends)
        if self._prober is not None:
            self._prober.wake()

    async def _switch_to(self, new: Generation, old: Generation) -> tuple[bool, str]:
        self._adopt(new)
        self._previous, self.gen = old, new
        self._reload_failure = None
        self._wake.set()  # the new slots are due: next_work forks them
        failure = await self._wait_ready(new)
        self._previous = None
        if failure is None:
            old.adopted = {}  # its workers stop accepting everything now
            for slot in old.slots:
                if slot.pid is not None:
                    self._retiring[slot.pid] = slot.index
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(slot.pid, signal.SIGTERM)  # drain within Grace, then exit
            self._close_unused(old, new)
            # Counters of backends the new configuration dropped are forgotten.
            self._ledger.keep_only(self.specs)
            return True, (
                f"configuration reloaded: {len(new.config.listeners)} listeners, "
                f"{len(new.backends)} backends, {len(new.slots)} new workers"
            )
        # Back to the old generation, which never stopped serving.
        self.gen = old
        new.adopted = {}
        for slot in new.slots:
            slot.apply(Phase.STOPPING, SlotEvent.STOP)
            if slot.pid is not None:
                self._retiring[slot.pid] = slot.index
                with contextlib.suppress(ProcessLookupError):
                    os.kill(slot.pid, signal.SIGQUIT)
        if self.phase is Phase.RUNNING:
            self._adopt(old)
            self._close_unused(new, old)
            self._rebalance(old)
            self._wake.set()  # an old worker that died meanwhile is restarted
        return False, failure

    async def _wait_ready(self, new: Generation) -> str | None:
        """None once every new worker serves; else why not."""
        try:
            async with asyncio.timeout(RELOAD_READY_TIMEOUT):
                while True:
                    self._changed.clear()
                    if self.phase is not Phase.RUNNING:
                        return "stopping"
                    if self._reload_failure is not None:
                        return self._reload_failure
                    if all(slot.ever_ready for slot in new.slots):
                        return None
                    await self._changed.wait()
        except TimeoutError:
            return f"new workers not serving within {RELOAD_READY_TIMEOUT:g}s"

    def _close_unused(self, gone: Generation, kept: Generation) -> None:
        """Close the listening sockets only ``gone`` had (workers still holding a copy
        keep them open until they exit)."""
        if not self._listening:
            return
        keep = kept.socket_ids()
        for group in gone.sockets:
            for sock in group:
                if id(sock) not in keep:
                    with contextlib.suppress(OSError):
                        sock.close()

    # -- forking (the loop is not running here) ----------------------------------------------

    def spawn(self, index: int) -> None:
        """Fork the worker of slot ``index``. Returns in the supervisor only."""
        gen = self.gen
        slot = gen.slots[index]
        if not slot.due(time.monotonic()):
            # The loop ran while an earlier slot of the same batch attached: a reload may
            # have been rolled back, or a stop begun, since ``next_work`` chose this slot.
            return
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, FORK_BLOCKED)
        try:
            pid = os.fork()
        except OSError as exc:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            ours.close()
            theirs.close()
            message = f"cannot start worker {index}: {exc.strerror}"
            if not self.started:
                self._fail_start(message)
            else:
                log.error("%s", message)
                slot.spawn_failed(time.monotonic())
            return
        if pid == 0:
            # The generation's sockets of every slot stay (for Adopt); older ones go.
            ours_too = gen.socket_ids()
            others = [sock for sock in self._all_sockets() if id(sock) not in ours_too]
            run_child(
                index=index,
                proxy=gen.proxy,
                slot_sockets=gen.sockets,
                ipc=theirs,
                inherited=[*others, *self._ipc_socks.values(), ours],
                descriptors=self._control.descriptors() if self._control is not None else [],
                keep=self.loop,
                notifier=self.notifier,
                handler=self.handler,
                grace=gen.config.grace,
                backends=gen.backends,
                mask=mask,
            )
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        theirs.close()
        slot.spawned(pid, time.monotonic())
        self._beats.started(pid, time.monotonic())  # the fork counts as a beat
        self._ipc_socks[pid] = ours
        self.loop.run_until_complete(self._attach(pid, ours, gen))

    async def _attach(self, pid: int, sock: socket.socket, gen: Generation) -> None:
        _, channel = await self.loop.create_unix_connection(
            lambda: Channel(
                functools.partial(self._on_message, pid),
                functools.partial(self._on_lost, pid),
            ),
            sock=sock,
        )
        if pid not in self._live_pids():  # already gone
            channel.close()
            return
        # Register and send the snapshot in one step: later transitions follow it.
        self._channels[pid] = channel
        self._ledger.open(pid)
        self._send_state(channel, gen)
        # Then the stale copies its configuration serves, whole (it waits for them).
        self._tables.attach(
            pid, channel, [*stale_services(gen.config), *session_services(gen.config)]
        )


def _read_rest(sock: socket.socket, channel: Channel) -> None:
    """Hand ``channel`` what its exited worker wrote that was not read yet: its exit can be
    reaped before the loop reads the socket, and its last words are its final counters."""
    with contextlib.suppress(OSError):
        sock.setblocking(False)
        for _ in range(READ_REST_COUNT):
            data = sock.recv(READ_REST_SIZE)
            if not data:
                return
            channel.data_received(data)


def supervise(
    config: ConfigSpec,
    slot_sockets: list[list[socket.socket]],
    proxy: ProxyLike,
    backends: list[BackendSpec],
    notifier: StartupNotifier,
    handler: logging.Handler,
    *,
    factory: ProxyFactory | None = None,
    loader: Loader | None = None,
    control: BoundControl | None = None,
    systemd: SystemdNotifier | None = None,
) -> int:
    """Run the supervisor until it stops; returns the exit status. ``factory`` and
    ``loader`` build the proxy and read the file again for a reload; ``control`` is the
    control socket bound at start-up."""
    loop = asyncio.SelectorEventLoop()
    asyncio.set_event_loop(loop)
    supervisor = Supervisor(
        loop,
        config,
        slot_sockets,
        proxy,
        backends,
        notifier,
        handler,
        factory=factory,
        loader=loader,
        control=control,
        systemd=systemd,
    )
    try:
        if not loop.run_until_complete(supervisor.open()):
            return EXIT_FAILURE
        while True:
            work = loop.run_until_complete(supervisor.next_work())
            if isinstance(work, int):
                if work == EXIT_OK and supervisor.started:
                    log.info("stopped")
                return work
            for index in work:
                supervisor.spawn(index)
    finally:
        with contextlib.suppress(Exception):
            loop.run_until_complete(supervisor.close())
        loop.close()
        asyncio.set_event_loop(None)
