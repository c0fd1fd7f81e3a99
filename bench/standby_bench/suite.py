"""Runs the scenarios against the targets and renders the report (the I/O shell)."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from standby_bench import stats
from standby_bench.certs import write_certificates
from standby_bench.configs import BIG_PATH, SMALL_PATH, UPLOAD_PATH
from standby_bench.handshakes import S_TIME_CLIENTS, run_s_time
from standby_bench.net import (
    BenchError,
    client_context,
    close_all,
    count_open,
    download,
    open_idle,
    open_idle_tls,
    tail,
    upload,
)
from standby_bench.procfs import RssSampler, cpu_seconds, raise_nofile, rss_kib
from standby_bench.scenarios import (
    HANDSHAKE_SCENARIOS,
    HEADLINE,
    IDLE,
    IDLE_TARGETS,
    LOAD_SCENARIOS,
    TLS_IDLE,
    TLS_LOAD_SCENARIOS,
    TLS_SCENARIO_NAMES,
    TRANSFERS,
    UPLOAD,
    HandshakeScenario,
    LoadScenario,
)
from standby_bench.servers import (
    REPO,
    TARGETS_BY_NAME,
    Direct,
    Spawned,
    Target,
    child_env,
    standby_has_workers_option,
    start_backend,
    start_target,
    unavailable,
)
from standby_bench.wrk import WRK_THREADS, run_wrk

WANTED_FILES = 100_000  # open-file limit for the bench and children: HAProxy wants 2 x maxconn
FD_RESERVE = 1_024  # descriptors kept for everything but the idle connections
IDLE_LOAD_CONNECTIONS = 4  # the "light" load run next to the idle connections
TRANSFER_TIMEOUT = 120.0  # s any single send/recv of a big transfer may block
WARMUP_CONNECTIONS = 50  # warm-up load: fills pools and caches before the measured runs
# Debian packages that provide each tool the suite runs.
TOOL_PACKAGES = {"wrk": "wrk", "nginx": "nginx-light", "haproxy": "haproxy", "openssl": "openssl"}

Server = Direct | Target


@dataclass(frozen=True, slots=True)
class Options:
    duration: int  # s per wrk run
    rounds: int
    warmup: int  # s of load on each target before the first round
    transfer_size: int  # bytes of the streamed upload and download
    idle_connections: int
    tls_idle_connections: int  # idle TLS connections (opened one by one: fewer)
    scenarios: tuple[str, ...]
    targets: tuple[str, ...]
    backend: str  # "auto", "nginx" or "builtin"
    install: bool  # may run apt-get (as root) for missing tools
    command: str  # how the run was started, for the report


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


# --- tools ------------------------------------------------------------------------------------


def ensure_tools(tools: Sequence[str], install: bool) -> None:
    """Install the Debian packages of missing ``tools`` when allowed (root, apt-get)."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing and install and os.geteuid() == 0 and shutil.which("apt-get"):
        packages = [TOOL_PACKAGES[tool] for tool in missing]
        log(f"installing {' '.join(packages)} with apt-get")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        try:
            subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
            subprocess.run(
                ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
                check=True,
                env=env,
            )
        except subprocess.CalledProcessError as exc:
            raise BenchError(f"apt-get failed: {exc}") from exc
    if shutil.which("wrk") is None:
        raise BenchError(
            "wrk is missing: install it (Debian/Ubuntu: sudo apt-get install wrk nginx-light "
            "haproxy) or run `make bench` as root to let the script do so"
        )


def choose_backend(kind: str) -> str:
    if kind == "auto":
        return "nginx" if shutil.which("nginx") else "builtin"
    if kind == "nginx" and shutil.which("nginx") is None:
        raise BenchError("nginx is not installed (Debian: apt-get install nginx-light)")
    return kind


def _version_lines(argv: list[str], count: int) -> list[str]:
    """The first ``count`` lines a version command prints, one run; "unknown" for any it
    does not print."""
    if shutil.which(argv[0]) is None and argv[0] != sys.executable:
        return ["not installed"] * count
    lines: list[str] = []
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=30, check=False, env=child_env()
        )
        lines = [line.strip() for line in (done.stdout + done.stderr).strip().splitlines()]
    return (lines + ["unknown"] * count)[:count]


