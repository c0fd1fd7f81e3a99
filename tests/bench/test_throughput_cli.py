"""bench/throughput.py: options, and one short real run (`--quick`, one scenario)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "throughput.py"
SMOKE_TIMEOUT = 60.0  # s; the quick run of one scenario takes well under 30 s


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_throughput", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


throughput = _load()


def test_full_defaults_write_the_committed_table() -> None:
    opts, output = throughput.parse_args([])
    assert (opts.duration, opts.rounds) == (3, 3)
    assert opts.transfer_size == 100 * 1024 * 1024 and opts.idle_connections == 10_000
    assert output.name == "latest.md"
    assert "idle" in opts.scenarios and "standby-w1" in opts.targets
    assert opts.command == "python bench/throughput.py"


def test_quick_mode_and_overrides() -> None:
    opts, output = throughput.parse_args(["--quick", "--rounds", "2", "--targets", "direct"])
    assert (opts.duration, opts.rounds, opts.idle_connections) == (1, 2, 500)
    assert opts.targets == ("direct",) and output.name == "quick.md"
    assert opts.command == "python bench/throughput.py --quick --rounds 2 --targets direct"


@pytest.mark.parametrize(
    "argv", [["--scenarios", "small,nope"], ["--targets", "squid"], ["--rounds", "0"]]
)
def test_bad_options_are_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        throughput.parse_args(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "known:" in err or "at least 1" in err


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_quick_run_of_one_scenario_writes_the_table(tmp_path: Path) -> None:
    out = tmp_path / "quick.md"
    argv = ["--quick", "--scenarios", "small-c50-ka", "--targets", "direct,standby-w1"]
    argv += ["--backend", "builtin", "--no-install", "--output", str(out)]
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *argv],
        capture_output=True,
        text=True,
        timeout=SMOKE_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = out.read_text()
    assert report == done.stdout
    assert "--scenarios small-c50-ka" in report  # the exact command
    rows = {
        line.split("|")[1].strip(): line
        for line in report.split("(`small-c50-ka`)")[1].splitlines()
        if line.startswith("| ") and not line.startswith("| target")
    }
    assert set(rows) == {"direct", "standby-w1"}
    assert "failed" not in rows["standby-w1"]
    assert "(`upload`)" not in report  # only the scenario asked for


@pytest.mark.skipif(
    shutil.which("wrk") is None or shutil.which("openssl") is None,
    reason="wrk or openssl is not installed",
)
def test_quick_tls_run_measures_resumed_handshakes(tmp_path: Path) -> None:
    out = tmp_path / "quick.md"
    argv = ["--quick", "--scenarios", "tls-ecdsa-small-c50-ka,tls-ecdsa-resumed"]
    argv += ["--targets", "standby-w1", "--backend", "builtin", "--no-install"]
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *argv, "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=SMOKE_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = out.read_text()
    assert "standby refuses" not in report
    for scenario in ("tls-ecdsa-small-c50-ka", "tls-ecdsa-resumed"):
        rows = [
            line
            for line in report.split(f"(`{scenario}`)")[1].split("\n## ")[0].splitlines()
            if line.startswith("| standby-w1 ")
        ]
        assert len(rows) == 1 and "failed" not in rows[0], report
    # Every connection of the resumed run resumed its session (the column says 100.0).
    resumed = report.split("(`tls-ecdsa-resumed`)")[1].split("\n## ")[0]
    assert "| 100.0 |" in resumed
