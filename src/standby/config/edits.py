"""Request and response modification, compiled: the edit statements of a listener or a
service (``SetHeader``/``AddHeader``/``HeaderAdd``, ``DeleteHeader``/``HeadRemove``/
``HeaderRemove``, ``SetURL``, ``SetPath``, ``SetQuery``, ``DeleteQuery``, ``SetQueryParam``,
``Rewrite [request|response]`` ... ``Else`` ... ``End``), ``HeaderOption``,
``RewriteDestination`` and ``RewriteErrors``, to ``model`` specs (applied by http1/edit.py).

Pound 4's meanings: ``AddHeader`` is ``SetHeader`` (a header of that name is replaced);
``HeadRemove`` is ``DeleteHeader -icase``; ``DeleteHeader`` is case-sensitive unless
``-icase``. Every error is located at the token at fault.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final

from standby import model
from standby.config import constants
from standby.config.conditions import ConditionContext
from standby.config.errors import ConfigError, quote
from standby.config.pattern import compile_pattern, compile_pcre
from standby.config.posix_regex import RegexError
from standby.config.tree import Directive, SectionNode
from standby.http1.edit import (
    UNSETTABLE_NAMES,
    check_template,
    template_faults,
    valid_header_line,
    valid_host,
)
from standby.model import (
    ConditionKind,
    ConditionSpec,
    Edits,
    EditSpec,
    HeaderMatcherSpec,
    Location,
    Pattern,
    RewriteBranchSpec,
    RewriteSpec,
)

log = logging.getLogger(__name__)

# DeleteHeader's flags: how the pattern is read (the last given wins), and its case.
_KINDS: Final = {
    "-re": "re",
    "-posix": "re",
    "-pcre": "pcre",
    "-perl": "pcre",
    "-exact": "exact",
    "-beg": "beg",
    "-end": "end",
    "-contain": "contain",
}
_CASES: Final = {"-icase": True, "-case": False}
_ENCODE: Final = "-encode"
_SET_HEADER: Final = frozenset({"SetHeader", "AddHeader"})
_DELETE_HEADER: Final = frozenset({"DeleteHeader", "HeadRemove"})
_TARGET_OPS: Final = {
    "SetURL": model.EDIT_SET_URL,
    "SetPath": model.EDIT_SET_PATH,
    "SetQuery": model.EDIT_SET_QUERY,
    "DeleteQuery": model.EDIT_DELETE_QUERY,
    "SetQueryParam": model.EDIT_SET_QUERY_PARAM,
}
# `HeaderOption` words and the bits they set (`no-` clears them).
_HEADER_OPTIONS: Final = {
    "forwarded": model.HEADER_FORWARDED,
    "ssl": model.HEADER_SSL,
    "all": model.HEADER_FORWARDED | model.HEADER_SSL,
}
# Pound 2's spellings Pound 4 keeps with a warning, and what it advises instead.
_REQUEST = "request"
_RESPONSE = "response"


@dataclass(frozen=True, slots=True)
class SectionEdits:
    """What one listener or service says about modification."""

    request: Edits = ()
    response: Edits = ()
    rewrite_errors: bool | None = None  # None: not said here
    header_options: int | None = None  # listeners (None: the global default)
    rewrite_destination: bool = False  # listeners


def _tokens(directive: Directive) -> list[tuple[str, Location]]:
    """The arguments given, in order, with where each was written."""
    return [
        (text, at)
        for value, text, at in zip(
            directive.values, directive.texts, directive.arg_locations, strict=True
        )
        if value is not None
    ]


@dataclass(frozen=True, slots=True)
class _Scope:
    """Where conditions in Rewrite blocks are compiled (i15-cond's ConditionContext, with
    the service's IgnoreCase, TrustedIP...; a listener's blocks: the listener)."""

    conditions: ConditionContext
    service: SectionNode
    listener: SectionNode | None
    constants: dict[str, bytes]  # in force here: `%[const NAME]` in templates


def section_edits(
    node: SectionNode,
    conditions: ConditionContext,
    service: SectionNode,
    listener: SectionNode | None = None,
) -> SectionEdits:
    """The edits of a ListenHTTP(S) or Service section (``node``), in the order written;
    ``service`` and ``listener`` are the scope its Rewrite blocks' conditions compile in."""
    scope = _Scope(conditions, service, listener, conditions.constants.in_scope(service, listener))
    request: list[EditSpec | RewriteSpec] = []
    response: list[EditSpec | RewriteSpec] = []
    for child in node.body:
        if isinstance(child, SectionNode):
            if child.keyword is not None and child.keyword.name == "Rewrite":
                what = child.values[0] or _REQUEST
                rewrite = _rewrite(child, what == _RESPONSE, scope)
                (response if what == _RESPONSE else request).append(rewrite)
            continue
        edit = _edit(child, False, scope.constants)
        if edit is not None:
            request.append(edit)
    errors = node.first("RewriteErrors")
    options = node.first("HeaderOption")
    destination = node.first("RewriteDestination")
    return SectionEdits(
        request=tuple(request),
        response=tuple(response),
        rewrite_errors=None if errors is None else bool(errors.values[0]),
        header_options=None if options is None else header_options(options),
        rewrite_destination=destination is not None and bool(destination.values[0]),
    )


