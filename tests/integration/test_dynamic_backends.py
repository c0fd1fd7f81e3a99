"""Dynamic backends (`Resolve first|all|srv`, `Resolver`) through real sockets, with a DNS
server the test starts on loopback and changes while traffic flows: backends appear and
go as the records do, no request fails meanwhile, health is kept by name, address and
port, and a bad `Resolver` is refused at load and by a reload. Nothing here asks a real
name server: the system's resolv.conf is pointed at a file that does not exist."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.dns.server import DnsServer
from tests.support.backend import Backend
from tests.support.harness import REPO, ProxyThread, config_with_ports, get, wait_until
from tests.support.load import Load

from standby import dns as dns_feature
from standby.config import ConfigError, load_config, load_config_text
from standby.config.dynamic import RESOLV_CONF_ENV

pytestmark = pytest.mark.timeout(180)

DEADLINE = 60.0  # generous: two shared noisy cores
TTL = 1  # seconds: the records change, and the proxy follows, within a test's patience
NAME = "app.example.test"


@pytest.fixture(autouse=True)
def _no_system_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RESOLV_CONF_ENV, "/nonexistent/standby-tests-never-read-resolv.conf")


@pytest.fixture
def dns() -> Iterator[DnsServer]:
    with DnsServer() as server:
        yield server


@contextlib.contextmanager
def backends_on_one_port(*names: str) -> Iterator[list[Backend]]:
    """One backend per name, on 127.0.0.1, 127.0.0.2... all with the same port (what
    `Resolve all` makes: the template's port at each address)."""
    with contextlib.ExitStack() as stack:
        first = stack.enter_context(Backend(names[0]))
        started = [first]
        for i, name in enumerate(names[1:], 2):
            started.append(stack.enter_context(Backend(name, first.port, host=f"127.0.0.{i}")))
        yield started


class Backend6(Backend):
    """A test backend that also listens on an IPv6 address (``host`` with a colon)."""

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(64)
        self.port = sock.getsockname()[1]
        return sock


def template(port: int | None, *lines: str, name: str = NAME) -> str:
    """A dynamic BackEnd section with ``lines`` inside."""
    body = [f'      Address "{name}"', *(["      Port " + str(port)] if port else [])]
    body += [f"      {line}" for line in lines]
    return "    BackEnd\n" + "\n".join(body) + "\n    End"


def config(dns: DnsServer, backend: str, extra: str = "") -> str:
    return f"""
Alive 1
LogLevel 0
{extra}
Resolver
  ConfigText
    nameserver {dns.nameserver}
    options timeout:2 attempts:2
  End
  RetryInterval 1
End
ListenHTTP
  Address 127.0.0.1
  Port {{L0}}
  Service
{backend}
  End
End
"""


def answers(port: int, count: int) -> set[bytes]:
    """The bodies of ``count`` requests, each on a new connection."""
    return {get(port).body for _ in range(count)}


def test_resolve_all_follows_the_records_under_load(dns: DnsServer) -> None:
    dns.set(NAME, ("A", TTL, "127.0.0.1"))
    with backends_on_one_port("a", "b", "c") as (a, _, _):
        text = config(dns, f'    BackEnd\n      Address "{NAME}"\n      Port {a.port}\n'
                           "      Resolve all\n    End")  # fmt: skip
        cfg, socks = config_with_ports(text)
        with ProxyThread(cfg, socks) as proxy:
            wait_until(lambda: get(proxy.port).body == b"a", DEADLINE, "the first address")
            with Load(proxy.port, connections=4, pace=0.01) as load:
                dns.set(NAME, ("A", TTL, "127.0.0.1"), ("A", TTL, "127.0.0.2"),
                        ("A", TTL, "127.0.0.3"))  # fmt: skip
                wait_until(lambda: load.count("200 b'b'") and load.count("200 b'c'"),
                           DEADLINE, "three backends")  # fmt: skip
                dns.set(NAME, ("A", TTL, "127.0.0.3"))
                wait_until(lambda: answers(proxy.port, 10) == {b"c"}, DEADLINE, "only c")
                before = load.total()
                wait_until(lambda: load.total() > before + 20, DEADLINE, "traffic after")
            assert load.failures(("200 b'a'", "200 b'b'", "200 b'c'")) == {}


def test_resolve_first_takes_one_address(dns: DnsServer) -> None:
    dns.set(NAME, ("A", TTL, "127.0.0.2"), ("A", TTL, "127.0.0.1"))
    with backends_on_one_port("a", "b") as (a, _):
        text = config(dns, f'    BackEnd\n      Address "{NAME}"\n      Port {a.port}\n'
                           "      Resolve first\n      Family inet\n    End")  # fmt: skip
        cfg, socks = config_with_ports(text)
        with ProxyThread(cfg, socks) as proxy:
            wait_until(lambda: get(proxy.port).status == 200, DEADLINE, "resolved")
            assert answers(proxy.port, 10) == {b"b"}  # the first record: 127.0.0.2


def test_resolve_srv_ports_weights_and_tiers(dns: DnsServer) -> None:
    with Backend("one") as one, Backend("two") as two, Backend("spare") as spare:
        srv = "_http._tcp.example.test"
        dns.set(srv, ("SRV", TTL, (10, 40, one.port, "h1.example.test")),
                ("SRV", TTL, (10, 70, two.port, "h2.example.test")),
                ("SRV", TTL, (20, 10, spare.port, "h3.example.test")))  # fmt: skip
        for host in ("h1", "h2", "h3"):
            dns.set(f"{host}.example.test", ("A", TTL, "127.0.0.1"))
        text = config(dns, f'    BackEnd\n      Address "{srv}"\n      Resolve srv\n    End')
        cfg, socks = config_with_ports(text)
        with ProxyThread(cfg, socks) as proxy:
            wait_until(lambda: answers(proxy.port, 20) == {b"one", b"two"}, DEADLINE, "both")
            rows = {row.spec.port: row.spec for row in proxy.proxy.board.snapshot()}  # type: ignore[union-attr]
            assert rows[one.port].priority == 40 and rows[two.port].priority == 70
            assert rows[spare.port].emergency and not rows[one.port].emergency
            # The SRV priority 20 group is the Emergency tier: it serves once both are gone.
            one.stop()
            two.stop()
            wait_until(lambda: get(proxy.port).body == b"spare", DEADLINE, "the emergency")


def test_srv_weights_ignored_and_all_zero(dns: DnsServer) -> None:
    with Backend("one") as one, Backend("two") as two:
        srv = "_http._tcp.example.test"
        dns.set(srv, ("SRV", TTL, (10, 0, one.port, "h1.example.test")),
                ("SRV", TTL, (10, 0, two.port, "h1.example.test")))  # fmt: skip
        dns.set("h1.example.test", ("A", TTL, "127.0.0.1"))
        text = config(dns, f'    BackEnd\n      Address "{srv}"\n      Resolve srv\n    End\n'
                           f'    BackEnd\n      Address "{srv}"\n      Resolve srv\n'
                           "      IgnoreSRVWeight true\n      Priority 3\n    End")  # fmt: skip
        cfg, socks = config_with_ports(text)
        with ProxyThread(cfg, socks) as proxy:
            wait_until(lambda: len(proxy.proxy.board.snapshot()) == 2, DEADLINE, "generated")  # type: ignore[union-attr]
            wait_until(lambda: answers(proxy.port, 20) == {b"one", b"two"}, DEADLINE, "both")
            priorities = sorted(r.spec.priority for r in proxy.proxy.board.snapshot())  # type: ignore[union-attr]
            # All weights 0: priority 1 (Pound's rule); the two templates generate the same
            # servers: one backend each, the first template's.
            assert priorities == [1, 1]
        cfg, socks = config_with_ports(
            text.replace(
                "Resolve srv\n    End\n",
                "Resolve srv\n      IgnoreSRVWeight true\n      Priority 3\n    End\n",
                1,
            )
        )
        with ProxyThread(cfg, socks) as proxy:
            wait_until(lambda: len(proxy.proxy.board.snapshot()) == 2, DEADLINE, "generated")  # type: ignore[union-attr]
            assert sorted(r.spec.priority for r in proxy.proxy.board.snapshot()) == [3, 3]  # type: ignore[union-attr]


def test_health_is_kept_across_re_resolution(dns: DnsServer) -> None:
    dns.set(NAME, ("A", TTL, "127.0.0.1"), ("A", TTL, "127.0.0.2"))
    with backends_on_one_port("a", "b") as (a, b):
        text = config(dns, f'    BackEnd\n      Address "{NAME}"\n      Port {a.port}\n'
                           "      Resolve all\n    End")  # fmt: skip
        cfg, socks = config_with_ports(text.replace("Alive 1", "Alive 3600"))
        with ProxyThread(cfg, socks) as proxy:
            wait_until(lambda: answers(proxy.port, 20) == {b"a", b"b"}, DEADLINE, "both")
            b.stop()
            # A refused connect takes b out; Alive 3600: nothing brings it back in this test.
            wait_until(lambda: answers(proxy.port, 10) == {b"a"}, DEADLINE, "b out")
            asked = dns.count(NAME, "A")
            wait_until(lambda: dns.count(NAME, "A") >= asked + 2, DEADLINE, "re-resolved")
            dead = [r for r in proxy.proxy.board.snapshot() if not r.alive]  # type: ignore[union-attr]
            assert [r.spec.address for r in dead] == ["127.0.0.2"]
            assert dead[0].spec.identity == ("inet@" + NAME, "127.0.0.2", a.port)


def test_lookup_failure_keeps_the_backends(dns: DnsServer) -> None:
    dns.set(NAME, ("A", TTL, "127.0.0.1"))
    with Backend("a") as a:
        text = config(dns, f'    BackEnd\n      Address "{NAME}"\n      Port {a.port}\n'
                           "      Resolve all\n    End")  # fmt: skip
        cfg, socks = config_with_ports(text)
        with ProxyThread(cfg, socks) as proxy:
            wait_until(lambda: get(proxy.port).body == b"a", DEADLINE, "resolved")
            dns.servfail.add(NAME)
            asked = dns.count(NAME, "A")
            wait_until(lambda: dns.count(NAME, "A") >= asked + 2, DEADLINE, "failed lookups")
            assert answers(proxy.port, 5) == {b"a"}
            dns.servfail.discard(NAME)
            dns.remove(NAME)  # NXDOMAIN: an answer, the backend goes
            wait_until(lambda: get(proxy.port).status == 503, DEADLINE, "no backend")


def test_reload_keeps_resolved_backends_and_a_bad_resolver_keeps_the_old(
    dns: DnsServer, tmp_path: Path
) -> None:
    dns.set(NAME, ("A", 3600, "127.0.0.1"))
    with Backend("a") as a:
        backend = (
            f'    BackEnd\n      Address "{NAME}"\n      Port {a.port}\n      Resolve all\n    End'
        )
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        text = config(dns, backend).replace("{L0}", str(sock.getsockname()[1]))
        path = tmp_path / "standby.cfg"
        path.write_text(text)
        with ProxyThread(load_config(str(path)), [sock]) as proxy:
            wait_until(lambda: get(proxy.port).body == b"a", DEADLINE, "resolved")
            asked = dns.count(NAME, "A")
            path.write_text(text.replace(dns.nameserver, "dns.example.test"))

            def reload() -> tuple[bool, str]:
                assert proxy.proxy is not None and proxy.loop is not None
                future = asyncio.run_coroutine_threadsafe(
                    proxy.proxy.reload_from_source(), proxy.loop
                )
                return future.result(DEADLINE)

            ok, message = reload()
            assert not ok and f"{path}:" in message and "bad nameserver" in message
            assert answers(proxy.port, 5) == {b"a"}
            path.write_text(text.replace("LogLevel 0", "LogLevel 1"))
            assert reload() == (True, "reloaded")
            # The same template: its backends carried over, no gap while it is asked again.
            assert get(proxy.port).body == b"a"
            assert dns.count(NAME, "A") >= asked


@pytest.mark.parametrize(
    ("backend", "extra", "where", "message"),
    [
        (
            "    BackEnd\n      Address 127.0.0.1\n      Resolve srv\n    End",
            "",
            (18, 7),
            '"Resolve srv" needs a host name',
        ),
        (
            '    BackEnd\n      Address "x.test"\n      Port 80\n      Resolve some\n    End',
            "",
            (19, 15),
            'bad type "some" for "Resolve"',
        ),
    ],
)
def test_bad_backends_are_refused_where_written(
    dns: DnsServer, backend: str, extra: str, where: tuple[int, int], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(config(dns, backend, extra).replace("{L0}", "8080"), "t.cfg")
    assert f"t.cfg:{where[0]}.{where[1]}:" in str(caught.value)
    assert message in str(caught.value)


def test_bad_resolver_is_refused_where_written(dns: DnsServer) -> None:
    backend = '    BackEnd\n      Address "x.test"\n      Port 80\n      Resolve all\n    End'
    text = config(dns, backend).replace("{L0}", "8080")
    for bad, col in (("dns.example.test", 16), ("127.0.0.1:99999", 16)):
        with pytest.raises(ConfigError) as caught:
            load_config_text(text.replace(dns.nameserver, bad), "t.cfg")
        assert f"t.cfg:7.{col}:" in str(caught.value) and "nameserver" in str(caught.value)
    # A bad Resolver is refused even when no backend uses it.
    static = text.replace('Address "x.test"', "Address 127.0.0.1").replace("Resolve all", "")
    load_config_text(static, "t.cfg")
    with pytest.raises(ConfigError, match=r"t\.cfg:7\.16: bad nameserver"):
        load_config_text(static.replace(dns.nameserver, "dns.example.test"), "t.cfg")
    # No Resolver: the system's file, which the tests point nowhere: refused, never read.
    no_resolver = text.split("Resolver")[0] + "ListenHTTP" + text.split("ListenHTTP")[1]
    with pytest.raises(ConfigError, match="cannot read resolver configuration"):
        load_config_text(no_resolver, "t.cfg")


def test_no_dns_turns_lookups_off(dns: DnsServer) -> None:
    # `-W no-dns`: no resolver configuration is read (none is needed), nothing is asked,
    # the dynamic backend stays empty and the static one serves.
    dns.set(NAME, ("A", TTL, "127.0.0.1"))
    with Backend("static") as static, Backend("dynamic") as dynamic:
        backends = (
            f"    BackEnd\n      Address 127.0.0.1\n      Port {static.port}\n    End\n"
            f'    BackEnd\n      Address "{NAME}"\n      Port {dynamic.port}\n'
            "      Resolve all\n    End"
        )
        text = config(dns, backends)
        no_resolver = text.split("Resolver")[0] + "ListenHTTP" + text.split("ListenHTTP")[1]
        dns_feature.set_enabled(False)
        try:
            load_config_text(no_resolver.replace("{L0}", "8080"))  # no resolv.conf read
            cfg, socks = config_with_ports(text)
            with ProxyThread(cfg, socks) as proxy:
                assert answers(proxy.port, 10) == {b"static"}
        finally:
            dns_feature.set_enabled(True)
        assert dns.count(NAME, "A") == 0 and dns.count(NAME, "AAAA") == 0


@pytest.mark.parametrize(
    ("family", "expected"),
    [("any", {b"v4", b"v6"}), ("inet", {b"v4"}), ("inet6", {b"v6"})],
)
def test_family_chooses_the_records(dns: DnsServer, family: str, expected: set[bytes]) -> None:
    with Backend6("v4") as v4, Backend6("v6", v4.port, host="::1"):
        dns.set(NAME, ("A", TTL, "127.0.0.1"), ("AAAA", TTL, "::1"))
        cfg, socks = config_with_ports(
            config(dns, template(v4.port, "Resolve all", f"Family {family}"))
        )
        with ProxyThread(cfg, socks) as proxy:
            wait_until(lambda: answers(proxy.port, 20) == expected, DEADLINE, family)
        asked = {t for t in ("A", "AAAA") if dns.count(NAME, t)}
        assert asked == {"any": {"A", "AAAA"}, "inet": {"A"}, "inet6": {"AAAA"}}[family]


def test_override_ttl_and_backend_retry_interval(dns: DnsServer) -> None:
    # Records kept for an hour, and a Resolver retrying after an hour: the backend's own
    # OverrideTTL and RetryInterval are what make it follow within the test.
    dns.set(NAME, ("A", 3600, "127.0.0.1"))
    with backends_on_one_port("a", "b") as (a, _):
        text = config(dns, template(a.port, "Resolve all", "OverrideTTL 1", "RetryInterval 1"))
        cfg, socks = config_with_ports(
            text.replace("RetryInterval 1\nEnd", "RetryInterval 1h\nEnd")
        )
        with ProxyThread(cfg, socks) as proxy:
            wait_until(lambda: get(proxy.port).body == b"a", DEADLINE, "resolved")
            dns.set(NAME, ("A", 3600, "127.0.0.2"))
            wait_until(lambda: answers(proxy.port, 5) == {b"b"}, DEADLINE, "OverrideTTL")
            dns.servfail.add(NAME)
            asked = dns.count(NAME, "A")
            wait_until(lambda: dns.count(NAME, "A") >= asked + 2, DEADLINE, "RetryInterval")


@pytest.mark.parametrize(("chain", "works"), [(None, False), (1, False), (2, True)])
def test_cname_chain(dns: DnsServer, chain: int | None, works: bool) -> None:
    dns.set(NAME, ("CNAME", TTL, "mid.example.test"))
    dns.set("mid.example.test", ("CNAME", TTL, "real.example.test"))
    dns.set("real.example.test", ("A", TTL, "127.0.0.1"))
    with Backend("a") as a:
        text = config(dns, template(a.port, "Resolve all", "Family inet"))
        if chain is not None:
            text = text.replace("  RetryInterval 1\n", f"  RetryInterval 1\n  CNAMEChain {chain}\n")
        cfg, socks = config_with_ports(text)
        with ProxyThread(cfg, socks) as proxy:
            asked = dns.count(NAME, "A")
            wait_until(lambda: dns.count(NAME, "A") > asked, DEADLINE, "asked")
            if works:
                wait_until(lambda: get(proxy.port).body == b"a", DEADLINE, "the chain followed")
            else:
                # Refused, as Pound does without CNAMEChain: asked again, never served.
                wait_until(lambda: dns.count(NAME, "A") > asked + 1, DEADLINE, "retried")
                assert get(proxy.port).status == 503


def test_config_file_and_debug(
    dns: DnsServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(f"search example.test\nnameserver {dns.nameserver}\noptions timeout:2\n")
    dns.set(NAME, ("A", TTL, "127.0.0.1"))
    with Backend("a") as a:
        text = config(dns, template(a.port, "Resolve first"))
        start = text.index("  ConfigText")
        end = text.index("  End\n", start) + len("  End\n")
        text = text[:start] + f'  ConfigFile "{resolv}"\n  Debug true\n' + text[end:]
        cfg, socks = config_with_ports(text)
        assert cfg.resolver is not None and cfg.resolver.debug
        with caplog.at_level("INFO", logger="standby.dns"), ProxyThread(cfg, socks) as proxy:
            wait_until(lambda: get(proxy.port).body == b"a", DEADLINE, "resolved")
            wait_until(lambda: "looked up: 127.0.0.1" in caplog.text, DEADLINE, "Debug lines")
        resolv.write_text("nameserver 127.0.0.1\nnameserver dns.example.test\n")
        with pytest.raises(ConfigError, match=r"resolv\.conf:2\.1: bad nameserver"):
            load_config_text(text.replace("{L0}", "8080"), "t.cfg")


def test_check_reports_a_bad_resolver_where_written(dns: DnsServer, tmp_path: Path) -> None:
    path = tmp_path / "bad.cfg"
    text = config(dns, template(8080, "Resolve all")).replace("{L0}", "8080")
    path.write_text(text.replace(dns.nameserver, "300.1.2.3"))
    done = subprocess.run(
        [sys.executable, "-m", "standby", "-c", "-f", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert done.returncode != 0
    assert f"{path}:7.16:" in done.stderr and "bad nameserver" in done.stderr
    path.write_text(text)
    done = subprocess.run(
        [sys.executable, "-m", "standby", "-c", "-f", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert done.returncode == 0, done.stderr
    assert dns.count(NAME, "A") == 0  # -c reads the file, asks no one
