"""Operator patterns matched in linear time (RE2, or a fixed string's search) give the
answers of the Python translation (test_posix_regex.py checks that one against glibc),
in both forms: a whole subject, and header lines joined by a line feed."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from standby.config.pattern import BACKTRACK_BUDGET, CompiledPattern, compile_pattern
from standby.config.posix_regex import (
    RegexError,
    Unsupported,
    backtracking,
    compile_ere,
    literal_re2,
    required_re2,
    translate_re2,
)
from standby.model import Pattern
from tests.config.test_posix_regex import LIBC, eres, libc_search

# Every byte class that behaves differently somewhere: ASCII letters of both cases,
# Latin-1 letters whose Unicode case pair is also Latin-1 (é/É) or not (ÿ, µ), word and
# non-word punctuation, the line feed, \v (in [[:space:]] but not in RE2's \s), NUL.
SUBJECT_BYTES = b"aAbBxXkK_1 .-()\t\n\v\x00\xe9\xc9\xff\xb5!"

_ATOMS = st.sampled_from(
    ["a", "b", "B", "A", "x", ".", "-", " ", "_", "1", "\\.", "\\(", "é", "É", "ÿ", "\u0100",
     "[ab]", "[^a]", "[]a]", "[a-c]", "[A-Z]", "[^A-Z]", "[Z-a]", "[é-ÿ]", "[^é]",
     "[[:alpha:]]", "[[:space:]]", "[[:upper:]]", "[[:lower:]]", "[[:punct:]]", "[[:cntrl:]]",
     "\\w", "\\W", "\\s", "\\S"]
)  # fmt: skip
_ANCHORS = st.sampled_from(["^", "$", "\\b", "\\B", "\\`", "\\'", "\\<", "\\>"])
_QUANTIFIERS = st.sampled_from(["", "", "", "*", "+", "?", "{2}", "{0,2}", "{1,}", "+?", "**"])
_GROUP_QUANTIFIERS = st.sampled_from(["", "", "?", "{2}", "{0,2}", "*", "+"])


@st.composite
def patterns(draw: st.DrawFn, depth: int = 0) -> str:
    """POSIX EREs: atoms, anchors anywhere, groups, alternatives, back-references."""
    pieces: list[str] = []
    groups = 0
    for _ in range(draw(st.integers(0, 4))):
        choice = draw(st.integers(0, 9))
        if choice == 0:
            pieces.append(draw(_ANCHORS))
        elif choice == 1 and depth < 2:
            pieces.append("(" + draw(patterns(depth + 1)) + ")" + draw(_GROUP_QUANTIFIERS))
            groups += 1
        elif choice == 2 and groups and depth == 0:
            pieces.append(f"\\{draw(st.integers(1, groups))}")
        else:
            pieces.append(draw(_ATOMS) + draw(_QUANTIFIERS))
    body = "".join(pieces)
    if depth < 2 and draw(st.integers(0, 4)) == 0:
        body += "|" + draw(patterns(depth + 1))
    return body


# The reference is Python's backtracking re: patterns and subjects whose modelled cost
# (posix_regex.Backtracking) is above this are not generated, or a test could take hours.
ORACLE_STEPS = 10**6


def in_lines(pattern: Pattern | None, block: bytes, undecided: bool) -> bool:
    """``search_lines`` as routing calls it: with the block and the block lower-cased."""
    assert pattern is not None
    return pattern.search_lines(block, block.lower(), undecided)


def _valid(pattern: str) -> bool:
    try:
        compile_ere(pattern)
    except RegexError:
        return False
    return True


def _cheap(pattern: str, subjects: list[bytes]) -> bool:
    """Whether Python's re searches ``subjects`` within ORACLE_STEPS (modelled)."""
    shape = backtracking(pattern)
    steps = sum(
        (len(s) + 1) ** (shape.degree + 2) << (len(s) if shape.exponential else 0) for s in subjects
    )
    return steps <= ORACLE_STEPS


def python_search(pattern: str, ignore_case: bool, subject: bytes) -> bool:
    """The reference: the Python translation on the subject decoded as Latin-1."""
    return compile_ere(pattern, ignore_case).search(subject.decode("latin-1")) is not None


