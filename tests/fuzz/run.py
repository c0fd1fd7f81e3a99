"""Run the fuzzer of the C head parsers (tests/fuzz/harness.py) and summarise the run.

    python -m tests.fuzz.run --seconds 600          # what `make fuzz` does
    python -m tests.fuzz.run --reproduce CRASH...   # run saved inputs once, with the report

Builds the sanitized module (tests/fuzz/build.py), then runs the harness in its own
process: ``-X dev``, every object in malloc (``PYTHONMALLOC=malloc``, so AddressSanitizer
sees Python's objects too), atheris's ASan+UBSan+libFuzzer runtime preloaded. New inputs go
to a working corpus (build/fuzz/corpus by default, kept between runs); the seeds in
tests/fuzz/corpus are read, never written. The summary gives executions, executions per
second, libFuzzer's coverage figures (cov: edges and Python branches reached; ft:
features), the corpus size and every crash with its input; the exit status is 1 on a crash.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.fuzz import build

HERE = Path(__file__).resolve().parent
SEEDS = HERE / "corpus"
DICTIONARY = HERE / "http.dict"
WORK_CORPUS = build.OUT_DIR / "corpus"
ARTIFACTS = build.OUT_DIR / "crashes"
RUNTIME = "asan_with_fuzzer.so"  # atheris's ASan (with UBSan) and libFuzzer in one library
# Inputs beyond this add nothing the parsers' limits do not already cover at small sizes.
MAX_LEN = 4096
# One input taking this long is a hang (the slowest legitimate ones take milliseconds).
INPUT_TIMEOUT_SECONDS = 30
# Python under ASan settles near 800 MB (every object in malloc, with redzones, and ASan's
# caches); past this a run stops as out of memory: something grows per input.
RSS_LIMIT_MB = 3072
# How often a quiet run says where it is (libFuzzer's own lines go to the log).
PROGRESS_SECONDS = 60
# Crash, leak, timeout and out-of-memory inputs, as libFuzzer names what it saves.
ARTIFACT_RE = re.compile(r"^(crash|leak|timeout|oom|slow-unit)-")
STATUS_RE = re.compile(r"cov: (\d+) ft: (\d+) corp: (\d+)/(\S+)")


def runtime_library() -> Path | None:
    """atheris's ASan+libFuzzer runtime, when atheris is installed with it."""
    try:
        import atheris  # optional: only the fuzzer needs it
    except ImportError:
        return None
    path = Path(atheris.path()) / RUNTIME
    return path if path.is_file() else None


def missing() -> str | None:
    """Why the fuzzer cannot run here (None: it can)."""
    problem = build.missing_compiler()
    if problem:
        return problem
    if sys.platform != "linux":
        return "the fuzzer's preloaded runtime is Linux only"
    if runtime_library() is None:
        return f"atheris (with its {RUNTIME}) is not installed: pip install -e '.[test]'"
    return None


