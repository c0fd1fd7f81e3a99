"""The supervisor's ledger of the workers' counters: monotonic across worker restarts and
reloads (pure: no I/O, no clock).

A worker's counters (requests, failovers, resends, responses by status, latency histogram)
only grow while it lives, and leave with it when it exits. The supervisor keeps, per live
worker, the latest counters it has seen from it (its answers to ``CountsAsk``, and the
``CountsPush`` it sends when they change and once more when it stops gracefully); when a
worker exits, its latest counters are added to a *retired* sum by backend identity. A
reading is retired + every live worker's latest, so it never goes down: what a worker
counted after its last report is lost when it is killed, but nothing already reported is.

Retired sums are kept by identity across reloads for the backends that stay configured
(``keep_only``); a backend removed from the configuration is forgotten, as with one process.
Requests in flight are a gauge, not a counter: they are never retired (the supervisor
reads them fresh from the workers' answers).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from standby.observe.metrics import LatencyHistogram
from standby.process.ipc import Identity


@dataclass(frozen=True, slots=True)
class Row:
    """One worker's counters for one backend, as it last reported them."""

    requests: int
    failovers: int
    resends: int
    statuses: tuple[tuple[int, int], ...]
    latency: tuple[int, ...]  # per-bucket counts, not cumulative
    latency_sum: float


@dataclass(slots=True)
class Tally:
    """Counters of one backend summed over workers (live and retired)."""

    requests: int = 0
    failovers: int = 0
    resends: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)

    def add(self, row: Row) -> None:
        self.requests += row.requests
        self.failovers += row.failovers
        self.resends += row.resends
        self.statuses.update(dict(row.statuses))
        # A histogram of another bucket layout (a worker of another version) is dropped
        # rather than mislabelled.
        rebuilt = LatencyHistogram.from_counts(row.latency, row.latency_sum)
        if rebuilt is not None:
            self.latency.merge(rebuilt)

    def merge(self, other: Tally) -> None:
        self.requests += other.requests
        self.failovers += other.failovers
        self.resends += other.resends
        self.statuses.update(other.statuses)
        self.latency.merge(other.latency)


class Ledger:
    """Latest counters per live worker, and the retired sum by backend identity."""

    def __init__(self) -> None:
        self._live: dict[int, dict[Identity, Row]] = {}  # by worker pid
        self._retired: dict[Identity, Tally] = {}

    def open(self, pid: int) -> None:
        """A worker starts: it counts from zero (a reused pid is a new worker)."""
        self._live[pid] = {}

    def update(self, pid: int, identity: Identity, row: Row) -> None:
        """The latest counters of worker ``pid`` for a backend. Ignored for a worker that
        is not open (a message read after its exit was accounted)."""
        rows = self._live.get(pid)
        if rows is not None:
            rows[identity] = row

    def retire(self, pid: int, keep: Iterable[Identity] | None = None) -> None:
        """Worker ``pid`` exited: its latest counters join the retired sum (only for the
        identities in ``keep`` when given: the backends still configured)."""
        rows = self._live.pop(pid, None)
        if not rows:
            return
        kept = None if keep is None else set(keep)
        for identity, row in rows.items():
            if kept is None or identity in kept:
                self._retired.setdefault(identity, Tally()).add(row)

    def keep_only(self, identities: Iterable[Identity]) -> None:
        """Forget the retired sums of backends no longer configured (after a reload)."""
        kept = set(identities)
        for identity in [i for i in self._retired if i not in kept]:
            del self._retired[identity]

    @property
    def live(self) -> frozenset[int]:
        return frozenset(self._live)

    def reading(self) -> dict[Identity, Tally]:
        """Counters by backend identity: retired + every live worker's latest."""
        out: dict[Identity, Tally] = {}
        for identity, tally in self._retired.items():
            out.setdefault(identity, Tally()).merge(tally)
        for rows in self._live.values():
            for identity, row in rows.items():
                out.setdefault(identity, Tally()).add(row)
        return out
