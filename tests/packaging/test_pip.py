"""The Python package: ``python -m build`` makes an sdist and a wheel, and ``pipx install`` of
the sdist works with a C compiler (the compiled parts are built) and without one (pure
Python, with a message saying so).

Offline: pip never reaches an index. The wheels of standby's dependencies and of its build
requirements (setuptools, wheel, mypy) are made from this venv's own installed copies by
tools/wheelhouse.py, and pip is told ``--no-index --find-links`` that directory (through
PIP_* variables, with the user's pip configuration ignored). Needs pipx (Debian: pipx),
which .ci/run installs: in CI the pipx tests fail rather than skip without it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.packaging.steps import step

ROOT = Path(__file__).resolve().parents[2]
BUILD_TIMEOUT = 1200  # seconds: mypyc compiles the hot path on two shared, busy cores
COMMAND_TIMEOUT = 120  # seconds for one run of the installed standby
PIPX = shutil.which("pipx")
needs_pipx = pytest.mark.skipif(
    PIPX is None and not os.environ.get("CI"), reason="pipx is not installed (Debian: pipx)"
)
pytestmark = pytest.mark.timeout(3 * BUILD_TIMEOUT)
MISSING_COMPILER = "/nonexistent/cc"  # CC for the install without a C compiler


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("packaging")


@pytest.fixture(scope="module")
def offline(work: Path) -> dict[str, str]:
    """The environment for pip: this venv's distributions as wheels, and no index."""
    wheels = work / "wheels"
    step(sys.executable, ROOT / "tools" / "wheelhouse.py", wheels, timeout=BUILD_TIMEOUT)
    env = {
        **os.environ,
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(wheels),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    env.pop("STANDBY_PURE", None)  # what is installed decides, not the test run's setting
    return env


@pytest.fixture(scope="module")
def built(work: Path, offline: dict[str, str]) -> Iterator[tuple[Path, Path]]:
    """``python -m build``: the sdist, then the wheel built from it (as a packager would).
    The wheel's own compile is skipped (STANDBY_PURE=1: the C parsers only): the pipx test
    below compiles the hot path from the sdist."""
    out = work / "dist"
    pure = {**offline, "STANDBY_PURE": "1"}
    build = (sys.executable, "-m", "build", "--no-isolation", "--outdir", out, ROOT)
    step(*build, timeout=BUILD_TIMEOUT, env=pure)
    (sdist,) = out.glob("standby-*.tar.gz")
    (wheel,) = out.glob("standby-*.whl")
    yield sdist, wheel


def test_sdist_and_wheel_hold_the_sources_and_the_data(built: tuple[Path, Path]) -> None:
    sdist, wheel = built
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for needed in (
        "setup.py",
        "pyproject.toml",
        "src/standby/http1/_speedups.c",
        "src/standby/compiled.py",
        "typings/re2/__init__.pyi",  # mypyc type-checks the hot path with it
    ):
        assert needed in names, needed
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert "standby/cli.py" in names and "standby/py.typed" in names
    assert any(name.startswith("standby/demo/") and name.endswith(".cfg") for name in names)
    assert any(name.startswith("standby/http1/_speedups.") for name in names)
    entry_points = next(name for name in names if name.endswith("entry_points.txt"))
    with zipfile.ZipFile(wheel) as archive:
        scripts = archive.read(entry_points).decode()
    assert "standby = standby.cli:main" in scripts and "standbyctl =" in scripts


def _seed_config(directory: Path) -> Path:
    """The Debian package's configuration without its account (absent here)."""
    text = (ROOT / "contrib" / "debian" / "standby.cfg").read_text()
    lines = [line for line in text.splitlines() if not line.startswith(("User ", "Group "))]
    config = directory / "standby.cfg"
    config.write_text("\n".join(lines) + "\n")
    return config


def _pipx_install(work: Path, name: str, sdist: Path, env: dict[str, str]) -> tuple[Path, str]:
    """pipx install of ``sdist``: where the commands are, and pip's log of it."""
    assert PIPX is not None, "pipx must be installed in CI (.ci/run)"
    home, bin_dir = work / name / "home", work / name / "bin"
    env = {**env, "PIPX_HOME": str(home), "PIPX_BIN_DIR": str(bin_dir)}
    env.pop("VIRTUAL_ENV", None)
    # pipx 1.1 shows none of pip's output when all goes well: pip's own log has the build's.
    env["PIP_LOG"] = str(work / name / "pip.log")
    step(PIPX, "install", "--python", "/usr/bin/python3", sdist, timeout=BUILD_TIMEOUT, env=env)
    return bin_dir, Path(env["PIP_LOG"]).read_text()


def _run(program: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return step(program, *args, timeout=COMMAND_TIMEOUT, check=False)


@needs_pipx
def test_pipx_install_of_the_sdist_builds_the_compiled_parts(
    work: Path, built: tuple[Path, Path], offline: dict[str, str]
) -> None:
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.fail("a C compiler is needed for this test (.ci/run installs gcc)")
    bin_dir, _ = _pipx_install(work, "compiled", built[0], offline)
    version = _run(bin_dir / "standby", "-V")
    assert "C fast path" in version.stdout and "compiled (mypyc)" in version.stdout, version
    check = _run(bin_dir / "standby", "-c", "-v", "-f", _seed_config(work))
    assert check.returncode == 0 and "is OK" in check.stderr, check.stderr
    assert _run(bin_dir / "standbyctl", "-h").returncode == 0


@needs_pipx
def test_pipx_install_of_the_sdist_without_a_compiler_runs_pure_python(
    work: Path, built: tuple[Path, Path], offline: dict[str, str]
) -> None:
    env = {**offline, "CC": MISSING_COMPILER}
    bin_dir, log = _pipx_install(work, "pure", built[0], env)
    assert f"setup.py: no C compiler ({MISSING_COMPILER})" in log  # why, and what to do
    version = _run(bin_dir / "standby", "-V")
    assert "interpreted" in version.stdout and "C fast path" not in version.stdout, version
    check = _run(bin_dir / "standby", "-c", "-v", "-f", _seed_config(work))
    assert check.returncode == 0 and "is OK" in check.stderr, check.stderr
