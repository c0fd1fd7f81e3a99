"""The control socket of a supervisor: its ``RuntimeView`` over the workers (shell).

With several workers the supervisor answers the control socket. What it knows itself it
answers at once: the configuration in force, health (its board is the single writer),
the operator's switches (it keeps them, and tells every worker). What only the workers
know it reads two ways:

- Counters (requests, failovers, resends, statuses, latency) from its ``Ledger``
  (``process.ledger``): every worker's latest report plus what exited workers counted, so
  they never go down when a worker is restarted or a reload retires the old ones.
- Requests in flight, a gauge, fresh from every worker before each control request
  (``CountsGather``: one ``CountsAsk`` per worker, a bounded wait). A worker that does not
  answer in time makes the figure *unknown* (``None``), never zero: the answer names the
  workers that did not answer, and the log says so. ``standbyctl drain --wait`` keeps
  waiting until every live worker has confirmed that nothing is in flight.

The IPC channel of a worker is ordered: counters asked for after a drain was sent are
counted after the worker applied it, so ``standbyctl drain --wait`` never sees a stale
zero.

Metrics cost the supervisor a bounded amount however many scrape them (``SharedMetrics``):
one collection at a time, and one rendering shared by every scrape (control socket
``/metrics`` and a Metrics service's ``MetricsAsk``) within ``METRICS_SHARE_INTERVAL``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from standby import __version__
from standby.balance.sessions import SessionTables
from standby.clock import Clock, SystemClock
from standby.control import api
from standby.control.server import BoundControl, ControlRequest, ControlServer
from standby.control.view import (
    BackendState,
    CoreInfo,
    HealthDetail,
    ObjectPath,
    SessionInfo,
    resolve,
    session_add,
    session_delete,
    session_list,
)
from standby.health.board import HealthBoard
from standby.model import BackendSpec, ConfigSpec, ListenerSpec, ServiceSpec
from standby.process.channel import Channel
from standby.process.ipc import SERIAL_MODULO, Counts, CountsAsk, CountsDone, CountsPush, Identity
from standby.process.ledger import Ledger, Row, Tally

log = logging.getLogger("standby.process")

# How long a control request waits for the workers' answers: they answer from their event
# loop within milliseconds; a worker stuck longer is reported as not answering (its
# requests in flight unknown) rather than blocking the operator.
COUNTS_TIMEOUT = 2.0
# Scrapes within this long of a collection share its rendering: no scraper needs fresher
# figures (Prometheus scrapes every 15 s or more), and however many clients scrape, the
# supervisor (which also runs the health checks) collects and renders at most about once
# per interval.
METRICS_SHARE_INTERVAL = 1.0


def row_of(message: Counts | CountsPush) -> Row:
    """The ledger's row from a worker's report."""
    return Row(
        requests=message.requests,
        failovers=message.failovers,
        resends=message.resends,
        statuses=message.statuses,
        latency=message.latency,
        latency_sum=message.latency_sum,
    )


@dataclass(frozen=True, slots=True)
class Gathered:
    """The workers' answers to one ``CountsAsk``."""

    in_flight: dict[Identity, int]  # summed over the workers that answered
    unanswered: tuple[int, ...]  # pids of live workers that did not answer in time


@dataclass(slots=True)
class _Gathering:
    serial: int
    waiting: set[int]  # pids that have not finished answering
    replies: dict[int, list[Counts]]  # by pid
    done: asyncio.Event


