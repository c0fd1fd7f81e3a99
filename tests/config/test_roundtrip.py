"""A generated valid configuration, written out in Pound's syntax (random keyword case,
quoting, comments and blank lines), parses back to what was generated."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from standby.config import load_config_text
from standby.model import BackendKind


@dataclass
class Backend:
    address: str
    port: int | None
    priority: int
    timeout: int | None
    emergency: bool


@dataclass
class Service:
    name: str | None
    urls: list[str]
    hosts: list[tuple[str, bool]]
    backends: list[Backend]
    redirect: tuple[int, str] | None


@dataclass
class Listener:
    name: str | None
    address: str
    port: int
    xhttp: int
    client: int | None
    services: list[Service]


_names = st.text(
    alphabet=st.characters(codec="utf-8", blacklist_categories=("Cs", "Cc")), min_size=1, max_size=8
)
_hosts = st.from_regex(r"[a-z]([a-z0-9-]{0,7}[a-z0-9])?(\.[a-z]{2,5}){0,2}", fullmatch=True)
_addresses = st.one_of(
    st.ip_addresses().map(str), _hosts, st.from_regex(r"/[a-z]{1,8}\.sock", fullmatch=True)
)
_urls = st.sampled_from(["^/", "\\.(jpg|png)$", "^/api/[[:alnum:]]+", 'a"b', "c\\\\d"])


@st.composite
def backends(draw: st.DrawFn, emergency: bool) -> Backend:
    address = draw(_addresses)
    port = None if address.startswith("/") else draw(st.integers(1, 65535))
    priority = 5 if emergency else draw(st.integers(1, 9))
    return Backend(address, port, priority, draw(st.none() | st.integers(1, 999)), emergency)


@st.composite
def services(draw: st.DrawFn) -> Service:
    regular = draw(st.lists(backends(False), max_size=3))
    emergency = draw(st.lists(backends(True), max_size=2))
    redirect = draw(
        st.none() | st.tuples(st.sampled_from([301, 302, 307]), st.just("https://x.example/"))
    )
    if not regular and not emergency and redirect is None:
        regular = [draw(backends(False))]
    return Service(
        draw(st.none() | _names),
        draw(st.lists(_urls, max_size=2)),
        draw(st.lists(st.tuples(_hosts, st.booleans()), max_size=2)),
        regular + emergency,
        redirect,
    )


listeners = st.builds(
    Listener,
    st.none() | _names,
    st.ip_addresses().map(str) | _hosts,
    st.integers(1, 65535),
    st.integers(0, 4),
    st.none() | st.integers(1, 100),
    st.lists(services(), min_size=1, max_size=3),
)


def escape(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Writer:
    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw
        self.lines: list[str] = []

    def kw(self, name: str) -> str:
        return self.draw(st.sampled_from([name, name.lower(), name.upper()]))

    def line(self, depth: int, text: str) -> None:
        if self.draw(st.booleans()) and self.draw(st.booleans()):
            self.lines.append(self.draw(st.sampled_from(["", "# note", "   # indented"])))
        comment = self.draw(st.sampled_from(["", "", " # why"]))
        self.lines.append("  " * depth + text + comment)

    def word(self, value: str) -> str:
        return escape(value) if self.draw(st.booleans()) else value


def render(draw: st.DrawFn, items: list[Listener], alive: int) -> str:
    out = Writer(draw)
    out.line(0, f"{out.kw('Alive')} {alive}")
    for listener in items:
        header = out.kw("ListenHTTP") + (
            "" if listener.name is None else " " + escape(listener.name)
        )
        out.line(0, header)
        out.line(1, f"{out.kw('Address')} {out.word(listener.address)}")
        out.line(1, f"{out.kw('Port')} {listener.port}")
        out.line(1, f"{out.kw('xHTTP')} {listener.xhttp}")
        if listener.client is not None:
            out.line(1, f"{out.kw('Client')} {listener.client}")
        for service in listener.services:
            out.line(
                1, out.kw("Service") + ("" if service.name is None else " " + escape(service.name))
            )
            for url in service.urls:
                out.line(2, f"{out.kw('URL')} {escape(url)}")
            for host, negate in service.hosts:
                out.line(2, ("Not " if negate else "") + f"{out.kw('Host')} {escape(host)}")
            if service.redirect is not None:
                code, url = service.redirect
                out.line(2, f"{out.kw('Redirect')} {code} {escape(url)}")
            for backend in service.backends:
                out.line(2, out.kw("Emergency" if backend.emergency else "BackEnd"))
                out.line(3, f"{out.kw('Address')} {out.word(backend.address)}")
                if backend.port is not None:
                    out.line(3, f"{out.kw('Port')} {backend.port}")
                if not backend.emergency:
                    out.line(3, f"{out.kw('Priority')} {backend.priority}")
                if backend.timeout is not None:
                    out.line(3, f"{out.kw('TimeOut')} {backend.timeout}")
                out.line(2, out.kw("End"))
            out.line(1, out.kw("End"))
        out.line(0, out.kw("End"))
    return "\n".join(out.lines) + "\n"


@settings(max_examples=150, deadline=None)
@given(st.lists(listeners, min_size=1, max_size=3), st.integers(1, 100), st.data())
def test_generated_configuration_round_trips(
    items: list[Listener], alive: int, data: st.DataObject
) -> None:
    text = render(data.draw, items, alive)
    config = load_config_text(text, "gen.cfg")
    assert config.alive == alive
    assert len(config.listeners) == len(items)
    for spec, listener in zip(config.listeners, items, strict=True):
        assert (spec.name, spec.port, spec.xhttp) == (listener.name, listener.port, listener.xhttp)
        assert spec.client_timeout == (listener.client or 10)
        for sspec, service in zip(spec.services, listener.services, strict=True):
            assert sspec.name == service.name
            patterns = [c.pattern for c in sspec.conditions]
            assert patterns == service.urls + [host for host, _ in service.hosts]
            assert [c.negate for c in sspec.conditions][len(service.urls) :] == [
                negate for _, negate in service.hosts
            ]
            proxies = [b for b in sspec.backends if b.kind is BackendKind.PROXY]
            redirects = [b for b in sspec.backends if b.kind is BackendKind.REDIRECT]
            assert [(r.redirect_code, r.redirect_url) for r in redirects] == (
                [] if service.redirect is None else [service.redirect]
            )
            got = [
                (b.port, b.priority, b.timeout, b.emergency)
                for b in proxies + list(sspec.emergencies)
            ]
            want = [
                (b.port, b.priority, float(b.timeout or (120 if b.emergency else 15)), b.emergency)
                for b in service.backends
            ]  # Pound's defaults: 15 s, and 120 s for an Emergency whatever the global one
            assert got == want
            assert [b.unix for b in proxies + list(sspec.emergencies)] == [
                b.address.startswith("/") for b in service.backends
            ]
