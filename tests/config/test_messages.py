"""What standby says about Pound's keywords: every one is a keyword or refused with
``"X" is not supported``, never ``unknown keyword``; keywords for machinery standby lacks
are accepted with a warning; directives Pound lets you repeat set their value again."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
import trustme

from standby.config import ConfigError, load_config_text
from standby.config.ignored import IGNORED
from standby.config.schema import (
    KEYWORDS,
    NOT_SUPPORTED,
    UNSUPPORTED,
    Section,
    lookup,
    refusal,
)
from standby.model import TlsProtocol
from tests.tls.support import write_cert

STATEMENTS = Path(__file__).with_name("pound_statements.txt")
RUN_TIMEOUT = 60.0  # generous bound for one `standby -c` on a loaded machine

BACKEND = "    BackEnd\n      Address 127.0.0.1\n      Port 8081\n    End\n"


def statements() -> list[tuple[str, str]]:
    """(section, name) for every line of pound_statements.txt."""
    found = []
    for line in STATEMENTS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            section, *names = line.split()
            found.extend((section, name) for name in names)
    return found


def wrap(section: str, line: str) -> str:
    """A small configuration with ``line`` in a section of kind ``section`` (a section
    keyword with its ``End``)."""
    where = Section.SERVICE if section in ("service", "condition") else None
    keyword = lookup(line.split()[-1], where)
    # A section keyword with its `End`, unless it is the one-line form there (`Control`
    # in a Service is a backend; at the top level it opens a section).
    if (
        keyword is not None
        and keyword.opens is not None
        and (where is None or where in keyword.sections)
        and " " not in line
    ):
        line += "\nEnd"
    if section == "global":
        return line + "\n"
    if section == "listener":
        return f"ListenHTTP\n  {line}\nEnd\n"
    if section == "https":
        return f"ListenHTTPS\n  {line}\nEnd\n"
    if section in ("service", "condition"):
        return f"ListenHTTP\n  Service\n    {line}\n{BACKEND}  End\nEnd\n"
    if section == "backend":
        return f"ListenHTTP\n  Service\n    BackEnd\n      {line}\n    End\n  End\nEnd\n"
    assert section == "control"
    return f"Control\n  {line}\nEnd\n"


# Sections standby does not have: their statements are checked by name only.
NAME_ONLY = ("lua", "session", "resolver", "rewrite", "tunnel", "pound2")


def message(text: str) -> str:
    try:
        load_config_text(text, "t.cfg")
    except ConfigError as exc:
        return exc.message
    return ""


@pytest.mark.parametrize(("section", "name"), statements())
def test_every_pound_statement_is_a_keyword_or_not_supported(section: str, name: str) -> None:
    if section in NAME_ONLY:
        known = lookup(name) is not None
        assert known or name in UNSUPPORTED or name in NOT_SUPPORTED, name
        return
    said = message(wrap(section, name))
    assert "unknown keyword" not in said, said
    assert "is not allowed" not in said, said
    assert "must be followed by a condition" not in said, said
    if section == "condition" and name != "Not":
        said = message(wrap(section, f"Not {name}"))
        assert "unknown keyword" not in said and "must be followed" not in said, said


def test_the_statement_list_is_parsed() -> None:
    # The list is the test's input: an empty or misread file would pass every case.
    found = statements()
    assert len(found) > 190
    assert ("global", "LogLevel") in found and ("pound2", "HAport") in found


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('LuaMatch "f"', 't.cfg:3.5: "LuaMatch" is not supported: standby has no Lua'),
        ('LuaBackend "f"', 't.cfg:3.5: "LuaBackend" is not supported: standby has no Lua'),
        ('Not LuaMatch "f"', 't.cfg:3.9: "LuaMatch" is not supported: standby has no Lua'),
        ("Not ClientCert", 't.cfg:3.9: missing argument for "ClientCert": expected file'),
        ('Not Colour "red"', 't.cfg:3.9: "Not" must be followed by a condition'),
        ("Colour 1", 't.cfg:3.5: unknown keyword "Colour"'),
    ],
)
def test_service_messages(line: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text(wrap("service", line), "t.cfg")
    assert str(info.value).startswith(expected)


@pytest.mark.parametrize("name", ["Lua", "Load", "LoadGlobal", "CPath", "BackendStats"])
def test_top_level_pound_words_are_never_unknown(name: str) -> None:
    said = message(f"{name} 1\n")
    assert "unknown keyword" not in said
    if name in NOT_SUPPORTED:
        assert said == f'"{name}" is not supported: standby has no Lua interpreter; ' + (
            "write the logic as conditions, or in a backend"
        )


def test_refusal_is_none_for_keywords_and_for_words_pound_lacks() -> None:
    assert refusal("LogLevel", Section.TOP) is None
    assert refusal("Colour", Section.TOP) is None
    assert refusal("lua", Section.SERVICE) == '"Lua" is not supported: ' + NOT_SUPPORTED["Lua"]


GOOD = "ListenHTTP\n  Address 127.0.0.1\n  Port 8080\n  Service\n" + BACKEND + "  End\nEnd\n"


def test_a_global_given_twice_takes_the_last_value() -> None:
    # Pound 4.23 accepts LogLevel on line 1 and again on line 3; the last one wins.
    config = load_config_text("LogLevel 1\nAlive 7\nLogLevel 3\n" + GOOD, "t.cfg")
    assert config.log_level == 3
    assert config.alive == 7


def test_a_backend_keyword_given_twice_takes_the_last_value() -> None:
    text = GOOD.replace(
        "      Port 8081\n",
        "      Port 8081\n      Port 8082\n      Priority 2\n      Priority 4\n",
    )
    backend = load_config_text(text, "t.cfg").listeners[0].services[0].backends[0]
    assert (backend.port, backend.priority) == (8082, 4)


def test_a_listener_keyword_given_twice_takes_the_last_value() -> None:
    text = GOOD.replace("  Port 8080\n", "  Port 8080\n  xHTTP 1\n  Port 8090\n  xHTTP 2\n")
    listener = load_config_text(text, "t.cfg").listeners[0]
    assert listener.port == 8090
    assert b"PROPFIND" in listener.methods


def test_disable_given_twice_keeps_the_stronger(tmp_path: Path) -> None:
    # Pound adds each Disable to what is disabled: the one disabling more protocols stays.
    cert = write_cert(trustme.CA(), tmp_path / "www.pem", "www.example.com")
    for first, then in (("TLSv1_2", "TLSv1"), ("TLSv1", "TLSv1_2")):
        text = (
            f'ListenHTTPS\n  Address 127.0.0.1\n  Port 8443\n  Cert "{cert}"\n'
            f"  Disable {first}\n  Disable {then}\n  Service\n{BACKEND}  End\nEnd\n"
        )
        tls = load_config_text(text, "t.cfg").listeners[0].tls
        assert tls is not None
        assert tls.min_protocol is TlsProtocol.TLSv1_3


def test_ignored_keywords_load_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    rows = {keyword.name: keyword for keyword in KEYWORDS if keyword.name in IGNORED}
    assert set(rows) == set(IGNORED)
    lines = []
    for name, keyword in rows.items():
        if Section.TOP in keyword.sections:
            lines.append(f"{name} {example(keyword.help)}")
    text = (
        "\n".join(lines)
        + "\n"
        + GOOD.replace("      Port 8081\n", "      Port 8081\n      HAport 8082\n").replace(
            "  Service\n", "  Service\n    DynScale 1\n"
        )
    )
    with caplog.at_level(logging.WARNING, logger="standby.config"):
        load_config_text(text, "t.cfg")
    warned = [record.getMessage() for record in caplog.records]
    for name in IGNORED:
        assert any(f": warning: {name} is ignored: {IGNORED[name][1]}" in m for m in warned), name
    assert "t.cfg:1.1: warning: Threads is ignored: standby runs one event loop per worker" in (
        "\n".join(warned)
    )


def example(help_text: str) -> str:
    """The argument of the `Name value` example at the end of a keyword's help."""
    quoted = help_text.rsplit("`", 2)[1]
    return quoted.split(" ", 1)[1]


