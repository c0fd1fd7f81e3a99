"""DNS for dynamic backends: the wire format (``wire``), aliases (``chain``), resolv.conf
(``resolvconf``), the stub resolver (``client``), templates to backends (``expand``) and
the process that keeps them current (``tracker``).

``set_enabled(False)`` is Pound's `-W no-dns`: dynamic backends are then never resolved
(they generate no backend) and no resolver configuration is read.
"""

from __future__ import annotations

_state = {"enabled": True}


def set_enabled(on: bool) -> None:
    """Turn DNS lookups for dynamic backends on or off (the command line's `-W [no-]dns`)."""
    _state["enabled"] = on


def enabled() -> bool:
    return _state["enabled"]
