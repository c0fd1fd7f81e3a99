"""The keyword table is consistent, and docs/configuration.md is generated from it."""

from __future__ import annotations

from pathlib import Path

from standby.config.docgen import render_reference
from standby.config.schema import (
    KEYWORDS,
    TUPLE_KINDS,
    UNSUPPORTED,
    UNSUPPORTED_IN,
    ArgKind,
    Section,
    lookup,
)

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
    # One spelling may name different keywords in different sections, never in one.
    for section in Section:
        spellings = [
            s.lower() for k in KEYWORDS if section in k.sections for s in (k.name, *k.aliases)
        ]
        assert len(spellings) == len(set(spellings)), section
        for spelling in spellings:
            keyword = lookup(spelling.upper(), section)
            assert keyword is not None and section in keyword.sections
    spellings = [s.lower() for k in KEYWORDS for s in (k.name, *k.aliases)]
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
        if keyword.opens is not None and keyword.inline:
            # A one-line directive when its last argument is given (`ACL "name" -file "f"`).
            assert keyword.args[-1].optional
        elif keyword.opens is not None:
            assert all(arg.optional for arg in keyword.args)
        for index, arg in enumerate(keyword.args):
            if arg.kind is ArgKind.INT and not arg.choices:
                assert arg.low is not None and arg.high is not None, keyword.name
            if arg.many:  # takes the rest of the line: last, and of a kind made of tuples
                assert index == len(keyword.args) - 1 and arg.kind in TUPLE_KINDS
            if arg.kind is ArgKind.WORD:
                assert arg.words and all(word == word.lower() for word in arg.words)


def test_a_spelling_shared_by_two_sections_resolves_by_section() -> None:
    in_service = lookup("path", Section.SERVICE)
    in_check = lookup("PATH", Section.HEALTH_CHECK)
    assert in_service is not None and in_service.condition
    assert in_check is not None and not in_check.condition
    assert in_check.args[0].kind is ArgKind.REQUEST_PATH
    assert lookup("nothing", Section.SERVICE) is None
