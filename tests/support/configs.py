"""Configuration texts shared by tests, for ``harness.config_with_ports`` (``{L0}`` there is
a free listener port)."""

from __future__ import annotations

# One listener, one service, one backend on loopback: the smallest proxy.
_ONE_BACKEND = """\
{global_extra}
ListenHTTP
  Address 127.0.0.1
  Port {listen}
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


def one_backend(
    port: int,
    listener_extra: str = "",
    backend_extra: str = "",
    *,
    listen: int | str = "{L0}",
    global_extra: str = "",
) -> str:
    """The smallest proxy configuration, in front of the backend on ``port``, listening on
    ``listen`` (by default ``{L0}``); the extras are directives added to the listener, to
    the backend and before the listener."""
    return _ONE_BACKEND.format(
        global_extra=global_extra,
        listen=listen,
        listener_extra=listener_extra,
        port=port,
        backend_extra=backend_extra,
    )


# One service with a primary backend and an Emergency one, as in Pound's failover setup.
_PRIMARY_AND_EMERGENCY = """\
{global_extra}
ListenHTTP
  Address 127.0.0.1
  Port {port}
  {listener_extra}
  Service
    {service_extra}
    BackEnd
      Address 127.0.0.1
      Port {primary}
      {backend_extra}
    End
    Emergency
      Address 127.0.0.1
      Port {emergency}
    End
  End
{more_services}
End
"""


def primary_and_emergency(
    primary: int,
    emergency: int,
    *,
    port: int | str = "{L0}",
    global_extra: str = "",
    listener_extra: str = "",
    service_extra: str = "",
    backend_extra: str = "",
    more_services: str = "",
) -> str:
    """A primary backend on ``primary`` and the Emergency one on ``emergency``, on the
    listener ``port`` (by default ``{L0}``, for ``config_with_ports``); the extras are
    directives: global ones first, then in the listener, the service and the primary
    backend, and whole services after this one."""
    return _PRIMARY_AND_EMERGENCY.format(
        global_extra=global_extra,
        port=port,
        listener_extra=listener_extra,
        service_extra=service_extra,
        primary=primary,
        backend_extra=backend_extra,
        emergency=emergency,
        more_services=more_services,
    )