def global_header_options(root: SectionNode) -> int:
    """The top level's ``HeaderOption``, else Pound's default (``forwarded ssl``)."""
    directive = root.first("HeaderOption")
    return model.DEFAULT_HEADER_OPTIONS if directive is None else header_options(directive)


def combine_headers(root: SectionNode) -> tuple[bytes, ...]:
    """The names of the top level's ``CombineHeaders`` sections, lower-cased."""
    names: list[bytes] = []
    for node in root.sections():
        if node.keyword is None or node.keyword.name != "CombineHeaders":
            continue
        for line in node.directives():
            text = line.texts[0]
            name = text.encode("latin-1", "replace")
            if not valid_header_line(text + ":"):
                raise ConfigError(line.arg_locations[0], f"bad header name {quote(text)}")
            if name.lower() in UNSETTABLE_NAMES | {b"host"}:
                raise ConfigError(
                    line.arg_locations[0],
                    f"{quote(text)} cannot be combined: the proxy decides the framing and "
                    "hop-by-hop headers",
                )
            names.append(name.lower())
    return tuple(dict.fromkeys(names))


def header_options(directive: Directive) -> int:
    options = model.DEFAULT_HEADER_OPTIONS
    for text, at in _tokens(directive):
        word = text.lower()
        if word == "none":
            options = 0
            continue
        negate = word.startswith("no-")
        bits = _HEADER_OPTIONS.get(word[3:] if negate else word)
        if bits is None:
            raise ConfigError(
                at,
                f'unknown header option {quote(text)} for "HeaderOption" (use forwarded, '
                "ssl, all, none, or no-forwarded, no-ssl)",
            )
        options = options & ~bits if negate else options | bits
    return options


def _edit(directive: Directive, response: bool, known: dict[str, bytes]) -> EditSpec | None:
    """The edit a directive states, or None when it is not an edit (``known``: the
    constants its templates may name)."""
    name = directive.keyword.name
    if name in _SET_HEADER:
        return _set_header(directive, known)
    if name in _DELETE_HEADER:
        return _delete_header(directive, ignore_case=name == "HeadRemove")
    op = _TARGET_OPS.get(name)
    if op is None:
        return None
    if response:
        raise ConfigError(
            directive.location,
            f'"{name}" changes the request: "Rewrite response" allows "SetHeader" and '
            '"DeleteHeader" only',
        )
    tokens = _tokens(directive)
    encode = False
    words: list[tuple[str, Location]] = []
    for text, at in tokens:
        if text == _ENCODE and op in (model.EDIT_SET_PATH, model.EDIT_SET_QUERY_PARAM):
            encode = True
        else:
            words.append((text, at))
    if op == model.EDIT_DELETE_QUERY:
        return EditSpec(op=op, location=directive.location)
    if op == model.EDIT_SET_QUERY_PARAM:
        if len(words) > 2:
            raise ConfigError(words[2][1], f'too many arguments for "{name}"')
        if not words:
            raise ConfigError(directive.location, f'missing argument for "{name}": expected name')
        value = words[1] if len(words) > 1 else None
        expanded: str | None = None
        if value is not None:
            expanded = _template(value[0], value[1], name, known)
        return EditSpec(
            op=op,
            text=words[0][0],
            value=expanded,
            encode=encode,
            location=directive.location,
        )
    if len(words) != 1:
        at = words[1][1] if len(words) > 1 else directive.location
        raise ConfigError(at, f'"{name}" takes one value (and "-encode" for "SetPath")')
    text, at = words[0]
    text = _template(text, at, name, known)
    if op == model.EDIT_SET_URL and not (text.startswith("/") or text.startswith("$")):
        raise ConfigError(at, f'bad URL {quote(text)} for "SetURL" (it must start with /)')
    return EditSpec(op=op, text=text, encode=encode, location=directive.location)


_ESCAPES = " (write $$ for a dollar sign, $% for a percent sign)"


def _template(text: str, at: Location, name: str, known: dict[str, bytes]) -> str:
    """``text`` checked, its `%[const NAME]` resolved (config/constants.py)."""
    try:
        check_template(text)
    except ValueError as exc:
        raise ConfigError(at, f'{exc} in {quote(text)} for "{name}"') from None
    for fault in template_faults(text):  # Pound accepts these, then answers 500 each time
        hint = _ESCAPES if "unescaped" in fault else ""
        log.warning(
            '%s: "%s" %s%s: every request it edits will be answered 500%s',
            at,
            name,
            quote(text),
            fault,
            hint,
        )
    return constants.resolve(text, known, at)


