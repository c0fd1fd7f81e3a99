"""Complete responses made by the proxy itself: errors and redirects.

The built-in pages name the status and nothing else: no product, version, address or reason
from the log, so an error page tells an attacker nothing about the inside.
"""

from __future__ import annotations

import re
from html import escape
from typing import Final

from standby.http1._grammar import TOKEN_RE

REASONS: dict[int, bytes] = {
    100: b"Continue",
    200: b"OK",
    301: b"Moved Permanently",
    302: b"Found",
    303: b"See Other",
    307: b"Temporary Redirect",
    308: b"Permanent Redirect",
    400: b"Bad Request",
    401: b"Unauthorized",
    403: b"Forbidden",
    404: b"Not Found",
    405: b"Method Not Allowed",
    408: b"Request Timeout",
    411: b"Length Required",
    413: b"Payload Too Large",  # Pound 4.23's (and RFC 7231's); RFC 9110 says Content
    414: b"URI Too Long",
    417: b"Expectation Failed",
    429: b"Too Many Requests",
    431: b"Request Header Fields Too Large",
    500: b"Internal Server Error",
    501: b"Not Implemented",
    502: b"Bad Gateway",
    503: b"Service Unavailable",
    504: b"Gateway Timeout",
    505: b"HTTP Version Not Supported",
}

# One sentence per status for the built-in pages; others get the reason phrase only.
_EXPLANATIONS: dict[int, bytes] = {
    400: b"The request could not be understood.",
    405: b"The request method is not allowed here.",
    413: b"The request is larger than this server accepts.",
    414: b"The request target is longer than this server accepts.",
    431: b"The request headers are larger than this server accepts.",
    500: b"The server could not complete the request.",
    501: b"The request uses a feature this server does not implement.",
    502: b"The server received an invalid response while handling the request.",
    503: b"The service is temporarily unavailable. Please try again later.",
    504: b"The server did not receive a timely response while handling the request.",
    505: b"The HTTP version of the request is not supported.",
}

REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})

# A redirect target goes into a header line: visible ASCII only, so no header injection.
_URL_RE = re.compile(rb"[\x21-\x7e]+")


def reason_phrase(status: int) -> bytes:
    return REASONS.get(status, b"Unknown")


def default_page(status: int) -> bytes:
    """The built-in HTML page for ``status``."""
    reason = reason_phrase(status)
    text = _EXPLANATIONS.get(status, reason + b".")
    return (
        b"<!DOCTYPE html>\n<html><head><title>%d %s</title></head>"
        b"<body><h1>%s</h1><p>%s</p></body></html>\n" % (status, reason, reason, text)
    )


# Every error page standby makes stands for a passing condition (a backend down, a request
# refused): no cache may keep it, or visitors and crawlers would get it after the cause is
# gone. Pound 4 sends these three lines (in this spelling) with its built-in pages and its
# error page files; an invalid Expires date means "already expired" (RFC 9111 5.3).
NO_CACHE_HEADERS: Final = (
    (b"Expires", b"now"),
    (b"Pragma", b"no-cache"),
    (b"Cache-Control", b"no-cache,no-store"),
)
_NO_CACHE_LINES: Final = b"".join(b"%s: %s\r\n" % pair for pair in NO_CACHE_HEADERS)


def _response(
    status: int,
    body: bytes,
    close: bool,
    extra: tuple[tuple[bytes, bytes], ...],
) -> bytes:
    lines = [
        b"HTTP/1.1 %d %s\r\n" % (status, reason_phrase(status)),
        b"Content-Type: text/html\r\nContent-Length: %d\r\n" % len(body),
    ]
    if status >= 400:
        lines.append(_NO_CACHE_LINES)
    for name, value in extra:
        lines.append(b"%s: %s\r\n" % (name, value))
    if close:
        lines.append(b"Connection: close\r\n")
    lines += (b"\r\n", body)
    return b"".join(lines)


def error_response(
    status: int,
    *,
    body: bytes | None = None,
    close: bool = True,
    extra: tuple[tuple[bytes, bytes], ...] = (),
) -> bytes:
    """A complete response: status line, Content-Type, Content-Length, ``extra`` headers
    (e.g. ``((b"Retry-After", b"30"),)`` with a 503), ``Connection: close`` when ``close``,
    then ``body`` (an ErrorFile page) or the built-in page."""
    if not 100 <= status <= 599:
        raise ValueError(f"status {status} out of range")
    for name, value in extra:
        if not TOKEN_RE.fullmatch(name) or b"\r" in value or b"\n" in value:
            raise ValueError(f"invalid extra header {name!r}")
    return _response(status, default_page(status) if body is None else body, close, extra)


def redirect_response(code: int, url: bytes, *, close: bool) -> bytes:
    """A redirect (301, 302, 303, 307 or 308) to ``url``, with a small page linking it."""
    if code not in REDIRECT_CODES:
        raise ValueError(f"{code} is not a redirect status")
    if not _URL_RE.fullmatch(url):
        raise ValueError(f"invalid redirect URL {url[:60]!r}")
    href = escape(url.decode("latin-1"), quote=True).encode("latin-1")
    reason = reason_phrase(code)
    page = (
        b"<!DOCTYPE html>\n<html><head><title>%d %s</title></head><body><h1>%s</h1>"
        b'<p>The document has moved <a href="%s">here</a>.</p></body></html>\n'
        % (code, reason, reason, href)
    )
    return _response(code, page, close, ((b"Location", url),))
