"""POSIX extended regular expressions (as Pound compiles them with ``regcomp``) translated
to Python's ``re``.

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
"""

from __future__ import annotations

import re

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


class RegexError(ValueError):
    """The pattern is not a valid POSIX extended regular expression."""


def compile_ere(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    """Compile a POSIX ERE to an equivalent Python pattern, or raise ``RegexError``."""
    translated = translate(pattern)
    try:
        return re.compile(translated, _FLAGS | (re.IGNORECASE if ignore_case else 0))
    except (re.error, OverflowError, RecursionError) as exc:  # pragma: no cover - safety net
        raise RegexError(str(exc)) from None


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


def translate(pattern: str) -> str:
    """Translate the POSIX ERE ``pattern`` to Python ``re`` syntax."""
    return _Translator(pattern).run()


class _Translator:
    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.i = 0
        self.out: list[str] = []
        # Index in ``out`` where the last repeatable atom starts; None when a repetition
        # here would have nothing to repeat.
        self.atom: int | None = None
        self.repeated = False  # the last atom already carries a repetition
        self.open_groups: list[tuple[int, int]] = []  # (index in out, group number)
        self.groups = 0
        self.closed: set[int] = set()

    def run(self) -> str:
        p = self.p
        while self.i < len(p):
            ch = p[self.i]
            self.i += 1
            if ch in "*+?":
                self._repeat(ch)
            elif ch == "{":
                self._repeat(self._interval())
            elif ch == "(":
                self.groups += 1
                self.open_groups.append((len(self.out), self.groups))
                self.out.append("(")
                self._no_atom()
            elif ch == ")":
                if self.open_groups:
                    start, number = self.open_groups.pop()
                    self.out.append(")")
                    self.closed.add(number)
                    self._atom_from(start)
                else:
                    self._literal(ch)
            elif ch == "|":
                self.out.append("|")
                self._no_atom()
            elif ch == "^":
                self.out.append("^")
                self._no_atom()
            elif ch == "$":
                self.out.append(r"\Z")
                self._no_atom()
            elif ch == ".":
                self._atom_from(len(self.out))
                self.out.append(".")
            elif ch == "[":
                self._atom_from(len(self.out))
                self.out.append(self._bracket())
            elif ch == "\\":
                self._escape()
            else:
                self._literal(ch)
        if self.open_groups:
            raise RegexError("unmatched (")
        return "".join(self.out)

    def _no_atom(self) -> None:
        self.atom = None
        self.repeated = False

    def _atom_from(self, start: int) -> None:
        self.atom = start
        self.repeated = False

    def _literal(self, ch: str) -> None:
        self._atom_from(len(self.out))
        self.out.append(re.escape(ch))

    def _repeat(self, quantifier: str) -> None:
        if self.atom is None:
            raise RegexError("repetition with nothing to repeat")
        if self.repeated:
            # POSIX applies a second repetition to the repeated atom as a whole.
            inner = "".join(self.out[self.atom :])
            del self.out[self.atom :]
            self.out.append(f"(?:{inner})")
        self.out.append(quantifier)
        self.repeated = True

    def _interval(self) -> str:
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
            return f"{{{low}}}"
        return f"{{{low},{'' if high is None else high}}}"

    def _escape(self) -> None:
        if self.i >= len(self.p):
            raise RegexError("trailing backslash")
        ch = self.p[self.i]
        self.i += 1
        if ch in _GNU_ESCAPES:
            text, repeatable = _GNU_ESCAPES[ch]
            if repeatable:
                self._atom_from(len(self.out))
            else:
                self._no_atom()
            self.out.append(text)
        elif ch in "123456789":
            number = int(ch)
            if number not in self.closed:
                raise RegexError(f"invalid back reference \\{ch}")
            self._atom_from(len(self.out))
            self.out.append(f"(?:\\{number})")
        elif ch.isascii() and ch.isalnum():
            raise RegexError(f"undefined escape \\{ch}")
        else:
            self._literal(ch)

    def _bracket(self) -> str:
        """Parse a bracket expression after its ``[``; return a Python class."""
        p = self.p
        n = len(p)
        negate = self.i < n and p[self.i] == "^"
        if negate:
            self.i += 1
        items: list[str] = []
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
                items.append(start[1])
                self._no_range_after()
            elif self._range_follows():
                self.i += 1
                end = self._bracket_element()
                if end[0] == "class":
                    raise RegexError("class used as a range end")
                if ord(end[1]) < ord(start[1]):
                    raise RegexError("invalid range end")
                items.append(f"{_class_char(start[1])}-{_class_char(end[1])}")
                self._no_range_after()
            else:
                items.append(_class_char(start[1]))
        return "[" + ("^" if negate else "") + "".join(items) + "]"

    def _range_follows(self) -> bool:
        p = self.p
        return self.i + 1 < len(p) and p[self.i] == "-" and p[self.i + 1] != "]"

    def _no_range_after(self) -> None:
        """A class or a range end cannot start a range (``[[:alpha:]-z]``, ``[a-c-e]``)."""
        if self._range_follows():
            raise RegexError("invalid range")

    def _bracket_element(self) -> tuple[str, str]:
        """One bracket element: ("char", c) or ("class", python class contents)."""
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
                return ("class", POSIX_CLASSES[name])
            if len(name) != 1:
                raise RegexError(f"unknown collating element [{kind}{name}{kind}]")
            return ("char", name)
        self.i = i + 1
        return ("char", p[i])
