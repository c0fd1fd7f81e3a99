"""Parser: lines of tokens -> syntax tree, driven by the keyword schema.

Everything about a keyword (where it may appear, its arguments and their kinds,
whether it may repeat) comes from ``schema.KEYWORDS``; this module only applies the
table, converts argument values and tracks ``Section ... End`` nesting.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar, cast

from standby.config import values as conv
from standby.config.errors import ConfigError, quote
from standby.config.ignored import IGNORED, warn
from standby.config.lexer import Line, LineReader, Token, TokenKind
from standby.config.pattern import BACKTRACK_BUDGET, CompiledPattern, compile_pattern
from standby.config.posix_regex import RegexError
from standby.config.pound_form import Edge, Mark, PoundForm, end_of_line, token_class
from standby.config.pound_form import token as pound_token
from standby.config.schema import (
    BACKENDS,
    CIDR_KEYWORD,
    CIDR_SECTIONS,
    COMBINE_KEYWORD,
    KEYWORDS,
    Arg,
    ArgKind,
    Keyword,
    Section,
    lookup,
    refusal,
    repeats_last_wins,
)
from standby.config.tree import Directive, SectionNode, Value
from standby.model import Location

log = logging.getLogger(__name__)

_CONDITIONS = ", ".join(dict.fromkeys(keyword.name for keyword in KEYWORDS if keyword.condition))
_T = TypeVar("_T")
# What Pound says it expected where an argument is missing, by kind (by keyword first).
_POUND_EXPECTS = {
    ArgKind.STRING: "quoted string",
    ArgKind.FILE: "quoted string",
    ArgKind.INT: "number",
    ArgKind.DURATION: "number",
    ArgKind.BOOL: "identifier, number or literal",
}
_POUND_EXPECTS_FOR = {"LogLevel": "number or quoted string"}
# Pound's words for a value it refuses, by keyword, and for a keyword given twice.
_POUND_BAD_VALUE = {"RegexType": "unrecognized regex type"}
_POUND_DUPLICATE = {"CheckURL": "CheckURL multiple pattern"}
_POUND_BOOLEANS = (
    "valid booleans are: 1, yes, true, on for true value, and 0, no, false, off for false value"
)


def where(section: Section) -> str:
    return "at the top level" if section is Section.TOP else f"in {section.value}"


@dataclass(slots=True)
class _Open:
    keyword: Keyword | None
    section: Section
    values: tuple[Value, ...]
    location: Location
    opener: tuple[Location, ...] = ()  # each token of the opening line
    body: list[Directive | SectionNode] = field(default_factory=list)
    # Each non-repeatable keyword given so far: where, and its index in ``body`` (None
    # when it opened a section or was an Include).
    seen: dict[str, tuple[Location, int | None]] = field(default_factory=dict)
    negate: bool = False  # a block condition written after Not


def parse(reader: LineReader, top: Location) -> SectionNode:
    """Parse every line ``reader`` yields into the tree of the top level."""
    return _Parser(reader, top).run()


class _Parser:
    def __init__(self, reader: LineReader, top: Location) -> None:
        self.reader = reader
        self.stack = [_Open(None, Section.TOP, (), top)]

    def run(self) -> SectionNode:
        while (line := self.reader.next_line()) is not None:
            self._line(line)
        if len(self.stack) > 1:
            frame = self.stack[-1]
            assert frame.keyword is not None
            raise ConfigError(
                frame.location,
                f'missing "End" for "{frame.keyword.name}"',
                PoundForm(
                    "unexpected end of file",
                    Mark(frame.opener[-1], Edge.LAST),
                    Mark(frame.opener[-1], Edge.LAST),
                ),
            )
        frame = self.stack[0]
        return SectionNode(None, (), frame.location, tuple(frame.body))

    def _line(self, line: Line) -> None:
        first = line[0]
        if first.kind is TokenKind.STRING and self.stack[-1].section in CIDR_SECTIONS:
            # A list's line is one quoted CIDR: read as the directive `"CIDR" "..."`.
            first = Token(TokenKind.WORD, CIDR_KEYWORD, first.location)
            line = (first, *line)
        elif first.kind is TokenKind.STRING and self.stack[-1].section is Section.COMBINE:
            # Issue 15: a CombineHeaders line is one quoted header name (`"Name" "..."`).
            first = Token(TokenKind.WORD, COMBINE_KEYWORD, first.location)
            line = (first, *line)
        if first.kind is TokenKind.STRING:
            raise ConfigError(
                first.location, f"expected a keyword, found string {quote(first.text)}"
            )
        frame = self.stack[-1]
        if first.text.lower() == "end":
            self._end(line)
            return
        negate = False
        start = first.location  # a negated condition is located at its "Not"
        if first.text.lower() == "not":
            self._keyword(first, frame.section)
            if len(line) < 2:
                raise ConfigError(
                    first.location, 'missing argument for "Not": expected a condition'
                )
            target = line[1]
            keyword = lookup(target.text, frame.section) if target.kind is TokenKind.WORD else None
            refused = refusal(target.text, frame.section) if target.kind is TokenKind.WORD else None
            if refused is not None:
                raise ConfigError(target.location, refused)
            if keyword is None or not keyword.condition:
                raise ConfigError(
                    target.location,
                    f'"Not" must be followed by a condition ({_CONDITIONS}), '
                    f"not {quote(target.text)}",
                )
            negate = True
            first = target
            line = line[1:]
        keyword = self._keyword(first, frame.section)
        values, texts, locations = self._args(keyword, first, line[1:], frame.section)
        if keyword.name in IGNORED:
            warn(keyword.name, first.location)
        replaces = self._previous(keyword, frame, first.location)
        if keyword.name == "Include":
            self.reader.include(texts[0], first.location)
        elif keyword.name == "IncludeDir":  # takes effect for the lines that follow
            self.reader.include_dir = texts[0]
        elif keyword.opens is not None and not (keyword.inline and values[-1] is not None):
            opener = tuple(token.location for token in line)
            self.stack.append(_Open(keyword, keyword.opens, values, start, opener, negate=negate))
        else:
            directive = Directive(keyword, values, texts, locations, start, negate)
            if replaces is None:
                replaces = len(frame.body)
                frame.body.append(directive)
            elif _keeps_first(keyword, frame.body[replaces], directive):
                return
            else:
                frame.body[replaces] = directive  # in place: the order of the rest holds
            if not keyword.repeatable:
                frame.seen[keyword.name] = (first.location, replaces)
            return
        if not keyword.repeatable:
            frame.seen[keyword.name] = (first.location, None)

    def _previous(self, keyword: Keyword, frame: _Open, at: Location) -> int | None:
        """Where in ``frame.body`` the earlier ``keyword`` that this one replaces is (Pound
        lets most directives be given again, the last one winning); None if there is none.
        Raises for a duplicate that Pound refuses too, or of standby's own keywords."""
        if keyword.repeatable or keyword.name not in frame.seen:
            return None
        first_at, index = frame.seen[keyword.name]
        inline = keyword.opens is None or keyword.inline
        if index is None or not inline or not repeats_last_wins(keyword, frame.section):
            pound = _POUND_DUPLICATE.get(keyword.name)
            raise ConfigError(
                at,
                f'duplicate "{keyword.name}" (first given at {first_at})',
                None if pound is None else pound_token(at, pound),
            )
        return index

    def _end(self, line: Line) -> None:
        if len(line) > 1:
            raise ConfigError(line[1].location, 'unexpected argument after "End"')
        if len(self.stack) == 1:
            raise ConfigError(line[0].location, 'stray "End": no section is open')
        frame = self.stack.pop()
        node = SectionNode(
            frame.keyword,
            frame.values,
            frame.location,
            tuple(frame.body),
            frame.negate,
            frame.opener,
            line[0].location,
        )
        self.stack[-1].body.append(node)

    def _keyword(self, token: Token, section: Section) -> Keyword:
        keyword = lookup(token.text, section)
        refused = refusal(token.text, section)
        if refused is not None:
            raise ConfigError(token.location, refused)
        if keyword is None:
            raise ConfigError(
                token.location,
                f"unknown keyword {quote(token.text)}",
                pound_token(token.location, "unrecognized keyword"),
            )
        if section not in keyword.sections:
            raise ConfigError(token.location, f'"{keyword.name}" is not allowed {where(section)}')
        return keyword

    def _args(
        self, keyword: Keyword, at: Token, tokens: Line, section: Section
    ) -> tuple[tuple[Value, ...], tuple[str, ...], tuple[Location, ...]]:
        required = sum(1 for arg in keyword.args if not arg.optional)
        if len(tokens) < required:
            missing = [arg for arg in keyword.args if not arg.optional][len(tokens)]
            expects = _POUND_EXPECTS_FOR.get(keyword.name) or _POUND_EXPECTS.get(missing.kind)
            last = (tokens[-1] if tokens else at).location
            raise ConfigError(
                at.location,
                f'missing argument for "{keyword.name}": expected {missing.name}',
                None
                if expects is None
                else end_of_line(last, f"expected {expects}, but found end of line"),
            )
        many = bool(keyword.args) and keyword.args[-1].many
        if len(tokens) > len(keyword.args) and not many:
            extra = tokens[len(keyword.args)]
            raise ConfigError(
                extra.location,
                f'too many arguments for "{keyword.name}"',
                pound_token(extra.location, f"unexpected {_class(extra)}"),
            )
        spare = len(tokens) - required  # optional arguments given, filled left to right
        values: list[Value] = []
        texts: list[str] = []
        locations: list[Location] = []
        pos = 0
        for arg in keyword.args:
            if arg.kind is ArgKind.TOKENS and pos < len(tokens):
                # The rest of the line as written, with locations (config/conditions.py).
                rest = tokens[pos:]
                values.append(cast(Value, rest))
                texts.append(rest[-1].text)
                locations.append(rest[0].location)
                break
            if arg.many and pos < len(tokens):
                # The last argument takes the rest of the line: its tuples, concatenated.
                rest = tokens[pos:]
                items: tuple[object, ...] = ()
                for token in rest:
                    item = self._convert(keyword, arg, token, section)
                    assert isinstance(item, tuple)
                    items += item
                values.append(cast(Value, items))
                texts.append(" ".join(token.text for token in rest))
                locations.append(rest[0].location)
                break
            if arg.optional:
                if spare == 0:
                    values.append(None)
                    texts.append("")
                    locations.append(at.location)
                    continue
                spare -= 1
            token = tokens[pos]
            pos += 1
            values.append(self._convert(keyword, arg, token, section))
            texts.append(token.text)
            locations.append(token.location)
        return tuple(values), tuple(texts), tuple(locations)

    def _convert(self, keyword: Keyword, arg: Arg, token: Token, section: Section) -> Value:
        if (arg.quoted or arg.kind is ArgKind.FILE) and token.kind is TokenKind.WORD:
            raise ConfigError(
                token.location,
                f'the {arg.name} for "{keyword.name}" is a quoted string: '
                f"write {quote(token.text)}",
                pound_token(token.location, f"expected quoted string, but found {_class(token)}"),
            )
        try:
            value = self._value(keyword, arg, token.text, section)
        except RegexError as exc:
            raise ConfigError(token.location, f"bad regex {quote(token.text)}: {exc}") from None
        except ValueError as exc:
            raise ConfigError(
                token.location, str(exc), _pound_bad_value(keyword, arg, token)
            ) from None
        if isinstance(value, CompiledPattern) and not value.linear:
            log.warning(
                "%s: %s needs backtracking (a back-reference): it is searched only in "
                "subjects of at most %d bytes (%d modelled steps); a longer one never "
                "selects or admits anything",
                token.location,
                quote(token.text),
                value.limit,
                BACKTRACK_BUDGET,
            )
        return value

    def _value(self, keyword: Keyword, arg: Arg, text: str, section: Section) -> Value:
        name = f'"{keyword.name}"'
        kind = arg.kind
        if kind is ArgKind.STRING:
            if not text:
                raise ValueError(f"empty {arg.name} for {name}")
            return text
        if kind is ArgKind.FILE:
            if not text:
                raise ValueError(f"empty file name for {name}")
            return os.path.normpath(os.path.join(self.reader.directory, text))
        if kind is ArgKind.INT:
            number = _convert(conv.parse_number, text, f"bad number {quote(text)} for {name}")
            _check_int(number, arg, name)
            return number
        if kind is ArgKind.BOOL:
            return _convert(
                conv.parse_bool,
                text,
                f"bad boolean {quote(text)} for {name} (use 0/1, yes/no, true/false, on/off)",
            )
        if kind is ArgKind.DURATION:
            seconds = _convert(
                conv.parse_duration,
                text,
                f"bad duration {quote(text)} for {name} (use e.g. 90, 1m30s, 2h, 1d)",
            )
            if arg.low is not None and seconds < arg.low:
                raise ValueError(f"duration for {name} must be more than 0 seconds")
            return seconds
        if kind is ArgKind.SIZE:
            return _convert(
                conv.parse_size,
                text,
                f"bad size {quote(text)} for {name} (use e.g. 512, 64k, 10m, 1g)",
            )
        if kind is ArgKind.REGEX:
            return compile_pattern(text)
        if kind is ArgKind.IREGEX:
            return compile_pattern(text, ignore_case=True)
        if kind is ArgKind.FACILITY:
            return _convert(conv.parse_facility, text, f"unknown syslog facility {quote(text)}")
        if kind is ArgKind.LOG_LEVEL:
            return _convert(
                conv.parse_log_level,
                text,
                f"bad log level {quote(text)} (use 0..5 or "
                + ", ".join(conv.LOG_FORMAT_NAMES)
                + ")",
            )
        if kind is ArgKind.ADDRESS:
            unix = section in BACKENDS or section is Section.TUNNEL_BACKEND
            hint = (
                "an IP address, host name or UNIX socket path"
                if unix
                else "an IP address or host name"
            )
            address, _ = _convert(
                lambda t: conv.parse_address(t, unix),
                text,
                f"bad address {quote(text)} (expected {hint})",
            )
            return address
        if kind is ArgKind.STATUSES:
            return _convert(
                conv.parse_statuses,
                text,
                f"bad status list {quote(text)} for {name} "
                "(use e.g. 200, 200-399 or 200,204,301-302)",
            )
        if kind is ArgKind.METHODS:
            return _convert(
                conv.parse_method,
                text,
                f"bad method {quote(text)} for {name} (methods are upper-case tokens, e.g. GET)",
            )
        if kind is ArgKind.DOMAINS:
            return _convert(
                conv.parse_domain,
                text,
                f"bad name {quote(text)} for {name} (a DNS name such as www.example.com; "
                "no wildcard or address: HTTP-01 cannot validate them)",
            )
        if kind is ArgKind.MODE:
            return _convert(
                conv.parse_mode, text, f"bad mode {quote(text)} for {name} (use octal, e.g. 0600)"
            )
        if kind is ArgKind.WORD:
            if text.lower() not in arg.words:
                raise ValueError(
                    f"bad {arg.name} {quote(text)} for {name} (use {' or '.join(arg.words)})"
                )
            return text.lower()
        if kind is ArgKind.REQUEST_PATH:
            return _convert(
                conv.parse_request_path,
                text,
                f"bad path {quote(text)} for {name} (expected an absolute path such as /health)",
            )
        if kind is ArgKind.CIPHERS:
            if not text:
                raise ValueError(f"empty cipher list for {name}")
            return (text,)
        if kind is ArgKind.HOST_HEADER:
            return _convert(
                conv.parse_host_header,
                text,
                f"bad host {quote(text)} for {name} (expected a host name or address, "
                "optionally with :port)",
            )
        raise AssertionError(f"argument kind {kind} is handled by the parser itself")


