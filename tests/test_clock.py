from __future__ import annotations

import pytest

from standby.clock import FAKE_WALL_EPOCH, Clock, FakeClock, SystemClock


def test_fake_clock_moves_only_when_advanced() -> None:
    clock = FakeClock(start=5.0)
    assert clock.monotonic() == 5.0
    assert clock.wall() == FAKE_WALL_EPOCH
    clock.advance(2.5)
    assert clock.monotonic() == 7.5
    assert clock.wall() == FAKE_WALL_EPOCH + 2.5
    assert clock() == 7.5  # usable as a bare callable clock


def test_fake_clock_refuses_to_go_backwards() -> None:
    clock = FakeClock()
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1.0)
    assert clock.monotonic() == 0.0


def test_clocks_satisfy_the_protocol() -> None:
    assert isinstance(SystemClock(), Clock)
    assert isinstance(FakeClock(), Clock)


def test_system_clock_never_goes_backwards() -> None:
    clock = SystemClock()
    readings = [clock.monotonic() for _ in range(1000)]
    assert readings == sorted(readings)
    # Wall time is epoch seconds: after 2020-01-01 on any sane machine.
    assert clock.wall() > 1_577_836_800
