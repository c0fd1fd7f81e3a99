"""Which services keep stale copies, and the name of each one's store (pure).

A store's name is its identity across reloads and between processes: the supervisor owns
the store of each name, every worker holds a replica, and a reload keeps the store of a
name that stays. The name is the listener's address and port (``*`` for the global
services) and the service's name, or its position when it has none or shares it, as
backends are kept by their address: inserting an unnamed service before another moves the
copies of the one after it to a new, empty store (name your services to avoid that).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence

from standby.cache.policy import CachePolicy, CookieMode
from standby.model import ConfigSpec, ServiceSpec, StaleSpec

# Names travel in IPC text fields (at most 4 KiB); a longer service name falls back to the
# service's position.
MAX_NAME = 1024


def cache_policy(spec: StaleSpec) -> CachePolicy:
    """The stale store's policy for a ``StaleFallback`` section."""
    return CachePolicy(
        size=spec.size,
        max_object=spec.max_object,
        directory=spec.directory,
        cookies=CookieMode.KEY if spec.key_cookies else CookieMode.SKIP,
        max_age=spec.max_age,
    )


def table_names(
    config: ConfigSpec, kind: str, wanted: Callable[[ServiceSpec], bool]
) -> Iterator[tuple[str, ServiceSpec]]:
    """Each ``wanted`` service with the name of its ``kind`` table ("stale", "session"), by
    the rule above (sessions are named the same way)."""
    scopes: list[tuple[str, Sequence[ServiceSpec]]] = [
        (f"{listener.address}:{listener.port}", listener.services) for listener in config.listeners
    ]
    scopes.append(("*", config.services))
    for scope, services in scopes:
        names = Counter(s.name for s in services if s.name)
        for index, service in enumerate(services):
            if not wanted(service):
                continue
            label = f"#{index}"
            if service.name and names[service.name] == 1:
                label = f"{service.name!r}"
            name = f"{kind} {scope} {label}"
            if len(name.encode("utf-8", "replace")) > MAX_NAME:
                name = f"{kind} {scope} #{index}"
            yield name, service


def stale_services(config: ConfigSpec) -> dict[str, tuple[ServiceSpec, CachePolicy]]:
    """Every service with ``StaleFallback``, by the name of its store."""
    return {
        name: (service, cache_policy(service.stale))
        for name, service in table_names(config, "stale", lambda s: s.stale is not None)
        if service.stale is not None
    }
