"""Routing: pick the service that answers a request (pure core).

Pound's rule: services are tried in configuration order, the listener's own first, then
the global ones; the first service whose conditions all hold, and that is not disabled,
answers. A service without conditions matches everything.

Condition semantics (every pattern is searched in bytes, each byte one character, by
RE2 in time linear in the subject; config/pattern.py):

- ``URL``: the pattern searched in the request target as sent.
- ``PATH``: the pattern searched in the request's path (``RequestView.path``).
- ``HOST``: the Host header value, stripped of surrounding blanks, compared with the
  pattern exactly and case-insensitively. As in Pound, a ``:port`` suffix is *not*
  ignored: ``Host "example.com"`` does not match ``Host: example.com:8080``; write the
  port in the pattern, or use ``HeadRequire "Host: example.com(:[0-9]+)?$"``. A request
  without a Host header never matches a HOST condition.
- ``HEADER``: true when the pattern matches within at least one "Name: value" line (the
  config compiler makes these patterns case-insensitive). The lines are joined by ``\n``
  (and lower-cased, for the patterns' search of their fixed parts) once per request, in C
  (``RequestView.header_block``), and each condition searches them in one pass
  (``Pattern.search_lines``).
- Issue 15's kinds (config/conditions.py compiles them): ``QUERY`` (the target after
  ``?``), ``QUERY_PARAM`` (the first value of a parameter, percent-decoded with
  ``-decode``; a request without it never matches), ``METHOD``, ``STRING_MATCH`` (its
  string expanded by ``expand``, with the groups of the conditions before it), ``HOST``
  with a match flag (the Host value, stripped), ``HEADER`` in Pound 4's split form (the
  first value of the named header), ``ACL`` (the peer's address, or with ``-forwarded``
  the one acl.client_address finds), ``BASIC_AUTH`` (the Authorization header's
  credentials, htpasswd.py), ``CLIENT_CERT`` (the connection's TLS certificate is one of
  the file's) and ``MATCH`` (``Match AND|OR`` blocks, ``-file`` lists, ``Eval``). The
  route loop sends them all through one general test (``_raw``): the four classic kinds
  above cost what they cost before.
- ``negate`` (``Not``, ``HeadDeny``) inverts the result.
- A pattern RE2 cannot match (a back-reference) is searched by Python's ``re`` within a
  bound; when the bound leaves it undecided, the condition fails (a negated one too): an
  undecided pattern never selects a service.

Everything that can be is prepared at construction; a request costs one pass over the
services with lazily prepared inputs (the path encoded, and the header lines joined, at
most once per request and only when a condition needs them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Final, Protocol

from standby.acl import acl_contains, client_address
from standby.htpasswd import basic_credentials
from standby.model import ConditionKind, ConditionSpec, ListenerSpec, ServiceSpec, TbfSpec

# Characters stripped around a Host value before comparing: HTTP's optional whitespace.
_OWS = " \t"


class RequestView(Protocol):
    """What routing needs to know about a request head (implemented by the http1 layer)."""

    @property
    def target(self) -> bytes:
        """The request target as sent (path and query, or an absolute URI)."""
        ...

    @property
    def host(self) -> bytes | None:
        """The Host header value, or None when the request has none."""
        ...

    @property
    def path(self) -> str:
        """The path part of the target (no query string)."""
        ...

    def header_block(self) -> tuple[bytes, bytes]:
        """Every header as a "Name: value" line, in the order received, the lines joined by
        LF (no line holds one); and the same lower-cased."""
        ...

    # Read only by the conditions of issue 15 (Method, QueryParam, BasicAuth, ACL
    # -forwarded, expansions), so a configuration without them never asks.
    @property
    def method(self) -> bytes:
        """The request method as sent."""
        ...

    def header(self, name: bytes) -> bytes | None:
        """The first value of header ``name`` (case-insensitive), stripped; None if absent."""
        ...

    @property
    def client_cert(self) -> bytes | None:
        """The client's TLS certificate (DER): None without one, or where no `ClientCert`
        condition asks (server/exchange.py sets it)."""
        ...


# A pattern's search: (subject, the answer when undecided) -> whether it matches.
_Search = Callable[[bytes, bool], bool]
# Its search of header lines: (joined lines, the same lower-cased, undecided answer).
_SearchLines = Callable[[bytes, bytes, bool], bool]

# Any other condition, whole: (request, peer address, the answer when undecided) -> holds.
_Holds = Callable[["RequestView", str, bool], bool]

# A prepared condition: (kind, bound pattern search, bound search of lines, lower-cased
# host or "", negate, the other conditions' test); what a kind does not use is a stand-in.
_Check = tuple[ConditionKind, _Search, _SearchLines, str, bool, _Holds]


# The condition kinds as plain globals: an Enum member read through its class costs a
# lookup on the class per comparison, per request.
_URL = ConditionKind.URL
_PATH = ConditionKind.PATH
_HOST = ConditionKind.HOST
_HEADER = ConditionKind.HEADER


# The four kinds the route loop tests itself; every other kind goes through _raw, under a
# stand-in kind.
_CLASSIC = frozenset({ConditionKind.URL, ConditionKind.PATH, ConditionKind.HOST, _HEADER})
_OTHER = ConditionKind.MATCH


def _no_regex(_: bytes, __: bool) -> bool:
    """Stands in for the search of HOST and HEADER conditions."""
    return False


def _no_lines(_: bytes, __: bytes, ___: bool) -> bool:
    """Stands in for the search of lines of the conditions other than HEADER."""
    return False


def _no_holds(_: RequestView, __: str, ___: bool) -> bool:
    """Stands in for the test of the other conditions in the four classic kinds."""
    return False


def _general(condition: ConditionSpec, preceding: tuple[ConditionSpec, ...]) -> _Holds:
    """The whole test of a condition of issue 15's kinds (or HOST with a match flag)."""

    def holds(req: RequestView, peer: str, undecided: bool) -> bool:
        captures = None
        if condition.kind in _EXPANDING and "$" in condition.argument:
            captures = match_conditions(preceding, req, peer)
        return _raw(condition, req, peer, undecided, captures, None)

    return holds


