"""The Debian package, as a self-hoster meets it: ``make deb`` builds it (tools/build_deb.py),
lintian finds no error, ``dpkg -i`` installs it on this machine, the installed
``/usr/sbin/standby`` checks the shipped configuration and proxies a request on a copy of it,
and ``dpkg --purge`` leaves nothing of it behind.

Needs root, dpkg and lintian, and Debian's python3 with python3-uvloop and python3-httptools
(the package's Depends). Skipped without them, except in CI (CI=true), where .ci/run
installs them and this test fails rather than skips. Never run where a standby package is
already installed: the test would replace it (it refuses).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.packaging.steps import step
from tests.process.harness import Backend, answers, http_get, running_standby, wait_for
from tests.support.harness import free_port

ROOT = Path(__file__).resolve().parents[2]
CONTRIB = ROOT / "contrib"
DEB_PYTHON = "/usr/bin/python3"
BUILD_TIMEOUT = 1800  # seconds: mypyc compiles the hot path on two shared, busy cores
COMMAND_TIMEOUT = 300  # seconds for dpkg, lintian and one standby command
SHIPPED = Path("/etc/standby/standby.cfg")
# What dpkg --purge may leave (Debian policy): the system account (see contrib/debian/postrm).
KEPT_ACCOUNT = "standby"
LOG_DIRECTORY = "/var/log/standby"  # made by postinst, removed by a purge
# The installed programs run as installed: compiled, whatever this test run uses.
ENV = {name: value for name, value in os.environ.items() if name != "STANDBY_PURE"}


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "dpkg -i needs root"
    for tool in ("dpkg", "dpkg-deb", "lintian", "strip"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    probe = subprocess.run(
        [DEB_PYTHON, "-c", "import uvloop, httptools"], capture_output=True, check=False
    )
    if probe.returncode != 0:
        return "Debian's python3-uvloop and python3-httptools are not installed"
    return None


MISSING = _missing()
pytestmark = [
    pytest.mark.root,
    pytest.mark.timeout(BUILD_TIMEOUT + 10 * COMMAND_TIMEOUT),
    pytest.mark.skipif(
        MISSING is not None and not os.environ.get("CI"), reason=f"Debian package: {MISSING}"
    ),
]


def run(*command: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return step(*command, timeout=COMMAND_TIMEOUT, env=ENV, check=check)


def package_state() -> str:
    done = run("dpkg-query", "-W", "-f", "${db:Status-Status}", "standby", check=False)
    return done.stdout.strip() if done.returncode == 0 else "unknown"


@pytest.fixture(scope="module")
def deb() -> Path:
    assert MISSING is None, f"CI must provide what the Debian package test needs: {MISSING}"
    if package_state() not in ("unknown", "not-installed", "config-files"):
        pytest.fail("a standby package is installed on this machine: not replacing it")
    done = step(sys.executable, ROOT / "tools" / "build_deb.py", timeout=BUILD_TIMEOUT, cwd=ROOT)
    return Path(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def installed(deb: Path) -> Iterator[list[str]]:
    """dpkg -i; the package's paths (dpkg -L). Purged at the end whatever happened."""
    try:
        run("dpkg", "-i", deb)
        yield run("dpkg", "-L", "standby").stdout.split("\n")
    finally:
        if package_state() not in ("unknown", "not-installed"):
            run("dpkg", "--purge", "standby", check=False)


def test_lintian_finds_no_error(deb: Path) -> None:
    done = run("lintian", "--allow-root", deb, check=False)
    errors = [line for line in done.stdout.splitlines() if line.startswith("E:")]
    assert not errors, done.stdout
    assert done.returncode in (0, 2), done.stdout + done.stderr  # 2: warnings only
    print(done.stdout)  # the warnings, for the record (pytest -s, or the CI log)


def test_the_package_holds_what_a_self_hoster_needs(deb: Path) -> None:
    listing = run("dpkg-deb", "--contents", deb).stdout
    paths = {line.split()[-1].removeprefix(".") for line in listing.splitlines()}
    expected = {
        "/usr/sbin/standby",
        "/usr/sbin/standbyctl",
        "/usr/share/man/man8/standby.8.gz",
        "/usr/share/man/man8/standbyctl.8.gz",
        "/usr/share/man/man5/standby.cfg.5.gz",
        "/etc/standby/standby.cfg",
        "/usr/share/doc/standby/copyright",
        "/usr/share/doc/standby/changelog.Debian.gz",
    }
    expected |= {f"/lib/systemd/system/{p.name}" for p in (CONTRIB / "systemd").glob("*")}
    expected |= {f"/etc/logrotate.d/{p.name}" for p in (CONTRIB / "logrotate").glob("*")}
    assert expected <= paths, expected - paths
    assert not [p for p in paths if "__pycache__" in p or p.endswith(".pyc")]
    control = run("dpkg-deb", "--field", deb, "Depends").stdout
    for needed in ("python3-uvloop", "python3-httptools", "python3 (>= 3.11)"):
        assert needed in control
    info = run("dpkg-deb", "--info", deb, "conffiles").stdout.split()
    assert "/etc/standby/standby.cfg" in info
    assert {f"/etc/logrotate.d/{p.name}" for p in (CONTRIB / "logrotate").glob("*")} <= set(info)


