"""Which modules run compiled, and the way back to running them interpreted.

The modules of the request hot path (``HOT_PATH``) are compiled from their own typed source
by mypyc when standby is built (setup.py reads the list from here). Python imports an
extension module in preference to the ``.py`` beside it, so a build runs them compiled;
``STANDBY_PURE=1`` in the environment (checked when the ``standby`` package is imported)
makes it import the source instead: the same code, interpreted. That is how profilers and
bytecode counts see the hot path (bench/shell_cost.py), how the test suite checks the
interpreted run as well, and a way out should compiled code ever be suspected in the field.

This module is imported by setup.py before anything is built: standard library only.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import sys
from collections.abc import Sequence
from types import ModuleType

# Every request runs through these. A module here may only hold classes mypyc can make
# native (their bases, if any, also listed here, or built-in exceptions; never a Python
# class such as a logging handler: tests/test_compiled.py) and is never monkeypatched; what its
# functions read per request from module level is Final (a C static, not a dict lookup).
HOT_PATH = (
    "standby.server.seam",
    "standby.server.lane",
    "standby.server.client",
    "standby.server.exchange",
    "standby.server.shared",
    "standby.server.policy",
    "standby.upstream.pool",
    "standby.upstream.protocol",
    "standby.balance.balancer",
    "standby.balance.sessions",  # issue 15: the sticky choice, per request with a Session
    "standby.routing",
    "standby.http1.edit",  # issue 15: header edits, per request where configured
    "standby.observe.metrics",
    "standby.health.board",
    "standby.model",
    "standby.observe.logsetup",
    "standby.server.stats",
)

PURE_VARIABLE = "STANDBY_PURE"
# setup.py writes this file beside this module: the SHA-256 of each module's source as
# compiled.
STAMP_NAME = "_compiled.json"


def pure_wanted() -> bool:
    """Whether ``STANDBY_PURE=1`` asks for the interpreted source."""
    return os.environ.get(PURE_VARIABLE) == "1"


class _SourceFirst:
    """Finds a standby module's ``.py`` file before the regular finders see its extension
    module. Packages and modules without source (the C parsers) are left to them. A meta
    path finder needs only ``find_spec``: no ``importlib.abc`` base, whose import (it pulls
    in ``importlib.resources``, ``tempfile``, ``zipfile``...) cost every ``standbyctl
    check`` some 18 ms."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if path is None or not fullname.startswith("standby."):
            return None
        import importlib.util  # here: it imports contextlib and more, for STANDBY_PURE only

        leaf = fullname.rpartition(".")[2]
        for entry in path:
            source = os.path.join(entry, leaf + ".py")
            if os.path.isfile(source):
                return importlib.util.spec_from_file_location(fullname, source)
        return None


def prefer_source() -> None:
    """From now on, import standby's modules from their source (idempotent)."""
    if not any(isinstance(finder, _SourceFirst) for finder in sys.meta_path):
        sys.meta_path.insert(0, _SourceFirst())


def is_compiled(module: ModuleType) -> bool:
    """Whether ``module`` was loaded from an extension module (mypyc's output)."""
    return isinstance(getattr(module, "__loader__", None), importlib.machinery.ExtensionFileLoader)


def compiled_names() -> list[str]:
    """The ``HOT_PATH`` modules that run compiled in this process (imports them all)."""
    return [name for name in HOT_PATH if is_compiled(importlib.import_module(name))]


def describe() -> str:
    """For ``standby -V``: how the hot path runs."""
    count = len(compiled_names())
    if count == len(HOT_PATH):
        return "compiled (mypyc)"
    if count == 0:
        return "interpreted"
    return f"partly compiled ({count} of {len(HOT_PATH)} modules)"
