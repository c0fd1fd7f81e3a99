"""Sessions (Pound's `Session`): the key of a request or a response, the table of sessions
with their idle timeout, and the sticky choice of a backend (pure: the caller passes the
time, a monotonic clock's seconds).

What a key is, per type (as Pound 4.23 does, checked against it):

- IP: the client's address, without the port;
- BASIC: the credentials of `Authorization: Basic ...` as sent (base64, not decoded);
- URL: the raw value of the first query parameter named ID (`?sess=a%20b` is `a%20b`);
- PARM: what follows the last `;` of the path (`/a;b;c?x` is `c`);
- COOKIE: the value of the first cookie whose name is ID, in any case, up to the next `;`;
- HEADER: the value of the first header named ID.

Keys are cut to ``MAX_KEY`` bytes. A request with a key that has no session gets one on
the backend the balancer chose for it; a response makes one for its backend when it
carries a key that has none: `Set-Cookie` for COOKIE, the ID header for HEADER,
`Authorization` for BASIC. Each use of a session restarts its TTL. A session whose backend
is dead is dropped and the request balanced again (Pound drops a dead backend's sessions);
one whose backend is disabled or drains is still honoured (Pound 4.23 does so for a
disabled backend: it takes no *new* work). The Emergency tier makes no sessions.

Sharing (``process/tables.py``): ``SessionTable`` is a ``Table``; a change (a session made,
moved or deleted) is told to ``on_change`` with True, a use with False at most every
``SHARE_USE_EVERY`` seconds per session, so that another process's copy does not expire
while this one keeps it busy. A deleted session stays as a tombstone for
``TOMBSTONE_TTL`` so that the deletion travels like any record.
"""

from __future__ import annotations

import functools
import json
import zlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Set
from dataclasses import dataclass
from typing import Final

from standby.balance.balancer import Balancer
from standby.cache.services import table_names
from standby.health.board import HealthView
from standby.http1 import RequestHead, ResponseHead
from standby.http1.request import cookie_span, line_cookie, line_prefix
from standby.model import (
    BackendKind,
    BackendSpec,
    ConfigSpec,
    ServiceSpec,
    SessionSpec,
    SessionType,
)

Identity = tuple[str, str, int | None]  # BackendSpec.identity

# Pound's KEY_SIZE: a longer key is cut (two clients whose keys share these first bytes
# share a session, as in Pound).
MAX_KEY: Final = 127
# A session used in one process is confirmed to the others at most this often: their
# copies may expire this much earlier than the one in use, never later.
SHARE_USE_EVERY: Final = 1.0
# A deleted session's tombstone lives this long: longer than a record takes to reach every
# process, short enough not to weigh.
TOMBSTONE_TTL: Final = 60.0
# Expired sessions removed per change at most (the rest at the next ones): a change costs a
# bounded amount, and the table never holds more than the sessions of the last TTL.
SWEEP_BATCH: Final = 16
# A record (key, time, identity as JSON) is far below this; a larger one is refused.
MAX_RECORD: Final = 4 * 1024

_OWS: Final = b" \t"

# Told of a change of ``key``: True when the session was made, moved or deleted, False when
# it was only used.
ChangeListener = Callable[[bytes, bool], None]


# -- keys ----------------------------------------------------------------------------------


def cookie_value(header: bytes, name: bytes) -> bytes | None:
    """The value of cookie ``name`` (any case) in a Cookie or Set-Cookie value: the text
    after ``name=`` up to the next ``;``. None when there is none."""
    span = cookie_span(header, header.lower(), 0, len(header), name.lower() + b"=")
    return None if span is None else header[span[0] : span[1]][:MAX_KEY]


def basic_credentials(header: bytes) -> bytes | None:
    """The credentials of an ``Authorization: Basic ...`` value, as sent (base64)."""
    if len(header) > 5 and header[:5].lower() == b"basic" and header[5:6] in (b" ", b"\t"):
        return header[6:].lstrip(_OWS)[:MAX_KEY]
    return None


