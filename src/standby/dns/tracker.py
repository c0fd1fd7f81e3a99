"""Keeps a configuration's dynamic backends current: each template is resolved, then
again when its records' TTL (or `OverrideTTL`) runs out, or after `RetryInterval` when the
lookup failed or found nothing. A change is handed to ``on_change`` with every template's
targets; the owner (the proxy in one process, the supervisor with several) applies it.

A failed lookup keeps the backends the last good one made: a resolver that is down for a
while must not empty a service. An answer saying the name has no address now (NXDOMAIN,
or no records) does remove them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from standby import dns
from standby.dns.client import DnsError, Lookup, Resolver
from standby.dns.expand import SrvTarget, Target, address_targets, srv_targets, templates
from standby.dns.resolvconf import ResolvConf
from standby.dns.wire import RType
from standby.model import (
    MIN_DNS_INTERVAL,
    AddressFamily,
    BackendSpec,
    ConfigSpec,
    ResolveMode,
)

log = logging.getLogger("standby.dns")

ChangeListener = Callable[[dict[int, tuple[Target, ...]]], None]
_FAMILIES: dict[AddressFamily, tuple[int, ...]] = {
    AddressFamily.ANY: (RType.A, RType.AAAA),
    AddressFamily.INET: (RType.A,),
    AddressFamily.INET6: (RType.AAAA,),
}


def template_key(template: BackendSpec) -> tuple[object, ...]:
    """What makes two templates of two configurations the same lookup (their index may
    differ): a reload keeps the targets of those that stay."""
    dynamic = template.dynamic
    assert dynamic is not None
    return (
        template.address,
        template.port,
        template.priority,
        template.emergency,
        dynamic.mode,
        dynamic.family,
        dynamic.ignore_srv_weight,
    )


async def resolve(
    resolver: Resolver, template: BackendSpec
) -> tuple[tuple[Target, ...], int | None]:
    """The targets of ``template`` now, and the TTL of the records that made them."""
    dynamic = template.dynamic
    assert dynamic is not None
    families = _FAMILIES[dynamic.family]
    if dynamic.mode is not ResolveMode.SRV:
        found = await resolver.addresses(template.address, families)
        addresses = tuple(r.data for r in found.records if isinstance(r.data, str))
        return address_targets(template, addresses), found.ttl
    records, ttl = await resolver.srv(template.address)
    ttls = [] if ttl is None else [ttl]
    targets: list[SrvTarget] = []
    for record in records:
        if not record.target:  # "." (RFC 2782): the service is not available there
            continue
        hosts: Lookup = await resolver.addresses(record.target, families)
        if hosts.ttl is not None:
            ttls.append(hosts.ttl)
        addresses = tuple(r.data for r in hosts.records if isinstance(r.data, str))
        targets.append(
            SrvTarget(record.priority, record.weight, record.port, addresses, record.target)
        )
    return srv_targets(template, tuple(targets)), (min(ttls) if ttls else None)


class DnsTracker:
    """Resolves every template of one configuration, each in a task of its own."""

    def __init__(self, on_change: ChangeListener) -> None:
        self.on_change = on_change
        self.resolved: dict[int, tuple[Target, ...]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._keys: dict[tuple[object, ...], int] = {}

    def carried(self, config: ConfigSpec) -> dict[int, tuple[Target, ...]]:
        """The targets known for ``config``'s templates: those of the configuration
        tracked now that ``config`` has too (by ``template_key``), under its indexes."""
        kept: dict[int, tuple[Target, ...]] = {}
        for template in templates(config):
            assert template.dynamic is not None
            old = self._keys.get(template_key(template))
            if old is not None and old in self.resolved:
                kept[template.dynamic.index] = self.resolved[old]
        return kept

    def follow(self, config: ConfigSpec) -> dict[int, tuple[Target, ...]]:
        """Track ``config``'s templates from now on (those of the previous configuration
        that stay keep their targets); returns the targets known for them."""
        found = templates(config)
        kept = self.carried(config)
        keys = {template_key(t): t.dynamic.index for t in found if t.dynamic is not None}
        self.stop()
        self.resolved = kept
        self._keys = keys
        if not found:
            return kept
        if not dns.enabled():
            log.warning("DNS is off (-W no-dns): %d dynamic backends stay empty", len(found))
            return kept
        spec = config.resolver
        assert spec is not None  # the compiler sets it whenever there is a template
        resolver = Resolver(
            ResolvConf(spec.nameservers, spec.timeout, spec.attempts), spec.cname_chain
        )
        for template in found:
            retry = spec.retry_interval
            if template.dynamic is not None and template.dynamic.retry_interval is not None:
                retry = template.dynamic.retry_interval
            task = self._track(resolver, template, retry, spec.debug)
            self._tasks.append(asyncio.create_task(task))
        return kept

    def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks = []

    async def close(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _track(
        self, resolver: Resolver, template: BackendSpec, retry: float, debug: bool
    ) -> None:
        dynamic = template.dynamic
        assert dynamic is not None
        index = dynamic.index
        while True:
            try:
                targets, ttl = await resolve(resolver, template)
            except DnsError as exc:
                log.warning(
                    "%s: cannot resolve %s (%s); retrying in %gs",
                    template.location,
                    template.address,
                    exc,
                    retry,
                )
                delay = retry
            else:
                if ttl is None:  # nothing found: as a failure, but the backends go
                    delay = retry
                else:
                    delay = dynamic.override_ttl if dynamic.override_ttl is not None else ttl
                if debug:
                    shown = ", ".join(f"{t.address}:{t.port}" for t in targets)
                    log.info(
                        "%s: %s looked up: %s (TTL %s)",
                        template.location,
                        template.address,
                        shown or "nothing",
                        ttl,
                    )
                if self.resolved.get(index) != targets:
                    self.resolved[index] = targets
                    shown = ", ".join(f"{t.address}:{t.port}" for t in targets)
                    log.info(
                        "%s: %s resolves to %s",
                        template.location,
                        template.address,
                        shown or "nothing",
                    )
                    self.on_change(dict(self.resolved))
            await asyncio.sleep(max(delay, MIN_DNS_INTERVAL))
