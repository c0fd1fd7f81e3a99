"""A store as a shared table: records between processes, the copy stored last wins, touches
that confirm a copy, the refresh interval, and a store replaced by a reload."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from standby.cache.entry import (
    CorruptEntry,
    Entry,
    body_digest,
    pack,
    same_content,
    unpack,
)
from standby.cache.policy import CachePolicy, request_key
from standby.cache.store import REFRESH_INTERVAL, StaleStore
from standby.clock import FakeClock

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Sat, 05 Dec 2026 10:00:00 GMT\r\n"


def key_for(path: str) -> bytes:
    k = request_key(b"GET", path.encode(), b"example.com", [], CachePolicy())
    assert k is not None
    return k


def capture(store: StaleStore, key: bytes, body: bytes, date: bytes = b"10:00:00") -> bool:
    head = HEAD.replace(b"10:00:00", date) + b"Content-Length: %d\r\n\r\n" % len(body)
    c = store.begin(key, 200, head)
    if c is None:
        return False
    c.feed(body)
    return c.finish()


entries = st.builds(
    Entry,
    st.binary(min_size=1, max_size=200),
    st.sampled_from([200, 204, 301, 404]),
    st.binary(max_size=200).map(lambda b: b"HTTP/1.1 200 OK\r\n" + b.replace(b"\r", b"") + b"\r\n"),
    st.binary(max_size=500),
    st.floats(min_value=0, max_value=4e9, allow_nan=False),
    st.integers(min_value=0, max_value=2**31),
)


@given(entries)
def test_a_record_gives_back_the_entry(entry: Entry) -> None:
    assert unpack(pack(entry)) == entry


@given(entries, st.integers(min_value=0, max_value=10_000))
def test_a_cut_record_is_refused(entry: Entry, cut: int) -> None:
    record = pack(entry)
    with pytest.raises(CorruptEntry):
        unpack(record[: cut % len(record)])


def test_same_content_ignores_date_only() -> None:
    a = Entry(b"k", 200, HEAD, b"body", 1.0)
    later = Entry(b"k", 200, HEAD.replace(b"10:00:00", b"10:00:05"), b"body", 6.0)
    assert same_content(a, later)
    assert not same_content(a, Entry(b"k", 200, HEAD, b"other", 6.0))
    assert not same_content(a, Entry(b"k", 404, HEAD, b"body", 6.0))
    typed = HEAD.replace(b"text/plain", b"text/html")
    assert not same_content(a, Entry(b"k", 200, typed, b"body", 6.0))


def test_a_copy_younger_than_the_refresh_interval_is_not_captured_again() -> None:
    clock = FakeClock()
    store = StaleStore(CachePolicy(), clock.wall)
    k = key_for("/a")
    assert capture(store, k, b"one")
    assert not capture(store, k, b"two")  # as good as new
    clock.advance(REFRESH_INTERVAL)
    assert capture(store, k, b"two")
    entry = store.lookup(k)
    assert entry is not None and entry.body == b"two"
    assert capture(store, key_for("/other"), b"x")  # per key


def test_a_capture_tells_whether_its_content_changed() -> None:
    clock = FakeClock()
    store = StaleStore(CachePolicy(), clock.wall)
    told: list[tuple[bytes, bool]] = []
    store.on_commit = lambda key, changed: told.append((key, changed))
    k = key_for("/a")
    capture(store, k, b"one")
    clock.advance(REFRESH_INTERVAL)
    capture(store, k, b"one", date=b"10:00:01")
    clock.advance(REFRESH_INTERVAL)
    capture(store, k, b"two")
    assert told == [(k, True), (k, False), (k, True)]


def test_the_copy_stored_last_wins_whatever_order_records_come_in() -> None:
    clock = FakeClock()
    older = Entry(key_for("/a"), 200, HEAD, b"older", clock.wall() - 5)
    newer = Entry(key_for("/a"), 200, HEAD, b"newer", clock.wall() - 1)
    for order in ((older, newer), (newer, older)):
        store = StaleStore(CachePolicy(), clock.wall)
        for entry in order:
            store.absorb(pack(entry))
        found = store.lookup(older.key)
        assert found is not None and found.body == b"newer"


def test_absorb_refuses_what_the_policy_refuses() -> None:
    clock = FakeClock()
    store = StaleStore(CachePolicy(max_object=100, max_age=60), clock.wall)
    big = Entry(b"k1", 200, HEAD, b"x" * 200, clock.wall())
    old = Entry(b"k2", 200, HEAD, b"x", clock.wall() - 61)
    assert store.absorb(pack(big)) is None
    assert store.absorb(pack(old)) is None
    assert store.absorb(b"garbage") is None
    assert len(store) == 0
    assert store.absorb(pack(Entry(b"k3", 200, HEAD, b"x", clock.wall()))) == b"k3"


def test_a_touch_freshens_only_the_copy_it_names() -> None:
    clock = FakeClock()
    store = StaleStore(CachePolicy(), clock.wall)
    entry = Entry(b"k", 200, HEAD, b"body", clock.wall() - 100)
    store.put(entry)
    fresh = store.freshness(b"k")
    assert fresh == (entry.stored_at, body_digest(b"body"))
    assert not store.touch(b"k", clock.wall(), body_digest(b"another body"))
    assert not store.touch(b"k", entry.stored_at - 1, body_digest(b"body"))  # not fresher
    assert not store.touch(b"missing", clock.wall(), body_digest(b"body"))
    assert store.touch(b"k", clock.wall(), body_digest(b"body"))
    found = store.lookup(b"k")
    assert found is not None and found.age(clock.wall()) == 0 and found.body == b"body"


def test_records_and_keys_in_least_recently_used_order() -> None:
    clock = FakeClock()
    store = StaleStore(CachePolicy(), clock.wall)
    for name in (b"a", b"b", b"c"):
        store.put(Entry(name, 200, HEAD, name, clock.wall()))
    store.lookup(b"a")
    assert store.keys() == [b"b", b"c", b"a"]
    record = store.record(b"b")
    assert record is not None and unpack(record).body == b"b"
    assert store.record(b"missing") is None


def test_a_replacing_store_adopts_the_copies_that_fit() -> None:
    clock = FakeClock()
    old = StaleStore(CachePolicy(), clock.wall)
    old.put(Entry(b"small", 200, HEAD, b"s", clock.wall()))
    old.put(Entry(b"large", 200, HEAD, b"l" * 500, clock.wall()))
    new = StaleStore(CachePolicy(max_object=300), clock.wall)
    assert new.adopt(old) == 1
    assert new.lookup(b"small") is not None and new.lookup(b"large") is None
