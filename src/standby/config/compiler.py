"""Compiler: syntax tree -> ``standby.model.ConfigSpec``.

Applies Pound's defaults and inheritance (global ``TimeOut``/``ConnTO``/``WSTimeOut``
for backends that do not set their own, global ``Client`` for listeners, ``ConnTO``
defaulting to ``TimeOut``), checks what the parser cannot see line by line (required
keywords, a service with nothing to send requests to, error pages given twice) and reads
error page files, so that they are in memory before any chroot.

Unlike Pound, where a global setting only affects sections written after it, the global
values apply to the whole file wherever they are written.
"""

from __future__ import annotations

import datetime
import glob
import logging
import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import cast

from standby import model
from standby.acme.challenge import CHALLENGE_PATTERN
from standby.config import access_log, constants, dynamic
from standby.config import backends as special
from standby.config.backend_tls import backend_tls
from standby.config.conditions import ConditionContext
from standby.config.deprecated import deprecations
from standby.config.edits import combine_headers, global_header_options, section_edits
from standby.config.errors import ConfigError, SettingError, quote
from standby.config.lexer import describe_os_error
from standby.config.pattern import CompiledPattern
from standby.config.pound_form import POUND_FORM
from standby.config.sessions import compile_session
from standby.config.tree import Directive, SectionNode, StatusRanges, Value, Words
from standby.config.tunnel import compile_tunnels
from standby.model import (
    AcmeClientSpec,
    AutoCertSpec,
    BackendKind,
    BackendSpec,
    CertSpec,
    ConditionKind,
    ConditionSpec,
    ConfigSpec,
    HealthCheckSpec,
    ListenerSpec,
    ListenerTlsSpec,
    Location,
    PassiveSpec,
    ResendSpec,
    ServiceSpec,
    StaleSpec,
    TlsProtocol,
)
from standby.tls.pem import PemError, parse_bundle, parse_certificates

log = logging.getLogger(__name__)

# Error pages are kept in memory and sent with every error response; a bigger file is a
# mistake (a wrong path), not a page.
MAX_ERROR_PAGE_BYTES = 1 << 20

_REDIRECT_URL = re.compile(r"https?://[^/?#\s]+", re.ASCII | re.IGNORECASE)

# What an ACMEClient's Server may be: the protocol runs over HTTPS (RFC 8555 6.1).
_ACME_SERVER = re.compile(r"https://[^/?#\s]+(/\S*)?", re.ASCII | re.IGNORECASE)
_EMAIL = re.compile(r"[^@\s,]+@[^@\s,]+", re.ASCII)


@dataclass(frozen=True, slots=True)
class _Defaults:
    client_timeout: float
    timeout: float
    conn_timeout: float
    ws_timeout: float
    retry_after: int


# Tries a listener's TLS settings; raises SettingError naming the keyword refused.
TlsCheck = Callable[[ListenerTlsSpec], None]
_LISTENERS = ("ListenHTTP", "ListenHTTPS")
_GLOB_CHARS = frozenset("*?[")
# A certificate that expires within this many days gets a warning at load time: enough
# for an operator who runs `standby -c` from a weekly job to renew it.
EXPIRY_WARNING_DAYS = 14
_PROTOCOLS = {protocol.name.lower(): protocol for protocol in TlsProtocol}
_CIPHER_LIST = "-cipherlist"
_CIPHER_SUITES = "-ciphersuites"


# Methods whose responses carry no body: a HealthCheck `Body` pattern could never match.
_BODILESS_METHODS = frozenset({b"HEAD"})


def compile_config(
    root: SectionNode,
    source: str,
    read: Callable[[str], bytes],
    now: datetime.datetime | None = None,
    check_tls: TlsCheck | None = None,
    options: model.LoadOptions | None = None,
) -> ConfigSpec:
    """Build the ``ConfigSpec`` of a parsed file; ``read`` loads error pages and checks
    certificate files; ``now`` (UTC) is when certificates must be valid (None: no expiry
    warnings); ``check_tls`` tries each HTTPS listener's settings on the TLS library (the
    shell's ``standby.tls.context.check_settings``; this package imports no ``ssl``);
    ``options``: the command line's -W choices (``self.options`` while compiling, e.g.
    ``warn_deprecated``), kept in the result."""
    logs = access_log.read(root)  # issue 15: LogFormat, LogLevel, LogSuppress, LogTag
    compiler = _Compiler(read, now, check_tls)
    compiler.options = options or model.LoadOptions()
    if compiler.options.warn_deprecated:  # as Pound 4; `-W no-warn-deprecated` silences it
        for location, message, pound in deprecations(root):
            log.warning("%s: %s", location, message, extra={POUND_FORM: pound})
    compiled = replace(compiler.run(root, source), load_options=compiler.options)
    return access_log.apply(logs, compiled)