def _version(argv: list[str]) -> str:
    return _version_lines(argv, 1)[0]


def _git_revision() -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        rev = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
        return rev + (" with uncommitted changes in src/" if dirty else "")
    return "unknown"


def _python_build() -> str:
    """The interpreter standby runs on: its path, and whether libpython is a shared library
    (pyenv's default build: position-independent, calls through the PLT) or linked into the
    executable (Debian's python3). The same code runs about a tenth slower on the former."""
    shared = False
    with contextlib.suppress(OSError):
        shared = "libpython" in Path("/proc/self/maps").read_text()
    kind = "libpython shared" if shared else "libpython linked in"
    return f"Python {platform.python_version()} ({sys.executable}, {kind})"


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        text = Path("/proc/cpuinfo").read_text()
        match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
        if match:
            return match.group(1).strip()
    return platform.processor() or platform.machine()


def _memory_gib() -> str:
    with contextlib.suppress(OSError):
        match = re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.M)
        if match:
            return f"{int(match.group(1)) / 1024 / 1024:.0f} GiB"
    return "unknown"


# --- measurements -------------------------------------------------------------------------------


def _check_alive(target: Server) -> None:
    if not target.alive():
        log_file = target.log if isinstance(target, Target) else target.backend.log
        raise BenchError(f"{target.name} is not running any more:\n{tail(log_file)}")


def _port(target: Server, key: str | None) -> int:
    return target.port if key is None else target.tls_ports[key]


def measure_load(target: Server, scenario: LoadScenario, duration: int) -> stats.LoadRun:
    _check_alive(target)
    pids = target.pids()
    before = cpu_seconds(pids)
    with RssSampler(lambda: pids) as sampler:
        result = run_wrk(
            _port(target, scenario.key),
            scenario.path,
            duration,
            scenario.connections,
            close=scenario.close,
            tls=scenario.key is not None,
            headers=target.spec.headers if isinstance(target, Target) else (),
        )
    return stats.LoadRun(result, cpu_seconds(pids) - before, sampler.peak_kib)


def measure_handshakes(
    target: Server, scenario: HandshakeScenario, duration: int
) -> stats.HandshakeRun:
    """New TLS connections with s_time; fails when the run is not what it claims (a full
    run with a resumed session, a resumed run whose sessions were not resumed)."""
    _check_alive(target)
    pids = target.pids()
    before = cpu_seconds(pids)
    count, seconds = run_s_time(target.tls_ports[scenario.key], duration, resume=scenario.resume)
    run = stats.HandshakeRun(count, seconds, cpu_seconds(pids) - before)
    if scenario.resume and run.resumed_share < stats.MIN_RESUMED_SHARE:
        raise BenchError(
            f"only {count.resumed} of {count.connections} connections resumed their session: "
            "not a resumption figure"
        )
    if not scenario.resume and count.resumed:
        raise BenchError(f"{count.resumed} connections resumed in a run of full handshakes")
    return run


def measure_tls_idle(target: Server, key: str, pem: Path, connections: int) -> stats.TlsIdleRun:
    _check_alive(target)
    rss_before = rss_kib(target.pids())
    try:
        held = open_idle_tls(target.tls_ports[key], connections, client_context(pem))
    except OSError as exc:
        raise BenchError(f"opening idle TLS connections to {target.name} failed: {exc}") from exc
    try:
        rss_with_idle = rss_kib(target.pids())
        still_open = count_open(held)
    finally:
        close_all(held)
    return stats.TlsIdleRun(connections, still_open, rss_before, rss_with_idle)


def measure_transfer(target: Server, kind: str, size: int) -> stats.TransferRun:
    _check_alive(target)
    pids = target.pids()
    rss_before = rss_kib(pids)
    cpu_before = cpu_seconds(pids)
    with RssSampler(lambda: pids) as sampler:
        try:
            if kind == UPLOAD:
                seconds = upload(target.port, UPLOAD_PATH, size, TRANSFER_TIMEOUT)
            else:
                seconds = download(target.port, BIG_PATH, size, TRANSFER_TIMEOUT)
        except OSError as exc:
            raise BenchError(f"{kind} through {target.name} failed: {exc}") from exc
    return stats.TransferRun(
        size, seconds, cpu_seconds(pids) - cpu_before, rss_before, sampler.peak_kib
    )


