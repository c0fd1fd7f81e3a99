"""HTTP health checks, the pure part: the request to send, the answer's verdict (pure).

The prober (shell) connects, writes ``check_request(...)``, reads at most
``MAX_CHECK_HEAD`` bytes of head and, when the check has a ``Body`` pattern, at most
``MAX_CHECK_BODY`` bytes of body, then asks ``verdict``. Every check request says
``Connection: close``: the backend ends the answer by closing, so no framing is needed,
and a body pattern is searched in the bytes as they came (a chunked body's size lines
included: they cannot hide a match of a pattern that does not span a chunk boundary).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from standby.model import MAX_CHECK_BODY, MAX_CHECK_HEAD, BackendSpec, HealthCheckSpec

__all__ = [
    "MAX_CHECK_BODY",
    "MAX_CHECK_HEAD",
    "Verdict",
    "check_request",
    "head_end",
    "verdict",
]

# The Host of a check of a UNIX socket backend without a configured Host (RFC 9112 3.2:
# HTTP/1.1 requires one; the server has no name of its own to offer).
UNIX_HOST = b"localhost"

# RFC 9112 4: HTTP-version SP 3DIGIT SP [reason]; the reason may be empty.
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([1-5][0-9]{2})(?: [^\r\n]*)?\r?\n")
_HEAD_END = re.compile(rb"\r?\n\r?\n")


class Verdict(NamedTuple):
    ok: bool
    reason: str  # for the log and the control API: what the check saw


def host_header(check: HealthCheckSpec, spec: BackendSpec) -> bytes:
    if check.host is not None:
        return check.host
    if spec.unix:
        return UNIX_HOST
    address = f"[{spec.address}]" if ":" in spec.address else spec.address
    port = "" if spec.port in (None, 80) else f":{spec.port}"
    return f"{address}{port}".encode("ascii", "replace")


def check_request(check: HealthCheckSpec, spec: BackendSpec) -> bytes:
    """The whole request of one check of ``spec``."""
    return b"".join(
        (
            check.method,
            b" ",
            check.path,
            b" HTTP/1.1\r\nHost: ",
            host_header(check, spec),
            b"\r\nUser-Agent: standby-health-check\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        )
    )


def head_end(data: bytes) -> int | None:
    """Where the head in ``data`` ends (the body's first byte), or None if not yet."""
    match = _HEAD_END.search(data)
    return None if match is None else match.end()


def verdict(check: HealthCheckSpec, head: bytes, body: bytes = b"") -> Verdict:
    """Whether an answer passes ``check``. ``head`` starts with the status line; ``body``
    is what was read of the body (only when the check has a pattern)."""
    match = _STATUS_LINE.match(head)
    if match is None:
        return Verdict(False, "check got no valid HTTP status line")
    status = int(match.group(1))
    if not check.accepts(status):
        return Verdict(False, f"check got status {status}")
    # An undecided search (config/pattern.py) fails the check.
    if check.body is not None and not check.body.search(body[:MAX_CHECK_BODY], False):
        return Verdict(False, f"check got status {status} without the expected body")
    return Verdict(True, f"check got status {status}")
