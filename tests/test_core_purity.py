"""The pure core imports no I/O: checked on the source (AST), for every file, by globbing.

Pure modules decide; the shell (server, upstream, process, control, the prober) does I/O.
A pure module may import standby modules only if they are pure too (importing a module runs
its packages' ``__init__`` files, so those must be pure as well). ``clock.py`` is the one
place allowed to read the time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import standby

SRC = Path(standby.__file__).resolve().parent

PURE_GLOBS = (
    "__init__.py",
    "compiled.py",  # where the hot path's modules load from (an import hook): no I/O
    "model.py",
    "clock.py",
    "routing.py",
    "acl.py",
    "htpasswd.py",
    "syscrypt.py",  # crypt(3) through ctypes: a computation (the library loads at import)
    "config/**/*.py",
    "http1/**/*.py",
    "balance/**/*.py",
    "health/__init__.py",
    "health/board.py",
    "health/check.py",
    "cache/__init__.py",
    "cache/policy.py",
    "cache/entry.py",
    "cache/services.py",
    "control/view.py",
    "control/api.py",
    "control/status.py",
    "observe/__init__.py",
    "control/__init__.py",
    "observe/metrics.py",
    "observe/logformat.py",
    "acme/__init__.py",
    "acme/challenge.py",
    "acme/jws.py",
    "acme/problems.py",
    "acme/order.py",
    "acme/schedule.py",
    "tls/__init__.py",
    "tls/names.py",
    "tls/pem.py",
    "tls/policy.py",
    "dns/__init__.py",  # issue 15: the wire format and the decisions; client, tracker: shell
    "dns/wire.py",
    "dns/chain.py",
    "dns/resolvconf.py",
    "dns/expand.py",
    "server/tbf.py",  # the token buckets: the shell (server/ratelimit.py) brings the time
)
FORBIDDEN = frozenset({"asyncio", "socket", "ssl", "time", "select", "selectors", "threading"})
ALLOWED = {"standby.clock": frozenset({"time"})}  # SystemClock lives there, and only there
SHELL = (
    "standby.server",
    "standby.upstream",
    "standby.process",
    "standby.control.server",
    "standby.control.ctl",
    "standby.cli",
    "standby.__main__",
    "standby.health.prober",
    "standby.cache.store",
    "standby.acme.responder",
    "standby.acme.store",
    "standby.acme.session",
    "standby.acme.manager",
    "standby.dns.client",
    "standby.dns.tracker",
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def pure_modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for pattern in PURE_GLOBS:
        for path in sorted(SRC.glob(pattern)):
            found[module_name(path)] = path
    return found


def imported_modules(source: str, module: str, is_package: bool) -> set[str]:
    """Every module a source file imports, relative imports resolved, ``from x import y``
    counted as both ``x`` and ``x.y`` (y may be a submodule)."""
    package = module if is_package else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(p for p in (*base_parts, node.module or "") if p)
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def is_pure_standby_module(name: str, pure: dict[str, Path]) -> bool:
    """True if ``name`` and every package above it are pure (or ``name`` is not a module
    but a name defined in a pure module, as in ``from standby.model import ListenerSpec``)."""
    parts = name.split(".")
    for i in range(1, len(parts) + 1):
        prefix = ".".join(parts[:i])
        if prefix in pure:
            continue
        exists = (SRC.parent / Path(*parts[:i])).with_suffix(".py").exists() or (
            SRC.parent / Path(*parts[:i]) / "__init__.py"
        ).exists()
        if exists:
            return False  # a real module outside the pure set
        return ".".join(parts[: i - 1]) in pure  # a class/function of a pure module
    return True


def violations(module: str, source: str, is_package: bool, pure: dict[str, Path]) -> list[str]:
    problems = []
    allowed = ALLOWED.get(module, frozenset())
    for name in sorted(imported_modules(source, module, is_package)):
        top = name.split(".")[0]
        if top in FORBIDDEN and top not in allowed:
            problems.append(f"{module} imports {name}")
        elif name in SHELL or name.startswith(tuple(s + "." for s in SHELL)):
            problems.append(f"{module} imports the shell module {name}")
        elif top == "standby" and not is_pure_standby_module(name, pure):
            problems.append(f"{module} imports {name}, which is not part of the pure core")
    return problems


PURE = pure_modules()


def test_the_pure_core_is_discovered() -> None:
    for expected in ("standby.model", "standby.routing", "standby.health.board", "standby.clock"):
        assert expected in PURE
    assert any(name.startswith("standby.balance.") for name in PURE)
    assert "standby.health.prober" not in PURE


@pytest.mark.parametrize("module", sorted(PURE))
def test_pure_module_imports_no_io(module: str) -> None:
    path = PURE[module]
    problems = violations(module, path.read_text(), path.name == "__init__.py", PURE)
    assert problems == []


@pytest.mark.parametrize(
    ("source", "module", "expected"),
    [
        ("import asyncio", "standby.routing", "standby.routing imports asyncio"),
        ("from time import monotonic", "standby.routing", "standby.routing imports time"),
        ("import selectors as s", "standby.model", "standby.model imports selectors"),
        ("import os.path\nimport ssl", "standby.model", "standby.model imports ssl"),
        (
            "from ..server import protocol",
            "standby.balance.balancer",
            "standby.balance.balancer imports the shell module standby.server",
        ),
        (
            "from standby.health import prober",
            "standby.routing",
            "standby.routing imports the shell module standby.health.prober",
        ),
        (
            "def f():\n    import threading",
            "standby.health.board",
            "standby.health.board imports threading",
        ),
        (
            "from standby.demo import settings",
            "standby.routing",
            "standby.routing imports standby.demo, which is not part of the pure core",
        ),
    ],
)
def test_the_checker_catches_violations(source: str, module: str, expected: str) -> None:
    assert expected in violations(module, source, False, PURE)


def test_the_checker_accepts_what_is_allowed() -> None:
    assert violations("standby.clock", "import time", False, PURE) == []
    ok = "import re\nfrom standby.model import ServiceSpec\nfrom . import board"
    assert violations("standby.health.board", ok, False, PURE) == []
