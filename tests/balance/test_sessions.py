"""Sessions, pure part: the key of each type, the table's TTL clock and sharing records, and
the sticky choice (balance/sessions.py)."""

from __future__ import annotations

import base64
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from standby.balance import Balancer
from standby.balance.sessions import (
    MAX_KEY,
    SHARE_USE_EVERY,
    TOMBSTONE_TTL,
    SessionTable,
    SessionTables,
    Sticky,
    basic_credentials,
    cookie_value,
    digest,
    path_parameter,
    query_parameter,
    request_key,
    response_key,
    session_services,
)
from standby.clock import FakeClock
from standby.health import HealthBoard
from standby.http1 import Limits, RequestHead, ResponseHead, parse_request_head, parse_response_head
from standby.model import (
    BackendKind,
    BackendSpec,
    ConfigSpec,
    ListenerSpec,
    ServiceSpec,
    SessionSpec,
    SessionType,
)

METHODS = frozenset({b"GET", b"HEAD", b"POST"})
TOKEN = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-",
    min_size=1,
    max_size=12,
)
VALUE = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789%.-_=", max_size=40)


def request(target: bytes = b"/", *lines: bytes) -> RequestHead:
    raw = b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n" + b"".join(x + b"\r\n" for x in lines)
    parsed = parse_request_head(raw + b"\r\n", Limits(), METHODS)
    assert parsed is not None
    return parsed[0]


def response(*lines: bytes) -> ResponseHead:
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n" + b"".join(x + b"\r\n" for x in lines)
    parsed = parse_response_head(raw + b"\r\n", b"GET")
    assert parsed is not None
    return parsed[0]


# -- keys ------------------------------------------------------------------------------------


@given(
    before=st.lists(st.tuples(TOKEN, VALUE), max_size=4),
    name=TOKEN,
    value=VALUE,
    after=st.lists(st.tuples(TOKEN, VALUE), max_size=4),
    spaces=st.sampled_from(["", " ", "  ", "\t"]),
)
def test_a_cookie_is_found_among_others_in_any_case(
    before: list[tuple[str, str]], name: str, value: str, after: list[tuple[str, str]], spaces: str
) -> None:
    before = [(n, v) for n, v in before if n.lower() != name.lower()]
    items = [f"{n}={v}" for n, v in before] + [f"{name.swapcase()}={value}"]
    items += [f"{n}={v}" for n, v in after]
    header = (";" + spaces).join(items).encode()
    assert cookie_value(header, name.encode()) == value.encode()[:MAX_KEY]


@given(name=TOKEN, others=st.lists(st.tuples(TOKEN, VALUE), max_size=4))
def test_no_cookie_of_that_name_is_no_key(name: str, others: list[tuple[str, str]]) -> None:
    header = "; ".join(f"{n}x{name}={v}" for n, v in others).encode()
    assert cookie_value(header, name.encode()) is None


def test_a_cookie_value_is_cut_at_pounds_key_size() -> None:
    assert cookie_value(b"sid=" + b"v" * 500, b"sid") == b"v" * MAX_KEY


def test_a_cookie_name_counts_only_where_an_item_begins() -> None:
    assert cookie_value(b"a=1 sid=2", b"sid") is None
    assert cookie_value(b"xsid=1; a=sid=2", b"sid") is None
    assert cookie_value(b"xsid=1;\t SID=3;sid=4", b"sid") == b"3"


@given(
    user=st.text(max_size=30),
    password=st.text(max_size=30),
    scheme=st.sampled_from(["Basic", "basic", "BASIC"]),
)
def test_basic_credentials_are_the_base64_as_sent(user: str, password: str, scheme: str) -> None:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    assert basic_credentials(f"{scheme} {token}".encode()) == token.encode()[:MAX_KEY]
    assert basic_credentials(f"Bearer {token}".encode()) is None


@given(
    params=st.lists(st.tuples(TOKEN, VALUE), max_size=5),
    name=TOKEN,
    value=VALUE,
    path=st.sampled_from(["/", "/a/b", "/x;y"]),
)
def test_the_first_query_parameter_of_that_name_raw(
    params: list[tuple[str, str]], name: str, value: str, path: str
) -> None:
    params = [(n, v) for n, v in params if n != name]
    query = "&".join([*(f"{n}={v}" for n, v in params), f"{name}={value}", f"{name}=second"])
    assert query_parameter(f"{path}?{query}".encode(), name.encode()) == value.encode()
    assert query_parameter(path.encode(), name.encode()) is None