def environment(extension: Path, runtime: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        LD_PRELOAD=str(runtime),
        PYTHONMALLOC="malloc",
        STANDBY_FUZZ_EXTENSION=str(extension),
        # Python leaks by design at exit; the leaks that matter show as reference counts
        # (harness.call_c). Stop at the first report of either sanitizer.
        # A smaller quarantine of freed memory than ASan's 256 MB: use after free is still
        # caught within the last 64 MB freed, and a long run's RSS stays lower.
        ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:allocator_may_return_null=1"
        ":quarantine_size_mb=64",
        UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.pop("STANDBY_PURE", None)  # the references in http1 are interpreted in any case
    return env


def harness_command(*args: str) -> list[str]:
    return [sys.executable, "-X", "dev", "-m", "tests.fuzz.harness", *args]


@dataclass
class Result:
    """What one run did, from libFuzzer's own report."""

    seconds: float
    returncode: int
    log: Path
    executions: int = 0
    exec_per_second: int = 0
    coverage: int = 0
    features: int = 0
    corpus_units: int = 0
    corpus_size: str = "0b"
    new_units: int = 0
    peak_rss_mb: int = 0  # flat over a long run: nothing leaks per input
    seed: str = "?"
    crashes: list[Path] = field(default_factory=list)
    problem: str = ""  # what went wrong, from the log, when the run did not end cleanly

    def summary(self) -> str:
        lines = [
            f"fuzz: {self.executions} executions in {self.seconds:.0f} s "
            f"({self.exec_per_second}/s), seed {self.seed}",
            f"fuzz: coverage cov {self.coverage} ft {self.features}; corpus "
            f"{self.corpus_units} units ({self.corpus_size}), {self.new_units} new this run",
            f"fuzz: peak RSS {self.peak_rss_mb} MB; crashes {len(self.crashes)}; log {self.log}",
        ]
        for crash in self.crashes:
            data = crash.read_bytes()
            lines.append(f"fuzz: crash {crash} ({len(data)} bytes): {data[:600]!r}")
            lines.append(f"fuzz:   reproduce: python -m tests.fuzz.run --reproduce {crash}")
        if self.problem:
            lines.append(f"fuzz: report:\n{self.problem}")
        return "\n".join(lines)

    @property
    def failed(self) -> bool:
        return self.returncode != 0 or bool(self.crashes)


def parse_log(result: Result, text: str) -> None:
    for match in STATUS_RE.finditer(text):  # the last status line wins
        result.coverage, result.features = int(match[1]), int(match[2])
        result.corpus_units, result.corpus_size = int(match[3]), match[4]
    stats = dict(re.findall(r"^stat::(\w+):\s+(\d+)", text, re.M))
    done = re.search(r"^Done (\d+) runs", text, re.M)
    last_run = re.findall(r"^#(\d+)\s", text, re.M)
    result.executions = int(
        stats.get("number_of_executed_units") or (done and done[1]) or (last_run or ["0"])[-1]
    )
    result.exec_per_second = int(stats.get("average_exec_per_sec", 0)) or round(
        result.executions / max(result.seconds, 1)
    )
    result.new_units = int(stats.get("new_units_added", 0))
    result.peak_rss_mb = int(stats.get("peak_rss_mb", 0))
    seed = re.search(r"Seed: (\d+)", text)
    result.seed = seed[1] if seed else "?"
    if result.returncode != 0:
        # The report: a sanitizer's, or the harness's Disagreement with both answers.
        start = min(
            (
                i
                for i in (
                    text.find("==ERROR:"),
                    text.find("runtime error:"),
                    text.find("=== Uncaught Python exception"),
                    text.find("==WARNING:"),
                )
                if i >= 0
            ),
            default=max(0, len(text) - 3000),
        )
        result.problem = text[start : start + 6000]


def fuzz(
    seconds: int,
    corpus: Path = WORK_CORPUS,
    artifacts: Path = ARTIFACTS,
    *,
    seeds: Path = SEEDS,
    quiet: bool = False,
    progress: bool = False,
    extra: tuple[str, ...] = (),
    env_extra: dict[str, str] | None = None,
) -> Result:
    """One run of ``seconds`` (libFuzzer's -max_total_time), corpus kept in ``corpus``."""
    runtime = runtime_library()
    assert runtime is not None, missing()
    extension = build.sanitized_extension()
    corpus.mkdir(parents=True, exist_ok=True)
    artifacts.mkdir(parents=True, exist_ok=True)
    before = set(artifacts.iterdir())
    log = artifacts.parent / f"{artifacts.name}-last-run.log"
    command = harness_command(
        str(corpus),
        str(seeds),
        f"-max_total_time={seconds}",
        f"-dict={DICTIONARY}",
        f"-artifact_prefix={artifacts}/",
        f"-max_len={MAX_LEN}",
        f"-timeout={INPUT_TIMEOUT_SECONDS}",
        f"-rss_limit_mb={RSS_LIMIT_MB}",
        "-detect_leaks=0",
        "-print_final_stats=1",
        *extra,
    )
    env = environment(extension, runtime)
    env.update(env_extra or {})
    started = time.monotonic()
    with log.open("w") as out:
        process = subprocess.Popen(
            command,
            cwd=build.REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        assert process.stdout is not None
        said = started
        for line in process.stdout:
            out.write(line)
            if not quiet:
                sys.stderr.write(line)
            elif progress and line.startswith("#") and time.monotonic() - said > PROGRESS_SECONDS:
                said = time.monotonic()
                print(f"fuzz: {said - started:.0f} s: {line.strip()}", file=sys.stderr)
        returncode = process.wait()
    result = Result(time.monotonic() - started, returncode, log)
    result.crashes = sorted(
        p for p in set(artifacts.iterdir()) - before if ARTIFACT_RE.match(p.name)
    )
    parse_log(result, log.read_text(errors="replace"))
    return result


# llvm-cov report's row for a file: regions, missed, cover; functions, missed, executed;
# lines, missed, cover; branches, missed, cover.
REPORT_ROW_RE = re.compile(r"^\S*_speedups\.c" + r"\s+(\d+)\s+(\d+)\s+(\S+)" * 4, re.M)


def c_coverage(corpus: Path, seeds: Path = SEEDS) -> str:
    """Which lines of _speedups.c the corpus reaches: every input run once through a build
    with clang's source-based coverage, then llvm-cov (from Debian's llvm package)."""
    tools = [shutil.which("llvm-profdata"), shutil.which("llvm-cov")]
    if None in tools:
        return (
            "fuzz: C line coverage not measured (llvm-profdata and llvm-cov: apt-get install llvm)"
        )
    profdata, cov = (str(tool) for tool in tools)
    extension = build.coverage_extension()
    out = extension.parent
    raw, merged = out / "corpus.profraw", out / "corpus.profdata"
    raw.unlink(missing_ok=True)
    env = dict(os.environ, STANDBY_FUZZ_EXTENSION=str(extension), LLVM_PROFILE_FILE=str(raw))
    command = harness_command(str(corpus), str(seeds), "-runs=0")
    subprocess.run(command, cwd=build.REPO, env=env, capture_output=True, check=False)
    if not raw.exists():
        return "fuzz: C line coverage not measured (no profile written)"
    subprocess.run([profdata, "merge", "-o", str(merged), str(raw)], check=True)
    profile = [str(extension), f"-instr-profile={merged}", str(build.SOURCE)]
    report = subprocess.run([cov, "report", *profile], capture_output=True, text=True, check=True)
    lines = out / "_speedups.c.txt"  # every line with its count, for a look at what is missed
    with lines.open("w") as listing:
        subprocess.run([cov, "show", *profile], stdout=listing, check=True)
    row = REPORT_ROW_RE.search(report.stdout)
    if row is None:
        return f"fuzz: C line coverage: llvm-cov said\n{report.stdout}"
    return (
        f"fuzz: C coverage of _speedups.c by the corpus: lines {row[9]} "
        f"({int(row[7]) - int(row[8])}/{row[7]}), regions {row[3]}, branches {row[12]}, "
        f"functions {row[6]}; per line: {lines}"
    )


def reproduce(inputs: list[str]) -> int:
    """Run saved inputs once each (libFuzzer does, given files), the report on stderr."""
    runtime = runtime_library()
    assert runtime is not None, missing()
    env = environment(build.sanitized_extension(), runtime)
    command = harness_command(*[str(Path(p).resolve()) for p in inputs])
    return subprocess.run(command, cwd=build.REPO, env=env, check=False).returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=600, help="how long to fuzz")
    parser.add_argument("--corpus", type=Path, default=WORK_CORPUS, help="working corpus")
    parser.add_argument("--artifacts", type=Path, default=ARTIFACTS, help="where crashes go")
    parser.add_argument("--reproduce", nargs="+", metavar="INPUT", help="run these inputs once")
    parser.add_argument("--clean", action="store_true", help="start from the seeds alone")
    parser.add_argument("-v", "--verbose", action="store_true", help="libFuzzer's own lines")
    options = parser.parse_args()
    problem = missing()
    if problem:
        print(f"fuzz: cannot run: {problem}", file=sys.stderr)
        return 2
    if options.reproduce:
        return reproduce(options.reproduce)
    if options.clean:
        shutil.rmtree(options.corpus, ignore_errors=True)
    result = fuzz(
        options.seconds, options.corpus, options.artifacts, quiet=not options.verbose, progress=True
    )
    print(result.summary())
    if not result.failed:
        print(c_coverage(options.corpus))
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())
