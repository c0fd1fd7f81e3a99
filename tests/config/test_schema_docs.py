"""The keyword table is consistent, and docs/configuration.md is generated from it."""

from __future__ import annotations

from pathlib import Path

from standby.config.docgen import render_reference
from standby.config.schema import KEYWORDS, UNSUPPORTED, UNSUPPORTED_IN, ArgKind, lookup

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_committed_reference_matches_the_table() -> None:
    assert DOC.read_text() == render_reference(), (
        "docs/configuration.md is stale: run python -m standby.config.docgen > "
        "docs/configuration.md"
    )


def test_every_keyword_is_documented() -> None:
    text = render_reference()
    for keyword in KEYWORDS:
        assert f"| `{keyword.name}`" in text
    for name in UNSUPPORTED:
        assert f"`{name}`" in text


def test_spellings_are_unique_and_unsupported_names_are_not_supported() -> None:
    spellings = [s.lower() for k in KEYWORDS for s in (k.name, *k.aliases)]
    assert len(spellings) == len(set(spellings))
    assert not {name.lower() for name in UNSUPPORTED} & set(spellings)
    assert len({name.lower() for name in UNSUPPORTED}) == len(UNSUPPORTED)
    for section, names in UNSUPPORTED_IN.items():
        for name in names:
            keyword = lookup(name)
            assert keyword is not None and section not in keyword.sections


def test_optional_arguments_and_sections_are_well_formed() -> None:
    for keyword in KEYWORDS:
        assert keyword.help.endswith((".", ")")), keyword.name
        assert keyword.sections
        if keyword.opens is not None:
            assert keyword.repeatable and all(arg.optional for arg in keyword.args)
        for arg in keyword.args:
            if arg.kind is ArgKind.INT and not arg.choices:
                assert arg.low is not None and arg.high is not None, keyword.name
