"""Nothing in these tests may ask a real name server: the system's resolv.conf is never
read (a configuration without a `Resolver` fails to load instead)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from standby.config.dynamic import RESOLV_CONF_ENV
from tests.dns.server import DnsServer

NO_SYSTEM_RESOLVER = "/nonexistent/standby-tests-never-read-resolv.conf"


@pytest.fixture(autouse=True)
def _no_system_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RESOLV_CONF_ENV, NO_SYSTEM_RESOLVER)


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    with DnsServer() as server:
        yield server
