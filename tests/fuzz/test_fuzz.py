"""A bounded run of the fuzzer of the C head parsers, part of ``make test`` (issue 12).

tests/fuzz/run.py builds _speedups.c with ASan and UBSan and runs tests/fuzz/harness.py
under libFuzzer, in its own process; ``make fuzz`` runs the same longer. In CI (CI=true) a
missing toolchain fails these tests: .ci/run installs clang and its sanitizer runtime, and
atheris comes with the ``test`` extra. Elsewhere they skip and say what is missing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fuzz import run

# Of the two minutes the issue allows this run in `make test`: the sanitized build takes a
# second or two, starting Python under ASan and running the seeds a few more.
BOUNDED_SECONDS = 60
# The self-check needs only the seconds to start and meet its one input.
CANARY_SECONDS = 30


def require_fuzzer() -> None:
    problem = run.missing()
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI runs the fuzzer, but: {problem}")
    pytest.skip(f"the fuzzer cannot run here: {problem}")


def test_a_bounded_fuzz_run_finds_nothing(tmp_path: Path) -> None:
    require_fuzzer()
    result = run.fuzz(BOUNDED_SECONDS, tmp_path / "corpus", tmp_path / "crashes", quiet=True)
    # A crash prints its input, the reproducer command and the report (the sanitizer's, or
    # the disagreement with both answers).
    assert not result.failed, result.summary()
    seeds = len(list(run.SEEDS.iterdir()))
    assert result.executions > seeds, result.summary()  # the seeds, and fuzzing beyond them
    assert result.coverage > 0 and result.corpus_units > 0, result.summary()


def test_a_crash_fails_the_run_and_is_reported(tmp_path: Path) -> None:
    # The harness treats an input holding the canary as a disagreement: the run must stop,
    # keep that input and report it, as it would a real finding.
    require_fuzzer()
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "canary").write_bytes(b"\0" * 8 + b"GET / HTTP/1.1\r\nHost: canary.test\r\n\r\n")
    result = run.fuzz(
        CANARY_SECONDS,
        tmp_path / "corpus",
        tmp_path / "crashes",
        seeds=seeds,
        quiet=True,
        env_extra={"STANDBY_FUZZ_CANARY": "canary.test"},
    )
    assert result.failed
    assert [crash.read_bytes() for crash in result.crashes] == [(seeds / "canary").read_bytes()]
    assert "the canary" in result.problem
    assert "reproduce: python -m tests.fuzz.run --reproduce" in result.summary()
