"""The stub resolver against a DNS server on loopback: addresses, SRV, aliases within the
allowed chain, TCP after a truncated answer, failover to the next server, and failures."""

from __future__ import annotations

import asyncio

import pytest

from standby.dns.client import DnsError, Resolver
from standby.dns.resolvconf import ResolvConf
from standby.dns.wire import RType, Srv
from tests.dns.server import DnsServer

TIMEOUT = 2.0  # per try: generous on a loaded machine, short for the failure cases


def resolver(*servers: DnsServer, chain: int = 0, attempts: int = 1) -> Resolver:
    conf = ResolvConf(tuple((s.host, s.port) for s in servers), TIMEOUT, attempts)
    return Resolver(conf, chain)


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_addresses_of_both_families(dns_server: DnsServer) -> None:
    dns_server.set("www.example.test", ("A", 30, "192.0.2.1"), ("A", 20, "192.0.2.2"),
                   ("AAAA", 40, "2001:db8::1"))  # fmt: skip
    found = run(resolver(dns_server).addresses("www.example.test", (RType.A, RType.AAAA)))
    assert [r.data for r in found.records] == ["192.0.2.1", "192.0.2.2", "2001:db8::1"]
    assert found.ttl == 20
    only6 = run(resolver(dns_server).addresses("www.example.test", (RType.AAAA,)))
    assert [r.data for r in only6.records] == ["2001:db8::1"] and only6.ttl == 40


def test_srv(dns_server: DnsServer) -> None:
    dns_server.set("_http._tcp.example.test", ("SRV", 60, (10, 40, 8081, "be0.example.test")),
                   ("SRV", 50, (20, 10, 8082, "be1.example.test")))  # fmt: skip
    records, ttl = run(resolver(dns_server).srv("_http._tcp.example.test"))
    assert records == [Srv(10, 40, 8081, "be0.example.test"), Srv(20, 10, 8082, "be1.example.test")]
    assert ttl == 50


def test_missing_name_and_empty_answer_are_answers(dns_server: DnsServer) -> None:
    dns_server.set("v6only.example.test", ("AAAA", 30, "2001:db8::2"))
    missing = run(resolver(dns_server).addresses("nothing.example.test", (RType.A,)))
    assert missing.records == () and missing.ttl is None
    empty = run(resolver(dns_server).addresses("v6only.example.test", (RType.A,)))
    assert empty.records == () and empty.ttl is None


def test_one_alias_is_followed_a_chain_needs_cnamechain(dns_server: DnsServer) -> None:
    dns_server.set("alias.example.test", ("CNAME", 10, "real.example.test"))
    dns_server.set("alias2.example.test", ("CNAME", 10, "alias.example.test"))
    dns_server.set("real.example.test", ("A", 30, "192.0.2.7"))
    found = run(resolver(dns_server).addresses("alias.example.test", (RType.A,)))
    assert [r.data for r in found.records] == ["192.0.2.7"] and found.ttl == 10
    with pytest.raises(DnsError, match="CNAME"):
        run(resolver(dns_server).addresses("alias2.example.test", (RType.A,)))
    chained = run(resolver(dns_server, chain=2).addresses("alias2.example.test", (RType.A,)))
    assert [r.data for r in chained.records] == ["192.0.2.7"]


def test_alias_without_its_target_asks_again(dns_server: DnsServer) -> None:
    # The server stops at the alias (its target is not in its zone's answer): asked next.
    dns_server.set("out.example.test", ("CNAME", 10, "elsewhere.example.test"))
    found = run(resolver(dns_server).addresses("out.example.test", (RType.A,)))
    assert found.records == ()
    assert dns_server.count("elsewhere.example.test", "A") == 1  # asked for the target
    dns_server.set("elsewhere.example.test", ("A", 5, "192.0.2.9"))
    found = run(resolver(dns_server).addresses("out.example.test", (RType.A,)))
    assert [r.data for r in found.records] == ["192.0.2.9"] and found.ttl == 5


def test_truncated_answer_is_asked_again_over_tcp(dns_server: DnsServer) -> None:
    many = [("A", 60, f"192.0.2.{i}") for i in range(1, 41)]
    dns_server.set("big.example.test", *many)
    dns_server.truncate.add("big.example.test")
    found = run(resolver(dns_server).addresses("big.example.test", (RType.A,)))
    assert len(found.records) == 40
    assert dns_server.count("big.example.test", "A", "udp") == 1
    assert dns_server.count("big.example.test", "A", "tcp") == 1


def test_failing_server_passes_to_the_next() -> None:
    with DnsServer() as bad, DnsServer() as good:
        bad.servfail.add("www.example.test")
        good.set("www.example.test", ("A", 30, "192.0.2.3"))
        found = run(resolver(bad, good).addresses("www.example.test", (RType.A,)))
        assert [r.data for r in found.records] == ["192.0.2.3"]
        assert bad.count("www.example.test", "A") == 1  # SERVFAIL: not asked twice


def test_no_answer_at_all_is_a_failure() -> None:
    with DnsServer() as silent:
        silent.silent.add("www.example.test")
        with pytest.raises(DnsError, match=r"www\.example\.test"):
            run(resolver(silent, attempts=2).addresses("www.example.test", (RType.A,)))
        assert silent.count("www.example.test", "A") == 2
