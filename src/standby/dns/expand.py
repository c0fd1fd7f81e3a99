"""Dynamic backends as ordinary ones (pure): what DNS said of each template, turned into
BackEnd and Emergency specs, and a configuration with them in place.

A template (a BackEnd with `Resolve`) stays in ``ServiceSpec.dynamic``; ``expand`` makes
the configuration that is served: each service's backends followed by those generated
from its templates. Everything that makes a backend (timeouts, checks, TLS) comes from
its template; the address, port, Priority and tier come from DNS:

- `first`, `all`: the addresses (the first one only, for `first`), the template's Port,
  Priority and tier;
- `srv`: one backend per address of each SRV target, at the record's port, with the
  record's weight as Priority (1 for every one when all weights are 0, as Pound does; the
  template's Priority with `IgnoreSRVWeight`). SRV priorities are balancer groups: the
  lowest is the template's tier, every higher one is the Emergency tier (standby has two
  tiers where Pound 4 has a group per priority).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from standby.model import BackendSpec, ConfigSpec, ResolveMode, ServiceSpec


@dataclass(frozen=True, slots=True, order=True)
class Target:
    """One generated backend, as the resolver found it."""

    address: str  # an IP address
    port: int
    priority: int  # standby's Priority
    emergency: bool
    host: str = ""  # the name it was found under: an HTTPS backend's SNI and verified name


# The templates' targets by template index (DynamicSpec.index).
Resolved = Mapping[int, tuple[Target, ...]]


@dataclass(frozen=True, slots=True)
class SrvTarget:
    """An SRV record with its target's addresses."""

    priority: int
    weight: int
    port: int
    addresses: tuple[str, ...]
    target: str = ""  # the record's target name


def address_targets(template: BackendSpec, addresses: tuple[str, ...]) -> tuple[Target, ...]:
    """`Resolve first` and `all`: the template's port, priority and tier."""
    dynamic = template.dynamic
    assert dynamic is not None and template.port is not None
    chosen = addresses[:1] if dynamic.mode is ResolveMode.FIRST else addresses
    unique = dict.fromkeys(chosen)  # a server listed twice is one backend
    found = (
        Target(a, template.port, template.priority, template.emergency, template.address)
        for a in unique
    )
    return tuple(sorted(found))


def srv_targets(template: BackendSpec, records: tuple[SrvTarget, ...]) -> tuple[Target, ...]:
    """`Resolve srv`: one backend per address of each record."""
    dynamic = template.dynamic
    assert dynamic is not None
    if not records:
        return ()
    first_group = min(r.priority for r in records)
    weightless = all(r.weight == 0 for r in records)
    found: dict[tuple[str, int], Target] = {}
    for record in sorted(records, key=lambda r: r.priority):
        if dynamic.ignore_srv_weight:
            priority = template.priority
        else:
            priority = 1 if weightless else record.weight
        emergency = template.emergency or record.priority != first_group
        for address in record.addresses:
            # The same server reached through two records: the first (best group) counts.
            target = Target(address, record.port, priority, emergency, record.target)
            found.setdefault((address, record.port), target)
    return tuple(sorted(found.values()))


def generated(template: BackendSpec, targets: tuple[Target, ...]) -> list[BackendSpec]:
    """The backends ``targets`` make from ``template``."""
    name = template.address
    tls = template.tls
    return [
        replace(
            template,
            address=t.address,
            port=t.port,
            priority=t.priority,
            emergency=t.emergency,
            dynamic=None,
            dns_name=name,
            # HTTPS: the name, not the address, is what the certificate is for (as with a
            # static backend's host name); an explicit ServerName stays.
            tls=tls
            if tls is None or tls.server_name is not None or not t.host
            else replace(tls, server_name=t.host),
        )
        for t in targets
    ]


def templates(config: ConfigSpec) -> list[BackendSpec]:
    """Every template of ``config``, in index order."""
    found = [b for s in _services(config) for b in s.dynamic]
    return sorted(found, key=lambda b: b.dynamic.index if b.dynamic is not None else 0)


def _services(config: ConfigSpec) -> list[ServiceSpec]:
    return [*(s for lst in config.listeners for s in lst.services), *config.services]


def _expand_service(service: ServiceSpec, resolved: Resolved) -> ServiceSpec:
    if not service.dynamic:
        return service
    regular = list(service.backends)
    emergency = list(service.emergencies)
    for template in service.dynamic:
        assert template.dynamic is not None
        for backend in generated(template, resolved.get(template.dynamic.index, ())):
            (emergency if backend.emergency else regular).append(backend)
    return replace(service, backends=tuple(regular), emergencies=tuple(emergency))


def expand(config: ConfigSpec, resolved: Resolved) -> ConfigSpec:
    """``config`` with each template's generated backends in its service (a template not
    resolved yet generates none). Without templates, ``config`` itself."""
    if not templates(config):
        return config
    listeners = tuple(
        replace(lst, services=tuple(_expand_service(s, resolved) for s in lst.services))
        for lst in config.listeners
    )
    services = tuple(_expand_service(s, resolved) for s in config.services)
    return replace(config, listeners=listeners, services=services)


def encode_targets(targets: tuple[Target, ...]) -> bytes:
    """``targets`` as the supervisor sends them to its workers: one line each."""
    lines = (f"{t.address} {t.port} {t.priority} {int(t.emergency)} {t.host}" for t in targets)
    return "\n".join(lines).encode("ascii")


def decode_targets(data: bytes) -> tuple[Target, ...]:
    """The inverse of ``encode_targets``; ValueError if ``data`` is not its output."""
    targets = []
    for line in data.decode("ascii").splitlines():
        address, port, priority, emergency, host = line.split(" ")
        if emergency not in ("0", "1"):
            raise ValueError(f"bad tier {emergency!r}")
        targets.append(Target(address, int(port), int(priority), emergency == "1", host))
    return tuple(targets)
