"""The processes the benchmark starts: a backend, and targets that reach it.

A *target* is one way for wrk to reach the backend: directly, or through standby, HAProxy
or nginx in some configuration. TARGETS is the table of them; ``start_target`` builds one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from standby_bench import configs
from standby_bench.configs import TlsListen
from standby_bench.net import (
    BenchError,
    TlsProbe,
    client_context,
    free_port,
    wait_answering,
    wait_tls_answering,
)
from standby_bench.procfs import die_with_parent, process_tree
from standby_bench.scenarios import DIRECT, HEADLINE, LOGGED, PEER, SEED_EDITS, TLS_TARGETS

STOP_TIMEOUT = 20.0  # s from SIGTERM to exit before SIGKILL (standby's Grace is set to 2 s)
BENCH_DIR = Path(__file__).resolve().parent.parent
REPO = BENCH_DIR.parent


@dataclass(frozen=True, slots=True)
class TargetSpec:
    name: str
    kind: str  # "direct", "standby", "haproxy" or "nginx"
    label: str  # what the report says it is
    workers: int | None = None  # processes/threads; None: the program's default
    log_level: int = 0  # standby's LogLevel
    scenarios: tuple[str, ...] = ()  # the only scenarios it runs in; empty: all
    listener_extra: str = ""  # standby: more lines in its ListenHTTP (configs.SEED_EDITS)

    def runs_in(self, scenario: str) -> bool:
        return not self.scenarios or scenario in self.scenarios


# The headline comparison is standby-w1 against haproxy-t1: one core's worth each.
LOGGED_SCENARIOS = ("small-c50-ka",)  # where the access-logging variant is measured
TARGETS: tuple[TargetSpec, ...] = (
    TargetSpec(DIRECT, "direct", "wrk to the backend directly"),
    TargetSpec(HEADLINE, "standby", "standby, Workers 1, LogLevel 0", workers=1),
    TargetSpec(
        LOGGED,
        "standby",
        "standby, Workers 1, LogLevel 1 (-e, stderr to a file)",
        workers=1,
        log_level=1,
        scenarios=LOGGED_SCENARIOS,
    ),
    TargetSpec(
        SEED_EDITS,
        "standby",
        "standby, Workers 1, LogLevel 0, two AddHeader and two HeadRemove (issue 15)",
        workers=1,
        scenarios=LOGGED_SCENARIOS,
        listener_extra=configs.SEED_EDITS,
    ),
    TargetSpec("standby", "standby", "standby, default Workers (one per CPU), LogLevel 0"),
    TargetSpec(PEER, "haproxy", "HAProxy, nbthread 1", workers=1),
    TargetSpec("haproxy", "haproxy", "HAProxy, default threads (one per CPU)"),
    TargetSpec("nginx-w1", "nginx", "nginx as a proxy, worker_processes 1", workers=1),
    TargetSpec("nginx", "nginx", "nginx as a proxy, worker_processes auto"),
)
TARGETS_BY_NAME = {t.name: t for t in TARGETS}


def child_env() -> dict[str, str]:
    """Children find standby in this checkout and the bench modules even when not installed."""
    extra = [str(REPO / "src"), str(BENCH_DIR), os.environ.get("PYTHONPATH", "")]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, extra)))


class Spawned:
    """A server that is one child process (plus whatever it forks or spawns)."""

    def __init__(self, name: str, workdir: Path) -> None:
        self.name = name
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / f"{name}.log"

    def spawn(self, argv: list[str], *, watch_stdin: bool = False) -> None:
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE if watch_stdin else subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=child_env(),
                preexec_fn=die_with_parent,
            )
        try:
            wait_answering(self.port, self.proc, self.log)
        except BaseException:
            self.stop()  # not handed to the caller yet: nobody else would stop it
            raise

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def pids(self) -> list[int]:
        return process_tree(self.proc.pid) if self.proc and self.alive() else []

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdin is not None:
            proc.stdin.close()


def _nginx_binary() -> str:
    return shutil.which("nginx") or "/usr/sbin/nginx"


def _nginx(server: Spawned, text: str) -> None:
    prefix = server.workdir / server.name
    prefix.mkdir(exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(text)
    server.spawn([_nginx_binary(), "-p", str(prefix), "-e", "stderr", "-c", str(conf)])


def start_backend(kind: str, workdir: Path, big_size: int) -> Spawned:
    """The origin server: ``nginx`` or ``builtin`` (serves the same paths)."""
    backend = Spawned("backend", workdir)
    if kind == "nginx":
        www = workdir / backend.name / "www"
        www.mkdir(parents=True)
        (www / configs.PAGE_64K_PATH.lstrip("/")).write_bytes(b"x" * configs.PAGE_64K_SIZE)
        with (www / configs.BIG_PATH.lstrip("/")).open("wb") as big:
            big.truncate(big_size)  # sparse: zeros without writing them to disk
        _nginx(backend, configs.nginx_backend(workdir / backend.name, backend.port))
    else:
        argv = [sys.executable, "-m", "standby_bench.builtin_backend"]
        argv += ["--port", str(backend.port), "--big-size", str(big_size)]
        backend.spawn(argv, watch_stdin=True)
    return backend


class Direct:
    """wrk straight at the backend: the reference. Its CPU and memory are the backend's."""

    def __init__(self, spec: TargetSpec, backend: Spawned) -> None:
        self.spec = spec
        self.name = spec.name
        self.backend = backend
        self.port = backend.port
        self.tls_ports: dict[str, int] = {}  # the backend speaks plain HTTP only

    def alive(self) -> bool:
        return self.backend.alive()

    def pids(self) -> list[int]:
        return self.backend.pids()

    def stop(self) -> None:
        pass  # the backend outlives its targets


