from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from standby.balance import Balancer
from standby.clock import FakeClock
from standby.health import HealthBoard
from standby.model import BackendKind, BackendSpec, ServiceSpec


def backend(port: int, priority: int = 5, disabled: bool = False) -> BackendSpec:
    return BackendSpec(
        kind=BackendKind.PROXY, address="127.0.0.1", port=port, priority=priority, disabled=disabled
    )


def emergency(port: int, priority: int = 5) -> BackendSpec:
    return BackendSpec(
        kind=BackendKind.PROXY, address="127.0.0.1", port=port, priority=priority, emergency=True
    )


def redirect(url: str) -> BackendSpec:
    return BackendSpec(kind=BackendKind.REDIRECT, redirect_url=url)


def service(regular: Sequence[BackendSpec], emergencies: Sequence[BackendSpec] = ()) -> ServiceSpec:
    return ServiceSpec(name="s", backends=tuple(regular), emergencies=tuple(emergencies))


def setup(
    regular: Sequence[BackendSpec], emergencies: Sequence[BackendSpec] = (), seed: int = 1
) -> tuple[Balancer, HealthBoard]:
    board = HealthBoard(FakeClock(), alive_interval=10)
    spec = service(regular, emergencies)
    board.register_all((*spec.backends, *spec.emergencies))
    return Balancer(spec, board, random.Random(seed)), board


def test_the_seed_failover_cycle() -> None:
    primary, standby = backend(3), emergency(4)
    balancer, board = setup([primary], [standby])
    assert balancer.choose() is primary
    board.mark_dead(primary, "connect refused")
    assert balancer.choose() is standby
    board.mark_dead(standby, "connect refused")
    assert balancer.choose() is None
    board.mark_alive(standby, "probe connected")
    assert balancer.choose() is standby
    board.mark_alive(primary, "probe connected")
    assert balancer.choose() is primary


def test_emergency_only_when_no_regular_backend_is_alive_and_enabled() -> None:
    a, b, e = backend(1), backend(2), emergency(9)
    balancer, board = setup([a, b], [e])
    for _ in range(50):
        assert balancer.choose() in (a, b)
    board.mark_dead(a, "x")
    assert {balancer.choose() for _ in range(50)} == {b}
    board.set_enabled(b, False)
    assert balancer.choose() is e
    assert balancer.candidates() == (e,)
    board.set_enabled(b, True)
    assert balancer.choose() is b


def test_disabled_in_config_is_never_chosen() -> None:
    off, on, e = backend(1, disabled=True), backend(2), emergency(9)
    balancer, board = setup([off, on], [e])
    assert {balancer.choose() for _ in range(50)} == {on}
    board.mark_dead(on, "x")
    assert balancer.choose() is e  # the disabled one does not count as a candidate


def test_exclude_reruns_selection_then_falls_to_emergency() -> None:
    a, b, e1, e2 = backend(1), backend(2), emergency(8), emergency(9)
    balancer, _ = setup([a, b], [e1, e2])
    assert {balancer.choose(frozenset({a})) for _ in range(30)} == {b}
    assert balancer.choose({a, b}) in (e1, e2)
    assert balancer.choose({a, b, e1}) is e2
    assert balancer.choose({a, b, e1, e2}) is None
    # The cache is untouched by excludes.
    assert balancer.candidates() == (a, b)


def test_redirects_count_as_always_alive() -> None:
    moved = redirect("https://example.com/")
    e = emergency(9)
    balancer, board = setup([moved], [e])
    assert board.mark_dead(moved, "nothing to connect to") is None
    assert balancer.choose() is moved
    board.set_enabled(moved, False)
    assert balancer.choose() is e


def test_draining_backends_get_no_new_request() -> None:
    primary, other, standby = backend(3), backend(5), emergency(4)
    balancer, board = setup([primary, other], [standby])
    board.set_draining(primary, True)
    assert {balancer.choose() for _ in range(50)} == {other}
    assert balancer.choose(exclude={other}) is standby  # never back to the drained one
    board.set_draining(other, True)
    assert balancer.candidates() == (standby,)  # all drained: the Emergency tier serves
    board.set_draining(standby, True)
    assert balancer.choose() is None
    board.set_draining(primary, False)
    assert balancer.choose() is primary


def test_no_backends_at_all() -> None:
    balancer, _ = setup([])
    assert balancer.choose() is None
    assert balancer.candidates() == ()


class CountingHealth:
    """A HealthView whose answers are set by the test, counting the questions."""

    def __init__(self) -> None:
        self.version = 0
        self.dead: set[BackendSpec] = set()
        self.questions = 0

    def is_alive(self, spec: BackendSpec) -> bool:
        self.questions += 1
        return spec not in self.dead

    def is_enabled(self, spec: BackendSpec) -> bool:
        self.questions += 1
        return True

    def is_draining(self, spec: BackendSpec) -> bool:
        self.questions += 1
        return False


