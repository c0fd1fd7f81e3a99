"""Pound's way of placing a configuration diagnostic, for the `pound` log style.

Scripts and Pound's own test suite read `pound -c`'s stderr (`pound: FILE:RANGE: TEXT`),
so behind the `pound` wrapper standby says what it refuses where Pound does and, for the
mistakes both refuse, in Pound's words. A diagnostic carries a ``PoundForm``: marks on
tokens of the file (standby's locations) and the text. Rendering reads the lines back, to
find where a token ends and to count columns as Pound does (a tab goes to the next
multiple of 8). Pure: the caller gives the file's text.

A range is ``L.C`` for one character, ``L.C1-C2`` on one line, ``L1.C1-L2.C2`` across
lines, and ``L1.C1-L2`` when it ends at the start of line L2 (Pound's end-of-line token).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from standby.model import Location

# The attribute of a log record (``extra=``) that holds a warning's PoundForm.
POUND_FORM = "pound_form"
TAB_STOP = 8  # Pound counts a tab as reaching the next multiple of 8 columns
_NUMBER = re.compile(r"[0-9]+\Z")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_TOKEN_END = frozenset(' \t\r#"')


class Edge(enum.Enum):
    FIRST = "first"  # the token's first character
    LAST = "last"  # its last character
    NEXT_LINE = "next line"  # the start of the next line (ends Pound's end-of-line token)


@dataclass(frozen=True, slots=True)
class Mark:
    at: Location  # where a token starts, in standby's columns (characters from 1)
    edge: Edge = Edge.FIRST


@dataclass(frozen=True, slots=True)
class PoundForm:
    """Where Pound places a diagnostic and what it says; ``notes`` are further lines at
    the same place (Pound's hints)."""

    text: str
    begin: Mark
    end: Mark
    notes: tuple[str, ...] = ()


def token(at: Location, text: str) -> PoundForm:
    """The token starting at ``at``, first to last character."""
    return PoundForm(text, Mark(at), Mark(at, Edge.LAST))


def end_of_line(last: Location, text: str) -> PoundForm:
    """Pound's end-of-line token after the token at ``last`` (a missing argument)."""
    return PoundForm(text, Mark(last, Edge.LAST), Mark(last, Edge.NEXT_LINE))


def section(
    opener: Sequence[Location], end: Location | None, text: str, *, after_keyword: bool
) -> PoundForm:
    """A section, through its `End`: from its keyword (a backend), or ``after_keyword``
    from what follows the keyword (a Service: its name, else the end of the keyword)."""
    if not opener:
        raise ValueError("a section has an opening line")
    if not after_keyword:
        begin = Mark(opener[0])
    elif len(opener) > 1:
        begin = Mark(opener[1])
    else:
        begin = Mark(opener[0], Edge.LAST)
    return PoundForm(text, begin, Mark(end or opener[-1], Edge.LAST))


def token_class(text: str, quoted: bool) -> str:
    """What Pound calls a token of the line: `quoted string`, `number`, `identifier` or
    `literal` (anything else written bare, such as 127.0.0.1 or 1.5)."""
    if quoted:
        return "quoted string"
    if _NUMBER.match(text):
        return "number"
    if _IDENTIFIER.match(text):
        return "identifier"
    return "literal"


def render(form: PoundForm, read: Callable[[str], str | None]) -> list[str]:
    """``FILE:RANGE: TEXT`` and a line per note; ``read(file)`` gives a file's text (None
    when it cannot be read: columns are then standby's)."""
    where = f"{form.begin.at.file}:{_range(form.begin, form.end, read)}"
    return [f"{where}: {line}" for line in (form.text, *form.notes)]


def _range(begin: Mark, end: Mark, read: Callable[[str], str | None]) -> str:
    line1, col1 = _position(begin, read)
    line2, col2 = _position(end, read)
    if begin.at.file != end.at.file:
        return f"{line1}.{col1}"
    if line1 == line2:
        return f"{line1}.{col1}" if col1 == col2 else f"{line1}.{col1}-{col2}"
    if col2 == 0:
        return f"{line1}.{col1}-{line2}"
    return f"{line1}.{col1}-{line2}.{col2}"


def _position(mark: Mark, read: Callable[[str], str | None]) -> tuple[int, int]:
    at = mark.at
    if mark.edge is Edge.NEXT_LINE:
        return at.line + 1, 0
    text = read(at.file)
    lines = text.split("\n") if text is not None else []
    if not 0 < at.line <= len(lines):
        return at.line, at.col
    raw = lines[at.line - 1]
    index = at.col - 1
    if mark.edge is Edge.LAST:
        index = _last_char(raw, index)
    return at.line, _column(raw, index)


def _last_char(raw: str, start: int) -> int:
    """The index of the last character of the token starting at ``raw[start]``."""
    n = len(raw)
    if start >= n:
        return start
    if raw[start] == '"':
        i = start + 1
        while i < n:
            if raw[i] == "\\":
                i += 2
                continue
            if raw[i] == '"':
                return i
            i += 1
        return n - 1
    i = start
    while i + 1 < n and raw[i + 1] not in _TOKEN_END:
        i += 1
    return i


def _column(raw: str, index: int) -> int:
    """Pound's column (from 1) of ``raw[index]``: tabs reach the next multiple of 8."""
    column = 0
    for ch in raw[:index]:
        column = (column // TAB_STOP + 1) * TAB_STOP if ch == "\t" else column + 1
    return column + 1
