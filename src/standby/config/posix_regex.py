"""POSIX extended regular expressions (as Pound compiles them with ``regcomp``) translated
to Python's ``re`` and to RE2.

Pound matches service conditions with ``regcomp(REG_EXTENDED)`` (plus ``REG_ICASE`` for
header conditions) in the C locale. The router only asks "does it match anywhere"
(``pattern.search``), and the set of strings an expression matches is the same under
POSIX leftmost-longest and Python leftmost-first matching, so a faithful translation of
the *syntax* gives the same routing decisions. What differs and how it is handled:

- Bracket expressions: ``]`` first is literal, a backslash is literal, ``[:class:]``,
  ``[=c=]`` and ``[.c.]`` are recognised; every literal is emitted as a ``\\xNN``
  escape so nothing is special to Python (``[``, ``&&``, ``--``...).
- ``.`` matches any character including newline (no ``REG_NEWLINE``): ``re.DOTALL``.
- ``$`` matches only at the very end (Python's ``$`` also matches before a final
  newline): emitted as ``\\Z``.
- Character classes, ``\\w``, ``\\s`` and case folding are ASCII, as in the C locale:
  ``re.ASCII``.
- ``a+?`` is "optionally one or more a" in POSIX, a lazy quantifier in Python: stacked
  repetitions are wrapped in a group, ``(?:a+)?``.
- ``{`` must begin a valid interval (``{m}``, ``{m,}``, ``{m,n}``, ``{,n}``); Python
  would silently take a malformed one literally.
- An unmatched ``)`` is an ordinary character (POSIX: it is special only when matched).
- A repetition with nothing to repeat (at the start, after ``(``, ``|`` or an anchor)
  is an error, as in glibc.
- Escapes: ``\\`` before a non-alphanumeric character makes it literal; the GNU
  extensions ``\\w \\W \\s \\S \\b \\B \\< \\> \\` \\'`` and back-references ``\\1``..``\\9``
  are supported as glibc does; any other escaped letter or digit (``\\d``, ``\\n``...) is
  rejected, because glibc would silently match the bare letter, which is never what the
  author meant.

The same parse also writes the expression for RE2 (``translate_re2``), which matches in
time linear in the subject. Subjects are bytes there (RE2's Latin-1 mode: one byte, one
character, as the Latin-1 decoded strings Python sees), and every character atom is
written out as the set of bytes it matches (``[\\x41\\x61]`` for ``a`` under
``REG_ICASE``): RE2 is never asked to fold case, so only ASCII letters fold, as in the C
locale, and its ``\\s`` (which lacks ``\\v``) is never used. ``$`` is ``\\z``. In *lines*
form the subject is header lines joined by ``\\n`` and the expression must match within
one line: no set contains ``\\n``, and ``^``/``$`` are line anchors, so one search over
the joined lines answers "does any line match". RE2 has no back-references and no
look-around: an expression with a back-reference, or a ``\\<``/``\\>`` that cannot be
folded into the single character next to it (``\\<a`` is ``\\b[a]``), raises
``Unsupported`` and is left to Python's ``re`` (config/pattern.py bounds that).

An RE2 call costs about half a microsecond whatever it searches, four times a small
``re`` search: ``literal_re2`` recognises the expressions that are one fixed string, such
as ``Host: www\\.example\\.com``, which bytes' own search answers exactly (see
``Literal``), and ``required_re2`` the fixed strings every match contains, which a
search can look for before calling RE2.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# glibc's RE_DUP_MAX: the largest interval count Pound accepts on Linux.
MAX_REPEAT = 0x7FFF

# Named classes of the C locale, as Python class contents.
POSIX_CLASSES: dict[str, str] = {
    "alpha": "a-zA-Z",
    "digit": "0-9",
    "alnum": "0-9a-zA-Z",
    "upper": "A-Z",
    "lower": "a-z",
    "space": r" \t\n\r\f\v",
    "blank": r" \t",
    "punct": r"!-/:-@\[-`{-~",
    "xdigit": "0-9A-Fa-f",
    "cntrl": r"\x00-\x1f\x7f",
    "print": r"\x20-\x7e",
    "graph": r"\x21-\x7e",
}

# GNU escapes outside brackets and their Python equivalents; the boolean says whether
# the result can take a repetition (anchors cannot).
_GNU_ESCAPES: dict[str, tuple[str, bool]] = {
    "w": (r"\w", True),
    "W": (r"\W", True),
    "s": (r"\s", True),
    "S": (r"\S", True),
    "b": (r"\b", False),
    "B": (r"\B", False),
    "<": (r"\b(?=\w)", False),
    ">": (r"\b(?<=\w)", False),
    "`": (r"\A", False),
    "'": (r"\Z", False),
}

_FLAGS = re.ASCII | re.DOTALL

# Byte sets, as 256-bit masks (bit b: byte b is in the set).
_ALL = (1 << 256) - 1
_NEWLINE = 1 << 0x0A
_ASCII_LETTERS = 0x3FFFFFF  # 26 bits


def _byte_mask(python_class: str) -> int:
    """The bytes a Python (ASCII, DOTALL) class matches, e.g. ``a-zA-Z``."""
    compiled = re.compile(f"[{python_class}]", _FLAGS)
    return sum(1 << b for b in range(256) if compiled.fullmatch(chr(b)))


_CLASS_MASKS = {name: _byte_mask(contents) for name, contents in POSIX_CLASSES.items()}
_WORD = _byte_mask(r"\w")
_SPACE = _byte_mask(r"\s")
_ESCAPE_MASKS = {"w": _WORD, "W": _ALL & ~_WORD, "s": _SPACE, "S": _ALL & ~_SPACE}
# RE2 text of the anchors, in whole-subject and in lines form.
_RE2_ANCHORS: dict[str, tuple[str, str]] = {
    "^": ("^", "(?m:^)"),
    "$": (r"\z", "(?m:$)"),
    "`": (r"\A", "(?m:^)"),
    "'": (r"\z", "(?m:$)"),
    "b": (r"\b", r"\b"),
    "B": (r"\B", r"\B"),
}
# A set with no byte: RE2 in Latin-1 mode never sees a character above 0xff.
_RE2_NOTHING = r"[^\x00-\xff]"


class RegexError(ValueError):
    """The pattern is not a valid POSIX extended regular expression."""


class Unsupported(Exception):
    """RE2 cannot express this (valid) expression: it needs Python's ``re``."""


