"""Advice on a valid configuration: the mistakes that bite in production (issue 16).

``standby -c`` prints these warnings and still succeeds; a start and a reload log them
once. Each says where (``FILE:LINE.COL``), why, and what to write instead. Pure: whether
a user or group exists is asked of the functions the shell passes in.

The reachability analysis is conservative: it warns only when it can prove that every
request the second service would take is taken by an earlier one; when unsure (a
condition that depends on state, such as a token bucket or a user file, or two patterns
it cannot compare) it says nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from standby.model import (
    BackendKind,
    BackendSpec,
    ConditionKind,
    ConditionSpec,
    ConfigSpec,
    Location,
    ServiceSpec,
)

# Search engines that meet an error or the standby server's page come back within a
# minute or two; a recovered backend is noticed only at the next probe, Alive seconds
# later at worst: beyond this, a crawler's retry still finds the fallback.
CRAWLER_PATIENCE = 30.0
# A response slower than TimeOut is cut off and counts as a failure of the backend, so
# enough slow pages mark it dead: an ordinary slow page (a cold cache, an admin page, a
# report) takes a few seconds, and below this a slow site looks like a dead one.
SLOW_PAGE = 5.0

# The condition kinds whose truth depends on the request alone (no bucket, no file read at
# run time, no client address list that a file may change): the only ones compared.
_PURE_KINDS = frozenset(
    {
        ConditionKind.URL,
        ConditionKind.PATH,
        ConditionKind.HOST,
        ConditionKind.HEADER,
        ConditionKind.QUERY,
        ConditionKind.QUERY_PARAM,
        ConditionKind.METHOD,
    }
)
# Patterns that match every subject of their kind (the request target is never empty:
# `.` matches it; the empty pattern and `^` match anything, even an empty path).
_EVERYTHING = {
    ConditionKind.URL: frozenset({"", "^", ".", ".*", "^.*", "^.", ".+", "^.+"}),
    ConditionKind.PATH: frozenset({"", "^", ".*", "^.*"}),
}
# A start anchor followed by `/`: every target it matches begins with a slash.
_SLASH_START = "^/"
# A pattern with an alternation may match without its leading `^/` (`^/a|b`).
_ALTERNATION = "|"


@dataclass(frozen=True, slots=True)
class Advice:
    """One warning: where, what is wrong and why, and what to write instead."""

    location: Location
    message: str

    def __str__(self) -> str:
        return f"{self.location}: warning: {self.message}"


def _seconds(value: float) -> str:
    return f"{value:g}"


def _key(condition: ConditionSpec) -> tuple[object, ...]:
    """What makes two conditions the same test (a Host compared as text: its text)."""
    regex = condition.regex
    pattern: tuple[object, ...] = (condition.pattern.lower(),)
    if regex is not None:
        pattern = (
            type(regex).__name__,
            getattr(regex, "source", None),
            getattr(regex, "ignore_case", None),
        )
    return (
        condition.kind,
        condition.negate,
        condition.argument,
        condition.decode,
        *pattern,
    )


def _source(condition: ConditionSpec) -> str | None:
    """The compiled pattern's source (after -beg and the like became anchors)."""
    source = getattr(condition.regex, "source", None)
    return source if isinstance(source, str) else None


def _universal(condition: ConditionSpec) -> bool:
    """Provably true of every request (``URL "."``)."""
    source = _source(condition)
    return (
        not condition.negate
        and source is not None
        and source in _EVERYTHING.get(condition.kind, frozenset())
    )


def _covers(first: ConditionSpec, second: ConditionSpec) -> bool:
    """Provably: every request for which ``second`` holds makes ``first`` hold too."""
    if first.kind not in _PURE_KINDS or second.kind not in _PURE_KINDS:
        return False
    if _key(first) == _key(second):
        return True
    if _universal(first):
        return True  # whatever ``second`` is
    source = _source(first)
    if first.negate or source is None:
        return False
    other = _source(second)
    return (
        first.kind is second.kind
        and first.kind in (ConditionKind.URL, ConditionKind.PATH)
        and source == _SLASH_START
        and not second.negate
        and other is not None
        and other.startswith(_SLASH_START)
        and _ALTERNATION not in other
    )


def shadows(first: ServiceSpec, second: ServiceSpec) -> bool:
    """Whether ``first``, tried before ``second``, takes every request ``second`` would:
    each of its conditions is implied by one of ``second``'s. A disabled first service
    (it may be enabled later) and an ACME responder (it answers its own paths only)
    shadow nothing."""
    if first.disabled or first.acme:
        return False
    theirs = second.conditions
    return all(
        _universal(mine) or any(_covers(mine, other) for other in theirs)
        for mine in first.conditions
    )


