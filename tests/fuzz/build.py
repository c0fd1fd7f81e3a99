"""The C module built for the fuzzer, out of tree (build/fuzz/), for the fuzz process only.

- ``sanitized_extension()``: AddressSanitizer, UndefinedBehaviorSanitizer and libFuzzer's
  coverage counters. Its runtime (ASan and UBSan with libFuzzer linked in) is atheris's
  ``asan_with_fuzzer.so``, preloaded into the fuzz process (tests/fuzz/run.py).
- ``coverage_extension()``: clang's source-based coverage, to measure which lines of
  _speedups.c a corpus reaches (``make fuzz`` reports it when llvm-cov is installed).

The normal in-place build that ``make`` makes is never touched: the harness loads one of
these under the same module name (tests/fuzz/harness.py). Run as
``python -m tests.fuzz.build`` to build the sanitized one and print its path.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "src" / "standby" / "http1" / "_speedups.c"
OUT_DIR = REPO / "build" / "fuzz"
MODULE_FILE = "_speedups" + str(sysconfig.get_config_var("EXT_SUFFIX"))

# The fuzzer needs clang: libFuzzer's instrumentation and the sanitizers are clang's.
CC = "clang"
COMMON = ("-g", "-fPIC", "-shared", "-Wall", "-Wextra", "-Wno-unused-parameter")
SANITIZED = (
    # UBSan aborts at the first report (recovering would let a bug pass as a warning).
    "-fsanitize=address,undefined,fuzzer-no-link",
    "-fno-sanitize-recover=undefined",
    "-fno-omit-frame-pointer",
    "-O1",
)
COVERAGE = ("-fprofile-instr-generate", "-fcoverage-mapping", "-O0")


def missing_compiler() -> str | None:
    """Why the sanitized build cannot be made here, or None."""
    if shutil.which(CC) is None:
        return f"{CC} not found (Debian: apt-get install clang libclang-rt-14-dev)"
    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if not headers.exists():
        return f"Python's headers not found ({headers})"
    return None


def _build(flags: tuple[str, ...], out_dir: Path) -> Path:
    """Build into ``out_dir`` when the source or the flags changed since the last build."""
    target = out_dir / MODULE_FILE
    stamp = out_dir / "_speedups.stamp"
    include = sysconfig.get_paths()["include"]
    argv = [CC, *COMMON, *flags, "-I", include, str(SOURCE)]
    digest = hashlib.sha256(SOURCE.read_bytes() + "\0".join(argv).encode()).hexdigest()
    if target.exists() and stamp.exists() and stamp.read_text() == digest:
        return target
    out_dir.mkdir(parents=True, exist_ok=True)
    # Built beside it, then renamed: a fuzz run loading the module never sees half a file.
    partial = target.with_name(f".{target.name}.{os.getpid()}")
    done = subprocess.run([*argv, "-o", str(partial)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"build failed ({' '.join(argv)}):\n{done.stderr}")
    if done.stderr.strip():  # warnings: worth seeing, not fatal (gcc builds the real one)
        print(done.stderr, file=sys.stderr)
    os.replace(partial, target)
    stamp.write_text(digest)
    return target


def sanitized_extension() -> Path:
    return _build(SANITIZED, OUT_DIR)


def coverage_extension() -> Path:
    return _build(COVERAGE, OUT_DIR / "coverage")


if __name__ == "__main__":
    problem = missing_compiler()
    if problem:
        sys.exit(f"build: {problem}")
    print(sanitized_extension())
