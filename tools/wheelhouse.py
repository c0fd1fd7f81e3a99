"""Wheels of distributions installed in this Python environment, made from the installed
files (no download): ``python tools/wheelhouse.py DIR [NAME...]``.

The packaging tests and ``make deb`` install standby offline: pip is pointed at this
directory (``--no-index --find-links DIR``) for standby's dependencies and its build
requirements (setuptools, wheel, mypy, cryptography), which are all in the development venv
already. A wheel is its files plus its ``.dist-info``; what pip wrote at install time (the
console scripts, INSTALLER, direct_url.json, the byte code) is left out, and RECORD is made
anew. The NAMEs and what they require, as installed; without NAMEs, what installing
standby from its sdist needs (pyproject.toml: build-system.requires, dependencies, pip).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
import re
import sys
import tomllib
import zipfile
from collections.abc import Iterable
from pathlib import Path

from packaging.requirements import Requirement

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
# pipx upgrades the pip of its venvs: offline, it must find one here.
INSTALLER = ("pip",)
# Written by the installer, not part of the wheel.
INSTALLER_FILES = frozenset({"INSTALLER", "REQUESTED", "direct_url.json", "RECORD"})


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _editable(dist: importlib.metadata.Distribution) -> bool:
    text = dist.read_text("direct_url.json")
    return bool(text) and bool(json.loads(text).get("dir_info", {}).get("editable"))


def _tag(dist: importlib.metadata.Distribution) -> str:
    """The wheel's compatibility tag from its WHEEL file (several tags: compressed set)."""
    tags = [
        line.split(":", 1)[1].strip()
        for line in (dist.read_text("WHEEL") or "").splitlines()
        if line.startswith("Tag:")
    ]
    if not tags:
        return "py3-none-any"
    parts = [sorted({tag.split("-")[i] for tag in tags}) for i in range(3)]
    return "-".join(".".join(part) for part in parts)


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def repack(dist: importlib.metadata.Distribution, directory: Path) -> Path:
    name = _normal(dist.metadata["Name"])
    version = dist.version
    info = f"{name}-{version}.dist-info"
    target = directory / f"{name}-{version}-{_tag(dist)}.whl"
    record: list[str] = []
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as wheel:
        for file in dist.files or ():
            path = file.as_posix()
            parts = file.parts
            if path.startswith("..") or "__pycache__" in parts or path.endswith(".pyc"):
                continue
            if parts[0].endswith(".dist-info"):
                if parts[-1] in INSTALLER_FILES:
                    continue
                path = "/".join((info, *parts[1:]))
            data = Path(str(file.locate())).read_bytes()
            wheel.writestr(path, data)
            record.append(f"{path},sha256={_digest(data)},{len(data)}")
        record.append(f"{info}/RECORD,,")
        wheel.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return target


def requirements_closure(names: Iterable[str]) -> set[str]:
    """``names`` and every distribution they require, as installed here (markers evaluated
    for this interpreter, extras left out)."""
    wanted: set[str] = set()
    queue = [Requirement(name) for name in names]
    while queue:
        requirement = queue.pop()
        name = _normal(requirement.name)
        marker = requirement.marker
        if name in wanted or (marker is not None and not marker.evaluate({"extra": ""})):
            continue
        wanted.add(name)
        queue.extend(Requirement(text) for text in importlib.metadata.requires(name) or ())
    return wanted


def standby_needs() -> list[str]:
    """What installing standby from its sdist needs: its build requirements, its
    dependencies, pip."""
    pyproject = tomllib.loads(PYPROJECT.read_text())
    build_requires = pyproject["build-system"]["requires"]
    return [*build_requires, *pyproject["project"]["dependencies"], *INSTALLER]


def build(directory: Path, names: Iterable[str] | None = None) -> list[Path]:
    """Wheels of ``names`` (default: ``standby_needs()``) and what they require."""
    directory.mkdir(parents=True, exist_ok=True)
    wanted = requirements_closure(standby_needs() if names is None else names)
    made = []
    for dist in importlib.metadata.distributions():
        name = _normal(dist.metadata["Name"])
        if name in wanted and not _editable(dist):
            made.append(repack(dist, directory))
            wanted.discard(name)  # the first on sys.path, as an import would find it
    if wanted:
        raise SystemExit(f"wheelhouse: not installed here: {', '.join(sorted(wanted))}")
    return made


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 1
    for path in build(Path(sys.argv[1]), sys.argv[2:] or None):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
