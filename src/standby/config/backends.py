"""Issue 15's backends: Pound 4's special backends (`Error`, `Success`, `SendFile`,
`Control` in a Service, and standby's `Status`, issue 16, with the authorization they need
beyond loopback), global named backends (`Backend "name"` at the top level, used by
`UseBackend "name"` or by a `Backend "name"` section that changes its `Priority` or
`Disabled`), `Balancer`, and error pages in Pound 4's file format.

Called from config/compiler.py; pure (no I/O but through the ``read`` callable and the
``is_dir`` test the compiler passes in).
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Final, TypeVar

from standby import model
from standby.config.errors import ConfigError, quote
from standby.config.pound_form import POUND_FORM
from standby.config.tree import Directive, SectionNode
from standby.model import BackendKind, BackendSpec, Location, SpecialBackend

# Reads an error page file: the compiler's reader, which bounds its size and turns an
# OSError into a ConfigError at the given location.
ReadPage = Callable[[str, Location], bytes]
# Compiles a `Backend` section into a proxied BackendSpec (the compiler's _backend).
CompileBackend = Callable[[SectionNode], BackendSpec]

Headers = tuple[tuple[bytes, bytes], ...]
_Page = TypeVar("_Page")

# A header line of an error page file: a token, a colon, a value without controls.
_HEADER_LINE = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([^\x00-\x08\x0a-\x1f\x7f]*)")
_EMPTY_LINE = re.compile(rb"\r?\n\r?\n")
# Pound's pointer, after its warning about redirects among other backends.
_POUND_DEPRECATED_SEE = 'see section "DEPRECATED FEATURES" in pound(8)'
# What a global backend's `Backend "name"` section in a Service may change (Pound's rule).
OVERRIDABLE = frozenset({"Priority", "Disabled"})
# The special backends a Service may name, by keyword.
SPECIAL_KEYWORDS = frozenset({"Error", "Success", "SendFile", "Control", "Status"})
# The special backends that show the proxy's inside (Control also changes it): reachable
# beyond loopback, their Service needs an authorization condition (issue 16).
log = logging.getLogger(__name__)

GUARDED: Final = {BackendKind.CONTROL: "Control", BackendKind.STATUS: "Status"}
_BY_KEYWORD: Final = {
    "Success": BackendKind.SUCCESS,
    "Control": BackendKind.CONTROL,
    "Status": BackendKind.STATUS,
}
# The statuses whose page is the 503 page when they have none of their own: Pound sends its
# 503 page where standby tells a bad (502) from a slow (504) backend.
GATEWAY_STATUSES = (502, 504)


def split_page(data: bytes) -> tuple[Headers, bytes]:
    """An error page file in Pound 4's format: unless it starts with ``<`` or a newline,
    its lines up to the first empty line are headers. Only when every one of them is a
    ``Name: value`` line: else (a page of plain text) the whole file is the body."""
    if not data or data[:1] in (b"<", b"\n", b"\r"):
        return (), data
    end = _EMPTY_LINE.search(data)
    if end is None:
        return (), data
    head, body = data[: end.start()], data[end.end() :]
    headers: list[tuple[bytes, bytes]] = []
    for line in head.split(b"\n"):
        match = _HEADER_LINE.fullmatch(line.removesuffix(b"\r"))
        if match is None:
            return (), data
        headers.append((match.group(1), match.group(2).rstrip(b" \t")))
    return tuple(headers), body


def with_gateway_pages(pages: dict[int, _Page]) -> dict[int, _Page]:
    """``pages`` with the 503 page also for 502 and 504 where they have none."""
    page = pages.get(503)
    if page is None:
        return pages
    return {**{status: page for status in GATEWAY_STATUSES}, **pages}


def special_backend(
    directive: Directive, read: ReadPage, is_dir: Callable[[str], bool]
) -> BackendSpec:
    """The BackendSpec of an `Error`, `Success`, `SendFile` or `Control` line."""
    name = directive.keyword.name
    at = directive.location
    if name == "Error":
        status = directive.values[0]
        assert isinstance(status, int)
        file = directive.values[1]
        assert file is None or isinstance(file, str)
        headers: Headers = ()
        page = None
        if file is not None:
            headers, page = split_page(read(file, directive.arg_locations[1]))
        special = SpecialBackend(status=status, page=page, headers=headers, file=file)
        return BackendSpec(kind=BackendKind.ERROR, special=special, location=at)
    if name == "SendFile":
        directory = directive.values[0]
        assert isinstance(directory, str)
        if not is_dir(directory):
            raise ConfigError(directive.arg_locations[0], f"not a directory: {quote(directory)}")
        special = SpecialBackend(directory=directory)
        return BackendSpec(kind=BackendKind.SENDFILE, special=special, location=at)
    return BackendSpec(kind=_BY_KEYWORD[name], special=SpecialBackend(), location=at)


# What may share a Service's normal backends with others, as in Pound 4: real servers and
# redirects (Pound warns about a redirect among others); a special backend answers every
# request itself, so a second backend beside it would never be used.
SHAREABLE: Final = frozenset({BackendKind.PROXY, BackendKind.REDIRECT})


def check_mix(backends: Sequence[BackendSpec], service: SectionNode) -> None:
    """Refuse a Service whose normal backends (``backends``, with the dynamic templates)
    include a special one among others, with Pound 4's words; warn, as Pound does, of
    redirects among others (deprecated there)."""
    if len(backends) < 2:
        return
    kinds = {spec.kind for spec in backends}
    if kinds <= SHAREABLE:
        redirects = sum(spec.kind is BackendKind.REDIRECT for spec in backends)
        if redirects == 0:
            return
        if kinds == SHAREABLE:
            ours, theirs = "mixes proxied backends and Redirect", "mixes regular and redirect"
        else:
            ours, theirs = "has several Redirect", "uses multiple redirect"
        form = service.pound_form(f"warning: service {theirs} backends")
        form = replace(form, notes=(_POUND_DEPRECATED_SEE,))
        log.warning(
            "%s: warning: this Service %s backends, which Pound 4 deprecates: give "
            "each Redirect a Service of its own",
            service.location,
            ours,
            extra={POUND_FORM: form},
        )
        return
    text = (
        "multiple backends of this type are not allowed"
        if len(kinds) == 1
        else "service mixes backends of different types"
    )
    raise ConfigError(
        service.location,
        text,
        service.pound_form(text),
    )


def _authorizes(condition: model.ConditionSpec) -> bool:
    """Whether a request must prove who sends it to meet ``condition``: an ACL or a
    BasicAuth (not negated), or a Match block that requires one."""
    if condition.negate:
        return False
    if condition.kind in (
        model.ConditionKind.ACL,
        model.ConditionKind.BASIC_AUTH,
        model.ConditionKind.CLIENT_CERT,
    ):
        return True
    if condition.kind is model.ConditionKind.MATCH:
        children = [_authorizes(c) for c in condition.children]
        return bool(children) and (all(children) if condition.any_of else any(children))
    return False


def loopback_only(listener: model.ListenerSpec) -> bool:
    """Whether only this machine can reach ``listener`` (a received socket is unknown)."""
    if listener.socket_from is not None:
        return False
    try:
        return ipaddress.ip_address(listener.address).is_loopback
    except ValueError:
        return False


def check_guarded(
    listeners: Sequence[model.ListenerSpec], global_services: Sequence[model.ServiceSpec]
) -> None:
    """Refuse a `Status` service reachable beyond loopback without an ACL or BasicAuth
    condition: whoever reaches it would see the proxy's state. A `Control` service there
    (Pound 4's kind, which Pound accepts unguarded) is warned of instead, so that a
    Pound file still loads: whoever reaches it can disable every backend."""
    exposed = [listener for listener in listeners if not loopback_only(listener)]
    scopes = [(listener, listener.services) for listener in exposed]
    if exposed:
        scopes.append((exposed[0], tuple(global_services)))
    for listener, services in scopes:
        for service in services:
            guarded = [b for b in service.backends if b.kind in GUARDED]
            if not guarded or any(_authorizes(c) for c in service.conditions):
                continue
            where = f"{listener.address}:{listener.port}"
            kind = guarded[0].kind
            message = (
                f"a {GUARDED[kind]} service on listener {where}, which is not "
                f"loopback-only, {'should have' if kind is BackendKind.CONTROL else 'needs'} "
                'an authorization condition: add an ACL (ACL "name" or an inline ACL ... End '
                'with the addresses allowed) or BasicAuth "htpasswd-file" to this Service, '
                "or listen on 127.0.0.1"
            )
            if kind is not BackendKind.CONTROL:
                raise ConfigError(guarded[0].location, message)
            log.warning(
                "%s: %s (anyone who reaches it can disable every backend)",
                guarded[0].location,
                message,
            )


class NamedBackends:
    """The global `Backend "name"` sections of a file, each compiled once: every service
    that uses one gets the same spec (one identity: one health state, one pool)."""

    def __init__(self, root: SectionNode, compile_backend: CompileBackend) -> None:
        self._specs: dict[str, BackendSpec] = {}
        for node in root.sections():
            if node.keyword is None or node.keyword.name != "BackEnd":
                continue
            name = node.values[0]
            if not isinstance(name, str):
                raise ConfigError(node.location, 'a global "Backend" needs a name: Backend "name"')
            known = self._specs.get(name)
            if known is not None:
                raise ConfigError(
                    node.location,
                    f"duplicate backend name {quote(name)} (first given at {known.location})",
                )
            self._specs[name] = replace(compile_backend(node), name=name)

    def use(self, directive: Directive) -> BackendSpec:
        """`UseBackend "name"`: the global backend as defined."""
        name = directive.values[0]
        assert isinstance(name, str)
        return self._find(name, directive.arg_locations[0])

    def section(self, node: SectionNode, emergency: bool) -> BackendSpec:
        """`Backend "name"` (or `Emergency "name"`) in a Service: the global backend with
        the `Priority` and `Disabled` given here."""
        name = node.values[0]
        assert isinstance(name, str)
        spec = self._find(name, node.location)
        changes: dict[str, object] = {}
        for child in node.body:
            keyword = child.keyword
            assert keyword is not None
            if keyword.name not in OVERRIDABLE:
                raise ConfigError(
                    child.location,
                    f'"{keyword.name}" cannot change the global backend {quote(name)} '
                    '(only "Priority" and "Disabled" can)',
                )
            assert isinstance(child, Directive)
            changes[keyword.name.lower()] = child.values[0]
        if emergency:
            changes["emergency"] = True
        return replace(spec, **changes) if changes else spec  # type: ignore[arg-type]

    def _find(self, name: str, at: Location) -> BackendSpec:
        spec = self._specs.get(name)
        if spec is None:
            known = ", ".join(quote(n) for n in sorted(self._specs)) or "none"
            raise ConfigError(at, f"no global backend named {quote(name)} (defined: {known})")
        return spec


def balancer(service: SectionNode, root: SectionNode) -> model.Balancer:
    """The Service's `Balancer`, else the global one, else random."""
    for node in (service, root):
        directive = node.first("Balancer")
        if directive is not None:
            word = directive.values[0]
            assert isinstance(word, str)
            return model.Balancer(word)
    return model.Balancer.RANDOM
