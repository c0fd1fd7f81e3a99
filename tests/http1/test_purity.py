"""standby.http1 is pure core: it must not import I/O, time or threading modules."""

from __future__ import annotations

import ast
from pathlib import Path

import standby.http1

FORBIDDEN = {"asyncio", "socket", "ssl", "time", "select", "selectors", "threading"}


def test_http1_imports_no_io_modules() -> None:
    package = Path(standby.http1.__file__).parent
    files = sorted(package.glob("*.py"))
    assert len(files) >= 5
    for path in files:
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                roots = {(node.module or "").split(".")[0]}
            else:
                continue
            assert not roots & FORBIDDEN, f"{path.name} imports {roots & FORBIDDEN}"
