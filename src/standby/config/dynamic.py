"""Dynamic backends in the configuration (issue 15): a BackEnd's `Resolve`, `Family`,
`IgnoreSRVWeight`, `OverrideTTL`, `RetryInterval` to ``model.DynamicSpec``, and the
`Resolver` section (or the system's resolv.conf) to ``model.ResolverSpec``.

The resolver's configuration is read when the file loads, so that `standby -c` reports a
bad name server where it is written, and a reload with one keeps the old configuration.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Callable
from dataclasses import replace

from standby import dns, model
from standby.config.errors import ConfigError, quote
from standby.config.tree import Directive, SectionNode
from standby.dns.resolvconf import SYSTEM_FILE, ResolvConf, ResolvConfError, parse
from standby.model import (
    AddressFamily,
    BackendSpec,
    ConfigSpec,
    DynamicSpec,
    Location,
    ResolveMode,
    ResolverSpec,
    ServiceSpec,
)

log = logging.getLogger(__name__)

# Where the system's resolver configuration is read when there is no `Resolver` section;
# the tests point it at a file that does not exist, so that nothing in them can ever ask
# a real name server.
RESOLV_CONF_ENV = "STANDBY_RESOLV_CONF"
_COMPANIONS = ("Family", "IgnoreSRVWeight", "OverrideTTL", "RetryInterval")


def dynamic_backend(node: SectionNode, address: str) -> DynamicSpec | None:
    """The DynamicSpec of a BackEnd or Emergency section (None without `Resolve`)."""
    resolve = node.first("Resolve")
    if resolve is None:
        for name in _COMPANIONS:
            directive = node.first(name)
            if directive is not None:
                log.warning('%s: "%s" has no effect without "Resolve"', directive.location, name)
        return None
    mode = ResolveMode(resolve.values[0])
    if address.startswith("/") or _is_ip(address):
        raise ConfigError(
            resolve.location,
            f'"Resolve {mode.value}" needs a host name in "Address", not {quote(address)}',
        )
    port = node.first("Port")
    if port is not None and mode is ResolveMode.SRV:
        log.warning(
            '%s: "Port" has no effect with "Resolve srv": each SRV record names its port',
            port.location,
        )
    ignore = node.first("IgnoreSRVWeight")
    if ignore is not None and mode is not ResolveMode.SRV:
        log.warning('%s: "IgnoreSRVWeight" applies to "Resolve srv" only', ignore.location)
    family = node.first("Family")
    override = node.first("OverrideTTL")
    retry = node.first("RetryInterval")
    return DynamicSpec(
        mode=mode,
        family=AddressFamily.ANY if family is None else AddressFamily(family.values[0]),
        ignore_srv_weight=ignore is not None and bool(ignore.values[0]),
        override_ttl=None if override is None else _seconds(override),
        retry_interval=None if retry is None else _seconds(retry),
    )


def needs_port(dynamic: DynamicSpec | None) -> bool:
    """Whether the backend must have a Port: an SRV record brings its own."""
    return dynamic is None or dynamic.mode is not ResolveMode.SRV


def _seconds(directive: Directive) -> float:
    value = directive.values[0]
    assert isinstance(value, float | int)
    return float(value)


def _is_ip(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


def finish(config: ConfigSpec, root: SectionNode, read: Callable[[str], bytes]) -> ConfigSpec:
    """Number the templates (the key by which a supervisor tells its workers their
    targets) and attach the resolver's configuration, when there is any template."""
    count = 0

    def numbered(service: ServiceSpec) -> ServiceSpec:
        nonlocal count
        if not service.dynamic:
            return service
        found: list[BackendSpec] = []
        for template in service.dynamic:
            assert template.dynamic is not None
            found.append(replace(template, dynamic=replace(template.dynamic, index=count)))
            count += 1
        return replace(service, dynamic=tuple(found))

    listeners = tuple(
        replace(lst, services=tuple(numbered(s) for s in lst.services)) for lst in config.listeners
    )
    services = tuple(numbered(s) for s in config.services)
    node = next(
        (n for n in root.sections() if n.keyword is not None and n.keyword.name == "Resolver"),
        None,
    )
    if count == 0:
        if node is not None:  # still checked: a bad one is reported, as Pound does
            resolver_spec(node, read, node.location)
            log.warning('%s: "Resolver" has no effect without a "Resolve" backend', node.location)
        return config
    resolver = resolver_spec(node, read, Location(config.source, 1, 1))
    return replace(config, listeners=listeners, services=services, resolver=resolver)


def resolver_spec(
    node: SectionNode | None, read: Callable[[str], bytes], top: Location
) -> ResolverSpec:
    """The `Resolver` section (None: the system's resolv.conf, read now)."""
    conf: ResolvConf | None = None
    chain = model.DEFAULT_CNAME_CHAIN
    retry = model.DEFAULT_DNS_RETRY
    debug = False
    location = top
    if node is not None:
        location = node.location
        for child in node.body:
            assert child.keyword is not None
            name = child.keyword.name
            if isinstance(child, SectionNode):  # ConfigText ... End
                conf = _config_text(child)
            elif name == "ConfigFile":
                path = child.values[0]
                assert isinstance(path, str)
                conf = _config_file(path, read, child.location)
            elif name == "CNAMEChain":
                value = child.values[0]
                assert isinstance(value, int)
                chain = value
            elif name == "RetryInterval":
                retry = _seconds(child)
            elif name == "Debug":
                debug = bool(child.values[0])
    if conf is None and dns.enabled():
        path = os.environ.get(RESOLV_CONF_ENV, SYSTEM_FILE)
        conf = _config_file(path, read, location)
    if conf is None:  # -W no-dns: nothing is looked up, nothing needs a server
        conf = ResolvConf(())
    return ResolverSpec(
        nameservers=conf.nameservers,
        timeout=conf.timeout,
        attempts=conf.attempts,
        cname_chain=chain,
        retry_interval=retry,
        debug=debug,
        location=location,
    )


def _config_file(path: str, read: Callable[[str], bytes], at: Location) -> ResolvConf:
    try:
        text = read(path).decode("utf-8", "replace")
    except OSError as exc:
        raise ConfigError(
            at, f"cannot read resolver configuration {quote(path)}: {exc.strerror or exc}"
        ) from None
    try:
        return parse(text)
    except ResolvConfError as exc:
        raise ConfigError(at, f"{path}:{exc.line}.{exc.col}: {exc}") from None


def _config_text(node: SectionNode) -> ResolvConf:
    """`ConfigText` lines, each read as the resolv.conf line it is; an error is reported
    at its line in the configuration."""
    directives = node.directives()
    lines = [" ".join((d.keyword.name, *(t for t in d.texts if t))) for d in directives]
    try:
        return parse("\n".join(lines))
    except ResolvConfError as exc:
        if not directives:
            raise ConfigError(node.location, f'"ConfigText" has {exc}') from None
        directive = directives[min(exc.line, len(directives)) - 1]
        at = directive.arg_locations[0] if directive.arg_locations else directive.location
        raise ConfigError(at, str(exc)) from None
