"""Lexer: tokens, locations, quoting, comments; it raises nothing but ConfigError."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from standby.config import ConfigError, load_config_text
from standby.config.lexer import TokenKind, tokenize
from standby.model import Location


def kinds_and_texts(text: str) -> list[list[tuple[str, str]]]:
    return [[(t.kind.value, t.text) for t in line] for line in tokenize(text, "f")]


def test_words_strings_and_locations() -> None:
    (line,) = tokenize('  Address\t"a b" 10.0.0.1', "f.cfg")
    assert [(t.kind, t.text, t.location) for t in line] == [
        (TokenKind.WORD, "Address", Location("f.cfg", 1, 3)),
        (TokenKind.STRING, "a b", Location("f.cfg", 1, 11)),
        (TokenKind.WORD, "10.0.0.1", Location("f.cfg", 1, 17)),
    ]


def test_blank_and_comment_lines_are_dropped_but_counted() -> None:
    lines = tokenize("# header\n\n   \nAlive 5 # trailing\n\t# indented comment\nEnd", "f")
    assert [[t.text for t in line] for line in lines] == [["Alive", "5"], ["End"]]
    assert lines[0][0].location.line == 4 and lines[1][0].location.line == 6


def test_hash_inside_a_string_is_not_a_comment() -> None:
    assert kinds_and_texts('URL "^/a#b" # comment') == [[("word", "URL"), ("string", "^/a#b")]]


def test_hash_ends_a_word() -> None:
    assert kinds_and_texts("Port 80#x") == [[("word", "Port"), ("word", "80")]]


def test_escapes() -> None:
    text = r'X "a\"b" "c\\d" "\.jpg$" "\d" "tail\\"'
    assert [t.text for t in tokenize(text, "f")[0][1:]] == [
        'a"b',
        "c\\d",
        r"\.jpg$",
        r"\d",
        "tail\\",
    ]


def test_adjacent_tokens() -> None:
    assert kinds_and_texts('a"b"c') == [[("word", "a"), ("string", "b"), ("word", "c")]]
    assert kinds_and_texts('""') == [[("string", "")]]


def test_crlf_and_other_blanks() -> None:
    assert kinds_and_texts("Alive\x0b5\r\nEnd\f\r\n") == [
        [("word", "Alive"), ("word", "5")],
        [("word", "End")],
    ]


def test_unicode_counts_characters() -> None:
    (line,) = tokenize('User "ユーザ" x', "f")
    assert line[2].location.col == 12


def escape(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@given(st.text(alphabet=st.characters(blacklist_characters="\n"), max_size=40))
def test_escaped_strings_round_trip(value: str) -> None:
    (line,) = tokenize("User " + escape(value), "f")
    assert line[1].kind is TokenKind.STRING and line[1].text == value


@given(st.text(max_size=200))
def test_lexer_raises_only_config_errors(text: str) -> None:
    try:
        tokenize(text, "f")
    except ConfigError as exc:
        assert exc.message == "unterminated string"


@given(
    st.text(alphabet='ListenHTTPServiceBackEndmergcy "#\\\n\t 0123456789.:/-*[]()^$', max_size=300)
)
def test_loader_raises_only_config_errors(text: str) -> None:
    try:
        load_config_text(text, "f")
    except ConfigError as exc:
        assert "\n" not in str(exc)
