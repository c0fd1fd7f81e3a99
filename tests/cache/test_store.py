"""The in-memory store: capture, replacement, LRU by bytes, MaxObject, MaxAge, Age."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from standby.cache.entry import ENTRY_OVERHEAD
from standby.cache.policy import CachePolicy, request_key
from standby.cache.store import REFRESH_INTERVAL, StaleStore
from standby.clock import FakeClock
from standby.http1 import parse_response_head


def ok_head(length: int | None, extra: bytes = b"") -> bytes:
    framing = b"Content-Length: %d\r\n" % length if length is not None else b""
    return b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" + framing + extra + b"\r\n"


def key_for(path: str) -> bytes:
    k = request_key(b"GET", path.encode(), b"example.com", [], CachePolicy())
    assert k is not None
    return k


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(clock: FakeClock) -> Iterator[StaleStore]:
    s = StaleStore(CachePolicy(size=100_000, max_object=10_000), clock.wall)
    yield s
    s.close()


def put(store: StaleStore, key: bytes, body: bytes, extra: bytes = b"") -> bool:
    capture = store.begin(key, 200, ok_head(len(body), extra))
    assert capture is not None
    capture.feed(body)
    return capture.finish()


def body_of(store: StaleStore, key: bytes) -> bytes | None:
    entry = store.lookup(key)
    return None if entry is None else entry.body


def response(store: StaleStore, key: bytes, *, head_only: bool = False) -> tuple[bytes, bytes]:
    entry = store.lookup(key)
    assert entry is not None
    out = store.render(entry, store.clock(), head_only)
    parsed = parse_response_head(out, b"HEAD" if head_only else b"GET")
    assert parsed is not None
    return out[: parsed[1]], out[parsed[1] :]


def test_a_finished_capture_is_served(store: StaleStore) -> None:
    k = key_for("/a")
    capture = store.begin(k, 200, ok_head(10))
    assert capture is not None and capture.active
    for byte in b"0123456789":  # byte by byte, as a slow backend sends it
        capture.feed(bytes([byte]))
    assert store.lookup(k) is None  # nothing is visible before the response ended
    assert capture.finish()
    assert not capture.active
    head, body = response(store, k)
    assert body == b"0123456789"
    assert head.startswith(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n")
    assert b"Content-Length: 10\r\n" in head


def test_head_is_answered_from_the_get_copy(store: StaleStore) -> None:
    k = key_for("/a")
    put(store, k, b"hello")
    head, body = response(store, k, head_only=True)
    assert body == b""
    assert b"Content-Length: 5\r\n" in head


def test_only_get_responses_are_captured(store: StaleStore) -> None:
    assert store.begin(key_for("/a"), 200, ok_head(5), method=b"HEAD") is None


@pytest.mark.parametrize(
    ("status", "raw"),
    [
        (503, b"HTTP/1.1 503 Unavailable\r\nRetry-After: 600\r\nContent-Length: 0\r\n\r\n"),
        (304, b"HTTP/1.1 304 Not Modified\r\n\r\n"),
        (200, ok_head(5, b"Set-Cookie: s=1\r\n")),
        (200, ok_head(5, b"Cache-Control: private\r\n")),
        (200, b"HTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\n"),  # status disagrees
        (200, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
        (200, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nextra"),
    ],
)
def test_responses_that_are_not_captured(store: StaleStore, status: int, raw: bytes) -> None:
    assert store.begin(key_for("/a"), status, raw) is None


def test_chunked_capture_is_reframed_with_content_length(store: StaleStore) -> None:
    k = key_for("/chunked")
    raw_head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n"
    capture = store.begin(k, 200, raw_head)
    assert capture is not None
    wire = b"5\r\nhello\r\n7;x=y\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n"
    for i in range(0, len(wire), 3):
        capture.feed(wire[i : i + 3])
    assert capture.finish()
    head, body = response(store, k)
    assert body == b"hello, world"
    assert b"Content-Length: 12\r\n" in head
    assert b"chunked" not in head.lower() and b"X-Trailer" not in head


def test_until_close_capture(store: StaleStore) -> None:
    k = key_for("/old")
    capture = store.begin(k, 200, b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n")
    assert capture is not None
    capture.feed(b"all of it")
    assert capture.finish()
    head, body = response(store, k)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and body == b"all of it"


def test_a_bodiless_response_is_captured(store: StaleStore) -> None:
    k = key_for("/gone")
    capture = store.begin(k, 204, b"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n")
    assert capture is not None and capture.finish()
    head, body = response(store, k)
    assert head.startswith(b"HTTP/1.1 204 No Content\r\n") and body == b""


@pytest.mark.parametrize("ending", ["abort", "short", "bad-chunk", "unfinished-chunk"])
def test_a_broken_response_never_replaces_a_good_copy(
    store: StaleStore, clock: FakeClock, ending: str
) -> None:
    k = key_for("/a")
    assert put(store, k, b"good copy")
    clock.advance(REFRESH_INTERVAL)
    if ending in ("bad-chunk", "unfinished-chunk"):
        capture = store.begin(k, 200, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        assert capture is not None
        capture.feed(b"3\r\nbad\r\n" + (b"zz\r\n" if ending == "bad-chunk" else b""))
    else:
        capture = store.begin(k, 200, ok_head(20))
        assert capture is not None
        capture.feed(b"newer but brok")
    if ending == "abort":
        capture.abort()
        assert not capture.finish()  # finish after abort stores nothing either
    else:
        assert not capture.finish()
    assert body_of(store, k) == b"good copy"


def test_a_newer_complete_response_replaces_the_copy(store: StaleStore) -> None:
    k = key_for("/a")
    old = store.begin(k, 200, ok_head(3))
    assert old is not None
    put(store, k, b"newest")  # finished first
    old.feed(b"old")
    old.finish()  # finished last: the latest complete response wins
    assert body_of(store, k) == b"old"
    assert len(store) == 1


def test_max_object(clock: FakeClock) -> None:
    store = StaleStore(CachePolicy(size=100_000, max_object=100), clock.wall)
    head = ok_head(None)
    stored_len = len(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n")
    fits = 100 - stored_len
    # Known too big from Content-Length: not even started.
    assert store.begin(key_for("/big"), 200, ok_head(fits + 1)) is None
    # Exactly at the limit: kept.
    assert put(store, key_for("/exact"), b"x" * fits)
    # Unknown length that grows past the limit: the capture gives up silently.
    capture = store.begin(key_for("/stream"), 200, head)
    assert capture is not None
    capture.feed(b"y" * fits)
    assert capture.active
    capture.feed(b"y")
    assert not capture.active
    assert not capture.finish()
    assert store.lookup(key_for("/stream")) is None


def test_lru_eviction_by_bytes(clock: FakeClock) -> None:
    body = b"z" * 1000
    one = len(key_for("/0")) + len(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n")
    one += len(body) + ENTRY_OVERHEAD
    store = StaleStore(CachePolicy(size=3 * one, max_object=10_000), clock.wall)
    for i in range(3):
        assert put(store, key_for(f"/{i}"), body)
    assert store.used == 3 * one and len(store) == 3
    assert store.lookup(key_for("/0")) is not None  # /0 is now the most recently used
    assert put(store, key_for("/3"), body)
    assert store.lookup(key_for("/1")) is None  # the least recently used went
    assert {p for p in ("/0", "/2", "/3") if key_for(p) in store} == {"/0", "/2", "/3"}
    assert store.used <= 3 * one
    # One big entry pushes out as many small ones as it needs.
    assert put(store, key_for("/big"), b"b" * (2 * one))
    assert store.used <= 3 * one
    assert len(store) == 1 and key_for("/big") in store


def test_an_entry_bigger_than_the_whole_budget_is_refused(clock: FakeClock) -> None:
    store = StaleStore(CachePolicy(size=600, max_object=10_000), clock.wall)
    assert put(store, key_for("/small"), b"s")
    assert store.begin(key_for("/big"), 200, ok_head(500)) is None
    capture = store.begin(key_for("/big"), 200, ok_head(None))
    assert capture is not None
    capture.feed(b"b" * 300)  # fits MaxObject and Size, but not with its bookkeeping
    assert not capture.finish()
    assert key_for("/small") in store and store.used <= 600


def test_max_age(clock: FakeClock) -> None:
    store = StaleStore(CachePolicy(max_age=60.0), clock.wall)
    k = key_for("/a")
    put(store, k, b"hello")
    clock.advance(60)
    assert store.lookup(k) is not None
    clock.advance(1)
    assert store.lookup(k) is None
    assert len(store) == 0 and store.used == 0


def test_max_age_counts_the_age_the_response_came_with(clock: FakeClock) -> None:
    store = StaleStore(CachePolicy(max_age=60.0), clock.wall)
    k = key_for("/a")
    put(store, k, b"hello", extra=b"Age: 50\r\n")
    clock.advance(10)
    assert store.lookup(k) is not None
    clock.advance(1)
    assert store.lookup(k) is None


def test_age_header_follows_the_clock(store: StaleStore, clock: FakeClock) -> None:
    k = key_for("/a")
    put(store, k, b"hello")
    head, _ = response(store, k)
    assert b"\r\nAge: 0\r\n" in head
    clock.advance(42.7)
    head, _ = response(store, k)
    assert b"\r\nAge: 42\r\n" in head
    put(store, key_for("/b"), b"x", extra=b"Age: 100\r\n")
    clock.advance(5)
    head, _ = response(store, key_for("/b"))
    assert b"\r\nAge: 105\r\n" in head and head.count(b"Age:") == 1


operations = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.integers(0, 15), st.integers(0, 3000)),
        st.tuples(st.just("broken"), st.integers(0, 15), st.integers(1, 3000)),
        st.tuples(st.just("lookup"), st.integers(0, 15), st.just(0)),
        st.tuples(st.just("wait"), st.just(0), st.integers(0, 200)),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(
    size=st.integers(min_value=1, max_value=10_000),
    max_object=st.integers(min_value=1, max_value=4000),
    ops=operations,
)
def test_the_store_never_exceeds_its_budget(
    size: int, max_object: int, ops: list[tuple[str, int, int]]
) -> None:
    clock = FakeClock()
    store = StaleStore(CachePolicy(size=size, max_object=max_object, max_age=500), clock.wall)
    for op, path, n in ops:
        k = key_for(f"/{path}")
        if op == "wait":
            clock.advance(n)
        elif op == "lookup":
            store.lookup(k)
        else:
            capture = store.begin(k, 200, ok_head(None))
            if capture is not None:
                capture.feed(b"x" * n)
                if op == "put":
                    capture.finish()
                else:
                    capture.abort()
        assert store.used <= size
        live = [e for e in (store.lookup(key_for(f"/{p}")) for p in range(16)) if e]
        assert all(e.object_size <= max_object for e in live)
    assert store.used == sum(e.cost for e in store._entries.values())
