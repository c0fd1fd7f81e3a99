"""Wheels of the distributions installed in this Python environment, made from the installed
files (no download): ``python tools/wheelhouse.py DIR [NAME...]``.

The packaging tests and ``make deb`` install standby offline: pip is pointed at this
directory (``--no-index --find-links DIR``) for standby's dependencies and its build
requirements (setuptools, wheel, mypy), which are all in the development venv already.
A wheel is its files plus its ``.dist-info``; what pip wrote at install time (the console
scripts, INSTALLER, direct_url.json, the byte code) is left out, and RECORD is made anew.
Editable installs and standby itself are skipped. Without NAMEs, every distribution.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
import re
import sys
import zipfile
from pathlib import Path

# What is being built (installed editable here). pip is kept: pipx upgrades its own.
SKIPPED = frozenset({"standby"})
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


def build(directory: Path, names: list[str] | None = None) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    wanted = {_normal(name) for name in names} if names else None
    made = []
    for dist in importlib.metadata.distributions():
        name = _normal(dist.metadata["Name"])
        if name in SKIPPED or _editable(dist) or (wanted is not None and name not in wanted):
            continue
        made.append(repack(dist, directory))
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