def measure_idle(target: Server, connections: int, duration: int) -> stats.IdleRun:
    _check_alive(target)
    baseline = run_wrk(target.port, SMALL_PATH, duration, IDLE_LOAD_CONNECTIONS, close=False)
    rss_before = rss_kib(target.pids())
    try:
        held = open_idle(target.port, connections)
    except OSError as exc:
        raise BenchError(f"opening idle connections to {target.name} failed: {exc}") from exc
    try:
        rss_with_idle = rss_kib(target.pids())
        loaded = run_wrk(target.port, SMALL_PATH, duration, IDLE_LOAD_CONNECTIONS, close=False)
        still_open = count_open(held)
    finally:
        close_all(held)
    return stats.IdleRun(connections, still_open, rss_before, rss_with_idle, baseline, loaded)


# --- the run ------------------------------------------------------------------------------------


def _tools_needed(opts: Options, backend: str) -> list[str]:
    kinds = {TARGETS_BY_NAME[name].kind for name in opts.targets}
    needed = ["wrk"]
    if any(s.name in opts.scenarios for s in HANDSHAKE_SCENARIOS):
        needed.append("openssl")
    if backend in ("auto", "nginx") or "nginx" in kinds:
        needed.append("nginx")
    if "haproxy" in kinds:
        needed.append("haproxy")
    return needed


def _start_targets(
    opts: Options,
    backend: Spawned,
    workdir: Path,
    stack: contextlib.ExitStack,
    notes: list[str],
    certs: dict[str, Path],
    results: stats.Results,
) -> list[Server]:
    workers_option = standby_has_workers_option()
    targets: list[Server] = []
    for name in opts.targets:
        spec = TARGETS_BY_NAME[name]
        reason = unavailable(spec, workers_option=workers_option)
        if reason is not None:
            notes.append(f"`{name}` not run: {reason}")
            continue
        log(f"starting {name}")
        try:
            target = start_target(
                spec, backend, workdir, workers_option=workers_option, certs=certs
            )
        except BenchError as exc:
            notes.append(f"`{name}` not run: it did not start ({str(exc).splitlines()[0]})")
            log(str(exc))
            continue
        stack.callback(target.stop)
        targets.append(target)
        if isinstance(target, Target):
            if target.tls_note:
                notes.append(f"`{name}`: no TLS figures: {target.tls_note}")
            for kind, probe in target.tls_probes.items():
                negotiated = f"{probe.version} {probe.cipher}"
                results.tls_negotiated.setdefault(name, {})[kind] = negotiated
    if not workers_option:
        notes.append(
            f"`{HEADLINE}`: this standby has no Workers setting yet, so it runs as its single "
            "process"
        )
    return targets


def _rotated(targets: Sequence[Server], round_no: int) -> list[Server]:
    """Each round starts with the next target, so none is always measured first."""
    shift = round_no % max(len(targets), 1)
    return [*targets[shift:], *targets[:shift]]


