"""The stale fallback store of one service: memory LRU bounded by bytes, optional disk copy.

The shell side of the stale fallback. Used from the event loop thread only; file writes and
removals run on one background thread, from a queue with one slot per key (the latest
decision for a key wins, so a removal never overtakes the write it undoes, and a copy evicted
before it was written never reaches the disk). Files carry a checksum instead of an fsync: a
file torn by a power cut is detected at load and skipped.

How the exchange uses it::

    key = request_key(head.method, head.target, head.host, head_fields(head.raw), policy)
    # a backend answers a GET:
    capture = store.begin(key, resp.status, resp.raw)   # None: not storable
    capture.feed(body_bytes) ...   # as forwarded, framing included
    capture.finish()               # the response ended cleanly (else capture.abort())
    # no backend can answer:
    entry = store.lookup(key)      # None: 503 as before
    transport.write(store.render(entry, clock(), head_only=head.method == b"HEAD"))

``load()`` reads ``Directory`` before serving; ``close()`` finishes the disk work at exit.
Create the store in the process that uses it (after fork): its thread starts lazily.

With several workers the copies belong to the proxy, not to one worker: the supervisor owns
one store per service (with its ``Directory``: it is the only writer) and every worker holds
a replica without one (``process/tables.py`` moves the copies). For that a store is also a
*shared table*: ``keys``, ``record`` (a copy as bytes for another process), ``absorb`` (a
copy from another process: the one stored last wins), ``freshness``/``touch`` (a capture
that only confirmed a copy travels as its key, time and body digest), and ``on_commit``
tells the worker's replica about each capture. A copy younger than ``REFRESH_INTERVAL`` is
not captured again, which bounds that traffic (and the copying) for hot pages.

Writes to a directory are atomic (a unique temporary file renamed over the entry), and an
evicted entry's file is removed only if it holds no newer copy than the one evicted
(wall-clock ``stored_at`` in the file).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from standby.cache.entry import (
    ENTRY_OVERHEAD,
    FILE_PREFIX_SIZE,
    CorruptEntry,
    Entry,
    body_digest,
    dechunk,
    decode,
    decode_stored_at,
    encode,
    pack,
    render,
    same_content,
    stored_head,
    unpack,
)
from standby.cache.policy import (
    STORABLE_STATUSES,
    CachePolicy,
    head_fields,
    is_robots_key,
    response_storable,
)
from standby.http1 import (
    BODY_CHUNKED,
    BODY_LENGTH,
    BODY_NONE,
    BODY_UNTIL_CLOSE,
    HttpError,
    parse_response_head,
)

log = logging.getLogger("standby.cache")

ENTRY_SUFFIX = ".stale"
TEMP_SUFFIX = ".tmp"
# A temporary file this old was left by a crash (a write takes milliseconds): remove it.
STALE_TEMP_AGE = 3600.0
# One writer thread: work on a key lands in order, and disk I/O never takes more than one.
WRITER_THREADS = 1
# Removals of keys no longer stored, while the disk lags: bounded so a stuck disk cannot grow
# memory; a file left behind is removed by the size limit at the next load.
MAX_QUEUED_REMOVALS = 65536
# A copy younger than this is not replaced by a new capture: Age counts whole seconds, so a
# copy made within the last second is as good as a new one, and a page asked for a thousand
# times a second is copied (and shared with the other workers) once a second, not a
# thousand times.
REFRESH_INTERVAL = 1.0
# A key is made of request head fields, so it is never longer than the largest head; a
# record from another process with more is broken, not a copy to assemble.
MAX_KEY = 65536

# Told after a capture stored its copy: the key, and False when the content is the same as
# the copy it replaced (only fresher).
CommitListener = Callable[[bytes, bool], None]

_CAPTURING, _GAVE_UP, _ENDED = range(3)


def entry_file_name(key: bytes) -> str:
    """The file of a key: a hash, so any key gives a short, safe, fixed-length name."""
    return hashlib.sha256(key).hexdigest() + ENTRY_SUFFIX


class Capture:
    """One response being copied while it is forwarded. Never raises into the exchange:
    a copy that cannot be kept is dropped silently."""

    __slots__ = (
        "_body",
        "_framing",
        "_head",
        "_initial_age",
        "_key",
        "_length",
        "_limit",
        "_state",
        "_status",
        "_store",
    )

    def __init__(
        self,
        store: StaleStore,
        key: bytes,
        status: int,
        head: bytes,
        initial_age: int,
        framing: int,
        length: int,
    ) -> None:
        self._store = store
        self._key = key
        self._status = status
        self._head = head
        self._initial_age = initial_age
        self._framing = framing
        self._length = length
        # Body bytes as received (chunk framing included) that still fit.
        self._limit = store.object_limit(key) - len(head)
        self._body = bytearray()
        self._state = _CAPTURING

    @property
    def active(self) -> bool:
        """False once the capture gave up, finished or was aborted."""
        return self._state == _CAPTURING

    def feed(self, data: bytes) -> None:
        """Body bytes as forwarded to the client. Chunk framing is included and counts
        against ``MaxObject`` until ``finish`` decodes it (a few bytes per chunk)."""
        if self._state != _CAPTURING:
            return
        if len(self._body) + len(data) > self._limit:
            self._give_up()
            return
        self._body += data

    def finish(self) -> bool:
        """The response ended cleanly: store the copy, replacing the older one. False when
        nothing was stored (gave up, incomplete or malformed body)."""
        if self._state != _CAPTURING:
            return False
        self._state = _ENDED
        raw = bytes(self._body)
        self._body = bytearray()
        body: bytes | None
        if self._framing == BODY_CHUNKED:
            body = dechunk(raw)
        elif self._framing == BODY_LENGTH:
            body = raw if len(raw) == self._length else None
        elif self._framing == BODY_NONE:
            body = raw if not raw else None
        else:  # BODY_UNTIL_CLOSE
            body = raw  # until close: the shell calls finish only on a clean close
        if body is None:
            return False
        now = self._store.clock()
        entry = Entry(self._key, self._status, self._head, body, now, self._initial_age)
        return self._store._commit(entry)

    def decoded(self) -> None:
        """A chunked body goes to the client decoded (an HTTP/1.0 client): what ``feed``
        gets from now on is the body itself, kept as it comes until ``finish``."""
        if self._framing == BODY_CHUNKED:
            self._framing = BODY_UNTIL_CLOSE  # the body as fed, complete at finish()

    def abort(self) -> None:
        """The response broke: drop the copy; the older one stays."""
        self._give_up()

    def _give_up(self) -> None:
        self._state = _GAVE_UP
        self._body = bytearray()


class StaleStore:
    """Latest good copies of one service's responses. ``clock`` returns wall-clock seconds
    (copies keep their age across restarts)."""

    def __init__(self, policy: CachePolicy, clock: Callable[[], float]) -> None:
        self.policy = policy
        self.clock = clock
        self._entries: OrderedDict[bytes, Entry] = OrderedDict()  # least recently used first
        self._used = 0
        self.on_commit: CommitListener | None = None  # a worker's replica shares captures
        self._disk: _Disk | None = None
        if policy.directory is not None:
            self._disk = _Disk(Path(policy.directory))

    def object_limit(self, key: bytes) -> int:
        """The largest stored head and body for a key: ``MaxObject``, and never more than
        fits in ``Size`` with the key and the bookkeeping."""
        return min(self.policy.max_object, self.policy.size - ENTRY_OVERHEAD - len(key))

    @property
    def used(self) -> int:
        """Bytes counted against ``Size`` (see ``Entry.cost``)."""
        return self._used

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: bytes) -> bool:
        return key in self._entries

    def begin(
        self, key: bytes, status: int, raw_head: bytes, *, method: bytes = b"GET"
    ) -> Capture | None:
        """Start copying a backend's response to a request with this key; None when the
        response may not be kept (only responses to GET are copied: a HEAD has no body)."""
        if method != b"GET":
            return None
        if status not in STORABLE_STATUSES:
            return None  # the common refusals (failover statuses, 304) without parsing
        current = self._entries.get(key)
        if current is not None and 0.0 <= self.clock() - current.stored_at < REFRESH_INTERVAL:
            return None  # as good as new (see REFRESH_INTERVAL)
        robots = is_robots_key(key)
        if not response_storable(status, head_fields(raw_head), self.policy, robots=robots):
            return None
        try:
            parsed = parse_response_head(raw_head, b"GET", max(len(raw_head), 1))
        except HttpError:
            return None
        if parsed is None or parsed[1] != len(raw_head) or parsed[0].status != status:
            return None
        resp = parsed[0]
        head, initial_age = stored_head(raw_head)
        limit = self.object_limit(key)
        if len(head) > limit or (
            resp.body == BODY_LENGTH and len(head) + resp.content_length > limit
        ):
            return None
        return Capture(self, key, status, head, initial_age, resp.body, resp.content_length)

    def lookup(self, key: bytes) -> Entry | None:
        """The copy for a key, or None (none, or older than ``MaxAge``)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.age(self.clock()) > self.policy.max_age:
            self._remove(key)
            return None
        self._entries.move_to_end(key)
        return entry

    def render(
        self,
        entry: Entry,
        now: float,
        head_only: bool,
        *,
        keep_alive: bool = True,
        client_http11: bool = True,
    ) -> bytes:
        """The complete response for the client (see ``standby.cache.entry.render``)."""
        return render(entry, now, head_only, keep_alive=keep_alive, client_http11=client_http11)

    def load(self) -> int:
        """Read the copies kept in ``Directory`` (call before serving); returns how many were
        loaded. Corrupt files are logged and skipped; expired, oversized and evicted ones
        are removed from the directory."""
        if self._disk is None:
            return 0
        now = self.clock()
        entries = []
        for entry in self._disk.read_all(now):
            too_big = entry.object_size > self.object_limit(entry.key)
            if too_big or entry.age(now) > self.policy.max_age:
                self._disk.remove(entry)
            else:
                entries.append(entry)
        entries.sort(key=lambda e: e.stored_at)  # oldest first: over budget, they go first
        for entry in entries:
            self._insert(entry, persist=False)
        return len(self._entries)

    def flush(self) -> None:
        """Wait until every write and removal submitted so far is done (tests, shutdown)."""
        if self._disk is not None:
            self._disk.flush()

    def close(self) -> None:
        """Finish pending disk work and stop the writer thread; the copies in memory stay
        readable, later changes no longer reach the directory."""
        if self._disk is not None:
            self._disk.close()
            self._disk = None

    def _commit(self, entry: Entry) -> bool:
        if entry.object_size > self.object_limit(entry.key):
            return False
        old = self._entries.get(entry.key)
        changed = old is None or not same_content(old, entry)
        self._insert(entry, persist=True)
        if self.on_commit is not None:
            self.on_commit(entry.key, changed)
        return True

    # -- as a shared table (process/tables.py) ---------------------------------------------

    def keys(self) -> list[bytes]:
        """Every key, least recently used first (a replica built in this order evicts the
        same copies first)."""
        return list(self._entries)

    def record(self, key: bytes) -> bytes | None:
        """The copy of ``key`` as bytes for another process; None if there is none now."""
        entry = self._entries.get(key)
        return None if entry is None else pack(entry)

    def max_record(self) -> int:
        """The largest record a copy of this store can make (a bigger one is broken)."""
        return FILE_PREFIX_SIZE + MAX_KEY + self.policy.max_object

    def absorb(self, record: bytes) -> bytes | None:
        """A copy from another process; its key if it was stored (the copy stored last
        wins, so the supervisor and the workers agree whatever order copies cross in)."""
        try:
            entry = unpack(record)
        except CorruptEntry as exc:
            log.warning("stale fallback: broken copy from another process: %s", exc)
            return None
        return entry.key if self.put(entry) else None

    def put(self, entry: Entry) -> bool:
        """Store ``entry`` unless the copy held is newer, too big or too old."""
        if entry.object_size > self.object_limit(entry.key):
            return False
        if entry.age(self.clock()) > self.policy.max_age:
            return False
        old = self._entries.get(entry.key)
        if old is not None and old.stored_at > entry.stored_at:
            return False
        self._insert(entry, persist=True)
        return True

    def freshness(self, key: bytes) -> tuple[float, int] | None:
        """(stored_at, body digest) of the copy of ``key``: what a ``touch`` elsewhere
        needs to confirm the same copy; None if there is none."""
        entry = self._entries.get(key)
        return None if entry is None else (entry.stored_at, body_digest(entry.body))

    def touch(self, key: bytes, stamp: float, digest: int) -> bool:
        """Another process confirmed the copy whose body has ``digest`` at ``stamp``:
        the copy held becomes that fresh, if it is that copy and older."""
        entry = self._entries.get(key)
        if entry is None or entry.stored_at >= stamp or body_digest(entry.body) != digest:
            return False
        self._insert(replace(entry, stored_at=stamp), persist=True)
        return True

    def adopt(self, other: StaleStore) -> int:
        """Take the copies of ``other`` (the store this one replaces after a reload that
        changed the section): those that fit this policy, oldest first; returns how many."""
        taken = 0
        for entry in list(other._entries.values()):
            taken += self.put(entry)
        return taken

    def _insert(self, entry: Entry, *, persist: bool) -> None:
        old = self._entries.pop(entry.key, None)
        if old is not None:
            self._used -= old.cost
        self._entries[entry.key] = entry
        self._used += entry.cost
        if persist and self._disk is not None:
            self._disk.write(entry)
        while self._used > self.policy.size:
            victim = next(iter(self._entries))
            self._remove(victim)

    def _remove(self, key: bytes) -> None:
        entry = self._entries.pop(key)
        self._used -= entry.cost
        if self._disk is not None:
            self._disk.remove(entry)


