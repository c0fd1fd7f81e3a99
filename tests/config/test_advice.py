"""`standby -c`'s advice (issue 16 point 6): each mistake, the silence elsewhere, the
soundness of the reachability analysis against the router itself, and the command."""

from __future__ import annotations

import grp
import pwd
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from standby.config import load_config_text
from standby.config.advice import CRAWLER_PATIENCE, SLOW_PAGE, Advice, advise, shadows
from standby.model import ConfigSpec, ListenerSpec, Location, ServiceSpec
from standby.routing import Router
from tests.config.test_load import SEED

DEADLINE = 60.0  # generous: a subprocess on two noisy shared cores

PAIR = """\
    BackEnd
      Address 127.0.0.1
      Port 8081
    End
    Emergency
      Address 127.0.0.1
      Port 8082
    End
"""


def service(name: str, *conditions: str, body: str = PAIR) -> str:
    lines = "".join(f"    {c}\n" for c in conditions)
    return f'  Service "{name}"\n{lines}{body}  End\n'


def listener(*services: str, port: int = 8080) -> str:
    return f"ListenHTTP\n  Address 127.0.0.1\n  Port {port}\n{''.join(services)}End\n"


def load(text: str) -> ConfigSpec:
    return load_config_text(text, "t.cfg")


def messages(text: str, **kw: object) -> list[str]:
    return [str(a) for a in advise(load(text), **kw)]  # type: ignore[arg-type]


def test_a_well_made_file_gets_no_advice() -> None:
    text = "Alive 10\nTimeOut 20\n" + listener(
        service("admin", 'URL "^/admin"'), service("site", 'HeadRequire "Host: a.*"')
    )
    assert messages(text, user_exists=lambda _: True, group_exists=lambda _: True) == []


def test_only_backend_without_emergency() -> None:
    lonely = "    BackEnd\n      Address 127.0.0.1\n      Port 8081\n    End\n"
    text = listener(service("site", body=lonely))
    (advice,) = advise(load(text))
    assert str(advice.location) == "t.cfg:5.5"  # the BackEnd section
    assert 'only backend of service "site"' in advice.message
    assert "add an `Emergency` section" in advice.message
    # Two backends, an Emergency, or a redirect: nothing to say.
    two = lonely + lonely.replace("8081", "8083")
    redirect = '    Redirect "https://example.com"\n'
    for body in (two, PAIR, redirect):
        assert messages(listener(service("site", body=body))) == []


@pytest.mark.parametrize(("alive", "warned"), [(CRAWLER_PATIENCE, False), (31, True), (60, True)])
def test_alive_beyond_a_crawler_s_patience(alive: float, warned: bool) -> None:
    found = messages(f"Daemon 0\nAlive {alive:g}\n" + listener(service("s")))
    assert len(found) == warned
    if warned:
        assert found[0].startswith(f"t.cfg:2.1: warning: Alive {alive:g}: a backend that is back")
        assert "write `Alive 30` or less" in found[0] and "CRAWLER_PATIENCE" in found[0]


def test_the_default_alive_is_not_advised_against() -> None:
    assert messages(listener(service("s"))) == []


def test_short_timeouts_global_and_per_backend() -> None:
    short_backend = PAIR.replace("Port 8081\n", "Port 8081\n      TimeOut 2\n")
    text = "TimeOut 3\n" + listener(
        service("a", 'URL "^/a"'), service("b", 'URL "^/b"', body=short_backend)
    )
    found = messages(text)
    assert len(found) == 2
    assert found[0].startswith("t.cfg:1.1: warning: the global TimeOut is 3 s: ")
    assert "slow page would be taken for a dead backend" in found[0]
    assert "write `TimeOut 15`" in found[0]
    assert found[1].startswith("t.cfg:18.5: warning: backend 127.0.0.1:8081's TimeOut is 2 s")
    # At the limit: nothing; the backends inheriting the global value: said once.
    assert messages(f"TimeOut {SLOW_PAGE:g}\n" + listener(service("a"))) == []


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ((), ('URL "^/admin"',)),  # no conditions: takes everything
        (('URL "^/admin"',), ('URL "^/admin"',)),  # the same condition
        (('URL "^/admin"',), ('URL "^/admin"', 'HeadRequire "Host: a.*"')),  # a subset
        (('URL "."',), ('Path "^/x"',)),  # "." matches every target
        (('URL "."',), ()),  # even a catch-all after it
        (('URL -beg "/"',), ('URL "^/admin/"',)),  # every target it takes starts with /
        (('URL "^/"',), ('URL -beg "/img"',)),
        (('Host "a.example"',), ('Host "A.EXAMPLE"', 'URL "^/x"')),  # Host is caseless
    ],
)
def test_an_unreachable_service_is_named(first: tuple[str, ...], second: tuple[str, ...]) -> None:
    text = listener(service("one", *first), service("two", *second))
    (found,) = messages(text)
    line = 4 + len(first) + PAIR.count("\n") + 2  # after the first service's End
    assert found.startswith(f't.cfg:{line}.3: warning: service "two" is never used: the service ')
    assert '"one" at t.cfg:4.3, tried before it' in found
    assert "move this service before it" in found


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (('URL "^/admin"',), ('URL "^/"',)),  # narrower first: the second still gets /x
        (('URL "^/admin"',), ()),  # a catch-all after a narrow service: the usual order
        (('URL "^/a"', 'HeadRequire "Host: a.*"'), ('URL "^/a"',)),  # more conditions first
        (('URL -beg "/"',), ('URL "^/a|b"',)),  # an alternation may not start with /
        (('URL -beg "/"',), ('Not URL "^/a"',)),
        (('Not URL "^/a"',), ('Not URL "^/ab"',)),  # true, but not proven: silence
        (('Path "."',), ('URL "^/x"',)),  # another subject
        (('URL "^/a"',), ('URL -icase "^/a"',)),  # the second also takes /A
        (('ACL "local"',), ('ACL "local"',)),  # an ACL may change (a file): not compared
    ],
)
def test_no_false_unreachable_warning(first: tuple[str, ...], second: tuple[str, ...]) -> None:
    acl = 'ACL "local"\n  "127.0.0.0/8"\nEnd\n'
    assert messages(acl + listener(service("one", *first), service("two", *second))) == []