def test_candidates_are_recomputed_only_when_the_version_changes() -> None:
    a, b = backend(1), backend(2)
    health = CountingHealth()
    balancer = Balancer(service([a, b]), health, random.Random(3))
    balancer.choose()
    asked = health.questions
    assert asked > 0
    for _ in range(100):
        balancer.choose()
    assert health.questions == asked

    health.dead.add(a)  # without a version bump the balancer does not notice...
    assert a in {balancer.choose() for _ in range(100)}
    health.version += 1  # ...with one it does, once
    assert {balancer.choose() for _ in range(100)} == {b}
    assert health.questions == 2 * asked


def test_distribution_follows_priorities() -> None:
    # Fixed seed, many draws, bounds far wider than the sampling error (about 0.3%).
    low, mid, high = backend(1, priority=1), backend(2, priority=2), backend(3, priority=6)
    balancer, _ = setup([low, mid, high], seed=20240101)
    draws = 30_000
    counts = Counter(balancer.choose() for _ in range(draws))
    for spec, share in ((low, 1 / 9), (mid, 2 / 9), (high, 6 / 9)):
        assert abs(counts[spec] / draws - share) < 0.03, (spec.port, counts[spec])


def test_emergency_tier_is_weighted_too() -> None:
    dead = backend(1)
    e1, e2 = emergency(8, priority=1), emergency(9, priority=3)
    balancer, board = setup([dead], [e1, e2], seed=7)
    board.mark_dead(dead, "x")
    draws = 20_000
    counts = Counter(balancer.choose() for _ in range(draws))
    assert abs(counts[e2] / draws - 0.75) < 0.03
    assert counts[e1] + counts[e2] == draws


# -- properties -------------------------------------------------------------------------------

pool = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=9),  # priority
        st.booleans(),  # alive
        st.booleans(),  # enabled by the operator
        st.booleans(),  # Disabled in the config
        st.booleans(),  # excluded by this request
        st.booleans(),  # draining
    ),
    max_size=6,
)
Flags = tuple[int, bool, bool, bool, bool, bool]


@given(pool, pool, st.integers(min_value=0, max_value=2**32))
def test_choice_is_always_a_legal_candidate(
    regular_flags: list[Flags],
    emergency_flags: list[Flags],
    seed: int,
) -> None:
    board = HealthBoard(FakeClock(), alive_interval=10)
    exclude: set[BackendSpec] = set()

    def make(flags: list[Flags], base: int) -> list[BackendSpec]:
        specs = []
        for i, (priority, alive, enabled, disabled, excluded, draining) in enumerate(flags):
            spec = BackendSpec(
                kind=BackendKind.PROXY,
                address="127.0.0.1",
                port=base + i,
                priority=priority,
                disabled=disabled,
                emergency=base > 1000,
            )
            board.register(spec)
            if not alive:
                board.mark_dead(spec, "x")
            board.set_enabled(spec, enabled)
            board.set_draining(spec, draining)
            if excluded:
                exclude.add(spec)
            specs.append(spec)
        return specs

    regular, emergencies = make(regular_flags, 100), make(emergency_flags, 2000)

    def usable(s: BackendSpec) -> bool:
        return (
            board.is_alive(s)
            and board.is_enabled(s)
            and not board.is_draining(s)
            and s not in exclude
        )

    balancer = Balancer(service(regular, emergencies), board, random.Random(seed))
    for _ in range(5):
        chosen = balancer.choose(frozenset(exclude))
        regular_ok = [s for s in regular if usable(s)]
        emergency_ok = [s for s in emergencies if usable(s)]
        if regular_ok:
            assert chosen in regular_ok
        elif emergency_ok:
            assert chosen in emergency_ok
        else:
            assert chosen is None
        if chosen is not None:
            assert board.is_alive(chosen) and board.is_enabled(chosen)
            assert not board.is_draining(chosen)
            assert chosen not in exclude


def test_a_single_candidate_is_answered_from_the_cache_until_health_changes() -> None:
    a, b, e = backend(1), backend(2), emergency(9)
    rng = random.Random(7)
    board = HealthBoard(FakeClock(), alive_interval=10)
    spec = service([a, b], [e])
    board.register_all((a, b, e))
    balancer = Balancer(spec, board, rng)
    board.mark_dead(b, "connect refused")
    state = rng.getstate()
    assert {balancer.choose() for _ in range(20)} == {a}
    assert rng.getstate() == state  # one candidate: no draw
    board.set_draining(a, True)  # an operator change invalidates the cached answer
    assert balancer.choose() is e
    assert balancer.candidates() == (e,)
    board.set_draining(a, False)
    board.mark_alive(b, "probe connected")
    assert {balancer.choose() for _ in range(200)} == {a, b}
    assert balancer.choose(exclude={a}) is b
