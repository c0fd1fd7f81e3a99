"""Per-request TLS decisions: pure."""

from __future__ import annotations

NO_HTTPS11_ALWAYS = 1
NO_HTTPS11_MSIE = 2


def forced_http10(mode: int, user_agent: bytes | None) -> bool:
    """Pound's ``NoHTTPS11``: whether this request on an HTTPS listener ends its connection
    (1: every one; 2: when the User-Agent names MSIE, which mishandled keep-alive over
    SSL)."""
    if mode == NO_HTTPS11_ALWAYS:
        return True
    return mode == NO_HTTPS11_MSIE and user_agent is not None and b"MSIE" in user_agent
