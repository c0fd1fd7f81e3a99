"""``make deb``: build ``dist/standby_VERSION_ARCH.deb`` without debhelper.

Run by the development venv's Python (``make deb``); offline: everything it installs comes
from that venv (tools/wheelhouse.py). The steps:

1. A build venv of Debian's own ``/usr/bin/python3`` (the package's interpreter), given
   setuptools, wheel and mypy from the wheelhouse, builds standby's wheel: the C parsers and
   the mypyc-compiled hot path against Debian's Python.
2. The wheel, google-re2 and cryptography go to ``/usr/lib/standby``, standby's private
   module directory: Debian 12 has no google-re2 and only cryptography 38 (standby needs 42
   for ``not_valid_*_utc``). uvloop and httptools are Debian's (Depends).
3. ``/usr/sbin/standby`` and ``standbyctl`` (contrib/debian/launcher), the manual pages
   (standby/mangen.py), the shipped configuration, the systemd units of contrib/systemd,
   the logrotate files of contrib/logrotate, copyright and changelog, the maintainer
   scripts; then ``dpkg-deb --root-owner-group --build``.

SOURCE_DATE_EPOCH (default: the last commit's time) dates the changelog and the pages.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import wheelhouse

ROOT = Path(__file__).resolve().parents[1]
CONTRIB = ROOT / "contrib"
DEBIAN = CONTRIB / "debian"
WORK = ROOT / "build" / "deb"
DIST = ROOT / "dist"
DEB_PYTHON = "/usr/bin/python3"  # the interpreter the package runs on (Depends: python3)
PRIVATE = "usr/lib/standby"
# The package revision: the Debian packaging of upstream VERSION (changelog.Debian.gz).
REVISION = "1"
MAINTAINER = "standby maintainers <standby@example.org>"
# What Debian 12 provides; the compiled modules are CPython 3.11's (cpython-311 ABI).
DEPENDS = (
    "python3 (>= 3.11)",
    "python3 (<< 3.12)",
    "python3-uvloop",
    "python3-httptools",
    "adduser",
    "libc6",
    "libgcc-s1",
    "libstdc++6",
)
VENDORED = ("google-re2", "cryptography")  # installed into PRIVATE from the wheelhouse
BUILD_REQUIRES = ("setuptools", "wheel", "mypy")  # cryptography: in VENDORED
DOCS = ("README.md", "docs/operations.md", "docs/configuration.md", "docs/tls.md")
MAN_SECTIONS = {"standby.8": "man8", "standbyctl.8": "man8", "standby.cfg.5": "man5"}
COMMANDS = ("standby", "standbyctl")  # in /usr/sbin; their entry points: pyproject.toml
# pip must not reach any index: only the wheelhouse.
OFFLINE = {"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


# The environment the package's programs are probed in: compiled modules as installed.
PACKAGE_ENV = {name: value for name, value in os.environ.items() if name != "STANDBY_PURE"}


def run(*command: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
    print("deb:", " ".join(str(part) for part in command), flush=True)
    subprocess.run([str(part) for part in command], check=True, env=env, cwd=cwd)


def project() -> dict[str, Any]:
    return dict(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"])


def version() -> str:
    return str(project()["version"])


def source_date() -> int:
    if "SOURCE_DATE_EPOCH" in os.environ:
        return int(os.environ["SOURCE_DATE_EPOCH"])
    done = subprocess.run(
        ["git", "log", "-1", "--format=%ct"], cwd=ROOT, capture_output=True, text=True
    )
    return int(done.stdout.strip()) if done.returncode == 0 and done.stdout.strip() else 0


def build_env(wheels: Path) -> tuple[Path, dict[str, str]]:
    """A venv of Debian's Python with the build requirements and the vendored libraries."""
    env_dir = WORK / "python"
    shutil.rmtree(env_dir, ignore_errors=True)
    run(DEB_PYTHON, "-m", "venv", env_dir)
    env = {**os.environ, **OFFLINE, "PIP_FIND_LINKS": str(wheels)}
    env.pop("STANDBY_PURE", None)  # the package gets the compiled hot path
    python = env_dir / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", *BUILD_REQUIRES, *VENDORED, env=env)
    return python, env


