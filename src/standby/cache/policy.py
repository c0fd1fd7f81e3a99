"""What the stale fallback may keep and for which requests: pure decisions (RFC 9111 based).

The stale fallback is not an HTTP cache: nothing is served from it while a backend answers.
It keeps the latest good copy of public pages and serves one only when no backend can
answer, so its rules are those of a *shared* cache deciding what it may store (RFC 9111
section 3) plus the directives that forbid serving a stale copy (section 4.2.4).

Decisions (each one a rule tested in ``tests/cache/test_policy.py``):

- Requests: only GET and HEAD have a key; HEAD has the GET key, so a HEAD is answered from a
  GET copy without its body, but only GET responses are captured. A request with
  ``Authorization`` or ``Cache-Control: no-store`` has no key. A request with ``Cookie`` has
  no key when the policy skips cookies, else the cookie value is part of the key. A target
  that is not origin-form (``/path?query``) has no key: a reverse proxy almost never sees
  another form, and keying it consistently would need a URI parser.
- Key: the lower-cased Host, the target as sent, the normalised ``Accept-Encoding`` and, when
  keyed, the cookie. Accept-Encoding is always in the key so that a response with
  ``Vary: Accept-Encoding`` (every compressing server sends it) can be kept: a client is only
  ever given a copy made for the same set of accepted codings.
- ``Vary``: we store the request values in the key instead of matching them at lookup, so a
  response is storable only when every header its ``Vary`` names is in the key:
  Accept-Encoding always, Cookie when cookies are keyed. Any other name, or ``*``, refuses.
- Responses: the statuses RFC 9110 15.1 calls heuristically cacheable, without 206 (we do not
  combine ranges) and 5xx (a stale error is no fallback): 200, 203, 204, 300, 301, 308, 404,
  405, 410, 414. ``Set-Cookie`` refuses, and so do the Cache-Control directives that make a
  copy private or forbid serving it stale: ``no-store``, ``private``, ``no-cache``,
  ``must-revalidate``, ``proxy-revalidate`` (WordPress sends these for logged-in pages).
  ``s-maxage`` (which implies proxy-revalidate) is deliberately allowed: it is a CDN
  freshness hint on public pages, and the operator opted in to stale copies.
- ``/robots.txt`` (any host, any query) is always eligible: a crawler that gets a 5xx for it
  may stop crawling the whole site. Its key ignores cookies, its Cache-Control is ignored, but
  only a 200 without Set-Cookie is stored, and Vary is still honoured (serving a variant to
  the wrong client is a correctness problem, not a caching policy).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Header fields as (lower-cased name, value without surrounding whitespace).
Fields = Sequence[tuple[bytes, bytes]]

# 64 MiB keeps the latest copy of a few thousand typical pages (HTML is 20-100 KiB).
DEFAULT_SIZE = 64 * 1024 * 1024
# 1 MiB: pages and small assets; big downloads would evict many pages for one object.
DEFAULT_MAX_OBJECT = 1024 * 1024
# A day: covers a night-long outage; older copies mislead more than they help.
DEFAULT_MAX_AGE = 86400.0
# The file format stores lengths as 32-bit numbers; no single response may come near that.
MAX_OBJECT_LIMIT = 2**31

ROBOTS_PATH = b"/robots.txt"

# RFC 9110 15.1 heuristically cacheable statuses, without 206 and the 5xx ones.
STORABLE_STATUSES = frozenset({200, 203, 204, 300, 301, 308, 404, 405, 410, 414})
# Directives that make a response private or forbid serving it stale (RFC 9111 4.2.4, 5.2.2).
REFUSING_DIRECTIVES = frozenset(
    {b"no-store", b"private", b"no-cache", b"must-revalidate", b"proxy-revalidate"}
)

_OWS = b" \t"
_SEP = b"\n"  # cannot occur in a validated target or field value, so keys are unambiguous
_PAGE = b"page"
_ROBOTS = b"robots"


class CookieMode(enum.Enum):
    """What to do with a request that carries a Cookie (``Cookies key|skip``)."""

    KEY = "key"  # the cookie value is part of the key: one copy per cookie
    SKIP = "skip"  # such requests are neither captured nor answered from the store


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """The stale fallback of one service (the ``StaleFallback`` section)."""

    size: int = DEFAULT_SIZE  # bytes of all entries together (``Size``)
    max_object: int = DEFAULT_MAX_OBJECT  # bytes of one stored head and body (``MaxObject``)
    directory: str | None = None  # where copies persist across restarts (``Directory``)
    cookies: CookieMode = CookieMode.SKIP  # ``Cookies key|skip``
    max_age: float = DEFAULT_MAX_AGE  # seconds a copy may be served after it was made

    def __post_init__(self) -> None:
        if self.size < 1 or self.max_object < 1:
            raise ValueError("StaleFallback Size and MaxObject must be positive")
        if self.max_object >= MAX_OBJECT_LIMIT:
            raise ValueError(f"StaleFallback MaxObject must be below {MAX_OBJECT_LIMIT}")
        if not self.max_age > 0:
            raise ValueError("StaleFallback MaxAge must be positive")


def head_fields(raw: bytes) -> list[tuple[bytes, bytes]]:
    """The header fields of a raw (already validated) request or response head."""
    fields = []
    for line in raw.split(b"\r\n")[1:]:
        if not line:
            break
        name, _, value = line.partition(b":")
        fields.append((name.lower(), value.strip(_OWS)))
    return fields


def list_elements(values: Iterable[bytes]) -> list[bytes]:
    """Lower-cased elements of comma-separated field values; empty elements dropped."""
    out = []
    for value in values:
        for element in value.split(b","):
            element = element.strip(_OWS).lower()
            if element:
                out.append(element)
    return out


def _directive_names(values: Iterable[bytes]) -> set[bytes]:
    # A quoted argument with a comma (no-cache="a, b") splits badly, but only into names
    # that mean nothing to us, and the directive before it is still found: safe.
    return {element.partition(b"=")[0].strip(_OWS) for element in list_elements(values)}


def _accept_encoding(values: list[bytes]) -> bytes:
    """Accepted codings, sorted, without q=0 ones: equal sets give equal keys."""
    codings = set()
    for element in list_elements(values):
        coding, _, params = element.partition(b";")
        refused = False
        for param in params.split(b";"):
            name, _, q = param.partition(b"=")
            if name.strip(_OWS) == b"q":
                try:
                    refused = float(q.strip(_OWS)) == 0.0
                except ValueError:
                    refused = True  # an unreadable weight: do not count the coding
        if not refused:
            codings.add(coding.strip(_OWS))
    return b",".join(sorted(codings))


def request_key(
    method: bytes, target: bytes, host: bytes | None, headers: Fields, policy: CachePolicy
) -> bytes | None:
    """The store key of a request, or None when the stale fallback must ignore it."""
    if method != b"GET" and method != b"HEAD":
        return None
    if not target.startswith(b"/"):
        return None
    cookies: list[bytes] = []
    encodings: list[bytes] = []
    for name, value in headers:
        if name == b"authorization":
            return None
        if name == b"cookie":
            cookies.append(value)
        elif name == b"accept-encoding":
            encodings.append(value)
        elif name == b"cache-control" and b"no-store" in _directive_names((value,)):
            return None
    robots = target.partition(b"?")[0] == ROBOTS_PATH
    cookie = b""
    if cookies and not robots:
        if policy.cookies is CookieMode.SKIP:
            return None
        cookie = b"; ".join(cookies)
    return _SEP.join(
        (
            _ROBOTS if robots else _PAGE,
            (host or b"").lower(),
            target,
            _accept_encoding(encodings),
            cookie,
        )
    )


def is_robots_key(key: bytes) -> bool:
    """True for the key of a ``/robots.txt`` request."""
    return key.startswith(_ROBOTS + _SEP)


def keyed_vary(policy: CachePolicy, *, robots: bool) -> frozenset[bytes]:
    """Request headers whose values the key holds, so a response may Vary on them."""
    if policy.cookies is CookieMode.KEY and not robots:
        return frozenset({b"accept-encoding", b"cookie"})
    return frozenset({b"accept-encoding"})


def response_storable(
    status: int, headers: Fields, policy: CachePolicy, *, robots: bool = False
) -> bool:
    """True when a response may be kept as the stale copy for its request's key."""
    if status != 200 and (robots or status not in STORABLE_STATUSES):
        return False
    cache_control: list[bytes] = []
    vary: list[bytes] = []
    for name, value in headers:
        if name == b"set-cookie":
            return False
        if name == b"cache-control":
            cache_control.append(value)
        elif name == b"vary":
            vary.append(value)
    if not robots and _directive_names(cache_control) & REFUSING_DIRECTIVES:
        return False
    return set(list_elements(vary)) <= keyed_vary(policy, robots=robots)
