#!/usr/bin/env python3
"""standby against the backend reached directly, HAProxy and nginx, on loopback.

    make bench [BENCH_ARGS="..."]         # = python bench/throughput.py ...
    python bench/throughput.py [--duration S] [--rounds N] [--scenarios a,b]
                               [--targets a,b] [--backend auto|nginx|builtin] [--quick]

Starts a backend (nginx, or a built-in one when nginx is missing), then each target in front
of it (standby with one worker, with access logging, with the default workers; HAProxy with
one thread and default threads; nginx as a proxy with one and `auto` workers), and drives
them in alternation with wrk: a small and a 64 KiB page, 50 and 1 connections, keep-alive
and a new connection per request; then a streamed 100 MiB upload and download, and 10,000
idle keep-alive connections. Over TLS (the same ECDSA P-256 and RSA 2048 certificates,
made by the bench, on every proxy): the keep-alive small page (wrk over https), new
connections per second with full and with resumed handshakes (openssl s_time), and
2,000 idle TLS connections. It writes markdown tables (medians of the rounds, ratios to the
direct backend and to HAProxy with one thread) to bench/results/latest.md.

As root it installs wrk, nginx-light and haproxy with apt-get when missing (unless
--no-install) and raises the open-file limit. Linux only (it reads /proc). Loopback only.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the standby_bench package

from standby_bench.net import BenchError
from standby_bench.scenarios import SCENARIO_NAMES
from standby_bench.servers import TARGETS
from standby_bench.suite import Options, log, run

RESULTS_DIR = Path(__file__).resolve().parent / "results"
FULL_OUTPUT = RESULTS_DIR / "latest.md"  # committed, linked from the README
QUICK_OUTPUT = RESULTS_DIR / "quick.md"  # a smoke run never overwrites the full table

# (full, --quick): a full run stays under ~15 minutes on 2 cores; a quick one under a minute.
DURATION = (3, 1)  # s per wrk run
ROUNDS = (3, 1)  # odd, so the median is one real run
WARMUP = (2, 1)  # s of load on each target before measuring (pools, caches)
TRANSFER_MIB = (100, 8)  # size of the streamed upload and download
IDLE_CONNECTIONS = (10_000, 500)
# Idle TLS connections are opened one after another (a handshake each): fewer of them.
TLS_IDLE_CONNECTIONS = (2_000, 200)


def _names(text: str, known: tuple[str, ...], what: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown {what} {', '.join(unknown) or '(none given)'}; known: {', '.join(known)}"
        )
    return names


def parse_args(argv: list[str]) -> tuple[Options, Path]:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"scenarios: {', '.join(SCENARIO_NAMES)}\n"
        f"targets: {', '.join(t.name for t in TARGETS)}",
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run (about 1 s runs)")
    parser.add_argument("--duration", type=int, help=f"s per wrk run (default {DURATION[0]})")
    parser.add_argument("--rounds", type=int, help=f"rounds (default {ROUNDS[0]})")
    parser.add_argument("--warmup", type=int, help=f"s of warm-up per target ({WARMUP[0]})")
    parser.add_argument("--transfer-mib", type=int, help=f"upload/download MiB ({TRANSFER_MIB[0]})")
    parser.add_argument("--idle-connections", type=int, help=f"({IDLE_CONNECTIONS[0]:,})")
    parser.add_argument(
        "--tls-idle-connections", type=int, help=f"idle TLS ({TLS_IDLE_CONNECTIONS[0]:,})"
    )
    parser.add_argument("--scenarios", default=",".join(SCENARIO_NAMES), help="comma-separated")
    parser.add_argument(
        "--targets", default=",".join(t.name for t in TARGETS), help="comma-separated"
    )
    parser.add_argument("--backend", choices=("auto", "nginx", "builtin"), default="auto")
    parser.add_argument("--output", type=Path, help="markdown report path")
    parser.add_argument(
        "--no-install", dest="install", action="store_false", help="never run apt-get"
    )
    args = parser.parse_args(argv)
    mode = 1 if args.quick else 0

    def pick(value: int | None, defaults: tuple[int, int]) -> int:
        return defaults[mode] if value is None else value

    try:
        scenarios = _names(args.scenarios, SCENARIO_NAMES, "scenario(s)")
        targets = _names(args.targets, tuple(t.name for t in TARGETS), "target(s)")
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    opts = Options(
        duration=pick(args.duration, DURATION),
        rounds=pick(args.rounds, ROUNDS),
        warmup=pick(args.warmup, WARMUP),
        transfer_size=pick(args.transfer_mib, TRANSFER_MIB) * 1024 * 1024,
        idle_connections=pick(args.idle_connections, IDLE_CONNECTIONS),
        tls_idle_connections=pick(args.tls_idle_connections, TLS_IDLE_CONNECTIONS),
        scenarios=scenarios,
        targets=targets,
        backend=args.backend,
        install=args.install,
        command=shlex.join(["python", "bench/throughput.py", *argv]),
    )
    sizes = (opts.transfer_size, opts.idle_connections, opts.tls_idle_connections)
    if min(opts.duration, opts.rounds, opts.warmup, *sizes) < 1:
        parser.error("durations, rounds, sizes and counts must be at least 1")
    return opts, args.output or (QUICK_OUTPUT if args.quick else FULL_OUTPUT)


def main(argv: list[str]) -> int:
    opts, output = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so every child is stopped on the way out.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        report = run(opts)
    except BenchError as exc:
        log(str(exc))
        return 1
    except KeyboardInterrupt:
        log("interrupted; every process it started is stopped")
        return 130
    print(report, end="")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(report)
    log(f"written to {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
