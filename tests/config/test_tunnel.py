"""Pound 4's `Tunnel` section: what it compiles to, and Pound's refusals with their place."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from standby.config import ConfigError, load_config_text
from standby.config.docgen import TUNNEL_EXAMPLE
from standby.model import listening

TUNNEL = """\
TimeOut 20
ConnTO 4
Tunnel "db"
  Address 127.0.0.1
  Port 5433
  Backend
    Address 127.0.0.1
    Port 5432
{backend}  End
End
"""


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config_text(text, "t.cfg")
    return str(info.value)


def test_a_tunnel_compiles_with_the_global_timeouts_as_defaults() -> None:
    config = load_config_text(TUNNEL.format(backend=""), "t.cfg")
    assert config.listeners == ()
    (tunnel,) = config.tunnels
    assert (tunnel.listen.name, tunnel.listen.address, tunnel.listen.port) == (
        "db",
        "127.0.0.1",
        5433,
    )
    assert (tunnel.backend_address, tunnel.backend_port) == ("127.0.0.1", 5432)
    assert (tunnel.timeout, tunnel.conn_timeout, tunnel.disabled) == (20.0, 4.0, False)
    assert tunnel.listen.location.line == 3
    assert listening(config) == (tunnel.listen,)


def test_the_backend_s_own_settings_win() -> None:
    text = TUNNEL.format(backend="    TimeOut 300\n    ConnTO 2\n    Disabled 1\n")
    (tunnel,) = load_config_text(text, "t.cfg").tunnels
    assert (tunnel.timeout, tunnel.conn_timeout, tunnel.disabled) == (300.0, 2.0, True)


def test_a_unix_socket_backend_needs_no_port() -> None:
    text = 'Tunnel\n Address 127.0.0.1\n Port 1\n Backend\n  Address "/run/app.sock"\n End\nEnd\n'
    (tunnel,) = load_config_text(text, "t.cfg").tunnels
    assert (tunnel.backend_address, tunnel.backend_port) == ("/run/app.sock", None)


def test_tunnels_come_after_the_http_listeners_in_listening_order() -> None:
    text = (
        "ListenHTTP\n Address 127.0.0.1\n Port 8080\n Service\n  Backend\n"
        "   Address 127.0.0.1\n   Port 8081\n  End\n End\nEnd\n" + TUNNEL.format(backend="")
    )
    config = load_config_text(text, "t.cfg")
    assert [spec.port for spec in listening(config)] == [8080, 5433]


def test_the_documented_example_loads() -> None:
    (tunnel,) = load_config_text(TUNNEL_EXAMPLE, "example.cfg").tunnels
    assert (tunnel.listen.port, tunnel.backend_port, tunnel.timeout) == (5433, 5432, 300.0)


BACKEND = " Backend\n  Address 127.0.0.1\n  Port 2\n End\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Tunnel\n Address 127.0.0.1\n Port 1\nEnd\n", "t.cfg:1.1: Tunnel has no Backend"),
        (
            "Tunnel\n Address 127.0.0.1\n Port 1\n" + BACKEND + BACKEND + "End\n",
            "t.cfg:8.2: only one Backend is allowed in a Tunnel",
        ),
        (
            'Tunnel\n Address 127.0.0.1\n SocketFrom "/x"\n' + BACKEND + "End\n",
            't.cfg:3.2: duplicate "Address" or "SocketFrom"',
        ),
        (
            "Tunnel\n Address 127.0.0.1\n Port 1\n xHTTP 1\n" + BACKEND + "End\n",
            't.cfg:4.2: "xHTTP" is not allowed in Tunnel',
        ),
        (
            "Tunnel\n Address 127.0.0.1\n Port 1\n Backend\n  Address 127.0.0.1\n"
            "  Port 2\n  Priority 2\n End\nEnd\n",
            't.cfg:7.3: "Priority" is not allowed in Tunnel Backend',
        ),
        ("Tunnel\n Port 1\n" + BACKEND + "End\n", 't.cfg:1.1: Tunnel needs an "Address"'),
        ("Tunnel\n Address 127.0.0.1\n" + BACKEND + "End\n", 't.cfg:1.1: Tunnel needs a "Port"'),
        (
            "Tunnel\n Address 127.0.0.1\n Port 1\n Backend\n  Address 127.0.0.1\n End\nEnd\n",
            't.cfg:4.2: the Tunnel\'s Backend needs a "Port"',
        ),
        (
            "Tunnel\n Address 127.0.0.1\n Port 1\n Backend\n  Port 2\n End\nEnd\n",
            't.cfg:4.2: the Tunnel\'s Backend needs an "Address"',
        ),
    ],
)
def test_what_pound_refuses_is_refused_with_its_place(text: str, message: str) -> None:
    assert error_of(text) == message


def test_check_mode_accepts_a_tunnel_and_names_a_bad_one(tmp_path: Path) -> None:
    good = tmp_path / "good.cfg"
    good.write_text(TUNNEL.format(backend=""))
    bad = tmp_path / "bad.cfg"
    bad.write_text("Tunnel\n Address 127.0.0.1\n Port 1\nEnd\n")
    for path, code, out in ((good, 0, ""), (bad, 1, f"{bad}:1.1: Tunnel has no Backend")):
        done = subprocess.run(
            [sys.executable, "-m", "standby", "-c", "-f", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == code, done.stderr
        assert out in done.stderr
