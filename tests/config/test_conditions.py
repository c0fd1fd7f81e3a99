"""Compiling conditions (config/conditions.py): flags, blocks, ACLs, BasicAuth, and the
``FILE:LINE.COL`` of every kind of bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from standby.config import load_config, load_config_text
from standby.config.errors import ConfigError
from standby.config.pattern import CompiledPattern, PcrePattern
from standby.model import ConditionKind, ConditionSpec


def service(body: str, top: str = "") -> str:
    return (
        f"{top}\nListenHTTP\n  Address 127.0.0.1\n  Port 8080\n  Service\n{body}\n"
        "    BackEnd\n      Address 127.0.0.1\n      Port 9000\n    End\n  End\nEnd\n"
    )


def compiled(body: str, top: str = "") -> tuple[ConditionSpec, ...]:
    return load_config_text(service(body, top)).listeners[0].services[0].conditions


def error(body: str, top: str = "") -> str:
    with pytest.raises(ConfigError) as info:
        load_config_text(service(body, top), "t.cfg")
    return str(info.value)


def test_flags_compile_to_literal_eres_and_keep_the_pattern_as_written() -> None:
    (c,) = compiled('    Path -beg "/a.b"')
    assert c.kind is ConditionKind.PATH and c.pattern == "/a.b"
    assert isinstance(c.regex, CompiledPattern) and c.regex.source == "^/a\\.b"
    (c,) = compiled('    URL -icase -contain "x"')
    assert isinstance(c.regex, CompiledPattern) and c.regex.ignore_case
    (c,) = compiled('    Host -pcre "^www"')
    assert isinstance(c.regex, PcrePattern) and c.regex.ignore_case  # Host is caseless
    (c,) = compiled('    Host "Example.com"')
    assert c.regex is None  # the plain comparison routing makes itself


def test_regex_type_and_ignore_case_apply_to_what_follows() -> None:
    text = (
        "RegexType pcre\nIgnoreCase 1\nListenHTTP\n  Address 127.0.0.1\n  Port 1\n  Service\n"
        '    Path "^/a"\n    BackEnd\n      Address 127.0.0.1\n      Port 2\n    End\n  End\nEnd\n'
        'RegexType posix\nIgnoreCase 0\nService\n  Path "^/b"\n  BackEnd\n    Address 127.0.0.1\n'
        "    Port 3\n  End\nEnd\n"
    )
    config = load_config_text(text)
    first = config.listeners[0].services[0].conditions[0].regex
    second = config.services[0].conditions[0].regex
    assert isinstance(first, PcrePattern) and first.ignore_case
    assert isinstance(second, CompiledPattern) and not second.ignore_case


def test_blocks_and_negation() -> None:
    block = '    Not Match OR\n      Host "a"\n      Match\n        URL "b"\n      End\n    End'
    (c,) = compiled(block)
    assert c.kind is ConditionKind.MATCH and c.negate and c.any_of
    assert [child.kind for child in c.children] == [ConditionKind.HOST, ConditionKind.MATCH]
    assert not c.children[1].any_of  # Match alone is AND
    (c,) = compiled('    HeadDeny "^X-A:"')
    assert c.kind is ConditionKind.HEADER and c.negate


def test_named_and_file_acls_and_trusted_ip(tmp_path: Path) -> None:
    (tmp_path / "nets").write_text("# comment\n10.0.0.0/8\n\n::1 # trailing\n")
    top = f'ACL "a"\n  "192.0.2.0/24"\nEnd\nACL "f" -file "{tmp_path / "nets"}"\nTrustedIP "a"'
    a, f, fwd = compiled('    ACL "a"\n    ACL "f"\n    ACL -forwarded "a"', top)
    assert a.acl is not None and a.acl.name == "a" and len(a.acl.networks) == 1
    assert f.acl is not None and len(f.acl.networks) == 2
    assert a.forwarded is None
    assert fwd.forwarded is not None and fwd.forwarded.trusted == a.acl
    assert fwd.forwarded.header == b"x-forwarded-for"


def test_basic_auth_reads_the_file(tmp_path: Path) -> None:
    (tmp_path / "users").write_text("# users\nann:plain\n")
    (c,) = compiled(f'    BasicAuth "{tmp_path / "users"}"')
    assert c.users is not None and c.users.verify(b"ann", b"plain")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('    Path "^(a"', 't.cfg:6.10: bad regex "^(a"'),
        ('    Path -nope "a"', 't.cfg:6.10: unknown option "-nope" for "Path"'),
        ("    Path -beg", 't.cfg:6.10: missing pattern for "Path"'),
        ('    Path "a" "b"', 't.cfg:6.14: too many arguments for "Path"'),
        ('    URL "a" -icase', 't.cfg:6.13: too many arguments for "URL"'),
        ('    Path -file "/nonexistent/x"', "t.cfg:6.16: cannot read pattern file"),
        ('    ACL "nobody"', 't.cfg:6.9: no ACL named "nobody"'),
        ('    ACL\n      "1.2.3.4/40"\n    End', 't.cfg:7.7: bad mask length in "1.2.3.4/40"'),
        ('    BasicAuth "/nonexistent/htpasswd"', "t.cfg:6.15: cannot read htpasswd file"),
        ('    QueryParam "x" -decode', 't.cfg:6.20: missing pattern for "QueryParam"'),
        ('    URL -decode "x"', 't.cfg:6.9: unknown option "-decode" for "URL"'),
        ("    Match XOR\n    End", 't.cfg:6.11: bad op "XOR" for "Match" (use and or or)'),
        ('    Eval "none"', 't.cfg:6.10: no Condition named "none"'),
        ("    BasicAuth -file", 't.cfg:6.5: expected "BasicAuth [-file] FILE"'),
    ],
)
def test_errors_point_at_the_token(body: str, message: str) -> None:
    assert message in error(body)


def test_errors_inside_files_point_at_their_line(tmp_path: Path) -> None:
    (tmp_path / "patterns").write_text("ok\n\n  (bad\n")
    (tmp_path / "nets").write_text("10.0.0.0/8\nnot-a-net\n")
    (tmp_path / "users").write_text("ann:x\n\nbroken\n")
    cases = {
        f'    Path -file "{tmp_path / "patterns"}"': f"{tmp_path / 'patterns'}:3.3: bad regex",
        f'    ACL -file "{tmp_path / "nets"}"': f"{tmp_path / 'nets'}:2.1: bad address",
        f'    BasicAuth "{tmp_path / "users"}"': f"{tmp_path / 'users'}:3.1: bad htpasswd line",
    }
    for body, message in cases.items():
        assert message in error(body)


def test_relative_files_are_read_beside_the_configuration(tmp_path: Path) -> None:
    (tmp_path / "paths").write_text("/a\n")
    config = tmp_path / "standby.cfg"
    config.write_text(service('    Path -beg -file "paths"'))
    (c,) = load_config(str(config)).listeners[0].services[0].conditions
    assert c.kind is ConditionKind.MATCH and c.any_of and c.children[0].pattern == "/a"


def test_duplicate_named_acl() -> None:
    top = 'ACL "a"\n  "10.0.0.0/8"\nEnd\nACL "a"\n  "10.0.0.0/8"\nEnd'
    assert 't.cfg:4.1: duplicate ACL "a" (first at t.cfg:1.1)' in error('    ACL "a"', top)


def test_eval_keeps_the_groups_of_a_detached_condition_inside() -> None:
    from standby.routing import match_conditions
    from tests.test_routing_conditions import Req

    found = compiled('    Path "^/(a)"\n    Eval "c"', 'Condition "c"\n  URL "^/(.)"\nEnd')
    captures = match_conditions(found, Req(target=b"/ab"))
    assert (
        captures is not None and captures.group(1) == b"a" and captures.groups == ((b"/a", b"a"),)
    )


@pytest.mark.parametrize(
    ("body", "fine"),
    [
        ('    URL "^/(a)(b)"\n    Redirect "http://x/$2$1$0"', True),
        ('    URL "^/(a)"\n    Redirect "http://x/$2"', False),
        ('    URL "^/(a)"\n    Host "h"\n    Redirect "http://x/$1(1)"', True),
        ('    URL "^/(a)"\n    Host "h"\n    Redirect "http://x/$1"', False),  # Host's
        (
            '    URL "^/(a)"\n    Not Path "b"\n    ACL\n    "::1"\n    End\n    Redirect "http://x/$1"',
            True,
        ),
        ('    Match OR\n      URL "(a)"\n      URL "b"\n    End\n    Redirect "http://x/$1"', True),
        ('    Redirect "http://x/$$1"', True),
    ],
)
def test_redirect_references_to_missing_groups_load_as_in_pound(body: str, fine: bool) -> None:
    # Pound 4.23 checks references when it expands them (a request), not at load: `pound
    # -c` and a start accept each of these. ``fine``: every group named exists.
    text = f"ListenHTTP\n  Address 127.0.0.1\n  Port 8080\n  Service\n{body}\n  End\nEnd\n"
    assert load_config_text(text, "t.cfg").listeners[0].services[0].backends