class Target(Spawned):
    def __init__(self, spec: TargetSpec, workdir: Path) -> None:
        super().__init__(spec.name, workdir)
        self.spec = spec
        self.tls_ports: dict[str, int] = {}  # key kind -> port of its TLS listener
        self.tls_probes: dict[str, TlsProbe] = {}  # what a client negotiated on each
        self.tls_note: str | None = None  # why it has no TLS listeners, when it has none

    def listen_tls(self, certs: Mapping[str, Path]) -> list[TlsListen]:
        """Ports for one TLS listener per certificate (key kind)."""
        self.tls_ports = {kind: free_port() for kind in certs}
        return [TlsListen(self.tls_ports[kind], pem) for kind, pem in certs.items()]

    def wait_tls(self, certs: Mapping[str, Path]) -> None:
        """Wait until each TLS listener answers, and keep what it negotiated."""
        assert self.proc is not None
        try:
            for kind, port in self.tls_ports.items():
                context = client_context(certs[kind])
                self.tls_probes[kind] = wait_tls_answering(port, context, self.proc, self.log)
        except BaseException:
            self.stop()
            raise


def standby_has_workers_option() -> bool:
    """Whether this standby knows ``--workers`` (issue 3 §1, landing separately)."""
    done = subprocess.run(
        [sys.executable, "-m", "standby", "--help"],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=60,
        check=False,
    )
    return "--workers" in done.stdout


def standby_refuses(cfg: Path) -> str | None:
    """What ``standby -c`` says against ``cfg`` (its first line), or None when it loads."""
    done = subprocess.run(
        [sys.executable, "-m", "standby", "-c", "-f", str(cfg)],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=60,
        check=False,
    )
    if done.returncode == 0:
        return None
    return ((done.stderr or done.stdout).strip().splitlines() or ["refused"])[0]


def start_target(
    spec: TargetSpec,
    backend: Spawned,
    workdir: Path,
    *,
    workers_option: bool,
    certs: Mapping[str, Path] | None = None,
) -> Direct | Target:
    """Start one target; with ``certs`` (key kind -> PEM) and a target in TLS_TARGETS, also
    one TLS listener per certificate beside its plain one (a standby that refuses
    ``ListenHTTPS`` starts without them, and says why in ``tls_note``)."""
    if spec.kind == "direct":
        return Direct(spec, backend)
    target = Target(spec, workdir)
    certs = certs if certs and spec.name in TLS_TARGETS else {}
    tls = target.listen_tls(certs)
    if spec.kind == "standby":
        cfg = workdir / f"{spec.name}.cfg"
        extra = spec.listener_extra
        cfg.write_text(configs.standby(target.port, backend.port, spec.log_level, tls, extra))
        if tls and (refused := standby_refuses(cfg)) is not None:
            target.tls_note = f"standby refuses its TLS listeners: {refused}"
            target.tls_ports, tls = {}, []
            cfg.write_text(configs.standby(target.port, backend.port, spec.log_level, (), extra))
        argv = [sys.executable, "-m", "standby", "-e", "-f", str(cfg)]
        if workers_option and spec.workers is not None:
            argv += ["--workers", str(spec.workers)]
        target.spawn(argv)
    elif spec.kind == "haproxy":
        cfg = workdir / f"{spec.name}.cfg"
        cfg.write_text(configs.haproxy(target.port, backend.port, spec.workers, tls))
        target.spawn([shutil.which("haproxy") or "/usr/sbin/haproxy", "-db", "-f", str(cfg)])
    elif spec.kind == "nginx":
        _nginx(
            target,
            configs.nginx_proxy(workdir / spec.name, target.port, backend.port, spec.workers, tls),
        )
    else:
        raise BenchError(f"unknown target kind {spec.kind!r}")
    target.wait_tls(certs if tls else {})
    return target


def unavailable(spec: TargetSpec, *, workers_option: bool) -> str | None:
    """Why ``spec`` cannot run on this machine, or None."""
    if spec.kind == "haproxy" and shutil.which("haproxy") is None:
        return "haproxy is not installed (Debian: apt-get install haproxy)"
    if spec.kind == "nginx" and shutil.which("nginx") is None:
        return "nginx is not installed (Debian: apt-get install nginx-light)"
    if spec.kind == "standby" and spec.workers is None and not workers_option:
        return "this standby has no --workers option yet (one process only): not run"
    return None