@given(segments=st.lists(TOKEN, min_size=1, max_size=4), parm=TOKEN)
def test_parm_is_what_follows_the_last_semicolon_of_the_path(
    segments: list[str], parm: str
) -> None:
    path = "/" + "/".join(segments)
    assert path_parameter(f"{path};{parm}?q=;no".encode()) == parm.encode()
    assert path_parameter(f"{path}?q=;no".encode()) is None


def test_request_keys_per_type() -> None:
    def key(kind: SessionType, head: RequestHead, ident: str | None = None) -> bytes | None:
        return request_key(SessionSpec(kind, 300, ident), head, "127.0.0.9")

    assert key(SessionType.IP, request()) == b"127.0.0.9"
    assert key(SessionType.COOKIE, request(b"/", b"Cookie: theme=x; SID=abc"), "sid") == b"abc"
    assert key(SessionType.COOKIE, request(b"/", b"Cookie: theme=x"), "sid") is None
    assert key(SessionType.URL, request(b"/u?a=1&sess=a%20b"), "sess") == b"a%20b"
    assert key(SessionType.PARM, request(b"/p/a;b;c?x=1")) == b"c"
    assert key(SessionType.HEADER, request(b"/", b"X-Sess:  hv1  "), "X-Sess") == b"hv1"
    assert key(SessionType.BASIC, request(b"/", b"Authorization: Basic YWxpY2U6c2VjcmV0")) == (
        b"YWxpY2U6c2VjcmV0"
    )


def test_response_keys_per_type() -> None:
    cookie = SessionSpec(SessionType.COOKIE, 300, "sid")
    assert response_key(cookie, response(b"Set-Cookie: sid=A-1; Path=/")) == b"A-1"
    assert response_key(cookie, response(b"Set-Cookie: other=1")) is None
    header = SessionSpec(SessionType.HEADER, 300, "X-Sess")
    assert response_key(header, response(b"X-Sess: s9")) == b"s9"
    assert response_key(SessionSpec(SessionType.IP, 300), response(b"X-Sess: s9")) is None


# -- the table ------------------------------------------------------------------------------

ONE: tuple[str, str, int | None] = ("127.0.0.1", "tcp", 1)
TWO: tuple[str, str, int | None] = ("127.0.0.1", "tcp", 2)


def test_a_session_lives_ttl_seconds_after_its_last_use() -> None:
    table = SessionTable(10.0)
    table.add(b"k", ONE, 100.0)
    assert table.find(b"k", 109.0) == ONE  # used: the clock restarts
    assert table.find(b"k", 118.5) == ONE
    assert table.find(b"k", 128.5) is None  # idle for TTL: gone
    assert table.find(b"k", 129.0) is None


def test_listing_shows_expiry_and_leaves_out_expired_ones() -> None:
    table = SessionTable(10.0)
    table.add(b"old", ONE, 0.0)
    table.add(b"new", TWO, 5.0)
    listed = table.sessions(12.0)
    assert [(s.key, s.identity, s.expires) for s in listed] == [(b"new", TWO, 15.0)]


def test_removal_leaves_a_tombstone_that_travels_and_then_goes() -> None:
    table = SessionTable(10.0)
    table.add(b"k", ONE, 0.0)
    assert table.remove(b"k", 1.0)
    assert not table.remove(b"k", 1.0)
    assert table.find(b"k", 2.0) is None
    record = table.record(b"k")
    assert record is not None
    other = SessionTable(10.0)
    other.add(b"k", ONE, 0.5)
    assert other.absorb(record) == b"k"
    assert other.find(b"k", 2.0) is None
    other.add(b"x", TWO, 1.0 + TOMBSTONE_TTL + 1)  # a change sweeps the tombstone
    assert b"k" not in set(other.keys())


