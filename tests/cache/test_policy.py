"""The stale fallback's rules, one table row per rule (standby.cache.policy)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from standby.cache.policy import (
    STORABLE_STATUSES,
    CachePolicy,
    CookieMode,
    head_fields,
    is_robots_key,
    request_key,
    response_storable,
)

SKIP = CachePolicy(cookies=CookieMode.SKIP)
KEYED = CachePolicy(cookies=CookieMode.KEY)
H = b"www.example.com"


def key(
    headers: list[tuple[bytes, bytes]] | None = None,
    *,
    method: bytes = b"GET",
    target: bytes = b"/page?x=1",
    host: bytes | None = H,
    policy: CachePolicy = SKIP,
) -> bytes | None:
    return request_key(method, target, host, headers or [], policy)


# --- requests ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "has_key"),
    [(b"GET", True), (b"HEAD", True), (b"POST", False), (b"PUT", False), (b"OPTIONS", False)],
)
def test_only_get_and_head_have_a_key(method: bytes, has_key: bool) -> None:
    assert (key(method=method) is not None) is has_key


def test_head_shares_the_get_key() -> None:
    assert key(method=b"HEAD") == key(method=b"GET")


@pytest.mark.parametrize(
    ("headers", "has_key"),
    [
        ([(b"authorization", b"Basic dTpw")], False),
        ([(b"cache-control", b"no-store")], False),
        ([(b"cache-control", b"max-age=0, No-Store")], False),
        ([(b"cache-control", b"max-age=0")], True),
        ([(b"cache-control", b"no-cache")], True),
        ([(b"accept", b"text/html"), (b"user-agent", b"curl")], True),
    ],
)
def test_request_headers_that_rule_out_a_key(
    headers: list[tuple[bytes, bytes]], has_key: bool
) -> None:
    assert (key(headers) is not None) is has_key


def test_a_cookie_is_skipped_or_keyed_as_the_policy_says() -> None:
    cookie_a = [(b"cookie", b"a=1")]
    assert key(cookie_a, policy=SKIP) is None
    keyed_a = key(cookie_a, policy=KEYED)
    assert keyed_a is not None
    assert keyed_a != key(policy=KEYED)
    assert keyed_a != key([(b"cookie", b"a=2")], policy=KEYED)
    assert keyed_a == key(cookie_a, policy=KEYED)


def test_several_cookie_lines_are_all_in_the_key() -> None:
    both = key([(b"cookie", b"a=1"), (b"cookie", b"b=2")], policy=KEYED)
    assert both != key([(b"cookie", b"a=1")], policy=KEYED)
    assert both == key([(b"cookie", b"a=1; b=2")], policy=KEYED)


def test_the_key_holds_host_and_target() -> None:
    assert key(host=b"WWW.Example.COM") == key(host=H)
    assert key(host=b"other.example.com") != key(host=H)
    assert key(target=b"/page?x=2") != key(target=b"/page?x=1")
    assert key(target=b"/Page?x=1") != key(target=b"/page?x=1")
    assert key(host=None) is not None


@pytest.mark.parametrize("target", [b"http://www.example.com/", b"*", b"www.example.com:80"])
def test_targets_not_in_origin_form_have_no_key(target: bytes) -> None:
    assert key(target=target) is None


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (b"gzip, br", b"br,gzip", True),
        (b"gzip, br", b"BR;q=1.0 , gzip", True),
        (b"gzip, br;q=0", b"gzip", True),
        (b"gzip, br;q=0.000", b"gzip", True),
        (b"gzip, br;q=bad", b"gzip", True),
        (b"gzip, br", b"gzip", False),
        (b"gzip", b"", False),
    ],
)
def test_accept_encoding_is_normalised_in_the_key(a: bytes, b: bytes, same: bool) -> None:
    ka = key([(b"accept-encoding", a)])
    kb = key([(b"accept-encoding", b)] if b else [])
    assert (ka == kb) is same


def test_robots_txt_ignores_cookies() -> None:
    plain = key(target=b"/robots.txt")
    assert plain is not None and is_robots_key(plain)
    for policy in (SKIP, KEYED):
        assert key([(b"cookie", b"a=1")], target=b"/robots.txt", policy=policy) == plain
    assert is_robots_key(key(target=b"/robots.txt?v=2") or b"")
    assert not is_robots_key(key(target=b"/robots.txt.bak") or b"")
    assert key([(b"authorization", b"x")], target=b"/robots.txt") is None


names = st.text(alphabet="abcdefghij.-", max_size=8).map(str.encode)
targets = st.text(alphabet="abc/?=&%", max_size=12).map(lambda t: b"/" + t.encode())


@given(h1=names, t1=targets, c1=names, h2=names, t2=targets, c2=names)
def test_different_requests_never_share_a_key(
    h1: bytes, t1: bytes, c1: bytes, h2: bytes, t2: bytes, c2: bytes
) -> None:
    k1 = key([(b"cookie", c1)] if c1 else [], host=h1, target=t1, policy=KEYED)
    k2 = key([(b"cookie", c2)] if c2 else [], host=h2, target=t2, policy=KEYED)
    robots = t1.partition(b"?")[0] == b"/robots.txt"
    same_request = (h1, t1, b"" if robots else c1) == (h2, t2, b"" if robots else c2)
    assert (k1 == k2) is same_request


# --- responses -----------------------------------------------------------------------------


def storable(
    status: int = 200,
    headers: list[tuple[bytes, bytes]] | None = None,
    *,
    policy: CachePolicy = SKIP,
    robots: bool = False,
) -> bool:
    return response_storable(status, headers or [], policy, robots=robots)


@pytest.mark.parametrize("status", range(100, 600))
def test_storable_statuses(status: int) -> None:
    expected = status in {200, 203, 204, 300, 301, 308, 404, 405, 410, 414}
    assert storable(status) is expected
    assert (status in STORABLE_STATUSES) is expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([(b"set-cookie", b"a=1")], False),
        ([(b"cache-control", b"no-store")], False),
        ([(b"cache-control", b"private")], False),
        ([(b"cache-control", b'private="set-cookie"')], False),
        ([(b"cache-control", b"no-cache")], False),
        ([(b"cache-control", b"must-revalidate")], False),
        ([(b"cache-control", b"proxy-revalidate")], False),
        ([(b"cache-control", b"public, max-age=60"), (b"cache-control", b"No-Store")], False),
        ([(b"cache-control", b"public, max-age=60")], True),
        ([(b"cache-control", b"max-age=0")], True),
        ([(b"cache-control", b"s-maxage=300")], True),
        ([(b"cache-control", b'no-cache="a, b"')], False),
        ([(b"expires", b"0"), (b"pragma", b"no-cache")], True),
        ([(b"vary", b"Accept-Encoding")], True),
        ([(b"vary", b"accept-encoding,")], True),
        ([(b"vary", b"Accept-Encoding, User-Agent")], False),
        ([(b"vary", b"Accept-Encoding"), (b"vary", b"Accept-Language")], False),
        ([(b"vary", b"*")], False),
        ([(b"vary", b"Cookie")], False),
    ],
)
def test_response_rules(headers: list[tuple[bytes, bytes]], expected: bool) -> None:
    assert storable(200, headers) is expected


def test_vary_cookie_needs_keyed_cookies() -> None:
    vary = [(b"vary", b"Cookie, Accept-Encoding")]
    assert storable(200, vary, policy=KEYED)
    assert not storable(200, vary, policy=SKIP)


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (200, [(b"cache-control", b"private, no-store, no-cache")], True),
        (200, [(b"cache-control", b"must-revalidate")], True),
        (200, [(b"set-cookie", b"a=1")], False),
        (404, [], False),
        (301, [], False),
        (200, [(b"vary", b"User-Agent")], False),
        (200, [(b"vary", b"Accept-Encoding")], True),
    ],
)
def test_robots_txt_rules(status: int, headers: list[tuple[bytes, bytes]], expected: bool) -> None:
    assert storable(status, headers, robots=True) is expected
    # Cookies are never in a robots key, so Vary: Cookie cannot be honoured for it.
    assert not storable(200, [(b"vary", b"Cookie")], policy=KEYED, robots=True)


def test_head_fields_of_a_raw_head() -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Type:  text/html \r\nVARY: Accept-Encoding\r\n\r\n"
    assert head_fields(raw) == [(b"content-type", b"text/html"), (b"vary", b"Accept-Encoding")]


@pytest.mark.parametrize(
    "kwargs",
    [{"size": 0}, {"max_object": 0}, {"max_object": 2**31}, {"max_age": 0}, {"max_age": -1.0}],
)
def test_policy_rejects_nonsense(kwargs: dict[str, int | float]) -> None:
    with pytest.raises(ValueError):
        CachePolicy(**kwargs)  # type: ignore[arg-type]
