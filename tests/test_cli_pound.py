"""Pound's process options: -W [no-]FEATURE, IncludeDir, and their effect on loading."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from standby import cli
from standby.config import ConfigError, load_config, load_config_text
from standby.model import LoadOptions

RUN_TIMEOUT = 60.0  # generous upper bound for a short-lived subprocess
SERVICE = """\
Service "{name}"
  Backend
    Address 127.0.0.1
    Port 8080
  End
  Emergency
    Address 127.0.0.1
    Port 8081
  End
End
"""
MAIN = 'ListenHTTP\n  Address 127.0.0.1\n  Port 8080\n  Include "svc.cfg"\nEnd\n'


def standby_cmd(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "standby", *args],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        stdin=subprocess.DEVNULL,
        cwd=cwd,
    )


def test_defaults_are_pounds() -> None:
    features = cli.parse_features([])
    assert features.load == LoadOptions(include_dir=None, dns=True, warn_deprecated=True)
    assert features.close_extra_fds


@pytest.mark.parametrize(
    ("words", "load", "close"),
    [
        (["no-dns"], LoadOptions(dns=False), True),
        (["no-dns", "dns"], LoadOptions(dns=True), True),
        (["no-warn-deprecated"], LoadOptions(warn_deprecated=False), True),
        (["warn-deprecated"], LoadOptions(), True),
        (["no-close-extra-fds"], LoadOptions(), False),
        (["close-extra-fds"], LoadOptions(), True),
        (["no-include-dir"], LoadOptions(include_dir=""), True),
        (["include-dir=/", "no-include-dir"], LoadOptions(include_dir=""), True),
        (["include-dir=/"], LoadOptions(include_dir="/"), True),
    ],
)
def test_each_feature(words: list[str], load: LoadOptions, close: bool) -> None:
    assert cli.parse_features(words) == cli.Features(load, close)


@pytest.mark.parametrize(
    ("word", "message"),
    [
        ("foo", "invalid feature name: foo"),
        ("no-dns=1", "invalid feature name: no-dns=1"),
        ("dns=x", "invalid feature name: dns=x"),
        ("include-dir", "include-dir needs a directory"),
        ("no-include-dir=/", "invalid feature name: no-include-dir=/"),
        ("include-dir=/nonexistent/dir", "include-dir: /nonexistent/dir: no such directory"),
    ],
)
def test_bad_features_are_refused(word: str, message: str) -> None:
    with pytest.raises(cli.UsageError) as info:
        cli.parse_features([word])
    assert str(info.value).startswith(message)


def test_include_dir_must_be_a_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(cli.UsageError, match="not a directory"):
        cli.parse_features([f"include-dir={tmp_path / 'file'}"])


def test_a_bad_feature_exits_1_with_one_line(tmp_path: Path) -> None:
    done = standby_cmd("-c", "-W", "frobnicate", "-f", "x.cfg", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr == "standby: invalid feature name: frobnicate\n"


def test_the_pound_style_gives_no_advice(tmp_path: Path) -> None:
    # A lone backend without Emergency: standby -c advises; as `pound -c` (the wrapper's
    # --log-style pound), it says what Pound says: nothing.
    path = tmp_path / "lone.cfg"
    path.write_text(
        "ListenHTTP\n Address 127.0.0.1\n Port 8080\n Service\n"
        "  BackEnd\n   Address 127.0.0.1\n   Port 8081\n  End\n End\nEnd\n"
    )
    advised = standby_cmd("-c", "-f", str(path), cwd=tmp_path)
    assert (advised.returncode, advised.stderr.count("warning: ")) == (0, 1), advised.stderr
    quiet = standby_cmd("--log-style", "pound", "-c", "-f", str(path), cwd=tmp_path)
    assert (quiet.returncode, quiet.stderr) == (0, "")


def write_layout(tmp_path: Path) -> Path:
    """etc/pound.cfg includes "svc.cfg": etc/svc.cfg, conf/svc.cfg and ./svc.cfg differ."""
    (tmp_path / "etc").mkdir()
    (tmp_path / "conf").mkdir()
    main = tmp_path / "etc" / "pound.cfg"
    main.write_text(MAIN)
    for where in ("etc", "conf", "."):
        (tmp_path / where / "svc.cfg").write_text(SERVICE.format(name=where))
    return main


def service_name(path: Path, options: LoadOptions) -> str | None:
    return load_config(str(path), options=options).listeners[0].services[0].name


def test_include_dir_chooses_where_relative_names_are_read(tmp_path: Path) -> None:
    main = write_layout(tmp_path)
    assert service_name(main, LoadOptions()) == "etc"  # the naming file's directory
    conf = str(tmp_path / "conf")
    assert service_name(main, LoadOptions(include_dir=conf)) == "conf"


def test_no_include_dir_reads_from_the_current_directory(tmp_path: Path) -> None:
    write_layout(tmp_path)
    # Which file is read shows in an error inside it: only ./svc.cfg is broken.
    (tmp_path / "svc.cfg").write_text("Bogus 1\n")
    done = standby_cmd("-c", "-W", "no-include-dir", "-f", "etc/pound.cfg", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (1, 'svc.cfg:1.1: unknown keyword "Bogus"\n')
    done = standby_cmd("-c", "-f", "etc/pound.cfg", cwd=tmp_path)  # etc/svc.cfg: fine
    assert (done.returncode, done.stderr) == (0, "")
    done = standby_cmd("-c", "-W", "include-dir=conf", "-f", "etc/pound.cfg", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")


def test_includedir_directive_holds_until_the_next_one(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "svc.cfg").write_text(SERVICE.format(name=name))
    text = (
        f'IncludeDir "{tmp_path / "a"}"\n'
        'ListenHTTP\n  Address 127.0.0.1\n  Port 8080\n  Include "svc.cfg"\n'
        f'  IncludeDir "{tmp_path / "b"}"\n'
    )
    with pytest.raises(ConfigError) as info:  # IncludeDir is a global directive
        load_config_text(text + '  Include "svc.cfg"\nEnd\n', "t.cfg")
    assert str(info.value).startswith("t.cfg:6.3: ")
    text = (
        f'IncludeDir "{tmp_path / "a"}"\n'
        'ListenHTTP\n  Address 127.0.0.1\n  Port 8080\n  Include "svc.cfg"\nEnd\n'
        f'IncludeDir "{tmp_path / "b"}"\n'
        'ListenHTTP\n  Address 127.0.0.1\n  Port 8081\n  Include "svc.cfg"\nEnd\n'
    )
    config = load_config_text(text, "t.cfg")
    assert [lst.services[0].name for lst in config.listeners] == ["a", "b"]


def test_a_glob_includes_regular_files_only(tmp_path: Path) -> None:
    (tmp_path / "conf.d" / "subdir.conf").mkdir(parents=True)
    (tmp_path / "conf.d" / "one.conf").write_text(SERVICE.format(name="one"))
    text = 'ListenHTTP\n  Address 127.0.0.1\n  Port 8080\n  Include "conf.d/*.conf"\nEnd\n'
    config = load_config_text(text, "t.cfg", str(tmp_path))
    assert [s.name for s in config.listeners[0].services] == ["one"]


def test_the_options_are_kept_for_reloads(tmp_path: Path) -> None:
    main = write_layout(tmp_path)
    options = LoadOptions(include_dir=str(tmp_path / "conf"), dns=False)
    config = load_config(str(main), options=options)
    assert config.load_options == options
    from standby.config import reload_config

    (tmp_path / "conf" / "svc.cfg").write_text(SERVICE.format(name="changed"))
    again = reload_config(config)
    assert again.load_options == options
    assert again.listeners[0].services[0].name == "changed"


def test_a_file_without_listeners_loads() -> None:
    config = load_config_text(SERVICE.format(name="global"), "t.cfg")
    assert config.listeners == ()
    assert [s.name for s in config.services] == ["global"]


def test_includedir_applies_to_file_arguments_too(tmp_path: Path) -> None:
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "503.html").write_text("<p>maintenance</p>\n")
    text = (
        f'IncludeDir "{tmp_path / "pages"}"\n'
        'ListenHTTP\n  Address 127.0.0.1\n  Port 8080\n  ErrorFile 503 "503.html"\n'
        + SERVICE.format(name="s")
        + "End\n"
    )
    config = load_config_text(text, "t.cfg", "/nonexistent")
    assert config.listeners[0].error_page(503) == b"<p>maintenance</p>\n"


def test_a_relative_include_dir_is_kept_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "conf").mkdir()
    monkeypatch.chdir(tmp_path)
    assert cli.parse_features(["include-dir=conf"]).load.include_dir == str(tmp_path / "conf")
