"""Configuration texts shared by tests, for ``harness.config_with_ports`` (``{L0}`` there is
a free listener port)."""

from __future__ import annotations

# One listener, one service, one backend on loopback: the smallest proxy.
_ONE_BACKEND = """\
ListenHTTP
  Address 127.0.0.1
  Port {{L0}}
  {listener_extra}
  Service
    BackEnd
      Address 127.0.0.1
      Port {port}
      {backend_extra}
    End
  End
End
"""


def one_backend(port: int, listener_extra: str = "", backend_extra: str = "") -> str:
    """The smallest proxy configuration, in front of the backend on ``port``; the extras are
    directives added to the listener and to the backend."""
    return _ONE_BACKEND.format(
        port=port, listener_extra=listener_extra, backend_extra=backend_extra
    )


# One service with a primary backend and an Emergency one, as in Pound's failover setup.
_PRIMARY_AND_EMERGENCY = """\
ListenHTTP
  Address 127.0.0.1
  Port {{L0}}
  Service
    BackEnd
      Address 127.0.0.1
      Port {primary}
    End
    Emergency
      Address 127.0.0.1
      Port {emergency}
    End
  End
End
"""


def primary_and_emergency(primary: int, emergency: int) -> str:
    """A primary backend on ``primary`` and the Emergency one on ``emergency``."""
    return _PRIMARY_AND_EMERGENCY.format(primary=primary, emergency=emergency)
