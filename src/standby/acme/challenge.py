"""HTTP-01 challenge files (RFC 8555 8.3): which request paths name one, and which names
are safe to open in a challenge directory."""

from __future__ import annotations

import re

CHALLENGE_PREFIX = "/.well-known/acme-challenge/"
# A token is base64url (RFC 8555 8.1): what our client accepts from a CA and writes.
TOKEN = re.compile(r"[A-Za-z0-9_-]{1,255}")
# What a challenge directory serves: tokens, and the names outside clients such as certbot
# write (the same alphabet; dots allowed but not first, so neither "..", "." nor a hidden
# file can be named; no slash).
SAFE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,254}")
# The largest challenge file served: a key authorisation is under 100 bytes; a bigger
# file is not a token and is not read into memory.
MAX_CHALLENGE_FILE = 4096
# The path condition of the service that answers challenges (Pound's own form).
CHALLENGE_PATTERN = r"^/\.well-known/acme-challenge/"


def challenge_name(path: bytes) -> str | None:
    """The file a challenge request path names, or None when it names none safely."""
    prefix = CHALLENGE_PREFIX.encode("ascii")
    if not path.startswith(prefix):
        return None
    name = path[len(prefix) :].decode("latin-1")
    return name if SAFE_NAME.fullmatch(name) else None
