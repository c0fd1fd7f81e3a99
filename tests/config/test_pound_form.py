"""config/pound_form.py: Pound's ranges (tab columns, token ends, the end-of-line token) and
its names for tokens, from the text of the file."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from standby.config import pound_form
from standby.config.pound_form import Edge, Mark, PoundForm, render, token_class
from standby.model import Location

FILE = "p.cfg"


def lines_of(text: str, form: PoundForm) -> list[str]:
    return render(form, lambda name: text if name == FILE else None)


def at(line: int, col: int) -> Location:
    return Location(FILE, line, col)


def test_a_token_after_a_tab_starts_at_column_9() -> None:
    text = "Service\n\tFooBar 1\nEnd\n"
    assert lines_of(text, pound_form.token(at(2, 2), "unrecognized keyword")) == [
        "p.cfg:2.9-14: unrecognized keyword"
    ]


def test_a_one_character_token_is_a_point() -> None:
    assert lines_of("Alive x\n", pound_form.token(at(1, 7), "t")) == ["p.cfg:1.7: t"]


def test_a_quoted_token_ends_at_its_closing_quote_past_escaped_ones() -> None:
    text = 'user "a\\"b c" 10\n'
    assert lines_of(text, pound_form.token(at(1, 6), "t")) == ["p.cfg:1.6-13: t"]


def test_the_end_of_line_token_runs_from_the_last_character_to_the_next_line() -> None:
    text = "# comment\nuser\n"
    form = pound_form.end_of_line(at(2, 1), "expected quoted string, but found end of line")
    assert lines_of(text, form) == ["p.cfg:2.4-3: expected quoted string, but found end of line"]


def test_a_section_from_its_keyword_or_from_after_it_to_its_end() -> None:
    text = "Service\n\tBackend\n\t\tPort 80\n\tEnd\nEnd\n"
    backend = pound_form.section((at(2, 2),), at(4, 2), "b", after_keyword=False)
    service = pound_form.section((at(1, 1),), at(5, 1), "s", after_keyword=True)
    named = pound_form.section((at(1, 1), at(1, 9)), at(5, 1), "n", after_keyword=True)
    assert lines_of(text, backend) == ["p.cfg:2.9-4.11: b"]
    assert lines_of(text, service) == ["p.cfg:1.7-5.3: s"]
    assert lines_of(text.replace("Service", 'Service "x"', 1), named) == ["p.cfg:1.9-5.3: n"]


def test_notes_are_lines_at_the_same_place() -> None:
    form = PoundForm("first", Mark(at(1, 8)), Mark(at(1, 8), Edge.LAST), ("second",))
    assert lines_of("Daemon whatever\n", form) == [
        "p.cfg:1.8-15: first",
        "p.cfg:1.8-15: second",
    ]


def test_an_unreadable_file_keeps_standby_s_columns() -> None:
    form = pound_form.token(Location("gone.cfg", 3, 2), "t")
    assert render(form, lambda name: None) == ["gone.cfg:3.2: t"]


@pytest.mark.parametrize(
    ("text", "quoted", "name"),
    [
        ("10", False, "number"),
        ("www", False, "identifier"),
        ("_a1", False, "identifier"),
        ("127.0.0.1", False, "literal"),
        ("1.5", False, "literal"),
        ("-1", False, "literal"),
        ("a-b", False, "literal"),
        ("10", True, "quoted string"),
    ],
)
def test_token_classes(text: str, quoted: bool, name: str) -> None:
    assert token_class(text, quoted) == name


@given(
    prefix=st.text(alphabet=" \tab", max_size=30),
    word=st.text(alphabet="abcXYZ_", min_size=1, max_size=10),
)
def test_columns_are_those_of_the_line_with_tabs_expanded(prefix: str, word: str) -> None:
    text = f"{prefix}{word} rest\n"
    start = len(prefix) + 1
    expanded = prefix.expandtabs(8)
    first = len(expanded) + 1
    last = first + len(word) - 1
    want = f"p.cfg:1.{first}" if first == last else f"p.cfg:1.{first}-{last}"
    assert lines_of(text, pound_form.token(at(1, start), "t")) == [f"{want}: t"]
