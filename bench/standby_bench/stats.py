"""Results of the runs, their medians and ratios, and the markdown report (pure)."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from standby_bench.certs import KEY_KINDS, KEY_LABELS
from standby_bench.handshakes import HandshakeCount
from standby_bench.scenarios import (
    DIRECT,
    DOWNLOAD,
    HANDSHAKE_SCENARIOS,
    HEADLINE,
    IDLE,
    LOAD_SCENARIOS,
    LOGGED,
    PEER,
    SEED,
    SEED_FEATURES,
    TLS_IDLE,
    TLS_LOAD_SCENARIOS,
    UPLOAD,
)
from standby_bench.wrk import WrkResult

PER_REQUESTS = 10_000  # CPU is reported per this many requests
PER_CONNECTIONS = 1_000  # a handshake's CPU is reported per this many connections
# Share of a resumed run's connections that must really have resumed for its figure to
# count (s_time's first connection is a full handshake and is not printed).
MIN_RESUMED_SHARE = 0.99
# Issue 14 §7: at most this much RSS per idle TLS connection.
MAX_TLS_IDLE_KIB = 64.0
KIB = 1024
MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class LoadRun:
    """One wrk run against one target, with the target's CPU time and peak memory in it."""

    wrk: WrkResult
    cpu_seconds: float
    peak_rss_kib: int
    round_no: int = 0  # which round of the suite it belongs to

    @property
    def cpu_per_requests(self) -> float:
        return self.cpu_seconds * PER_REQUESTS / max(self.wrk.requests, 1)


@dataclass(frozen=True, slots=True)
class TransferRun:
    """One big upload or download through one target."""

    size: int
    seconds: float
    cpu_seconds: float
    rss_before_kib: int
    peak_rss_kib: int

    @property
    def mib_per_s(self) -> float:
        return self.size / MIB / max(self.seconds, 1e-9)


@dataclass(frozen=True, slots=True)
class IdleRun:
    """Idle keep-alive connections held open against one target, and a light load meanwhile."""

    connections: int
    still_open: int
    rss_before_kib: int
    rss_with_idle_kib: int
    baseline: WrkResult  # the light load before the idle connections were opened
    loaded: WrkResult  # the same load while they are held

    @property
    def kib_per_connection(self) -> float:
        return (self.rss_with_idle_kib - self.rss_before_kib) / max(self.connections, 1)


@dataclass(frozen=True, slots=True)
class HandshakeRun:
    """New TLS connections made against one target for a while, with its CPU meanwhile."""

    count: HandshakeCount
    seconds: float
    cpu_seconds: float
    round_no: int = 0

    @property
    def per_s(self) -> float:
        return self.count.connections / max(self.seconds, 1e-9)

    @property
    def cpu_per_connections(self) -> float:
        return self.cpu_seconds * PER_CONNECTIONS / max(self.count.connections, 1)

    @property
    def resumed_share(self) -> float:
        return self.count.resumed / max(self.count.connections, 1)


@dataclass(frozen=True, slots=True)
class TlsIdleRun:
    """Idle TLS keep-alive connections held open against one target."""

    connections: int
    still_open: int
    rss_before_kib: int
    rss_with_idle_kib: int

    @property
    def kib_per_connection(self) -> float:
        return (self.rss_with_idle_kib - self.rss_before_kib) / max(self.connections, 1)


@dataclass(slots=True)
class Results:
    load: dict[str, dict[str, list[LoadRun]]] = field(default_factory=dict)
    transfer: dict[str, dict[str, list[TransferRun]]] = field(default_factory=dict)
    idle: dict[str, IdleRun] = field(default_factory=dict)
    handshakes: dict[str, dict[str, list[HandshakeRun]]] = field(default_factory=dict)
    tls_idle: dict[str, dict[str, TlsIdleRun]] = field(default_factory=dict)  # scenario, target
    tls_negotiated: dict[str, dict[str, str]] = field(default_factory=dict)  # target, key kind
    failures: dict[tuple[str, str], str] = field(default_factory=dict)  # (scenario, target)

    def add_handshakes(self, scenario: str, target: str, run: HandshakeRun) -> None:
        self.handshakes.setdefault(scenario, {}).setdefault(target, []).append(run)

    def add_load(self, scenario: str, target: str, run: LoadRun) -> None:
        self.load.setdefault(scenario, {}).setdefault(target, []).append(run)

    def add_transfer(self, kind: str, target: str, run: TransferRun) -> None:
        self.transfer.setdefault(kind, {}).setdefault(target, []).append(run)


