"""Lexer for Pound's configuration language, and the reader that expands ``Include``.

The language is line oriented: every line holds one directive, a keyword followed by
its arguments. A token is either a bare *word* (keywords, numbers, durations,
addresses, booleans...) or a double-quoted *string*, in which ``\\"`` and ``\\\\`` stand
for a quote and a backslash; any other backslash is kept as written, so regular
expressions such as ``"\\.jpg$"`` need no doubling (as in Pound, which warns of each:
so does the `pound` log style). ``#`` starts a
comment that runs to the end of the line, except inside a string.

``tokenize`` is pure but for that debug record. ``LineReader`` feeds the parser the lines
of the main text and, when told to include a file, the lines of that file first (globs in
sorted order), refusing include loops.
"""

from __future__ import annotations

import enum
import errno
import glob
import logging
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass

from standby.config.errors import ConfigError, quote
from standby.config.pound_form import POUND_FORM, Mark, PoundForm
from standby.model import Location

log = logging.getLogger(__name__)

# Characters that separate tokens; a lone CR (from CRLF files) is just whitespace.
_SPACE = frozenset(" \t\r\f\v")
# Characters that end a bare word besides whitespace.
_WORD_END = frozenset('"#') | _SPACE
# Characters that make an Include argument a glob pattern.
_GLOB_MAGIC = frozenset("*?[")


class TokenKind(enum.Enum):
    WORD = "word"
    STRING = "string"


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    text: str  # a word as written; a string without its quotes, escapes resolved
    location: Location


Line = tuple[Token, ...]


def tokenize(text: str, filename: str) -> list[Line]:
    """Split ``text`` into non-empty lines of tokens. Raises ``ConfigError`` only."""
    lines: list[Line] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        tokens = _tokenize_line(raw, filename, number)
        if tokens:
            lines.append(tokens)
    return lines


def _tokenize_line(raw: str, filename: str, number: int) -> Line:
    tokens: list[Token] = []
    i = 0
    n = len(raw)
    while i < n:
        ch = raw[i]
        if ch in _SPACE:
            i += 1
        elif ch == "#":
            break
        elif ch == '"':
            start = Location(filename, number, i + 1)
            value, i = _string(raw, i + 1, start)
            tokens.append(Token(TokenKind.STRING, value, start))
        else:
            j = i
            while j < n and raw[j] not in _WORD_END:
                j += 1
            tokens.append(Token(TokenKind.WORD, raw[i:j], Location(filename, number, i + 1)))
            i = j
    return tuple(tokens)


def _string(raw: str, i: int, start: Location) -> tuple[str, int]:
    """Read a quoted string whose body starts at ``raw[i]``; return it and the index
    after the closing quote."""
    out: list[str] = []
    n = len(raw)
    while i < n:
        ch = raw[i]
        if ch == '"':
            return "".join(out), i + 1
        if ch == "\\" and i + 1 < n:
            nxt = raw[i + 1]
            out.append(nxt if nxt in '"\\' else ch + nxt)
            if nxt not in '"\\':
                _kept_escape(Location(start.file, start.line, i + 2), nxt)
            i += 2
            continue
        out.append(ch)
        i += 1
    raise ConfigError(start, "unterminated string")


def _kept_escape(at: Location, ch: str) -> None:
    """Pound warns of each backslash before any character but a quote or a backslash
    (standby keeps both, as Pound does): a debug record, its warning in the pound style."""
    form = PoundForm("unrecognized escape character", Mark(at), Mark(at))
    log.debug("%s: \\%s kept as written", at, ch, extra={POUND_FORM: form})


def decode(data: bytes, filename: str) -> str:
    """Configuration files are UTF-8 (ASCII in practice); say where one is not."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        col = len(before) - (before.rfind(b"\n") + 1) + 1
        raise ConfigError(Location(filename, line, col), "not valid UTF-8") from None


def read_bytes(path: str) -> bytes:
    """Read a whole file; the default reader of ``LineReader`` and the compiler. Only a
    regular file is read: a FIFO (or a device) named by mistake would block ``standby -c``
    or a serving process forever, so it is opened without waiting and refused."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        return handle.read()


def read_text(path: str) -> str | None:
    """A configuration file's text to quote a diagnostic from (undecodable bytes
    replaced); None when it cannot be read any more (a chroot, a file since removed)."""
    try:
        return read_bytes(path).decode("utf-8", "replace")
    except OSError:
        return None


def describe_os_error(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


@dataclass(slots=True)
class _Frame:
    name: str  # file name as shown in locations
    directory: str  # where its relative Include and ErrorFile names are looked up
    real: str | None  # canonical path for loop detection (None for in-memory text)
    lines: list[Line] | None  # None until the frame is reached (pending glob match)
    included_at: Location | None
    pos: int = 0


class LineReader:
    """Yields the logical lines of a configuration, expanding ``Include`` on request."""

    def __init__(
        self,
        text: str,
        filename: str,
        directory: str,
        real: str | None = None,
        reader: Callable[[str], bytes] = read_bytes,
        include_dir: str | None = None,
    ) -> None:
        self._read = reader
        # Pound's include directory (`-W include-dir`, `IncludeDir`): where relative names
        # are looked up; None: in the directory of the file that names them.
        self.include_dir = include_dir
        self._stack: list[_Frame] = [
            _Frame(filename, directory, real, tokenize(text, filename), None)
        ]
        self.last_location = Location(filename, 1, 1)

    @property
    def directory(self) -> str:
        """Where relative names are looked up: the include directory if one is set ("" is
        the current directory), else the directory of the file whose line was returned last."""
        if self.include_dir is not None:
            return self.include_dir
        return self._stack[-1].directory if self._stack else "."

    def next_line(self) -> Line | None:
        while self._stack:
            frame = self._stack[-1]
            if frame.lines is None:
                self._load(frame)
                continue
            if frame.pos < len(frame.lines):
                line = frame.lines[frame.pos]
                frame.pos += 1
                self.last_location = line[0].location
                return line
            self._stack.pop()
        return None

    def include(self, name: str, at: Location) -> None:
        """Read ``name`` (relative to the current file's directory unless absolute; a
        glob expands to the regular files it matches, in sorted order) before the rest of
        this file."""
        if _GLOB_MAGIC & set(name):
            # Only the name is a pattern: the directory it is relative to is taken as is.
            pattern = (
                name if os.path.isabs(name) else os.path.join(glob.escape(self.directory), name)
            )
            # Regular files only, as Pound: a glob such as conf.d/* may also name a
            # directory (or a socket) beside the files.
            matches = sorted(
                os.path.normpath(match) for match in glob.glob(pattern) if os.path.isfile(match)
            )
        else:
            path = name if os.path.isabs(name) else os.path.join(self.directory, name)
            matches = [os.path.normpath(path)]
        # Pushed in reverse so the first match is read first; each is loaded only when
        # reached, so that siblings are not mistaken for files being read.
        for match in reversed(matches):
            self._stack.append(_Frame(match, os.path.dirname(match), None, None, at))

    def _load(self, frame: _Frame) -> None:
        at = frame.included_at or Location(frame.name, 1, 1)
        real = os.path.realpath(frame.name)
        for other in self._stack:
            if other.lines is not None and other.real == real:
                raise ConfigError(at, f"include loop: {quote(frame.name)} is already being read")
        try:
            data = self._read(frame.name)
        except OSError as exc:
            raise ConfigError(
                at, f"cannot read {quote(frame.name)}: {describe_os_error(exc)}"
            ) from None
        frame.real = real
        frame.lines = tokenize(decode(data, frame.name), frame.name)