def _python_quirk(pattern: str, subject: bytes) -> bool:
    r"""Python's ``\B`` (before 3.14) never matches an empty string; glibc's and RE2's do."""
    return not subject and "\\B" in pattern


def _decided(compiled: CompiledPattern, subjects: list[bytes]) -> bool:
    """Whether a backtracking pattern's bound lets it search all of ``subjects``."""
    if compiled.linear:
        return True
    costs = [(len(s) + 1) ** (compiled.degree + 2) << (len(s) * compiled.exponential)
             for s in subjects]  # fmt: skip
    return max(map(len, subjects), default=0) <= compiled.limit and sum(costs) <= BACKTRACK_BUDGET


@settings(max_examples=1500, deadline=None)
@given(patterns(), st.binary(max_size=14).map(lambda b: bytes(SUBJECT_BYTES[x % 22] for x in b)),
       st.booleans())  # fmt: skip
def test_whole_subject_search_agrees_with_the_python_translation(
    pattern: str, subject: bytes, ignore_case: bool
) -> None:
    assume(_valid(pattern) and not _python_quirk(pattern, subject))
    assume(_cheap(pattern, [subject]))
    compiled = compile_pattern(pattern, ignore_case)
    assume(_decided(compiled, [subject]))
    expected = python_search(pattern, ignore_case, subject)
    assert compiled.search(subject, not expected) is expected


_LINE = st.binary(min_size=1, max_size=8).map(
    lambda b: bytes(SUBJECT_BYTES[x % 22] for x in b).replace(b"\n", b"")
)


@settings(max_examples=1500, deadline=None)
@given(patterns(), st.lists(_LINE.filter(bool), max_size=4), st.booleans())
def test_lines_search_agrees_with_searching_each_line(
    pattern: str, lines: list[bytes], ignore_case: bool
) -> None:
    assume(_valid(pattern) and _cheap(pattern, lines))
    compiled = compile_pattern(pattern, ignore_case)
    assume(_decided(compiled, lines))
    expected = any(python_search(pattern, ignore_case, line) for line in lines)
    assert in_lines(compiled, b"\n".join(lines), not expected) is expected


def _near(pattern: str) -> st.SearchStrategy[bytes]:
    """Subjects made of the pattern's own characters (and a few others): matches happen."""
    own = sorted({ord(c) for c in pattern if ord(c) < 0x100} | set(b"aAbx \n\xe9"))
    return st.lists(st.sampled_from(own), max_size=16).map(bytes)


@settings(max_examples=1500, deadline=None)
@given(patterns(), st.booleans(), st.booleans(), st.data())
def test_the_prefilter_strings_are_in_every_match(
    pattern: str, ignore_case: bool, lines: bool, data: st.DataObject
) -> None:
    assume(_valid(pattern))
    subject = data.draw(_near(pattern))
    if lines:
        subject = subject.replace(b"\n", b"")
    assume(_cheap(pattern, [subject]))
    found = compile_ere(pattern, ignore_case).search(subject.decode("latin-1"))
    assume(found is not None)
    matched = found.group(0).encode("latin-1")
    for needle in required_re2(pattern, ignore_case, lines):
        assert needle in (matched.lower() if ignore_case else matched)
    compiled = compile_pattern(pattern, ignore_case)
    assume(_decided(compiled, [subject]))
    if not _python_quirk(pattern, subject):
        assert compiled.search(subject, False) is True
        if lines and subject:  # one line
            assert in_lines(compiled, subject, False) is True


@pytest.mark.parametrize(
    ("pattern", "icase", "needles"),
    [
        ("Host: .*site9\\.example\\.com", True, (b"site9.example.com", b"host: ")),
        ("Host: .*site9.example.com", True, (b"example", b"host: ", b"site9", b"com")),
        ("^/app9/[0-9]+$", False, (b"/app9/",)),
        ("xa+?y", False, (b"x", b"y")),  # a+? is (a+)?: the a may be absent
        ("ab+c", False, (b"ab", b"c")),
        ("a|b", False, ()),
        ("(ab|cd)xyz", False, (b"xyz",)),
        ("[aA]bc", False, (b"bc",)),  # a pair is no byte without REG_ICASE
        ("(a)\\1", False, ()),  # not RE2's
    ],
)
def test_prefilter_strings(pattern: str, icase: bool, needles: tuple[bytes, ...]) -> None:
    assert required_re2(pattern, icase) == needles


