"""bench/shell_cost.py: a short run, with and without the access log, ends cleanly; its
bytecode count does not change between runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from shell_cost import WARMUP_REQUESTS  # bench/ is on sys.path (conftest.py)

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "shell_cost.py"
RUN_TIMEOUT = 120.0  # s; a run of a few hundred requests takes about a second
REQUESTS = 300


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--requests", str(REQUESTS), "--rounds", "2", *args],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )


def test_a_run_prints_the_cost_and_exits_cleanly() -> None:
    done = run("--profile")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no traceback, no "Task was destroyed" at exit
    # --profile runs the hot path interpreted, as a profiler only sees Python code.
    assert "us per request (min of 2; LogLevel 0; hot path interpreted)" in done.stdout
    assert "Python function calls per request" in done.stdout
    assert "lane.py" in done.stdout  # the profile covers the shell (its fast lane)


def test_the_access_log_variant_writes_one_line_per_request(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    done = run("--log", str(log))
    assert done.returncode == 0, done.stderr
    assert "LogLevel 1 to a file" in done.stdout
    lines = log.read_text().splitlines()
    # Warm-up, then two timed runs, every request logged once.
    assert len(lines) == WARMUP_REQUESTS + 2 * REQUESTS
    assert all(line.endswith(" 127.0.0.1 GET / HTTP/1.1 - HTTP/1.1 200 OK") for line in lines)


def test_the_seed_variant_routes_by_a_header_line() -> None:
    done = run("--seed", "--opcodes")
    assert done.returncode == 0, done.stderr
    assert "seed routing, a browser's request" in done.stdout
    assert "RequestHead.header_block" in done.stdout  # the HeadRequire condition looked


def test_the_chunked_variant_takes_the_lane() -> None:
    done = run("--chunked", "--opcodes")
    assert done.returncode == 0, done.stderr
    assert "a chunked answer" in done.stdout
    assert "Exchange" not in done.stdout  # relayed by the lane, not handed over


def test_bad_options_are_refused() -> None:
    done = run("--rounds", "0")
    assert done.returncode == 2
    assert "must be positive" in done.stderr


def test_the_bytecode_count_is_the_same_every_run() -> None:
    # The figure for comparing two versions of the code on a noisy machine: it must not
    # depend on anything but the code.
    counts = []
    for _ in range(2):
        done = run("--opcodes")
        assert done.returncode == 0, done.stderr
        assert "Lane.upstream_data" in done.stdout  # listed by function
        (total,) = [line for line in done.stdout.splitlines() if "bytecode instructions" in line]
        counts.append(total)
    assert counts[0] == counts[1]
