"""`Session` in a configuration file: what it compiles to, and `FILE:LINE.COL` errors for
what Pound refuses (config/sessions.py)."""

from __future__ import annotations

import pytest

from standby.config import ConfigError, load_config_text
from standby.model import SessionSpec, SessionType


def text(session: str) -> str:
    return (
        "ListenHTTP\n"
        "  Address 127.0.0.1\n"
        "  Port 8080\n"
        "  Service\n"
        f"{session}"
        "    BackEnd\n"
        "      Address 127.0.0.1\n"
        "      Port 8081\n"
        "    End\n"
        "  End\n"
        "End\n"
    )


def session(*lines: str) -> str:
    return "    Session\n" + "".join(f"      {line}\n" for line in lines) + "    End\n"


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (("Type IP", "TTL 300"), SessionSpec(SessionType.IP, 300.0)),
        (("Type basic", "TTL 60"), SessionSpec(SessionType.BASIC, 60.0)),
        (("Type URL", 'ID "sess"', "TTL 5"), SessionSpec(SessionType.URL, 5.0, "sess")),
        (("Type Parm", "TTL 300"), SessionSpec(SessionType.PARM, 300.0)),
        (("Type Cookie", 'ID "sid"', "TTL 300"), SessionSpec(SessionType.COOKIE, 300.0, "sid")),
        (
            ('ID "X-Session"', "Type HEADER", "TTL 300"),
            SessionSpec(SessionType.HEADER, 300.0, "X-Session"),
        ),
        # Pound ignores an ID that the type does not use; so does standby.
        (("Type IP", 'ID "127.0.0.1"', "TTL 300"), SessionSpec(SessionType.IP, 300.0)),
    ],
)
def test_every_type_compiles(lines: tuple[str, ...], expected: SessionSpec) -> None:
    config = load_config_text(text(session(*lines)))
    found = config.listeners[0].services[0].session
    assert found is not None
    assert (found.type, found.ttl, found.id) == (expected.type, expected.ttl, expected.id)


def test_a_service_without_session_has_none() -> None:
    assert load_config_text(text("")).listeners[0].services[0].session is None


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (("TTL 300",), '<string>:5.5: Session needs a "Type"'),
        (("Type IP",), '<string>:5.5: Session needs a "TTL"'),
        (("Type COOKIE", "TTL 300"), '<string>:5.5: Session of type COOKIE needs an "ID"'),
        (("Type URL", 'ID ""', "TTL 300"), '<string>:7.10: empty name for "ID"'),
        (("Type HEADER", "TTL 300"), '<string>:5.5: Session of type HEADER needs an "ID"'),
        (("Type JWT", "TTL 300"), "<string>:6.12: bad type"),
        (("Type IP", "TTL 0"), "<string>:7.11:"),
        (("Type IP", "TTL x"), "<string>:7.11:"),
    ],
)
def test_what_pound_refuses_is_refused_at_its_place(lines: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(text(session(*lines)))
    assert str(caught.value).startswith(message), str(caught.value)