def _condition_certs(services: Sequence[ServiceSpec]) -> tuple[bytes, ...]:
    """The certificates the `ClientCert` conditions of ``services`` name (within Match
    blocks and detached conditions too), each once, in a stable order."""
    found: set[bytes] = set()
    stack = [condition for service in services for condition in service.conditions]
    while stack:
        condition = stack.pop()
        found |= condition.certs
        stack.extend(condition.children)
    return tuple(sorted(found))


def _one_of_address_or_socket_from(node: SectionNode) -> None:
    """A listener has either an ``Address`` or a ``SocketFrom``, as in Pound."""
    both = [d for d in node.body if isinstance(d, Directive) and d.keyword.name in _SOCKET_WORDS]
    if len(both) > 1:
        raise ConfigError(both[1].location, 'duplicate "Address" or "SocketFrom"')


_SOCKET_WORDS = frozenset({"Address", "SocketFrom"})


def _value(node: SectionNode, name: str, index: int = 0) -> Value:
    directive = node.first(name)
    return None if directive is None else directive.values[index]


# The global settings whose place config/advice.py names in its warnings.
ADVISED_SETTINGS = ("User", "Group", "Alive", "TimeOut")


def _settings_at(root: SectionNode) -> tuple[tuple[str, Location], ...]:
    found = ((name, root.first(name)) for name in ADVISED_SETTINGS)
    return tuple((name, directive.location) for name, directive in found if directive)


def _str(value: Value) -> str | None:
    assert value is None or isinstance(value, str)
    return value


def _int(value: Value, default: int) -> int:
    if value is None:
        return default
    assert isinstance(value, int)
    return value


def _optional_int(value: Value) -> int | None:
    if value is None:
        return None
    assert isinstance(value, int)
    return value


def _methods(value: Value) -> frozenset[bytes]:
    return frozenset(method.encode("ascii") for method in cast(Words, value))


def _statuses(value: Value) -> StatusRanges:
    return cast(StatusRanges, value)


def _whole_seconds(value: float) -> int:
    return max(1, math.ceil(value))


def _section(node: SectionNode, name: str) -> SectionNode | None:
    for child in node.sections():
        if child.keyword is not None and child.keyword.name == name:
            return child
    return None


def _layered(nodes: Sequence[SectionNode], name: str) -> Directive | None:
    """The first ``name`` directive in ``nodes``, most specific first."""
    for node in nodes:
        directive = node.first(name)
        if directive is not None:
            return directive
    return None


def _float(value: Value, default: float) -> float:
    if value is None:
        return default
    assert isinstance(value, float)
    return value


def _bool(value: Value, default: bool) -> bool:
    if value is None:
        return default
    assert isinstance(value, bool)
    return value


