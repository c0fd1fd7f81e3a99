"""What an ACME server's error means (RFC 8555 6.7: problem documents, RFC 7807), mapped
once, where a response arrives, to one exception the rest of the client reasons about."""

from __future__ import annotations

import json

PROBLEM_PREFIX = "urn:ietf:params:acme:error:"
# A problem type that only asks to repeat the request with the fresh nonce that came with
# the error (RFC 8555 6.5).
BAD_NONCE = "badNonce"
# Types that say the configuration is wrong (a name the CA will not sign, an account it
# refuses), not that the server is busy: logged as errors, not warnings.
REFUSALS = frozenset(
    {
        "rejectedIdentifier",
        "unsupportedIdentifier",
        "caa",
        "unauthorized",
        "accountDoesNotExist",
        "externalAccountRequired",
        "userActionRequired",
        "invalidContact",
        "unsupportedContact",
        "badCSR",
        "badSignatureAlgorithm",
        "dns",
        "incorrectResponse",
        "connection",
    }
)
# How much of a problem document's detail is kept for a log line.
MAX_DETAIL = 400


class AcmeError(Exception):
    """An ACME request that failed: a problem document, a transport error (``kind``
    "transport"), or an answer the client cannot use (``kind`` "protocol")."""

    def __init__(
        self,
        kind: str,
        detail: str,
        *,
        status: int = 0,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail
        self.status = status
        self.retry_after = retry_after  # seconds, when the server said

    @property
    def bad_nonce(self) -> bool:
        return self.kind == BAD_NONCE

    @property
    def refused(self) -> bool:
        """The CA refuses what was asked (retrying may not help until the config changes)."""
        return self.kind in REFUSALS


def problem(status: int, body: bytes, retry_after: float | None) -> AcmeError:
    """The error an HTTP error answer carries: its problem document's type (without the
    ACME prefix) and detail, with subproblems' details appended; any other body is
    summarised by its status."""
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        return AcmeError("http", f"status {status}", status=status, retry_after=retry_after)
    kind = str(document.get("type", "about:blank"))
    kind = kind.removeprefix(PROBLEM_PREFIX)
    detail = str(document.get("detail", ""))
    for sub in document.get("subproblems") or ():
        if isinstance(sub, dict):
            name = sub.get("identifier", {}).get("value", "?")
            detail += f"; {name}: {sub.get('detail', '')}"
    return AcmeError(kind, detail[:MAX_DETAIL], status=status, retry_after=retry_after)
