"""The compiled hot path (src/standby/compiled.py, setup.py): built when it must be, never
stale, and STANDBY_PURE=1 runs the source instead."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from hashlib import sha256
from pathlib import Path

import pytest

from standby import compiled

RUN_TIMEOUT = 120.0  # s; an interpreter start and a few imports


def loaded(name: str) -> Path:
    return Path(importlib.import_module(name).__file__ or "")


def test_the_hot_path_is_compiled_where_the_build_must_be() -> None:
    # CI builds the compiled parts and insists on them (.ci/run), as for the C parsers.
    if os.environ.get("STANDBY_REQUIRE_SPEEDUPS") != "1":
        pytest.skip("the compiled parts are optional outside CI")
    if compiled.pure_wanted():
        pytest.skip("STANDBY_PURE=1: the source runs on purpose")
    assert compiled.compiled_names() == list(compiled.HOT_PATH)
    assert compiled.describe() == "compiled (mypyc)"


def test_no_compiled_module_is_older_than_its_source() -> None:
    # Python prefers the extension module to the .py beside it: after an edit, a stale one
    # would run (and be tested) instead of the edited code. `make` rebuilds; so must you.
    names = compiled.compiled_names()
    if not names:
        pytest.skip("nothing compiled")
    stamp = Path(compiled.__file__).with_name(compiled.STAMP_NAME)
    assert stamp.exists(), f"no {stamp.name} beside the compiled modules: rebuild"
    built = json.loads(stamp.read_text())
    stale = []
    for name in names:
        source = loaded(name).parent / (name.rpartition(".")[2] + ".py")
        if sha256(source.read_bytes()).hexdigest() != built.get(name):
            stale.append(source.name)
    assert not stale, f"edited since compiled: {', '.join(stale)}; rebuild (make venv)"


def run_pure(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, compiled.PURE_VARIABLE: "1"},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_pure_runs_every_hot_path_module_from_its_source() -> None:
    out = run_pure(
        "import importlib\n"
        "from standby import compiled\n"
        "for name in compiled.HOT_PATH:\n"
        "    print(importlib.import_module(name).__file__)\n"
        "print(compiled.describe())\n"
    )
    *files, description = out.splitlines()
    assert len(files) == len(compiled.HOT_PATH)
    assert all(file.endswith(".py") for file in files), files
    assert description == "interpreted"


def test_pure_leaves_the_c_parsers_and_the_packages_alone() -> None:
    # The C module has no source to prefer; it has its own Python stand-ins (fastpath.py).
    code = (
        "from standby.http1 import speedups_loaded\n"
        "import standby.server, standby.health.prober\n"
        "print(speedups_loaded())\n"
    )
    from standby.http1 import speedups_loaded

    assert run_pure(code).strip() == str(speedups_loaded())
