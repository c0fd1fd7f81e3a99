"""The compiled hot path (src/standby/compiled.py, setup.py): built when it must be, never
stale, and STANDBY_PURE=1 runs the source instead."""

from __future__ import annotations

import ast
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


# Bases a class compiled by mypyc may have. A native class may derive from another native
# class (one of the hot path's) or from the built-in exceptions mypyc supports; Protocol,
# Enum and NamedTuple classes mypyc leaves as Python classes. A regular Python class as a
# base (logging.StreamHandler, asyncio.Transport) makes a native class over a Python
# layout: with mypy 2.4 on Python 3.11 its instances corrupted the heap, and the test
# process crashed in garbage collection long after.
COMPILABLE_BASES = frozenset(
    {"Protocol", "Enum", "IntEnum", "NamedTuple", "Exception", "ValueError", "RuntimeError"}
)


def class_bases(source: str) -> list[tuple[str, str]]:
    """(class, base) for every base of every class in a module's source, the base by its
    last dotted name."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef):
            for base in node.bases:
                target = base.value if isinstance(base, ast.Subscript) else base
                name = target.attr if isinstance(target, ast.Attribute) else ast.unparse(target)
                found.append((node.name, name))
    return found


def test_compiled_classes_derive_only_from_what_mypyc_makes_native() -> None:
    sources = {name: source_of(name) for name in compiled.HOT_PATH}
    native = {
        node.name
        for source in sources.values()
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ClassDef)
    }
    wrong = [
        f"{module}: class {cls}({base})"
        for module, source in sources.items()
        for cls, base in class_bases(source)
        if base not in COMPILABLE_BASES and base not in native
    ]
    assert not wrong, wrong


def test_the_rule_sees_a_python_base() -> None:
    bases = class_bases(
        "import logging, asyncio\n"
        "class H(logging.StreamHandler): pass\n"
        "class T(asyncio.Transport): pass\n"
        "class P(typing.Protocol[int]): pass\n"
    )
    assert bases == [("H", "StreamHandler"), ("T", "Transport"), ("P", "Protocol")]


def source_of(name: str) -> str:
    path = Path(compiled.__file__).parent.parent.joinpath(*name.split(".")).with_suffix(".py")
    return path.read_text()


def test_many_pound_style_handlers_leave_logging_sound() -> None:
    # The crash the rule above prevents, as it was met: handlers made and dropped (as each
    # test that starts standby in process does), then logging's shutdown at exit walks its
    # weak references to them. Run in a process of its own, the build as installed.
    code = (
        "import io, logging\n"
        "from standby.observe import logsetup\n"
        "for _ in range(3000):\n"
        "    handler = logsetup.make_handler('-', to_stderr=True, stream=io.StringIO(),\n"
        "                                    style=logsetup.STYLE_POUND)\n"
        "    logsetup.access_emitter()\n"
        "    handler.close()\n"
        "logging.shutdown()\n"
        "print('sound')\n"
    )
    done = subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", code],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "sound\n", "")
