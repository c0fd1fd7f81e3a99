"""Templates to backends (pure): `first`, `all` and `srv` with Pound's weight rules, the
configuration with them in place, and the targets as the supervisor sends them."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from standby.config import load_config_text
from standby.dns.expand import (
    SrvTarget,
    Target,
    decode_targets,
    encode_targets,
    expand,
    srv_targets,
    templates,
)
from standby.model import ConfigSpec

CONFIG = """
Resolver
  ConfigText
    nameserver 127.0.0.1:5353
  End
End
ListenHTTP
  Address 127.0.0.1
  Port 8080
  Service
    BackEnd
      Address 127.0.0.1
      Port 9000
    End
    BackEnd
      Address "app.example.test"
      Port 9001
      Priority 7
      Resolve {mode}
    End
    Emergency
      Address "spare.example.test"
      Port 9002
      Resolve all
    End
  End
End
"""


def load(mode: str) -> ConfigSpec:
    return load_config_text(CONFIG.format(mode=mode))


def test_templates_are_kept_apart_and_numbered() -> None:
    config = load("all")
    service = config.listeners[0].services[0]
    assert [b.address for b in service.backends] == ["127.0.0.1"]
    assert service.emergencies == ()
    assert [(t.address, t.dynamic.index if t.dynamic else None) for t in templates(config)] == [
        ("app.example.test", 0),
        ("spare.example.test", 1),
    ]
    assert config.resolver is not None and config.resolver.nameservers == (("127.0.0.1", 5353),)


def test_expand_puts_backends_in_their_tier() -> None:
    config = load("all")
    resolved = {
        0: (Target("127.0.0.2", 9001, 7, False), Target("127.0.0.3", 9001, 7, False)),
        1: (Target("127.0.0.4", 9002, 5, True),),
    }
    service = expand(config, resolved).listeners[0].services[0]
    assert [(b.address, b.port, b.priority) for b in service.backends] == [
        ("127.0.0.1", 9000, 5),
        ("127.0.0.2", 9001, 7),
        ("127.0.0.3", 9001, 7),
    ]
    assert [(b.address, b.emergency, b.dns_name) for b in service.emergencies] == [
        ("127.0.0.4", True, "spare.example.test")
    ]
    # Nothing resolved yet: the static backends only.
    assert expand(config, {}).listeners[0].services[0].backends == service.backends[:1]


def test_identity_names_the_dns_name() -> None:
    config = load("all")
    backend = expand(config, {0: (Target("127.0.0.1", 9000, 5, False),)})
    static, generated = backend.listeners[0].services[0].backends
    assert static.address == generated.address and static.port == generated.port
    assert static.identity != generated.identity


def test_srv_rules() -> None:
    template = templates(load("srv"))[0]
    records = (
        SrvTarget(10, 40, 8081, ("127.0.0.1",), "h1.test"),
        SrvTarget(10, 70, 8082, ("127.0.0.2", "127.0.0.3"), "h2.test"),
        SrvTarget(20, 10, 8081, ("127.0.0.4",), "h3.test"),
    )
    assert srv_targets(template, records) == (
        Target("127.0.0.1", 8081, 40, False, "h1.test"),
        Target("127.0.0.2", 8082, 70, False, "h2.test"),
        Target("127.0.0.3", 8082, 70, False, "h2.test"),
        Target("127.0.0.4", 8081, 10, True, "h3.test"),
    )
    zero = (SrvTarget(10, 0, 8081, ("127.0.0.1",)), SrvTarget(10, 0, 8082, ("127.0.0.1",)))
    assert {t.priority for t in srv_targets(template, zero)} == {1}
    mixed = (SrvTarget(10, 0, 8081, ("127.0.0.1",)), SrvTarget(10, 5, 8082, ("127.0.0.1",)))
    assert sorted(t.priority for t in srv_targets(template, mixed)) == [0, 5]


targets = st.lists(
    st.builds(
        Target,
        st.ip_addresses().map(str),
        st.integers(1, 65535),
        st.integers(0, 65535),
        st.booleans(),
        st.from_regex(r"[a-z0-9._-]{0,30}", fullmatch=True),
    ),
    max_size=20,
).map(tuple)


@given(targets)
def test_targets_round_trip(found: tuple[Target, ...]) -> None:
    assert decode_targets(encode_targets(found)) == found


def test_https_templates_send_and_verify_the_name() -> None:
    text = CONFIG.format(mode="all").replace(
        "      Resolve all\n    End\n  End", "      Resolve all\n      HTTPS\n    End\n  End"
    )
    config = load_config_text(text)
    found = expand(config, {1: (Target("127.0.0.4", 9002, 5, True, "spare.example.test"),)})
    (spare,) = found.listeners[0].services[0].emergencies
    assert spare.tls is not None and spare.tls.server_name == "spare.example.test"
    assert spare.address == "127.0.0.4"
