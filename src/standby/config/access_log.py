"""Compile Pound's access-log keywords: ``LogFormat``, ``LogLevel`` (global and in a
listener), ``LogSuppress`` (in a service) and ``LogTag``.

As in Pound, a ``LogLevel`` names a built-in format (``0``..``5`` or its name) or a
``LogFormat`` defined earlier in the file, and a format name is defined once (the built-in
names included). A format definition is checked here, with the position of the faulty
``%`` in the message (observe/logformat.py parses it).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from standby import model
from standby.config.errors import ConfigError, quote
from standby.config.tree import Directive, SectionNode
from standby.model import ConfigSpec, ListenerSpec, Location, ServiceSpec
from standby.observe import logformat

# LogSuppress classes: Pound's names and digits, each a status class (its hundreds).
SUPPRESS_CLASSES: dict[str, int] = {
    "info": 1 << 1,
    "1": 1 << 1,
    "success": 1 << 2,
    "2": 1 << 2,
    "redirect": 1 << 3,
    "3": 1 << 3,
    "clterr": 1 << 4,
    "4": 1 << 4,
    "srverr": 1 << 5,
    "5": 1 << 5,
    "all": (1 << 10) - 1,  # every class, 0XX to 9XX
}
_LISTENERS = ("ListenHTTP", "ListenHTTPS")


@dataclass(frozen=True, slots=True)
class LogSettings:
    """What the access-log keywords of a file say, before the rest is compiled."""

    level: int = model.DEFAULT_LOG_LEVEL
    custom: str | None = None  # the global LogLevel's LogFormat definition
    tag: str | None = None
    listener_formats: dict[Location, str] = field(default_factory=dict)  # by section
    suppress: dict[Location, int] = field(default_factory=dict)  # services', by section


def read(root: SectionNode) -> LogSettings:
    """The access-log settings of ``root``, checked in file order (as Pound reads them)."""
    formats: dict[str, str] = {}
    level = model.DEFAULT_LOG_LEVEL
    custom: str | None = None
    tag: str | None = None
    listener_formats: dict[Location, str] = {}
    suppress: dict[Location, int] = {}
    for node in root.body:
        if isinstance(node, Directive):
            name = node.keyword.name
            if name == "LogFormat":
                _define(node, formats)
            elif name == "LogLevel":
                level, custom = _level(node, formats)
            elif name == "LogTag":
                tag = str(node.values[0])
            continue
        for section in (node, *_walk(node)):
            keyword = section.keyword
            if keyword is None:
                continue
            if keyword.name in _LISTENERS:
                directive = section.first("LogLevel")
                if directive is not None:
                    number, text = _level(directive, formats)
                    listener_formats[section.location] = (
                        logformat.BUILTIN_FORMATS[number] if text is None else text
                    )
            elif keyword.name == "Service":
                mask = 0
                for directive in section.directives():
                    if directive.keyword.name == "LogSuppress":
                        mask |= _suppress(directive)
                if mask:
                    suppress[section.location] = mask
    return LogSettings(level, custom, tag, listener_formats, suppress)


def apply(settings: LogSettings, spec: ConfigSpec) -> ConfigSpec:
    """``spec`` with the access-log ``settings``."""
    unchanged = (settings.level, settings.custom, settings.tag) == (spec.log_level, None, None)
    if unchanged and not (settings.listener_formats or settings.suppress):
        return spec
    return replace(
        spec,
        log_level=settings.level,
        log_format=settings.custom,
        log_tag=settings.tag,
        listeners=tuple(
            _listener(item, settings.listener_formats, settings.suppress) for item in spec.listeners
        ),
        services=tuple(_service(item, settings.suppress) for item in spec.services),
    )


def _walk(node: SectionNode) -> list[SectionNode]:
    found = []
    for section in node.sections():
        found.append(section)
        found.extend(_walk(section))
    return found


def _define(directive: Directive, formats: dict[str, str]) -> None:
    name, text = str(directive.values[0]), str(directive.values[1])
    if name in formats or name in logformat.BUILTIN_NAMES:
        raise ConfigError(directive.arg_locations[0], f"format {quote(name)} already defined")
    try:
        logformat.parse(text)
    except logformat.LogFormatError as exc:
        at = directive.arg_locations[1]
        # The argument's location is its opening quote; count from the text after it.
        where = Location(at.file, at.line, at.col + 1 + exc.offset)
        raise ConfigError(where, f"{exc.message} in LogFormat {quote(name)}") from None
    formats[name] = text


def _level(directive: Directive, formats: dict[str, str]) -> tuple[int, str | None]:
    """A LogLevel: the built-in number, and the definition when it names a LogFormat."""
    word = str(directive.values[0])
    lower = word.lower()
    if lower in logformat.BUILTIN_NAMES:
        return logformat.BUILTIN_NAMES.index(lower), None
    if word.isascii() and word.isdigit():
        if len(word) == 1 and int(word) < len(logformat.BUILTIN_NAMES):
            return int(word), None
        raise ConfigError(
            directive.arg_locations[0],
            f"bad log level {quote(word)} (use 0..5, "
            + ", ".join(logformat.BUILTIN_NAMES)
            + " or a LogFormat name)",
        )
    text = formats.get(word)
    if text is None:
        raise ConfigError(
            directive.arg_locations[0], f"undefined format: {quote(word)} (no LogFormat before)"
        )
    # A custom format's number: 0 when it writes nothing (nothing to log).
    return (model.DEFAULT_LOG_LEVEL if text else 0), text


def _suppress(directive: Directive) -> int:
    mask = 0
    for value, at in zip(directive.values, directive.arg_locations, strict=True):
        if value is None:
            continue
        bits = SUPPRESS_CLASSES.get(str(value).lower())
        if bits is None:
            raise ConfigError(
                at,
                f"bad status class {quote(str(value))} for LogSuppress (use info, success, "
                "redirect, clterr, srverr, all or 1..5)",
            )
        mask |= bits
    return mask


def _service(service: ServiceSpec, suppress: dict[Location, int]) -> ServiceSpec:
    mask = suppress.get(service.location)
    return service if mask is None else replace(service, log_suppress=mask)


def _listener(
    listener: ListenerSpec, formats: dict[Location, str], suppress: dict[Location, int]
) -> ListenerSpec:
    services = tuple(_service(item, suppress) for item in listener.services)
    text = formats.get(listener.location)
    if text is None and services == listener.services:
        return listener
    return replace(listener, log_format=text, services=services)
