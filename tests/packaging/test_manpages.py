"""The manual pages: generated from the keyword table and the argparse parsers, and
rendered by groff without a single warning."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess

import pytest

from standby import cli, mangen
from standby.config.schema import KEYWORDS
from standby.control import ctl

GROFF = shutil.which("groff")
needs_groff = pytest.mark.skipif(
    GROFF is None and not os.environ.get("CI"), reason="groff is not installed (groff-base)"
)
RENDER_TIMEOUT = 60  # seconds: the configuration page is long, the cores are shared
DATE = "2026-01-02"


def render(page: str) -> str:
    """The page as a reader sees it; fails on any groff warning (-ww: all of them)."""
    assert GROFF is not None, "groff must be installed in CI (.ci/run: groff-base)"
    done = subprocess.run(
        [GROFF, "-man", "-Tutf8", "-ww", "-P-cbou"],
        input=page,
        capture_output=True,
        text=True,
        timeout=RENDER_TIMEOUT,
        env={**os.environ, "MANWIDTH": "80"},
        check=False,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return done.stdout


def _words(text: str) -> str:
    """Rendered text with the line breaks and hyphenation undone, for `in` checks."""
    return " ".join(text.replace("\u2010\n", "").replace("-\n", "-").split())


@needs_groff
def test_every_keyword_is_in_the_configuration_page() -> None:
    text = _words(render(mangen.config_page(DATE)))
    assert text.startswith("STANDBY.CFG(5)")
    for keyword in KEYWORDS:
        assert f" {keyword.name} " in text, keyword.name
        assert " ".join(keyword.help.replace("`", "").split()[:3]) in text, keyword.name
    assert "LEXICAL STRUCTURE" in text and "DIFFERENCES FROM POUND" in text
    assert "do not edit it by hand" not in text  # docs/configuration.md's own note


@needs_groff
def test_every_option_of_standby_is_in_its_page() -> None:
    text = _words(render(mangen.standby_page(DATE)))
    for action in cli.build_parser()._actions:
        for option in action.option_strings:
            assert f" {option} " in text or f" {option}," in text, option
    assert "standby.cfg(5)" in text


@needs_groff
def test_every_command_and_option_of_standbyctl_is_in_its_page() -> None:
    parser = ctl.build_parser()
    text = _words(render(mangen.standbyctl_page(DATE)))
    shown = [a for a in parser._actions if a.help != argparse.SUPPRESS]
    for action in shown:
        for option in action.option_strings:
            assert f" {option} " in text or f" {option}," in text, option
    subcommands = next(a for a in parser._actions if a.choices and a.dest == "command")
    assert isinstance(subcommands.choices, dict)
    for name in subcommands.choices:
        assert f" {name} " in text or f"|{name} " in text or f" {name}|" in text, name
    hidden = [o for a in parser._actions if a.help == argparse.SUPPRESS for o in a.option_strings]
    assert hidden and not any(f" {option} " in text for option in hidden)


def test_the_command_writes_the_three_pages(
    tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "86400")
    assert mangen.main([str(tmp_path)]) == 0
    names = sorted(os.listdir(tmp_path))
    assert names == ["standby.8", "standby.cfg.5", "standbyctl.8"]
    for name in names:
        with open(os.path.join(tmp_path, name)) as page:
            head = page.readline()
        assert head.startswith(".TH ") and ' "1970-01-02" "standby ' in head