def _measure_all(
    opts: Options, targets: list[Server], results: stats.Results, certs: dict[str, Path]
) -> None:
    load = [s for s in (*LOAD_SCENARIOS, *TLS_LOAD_SCENARIOS) if s.name in opts.scenarios]
    transfers = [k for k in TRANSFERS if k in opts.scenarios]
    shakes = [s for s in HANDSHAKE_SCENARIOS if s.name in opts.scenarios]
    for round_no in range(opts.rounds):
        where = f"round {round_no + 1}/{opts.rounds}"
        for scenario in load:
            for target in _rotated(targets, round_no):
                if not target.spec.runs_in(scenario.name) or (
                    scenario.key is not None and scenario.key not in target.tls_ports
                ):
                    continue
                try:
                    run = measure_load(target, scenario, opts.duration)
                except BenchError as exc:
                    _failed(results, scenario.name, target, exc)
                    continue
                run = dataclasses.replace(run, round_no=round_no)
                results.add_load(scenario.name, target.name, run)
                log(
                    f"{where} {scenario.name} {target.name}: "
                    f"{run.wrk.requests_per_s:,.0f} req/s, p50 {run.wrk.p50_ms:.3f} ms, "
                    f"{run.cpu_per_requests:.3f} CPU s/10k"
                )
        for kind in transfers:
            for target in _rotated(targets, round_no):
                try:
                    moved = measure_transfer(target, kind, opts.transfer_size)
                except BenchError as exc:
                    _failed(results, kind, target, exc)
                    continue
                results.add_transfer(kind, target.name, moved)
                log(
                    f"{where} {kind} {target.name}: {moved.seconds:.2f} s, "
                    f"peak RSS {moved.peak_rss_kib / 1024:.1f} MiB"
                )
        for shake in shakes:
            for target in _rotated(targets, round_no):
                if shake.key not in target.tls_ports:
                    continue
                try:
                    made = measure_handshakes(target, shake, opts.duration)
                except BenchError as exc:
                    _failed(results, shake.name, target, exc)
                    continue
                made = dataclasses.replace(made, round_no=round_no)
                results.add_handshakes(shake.name, target.name, made)
                log(
                    f"{where} {shake.name} {target.name}: {made.per_s:,.0f} connections/s "
                    f"({made.count.resumed} of {made.count.connections} resumed), "
                    f"{made.cpu_per_connections:.3f} CPU s/1k"
                )
    if IDLE in opts.scenarios:
        for target in targets:
            if target.name not in IDLE_TARGETS:
                continue
            log(f"idle: {opts.idle_connections:,} connections to {target.name}")
            try:
                held = measure_idle(target, opts.idle_connections, opts.duration)
            except BenchError as exc:
                _failed(results, IDLE, target, exc)
                continue
            results.idle[target.name] = held
            log(f"idle {target.name}: {held.kib_per_connection:.1f} KiB per connection")
    for key, idle_scenario in TLS_IDLE.items():
        if idle_scenario not in opts.scenarios:
            continue
        for target in targets:
            if target.name not in IDLE_TARGETS or key not in target.tls_ports:
                continue
            log(f"{idle_scenario}: {opts.tls_idle_connections:,} connections to {target.name}")
            try:
                idle = measure_tls_idle(target, key, certs[key], opts.tls_idle_connections)
            except BenchError as exc:
                _failed(results, idle_scenario, target, exc)
                continue
            results.tls_idle.setdefault(idle_scenario, {})[target.name] = idle
            log(f"{idle_scenario} {target.name}: {idle.kib_per_connection:.1f} KiB per connection")


def _failed(results: stats.Results, scenario: str, target: Server, exc: BenchError) -> None:
    results.failures[(scenario, target.name)] = str(exc)
    log(f"{scenario} {target.name} failed: {exc}")


def _warm_up(opts: Options, targets: list[Server]) -> None:
    for target in targets:
        log(f"warming up {target.name}")
        try:
            run_wrk(target.port, SMALL_PATH, opts.warmup, WARMUP_CONNECTIONS, close=False)
        except BenchError as exc:  # it fails again, and is reported, in the measured runs
            log(f"warm-up of {target.name} failed: {exc}")


def _load_average() -> str:
    with contextlib.suppress(OSError, IndexError):
        return Path("/proc/loadavg").read_text().split()[0]
    return "unknown"


