"""bench/throughput.py: wrk report parsing, /proc accounting, the table, and a short real run."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "throughput.py"
RUN_TIMEOUT = 240.0  # a 1-second, 1-round run plus start-up on a loaded machine


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_throughput", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


bench = _load()

# The shape of `wrk --latency` output (wrk 4.x), numbers made up for the test.
WRK_OUTPUT = """\
Running 10s test @ http://127.0.0.1:8080/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   812.40us  301.22us  12.01ms   91.20%
    Req/Sec    61.77k     2.10k   65.02k    71.00%
  Latency Distribution
     50%  750.00us
     75%    0.90ms
     90%    1.10ms
     99%    2.05ms
  614523 requests in 10.00s, 70.33MB read
  Socket errors: connect 0, read 3, write 1, timeout 2
  Non-2xx or 3xx responses: 4
Requests/sec:  61447.63
Transfer/sec:      7.03MB
"""


def test_parse_wrk_reads_rate_latency_and_errors() -> None:
    r = bench.parse_wrk(WRK_OUTPUT)
    assert r.requests == 614523
    assert r.seconds == pytest.approx(10.0)
    assert r.requests_per_s == pytest.approx(61447.63)
    assert r.p50_ms == pytest.approx(0.75)
    assert r.p99_ms == pytest.approx(2.05)
    assert r.errors == 3 + 1 + 2 + 4


def test_parse_wrk_units_and_clean_run() -> None:
    text = (
        WRK_OUTPUT.replace("750.00us", "1.50s")
        .replace("2.05ms", "1.00m")
        .replace("  Socket errors: connect 0, read 3, write 1, timeout 2\n", "")
        .replace("  Non-2xx or 3xx responses: 4\n", "")
    )
    r = bench.parse_wrk(text)
    assert r.p50_ms == pytest.approx(1500.0)
    assert r.p99_ms == pytest.approx(60000.0)
    assert r.errors == 0


def test_parse_wrk_rejects_output_without_latency() -> None:
    with pytest.raises(ValueError):
        bench.parse_wrk(WRK_OUTPUT.replace("     99%    2.05ms\n", ""))


def _measure(rate: float, p99: float, requests: int, cpu: float) -> object:
    wrk = bench.WrkResult(requests, 10.0, rate, 0.5, p99, 0)
    return bench.Measure(wrk, cpu)


def test_table_takes_medians_and_ratio_to_direct() -> None:
    direct = bench.Summary("direct", [_measure(r, 1.0, 100_000, 1.0) for r in (90, 100, 300)])
    proxy = bench.Summary("standby", [_measure(r, 4.0, 50_000, 2.0) for r in (10, 50, 40)])
    proxy.peak_rss_kib = 30 * 1024
    table = bench.render_table([direct, proxy]).splitlines()
    assert table[0].startswith("| target | req/s |")
    assert table[2].startswith("| direct | 100 |")
    cells = [c.strip() for c in table[3].strip("|").split("|")]
    # name, req/s, p50, p99, CPU per 10k (2 s over 50,000 requests), RSS MiB, errors, ratio
    assert cells == ["standby", "40", "0.50", "4.00", "0.400", "30.0", "0", "0.40"]


def test_proc_accounting_sees_a_busy_child() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sum(range(3_000_000)); sys.stdin.read()"],
        stdin=subprocess.PIPE,
    )
    try:
        tree = bench.process_tree(os.getpid())
        assert os.getpid() in tree and child.pid in tree
        assert bench.peak_rss_kib([child.pid]) > 0
        assert bench.cpu_seconds([os.getpid()]) > 0
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait()


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_short_real_run_writes_the_table(tmp_path: Path) -> None:
    out = tmp_path / "latest.md"
    done = subprocess.run(
        [
            *(sys.executable, str(SCRIPT), "--duration", "1", "--rounds", "1"),
            *("--connections", "4", "--backend", "builtin", "--no-install", "--output", str(out)),
        ],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert done.returncode == 0, done.stderr
    report = out.read_text()
    assert report == done.stdout
    rows = {line.split("|")[1].strip() for line in report.splitlines() if line.startswith("| ")}
    assert {"direct", "standby"} <= rows
