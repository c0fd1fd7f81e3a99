"""Pound 4's `Tunnel` sections -> ``model.TunnelSpec`` (checks Pound makes at load time)."""

from __future__ import annotations

from standby.config.errors import ConfigError
from standby.config.tree import Directive, SectionNode, Value
from standby.model import ListenerSpec, TunnelSpec

_SOCKET_WORDS = frozenset({"Address", "SocketFrom"})


def _value(node: SectionNode, name: str) -> Value:
    directive = node.first(name)
    return None if directive is None else directive.values[0]


def _text(node: SectionNode, name: str) -> str | None:
    value = _value(node, name)
    return None if value is None else str(value)


def _number(node: SectionNode, name: str, default: float) -> float:
    value = _value(node, name)
    if value is None:
        return default
    assert isinstance(value, int | float)  # the schema's DURATION, INT and BOOL
    return float(value)


def compile_tunnels(
    root: SectionNode, timeout: float, conn_timeout: float
) -> tuple[TunnelSpec, ...]:
    """Every `Tunnel` of ``root``, in order; ``timeout`` and ``conn_timeout`` are the
    global `TimeOut` and `ConnTO`, the backend's defaults."""
    return tuple(
        _tunnel(node, timeout, conn_timeout)
        for node in root.sections()
        if node.keyword is not None and node.keyword.name == "Tunnel"
    )


def _tunnel(node: SectionNode, timeout: float, conn_timeout: float) -> TunnelSpec:
    both = [d for d in node.body if isinstance(d, Directive) and d.keyword.name in _SOCKET_WORDS]
    if len(both) > 1:
        raise ConfigError(both[1].location, 'duplicate "Address" or "SocketFrom"')
    address = _text(node, "Address")
    socket_from = _text(node, "SocketFrom")  # address and port come with the socket
    if address is None and socket_from is None:
        raise ConfigError(node.location, 'Tunnel needs an "Address"')
    port = _value(node, "Port")
    if port is None and socket_from is None:
        raise ConfigError(node.location, 'Tunnel needs a "Port"')
    backends = [b for b in node.sections() if b.keyword is not None and b.keyword.name == "BackEnd"]
    if not backends:
        raise ConfigError(node.location, "Tunnel has no Backend")
    if len(backends) > 1:
        raise ConfigError(backends[1].location, "only one Backend is allowed in a Tunnel")
    backend = backends[0]
    backend_address = _text(backend, "Address")
    if backend_address is None:
        raise ConfigError(backend.location, 'the Tunnel\'s Backend needs an "Address"')
    backend_port = _value(backend, "Port")
    unix = backend_address.startswith("/")
    if backend_port is None and not unix:
        raise ConfigError(backend.location, 'the Tunnel\'s Backend needs a "Port"')
    name = node.values[0] if node.values else None
    listen = ListenerSpec(
        name=None if name is None else str(name),
        address=address or "",
        port=int(_number(node, "Port", 0)),
        socket_from=socket_from,
        location=node.location,
    )
    return TunnelSpec(
        listen=listen,
        backend_address=backend_address,
        backend_port=None if unix else int(_number(backend, "Port", 0)),
        timeout=_number(backend, "TimeOut", timeout),
        conn_timeout=_number(backend, "ConnTO", conn_timeout),
        disabled=bool(_number(backend, "Disabled", 0)),
        location=backend.location,
    )
