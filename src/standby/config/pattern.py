"""Operator patterns, compiled to match client and backend input in linear time.

``URL``, ``Path``, ``CheckURL``, ``Header``/``HeadRequire``/``HeadDeny`` and a health
check's ``Body`` are POSIX EREs (config/posix_regex.py) searched in what clients and
backends send. Python's ``re`` backtracks: ``(a*)*b`` against a long header would hold a
worker for minutes. So a pattern is matched by RE2 (the ``google-re2`` package), whose
time is linear in the subject, whenever RE2 can express it: every ERE but those with a
back-reference (and the rare ``\\<``/``\\>`` not next to a single character, or a count
RE2 refuses, above 1000). Subjects are bytes, every byte one character (RE2's Latin-1
mode; the Python side decodes as Latin-1).

A call to RE2 costs about half a microsecond whatever the subject, several times a small
``re`` search, so two exact shortcuts come first: an expression that is one fixed string
is searched with bytes' own ``find`` (posix_regex.Literal), and a subject that lacks one
of the fixed strings every match contains (posix_regex.required_re2) is not given to RE2.

The rest is searched by Python's ``re``, which cannot be interrupted, within a bound
decided at load: its work is modelled as ``(n + 1) ** (degree + 2)`` steps for a subject
of ``n`` bytes (times ``2 ** n`` when exponential; see ``posix_regex.Backtracking``), and
one search spends at most ``BACKTRACK_BUDGET`` of them. A subject too long for what is
left is not searched: the answer is then the caller's ``undecided`` value, which the
callers choose so that an undecided pattern never selects or admits anything (a URL
condition does not hold, a ``HeadDeny`` denies, ``CheckURL`` rejects, a check fails).
tests/robustness/test_patterns.py measures the worst time that allows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

import re2
from re2 import _re2

from standby.config.posix_regex import (
    Literal,
    RegexError,
    Unsupported,
    backtracking,
    compile_ere,
    literal_re2,
    required_re2,
    translate_re2,
)

__all__ = [
    "BACKTRACK_BUDGET",
    "CompiledPattern",
    "PcrePattern",
    "RegexError",
    "compile_pattern",
    "compile_pcre",
    "escape_ere",
]

# Modelled steps one backtracking search may take: about 5 ms of Python's re on this
# project's test machine for the worst shapes measured (tests/robustness/test_patterns.py).
BACKTRACK_BUDGET = 10**8

_OPTIONS = re2.Options()
_OPTIONS.encoding = re2.Options.Encoding.LATIN1
_OPTIONS.never_capture = True  # only "does it match": no group positions to track
_OPTIONS.log_errors = False  # a pattern RE2 refuses goes to re, without noise on stderr
# Back-references ($1...) need the groups' text: a second RE2 program that captures, with
# POSIX's leftmost-longest rule for EREs, built the first time a capture is asked for.
_CAPTURE_OPTIONS = re2.Options()
_CAPTURE_OPTIONS.encoding = re2.Options.Encoding.LATIN1
_CAPTURE_OPTIONS.longest_match = True
_CAPTURE_OPTIONS.log_errors = False
# The same for -pcre patterns: Perl's leftmost-first rule.
_PCRE_OPTIONS = re2.Options()
_PCRE_OPTIONS.encoding = re2.Options.Encoding.LATIN1
_PCRE_OPTIONS.log_errors = False
_PCRE_ICASE_OPTIONS = re2.Options()
_PCRE_ICASE_OPTIONS.encoding = re2.Options.Encoding.LATIN1
_PCRE_ICASE_OPTIONS.log_errors = False
_PCRE_ICASE_OPTIONS.case_sensitive = False
_UNANCHORED = _re2.RE2.Anchor.UNANCHORED
# A match's groups: $0 (the whole match), $1...; a group that took no part is b"".
Groups = tuple[bytes, ...]
# The characters an ERE gives a meaning; escape_ere quotes them.
_ERE_SPECIAL = frozenset(".[]()*+?{}|^$\\")
_NO_SPAN = (-1, -1)

# A search: (subject, the answer when undecided) -> whether the pattern matches.
Search = Callable[[bytes, bool], bool]
# A search of header lines: (the lines joined by "\n", the same lower-cased, the answer
# when undecided) -> whether the pattern matches within one line. The caller lowers the
# block once for all the conditions that search it.
SearchLines = Callable[[bytes, bytes, bool], bool]
# RE2's search: (anchor, subject, start, end) -> the match's span first, (-1, -1) if none.
_Match = Callable[[_re2.RE2.Anchor, bytes, int, int], list[tuple[int, int]]]


def _re2_match(expression: bytes) -> _Match | None:
    """RE2's search for ``expression``, or None if RE2 refuses it (a count above 1000)."""
    compiled = _re2.RE2(expression, _OPTIONS)
    return compiled.Match if compiled.ok() else None