def query_parameter(target: bytes, name: bytes) -> bytes | None:
    """The raw value of the first query parameter ``name`` of a request target."""
    _, mark, query = target.partition(b"?")
    if not mark:
        return None
    query = query.partition(b"#")[0]
    for item in query.split(b"&"):
        key, equals, value = item.partition(b"=")
        if equals and key == name:
            return value[:MAX_KEY]
    return None


def path_parameter(target: bytes) -> bytes | None:
    """What follows the last ``;`` of the target's path (Pound's PARM)."""
    path = target.partition(b"?")[0]
    at = path.rfind(b";")
    return None if at < 0 else path[at + 1 :][:MAX_KEY]


def request_key(spec: SessionSpec, head: RequestHead, peer: str) -> bytes | None:
    """The session key of a request; None when it carries none."""
    kind = spec.type
    if kind is SessionType.IP:
        return peer.encode("ascii", "replace")[:MAX_KEY]
    if kind is SessionType.URL:
        return query_parameter(head.target, _id(spec))
    if kind is SessionType.PARM:
        return path_parameter(head.target)
    if kind is SessionType.COOKIE:
        value = head.header(b"cookie")
        return None if value is None else cookie_value(value, _id(spec))
    if kind is SessionType.BASIC:
        value = head.header(b"authorization")
        return None if value is None else basic_credentials(value)
    value = head.header(_id(spec))  # HEADER
    return None if value is None else value[:MAX_KEY]


def learns(spec: SessionSpec) -> bool:
    """Whether responses can make sessions of this type."""
    return spec.type in (SessionType.COOKIE, SessionType.HEADER, SessionType.BASIC)


def response_key(spec: SessionSpec, resp: ResponseHead) -> bytes | None:
    """The session key a response carries (COOKIE, HEADER, BASIC); None otherwise."""
    kind = spec.type
    if kind is SessionType.COOKIE:
        value = resp.header(b"set-cookie")
        return None if value is None else cookie_value(value, _id(spec))
    if kind is SessionType.HEADER:
        value = resp.header(_id(spec))
        return None if value is None else value[:MAX_KEY]
    if kind is SessionType.BASIC:
        value = resp.header(b"authorization")
        return None if value is None else basic_credentials(value)
    return None


def _id(spec: SessionSpec) -> bytes:
    return (spec.id or "").encode("latin-1")


# The header each type's key is in, in a request and in a response (else the header `ID`).
_REQUEST_FIELD: Final = {SessionType.COOKIE: b"cookie", SessionType.BASIC: b"authorization"}
_RESPONSE_FIELD: Final = {SessionType.COOKIE: b"set-cookie", SessionType.BASIC: b"authorization"}
_NOT_IN_A_FIELD: Final = frozenset({SessionType.IP, SessionType.URL, SessionType.PARM})


def _field_finder(name: bytes) -> tuple[bytes]:
    """What begins the header line ``name`` (for ``line_prefix``: lower-case)."""
    return (name.lower() + b":",)


# -- the table -----------------------------------------------------------------------------


class _Entry:
    __slots__ = ("identity", "shared", "used")

    def __init__(self, identity: Identity | None, used: float) -> None:
        self.identity = identity  # None: a tombstone (deleted)
        self.used = used  # when the session was last used
        self.shared = used  # the last use told to the others


@dataclass(frozen=True, slots=True)
class Session:
    """One live session, as the control interface shows it."""

    key: bytes
    identity: Identity
    expires: float  # on the table's clock


def digest(identity: Identity | None) -> int:
    """A number that tells two identities apart in a ``TableTouch`` (same in every process)."""
    return zlib.crc32(repr(identity).encode("utf-8"))


