"""The control API, the view protocol and the metrics renderer decide; they do no I/O."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import standby

SRC = Path(standby.__file__).resolve().parent
PURE = ("control/__init__.py", "control/view.py", "control/api.py", "observe/metrics.py")
FORBIDDEN = frozenset({"asyncio", "socket", "ssl", "time", "select", "selectors", "threading"})
SHELL = ("standby.control.server", "standby.control.ctl", "standby.server", "standby.process")


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("relative", PURE)
def test_pure_module_imports_no_io(relative: str) -> None:
    for name in imports(SRC / relative):
        assert name.split(".")[0] not in FORBIDDEN, f"{relative} imports {name}"
        assert not name.startswith(SHELL), f"{relative} imports the shell module {name}"
