"""Every configuration error, with its exact ``FILE:LINE.COL: message``."""

from __future__ import annotations

from pathlib import Path

import pytest

from standby.config import ConfigError, load_config, load_config_text

GOOD_TAIL = """\
ListenHTTP
  Address 127.0.0.1
  Port 8080
  Service
    BackEnd
      Address 127.0.0.1
      Port 8081
    End
  End
End
"""


def error_of(text: str, base_dir: str | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config_text(text, "t.cfg", base_dir)
    error = info.value
    assert str(error) == f"{error.file}:{error.line}.{error.col}: {error.message}"
    return str(error)


def service(body: str) -> str:
    """A config whose only service has ``body`` (indented two spaces, at line 5)."""
    return f"ListenHTTP\n  Address 127.0.0.1\n  Port 8080\n  Service\n{body}  End\nEnd\n"


def backend(body: str) -> str:
    """A config whose only backend has ``body`` (starting at line 6)."""
    return service(f"    BackEnd\n{body}    End\n")


CASES = [
    # unknown keyword, wrong section, not supported
    ("Foo 1\n", 't.cfg:1.1: unknown keyword "Foo"'),
    ("  Bogus\n", 't.cfg:1.3: unknown keyword "Bogus"'),
    ("Port 80\n", 't.cfg:1.1: "Port" is not allowed at the top level'),
    # Pound's quoted strings: a bare word is refused where Pound refuses it
    ("User 10\n", 't.cfg:1.6: the name for "User" is a quoted string: write "10"'),
    (
        "Include conf.d/*.cfg\n",
        't.cfg:1.9: the file for "Include" is a quoted string: write "conf.d/*.cfg"',
    ),
    (service("    Priority 3\n"), 't.cfg:5.5: "Priority" is not allowed in Service'),
    (
        service("    Emergency\n      Priority 2\n    End\n"),
        't.cfg:6.7: "Priority" is not allowed in Emergency',
    ),
    (backend('      Redirect "http://x"\n'), 't.cfg:6.7: "Redirect" is not allowed in BackEnd'),
    ("Session\n", 't.cfg:1.1: "Session" is not allowed at the top level'),
    (service("    session\n    End\n"), 't.cfg:5.5: Session needs a "Type"'),
    ('ListenHTTPS\n  ACME "/x"\n', 't.cfg:2.3: "ACME" is not allowed in ListenHTTPS'),
    ('ListenHTTP\n  Cert "/x"\n', 't.cfg:2.3: "Cert" is not allowed in ListenHTTP'),
    (service('    HeadRemove "X-(A"\n'), 't.cfg:5.16: bad regex "X-(A": unmatched ('),
    (
        backend('      Address 127.0.0.1\n      Port 8081\n      Cert "c.pem"\n'),
        't.cfg:8.7: "Cert" must come after "HTTPS"',
    ),
    (
        service('    UseBackend "nope"\n'),
        't.cfg:5.16: no global backend named "nope" (defined: none)',
    ),
    # arguments
    ("User\n", 't.cfg:1.1: missing argument for "User": expected name'),
    (service("    Redirect\n"), 't.cfg:5.5: missing argument for "Redirect": expected url'),
    (service("    ErrorFile 503\n"), 't.cfg:5.5: "ErrorFile" is not allowed in Service'),
    ("ListenHTTP\n  ErrorFile 503\n", 't.cfg:2.3: missing argument for "ErrorFile": expected file'),
    ("Alive 1 2\n", 't.cfg:1.9: too many arguments for "Alive"'),
    (service("    Not\n"), 't.cfg:5.5: missing argument for "Not": expected a condition'),
    (
        service("    Not BackEnd\n"),
        't.cfg:5.9: "Not" must be followed by a condition (URL, Path, Host, Header, '
        "HeadRequire, HeadDeny, Query, QueryParam, Method, StringMatch, BasicAuth, "
        'ACL, Match, ClientCert, Eval, TBF), not "BackEnd"',
    ),
    (
        service('    Not Not URL "a"\n'),
        't.cfg:5.9: "Not" must be followed by a condition (URL, Path, Host, Header, '
        "HeadRequire, HeadDeny, Query, QueryParam, Method, StringMatch, BasicAuth, "
        'ACL, Match, ClientCert, Eval, TBF), not "Not"',
    ),
    ('Not URL "a"\n', 't.cfg:1.1: "Not" is not allowed at the top level'),
    ('User ""\n', 't.cfg:1.6: empty name for "User"'),
    ('"User" "x"\n', 't.cfg:1.1: expected a keyword, found string "User"'),
    # values
    ("Alive 1x\n", 't.cfg:1.7: bad duration "1x" for "Alive" (use e.g. 90, 1m30s, 2h, 1d)'),
    ("Alive 30s1m\n", 't.cfg:1.7: bad duration "30s1m" for "Alive" (use e.g. 90, 1m30s, 2h, 1d)'),
    ("Alive 0\n", 't.cfg:1.7: duration for "Alive" must be more than 0 seconds'),
    (
        "Daemon maybe\n",
        't.cfg:1.8: bad boolean "maybe" for "Daemon" (use 0/1, yes/no, true/false, on/off)',
    ),
    (
        "ListenHTTP\n  MaxRequest 10q\n",
        't.cfg:2.14: bad size "10q" for "MaxRequest" (use e.g. 512, 64k, 10m, 1g)',
    ),
    ("ListenHTTP\n  Port 8o\n", 't.cfg:2.8: bad number "8o" for "Port"'),
    ("ListenHTTP\n  Port -1\n", 't.cfg:2.8: bad number "-1" for "Port"'),
    ("ListenHTTP\n  Port 70000\n", 't.cfg:2.8: value 70000 for "Port" is out of range 1..65535'),
    ("ListenHTTP\n  Port 0\n", 't.cfg:2.8: value 0 for "Port" is out of range 1..65535'),
    (backend("      Port 65536\n"), 't.cfg:6.12: value 65536 for "Port" is out of range 1..65535'),
    (backend("      Priority 10\n"), 't.cfg:6.16: value 10 for "Priority" is out of range 1..9'),
    ("ListenHTTP\n  xHTTP 5\n", 't.cfg:2.9: value 5 for "xHTTP" is out of range 0..4'),
    (
        "ListenHTTP\n  RewriteLocation 3\n",
        't.cfg:2.19: value 3 for "RewriteLocation" is out of range 0..2',
    ),
    (
        'ListenHTTP\n  ErrorFile 418 "x"\n',
        "t.cfg:2.13: 418 is not a valid status for "
        '"ErrorFile" (use 400, 401, 403, 404, 405, 408, 413, 414, 429, 431, 500, 501, '
        "502, 503, 504, 505)",
    ),
    (
        service('    Redirect 305 "http://x"\n'),
        't.cfg:5.14: 305 is not a valid code for "Redirect" (use 301, 302, 303, 307, 308)',
    ),
    (
        service('    Redirect "/relative"\n'),
        't.cfg:5.14: bad redirect URL "/relative" (expected http://host... or https://host...)',
    ),
    ("LogFacility local9\n", 't.cfg:1.13: unknown syslog facility "local9"'),
    (
        "LogLevel 6\n",
        't.cfg:1.10: bad log level "6" (use 0..5, null, regular, extended, '
        "vhost_combined, combined, detailed or a LogFormat name)",
    ),
    (
        "ListenHTTP\n  Address /tmp/sock\n",
        't.cfg:2.11: bad address "/tmp/sock" (expected an IP address or host name)',
    ),
    (
        backend("      Address bad_host!\n"),
        't.cfg:6.15: bad address "bad_host!" '
        "(expected an IP address, host name or UNIX socket path)",
    ),
    (
        backend("      Address 300.1.1.1\n"),
        't.cfg:6.15: bad address "300.1.1.1" '
        "(expected an IP address, host name or UNIX socket path)",
    ),
    # regexes
    (service('    URL "a(b"\n'), 't.cfg:5.9: bad regex "a(b": unmatched ('),
    (
        service('    HeadRequire "[[:alpah:]]"\n'),
        't.cfg:5.17: bad regex "[[:alpah:]]": unknown character class [:alpah:]',
    ),
    (service('    Header "*x"\n'), 't.cfg:5.12: bad regex "*x": repetition with nothing to repeat'),
    (service('    URL "\\\\d+"\n'), 't.cfg:5.9: bad regex "\\\\d+": undefined escape \\d'),
    (service('    Path "[a"\n'), 't.cfg:5.10: bad regex "[a": unmatched ['),
    (service('    HeadDeny "a{2,1}"\n'), 't.cfg:5.14: bad regex "a{2,1}": bad interval'),
    ('ListenHTTP\n  CheckURL "x{"\n', 't.cfg:2.12: bad regex "x{": unmatched {'),
    # nesting
    ("ListenHTTP\n  Address 127.0.0.1\n", 't.cfg:1.1: missing "End" for "ListenHTTP"'),
    (
        "ListenHTTP\n  Service\n    BackEnd\n      Port 1\n",
        't.cfg:3.5: missing "End" for "BackEnd"',
    ),
    # A forgotten End is noticed where the nesting runs out: here, the listener's.
    (
        service("    BackEnd\n      Address 127.0.0.1\n"),
        't.cfg:1.1: missing "End" for "ListenHTTP"',
    ),
    ("End\n", 't.cfg:1.1: stray "End": no section is open'),
    (GOOD_TAIL + "End\n", 't.cfg:11.1: stray "End": no section is open'),
    ("ListenHTTP\nEnd now\n", 't.cfg:2.5: unexpected argument after "End"'),
    # duplicates: standby's own keywords, and what Pound refuses twice too (Pound's other
    # keywords given twice: the last wins, tests/config/test_messages.py)
    ("Workers 1\nworkers 2\n", 't.cfg:2.1: duplicate "Workers" (first given at t.cfg:1.1)'),
    (
        'ListenHTTP\n  Address 127.0.0.1\n  Port 8080\n  CheckURL "^/"\n  CheckURL "^/a"\n',
        't.cfg:5.3: duplicate "CheckURL" (first given at t.cfg:4.3)',
    ),
    # required sections and keywords
    (
        "ListenHTTP\n  Address 127.0.0.1\n  Port 1\nEnd\n",
        "t.cfg:1.1: ListenHTTP has no Service (and there is no global Service)",
    ),
    (backend("      Port 1\n"), 't.cfg:5.5: BackEnd needs an "Address"'),
    (
        backend("      Address /run/x.sock\n      Port 80\n"),
        't.cfg:7.7: "Port" cannot be used with a UNIX socket address',
    ),
    # lexical
    ('User "pound\n', "t.cfg:1.6: unterminated string"),
    ('User "pound\\"\n', "t.cfg:1.6: unterminated string"),
]


@pytest.mark.parametrize(("text", "message"), CASES)
def test_error_message(text: str, message: str) -> None:
    assert error_of(text) == message


def test_error_attributes() -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text("\n\n   Foo\n", "x.cfg")
    error = info.value
    assert (error.file, error.line, error.col) == ("x.cfg", 3, 4)
    assert error.message == 'unknown keyword "Foo"'
    assert isinstance(error, Exception)


def test_messages_stay_on_one_line() -> None:
    assert error_of("Fo\x01o 1\n") == 't.cfg:1.1: unknown keyword "Fo\\x01o"'


def test_an_error_page_given_twice_takes_the_last(tmp_path: Path) -> None:
    # Pound 4.23 accepts Err503 and ErrorFile 503 in one listener: the last one counts.
    (tmp_path / "old.html").write_text("old")
    (tmp_path / "new.html").write_text("new")
    text = GOOD_TAIL.replace(
        "  Port 8080\n", '  Port 8080\n  Err503 "old.html"\n  ErrorFile 503 "new.html"\n'
    )
    config = load_config_text(text, "t.cfg", str(tmp_path))
    assert dict(config.listeners[0].error_pages)[503] == b"new"


def test_missing_error_page(tmp_path: Path) -> None:
    text = GOOD_TAIL.replace("  Port 8080\n", '  Port 8080\n  ErrorFile 404 "gone.html"\n')
    missing = tmp_path / "gone.html"
    assert error_of(text, str(tmp_path)) == (
        f't.cfg:4.17: cannot read "{missing}": No such file or directory'
    )


def test_error_page_too_large(tmp_path: Path) -> None:
    big = tmp_path / "big.html"
    big.write_bytes(b"x" * ((1 << 20) + 1))
    text = GOOD_TAIL.replace("  Port 8080\n", '  Port 8080\n  Err500 "big.html"\n')
    assert error_of(text, str(tmp_path)) == (
        f't.cfg:4.10: error page "{big}" is too large (over 1048576 bytes)'
    )


def test_invalid_utf8(tmp_path: Path) -> None:
    path = tmp_path / "bad.cfg"
    path.write_bytes(b'Alive 5\nUser "\xff"\n')
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert str(info.value) == f"{path}:2.7: not valid UTF-8"