def _unreachable(config: ConfigSpec) -> Iterator[Advice]:
    seen: set[tuple[Location, Location]] = set()
    orders = [(*listener.services, *config.services) for listener in config.listeners]
    if not config.listeners:
        orders.append(config.services)
    for order in orders:
        for position, second in enumerate(order):
            for first in order[:position]:
                pair = (first.location, second.location)
                if pair in seen or not shadows(first, second):
                    continue
                seen.add(pair)
                what = "no conditions" if not first.conditions else "conditions"
                yield Advice(
                    second.location,
                    f"service {_name(second)} is never used: the service {_name(first)} "
                    f"at {first.location}, tried before it, has {what} that every request "
                    "for this one also meets; move this service before it, or give the "
                    "earlier one a narrower condition",
                )
                break  # one reason per service and order is enough


def _name(service: ServiceSpec) -> str:
    return f'"{service.name}"' if service.name else "(unnamed)"


def _lonely(service: ServiceSpec) -> Advice | None:
    """A service with one backend to proxy to and no Emergency: nothing answers while it
    is down (a redirect, an error page or a dynamic backend are not that case)."""
    if service.emergencies or service.dynamic or len(service.backends) != 1:
        return None
    (backend,) = service.backends
    if backend.kind is not BackendKind.PROXY:
        return None
    return Advice(
        backend.location,
        f"backend {backend.describe()} is the only backend of service {_name(service)}, "
        "with no Emergency: while it is down (a crash, an upgrade, a reboot) every visitor "
        "gets 503; add an `Emergency` section (a standby server, even one serving a "
        "maintenance page) or a second `BackEnd`",
    )


def _services(config: ConfigSpec) -> Iterator[ServiceSpec]:
    """Every service once (global services are shared by the listeners)."""
    for listener in config.listeners:
        yield from listener.services
    yield from config.services


def _backends(service: ServiceSpec) -> Iterator[BackendSpec]:
    yield from service.backends
    yield from service.emergencies


def _timeouts(config: ConfigSpec, setting: dict[str, Location]) -> Iterator[Advice]:
    if config.timeout < SLOW_PAGE and "TimeOut" in setting:
        yield _short(setting["TimeOut"], config.timeout, "the global TimeOut")
    seen: set[Location] = set()
    for service in _services(config):
        for backend in _backends(service):
            own = backend.timeout != config.timeout  # the global one is warned about once
            short = own and backend.timeout < SLOW_PAGE and backend.location not in seen
            if backend.kind is BackendKind.PROXY and short:
                seen.add(backend.location)
                what = f"backend {backend.describe()}'s TimeOut"
                yield _short(backend.location, backend.timeout, what)


def _short(at: Location, value: float, what: str) -> Advice:
    return Advice(
        at,
        f"{what} is {_seconds(value)} s: a page slower than that is cut off and counted as "
        "a failure of the backend, so a slow page would be taken for a dead backend "
        f"(SLOW_PAGE: {_seconds(SLOW_PAGE)} s); write `TimeOut 15` (the default) or at "
        "least the slowest page's time",
    )


def advise(
    config: ConfigSpec,
    *,
    user_exists: Callable[[str], bool] | None = None,
    group_exists: Callable[[str], bool] | None = None,
) -> list[Advice]:
    """The warnings for ``config``, in the file's order within each kind. ``user_exists``
    and ``group_exists`` (the shell's lookups; None: not checked) say whether a name
    exists on this machine."""
    setting = dict(config.settings_at)
    found: list[Advice] = []
    for service in _services(config):
        lonely = _lonely(service)
        if lonely is not None:
            found.append(lonely)
    if config.alive > CRAWLER_PATIENCE and "Alive" in setting:
        found.append(
            Advice(
                setting["Alive"],
                f"Alive {_seconds(config.alive)}: a backend that is back is noticed only at "
                f"the next probe, up to {_seconds(config.alive)} s later, and meanwhile "
                "visitors and search engines' crawlers (which retry within a minute or two) "
                "still get the Emergency server or a 503 (CRAWLER_PATIENCE: "
                f"{_seconds(CRAWLER_PATIENCE)} s); write `Alive {_seconds(CRAWLER_PATIENCE)}` "
                "or less",
            )
        )
    found.extend(_timeouts(config, setting))
    found.extend(_unreachable(config))
    for keyword, name, exists, make in (
        ("User", config.user, user_exists, "adduser --system --group"),
        ("Group", config.group, group_exists, "addgroup --system"),
    ):
        if name is not None and exists is not None and not exists(name) and keyword in setting:
            found.append(
                Advice(
                    setting[keyword],
                    f'{keyword} "{name}" does not exist on this machine: standby would '
                    f"refuse to start; create it (`{make} {name}`) or name an existing "
                    f"{keyword.lower()}",
                )
            )
    found.sort(key=lambda advice: (advice.location.file, advice.location.line))
    return found
