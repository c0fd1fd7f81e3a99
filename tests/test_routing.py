from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from standby.config.pattern import compile_pattern
from standby.config.posix_regex import compile_ere
from standby.model import ConditionKind, ConditionSpec, ListenerSpec, ServiceSpec
from standby.routing import Router


@dataclass
class Req:
    """A request head as the http1 layer would expose it (RequestView)."""

    target: bytes = b"/"
    host: bytes | None = b"www.example.com"
    headers: list[str] = field(default_factory=list)
    header_calls: int = 0

    @property
    def path(self) -> str:
        return self.target.split(b"?", 1)[0].decode("latin-1")

    def lines(self) -> list[str]:
        lines = list(self.headers)
        if self.host is not None:
            lines.insert(0, "Host: " + self.host.decode("latin-1"))
        return lines

    def header_block(self) -> tuple[bytes, bytes]:
        self.header_calls += 1
        block = "\n".join(self.lines()).encode("latin-1")
        return block, block.lower()


def url(pattern: str, negate: bool = False) -> ConditionSpec:
    return ConditionSpec(ConditionKind.URL, pattern, compile_pattern(pattern), negate)


def path(pattern: str, negate: bool = False) -> ConditionSpec:
    return ConditionSpec(ConditionKind.PATH, pattern, compile_pattern(pattern), negate)


def host(name: str, negate: bool = False) -> ConditionSpec:
    return ConditionSpec(ConditionKind.HOST, name, None, negate)


def header(pattern: str, negate: bool = False) -> ConditionSpec:
    # As the config compiler does: header conditions are case-insensitive.
    return ConditionSpec(
        ConditionKind.HEADER, pattern, compile_pattern(pattern, ignore_case=True), negate
    )


def svc(name: str, *conditions: ConditionSpec, disabled: bool = False) -> ServiceSpec:
    return ServiceSpec(name=name, conditions=conditions, disabled=disabled)


def listener(*services: ServiceSpec) -> ListenerSpec:
    return ListenerSpec(name=None, address="127.0.0.1", port=8080, services=services)


def test_service_without_conditions_matches_everything() -> None:
    catch_all = svc("all")
    router = Router(listener(catch_all))
    assert router.route(Req()) is catch_all
    assert router.route(Req(target=b"\xff\x00", host=None)) is catch_all


def test_no_service_means_none() -> None:
    assert Router(listener()).route(Req()) is None
    assert Router(listener(svc("a", url("^/a")))).route(Req(target=b"/b")) is None


def test_first_match_wins_listener_services_before_global_ones() -> None:
    images = svc("images", url(r"\.png$"))
    local_all = svc("local-all")
    global_images = svc("global-images", url(r"\.png$"))
    global_all = svc("global-all")
    router = Router(listener(images, local_all), (global_images, global_all))
    assert router.services == (images, local_all, global_images, global_all)
    assert router.route(Req(target=b"/a.png")) is images
    assert router.route(Req(target=b"/a.html")) is local_all

    router = Router(listener(images), (global_images, global_all))
    assert router.route(Req(target=b"/a.png")) is images
    assert router.route(Req(target=b"/a.html")) is global_all


def test_all_conditions_must_hold() -> None:
    both = svc("both", url("^/api"), header("^X-Token: "))
    router = Router(listener(both))
    assert router.route(Req(target=b"/api/x", headers=["X-Token: 1"])) is both
    assert router.route(Req(target=b"/api/x")) is None
    assert router.route(Req(target=b"/web", headers=["X-Token: 1"])) is None


def test_url_is_searched_in_the_whole_target_decoded_as_latin1() -> None:
    query = svc("query", url(r"\?q=1"))
    accented = svc("accented", url("café"))
    router = Router(listener(query, accented))
    assert router.route(Req(target=b"/search?q=1")) is query
    assert router.route(Req(target=b"/caf\xe9")) is accented  # latin-1 byte E9 is "é"
    assert router.route(Req(target=b"/\x80\xfe\xff")) is None  # never fails to decode


def test_path_ignores_the_query_string() -> None:
    by_path = svc("by-path", path(r"^/docs/[^/]+$"))
    router = Router(listener(by_path))
    assert router.route(Req(target=b"/docs/intro?x=/y")) is by_path
    assert router.route(Req(target=b"/other?p=/docs/intro")) is None


def test_host_is_exact_and_case_insensitive() -> None:
    site = svc("site", host("www.Example.com"))
    router = Router(listener(site))
    assert router.route(Req(host=b"www.example.com")) is site
    assert router.route(Req(host=b"WWW.EXAMPLE.COM")) is site
    assert router.route(Req(host=b" www.example.com\t")) is site  # optional whitespace
    assert router.route(Req(host=b"www.example.com.evil")) is None  # not a regex search
    assert router.route(Req(host=b"xwww.example.com")) is None
    assert router.route(Req(host=b"www-example-com")) is None  # "." is not a wildcard
    assert router.route(Req(host=None)) is None


def test_host_port_suffix_is_not_ignored() -> None:
    plain = svc("plain", host("example.com"))
    with_port = svc("with-port", host("example.com:8080"))
    router = Router(listener(plain, with_port))
    assert router.route(Req(host=b"example.com:8080")) is with_port
    assert router.route(Req(host=b"example.com")) is plain
    assert router.route(Req(host=b"example.com:9090")) is None


def test_negated_host_matches_a_request_without_host() -> None:
    not_site = svc("not-site", host("example.com", negate=True))
    router = Router(listener(not_site))
    assert router.route(Req(host=None)) is not_site
    assert router.route(Req(host=b"other.org")) is not_site
    assert router.route(Req(host=b"Example.COM")) is None