class CountsGather:
    """Asks every worker for its counters and sums the requests in flight of those that
    answered (several gatherings at a time)."""

    def __init__(self, timeout: float = COUNTS_TIMEOUT) -> None:
        self.timeout = timeout
        self._serial = 0
        self._open: dict[int, _Gathering] = {}

    async def gather(self, channels: dict[int, Channel]) -> Gathered:
        """Requests in flight by backend identity over the workers of ``channels`` (by
        pid), and the workers that did not answer within ``timeout``."""
        self._serial = (self._serial + 1) % SERIAL_MODULO
        serial = self._serial
        waiting = {pid for pid, channel in channels.items() if channel.open}
        gathering = _Gathering(serial, set(waiting), {}, asyncio.Event())
        self._open[serial] = gathering
        for pid in waiting:
            channels[pid].send(CountsAsk(serial))
        try:
            if waiting:
                async with asyncio.timeout(self.timeout):
                    await gathering.done.wait()
        except TimeoutError:
            log.warning(
                "workers %s did not report their counters within %gs; "
                "requests in flight reported as unknown",
                ", ".join(f"pid {pid}" for pid in sorted(gathering.waiting)),
                self.timeout,
            )
        finally:
            del self._open[serial]
        in_flight: dict[Identity, int] = {}
        for pid, rows in gathering.replies.items():
            if pid in gathering.waiting:
                continue  # an incomplete answer: that worker did not answer
            for row in rows:
                in_flight[row.identity] = in_flight.get(row.identity, 0) + row.in_flight
        return Gathered(in_flight, tuple(sorted(gathering.waiting)))

    def on_counts(self, pid: int, message: Counts) -> None:
        gathering = self._open.get(message.serial)
        if gathering is not None and pid in gathering.waiting:
            gathering.replies.setdefault(pid, []).append(message)

    def on_done(self, pid: int, message: CountsDone) -> None:
        gathering = self._open.get(message.serial)
        if gathering is not None:
            self._finished(gathering, pid)

    def on_gone(self, pid: int) -> None:
        """A worker exited: nothing of it is in flight any more (its counters are in the
        ledger)."""
        for gathering in self._open.values():
            gathering.replies.pop(pid, None)
            self._finished(gathering, pid)

    @staticmethod
    def _finished(gathering: _Gathering, pid: int) -> None:
        gathering.waiting.discard(pid)
        if not gathering.waiting:
            gathering.done.set()


class SharedMetrics:
    """The OpenMetrics text of the whole service, shared by concurrent scrapes: one
    collection at a time (a scrape arriving while one runs waits for it), and its text
    reused for ``interval`` seconds after it completed."""

    def __init__(
        self,
        collect: Callable[[], Awaitable[str]],
        *,
        interval: float = METRICS_SHARE_INTERVAL,
        clock: Clock | None = None,
    ) -> None:
        self._collect = collect
        self._interval = interval
        self._clock: Clock = clock or SystemClock()
        self._text: str | None = None
        self._at = 0.0
        self._running: asyncio.Task[str] | None = None
        self.collections = 0  # how many collections ran (for tests and figures)

    async def text(self) -> str:
        if self._text is not None and self._clock.monotonic() - self._at < self._interval:
            return self._text
        running = self._running
        if running is None:
            running = asyncio.get_running_loop().create_task(self._run())
            # Waiters may all be cancelled: the outcome is retrieved here, never lost.
            running.add_done_callback(lambda t: t.cancelled() or t.exception())
            self._running = running
        # A waiter cancelled (its client left) does not cancel the others' collection.
        return await asyncio.shield(running)

    async def _run(self) -> str:
        try:
            text = await self._collect()
        finally:
            self._running = None
        self.collections += 1
        self._text, self._at = text, self._clock.monotonic()
        return text

    async def close(self) -> None:
        running, self._running = self._running, None
        if running is not None:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)


class Operated(Protocol):
    """What the view needs from the supervisor."""

    board: HealthBoard
    started_wall: float
    sessions: SessionTables  # issue 15

    @property
    def config(self) -> ConfigSpec: ...

    @property
    def worker_count(self) -> int: ...

    def listener_on(self, index: int) -> bool: ...

    def service_on(self, listener: int | None, service: int) -> bool: ...

    def switch(self, listener: int | None, service: int | None, enabled: bool) -> None: ...

    def operate(self, spec: BackendSpec, *, enabled: bool | None, draining: bool | None) -> None:
        """Change a backend's operator state on the board and tell every worker."""
        ...

    def transitions_of(self, spec: BackendSpec) -> int: ...

    def worker_channels(self) -> dict[int, Channel]: ...

    async def reload(self) -> tuple[bool, str]: ...