def test_records_and_touches_carry_sessions_between_tables() -> None:
    here, there = SessionTable(10.0), SessionTable(10.0)
    heard: list[tuple[bytes, bool]] = []
    here.on_change = lambda key, content: heard.append((key, content))
    here.add(b"k", ONE, 0.0)
    record = here.record(b"k")
    assert record is not None and there.absorb(record) == b"k"
    assert there.find(b"k", 1.0) == ONE
    # A use is told (as a touch) at most every SHARE_USE_EVERY seconds.
    here.find(b"k", SHARE_USE_EVERY / 2)
    here.find(b"k", SHARE_USE_EVERY * 2)
    assert heard == [(b"k", True), (b"k", False)]
    fresh = here.freshness(b"k")
    assert fresh is not None
    assert there.touch(b"k", fresh[0], fresh[1])
    assert not there.touch(b"k", 50.0, digest(TWO))  # not the same session
    # Kept alive there by the touch: without it the copy would have expired at 11.
    assert there.find(b"k", SHARE_USE_EVERY * 2 + 9.0) == ONE


def test_a_dead_backends_sessions_are_deleted_and_the_deletions_travel() -> None:
    table = SessionTable(10.0)
    heard: list[tuple[bytes, bool]] = []
    table.add(b"a", ONE, 0.0)
    table.add(b"b", TWO, 0.0)
    table.add(b"c", ONE, 0.0)
    table.on_change = lambda key, content: heard.append((key, content))
    assert table.drop_backend(ONE, 1.0) == 2
    assert [s.key for s in table.sessions(2.0)] == [b"b"]
    assert heard == [(b"a", True), (b"c", True)]


def test_an_older_record_does_not_replace_a_newer_session() -> None:
    table = SessionTable(10.0)
    other = SessionTable(10.0)
    other.add(b"k", ONE, 1.0)
    old = other.record(b"k")
    table.add(b"k", TWO, 2.0)
    assert old is not None and table.absorb(old) is None
    assert table.find(b"k", 3.0) == TWO
    assert table.absorb(b"not json") is None
    assert table.absorb(b'["k", 1.0, ["a", 3, 4]]') is None


# -- the sticky choice ------------------------------------------------------------------------


def backend(port: int, emergency: bool = False) -> BackendSpec:
    return BackendSpec(kind=BackendKind.PROXY, address="127.0.0.1", port=port, emergency=emergency)


def sticky(
    kind: SessionType = SessionType.COOKIE, emergencies: tuple[BackendSpec, ...] = ()
) -> tuple[Sticky, HealthBoard, ServiceSpec]:
    session = SessionSpec(kind, 10.0, "sid")
    service = ServiceSpec(
        name="s",
        backends=(backend(1), backend(2), backend(3)),
        emergencies=emergencies,
        session=session,
    )
    board = HealthBoard(FakeClock(), alive_interval=10)
    board.register_all((*service.backends, *service.emergencies))
    balancer = Balancer(service, board, random.Random(7))
    return Sticky(session, SessionTable(session.ttl), balancer, board), board, service


@given(keys=st.lists(TOKEN, min_size=1, max_size=20))
def test_every_request_of_a_session_goes_to_its_backend(keys: list[str]) -> None:
    chooser, _, _ = sticky()
    first: dict[str, BackendSpec | None] = {}
    for step, name in enumerate(keys * 3):
        head = request(b"/", b"Cookie: sid=" + name.encode())
        chosen = chooser.choose(head, "127.0.0.1", float(step) * 0.01)
        assert first.setdefault(name, chosen) is chosen


def test_a_dead_backend_loses_its_sessions_a_disabled_or_draining_one_keeps_them() -> None:
    chooser, board, service = sticky()
    first = service.backends[0]
    chooser.table.add(b"k", first.identity, 0.0)
    assert chooser.choose_for(b"k", 1.0) is first
    board.set_draining(first, True)
    assert chooser.choose_for(b"k", 2.0) is first
    board.set_draining(first, False)
    board.set_enabled(first, False)  # as in Pound 4.23: its sessions stay, no new ones
    assert chooser.choose_for(b"k", 2.5) is first
    assert chooser.choose_for(b"other", 2.5) is not first
    board.mark_dead(first, "refused")
    moved = chooser.choose_for(b"k", 3.0)
    assert moved is not None and moved is not first
    assert chooser.choose_for(b"k", 4.0) is moved  # the session follows it


def test_a_failed_attempt_moves_the_session_to_the_next_backend() -> None:
    chooser, _, service = sticky()
    chooser.table.add(b"k", service.backends[1].identity, 0.0)
    moved = chooser.choose_for(b"k", 1.0, frozenset({service.backends[1]}))
    assert moved is not None and moved is not service.backends[1]
    assert chooser.choose_for(b"k", 2.0) is moved


