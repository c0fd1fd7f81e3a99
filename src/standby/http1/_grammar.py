"""Character classes and compiled patterns shared by the request, response and body code.

RFC 9110/9112 grammar, as bytes regular expressions. Every class lists what is allowed, so
anything else (NUL, CR, LF, other controls, DEL, spaces in the wrong place) fails to match.
"""

from __future__ import annotations

import re

# token characters (RFC 9110 5.6.2); '-' escaped for use inside a class.
TCHAR = rb"!#$%&'*+\-.^_`|~0-9A-Za-z"
# field-value characters: VCHAR, obs-text, SP and HTAB; no other control, no DEL.
FIELD_CHAR = rb"\t\x20-\x7e\x80-\xff"
# request-target characters: visible ASCII but "#" (RFC 9112 3.2: a fragment is never sent,
# and a backend may cut the target there while we route on all of it). No obs-text: a target
# is a URI (RFC 3986), and raw 8-bit bytes in it are decoded differently by every backend.
TARGET_CHAR = rb"\x21\x22\x24-\x7e"

TOKEN = rb"[" + TCHAR + rb"]+"
QUOTED_STRING = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x20-\x7e\x80-\xff])*"'
FIELD_LINE = TOKEN + rb":[" + FIELD_CHAR + rb"]*"

# One field line without its CRLF.
FIELD_LINE_RE = re.compile(FIELD_LINE)
# A comma-separated list element (Connection, Transfer-Encoding): a bare token.
TOKEN_RE = re.compile(TOKEN)
# Content-Length: digits only (no sign, no list, no spaces inside).
DIGITS_RE = re.compile(rb"[0-9]+")

# Forms a header line can take while it is still arriving (CR not yet seen).
FIELD_LINE_PREFIX_RE = re.compile(rb"(?:" + TOKEN + rb"(?::[" + FIELD_CHAR + rb"]*)?)?")

# Leading OWS to strip from field values.
OWS = b" \t"

# Transfer-Encoding may only be "chunked" (section 6.1 of RFC 9112): see request.py.
CHUNKED = b"chunked"
