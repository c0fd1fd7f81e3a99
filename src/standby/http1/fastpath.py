"""The optional C module (``_speedups.c``): how a Python function gets its C stand-in.

Each C function takes the common, plain cases and calls the Python function it stands in
for, the reference, for all the others; without the C module (no compiler at install) the
Python function is used alone, with the same results, more slowly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

try:
    from standby.http1 import _speedups
except ImportError:  # pragma: no cover - built by setup.py; CI requires it
    _speedups = None  # type: ignore[assignment]

F = TypeVar("F", bound=Callable[..., Any])


def with_c(name: str, reference: F) -> F:
    """The C function ``name`` of ``_speedups``, bound to call ``reference`` for the cases
    it leaves to it (``bind_<name>``); ``reference`` itself without the C module."""
    if _speedups is None:
        return reference
    getattr(_speedups, f"bind_{name}")(reference)
    return cast(F, getattr(_speedups, name))
