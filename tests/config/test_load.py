"""Loading whole configurations: the seed, every keyword, defaults and inheritance."""

from __future__ import annotations

from pathlib import Path

import pytest

from standby import model
from standby.config import ConfigError, load_config, load_config_text
from standby.config.pattern import CompiledPattern
from standby.model import BackendKind, ConditionKind, Location, Pattern

# The seed article's /etc/pound.cfg, verbatim except for loopback addresses.
SEED = """\
User "pound"
Group "pound"
LogLevel 1
Alive 60
Daemon 1

ListenHTTP
  Address 127.0.0.2          # the proxy's own address
  Port 80
  Service
    HeadRequire "Host: www.nire.com.*"   # the site's domain name
    BackEnd
      Address 127.0.0.3      # production (active) server
      Port 80
    End
    Emergency
      Address 127.0.0.4      # standby (backup) server
      Port 80
    End
  End
End
"""


def in_lines(pattern: Pattern | None, block: bytes, undecided: bool) -> bool:
    """``search_lines`` as routing calls it: with the block and the block lower-cased."""
    assert pattern is not None
    return pattern.search_lines(block, block.lower(), undecided)


def test_seed_configuration_loads_verbatim(tmp_path: Path) -> None:
    path = tmp_path / "pound.cfg"
    path.write_text(SEED)
    config = load_config(str(path))
    assert (config.user, config.group, config.log_level, config.alive, config.daemon) == (
        "pound",
        "pound",
        1,
        60.0,
        True,
    )
    assert config.source == str(path)
    (listener,) = config.listeners
    assert (listener.address, listener.port) == ("127.0.0.2", 80)
    assert listener.location == Location(str(path), 7, 1)
    (service,) = listener.services
    (condition,) = service.conditions
    assert condition.kind is ConditionKind.HEADER and not condition.negate
    assert condition.pattern == "Host: www.nire.com.*"
    assert condition.regex is not None
    assert in_lines(condition.regex, b"host: WWW.NIRE.COM", False)
    assert in_lines(condition.regex, b"Accept: */*\nHost: www.nire.com:8080", False)
    assert not in_lines(condition.regex, b"Host: www.example.com", False)
    (primary,) = service.backends
    (standby,) = service.emergencies
    assert (primary.address, primary.port, primary.emergency) == ("127.0.0.3", 80, False)
    assert (standby.address, standby.port, standby.emergency) == ("127.0.0.4", 80, True)
    assert primary.location == Location(str(path), 12, 5)
    assert config.services == ()


def test_seed_defaults_are_pounds() -> None:
    config = load_config_text(SEED)
    assert config.client_timeout == model.DEFAULT_CLIENT_TIMEOUT == 10.0
    assert config.timeout == model.DEFAULT_BACKEND_TIMEOUT == 15.0
    assert config.conn_timeout == config.timeout
    assert config.ws_timeout == model.DEFAULT_WS_TIMEOUT == 600.0
    assert config.grace == model.DEFAULT_GRACE == 30.0
    assert config.log_facility == "daemon"
    assert not config.anonymise
    listener = config.listeners[0]
    assert listener.xhttp == 0 and listener.methods == frozenset({b"GET", b"POST", b"HEAD"})
    assert listener.client_timeout == 10.0
    assert listener.rewrite_location == 1
    assert (listener.max_request, listener.max_uri, listener.check_url) == (0, 0, None)
    backend = listener.services[0].backends[0]
    assert backend.priority == model.DEFAULT_PRIORITY == 5
    assert (backend.timeout, backend.conn_timeout, backend.ws_timeout) == (15.0, 15.0, 600.0)
    assert not backend.disabled and backend.kind is BackendKind.PROXY


