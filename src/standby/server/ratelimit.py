"""The shell of ``TBF`` conditions: one bucket table per TBF statement, the same for every
worker (DESIGN.md, "State that belongs to the proxy": a client must not get a burst per
worker).

The supervisor calls ``share`` with each configuration before it forks that generation's
workers: each TBF statement gets its table in a memory file (memfd) mapped shared, locked
with POSIX record locks (which the kernel releases when a holder dies, even by SIGKILL);
the workers inherit the descriptor and the mapping. A process that routes without a
supervisor (one worker, tests) makes a private table at a statement's first use. Tables
are kept by statement across reloads, so a reload does not hand every client a fresh
burst; ``retain`` drops those of statements no configuration in force has.

``routing`` is pure: it asks ``admit`` (installed by ``install``) whether a bucket has a
token. One request may be evaluated more than once (the lane routes, then hands the same
request to an Exchange that routes again; back-references evaluate the conditions again):
the decisions for the request being routed are remembered, so a request takes at most one
token per statement and key.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import time
from collections.abc import Iterable, Iterator

from standby import routing
from standby.model import ConditionKind, ConditionSpec, ConfigSpec, TbfSpec
from standby.server.tbf import TABLE_BYTES, admit


class _Table:
    """The buckets of one TBF statement: shared (a memory file mapped by every process
    forked after it) or private to this process."""

    __slots__ = ("buffer", "fd")

    def __init__(self, shared: bool) -> None:
        self.buffer: mmap.mmap | bytearray
        self.fd = -1
        if shared:
            # A memory file: no path, so RootJail and a read-only /tmp do not matter; its
            # descriptor is inherited, and locks on it are per process.
            self.fd = os.memfd_create("standby-tbf", os.MFD_CLOEXEC)  # forks keep it
            os.ftruncate(self.fd, TABLE_BYTES)
            self.buffer = mmap.mmap(self.fd, TABLE_BYTES)  # MAP_SHARED
        else:
            self.buffer = bytearray(TABLE_BYTES)

    def admit(self, spec: TbfSpec, key: bytes, now_ns: int) -> bool:
        if self.fd < 0:
            return admit(memoryview(self.buffer), spec, key, now_ns)
        fcntl.lockf(self.fd, fcntl.LOCK_EX)  # a few microseconds, between processes
        try:
            return admit(memoryview(self.buffer), spec, key, now_ns)
        finally:
            fcntl.lockf(self.fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if isinstance(self.buffer, mmap.mmap):
            self.buffer.close()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class RateLimiter:
    """Every TBF statement's table in this process, and the decisions for the request
    being routed."""

    def __init__(self) -> None:
        self._tables: dict[TbfSpec, _Table] = {}
        self._request: object = None
        self._decided: dict[tuple[TbfSpec, bytes], bool] = {}

    def share(self, config: ConfigSpec) -> None:
        """Shared tables for ``config``'s statements (before forking its workers); those
        already here are kept, with their buckets."""
        for spec in tbf_specs(config):
            table = self._tables.get(spec)
            if table is None or table.fd < 0:
                self._tables[spec] = _Table(shared=True)

    def retain(self, configs: Iterable[ConfigSpec]) -> None:
        """Drop the tables of statements none of ``configs`` has."""
        keep = {spec for config in configs for spec in tbf_specs(config)}
        for spec in [spec for spec in self._tables if spec not in keep]:
            self._tables.pop(spec).close()

    def admit(self, spec: TbfSpec, key: bytes, request: object) -> bool:
        """Whether ``key``'s bucket of ``spec`` had a token for ``request`` (taken once)."""
        if request is not self._request:
            self._request = request
            self._decided.clear()
        decided = self._decided.get((spec, key))
        if decided is None:
            table = self._tables.get(spec)
            if table is None:
                table = self._tables[spec] = _Table(shared=False)
            decided = self._decided[(spec, key)] = table.admit(spec, key, time.monotonic_ns())
        return decided


LIMITER = RateLimiter()


def install() -> None:
    """Let ``routing`` evaluate TBF conditions with this process's tables."""
    routing.set_rate_limiter(LIMITER.admit)


def tbf_specs(config: ConfigSpec) -> Iterator[TbfSpec]:
    """Every TBF statement of ``config`` (in services and nested Match blocks)."""
    services = [*config.services]
    for listener in config.listeners:
        services.extend(listener.services)
    for service in services:
        yield from _in(service.conditions)


def _in(conditions: Iterable[ConditionSpec]) -> Iterator[TbfSpec]:
    for condition in conditions:
        if condition.kind is ConditionKind.TBF and condition.tbf is not None:
            yield condition.tbf
        yield from _in(condition.children)