class SessionTable:
    """The sessions of one service: key -> backend identity, least recently used first."""

    __slots__ = ("_entries", "on_change", "ttl")

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict()
        self.on_change: ChangeListener | None = None

    def __len__(self) -> int:
        return sum(1 for e in self._entries.values() if e.identity is not None)

    def find(self, key: bytes, now: float) -> Identity | None:
        """The backend of the session ``key``, which this use keeps alive; None if none."""
        entry = self._entries.get(key)
        if entry is None or entry.identity is None:
            return None
        if now - entry.used >= self.ttl:
            del self._entries[key]
            return None
        entry.used = now
        if now - entry.shared >= SHARE_USE_EVERY:
            # Once a second at most: the order (for sweeping) is right within that, and a
            # busy session costs one dict lookup per request.
            entry.shared = now
            self._entries.move_to_end(key)
            self._told(key, False)
        return entry.identity

    def add(self, key: bytes, identity: Identity, now: float) -> None:
        """Make (or move) the session ``key`` to ``identity``."""
        self._sweep(now)
        entries = self._entries
        entries[key] = _Entry(identity, now)
        entries.move_to_end(key)
        self._told(key, True)

    def remove(self, key: bytes, now: float) -> bool:
        """Delete the session ``key``; False when there was none."""
        entry = self._entries.get(key)
        if entry is None or entry.identity is None:
            return False
        self._entries[key] = _Entry(None, now)
        self._entries.move_to_end(key)
        self._told(key, True)
        return True

    def knows(self, key: bytes, now: float) -> bool:
        """Whether this copy has ``key``: a live session, or one deleted lately."""
        entry = self._entries.get(key)
        return entry is not None and (entry.identity is None or now - entry.used < self.ttl)

    def drop_backend(self, identity: Identity, now: float) -> int:
        """Delete every session of a backend (it died); how many there were."""
        keys = [k for k, e in self._entries.items() if e.identity == identity]
        for key in keys:
            self.remove(key, now)
        return len(keys)

    def sessions(self, now: float) -> list[Session]:
        """The live sessions, least recently used first."""
        ttl = self.ttl
        return [
            Session(key, e.identity, e.used + ttl)
            for key, e in self._entries.items()
            if e.identity is not None and now - e.used < ttl
        ]

    def _sweep(self, now: float) -> None:
        entries = self._entries
        for _ in range(SWEEP_BATCH):
            if not entries:
                return
            key, entry = next(iter(entries.items()))
            limit = self.ttl if entry.identity is not None else TOMBSTONE_TTL
            if now - entry.used < limit:
                return
            del entries[key]

    def _told(self, key: bytes, content: bool) -> None:
        if self.on_change is not None:
            self.on_change(key, content)

    # -- the shared-table protocol (process/tables.Table) -----------------------------------

    def keys(self) -> list[bytes]:
        return list(self._entries)

    def record(self, key: bytes) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        identity = None if entry.identity is None else list(entry.identity)
        return json.dumps([key.decode("latin-1"), entry.used, identity]).encode("ascii")

    def max_record(self) -> int:
        return MAX_RECORD

    def absorb(self, record: bytes) -> bytes | None:
        try:
            text, used, identity = json.loads(record)
            key = str(text).encode("latin-1")
            stamp = float(used)
            found = None if identity is None else _identity(identity)
        except (ValueError, TypeError, UnicodeError):
            return None
        entry = self._entries.get(key)
        if entry is not None and entry.used > stamp:
            return None  # this copy changed since: it is on its way the other way
        self._sweep(stamp)
        self._entries[key] = _Entry(found, stamp)
        self._entries.move_to_end(key)
        return key

    def freshness(self, key: bytes) -> tuple[float, int] | None:
        entry = self._entries.get(key)
        if entry is None or entry.identity is None:
            return None
        return entry.used, digest(entry.identity)

    def touch(self, key: bytes, stamp: float, check: int) -> bool:
        entry = self._entries.get(key)
        if entry is None or entry.identity is None or digest(entry.identity) != check:
            return False
        if stamp > entry.used:
            entry.used = stamp
            entry.shared = stamp
            self._entries.move_to_end(key)
        return True

    def absorb_from(self, other: SessionTable) -> None:
        """Take every session of ``other`` (a reload keeps a service's sessions)."""
        for key, entry in other._entries.items():
            self._entries[key] = entry