def _whole_search(source: str, ignore_case: bool) -> Search | None:
    """A search in linear time, or None when only Python's ``re`` can match ``source``.
    (``find``, not ``in``: ``in`` first tries the needle as an int, at the cost of an
    exception raised and cleared on every call.)"""
    literal = literal_re2(source, ignore_case)
    if literal is not None:
        return _literal_search(literal)
    try:
        match = _re2_match(translate_re2(source, ignore_case))
    except Unsupported:
        return None
    if match is None:
        return None
    # A subject that lacks one of these (lower-cased with ignore_case) cannot match.
    needles = required_re2(source, ignore_case)

    def search(subject: bytes, undecided: bool) -> bool:
        return match(_UNANCHORED, subject, 0, len(subject))[0] != _NO_SPAN

    def search_after(subject: bytes, undecided: bool) -> bool:
        haystack = subject.lower() if ignore_case else subject
        for needle in needles:
            if haystack.find(needle) < 0:
                return False
        return match(_UNANCHORED, subject, 0, len(subject))[0] != _NO_SPAN

    return search_after if needles else search


def _literal_search(literal: Literal) -> Search:
    """The search for an expression that is one fixed string: bytes' own, in C."""
    needle = literal.needle
    if literal.start and literal.end:
        if literal.fold:
            return lambda subject, _: subject.lower() == needle
        return lambda subject, _: subject == needle
    if literal.start:
        if literal.fold:
            return lambda subject, _: subject[: len(needle)].lower() == needle
        return lambda subject, _: subject.startswith(needle)
    if literal.end:
        if literal.fold:
            return lambda subject, _: subject[len(subject) - len(needle) :].lower() == needle
        return lambda subject, _: subject.endswith(needle)
    if literal.fold:
        return lambda subject, _: subject.lower().find(needle) >= 0
    return lambda subject, _: subject.find(needle) >= 0


def _lines_search(source: str, ignore_case: bool) -> SearchLines | None:
    """A search of header lines in linear time, or None when only Python's ``re`` can.
    No line (an empty block) never matches, though ``^$`` matches the empty block."""
    literal = literal_re2(source, ignore_case, lines=True)
    if literal is not None:  # never anchored in lines form
        needle = literal.needle
        if not needle:
            return lambda block, lowered, _: bool(block)
        if literal.fold:
            return lambda block, lowered, _: lowered.find(needle) >= 0
        return lambda block, lowered, _: block.find(needle) >= 0
    try:
        match = _re2_match(translate_re2(source, ignore_case, lines=True))
    except Unsupported:
        return None
    if match is None:
        return None
    needles = required_re2(source, ignore_case, lines=True)

    def search_lines(block: bytes, lowered: bytes, undecided: bool) -> bool:
        haystack = lowered if ignore_case else block
        for needle in needles:
            if haystack.find(needle) < 0:
                return False
        return bool(block) and match(_UNANCHORED, block, 0, len(block))[0] != _NO_SPAN

    return search_lines


def backtracking_cost(length: int, degree: int, exponential: bool) -> int:
    """The modelled backtracking steps of a pattern for a subject of ``length`` bytes."""
    steps: int = (length + 1) ** (degree + 2)
    return steps << length if exponential else steps


def longest_subject(degree: int, exponential: bool) -> int:
    """The longest subject a backtracking search takes within BACKTRACK_BUDGET."""
    limit = 0
    while backtracking_cost(limit + 1, degree, exponential) <= BACKTRACK_BUDGET:
        limit += 1
    return limit