_T = TypeVar("_T")
_Run = TypeVar("_Run", LoadRun, HandshakeRun)  # runs measured round by round


def median(runs: Sequence[_T], value: Callable[[_T], float]) -> float:
    return statistics.median(value(r) for r in runs)


def ratio(value: float | None, reference: float | None) -> float | None:
    if value is None or reference is None or reference == 0:
        return None
    return value / reference


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _failed_row(name: str, reason: str, columns: int) -> str:
    first_line = reason.strip().splitlines()[0] if reason.strip() else "failed"
    return f"| {name} | {' | '.join(['-'] * (columns - 2))} | failed: {first_line} |"


# --- load scenarios ---------------------------------------------------------------------------


def _rate(runs: Sequence[LoadRun] | None) -> float | None:
    return median(runs, _rate_of) if runs else None


def _p50(runs: Sequence[LoadRun] | None) -> float | None:
    return median(runs, _p50_of) if runs else None


def _cpu(runs: Sequence[LoadRun] | None) -> float | None:
    return median(runs, _cpu_of) if runs else None


def render_load(
    by_target: dict[str, list[LoadRun]], order: Sequence[str], failures: dict[str, str]
) -> str:
    """One table: medians per target, ratios to DIRECT and to PEER from the same runs."""
    direct, peer = by_target.get(DIRECT), by_target.get(PEER)
    lines = [
        f"| target | req/s | x {DIRECT} | x {PEER} | p50 ms | p50 x {PEER} | p99 ms "
        f"| CPU s / {PER_REQUESTS:,} req | CPU x {PEER} | peak RSS MiB | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in order:
        runs = by_target.get(name)
        if not runs:
            if name in failures:
                lines.append(_failed_row(name, failures[name], 11))
            continue
        rate, p50, cpu = _rate(runs), _p50(runs), _cpu(runs)
        lines.append(
            f"| {name} | {rate:,.0f} | {_fmt(ratio(rate, _rate(direct)), '.2f')} "
            f"| {_fmt(ratio(rate, _rate(peer)), '.2f')} | {p50:.3f} "
            f"| {_fmt(ratio(p50, _p50(peer)), '.2f')} "
            f"| {median(runs, lambda r: r.wrk.p99_ms):.3f} | {cpu:.3f} "
            f"| {_fmt(ratio(cpu, _cpu(peer)), '.2f')} "
            f"| {max(r.peak_rss_kib for r in runs) / KIB:.1f} "
            f"| {sum(r.wrk.errors for r in runs)} |"
        )
    return "\n".join(lines)


# --- big transfers ----------------------------------------------------------------------------


def _seconds(runs: Sequence[TransferRun] | None) -> float | None:
    return median(runs, lambda r: r.seconds) if runs else None


def render_transfer(
    by_target: dict[str, list[TransferRun]], order: Sequence[str], failures: dict[str, str]
) -> str:
    lines = [
        f"| target | seconds | MiB/s | time x {DIRECT} | time x {PEER} | CPU s "
        "| RSS before MiB | peak RSS MiB | growth MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    direct, peer = by_target.get(DIRECT), by_target.get(PEER)
    for name in order:
        runs = by_target.get(name)
        if not runs:
            if name in failures:
                lines.append(_failed_row(name, failures[name], 9))
            continue
        seconds = _seconds(runs)
        before = min(r.rss_before_kib for r in runs)
        peak = max(r.peak_rss_kib for r in runs)
        lines.append(
            f"| {name} | {seconds:.3f} | {median(runs, lambda r: r.mib_per_s):,.0f} "
            f"| {_fmt(ratio(seconds, _seconds(direct)), '.2f')} "
            f"| {_fmt(ratio(seconds, _seconds(peer)), '.2f')} "
            f"| {median(runs, lambda r: r.cpu_seconds):.2f} | {before / KIB:.1f} "
            f"| {peak / KIB:.1f} | {(peak - before) / KIB:.1f} |"
        )
    return "\n".join(lines)


# --- idle connections -------------------------------------------------------------------------


def render_idle(runs: dict[str, IdleRun], order: Sequence[str], failures: dict[str, str]) -> str:
    lines = [
        "| target | idle connections | still open after | RSS before MiB | RSS with idle MiB "
        "| KiB per connection | light load p50 / p99 ms before | with idle held | p50 x before |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in order:
        run = runs.get(name)
        if run is None:
            if name in failures:
                lines.append(_failed_row(name, failures[name], 10))
            continue
        lines.append(
            f"| {name} | {run.connections:,} | {run.still_open:,} "
            f"| {run.rss_before_kib / KIB:.1f} | {run.rss_with_idle_kib / KIB:.1f} "
            f"| {run.kib_per_connection:.1f} "
            f"| {run.baseline.p50_ms:.3f} / {run.baseline.p99_ms:.3f} "
            f"| {run.loaded.p50_ms:.3f} / {run.loaded.p99_ms:.3f} "
            f"| {_fmt(ratio(run.loaded.p50_ms, run.baseline.p50_ms), '.2f')} |"
        )
    return "\n".join(lines)


# --- TLS: new connections, idle connections, what was negotiated ------------------------------


def render_handshakes(
    by_target: dict[str, list[HandshakeRun]], order: Sequence[str], failures: dict[str, str]
) -> str:
    peer = by_target.get(PEER)
    peer_rate = median(peer, _per_s) if peer else None
    peer_cpu = median(peer, _cpu_per_connection) if peer else None
    lines = [
        f"| target | connections/s | x {PEER} | CPU s / {PER_CONNECTIONS:,} connections "
        f"| CPU x {PEER} | resumed % | connections |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in order:
        runs = by_target.get(name)
        if not runs:
            if name in failures:
                lines.append(_failed_row(name, failures[name], 7))
            continue
        rate, cpu = median(runs, _per_s), median(runs, _cpu_per_connection)
        resumed = sum(r.count.resumed for r in runs)
        total = sum(r.count.connections for r in runs)
        lines.append(
            f"| {name} | {rate:,.0f} | {_fmt(ratio(rate, peer_rate), '.2f')} | {cpu:.3f} "
            f"| {_fmt(ratio(cpu, peer_cpu), '.2f')} | {100 * resumed / max(total, 1):.1f} "
            f"| {total:,} |"
        )
    return "\n".join(lines)


def render_tls_idle(
    runs: dict[str, TlsIdleRun], order: Sequence[str], failures: dict[str, str]
) -> str:
    peer = runs.get(PEER)
    lines = [
        "| target | idle TLS connections | still open after | RSS before MiB "
        f"| RSS with idle MiB | KiB per connection | x {PEER} |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in order:
        run = runs.get(name)
        if run is None:
            if name in failures:
                lines.append(_failed_row(name, failures[name], 7))
            continue
        per = run.kib_per_connection
        lines.append(
            f"| {name} | {run.connections:,} | {run.still_open:,} "
            f"| {run.rss_before_kib / KIB:.1f} | {run.rss_with_idle_kib / KIB:.1f} | {per:.1f} "
            f"| {_fmt(ratio(per, peer.kib_per_connection if peer else None), '.2f')} |"
        )
    return "\n".join(lines)


def render_negotiated(negotiated: dict[str, dict[str, str]], order: Sequence[str]) -> str:
    """What a Python client (OpenSSL, default preferences) negotiated with each target."""
    lines = [
        "| target | " + " | ".join(KEY_LABELS[k] for k in KEY_KINDS) + " |",
        "|---|" + "---|" * len(KEY_KINDS),
    ]
    for name in order:
        if name in negotiated:
            cells = " | ".join(negotiated[name].get(k, "-") for k in KEY_KINDS)
            lines.append(f"| {name} | {cells} |")
    return "\n".join(lines)


# --- issue 3 §3 -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Goal:
    what: str
    measured: float | None  # None: not measured in this run
    goal: str  # e.g. "≥ 1.00"
    met: bool | None
    # The same ratio round by round (the median is judged; these show how much the machine
    # moved it). Empty for a figure measured once.
    rounds: tuple[float, ...] = ()


def _goal(
    what: str,
    measured: float | None,
    at_least: float | None,
    at_most: float | None,
    rounds: tuple[float, ...] = (),
) -> Goal:
    if at_least is not None:
        wanted, met = f"≥ {at_least:.2f}", None if measured is None else measured >= at_least
    else:
        assert at_most is not None
        wanted, met = f"≤ {at_most:.2f}", None if measured is None else measured <= at_most
    return Goal(what, measured, wanted, met, rounds)


def per_round(
    runs: Sequence[_Run] | None,
    reference: Sequence[_Run] | None,
    value: Callable[[_Run], float],
) -> tuple[float, ...]:
    """value(run) / value(reference run) for each round both were measured in, in round
    order."""
    if not runs or not reference:
        return ()
    by_round = {run.round_no: run for run in reference}
    pairs = [(run, by_round.get(run.round_no)) for run in sorted(runs, key=lambda r: r.round_no)]
    return tuple(
        r for r in (ratio(value(a), value(b)) for a, b in pairs if b is not None) if r is not None
    )


def _rate_of(run: LoadRun) -> float:
    return run.wrk.requests_per_s


def _cpu_of(run: LoadRun) -> float:
    return run.cpu_per_requests


def _p50_of(run: LoadRun) -> float:
    return run.wrk.p50_ms


def goals(results: Results) -> list[Goal]:
    """The targets of issue 3 §3, evaluated on this run's medians."""

    def load(scenario: str, target: str) -> list[LoadRun] | None:
        return results.load.get(scenario, {}).get(target)

    def versus_peer(
        what: str,
        scenario: str,
        target: str,
        value: Callable[[LoadRun], float],
        *,
        at_least: float | None = None,
        at_most: float | None = None,
    ) -> Goal:
        """``target``'s median ``value`` over the peer's, and the same round by round."""
        runs, peer = load(scenario, target), load(scenario, PEER)
        measured = ratio(
            median(runs, value) if runs else None, median(peer, value) if peer else None
        )
        rounds = per_round(runs, peer, value)
        return _goal(f"{scenario}: {target} {what} vs {PEER}", measured, at_least, at_most, rounds)

    small, big, single = "small-c50-ka", "64k-c50-ka", "small-c1-ka"
    idle = results.idle.get(HEADLINE)
    return [
        versus_peer("req/s", small, HEADLINE, _rate_of, at_least=1.0),
        versus_peer("req/s", small, LOGGED, _rate_of, at_least=0.9),
        # Issue 15 point 5: features a configuration does not use cost nothing; those it
        # does (two AddHeader, two HeadRemove, a cookie Session) keep 0.9x the seed's rate.
        _versus_peer(
            f"{small}: {SEED_FEATURES} req/s vs {SEED}",
            load(small, SEED_FEATURES),
            load(small, SEED),
            _rate_of,
            at_least=0.9,
        ),
        versus_peer("req/s", big, HEADLINE, _rate_of, at_least=1.0),
        versus_peer("CPU per request", small, HEADLINE, _cpu_of, at_most=1.1),
        versus_peer("CPU per request", big, HEADLINE, _cpu_of, at_most=1.1),
        versus_peer("p50 latency", single, HEADLINE, _p50_of, at_most=1.2),
        _goal(
            f"{IDLE}: {HEADLINE} KiB of RSS per idle connection",
            idle.kib_per_connection if idle else None,
            None,
            16.0,
        ),
    ]


def _versus_peer(
    what: str,
    runs: Sequence[_Run] | None,
    peer: Sequence[_Run] | None,
    value: Callable[[_Run], float],
    *,
    at_least: float | None = None,
    at_most: float | None = None,
) -> Goal:
    """The median of ``value`` over ``runs`` against the peer's, and the same round by round."""
    measured = ratio(median(runs, value) if runs else None, median(peer, value) if peer else None)
    return _goal(what, measured, at_least, at_most, per_round(runs, peer, value))


def _per_s(run: HandshakeRun) -> float:
    return run.per_s


def _cpu_per_connection(run: HandshakeRun) -> float:
    return run.cpu_per_connections


def tls_goals(results: Results) -> list[Goal]:
    """The targets of issue 14 §7 for each key kind, evaluated on this run's medians."""
    items: list[Goal] = []
    for key in KEY_KINDS:
        load = next(s.name for s in TLS_LOAD_SCENARIOS if s.key == key)
        runs = results.load.get(load, {})
        items.append(
            _versus_peer(
                f"{load}: {HEADLINE} req/s vs {PEER}",
                runs.get(HEADLINE),
                runs.get(PEER),
                _rate_of,
                at_least=1.0,
            )
        )
        items.append(
            _versus_peer(
                f"{load}: {HEADLINE} CPU per request vs {PEER}",
                runs.get(HEADLINE),
                runs.get(PEER),
                _cpu_of,
                at_most=1.1,
            )
        )
        for scenario in HANDSHAKE_SCENARIOS:
            if scenario.key != key:
                continue
            made = results.handshakes.get(scenario.name, {})
            items.append(
                _versus_peer(
                    f"{scenario.name}: {HEADLINE} connections/s vs {PEER}",
                    made.get(HEADLINE),
                    made.get(PEER),
                    _per_s,
                    at_least=1.0,
                )
            )
        idle = results.tls_idle.get(TLS_IDLE[key], {}).get(HEADLINE)
        items.append(
            _goal(
                f"{TLS_IDLE[key]}: {HEADLINE} KiB of RSS per idle TLS connection",
                idle.kib_per_connection if idle else None,
                None,
                MAX_TLS_IDLE_KIB,
            )
        )
    return items


def render_goals(items: Sequence[Goal], title: str = "goal (issue 3 §3)") -> str:
    lines = [
        f"| {title} | measured (median) | round by round | wanted | met |",
        "|---|---:|---:|---:|---|",
    ]
    for g in items:
        met = "not measured" if g.met is None else ("yes" if g.met else "**no**")
        rounds = ", ".join(f"{r:.2f}" for r in g.rounds) or "-"
        lines.append(f"| {g.what} | {_fmt(g.measured, '.2f')} | {rounds} | {g.goal} | {met} |")
    return "\n".join(lines)


def render_results(results: Results, order: Sequence[str]) -> str:
    """Every table, in scenario order, with a heading each."""

    def failed(scenario: str) -> dict[str, str]:
        return {t: why for (s, t), why in results.failures.items() if s == scenario}

    parts = ["## Goals of issue 3 §3", "", render_goals(goals(results))]

    def partial(scenario: str, measured: dict[str, object]) -> list[str]:
        """Runs that failed for a target that has other, successful runs."""
        lines = [
            f"- `{target}`: a run failed ({why.strip().splitlines()[0] if why.strip() else '?'})"
            for target, why in failed(scenario).items()
            if target in measured
        ]
        return ["", *lines] if lines else []

    for scenario in LOAD_SCENARIOS:
        if scenario.name in results.load or failed(scenario.name):
            parts += ["", f"## {scenario.title} (`{scenario.name}`)", ""]
            measured_load = results.load.get(scenario.name, {})
            parts.append(render_load(measured_load, order, failed(scenario.name)))
            parts += partial(scenario.name, dict(measured_load))
    for kind, title in ((UPLOAD, "Streamed upload"), (DOWNLOAD, "Streamed download")):
        if kind in results.transfer or failed(kind):
            parts += ["", f"## {title} (`{kind}`)", ""]
            measured_transfer = results.transfer.get(kind, {})
            parts.append(render_transfer(measured_transfer, order, failed(kind)))
            parts += partial(kind, dict(measured_transfer))
    if results.idle or failed(IDLE):
        parts += ["", f"## Idle keep-alive connections (`{IDLE}`)", ""]
        parts.append(render_idle(results.idle, order, failed(IDLE)))
    parts += _render_tls(results, order, failed, partial)
    return "\n".join(parts) + "\n"


def _render_tls(
    results: Results,
    order: Sequence[str],
    failed: Callable[[str], dict[str, str]],
    partial: Callable[[str, dict[str, object]], list[str]],
) -> list[str]:
    """The TLS part of the report (issue 14 §7): its goals, then one table per scenario."""
    names = [s.name for s in TLS_LOAD_SCENARIOS] + [s.name for s in HANDSHAKE_SCENARIOS]
    names += TLS_IDLE.values()
    if not any(
        n in results.load or n in results.handshakes or n in results.tls_idle or failed(n)
        for n in names
    ):
        return []
    parts = ["", "## Goals of issue 14 §7 (TLS)", ""]
    parts.append(render_goals(tls_goals(results), "goal (issue 14 §7)"))
    if results.tls_negotiated:
        parts += ["", "## TLS negotiated by a default OpenSSL client (Python's ssl)", ""]
        parts.append(render_negotiated(results.tls_negotiated, order))
    for key in KEY_KINDS:
        for scenario in TLS_LOAD_SCENARIOS:
            if scenario.key == key and (scenario.name in results.load or failed(scenario.name)):
                parts += ["", f"## {scenario.title} (`{scenario.name}`)", ""]
                measured = results.load.get(scenario.name, {})
                parts.append(render_load(measured, order, failed(scenario.name)))
                parts += partial(scenario.name, dict(measured))
        for shake in HANDSHAKE_SCENARIOS:
            if shake.key == key and (shake.name in results.handshakes or failed(shake.name)):
                parts += ["", f"## {shake.title} (`{shake.name}`)", ""]
                made = results.handshakes.get(shake.name, {})
                parts.append(render_handshakes(made, order, failed(shake.name)))
                parts += partial(shake.name, dict(made))
        idle = TLS_IDLE[key]
        if idle in results.tls_idle or failed(idle):
            parts += ["", f"## TLS ({KEY_LABELS[key]}): idle connections (`{idle}`)", ""]
            parts.append(render_tls_idle(results.tls_idle.get(idle, {}), order, failed(idle)))
    return parts
