"""The optional C module (``_speedups.c``): how a Python function gets its C stand-in.

Each C function takes the common, plain cases and calls the Python function it stands in
for, the reference, for all the others; without the C module (no compiler at install) the
Python function is used alone, with the same results, more slowly. ``speedups`` is the
module, or None without it: the only place it is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

try:
    from standby.http1 import _speedups as speedups
except ImportError:  # pragma: no cover - depends on the install; CI requires it
    speedups = None  # type: ignore[assignment]

__all__ = ["speedups", "with_c"]

F = TypeVar("F", bound=Callable[..., Any])


def with_c(name: str, reference: F) -> F:
    """The C function ``name`` of ``_speedups``, bound to call ``reference`` for the cases
    it leaves to it (``bind_<name>``); ``reference`` itself without the C module."""
    if speedups is None:
        return reference
    getattr(speedups, f"bind_{name}")(reference)
    return cast(F, getattr(speedups, name))
