#!/usr/bin/env python3
"""Throughput of standby against the same backend reached directly, on loopback.

    python bench/throughput.py [--duration 10] [--rounds 3] [--connections 50]
                               [--backend auto|nginx|builtin] [--targets direct,standby]

A fast backend (nginx serving a small page from memory, or standby's built-in demo
backend when nginx is missing) listens on 127.0.0.1; each *target* is a way to reach it:
`direct` (wrk talks to the backend itself) and `standby` (standby in front of it, LogLevel
0, foreground). wrk (1 thread, N connections, fixed duration) drives each target in turn,
alternating, for several rounds; the script prints a markdown table of medians (req/s,
p50/p99 latency, the target's own CPU seconds per 10,000 requests, peak RSS) with the
ratio to `direct`, and writes it to bench/results/latest.md.

wrk and nginx come from Debian (`wrk`, `nginx-light`): run as root the script installs
them with apt-get when missing (unless --no-install), otherwise it says how. Linux only
(it reads /proc). Peers such as HAProxy or nginx as a proxy are more entries in TARGETS.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import http.client
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

HOST = "127.0.0.1"  # loopback only: the benchmark never sends traffic anywhere else
DEFAULT_DURATION = 10  # seconds per wrk run: a steady rate, yet 3 rounds stay short
DEFAULT_ROUNDS = 3  # odd, so the median is one real run
DEFAULT_CONNECTIONS = 50  # concurrent keep-alive clients, a busy small site
WRK_THREADS = 1  # one wrk thread leaves the other core to the target on 2-core machines
WRK_REQUEST_TIMEOUT = "5s"  # a request slower than this counts as a wrk timeout error
WRK_SLACK = 60.0  # seconds past --duration before a stuck wrk is killed
WARMUP_DURATION = 2  # seconds of load on each target before measuring (caches, pools)
READY_TIMEOUT = 60.0  # how long a target may take to start answering
STOP_TIMEOUT = 40.0  # SIGTERM to exit; standby's default Grace is 30 s
POLL = 0.05  # pause between readiness probes
PER_REQUESTS = 10_000  # CPU is reported per this many requests
RESULTS = Path(__file__).resolve().parent / "results" / "latest.md"
REPO = Path(__file__).resolve().parent.parent
TOOLS_PACKAGES = ("wrk", "nginx-light")  # Debian packages providing wrk and nginx

PAGE = "Hello from the bench backend: a small page, like a tiny static file.\n"


class BenchError(Exception):
    """Stops the benchmark with a message for the operator."""


# --- pure helpers: parsing wrk, summarising -------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}  # to milliseconds


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int
    seconds: float
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int  # socket errors plus non-2xx/3xx responses


def _latency_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if match is None:
        raise ValueError(f"not a wrk latency: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> WrkResult:
    """Read wrk's --latency report."""
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
        seconds=_latency_ms(done.group(2) + done.group(3)) / 1e3,
        requests_per_s=float(rate.group(1)),
        p50_ms=_latency_ms(percentiles["50"]),
        p99_ms=_latency_ms(percentiles["99"]),
        errors=errors,
    )


@dataclass(slots=True)
class Measure:
    """One wrk run against one target, with the target's CPU time during it."""

    wrk: WrkResult
    cpu_seconds: float

    @property
    def cpu_per_requests(self) -> float:
        return self.cpu_seconds * PER_REQUESTS / max(self.wrk.requests, 1)


@dataclass(slots=True)
class Summary:
    name: str
    measures: list[Measure] = field(default_factory=list)
    peak_rss_kib: int = 0

    def median(self, value: Callable[[Measure], float]) -> float:
        return statistics.median(value(m) for m in self.measures)

    @property
    def requests_per_s(self) -> float:
        return self.median(lambda m: m.wrk.requests_per_s)

    @property
    def errors(self) -> int:
        return sum(m.wrk.errors for m in self.measures)


def render_table(summaries: Sequence[Summary], reference: str = "direct") -> str:
    ref = next((s for s in summaries if s.name == reference), None)
    lines = [
        f"| target | req/s | p50 ms | p99 ms | CPU s / {PER_REQUESTS:,} req "
        f"| peak RSS MiB | errors | vs {reference} |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in summaries:
        ratio = f"{s.requests_per_s / ref.requests_per_s:.2f}" if ref else "-"
        lines.append(
            f"| {s.name} | {s.requests_per_s:,.0f} | {s.median(lambda m: m.wrk.p50_ms):.2f} "
            f"| {s.median(lambda m: m.wrk.p99_ms):.2f} "
            f"| {s.median(lambda m: m.cpu_per_requests):.3f} "
            f"| {s.peak_rss_kib / 1024:.1f} | {s.errors} | {ratio} |"
        )
    return "\n".join(lines)


# --- /proc ------------------------------------------------------------------------------------

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat after the command name (which may contain spaces and parentheses):
    index 0 is the state, 1 the parent pid, 11/12 user/system time in clock ticks."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    return raw[raw.rindex(")") + 2 :].split()


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants that are alive now."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                parents.setdefault(int(_stat_fields(int(entry))[1]), []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(parents.get(pid, []))
    return tree