def test_a_disabled_first_service_hides_nothing() -> None:
    assert messages(listener(service("off", "Disabled 1"), service("two", 'URL "^/x"'))) == []


def test_across_the_listener_and_the_global_services() -> None:
    found = messages(listener(service("catch-all")) + service("global", 'URL "^/g"'))
    assert len(found) == 1 and 'service "global" is never used' in found[0]
    # The same global service after two listeners: said once.
    two = listener(service("all")) + listener(service("all2"), port=8081)
    two += 'Service "g"\n  URL "^/g"\n' + PAIR + "End\n"
    found = messages(two)
    assert len(found) == 2  # each listener's catch-all hides it: two reasons, two lines
    assert all('service "g" is never used' in m for m in found)


def test_unknown_user_and_group() -> None:
    text = 'User "nobody-here"\nGroup "nogroup-here"\n' + listener(service("s"))
    found = messages(text, user_exists=lambda n: n != "nobody-here", group_exists=lambda n: False)
    assert found[0].startswith('t.cfg:1.1: warning: User "nobody-here" does not exist')
    assert "adduser --system --group nobody-here" in found[0]
    assert found[1].startswith('t.cfg:2.1: warning: Group "nogroup-here" does not exist')
    assert messages(text, user_exists=lambda _: True, group_exists=lambda _: True) == []
    assert messages(text) == []  # nobody to ask: nothing said


# --- soundness: whatever the analysis says, the router agrees ---------------------------

CONDITIONS = (
    'URL "."',
    'URL "^/"',
    'URL -beg "/"',
    'URL "^/admin"',
    'URL -beg "/admin/"',
    'URL "^/a|b"',
    'URL "\\.png$"',
    'URL -icase "^/ADMIN"',
    'Path "^/admin"',
    'Path ".*"',
    'Host "a.example"',
    'HeadRequire "Host: a.*"',
    'HeadRequire "^X-Token:"',
    'Not URL "^/admin"',
    'Query "x=1"',
)
TARGETS = (b"/", b"/admin", b"/admin/x", b"/ADMIN/y", b"/b", b"/a.png?x=1", b"*", b"xb", b"/?x=1")
HOSTS = (b"a.example", b"A.Example", b"b.example", None)


@dataclass
class Req:
    target: bytes
    host: bytes | None
    headers: list[str] = field(default_factory=list)
    method: bytes = b"GET"

    @property
    def path(self) -> str:
        return self.target.split(b"?", 1)[0].decode("latin-1")

    def header_block(self) -> tuple[bytes, bytes]:
        lines = list(self.headers)
        if self.host is not None:
            lines.insert(0, "Host: " + self.host.decode("latin-1"))
        block = "\n".join(lines).encode("latin-1")
        return block, block.lower()

    def header(self, name: bytes) -> bytes | None:
        if name.lower() == b"host":
            return self.host
        for line in self.headers:
            key, _, value = line.partition(":")
            if key.lower().encode() == name.lower():
                return value.strip().encode()
        return None


def two_services(first: list[str], second: list[str]) -> tuple[ServiceSpec, ServiceSpec]:
    config = load(listener(service("one", *first), service("two", *second)))
    one, two = config.listeners[0].services
    return one, two


def never_routed_to(one: ServiceSpec, two: ServiceSpec) -> bool:
    router = Router(ListenerSpec(name=None, address="127.0.0.1", port=1, services=(one, two)))
    return all(
        router.route(Req(target, host, headers)) is not two
        for target in TARGETS
        for host in HOSTS
        for headers in ([], ["X-Token: 1"])
    )


