"""POSIX ERE -> Python ``re`` translation, checked against hand-written POSIX answers
and, where the C library has ``regcomp``, against it directly."""

from __future__ import annotations

import ctypes
import ctypes.util
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from standby.config.posix_regex import RegexError, compile_ere, translate

# (pattern, ignore case, text, does POSIX regexec find a match)
MATCHES = [
    # bracket classes
    ("^[[:alpha:]]+$", False, "abcXYZ", True),
    ("^[[:alpha:]]+$", False, "abc1", False),
    ("[[:digit:]]", False, "x7", True),
    ("[[:digit:]]", False, "x", False),
    ("^[[:alnum:]]+$", False, "a1B2", True),
    ("^[[:alnum:]]+$", False, "a_1", False),
    ("[[:upper:]]", False, "abc", False),
    ("[[:upper:]]", True, "abc", True),  # REG_ICASE: upper and lower both mean alpha
    ("[[:lower:]]", False, "ABC", False),
    ("[[:lower:]]", True, "ABC", True),
    ("a[[:space:]]b", False, "a\tb", True),
    ("a[[:space:]]b", False, "a\vb", True),
    ("a[[:space:]]b", False, "a_b", False),
    ("a[[:blank:]]b", False, "a b", True),
    ("a[[:blank:]]b", False, "a\nb", False),
    ("^[[:punct:]]+$", False, "!/:@[`{~", True),
    ("[[:punct:]]", False, "a b", False),
    ("^[[:xdigit:]]+$", False, "09afAF", True),
    ("[[:xdigit:]]", False, "g", False),
    ("[[:cntrl:]]", False, "a\x7fb", True),
    ("[[:cntrl:]]", False, "ab ", False),
    ("^[[:print:]]+$", False, "a b~", True),
    ("[[:print:]]", False, "\t", False),
    ("^[[:graph:]]+$", False, "a~!", True),
    ("[[:graph:]]", False, " ", False),
    ("[[:alpha:]]", False, "é", False),  # C locale: ASCII only
    # bracket syntax
    ("[^a]", False, "a", False),
    ("[^a]", False, "\n", True),
    ("[]a]", False, "]", True),
    ("[]a]", False, "b", False),
    ("[^]a]", False, "]", False),
    ("[^]a]", False, "b", True),
    ("[a-]", False, "-", True),
    ("[-a]", False, "-", True),
    ("[a\\]", False, "\\", True),  # backslash is literal in a bracket
    ("[\\d]", False, "d", True),
    ("[\\d]", False, "5", False),
    ("[.]", False, "x", False),
    ("[.]", False, ".", True),
    ("[*+?{}()|^$]", False, "$", True),
    ("[a^]", False, "^", True),
    ("[[]", False, "[", True),
    ("[[a]", False, "a", True),
    ("[a&&b]", False, "&", True),  # not a set operation
    ("[%--]", False, "-", True),  # a range from % to -
    ("[!--]", False, ",", True),  # a range from ! to -
    ("[[.-.]]", False, "-", True),
    ("[[=a=]b]", False, "a", True),
    ("[[:alpha:][:digit:]_]", False, "_", True),
    ("[a-c]", False, "b", True),
    ("[a-c]", False, "B", False),
    ("[a-c]", True, "B", True),
    ("[^a-c]", True, "B", False),
    # outside brackets
    ("a.c", False, "a\nc", True),  # no REG_NEWLINE: . matches newline
    ("a$", False, "a\n", False),  # $ only at the very end
    ("^a", False, "ba", False),
    ("a|b", False, "b", True),
    ("(ab)+c", False, "ababc", True),
    ("a{2}", False, "a", False),
    ("^a{2,}$", False, "aaa", True),
    ("^a{,2}$", False, "aaa", False),
    ("^a{1,2}$", False, "aa", True),
    ("xa+?y", False, "xy", True),  # POSIX: (a+)?; Python's lazy a+? would need an a
    ("^a**$", False, "", True),
    ("^(a{2}){2}$", False, "aaaa", True),
    ("^a{2}{2}$", False, "aaaa", True),
    ("^a{2}{2}$", False, "aaa", False),
    ("a)", False, "a)", True),  # an unmatched ) is ordinary
    ("}", False, "}", True),
    ("]", False, "]", True),
    ("a\\.b", False, "axb", False),
    ("a\\.b", False, "a.b", True),
    ("\\/", False, "/", True),
    ("\\(", False, "(", True),
    ("(a)\\1", False, "aa", True),
    ("(a)\\1", False, "ab", False),
    ("(a)\\10", False, "aa0", True),  # back-reference 1 then a literal 0
    ("\\bfoo\\b", False, "a foo b", True),
    ("\\<foo", False, "xfoo", False),
    ("foo\\>", False, "foo bar", True),
    ("\\w+", False, "é", False),
    ("^\\s$", False, " ", True),
    ("a#b c", False, "a#b c", True),  # no verbose mode
    ("é", True, "É", False),  # C locale: only ASCII letters fold
    ("k", True, "\u212a", False),  # no Unicode folding (Kelvin sign)
    ("Host: www.nire.com.*", True, "HOST: WWW.NIRE.COM", True),
    ("", False, "anything", True),
]


