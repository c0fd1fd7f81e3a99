"""The supervisor: N worker processes, their restarts, signals, and the health writer.

It owns what must exist once: the listening sockets (one ``SO_REUSEPORT`` set per worker
slot, bound before it started and held for its whole life, so a worker's restart never
closes a listening socket: connections wait in the slot's queue), the ``HealthBoard`` and
the ``Prober`` (probes run once, not per worker; transitions are logged here, once).

Workers report connect failures (``ObservedDead``); the supervisor applies them to its
board, and every transition of the board, whoever caused it, is published to every
worker. A (re)started worker first receives the whole current state, then ``Synced``.

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

from standby import __version__
from standby.clock import SystemClock
from standby.health.board import HealthBoard, Transition
from standby.health.prober import Prober
from standby.model import BackendKind, BackendSpec, ConfigSpec
from standby.process.channel import Channel
from standby.process.daemon import StartupNotifier
from standby.process.ipc import Failed, Health, Message, ObservedDead, Ready, Synced, clip
from standby.process.lifecycle import EXIT_FAILURE, EXIT_OK, STOP_SLACK, ProxyLike
from standby.process.signals import HANDLED_SIGNALS, Action, Phase, decide
from standby.process.supervision import Slot, SlotEvent, SlotState, by_identity
from standby.process.worker import FORK_BLOCKED, run_child

log = logging.getLogger("standby.process")

QUIT_WAIT = 2.0  # after SIGQUIT, how long workers get to close everything before SIGKILL
KILL_WAIT = 5.0  # after SIGKILL, how long to wait for the kernel to report their exit


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
    ) -> None:
        self.loop = loop
        self.config = config
        self.slot_sockets = slot_sockets
        self.proxy = proxy  # never started here: each child starts its own copy
        self.backends = backends
        self.notifier = notifier
        self.handler = handler
        self.slots = [Slot(i) for i in range(len(slot_sockets))]
        self.board = HealthBoard(SystemClock(), alive_interval=config.alive)
        self.board.register_all(backends)
        self.specs = by_identity(backends)
        self.phase = Phase.RUNNING
        self.started = False
        self._channels: dict[int, Channel] = {}
        self._ipc_socks: dict[int, socket.socket] = {}  # supervisor ends, by slot
        self._failures: dict[int, str] = {}  # a worker's own account of a failed start
        self._signals: list[int] = []
        self._wake = asyncio.Event()
        self._prober: Prober | None = None
        self._deadline: float | None = None  # while stopping: when to escalate
        self._escalated = False
        self._exit_code = EXIT_OK
        self._listening = True

    # -- set-up and tear-down (inside the loop) ------------------------------------------

    async def open(self) -> None:
        for sig in (*HANDLED_SIGNALS, signal.SIGCHLD):
            self.loop.add_signal_handler(sig, self._record, int(sig))
        self.board.subscribe(self._publish)
        self._prober = Prober(self.board, SystemClock())
        self._prober.start()  # logs every transition, once, here

    async def close(self) -> None:
        if self._prober is not None:
            await self._prober.stop()
            self._prober = None
        for sig in (*HANDLED_SIGNALS, signal.SIGCHLD):
            with contextlib.suppress(Exception):
                self.loop.remove_signal_handler(sig)
        for channel in self._channels.values():
            channel.abort()
        self._channels.clear()
        self._close_listeners()

    def _record(self, signum: int) -> None:
        self._signals.append(signum)
        self._wake.set()

    def _close_listeners(self) -> None:
        if not self._listening:
            return
        self._listening = False
        for sockets in self.slot_sockets:
            for sock in sockets:
                with contextlib.suppress(OSError):
                    sock.close()

    # -- the main decision loop ------------------------------------------------------------

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
            wait: float | None = None
            if self.phase is Phase.STOPPING:
                if all(slot.pid is None for slot in self.slots):
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
        elif action is Action.IGNORE_RELOAD:
            log.warning("reload is not implemented yet, ignoring %s", name)

    def _begin_stop(self, sig: signal.Signals, wait: float) -> None:
        self.phase = Phase.STOPPING
        for slot in self.slots:
            slot.apply(self.phase, SlotEvent.STOP)
        # Workers close their copies as they stop; once ours are closed too, new
        # connections are refused, as with a single process.
        self._close_listeners()
        self._kill_all(sig)
        deadline = time.monotonic() + wait
        self._deadline = deadline if self._deadline is None else min(self._deadline, deadline)

    def _kill_all(self, sig: signal.Signals) -> None:
        for slot in self.slots:
            if slot.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(slot.pid, sig)

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
            for slot in self.slots:
                if slot.pid == pid:
                    self._on_exit(slot, pid, status)
                    break

    def _on_exit(self, slot: Slot, pid: int, status: int) -> None:
        channel = self._channels.pop(slot.index, None)
        if channel is not None:
            channel.close()
        self._ipc_socks.pop(slot.index, None)
        how = describe_status(status)
        phase = self.phase
        ever_ready = slot.ever_ready
        delay = slot.exited(phase, time.monotonic())
        if phase is Phase.STOPPING:
            log.debug("worker %d (pid %d) %s", slot.index, pid, how)
            return
        if not self.started and not ever_ready:
            why = self._failures.pop(slot.index, None)
            detail = f": {why}" if why else ""
            self._fail_start(f"worker {slot.index} (pid {pid}) {how} while starting{detail}")
            return
        log.warning("worker %d (pid %d) %s; restarting in %gs", slot.index, pid, how, delay)

    # -- messages from workers --------------------------------------------------------------

    def _on_message(self, index: int, pid: int, message: Message) -> None:
        slot = self.slots[index]
        if isinstance(message, ObservedDead):
            spec = self.specs.get(message.identity)
            if spec is not None:  # publishes if it changes; the prober then probes it
                self.board.mark_dead(
                    spec, message.reason, http_level=message.http_level, host=message.host
                )
        elif isinstance(message, Ready):
            if slot.pid == pid:
                slot.apply(self.phase, SlotEvent.READY)
                log.debug("worker %d serving (pid %d)", index, pid)
                self._check_started()
        elif isinstance(message, Failed):
            self._failures[index] = message.message
        else:
            log.debug("unexpected message from worker %d: %r", index, message)

    def _on_lost(self, index: int, pid: int) -> None:
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

    # -- health: the single writer -----------------------------------------------------------

    def _publish(self, transition: Transition) -> None:
        message = Health(transition.spec.identity, transition.alive, clip(transition.reason))
        for channel in self._channels.values():
            channel.send(message)

    def _send_state(self, channel: Channel) -> None:
        for row in self.board.snapshot():
            if row.spec.kind is not BackendKind.REDIRECT:
                channel.send(Health(row.spec.identity, row.alive, clip(row.reason)))
        channel.send(Synced())

    # -- forking (the loop is not running here) ----------------------------------------------

    def spawn(self, index: int) -> None:
        """Fork the worker of slot ``index``. Returns in the supervisor only."""
        slot = self.slots[index]
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
            others = [s for i, group in enumerate(self.slot_sockets) if i != index for s in group]
            run_child(
                index=index,
                proxy=self.proxy,
                sockets=self.slot_sockets[index],
                ipc=theirs,
                inherited=[*others, *self._ipc_socks.values(), ours],
                keep=self.loop,
                notifier=self.notifier,
                handler=self.handler,
                grace=self.config.grace,
                backends=self.backends,
                mask=mask,
            )
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        theirs.close()
        slot.spawned(pid, time.monotonic())
        self._ipc_socks[index] = ours
        self.loop.run_until_complete(self._attach(index, pid, ours))

    async def _attach(self, index: int, pid: int, sock: socket.socket) -> None:
        _, channel = await self.loop.create_unix_connection(
            lambda: Channel(
                functools.partial(self._on_message, index, pid),
                functools.partial(self._on_lost, index, pid),
            ),
            sock=sock,
        )
        if self.slots[index].pid != pid:  # already gone
            channel.close()
            return
        # Register and send the snapshot in one step: later transitions follow it.
        self._channels[index] = channel
        self._send_state(channel)


def supervise(
    config: ConfigSpec,
    slot_sockets: list[list[socket.socket]],
    proxy: ProxyLike,
    backends: list[BackendSpec],
    notifier: StartupNotifier,
    handler: logging.Handler,
) -> int:
    """Run the supervisor until it stops; returns the exit status."""
    loop = asyncio.SelectorEventLoop()
    asyncio.set_event_loop(loop)
    supervisor = Supervisor(loop, config, slot_sockets, proxy, backends, notifier, handler)
    try:
        loop.run_until_complete(supervisor.open())
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
