"""The one exception the configuration package raises for bad input."""

from __future__ import annotations

from standby.config import pound_form
from standby.config.pound_form import PoundForm
from standby.model import Location


class ConfigError(Exception):
    """A problem in a configuration file; ``str()`` is ``FILE:LINE.COL: message``.
    ``pound`` is how Pound places and words it (the `pound` log style), when that is more
    than the message at the token where it starts."""

    def __init__(self, location: Location, message: str, pound: PoundForm | None = None) -> None:
        self.file = location.file
        self.line = location.line
        self.col = location.col
        self.message = message
        self.pound = pound
        super().__init__(f"{location}: {message}")

    def pound_form(self) -> PoundForm:
        return self.pound or pound_form.token(self.location, self.message)

    @property
    def location(self) -> Location:
        return Location(self.file, self.line, self.col)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}.{self.col}: {self.message}"


class SettingError(ValueError):
    """A value the configuration accepts but the library that applies it refuses (an
    OpenSSL cipher list, curve or DH parameters file); ``keyword`` names the keyword, so
    the compiler reports it at that keyword as a ``ConfigError``."""

    def __init__(self, keyword: str, message: str) -> None:
        super().__init__(message)
        self.keyword = keyword


def quote(text: str) -> str:
    """``text`` in double quotes with control characters escaped, so that every
    message stays on one line whatever the input was."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(ascii(ch)[1:-1])
    return '"' + "".join(out) + '"'
