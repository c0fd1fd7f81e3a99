"""Pound 4's `Constant "name" "value"` and its `%[const NAME [none|url|base64]]` accessor.

A constant cannot change while a configuration is in force, so its accessor is resolved
when the file is compiled: each `%[const ...]` of a template that standby expands becomes
``%[=hex BYTES]`` (routing.py's accessor for a literal, the bytes in hexadecimal), which
expands to the value, encoded as asked, whatever bytes it holds, and still counts as an
expansion (a Redirect with one does not get the request's path appended, as in Pound).

A constant is the top level's, a listener's or a service's: a Service's own constants hide
its listener's, which hide the top level's (Pound's order of lookup). Its value is given in
the file or read from one (`-file "f"`, with `-trim` the trailing white space removed).

Pure (files are read through the caller's ``read``): called from config/conditions.py,
config/edits.py and config/compiler.py.
"""

from __future__ import annotations

import base64
import logging
import os
import re
from collections.abc import Callable
from typing import Final
from urllib.parse import quote as percent_encode

from standby.config.errors import ConfigError, quote
from standby.config.lexer import Token, TokenKind
from standby.config.tree import Directive, SectionNode
from standby.model import Location

log = logging.getLogger(__name__)

# `%[const NAME]` or `%[const NAME ENCODING]`, as Pound reads an accessor: words split
# by white space inside the brackets.
_CONST: Final = re.compile(r"%\[\s*const\s+([^\s\]]+)(?:\s+([^\s\]]+))?\s*\]")
# The accessor routing.expand reads as literal bytes in hexadecimal.
LITERAL_ACCESSOR: Final = "=hex"
# RFC 3986 unreserved characters stay as they are in the url encoding.
_UNRESERVED: Final = "-._~"

# A constant read from a file is held in memory whole, and expanded into headers and
# targets: bounded as a header value may be (http1/limits' head limit is larger).
MAX_CONSTANT_FILE: Final = 64 * 1024
# What `-trim` removes from the end of a file's contents (Pound: HT, LF, VT, FF, CR, SP).
_TRIMMED: Final = b"\t\n\v\f\r "

ENCODINGS: Final[dict[str, Callable[[bytes], bytes]]] = {
    "none": lambda value: value,
    "url": lambda value: percent_encode(value, safe=_UNRESERVED).encode("ascii"),
    "base64": base64.b64encode,
}


class Constants:
    """The constants of a configuration, by the section they are defined in. ``read``
    reads a file (OSError when it cannot)."""

    def __init__(self, root: SectionNode, read: Callable[[str], bytes]) -> None:
        self._read = read
        self.top = self._own(root)
        self._sections: dict[int, dict[str, bytes]] = {}

    def in_scope(
        self, service: SectionNode | None, listener: SectionNode | None = None
    ) -> dict[str, bytes]:
        """The constants a template of ``service`` (inside ``listener``) sees: its own,
        then its listener's, then the top level's. A listener's own templates: pass the
        listener as ``service``."""
        found = dict(self.top)
        for section in (listener, service):
            if section is not None:
                found.update(self._cached(section))
        return found

    def _cached(self, section: SectionNode) -> dict[str, bytes]:
        own = self._sections.get(id(section))
        if own is None:
            own = self._sections[id(section)] = self._own(section)
        return own

    def _own(self, section: SectionNode) -> dict[str, bytes]:
        """The constants ``section`` defines itself (a name given twice is refused)."""
        found: dict[str, bytes] = {}
        where: dict[str, Location] = {}
        for child in section.body:
            if not isinstance(child, Directive) or child.keyword is None:
                continue
            if child.keyword.name != "Constant":
                continue
            name = child.values[0]
            assert isinstance(name, str)
            if name in found:
                raise ConfigError(
                    child.arg_locations[0],
                    f"constant {quote(name)} defined twice (first at {where[name]})",
                )
            found[name] = self._value(child)
            where[name] = child.location
        return found

    def _value(self, directive: Directive) -> bytes:
        """The value a Constant line gives: ``"value"`` or ``-file "f" [-trim]``."""
        raw: object = directive.values[1]  # the parser keeps a TOKENS argument's tokens
        tokens: list[Token] = []
        if isinstance(raw, tuple):
            tokens = [t for t in raw if isinstance(t, Token)]
        if len(tokens) == 1 and tokens[0].kind is not TokenKind.WORD:
            return tokens[0].text.encode("latin-1", "replace")
        path: Token | None = None
        trim = False
        i = 0
        while i < len(tokens):
            token = tokens[i]
            if token.kind is TokenKind.WORD and token.text in ("-file", "-filewatch"):
                if i + 1 >= len(tokens):
                    raise ConfigError(token.location, f'"{token.text}" needs a file name')
                if token.text == "-filewatch":
                    log.warning(
                        "%s: -filewatch: standby reads the file once, at load (reload the "
                        "configuration to take a change)",
                        token.location,
                    )
                path = tokens[i + 1]
                i += 2
            elif token.kind is TokenKind.WORD and token.text == "-trim":
                trim = True
                i += 1
            elif len(tokens) == 1:
                return token.text.encode("latin-1", "replace")
            else:
                raise ConfigError(
                    token.location,
                    f'unexpected {quote(token.text)} for "Constant" (expected "value", or '
                    '-file "f" and perhaps -trim)',
                )
        if path is None:
            at = tokens[0].location if tokens else directive.location
            raise ConfigError(at, '"Constant" needs a value, or -file "f"')
        return self._file(path, trim)

    def _file(self, path: Token, trim: bool) -> bytes:
        # Relative to the file that names it, as the conditions' -file.
        name = os.path.normpath(os.path.join(os.path.dirname(path.location.file), path.text))
        try:
            data = self._read(name)
        except OSError as exc:
            raise ConfigError(
                path.location, f"cannot read constant file {quote(path.text)}: {exc.strerror}"
            ) from None
        if len(data) > MAX_CONSTANT_FILE:
            raise ConfigError(
                path.location,
                f"constant file {quote(path.text)} is too large (over {MAX_CONSTANT_FILE} bytes)",
            )
        return data.rstrip(_TRIMMED) if trim else data


def resolve(template: str, constants: dict[str, bytes], at: Location) -> str:
    """``template`` with each `%[const NAME [ENCODING]]` replaced by its value's literal
    accessor; an unknown constant or encoding is refused at ``at``."""
    if "%[" not in template:
        return template

    def literal(match: re.Match[str]) -> str:
        name, encoding = match.group(1), match.group(2) or "none"
        value = constants.get(name)
        if value is None:
            raise ConfigError(at, f"no constant named {quote(name)}")
        encode = ENCODINGS.get(encoding)
        if encode is None:
            known = ", ".join(ENCODINGS)
            raise ConfigError(at, f"unknown encoding {quote(encoding)} (expected {known})")
        return f"%[{LITERAL_ACCESSOR} {encode(value).hex()}]"

    return _CONST.sub(literal, template)