def _prepare(condition: ConditionSpec, preceding: tuple[ConditionSpec, ...] = ()) -> _Check:
    negate = condition.negate
    if condition.kind is ConditionKind.HOST and condition.regex is None:
        want = condition.pattern.strip(_OWS).lower()
        return (condition.kind, _no_regex, _no_lines, want, negate, _no_holds)
    if condition.kind not in _CLASSIC or condition.argument or condition.kind is _HOST:
        return (_OTHER, _no_regex, _no_lines, "", negate, _general(condition, preceding))
    if condition.regex is None:
        # The compiler always provides a regex for these kinds; failing here, at start-up,
        # beats a condition that silently never matches.
        raise ValueError(
            f"{condition.location}: {condition.kind.value} condition "
            f"{condition.pattern!r} has no compiled regex"
        )
    regex = condition.regex
    if condition.kind is ConditionKind.HEADER:
        return (condition.kind, _no_regex, regex.search_lines, "", negate, _no_holds)
    return (condition.kind, regex.search, _no_lines, "", negate, _no_holds)


class _Entry:
    """One service with its prepared conditions and its run-time disabled flag."""

    __slots__ = ("checks", "disabled", "spec")

    def __init__(self, spec: ServiceSpec) -> None:
        self.spec = spec
        conditions = spec.conditions
        self.checks: tuple[_Check, ...] = tuple(
            _prepare(c, conditions[:i]) for i, c in enumerate(conditions)
        )
        self.disabled = spec.disabled


