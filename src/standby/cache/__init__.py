"""The stale fallback (issue 4 section 3): the latest good copies of public pages, served
only when no backend can answer.

``policy`` (pure) decides what may be kept and under which key, ``entry`` (pure) what a copy
holds and how it is given back or written down, ``store`` (shell) keeps copies in memory and
optionally on disk. This package file imports only the pure modules, so that they stay pure
when imported; import ``StaleStore`` from ``standby.cache.store``.
"""

from standby.cache.entry import Entry, render
from standby.cache.policy import (
    CachePolicy,
    CookieMode,
    head_fields,
    is_robots_key,
    request_key,
    response_storable,
)

__all__ = [
    "CachePolicy",
    "CookieMode",
    "Entry",
    "head_fields",
    "is_robots_key",
    "render",
    "request_key",
    "response_storable",
]
