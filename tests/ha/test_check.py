"""``standbyctl check`` and ``standbyctl fingerprint`` from outside: the installed program
against a running standby on loopback (no namespaces, no root)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tests.process.harness import Backend, free_port, http_get, running_standby, wait_for

BIN = Path(sys.executable).parent
STANDBYCTL = str(BIN / "standbyctl")
TIMING_RUNS = 40  # enough for a median and a high percentile; bounded


def ctl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STANDBYCTL, *args], capture_output=True, text=True, timeout=60, env=env, check=False
    )


def pair_config(tmp: Path, port: int, primary: int, emergency: int) -> Path:
    path = tmp / "pound.cfg"
    path.write_text(
        f'Alive 1\nControl "{tmp / "ctl.sock"}"\n'
        f"ListenHTTP\n  Address 0.0.0.0\n  Port {port}\n"
        "  Service\n"
        f"    BackEnd\n      Address 127.0.0.1\n      Port {primary}\n    End\n"
        f"    Emergency\n      Address 127.0.0.1\n      Port {emergency}\n    End\n"
        "  End\nEnd\n"
    )
    return path


def test_check_follows_listeners_and_backends(tmp_path: Path) -> None:
    primary, emergency = Backend(), Backend()
    port = free_port()
    config = pair_config(tmp_path, port, primary.port, emergency.port)
    sock = str(tmp_path / "ctl.sock")
    try:
        with running_standby(config) as proxy:
            ok = ctl("-s", sock, "check")
            assert (ok.returncode, ok.stdout, ok.stderr) == (0, "", "")  # quiet
            verbose = ctl("-s", sock, "check", "-v")
            assert verbose.returncode == 0
            assert verbose.stderr.startswith("standbyctl: check ok: 1 listeners accept")
            assert ctl("-f", str(config), "check").returncode == 0  # the -f form too

            # The primary gone: the Emergency backend still serves, so the check passes.
            primary.close()
            assert http_get(port).endswith(b"hello")  # the refused connect marks it dead
            wait_for(lambda: "dead" in ctl("-s", sock, "list").stdout, "primary dead")
            assert ctl("-s", sock, "check").returncode == 0

            # No usable backend left: the check fails, and -v says which service.
            assert ctl("-s", sock, "off", "/1/0/1").returncode == 0
            failed = ctl("-s", sock, "-v", "check")
            assert failed.returncode == 1
            assert failed.stderr.startswith("standbyctl: check failed: service /1/0: none")
            assert failed.stderr.count("\n") == 1
            assert ctl("-s", sock, "on", "/1/0/1").returncode == 0
            assert ctl("-s", sock, "check").returncode == 0

            # A disabled listener answers 503 to everything: it cannot serve.
            assert ctl("-s", sock, "off", "/1").returncode == 0
            assert "is disabled" in ctl("-s", sock, "check", "-v").stderr
            assert ctl("-s", sock, "on", "/1").returncode == 0

            proxy.kill()
            gone = ctl("-s", sock, "check", "-v")
            assert gone.returncode == 1
            assert "cannot talk to" in gone.stderr
    finally:
        primary.close()
        emergency.close()


def test_check_is_fast(tmp_path: Path) -> None:
    """Figures only (no timing assertion: shared noisy cores): the wall time of the whole
    command as keepalived runs it, printed for docs/ha.md's record."""
    backend = Backend()
    port = free_port()
    config = pair_config(tmp_path, port, backend.port, backend.port)
    sock = str(tmp_path / "ctl.sock")
    try:
        with running_standby(config):
            times = []
            for _ in range(TIMING_RUNS):
                start = time.perf_counter()
                assert ctl("-s", sock, "check").returncode == 0
                times.append(time.perf_counter() - start)
            times.sort()
            median = statistics.median(times) * 1000
            p90 = times[int(len(times) * 0.9)] * 1000
            print(f"standbyctl check: median {median:.1f} ms, p90 {p90:.1f} ms, n={len(times)}")
    finally:
        backend.close()


FINGERPRINT_BASE = """\
# the pair's configuration
Control "/run/standby.sock"
Include "{include}"
ListenHTTP
    Address 0.0.0.0
    Port 80
End
"""
SERVICE = """\
Service "web"
    Session
        Type COOKIE
        ID "sid"
        TTL {ttl}
    End
    BackEnd
        Address 192.0.2.10
        Port {port}
    End
    Emergency
        Address 192.0.2.20
        Port 80
    End
End
"""


def fingerprint_of(tmp: Path, name: str, base: str, service: str, include: str) -> str:
    directory = tmp / name
    (directory / Path(include).parent).mkdir(parents=True, exist_ok=True)
    (directory / include).write_text(service)
    (directory / "pound.cfg").write_text(base.format(include=include))
    env = {**os.environ, "PYTHONHASHSEED": str(len(name))}  # set order must not matter
    done = ctl("-f", str(directory / "pound.cfg"), "fingerprint", env=env)
    assert done.returncode == 0, done.stderr
    value = done.stdout.strip()
    assert len(value) == 32 and int(value, 16) >= 0
    return value


def test_fingerprint_is_the_effective_configuration(tmp_path: Path) -> None:
    def service(ttl: int = 300, port: int = 80) -> str:
        return SERVICE.format(ttl=ttl, port=port)

    same = fingerprint_of(tmp_path, "a", FINGERPRINT_BASE, service(), "s.cfg")
    # Comments, indentation, keyword case, the include's name and directory, and a default
    # spelt out (Alive 30 is Pound's) change nothing.
    other_text = "Alive 30\n" + FINGERPRINT_BASE.replace("    ", "\t").replace("Port", "port")
    moved = fingerprint_of(tmp_path, "bb", other_text + "# end\n", service(), "d/other.cfg")
    assert moved == same
    # Any value standby acts on changes it.
    assert fingerprint_of(tmp_path, "c", FINGERPRINT_BASE, service(ttl=301), "s.cfg") != same
    assert fingerprint_of(tmp_path, "d", FINGERPRINT_BASE, service(port=81), "s.cfg") != same
    alive = "Alive 10\n" + FINGERPRINT_BASE
    assert fingerprint_of(tmp_path, "e", alive, service(), "s.cfg") != same


def test_fingerprint_refuses_a_socket_and_reports_config_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.cfg"
    bad.write_text("ListenHTTP\n  Port nope\nEnd\n")
    done = ctl("-f", str(bad), "fingerprint")
    assert done.returncode == 1 and done.stderr.startswith(f"standbyctl: {bad}:2")
    assert ctl("-s", "/nonexistent", "fingerprint").returncode == 1