@dataclass(frozen=True, slots=True)
class Backtracking:
    """How much choice Python's backtracking ``re`` has in an expression: ``degree`` counts
    its choice points (a repetition of variable count, an alternative), each of which can
    multiply the work by the subject's length; ``exponential`` is set by an unbounded
    repetition of something that itself has a choice (``(a*)*``, ``(a|b)+``)."""

    degree: int
    exponential: bool


@dataclass(frozen=True, slots=True)
class Literal:
    """An expression that matches exactly where ``needle`` occurs: its characters are
    single bytes, or (``fold``) ASCII letters of either case, which ``bytes.lower`` folds
    as the C locale does; ``start``/``end``: anchored there (whole subjects only). A
    repetition that may match nothing (``.*``) at an unanchored end cannot change whether
    a search finds a match, so it is dropped: ``Host: a\\.com.*`` is ``host: a.com``."""

    needle: bytes
    fold: bool
    start: bool
    end: bool


def compile_ere(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    """Compile a POSIX ERE to an equivalent Python pattern, or raise ``RegexError``."""
    translated = translate(pattern)
    try:
        return re.compile(translated, _FLAGS | (re.IGNORECASE if ignore_case else 0))
    except (re.error, OverflowError, RecursionError) as exc:  # pragma: no cover - safety net
        raise RegexError(str(exc)) from None


def translate(pattern: str) -> str:
    """Translate the POSIX ERE ``pattern`` to Python ``re`` syntax."""
    return _Translator(pattern).run()


def backtracking(pattern: str) -> Backtracking:
    """The choice Python's ``re`` has in ``pattern`` (a valid ERE)."""
    translator = _Translator(pattern)
    translator.run()
    return Backtracking(translator.degree, translator.exponential)


def translate_re2(
    pattern: str, ignore_case: bool = False, lines: bool = False, capture: bool = False
) -> bytes:
    """Translate the POSIX ERE ``pattern`` to RE2 syntax for Latin-1 subjects; in ``lines``
    form for header lines joined by ``\\n``; with ``capture``, its groups stay capturing
    groups (back-references' ``$1``). Raises ``RegexError`` or ``Unsupported``."""
    translator = _Translator(pattern, re2=True, ignore_case=ignore_case, lines=lines)
    translator.capture = capture
    return translator.run().encode()


def literal_re2(pattern: str, ignore_case: bool = False, lines: bool = False) -> Literal | None:
    """The fixed string ``translate_re2``'s expression amounts to, if it is one."""
    translator = _Translator(pattern, re2=True, ignore_case=ignore_case, lines=lines)
    try:
        translator.run()
    except Unsupported:
        return None
    if translator.shape is None:
        return None
    return _literal(translator.shape, lines)


def required_re2(pattern: str, ignore_case: bool = False, lines: bool = False) -> tuple[bytes, ...]:
    """Fixed strings that every match of ``pattern`` contains (lower-case with
    ``ignore_case``: look for them in the lower-cased subject), longest first, one byte
    long at the least (a search can skip RE2 when the subject lacks one)."""
    translator = _Translator(pattern, re2=True, ignore_case=ignore_case, lines=lines)
    try:
        translator.run()
    except Unsupported:
        return ()
    if translator.top_alternative:
        return ()
    needles = {
        bytes(_needle_byte(mask, ignore_case) or 0 for mask in run) for run in translator.runs
    }
    return tuple(sorted(needles, key=lambda needle: (-len(needle), needle)))


def _needle_byte(mask: int, fold: bool) -> int | None:
    """The byte standing for a character of a fixed string: the only byte in ``mask``,
    or with ``fold`` the lower case of an ASCII letter pair; None for other sets."""
    if mask == 0:
        return None
    high = mask.bit_length() - 1
    if mask == 1 << high and not (fold and 0x41 <= high <= 0x5A):
        return high
    if fold and mask == _fold(1 << high) and 0x61 <= high <= 0x7A:
        return high
    return None


def _literal(shape: list[tuple[str, int]], lines: bool) -> Literal | None:
    start = bool(shape) and shape[0][0] == "^"
    end = bool(shape) and shape[-1][0] == "$"
    items = shape[int(start) : len(shape) - int(end)]
    if (start or end) and lines:
        return None
    # (mask, least count or -1 without repetition) for each character.
    units: list[tuple[int, int]] = []
    for kind, value in items:
        if kind == "c":
            units.append((value, -1))
        elif kind == "r" and units and units[-1][1] < 0:
            units[-1] = (units[-1][0], value)
        else:  # an anchor inside, or a repetition of a repetition
            return None
    first, last = 0, len(units)
    while not start and first < last and units[first][1] == 0:
        first += 1
    while not end and last > first and units[last - 1][1] == 0:
        last -= 1
    masks = [mask for mask, least in units[first:last] if least < 0]
    if len(masks) != last - first or not all(masks):  # a repetition inside, or no byte
        return None
    if all(mask & (mask - 1) == 0 for mask in masks):
        return Literal(bytes(mask.bit_length() - 1 for mask in masks), False, start, end)
    needle = bytearray()
    for mask in masks:
        low = mask.bit_length() - 1  # the highest byte: the lower case of a letter pair
        if mask != _fold(1 << low) or (mask == 1 << low and low < 0x80 and chr(low).isalpha()):
            return None
        needle.append(low)
    return Literal(bytes(needle), True, start, end)


def _class_char(ch: str) -> str:
    """A literal character inside a Python character class."""
    if ch.isascii() and ch.isalnum():
        return ch
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _range_mask(low: str, high: str) -> int:
    """The bytes of the range ``low``..``high`` (characters above 0xff match nothing)."""
    first, last = ord(low), min(ord(high), 0xFF)
    if first > last:
        return 0
    return ((1 << (last + 1)) - 1) & ~((1 << first) - 1)


def _fold(mask: int) -> int:
    """``mask`` with the other case of each ASCII letter in it (C-locale REG_ICASE)."""
    upper = (mask >> ord("A")) & _ASCII_LETTERS
    lower = (mask >> ord("a")) & _ASCII_LETTERS
    return mask | (upper << ord("a")) | (lower << ord("A"))


def _re2_set(mask: int) -> str:
    """An RE2 class for the bytes in ``mask``, every byte as a ``\\xNN`` escape."""
    if mask == 0:
        return _RE2_NOTHING
    parts: list[str] = []
    b = 0
    while b < 256:
        if mask >> b & 1:
            end = b
            while end + 1 < 256 and mask >> (end + 1) & 1:
                end += 1
            parts.append(f"\\x{b:02x}" if end == b else f"\\x{b:02x}-\\x{end:02x}")
            b = end + 1
        else:
            b += 1
    return "[" + "".join(parts) + "]"


class _Translator:
    def __init__(
        self, pattern: str, re2: bool = False, ignore_case: bool = False, lines: bool = False
    ) -> None:
        self.p = pattern
        self.i = 0
        self.re2 = re2
        self.ignore_case = ignore_case
        self.lines = lines
        self.out: list[str] = []
        self.capture = False  # RE2: keep the groups capturing (translate_re2)
        # Index in ``out`` where the last repeatable atom starts; None when a repetition
        # here would have nothing to repeat.
        self.atom: int | None = None
        self.repeated = False  # the last atom already carries a repetition
        self.open_groups: list[tuple[int, int]] = []  # (index in out, group number)
        self.groups = 0
        self.closed: set[int] = set()
        # RE2 only: the byte set of the last atom when it is one character (for \>), a
        # pending \< (the next atom must be one character), the atom that took it.
        self.atom_mask: int | None = None
        self.word_start = False
        self.guarded: int | None = None
        # RE2 only: the expression as characters ("c", mask), repetitions ("r", least
        # count) and anchors ("^"/"$", 0) while it stays that simple (literal_re2), else None.
        self.shape: list[tuple[str, int]] | None = [] if re2 else None
        # RE2 only: the fixed strings every match contains (required_re2), as runs of
        # top-level characters: the run being read, the runs closed, whether the last atom
        # ends the run, its least count, and whether there are top-level alternatives.
        self.run_masks: list[int] = []
        self.runs: list[list[int]] = []
        self.in_run = False
        self.atom_low = 1
        self.top_alternative = False
        # Backtracking: the degree of each open group's finished atoms (and alternatives),
        # and of the last atom, which a repetition may still change.
        self.degrees: list[int] = [0]
        self.atom_degree = 0
        self.exponential = False

    @property
    def degree(self) -> int:
        return self.degrees[0]

    def run(self) -> str:
        p = self.p
        while self.i < len(p):
            ch = p[self.i]
            self.i += 1
            if ch in "*+?":
                self._repeat(*_QUANTIFIER_COUNTS[ch])
            elif ch == "{":
                self._repeat(*self._interval())
            elif ch == "(":
                self._no_atom()
                self.groups += 1
                self.open_groups.append((len(self.out), self.groups))
                self.out.append("(?:" if self.re2 and not self.capture else "(")
                self.shape = None
                self._close_run()
                self.degrees.append(0)
            elif ch == ")":
                if self.open_groups:
                    self._no_atom()
                    start, number = self.open_groups.pop()
                    self.out.append(")")
                    self.closed.add(number)
                    self._atom_from(start, degree=self.degrees.pop())
                else:
                    self._literal(ch)
            elif ch == "|":
                self._no_atom()
                self.degrees[-1] += 1
                self.out.append("|")
                self.shape = None
                self._close_run()
                self.top_alternative = self.top_alternative or not self.open_groups
            elif ch == "^":
                self._anchor("^", "^")
            elif ch == "$":
                self._anchor(r"\Z", "$")
            elif ch == ".":
                self._char_atom(".", _ALL)
            elif ch == "[":
                self._bracket()
            elif ch == "\\":
                self._escape()
            else:
                self._literal(ch)
        if self.open_groups:
            raise RegexError("unmatched (")
        self._no_atom()
        self._close_run()
        return "".join(self.out)

    def _no_atom(self) -> None:
        """Nothing here can take a repetition (and the last atom is final)."""
        if self.word_start:
            raise Unsupported(r"\< before something other than one character")
        if self.in_run and self.repeated:  # a repeated character ends its run...
            if self.atom_low == 0:  # ...and is not in it if it may be absent
                self.run_masks.pop()
            self._close_run()
        self.in_run = False
        self.atom_low = 1
        self.degrees[-1] += self.atom_degree
        self.atom_degree = 0
        self.atom = None
        self.atom_mask = None
        self.repeated = False

    def _atom_from(self, start: int, degree: int = 0, char: bool = False) -> None:
        self._no_atom()
        if not char:
            self._close_run()
        self.atom = start
        self.atom_degree = degree

    def _close_run(self) -> None:
        if self.run_masks:
            self.runs.append(self.run_masks)
        self.run_masks = []

    def _anchor(self, python: str, name: str) -> None:
        self._no_atom()
        self._close_run()
        self.out.append(_RE2_ANCHORS[name][self.lines] if self.re2 else python)
        if self.shape is not None:
            if name in "^$":
                self.shape.append((name, 0))
            else:
                self.shape = None

    def _char_atom(self, python: str, mask: int) -> None:
        """An atom that matches one character: ``python`` for re, ``mask`` for RE2."""
        if not self.re2:
            self._atom_from(len(self.out))
            self.out.append(python)
            return
        if self.ignore_case:
            mask = _fold(mask)
        if self.lines:
            mask &= ~_NEWLINE
        if self.word_start:  # \< then this character: \b, then the character as a word one
            self.word_start = False
            self._no_atom()
            self.out.append(r"\b")
            mask &= _WORD
            self.guarded = len(self.out)
            self.shape = None
        self._atom_from(len(self.out), char=True)
        self.atom_mask = mask
        self.out.append(_re2_set(mask))
        if self.shape is not None:
            self.shape.append(("c", mask))
        if not self.open_groups and _needle_byte(mask, self.ignore_case) is not None:
            self.run_masks.append(mask)
            self.in_run = True
        else:
            self._close_run()

    def _literal(self, ch: str) -> None:
        self._char_atom(re.escape(ch), _range_mask(ch, ch))

    def _repeat(self, low: int, high: int | None, text: str) -> None:
        if self.atom is None:
            raise RegexError("repetition with nothing to repeat")
        if self.atom == self.guarded:
            raise Unsupported(r"\< before a repeated character")
        if self.repeated:
            # POSIX applies a second repetition to the repeated atom as a whole.
            inner = "".join(self.out[self.atom :])
            del self.out[self.atom :]
            self.out.append(f"(?:{inner})")
        if self.shape is not None:
            self.shape.append(("r", low))
        self.atom_low = self.atom_low * low if self.repeated else low
        self.out.append(text)
        self.repeated = True
        self.atom_mask = None
        inner_degree = self.atom_degree
        if high is None:
            self.exponential = self.exponential or inner_degree > 0
            self.atom_degree = inner_degree + 1
        else:
            self.atom_degree = high * inner_degree + (low != high)

    def _interval(self) -> tuple[int, int | None, str]:
        """Parse ``{m}``, ``{m,}``, ``{m,n}`` or ``{,n}`` after the ``{``."""
        end = self.p.find("}", self.i)
        if end < 0:
            raise RegexError("unmatched {")
        body = self.p[self.i : end]
        self.i = end + 1
        low_text, comma, high_text = body.partition(",")
        if not (low_text or comma) or not all(
            part == "" or (part.isascii() and part.isdigit()) for part in (low_text, high_text)
        ):
            raise RegexError("bad interval")
        if len(low_text) > 5 or len(high_text) > 5:
            raise RegexError("interval count too large")
        low = int(low_text) if low_text else 0
        high = int(high_text) if high_text else None
        if low > MAX_REPEAT or (high is not None and high > MAX_REPEAT):
            raise RegexError("interval count too large")
        if high is not None and high < low:
            raise RegexError("bad interval")
        if not comma:
            return (low, low, f"{{{low}}}")
        return (low, high, f"{{{low},{'' if high is None else high}}}")

    def _escape(self) -> None:
        if self.i >= len(self.p):
            raise RegexError("trailing backslash")
        ch = self.p[self.i]
        self.i += 1
        if ch in _ESCAPE_MASKS:
            self._char_atom(_GNU_ESCAPES[ch][0], _ESCAPE_MASKS[ch])
        elif ch in _GNU_ESCAPES:
            if not self.re2:
                self._anchor(_GNU_ESCAPES[ch][0], "")
            elif ch == "<":
                self._no_atom()
                self._close_run()
                self.word_start = True
                self.shape = None
            elif ch == ">":
                self._word_end()
            else:
                self._anchor("", ch)
        elif ch in "123456789":
            number = int(ch)
            if number not in self.closed:
                raise RegexError(f"invalid back reference \\{ch}")
            if self.re2:
                raise Unsupported("back-reference")
            self._atom_from(len(self.out))
            self.out.append(f"(?:\\{number})")
        elif ch.isascii() and ch.isalnum():
            raise RegexError(f"undefined escape \\{ch}")
        else:
            self._literal(ch)

    def _word_end(self) -> None:
        r"""``\>`` right after a one-character atom: that character as a word one, then
        ``\b`` (RE2 has no look-behind for anything else)."""
        if self.atom is None or self.atom_mask is None:
            raise Unsupported(r"\> after something other than one character")
        del self.out[self.atom :]
        self.out.append(_re2_set(self.atom_mask & _WORD))
        self.shape = None
        self._close_run()
        self._no_atom()
        self.out.append(r"\b")

    def _bracket(self) -> None:
        """Parse a bracket expression after its ``[``; emit the class."""
        p = self.p
        n = len(p)
        negate = self.i < n and p[self.i] == "^"
        if negate:
            self.i += 1
        items: list[str] = []
        mask = 0
        first = True
        while True:
            if self.i >= n:
                raise RegexError("unmatched [")
            if p[self.i] == "]" and not first:
                self.i += 1
                break
            first = False
            start = self._bracket_element()
            if start[0] == "class":
                items.append(POSIX_CLASSES[start[1]])
                mask |= _CLASS_MASKS[start[1]]
                self._no_range_after()
            elif self._range_follows():
                self.i += 1
                end = self._bracket_element()
                if end[0] == "class":
                    raise RegexError("class used as a range end")
                if ord(end[1]) < ord(start[1]):
                    raise RegexError("invalid range end")
                items.append(f"{_class_char(start[1])}-{_class_char(end[1])}")
                mask |= _range_mask(start[1], end[1])
                self._no_range_after()
            else:
                items.append(_class_char(start[1]))
                mask |= _range_mask(start[1], start[1])
        if self.ignore_case:  # fold before negating: [^a] excludes A too
            mask = _fold(mask)
        self._char_atom(
            "[" + ("^" if negate else "") + "".join(items) + "]",
            _ALL & ~mask if negate else mask,
        )

    def _range_follows(self) -> bool:
        p = self.p
        return self.i + 1 < len(p) and p[self.i] == "-" and p[self.i + 1] != "]"

    def _no_range_after(self) -> None:
        """A class or a range end cannot start a range (``[[:alpha:]-z]``, ``[a-c-e]``)."""
        if self._range_follows():
            raise RegexError("invalid range")

    def _bracket_element(self) -> tuple[str, str]:
        """One bracket element: ("char", c) or ("class", class name)."""
        p = self.p
        i = self.i
        if p[i] == "[" and i + 1 < len(p) and p[i + 1] in ":=.":
            kind = p[i + 1]
            close = p.find(kind + "]", i + 2)
            if close < 0:
                raise RegexError(f"unmatched [{kind}")
            name = p[i + 2 : close]
            self.i = close + 2
            if kind == ":":
                if name not in POSIX_CLASSES:
                    raise RegexError(f"unknown character class [:{name}:]")
                return ("class", name)
            if len(name) != 1:
                raise RegexError(f"unknown collating element [{kind}{name}{kind}]")
            return ("char", name)
        self.i = i + 1
        return ("char", p[i])


# Counts of the one-character quantifiers: (low, high or None for unbounded, text).
_QUANTIFIER_COUNTS: dict[str, tuple[int, int | None, str]] = {
    "*": (0, None, "*"),
    "+": (1, None, "+"),
    "?": (0, 1, "?"),
}