FULL = """\
# every supported keyword, in mixed case
user "www"
GROUP "www"
RootJail "/var/empty"
daemon off
LogLevel "combined"
LogFacility LOCAL3
Alive 1m30s
Client 20
TimeOut 2m
ConnTO 3s
WSTimeOut 1h
Grace 0
PIDFile "/run/standby.pid"
Anonymize
ListenHTTP "front"
  Address ::1
  Port 8080
  xHTTP 2
  Client 5
  MaxRequest 10m
  MaxURI 8k
  CheckURL "^/[[:alnum:]/._-]*$"
  ErrorFile 503 "e503.html"
  Err404 "e404.html"
  RewriteLocation 2
  Service "static"
    URL "\\.(jpg|gif)$"
    Path "^/img/"
    Host "Example.COM"
    Header "^X-Debug:"
    Not HeadRequire "^Cookie:"
    HeadDeny "^User-Agent: .*bot"
    Not HeadDeny "^X-Allowed:"
    Not URL "^/private"
    BackEnd
      Address /run/app.sock
      Priority 9
      TimeOut 7
      ConnTO 1.5
      WSTimeOut 30s
      Disabled yes
    End
    Backend
      Address backend.internal
      Port 81
    End
    Emergency
      Address 127.0.0.9
      Port 82
      Disabled 0
    End
    Emergency
      Address [::1]
      Port 83
      TimeOut 4
    End
  End
  Service
    Redirect "https://example.com"
    Redirect 308 "http://example.org/x"
    Disabled true
  End
End
Service "fallback"
  Emergency
    Address 127.0.0.1
    Port 90
  End
End
"""


def test_every_keyword(tmp_path: Path) -> None:
    (tmp_path / "e503.html").write_bytes(b"<p>busy</p>\n")
    (tmp_path / "e404.html").write_bytes(b"\x00\xffnot found")
    config = load_config_text(FULL, "full.cfg", str(tmp_path))
    assert (config.user, config.group, config.root_jail) == ("www", "www", "/var/empty")
    assert config.daemon is False
    assert config.log_level == 4
    assert config.log_facility == "local3"
    assert config.alive == 90.0
    assert (config.client_timeout, config.timeout, config.conn_timeout) == (20.0, 120.0, 3.0)
    assert (config.ws_timeout, config.grace) == (3600.0, 0.0)
    assert config.pid_file == "/run/standby.pid"
    assert config.anonymise is True
    (listener,) = config.listeners
    assert (listener.name, listener.address, listener.port) == ("front", "::1", 8080)
    assert listener.xhttp == 2 and b"PROPFIND" in listener.methods and b"PUT" in listener.methods
    assert b"SUBSCRIBE" not in listener.methods
    assert listener.client_timeout == 5.0
    assert (listener.max_request, listener.max_uri) == (10 * 1024 * 1024, 8192)
    assert listener.check_url is not None and listener.check_url.search(b"/a/b.html", False)
    assert not listener.check_url.search(b"/a b", False)
    assert listener.error_page(503) == b"<p>busy</p>\n"
    assert listener.error_page(404) == b"\x00\xffnot found"
    assert listener.error_page(500) is None
    assert listener.rewrite_location == 2

    static, redirects = listener.services
    assert static.name == "static" and not static.disabled
    kinds = [(c.kind, c.pattern, c.negate) for c in static.conditions]
    assert kinds == [
        (ConditionKind.URL, "\\.(jpg|gif)$", False),
        (ConditionKind.PATH, "^/img/", False),
        (ConditionKind.HOST, "Example.COM", False),
        (ConditionKind.HEADER, "^X-Debug:", False),
        (ConditionKind.HEADER, "^Cookie:", True),
        (ConditionKind.HEADER, "^User-Agent: .*bot", True),
        (ConditionKind.HEADER, "^X-Allowed:", False),
        (ConditionKind.URL, "^/private", True),
    ]
    url, path, host, header = static.conditions[:4]
    assert url.regex is not None and url.regex.search(b"/a.jpg", False)
    assert not url.regex.search(b"/a.JPG", False)
    assert path.regex is not None and path.regex.search(b"/img/x", False)
    assert host.regex is None
    assert header.regex is not None and in_lines(header.regex, b"x-debug: 1", False)
    assert static.conditions[4].location == Location("full.cfg", 32, 5)

    unix, named = static.backends
    assert (unix.address, unix.port, unix.unix, unix.priority) == ("/run/app.sock", None, True, 9)
    assert (unix.timeout, unix.conn_timeout, unix.ws_timeout) == (7.0, 1.5, 30.0)
    assert unix.disabled
    assert (named.address, named.port, named.unix) == ("backend.internal", 81, False)
    # Global TimeOut/ConnTO/WSTimeOut are the defaults of backends.
    assert (named.timeout, named.conn_timeout, named.ws_timeout) == (120.0, 3.0, 3600.0)
    first, second = static.emergencies
    assert first.emergency and second.emergency
    assert (first.address, first.port, first.disabled) == ("127.0.0.9", 82, False)
    assert (second.address, second.port, second.timeout) == ("::1", 83, 4.0)
    assert second.describe() == "[::1]:83"

    assert redirects.disabled and redirects.name is None
    assert [(b.kind, b.redirect_code, b.redirect_url) for b in redirects.backends] == [
        (BackendKind.REDIRECT, 302, "https://example.com"),
        (BackendKind.REDIRECT, 308, "http://example.org/x"),
    ]
    (fallback,) = config.services
    assert fallback.name == "fallback" and fallback.backends == ()
    assert fallback.emergencies[0].port == 90


