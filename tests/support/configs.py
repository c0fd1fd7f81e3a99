"""Configuration texts shared by tests, for ``harness.config_with_ports`` (``{L0}`` there is
a free listener port)."""

from __future__ import annotations

# One listener, one service, one backend on loopback: the smallest proxy.
_ONE_BACKEND = """\
ListenHTTP
  Address 127.0.0.1
  Port {{L0}}
  Service
    BackEnd
      Address 127.0.0.1
      Port {port}
    End
  End
End
"""


def one_backend(port: int) -> str:
    """The smallest proxy configuration, in front of the backend on ``port``."""
    return _ONE_BACKEND.format(port=port)