def cpu_seconds(pids: Sequence[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = _stat_fields(pid)
            total += (int(fields[11]) + int(fields[12])) / _TICKS
    return total


def peak_rss_kib(pids: Sequence[int]) -> int:
    """Sum of VmHWM (peak resident set) over the processes."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            match = re.search(r"^VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
            total += int(match.group(1)) if match else 0
    return total


# --- processes ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_answering(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until GET / on ``port`` answers 200, failing early if ``proc`` died."""
    deadline = time.monotonic() + READY_TIMEOUT
    last: object = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{proc.args!r} exited with {proc.returncode}:\n{tail(log)}")
        conn = http.client.HTTPConnection(HOST, port, timeout=READY_TIMEOUT)
        try:
            conn.request("GET", "/")
            resp = conn.getresponse()
            resp.read()
            if resp.status == 200:
                return
            last = resp.status
        except OSError as exc:
            last = exc
        finally:
            conn.close()
        time.sleep(POLL)
    raise BenchError(f"nothing answers 200 on {HOST}:{port} ({last!r}):\n{tail(log)}")


def tail(path: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdin is not None:
        proc.stdin.close()


class Server(Protocol):
    """Something that listens on loopback: a backend or a target in front of it."""

    name: str
    port: int

    def start(self) -> None: ...
    def pids(self) -> list[int]: ...
    def stop(self) -> None: ...


@dataclass
class _Spawned:
    """A server that is one child process (plus whatever it forks)."""

    name: str
    workdir: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    def _spawn(self, argv: list[str], stdin: int | None = subprocess.DEVNULL) -> None:
        log = self.workdir / f"{self.name}.log"
        # Children find standby in this checkout even when it is not installed.
        path = os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))
        env = dict(os.environ, PYTHONPATH=path)
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                argv, stdin=stdin, stdout=out, stderr=subprocess.STDOUT, env=env
            )
        wait_answering(self.port, self.proc, log)

    def pids(self) -> list[int]:
        return process_tree(self.proc.pid) if self.proc else []

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)


class NginxBackend(_Spawned):
    def start(self) -> None:
        self.port = free_port()
        prefix = self.workdir / "nginx"
        prefix.mkdir(exist_ok=True)
        temp = "\n".join(
            f"  {kind}_temp_path {prefix}/{kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        conf = prefix / "nginx.conf"
        conf.write_text(
            f"""daemon off;
master_process on;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
{temp}
  keepalive_requests 1000000;
  server {{
    listen {HOST}:{self.port};
    location / {{ default_type text/plain; return 200 "{PAGE.strip()}\\n"; }}
  }}
}}
"""
        )
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self._spawn([nginx, "-p", str(prefix), "-e", "stderr", "-c", str(conf)])


class BuiltinBackend(_Spawned):
    """standby's demo backend (asyncio + httptools on uvloop), when nginx is missing."""

    def start(self) -> None:
        self.port = free_port()
        argv = [sys.executable, "-m", "standby.demo.backend", "--name", "bench"]
        self._spawn([*argv, "--port", str(self.port), "--watch-stdin"], stdin=subprocess.PIPE)


class Direct:
    """wrk straight at the backend: the reference."""

    def __init__(self, backend: Server, workdir: Path) -> None:
        self.name = "direct"
        self.backend = backend
        self.port = backend.port

    def start(self) -> None:
        self.port = self.backend.port

    def pids(self) -> list[int]:
        return self.backend.pids()

    def stop(self) -> None:
        pass  # the backend outlives its targets


class Standby(_Spawned):
    """standby in front of the backend: LogLevel 0, foreground, one listener."""

    def __init__(self, backend: Server, workdir: Path) -> None:
        super().__init__("standby", workdir)
        self.backend = backend

    def start(self) -> None:
        self.port = free_port()
        cfg = self.workdir / "standby.cfg"
        cfg.write_text(
            f"""Daemon 0
LogLevel 0
LogFacility -
ListenHTTP
  Address {HOST}
  Port {self.port}
  Service
    BackEnd
      Address {HOST}
      Port {self.backend.port}
    End
  End
End
"""
        )
        self._spawn([sys.executable, "-m", "standby", "-e", "-f", str(cfg)])


# Each target reaches the backend its own way; add peers (HAProxy, nginx as a proxy) here.
TARGETS: dict[str, Callable[[Server, Path], Server]] = {
    "direct": Direct,
    "standby": Standby,
}
BACKENDS: dict[str, Callable[[str, Path], Server]] = {
    "nginx": NginxBackend,
    "builtin": BuiltinBackend,
}


# --- tools ------------------------------------------------------------------------------------


def ensure_tools(install: bool) -> None:
    """Install wrk and nginx-light with apt-get when missing and allowed (root)."""
    missing = [name for name in ("wrk", "nginx") if shutil.which(name) is None]
    if not missing:
        return
    can_install = install and os.geteuid() == 0 and shutil.which("apt-get") is not None
    if can_install:
        print(f"bench: installing {' '.join(TOOLS_PACKAGES)} with apt-get", file=sys.stderr)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *TOOLS_PACKAGES],
            check=True,
            env=env,
        )
    if shutil.which("wrk") is None:
        raise BenchError(
            "wrk is missing: install it (Debian/Ubuntu: sudo apt-get install wrk nginx-light) "
            "or run this script as root to let it do so"
        )