def test_check_prints_the_warnings(tmp_path: Path) -> None:
    path = tmp_path / "pound.cfg"
    path.write_text("Threads 8\nSupervisor 1\n" + GOOD)
    done = subprocess.run(
        [sys.executable, "-m", "standby", "-c", "-f", str(path)],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"{path}:1.1: warning: Threads is ignored: standby runs one event loop" in done.stderr
    assert f"{path}:2.1: warning: Supervisor is ignored" in done.stderr


def in_service(line: str) -> str:
    """GOOD with ``line`` first in its service (line 5)."""
    return GOOD.replace("  Service\n", f"  Service\n    {line}\n")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('TBF "k" 5x 10', 't.cfg:5.13: bad rate "5x" for "TBF"'),
        ('TBF "k" 1/0s 10', 't.cfg:5.13: bad rate "1/0s" for "TBF"'),
        ('TBF "k" 5 0', 't.cfg:5.15: value 0 for "TBF" is out of range'),
        ('TBF "k" 5', 't.cfg:5.5: missing argument for "TBF": expected burst'),
    ],
)
def test_tbf_errors(line: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text(in_service(line), "t.cfg")
    assert str(info.value).startswith(expected)


def test_tbf_compiles_its_rate_and_key() -> None:
    config = load_config_text(in_service('Not TBF "%[remoteip]-x" 200/500ms 7'), "t.cfg")
    (condition,) = config.listeners[0].services[0].conditions
    assert condition.negate and condition.argument == "%[remoteip]-x"
    assert condition.tbf is not None
    assert (condition.tbf.tokens, condition.tbf.period_ns, condition.tbf.burst) == (
        200,
        500_000_000,
        7,
    )
    assert condition.tbf.interval_ns == 2_500_000


def test_forwarded_header_and_trusted_ip_given_twice_take_the_last() -> None:
    acls = 'ACL "n"\n  "127.0.0.1"\nEnd\nACL "m"\n  "10.0.0.0/8"\nEnd\n'
    repeated = 'TrustedIP "n"\nForwardedHeader "X-A"\nTrustedIP "m"\nForwardedHeader "X-B"\n'
    text = acls + repeated + GOOD.replace("  Service\n", '  Service\n    ACL -forwarded "n"\n')
    (condition,) = load_config_text(text, "t.cfg").listeners[0].services[0].conditions
    assert condition.forwarded is not None and condition.forwarded.trusted is not None
    assert (condition.forwarded.header, condition.forwarded.trusted.name) == (b"x-b", "m")
