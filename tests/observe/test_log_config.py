"""The access-log keywords in a configuration: LogFormat, LogLevel (global and per
listener), LogSuppress, LogTag; and their errors at ``FILE:LINE.COL``, as Pound places them."""

from __future__ import annotations

import pytest

from standby.config import ConfigError, load_config_text
from standby.observe.logformat import BUILTIN_FORMATS

LISTENER = """\
ListenHTTP
    Address 127.0.0.1
    Port 8080
{extra}    Service
{service}        Backend
            Address 127.0.0.1
            Port 8081
        End
    End
End
"""


def config(top: str = "", extra: str = "", service: str = "") -> str:
    return top + LISTENER.format(extra=extra, service=service)


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config_text(text, "t.cfg")
    return str(info.value)


def test_the_seed_level_means_what_it_meant() -> None:
    spec = load_config_text(config("LogLevel 1\n"))
    assert (spec.log_level, spec.log_format, spec.log_tag) == (1, None, None)
    assert spec.listeners[0].log_format is None
    assert spec.listeners[0].services[0].log_suppress == 0


def test_a_named_format_globally_and_per_listener() -> None:
    top = 'LogFormat "short" "%a %s"\nLogFormat "mine" "%h %U"\nLogLevel "short"\n'
    spec = load_config_text(config(top, extra='    LogLevel "mine"\n'))
    assert spec.log_format == "%a %s"
    assert spec.listeners[0].log_format == "%h %U"


@pytest.mark.parametrize(("level", "number"), [("3", 3), ('"combined"', 4), ("null", 0)])
def test_a_listener_with_a_built_in_level(level: str, number: int) -> None:
    spec = load_config_text(config("LogLevel 1\n", extra=f"    LogLevel {level}\n"))
    assert spec.log_level == 1
    assert spec.listeners[0].log_format == BUILTIN_FORMATS[number]


def test_log_suppress_classes_add_up() -> None:
    spec = load_config_text(
        config(service="        LogSuppress success 4\n        LogSuppress redirect\n")
    )
    assert spec.listeners[0].services[0].log_suppress == (1 << 2) | (1 << 3) | (1 << 4)
    every = load_config_text(config(service="        LogSuppress all\n"))
    assert every.listeners[0].services[0].log_suppress == (1 << 10) - 1


def test_log_tag() -> None:
    assert load_config_text(config('LogTag "web-front"\n')).log_tag == "web-front"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # A format is used after its definition, as in Pound.
        (
            config('LogLevel "later"\nLogFormat "later" "%a"\n'),
            't.cfg:1.10: undefined format: "later" (no LogFormat before)',
        ),
        (
            config(extra='    LogLevel "nosuch"\n'),
            't.cfg:4.14: undefined format: "nosuch" (no LogFormat before)',
        ),
        (
            config('LogFormat "x" "%h"\nLogFormat "x" "%a"\n'),
            't.cfg:2.11: format "x" already defined',
        ),
        (config('LogFormat "regular" "%h"\n'), 't.cfg:1.11: format "regular" already defined'),
        # Pound's column: the faulty % (or brace) inside the string.
        (
            config('LogFormat "f" "%Z"\n'),
            't.cfg:1.16: unknown format char in LogFormat "f"',
        ),
        (
            config('LogFormat "f" "%{x}N"\n'),
            't.cfg:1.17: unrecognized Pound object name in LogFormat "f"',
        ),
        (
            config('LogFormat "f" "%{Host}v"\n'),
            't.cfg:1.22: format specifier does not take arguments in LogFormat "f"',
        ),
        (
            config(extra="    LogLevel 9\n"),
            't.cfg:4.14: bad log level "9" (use 0..5, null, regular, extended, '
            "vhost_combined, combined, detailed or a LogFormat name)",
        ),
        (
            config(service="        LogSuppress success bogus\n"),
            't.cfg:5.29: bad status class "bogus" for LogSuppress (use info, success, '
            "redirect, clterr, srverr, all or 1..5)",
        ),
        (
            config(extra="    LogSuppress all\n"),
            't.cfg:4.5: "LogSuppress" is not allowed in ListenHTTP',
        ),
    ],
)
def test_errors(text: str, message: str) -> None:
    assert error_of(text) == message
