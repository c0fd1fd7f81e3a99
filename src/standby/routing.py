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
from typing import Protocol

from standby.model import ConditionKind, ConditionSpec, ListenerSpec, ServiceSpec

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


# A pattern's search: (subject, the answer when undecided) -> whether it matches.
_Search = Callable[[bytes, bool], bool]
# Its search of header lines: (joined lines, the same lower-cased, undecided answer).
_SearchLines = Callable[[bytes, bytes, bool], bool]

# A prepared condition: (kind, bound pattern search, bound search of lines, lower-cased
# host or "", negate); the search a kind does not use is a stand-in.
_Check = tuple[ConditionKind, _Search, _SearchLines, str, bool]


# The condition kinds as plain globals: an Enum member read through its class costs a
# lookup on the class per comparison, per request.
_URL = ConditionKind.URL
_PATH = ConditionKind.PATH
_HOST = ConditionKind.HOST


def _no_regex(_: bytes, __: bool) -> bool:
    """Stands in for the search of HOST and HEADER conditions."""
    return False


def _no_lines(_: bytes, __: bytes, ___: bool) -> bool:
    """Stands in for the search of lines of the conditions other than HEADER."""
    return False


def _prepare(condition: ConditionSpec) -> _Check:
    if condition.kind is ConditionKind.HOST:
        want = condition.pattern.strip(_OWS).lower()
        return (condition.kind, _no_regex, _no_lines, want, condition.negate)
    if condition.regex is None:
        # The compiler always provides a regex for these kinds; failing here, at start-up,
        # beats a condition that silently never matches.
        raise ValueError(
            f"{condition.location}: {condition.kind.value} condition "
            f"{condition.pattern!r} has no compiled regex"
        )
    regex = condition.regex
    if condition.kind is ConditionKind.HEADER:
        return (condition.kind, _no_regex, regex.search_lines, "", condition.negate)
    return (condition.kind, regex.search, _no_lines, "", condition.negate)


class _Entry:
    """One service with its prepared conditions and its run-time disabled flag."""

    __slots__ = ("checks", "disabled", "spec")

    def __init__(self, spec: ServiceSpec) -> None:
        self.spec = spec
        self.checks: tuple[_Check, ...] = tuple(_prepare(c) for c in spec.conditions)
        self.disabled = spec.disabled


class Router:
    """Routes the requests of one listener to its services, then to the global ones."""

    __slots__ = ("_entries",)

    def __init__(
        self, listener: ListenerSpec, global_services: tuple[ServiceSpec, ...] = ()
    ) -> None:
        self._entries: tuple[_Entry, ...] = tuple(
            _Entry(s) for s in (*listener.services, *global_services)
        )

    @property
    def services(self) -> tuple[ServiceSpec, ...]:
        """All services in the order they are tried."""
        return tuple(e.spec for e in self._entries)

    def route(self, req: RequestView) -> ServiceSpec | None:
        """The first enabled service whose conditions all hold, or None (-> 503)."""
        path: bytes | None = None
        host: str | None = None
        host_read = False
        block: bytes | None = None
        lowered = b""
        for entry in self._entries:
            if entry.disabled:
                continue
            for kind, search, search_lines, want_host, negate in entry.checks:
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
                else:  # HEADER
                    if block is None:
                        block, lowered = req.header_block()
                    hit = search_lines(block, lowered, negate)
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
