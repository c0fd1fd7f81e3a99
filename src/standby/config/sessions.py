"""A Service's `Session` section to ``model.SessionSpec`` (pure).

Pound refuses a Session without `Type` or `TTL`, and one of type COOKIE, URL or HEADER
without `ID`; so does standby, with the section's position. `ID` given to another type is
ignored, as in Pound.
"""

from __future__ import annotations

from standby.config.errors import ConfigError
from standby.config.tree import SectionNode
from standby.model import SESSION_TYPES_WITH_ID, SessionSpec, SessionType


def compile_session(service: SectionNode) -> SessionSpec | None:
    """The `Session` of ``service``; None when it has none."""
    section = None
    for child in service.sections():
        if child.keyword is not None and child.keyword.name == "Session":
            section = child
    if section is None:
        return None
    kind = section.first("Type")
    if kind is None:
        raise ConfigError(section.location, 'Session needs a "Type"')
    ttl = section.first("TTL")
    if ttl is None:
        raise ConfigError(section.location, 'Session needs a "TTL"')
    session_type = SessionType(str(kind.values[0]).upper())
    ident = section.first("ID")
    name = None if ident is None else str(ident.values[0])
    if session_type in SESSION_TYPES_WITH_ID and not name:
        at = section.location if ident is None else ident.arg_locations[0]
        raise ConfigError(at, f'Session of type {session_type.value} needs an "ID"')
    value = ttl.values[0]
    assert isinstance(value, int)
    return SessionSpec(
        type=session_type,
        ttl=float(value),
        id=name if session_type in SESSION_TYPES_WITH_ID else None,
        location=section.location,
    )