conditions = st.lists(st.sampled_from(CONDITIONS), max_size=2, unique=True)


@settings(max_examples=150, deadline=None)
@given(conditions, conditions)
def test_a_shadowed_service_is_never_routed_to(first: list[str], second: list[str]) -> None:
    one, two = two_services(first, second)
    if not shadows(one, two):
        return
    assert never_routed_to(one, two)


def test_every_pair_of_single_conditions_is_judged_soundly() -> None:
    """Exhaustively, one condition each (or none): a proof is never contradicted."""
    for a in ("", *CONDITIONS):
        for b in ("", *CONDITIONS):
            one, two = two_services([a] if a else [], [b] if b else [])
            if shadows(one, two):
                assert never_routed_to(one, two), (a, b)


def test_the_property_is_not_vacuous() -> None:
    """Pairs of the pool the analysis proves, so the property above checks something."""
    proved = 0
    for a in CONDITIONS:
        for b in CONDITIONS:
            one, two = two_services([a], [b])
            proved += shadows(one, two)
    assert proved >= len(CONDITIONS) + 5


# --- the command -------------------------------------------------------------------------


def check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "standby", "-c", "-f", str(path)],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )


def test_standby_c_warns_about_each_mistake_and_succeeds(tmp_path: Path) -> None:
    lonely = "    BackEnd\n      Address 127.0.0.1\n      Port 8081\n    End\n"
    text = 'User "no-such-user-i16"\nAlive 120\nTimeOut 2\n' + listener(
        service("all"), service("admin", 'URL "^/admin"', body=lonely)
    )
    path = tmp_path / "pound.cfg"
    path.write_text(text)
    done = check(path)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert [line.split(": warning: ")[0] for line in lines] == [
        f"{path}:1.1",  # the user
        f"{path}:2.1",  # Alive
        f"{path}:3.1",  # TimeOut
        f"{path}:17.3",  # the unreachable service
        f"{path}:19.5",  # its lonely backend
    ]
    assert 'User "no-such-user-i16" does not exist on this machine' in lines[0]
    assert "never used" in lines[3] and "only backend" in lines[4]


def test_standby_c_on_the_seed(tmp_path: Path) -> None:
    """The seed: its `Alive 60` is worth a warning; its user and group only where they do
    not exist (a test machine has no `pound` user unless Pound is installed)."""
    path = tmp_path / "pound.cfg"
    path.write_text(SEED)
    done = check(path)
    assert done.returncode == 0, done.stderr
    expected = [f"{path}:4.1: warning: Alive 60: "]
    if not any(e.pw_name == "pound" for e in pwd.getpwall()):
        expected.append(f'{path}:1.1: warning: User "pound" does not exist')
    if not any(e.gr_name == "pound" for e in grp.getgrall()):
        expected.append(f'{path}:2.1: warning: Group "pound" does not exist')
    # The load-time warnings stay (the seed's `HeadRequire` is an old spelling), before
    # the advice.
    lines = done.stderr.splitlines()
    assert [line for line in lines if ": warning: " not in line] == [
        f'{path}:11.5: "HeadRequire" is an old spelling: write "Header"'
    ]
    advice = [line for line in lines if ": warning: " in line]
    assert len(advice) == len(expected), lines
    for start in expected:
        assert any(line.startswith(start) for line in advice), (start, lines)


def test_errors_still_fail_and_advice_is_not_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.cfg"
    path.write_text("Alive 120\nNoSuchKeyword 1\n")
    done = check(path)
    assert done.returncode == 1
    assert "warning: Alive" not in done.stderr  # a file that does not load gets no advice


def test_advice_str_is_file_line_col() -> None:
    assert str(Advice(Location("f", 3, 7), "why")) == "f:3.7: warning: why"


@pytest.mark.parametrize("workers", [1, 2])
def test_start_and_reload_log_the_advice_once_each(tmp_path: Path, workers: int) -> None:
    from tests.process.harness import Backend, free_port, running_standby, wait_for

    backend = Backend()
    try:
        port = free_port()
        lonely = f"    BackEnd\n      Address 127.0.0.1\n      Port {backend.port}\n    End\n"
        path = tmp_path / "standby.cfg"
        path.write_text("Daemon 0\n" + listener(service("site", body=lonely), port=port))
        marker = 'is the only backend of service "site"'
        with running_standby(path, workers) as running:
            assert running.stderr().count(marker) == 1, running.stderr()
            line = next(text for text in running.lines if marker in text)
            assert f"standby[{running.proc.pid}]: {path}:6.5: warning: backend" in line
            running.signal(signal.SIGHUP)
            wait_for(lambda: running.stderr().count(marker) == 2, "the advice after a reload")
            wait_for(lambda: "reload" in running.stderr().split(marker)[-1], "the reload")
            assert running.stderr().count(marker) == 2
    finally:
        backend.close()
