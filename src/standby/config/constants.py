"""Pound 4's `Constant "name" "value"` and its `%[const NAME [none|url|base64]]` accessor.

A constant cannot change while a configuration is in force, so its accessor is resolved
when the file is compiled: each `%[const ...]` of a template that standby expands becomes
``%[=hex BYTES]`` (routing.py's accessor for a literal, the bytes in hexadecimal), which
expands to the value, encoded as asked, whatever bytes it holds, and still counts as an
expansion (a Redirect with one does not get the request's path appended, as in Pound).

Pure: called from config/compiler.py and config/conditions.py.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Final
from urllib.parse import quote as percent_encode

from standby.config.errors import ConfigError, quote
from standby.config.tree import Directive, SectionNode
from standby.model import Location

# `%[const NAME]` or `%[const NAME ENCODING]`, as Pound reads an accessor: words split
# by white space inside the brackets.
_CONST: Final = re.compile(r"%\[\s*const\s+([^\s\]]+)(?:\s+([^\s\]]+))?\s*\]")
# The accessor routing.expand reads as literal bytes in hexadecimal.
LITERAL_ACCESSOR: Final = "=hex"
# RFC 3986 unreserved characters stay as they are in the url encoding.
_UNRESERVED: Final = "-._~"

ENCODINGS: Final[dict[str, Callable[[bytes], bytes]]] = {
    "none": lambda value: value,
    "url": lambda value: percent_encode(value, safe=_UNRESERVED).encode("ascii"),
    "base64": base64.b64encode,
}


def collect(root: SectionNode) -> dict[str, bytes]:
    """The file's constants by name (a name given twice is refused)."""
    found: dict[str, bytes] = {}
    where: dict[str, Location] = {}
    for child in root.body:
        if not isinstance(child, Directive) or child.keyword is None:
            continue
        if child.keyword.name != "Constant":
            continue
        name, value = child.values[0], child.values[1]
        assert isinstance(name, str) and isinstance(value, str)
        if name in found:
            raise ConfigError(
                child.arg_locations[0],
                f"constant {quote(name)} defined twice (first at {where[name]})",
            )
        found[name] = value.encode("latin-1", "replace")
        where[name] = child.location
    return found


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
