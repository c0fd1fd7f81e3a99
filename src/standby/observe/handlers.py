"""The logging handler classes of standby's own making, kept out of the compiled hot path.

A class in a module compiled by mypyc (standby/compiled.py) with a regular Python class as
its base, as every logging handler has, becomes a native class over a Python layout; with
mypy 2.4 on Python 3.11 its instances corrupted the heap (logging's weak references to
handlers came back as other objects and the process crashed in garbage collection). Here,
interpreted, it is an ordinary subclass.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TextIO


class PoundStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """stderr in the "pound" style: each message after ``prefix`` (``pound: ``), and only
    the records ``worthy`` lets through (logsetup decides which)."""

    def __init__(
        self, stream: TextIO, prefix: str, worthy: Callable[[logging.LogRecord], bool]
    ) -> None:
        super().__init__(stream)
        self.setFormatter(logging.Formatter(prefix + "%(message)s"))
        self.addFilter(worthy)
