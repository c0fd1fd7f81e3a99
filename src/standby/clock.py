"""Clocks: the only place in standby that reads the time.

Pure code takes a ``Clock`` (or a bare callable returning seconds) instead of importing
``time``, so tests drive it with a ``FakeClock`` and never sleep.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards: deadlines and intervals."""
        ...

    def wall(self) -> float:
        """Seconds since the epoch: only for display (logs, control API)."""
        ...


class SystemClock:
    """The real clocks of the machine."""

    __slots__ = ()

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()


# An arbitrary but realistic epoch for fake wall time (2024-01-01T00:00:00Z), so that
# formatted timestamps in tests look like real ones.
FAKE_WALL_EPOCH = 1_704_067_200.0


class FakeClock:
    """A clock that moves only when told to: deterministic tests without sleeping."""

    __slots__ = ("_monotonic", "_wall")

    def __init__(self, start: float = 0.0, wall_start: float = FAKE_WALL_EPOCH) -> None:
        self._monotonic = start
        self._wall = wall_start

    def monotonic(self) -> float:
        return self._monotonic

    def wall(self) -> float:
        return self._wall

    def advance(self, seconds: float) -> None:
        """Move both clocks forward; time never runs backwards."""
        if seconds < 0:
            raise ValueError(f"cannot move a clock backwards ({seconds} s)")
        self._monotonic += seconds
        self._wall += seconds

    def __call__(self) -> float:
        """Lets a FakeClock stand in where a bare ``() -> float`` clock is expected."""
        return self._monotonic