@pytest.mark.skipif(LIBC is None, reason="no C library regcomp to compare with")
@settings(max_examples=400, deadline=None)
@given(eres(), st.text(alphabet="abBx.- ()\t1A!", max_size=12), st.booleans())
def test_agrees_with_libc_regexec(pattern: str, text: str, icase: bool) -> None:
    assert compile_pattern(pattern, icase).search(text.encode(), False) is libc_search(
        pattern, text, icase
    )


@settings(max_examples=500, deadline=None)
@given(patterns(), st.booleans(), st.booleans())
def test_re2_takes_every_pattern_but_back_references_and_word_edges(
    pattern: str, ignore_case: bool, lines: bool
) -> None:
    assume(_valid(pattern))
    try:
        translate_re2(pattern, ignore_case, lines)
    except Unsupported:
        assert re.search(r"\\[1-9<>]", pattern)
    else:
        assert compile_pattern(pattern, ignore_case).linear


# (pattern, ignore case, subject, matches): the places where RE2 and the C locale differ.
CASES = [
    ("é", True, b"\xc9", False),  # only ASCII letters fold
    ("[é-ÿ]", True, b"\xc9", False),
    ("[^é]", True, b"\xc9", True),
    ("\xb5", True, b"\xb5", True),
    ("k", True, b"K", True),
    ("[^a]", True, b"A", False),  # folded before negating
    ("[Z-a]", True, b"z", True),
    ("\\s", False, b"\v", True),  # RE2's \s lacks \v
    ("[[:space:]]", False, b"\v", True),
    ("a.c", False, b"a\nc", True),  # . matches a newline
    ("a$", False, b"a\n", False),  # $ at the very end only
    ("\\`a", False, b"ba", False),
    ("a\\'", False, b"a\n", False),
    ("\\w", False, b"\xe9", False),  # ASCII classes
    ("\\W", False, b"\xe9", True),
    ("\\bé", False, b" \xe9", False),  # é is not a word character
    ("\\<foo\\>", False, b"a foo b", True),
    ("\\<foo\\>", False, b"afoo", False),
    ("\\<[[:punct:]]", False, b" !", False),
    ("\u0100", False, b"\xc4\x80", False),  # beyond Latin-1: never matches
    ("a{1001}", False, b"a" * 1001, True),  # too many for RE2: Python's re, within its bound
    ("a{1001}", False, b"a" * 1000, False),
    ("(ab)\\1", False, b"xabab", True),
    ("(ab)\\1", False, b"xabba", False),
    ("\\B", False, b"", True),  # as glibc (Python's re says no)
]


@pytest.mark.parametrize(("pattern", "icase", "subject", "expected"), CASES)
def test_c_locale_semantics(pattern: str, icase: bool, subject: bytes, expected: bool) -> None:
    assert compile_pattern(pattern, icase).search(subject, not expected) is expected


def test_lines_form_matches_within_one_line() -> None:
    host = compile_pattern("^Host: a\\.com$", ignore_case=True)
    assert in_lines(host, b"Accept: */*\nhost: A.COM\nX: 1", False)
    assert not in_lines(host, b"Accept: */*\nhost: A.COM:80", False)
    spanning = compile_pattern("1.X", ignore_case=True)
    assert not in_lines(spanning, b"A: 1\nX: 2", False)  # . does not cross lines
    assert spanning.search(b"A: 1\nX: 2", False)
    anything = compile_pattern("^$")
    assert not in_lines(anything, b"", False)  # no line: no match
    assert anything.search(b"", False)
    assert not in_lines(compile_pattern(""), b"", False)