def _class(token: Token) -> str:
    return token_class(token.text, token.kind is TokenKind.STRING)


def _pound_bad_value(keyword: Keyword, arg: Arg, token: Token) -> PoundForm | None:
    """Pound's words for a value of ``token`` that it refuses too, where they are known."""
    if arg.kind is ArgKind.BOOL:
        if token.kind is TokenKind.STRING:
            text = f"expected {_POUND_EXPECTS[ArgKind.BOOL]}, but found quoted string"
            return pound_token(token.location, text)
        form = pound_token(token.location, "not a boolean value")
        return PoundForm(form.text, form.begin, form.end, (_POUND_BOOLEANS,))
    words = _POUND_BAD_VALUE.get(keyword.name)
    return None if words is None else pound_token(token.location, words)


def _keeps_first(keyword: Keyword, first: Directive | SectionNode, then: Directive) -> bool:
    """Whether a repeated ``keyword`` leaves the ``first`` one in force: Pound's listener
    ``Disable`` adds to what is disabled, so the one disabling more protocols stays."""
    if keyword.name != "Disable" or not isinstance(first, Directive):
        return False
    words = keyword.args[0].words
    return words.index(str(first.values[0])) > words.index(str(then.values[0]))


def _convert(parse: Callable[[str], _T], text: str, message: str) -> _T:
    """``parse(text)``, with its terse ValueError replaced by ``message``."""
    try:
        return parse(text)
    except ValueError:
        raise ValueError(message) from None


def _check_int(number: int, arg: Arg, name: str) -> None:
    if arg.choices and number not in arg.choices:
        allowed = ", ".join(str(choice) for choice in arg.choices)
        raise ValueError(f"{number} is not a valid {arg.name} for {name} (use {allowed})")
    if (arg.low is not None and number < arg.low) or (arg.high is not None and number > arg.high):
        raise ValueError(f"value {number} for {name} is out of range {arg.low:g}..{arg.high:g}")
