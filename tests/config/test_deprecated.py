"""Pound's old spellings load with a warning that names the newer form, wherever they
stand (top level, listener, service, Match blocks), as Pound 4 warns; `-W
no-warn-deprecated` silences them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from standby.config import load_config
from standby.config.deprecated import INSTEAD
from standby.config.schema import ERROR_CODES
from standby.model import LoadOptions

OLD = """IgnoreCase 1
ListenHTTP
  Address 127.0.0.1
  Port 8080
  Err503 "busy.html"
  HeaderAdd "X-A: 1"
  HeadRemove "^X-B"
  Service
    HeadRequire "Host: www.example.com.*"
    Match OR
      HeadDeny "^User-Agent: bot"
      URL "^/x"
    End
    IgnoreCase 0
    BackEnd
      Address 127.0.0.1
      Port 8081
    End
  End
End
"""
# The same file in the newer forms.
NEWER = (
    ("Err503", "ErrorFile 503"),
    ("HeaderAdd", "SetHeader"),
    ("HeadRemove", "DeleteHeader"),
    ("HeadRequire", "Header"),
    ("HeadDeny", "Not Header"),
    ('URL "', 'URL -icase "'),
)
NEW = "".join(line + "\n" for line in OLD.splitlines() if "IgnoreCase" not in line)
for old, newer in NEWER:
    NEW = NEW.replace(old, newer)


@pytest.fixture
def warnings(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., list[str]]:
    """The old-spelling warnings of loading a text as the file t.cfg (with -W options)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "busy.html").write_text("busy")

    def load(text: str, **options: bool) -> list[str]:
        (tmp_path / "t.cfg").write_text(text)
        caplog.clear()
        load_config("t.cfg", options=LoadOptions(**options))
        return [r.getMessage() for r in caplog.records if "old spelling" in r.getMessage()]

    return load


def test_each_old_spelling_is_named_with_its_place_and_newer_form(
    warnings: Callable[..., list[str]],
) -> None:
    assert warnings(OLD) == [
        't.cfg:1.1: "IgnoreCase" is an old spelling: write the -icase flag on each pattern',
        't.cfg:5.3: "Err503" is an old spelling: write "ErrorFile 503"',
        't.cfg:6.3: "AddHeader" is an old spelling: write "SetHeader"',
        't.cfg:7.3: "HeadRemove" is an old spelling: write "DeleteHeader"',
        't.cfg:9.5: "HeadRequire" is an old spelling: write "Header"',
        't.cfg:11.7: "HeadDeny" is an old spelling: write "Not Header"',
        't.cfg:14.5: "IgnoreCase" is an old spelling: write the -icase flag on each pattern',
    ]


def test_the_newer_forms_load_without_a_warning(warnings: Callable[..., list[str]]) -> None:
    assert warnings(NEW) == []


def test_no_warn_deprecated_silences_them(warnings: Callable[..., list[str]]) -> None:
    assert warnings(OLD, warn_deprecated=False) == []


def test_every_old_error_page_keyword_is_known() -> None:
    assert {f"Err{code}" for code in ERROR_CODES} <= set(INSTEAD)