def run_wrk(port: int, duration: int, connections: int) -> WrkResult:
    argv = ["wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{duration}s", "--latency"]
    argv += ["--timeout", WRK_REQUEST_TIMEOUT, f"http://{HOST}:{port}/"]
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=duration + WRK_SLACK, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"wrk did not finish within {duration + WRK_SLACK:g} s") from exc
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stderr.strip()}")
    return parse_wrk(done.stdout)


def measure(target: Server, duration: int, connections: int) -> Measure:
    pids = target.pids()
    before = cpu_seconds(pids)
    result = run_wrk(target.port, duration, connections)
    return Measure(result, cpu_seconds(pids) - before)


# --- main -------------------------------------------------------------------------------------


def report_header(args: argparse.Namespace, backend: str) -> str:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            f"# standby throughput ({now})",
            "",
            f"- machine: {platform.machine()}, {os.cpu_count()} CPUs, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}",
            f"- backend: {backend}, a small text page (about {len(PAGE)} bytes); loopback only",
            f"- load: wrk, {WRK_THREADS} thread, {args.connections} keep-alive connections, "
            f"{args.duration} s per run, targets alternating, rounds: {args.rounds}; medians",
            "- CPU and peak RSS are the target's own processes (for `direct`: the backend's)",
            "",
            "",
        ]
    )


def choose_backend(kind: str) -> str:
    if kind == "auto":
        return "nginx" if shutil.which("nginx") else "builtin"
    if kind == "nginx" and shutil.which("nginx") is None:
        raise BenchError("nginx is not installed (Debian: apt-get install nginx-light)")
    return kind


def run(args: argparse.Namespace) -> str:
    ensure_tools(args.install)
    backend_kind = choose_backend(args.backend)
    names = [n.strip() for n in args.targets.split(",") if n.strip()]
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        raise BenchError(f"unknown target(s) {unknown}; known: {', '.join(TARGETS)}")
    with tempfile.TemporaryDirectory(prefix="standby-bench-") as tmp:
        workdir = Path(tmp)
        backend = BACKENDS[backend_kind]("backend", workdir)
        targets: list[Server] = []
        try:
            backend.start()
            for name in names:
                target = TARGETS[name](backend, workdir)
                targets.append(target)
                target.start()
            summaries = {t.name: Summary(t.name) for t in targets}
            for target in targets:
                print(f"bench: warming up {target.name}", file=sys.stderr)
                run_wrk(target.port, WARMUP_DURATION, args.connections)
            for round_no in range(1, args.rounds + 1):
                for target in targets:
                    m = measure(target, args.duration, args.connections)
                    summaries[target.name].measures.append(m)
                    print(
                        f"bench: round {round_no}/{args.rounds} {target.name}: "
                        f"{m.wrk.requests_per_s:,.0f} req/s, p99 {m.wrk.p99_ms:.2f} ms",
                        file=sys.stderr,
                    )
            for target in targets:
                summaries[target.name].peak_rss_kib = peak_rss_kib(target.pids())
        finally:
            for target in reversed(targets):
                target.stop()
            backend.stop()
    return report_header(args, backend_kind) + render_table(list(summaries.values())) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=int, default=DEFAULT_DURATION, help="s per run")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    parser.add_argument("--connections", type=int, default=DEFAULT_CONNECTIONS)
    parser.add_argument("--backend", choices=("auto", *BACKENDS), default="auto")
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated")
    parser.add_argument("--output", type=Path, default=RESULTS, help="markdown report path")
    parser.add_argument(
        "--no-install", dest="install", action="store_false", help="never run apt-get"
    )
    args = parser.parse_args(argv)
    if args.duration < 1 or args.rounds < 1 or args.connections < 1:
        parser.error("--duration, --rounds and --connections must be at least 1")
    # Children get SIGTERM from us on the way out; Ctrl-C should do the same.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        report = run(args)
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    print(report, end="")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report)
    print(f"bench: written to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