async def renewed(
    old: StaleStore | None, policy: CachePolicy, make: Callable[[CachePolicy], StaleStore]
) -> tuple[StaleStore, int]:
    """The store for ``policy`` after a (re)load of the configuration: ``old`` itself if its
    section is unchanged, else ``make(policy)`` with its ``Directory`` read (in a thread: it
    may read many files) and then ``old``'s copies, newer than the directory's, taken over
    (``old`` is closed). Also returns how many copies the directory gave."""
    if old is not None and old.policy == policy:
        return old, 0
    store = make(policy)
    loaded = await asyncio.to_thread(store.load)
    if old is not None:
        store.adopt(old)
        old.close()
    return store, loaded


class _Disk:
    """The directory of one store: atomic writes and removals on a background thread.

    Work waits in a queue with one slot per key, so a newer decision replaces one not yet
    carried out (a copy evicted before it was written is never written). Queued writes hold
    entries the store holds anyway, so the queue needs no memory budget of its own; only
    removals of keys no longer in the store are bounded (``MAX_QUEUED_REMOVALS``).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        # key -> (the entry to write, or None to remove the file, stored_at of that copy)
        self._queue: OrderedDict[bytes, tuple[Entry | None, float]] = OrderedDict()
        self._removals = 0  # removals in the queue
        self._cond = threading.Condition()  # guards the queue, shared with the writer thread
        self._running = False  # a drain job is submitted or running
        self._executor: ThreadPoolExecutor | None = None
        self._serial = 0  # temporary file names (writer thread only)

    def write(self, entry: Entry) -> None:
        self._enqueue(entry.key, entry, entry.stored_at)

    def remove(self, entry: Entry) -> None:
        self._enqueue(entry.key, None, entry.stored_at)

    def _enqueue(self, key: bytes, entry: Entry | None, stored_at: float) -> None:
        with self._cond:
            previous = self._queue.pop(key, None)
            if previous is not None and previous[0] is None:
                self._removals -= 1
            if entry is None:
                if self._removals >= MAX_QUEUED_REMOVALS:
                    log.warning("stale fallback: disk removals lag behind, one file left")
                    return
                self._removals += 1
            self._queue[key] = (entry, stored_at)
            if self._running:
                return
            self._running = True
        if self._executor is None:  # created lazily: a store made before fork() is safe
            self._executor = ThreadPoolExecutor(WRITER_THREADS, thread_name_prefix="stale")
        self._executor.submit(self._drain)

    def _drain(self) -> None:
        """The writer thread: carry out queued work until the queue is empty."""
        while True:
            with self._cond:
                if not self._queue:
                    self._running = False
                    self._cond.notify_all()
                    return
                key, (entry, stored_at) = self._queue.popitem(last=False)
                if entry is None:
                    self._removals -= 1
            try:
                if entry is None:
                    self._remove_if_older(key, stored_at)
                else:
                    self._write(entry)
            except Exception:  # never leave _running set: flush() would wait forever
                log.exception("stale fallback: disk work failed")

    def _write(self, entry: Entry) -> None:
        self._serial += 1
        name = entry_file_name(entry.key)
        temp = self.directory / f".{name}.{os.getpid()}.{self._serial}{TEMP_SUFFIX}"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            temp.write_bytes(encode(entry))
            temp.replace(self.directory / name)
        except OSError as exc:
            log.warning("stale fallback: cannot write %s: %s", temp, exc)
            with contextlib.suppress(OSError):
                temp.unlink()

    def _remove_if_older(self, key: bytes, stored_at: float) -> None:
        """Remove a key's file unless it holds a newer copy (another worker sharing the
        directory stored one since)."""
        path = self.directory / entry_file_name(key)
        try:
            with path.open("rb") as f:
                on_disk = decode_stored_at(f.read(FILE_PREFIX_SIZE))
            if on_disk is None or on_disk <= stored_at:
                path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("stale fallback: cannot remove %s: %s", path, exc)

    def read_all(self, now: float) -> list[Entry]:
        """Every intact entry in the directory (synchronous: called before serving)."""
        try:
            names = sorted(os.listdir(self.directory))
        except FileNotFoundError:
            return []
        except OSError as exc:
            log.warning("stale fallback: cannot read %s: %s", self.directory, exc)
            return []
        entries = []
        for name in names:
            path = self.directory / name
            if name.endswith(TEMP_SUFFIX):
                self._remove_old_temp(path, now)
                continue
            if not name.endswith(ENTRY_SUFFIX):
                continue
            try:
                entry = decode(path.read_bytes())
            except CorruptEntry as exc:
                log.warning("stale fallback: skipping corrupt %s: %s", path, exc)
                continue
            except OSError as exc:
                log.warning("stale fallback: cannot read %s: %s", path, exc)
                continue
            if entry_file_name(entry.key) != name:
                log.warning("stale fallback: skipping %s: its key belongs to another file", path)
                continue
            entries.append(entry)
        return entries

    def _remove_old_temp(self, path: Path, now: float) -> None:
        try:
            if now - path.stat().st_mtime > STALE_TEMP_AGE:
                path.unlink()
        except OSError:
            pass  # another process finished or removed it meanwhile

    def flush(self) -> None:
        with self._cond:
            self._cond.wait_for(lambda: not self._running)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