class Router:
    """Routes the requests of one listener to its services, then to the global ones."""

    __slots__ = ("_entries", "_refresh")

    def __init__(
        self,
        listener: ListenerSpec,
        global_services: tuple[ServiceSpec, ...] = (),
        refresh: Callable[[], None] | None = None,
    ) -> None:
        self._entries: tuple[_Entry, ...] = tuple(
            _Entry(s) for s in (*listener.services, *global_services)
        )
        # The shell's look at the -filewatch files before each request (server/watch.py).
        self._refresh = refresh

    @property
    def services(self) -> tuple[ServiceSpec, ...]:
        """All services in the order they are tried."""
        return tuple(e.spec for e in self._entries)

    def route(self, req: RequestView, peer: str = "") -> ServiceSpec | None:
        """The first enabled service whose conditions all hold, or None (-> 503).
        ``peer``: the client's address (for ACL conditions)."""
        if self._refresh is not None:
            self._refresh()
        path: bytes | None = None
        host: str | None = None
        host_read = False
        block: bytes | None = None
        lowered = b""
        for entry in self._entries:
            if entry.disabled:
                continue
            for kind, search, search_lines, want_host, negate, general in entry.checks:
                # An undecided search answers `negate`: the condition fails either way.
                if kind is _URL:
                    hit = search(req.target, negate)
                elif kind is _PATH:
                    if path is None:
                        path = req.path.encode("latin-1")
                    hit = search(path, negate)
                elif kind is _HOST:
                    if not host_read:
                        raw = req.host
                        host = None if raw is None else raw.decode("latin-1").strip(_OWS).lower()
                        host_read = True
                    hit = host == want_host
                elif kind is _HEADER:
                    if block is None:
                        block, lowered = req.header_block()
                    hit = search_lines(block, lowered, negate)
                else:  # issue 15's kinds, and HOST with a match flag
                    hit = general(req, peer, negate)
                if hit == negate:
                    break
            else:
                return entry.spec
        return None

    def _find(self, service: ServiceSpec) -> Iterator[_Entry]:
        found = [e for e in self._entries if e.spec is service]
        if not found:  # an equal spec (e.g. rebuilt by a reload) designates the same service
            found = [e for e in self._entries if e.spec == service]
        if not found:
            raise KeyError(f"service {service.name or '(unnamed)'} is not routed here")
        return iter(found)

    def set_disabled(self, service: ServiceSpec, disabled: bool) -> None:
        """Disable or re-enable a service at run time (control API). KeyError if unknown."""
        for entry in self._find(service):
            entry.disabled = disabled

    def is_disabled(self, service: ServiceSpec) -> bool:
        return all(e.disabled for e in self._find(service))


# --- issue 15: every condition, back-references and expansions ---------------------------

# One matched condition's groups ($0, $1...), with its -tag ("" when untagged).
Groups = tuple[bytes, ...]
_AUTHORIZATION = b"authorization"


# Pound keeps the groups of this many most recent matches (its submatch queue): `$N(M)`
# reaches back to M = 7, and `$N(tag)` finds a tag among them; an older match is gone.
MAX_RECENT_MATCHES: Final = 8


class Captures:
    """What back-references expand to: the groups of the conditions that matched, the
    most recent first (Pound's ``$N`` is the most recent one's, ``$N(M)`` the M-th most
    recent's, ``$N(tag)`` the one tagged ``tag``; MAX_RECENT_MATCHES of them)."""

    __slots__ = ("groups", "tags")

    def __init__(self, groups: tuple[Groups, ...] = (), tags: tuple[str, ...] = ()) -> None:
        self.groups = groups
        self.tags = tags

    def index(self, which: int | str) -> int:
        """Which of ``groups`` the ``which``-th most recent match (or the one tagged
        ``which``) is; -1 when Pound keeps no such match."""
        if isinstance(which, str):
            for i, tag in enumerate(self.tags[:MAX_RECENT_MATCHES]):
                if tag == which:
                    return i
            return -1
        return which if 0 <= which < min(len(self.groups), MAX_RECENT_MATCHES) else -1

    def group(self, number: int, which: int | str = 0) -> bytes:
        """Group ``number`` of the ``which``-th most recent match (or of the match tagged
        ``which``); b"" when there is no such match or group."""
        index = self.index(which)
        if index < 0:
            return b""
        groups = self.groups[index]
        return groups[number] if 0 <= number < len(groups) else b""

    def has(self, number: int, which: int | str = 0) -> bool:
        """Whether there is such a match with such a group (else Pound's "refers to
        non-existing group")."""
        index = self.index(which)
        return index >= 0 and 0 <= number < len(self.groups[index])

    def __repr__(self) -> str:
        return f"Captures({self.groups!r}, {self.tags!r})"


