"""Fixtures of the robustness suite: a ``scenario`` recorder per test."""

from __future__ import annotations

import pytest

from tests.robustness.report import Scenario


@pytest.fixture
def scenario(request: pytest.FixtureRequest) -> Scenario:
    """A recorder named after the test, with the command that reproduces it."""
    name = request.node.name.removeprefix("test_").replace("_", " ")
    return Scenario(name, f"python -m pytest '{request.node.nodeid}'")