class SupervisorView:
    """``RuntimeView`` of a supervisor: health and switches from it, counters from its
    ledger and requests in flight from its workers, as of the last ``refresh``."""

    def __init__(self, supervisor: Operated, gather: CountsGather, ledger: Ledger) -> None:
        self._sup = supervisor
        self._gather = gather
        self._ledger = ledger
        self._counts: dict[Identity, Tally] = {}
        self._in_flight: dict[Identity, int] = {}
        self._unanswered: tuple[int, ...] = ()

    async def refresh(self) -> None:
        """Ask every worker for its counters now (bounded wait); their answers update the
        ledger, which is read after."""
        gathered = await self._gather.gather(self._sup.worker_channels())
        self._in_flight = gathered.in_flight
        self._unanswered = gathered.unanswered
        self._counts = self._ledger.reading()

    def config(self) -> ConfigSpec:
        return self._sup.config

    def core(self) -> CoreInfo:
        return CoreInfo(
            pid=os.getpid(),
            version=__version__,
            started=self._sup.started_wall,
            workers=self._sup.worker_count,
            unanswered=self._unanswered,
        )

    def listener_enabled(self, listener: int) -> bool:
        return self._sup.listener_on(listener)

    def service_enabled(self, path: ObjectPath) -> bool:
        spec = resolve(self.config(), path)
        assert isinstance(spec, ServiceSpec) and path.service is not None
        return not spec.disabled and self._sup.service_on(path.listener, path.service)

    def backend_state(self, path: ObjectPath) -> BackendState:
        spec = resolve(self.config(), path)
        assert isinstance(spec, BackendSpec)
        board = self._sup.board
        row = board.health_of(spec)
        summed = self._counts.get(spec.identity) or Tally()
        # Unknown, not zero, while a worker has not answered: it may be serving some.
        in_flight = None if self._unanswered else self._in_flight.get(spec.identity, 0)
        return BackendState(
            alive=board.is_alive(spec),
            enabled=board.is_enabled(spec),
            draining=board.is_draining(spec),
            in_flight=in_flight,
            requests=summed.requests,
            since=row.since if row else self._sup.started_wall,
            reason=row.reason if row else "configured",
            health=HealthDetail(
                last_check=row.last_check if row else None,
                last_result=row.last_result if row else None,
                successes=row.successes if row else 0,
                failures=row.failures if row else 0,
            ),
            statuses=dict(summed.statuses),
            failovers=summed.failovers,
            resends=summed.resends,
            transitions=self._sup.transitions_of(spec),
            latency=summed.latency,
            unanswered=self._unanswered,
            history=row.history if row else (),
        )

    def set_enabled(self, path: ObjectPath, enabled: bool) -> None:
        spec = resolve(self.config(), path)
        if isinstance(spec, ListenerSpec):
            self._sup.switch(path.listener, None, enabled)
        elif isinstance(spec, ServiceSpec):
            self._sup.switch(path.listener, path.service, enabled)
        else:
            self._sup.operate(spec, enabled=enabled, draining=None)

    def set_draining(self, path: ObjectPath, draining: bool) -> None:
        spec = resolve(self.config(), path)
        assert isinstance(spec, BackendSpec)
        self._sup.operate(spec, enabled=None, draining=draining)

    # --- issue 15: sessions (on the workers' loop clock: time.monotonic) ---

    def sessions(self, path: ObjectPath) -> list[SessionInfo] | None:
        service = resolve(self.config(), path)
        assert isinstance(service, ServiceSpec)
        return session_list(self._sup.sessions, service, time.monotonic(), time.time())

    def add_session(self, path: ObjectPath, key: str) -> bool:
        return session_add(self._sup.sessions, self.config(), path, key, time.monotonic())

    def delete_session(self, path: ObjectPath, key: str) -> bool:
        return session_delete(self._sup.sessions, self.config(), path, key, time.monotonic())

    async def reload(self) -> tuple[bool, str]:
        return await self._sup.reload()


class SupervisorControl(ControlServer):
    """``ControlServer`` that refreshes the workers' counters before deciding each request
    and answers ``GET /metrics`` with the shared rendering; it knows its file descriptors
    (a worker forked meanwhile must close them: a control connection held open by a child
    would never reach end-of-file for the client)."""

    def __init__(
        self,
        path: str,
        view: SupervisorView,
        metrics: SharedMetrics,
        *,
        mode: int,
        clock: Clock,
        bound: BoundControl | None = None,
    ) -> None:
        super().__init__(path, view, mode=mode, clock=clock, bound=bound)
        self._supervisor_view = view
        self._metrics = metrics

    async def before_request(self) -> None:
        await self._supervisor_view.refresh()

    async def decide(self, request: ControlRequest) -> api.Reply:
        if not api.is_metrics(request.method, request.target):
            return await super().decide(request)
        try:
            return api.metrics_reply(await self._metrics.text())
        except Exception as exc:  # as for any request: the control socket stays up
            log.exception("control request GET /metrics failed")
            return api.error_reply(500, f"internal error: {type(exc).__name__}: {exc}")
