"""Request and response modification: Pound's ``SetHeader``, ``DeleteHeader``, ``SetURL``,
``SetPath``, ``SetQuery``, ``DeleteQuery``, ``SetQueryParam`` and ``Rewrite`` blocks, applied
to a head as bytes (pure core).

An editor is compiled once from a listener's or a service's edits (``model.Edits``) and
applied to each head: the request head as it goes upstream (after ``forward_head``, so the
``X-Forwarded-*`` lines are there, as in Pound 4, where the rewrite rules run after the
forwarded headers are added), or the response head from a backend before the client's head
is made from it. Statements apply in order; a ``Rewrite`` block applies the edits of its
first branch whose conditions hold, against the head as edited so far.

The common case is cheap: an editor made only of ``SetHeader`` lines and ``DeleteHeader``
patterns that cannot meet each other (no two set the same name, no pattern matches a line
set before it, no expansion) searches the raw head once for a line that starts with a set
name or with the name a pattern asks for (``^X-Debug:``: the usual ``HeadRemove``), other
patterns searching the header lines (``field_block``, one C call) in one joined search per
case; when nothing is found it appends the set lines joined at compile time. Anything else
splits the head into lines, edits the list and joins it again.

Safety: the lines that frame a message (``Content-Length``, ``Transfer-Encoding``) and the
hop-by-hop ones the proxy decides (``Connection``, ``Upgrade``) are never removed by a
pattern, and cannot be set (the compiler refuses them): the framing standby parsed is the
framing it forwards. ``Host`` is never removed either (HTTP/1.1 requires it). A value made
by an expansion that holds a byte no header or target may carry (a control character, or
outside visible ASCII in a target) has it percent-encoded.

Conditions, back-references and request accessors are routing.py's (``match_conditions``,
``expand``): ``$N`` is group N of the most recently matched condition (in a ``Rewrite``
branch, its conditions, which see the head as edited so far; else the service's, matched
against the original request, found only when a template needs them), ``$N(M)`` and
``$N(tag)`` earlier ones (a branch's StringMatch sees the service's groups too);
``%[url]``, ``%[path]``... read the request as edited so far (in a response's edits, the
request it answers). A template Pound cannot expand (a group that did not match, a
malformed reference) raises ExpansionFailed with Pound's lines: the exchange logs them and
answers 500, as Pound.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from typing import Final

from standby.http1._grammar import OWS, TCHAR
from standby.http1.request import _valid_host, field_block, line_prefix
from standby.model import (
    EDIT_DELETE_HEADER,
    EDIT_DELETE_QUERY,
    EDIT_SET_HEADER,
    EDIT_SET_PATH,
    EDIT_SET_QUERY,
    EDIT_SET_QUERY_PARAM,
    EDIT_SET_URL,
    ConditionSpec,
    Edits,
    EditSpec,
    HeaderMatcherSpec,
    RewriteSpec,
)
from standby.routing import (
    Captures,
    RequestView,
    expand,
    expansion_messages,
    is_literal,
    match_conditions,
    reads_captures,
)

# Lines no pattern removes and no SetHeader writes: the message's framing, and the
# hop-by-hop lines the proxy itself decides for each side (config/edits.py refuses to set
# these and the other hop-by-hop names).
# Host stays too: an HTTP/1.1 request without it is invalid (RFC 9112 3.2); SetHeader may
# change it.
PROTECTED_NAMES: Final = frozenset(
    {b"content-length", b"transfer-encoding", b"connection", b"upgrade", b"host"}
)
UNSETTABLE_NAMES: Final = (PROTECTED_NAMES - {b"host"}) | frozenset(
    {b"keep-alive", b"te", b"trailer", b"proxy-connection", b"http2-settings"}
)

# Bytes a header value may hold (RFC 9110 5.5: VCHAR, obs-text, SP, HTAB) and a target
# (visible ASCII but "#"); an expansion's other bytes are percent-encoded.
_FIELD_UNSAFE: Final = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_TARGET_UNSAFE: Final = re.compile(rb"[^\x21\x22\x24-\x7e]")
# `-encode`: what stays as it is (RFC 3986 unreserved, and "/" in a path).
_ENCODE_KEEP: Final = re.compile(rb"[^A-Za-z0-9\-._~]")
_ENCODE_KEEP_PATH: Final = re.compile(rb"[^A-Za-z0-9\-._~/]")
_NAME_RE: Final = re.compile(rb"[" + TCHAR + rb"]+")


def _percent(unsafe: re.Pattern[bytes], value: bytes) -> bytes:
    return unsafe.sub(lambda m: b"%%%02X" % m.group()[0], value)


# What conditions and accessors read of a request (``RequestHead`` is one, ``Head`` too).
View = RequestView


class Head:
    """A head being edited: its first line and its header lines, without CRLFs. It is a
    ``View`` of itself, so that conditions see the edits made before them."""

    __slots__ = ("first", "lines")

    def __init__(self, raw: bytes) -> None:
        parts = raw[:-4].split(b"\r\n")
        self.first = parts[0]
        self.lines = parts[1:]

    def raw(self) -> bytes:
        return b"\r\n".join([self.first, *self.lines]) + b"\r\n\r\n"

    @property
    def target(self) -> bytes:
        return self.first.split(b" ")[1]

    @target.setter
    def target(self, value: bytes) -> None:
        method, _, rest = self.first.partition(b" ")
        version = rest.rpartition(b" ")[2]
        self.first = b" ".join((method, value, version))

    @property
    def host(self) -> bytes | None:
        return self.header(b"host")

    @property
    def method(self) -> bytes:
        return self.first.partition(b" ")[0]

    @property
    def client_cert(self) -> bytes | None:
        return None  # a Rewrite block has no `ClientCert` condition

    @property
    def path(self) -> str:
        return _split_target(self.target)[1].decode("latin-1")

    def header(self, name: bytes) -> bytes | None:
        name = name.lower()
        for line in self.lines:
            field, _, value = line.partition(b":")
            if field.lower() == name:
                return value.strip(OWS)
        return None

    def header_block(self) -> tuple[bytes, bytes]:
        block = b"\n".join(_normal(line) for line in self.lines)
        return block, block.lower()


def valid_host(value: bytes) -> bool:
    """Whether ``value`` is a Host our parser takes (a SetHeader of Host must be one)."""
    return _valid_host(value)


def _normal(line: bytes) -> bytes:
    """A header line as patterns see it: ``Name: value``, the value without OWS around."""
    name, _, value = line.partition(b":")
    return name + b": " + value.strip(OWS)


def _split_target(target: bytes) -> tuple[bytes, bytes, bytes | None]:
    """(scheme://authority or b"", path, query or None) of a request target."""
    prefix = b""
    if not target.startswith(b"/"):
        scheme, sep, rest = target.partition(b"://")
        if sep:
            slash = len(rest)
            for mark in (b"/", b"?"):
                at = rest.find(mark)
                if 0 <= at < slash:
                    slash = at
            prefix = scheme + sep + rest[:slash]
            target = rest[slash:]
    path, sep, query = target.partition(b"?")
    return prefix, path, query if sep else None


# -- back-references and accessors (routing.py's, i15-cond) ------------------------------

# Accessors a template may name (routing.expand), and those that need an argument.
# `const` is resolved when compiled (config/constants.py), before anything is expanded.
_ACCESSORS: Final = frozenset(
    {"url", "path", "query", "host", "port", "header", "param", "remoteip", "user", "const"}
)
_ACCESSOR_RE: Final = re.compile(r"%\[\s*([a-z]*)(?:\s+([^\]\s]+))?\s*\]")


def check_template(text: str) -> None:
    """Raise ValueError for an accessor ``expand`` does not know (``%[nope]``)."""
    for m in _ACCESSOR_RE.finditer(text):
        name = m.group(1)
        if name not in _ACCESSORS:
            raise ValueError(f"unknown request accessor %[{name}]")
        if name in ("header", "param") and not m.group(2):
            raise ValueError(f"%[{name}] needs a name: %[{name} NAME]")


# A head to expand templates against when none is at hand: what ``template_faults`` needs.
_ANY_REQUEST: Final = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
_MISSING_GROUP: Final = " refers to non-existing group"


def template_faults(text: str) -> list[str]:
    """What expanding ``text`` reports on every request, whatever matched (Pound's words,
    after the statement and template): a ``%`` or ``$`` that begins nothing, an unclosed
    ``%[``, a reference without its closing brace or parenthesis. Such a template answers
    500 each time; the configuration warns of it when loaded. (A group that did not match
    depends on the request: not a fault here.)"""
    errors: list[str] = []
    expand(text, None, Head(_ANY_REQUEST), "", errors)
    return [error for error in errors if not error.startswith(_MISSING_GROUP)]


class _Context:
    """What expansions read while one head is edited: the client's address, and the
    groups of the conditions that matched, the most recent first (the service's, matched
    against the original request, found only when a template asks)."""

    __slots__ = ("_captures", "_found", "conditions", "peer", "request", "response")

    def __init__(
        self,
        request: View | None,
        conditions: tuple[ConditionSpec, ...],
        peer: str,
        response: bool = False,
    ) -> None:
        self.request = request
        self.conditions = conditions
        self.peer = peer
        self.response = response  # editing a response: accessors read the request
        self._captures: Captures | None = None
        self._found = False

    def accessed(self, head: Head) -> View:
        """What ``%[...]`` reads: the request as edited so far, or, for a response, the
        request it answers (Pound's ``%[host]`` in a response is the request's Host)."""
        request = self.request
        return request if self.response and request is not None else head

    def captures(self) -> Captures | None:
        if not self._found:
            self._found = True
            request = self.request
            if request is not None and self.conditions:
                self._captures = match_conditions(self.conditions, request, self.peer)
        return self._captures

    def pushed(self, captures: Captures) -> _Context:
        """A context whose most recent groups are ``captures`` (a Rewrite branch's)."""
        outer = self.captures()
        if outer is not None:
            captures = Captures(captures.groups + outer.groups, captures.tags + outer.tags)
        return self.within(captures)

    def within(self, captures: Captures) -> _Context:
        """A context whose groups are ``captures`` (those of a Rewrite branch's conditions
        matched after this context's own)."""
        inner = _Context(self.request, (), self.peer, self.response)
        inner._captures = captures
        inner._found = True
        return inner


class ExpansionFailed(ValueError):
    """A template could not be expanded (a group that did not match, a malformed
    reference...): Pound answers 500 and logs ``messages``, its lines for it."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


class _Template:
    """A statement's string: its bytes when it has no expansion, else expanded against
    the head as edited so far (Pound's accessors read the message being modified).
    ``what``: the statement, as Pound's messages name it."""

    __slots__ = ("literal", "text", "what")

    def __init__(self, text: str, what: str) -> None:
        self.text = text
        self.what = what
        self.literal = text.encode("latin-1") if is_literal(text) else None

    def value(self, context: _Context, head: Head) -> bytes:
        literal = self.literal
        if literal is not None:
            return literal
        errors: list[str] = []
        value = expand(self.text, context.captures(), context.accessed(head), context.peer, errors)
        if errors:
            raise ExpansionFailed(expansion_messages(self.what, self.text, errors))
        return value


# -- header matchers ---------------------------------------------------------------------


class LineMatcher:
    """A DeleteHeader pattern: ``line(normal line)`` for one line, ``block(block,
    lowered)`` for whether any of the ``\\n``-joined lines matches."""

    __slots__ = ("_block", "_line", "spec")

    def __init__(self, spec: HeaderMatcherSpec) -> None:
        self.spec = spec
        if spec.mode in ("re", "pcre"):
            regex = spec.regex
            assert regex is not None
            self._line: Callable[[bytes], bool] = lambda line: regex.search(line, True)
            self._block: Callable[[bytes, bytes], bool] = lambda block, lowered: regex.search_lines(
                block, lowered, True
            )
            return
        text = re.escape(spec.text.encode("latin-1"))
        if spec.mode == "exact":
            source = b"^" + text + b"$"
        elif spec.mode == "beg":
            source = b"^" + text
        elif spec.mode == "end":
            source = text + b"$"
        else:
            source = text
        flags = re.IGNORECASE if spec.ignore_case else 0
        fixed = re.compile(source, flags)  # a fixed string: linear, whatever the subject
        in_lines = re.compile(source, flags | re.MULTILINE)
        self._line = lambda line: fixed.search(line) is not None
        self._block = lambda block, lowered: in_lines.search(block) is not None

    def line(self, line: bytes) -> bool:
        return self._line(line)

    def block(self, block: bytes, lowered: bytes) -> bool:
        return self._block(block, lowered)

    def lines_test(self, block: bytes, lowered: bytes, undecided: bool) -> bool:
        """``block`` as a Pattern.search_lines (undecided: matches, as ``line`` says)."""
        return self._block(block, lowered)


# -- the editor --------------------------------------------------------------------------


class _Op:
    """One compiled statement."""

    __slots__ = ()

    def apply(self, head: Head, context: _Context) -> None:
        raise NotImplementedError


class _SetHeader(_Op):
    __slots__ = ("name", "template")

    def __init__(self, text: str) -> None:
        self.template = _Template(text, "Header")
        self.name = text.partition(":")[0].strip().encode("latin-1").lower()

    def apply(self, head: Head, context: _Context) -> None:
        line = _percent(_FIELD_UNSAFE, self.template.value(context, head))
        field, colon, value = line.partition(b":")
        if not colon or _NAME_RE.fullmatch(field) is None:
            return  # an expansion in the name left no header name
        name = field.lower()  # as expanded
        if name in UNSETTABLE_NAMES:
            return  # an expansion made it a framing or hop-by-hop name
        if name == b"host" and not valid_host(value.strip(OWS)):
            return  # a Host no backend could read the same (an expansion made it so)
        lines = head.lines
        for i, old in enumerate(lines):
            if old.partition(b":")[0].lower() == name:
                lines[i] = line
                return
        lines.append(line)


class _DeleteHeader(_Op):
    __slots__ = ("matcher",)

    def __init__(self, matcher: LineMatcher) -> None:
        self.matcher = matcher

    def apply(self, head: Head, context: _Context) -> None:
        match = self.matcher.line
        head.lines = [
            line
            for line in head.lines
            if line.partition(b":")[0].lower() in PROTECTED_NAMES or not match(_normal(line))
        ]


# What Pound's messages call each target edit's template.
_WHAT: Final = {
    EDIT_SET_URL: "url",
    EDIT_SET_PATH: "path",
    EDIT_SET_QUERY: "query",
    EDIT_SET_QUERY_PARAM: "query parameter",
}


class _SetTarget(_Op):
    """SetURL, SetPath, SetQuery, DeleteQuery and SetQueryParam."""

    __slots__ = ("encode", "name", "op", "template")

    def __init__(self, spec: EditSpec) -> None:
        self.op = spec.op
        self.encode = spec.encode
        if spec.op == EDIT_SET_QUERY_PARAM:
            self.name: bytes = spec.text.encode("latin-1")
            self.template = None if spec.value is None else _Template(spec.value, _WHAT[spec.op])
        else:
            self.name = b""
            self.template = _Template(spec.text, _WHAT.get(spec.op, ""))

    def apply(self, head: Head, context: _Context) -> None:
        if head.method == b"CONNECT" or head.target == b"*":
            return  # an authority or "*": no path or query to change
        op = self.op
        template = self.template
        value = None if template is None else template.value(context, head)
        if value is not None and self.encode:
            value = _percent(_ENCODE_KEEP_PATH if op == EDIT_SET_PATH else _ENCODE_KEEP, value)
        prefix, path, query = _split_target(head.target)
        if op == EDIT_SET_URL:
            assert value is not None
            prefix, path, query = _split_target(value)
            prefix = b""
        elif op == EDIT_SET_PATH:
            assert value is not None
            path = value
        elif op == EDIT_SET_QUERY:
            query = value or None
        elif op == EDIT_DELETE_QUERY:
            query = None
        else:
            query = _set_param(query, self.name, value)
        if not path.startswith(b"/"):
            path = b"/" + path
        target = prefix + path + (b"" if query is None else b"?" + query)
        head.target = _percent(_TARGET_UNSAFE, target)


def _set_param(query: bytes | None, name: bytes, value: bytes | None) -> bytes | None:
    """``query`` with parameter ``name`` set to ``value`` (its first occurrence replaced,
    the others dropped, else appended), or removed when ``value`` is None."""
    items = [] if not query else query.split(b"&")
    out: list[bytes] = []
    done = False
    for item in items:
        if item.partition(b"=")[0] == name:
            if value is not None and not done:
                out.append(name + b"=" + value)
                done = True
            continue
        out.append(item)
    if value is not None and not done:
        out.append(name + b"=" + value)
    return b"&".join(out) if out else None


class _Rewrite(_Op):
    __slots__ = ("branches",)

    def __init__(self, spec: RewriteSpec) -> None:
        self.branches = tuple(
            (branch.conditions, reads_captures(branch.conditions), _ops(branch.edits))
            for branch in spec.branches
        )

    def apply(self, head: Head, context: _Context) -> None:
        for conditions, reads, ops in self.branches:
            # The branch's conditions see the head as edited so far (Pound's order); a
            # StringMatch among them sees the groups of the matches before (``reads``).
            if reads:
                outer = context.captures()
                captures = match_conditions(conditions, head, context.peer, outer)
                if captures is not None:
                    inner = context.within(captures)
                    for op in ops:
                        op.apply(head, inner)
                    return
                continue
            captures = match_conditions(conditions, head, context.peer)
            if captures is not None:
                inner = context.pushed(captures) if captures.groups else context
                for op in ops:
                    op.apply(head, inner)
                return


# Never joined: each Set-Cookie is one cookie, and its value may hold commas (RFC 9110 5.3).
_NEVER_COMBINED: Final = frozenset({b"set-cookie"})


class _Combine(_Op):
    """CombineHeaders: the repeated lines of these names joined into the first one."""

    __slots__ = ("names",)

    def __init__(self, names: Sequence[bytes]) -> None:
        self.names = frozenset(names) - PROTECTED_NAMES - _NEVER_COMBINED

    def apply(self, head: Head, context: _Context) -> None:
        names = self.names
        first: dict[bytes, int] = {}
        values: dict[int, list[bytes]] = {}  # the elements of each line joined into
        out: list[bytes] = []
        for line in head.lines:
            name, _, value = line.partition(b":")
            key = name.lower()
            if key in names:
                at = first.get(key)
                if at is not None:
                    if at not in values:
                        values[at] = _elements(out[at].partition(b":")[2])
                    values[at] += _elements(value)
                    continue
                first[key] = len(out)
            out.append(line)
        for at, elements in values.items():  # Pound drops empty elements as it joins
            out[at] = out[at].partition(b":")[0] + b": " + b", ".join(elements)
        head.lines = out


# A list element (RFC 9110 5.6.1): up to a comma outside a quoted string.
# Atomic and possessive: an unterminated quote is one more character, never a backtrack.
_ELEMENT: Final = re.compile(rb'(?>"(?:[^"\\]|\\.)*+"|[^,"]|")++')


def _elements(value: bytes) -> list[bytes]:
    """The non-empty elements of a comma-separated field value, stripped."""
    return [e for m in _ELEMENT.finditer(value) if (e := m.group().strip(OWS + b"\t"))]


def _ops(edits: Edits) -> tuple[_Op, ...]:
    ops: list[_Op] = []
    for edit in edits:
        if isinstance(edit, RewriteSpec):
            ops.append(_Rewrite(edit))
        elif edit.op == EDIT_SET_HEADER:
            ops.append(_SetHeader(edit.text))
        elif edit.op == EDIT_DELETE_HEADER:
            assert edit.matcher is not None
            ops.append(_DeleteHeader(LineMatcher(edit.matcher)))
        else:
            ops.append(_SetTarget(edit))
    return tuple(ops)


# POSIX ERE's special characters: escaped to match a fixed string (DeleteHeader -exact...).
_ERE_SPECIAL: Final = re.compile(r"([.\[\]()*+?{}|^$\\])")
# A back-reference (\1): its pattern cannot be joined with others (groups renumber).
_BACKREF: Final = re.compile(r"\\[1-9]")

# The fast case's test of the header lines: (block, lowered block, undecided) -> whether a
# DeleteHeader pattern may match some line (Pattern.search_lines).
_LinesTest = Callable[[bytes, bytes, bool], bool]


def _ere(spec: HeaderMatcherSpec) -> str | None:
    """``spec`` as one POSIX ERE for a joined search, or None when it cannot be one."""
    if spec.mode == "pcre":
        return None  # Perl syntax: tested alone
    if spec.mode == "re":
        return None if _BACKREF.search(spec.text) else f"({spec.text})"
    text = _ERE_SPECIAL.sub(r"\\\1", spec.text)
    if spec.mode == "exact":
        return f"(^{text}$)"
    if spec.mode == "beg":
        return f"(^{text})"
    if spec.mode == "end":
        return f"({text}$)"
    return f"({text})"


def _prefix(spec: HeaderMatcherSpec) -> bytes | None:
    """The name prefix every line ``spec`` matches starts with (lower-cased), when that is
    all it asks: a token, perhaps followed by its colon (``^X-Debug:``, ``-beg "X-Debug"``).
    A raw line and the ``Name: value`` form patterns see start with the same name."""
    # Imported here: the config package imports this module (config/edits.py).
    from standby.config.posix_regex import literal_re2

    if spec.mode == "beg":
        needle = spec.text.encode("latin-1")
    elif spec.mode == "re":
        literal = literal_re2(spec.text, spec.ignore_case)
        if literal is None or not literal.start or literal.end:
            return None
        needle = literal.needle
    else:
        return None
    name = needle[:-1] if needle.endswith(b":") else needle
    return needle.lower() if _NAME_RE.fullmatch(name) else None


def _lines_tests(matchers: Sequence[LineMatcher]) -> tuple[_LinesTest, ...]:
    """The fast case's tests for the ``matchers`` that are not name prefixes: the patterns
    of each case joined into one alternation (one search of the lines per case, whatever
    their number); a pattern that cannot be joined is tested alone."""
    from standby.config.pattern import compile_pattern

    sources: dict[bool, list[str]] = {False: [], True: []}
    tests: list[_LinesTest] = []
    for matcher in matchers:
        source = _ere(matcher.spec)
        if source is None:
            tests.append(matcher.lines_test)
        else:
            sources[matcher.spec.ignore_case].append(source)
    for ignore_case, alternatives in sources.items():
        if alternatives:
            tests.append(compile_pattern("|".join(alternatives), ignore_case).search_lines)
    return tuple(tests)


def _prefix_search(prefixes: Sequence[bytes]) -> tuple[bytes, ...] | None:
    """The prefixes (lower-cased, each once) for one search of a raw head for a header
    line starting with any of them, in any case (``line_prefix``; a false alarm only costs
    the general case); None without prefixes."""
    if not prefixes:
        return None
    return tuple(sorted({p.lower() for p in prefixes}))


def _any_test(tests: tuple[_LinesTest, ...], raw: bytes) -> bool:
    """Whether a line of the head ``raw`` may match one of the patterns ``tests`` search."""
    block, lowered = field_block(raw)
    return any(test(block, lowered, True) for test in tests)


class HeadEditor:
    """The compiled edits of a listener or a service. ``apply(raw, request, peer)`` returns
    the edited head (``raw`` itself when nothing changes); ``request`` is the original
    request (the service's groups: ``conditions``), ``peer`` the client's address."""

    __slots__ = (
        "_appended",
        "_conditions",
        "_ops",
        "_prefixes",
        "_response",
        "_simple",
        "_tests",
    )

    def __init__(
        self,
        edits: Edits,
        conditions: Sequence[ConditionSpec] = (),
        combine: Sequence[bytes] = (),
        response: bool = False,
    ) -> None:
        self._response = response
        self._ops = _ops(edits)
        if combine:  # before any edit, as if the message had come so (Pound joins on reading)
            self._ops = (_Combine(combine), *self._ops)
        self._conditions = tuple(conditions)
        # The fast case (module docstring): literal SetHeaders of distinct names, and
        # DeleteHeader patterns none of which matches a line set before it.
        simple = True
        names: list[bytes] = []
        lines: list[bytes] = []
        matchers: list[LineMatcher] = []
        for op in self._ops:
            if isinstance(op, _SetHeader):
                literal = op.template.literal
                if (
                    literal is None
                    or op.name in names
                    or _FIELD_UNSAFE.search(literal)
                    or op.name == b"host"  # checked as it is applied
                    or _NAME_RE.fullmatch(literal.partition(b":")[0]) is None
                    or op.name in UNSETTABLE_NAMES  # (the compiler refuses these two)
                ):
                    simple = False
                    break
                names.append(op.name)
                lines.append(literal)
            elif isinstance(op, _DeleteHeader):
                if any(op.matcher.line(_normal(line)) for line in lines):
                    simple = False
                    break
                matchers.append(op.matcher)
            else:
                simple = False
                break
        self._simple = simple
        # The fast case's tests: one search of the raw head for the set names and the
        # patterns that only ask for a name prefix (the usual HeadRemove "^X-Name:"), and
        # a search of the header lines for the other patterns.
        prefixes = [name + b":" for name in names]
        others: list[LineMatcher] = []
        for matcher in matchers:
            prefix = _prefix(matcher.spec)
            if prefix is None:
                others.append(matcher)
            else:
                prefixes.append(prefix)
        self._prefixes = _prefix_search(prefixes) if simple else None
        self._tests = _lines_tests(others) if simple else ()
        self._appended = b"".join(line + b"\r\n" for line in lines) + b"\r\n"

    def apply(self, raw: bytes, request: View | None = None, peer: str = "") -> bytes:
        if self._simple:
            prefixes = self._prefixes
            if prefixes is not None and line_prefix(raw, prefixes) >= 0:
                return self._general(raw, request, peer)
            tests = self._tests
            if tests and _any_test(tests, raw):
                return self._general(raw, request, peer)
            return raw[:-2] + self._appended
        return self._general(raw, request, peer)

    def _general(self, raw: bytes, request: View | None, peer: str = "") -> bytes:
        head = Head(raw)
        context = _Context(request, self._conditions, peer, self._response)
        for op in self._ops:
            op.apply(head, context)
        return head.raw()


def editor(
    edits: Edits,
    conditions: Sequence[ConditionSpec] = (),
    combine: Sequence[bytes] = (),
    response: bool = False,
) -> HeadEditor | None:
    """The editor of ``edits`` (after ``combine``: CombineHeaders; ``conditions``: the
    service's, for ``$N``; ``response``: it edits responses), or None when there is
    nothing to do (the hot path tests for None once)."""
    if not edits and not combine:
        return None
    return HeadEditor(edits, conditions, combine, response)


def valid_header_line(text: str) -> bool:
    """Whether ``text`` is a header line a SetHeader may write: ``Name: value`` with a
    token name and a value of field characters (expansions are checked after them)."""
    name, colon, value = text.partition(":")
    data = name.encode("latin-1", "replace")
    if not colon or _NAME_RE.fullmatch(data) is None:
        return False
    return _FIELD_UNSAFE.search(value.encode("latin-1", "replace")) is None


# -- RewriteLocation and RewriteDestination ------------------------------------------------

# A location value Pound rewrites: an absolute http or https URL (its host and the rest).
_ABSOLUTE_URL: Final = re.compile(rb"(?i)(https?)://([^/?#]+)(.*)", re.DOTALL)
_DEFAULT_PORTS: Final = {b"http": 80, b"https": 443}
# What "localhost" names (Pound resolves names; standby resolves this one only).
_LOCALHOST: Final = frozenset({"127.0.0.1", "::1"})


def _names(host: str) -> frozenset[str]:
    """The addresses (or the lower-cased name) ``host`` stands for, for comparisons."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return _LOCALHOST
    if ":" in host or host.replace(".", "").isdigit():
        try:  # an address literal: compared in its canonical form
            return frozenset({str(ipaddress.ip_address(host))})
        except ValueError:
            return frozenset({host})
    return frozenset({host})


def _host_port(authority: bytes, default: int) -> tuple[str, int | None]:
    text = authority.decode("latin-1")
    if text.startswith("["):
        close = text.find("]")
        host, rest = text[: close + 1], text[close + 1 :]
    else:
        host, _, port = text.partition(":")
        rest = ":" + port if port else ""
    if rest.startswith(":") and rest[1:]:
        return host, int(rest[1:]) if rest[1:].isdigit() else None
    return host, default


class LocationRule:
    """``RewriteLocation`` of one listener for one backend (Pound's documented meaning).

    An absolute ``http``/``https`` URL in ``Location`` or ``Content-Location`` becomes
    ``PROTO://HOST/PATH`` (this listener's protocol, the request's Host) when it points at
    the backend that answered (its address and port; the protocol does not matter), or,
    with mode 1, at this listener (its address, or the request's host name) with another
    port or protocol. Host names are compared as written, but ``localhost``, which stands
    for the loopback addresses; Pound resolves every name (the difference shows only for a
    name that resolves to a backend but is written otherwise in the configuration)."""

    __slots__ = ("backend", "backend_port", "listener", "listener_port", "mode", "proto")

    def __init__(
        self,
        mode: int,
        proto: bytes,
        listener_address: str,
        listener_port: int,
        backend_address: str,
        backend_port: int | None,
    ) -> None:
        self.mode = mode
        self.proto = proto
        self.listener = _names(listener_address)
        self.listener_port = listener_port
        self.backend = _names(backend_address)
        self.backend_port = backend_port

    def rewrite(self, value: bytes, request_host: bytes) -> bytes | None:
        """The new value, or None to leave ``value`` as it is."""
        m = _ABSOLUTE_URL.match(value)
        if m is None or not request_host:
            return None
        proto = m.group(1).lower()
        host, port = _host_port(m.group(2), _DEFAULT_PORTS[proto])
        names = _names(host)
        hit = port == self.backend_port and not names.isdisjoint(self.backend)
        if not hit and self.mode == 1:
            vhost, _ = _host_port(request_host, 0)
            here = not names.isdisjoint(self.listener) or names == _names(vhost)
            hit = here and (port != self.listener_port or proto != self.proto)
        if not hit:
            return None
        rest = m.group(3)
        if rest.startswith(b"/"):
            rest = rest[1:]
        return self.proto + b"://" + request_host + b"/" + rest


def rewrite_locations(
    raw: bytes, spans: Sequence[tuple[int, int]], rule: LocationRule, request_host: bytes
) -> bytes | None:
    """``raw`` (a response head) with the Location/Content-Location values at ``spans``
    rewritten by ``rule``; None when none changes."""
    pieces: list[bytes] = []
    pos = 0
    for start, end in spans:
        new = rule.rewrite(raw[start:end], request_host)
        if new is not None:
            pieces += (raw[pos:start], new)
            pos = end
    if not pieces:
        return None
    pieces.append(raw[pos:])
    return b"".join(pieces)


_DESTINATION: Final = re.compile(rb"\r\n(?i:destination):[ \t]*(https?)://[^/\r]+([^\r]*)")


def rewrite_destination(raw: bytes, backend: bytes, https: bool) -> bytes:
    """``RewriteDestination``: a WebDAV ``Destination: http[s]://host/path`` in the head
    ``raw`` pointed at ``backend`` (``address:port``) with its protocol; any other
    Destination (or none) is left alone."""
    m = _DESTINATION.search(raw)
    if m is None:
        return raw
    proto = b"https" if https else b"http"
    line = b"\r\nDestination: " + proto + b"://" + backend + m.group(2)
    return raw[: m.start()] + line + raw[m.end() :]


def edit_request(
    raw: bytes,
    request: View,
    listener: HeadEditor | None,
    service: HeadEditor | None,
    peer: str = "",
) -> bytes:
    """The head to send upstream (``raw``: from forward_head) after the listener's edits,
    then the service's (Pound's order for requests); ``peer``: the client's address.
    Raises ExpansionFailed when a template cannot be expanded (Pound answers 500)."""
    if listener is not None:
        raw = listener.apply(raw, request, peer)
    if service is not None:
        raw = service.apply(raw, request, peer)
    return raw


def edit_response(
    raw: bytes,
    request: View,
    service: HeadEditor | None,
    listener: HeadEditor | None,
    peer: str = "",
) -> bytes:
    """A backend's response head after the service's edits, then the listener's (Pound's
    order for responses). Raises ExpansionFailed as edit_request."""
    if service is not None:
        raw = service.apply(raw, request, peer)
    if listener is not None:
        raw = listener.apply(raw, request, peer)
    return raw