def _identity(value: object) -> Identity:
    if not isinstance(value, list) or len(value) != 3:
        raise ValueError("not an identity")
    host, kind, number = value
    if not isinstance(host, str) or not isinstance(kind, str):
        raise ValueError("not an identity")
    if number is not None and not isinstance(number, int):
        raise ValueError("not an identity")
    return (host, kind, number)


# -- the sticky choice ---------------------------------------------------------------------


class Sticky:
    """A service's choice of backend with its `Session`: the session's backend when it has
    one that can answer, else the balancer's (then remembered)."""

    __slots__ = (
        "_backends",
        "_cookie",
        "_health",
        "_name",
        "_request_field",
        "_response_field",
        "_tables",
        "balancer",
        "learns",
        "spec",
        "table",
    )

    def __init__(
        self,
        spec: SessionSpec,
        table: SessionTable,
        balancer: Balancer,
        health: HealthView,
        tables: SessionTables | None = None,
        name: str = "",
    ) -> None:
        self.spec = spec
        self.table = table
        self._tables = tables  # where to ask for a session this copy lacks (with workers)
        self._name = name
        self.balancer = balancer
        self._health = health
        self.learns = learns(spec)
        # Sessions name backends by identity (a reload keeps them); only the regular tier
        # has sessions.
        self._backends = {b.identity: b for b in balancer.service.backends}
        # The hot path's keys: one search of the raw head for the header a key is in (in
        # C), instead of splitting every header line; ``request_key``/``response_key`` are
        # the reference (tests/balance/test_sessions.py compares them).
        kind = spec.type
        request_name = _REQUEST_FIELD.get(kind) or _id(spec)
        response_name = _RESPONSE_FIELD.get(kind) or _id(spec)
        self._request_field = None if kind in _NOT_IN_A_FIELD else _field_finder(request_name)
        self._response_field = _field_finder(response_name) if self.learns else None
        self._cookie = _id(spec).lower() + b"=" if kind is SessionType.COOKIE else None

    def key(self, head: RequestHead, peer: str) -> bytes | None:
        """The session key of a request (as ``request_key``)."""
        start = self._request_field
        if start is None:
            return request_key(self.spec, head, peer)  # IP, URL, PARM: no header search
        return self._key_in(head.raw, start)

    def response_key(self, resp: ResponseHead) -> bytes | None:
        """The session key a response carries (as ``response_key``)."""
        start = self._response_field
        return None if start is None else self._key_in(resp.raw, start)

    def _key_in(self, raw: bytes, start: tuple[bytes]) -> bytes | None:
        """The key in the first header line of ``raw`` that begins with ``start`` (found
        in any case, in C, without a lower-cased copy of the head: most heads have no
        such line, responses above all); a cookie's value is found there in C as well."""
        cookie = self._cookie
        if cookie is not None:
            return line_cookie(raw, start, cookie, MAX_KEY)
        at = line_prefix(raw, start)
        if at < 0:
            return None
        end = raw.find(b"\r\n", at)
        value = raw[at:end].strip(_OWS)
        if self.spec.type is SessionType.BASIC:
            return basic_credentials(value)
        return value[:MAX_KEY]

    def must_ask(self, key: bytes, now: float) -> bool:
        """Whether the owner of the sessions must be asked about ``key`` before choosing:
        this copy does not know it, and there is an owner (several workers)."""
        tables = self._tables
        return tables is not None and tables.ask is not None and not self.table.knows(key, now)

    def ask(self, key: bytes) -> Awaitable[None]:
        """Bring the owner's record of ``key`` into this copy (bounded by the asker)."""
        tables = self._tables
        assert tables is not None and tables.ask is not None
        return tables.ask(self._name, key)

    def choose(
        self,
        head: RequestHead,
        peer: str,
        now: float,
        exclude: Set[BackendSpec] = frozenset(),
    ) -> BackendSpec | None:
        """The backend for one attempt of a request (None: no backend can answer)."""
        key = request_key(self.spec, head, peer)
        if key is None:
            return self.balancer.choose(exclude)
        return self.choose_for(key, now, exclude)

    def choose_for(
        self, key: bytes, now: float, exclude: Set[BackendSpec] = frozenset()
    ) -> BackendSpec | None:
        table = self.table
        found = table.find(key, now)
        if found is not None:
            backend = self._backends.get(found)
            # (``exclude`` is tested only when not empty: hashing a spec costs.)
            if (
                backend is not None
                and not (exclude and backend in exclude)
                and self._serves(backend)
            ):
                return backend
        chosen = self.balancer.choose(exclude)
        if chosen is not None and not chosen.emergency:
            table.add(key, chosen.identity, now)
        elif found is not None:
            table.remove(key, now)  # its backend is gone, and no regular one replaces it
        return chosen

    def _serves(self, backend: BackendSpec) -> bool:
        if backend in self.balancer.candidates():
            return True
        # A disabled or draining backend keeps its sessions (Pound 4.23 honours a session
        # on a disabled backend: it only takes no new ones); a dead one loses them.
        return backend.kind is BackendKind.REDIRECT or self._health.is_alive(backend)

    def learn(self, resp: ResponseHead, backend: BackendSpec, now: float) -> None:
        """A response from ``backend``: make the session it names, if it has none."""
        key = self.response_key(resp)
        if key is None or backend.emergency or backend.identity not in self._backends:
            return
        if self.table.find(key, now) is None:
            self.table.add(key, backend.identity, now)


