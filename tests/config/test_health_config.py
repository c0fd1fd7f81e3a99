"""Issue 4's configuration: health checks, passive checks, resending, stale fallback,
read-only emergency, Control and Metrics; defaults for the seed, and exact errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from standby import model
from standby.config import load_config_text
from standby.config.docgen import EXAMPLE
from standby.model import HealthCheckSpec, PassiveSpec, ResendSpec, StaleSpec
from tests.config.test_errors import error_of
from tests.config.test_load import SEED


def svc(body: str, tail: str = "") -> str:
    """A config whose only service has ``body`` from line 5, then a BackEnd (and
    ``tail`` after it, still in the service)."""
    return (
        "ListenHTTP\n  Address 127.0.0.1\n  Port 8080\n  Service\n"
        f"{body}    BackEnd\n      Address 127.0.0.1\n      Port 8081\n    End\n{tail}"
        "  End\nEnd\n"
    )


def with_emergency(body: str) -> str:
    return svc(body, "    Emergency\n      Address 127.0.0.1\n      Port 8082\n    End\n")


# -- defaults -------------------------------------------------------------------------------


def test_the_seed_gets_passive_checks_and_safe_resending() -> None:
    config = load_config_text(SEED)
    (service,) = config.listeners[0].services
    assert service.passive == PassiveSpec(
        enabled=True, failover_statuses=frozenset({502, 503, 504}), rise=2, fall=3
    )
    assert service.resend == ResendSpec(
        methods=frozenset({b"GET", b"HEAD", b"OPTIONS"}), max_body=64 * 1024, unsafe=False
    )
    assert service.resend.allows(b"GET") and not service.resend.allows(b"POST")
    assert (service.check, service.stale, service.read_only_emergency) == (None, None, None)
    assert not service.metrics
    assert service.retry_after == config.retry_after == 60  # the Alive interval
    for backend in (*service.backends, *service.emergencies):
        assert (backend.check, backend.rise, backend.fall, backend.passive) == (None, 2, 3, True)
    assert (config.control, config.control_mode, config.control_index) == (None, 0o600, None)


def test_a_health_check_with_every_keyword() -> None:
    text = svc(
        "    HealthCheck\n"
        "      Method GET\n"
        '      Path "/health?full=1"\n'
        '      Host "www.example.com:8080"\n'
        "      Status 200,204 301-302\n"
        '      Body "ok|fine"\n'
        "      Interval 1m30s\n"
        "      TimeOut 2.5\n"
        "      Rise 4\n"
        "      Fall 5\n"
        "    End\n"
    )
    service = load_config_text(text, "t.cfg").listeners[0].services[0]
    check = service.check
    assert check is not None
    assert (check.method, check.path, check.host) == (
        b"GET",
        b"/health?full=1",
        b"www.example.com:8080",
    )
    assert check.statuses == ((200, 200), (204, 204), (301, 302))
    assert check.body is not None and check.body.search(b"all fine", False)
    assert (check.interval, check.timeout, check.rise, check.fall) == (90.0, 2.5, 4, 5)
    assert check.location == model.Location("t.cfg", 5, 5)
    (backend,) = service.backends
    assert backend.check == check
    assert (backend.rise, backend.fall) == (4, 5)


def test_a_backend_check_overrides_the_service_check_keyword_by_keyword() -> None:
    text = with_emergency(
        "    Rise 3\n    Fall 4\n"
        '    HealthCheck\n      Path "/ping"\n      Interval 10\n      Fall 2\n    End\n'
    ).replace(
        "      Port 8081\n",
        '      Port 8081\n      HealthCheck\n        Host "a.example"\n        Fall 6\n      End\n',
    )
    service = load_config_text(text).listeners[0].services[0]
    (primary,) = service.backends
    (standby,) = service.emergencies
    assert primary.check == HealthCheckSpec(
        path=b"/ping",
        host=b"a.example",
        interval=10.0,
        rise=3,  # the Service's Rise: no HealthCheck gives one
        fall=6,
        location=primary.check.location if primary.check else model.UNKNOWN_LOCATION,
    )
    assert standby.check is not None
    assert (standby.check.path, standby.check.host, standby.check.fall) == (b"/ping", None, 2)
    assert (primary.rise, primary.fall, standby.rise, standby.fall) == (3, 6, 3, 2)


def test_service_thresholds_apply_without_a_health_check() -> None:
    text = with_emergency("    rise 1\n    FALL 7\n    PassiveChecks 0\n")
    service = load_config_text(text).listeners[0].services[0]
    for backend in (*service.backends, *service.emergencies):
        assert (backend.check, backend.rise, backend.fall, backend.passive) == (None, 1, 7, False)
    assert not service.passive.enabled


def test_resending_and_failover_statuses() -> None:
    text = svc(
        "    FailoverStatus 500 502-504\n    ResendMethods GET PUT\n"
        "    ResendBody 1m\n    ResendUnsafe 1\n"
    )
    service = load_config_text(text).listeners[0].services[0]
    assert service.passive.failover_statuses == frozenset({500, 502, 503, 504})
    assert service.resend == ResendSpec(
        methods=frozenset({b"GET", b"PUT"}), max_body=1 << 20, unsafe=True
    )
    assert service.resend.allows(b"POST")  # unsafe: any method


def test_retry_after_rounds_up_and_is_inherited() -> None:
    text = "RetryAfter 2m\n" + svc("") + svc("    RetryAfter 2.5\n").replace("8080", "8090")
    config = load_config_text(text)
    assert config.retry_after == 120
    first, second = (listener.services[0] for listener in config.listeners)
    assert (first.retry_after, second.retry_after) == (120, 3)
    assert load_config_text("Alive 0.2\n" + svc("")).retry_after == 1  # at least a second


def test_stale_fallback(tmp_path: Path) -> None:
    text = svc(
        "    StaleFallback\n      Size 10m\n      MaxObject 100k\n"
        '      Directory "cache"\n      Cookies KEY\n      MaxAge 1h\n    End\n'
    )
    service = load_config_text(text, "t.cfg", str(tmp_path)).listeners[0].services[0]
    assert service.stale == StaleSpec(
        size=10 << 20,
        max_object=100 << 10,
        directory=str(tmp_path / "cache"),
        key_cookies=True,
        max_age=3600.0,
        location=model.Location("t.cfg", 5, 5),
    )
    small = load_config_text(svc("    StaleFallback\n      Size 100k\n    End\n"))
    stale = small.listeners[0].services[0].stale
    assert stale is not None
    assert (stale.size, stale.max_object, stale.key_cookies, stale.directory) == (
        100 << 10,
        100 << 10,  # the default MaxObject, capped by the Size
        False,
        None,
    )


def test_read_only_emergency() -> None:
    plain = load_config_text(with_emergency("    ReadOnlyEmergency\n"))
    assert plain.listeners[0].services[0].read_only_emergency == frozenset(
        {b"GET", b"HEAD", b"OPTIONS"}
    )
    listed = load_config_text(with_emergency("    ReadOnlyEmergency GET HEAD PROPFIND\n"))
    assert listed.listeners[0].services[0].read_only_emergency == frozenset(
        {b"GET", b"HEAD", b"PROPFIND"}
    )


def test_control_socket_and_its_place_among_listeners(tmp_path: Path) -> None:
    first = load_config_text('Control "ctl.sock"\n' + svc(""), "t.cfg", str(tmp_path))
    assert (first.control, first.control_mode, first.control_index) == (
        str(tmp_path / "ctl.sock"),
        0o600,
        0,
    )
    between = load_config_text(
        svc("") + 'Control "/run/s.sock"\nControlMode 660\n' + svc("").replace("8080", "8090")
    )
    assert (between.control, between.control_mode, between.control_index) == (
        "/run/s.sock",
        0o660,
        1,
    )


def test_pounds_control_section(tmp_path: Path) -> None:
    text = svc("") + 'Control\n  Socket "ctl.sock"\n  Mode 660\n  ChangeOwner true\nEnd\n'
    spec = load_config_text(text, "t.cfg", str(tmp_path))
    assert (spec.control, spec.control_mode, spec.control_owner, spec.control_index) == (
        str(tmp_path / "ctl.sock"),
        0o660,
        True,
        1,
    )
    plain = load_config_text('Control\n  Socket "/run/s.sock"\nEnd\n' + svc(""))
    assert (plain.control, plain.control_mode, plain.control_owner) == ("/run/s.sock", 0o600, False)
    # The one-line form never changes the owner: the starting user's, mode 0600.
    line = load_config_text('User "nobody"\nControl "/run/s.sock"\n' + svc(""))
    assert (line.control_mode, line.control_owner) == (0o600, False)


def test_a_metrics_service_needs_no_backend() -> None:
    text = "ListenHTTP\n  Address 127.0.0.1\n  Port 80\n  Service\n    metrics\n  End\nEnd\n"
    (service,) = load_config_text(text).listeners[0].services
    assert service.metrics and service.backends == () and service.emergencies == ()


def test_the_documented_example_loads() -> None:
    config = load_config_text(EXAMPLE)
    main, metrics = config.listeners[0].services
    assert main.check is not None and main.check.body is not None
    assert main.stale is not None and main.read_only_emergency is not None
    assert metrics.metrics
    assert config.control == "/run/standby.sock" and config.retry_after == 120


# -- errors, with their exact messages --------------------------------------------------------

CASES = [
    (
        "ListenHTTP\n  HealthCheck\n",
        't.cfg:2.3: "HealthCheck" is not allowed in ListenHTTP',
    ),
    (
        svc("    HealthCheck\n    End\n    HealthCheck\n    End\n"),
        't.cfg:7.5: duplicate "HealthCheck" (first given at t.cfg:5.5)',
    ),
    (
        svc("    HealthCheck\n      Status 2xx\n    End\n"),
        't.cfg:6.14: bad status list "2xx" for "Status" (use e.g. 200, 200-399 or 200,204,301-302)',
    ),
    (
        svc("    HealthCheck\n      Status 200 399-300\n    End\n"),
        't.cfg:6.18: bad status list "399-300" for "Status" (use e.g. 200, 200-399 or '
        "200,204,301-302)",
    ),
    (
        svc("    FailoverStatus 503,600\n"),
        't.cfg:5.20: bad status list "503,600" for "FailoverStatus" (use e.g. 200, 200-399 or '
        "200,204,301-302)",
    ),
    (
        svc("    FailoverStatus\n"),
        't.cfg:5.5: missing argument for "FailoverStatus": expected status',
    ),
    (
        svc("    HealthCheck\n      Method get\n    End\n"),
        't.cfg:6.14: bad method "get" for "Method" (methods are upper-case tokens, e.g. GET)',
    ),
    (
        svc("    HealthCheck\n      Method GET HEAD\n    End\n"),
        't.cfg:6.18: too many arguments for "Method"',
    ),
    (
        svc("    ResendMethods GET post\n"),
        't.cfg:5.23: bad method "post" for "ResendMethods" (methods are upper-case tokens, '
        "e.g. GET)",
    ),
    (
        svc('    HealthCheck\n      Path "health"\n    End\n'),
        't.cfg:6.12: bad path "health" for "Path" (expected an absolute path such as /health)',
    ),
    (
        svc('    HealthCheck\n      Host "a b"\n    End\n'),
        't.cfg:6.12: bad host "a b" for "Host" (expected a host name or address, '
        "optionally with :port)",
    ),
    (
        svc('    HealthCheck\n      Body "ok"\n    End\n'),
        't.cfg:6.7: "Body" needs a method with a response body, not HEAD (add "Method GET")',
    ),
    (
        svc('    HealthCheck\n      Body "("\n      Method GET\n    End\n'),
        't.cfg:6.12: bad regex "(": unmatched (',
    ),
    (
        svc("    HealthCheck\n      Rise 0\n    End\n"),
        't.cfg:6.12: value 0 for "Rise" is out of range 1..100',
    ),
    (svc("    Fall 101\n"), 't.cfg:5.10: value 101 for "Fall" is out of range 1..100'),
    (
        svc("    HealthCheck\n      Interval 0\n    End\n"),
        't.cfg:6.16: duration for "Interval" must be more than 0 seconds',
    ),
    (
        svc("    HealthCheck\n      TimeOut 1x\n    End\n"),
        't.cfg:6.15: bad duration "1x" for "TimeOut" (use e.g. 90, 1m30s, 2h, 1d)',
    ),
    (svc("    Interval 5\n"), 't.cfg:5.5: "Interval" is not allowed in Service'),
    (
        svc("    HealthCheck\n      Address 127.0.0.1\n    End\n"),
        't.cfg:6.7: "Address" is not allowed in HealthCheck',
    ),
    (
        "ListenHTTP\n  Service\n    HealthCheck\n      Status 200\n",
        't.cfg:3.5: missing "End" for "HealthCheck"',
    ),
    (
        svc("    StaleFallback\n      Cookies maybe\n    End\n"),
        't.cfg:6.15: bad mode "maybe" for "Cookies" (use key or skip)',
    ),
    (
        svc("    StaleFallback\n      Size 1m\n      MaxObject 2m\n    End\n"),
        't.cfg:7.17: "MaxObject" must be more than 0 and at most the "Size" (1048576 bytes)',
    ),
    (
        svc("    StaleFallback\n      Size 8g\n      MaxObject 2g\n    End\n"),
        't.cfg:7.17: "MaxObject" must be at most 2147483647 bytes (the stale store keeps '
        "lengths in 32 bits)",
    ),
    (
        svc("    StaleFallback\n      Size 0\n    End\n"),
        't.cfg:6.12: "Size" must be more than 0 (remove StaleFallback to turn it off)',
    ),
    (
        svc("    ReadOnlyEmergency\n"),
        't.cfg:5.5: "ReadOnlyEmergency" needs an Emergency backend in Service',
    ),
    (
        svc("    Metrics\n"),
        't.cfg:5.5: Service with "Metrics" cannot also have a BackEnd, Emergency or Redirect',
    ),
    ("ControlMode 0600\n" + svc(""), 't.cfg:1.1: "ControlMode" needs a "Control" socket'),
    (
        'Control "/s"\nControlMode 0800\n',
        't.cfg:2.13: bad mode "0800" for "ControlMode" (use octal, e.g. 0600)',
    ),
    ("Control\n", 't.cfg:1.1: missing "End" for "Control"'),
    ("Control\nEnd\n" + svc(""), 't.cfg:1.1: the Control section needs a "Socket"'),
    (
        'Control\n  Socket "/s"\n  Mode 660\nEnd\nControlMode 0600\n' + svc(""),
        't.cfg:5.1: "ControlMode" and the Control section\'s "Mode": give one',
    ),
    (
        'Control\n  Socket "/s"\n  Mode 0900\nEnd\n',
        't.cfg:3.8: bad mode "0900" for "Mode" (use octal, e.g. 0600)',
    ),
    ('Control "/s"\n  Mode 660\n', 't.cfg:2.3: "Mode" is not allowed at the top level'),
    (svc('    Control "/s"\n'), 't.cfg:5.5: "Control" is not supported yet'),
    (
        svc("    RetryAfter 0\n"),
        't.cfg:5.16: duration for "RetryAfter" must be more than 0 seconds',
    ),
    ("Mode 0600\n", 't.cfg:1.1: "Mode" is not allowed at the top level'),
]


@pytest.mark.parametrize(("text", "message"), CASES)
def test_error_message(text: str, message: str) -> None:
    assert error_of(text) == message


def test_keywords_keep_their_meaning_per_section() -> None:
    # `Path` is a condition (a regex) in a Service and a request path in a HealthCheck.
    text = svc('    Path "^/a(b|c)"\n    HealthCheck\n      Path "/a(b|c)"\n    End\n')
    service = load_config_text(text).listeners[0].services[0]
    (condition,) = service.conditions
    assert condition.regex is not None and condition.regex.search(b"/ab", False)
    assert service.check is not None and service.check.path == b"/a(b|c)"
