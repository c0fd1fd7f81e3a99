"""Which certificate answers which server name (SNI): pure, no I/O.

A certificate answers the DNS names of its subjectAltName, or its subject CN when it has
no DNS name at all (RFC 6125 6.4.4). A name ``*.example.com`` matches exactly one more
label on the left (``a.example.com``, not ``example.com`` nor ``a.b.example.com``); only a
whole left-most ``*`` label is a wildcard (RFC 6125 6.4.3, as browsers do). Comparison is
ASCII case-insensitive, a trailing dot ignored. Certificates are tried in configuration
order (Pound's rule: the first that matches answers; exact names do not beat an earlier
wildcard), and the first one answers when none matches or the client sent no name.
"""

from __future__ import annotations

from collections.abc import Sequence


def normalise(name: str) -> str:
    """A DNS name as compared: lower case, no trailing dot."""
    return name.rstrip(".").lower()


def matches(pattern: str, name: str) -> bool:
    """Whether the certificate name ``pattern`` covers the server name ``name``."""
    pattern = normalise(pattern)
    name = normalise(name)
    if not pattern or not name:
        return False
    if pattern.startswith("*."):
        suffix = pattern[1:]  # ".example.com"
        if "*" in suffix or suffix.count(".") < 2:
            return False  # "*.com" and nested wildcards answer nothing
        head, dot, rest = name.partition(".")
        return bool(head) and bool(dot) and "." + rest == suffix
    return "*" not in pattern and pattern == name


def choose(names: Sequence[Sequence[str]], server_name: str | None) -> int:
    """The index of the certificate (by its list of names) that answers ``server_name``:
    the first that matches, else 0 (the default). ``names`` must not be empty."""
    if server_name:
        for index, cert_names in enumerate(names):
            for pattern in cert_names:
                if matches(pattern, server_name):
                    return index
    return 0


class NameIndex:
    """``choose`` with exact names found by one dict lookup: a listener with many
    certificates (a directory of them) answers each handshake without a scan."""

    __slots__ = ("_exact", "_wild")

    def __init__(self, names: Sequence[Sequence[str]]) -> None:
        self._exact: dict[str, int] = {}
        self._wild: dict[str, int] = {}  # ".example.com" -> first certificate with "*."
        for index, cert_names in enumerate(names):
            for pattern in cert_names:
                key = normalise(pattern)
                if key.startswith("*."):
                    if matches(key, "x" + key[1:]):
                        self._wild.setdefault(key[1:], index)
                elif key and "*" not in key:
                    self._exact.setdefault(key, index)

    def choose(self, server_name: str | None) -> int:
        if not server_name:
            return 0
        name = normalise(server_name)
        exact = self._exact.get(name)
        _, dot, rest = name.partition(".")
        wild = self._wild.get("." + rest) if dot and name[0] != "." else None
        if exact is None:
            return 0 if wild is None else wild
        return exact if wild is None else min(exact, wild)
