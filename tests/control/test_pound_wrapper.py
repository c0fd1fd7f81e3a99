"""contrib/pound-compat/pound hands Pound itself its command line unchanged (to compare,
tools/pound-testsuite.sh runs Pound's suite with STANDBY naming Pound 4.23), and standby
the same line after standby's own options."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.harness import REPO

WRAPPER = str(REPO / "contrib" / "pound-compat" / "pound")
DEADLINE = 60.0


def args_seen(tmp_path: Path, name: str, env: dict[str, str]) -> list[str]:
    """The arguments a program called ``name`` gets from the wrapper."""
    record = tmp_path / f"{name}.args"
    program = tmp_path / name
    program.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{record}"\n')
    program.chmod(0o755)
    subprocess.run(
        [WRAPPER, "-e", "-f", "pound.cfg", "-W", "no-dns"],
        env={**os.environ, **env, "STANDBY": str(program)},
        timeout=DEADLINE,
        stdin=subprocess.DEVNULL,
        check=True,
    )
    return record.read_text().splitlines()


@pytest.mark.parametrize("workers", ["", "2"])
def test_pound_itself_gets_its_command_line_unchanged(tmp_path: Path, workers: str) -> None:
    seen = args_seen(tmp_path, "pound", {"STANDBY_WORKERS": workers})
    assert seen == ["-e", "-f", "pound.cfg", "-W", "no-dns"]


def test_standby_gets_pounds_log_style_and_the_workers_asked_for(tmp_path: Path) -> None:
    seen = args_seen(tmp_path, "standby", {"STANDBY_WORKERS": "2"})
    assert seen == [
        "--workers",
        "2",
        "--log-style",
        "pound",
        "-e",
        "-f",
        "pound.cfg",
        "-W",
        "no-dns",
    ]
