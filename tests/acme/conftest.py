"""pebble is needed by the end-to-end tests: CI installs it (.ci/run) and there they fail
without it; a developer's machine without it skips them, saying why."""

from __future__ import annotations

import os
import shutil

import pytest

END_TO_END = ("test_pebble.py", "test_workers.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if os.environ.get("CI") or (shutil.which("pebble") and shutil.which("pebble-challtestsrv")):
        return
    skip = pytest.mark.skip(reason="pebble is not installed (Debian package pebble)")
    for item in items:
        if item.path.name in END_TO_END:
            item.add_marker(skip)
