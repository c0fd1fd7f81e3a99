"""Medians, ratios, tables and the issue-3 goals, on made-up runs."""

from __future__ import annotations

from dataclasses import replace

import pytest

from standby_bench import stats
from standby_bench.handshakes import HandshakeCount
from standby_bench.scenarios import DIRECT, HEADLINE, IDLE, LOGGED, PEER
from standby_bench.wrk import WrkResult


def _load(rate: float, p50: float, requests: int, cpu: float, rss: int = 0) -> stats.LoadRun:
    return stats.LoadRun(WrkResult(requests, 10.0, rate, p50, p50 * 4, 0), cpu, rss)


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _row(table: str, name: str) -> list[str]:
    return next(_cells(line) for line in table.splitlines() if line.startswith(f"| {name} |"))


def test_load_table_takes_medians_and_ratios_to_direct_and_peer() -> None:
    by_target = {
        DIRECT: [_load(r, 0.1, 100_000, 1.0, 10 * 1024) for r in (90, 100, 300)],
        PEER: [_load(r, 0.2, 50_000, 1.0, 20 * 1024) for r in (50, 40, 60)],
        HEADLINE: [_load(r, 0.4, 50_000, 2.0, 30 * 1024) for r in (10, 25, 40)],
    }
    table = stats.render_load(by_target, [DIRECT, HEADLINE, PEER], {})
    assert table.splitlines()[0].startswith("| target | req/s |")
    # name, req/s, x direct, x peer, p50, p50 x peer, p99, CPU/10k, CPU x peer, RSS, errors
    assert _row(table, HEADLINE) == [
        HEADLINE,
        "25",
        "0.25",
        "0.50",
        "0.400",
        "2.00",
        "1.600",
        "0.400",
        "2.00",
        "30.0",
        "0",
    ]
    assert _row(table, DIRECT)[1:4] == ["100", "1.00", "2.00"]
    assert [line.split("|")[1].strip() for line in table.splitlines()[2:]] == [
        DIRECT,
        HEADLINE,
        PEER,
    ]


def test_load_table_without_peer_shows_dashes_and_failures() -> None:
    table = stats.render_load(
        {DIRECT: [_load(100, 0.1, 1000, 0.1)]}, [DIRECT, HEADLINE], {HEADLINE: "boom\nmore"}
    )
    assert _row(table, DIRECT)[3] == "-"
    failed = _row(table, HEADLINE)
    assert failed[-1] == "failed: boom" and len(failed) == 11


def test_cpu_per_requests() -> None:
    assert _load(1, 1, 50_000, 2.0).cpu_per_requests == pytest.approx(0.4)
    assert _load(1, 1, 0, 2.0).cpu_per_requests == pytest.approx(20_000.0)  # no division by 0


def test_transfer_table_rates_and_memory_growth() -> None:
    mib = 1024 * 1024
    runs = {
        DIRECT: [stats.TransferRun(100 * mib, s, 0.1, 20_480, 20_480) for s in (1.0, 0.5, 2.0)],
        HEADLINE: [stats.TransferRun(100 * mib, 2.0, 0.5, 30_720, 30_720 + 2048)],
    }
    table = stats.render_transfer(runs, [DIRECT, HEADLINE], {})
    assert _row(table, DIRECT)[1:4] == ["1.000", "100", "1.00"]
    assert _row(table, HEADLINE) == [
        HEADLINE,
        "2.000",
        "50",
        "2.00",
        "-",
        "0.50",
        "30.0",
        "32.0",
        "2.0",
    ]


def test_idle_per_connection_and_latency_ratio() -> None:
    base = WrkResult(1000, 3.0, 333.0, 0.10, 0.50, 0)
    loaded = WrkResult(1000, 3.0, 333.0, 0.15, 0.90, 0)
    run = stats.IdleRun(10_000, 9_999, 30_000, 30_000 + 80_000, base, loaded)
    assert run.kib_per_connection == pytest.approx(8.0)
    table = stats.render_idle({HEADLINE: run}, [HEADLINE], {})
    assert _row(table, HEADLINE) == [
        HEADLINE,
        "10,000",
        "9,999",
        "29.3",
        "107.4",
        "8.0",
        "0.100 / 0.500",
        "0.150 / 0.900",
        "1.50",
    ]


def test_goals_are_judged_on_medians() -> None:
    results = stats.Results()
    for rate in (100, 110, 90):
        results.add_load("small-c50-ka", PEER, _load(rate, 1.0, 1000, 0.1))
        results.add_load("small-c50-ka", HEADLINE, _load(rate * 1.05, 1.0, 1000, 0.12))
        results.add_load("small-c50-ka", LOGGED, _load(rate * 0.85, 1.0, 1000, 0.1))
    base = WrkResult(1, 1.0, 1.0, 0.1, 0.1, 0)
    results.idle[HEADLINE] = stats.IdleRun(1000, 1000, 0, 20 * 1000, base, base)
    by_what = {g.what: g for g in stats.goals(results)}
    ratio = by_what[f"small-c50-ka: {HEADLINE} req/s vs {PEER}"]
    assert ratio.measured == pytest.approx(1.05) and ratio.met is True
    logged = by_what[f"small-c50-ka: {LOGGED} req/s vs {PEER}"]
    assert logged.measured == pytest.approx(0.85) and logged.met is False
    cpu = by_what[f"small-c50-ka: {HEADLINE} CPU per request vs {PEER}"]
    assert cpu.measured == pytest.approx(1.2) and cpu.met is False
    assert by_what[f"{IDLE}: {HEADLINE} KiB of RSS per idle connection"].met is False
    assert by_what[f"64k-c50-ka: {HEADLINE} req/s vs {PEER}"].met is None  # not run
    table = stats.render_goals(list(by_what.values()))
    assert "| **no** |" in table and "| yes |" in table and "| not measured |" in table