def build_wheel(python: Path, env: dict[str, str]) -> Path:
    """standby's wheel, compiled by Debian's Python, from a copy of the sources (setup.py
    writes its stamp into the tree it builds)."""
    source = WORK / "source"
    shutil.rmtree(source, ignore_errors=True)
    source.mkdir(parents=True)
    for name in ("pyproject.toml", "setup.py", "README.md", "MANIFEST.in"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "typings", source / "typings")  # mypyc type-checks with them
    shutil.copytree(
        ROOT / "src",
        source / "src",
        ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.egg-info", "_compiled.json"),
    )
    out = WORK / "wheel"
    shutil.rmtree(out, ignore_errors=True)
    run(
        python, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
        "--wheel-dir", out, source, env=env,
    )  # fmt: skip
    (wheel,) = out.glob("standby-*.whl")
    return wheel


def install_private(python: Path, env: dict[str, str], wheel: Path, stage: Path) -> None:
    target = stage / PRIVATE
    run(
        python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile",
        "--target", target, wheel, *VENDORED, env=env,
    )  # fmt: skip
    shutil.rmtree(target / "bin", ignore_errors=True)  # pip's scripts: /usr/sbin has ours
    for cache in list(target.rglob("__pycache__")):
        shutil.rmtree(cache)
    compiled = [path for path in target.rglob("*.so")]
    if compiled:
        run("strip", "--strip-unneeded", "--remove-section=.comment", *compiled)
    # What standby -V will say, on the package's Python: both compiled parts load.
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); from standby.cli import main; main(['-V'])"
    )
    said = subprocess.run(
        [DEB_PYTHON, "-c", probe, str(target)],
        env={**PACKAGE_ENV, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    if "C fast path" not in said or "compiled (mypyc)" not in said:
        raise SystemExit(f"deb: the compiled parts do not load:\n{said}")


def install_file(source: Path | bytes, target: Path, mode: int = 0o644) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(source, bytes):
        target.write_bytes(source)
    else:
        shutil.copyfile(source, target)
    target.chmod(mode)


def gzipped(data: bytes) -> bytes:
    """gzip -9n: no name, no time stamp (reproducible, as lintian wants)."""
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=out, mtime=0) as file:
        file.write(data)
    return out.getvalue()


def dep5_license(name: str, text: str) -> str:
    lines = [line.removeprefix("//").rstrip() for line in text.strip().splitlines()]
    body = "\n".join(" " + line.strip() if line.strip() else " ." for line in lines)
    return f"\nLicense: {name}\n{body}\n"


def copyright_text(stage: Path) -> str:
    text = (DEBIAN / "copyright").read_text()
    licenses = {
        "BSD-3-Clause-re2": "google_re2-*.dist-info/licenses/LICENSE",
        "BSD-3-Clause-cryptography": "cryptography-*.dist-info/licenses/LICENSE.BSD",
    }
    for name, pattern in licenses.items():
        (found,) = (stage / PRIVATE).glob(pattern)
        text += dep5_license(name, found.read_text())
    return text


def changelog(full_version: str, date: int) -> bytes:
    stamp = subprocess.run(
        ["date", "-R", "-u", "-d", f"@{date}"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return (
        f"standby ({full_version}) unstable; urgency=medium\n\n"
        "  * Built from the standby source tree by make deb (tools/build_deb.py).\n\n"
        f" -- {MAINTAINER}  {stamp}\n"
    ).encode()


def install_rest(stage: Path, env: dict[str, str], full_version: str) -> None:
    date = source_date()
    launcher = (DEBIAN / "launcher").read_text()
    scripts = project()["scripts"]  # the entry points pip's console scripts would call
    for command in COMMANDS:
        module, function = scripts[command].split(":")
        text = launcher.format(command=command, module=module, function=function)
        install_file(text.encode(), stage / "usr/sbin" / command, 0o755)
    pages = WORK / "man"
    shutil.rmtree(pages, ignore_errors=True)
    # By the package's Python and modules, as the installed programs will run.
    page_env = {**env, "SOURCE_DATE_EPOCH": str(date), "PYTHONPATH": str(stage / PRIVATE)}
    page_env["PYTHONDONTWRITEBYTECODE"] = "1"
    run(DEB_PYTHON, "-m", "standby.mangen", pages, env=page_env)
    for name, section in MAN_SECTIONS.items():
        data = gzipped((pages / name).read_bytes())
        install_file(data, stage / "usr/share/man" / section / f"{name}.gz")
    install_file(DEBIAN / "standby.cfg", stage / "etc/standby/standby.cfg")
    for unit in sorted((CONTRIB / "systemd").glob("*")):
        install_file(unit, stage / "lib/systemd/system" / unit.name)
    for snippet in sorted((CONTRIB / "logrotate").glob("*")):
        install_file(snippet, stage / "etc/logrotate.d" / snippet.name)
    doc = stage / "usr/share/doc/standby"
    for name in DOCS:
        install_file(ROOT / name, doc / Path(name).name)
    install_file(copyright_text(stage).encode(), doc / "copyright")
    install_file(gzipped(changelog(full_version, date)), doc / "changelog.Debian.gz")


def installed_size(stage: Path) -> int:
    """In KiB, as dpkg counts: each file's size rounded up, plus one per directory."""
    total = 0
    for path in stage.rglob("*"):
        if path.is_relative_to(stage / "DEBIAN"):
            continue
        total += 1 if path.is_dir() else -(-path.stat().st_size // 1024)
    return total


def control_files(stage: Path, full_version: str, arch: str) -> None:
    control = stage / "DEBIAN"
    control.mkdir()
    fields = {
        "version": full_version,
        "arch": arch,
        "maintainer": MAINTAINER,
        "installed_size": installed_size(stage),
        "depends": ", ".join(DEPENDS),
    }
    install_file((DEBIAN / "control").read_text().format(**fields).encode(), control / "control")
    conffiles = sorted("/" + str(p.relative_to(stage)) for p in (stage / "etc").rglob("*"))
    conffiles = [name for name in conffiles if (stage / name.lstrip("/")).is_file()]
    install_file(("\n".join(conffiles) + "\n").encode(), control / "conffiles")
    for script in ("postinst", "prerm", "postrm"):
        install_file(DEBIAN / script, control / script, 0o755)
    sums = []
    for path in sorted(stage.rglob("*")):
        relative = path.relative_to(stage)
        if path.is_file() and relative.parts[0] not in ("DEBIAN", "etc"):
            sums.append(f"{hashlib.md5(path.read_bytes()).hexdigest()}  {relative}")
    install_file(("\n".join(sums) + "\n").encode(), control / "md5sums")


def normalise(stage: Path) -> None:
    """0755 directories, 0644 files except the executables; one time stamp."""
    date = source_date()
    for path in [stage, *stage.rglob("*")]:
        if path.is_dir():
            path.chmod(0o755)
        elif not path.stat().st_mode & 0o100:
            path.chmod(0o644)
        else:
            path.chmod(0o755)
        os.utime(path, (date, date), follow_symlinks=False)


def main() -> int:
    arch = subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()
    full_version = f"{version()}-{REVISION}"
    WORK.mkdir(parents=True, exist_ok=True)
    wheels = WORK / "wheels"
    shutil.rmtree(wheels, ignore_errors=True)
    wheelhouse.build(wheels)
    python, env = build_env(wheels)
    wheel = build_wheel(python, env)
    stage = WORK / f"standby_{full_version}_{arch}"
    shutil.rmtree(stage, ignore_errors=True)
    install_private(python, env, wheel, stage)
    with zipfile.ZipFile(wheel) as built:  # the C parsers and the compiled hot path
        assert any(name.endswith(".so") for name in built.namelist()), "nothing compiled"
    install_rest(stage, env, full_version)
    normalise(stage)
    control_files(stage, full_version, arch)
    normalise(stage)
    DIST.mkdir(exist_ok=True)
    package = DIST / f"standby_{full_version}_{arch}.deb"
    run("dpkg-deb", "--root-owner-group", "-Zxz", "--build", stage, package)
    print(package)
    return 0


if __name__ == "__main__":
    sys.exit(main())