@pytest.mark.parametrize(("pattern", "icase", "text", "expected"), MATCHES)
def test_matches_like_posix(pattern: str, icase: bool, text: str, expected: bool) -> None:
    assert bool(compile_ere(pattern, icase).search(text)) is expected


BAD = [
    ("a(b", "unmatched ("),
    ("(", "unmatched ("),
    ("[a", "unmatched ["),
    ("[]", "unmatched ["),
    ("[^]", "unmatched ["),
    ("[[:alpha:]", "unmatched ["),
    ("[[:alpha]]", "unmatched [:"),
    ("[[:foo:]]", "unknown character class [:foo:]"),
    ("[[.ab.]]", "unknown collating element [.ab.]"),
    ("[z-a]", "invalid range end"),
    ("[a--]", "invalid range end"),
    ("[a-[:alpha:]]", "class used as a range end"),
    ("[[:alpha:]-z]", "invalid range"),
    ("[a-c-e]", "invalid range"),
    ("*a", "repetition with nothing to repeat"),
    ("a|*b", "repetition with nothing to repeat"),
    ("(*a)", "repetition with nothing to repeat"),
    ("(?:a)", "repetition with nothing to repeat"),
    ("^*", "repetition with nothing to repeat"),
    ("a$+", "repetition with nothing to repeat"),
    ("{1}", "repetition with nothing to repeat"),
    ("\\b*", "repetition with nothing to repeat"),
    ("a{", "unmatched {"),
    ("a{1", "unmatched {"),
    ("a{x}", "bad interval"),
    ("a{}", "bad interval"),
    ("a{1,2,3}", "bad interval"),
    ("a{3,2}", "bad interval"),
    ("a{32768}", "interval count too large"),
    ("a{999999}", "interval count too large"),
    ("a\\", "trailing backslash"),
    ("\\d", "undefined escape \\d"),
    ("\\n", "undefined escape \\n"),
    ("\\0", "undefined escape \\0"),
    ("\\1", "invalid back reference \\1"),
    ("(a\\1)", "invalid back reference \\1"),
]


@pytest.mark.parametrize(("pattern", "reason"), BAD)
def test_invalid_expressions(pattern: str, reason: str) -> None:
    with pytest.raises(RegexError) as info:
        compile_ere(pattern)
    assert str(info.value) == reason


@pytest.mark.parametrize(
    ("pattern", "python"),
    [
        ("a.b$", "a.b\\Z"),
        ("[[:digit:]]", "[0-9]"),
        ("[^]-]", "[^\\x5d\\x2d]"),
        ("a+?", "(?:a+)?"),
        ("(a)\\1", "(a)(?:\\1)"),
        ("x{2,}", "x{2,}"),
        ("a)", "a\\)"),
    ],
)
def test_translation_table(pattern: str, python: str) -> None:
    assert translate(pattern) == python