def test_header_matches_any_line_and_negate_inverts() -> None:
    # The seed's condition: HeadRequire "Host: www.nire.com.*"
    seed = svc("seed", header("Host: www.nire.com.*"))
    router = Router(listener(seed))
    assert router.route(Req(host=b"www.nire.com")) is seed
    assert router.route(Req(host=b"WWW.NIRE.COM:80")) is seed
    assert router.route(Req(host=b"other.example")) is None

    no_bots = svc("no-bots", header("^User-Agent:.*bot", negate=True))  # HeadDeny
    router = Router(listener(no_bots))
    assert router.route(Req(headers=["Accept: */*", "User-Agent: curl"])) is no_bots
    assert router.route(Req(headers=["User-Agent: GoogleBot/2.1"])) is None
    assert router.route(Req(headers=[])) is no_bots


def test_header_lines_are_fetched_lazily_and_once() -> None:
    no_headers_needed = Router(listener(svc("u", url("^/x")), svc("all")))
    req = Req()
    no_headers_needed.route(req)
    assert req.header_calls == 0

    many = Router(
        listener(svc("a", header("^A:")), svc("b", header("^B:")), svc("c", header("^C:")))
    )
    req = Req(headers=["C: 1"])
    assert many.route(req) is not None
    assert req.header_calls == 1


def test_an_undecided_backtracking_pattern_never_selects_its_service() -> None:
    plain = svc("plain", url("(a)\\1"))
    negated = svc("negated", url("(a)\\1", negate=True))
    rest = svc("rest")
    (condition,) = plain.conditions
    assert condition.regex is not None and not condition.regex.linear
    limit = condition.regex.limit
    short, long = b"/" + b"x" * (limit - 1), b"/" + b"x" * limit
    router = Router(listener(plain, negated, rest))
    assert router.route(Req(target=short)) is negated
    assert router.route(Req(target=b"/aa")) is plain
    # Too long to search within the bound: neither the condition nor its negation holds.
    assert router.route(Req(target=long)) is rest
    assert router.route(Req(target=long + b"aa")) is rest


def test_disabled_services_are_skipped_and_can_be_toggled() -> None:
    off_in_config = svc("off", disabled=True)
    first = svc("first", url("^/"))
    fallback = svc("fallback")
    router = Router(listener(off_in_config, first, fallback))
    assert router.route(Req()) is first
    assert router.is_disabled(off_in_config)

    router.set_disabled(first, True)
    assert router.is_disabled(first)
    assert router.route(Req()) is fallback
    router.set_disabled(off_in_config, False)
    assert router.route(Req()) is off_in_config
    router.set_disabled(off_in_config, True)
    router.set_disabled(first, False)
    assert router.route(Req()) is first

    with pytest.raises(KeyError):
        router.set_disabled(svc("stranger", url("nowhere")), True)


def test_regex_condition_without_regex_fails_at_construction() -> None:
    broken = ConditionSpec(ConditionKind.URL, "^/", None, False)
    with pytest.raises(ValueError, match="no compiled regex"):
        Router(listener(svc("broken", broken)))


# -- property: the router agrees with a direct reading of the rules -------------------------

CONDITIONS = [
    url("^/a"),
    url("[0-9]", negate=True),
    url("\xe9"),
    path("/b$"),
    path("^/a/b$", negate=True),
    host("a.example"),
    host("B.example:81"),
    host("a.example", negate=True),
    header("^X-A:"),
    header("^user-agent: .*bot", negate=True),
    header("curl$"),
    header("^(x)-a: 1|(a)\\2"),  # back-references: Python's re, within its bound
    url("(/)a\\1", negate=True),
]


def holds(condition: ConditionSpec, req: Req) -> bool:
    if condition.kind is ConditionKind.HOST:
        value = None if req.host is None else req.host.decode("latin-1").strip().lower()
        result = value == condition.pattern.lower()
    else:
        # The reference: each subject, as latin-1 text, searched by the Python translation.
        regex = compile_ere(condition.pattern, condition.kind is ConditionKind.HEADER)
        if condition.kind is ConditionKind.URL:
            subjects = [req.target.decode("latin-1")]
        elif condition.kind is ConditionKind.PATH:
            subjects = [req.path]
        else:
            subjects = req.lines()
        result = any(regex.search(s) for s in subjects)
    return result != condition.negate


services_strategy = st.lists(
    st.tuples(
        st.lists(st.sampled_from(CONDITIONS), max_size=3, unique_by=id),
        st.booleans(),
    ),
    max_size=5,
)
requests_strategy = st.builds(
    Req,
    target=st.one_of(
        st.binary(max_size=12),
        st.sampled_from([b"/a", b"/a/b", b"/b", b"/a1", b"/\xe9", b"/a?x=/b"]),
    ),
    host=st.one_of(
        st.none(),
        st.sampled_from([b"a.example", b"A.EXAMPLE", b"b.example:81", b"b.example", b"x"]),
    ),
    headers=st.lists(
        st.sampled_from(["X-A: 1", "User-Agent: bot", "User-Agent: curl", "Accept: */*"]),
        max_size=3,
    ),
)


@given(services_strategy, st.integers(min_value=0, max_value=5), requests_strategy)
def test_route_agrees_with_the_rules(
    specs: list[tuple[list[ConditionSpec], bool]], split: int, req: Req
) -> None:
    services = [
        svc(f"s{i}", *conditions, disabled=disabled)
        for i, (conditions, disabled) in enumerate(specs)
    ]
    local, global_ = tuple(services[:split]), tuple(services[split:])
    expected = next(
        (
            s
            for s in (*local, *global_)
            if not s.disabled and all(holds(c, req) for c in s.conditions)
        ),
        None,
    )
    assert Router(listener(*local), global_).route(req) is expected
