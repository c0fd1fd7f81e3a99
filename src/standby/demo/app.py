"""The demo: two demo backends and standby in front of them, in the foreground.

``main([])`` starts the "primary" and "standby" demo backends as child processes, writes
the embedded demo configuration (demo.cfg, ports moved by the environment) to a runtime
directory and runs standby on it in the foreground (as ``standby -e -f FILE``) until
Ctrl-C. ``main(["primary", "down"])`` (or ``up``, ``status``; or ``standby ...``) controls
a running demo's backend from another terminal through its UNIX control socket.

The proxy runs in this process through standby's command line code; the backends are
children that leave with it, even if it is killed (they watch a pipe from us).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources

from standby.demo.settings import (
    BACKEND_NAMES,
    DEMO_HOST,
    ENV_LISTEN_PORT,
    ENV_PRIMARY_PORT,
    ENV_RUNDIR,
    ENV_STANDBY_PORT,
    PRIMARY,
    DemoError,
    DemoPorts,
    control_path,
    ports_from_env,
    render_config,
    rundir_from_env,
)

CONTROL_ACTIONS = ("down", "up", "status")
# Generous bound for one control exchange on a local socket (the machine may be loaded).
CONTROL_TIMEOUT = 10.0
# How long a demo backend may take to exit after being told to stop, before it is killed.
BACKEND_STOP_TIMEOUT = 10.0

_RUNDIR_MODE = 0o700  # the runtime directory holds control sockets: owner only


@dataclass(frozen=True, slots=True)
class DemoSettings:
    ports: DemoPorts
    rundir: str

    @classmethod
    def from_env(cls) -> DemoSettings:
        ports = ports_from_env(os.environ)
        return cls(ports, rundir_from_env(os.environ, tempfile.gettempdir(), os.getuid(), ports))


def _prepare_rundir(path: str) -> None:
    """Create the runtime directory, or accept an existing one only if it is ours and
    private (it lives in a shared temporary directory)."""
    with contextlib.suppress(FileExistsError):
        os.makedirs(path, mode=_RUNDIR_MODE)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise DemoError(f"{path} is not a directory owned by this user; set {ENV_RUNDIR}")
    if info.st_mode & 0o077:
        os.chmod(path, _RUNDIR_MODE)


def demo_config_text(ports: DemoPorts) -> str:
    template = resources.files("standby.demo").joinpath("demo.cfg").read_text(encoding="utf-8")
    return render_config(template, ports)


# --- the demo backends -------------------------------------------------------------------


def _start_backend(name: str, port: int, control: str) -> subprocess.Popen[bytes]:
    """Start a demo backend and wait for its `ready` line. Its stdin is a pipe that we hold:
    if this process dies, the backend sees end of file and exits."""
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "standby.demo.backend",
            "--name",
            name,
            "--host",
            DEMO_HOST,
            "--port",
            str(port),
            "--control",
            control,
            "--watch-stdin",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert child.stdout is not None
    line = child.stdout.readline()  # the backend prints one line, or exits with a message
    if not line.startswith(b"ready"):
        _stop_backend(child)
        raise DemoError(f"the {name} demo backend did not start (see the message above)")
    return child


def _stop_backend(child: subprocess.Popen[bytes]) -> None:
    if child.stdin is not None:
        with contextlib.suppress(OSError):
            child.stdin.close()
    if child.poll() is None:
        child.terminate()
    try:
        child.wait(BACKEND_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
    if child.stdout is not None:
        child.stdout.close()


@contextlib.contextmanager
def _backends(settings: DemoSettings) -> Iterator[None]:
    children: list[subprocess.Popen[bytes]] = []
    try:
        for name in BACKEND_NAMES:
            port = settings.ports.backend(name)
            children.append(_start_backend(name, port, control_path(settings.rundir, name)))
        yield
    finally:
        for child in children:
            _stop_backend(child)


# --- the proxy ---------------------------------------------------------------------------


def _banner(settings: DemoSettings) -> str:
    ports = settings.ports
    # The control commands find the demo by its listen port (or an explicit runtime
    # directory): repeat whichever differs from the default so copy-paste just works.
    env = f"{ENV_LISTEN_PORT}={ports.listen} " if ports.listen != DemoPorts().listen else ""
    if os.environ.get(ENV_RUNDIR, "").strip():
        env += f"{ENV_RUNDIR}={settings.rundir} "
    url = f"http://{DEMO_HOST}:{ports.listen}/"
    return "\n".join(
        [
            "",
            f"standby demo: proxy on {url} -> primary :{ports.primary}, "
            f"standby (Emergency) :{ports.standby}",
            f"  try it:            curl {url}hello",
            f"  stop the primary:  {env}make demo-primary-down"
            f"   (or: {env}python -m standby.demo primary down)",
            f"  start it again:    {env}make demo-primary-up"
            f"     (or: {env}python -m standby.demo primary up)",
            "  stop the demo:     Ctrl-C",
            "",
        ]
    )


def run_proxy(config_path: str) -> int:
    """standby in the foreground, logging to stderr: exactly what `standby -e -f FILE` does.
    It returns when a signal stops it (Ctrl-C, SIGTERM) or when it cannot start."""
    from standby.cli import main as standby_main  # the CLI imports us back for --demo

    return standby_main(["-e", "-f", config_path])


def run_demo(settings: DemoSettings) -> int:
    _prepare_rundir(settings.rundir)
    config_path = os.path.join(settings.rundir, "demo.cfg")
    with open(config_path, "w", encoding="utf-8") as out:
        out.write(demo_config_text(settings.ports))
    with _backends(settings):
        print(_banner(settings), file=sys.stderr, flush=True)
        return run_proxy(config_path)


# --- controlling a running demo ----------------------------------------------------------


def send_control(path: str, command: str) -> str:
    """Send one command to a demo backend's control socket and return its answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(CONTROL_TIMEOUT)
        try:
            sock.connect(path)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise DemoError(
                f"no demo is running with these settings (nothing answers on {path}); "
                "start one with `make demo`, and give this command the same "
                f"{ENV_LISTEN_PORT}/{ENV_RUNDIR} environment"
            ) from exc
        sock.sendall(command.encode("ascii") + b"\n")
        answer = bytearray()
        while chunk := sock.recv(4096):
            answer += chunk
    return answer.decode("utf-8", "replace").strip()


def control(settings: DemoSettings, name: str, action: str) -> int:
    answer = send_control(control_path(settings.rundir, name), action)
    print(answer)
    return 1 if answer.startswith("error") else 0


# --- command line ------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m standby.demo",
        description=(
            "Run standby's demo (no arguments), or take a running demo's backend down or up "
            f"from another terminal (e.g. `{PRIMARY} down`). Ports: {ENV_LISTEN_PORT}, "
            f"{ENV_PRIMARY_PORT}, {ENV_STANDBY_PORT}; runtime directory: {ENV_RUNDIR}."
        ),
    )
    parser.add_argument("backend", nargs="?", choices=BACKEND_NAMES, help="demo backend")
    parser.add_argument("action", nargs="?", choices=CONTROL_ACTIONS, help="what to do")
    return parser


def main(argv: list[str]) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.backend is not None and args.action is None:
        parser.error(f"say what to do with the {args.backend}: {', '.join(CONTROL_ACTIONS)}")
    try:
        settings = DemoSettings.from_env()
        if args.backend is None:
            return run_demo(settings)
        return control(settings, args.backend, args.action)
    except DemoError as exc:
        print(f"standby demo: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C while the backends were starting
        return 128 + signal.SIGINT