# --- differential check against the C library's regcomp/regexec, where available ----

REG_EXTENDED, REG_ICASE, REG_NOSUB = 1, 2, 8
# regex_t is 64 bytes on glibc/x86-64; a generous buffer fits any libc.
REGEX_T_SIZE = 1024


def _load_libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.regcomp, libc.regexec, libc.regfree  # noqa: B018 - probe the symbols
    except (OSError, AttributeError):
        return None
    return libc


LIBC = _load_libc()


def libc_search(pattern: str, text: str, icase: bool) -> bool | None:
    """regexec's answer, or None when regcomp rejects the pattern."""
    assert LIBC is not None
    buf = ctypes.create_string_buffer(REGEX_T_SIZE)
    flags = REG_EXTENDED | REG_NOSUB | (REG_ICASE if icase else 0)
    if LIBC.regcomp(buf, pattern.encode(), flags) != 0:
        return None
    try:
        return bool(LIBC.regexec(buf, text.encode(), 0, None, 0) == 0)
    finally:
        LIBC.regfree(buf)


_ATOMS = st.sampled_from(
    ["a", "b", "B", ".", "-", " ", "[ab]", "[^a]", "[]a]", "[a-c]", "[[:alpha:]]",
     "[[:space:]]", "[[:digit:]]", "[[:upper:]]", "[[:punct:]]", "\\.", "\\(", "x"]
)  # fmt: skip
_QUANTIFIERS = st.sampled_from(["", "", "*", "+", "?", "{2}", "{1,2}", "{0,}", "+?", "**"])
# Groups get bounded repetition only: an unbounded quantifier on a group that holds one
# (`(a*)*`) makes Python's backtracking `re` exponential on some texts and hangs the test
# (glibc's matcher does not backtrack). Such patterns are the operator's own to avoid.
_GROUP_QUANTIFIERS = st.sampled_from(["", "", "?", "{2}", "{1,2}"])


@st.composite
def eres(draw: st.DrawFn, depth: int = 0) -> str:
    pieces = []
    for _ in range(draw(st.integers(1, 4))):
        if depth < 2 and draw(st.booleans()) and draw(st.booleans()):
            pieces.append("(" + draw(eres(depth + 1)) + ")" + draw(_GROUP_QUANTIFIERS))
        else:
            pieces.append(draw(_ATOMS) + draw(_QUANTIFIERS))
    body = "".join(pieces)
    if draw(st.booleans()) and draw(st.booleans()):
        body += "|" + draw(eres(depth + 1)) if depth < 2 else ""
    if depth > 0:
        # glibc mis-handles `^` inside a repeated group after other input: it matches
        # `[[:punct:]](^(.)|a*)+$` in ".1", where `^` cannot match. Anchors stay outermost.
        return body
    return ("^" if draw(st.booleans()) else "") + body + ("$" if draw(st.booleans()) else "")


@pytest.mark.skipif(LIBC is None, reason="no C library regcomp to compare with")
@settings(max_examples=400, deadline=None)
@given(eres(), st.text(alphabet="abBx.- ()\t1A!", max_size=12), st.booleans())
def test_agrees_with_libc_regexec(pattern: str, text: str, icase: bool) -> None:
    expected = libc_search(pattern, text, icase)
    assert expected is not None, pattern  # the generator only writes valid EREs
    assert bool(compile_ere(pattern, icase).search(text)) is expected


def test_compiled_flags() -> None:
    sensitive = compile_ere("a")
    insensitive = compile_ere("a", ignore_case=True)
    assert sensitive.flags & (re.ASCII | re.DOTALL) == re.ASCII | re.DOTALL
    assert not sensitive.flags & re.IGNORECASE and insensitive.flags & re.IGNORECASE