# -- the tables of a configuration ---------------------------------------------------------

# Told of a change in table ``name`` (process/tables.TableListener).
TableChange = Callable[[str, bytes, bool], None]


def session_services(config: ConfigSpec) -> dict[str, ServiceSpec]:
    """Every service with a `Session`, by the name of its table: the service's identity
    across reloads and between processes, by the rule of the stale stores
    (cache/services.py)."""
    return dict(table_names(config, "session", lambda s: s.session is not None))


class SessionTables:
    """A process's session tables, by name, kept across reloads for the services that stay
    (with the new TTL); ``on_change`` hears of every local change of any of them."""

    def __init__(self) -> None:
        self._tables: dict[str, SessionTable] = {}
        self._names: dict[int, str] = {}  # id(ServiceSpec) -> name, for the configuration
        self.on_change: TableChange | None = None
        # With several workers: asks the owner for a session a copy lacks (process/sessions).
        self.ask: Callable[[str, bytes], Awaitable[None]] | None = None

    def configure(self, config: ConfigSpec) -> None:
        services = session_services(config)
        kept: dict[str, SessionTable] = {}
        for name, service in services.items():
            assert service.session is not None
            table = self._tables.get(name)
            if table is None:
                table = SessionTable(service.session.ttl)
                table.on_change = functools.partial(self._changed, name)
            table.ttl = service.session.ttl
            kept[name] = table
        self._tables = kept
        self._names = {id(service): name for name, service in services.items()}

    def _changed(self, name: str, key: bytes, content: bool) -> None:
        if self.on_change is not None:
            self.on_change(name, key, content)

    def names(self) -> list[str]:
        return list(self._tables)

    def table(self, name: str) -> SessionTable | None:
        return self._tables.get(name)

    def drop_backend(self, identity: Identity, now: float) -> None:
        """A backend died: its sessions go, in every table (Pound removes a dead
        backend's sessions; the next request of each is balanced anew)."""
        for table in self._tables.values():
            table.drop_backend(identity, now)

    def name_of(self, service: ServiceSpec) -> str | None:
        return self._names.get(id(service))

    def of(self, service: ServiceSpec) -> SessionTable | None:
        """The table of ``service`` (of the configuration last given to ``configure``)."""
        name = self._names.get(id(service))
        return None if name is None else self._tables.get(name)
