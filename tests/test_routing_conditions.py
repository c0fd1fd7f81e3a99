"""Issue 15's conditions in routing.py (pure): match flags against a reference made of
Python's own string operations, ACL membership against ``ipaddress``, the forwarded chain,
Match blocks, back-references and expansions, and that the classic kinds pay nothing."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from standby.acl import acl_contains, client_address, make_acl, parse_cidr
from standby.config import load_config_text
from standby.config.pattern import compile_pattern
from standby.config.posix_regex import compile_ere
from standby.model import (
    UNKNOWN_LOCATION,
    ConditionSpec,
    ForwardedSpec,
    ListenerSpec,
    ServiceSpec,
)
from standby.routing import (
    Captures,
    Router,
    expand,
    has_expansions,
    is_literal,
    match_conditions,
)


@dataclass
class Req:
    """A request head as the http1 layer exposes it (RequestView)."""

    target: bytes = b"/"
    host: bytes | None = b"www.example.com"
    method: bytes = b"GET"
    headers: dict[bytes, bytes] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return self.target.partition(b"?")[0].decode("latin-1")

    def header(self, name: bytes) -> bytes | None:
        return self.headers.get(name.lower())

    def header_block(self) -> tuple[bytes, bytes]:
        lines = [b"Host: " + self.host] if self.host is not None else []
        lines += [name + b": " + value for name, value in self.headers.items()]
        block = b"\n".join(lines)
        return block, block.lower()


def conditions(text: str, top: str = "") -> tuple[ConditionSpec, ...]:
    """The conditions of one service written as ``text``."""
    config = load_config_text(
        f"{top}\nListenHTTP\n Address 127.0.0.1\n Port 8080\n Service\n{text}\n"
        " BackEnd\n Address 127.0.0.1\n Port 9000\n End\n End\nEnd\n"
    )
    return config.listeners[0].services[0].conditions


def holds(text: str, req: Req, peer: str = "127.0.0.1", top: str = "") -> bool:
    """Whether the service routes ``req``; checked against match_conditions too."""
    found = conditions(text, top)
    service = ServiceSpec(name="s", conditions=found)
    routed = Router(_listener(service)).route(req, peer) is service
    assert routed == (match_conditions(found, req, peer) is not None)
    return routed


def _listener(service: ServiceSpec) -> ListenerSpec:
    return ListenerSpec(name=None, address="127.0.0.1", port=8080, services=(service,))


def quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


PATHS = st.text(alphabet="/abcAB.-x(", min_size=1, max_size=12).map(lambda s: "/" + s)
NEEDLES = st.text(alphabet="/abcAB.-x(", min_size=1, max_size=4)


@given(PATHS, NEEDLES, st.booleans())
def test_string_flags_mean_python_string_operations(path: str, needle: str, icase: bool) -> None:
    flag = " -icase" if icase else ""
    fold = (lambda s: s.lower()) if icase else (lambda s: s)
    req = Req(target=path.encode())
    p, n = fold(path), fold(needle)
    q = quoted(needle)
    assert holds(f'Path{flag} -exact "{q}"', req) == (p == n)
    assert holds(f'Path{flag} -beg "{q}"', req) == p.startswith(n)
    assert holds(f'Path{flag} -end "{q}"', req) == p.endswith(n)
    assert holds(f'Path{flag} -contain "{q}"', req) == (n in p)


@given(PATHS, NEEDLES)
def test_not_inverts_and_match_or_and_combine(path: str, needle: str) -> None:
    req = Req(target=path.encode())
    q = quoted(needle)
    beg, end = path.startswith(needle), path.endswith(needle)
    assert holds(f'Not Path -beg "{q}"', req) == (not beg)
    either = f'Match OR\n Path -beg "{q}"\n Path -end "{q}"\n End'
    assert holds(either, req) == (beg or end)
    both = f'Match AND\n Path -beg "{q}"\n Not Path -end "{q}"\n End'
    assert holds(both, req) == (beg and not end)
    assert holds("Not " + either, req) == (not (beg or end))


def test_defaults_per_kind() -> None:
    assert holds('Host "WWW.Example.com"', Req())  # exact and caseless
    assert not holds('Host "example.com"', Req())
    assert holds('Header "^HOST: www"', Req())  # Header: caseless regex
    assert not holds('URL "^/A"', Req(target=b"/a"))  # URL: case-sensitive
    assert holds('URL "^/A"', Req(target=b"/a"), top="IgnoreCase 1")
    assert not holds('Method "get"', Req())  # Method: case-sensitive, as Pound
    assert holds('Method -icase "get"', Req())
    assert holds('Query "^a=1"', Req(target=b"/p?a=1&b=2"))
    assert not holds('Query "p"', Req(target=b"/p?a=1"))


def test_query_param_first_value_and_decode() -> None:
    req = Req(target=b"/?x=1&name=J%C3%B6rg&x=2")
    assert holds('QueryParam "x" -exact "1"', req)
    assert not holds('QueryParam "x" -exact "2"', req)  # the first one
    assert holds('QueryParam "name" -decode -exact "J\xc3\xb6rg"', req)
    assert not holds('QueryParam "missing" ".*"', req)


def test_split_header_form_matches_values_of_that_field() -> None:
    req = Req(headers={b"x-tenant": b"blue"})
    assert holds('Header "X-Tenant" -exact "blue"', req)
    assert not holds('Header "X-Other" ".*"', req)


def test_pcre_patterns() -> None:
    assert holds('URL -pcre "^/(?!admin)\\\\w+$"', Req(target=b"/shop"))
    assert not holds('URL -pcre "^/(?!admin)\\\\w+$"', Req(target=b"/admin"))
    assert holds('URL "^/\\\\d+$"', Req(target=b"/42"), top="RegexType pcre")


# -- ACLs -----------------------------------------------------------------------------------

V4 = st.integers(0, 2**32 - 1).map(lambda n: str(ipaddress.IPv4Address(n)))
V6 = st.integers(0, 2**128 - 1).map(lambda n: str(ipaddress.IPv6Address(n)))


@given(st.one_of(V4, V6), st.one_of(V4, V6), st.integers(0, 128))
def test_acl_membership_is_ipaddress_membership(net: str, address: str, length: int) -> None:
    bits = 32 if ":" not in net else 128
    length = min(length, bits)
    acl = make_acl("t", [f"{net}/{length}"], UNKNOWN_LOCATION)
    network = ipaddress.ip_network(f"{net}/{length}", strict=False)
    ip = ipaddress.ip_address(address)
    assert acl_contains(acl, address) == (ip.version == network.version and ip in network)


def test_acl_matches_ipv4_clients_seen_through_ipv6_sockets() -> None:
    acl = make_acl("t", ["127.0.0.0/8"], UNKNOWN_LOCATION)
    assert acl_contains(acl, "::ffff:127.0.0.1")
    assert not acl_contains(acl, "not an address")


@pytest.mark.parametrize("bad", ["10.0.0.0/33", "::1/129", "10.0.0.300", "host", "10.0.0.0/x"])
def test_bad_cidrs(bad: str) -> None:
    with pytest.raises(ValueError, match="bad"):
        parse_cidr(bad)


@given(st.lists(V4, min_size=1, max_size=5), V4, st.sets(st.integers(0, 4)))
def test_forwarded_chain_is_walked_right_to_left_through_trusted(
    chain: list[str], peer: str, trusted_at: set[int]
) -> None:
    trusted_addresses = [chain[i] for i in trusted_at if i < len(chain)]
    trusted = make_acl("", trusted_addresses or ["192.0.2.255/32"], UNKNOWN_LOCATION)
    spec = ForwardedSpec(b"x-forwarded-for", trusted)
    expected = peer
    for address in reversed(chain):
        if not acl_contains(trusted, address):
            expected = address
            break
    assert client_address(peer, ", ".join(chain).encode(), spec) == expected
    # No TrustedIP: the connection's address, whatever the header says.
    assert client_address(peer, b"198.51.100.1", ForwardedSpec(b"x-forwarded-for", None)) == peer


# -- back-references and expansions ---------------------------------------------------------


def test_captures_most_recent_first_with_tags() -> None:
    found = conditions(
        'Host -tag "h" -re "^(www)\\\\.(.*)$"\nHeader -re "^X-A: (.*)"\nPath "^/s(/.*)?"'
    )
    req = Req(target=b"/static/x", headers={b"x-a": b"one"})
    captures = match_conditions(found, req)
    assert captures is not None
    # The most recent match is Path's: "/s", its optional group unmatched.
    assert (captures.group(0), captures.group(1)) == (b"/s", b"")
    assert captures.group(1, 1) == b"one"
    assert captures.group(2, 2) == b"example.com"
    assert captures.group(1, "h") == b"www"
    assert captures.group(9) == b"" and captures.group(1, 7) == b""


def test_expand_references_accessors_and_escapes() -> None:
    captures = Captures(((b"/a/b", b"a", b"b"), (b"x",)), ("", "t"))
    req = Req(
        target=b"/p/q?k=v&z=1",
        host=b"shop.example:8080",
        headers={b"authorization": b"Basic YW5uOnB3", b"x-y": b"hdr"},
    )
    assert expand("$2/$1|$0(1)|$0(t)|${1}0", captures, req) == b"b/a|x|x|a0"
    assert expand("%[host]%[port]%[path]?%[query]", None, req) == b"shop.example:8080/p/q?k=v&z=1"
    assert expand("%[param k]%[header X-Y]%[user]%[url]", None, req) == b"vhdrann/p/q?k=v&z=1"
    assert expand("$$1 $% 100% $x %[nope] %[remoteip]", None, req, "10.0.0.1") == (
        b"$1 % 100% $x  10.0.0.1"
    )
    assert expand("$1", None, req) == b""


def test_expand_old_percent_references_and_missing_groups() -> None:
    # Pound 4.4's %N is $N(1); "%" and two hex digits is a percent-encoded octet.
    captures = Captures(((b"/a", b"a"), (b"www.x", b"x")), ("", ""))
    req = Req()
    assert expand("%1/$1|%41|%1f|%0", captures, req) == b"x/a|%41|%1f|www.x"
    assert has_expansions("http://%1/") and not has_expansions("http://h/%41%20")
    # References to groups that did not match are told in Pound's words (the caller
    # prefixes `what "template"`); they expand to nothing.
    errors: list[str] = []
    assert expand("http://%1$1${2}$1(5)$0(1)", captures, req, "", errors) == b"http://xawww.x"
    assert errors == [" refers to non-existing group ${2}", " refers to non-existing group $1(5)"]
    errors = []
    expand("http://%1$1", None, req, "", errors)
    assert errors == [" refers to non-existing group %1", " refers to non-existing group $1"]


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("/echo%[url", ": unclosed %[ at offset 5"),
        ("/echo$0", " refers to non-existing group $0"),  # no condition matched
        ("/echo${11bar", ": missing closing brace in reference started at offset 6"),
        ("/echo%{11bar", ": missing closing brace in reference started at offset 6"),
        ("/echo%qbar", ": unescaped % character at offset 6"),
        ("/a$b", ": unescaped % character at offset 3"),  # Pound's words for a "$" too
        ("/echo/$1(1", ": missing closing parenthesis in reference started at offset 7"),
        ("/echo/${1(1}", ": missing closing parenthesis in reference started at offset 7"),
        ("/e/$1(2x)", ": invalid reference number at offset 8"),
        ("/e/$1(nope)", " refers to non-existing group $1(nope)"),
        ("/e/$1(8)", " refers to non-existing group $1(8)"),  # Pound keeps 8 matches
        ("/e/$3", " refers to non-existing group $3"),
    ],
)
def test_expand_tells_what_pound_cannot_expand(template: str, error: str) -> None:
    nine = Captures(tuple((b"m", b"g") for _ in range(9)), ("",) * 9)
    errors: list[str] = []
    expand(template, None if "$0" in template else nine, Req(), "", errors)
    assert errors == [error]
    assert not is_literal(template)


def test_expand_forms_pound_accepts() -> None:
    captures = Captures(tuple((b"m%d" % i, b"g%d" % i) for i in range(9)), ("",) * 8 + ("t",))
    errors: list[str] = []
    # ${N(M)}: the brace holds the match's index; ${N}(M) is group N, then "(M)" as text.
    got = expand("${1(2)}|${1}(2)|$1(7)|%{1}|%1f|$$|$%|%[url]|50%", captures, Req(), "", errors)
    assert got == b"g2|g0(2)|g7|g1|%1f|$|%|/|50%"
    assert expand("a$", captures, Req(), "", errors) == b"a$"  # a last "$" or "%" is itself
    assert errors == []
    # Only the 8 most recent matches are kept: a tag further back is gone.
    expand("$1(t)", captures, Req(), "", errors)
    assert errors == [" refers to non-existing group $1(t)"]
    assert is_literal("/a%20b%") and not is_literal("/a%2") and not is_literal("$$")


# -- no cost for configurations without the new kinds ---------------------------------------


def test_classic_kinds_never_read_what_new_kinds_need() -> None:
    class Strict(Req):
        def header(self, name: bytes) -> bytes | None:
            raise AssertionError("header() read for a classic condition")

    found = conditions('HeadRequire "^Host: www"\nURL "^/"\nPath "/"\nHost "www.example.com"')
    service = ServiceSpec(name="s", conditions=found)
    assert Router(_listener(service)).route(Strict()) is service


ERES = st.sampled_from(
    ["(a|ab)(c|bcd)(d*)", "^/([^/]+)/(.*)$", "(x+)(x*)", "a(b)?c", "([0-9]+)-([0-9]+)", "(.*)\\1"]
)


@given(ERES, st.text(alphabet="abcdx/-0123", max_size=12))
def test_captures_agree_with_search_and_match_the_pattern(source: str, text: str) -> None:
    pattern = compile_pattern(source)
    subject = text.encode()
    groups = pattern.captures(subject)
    assert (groups is not None) == pattern.search(subject, False)
    if groups is not None:
        assert groups[0] in subject
        assert compile_ere(source).fullmatch(groups[0].decode()) is not None
        assert len(groups) == compile_ere(source).groups + 1


GROUPS = st.lists(
    st.lists(st.text(alphabet="abc/", max_size=4).map(str.encode), min_size=1, max_size=3).map(
        tuple
    ),
    max_size=3,
).map(tuple)
PIECES = st.lists(
    st.one_of(
        st.tuples(st.just("text"), st.text(alphabet="ab/?=", max_size=3)),
        st.tuples(st.just("ref"), st.integers(0, 4), st.integers(0, 3)),
        st.tuples(st.just("dollar")),
    ),
    max_size=6,
)


@given(GROUPS, PIECES)
def test_expand_matches_a_reference_built_piece_by_piece(
    groups: tuple[tuple[bytes, ...], ...], pieces: list[tuple[object, ...]]
) -> None:
    captures = Captures(groups, tuple("" for _ in groups))
    template = ""
    expected = b""
    for piece in pieces:
        if piece[0] == "text":
            text = str(piece[1])
            template += text
            expected += text.encode()
        elif piece[0] == "dollar":
            template += "$$"
            expected += b"$"
        else:
            number, which = int(str(piece[1])), int(str(piece[2]))
            template += f"${{{number}({which})}}"  # braces: a digit may follow
            match = groups[which] if which < len(groups) else ()
            expected += match[number] if number < len(match) else b""
    assert expand(template, captures, Req()) == expected
    errors: list[str] = []
    expand(template, captures, Req(), "", errors)
    # Pound's words name the reference up to where it found it wrong: the match's index
    # when there is no such match, else the whole reference.
    known = Captures(groups)
    assert errors == [
        f" refers to non-existing group ${{{p[1]}({p[2]})"
        + ("}" if known.index(int(str(p[2]))) >= 0 else "")
        for p in pieces
        if p[0] == "ref" and not known.has(int(str(p[1])), int(str(p[2])))
    ]
