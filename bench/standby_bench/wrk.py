"""Driving wrk and reading its ``--latency`` report."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

from standby_bench.net import HOST, BenchError
from standby_bench.procfs import die_with_parent

WRK_THREADS = 1  # one wrk thread leaves the other core to the target on 2-core machines
WRK_REQUEST_TIMEOUT = "5s"  # a request slower than this counts as a wrk timeout error
WRK_SLACK = 60.0  # seconds past the duration before a stuck wrk is killed

_TO_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int
    seconds: float
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int  # socket errors plus non-2xx/3xx responses


def latency_ms(text: str) -> float:
    """``812.40us`` / ``1.02ms`` / ``1.50s`` / ``1.00m`` in milliseconds."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if match is None:
        raise ValueError(f"not a wrk latency: {text!r}")
    return float(match.group(1)) * _TO_MS[match.group(2)]


def parse_wrk(output: str) -> WrkResult:
    """Read wrk 4.x's report (run with ``--latency``)."""
    done = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h)", output, re.MULTILINE)
    rate = re.search(r"^Requests/sec:\s*([\d.]+)", output, re.MULTILINE)
    percentiles = dict(re.findall(r"^\s*(50|99)(?:\.0+)?%\s+(\S+)\s*$", output, re.MULTILINE))
    if done is None or rate is None or "50" not in percentiles or "99" not in percentiles:
        raise ValueError("wrk output without a request count, rate or latency distribution")
    errors = sum(
        int(n)
        for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output)
        + re.findall(r"Non-2xx or 3xx responses:\s*(\d+)", output)
    )
    return WrkResult(
        requests=int(done.group(1)),
        seconds=latency_ms(done.group(2) + done.group(3)) / 1e3,
        requests_per_s=float(rate.group(1)),
        p50_ms=latency_ms(percentiles["50"]),
        p99_ms=latency_ms(percentiles["99"]),
        errors=errors,
    )


def wrk_argv(
    port: int,
    path: str,
    duration: int,
    connections: int,
    *,
    close: bool,
    tls: bool = False,
    headers: tuple[str, ...] = (),
) -> list[str]:
    """wrk's command line; ``close`` sends ``Connection: close`` (a new connection per
    request: wrk reconnects whenever the server ends the connection); ``tls``: over https
    (wrk checks no certificate and never resumes a session)."""
    argv = ["wrk", f"-t{min(WRK_THREADS, connections)}", f"-c{connections}", f"-d{duration}s"]
    argv += ["--latency", "--timeout", WRK_REQUEST_TIMEOUT]
    if close:
        argv += ["-H", "Connection: close"]
    for header in headers:
        argv += ["-H", header]
    return [*argv, f"{'https' if tls else 'http'}://{HOST}:{port}{path}"]


def run_wrk(
    port: int,
    path: str,
    duration: int,
    connections: int,
    *,
    close: bool,
    tls: bool = False,
    headers: tuple[str, ...] = (),
) -> WrkResult:
    argv = wrk_argv(port, path, duration, connections, close=close, tls=tls, headers=headers)
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=duration + WRK_SLACK,
            check=False,
            preexec_fn=die_with_parent,
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"wrk did not finish within {duration + WRK_SLACK:g} s") from exc
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stderr.strip()}")
    try:
        return parse_wrk(done.stdout)
    except ValueError as exc:
        raise BenchError(f"{exc}:\n{done.stdout}") from exc