class CompiledPattern:
    """One operator pattern: ``search(subject, undecided)`` and ``search_lines(block,
    lowered, undecided)`` (model.Pattern) are functions chosen at construction, RE2's, a fixed
    string's or the bounded backtracking one. ``source`` is as written; equal sources and
    flags make equal patterns (a reloaded configuration compares its specs with the
    running ones)."""

    __slots__ = (
        "_capture",
        "_capture_tried",
        "_python",
        "degree",
        "exponential",
        "ignore_case",
        "limit",
        "linear",
        "search",
        "search_lines",
        "source",
    )

    def __init__(self, source: str, ignore_case: bool = False) -> None:
        self.source = source
        self.ignore_case = ignore_case
        self._python = compile_ere(source, ignore_case)  # validates: RegexError
        self._capture: _Match | None = None  # RE2's capturing program, once asked for
        self._capture_tried = False
        shape = backtracking(source)
        self.degree = shape.degree
        self.exponential = shape.exponential
        whole = _whole_search(source, ignore_case)
        lines = _lines_search(source, ignore_case)
        # Whether the searches run in linear time (else Python's re, within the budget).
        self.linear = whole is not None and lines is not None
        # The longest subject a backtracking search takes (0: any length, in linear time).
        self.limit = 0
        self.search: Search
        self.search_lines: SearchLines
        if whole is not None and lines is not None:
            self.search = whole
            self.search_lines = lines
        else:
            self.limit = longest_subject(self.degree, self.exponential)
            self.search = self._search_backtracking
            self.search_lines = self._search_lines_backtracking

    def _search_backtracking(self, subject: bytes, undecided: bool) -> bool:
        return self._backtrack((subject,), undecided)

    def _search_lines_backtracking(self, block: bytes, lowered: bytes, undecided: bool) -> bool:
        return bool(block) and self._backtrack(block.split(b"\n"), undecided)

    def _backtrack(self, subjects: Iterable[bytes], undecided: bool) -> bool:
        budget = BACKTRACK_BUDGET
        skipped = False
        for subject in subjects:
            cost = budget + 1 if len(subject) > self.limit else self._cost(len(subject))
            if cost > budget:
                skipped = True
                continue
            budget -= cost
            if self._python.search(subject.decode("latin-1")) is not None:
                return True
        return undecided if skipped else False

    def captures(self, subject: bytes) -> Groups | None:
        """The groups of the first match in ``subject`` ($0, $1...), or None when it does
        not match (or a backtracking search would exceed its bound)."""
        if not self._capture_tried:
            self._capture_tried = True
            self._capture = self._capture_program() if self.linear else None
        match = self._capture
        if match is not None:
            return _groups_of_spans(match(_UNANCHORED, subject, 0, len(subject)), subject)
        if self._cost(len(subject)) > BACKTRACK_BUDGET:
            return None
        return _groups_of_match(self._python.search(subject.decode("latin-1")))

    def _capture_program(self) -> _Match | None:
        """RE2's capturing search, or None (then Python's ``re`` within the budget)."""
        try:
            source = translate_re2(self.source, self.ignore_case, capture=True)
        except Unsupported:
            return None
        compiled = _re2.RE2(source, _CAPTURE_OPTIONS)
        return compiled.Match if compiled.ok() else None

    def captures_lines(self, block: bytes) -> Groups | None:
        """The groups of the first header line (of ``block``'s LF-separated lines) that
        matches, or None."""
        return _first_line_groups(self.captures, block)

    def _cost(self, length: int) -> int:
        """The modelled backtracking steps for a subject of ``length`` bytes."""
        return backtracking_cost(length, self.degree, self.exponential)

    @property
    def groups(self) -> int:
        """How many parenthesized groups the pattern has ($1.. $groups)."""
        return self._python.groups

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CompiledPattern):
            return NotImplemented
        return self.source == other.source and self.ignore_case == other.ignore_case

    def __hash__(self) -> int:
        return hash((self.source, self.ignore_case))

    def __repr__(self) -> str:
        flags = ", ignore_case=True" if self.ignore_case else ""
        return f"CompiledPattern({self.source!r}{flags})"


def compile_pattern(source: str, ignore_case: bool = False) -> CompiledPattern:
    """Compile a POSIX ERE (``REG_ICASE`` with ``ignore_case``), or raise ``RegexError``."""
    return CompiledPattern(source, ignore_case)


def escape_ere(text: str) -> str:
    """``text`` as an ERE that matches it literally (for -exact, -beg, -end, -contain)."""
    return "".join("\\" + ch if ch in _ERE_SPECIAL else ch for ch in text)