def test_conn_timeout_defaults_to_global_timeout() -> None:
    config = load_config_text("TimeOut 40\n" + SEED)
    backend = config.listeners[0].services[0].backends[0]
    assert (config.conn_timeout, backend.timeout, backend.conn_timeout) == (40.0, 40.0, 40.0)


def test_global_settings_apply_wherever_written() -> None:
    config = load_config_text(SEED + "Client 3\nWSTimeOut 9\n")
    listener = config.listeners[0]
    assert listener.client_timeout == 3.0
    assert listener.services[0].backends[0].ws_timeout == 9.0


def test_listener_may_rely_on_global_services() -> None:
    text = """\
ListenHTTP
  Address 127.0.0.1
  Port 8080
End
Service
  BackEnd
    Address 127.0.0.1
    Port 8081
  End
End
"""
    config = load_config_text(text)
    assert config.listeners[0].services == ()
    assert len(config.services) == 1


def test_anonymise_takes_an_optional_boolean() -> None:
    assert load_config_text("Anonymise 0\n" + SEED).anonymise is False
    assert load_config_text("anonymise on\n" + SEED).anonymise is True


@pytest.mark.parametrize(
    ("level", "expected"),
    [("0", 0), ("5", 5), ('"null"', 0), ("regular", 1), ('"Extended"', 2), ("vhost_combined", 3)],
)
def test_log_level_numbers_and_names(level: str, expected: int) -> None:
    assert load_config_text(SEED.replace("LogLevel 1", f"LogLevel {level}")).log_level == expected


def test_log_facility_dash_means_stderr() -> None:
    assert load_config_text("LogFacility -\n" + SEED).log_facility == "-"


def test_regexes_are_compiled_posix() -> None:
    text = SEED.replace('HeadRequire "Host: www.nire.com.*"', 'URL "^/a[[:space:]]b$"')
    (condition,) = load_config_text(text).listeners[0].services[0].conditions
    assert condition.regex is not None
    assert isinstance(condition.regex, CompiledPattern) and not condition.regex.ignore_case
    assert condition.regex.linear
    assert condition.regex.search(b"/a\tb", False)
    assert not condition.regex.search(b"/a\tb\n", False)


def test_crlf_files_load(tmp_path: Path) -> None:
    path = tmp_path / "dos.cfg"
    path.write_bytes(SEED.replace("\n", "\r\n").encode())
    assert load_config(str(path)).listeners[0].port == 80


def test_missing_main_file(tmp_path: Path) -> None:
    path = str(tmp_path / "nope.cfg")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f'{path}:1.1: cannot read "{path}": No such file or directory'