_Found = list[tuple[str, Groups]]  # (tag, groups) of each match, in the order matched


def _captures(found: _Found) -> Captures:
    return Captures(
        tuple(groups for _, groups in reversed(found)), tuple(tag for tag, _ in reversed(found))
    )


def match_conditions(
    conditions: tuple[ConditionSpec, ...],
    req: RequestView,
    peer: str = "",
    outer: Captures | None = None,
) -> Captures | None:
    """Whether all ``conditions`` hold for ``req`` (from ``peer``): None when one does not,
    else the Captures their matches made (for ``$N``), after ``outer``'s (the groups of
    earlier matches, which their StringMatch may name: a Rewrite branch's conditions see
    the service's). Costs more than Router.route (every regex is run for its groups):
    called for expansions and Rewrite, not to route."""
    found: _Found = []
    if outer is not None:
        tags = outer.tags + ("",) * (len(outer.groups) - len(outer.tags))
        found = list(zip(reversed(tags), reversed(outer.groups), strict=True))
    for condition in conditions:
        if not _holds(condition, req, peer, True, found):
            return None
    return _captures(found)


def _holds(
    condition: ConditionSpec, req: RequestView, peer: str, want: bool, found: _Found | None
) -> bool:
    """``condition``'s value, its negation applied. ``want``: the value its context needs
    (an undecided search answers the other); ``found``: where the groups of matches go
    (None: not wanted)."""
    undecided = want == condition.negate  # the raw answer that fails the context
    mark = 0 if found is None else len(found)
    captures = None
    if found is not None and condition.kind in _EXPANDING:
        captures = _captures(found)
    raw = _raw(condition, req, peer, undecided, captures, None if condition.negate else found)
    if found is not None and not raw:
        del found[mark:]
    return raw != condition.negate


def _query(target: bytes) -> bytes:
    return target.partition(b"?")[2].partition(b"#")[0]