@pytest.mark.parametrize(
    ("pattern", "icase", "needle", "fold", "start", "end"),
    [
        ("Host: 127\\.0\\.0\\.1.*", True, b"host: 127.0.0.1", True, False, False),
        ("^/api/", False, b"/api/", False, True, False),
        ("\\.png$", False, b".png", False, False, True),
        (".*admin", False, b"admin", False, False, False),
        ("x*", False, b"", False, False, False),
        ("é", True, b"\xe9", False, False, False),
    ],
)
def test_fixed_strings_are_recognised(
    pattern: str, icase: bool, needle: bytes, fold: bool, start: bool, end: bool
) -> None:
    literal = literal_re2(pattern, icase)
    assert literal is not None
    assert (literal.needle, literal.fold, literal.start, literal.end) == (needle, fold, start, end)


@pytest.mark.parametrize(
    "pattern", ["a.b", "a+", "[aA]b", "a|b", "(a)", "^a.*$", "a\\b", "\\<a", "a.*b"]
)
def test_other_expressions_are_not_fixed_strings(pattern: str) -> None:
    assert literal_re2(pattern) is None


def test_fixed_string_fold_needs_every_letter_folded() -> None:
    # Case-sensitive "a" next to a folded [bB]: lower() would fold the "a" too.
    assert literal_re2("a[bB]") is None
    assert literal_re2("a[bB]", ignore_case=True) is not None


@pytest.mark.parametrize(
    ("pattern", "degree", "exponential"),
    [
        ("(ab)\\1", 0, False),
        ("(a*)\\1", 1, False),
        ("(.*)(.*)\\1\\2", 2, False),
        ("(a|b)\\1", 1, False),
        ("(a*)*\\1", 2, True),
        ("(a?){3}\\1", 3, False),
        ("a+?", 2, False),
    ],
)
def test_backtracking_shape(pattern: str, degree: int, exponential: bool) -> None:
    shape = backtracking(pattern)
    assert (shape.degree, shape.exponential) == (degree, exponential)


def test_backtracking_limit_follows_the_budget() -> None:
    compiled = compile_pattern("(.*)\\1x")
    assert not compiled.linear
    n = compiled.limit
    assert (n + 1) ** 3 <= BACKTRACK_BUDGET < (n + 2) ** 3
    exponential = compile_pattern("(a*)*\\1b")
    assert 0 < exponential.limit < 32


def test_an_undecided_search_answers_the_callers_value() -> None:
    compiled = compile_pattern("(a)\\1")
    long = b"x" * (compiled.limit + 1) + b"aa"
    assert compiled.search(long, True) is True
    assert compiled.search(long, False) is False
    assert compiled.search(b"aa", False) is True
    # Lines: a short matching line decides; one too long alone leaves it undecided.
    assert in_lines(compiled, long + b"\naa", False) is True
    assert in_lines(compiled, long + b"\nab", True) is True
    assert in_lines(compiled, b"ab\nba", True) is False


def test_the_budget_is_shared_by_the_lines_of_one_search() -> None:
    compiled = compile_pattern("(.*)\\1x")
    line = b"a" * compiled.limit
    cost = (len(line) + 1) ** 3
    fitting = BACKTRACK_BUDGET // cost
    left = BACKTRACK_BUDGET - fitting * cost
    assert fitting >= 1
    length = 3
    while (length + 1) ** 3 <= left:
        length += 1
    last = b"b" * (length - 3) + b"aax"  # matches, and costs more than what is left
    assert in_lines(compiled, b"\n".join([line] * fitting + [last]), False) is False
    assert in_lines(compiled, b"\n".join([line] * fitting + [last]), True) is True
    assert in_lines(compiled, b"\n".join([line] * (fitting - 1) + [last]), False)


def test_equal_sources_make_equal_patterns() -> None:
    assert compile_pattern("a") == compile_pattern("a")
    assert hash(compile_pattern("a")) == hash(compile_pattern("a"))
    assert compile_pattern("a") != compile_pattern("a", ignore_case=True)
    assert compile_pattern("a") != compile_pattern("b")
    assert isinstance(compile_pattern("a"), CompiledPattern)
    assert "ignore_case=True" in repr(compile_pattern("a", True))


def test_invalid_patterns_raise_regex_error() -> None:
    with pytest.raises(RegexError):
        compile_pattern("a(")
