"""A supervised worker: the child side of the supervisor's fork.

The supervisor forks while its own event loop is not running. The child first makes
itself independent: default signal dispositions (signals stay blocked until its own
handlers are in place), no wakeup fd, its copies of an earlier generation's sockets, of
every supervisor-side IPC end and of the daemon's status pipe closed (so that a supervisor's
death reads as end-of-file here, and the starting command is not kept waiting). The
supervisor's loop object is kept referenced and the garbage collector frozen: the child
must never finalise an inherited object, whose file descriptors it does not own.

Then it runs the very same ``Lifecycle`` as a single process, on its own uvloop loop,
with the worker's signal table, reporting readiness to the supervisor. ``WorkerLink``
mirrors the supervisor's health decisions and the operator's switches into the proxy,
reports the local observations (a connect failure marks the backend dead here at once)
back, answers the supervisor's requests for counters, and pushes the counters that changed
with every heartbeat and once more when it stops (the supervisor's ledger keeps
them when this worker is gone). A Metrics service's scrapes share one text from the
supervisor per ``METRICS_SHARE_INTERVAL``: however many clients scrape, a worker asks the
supervisor about once per interval. Its ``TableReplica`` fills the
proxy's stale stores from the supervisor's (the worker serves only once it has them all,
``TableSynced``) and shares the worker's captures (``process/tables.py``).

Supervision: from the moment its channel is up, the worker sends ``Beat`` every
``HEARTBEAT_INTERVAL`` from a timer on its event loop (a blocked loop stops beating, and
the supervisor kills it). It keeps the listening sockets of every slot of its generation
(the proxy holds them, and closes them when it stops accepting) but accepts only on its
own, and on another slot's while the supervisor says ``Adopt`` (until ``Release``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
from collections.abc import Callable, Iterable
from typing import NoReturn

import uvloop

from standby.control.api import Reply
from standby.control.view import ObjectPath, resolve
from standby.dns.expand import decode_targets
from standby.health.board import Transition
from standby.model import BackendSpec, ServiceSpec
from standby.observe.logsetup import STANDBY_ONLY, refresh_ident
from standby.process.channel import Channel
from standby.process.control import (
    COUNTS_TIMEOUT,
    METRICS_SHARE_INTERVAL,
    SharedMetrics,
)
from standby.process.daemon import StartupNotifier
from standby.process.heartbeat import HEARTBEAT_INTERVAL
from standby.process.ipc import (
    SERIAL_MODULO,
    Adopt,
    Beat,
    ControlAsk,
    ControlReply,
    Counts,
    CountsAsk,
    CountsDone,
    CountsPush,
    DnsTargets,
    Failed,
    Health,
    Identity,
    Message,
    MetricsAsk,
    MetricsEnd,
    MetricsPart,
    ObservedDead,
    Operator,
    Ready,
    Release,
    SessionAnswer,
    Switch,
    Synced,
    TablePart,
    TableSynced,
    TableTouch,
    clip,
)
from standby.process.lifecycle import EXIT_FAILURE, EXIT_OK, Lifecycle, ProxyLike, SignalInbox
from standby.process.sessions import SessionAsker
from standby.process.signals import HANDLED_SIGNALS, WORKER_TRANSITIONS
from standby.process.supervision import by_identity
from standby.process.tables import SYNC_TABLES_TIMEOUT, TableReplica
from standby.server.stats import BackendCounters

log = logging.getLogger("standby.process")

# Blocked in the supervisor from just before fork until each side has its handlers: a
# signal that arrives meanwhile waits instead of hitting an inherited handler.
FORK_BLOCKED: tuple[signal.Signals, ...] = (*HANDLED_SIGNALS, signal.SIGCHLD)
# The supervisor sends the current state right after the fork; this only bounds a hang.
SYNC_TIMEOUT = 30.0
# A stopping worker (replaced by a reload, or the whole service stopping) keeps idle
# keep-alive connections this long: an active client sends its next request well within
# it and gets an answer with Connection: close, instead of a close racing its request.
IDLE_LINGER = 1.0

# A worker whose supervisor is gone (killed: nobody will restart or stop it) goes on
# accepting this long, with keep-alive off, before it drains and leaves. Its listening
# sockets stay open until the other proxy of an HA pair has taken the floating address:
# keepalived finds the dead control socket within its check interval (1 s in
# contrib/keepalived) and the peer takes over within an advert or two, so no client meets a
# refused connection meanwhile (docs/ha.md). Alone, the worker only leaves this much later.
ORPHAN_SERVE = 3.0

# A Metrics service's answer waits this long for the summed figures from the supervisor,
# which itself waits COUNTS_TIMEOUT for the workers' counters.
METRICS_TIMEOUT = COUNTS_TIMEOUT + 2.0

# A Control service's request waits this long for the supervisor's answer: a reload it
# asks for starts new workers, which may take a while on a loaded machine.
CONTROL_TIMEOUT = 60.0

# Objects inherited from the supervisor that must stay referenced (never finalised) here.
_INHERITED: list[object] = []


class _NoMetrics(Exception):
    """The supervisor sent no metrics text (gone, or too slow)."""


class WorkerLink:
    """The worker's side of the IPC: applies ``Health``, ``Operator`` and ``Switch``,
    answers ``CountsAsk``, reports local deaths, and is the ``Lifecycle``'s notifier
    (Ready/Failed go to the supervisor)."""

    def __init__(
        self,
        proxy: ProxyLike,
        backends: Iterable[BackendSpec],
        on_lost: Callable[[], None],
        *,
        metrics_share: float = METRICS_SHARE_INTERVAL,
        index: int = 0,
        slot_sockets: list[list[socket.socket]] | None = None,
    ) -> None:
        """``index``: this worker's slot; ``slot_sockets``: every slot's listening sockets
        of this generation (one per listener each), what ``Adopt`` names."""
        self.proxy = proxy
        self.index = index
        self.slot_sockets = slot_sockets or []
        self._beat: asyncio.TimerHandle | None = None
        self._adopting: set[asyncio.Future[None]] = set()
        self._metrics_serial = 0
        # Scrapes share one ask under way, and its text for ``metrics_share`` seconds.
        self._whole = SharedMetrics(self._collect_metrics, interval=metrics_share)
        # What the supervisor last got of each backend's counters, to push only changes.
        self._reported: dict[Identity, tuple[int, int, int, int]] = {}
        self.pushing = False  # counters go with the beats once the worker serves
        # Metrics texts being received from the supervisor, by serial: pieces and the
        # future that gets them joined (None if the supervisor is gone).
        self._metrics: dict[int, tuple[list[str], asyncio.Future[str | None]]] = {}
        # Issue 15: Control service replies being received, as the metrics texts.
        self._control_serial = 0
        self._controls: dict[int, tuple[list[bytes], asyncio.Future[Reply | None]]] = {}
        self.board = proxy.board
        self.specs = by_identity(list(backends))
        self.synced = asyncio.Event()
        self.tables_synced = asyncio.Event()  # every shared table received whole
        self.replica: TableReplica | None = None
        self.session_asker: SessionAsker | None = None  # issue 15
        self.lost = False
        self.closed = False  # this worker closed its end (it is leaving)
        self.channel: Channel | None = None
        self._on_lost = on_lost
        self._applying = False
        # The supervisor's decision number per backend (``Health.epoch``), echoed in
        # ObservedDead so that it can tell a late observation from a fresh one.
        self.epochs: dict[Identity, int] = {}
        self.board.subscribe(self._on_transition)

    def on_message(self, message: Message) -> None:
        if isinstance(message, Health):
            spec = self.specs.get(message.identity)
            if spec is None:
                log.debug("health of an unknown backend %r ignored", message.identity)
                return
            self.epochs[message.identity] = message.epoch
            # The supervisor's decision, applied here: not an observation to echo back.
            self._applying = True
            try:
                if message.alive:
                    self.board.mark_alive(spec, message.reason)
                else:
                    self.board.mark_dead(spec, message.reason)
            finally:
                self._applying = False
        elif isinstance(message, Operator):
            spec = self.specs.get(message.identity)
            if spec is not None:
                self.board.set_enabled(spec, message.enabled)
                self.board.set_draining(spec, message.draining)
        elif isinstance(message, Switch):
            self._switch(message)
        elif isinstance(message, CountsAsk):
            self._send_counts(message.serial)
        elif isinstance(message, MetricsPart):
            pending = self._metrics.get(message.serial)
            if pending is not None:
                pending[0].append(message.text)
        elif isinstance(message, MetricsEnd):
            pending = self._metrics.get(message.serial)
            if pending is not None and not pending[1].done():
                pending[1].set_result("".join(pending[0]))
        elif isinstance(message, ControlReply):
            self._control_reply(message)
        elif isinstance(message, Synced):
            self.synced.set()
        elif isinstance(message, Adopt):
            self._adopt(message.slot)
        elif isinstance(message, Release):
            self.proxy.release_extra(message.slot)
            log.debug("worker %d: no longer accepting for worker %d", self.index, message.slot)
        elif isinstance(message, TablePart):
            if self.replica is not None:
                self.replica.on_part(message)
        elif isinstance(message, TableTouch):
            if self.replica is not None:
                self.replica.on_touch(message)
        elif isinstance(message, TableSynced):
            self.tables_synced.set()
        elif isinstance(message, DnsTargets):  # issue 15
            try:
                targets = decode_targets(message.targets)
            except ValueError as exc:
                log.error("dynamic backend %d: bad targets from the supervisor: %s",
                          message.index, exc)  # fmt: skip
                return
            self.specs = by_identity(self.proxy.set_targets(message.index, targets))
        elif isinstance(message, SessionAnswer):
            if self.session_asker is not None:
                self.session_asker.on_answer(message)
        else:
            log.debug("unexpected message from the supervisor: %r", message)

    # -- supervision: heartbeat and adoption ---------------------------------------------

    def start_beats(self, loop: asyncio.AbstractEventLoop) -> None:
        """Beat now and every HEARTBEAT_INTERVAL, from this loop (until ``close``); once
        serving, each beat brings the counters that changed (what the supervisor's ledger
        may lose of a worker that is killed: about a beat's worth)."""
        self._send(Beat())
        if self.pushing:
            self.push_counts()
        self._beat = loop.call_later(HEARTBEAT_INTERVAL, self.start_beats, loop)

    def _adopt(self, slot: int) -> None:
        if slot == self.index or not 0 <= slot < len(self.slot_sockets):
            log.debug("worker %d: adoption of slot %d ignored", self.index, slot)
            return
        log.debug("worker %d: accepting for worker %d too", self.index, slot)
        try:
            task = self.proxy.serve_extra(slot, self.slot_sockets[slot])
        except (ValueError, OSError) as exc:  # never raise into the channel's callback
            log.error("worker %d cannot accept for worker %d: %s", self.index, slot, exc)
            return
        if task is not None:
            self._adopting.add(task)
            task.add_done_callback(self._adopted)

    def _adopted(self, task: asyncio.Future[None]) -> None:
        self._adopting.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("worker %d cannot accept for another: %s", self.index, task.exception())

    def _switch(self, message: Switch) -> None:
        if message.listener is None and message.service is None:
            self.proxy.set_keep_alive(message.enabled)
            return
        try:
            path = ObjectPath(message.listener, message.service)
            spec = resolve(self.proxy.config, path)
        except (ValueError, IndexError):
            log.debug("switch of an unknown object ignored: %r", message)
            return
        if isinstance(spec, ServiceSpec):
            self.proxy.set_service_enabled(spec, message.enabled)
        elif message.listener is not None:
            self.proxy.set_listener_enabled(message.listener, message.enabled)

    def _send_counts(self, serial: int) -> None:
        for identity, spec in self.specs.items():
            counters = self.proxy.counters_of(spec)
            if counters is None:
                continue
            self._reported[identity] = _mark(counters)
            self._send(Counts(serial, identity, *_figures(counters)))
        self._send(CountsDone(serial))

    def push_counts(self) -> None:
        """Send the counters of every backend whose counters changed since the supervisor
        last got them."""
        for identity, spec in self.specs.items():
            counters = self.proxy.counters_of(spec)
            if counters is None:
                continue
            mark = _mark(counters)
            if self._reported.get(identity) == mark:
                continue
            self._reported[identity] = mark
            self._send(CountsPush(identity, *_figures(counters)))

    async def whole_metrics(self) -> str | None:
        """The OpenMetrics text of the whole service from the supervisor: every worker's
        counters summed, as a Metrics service must show them whichever worker answers.
        Scrapes share one ask under way, and its text for ``metrics_share`` seconds after
        (``SharedMetrics``, as in the supervisor). None when the supervisor is gone or does
        not answer within METRICS_TIMEOUT."""
        if self.channel is None or self.lost:
            return None
        try:
            return await self._whole.text()
        except _NoMetrics:
            return None

    async def _collect_metrics(self) -> str:
        text = await self._ask_supervisor()
        if text is None:
            raise _NoMetrics  # not kept: the next scrape asks again
        return text

    async def _ask_supervisor(self) -> str | None:
        self._metrics_serial = (self._metrics_serial + 1) % SERIAL_MODULO
        serial = self._metrics_serial
        done: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._metrics[serial] = ([], done)
        self._send(MetricsAsk(serial))
        try:
            async with asyncio.timeout(METRICS_TIMEOUT):
                return await done
        except TimeoutError:
            log.warning("the supervisor sent no metrics within %gs", METRICS_TIMEOUT)
            return None
        finally:
            del self._metrics[serial]

    async def control_request(self, method: str, target: str, body: bytes) -> Reply | None:
        """Issue 15: a request to a Control service, decided by the supervisor (the single
        writer of the operator's switches). None when it is gone or does not answer
        within CONTROL_TIMEOUT."""
        if self.channel is None or self.lost:
            return None
        self._control_serial = (self._control_serial + 1) % SERIAL_MODULO
        serial = self._control_serial
        done: asyncio.Future[Reply | None] = asyncio.get_running_loop().create_future()
        self._controls[serial] = ([], done)
        self._send(ControlAsk(serial, method, target, body))
        try:
            async with asyncio.timeout(CONTROL_TIMEOUT):
                return await done
        except TimeoutError:
            log.warning(
                "the supervisor did not answer a control request within %gs", CONTROL_TIMEOUT
            )
            return None
        finally:
            del self._controls[serial]

    def _control_reply(self, message: ControlReply) -> None:
        pending = self._controls.get(message.serial)
        if pending is None or pending[1].done():
            return
        pending[0].append(message.data)
        if message.last:
            allow = tuple(a for a in message.allow.split(", ") if a)
            body = b"".join(pending[0])
            pending[1].set_result(Reply(message.status, body, message.content_type, allow))

    def on_lost(self) -> None:
        self.lost = True
        for _, control in self._controls.values():
            if not control.done():
                control.set_result(None)
        for _, done in self._metrics.values():
            if not done.done():
                done.set_result(None)
        self.synced.set()  # nothing more will come: stop waiting for it
        self.tables_synced.set()
        if not self.closed:  # the supervisor went, not this worker closing its end
            self._on_lost()

    def _on_transition(self, transition: Transition) -> None:
        # Only deaths are observed here (refused connects, passive failures; no prober
        # runs in a worker); comebacks are the supervisor's to decide.
        if self._applying or transition.alive:
            return
        identity = transition.spec.identity
        self._send(
            ObservedDead(
                identity,
                clip(transition.reason),
                transition.http_level,
                self.epochs.get(identity, 0),
            )
        )

    def _send(self, message: Message) -> None:
        if self.channel is not None:
            self.channel.send(message)

    def share_tables(self) -> None:
        """Replicate the proxy's shared tables (stale stores) through ``channel``."""
        assert self.channel is not None
        replica = TableReplica(self.proxy.table, self.channel, self.proxy.table_names())
        self.replica = replica
        self.proxy.on_table_change = replica.changed
        # Issue 15: a session this worker's copy lacks is asked of the supervisor.
        sessions = self.proxy.sessions
        self.session_asker = SessionAsker(self.channel, sessions.table)
        sessions.ask = self.session_asker.ask

    async def wait_tables(self, index: int) -> None:
        """Until every shared table came whole (bounded: serve without the rest)."""
        try:
            async with asyncio.timeout(SYNC_TABLES_TIMEOUT):
                await self.tables_synced.wait()
        except TimeoutError:
            log.warning("worker %d: serving before every stale copy arrived", index)

    def ready(self) -> None:
        self._send(Ready())

    def failed(self, message: str) -> None:
        self._send(Failed(clip(message)))

    def close(self) -> None:
        self.closed = True
        if self._beat is not None:
            self._beat.cancel()
            self._beat = None
        for task in self._adopting:
            task.cancel()
        self.board.unsubscribe(self._on_transition)
        if self.session_asker is not None:
            self.session_asker.close()
        if self.channel is not None:
            self.channel.close()


Figures = tuple[int, int, int, int, tuple[tuple[int, int], ...], tuple[int, ...], float]


def _figures(counters: BackendCounters) -> Figures:
    """The fields ``Counts`` and ``CountsPush`` share, in their order after the identity:
    in flight, requests, failovers, resends, statuses, latency buckets, latency sum."""
    return (
        max(0, counters.in_flight),
        counters.requests,
        counters.failovers,
        counters.resends,
        tuple(counters.statuses().items()),
        counters.latency.counts(),
        float(counters.latency.total),
    )


def _mark(counters: BackendCounters) -> tuple[int, int, int, int]:
    """What changes whenever a backend's reported counters do (every response observes a
    latency; in flight is a gauge the supervisor reads fresh)."""
    return (counters.requests, counters.failovers, counters.resends, counters.latency.count)


async def _worker(
    index: int,
    proxy: ProxyLike,
    slot_sockets: list[list[socket.socket]],
    ipc: socket.socket,
    grace: float,
    inbox: SignalInbox,
    backends: list[BackendSpec],
) -> int:
    loop = asyncio.get_running_loop()
    sockets = slot_sockets[index]
    own = {id(sock) for sock in sockets}
    proxy.hold([sock for group in slot_sockets for sock in group if id(sock) not in own])

    def orphaned() -> None:
        """The supervisor is gone: serve on a while with keep-alive off, then drain and
        leave (``ORPHAN_SERVE``)."""
        log.warning(
            "worker %d: the supervisor is gone; accepting for %.0fs more, then leaving",
            index,
            ORPHAN_SERVE,
            extra={STANDBY_ONLY: True},
        )
        proxy.set_keep_alive(False)
        loop.call_later(ORPHAN_SERVE, inbox.record, signal.SIGTERM)

    link = WorkerLink(
        proxy,
        backends,
        orphaned,
        index=index,
        slot_sockets=slot_sockets,
    )
    channel = Channel(link.on_message, link.on_lost)
    link.channel = channel
    link.share_tables()  # before the first message can arrive: the tables come right away
    await loop.create_unix_connection(lambda: channel, sock=ipc)
    link.start_beats(loop)
    proxy.metrics_source = link.whole_metrics
    proxy.control_source = link.control_request
    try:
        try:
            async with asyncio.timeout(SYNC_TIMEOUT):
                await link.synced.wait()
        except TimeoutError:
            log.error("worker %d: no health state from the supervisor", index)
            return EXIT_FAILURE
        if link.lost:
            return EXIT_OK
        await link.wait_tables(index)
        if link.lost:
            return EXIT_OK
        link.pushing = True
        lifecycle = Lifecycle(
            proxy,
            sockets,
            grace,
            inbox,
            link,
            table=WORKER_TRANSITIONS,
            name=f"worker {index}",
            level=logging.DEBUG,
            linger=IDLE_LINGER,
        )
        return await lifecycle.run()
    finally:
        if link.pushing:
            link.push_counts()  # what it served since the last report, before it goes
        link.close()


def serve_worker(
    index: int,
    proxy: ProxyLike,
    slot_sockets: list[list[socket.socket]],
    ipc: socket.socket,
    grace: float,
    backends: list[BackendSpec],
    mask: Iterable[int],
) -> int:
    """Run one worker (slot ``index`` of ``slot_sockets``) on a fresh uvloop loop;
    ``mask``: the signal mask to restore once the handlers are installed."""
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    inbox = SignalInbox()
    try:
        inbox.install(loop)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        return loop.run_until_complete(
            _worker(index, proxy, slot_sockets, ipc, grace, inbox, backends)
        )
    finally:
        inbox.uninstall(loop)
        loop.close()


def run_child(
    *,
    index: int,
    proxy: ProxyLike,
    slot_sockets: list[list[socket.socket]],
    ipc: socket.socket,
    inherited: Iterable[socket.socket],
    descriptors: Iterable[int] = (),
    keep: object,
    notifier: StartupNotifier,
    handler: logging.Handler,
    grace: float,
    backends: list[BackendSpec],
    mask: Iterable[int],
) -> NoReturn:
    """In the child right after fork: become an independent worker, serve, ``_exit``.

    ``slot_sockets``: every slot's listening sockets of this worker's generation (it
    serves slot ``index``'s, holds the others' for ``Adopt``);
    ``inherited``: the supervisor's sockets this worker must not hold; ``descriptors``:
    other descriptors of the supervisor's to close (its control socket and connections);
    ``keep``: the supervisor's event loop (kept referenced, never used)."""
    code = EXIT_FAILURE
    try:
        signal.set_wakeup_fd(-1)
        for sig in FORK_BLOCKED:
            signal.signal(sig, signal.SIG_DFL)
        for sock in inherited:
            with contextlib.suppress(OSError):
                sock.close()
        for fd in descriptors:  # their objects stay in the kept loop, never finalised here
            with contextlib.suppress(OSError):
                os.close(fd)
        notifier.discard()
        _INHERITED.append(keep)
        asyncio.set_event_loop(None)
        gc.freeze()
        refresh_ident(handler)
        code = serve_worker(index, proxy, slot_sockets, ipc, grace, backends, mask)
    except BaseException:
        log.exception("worker %d failed", index)
    finally:
        with contextlib.suppress(Exception):
            handler.flush()
        os._exit(code)
