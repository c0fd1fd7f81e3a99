"""Build hook for the compiled parts; everything else is in pyproject.toml.

Two things are compiled, and both are optional: without them standby runs the very same
Python source, interpreted, only slower.

- The C fast path of the HTTP head parsers (src/standby/http1/_speedups.c). Without a C
  compiler the install still succeeds and the pure-Python parsers give the same results
  (tests/http1/test_speedups.py compares them).
- The modules of the request hot path, compiled from their typed Python source by mypyc
  (part of mypy, which already checks them strictly). Their classes become native: an
  attribute is a struct field, a call between them a C call. That is most of standby's own
  time per request (docs/architecture.md: "The hot path compiled by mypyc"). Skipped
  without a C compiler, or with STANDBY_PURE=1 in the environment (which also makes an
  installed standby run the source of those modules instead: src/standby/compiled.py).
"""

import json
import os
import runpy
import shutil
import sys
import sysconfig
from hashlib import sha256
from pathlib import Path

from setuptools import Extension, setup

# The hot path (src/standby/compiled.py names its modules; read without importing standby).
_COMPILED = runpy.run_path("src/standby/compiled.py")
HOT_PATH = _COMPILED["HOT_PATH"]
STAMP = Path("src/standby") / _COMPILED["STAMP_NAME"]


def can_compile() -> bool:
    """A C compiler and Python's headers: what both builds need."""
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    headers = os.path.join(sysconfig.get_paths()["include"], "Python.h")
    return shutil.which(cc.split()[0]) is not None and os.path.exists(headers)


COMPILER_MISSING = (
    "setup.py: no C compiler ({cc}) or no Python headers (Python.h): standby is built "
    "without its compiled parts and runs as pure Python (the same behaviour, slower). "
    "On Debian: apt-get install gcc python3-dev"
)


def c_parsers() -> list[Extension]:
    if not can_compile():  # the optional build would fail with a compiler's error
        cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
        print(COMPILER_MISSING.format(cc=cc), file=sys.stderr)
        return []
    return [
        Extension(
            "standby.http1._speedups",
            sources=["src/standby/http1/_speedups.c"],
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
            optional=True,
        )
    ]


def compiled_modules() -> list[Extension]:
    if _COMPILED["pure_wanted"]() or not can_compile():
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:  # mypy is a build requirement; a bare `setup.py` run may lack it
        print("setup.py: mypyc not found; the hot path stays interpreted", file=sys.stderr)
        return []
    sources = ["src/" + name.replace(".", "/") + ".py" for name in HOT_PATH]
    extensions: list[Extension] = mypycify(sources, opt_level="3", group_name="standby")
    # What was compiled, by content: tests/test_compiled.py fails on a source edited since
    # (Python would go on importing the stale build instead of it). Not installed.
    digests = {
        name: sha256(Path(path).read_bytes()).hexdigest()
        for name, path in zip(HOT_PATH, sources, strict=True)
    }
    STAMP.write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")
    return extensions


setup(ext_modules=[*c_parsers(), *compiled_modules()])