def run(opts: Options) -> str:
    notes: list[str] = []
    started, load_before = time.monotonic(), _load_average()
    ensure_tools(_tools_needed(opts, opts.backend), opts.install)
    backend_kind = choose_backend(opts.backend)
    files = raise_nofile(WANTED_FILES)
    if IDLE in opts.scenarios and opts.idle_connections > files - FD_RESERVE:
        notes.append(
            f"open-file limit {files}: {opts.idle_connections:,} idle connections do not fit "
            "(run as root, or raise `ulimit -n`)"
        )
        opts = replace(opts, idle_connections=max(files - FD_RESERVE, 1))
    results = stats.Results()
    with (
        tempfile.TemporaryDirectory(prefix="standby-bench-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        workdir = Path(tmp)
        workdir.chmod(0o755)  # nginx workers run as an unprivileged user when started as root
        log(f"starting the {backend_kind} backend")
        backend = start_backend(backend_kind, workdir, opts.transfer_size)
        stack.callback(backend.stop)
        certs: dict[str, Path] = {}
        if TLS_SCENARIO_NAMES.intersection(opts.scenarios):
            (workdir / "certs").mkdir(mode=0o755)
            certs = write_certificates(workdir / "certs")
        targets = _start_targets(opts, backend, workdir, stack, notes, certs, results)
        _warm_up(opts, targets)
        _measure_all(opts, targets, results, certs)
    notes.append(
        f"the run took {(time.monotonic() - started) / 60:.1f} min; 1-minute load average "
        f"{load_before} at its start and {_load_average()} at its end (on {os.cpu_count()} "
        "CPUs: anything else running on the machine skews the figures)"
    )
    return render_header(opts, backend_kind, notes) + stats.render_results(results, opts.targets)


def render_header(opts: Options, backend: str, notes: Sequence[str]) -> str:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    backend_text = (
        "nginx (1 worker process; pages from memory and page cache; the upload sink reads "
        "the whole body before answering)"
        if backend == "nginx"
        else "the suite's built-in backend (Python, asyncio)"
    )
    targets = "\n".join(f"  - `{name}`: {TARGETS_BY_NAME[name].label}" for name in opts.targets)
    # `standby -V`: the version, how the head parsers run, how the hot path runs.
    standby, parsers, hot_path = _version_lines([sys.executable, "-m", "standby", "-V"], 3)
    lines = [
        f"# standby benchmark ({now})",
        "",
        f"- machine: {_cpu_model()}, {os.cpu_count()} CPUs, {_memory_gib()} RAM, "
        f"{platform.system()} {platform.release()}, {_python_build()}; "
        "client, backend and target share the CPUs",
        f"- standby {standby} ({parsers}; {hot_path}), commit "
        f"{_git_revision()}; {_version(['haproxy', '-v'])}; {_version(['nginx', '-v'])}; "
        f"{_version(['wrk', '-v'])}",
        f"- backend: {backend_text}; everything on 127.0.0.1",
        f"- command: `{opts.command}`",
        f"- load: wrk, {WRK_THREADS} thread, {opts.duration} s per run after a "
        f"{opts.warmup} s warm-up per target, {opts.rounds} round(s), targets alternating "
        "(each round starts with the next one); medians over the rounds",
        "- ratios are to `direct` (the backend without a proxy) and to `haproxy-t1`, from "
        "this run; a p50 or CPU ratio below 1 is better",
        "- CPU: utime + stime of the target's processes during the run, per 10,000 requests "
        "(for `direct`: the backend's). Peak RSS: the largest sum of VmRSS over the target's "
        "processes (all workers), sampled every 50 ms during the runs",
        f"- transfers: {opts.transfer_size / 1024 / 1024:g} MiB streamed with Content-Length, "
        "timed from the first byte sent to the last byte of the response",
        f"- idle: {opts.idle_connections:,} keep-alive connections, each after one request, "
        f"held open; RSS growth per connection; light load ({IDLE_LOAD_CONNECTIONS} "
        "connections) before and while they are held; one round",
        "- TLS: every target serves the same self-signed certificate for 127.0.0.1, made by "
        "the bench (ECDSA P-256 and RSA 2048, one listener each), TLS 1.2 and 1.3, session "
        "tickets and caches at each program's defaults; keep-alive load is wrk over https; "
        f"new connections are {S_TIME_CLIENTS} `openssl s_time -www /` clients at once "
        "(`-new`: full handshakes, `-reuse`: every connection offers the first one's session; "
        "each connection's resumed flag is counted, and a resumed run fails unless "
        f"{stats.MIN_RESUMED_SHARE:.0%} resumed), each with one HTTP/1.0 request; CPU per "
        f"{stats.PER_CONNECTIONS:,} connections; idle TLS: {opts.tls_idle_connections:,} "
        "connections, each after a handshake and one keep-alive request, held open; one round; "
        "the RSA run follows the ECDSA one in the same processes, which reuse the memory the "
        "first freed, so its growth is a lower bound (the ECDSA figure is the one to judge)",
        "- targets:",
        targets,
    ]
    lines += [f"- note: {note}" for note in notes]
    return "\n".join(lines) + "\n\n"
