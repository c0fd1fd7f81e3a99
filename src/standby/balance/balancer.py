"""Backend selection for one service: Pound's default, weighted random by priority, or
Pound 4's interleaved weighted round robin (`Balancer iwrr`) (pure).

Candidates are the regular backends that are alive, enabled and not draining (an operator
drain gives a backend no new request; those in flight finish); each is chosen with a
probability proportional to its ``Priority``. Only when there is no regular candidate does
the Emergency tier (also weighted by priority, also alive, enabled and not draining) take
over; when it is empty too, the answer is None (the server replies 503).

The candidate lists and their cumulative weights are rebuilt only when the health
``version`` changes, so a request costs one version comparison, and with several candidates
one random draw and one bisection (iwrr: a step or a few along the cycle). ``exclude``
(backends this request already failed to reach) is rare and filters a copy, leaving the
cache alone.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Iterable, Set
from itertools import accumulate
from typing import NamedTuple

from standby.health.board import HealthView
from standby.model import BackendKind, BackendSpec, ServiceSpec
from standby.model import Balancer as Algorithm


class _Tier(NamedTuple):
    backends: tuple[BackendSpec, ...]
    cumulative: tuple[int, ...]  # running sums of the weights, last one = total


def _weight(spec: BackendSpec) -> int:
    # The compiler keeps priorities in 1..9; never let a bad value make weights negative.
    return max(spec.priority, 0)


def _make_tier(backends: Iterable[BackendSpec]) -> _Tier:
    chosen = tuple(backends)
    weights = [_weight(b) for b in chosen]
    if chosen and sum(weights) == 0:
        weights = [1] * len(chosen)  # all weightless: fall back to a uniform choice
    return _Tier(chosen, tuple(accumulate(weights)))


_EMPTY = _make_tier(())


class Balancer:
    """Chooses a backend of ``service`` for each request."""

    __slots__ = (
        "_current",
        "_emergency",
        "_health",
        "_iwrr",
        "_next",
        "_regular",
        "_rng",
        "_round",
        "_version",
        "service",
    )

    def __init__(
        self, service: ServiceSpec, health: HealthView, rng: random.Random | None = None
    ) -> None:
        self.service = service
        self._health = health
        self._rng = rng if rng is not None else random.Random()
        self._version: int | None = None
        self._regular = _EMPTY
        self._emergency = _EMPTY
        self._current = _EMPTY  # the tier new requests go to: regular, else emergency
        # Interleaved weighted round robin: the round (0 .. highest weight - 1) and the
        # index of the next backend to consider in it; a backend takes part in the rounds
        # below its weight, so each gets its weight's share of a whole cycle.
        self._iwrr = service.balancer is Algorithm.IWRR
        self._round = 0
        self._next = 0

    def _usable(self, spec: BackendSpec) -> bool:
        health = self._health
        return (
            health.is_enabled(spec)
            and not health.is_draining(spec)
            and (spec.kind is not BackendKind.PROXY or health.is_alive(spec))
        )

    def _refresh(self) -> None:
        self._regular = _make_tier([b for b in self.service.backends if self._usable(b)])
        self._emergency = _make_tier([b for b in self.service.emergencies if self._usable(b)])
        self._current = self._regular if self._regular.backends else self._emergency
        self._version = self._health.version

    def candidates(self) -> tuple[BackendSpec, ...]:
        """The tier requests currently go to: live regular backends, else emergency ones."""
        if self._version != self._health.version:
            self._refresh()
        return self._current.backends

    def choose(self, exclude: Set[BackendSpec] = frozenset()) -> BackendSpec | None:
        """A backend for one attempt of a request, or None when no backend can answer."""
        if self._version != self._health.version:
            self._refresh()
        if not exclude:
            # The hot path: one comparison above, and no draw for a single candidate (the
            # usual primary/standby pair); the cached tier is what _refresh would compute.
            current = self._current.backends
            if len(current) == 1:
                return current[0]
            if self._iwrr:
                return self._turn(current)
            return self._pick(self._current)
        for tier in (self._regular, self._emergency):
            remaining = [b for b in tier.backends if b not in exclude]
            if remaining:
                if self._iwrr:
                    return self._turn(tuple(remaining))
                return self._pick(_make_tier(remaining))
        return None

    def _turn(self, backends: tuple[BackendSpec, ...]) -> BackendSpec | None:
        """The next backend of the iwrr cycle among ``backends``: the cycle goes through
        them in order, round after round; in round r only those of weight > r answer."""
        count = len(backends)
        if count == 0:
            return None
        top = max(max(_weight(b) for b in backends), 1)
        # Within one full cycle every backend of the highest weight answers: bounded.
        for _ in range(count * top + 1):
            index = self._next
            if index >= count:
                index = 0
                self._round = (self._round + 1) % top
            elif self._round >= top:  # the weights fell since the last turn
                self._round = 0
            self._next = index + 1
            backend = backends[index]
            if _weight(backend) > self._round:
                return backend
        return backends[0]

    def _pick(self, tier: _Tier) -> BackendSpec | None:
        backends = tier.backends
        if len(backends) <= 1:
            return backends[0] if backends else None
        draw = self._rng.randrange(tier.cumulative[-1])
        return backends[bisect_right(tier.cumulative, draw)]