def test_report_lists_scenarios_in_order_with_failures() -> None:
    results = stats.Results()
    results.add_load("64k-c1-ka", DIRECT, _load(10, 1.0, 100, 0.1))
    results.add_load("small-c50-ka", DIRECT, _load(10, 1.0, 100, 0.1))
    results.failures[("upload", HEADLINE)] = "upload answered 502"
    text = stats.render_results(results, [DIRECT, HEADLINE])
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings[0] == "## Goals of issue 3 §3"
    assert [h.rsplit("`", 2)[-2] for h in headings[1:]] == ["small-c50-ka", "64k-c1-ka", "upload"]
    assert "failed: upload answered 502" in text


def test_report_notes_a_failed_run_next_to_successful_ones() -> None:
    results = stats.Results()
    results.add_load("small-c50-ka", HEADLINE, _load(10, 1.0, 100, 0.1))
    results.failures[("small-c50-ka", HEADLINE)] = "wrk failed (1): boom\nmore"
    text = stats.render_results(results, [HEADLINE])
    assert f"- `{HEADLINE}`: a run failed (wrk failed (1): boom)" in text
    assert f"| {HEADLINE} | 10 |" in text


def test_goals_show_each_round_paired_by_round() -> None:
    # A round where the reference failed is left out, not paired with another round.
    results = stats.Results()
    for round_no, (ours, theirs) in enumerate([(100, 100), (90, None), (60, 120)]):
        results.add_load(
            "small-c50-ka", HEADLINE, replace(_load(ours, 1.0, 1000, 0.1), round_no=round_no)
        )
        if theirs is not None:
            results.add_load(
                "small-c50-ka", PEER, replace(_load(theirs, 1.0, 1000, 0.1), round_no=round_no)
            )
    by_what = {g.what: g for g in stats.goals(results)}
    rate = by_what[f"small-c50-ka: {HEADLINE} req/s vs {PEER}"]
    assert rate.rounds == pytest.approx((1.0, 0.5))
    assert by_what[f"{IDLE}: {HEADLINE} KiB of RSS per idle connection"].rounds == ()
    table = stats.render_goals(list(by_what.values()))
    assert "| 1.00, 0.50 |" in table


def _shake(
    full: int, resumed: int, seconds: float, cpu: float, round_no: int = 0
) -> stats.HandshakeRun:
    return stats.HandshakeRun(HandshakeCount(full, resumed), seconds, cpu, round_no)


def test_handshake_rate_cpu_and_resumed_share() -> None:
    run = _shake(0, 2000, 2.0, 0.5)
    assert run.per_s == 1000 and run.cpu_per_connections == pytest.approx(0.25)
    assert run.resumed_share == 1.0
    table = stats.render_handshakes(
        {HEADLINE: [run], PEER: [_shake(0, 1000, 2.0, 0.5)]}, [HEADLINE, PEER], {}
    )
    row = next(line for line in table.splitlines() if line.startswith(f"| {HEADLINE} "))
    assert "| 1,000 | 2.00 | 0.250 | 0.50 | 100.0 | 2,000 |" in row


def test_tls_goals_and_sections() -> None:
    results = stats.Results()
    for round_no in range(3):
        results.add_handshakes("tls-ecdsa-full", HEADLINE, _shake(500, 0, 1.0, 0.5, round_no))
        results.add_handshakes("tls-ecdsa-full", PEER, _shake(1000, 0, 1.0, 0.5, round_no))
    results.tls_idle["tls-ecdsa-idle"] = {HEADLINE: stats.TlsIdleRun(1000, 1000, 0, 80 * 1000)}
    results.tls_negotiated[HEADLINE] = {"ecdsa": "TLSv1.3 TLS_AES_256_GCM_SHA384"}
    goals = {g.what: g for g in stats.tls_goals(results)}
    full = goals[f"tls-ecdsa-full: {HEADLINE} connections/s vs {PEER}"]
    assert full.measured == 0.5 and full.met is False and full.rounds == (0.5, 0.5, 0.5)
    idle = goals[f"tls-ecdsa-idle: {HEADLINE} KiB of RSS per idle TLS connection"]
    assert idle.measured == 80 and idle.met is False
    assert goals[f"tls-rsa-full: {HEADLINE} connections/s vs {PEER}"].met is None
    report = stats.render_results(results, [HEADLINE, PEER])
    assert "## Goals of issue 14 §7 (TLS)" in report and "(`tls-ecdsa-full`)" in report
    assert "TLSv1.3 TLS_AES_256_GCM_SHA384" in report and "(`tls-ecdsa-idle`)" in report
    assert "(`tls-rsa-full`)" not in report  # nothing measured, nothing shown
