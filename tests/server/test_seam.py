"""Imports among the server modules run one way (the client seam, server/seam.py).

Checked on the source (AST), for every module of src/standby/server, by globbing: every
import counts, those under ``if TYPE_CHECKING:`` and inside functions too (a type-only
back-reference is how the client/exchange/lane circle once hid).
"""

from __future__ import annotations

import pytest
from tests.test_core_purity import SRC, imported_modules, module_name

SERVER = SRC / "server"
PACKAGE = "standby.server"


def import_graph(sources: dict[str, str]) -> dict[str, set[str]]:
    """Module -> the modules of ``sources`` it imports (``from standby.server import x``
    counts as importing ``standby.server.x``)."""
    graph: dict[str, set[str]] = {}
    for module, source in sources.items():
        names = imported_modules(source, module, module == PACKAGE)
        graph[module] = {name for name in names if name in sources and name != module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def server_sources() -> dict[str, str]:
    return {module_name(path): path.read_text() for path in sorted(SERVER.glob("*.py"))}


SOURCES = server_sources()
GRAPH = import_graph(SOURCES)


def test_the_server_modules_are_discovered() -> None:
    for expected in ("standby.server.client", "standby.server.exchange", "standby.server.seam"):
        assert expected in GRAPH
    assert "standby.server.seam" in GRAPH["standby.server.exchange"]


def test_no_cycle_among_the_server_modules() -> None:
    assert cycles(GRAPH) == []


@pytest.mark.parametrize("module", ["standby.server.exchange", "standby.server.lane"])
def test_what_serves_a_client_knows_it_only_through_the_seam(module: str) -> None:
    assert "standby.server.client" not in GRAPH[module]
    assert "standby.server.seam" in GRAPH[module]


def test_the_seam_imports_no_client_exchange_or_lane() -> None:
    assert GRAPH["standby.server.seam"] <= {"standby.server.shared"}


@pytest.mark.parametrize(
    ("sources", "expected"),
    [
        (  # the circle as it was: type-only imports back to the client
            {
                "standby.server.client": "from standby.server.exchange import Exchange\n"
                "from standby.server.lane import Lane",
                "standby.server.exchange": "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from standby.server.client import ClientProtocol",
                "standby.server.lane": "from standby.server.exchange import Exchange\n"
                "if TYPE_CHECKING:\n    from standby.server.client import ClientProtocol",
            },
            [["standby.server.client", "standby.server.exchange", "standby.server.lane"]],
        ),
        (  # a relative import inside a function, through the package
            {
                "standby.server.a": "from . import b",
                "standby.server.b": "def f():\n    from standby.server import a",
                "standby.server.c": "from standby.server.a import x",
            },
            [["standby.server.a", "standby.server.b"]],
        ),
        (  # one way: no cycle
            {
                "standby.server.a": "from standby.server.b import x\nimport standby.server.c",
                "standby.server.b": "from standby.server.c import y",
                "standby.server.c": "import asyncio",
            },
            [],
        ),
    ],
)
def test_the_checker_finds_cycles(sources: dict[str, str], expected: list[list[str]]) -> None:
    assert cycles(import_graph(sources)) == expected