def _unquote(value: bytes) -> bytes:
    """Percent-decoding (QueryParam -decode); a stray % stays as it is."""
    if b"%" not in value:
        return value
    out = bytearray()
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == 0x25 and _is_hex(value[i + 1 : i + 3]):
            out.append(int(value[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(ch)
            i += 1
    return bytes(out)


def _is_hex(pair: bytes) -> bool:
    return len(pair) == 2 and all(c in b"0123456789abcdefABCDEF" for c in pair)


def query_param(target: bytes, name: bytes) -> bytes | None:
    """The value of the first query parameter ``name`` in ``target``; None if absent."""
    for item in _query(target).split(b"&"):
        key, _, value = item.partition(b"=")
        if key == name:
            return value
    return None


def _host_name(req: RequestView) -> bytes | None:
    host = req.host
    return None if host is None else host.strip(b" \t")


def _subject(
    condition: ConditionSpec, req: RequestView, peer: str, captures: Captures | None
) -> bytes | None:
    """What a one-subject condition searches; None: the request has none (no match)."""
    kind = condition.kind
    if kind is ConditionKind.URL:
        return req.target
    if kind is ConditionKind.PATH:
        return req.path.encode("latin-1")
    if kind is ConditionKind.QUERY:
        return _query(req.target)
    if kind is ConditionKind.QUERY_PARAM:
        value = query_param(req.target, condition.argument.encode("latin-1"))
        return _unquote(value) if value is not None and condition.decode else value
    if kind is ConditionKind.METHOD:
        return req.method
    if kind is ConditionKind.STRING_MATCH:
        return expand(condition.argument, captures, req, peer)
    if kind is ConditionKind.HEADER:  # the split form: Header "Name" "pattern"
        return req.header(condition.argument.encode("latin-1"))
    return _host_name(req)  # HOST with a match flag


def _raw(
    condition: ConditionSpec,
    req: RequestView,
    peer: str,
    undecided: bool,
    captures: Captures | None,
    found: _Found | None,
) -> bool:
    """``condition``'s value before its negation; the groups of a match go to ``found``."""
    kind = condition.kind
    if kind is ConditionKind.TBF:  # i15-conf
        assert condition.tbf is not None and _rate_limiter is not None
        return _rate_limiter(condition.tbf, expand(condition.argument, captures, req, peer), req)
    if kind is ConditionKind.MATCH:
        need = not undecided
        if condition.argument:  # Eval of a detached Condition: its groups stay inside
            found = None
        live = condition.live
        children = condition.children if live is None else live.children
        if condition.any_of:
            return any(_holds(child, req, peer, need, found) for child in children)
        return all(_holds(child, req, peer, need, found) for child in children)
    if kind is ConditionKind.ACL:
        assert condition.acl is not None
        forwarded = condition.forwarded
        header = None if forwarded is None else req.header(forwarded.header)
        return acl_contains(condition.acl, client_address(peer, header, forwarded))
    if kind is ConditionKind.BASIC_AUTH:
        assert condition.users is not None
        credentials = basic_credentials(req.header(_AUTHORIZATION))
        return credentials is not None and condition.users.verify(*credentials)
    if kind is ConditionKind.CLIENT_CERT:
        cert = req.client_cert
        return cert is not None and cert in condition.certs
    regex = condition.regex
    groups: Groups | None
    if kind is ConditionKind.HOST and regex is None:
        host = _host_name(req)
        hit = host is not None and host.decode("latin-1").lower() == (
            condition.pattern.strip(_OWS).lower()
        )
        groups = (host,) if hit and host is not None else None
    elif regex is None:
        raise ValueError(f"{condition.location}: {kind.value} condition has no compiled regex")
    elif kind is ConditionKind.HEADER and not condition.argument:
        block, lowered = req.header_block()
        if found is None:
            return regex.search_lines(block, lowered, undecided)
        groups = regex.captures_lines(block)
    else:
        subject = _subject(condition, req, peer, captures)
        if subject is None:
            return False
        if found is None:
            return regex.search(subject, undecided)
        groups = regex.captures(subject)
    if groups is None:
        return False
    if found is not None:
        found.append((condition.tag, groups))
    return True


# --- string expansion: $N back-references and %[...] request accessors ------------------


_DIGITS: Final = frozenset("0123456789")
_HEX = frozenset("0123456789abcdefABCDEF")


def _digits_end(template: str, i: int) -> int:
    n = len(template)
    while i < n and template[i] in _DIGITS:
        i += 1
    return i


def _reference(
    template: str, i: int, captures: Captures | None, errors: list[str] | None
) -> tuple[bytes | None, int]:
    """The back-reference at ``template[i]`` (a "$" or a "%" before "{" or a digit):
    (its value, where the template goes on). Pound's forms: ``$N``, ``${N}``, ``$N(M)``,
    ``$N(tag)``, ``${N(M)}``, and ``%N`` / ``%{N}`` for ``$N(1)``. A malformed one, or one
    naming a match or group that does not exist, is told in ``errors`` as Pound words it
    (after ``what "template"``); the value of a malformed one is None (kept as written),
    of a missing group b""."""
    n = len(template)
    brace = template[i + 1] == "{"
    start = i + 1 + brace
    p = _digits_end(template, start)
    number = int(template[start:p]) if p > start else 0
    which: int | str = 0 if template[i] == "$" else 1
    if which == 0 and p < n and template[p] == "(":
        close = p + 1
        while close < n and template[close] not in "()":
            close += 1
        if close >= n or template[close] != ")":
            if errors is not None:
                errors.append(
                    f": missing closing parenthesis in reference started at offset {i + 1}"
                )
            return None, close
        inner = template[p + 1 : close]
        if inner[:1] in _DIGITS:
            digits = _digits_end(template, p + 1)
            if digits != close:
                if errors is not None:
                    errors.append(f": invalid reference number at offset {digits + 1}")
                return None, digits
            which = int(inner)
        else:
            which = inner
        p = close + 1
        if captures is None or captures.index(which) < 0:
            if errors is not None:
                errors.append(f" refers to non-existing group {template[i:p]}")
            return b"", p + 1 if brace and template.startswith("}", p) else p
    if brace:
        if p >= n or template[p] != "}":
            if errors is not None:
                errors.append(f": missing closing brace in reference started at offset {i + 1}")
            return None, p
        p += 1
    if captures is None or not captures.has(number, which):
        if errors is not None:
            errors.append(f" refers to non-existing group {template[i:p]}")
        return b"", p
    return captures.group(number, which), p


def _accessor(spec: str, req: RequestView, peer: str) -> bytes:
    """The value of the request accessor ``%[spec]``."""
    name, _, argument = spec.strip().partition(" ")
    argument = argument.strip()
    if name == "url":
        return req.target
    if name == "path":
        return req.path.encode("latin-1")
    if name == "query":
        return _query(req.target)
    if name == "param":
        return query_param(req.target, argument.encode("latin-1")) or b""
    if name == "header":
        return req.header(argument.encode("latin-1")) or b""
    if name in ("host", "port"):
        host = _host_name(req) or b""
        bracket = host.rfind(b"]")
        colon = host.rfind(b":")
        has_port = colon > bracket and host[colon + 1 :].isdigit()
        if name == "host":
            return host[:colon] if has_port else host
        return host[colon:] if has_port else b""
    if name == "remoteip":
        return peer.encode("latin-1")
    if name == "user":
        credentials = basic_credentials(req.header(_AUTHORIZATION))
        return b"" if credentials is None else credentials[0]
    if name == "=hex":  # a `%[const ...]`, resolved when compiled (config/constants.py)
        return bytes.fromhex(argument)
    return b""  # accessors standby does not know expand to nothing


def has_expansions(template: str) -> bool:
    """Whether ``template`` uses a back-reference or an accessor (Pound's Redirect then
    leaves the request's path off)."""
    return "$" in template or "%[" in template or "%{" in template or _old_reference(template) >= 0


def is_literal(template: str) -> bool:
    """Whether ``expand`` gives ``template``'s own bytes, whatever the request and without
    an error: no "$", and each "%" a percent-encoded octet or the last character."""
    if "$" in template:
        return False
    i = template.find("%")
    n = len(template)
    while i >= 0:
        if i + 1 < n and not (i + 2 < n and template[i + 1] in _HEX and template[i + 2] in _HEX):
            return False
        i = template.find("%", i + 3)
    return True


def _old_reference(template: str, start: int = 0) -> int:
    """Where Pound 4.4's ``%N`` (``$N(1)``) is in ``template`` from ``start``, or -1: a
    "%" and a digit, not a percent-encoded octet (two hex digits)."""
    i = template.find("%", start)
    while i >= 0:
        digit = i + 1 < len(template) and template[i + 1].isdigit()
        if digit and not (i + 2 < len(template) and template[i + 2] in _HEX):
            return i
        i = template.find("%", i + 1)
    return -1


def expand(
    template: str,
    captures: Captures | None,
    req: RequestView,
    peer: str = "",
    errors: list[str] | None = None,
) -> bytes:
    """``template`` with its back-references (``$N``, ``$N(M)``, ``$N(tag)``, ``${N}``,
    ``${N(M)}``, and Pound 4.4's ``%N`` for ``$N(1)``) replaced by ``captures``' groups and
    its request accessors (``%[url]``, ``%[path]``, ``%[query]``, ``%[param NAME]``,
    ``%[header NAME]``, ``%[host]``, ``%[port]``, ``%[remoteip]``, ``%[user]``) by the
    request's parts; ``$$`` is a dollar sign, ``$%`` a percent sign, ``%`` and two hex
    digits a percent-encoded octet, a last ``$`` or ``%`` itself. What Pound cannot expand
    (a group that did not match, an unclosed ``%[``, a ``%`` or ``$`` before anything
    else...) is appended to ``errors`` in Pound's words, when given (the caller then
    answers 500, as Pound); without ``errors`` it is kept as written, or nothing for a
    missing group."""
    out = bytearray()
    i = 0
    n = len(template)
    while i < n:
        ch = template[i]
        if ch != "$" and ch != "%":
            j = i + 1
            while j < n and template[j] != "$" and template[j] != "%":
                j += 1
            out += template[i:j].encode("latin-1", "replace")
            i = j
            continue
        nxt = template[i + 1] if i + 1 < n else ""
        if nxt == "":
            out += ch.encode()  # a last "$" or "%" is itself
            i += 1
        elif ch == "$" and (nxt == "$" or nxt == "%"):
            out += nxt.encode()
            i += 2
        elif ch == "%" and nxt in _HEX and i + 2 < n and template[i + 2] in _HEX:
            out += template[i : i + 3].encode()  # a percent-encoded octet
            i += 3
        elif ch == "%" and nxt == "[":
            close = template.find("]", i + 2)
            if close < 0:
                if errors is not None:
                    errors.append(f": unclosed %[ at offset {i}")
                out += b"%["
                i += 2
            else:
                out += _accessor(template[i + 2 : close], req, peer)
                i = close + 1
        elif nxt == "{" or nxt in _DIGITS:
            value, end = _reference(template, i, captures, errors)
            out += template[i:end].encode("latin-1", "replace") if value is None else value
            i = end
        else:
            if errors is not None:
                errors.append(f": unescaped % character at offset {i + 1}")
            out += ch.encode()
            i += 1
    return bytes(out)


def expansion_messages(what: str, template: str, errors: list[str]) -> list[str]:
    """Pound's log lines for what ``expand`` could not do in ``template`` (``what``: the
    statement, as Pound names it: "path", "Header", "Redirect expression"...)."""
    return [f'{what} "{template}"{error}' for error in errors]


# --- issue 15: TBF (i15-conf) -------------------------------------------------------------

# Conditions whose argument is expanded with the captures of the conditions before them.
_EXPANDING = frozenset({ConditionKind.STRING_MATCH, ConditionKind.TBF})


def reads_captures(conditions: tuple[ConditionSpec, ...]) -> bool:
    """Whether one of ``conditions`` (or of their children) may name a back-reference."""
    return any(
        (c.kind in _EXPANDING and ("$" in c.argument or "%" in c.argument))
        or reads_captures(c.children)
        for c in conditions
    )


# (a TBF statement, its expanded key, the request) -> whether the key's bucket had a token
# for the request (taken once per request). The shell's (server/ratelimit.py): routing
# keeps no time and no state shared between workers.
RateLimiter = Callable[[TbfSpec, bytes, object], bool]
_rate_limiter: RateLimiter | None = None


def set_rate_limiter(limiter: RateLimiter) -> None:
    """Install what TBF conditions ask (every process that routes, before routing)."""
    global _rate_limiter
    _rate_limiter = limiter