def _set_header(directive: Directive, known: dict[str, bytes]) -> EditSpec:
    name = directive.keyword.name
    text = directive.texts[0]
    at = directive.arg_locations[0]
    if not valid_header_line(text):
        raise ConfigError(
            at,
            f'bad header line {quote(text)} for "{name}" (expected "Name: value", the '
            "name a token, the value without control characters)",
        )
    field = text.partition(":")[0].encode("latin-1").lower()
    if field in UNSETTABLE_NAMES:
        raise ConfigError(
            at,
            f'"{name}" cannot set {quote(text.partition(":")[0])}: the proxy decides the '
            "framing and hop-by-hop headers",
        )
    value = text.partition(":")[2].strip(" \t")
    literal = "$" not in value and "%[" not in value
    if field == b"host" and literal and not valid_host(value.encode("latin-1")):
        raise ConfigError(at, f'bad host {quote(value)} for "{name}"')
    text = _template(text, at, name, known)
    return EditSpec(op=model.EDIT_SET_HEADER, text=text, location=directive.location)


def _delete_header(directive: Directive, ignore_case: bool) -> EditSpec:
    name = directive.keyword.name
    tokens = _tokens(directive)
    pattern, pattern_at = tokens[-1]
    mode = "re"
    for text, at in tokens[:-1]:
        flag = text.lower()
        if flag in _KINDS:
            mode = _KINDS[flag]
        elif flag in _CASES:
            ignore_case = _CASES[flag]
        else:
            raise ConfigError(
                at,
                f'unknown option {quote(text)} for "{name}" (use -re, -posix, -pcre, -exact, '
                "-beg, -end, -contain, -icase, -case)",
            )
    regex: Pattern | None = None
    if mode in ("re", "pcre"):
        try:
            if mode == "pcre":
                regex = compile_pcre(pattern, ignore_case)
            else:
                regex = compile_pattern(pattern, ignore_case)
        except RegexError as exc:
            raise ConfigError(pattern_at, f"bad regex {quote(pattern)}: {exc}") from None
    matcher = HeaderMatcherSpec(mode=mode, text=pattern, ignore_case=ignore_case, regex=regex)
    return EditSpec(op=model.EDIT_DELETE_HEADER, matcher=matcher, location=directive.location)


# What a `Rewrite response` branch may test: the response's headers (Pound's list).
_RESPONSE_CONDITIONS: Final = frozenset(
    {ConditionKind.HEADER, ConditionKind.STRING_MATCH, ConditionKind.MATCH}
)


def _response_condition(condition: ConditionSpec) -> bool:
    return condition.kind in _RESPONSE_CONDITIONS and all(
        _response_condition(child) for child in condition.children
    )


def _rewrite(node: SectionNode, response: bool, scope: _Scope) -> RewriteSpec:
    """A Rewrite block: its branches, split at each Else."""
    branches: list[RewriteBranchSpec] = []
    nodes: list[Directive | SectionNode] = []  # the branch's, for its conditions
    edits: list[EditSpec | RewriteSpec] = []
    start = node.location

    def branch() -> RewriteBranchSpec:
        conditions = scope.conditions.compile(nodes, scope.service, scope.listener)
        for condition in conditions:
            if response and not _response_condition(condition):
                raise ConfigError(
                    condition.location,
                    'a "Rewrite response" block tests the response\'s headers ("Header", '
                    '"StringMatch", "Match", "Not"), not the request',
                )
        return RewriteBranchSpec(conditions, tuple(edits), start)

    for child in node.body:
        if isinstance(child, SectionNode):
            assert child.keyword is not None
            if child.keyword.name != "Rewrite":
                nodes.append(child)  # a Match or ACL block
                continue
            what = child.values[0] or (_RESPONSE if response else _REQUEST)
            if (what == _RESPONSE) != response:
                raise ConfigError(
                    child.location,
                    f'a "Rewrite {what}" block cannot be inside a '
                    f'"Rewrite {_RESPONSE if response else _REQUEST}" block',
                )
            edits.append(_rewrite(child, response, scope))
            continue
        keyword = child.keyword
        if keyword.name == "Else":
            branches.append(branch())
            nodes, edits, start = [], [], child.location
        elif keyword.condition:
            nodes.append(child)
        else:
            edit = _edit(child, response, scope.constants)
            if edit is not None:
                edits.append(edit)
    branches.append(branch())
    return RewriteSpec(tuple(branches), node.location)
