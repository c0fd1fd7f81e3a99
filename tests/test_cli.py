"""The command line: Pound's options, exit statuses, and never a traceback."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

import standby
from standby import cli, compiled
from standby.http1 import speedups_loaded

RUN_TIMEOUT = 60.0  # generous upper bound for a short-lived subprocess
GOOD_CONFIG = """\
User "nobody"
LogLevel 1
Alive 30
Daemon 1

ListenHTTP
  Address 127.0.0.1
  Port 8080
  Service
    HeadRequire "Host: www.nire.com.*"
    BackEnd
      Address 127.0.0.1
      Port 8081
    End
    Emergency
      Address 127.0.0.1
      Port 8082
    End
  End
End
"""


def have_config_loader() -> bool:
    return hasattr(importlib.import_module("standby.config"), "load_config")


needs_config = pytest.mark.skipif(
    not have_config_loader(), reason="standby.config.load_config not there yet"
)


def standby_cmd(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "standby", *args],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        stdin=subprocess.DEVNULL,
        cwd=cwd,
    )


def test_version() -> None:
    done = standby_cmd("-V")
    parsers = "C fast path" if speedups_loaded() else "Python only"
    hot_path = compiled.describe()
    expected = (
        f"standby {standby.__version__}\nHTTP head parsers: {parsers}\nhot path: {hot_path}\n"
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, expected, "")


def test_help_lists_pounds_options() -> None:
    done = standby_cmd("-h")
    assert done.returncode == 0
    for option in ("-f FILE", "-c", "-F", "-e", "-p PIDFILE", "--workers N", "-v", "-V", "--demo"):
        assert option in done.stdout
    assert cli.DEFAULT_CONFIG in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-x"], "standby: unrecognized arguments: -x"),
        (["-f"], "standby: argument -f: expected one argument"),
        (["-p"], "standby: argument -p: expected one argument"),
        (["extra"], "standby: unrecognized arguments: extra"),
        (["--workers", "0"], "standby: argument --workers: must be between 1 and 256, not 0"),
        (["--workers", "two"], "standby: argument --workers: not a number: 'two'"),
    ],
)
def test_bad_options_exit_1_with_usage(args: list[str], message: str) -> None:
    done = standby_cmd(*args)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[0].startswith("usage: standby ")
    assert lines[-1] == message
    assert "Traceback" not in done.stderr


def test_parser_meanings() -> None:
    args = cli.build_parser().parse_args(["-f", "a.cfg", "-c", "-v", "-e", "-p", "x.pid"])
    assert (args.config, args.check, args.verbose, args.stderr, args.pid_file) == (
        "a.cfg",
        True,
        True,
        True,
        "x.pid",
    )
    assert not args.foreground and not args.version
    defaults = cli.build_parser().parse_args([])
    assert defaults.config == "/etc/pound.cfg"
    assert defaults.pid_file is None
    assert defaults.workers is None  # then Workers, then one per CPU
    assert cli.build_parser().parse_args(["--workers", "3"]).workers == 3
    assert defaults.log_style == "standby"  # standby's own stderr lines unless asked
    assert cli.build_parser().parse_args(["--log-style", "pound"]).log_style == "pound"
    combined = cli.build_parser().parse_args(["-cvF", "-fpound.cfg"])
    assert (combined.check, combined.verbose, combined.foreground, combined.config) == (
        True,
        True,
        True,
        "pound.cfg",
    )


def test_demo_flag_hands_the_rest_to_the_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    demo = importlib.import_module("standby.demo")
    seen: list[list[str]] = []

    def fake_main(argv: list[str]) -> int:
        seen.append(argv)
        return 7

    monkeypatch.setattr(demo, "main", fake_main)
    assert cli.main(["--demo", "primary", "down"]) == 7
    assert seen == [["primary", "down"]]


@needs_config
def test_check_good_config_is_silent(tmp_path: Path) -> None:
    path = tmp_path / "pound.cfg"
    path.write_text(GOOD_CONFIG.replace("HeadRequire", "Header"))
    done = standby_cmd("-c", "-f", str(path))
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


@needs_config
def test_check_names_the_seed_s_old_spelling_and_still_passes(tmp_path: Path) -> None:
    # Pound 4 warns about HeadRequire too; -W no-warn-deprecated silences it in both.
    path = tmp_path / "pound.cfg"
    path.write_text(GOOD_CONFIG)
    done = standby_cmd("-c", "-f", str(path))
    warning = f'{path}:10.5: "HeadRequire" is an old spelling: write "Header"\n'
    assert (done.returncode, done.stdout, done.stderr) == (0, "", warning)
    quiet = standby_cmd("-c", "-W", "no-warn-deprecated", "-f", str(path))
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")


@needs_config
def test_check_verbose_confirms(tmp_path: Path) -> None:
    path = tmp_path / "pound.cfg"
    path.write_text(GOOD_CONFIG.replace("HeadRequire", "Header"))
    done = standby_cmd("-c", "-v", "-f", str(path))
    assert (done.returncode, done.stderr) == (0, f"Config file {path} is OK\n")


@needs_config
def test_check_bad_config_prints_file_line_col(tmp_path: Path) -> None:
    path = tmp_path / "pound.cfg"
    path.write_text('LogLevel 1\n  Bogus "x"\n')
    done = standby_cmd("-c", "-f", str(path))
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith(f"{path}:2.3: ")
    assert done.stderr.count("\n") == 1 and "Bogus" in done.stderr
    assert "Traceback" not in done.stderr


@needs_config
def test_missing_config_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.cfg"
    done = standby_cmd("-c", "-f", str(path))
    assert done.returncode == 1
    assert done.stderr.startswith(str(path))
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


@needs_config
@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_config_file(tmp_path: Path) -> None:
    path = tmp_path / "pound.cfg"
    path.write_text(GOOD_CONFIG)
    path.chmod(0)
    done = standby_cmd("-c", "-f", str(path))
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


@needs_config
def test_config_is_a_directory(tmp_path: Path) -> None:
    done = standby_cmd("-c", "-f", str(tmp_path))
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


@needs_config
@pytest.mark.skipif(os.path.exists(cli.DEFAULT_CONFIG), reason="a real /etc/pound.cfg exists")
def test_default_config_path() -> None:
    done = standby_cmd("-c")
    assert done.returncode == 1
    assert cli.DEFAULT_CONFIG in done.stderr
