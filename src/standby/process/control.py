"""The control socket of a supervisor: its ``RuntimeView`` over the workers (shell).

With several workers the supervisor answers the control socket. What it knows itself it
answers at once: the configuration in force, health (its board is the single writer),
the operator's switches (it keeps them, and tells every worker). What only the workers
know, the per-backend counters, it asks them for before each control request
(``CountsGather``: one ``CountsAsk`` per worker, a bounded wait, the answers summed); a
worker that does not answer in time counts as zero, and the log says so.

The IPC channel of a worker is ordered: counters asked for after a drain was sent are
counted after the worker applied it, so ``standbyctl drain --wait`` never sees a stale
zero.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

from standby import __version__
from standby.clock import Clock
from standby.control.server import BoundControl, ControlServer
from standby.control.view import (
    BackendState,
    CoreInfo,
    HealthDetail,
    ObjectPath,
    resolve,
)
from standby.health.board import HealthBoard
from standby.model import BackendSpec, ConfigSpec, ListenerSpec, ServiceSpec
from standby.observe.metrics import LatencyHistogram
from standby.process.channel import Channel
from standby.process.ipc import SERIAL_MODULO, Counts, CountsAsk, CountsDone, Identity

log = logging.getLogger("standby.process")

# How long a control request waits for the workers' counters: they answer from their event
# loop within milliseconds; a worker stuck longer is reported as zero rather than blocking
# the operator.
COUNTS_TIMEOUT = 2.0


@dataclass(slots=True)
class Summed:
    """One backend's counters summed over the workers."""

    in_flight: int = 0
    requests: int = 0
    failovers: int = 0
    resends: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)

    def add(self, counts: Counts) -> None:
        self.in_flight += counts.in_flight
        self.requests += counts.requests
        self.failovers += counts.failovers
        self.resends += counts.resends
        self.statuses.update(dict(counts.statuses))
        self.latency.merge(histogram(counts.latency, counts.latency_sum))


def histogram(buckets: tuple[int, ...], total: float) -> LatencyHistogram:
    """A worker's latency histogram rebuilt from its per-bucket counts (a different
    bucket layout, from a worker of another version, is dropped rather than mislabelled)."""
    return LatencyHistogram.from_counts(buckets, total) or LatencyHistogram()


@dataclass(slots=True)
class _Gathering:
    serial: int
    waiting: set[int]  # pids that have not finished answering
    replies: dict[int, list[Counts]]  # by pid, kept only once that worker is done
    done: asyncio.Event


class CountsGather:
    """Asks every worker for its counters and sums the answers (several at a time)."""

    def __init__(self, timeout: float = COUNTS_TIMEOUT) -> None:
        self.timeout = timeout
        self._serial = 0
        self._open: dict[int, _Gathering] = {}

    async def gather(self, channels: dict[int, Channel]) -> dict[Identity, Summed]:
        """Counters by backend identity, summed over the workers of ``channels`` (by pid)."""
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
                "workers %s did not report their counters within %gs; counted as zero",
                ", ".join(f"pid {pid}" for pid in sorted(gathering.waiting)),
                self.timeout,
            )
        finally:
            del self._open[serial]
        sums: dict[Identity, Summed] = {}
        for pid, rows in gathering.replies.items():
            if pid in gathering.waiting:
                continue  # an incomplete answer: the whole worker counts as zero
            for row in rows:
                sums.setdefault(row.identity, Summed()).add(row)
        return sums

    def on_counts(self, pid: int, message: Counts) -> None:
        gathering = self._open.get(message.serial)
        if gathering is not None and pid in gathering.waiting:
            gathering.replies.setdefault(pid, []).append(message)

    def on_done(self, pid: int, message: CountsDone) -> None:
        gathering = self._open.get(message.serial)
        if gathering is not None:
            self._finished(gathering, pid)

    def on_gone(self, pid: int) -> None:
        """A worker exited: what it counted left with it."""
        for gathering in self._open.values():
            gathering.replies.pop(pid, None)
            self._finished(gathering, pid)

    @staticmethod
    def _finished(gathering: _Gathering, pid: int) -> None:
        gathering.waiting.discard(pid)
        if not gathering.waiting:
            gathering.done.set()


class Operated(Protocol):
    """What the view needs from the supervisor."""

    board: HealthBoard
    started_wall: float

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
    """``RuntimeView`` of a supervisor: health and switches from it, counters summed over
    its workers at the last ``refresh``."""

    def __init__(self, supervisor: Operated, gather: CountsGather) -> None:
        self._sup = supervisor
        self._gather = gather
        self._counts: dict[Identity, Summed] = {}

    async def refresh(self) -> None:
        """Ask every worker for its counters now (bounded wait)."""
        self._counts = await self._gather.gather(self._sup.worker_channels())

    def config(self) -> ConfigSpec:
        return self._sup.config

    def core(self) -> CoreInfo:
        return CoreInfo(
            pid=os.getpid(),
            version=__version__,
            started=self._sup.started_wall,
            workers=self._sup.worker_count,
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
        summed = self._counts.get(spec.identity) or Summed()
        return BackendState(
            alive=board.is_alive(spec),
            enabled=board.is_enabled(spec),
            draining=board.is_draining(spec),
            in_flight=summed.in_flight,
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

    async def reload(self) -> tuple[bool, str]:
        return await self._sup.reload()


class SupervisorControl(ControlServer):
    """``ControlServer`` that refreshes the workers' counters before deciding each request,
    and knows its file descriptors (a worker forked meanwhile must close them: a control
    connection held open by a child would never reach end-of-file for the client)."""

    def __init__(
        self,
        path: str,
        view: SupervisorView,
        *,
        mode: int,
        clock: Clock,
        bound: BoundControl | None = None,
    ) -> None:
        super().__init__(path, view, mode=mode, clock=clock, bound=bound)
        self._supervisor_view = view

    async def before_request(self) -> None:
        await self._supervisor_view.refresh()
