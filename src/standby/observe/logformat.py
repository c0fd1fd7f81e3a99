"""Pound's ``LogFormat`` definitions: parse a format once into literal text and conversion
specifications (``%a``, ``%{Referer}i``, ``%>s``...), checked as Pound checks them.

Pure code. ``observe/access.py`` turns the parsed pieces into field makers, once per format;
the built-in formats (``LogLevel 0..5`` and their names) are definitions like any other.
"""

from __future__ import annotations

from dataclasses import dataclass

# The built-in formats, by LogLevel number, as Pound 4 defines them (pound.texi "Logging").
BUILTIN_NAMES: tuple[str, ...] = (
    "null",
    "regular",
    "extended",
    "vhost_combined",
    "combined",
    "detailed",
)
_COMBINED = '%a %l %u %t "%r" %s %b "%{Referer}i" "%{User-Agent}i"'
BUILTIN_FORMATS: tuple[str, ...] = (
    "",
    "%a %r - %>s",
    "%a %r - %>s (%{Host}i/%{service}N -> %{backend}N) %{f}T sec",
    "%v:%p " + _COMBINED,
    _COMBINED,
    "%v:%p " + _COMBINED + " (%{service}N -> %{backend}N) %{f}T sec",
)
REGULAR_FORMAT = BUILTIN_FORMATS[1]

# Conversion characters, by how they take an argument in braces.
_NO_ARGUMENT = frozenset("aABbDhHlmpPqrsuUv")
_ARGUMENT_REQUIRED = frozenset("iILN")
_ARGUMENT_OPTIONAL = frozenset("tT")
OBJECTS = ("listener", "service", "backend")  # what %{obj}N and %{obj}L name
TIME_UNITS = ("s", "ms", "us", "f")  # %{unit}T
STATUS_LINE = ">s"  # the conversion of %>s: the response's first line


@dataclass(frozen=True, slots=True)
class Conversion:
    """One ``%`` specification: ``conv`` is its character (``>s`` for ``%>s``), ``arg``
    the text between braces (None: none given)."""

    conv: str
    arg: str | None = None


Piece = str | Conversion


class LogFormatError(ValueError):
    """A bad definition; ``offset`` is where in its text (0-based) the fault is."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


def parse(text: str) -> tuple[Piece, ...]:
    """The pieces of a format definition, adjacent literal text merged."""
    pieces: list[Piece] = []
    literal: list[str] = []
    pos = 0
    size = len(text)
    while pos < size:
        percent = text.find("%", pos)
        if percent < 0:
            literal.append(text[pos:])
            break
        literal.append(text[pos:percent])
        pos = percent + 1
        if pos < size and text[pos] == "%":
            literal.append("%")
            pos += 1
            continue
        arg: str | None = None
        brace = pos
        if pos < size and text[pos] == "{":
            close = text.find("}", pos + 1)
            if close < 0:
                raise LogFormatError("missing terminating `}'", percent)
            arg = text[pos + 1 : close]
            pos = close + 1
        if text.startswith(STATUS_LINE, pos):
            conv = STATUS_LINE
        elif pos < size:
            conv = text[pos]
        else:
            raise LogFormatError("unknown format char", percent)
        if conv == STATUS_LINE or conv in _NO_ARGUMENT:
            if arg is not None:
                raise LogFormatError("format specifier does not take arguments", pos - 1)
        elif conv in _ARGUMENT_REQUIRED:
            if arg is None:
                raise LogFormatError("format specifier requires argument", percent)
            if conv in "LN" and arg not in OBJECTS:
                raise LogFormatError("unrecognized Pound object name", brace)
        elif conv in _ARGUMENT_OPTIONAL:
            if conv == "T" and arg is not None and arg not in TIME_UNITS:
                raise LogFormatError("bad process time format", brace)
        else:
            raise LogFormatError("unknown format char", percent)
        pos += len(conv)
        _flush(literal, pieces)
        pieces.append(Conversion(conv, arg))
    _flush(literal, pieces)
    return tuple(pieces)


def _flush(literal: list[str], pieces: list[Piece]) -> None:
    """Literal text gathered so far, as one piece (none when empty)."""
    text = "".join(literal)
    literal.clear()
    if text:
        pieces.append(text)


def builtin(name_or_number: str) -> str | None:
    """The definition of a built-in format named by number (``0``..``5``) or name."""
    word = name_or_number.lower()
    if word in BUILTIN_NAMES:
        return BUILTIN_FORMATS[BUILTIN_NAMES.index(word)]
    if word.isascii() and word.isdigit() and len(word) == 1 and int(word) < len(BUILTIN_NAMES):
        return BUILTIN_FORMATS[int(word)]
    return None
