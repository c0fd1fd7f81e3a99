"""Through a running proxy: a reload with a Pound keyword standby lacks is refused with its
``FILE:LINE.COL`` and the old configuration keeps serving; a reload with keywords that do
not apply and directives given twice is accepted and means what it says."""

from __future__ import annotations

from pathlib import Path

from standby.config import load_config
from tests.support.backend import Backend
from tests.support.harness import ProxyThread, config_with_ports, get

TEMPLATE = """\
{top}
ListenHTTP
  Address 127.0.0.1
  Port {port}
  Service
    {service}
    BackEnd
      Address 127.0.0.1
      Port {backend}
    End
  End
End
"""


def test_refused_reloads_keep_serving_and_accepted_ones_apply(tmp_path: Path) -> None:
    path = tmp_path / "pound.cfg"
    with Backend("a") as a, Backend("b") as b:
        _, socks = config_with_ports(TEMPLATE.format(top="", port="{L0}", service="", backend=1))
        port = socks[0].getsockname()[1]

        def write(top: str, service: str, backend: int) -> None:
            path.write_text(TEMPLATE.format(top=top, port=port, service=service, backend=backend))

        write("", "", a.port)
        with ProxyThread(load_config(str(path)), socks) as proxy:
            assert get(proxy.port).body == b"a"
            for top, service, expected in (
                ('Lua\n  Load "site.lua"\nEnd', "", f'{path}:1.1: "Lua" is not supported: '),
                ("", 'Not LuaMatch "ok"', f'{path}:6.9: "LuaMatch" is not supported: '),
                ("", 'Eval "admin"', f'{path}:6.10: no Condition named "admin"'),
                ("", "Sessionn", f'{path}:6.5: unknown keyword "Sessionn"'),
            ):
                write(top, service, b.port)
                done, message = proxy.reload()
                assert not done
                assert message.startswith(expected), message
                assert get(proxy.port).body == b"a"  # the old configuration serves
            # Pound's thread keywords and a LogLevel given twice: accepted, and applied.
            write("LogLevel 0\nThreads 8\nWorkerMaxCount 64\nLogLevel 2", "", b.port)
            assert proxy.reload() == (True, "reloaded")
            assert get(proxy.port).body == b"b"
            assert proxy.proxy is not None
            assert proxy.proxy.config.log_level == 2  # the last LogLevel