def test_the_emergency_tier_makes_no_session() -> None:
    spare = backend(9, emergency=True)
    chooser, board, service = sticky(emergencies=(spare,))
    for b in service.backends:
        board.mark_dead(b, "refused")
    assert chooser.choose_for(b"k", 1.0) is spare
    assert chooser.table.find(b"k", 1.0) is None
    chooser.learn(response(b"Set-Cookie: sid=z"), spare, 1.0)
    assert chooser.table.find(b"z", 1.0) is None


def test_a_response_makes_the_session_it_names_once() -> None:
    chooser, _, service = sticky()
    chooser.learn(response(b"Set-Cookie: sid=z; Path=/"), service.backends[2], 1.0)
    assert chooser.choose_for(b"z", 2.0) is service.backends[2]
    chooser.learn(response(b"Set-Cookie: sid=z"), service.backends[0], 3.0)  # has one
    assert chooser.choose_for(b"z", 4.0) is service.backends[2]


def test_a_request_without_a_key_is_balanced_and_makes_no_session() -> None:
    chooser, _, _ = sticky()
    assert chooser.choose(request(), "127.0.0.1", 1.0) is not None
    assert chooser.table.keys() == []


# -- tables by service name, across reloads ------------------------------------------------


def config(ttl: float, name: str | None = "app") -> ConfigSpec:
    service = ServiceSpec(
        name=name, backends=(backend(1),), session=SessionSpec(SessionType.IP, ttl)
    )
    listener = ListenerSpec(
        name=None, address="127.0.0.1", port=8080, services=(service, ServiceSpec("plain"))
    )
    return ConfigSpec(listeners=(listener,))


def test_a_service_that_stays_keeps_its_table_with_the_new_ttl() -> None:
    first = config(10.0)
    assert list(session_services(first)) == ["session 127.0.0.1:8080 'app'"]
    tables = SessionTables()
    tables.configure(first)
    table = tables.of(first.listeners[0].services[0])
    assert table is not None
    table.add(b"k", ONE, 0.0)
    second = config(60.0)
    tables.configure(second)
    kept = tables.of(second.listeners[0].services[0])
    assert kept is table and kept.ttl == 60.0
    assert tables.of(second.listeners[0].services[1]) is None
    tables.configure(config(60.0, name="other"))
    assert tables.names() == ["session 127.0.0.1:8080 'other'"]
    assert tables.table("session 127.0.0.1:8080 'app'") is None


# -- the hot path's keys against the reference ----------------------------------------------

FIELD_NAMES = st.sampled_from(
    ["Cookie", "COOKIE", "cookie", "Authorization", "X-Sess", "x-sess", "X-Other", "Set-Cookie"]
)
FIELD_VALUES = st.sampled_from(
    [
        "sid=1",
        "a=1; SID=two",
        "a=1;sid=x;sid=y",
        "sid=",
        "Basic dXNlcjpwdw==",
        "basic  dXNlcjpwdw==",
        "Bearer t",
        "v1",
        "  spaced  ",
        "x" * 200,
        "SID=a; sid=b",
        "x=1; sid=v  ",
        "sid=v ;x=2",
        "a=1 sid=2",
        "xsid=1;\t sid=3",
        "sid=" + "k" * 200,
    ]
)


@settings(max_examples=500)
@given(
    kind=st.sampled_from(list(SessionType)),
    fields=st.lists(st.tuples(FIELD_NAMES, FIELD_VALUES), max_size=5),
    target=st.sampled_from([b"/", b"/p;k?sess=1", b"/?a=2&sess=v"]),
)
def test_the_sticky_keys_are_the_reference_keys(
    kind: SessionType, fields: list[tuple[str, str]], target: bytes
) -> None:
    spec = SessionSpec(kind, 10.0, "X-Sess" if kind is SessionType.HEADER else "sid")
    if kind is SessionType.URL:
        spec = SessionSpec(kind, 10.0, "sess")
    chooser, _, _ = sticky(kind)
    chooser = Sticky(spec, chooser.table, chooser.balancer, HealthBoard(FakeClock(), 10))
    lines = [f"{name}: {value}".encode() for name, value in fields]
    head = request(target, *lines)
    assert chooser.key(head, "127.0.0.1") == request_key(spec, head, "127.0.0.1")
    resp = response(*lines)
    assert chooser.response_key(resp) == response_key(spec, resp)
