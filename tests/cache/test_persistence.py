"""Copies on disk: atomic writes off the caller's thread, load at start, damage skipped."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import pytest

from standby.cache.entry import encode
from standby.cache.policy import CachePolicy, request_key
from standby.cache.store import (
    ENTRY_SUFFIX,
    REFRESH_INTERVAL,
    STALE_TEMP_AGE,
    StaleStore,
    entry_file_name,
)
from standby.clock import FakeClock

DEADLINE = 20.0  # generous: the machine is shared and noisy


def key_for(path: str) -> bytes:
    k = request_key(b"GET", path.encode(), b"example.com", [], CachePolicy())
    assert k is not None
    return k


def put(store: StaleStore, path: str, body: bytes, status: int = 200) -> None:
    raw = b"HTTP/1.1 %d X\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % (
        status,
        len(body),
    )
    capture = store.begin(key_for(path), status, raw)
    assert capture is not None
    capture.feed(body)
    assert capture.finish()


def files(directory: Path) -> set[str]:
    return set(os.listdir(directory)) if directory.exists() else set()


def make(directory: Path, clock: FakeClock, **kwargs: int | float) -> StaleStore:
    policy = CachePolicy(directory=str(directory), **kwargs)  # type: ignore[arg-type]
    return StaleStore(policy, clock.wall)


def test_round_trip(tmp_path: Path) -> None:
    directory = tmp_path / "stale"  # created on the first write
    clock = FakeClock()
    store = make(directory, clock)
    put(store, "/a", b"alpha")
    put(store, "/b", b"beta", status=404)
    clock.advance(REFRESH_INTERVAL)  # a younger copy is as good as new: not captured
    put(store, "/a", b"alpha, again")  # replaces the file of /a
    store.flush()
    store.close()
    assert files(directory) == {entry_file_name(key_for("/a")), entry_file_name(key_for("/b"))}

    clock.advance(30)
    again = make(directory, clock)
    assert again.load() == 2
    for path in ("/a", "/b"):
        before, after = store.lookup(key_for(path)), again.lookup(key_for(path))
        assert before is not None and after is not None
        assert again.render(after, clock.wall(), False) == store.render(before, clock.wall(), False)
    entry = again.lookup(key_for("/a"))
    assert entry is not None and entry.body == b"alpha, again"
    assert b"\r\nAge: 30\r\n" in again.render(entry, clock.wall(), True)  # age survives
    again.close()


def test_load_without_a_directory_or_persistence(tmp_path: Path) -> None:
    clock = FakeClock()
    assert make(tmp_path / "missing", clock).load() == 0
    memory_only = StaleStore(CachePolicy(), clock.wall)
    put(memory_only, "/a", b"x")
    memory_only.flush()
    assert memory_only.load() == 0 and len(memory_only) == 1


def test_corrupt_files_are_skipped_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    store = make(tmp_path, clock)
    put(store, "/good", b"good")
    put(store, "/torn", b"torn body")
    store.flush()
    store.close()
    torn = tmp_path / entry_file_name(key_for("/torn"))
    torn.write_bytes(torn.read_bytes()[:-5])  # a crash before the data reached the disk
    (tmp_path / ("0" * 64 + ENTRY_SUFFIX)).write_bytes(b"not ours")
    # An intact entry under the wrong name (copied by hand): its key says where it belongs.
    good_file = tmp_path / entry_file_name(key_for("/good"))
    (tmp_path / entry_file_name(key_for("/elsewhere"))).write_bytes(good_file.read_bytes())
    (tmp_path / "README").write_text("not an entry, left alone")

    again = make(tmp_path, clock)
    with caplog.at_level(logging.WARNING, logger="standby.cache"):
        assert again.load() == 1
    assert again.lookup(key_for("/good")) is not None
    assert again.lookup(key_for("/torn")) is None
    warnings = [r.getMessage() for r in caplog.records]
    assert sum("skipping" in w for w in warnings) == 3
    assert (tmp_path / "README").exists()
    again.close()


def test_load_applies_max_age_and_limits(tmp_path: Path) -> None:
    clock = FakeClock()
    store = make(tmp_path, clock)
    put(store, "/old", b"o" * 100)
    clock.advance(100)
    put(store, "/big", b"b" * 5000)
    clock.advance(100)
    for i in range(3):
        put(store, f"/{i}", b"n" * 1000)
        clock.advance(1)
    store.flush()
    store.close()
    assert len(files(tmp_path)) == 5

    # MaxAge drops /old, MaxObject drops /big, Size keeps only the two newest.
    one = store.lookup(key_for("/0"))
    assert one is not None
    again = make(tmp_path, clock, max_age=150, max_object=2000, size=2 * one.cost + 10)
    assert again.load() == 2
    assert [p for p in ("/old", "/big", "/0", "/1", "/2") if key_for(p) in again] == ["/1", "/2"]
    again.flush()
    assert files(tmp_path) == {entry_file_name(key_for("/1")), entry_file_name(key_for("/2"))}
    again.close()


def test_eviction_and_expiry_remove_the_files(tmp_path: Path) -> None:
    clock = FakeClock()
    probe = StaleStore(CachePolicy(), clock.wall)
    put(probe, "/x", b"n" * 1000)
    sized = probe.lookup(key_for("/x"))
    assert sized is not None
    store = make(tmp_path, clock, size=2 * sized.cost, max_age=50)
    put(store, "/0", b"n" * 1000)
    put(store, "/1", b"n" * 1000)
    put(store, "/2", b"n" * 1000)  # evicts /0
    store.flush()
    assert files(tmp_path) == {entry_file_name(key_for("/1")), entry_file_name(key_for("/2"))}
    clock.advance(51)
    assert store.lookup(key_for("/1")) is None  # expired: gone from memory and disk
    store.flush()
    assert files(tmp_path) == {entry_file_name(key_for("/2"))}
    store.close()


def test_eviction_keeps_a_file_another_process_rewrote(tmp_path: Path) -> None:
    clock = FakeClock()
    store = make(tmp_path, clock, max_age=50)
    put(store, "/shared", b"mine")
    store.flush()
    path = tmp_path / entry_file_name(key_for("/shared"))
    mine = store.lookup(key_for("/shared"))
    assert mine is not None
    # Another worker sharing the directory stored a newer copy of the same page.
    from dataclasses import replace

    path.write_bytes(encode(replace(mine, body=b"theirs", stored_at=mine.stored_at + 40)))
    clock.advance(51)
    assert store.lookup(key_for("/shared")) is None
    store.flush()
    assert path.exists()
    store.close()


def test_leftover_temporary_files_are_cleaned(tmp_path: Path) -> None:
    clock = FakeClock(wall_start=0.0)
    old = tmp_path / ".abc.stale.123.1.tmp"
    fresh = tmp_path / ".def.stale.456.1.tmp"
    old.write_bytes(b"half")
    fresh.write_bytes(b"being written by another worker")
    os.utime(old, (0, 0))
    os.utime(fresh, (STALE_TEMP_AGE, STALE_TEMP_AGE))
    clock.advance(STALE_TEMP_AGE + 1)
    store = make(tmp_path, clock)
    assert store.load() == 0
    assert files(tmp_path) == {fresh.name}
    store.close()


def test_disk_work_waits_on_a_background_thread_and_coalesces(tmp_path: Path) -> None:
    clock = FakeClock()
    probe = StaleStore(CachePolicy(), clock.wall)
    put(probe, "/00", b"w" * 1000)
    one = probe.lookup(key_for("/00"))
    assert one is not None
    store = make(tmp_path, clock, size=5 * one.cost)
    disk = store._disk
    assert disk is not None
    put(store, "/kept-on-disk", b"w" * 1000)  # written before the disk gets stuck
    store.flush()
    gate = threading.Event()
    blocked = threading.Event()

    real_remove = disk._remove_if_older

    def stuck_disk(key: bytes, stored_at: float) -> None:
        blocked.set()
        assert gate.wait(DEADLINE)
        real_remove(key, stored_at)

    disk._remove_if_older = stuck_disk  # type: ignore[method-assign]
    put(store, "/0x", b"w" * 1000)
    for i in range(40):  # evicts /kept-on-disk: its removal blocks the writer thread
        put(store, f"/{i:02}", b"w" * 1000)  # each returns although nothing is written
    assert blocked.wait(DEADLINE)
    for _ in range(10):
        clock.advance(REFRESH_INTERVAL)
        put(store, "/39", b"v" * 1000)  # rewritten while queued: one write
    assert len(disk._queue) <= len(store) + 40  # writes only for what the store holds
    assert all(e is None or e.key in store for e, _ in disk._queue.values())
    del disk._remove_if_older  # the disk works again
    gate.set()
    store.flush()
    expected = {entry_file_name(k) for k in store._entries}
    assert files(tmp_path) == expected
    assert len(expected) == len(store) == 5
    entry = store.lookup(key_for("/39"))
    assert entry is not None and entry.body == b"v" * 1000
    store.close()