class _Compiler:
    def __init__(
        self,
        read: Callable[[str], bytes],
        now: datetime.datetime | None,
        check_tls: TlsCheck | None,
    ) -> None:
        self.read = read
        self.now = now
        self.check_tls = check_tls
        self.acme_client: AcmeClientSpec | None = None
        self.auto_certs: dict[str, AutoCertSpec] = {}  # by file, from every AutoCert
        self.line_buffer = 0  # the global LineBufferSize (0: none), the listeners' default
        self.options = model.LoadOptions()  # -W choices (compile_config sets them)
        self.header_options = model.DEFAULT_HEADER_OPTIONS  # the global HeaderOption
        self.combine_headers: tuple[bytes, ...] = ()  # the global CombineHeaders

    def run(self, root: SectionNode, source: str) -> ConfigSpec:
        self.line_buffer = _int(_value(root, "LineBufferSize"), 0)
        timeout = _float(_value(root, "TimeOut"), model.DEFAULT_BACKEND_TIMEOUT)
        defaults = _Defaults(
            client_timeout=_float(_value(root, "Client"), model.DEFAULT_CLIENT_TIMEOUT),
            timeout=timeout,
            conn_timeout=_float(_value(root, "ConnTO"), timeout),
            ws_timeout=_float(_value(root, "WSTimeOut"), model.DEFAULT_WS_TIMEOUT),
            retry_after=_whole_seconds(
                _float(
                    _value(root, "RetryAfter"), _float(_value(root, "Alive"), model.DEFAULT_ALIVE)
                )
            ),
        )
        anonymise = root.first("Anonymise")
        self.header_options = global_header_options(root)
        self.combine_headers = combine_headers(root)
        self.conditions = ConditionContext(root, self.read)  # issue 15: named ACLs...
        self.acme_client = _acme_client(root)
        self.root = root
        self.named = special.NamedBackends(
            root, lambda node: self._backend(node, defaults, False, PassiveSpec(), None)
        )
        global_services = tuple(
            self._service(node, defaults)
            for node in root.sections()
            if node.keyword is not None and node.keyword.name == "Service"
        )
        listeners = tuple(
            self._listener(node, defaults, bool(global_services))
            for node in root.sections()
            if node.keyword is not None and node.keyword.name in _LISTENERS
        )
        special.check_guarded(listeners, global_services)  # issue 16
        # No listener is a valid file, as in Pound (`pound -c` accepts it): nothing is served
        # but the control socket, if any.
        facility = _str(_value(root, "LogFacility"))
        control, control_index, section_mode, control_owner = self._control(root)
        mode = root.first("ControlMode")
        if mode is not None and control is None:
            raise ConfigError(mode.location, '"ControlMode" needs a "Control" socket')
        if mode is not None and section_mode is not None:
            raise ConfigError(
                mode.location, '"ControlMode" and the Control section\'s "Mode": give one'
            )
        control_mode = model.DEFAULT_CONTROL_MODE if mode is None else _int(mode.values[0], 0)
        if section_mode is not None:
            control_mode = section_mode
        config = ConfigSpec(
            source=source,
            user=_str(_value(root, "User")),
            group=_str(_value(root, "Group")),
            root_jail=_str(_value(root, "RootJail")),
            daemon=_bool(_value(root, "Daemon"), True),
            log_facility="daemon" if facility is None else facility,
            alive=_float(_value(root, "Alive"), model.DEFAULT_ALIVE),
            client_timeout=defaults.client_timeout,
            timeout=defaults.timeout,
            conn_timeout=defaults.conn_timeout,
            ws_timeout=defaults.ws_timeout,
            grace=_float(_value(root, "Grace"), model.DEFAULT_GRACE),
            pid_file=_str(_value(root, "PIDFile")),
            log_file=_str(_value(root, "LogFile")),
            workers=_optional_int(_value(root, "Workers")),
            worker_timeout=_float(_value(root, "WorkerTimeout"), model.DEFAULT_WORKER_TIMEOUT),
            anonymise=anonymise is not None and _bool(anonymise.values[0], True),
            retry_after=defaults.retry_after,
            control=control,
            control_mode=control_mode,
            control_owner=control_owner,
            control_index=control_index,
            listeners=listeners,
            services=global_services,
            tunnels=compile_tunnels(root, defaults.timeout, defaults.conn_timeout),
            settings_at=_settings_at(root),
            acme=None
            if self.acme_client is None
            else replace(self.acme_client, certificates=tuple(self.auto_certs.values())),
        )
        return dynamic.finish(config, root, self.read)  # issue 15: templates, Resolver

    @staticmethod
    def _control(root: SectionNode) -> tuple[str | None, int | None, int | None, bool]:
        """The Control socket, how many listeners precede it (poundctl's numbering), and
        from Pound's section form its ``Mode`` (None when not given) and ``ChangeOwner``."""
        listeners = 0
        for child in root.body:
            name = None if child.keyword is None else child.keyword.name
            if isinstance(child, Directive):
                if name == "Control":
                    return _str(child.values[0]), listeners, None, False
            elif name in _LISTENERS:
                listeners += 1
            elif name == "Control":
                socket_path = _str(_value(child, "Socket"))
                if socket_path is None:
                    raise ConfigError(child.location, 'the Control section needs a "Socket"')
                mode = _value(child, "Mode")
                owner = _bool(_value(child, "ChangeOwner"), False)
                return socket_path, listeners, None if mode is None else _int(mode, 0), owner
        return None, None, None, False

    def _listener(
        self, node: SectionNode, defaults: _Defaults, has_global_services: bool
    ) -> ListenerSpec:
        assert node.keyword is not None
        label = node.keyword.name
        edits = section_edits(node, self.conditions, node)  # issue 15: config/edits.py
        address = _str(_value(node, "Address"))
        socket_from = _str(_value(node, "SocketFrom"))  # address and port come with it
        _one_of_address_or_socket_from(node)
        dual_stack = address is None and socket_from is None
        if dual_stack:
            address = model.DEFAULT_LISTEN_ADDRESS
        port = _value(node, "Port")
        if port is None and socket_from is None:
            port = model.HTTPS_PORT if label == "ListenHTTPS" else model.HTTP_PORT
        services = tuple(
            self._service(child, defaults, node)
            for child in node.sections()
            if child.keyword is not None and child.keyword.name == "Service"
        )
        challenges = _challenge_service(node, self.acme_client if label == "ListenHTTP" else None)
        if challenges is not None:  # ahead of the listener's own services, as in Pound
            services = (challenges, *services)
        if not services and not has_global_services:
            raise ConfigError(
                node.location, f"{label} has no Service (and there is no global Service)"
            )
        xhttp = _int(_value(node, "xHTTP"), 0)
        check_url = _value(node, "CheckURL")
        assert check_url is None or isinstance(check_url, CompiledPattern)
        pages, page_headers = self._error_pages(node)
        forwarded = self.conditions.forwarded(None, node)
        return ListenerSpec(
            forwarded=forwarded if forwarded.trusted is not None else None,
            name=_str(node.values[0]),
            address=address or "",
            port=_int(port, 0),
            dual_stack=dual_stack,
            xhttp=xhttp,
            methods=model.methods_for_xhttp(xhttp),
            client_timeout=_float(_value(node, "Client"), defaults.client_timeout),
            max_request=_int(_value(node, "MaxRequest"), 0),
            max_uri=_int(_value(node, "MaxURI"), 0),
            check_url=check_url,
            error_pages=pages,
            error_headers=page_headers,
            rewrite_location=_int(_value(node, "RewriteLocation"), 1),
            services=services,
            tls=self._tls(node, services) if label == "ListenHTTPS" else None,
            location=node.location,
            line_buffer=_int(_value(node, "LineBufferSize"), self.line_buffer),
            socket_from=socket_from,
            request_edits=edits.request,
            response_edits=edits.response,
            header_options=(
                self.header_options if edits.header_options is None else edits.header_options
            ),
            rewrite_destination=edits.rewrite_destination,
            rewrite_errors=bool(edits.rewrite_errors),
            combine_headers=self.combine_headers,
        )

    # -- ListenHTTPS ----------------------------------------------------------------------

    def _auto_cert(self, directive: Directive) -> CertSpec:
        """An ``AutoCert``: a managed certificate file (it may not exist yet) in the
        ACMEClient's store, and the order for it (one per set of names, however many
        listeners ask)."""
        client = self.acme_client
        if client is None:
            raise ConfigError(directive.location, '"AutoCert" needs an "ACMEClient" section')
        names = tuple(dict.fromkeys(cast(Words, directive.values[0])))
        file = f"{client.store}/{names[0]}.pem"
        known = self.auto_certs.get(file)
        if known is not None and known.names != names:
            raise ConfigError(
                directive.location,
                f"{quote(names[0])} already names another certificate (at {known.location})",
            )
        self.auto_certs.setdefault(file, AutoCertSpec(names, file, directive.location))
        return CertSpec(path=file, location=directive.location, managed=True)

    def _tls(self, node: SectionNode, services: Sequence[ServiceSpec]) -> ListenerTlsSpec:
        certs: list[CertSpec] = []
        for directive in node.directives():
            if directive.keyword.name == "Cert":
                certs.extend(self._certs(directive))
            elif directive.keyword.name == "AutoCert":
                certs.append(self._auto_cert(directive))
        if not certs:
            raise ConfigError(node.location, 'ListenHTTPS needs a "Cert" or an "AutoCert"')
        ciphers, suites = self._ciphers(node.first("Ciphers"))
        disable = node.first("Disable")
        minimum = model.DEFAULT_MIN_TLS
        if disable is not None:
            disabled = _PROTOCOLS[_str(disable.values[0]) or ""]
            minimum = max(minimum, TlsProtocol(disabled + 1))
        renegotiation = _int(_value(node, "SSLAllowClientRenegotiation"), 0)
        if renegotiation:
            at = node.first("SSLAllowClientRenegotiation")
            assert at is not None
            log.warning(
                "%s: SSLAllowClientRenegotiation %d: standby never allows client-initiated "
                "renegotiation (a denial of service lever; TLS 1.3 has none); it acts as 0",
                at.location,
                renegotiation,
            )
        client_cert = node.first("ClientCert")
        mode = model.CLIENT_CERT_NONE if client_cert is None else _int(client_cert.values[0], 0)
        depth = (
            model.DEFAULT_CLIENT_CERT_DEPTH
            if client_cert is None
            else _int(client_cert.values[1], model.DEFAULT_CLIENT_CERT_DEPTH)
        )
        ca_list = self._ca_file(node, "CAlist")
        verify_list = self._ca_file(node, "VerifyList")
        crl_list = self._pem_file(node, "CRLlist", b"-----BEGIN X509 CRL-----", "revocation list")
        verifies = mode in (model.CLIENT_CERT_ASK, model.CLIENT_CERT_REQUIRE)
        if client_cert is not None and verifies and verify_list is None and ca_list is None:
            # Pound 4.23 takes it and verifies against an empty store (tls/context.py).
            log.warning(
                '%s: "ClientCert %d" without a "VerifyList" or "CAlist": %s',
                client_cert.location,
                mode,
                "no client can connect (no certificate can be verified)"
                if mode == model.CLIENT_CERT_REQUIRE
                else "a client that sends a certificate fails the handshake (none can be "
                "verified); one that sends none is served",
            )
        spec = ListenerTlsSpec(
            certs=tuple(certs),
            min_protocol=minimum,
            ciphers=ciphers,
            ciphersuites=suites,
            honor_cipher_order=_bool(_value(node, "SSLHonorCipherOrder"), False),
            renegotiation=renegotiation,
            ecdh_curve=_str(_value(node, "ECDHcurve")),
            dh_params=self._pem_file(
                node, "DHParams", b"-----BEGIN DH PARAMETERS-----", "DH parameters"
            ),
            no_https11=_int(_value(node, "NoHTTPS11"), model.DEFAULT_NO_HTTPS11),
            client_cert=mode,
            client_cert_depth=depth,
            ca_list=ca_list,
            verify_list=verify_list,
            crl_list=crl_list,
            condition_certs=_condition_certs(services),
            location=node.location,
        )
        if self.check_tls is not None:
            try:
                self.check_tls(spec)
            except SettingError as exc:
                at = node.first(exc.keyword)
                raise ConfigError(node.location if at is None else at.location, str(exc)) from None
        return spec

    @staticmethod
    def _ciphers(directive: Directive | None) -> tuple[str, str | None]:
        """Pound's ``Ciphers [-cipherlist] "list" [-ciphersuites "suites"]``."""
        if directive is None:
            return model.DEFAULT_CIPHERS, None
        lists: dict[str, list[str]] = {_CIPHER_LIST: [], _CIPHER_SUITES: []}
        current = _CIPHER_LIST
        for word in cast(Words, directive.values[0]):
            if word.lower() in lists:
                current = word.lower()
            else:
                lists[current].append(word)
        ciphers = ":".join(lists[_CIPHER_LIST])
        suites = ":".join(lists[_CIPHER_SUITES])
        if suites:
            log.warning(
                "%s: TLS 1.3 cipher suites cannot be chosen (Python's ssl module has no "
                "call for it): %s is ignored; OpenSSL's defaults, all strong, are used",
                directive.location,
                quote(suites),
            )
        return ciphers or model.DEFAULT_CIPHERS, suites or None

    def _read_tls_file(self, path: str, at: Location) -> bytes:
        try:
            return self.read(path)
        except OSError as exc:
            raise ConfigError(at, f"cannot read {quote(path)}: {describe_os_error(exc)}") from None

    def _ca_file(self, node: SectionNode, name: str) -> str | None:
        directive = node.first(name)
        if directive is None:
            return None
        path = _str(directive.values[0])
        assert path is not None
        try:
            parse_certificates(self._read_tls_file(path, directive.location))
        except PemError as exc:
            raise ConfigError(directive.location, f"{quote(path)}: {exc}") from None
        return path

    def _pem_file(self, node: SectionNode, name: str, marker: bytes, what: str) -> str | None:
        directive = node.first(name)
        if directive is None:
            return None
        path = _str(directive.values[0])
        assert path is not None
        if marker not in self._read_tls_file(path, directive.location):
            raise ConfigError(directive.location, f"{quote(path)}: no PEM {what} in the file")
        return path

    def _certs(self, directive: Directive) -> list[CertSpec]:
        """One CertSpec per file ``Cert`` names (a file, a directory, a glob), each checked:
        key and certificate present and matching; an expired one is a warning."""
        path = _str(directive.values[0])
        assert path is not None
        at = directive.location
        if os.path.isdir(path):
            files = sorted(
                os.path.join(path, entry)
                for entry in os.listdir(path)
                if os.path.isfile(os.path.join(path, entry))
            )
            if not files:
                raise ConfigError(at, f"no certificate file in directory {quote(path)}")
        elif _GLOB_CHARS & set(os.path.basename(path)) and not os.path.exists(path):
            files = sorted(name for name in glob.glob(path) if os.path.isfile(name))
            if not files:
                raise ConfigError(at, f"no certificate file matches {quote(path)}")
        else:
            files = [path]
        for name in files:
            self._check_cert(name, at)
        return [CertSpec(path=name, location=at) for name in files]

    def _check_cert(self, path: str, at: Location) -> None:
        try:
            bundle = parse_bundle(self._read_tls_file(path, at))
        except PemError as exc:
            raise ConfigError(at, f"{quote(path)}: {exc}") from None
        if self.now is None:
            return
        if bundle.expired(self.now):
            what, when = "expired on", bundle.not_after
        elif bundle.not_after - self.now < datetime.timedelta(days=EXPIRY_WARNING_DAYS):
            what, when = "expires on", bundle.not_after
        elif bundle.not_yet_valid(self.now):
            what, when = "is not valid before", bundle.not_before
        else:
            return
        log.warning(
            "%s: warning: the certificate in %s %s %s",
            at,
            quote(path),
            what,
            when.strftime("%Y-%m-%d %H:%M UTC"),
        )

    def _error_pages(
        self, node: SectionNode
    ) -> tuple[tuple[tuple[int, bytes], ...], tuple[tuple[int, special.Headers], ...]]:
        pages: dict[int, bytes] = {}  # a status given twice: the last page wins, as in Pound
        for directive in node.directives():
            name = directive.keyword.name
            if name == "ErrorFile":
                code = _int(directive.values[0], 0)
                path_index = 1
            elif name.startswith("Err") and name[3:].isdigit():
                code = int(name[3:])
                path_index = 0
            else:
                continue
            path = _str(directive.values[path_index])
            assert path is not None
            pages[code] = self._read_page(path, directive.arg_locations[path_index])
        split = {code: special.split_page(data) for code, data in pages.items()}
        split = special.with_gateway_pages(split)
        return (
            tuple((code, body) for code, (_, body) in split.items()),
            tuple((code, headers) for code, (headers, _) in split.items() if headers),
        )

    def _read_page(self, path: str, at: Location) -> bytes:
        try:
            data = self.read(path)
        except OSError as exc:
            raise ConfigError(at, f"cannot read {quote(path)}: {describe_os_error(exc)}") from None
        if len(data) > MAX_ERROR_PAGE_BYTES:
            raise ConfigError(
                at, f"error page {quote(path)} is too large (over {MAX_ERROR_PAGE_BYTES} bytes)"
            )
        return data

    def _service(
        self, node: SectionNode, defaults: _Defaults, listener: SectionNode | None = None
    ) -> ServiceSpec:
        name = _str(node.values[0])
        label = f"Service {quote(name)}" if name is not None else "Service"
        edits = section_edits(node, self.conditions, node, listener)  # issue 15
        passive = PassiveSpec(
            enabled=_bool(_value(node, "PassiveChecks"), True),
            failover_statuses=self._failover_statuses(node),
            rise=_int(_value(node, "Rise"), model.DEFAULT_RISE),
            fall=_int(_value(node, "Fall"), model.DEFAULT_FALL),
        )
        session = compile_session(node)  # issue 15: sessions
        check_node = _section(node, "HealthCheck")
        conditions = self.conditions.service_conditions(node, listener)
        backends: list[BackendSpec] = []
        emergencies: list[BackendSpec] = []
        templates: list[BackendSpec] = []
        for child in node.body:
            if isinstance(child, SectionNode):
                assert child.keyword is not None
                if child.keyword.name not in ("BackEnd", "Emergency"):
                    continue
                emergency = child.keyword.name == "Emergency"
                if child.values and child.values[0] is not None:  # a global backend's
                    spec = self.named.section(child, emergency)
                else:
                    spec = self._backend(child, defaults, emergency, passive, check_node)
                if spec.dynamic is not None:  # issue 15: a template, expanded at run time
                    templates.append(spec)
                    continue
                (emergencies if emergency else backends).append(spec)
            elif child.keyword.name == "Redirect":
                backends.append(self._redirect(child, node, listener))
            elif child.keyword.name == "UseBackend":
                backends.append(self.named.use(child))
            elif child.keyword.name in special.SPECIAL_KEYWORDS:
                backends.append(special.special_backend(child, self._read_page, os.path.isdir))
        special.check_mix([*backends, *templates], node)
        metrics = node.first("Metrics")
        if metrics is not None and (backends or emergencies or templates):
            raise ConfigError(
                metrics.location,
                f'{label} with "Metrics" cannot also have a BackEnd, Emergency or Redirect',
            )
        if not backends and not emergencies and not templates and metrics is None:
            # Pound 4 takes it with a warning; the requests it matches get 503.
            log.warning(
                "%s: warning: %s has no BackEnd, Emergency or Redirect: the requests it "
                "matches are answered 503",
                node.location,
                label,
                extra={POUND_FORM: node.pound_form("warning: no backends defined")},
            )
        read_only = node.first("ReadOnlyEmergency")
        if read_only is not None and not emergencies:
            raise ConfigError(
                read_only.location, f'"ReadOnlyEmergency" needs an Emergency backend in {label}'
            )
        resend_methods = _value(node, "ResendMethods")
        retry_after = _value(node, "RetryAfter")
        return ServiceSpec(
            name=name,
            conditions=conditions,
            backends=tuple(backends),
            emergencies=tuple(emergencies),
            disabled=_bool(_value(node, "Disabled"), False),
            check=None if check_node is None else self._check((check_node,), passive),
            passive=passive,
            resend=ResendSpec(
                methods=(
                    model.DEFAULT_RESEND_METHODS
                    if resend_methods is None
                    else _methods(resend_methods)
                ),
                max_body=_int(_value(node, "ResendBody"), model.DEFAULT_RESEND_BODY),
                unsafe=_bool(_value(node, "ResendUnsafe"), False),
            ),
            retry_after=(
                defaults.retry_after
                if retry_after is None
                else _whole_seconds(_float(retry_after, 0.0))
            ),
            stale=self._stale(node),
            session=session,
            read_only_emergency=(
                None
                if read_only is None
                else model.DEFAULT_READ_ONLY_METHODS
                if read_only.values[0] is None
                else _methods(read_only.values[0])
            ),
            metrics=metrics is not None,
            location=node.location,
            balancer=special.balancer(node, self.root),
            dynamic=tuple(templates),
            request_edits=edits.request,
            response_edits=edits.response,
            rewrite_errors=edits.rewrite_errors,
        )

    @staticmethod
    def _failover_statuses(node: SectionNode) -> frozenset[int]:
        value = _value(node, "FailoverStatus")
        if value is None:
            return model.DEFAULT_FAILOVER_STATUSES
        return frozenset(
            status for low, high in _statuses(value) for status in range(low, high + 1)
        )

    @staticmethod
    def _check(nodes: Sequence[SectionNode], passive: PassiveSpec) -> HealthCheckSpec:
        """The check of ``nodes`` (most specific first), keyword by keyword; thresholds
        not given in any default to the Service's Rise/Fall."""

        def get(name: str) -> Value:
            directive = _layered(nodes, name)
            return None if directive is None else directive.values[0]

        method = get("Method")
        path = _str(get("Path"))
        host = _str(get("Host"))
        statuses = get("Status")
        body = get("Body")
        assert body is None or isinstance(body, CompiledPattern)
        spec = HealthCheckSpec(
            method=model.DEFAULT_CHECK_METHOD
            if method is None
            else cast(Words, method)[0].encode(),
            path=model.DEFAULT_CHECK_PATH if path is None else path.encode("ascii"),
            host=None if host is None else host.encode("ascii"),
            statuses=model.DEFAULT_CHECK_STATUSES if statuses is None else _statuses(statuses),
            body=body,
            interval=_float(get("Interval"), model.DEFAULT_CHECK_INTERVAL),
            timeout=_float(get("TimeOut"), model.DEFAULT_CHECK_TIMEOUT),
            rise=_int(get("Rise"), passive.rise),
            fall=_int(get("Fall"), passive.fall),
            location=nodes[0].location,
        )
        if spec.body is not None and spec.method in _BODILESS_METHODS:
            at = _layered(nodes, "Body")
            assert at is not None
            raise ConfigError(
                at.location,
                f'"Body" needs a method with a response body, not {spec.method.decode()} '
                '(add "Method GET")',
            )
        return spec

    @staticmethod
    def _stale(node: SectionNode) -> StaleSpec | None:
        section = _section(node, "StaleFallback")
        if section is None:
            return None
        size = _int(_value(section, "Size"), model.DEFAULT_STALE_SIZE)
        size_at = section.first("Size")
        if size == 0 and size_at is not None:
            raise ConfigError(
                size_at.arg_locations[0],
                '"Size" must be more than 0 (remove StaleFallback to turn it off)',
            )
        max_object = _int(_value(section, "MaxObject"), model.DEFAULT_STALE_MAX_OBJECT)
        max_object_at = section.first("MaxObject")
        if max_object_at is not None and not 0 < max_object <= size:
            raise ConfigError(
                max_object_at.arg_locations[0],
                f'"MaxObject" must be more than 0 and at most the "Size" ({size} bytes)',
            )
        if max_object_at is not None and max_object > model.MAX_STALE_OBJECT:
            raise ConfigError(
                max_object_at.arg_locations[0],
                f'"MaxObject" must be at most {model.MAX_STALE_OBJECT} bytes '
                "(the stale store keeps lengths in 32 bits)",
            )
        return StaleSpec(
            size=size,
            max_object=min(max_object, size),
            directory=_str(_value(section, "Directory")),
            key_cookies=_value(section, "Cookies") == "key",
            max_age=_float(_value(section, "MaxAge"), model.DEFAULT_STALE_MAX_AGE),
            location=section.location,
        )

    def _redirect(
        self, directive: Directive, service: SectionNode, listener: SectionNode | None
    ) -> BackendSpec:
        url = _str(directive.values[1])
        assert url is not None
        at = directive.arg_locations[1]
        url = constants.resolve(url, self.conditions.constants.in_scope(service, listener), at)
        if _REDIRECT_URL.match(url) is None:
            raise ConfigError(
                directive.arg_locations[1],
                f"bad redirect URL {quote(url)} (expected http://host... or https://host...)",
            )
        return BackendSpec(
            kind=BackendKind.REDIRECT,
            redirect_code=_int(directive.values[0], model.DEFAULT_REDIRECT_CODE),
            redirect_url=url,
            location=directive.location,
        )

    def _backend(
        self,
        node: SectionNode,
        defaults: _Defaults,
        emergency: bool,
        passive: PassiveSpec,
        service_check: SectionNode | None,
    ) -> BackendSpec:
        assert node.keyword is not None
        label = node.keyword.name
        address = _str(_value(node, "Address"))
        if address is None:
            raise ConfigError(
                node.location,
                f'{label} needs an "Address"',
                node.pound_form(
                    f"{'Backend' if label == 'BackEnd' else label} missing Address declaration"
                ),
            )
        unix = address.startswith("/")
        port_directive = node.first("Port")
        if unix and port_directive is not None:
            raise ConfigError(
                port_directive.location,
                '"Port" cannot be used with a UNIX socket address',
                node.pound_form("Port is not applicable to this address family"),
            )
        resolve = dynamic.dynamic_backend(node, address)  # issue 15
        tls = backend_tls(node, self.read)
        port = None if port_directive is None else _int(port_directive.values[0], 0)
        if not unix and port is None and dynamic.needs_port(resolve):  # Pound's default
            port = model.HTTP_PORT if tls is None else model.HTTPS_PORT
        layers = [n for n in (_section(node, "HealthCheck"), service_check) if n is not None]
        check = self._check(layers, passive) if layers else None
        if emergency:  # Pound's: the last resort gets more patience than the global timeouts
            slow = model.DEFAULT_EMERGENCY_TIMEOUT
            defaults = replace(defaults, timeout=slow, conn_timeout=slow, ws_timeout=slow)
        return BackendSpec(
            kind=BackendKind.PROXY,
            address=address,
            port=port,
            unix=unix,
            priority=_int(_value(node, "Priority"), model.DEFAULT_PRIORITY),
            timeout=_float(_value(node, "TimeOut"), defaults.timeout),
            conn_timeout=_float(_value(node, "ConnTO"), defaults.conn_timeout),
            ws_timeout=_float(_value(node, "WSTimeOut"), defaults.ws_timeout),
            disabled=_bool(_value(node, "Disabled"), False),
            emergency=emergency,
            check=check,
            rise=passive.rise if check is None else check.rise,
            fall=passive.fall if check is None else check.fall,
            passive=passive.enabled,
            tls=tls,
            location=node.location,
            dynamic=resolve,
        )