# A -pcre pattern RE2 cannot run (look-around, back-references) is searched by Python's re
# within BACKTRACK_BUDGET, modelled as an ERE's would be: its degree is the count of its
# quantifiers, and a quantified group holding a quantifier makes it exponential.
_PCRE_QUANTIFIER = re.compile(r"(?<!\\)[*+?{]")
_PCRE_NESTED = re.compile(r"\([^()]*(?<!\\)[*+?{][^()]*\)[*+?{]")


def _groups_of_spans(spans: Sequence[tuple[int, int]], subject: bytes) -> Groups | None:
    """The groups ($0, $1...) of an RE2 match's spans in ``subject``; None for no match."""
    if spans[0] == _NO_SPAN:
        return None
    return tuple(b"" if start < 0 else subject[start:end] for start, end in spans)


def _groups_of_match(found: re.Match[str] | None) -> Groups | None:
    """The groups ($0, $1...) of a Python ``re`` match of a latin-1 subject; None for none."""
    if found is None:
        return None
    return tuple((text or "").encode("latin-1") for text in (found[0], *found.groups()))


def _first_line_groups(captures: Callable[[bytes], Groups | None], block: bytes) -> Groups | None:
    """The groups of the first of ``block``'s LF-separated lines that ``captures`` matches."""
    if not block:
        return None
    for line in block.split(b"\n"):
        groups = captures(line)
        if groups is not None:
            return groups
    return None


class PcrePattern:
    """A ``-pcre`` pattern (``RegexType pcre``): Perl syntax, with Python ``re``'s semantics
    where RE2 (whose syntax is Perl's without look-around and back-references) refuses it.
    The same interface as CompiledPattern (model.Pattern)."""

    __slots__ = (
        "_match",
        "_python",
        "degree",
        "exponential",
        "ignore_case",
        "limit",
        "linear",
        "source",
    )

    def __init__(self, source: str, ignore_case: bool = False) -> None:
        self.source = source
        self.ignore_case = ignore_case
        flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
        try:
            self._python = re.compile(source, flags)
        except (re.error, OverflowError, RecursionError) as exc:
            raise RegexError(str(exc)) from None
        options = _PCRE_ICASE_OPTIONS if ignore_case else _PCRE_OPTIONS
        compiled = _re2.RE2(source.encode("latin-1", "replace"), options)
        self._match: _Match | None = compiled.Match if compiled.ok() else None
        self.linear = self._match is not None
        self.degree = len(_PCRE_QUANTIFIER.findall(source))
        self.exponential = _PCRE_NESTED.search(source) is not None
        self.limit = 0 if self.linear else longest_subject(self.degree, self.exponential)

    def captures(self, subject: bytes) -> Groups | None:
        match = self._match
        if match is not None:
            return _groups_of_spans(match(_UNANCHORED, subject, 0, len(subject)), subject)
        if len(subject) > self.limit:
            return None
        return _groups_of_match(self._python.search(subject.decode("latin-1")))

    def search(self, subject: bytes, undecided: bool) -> bool:
        if self._match is None and len(subject) > self.limit:
            return undecided
        return self.captures(subject) is not None

    def search_lines(self, block: bytes, lowered: bytes, undecided: bool) -> bool:
        if not block:
            return False
        skipped = False
        for line in block.split(b"\n"):
            if self._match is None and len(line) > self.limit:
                skipped = True
            elif self.captures(line) is not None:
                return True
        return undecided if skipped else False

    def captures_lines(self, block: bytes) -> Groups | None:
        return _first_line_groups(self.captures, block)

    @property
    def groups(self) -> int:
        return self._python.groups

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PcrePattern):
            return NotImplemented
        return self.source == other.source and self.ignore_case == other.ignore_case

    def __hash__(self) -> int:
        return hash(("pcre", self.source, self.ignore_case))

    def __repr__(self) -> str:
        flags = ", ignore_case=True" if self.ignore_case else ""
        return f"PcrePattern({self.source!r}{flags})"


def compile_pcre(source: str, ignore_case: bool = False) -> PcrePattern:
    """Compile a Perl-style pattern (``-pcre``), or raise ``RegexError``."""
    return PcrePattern(source, ignore_case)