def _copy_on_free_ports(directory: Path, backend: int) -> tuple[Path, int]:
    """The shipped file with its listener on a free port, production on ``backend``, the
    standby on a free port (nothing there) and the control socket in ``directory``."""
    text = SHIPPED.read_text()
    listen = free_port()
    text = text.replace("Port 8080", f"Port {listen}")
    text = text.replace("Port 80\n", f"Port {backend}\n")
    text = text.replace("Port 8081", f"Port {free_port()}")
    text = text.replace("/run/standby/control.sock", str(directory / "control.sock"))
    assert text.count(str(directory)) == 1 and f"Port {backend}\n" in text
    copy = directory / "standby.cfg"
    copy.write_text(text)
    return copy, listen


def _https_config(directory: Path) -> Path:
    import trustme

    pem = directory / "site.pem"
    trustme.CA().issue_cert("www.example.com").private_key_and_cert_chain_pem.write_to_path(
        str(pem)
    )
    config = directory / "https.cfg"
    config.write_text(
        f'ListenHTTPS\n  Address 127.0.0.1\n  Port {free_port()}\n  Cert "{pem}"\n'
        "  Service\n    BackEnd\n      Address 127.0.0.1\n      Port 80\n    End\n"
        "  End\nEnd\n"
    )
    return config


def _demo_answer(port: int) -> bool:
    try:
        return b"Hello from the primary backend" in http_get(port)
    except OSError:
        return False


def test_installed_package_checks_serves_and_purges(installed: list[str], tmp_path: Path) -> None:
    version = run("/usr/sbin/standby", "-V").stdout
    assert "C fast path" in version and "compiled (mypyc)" in version, version
    assert run("/usr/sbin/standby", "-c", "-f", SHIPPED).returncode == 0
    assert run("getent", "passwd", KEPT_ACCOUNT).stdout.startswith("standby:")
    logs = os.stat(LOG_DIRECTORY)  # logrotate refuses a directory a group may write to
    assert logs.st_uid == 0 and not logs.st_mode & 0o020 and logs.st_mode & 0o001
    # The units of contrib/systemd, installed: their commands and manual pages exist now.
    units = [f"/lib/systemd/system/{unit.name}" for unit in sorted(CONTRIB.glob("systemd/*"))]
    if units:
        analyze = shutil.which("systemd-analyze")
        assert analyze is not None, "systemd-analyze must be installed (.ci/run: systemd)"
        run(analyze, "verify", *units)
    # cryptography 42+ is bundled (Debian 12 has 38): it reads a certificate and its key.
    https = _https_config(tmp_path)
    assert "is OK" in run("/usr/sbin/standby", "-c", "-v", "-f", https).stderr

    tmp_path.chmod(0o755)  # the standby account reads nothing there, but may traverse
    backend = Backend()
    try:
        config, port = _copy_on_free_ports(tmp_path, backend.port)
        program = ("/usr/sbin/standby",)
        with running_standby(config, program=program, env=ENV) as proxy:
            wait_for(lambda: answers(port), "a request proxied by the installed standby")
            listing = run("/usr/sbin/standbyctl", "-f", config, "list").stdout
            assert f"127.0.0.1:{backend.port}" in listing, listing
            assert "started (pid" in proxy.stderr()
    finally:
        backend.close()

    # The demo: its backends are Python processes the installed standby starts, and they
    # parse with Debian's httptools 0.1.1 (standby's only use of httptools).
    demo_port = free_port()
    demo_env = {
        **ENV,
        "STANDBY_DEMO_PORT": str(demo_port),
        "STANDBY_DEMO_PRIMARY_PORT": str(free_port()),
        "STANDBY_DEMO_STANDBY_PORT": str(free_port()),
        "STANDBY_DEMO_RUNDIR": str(tmp_path / "demo"),
    }
    demo = subprocess.Popen(
        ["/usr/sbin/standby", "--demo"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=demo_env,
        start_new_session=True,  # its backends too are ended with the group
    )
    try:
        wait_for(lambda: _demo_answer(demo_port), "the installed demo's primary backend")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(demo.pid, signal.SIGKILL)
        demo.wait(COMMAND_TIMEOUT)

    run("dpkg", "--purge", "standby")
    assert package_state() in ("unknown", "not-installed")
    left = [p for p in installed if p and os.path.lexists(p) and not os.path.isdir(p)]
    assert not left, left
    for directory in ("/usr/lib/standby", "/etc/standby", "/usr/share/doc/standby", LOG_DIRECTORY):
        assert not os.path.exists(directory), directory
    # Policy keeps the account (a purge must not hand its files to a future uid owner).
    assert run("getent", "passwd", KEPT_ACCOUNT).returncode == 0