def _acme_client(root: SectionNode) -> AcmeClientSpec | None:
    """The ACMEClient section (certificates are added from the listeners' AutoCert)."""
    node = _section(root, "ACMEClient")
    if node is None:
        return None
    server = node.first("Server")
    if server is None:
        raise ConfigError(node.location, 'ACMEClient needs a "Server" (the directory URL)')
    url = _str(server.values[0])
    assert url is not None
    if _ACME_SERVER.fullmatch(url) is None:
        raise ConfigError(server.arg_locations[0], f"not an https:// URL: {quote(url)}")
    store = _str(_value(node, "Store"))
    if store is None:
        raise ConfigError(node.location, 'ACMEClient needs a "Store" directory')
    email_directive = node.first("Email")
    email = None if email_directive is None else _str(email_directive.values[0])
    if email is not None and _EMAIL.fullmatch(email) is None:
        assert email_directive is not None
        raise ConfigError(
            email_directive.arg_locations[0], f"not an e-mail address: {quote(email)}"
        )
    return AcmeClientSpec(
        server=url,
        store=store,
        email=email,
        ca_file=_str(_value(node, "CAlist")),
        location=node.location,
    )


def _challenge_service(node: SectionNode, client: AcmeClientSpec | None) -> ServiceSpec | None:
    """The service that answers ACME HTTP-01 challenges on a plain listener: from its own
    ``ACME "DIR"`` (Pound's), and from the ACMEClient's challenge directory, in that order."""
    directories: list[str] = []
    directive = node.first("ACME")
    if directive is not None:
        directory = _str(directive.values[0])
        assert directory is not None
        if not os.path.isdir(directory):
            raise ConfigError(directive.arg_locations[0], f"not a directory: {quote(directory)}")
        directories.append(directory)
    if client is not None:
        directories.append(client.challenges)
    if not directories:
        return None
    pattern = CompiledPattern(CHALLENGE_PATTERN)
    condition = ConditionSpec(ConditionKind.PATH, CHALLENGE_PATTERN, pattern, negate=False)
    location = node.location if directive is None else directive.location
    return ServiceSpec(
        name=None, conditions=(condition,), acme=tuple(directories), location=location
    )
