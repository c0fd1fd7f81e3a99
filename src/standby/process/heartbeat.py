"""Heartbeat deadlines of the workers (pure: times are passed in, nothing here does I/O).

A worker sends ``Beat`` every ``HEARTBEAT_INTERVAL`` from a timer on its own event loop, so
a loop that is blocked (a busy loop, a stopped process) stops beating. The supervisor
records the last beat of each worker process (the fork counts as one) and kills a worker
that has been silent for ``WorkerTimeout`` seconds; ``Heartbeats`` says which and when.

Before that, a worker silent for ``QUIET_AFTER`` is *quiet*: it is left alone, but another
worker accepts on its sockets until it beats again, so that the connections queuing there
wait about that long, not the whole (configurable, possibly long) ``WorkerTimeout``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# A worker's beat period. One second: a silent worker is noticed within the timeout plus
# this, and a beat a second per worker costs the supervisor nothing measurable.
HEARTBEAT_INTERVAL = 1.0
# Two beats missed: no loop that runs misses them, and a visitor whose connection queued on
# a stuck worker's socket waits about this long before another worker takes it.
QUIET_AFTER = 2.0 * HEARTBEAT_INTERVAL


@dataclass(slots=True)
class Heartbeats:
    """The last sign of life of every live worker process, by pid."""

    _last: dict[int, float] = field(default_factory=dict)
    _condemned: set[int] = field(default_factory=set)  # killed, not reaped yet

    def started(self, pid: int, now: float) -> None:
        """A worker was forked: that counts as its first beat."""
        self._last[pid] = now
        self._condemned.discard(pid)

    def beat(self, pid: int, now: float) -> None:
        """A ``Beat`` from ``pid`` (ignored once it is forgotten or condemned)."""
        if pid in self._last and pid not in self._condemned:
            self._last[pid] = max(self._last[pid], now)

    def forget(self, pid: int) -> None:
        """The process is gone (reaped)."""
        self._last.pop(pid, None)
        self._condemned.discard(pid)

    def condemn(self, pid: int) -> None:
        """``pid`` is being killed: no further deadline, never chosen again."""
        if pid in self._last:
            self._condemned.add(pid)

    def condemned(self, pid: int) -> bool:
        return pid in self._condemned

    def silence(self, pid: int, now: float) -> float:
        """Seconds since ``pid``'s last beat."""
        return now - self._last[pid]

    def overdue(self, now: float, timeout: float) -> list[int]:
        """Workers silent for ``timeout`` seconds or more and not condemned yet, in pid
        order. (``last + timeout``, the very sum ``next_deadline`` returns: waking up at
        that deadline finds the worker overdue, whatever the float rounding.)"""
        return sorted(
            pid
            for pid, last in self._last.items()
            if pid not in self._condemned and last + timeout <= now
        )

    def next_deadline(self, timeout: float, now: float | None = None) -> float | None:
        """When the next worker becomes silent for ``timeout`` if it stays silent (after
        ``now`` if given: the ones already past it are not waited for); None without any."""
        deadlines = [
            last + timeout
            for pid, last in self._last.items()
            if pid not in self._condemned and (now is None or last + timeout > now)
        ]
        return min(deadlines) if deadlines else None

    def quiet(self, now: float, after: float = QUIET_AFTER) -> set[int]:
        """Workers silent for ``after`` seconds or more, and condemned ones (as good as
        gone, whatever they still send)."""
        return {
            pid for pid, last in self._last.items() if last + after <= now or pid in self._condemned
        }

    def __contains__(self, pid: object) -> bool:
        return pid in self._last
