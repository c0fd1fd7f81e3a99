"""Access control lists (``ACL``, ``TrustedIP``): CIDR parsing and membership (pure).

A CIDR is an IPv4 or IPv6 address, optionally followed by ``/`` and a mask length (0..32,
0..128); host bits below the mask are ignored, as Pound does (``"127.0.0.1/8"`` is
127.0.0.0/8). An IPv4 client seen through an IPv6 socket (``::ffff:a.b.c.d``) is matched
as the IPv4 address.

The client address behind proxies (``ACL -forwarded``, Pound's ``%a``): the addresses of
the forwarded header (``X-Forwarded-For`` unless ``ForwardedHeader`` names another), walked
from right to left, the first one not in ``TrustedIP``; the connection's own address when
there is no ``TrustedIP``, no header, or every address in it is trusted.
"""

from __future__ import annotations

import ipaddress

from standby.model import AclSpec, ForwardedSpec, Location

_IPV4_BITS = 32
_IPV6_BITS = 128


def parse_cidr(text: str) -> tuple[int, int, int]:
    """``text`` as (version, network, mask); ValueError with a message when it is not a CIDR."""
    address, slash, length = text.strip().partition("/")
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise ValueError(f'bad address "{text}" in ACL (expected an IPv4 or IPv6 CIDR)') from None
    bits = _IPV4_BITS if ip.version == 4 else _IPV6_BITS
    prefix = bits
    if slash:
        if not length.isdigit() or not 0 <= int(length) <= bits:
            raise ValueError(f'bad mask length in "{text}" (expected 0..{bits})')
        prefix = int(length)
    mask = ((1 << bits) - 1) ^ ((1 << (bits - prefix)) - 1)
    return ip.version, int(ip) & mask, mask


def make_acl(name: str, cidrs: list[str], location: Location) -> AclSpec:
    """An ACL from CIDR texts (ValueError naming the first bad one)."""
    return AclSpec(name, tuple(parse_cidr(cidr) for cidr in cidrs), location)


def parse_acl_file(text: str) -> list[tuple[int, str]]:
    """The CIDRs of an ACL file (``-file``): one per line, unquoted or quoted, ``#``
    comments and blank lines ignored; (line number, CIDR) pairs."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        item = line.split("#", 1)[0].strip().strip('"').strip()
        if item:
            found.append((number, item))
    return found


def _address(text: str) -> tuple[int, int] | None:
    try:
        ip = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return 4, int(ip.ipv4_mapped)
    return ip.version, int(ip)


def acl_contains(acl: AclSpec, address: str) -> bool:
    """Whether ``address`` (an IP address as text) is in ``acl``; never for a non-address."""
    parsed = _address(address)
    if parsed is None:
        return False
    version, value = parsed
    live = acl.live
    for net_version, network, mask in acl.networks if live is None else live.networks:
        if net_version == version and value & mask == network:
            return True
    return False


def client_address(peer: str, header: bytes | None, forwarded: ForwardedSpec | None) -> str:
    """The client's address: ``peer``, or the one ``forwarded`` finds in ``header`` (the
    value of its forwarded header, None when absent)."""
    if forwarded is None or forwarded.trusted is None or not header:
        return peer
    for item in reversed(header.decode("latin-1").split(",")):
        candidate = item.strip()
        if candidate and not acl_contains(forwarded.trusted, candidate):
            return candidate if _address(candidate) is not None else peer
    return peer
