"""The resolver's configuration: resolv.conf(5) text, as `Resolver`'s `ConfigFile` and
`ConfigText` give it (pure: text in, values out).

Of resolv.conf, a stub resolver for dynamic backends uses `nameserver` (up to
``MAX_NAMESERVERS``, tried in order) and the `options` `timeout:N` and `attempts:N`;
`domain`, `search` and the other options are accepted and ignored: dynamic backends name
their hosts in full. standby also reads `nameserver ADDRESS:PORT` (`[ADDRESS]:PORT` for
IPv6), so that a server on another port (a local cache, a test's) can be named.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

DNS_PORT = 53
MAX_NAMESERVERS = 3  # glibc's MAXNS: the rest are ignored
# resolv.conf(5)'s defaults and bounds: seconds per try, and tries per nameserver.
DEFAULT_TIMEOUT = 5
MAX_TIMEOUT = 30
DEFAULT_ATTEMPTS = 2
MAX_ATTEMPTS = 5
SYSTEM_FILE = "/etc/resolv.conf"
# resolv.conf keywords a stub resolver may meet; others are errors (a typo, or not a
# resolv.conf at all).
KNOWN = frozenset({"nameserver", "domain", "search", "options", "sortlist"})


@dataclass(frozen=True, slots=True)
class ResolvConf:
    nameservers: tuple[tuple[str, int], ...]  # (address, port)
    timeout: float = DEFAULT_TIMEOUT
    attempts: int = DEFAULT_ATTEMPTS


class ResolvConfError(ValueError):
    """A bad line: ``line`` and ``col`` (1-based) say where in the text."""

    def __init__(self, line: int, col: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.col = col


def parse_nameserver(text: str) -> tuple[str, int]:
    """``ADDRESS``, ``ADDRESS:PORT`` or ``[ADDRESS]:PORT`` -> (address, port); ValueError
    if the address is not an IP address (a name server is never named by a name) or the
    port is out of range."""
    port = DNS_PORT
    host = text
    if text.startswith("["):
        close = text.find("]")
        if close < 0 or not text[close + 1 :].startswith(":"):
            raise ValueError(f"bad nameserver {text!r} (use [ADDRESS]:PORT)")
        host, port_text = text[1:close], text[close + 2 :]
        port = _port(port_text, text)
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        port = _port(port_text, text)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"bad nameserver {text!r} (expected an IP address)") from None
    return str(address), port


def _port(text: str, whole: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"bad port in nameserver {whole!r}")
    return int(text)


def _option(name: str, value: str, high: int) -> int:
    if not value.isdigit():
        raise ValueError(f"bad value {value!r} for option {name}")
    return max(1, min(int(value), high))


def parse(text: str) -> ResolvConf:
    """The settings in ``text``; ResolvConfError on a line it cannot read. No nameserver
    at all is an error too: glibc would then ask 127.0.0.1, which is rarely what a
    proxy's operator meant."""
    servers: list[tuple[str, int]] = []
    timeout = DEFAULT_TIMEOUT
    attempts = DEFAULT_ATTEMPTS
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split(";", 1)[0].split()
        if not words:
            continue
        keyword = words[0].lower()
        col = line.index(words[0]) + 1
        if keyword not in KNOWN:
            raise ResolvConfError(number, col, f"unknown resolv.conf keyword {words[0]!r}")
        try:
            if keyword == "nameserver":
                if len(words) != 2:
                    raise ValueError("nameserver takes one address")
                if len(servers) < MAX_NAMESERVERS:
                    servers.append(parse_nameserver(words[1]))
            elif keyword == "options":
                for option in words[1:]:
                    name, _, value = option.partition(":")
                    if name == "timeout":
                        timeout = _option(name, value, MAX_TIMEOUT)
                    elif name == "attempts":
                        attempts = _option(name, value, MAX_ATTEMPTS)
        except ValueError as exc:
            raise ResolvConfError(number, col, str(exc)) from None
    if not servers:
        raise ResolvConfError(1, 1, "no nameserver")
    return ResolvConf(tuple(servers), float(timeout), attempts)
