"""Frozen specifications compiled from a configuration file.

What the configuration *says* lives here; what changes at run time (alive, disabled
by the operator, pools, counters) lives in state objects keyed by the stable ids below,
so that a reload can map old state onto the new configuration.

The vocabulary is Pound's: a ``ConfigSpec`` has listeners, each listener has services,
each service has backends and emergency backends. Services may also be global (declared
outside any listener); they are tried after the listener's own services.

This module is part of the pure core: it imports no I/O modules.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

# Pound's defaults (seconds), named so that the compiler, the docs and the runtime agree.
DEFAULT_ALIVE = 30.0
DEFAULT_CLIENT_TIMEOUT = 10.0
DEFAULT_BACKEND_TIMEOUT = 15.0
DEFAULT_WS_TIMEOUT = 600.0
# Pound's ports where `Port` is not given: a listener's and a backend's, by protocol.
HTTP_PORT = 80
HTTPS_PORT = 443
# Pound's listener address where neither `Address` nor `SocketFrom` is given: every
# interface, IPv6 and IPv4 (a dual-stack socket).
DEFAULT_LISTEN_ADDRESS = "::"
# An `Emergency` backend's TimeOut, ConnTO and WSTimeOut unless it sets its own, whatever
# the global ones: Pound 4's patience with the last resort, which may be a slow mirror or a
# cold start.
DEFAULT_EMERGENCY_TIMEOUT = 120.0
DEFAULT_GRACE = 30.0
MAX_WORKERS = 256  # a sanity bound on `Workers`: far beyond any useful count of CPUs
# `WorkerTimeout`: a worker that sends no heartbeat (one a second) for this long is killed
# and replaced. Five beats: a loaded machine delays a beat by far less, and a stuck worker
# holds its share of new connections for a few seconds at most.
DEFAULT_WORKER_TIMEOUT = 5.0
# Its floor: two beats, so that one late beat never kills a worker.
MIN_WORKER_TIMEOUT = 2.0
DEFAULT_LOG_LEVEL = 1
DEFAULT_PRIORITY = 5
MIN_PRIORITY = 1
MAX_PRIORITY = 9
DEFAULT_REDIRECT_CODE = 302

# Issue 4: health checks, passive checks, resending, stale fallback, control socket.
DEFAULT_CHECK_METHOD = b"HEAD"  # cheap: the backend sends no body
DEFAULT_CHECK_PATH = b"/"
DEFAULT_CHECK_STATUSES: tuple[tuple[int, int], ...] = ((200, 399),)  # 2xx and redirects
DEFAULT_CHECK_INTERVAL = 5.0
DEFAULT_CHECK_TIMEOUT = 3.0
MAX_CHECK_HEAD = 16 << 10  # a check answer's head beyond this is a failure, not a backend
MAX_CHECK_BODY = 64 << 10  # a Body pattern is searched in this much of the body at most
DEFAULT_RISE = 2  # consecutive good checks before a down backend takes traffic again
DEFAULT_FALL = 3  # consecutive failures before a live backend is taken out
MAX_RISE_FALL = 100  # a sanity bound: longer runs are typos and would hide an outage
# A backend taken out for an HTTP-level reason without a configured HealthCheck is probed
# with `HEAD /`: any status below this one means it answers again (a 503 keeps it out).
PASSIVE_PROBE_BELOW = 500
DEFAULT_FAILOVER_STATUSES = frozenset({502, 503, 504})
# RFC 9110 9.2.2: idempotent methods, safe to send twice.
DEFAULT_RESEND_METHODS = frozenset({b"GET", b"HEAD", b"OPTIONS"})
DEFAULT_RESEND_BODY = 64 * 1024  # request bodies up to this size are kept for a resend
DEFAULT_READ_ONLY_METHODS = DEFAULT_RESEND_METHODS  # ReadOnlyEmergency without arguments
DEFAULT_STALE_SIZE = 64 << 20
DEFAULT_STALE_MAX_OBJECT = 1 << 20
DEFAULT_STALE_MAX_AGE = 86400.0
MAX_STALE_OBJECT = (1 << 31) - 1  # the stale store's files keep lengths in 32 bits
# Only the socket's owner (the user who started standby, normally root) may drive the proxy.
DEFAULT_CONTROL_MODE = 0o600


@dataclass(frozen=True, slots=True)
class Location:
    """Where a spec came from, for error messages and the control API."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}.{self.col}"


UNKNOWN_LOCATION = Location("<builtin>", 0, 0)


class Pattern(Protocol):
    """A compiled operator pattern (config/pattern.py): a POSIX ERE searched in bytes, each
    byte one character. ``undecided`` is the answer when the search would exceed its
    bound (only patterns RE2 cannot match have one)."""

    def search(self, subject: bytes, undecided: bool) -> bool:
        """Whether the pattern matches anywhere in ``subject``."""
        ...

    def search_lines(self, block: bytes, lowered: bytes, undecided: bool) -> bool:
        """Whether it matches within one of the ``\\n``-separated lines of ``block``;
        ``lowered`` is ``block.lower()``, made once for all the conditions."""
        ...

    def captures(self, subject: bytes) -> tuple[bytes, ...] | None:
        """The groups ($0, $1...) of the first match in ``subject``; None: no match."""
        ...

    def captures_lines(self, block: bytes) -> tuple[bytes, ...] | None:
        """The groups of the first of ``block``'s lines that matches; None: none does."""
        ...


class ConditionKind(enum.Enum):
    """What a service condition matches against."""

    URL = "url"  # regex searched in the request target (path and query)
    PATH = "path"  # regex searched in the path only (no query string)
    HOST = "host"  # exact, case-insensitive comparison with the Host header value
    HEADER = "header"  # regex searched in each header line "Name: value", case-insensitive
    # Issue 15 (Pound 4's other conditions; see routing.py):
    QUERY = "query"  # the query part of the target (after "?")
    QUERY_PARAM = "queryparam"  # the value of the query parameter ``argument``
    METHOD = "method"  # the request method
    STRING_MATCH = "stringmatch"  # ``argument`` after expansion (routing.expand)
    ACL = "acl"  # the client address is in ``acl``
    BASIC_AUTH = "basicauth"  # the Authorization header's credentials are in ``users``
    MATCH = "match"  # ``children`` all hold (or one of them, with ``any_of``)
    TBF = "tbf"  # Pound's token bucket: ``tbf``'s bucket for the expanded key has a token
    CLIENT_CERT = "clientcert"  # the client's TLS certificate is one of ``certs``


@dataclass(frozen=True, slots=True)
class ConditionSpec:
    """One service condition. ``HeadRequire`` compiles to HEADER; ``HeadDeny`` to a
    negated HEADER; ``Not`` before a condition sets ``negate``."""

    kind: ConditionKind
    pattern: str  # as written in the configuration, for messages and the control API
    regex: Pattern | None  # the compiled pattern (None for HOST)
    negate: bool
    location: Location = UNKNOWN_LOCATION
    # Issue 15 (defaults: the conditions above, as before):
    # QUERY_PARAM's parameter, HEADER's field (split form), STRING_MATCH's string:
    argument: str = ""
    children: tuple[ConditionSpec, ...] = ()  # MATCH's conditions
    any_of: bool = False  # MATCH OR (else AND)
    acl: AclSpec | None = None  # ACL
    forwarded: ForwardedSpec | None = None  # ACL -forwarded: whom to trust for the address
    users: UserDb | None = None  # BASIC_AUTH
    decode: bool = False  # QUERY_PARAM -decode: percent-decode the value first
    tag: str = ""  # -tag: the name back-references may use ($1(tag))
    tbf: TbfSpec | None = None  # TBF (its key template is ``argument``)
    live: LiveFile | None = None  # MATCH of a -filewatch pattern file: live.children
    certs: frozenset[bytes] = frozenset()  # CLIENT_CERT: the certificates (DER) that match


class TlsProtocol(enum.IntEnum):
    """SSL and TLS protocol versions, oldest first, by Pound's `Disable` names: disabling
    one disables it and every older one, so a setting is the oldest version allowed."""

    SSLv2 = 0
    SSLv3 = 1
    TLSv1 = 2
    TLSv1_1 = 3
    TLSv1_2 = 4
    TLSv1_3 = 5


# The oldest protocol allowed when the configuration says nothing: TLS 1.0 and 1.1 are
# deprecated (RFC 8996) and every browser and crawler of today speaks TLS 1.2.
DEFAULT_MIN_TLS = TlsProtocol.TLSv1_2


class BackendKind(enum.Enum):
    PROXY = "proxy"  # a real server: Address/Port
    REDIRECT = "redirect"  # answer with a redirect (Service's `Redirect [code] "url"`)
    # Issue 15: Pound 4's special backends, answered by standby itself (server/responders.py).
    ERROR = "error"  # `Error STATUS ["file"]`: that status, with the file or the error page
    SUCCESS = "success"  # `Success`: 200 with an empty body
    SENDFILE = "sendfile"  # `SendFile "dir"`: the file the request path names in dir
    CONTROL = "control"  # `Control` in a Service: the control API over HTTP
    STATUS = "status"  # `Status` in a Service: the read-only status page (issue 16)


def status_in(status: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    """Whether ``status`` lies in one of the inclusive ``(low, high)`` ranges."""
    return any(low <= status <= high for low, high in ranges)


@dataclass(frozen=True, slots=True)
class HealthCheckSpec:
    """An active HTTP check (a ``HealthCheck`` section), as it applies to one backend:
    a BackEnd's own section overrides its Service's keyword by keyword."""

    method: bytes = DEFAULT_CHECK_METHOD
    path: bytes = DEFAULT_CHECK_PATH
    host: bytes | None = None  # the Host header; None: the backend's address
    statuses: tuple[tuple[int, int], ...] = DEFAULT_CHECK_STATUSES  # inclusive ranges
    body: Pattern | None = None  # searched in the body's first MAX_CHECK_BODY bytes
    interval: float = DEFAULT_CHECK_INTERVAL
    timeout: float = DEFAULT_CHECK_TIMEOUT  # the whole check: connect, request, answer
    rise: int = DEFAULT_RISE
    fall: int = DEFAULT_FALL
    location: Location = UNKNOWN_LOCATION

    def accepts(self, status: int) -> bool:
        return status_in(status, self.statuses)


@dataclass(frozen=True, slots=True)
class PassiveSpec:
    """Passive checks of a Service: what requests tell about their backends."""

    enabled: bool = True  # `PassiveChecks 0` turns them off (connect failures still count)
    failover_statuses: frozenset[int] = DEFAULT_FAILOVER_STATUSES
    rise: int = DEFAULT_RISE  # Service-level Rise/Fall: for backends without a HealthCheck
    fall: int = DEFAULT_FALL


@dataclass(frozen=True, slots=True)
class ResendSpec:
    """When a request that failed before any response byte may go to another backend."""

    methods: frozenset[bytes] = DEFAULT_RESEND_METHODS
    max_body: int = DEFAULT_RESEND_BODY  # largest body kept for a resend; 0: none
    unsafe: bool = False  # `ResendUnsafe 1`: any method, when its body was kept

    def allows(self, method: bytes) -> bool:
        return self.unsafe or method in self.methods


@dataclass(frozen=True, slots=True)
class StaleSpec:
    """A ``StaleFallback`` section: recent good answers served when no backend can."""

    size: int = DEFAULT_STALE_SIZE  # total bytes kept
    max_object: int = DEFAULT_STALE_MAX_OBJECT  # largest response kept
    directory: str | None = None  # persisted there to survive a restart
    key_cookies: bool = False  # `Cookies key`: requests with a Cookie are keyed by it
    max_age: float = DEFAULT_STALE_MAX_AGE  # the oldest copy served, in seconds
    location: Location = UNKNOWN_LOCATION


@dataclass(frozen=True, slots=True)
class BackendTlsSpec:
    """``HTTPS`` in a ``BackEnd`` or ``Emergency``: the backend speaks TLS. Pound 2 writes
    the client certificate as ``HTTPS "file"``, Pound 4 as ``Cert "file"``; ``ServerName``,
    ``Ciphers`` and ``Disable`` are Pound 4's. ``CAlist`` (standby's) verifies the
    backend's certificate and name; without it, as in Pound, the backend is not verified."""

    cert: str | None = None  # client certificate: a PEM file with its key (and chain)
    server_name: str | None = None  # SNI (and, with ca_pem, the name verified)
    ca_pem: bytes | None = None  # CAlist's certificates (PEM), read at load time
    ca_file: str | None = None  # CAlist's file name, for messages
    ciphers: str | None = None  # TLS 1.2 and older (OpenSSL syntax); None: OpenSSL's
    min_protocol: TlsProtocol = DEFAULT_MIN_TLS  # `Disable P`: the protocol after P
    # Where each was written, for messages; not compared: a reload that only moves lines
    # keeps the backend's pool.
    location: Location = field(default=UNKNOWN_LOCATION, compare=False)  # HTTPS
    cert_location: Location = field(default=UNKNOWN_LOCATION, compare=False)
    ciphers_location: Location = field(default=UNKNOWN_LOCATION, compare=False)

    @property
    def verify(self) -> bool:
        return self.ca_pem is not None


@dataclass(frozen=True, slots=True)
class BackendSpec:
    """A ``BackEnd`` or ``Emergency`` section, or a ``Redirect``."""

    kind: BackendKind
    # PROXY: an IP address or host name with ``port``, or a UNIX socket path with port None.
    address: str = ""
    port: int | None = None
    unix: bool = False
    priority: int = DEFAULT_PRIORITY
    timeout: float = DEFAULT_BACKEND_TIMEOUT  # TimeOut: waiting for the response
    conn_timeout: float = DEFAULT_BACKEND_TIMEOUT  # ConnTO: waiting for connect()
    ws_timeout: float = DEFAULT_WS_TIMEOUT  # WSTimeOut: idle WebSocket tunnel
    disabled: bool = False  # `Disabled 1` in the configuration
    emergency: bool = False
    # REDIRECT
    redirect_code: int = DEFAULT_REDIRECT_CODE
    redirect_url: str = ""
    # Health, resolved by the compiler: the active check (the BackEnd's HealthCheck over
    # its Service's), the thresholds (the check's, else the Service's Rise/Fall), and
    # whether failures seen by requests count (the Service's PassiveChecks).
    check: HealthCheckSpec | None = None
    rise: int = DEFAULT_RISE
    fall: int = DEFAULT_FALL
    passive: bool = True
    tls: BackendTlsSpec | None = None  # `HTTPS`; None: plain HTTP
    location: Location = UNKNOWN_LOCATION
    # Issue 15: the special backends' settings (see SpecialBackend at the end of the file)
    # and a global backend's name (`Backend "name"` ... `UseBackend "name"`).
    special: SpecialBackend | None = None
    name: str | None = None
    # Computed once: the hot path looks health up by it without building a tuple.
    _identity: tuple[str, str, int | None] = field(
        init=False, repr=False, compare=False, default=("", "", None)
    )
    # Issue 15, dynamic backends: `Resolve` makes this spec a template (in
    # ServiceSpec.dynamic, never proxied to itself); ``dns_name`` is the name a generated
    # backend came from (its health is kept by name, address and port).
    dynamic: DynamicSpec | None = None
    dns_name: str = ""

    def __post_init__(self) -> None:
        special = self.special
        if self.kind is BackendKind.REDIRECT:
            key: tuple[str, str, int | None] = ("redirect", self.redirect_url, self.redirect_code)
        elif special is not None:
            key = special.identity(self.kind)
        else:
            # TLS on or off is part of the identity: the same port spoken to in plain
            # HTTP and in TLS are two servers (pools, health and counters of their own; a
            # reload that turns HTTPS on never reuses a plain pooled connection). Other TLS
            # settings are not: a reload that changes them keeps health and counters, and
            # the proxy replaces the pool (see Proxy._build).
            kind = "unix" if self.unix else "inet"
            if self.dns_name:
                kind += "@" + self.dns_name
            key = (kind if self.tls is None else kind + "+tls", self.address, self.port)
        object.__setattr__(self, "_identity", key)

    @property
    def identity(self) -> tuple[str, str, int | None]:
        """Stable identity across reloads: the same server keeps its health state."""
        return self._identity

    def describe(self) -> str:
        """Human-readable address for logs (never shown to clients)."""
        if self.kind is BackendKind.REDIRECT:
            return f"redirect {self.redirect_code} {self.redirect_url}"
        if self.kind is not BackendKind.PROXY:
            return self.kind.value if self.special is None else self.special.describe(self.kind)
        if self.unix:
            return self.address
        if ":" in self.address:
            return f"[{self.address}]:{self.port}"
        return f"{self.address}:{self.port}"


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    name: str | None
    conditions: tuple[ConditionSpec, ...] = ()
    backends: tuple[BackendSpec, ...] = ()  # regular tier (may include redirects)
    emergencies: tuple[BackendSpec, ...] = ()  # used only when no regular backend is alive
    disabled: bool = False
    # Issue 4 (defaults give the seed passive checks and safe resending):
    check: HealthCheckSpec | None = None  # the Service's own HealthCheck, as written
    passive: PassiveSpec = PassiveSpec()
    resend: ResendSpec = ResendSpec()
    retry_after: int = int(DEFAULT_ALIVE)  # seconds, for our 503s; see ConfigSpec
    stale: StaleSpec | None = None  # StaleFallback; None: off
    read_only_emergency: frozenset[bytes] | None = None  # methods allowed on Emergency
    metrics: bool = False  # `Metrics`: this service answers with OpenMetrics
    # Pound's `ACME "DIR"` (and the ACMEClient's challenges): this service answers
    # /.well-known/acme-challenge/NAME from the file NAME of the first of these directories.
    acme: tuple[str, ...] = ()
    location: Location = UNKNOWN_LOCATION
    # Issue 15: `Balancer random|iwrr` (the Service's, else the global one).
    balancer: Balancer = field(default_factory=lambda: Balancer.RANDOM)
    # Issue 15: dynamic backends' templates (`Resolve`), expanded at run time (dns.expand).
    dynamic: tuple[BackendSpec, ...] = ()
    # issue 15 (log): `LogSuppress`, bit N set: status class NXX is not logged
    log_suppress: int = 0
    # Issue 15 (config/edits.py): the service's request and response edits, in order;
    # `RewriteErrors` (None: the listener's).
    request_edits: Edits = ()
    response_edits: Edits = ()
    rewrite_errors: bool | None = None
    session: SessionSpec | None = None  # issue 15: `Session`; None: every request balanced


# Pound's xHTTP levels: each level adds methods to the previous one.
XHTTP_METHODS: tuple[frozenset[bytes], ...] = (
    frozenset({b"GET", b"POST", b"HEAD"}),
    frozenset({b"PUT", b"PATCH", b"DELETE"}),
    frozenset(
        {
            b"LOCK",
            b"UNLOCK",
            b"PROPFIND",
            b"PROPPATCH",
            b"SEARCH",
            b"MKCOL",
            b"MOVE",
            b"COPY",
            b"OPTIONS",
            b"TRACE",
            b"MKACTIVITY",
            b"CHECKOUT",
            b"MERGE",
            b"REPORT",
        }
    ),
    frozenset(
        {
            b"SUBSCRIBE",
            b"UNSUBSCRIBE",
            b"NOTIFY",
            b"BPROPFIND",
            b"BPROPPATCH",
            b"POLL",
            b"BMOVE",
            b"BCOPY",
            b"BDELETE",
            b"CONNECT",
        }
    ),
    frozenset({b"RPC_IN_DATA", b"RPC_OUT_DATA"}),
)


def methods_for_xhttp(level: int) -> frozenset[bytes]:
    """All methods allowed at ``xHTTP level`` (0..4)."""
    allowed: frozenset[bytes] = frozenset()
    for group in XHTTP_METHODS[: level + 1]:
        allowed |= group
    return allowed


# --- HTTPS listeners (ListenHTTPS) -------------------------------------------------------

# Pound's `ClientCert` modes.
CLIENT_CERT_NONE = 0  # never ask
CLIENT_CERT_ASK = 1  # ask; a client without one is fine
CLIENT_CERT_REQUIRE = 2  # ask; fail the handshake without one
CLIENT_CERT_UNVERIFIED = 3  # ask, do not verify (see docs/tls.md for what standby does)
# OpenSSL's default verification depth, and Pound's: the peer and up to nine CAs.
DEFAULT_CLIENT_CERT_DEPTH = 9
MAX_CLIENT_CERT_DEPTH = 9
# `SSLAllowClientRenegotiation`: 0 none (the default), 1 secure, 2 also insecure.
DEFAULT_RENEGOTIATION = 0
# `NoHTTPS11`: 0 keep-alive for every HTTPS client (Pound 4.23's default), 1 one request
# per TLS connection, 2 one request per connection for MSIE user agents.
DEFAULT_NO_HTTPS11 = 0
# Mozilla's "intermediate" TLS 1.2 cipher list (server-side TLS guidelines, v5.7): forward
# secret AEAD ciphers only. TLS 1.3 suites are OpenSSL's defaults, all of them strong.
DEFAULT_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"
)


@dataclass(frozen=True, slots=True)
class CertSpec:
    """One certificate a listener serves: a PEM file with its key, certificate and chain
    (any order). ``Cert`` names a file, a directory (every file in it) or a glob; the
    compiler expands the last two into one CertSpec per file. ``managed``: the file may
    not exist yet (an ACME client writes it later); the listener starts without it."""

    path: str
    location: Location = UNKNOWN_LOCATION
    managed: bool = False


@dataclass(frozen=True, slots=True)
class ListenerTlsSpec:
    """The TLS part of a ``ListenHTTPS`` section (Pound's keywords, Pound's meaning)."""

    certs: tuple[CertSpec, ...]  # the first is the default (no SNI, or no name matched)
    min_protocol: TlsProtocol = DEFAULT_MIN_TLS  # `Disable P`: the protocol after P
    ciphers: str = DEFAULT_CIPHERS  # TLS 1.2 and older (OpenSSL cipher list syntax)
    ciphersuites: str | None = None  # TLS 1.3 suites; None: OpenSSL's defaults
    honor_cipher_order: bool = False
    renegotiation: int = DEFAULT_RENEGOTIATION
    ecdh_curve: str | None = None  # None: OpenSSL's default groups (X25519, P-256...)
    dh_params: str | None = None  # a PEM file of DH parameters, for DHE ciphers
    no_https11: int = DEFAULT_NO_HTTPS11
    client_cert: int = CLIENT_CERT_NONE
    client_cert_depth: int = DEFAULT_CLIENT_CERT_DEPTH
    ca_list: str | None = None  # CAs named to the client in the certificate request
    verify_list: str | None = None  # CAs that verify client certificates
    crl_list: str | None = None  # revocation lists checked for client certificates
    # The certificates (DER) its services' `ClientCert` conditions name: asked of clients
    # and trusted as they are (config/conditions.py, tls/context.py).
    condition_certs: tuple[bytes, ...] = ()
    location: Location = UNKNOWN_LOCATION


# `HeaderOption` bits: which lines standby adds to every request it forwards (issue 15).
HEADER_FORWARDED = 1  # X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Port
HEADER_SSL = 2  # X-SSL-* on HTTPS listeners
DEFAULT_HEADER_OPTIONS = HEADER_FORWARDED | HEADER_SSL  # Pound's default: both


@dataclass(frozen=True, slots=True)
class ListenerSpec:
    """A ``ListenHTTP`` or ``ListenHTTPS`` section."""

    name: str | None
    address: str
    port: int
    xhttp: int = 0
    # No `Address` (Pound's default): "::" for IPv6 and IPv4 both; an IPv6 address given
    # is IPv6 only, so that "::" and "0.0.0.0" can share a port.
    dual_stack: bool = False
    methods: frozenset[bytes] = field(default_factory=lambda: methods_for_xhttp(0))
    client_timeout: float = DEFAULT_CLIENT_TIMEOUT
    max_request: int = 0  # largest request body in bytes; 0 = unlimited
    max_uri: int = 0  # longest request target in bytes; 0 = the built-in limit
    check_url: Pattern | None = None  # request targets must match or get 501
    error_pages: tuple[tuple[int, bytes], ...] = ()  # (status, HTML body) read at load time
    rewrite_location: int = 1  # 0 off, 1 on, 2 on and also compare the port
    services: tuple[ServiceSpec, ...] = ()
    tls: ListenerTlsSpec | None = None  # ListenHTTPS; None: plain HTTP
    location: Location = UNKNOWN_LOCATION
    # Issue 15: the headers of error page files in Pound 4's format (status, headers).
    error_headers: tuple[tuple[int, tuple[tuple[bytes, bytes], ...]], ...] = ()
    # issue 15 (log): the listener's own `LogLevel`, as a format definition; None: the global
    log_format: str | None = None
    # Issue 15 (i15-conf): LineBufferSize, the longest request line and header line (and
    # the default MaxURI); 0: the built-in limits.
    line_buffer: int = 0
    # `SocketFrom "PATH"`: the listening socket is received over this UNIX socket (address
    # and port are then the received socket's own).
    socket_from: str | None = None
    # Issue 15 (config/edits.py): edits applied to requests before the service's, and to
    # responses after the service's; `HeaderOption`; `RewriteDestination`; `RewriteErrors`.
    request_edits: Edits = ()
    response_edits: Edits = ()
    header_options: int = DEFAULT_HEADER_OPTIONS
    rewrite_destination: bool = False
    rewrite_errors: bool = False
    combine_headers: tuple[bytes, ...] = ()  # `CombineHeaders` (global), lower-cased names
    # The access log's client address (%a) behind proxies: the listener's (else the global)
    # TrustedIP and ForwardedHeader; None: no TrustedIP, the connection's address.
    forwarded: ForwardedSpec | None = None

    def error_page(self, status: int) -> bytes | None:
        for code, body in self.error_pages:
            if code == status:
                return body
        return None


# The ACMEClient store's layout: the account key and the challenge directory every plain
# listener serves; each certificate is `<store>/<first name>.pem`.
ACME_ACCOUNT_KEY = "account.key"
ACME_CHALLENGES = "challenges"


@dataclass(frozen=True, slots=True)
class AutoCertSpec:
    """An `AutoCert` line: one certificate for these names, obtained and renewed by the
    ACME client, kept in ``file``."""

    names: tuple[str, ...]
    file: str
    location: Location = UNKNOWN_LOCATION


@dataclass(frozen=True, slots=True)
class AcmeClientSpec:
    """The `ACMEClient` section (standby's own; Pound has no ACME client)."""

    server: str  # the ACME directory URL
    store: str  # account key, certificates, challenges
    email: str | None = None
    ca_file: str | None = None  # trust for the ACME server; None: the system's
    certificates: tuple[AutoCertSpec, ...] = ()  # from every listener's AutoCert
    location: Location = UNKNOWN_LOCATION

    @property
    def challenges(self) -> str:
        return f"{self.store}/{ACME_CHALLENGES}"


@dataclass(frozen=True, slots=True)
class ConfigSpec:
    """A whole configuration file after ``Include`` expansion and compilation."""

    source: str = "<builtin>"
    user: str | None = None
    group: str | None = None
    root_jail: str | None = None
    daemon: bool = True  # Pound's default: detach unless -F/-e
    log_level: int = DEFAULT_LOG_LEVEL
    log_facility: str | None = "daemon"  # syslog facility name; "-" means stderr
    alive: float = DEFAULT_ALIVE
    client_timeout: float = DEFAULT_CLIENT_TIMEOUT
    timeout: float = DEFAULT_BACKEND_TIMEOUT
    conn_timeout: float = DEFAULT_BACKEND_TIMEOUT
    ws_timeout: float = DEFAULT_WS_TIMEOUT
    grace: float = DEFAULT_GRACE
    pid_file: str | None = None
    log_file: str | None = None  # `LogFile`: diagnostics and access lines; None: LogFacility
    workers: int | None = None  # worker processes; None: one per CPU
    worker_timeout: float = DEFAULT_WORKER_TIMEOUT  # a silent worker is killed after this
    anonymise: bool = False  # log client addresses with the last byte zeroed
    # Retry-After of our 503s: `RetryAfter`, else the Alive interval (no backend can be
    # seen back sooner). Services without their own inherit it.
    retry_after: int = int(DEFAULT_ALIVE)
    control: str | None = None  # `Control`: the UNIX socket of the control API
    control_mode: int = DEFAULT_CONTROL_MODE
    # `ChangeOwner` in a Control section: the socket file goes to User/Group (as in Pound),
    # else it stays the starting user's.
    control_owner: bool = False
    # poundctl numbering: the Control socket counts as a listener where it appears, i.e.
    # after this many ListenHTTP sections (None without Control).
    control_index: int | None = None
    listeners: tuple[ListenerSpec, ...] = ()
    services: tuple[ServiceSpec, ...] = ()  # global services, tried after a listener's own
    acme: AcmeClientSpec | None = None  # `ACMEClient`: automatic HTTPS
    resolver: ResolverSpec | None = None  # issue 15: `Resolver`, with dynamic backends only
    # issue 15 (log): the global `LogLevel` naming a `LogFormat`, its definition (None: the
    # built-in `log_level`); `LogTag`, the syslog tag (None: the program's name)
    log_format: str | None = None
    log_tag: str | None = None
    # How the command line said to read the file (-W options); a reload reads it the same way.
    load_options: LoadOptions = field(default_factory=lambda: LoadOptions())
    # Pound 4's `Tunnel` sections (see TunnelSpec at the end of the file).
    tunnels: tuple[TunnelSpec, ...] = ()
    # Where the global settings config/advice.py warns about were written (keyword,
    # location of the one in force), for its messages.
    settings_at: tuple[tuple[str, Location], ...] = ()


# --- issue 15: backend kinds, named backends, balancer, error pages ----------------------


class Balancer(enum.Enum):
    """How a Service spreads requests over its live backends (Pound 4's `Balancer`)."""

    RANDOM = "random"  # weighted random by Priority (Pound's default)
    IWRR = "iwrr"  # interleaved weighted round robin by Priority


# Every status `Error` may answer: the ones standby has a reason phrase and a page for.
MIN_ERROR_STATUS = 400
MAX_ERROR_STATUS = 599


@dataclass(frozen=True, slots=True)
class SpecialBackend:
    """What a special backend answers with. ERROR: ``status`` and ``page`` (the file's
    body; None: the listener's page for that status, else the built-in one) with the
    file's ``headers``; SENDFILE: files under ``directory`` (an absolute path)."""

    status: int = 0
    page: bytes | None = None
    headers: tuple[tuple[bytes, bytes], ...] = ()
    directory: str = ""
    file: str | None = None  # the Error file's name, for the identity and messages

    def identity(self, kind: BackendKind) -> tuple[str, str, int | None]:
        if kind is BackendKind.ERROR:
            return (kind.value, self.file or "", self.status)
        return (kind.value, self.directory, None)

    def describe(self, kind: BackendKind) -> str:
        if kind is BackendKind.ERROR:
            return f"error {self.status}"
        if kind is BackendKind.SENDFILE:
            return f"sendfile {self.directory}"
        return str(kind.value)


# --- issue 15: conditions (ACL, TrustedIP, BasicAuth) -------------------------------------


Networks = tuple[tuple[int, int, int], ...]


class LiveFile:
    """The content of a ``-filewatch`` file (an ACL's networks, a pattern file's
    conditions): the shell (server/watch.py) reads the file again when it changes and
    ``load`` parses the text (None: the file is gone) into ``networks`` or ``children``.
    Equal when they watch the same file with the same content (as htpasswd.UserTable)."""

    __slots__ = ("children", "location", "networks", "parse", "path")

    def __init__(
        self,
        path: str,
        location: Location,
        parse: Callable[[str | None], tuple[Networks, tuple[ConditionSpec, ...]]],
        text: str | None,
    ) -> None:
        self.path = path
        self.location = location  # of the statement, for the log
        self.parse = parse  # raises ConfigError (kept content) on a bad file
        self.networks, self.children = parse(text)

    def load(self, text: str | None) -> None:
        """The file changed (or is gone: None): its content now."""
        self.networks, self.children = self.parse(text)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LiveFile):
            return NotImplemented
        return (self.path, self.networks, self.children) == (
            other.path,
            other.networks,
            other.children,
        )

    def __hash__(self) -> int:
        return hash(self.path)


@dataclass(frozen=True, slots=True)
class AclSpec:
    """An access control list (``ACL``, ``TrustedIP``): CIDRs as (IP version, network,
    mask) integers (acl.py decides membership)."""

    name: str  # "" for an inline list
    networks: Networks
    location: Location = UNKNOWN_LOCATION
    live: LiveFile | None = None  # -filewatch: its networks are live.networks


# The header Pound takes the client's address chain from (``ForwardedHeader``).
DEFAULT_FORWARDED_HEADER = "X-Forwarded-For"


@dataclass(frozen=True, slots=True)
class ForwardedSpec:
    """How ``ACL -forwarded`` finds the client address: the header (lower-case) and the
    proxies trusted to have written it (``TrustedIP``; None: the connection's address)."""

    header: bytes
    trusted: AclSpec | None


class UserDb(Protocol):
    """A ``BasicAuth`` user database (htpasswd.py); the shell replaces its table when the
    file changes."""

    path: str

    def verify(self, user: bytes, password: bytes) -> bool:
        """Whether ``password`` is ``user``'s."""
        ...


# --- issue 15: dynamic backends (`Resolve`, `Resolver`) --------------------------------------

# Pound's defaults: a failed lookup is retried after this long; `CNAMEChain` 0 allows one
# alias but no chain of them.
DEFAULT_DNS_RETRY = 600.0
DEFAULT_CNAME_CHAIN = 0
MAX_CNAME_CHAIN = 16  # a sanity bound: a longer chain is a misconfigured zone
# A TTL of 0 would make a dynamic backend re-resolve in a busy loop: at least this long.
MIN_DNS_INTERVAL = 1.0


class ResolveMode(enum.Enum):
    """`Resolve first|all|srv`."""

    FIRST = "first"  # the first address: at most one backend
    ALL = "all"  # one backend per address
    SRV = "srv"  # SRV records: one `all` per target, SRV weight as Priority


class AddressFamily(enum.Enum):
    """`Family any|inet|inet6`: which address records are asked for."""

    ANY = "any"
    INET = "inet"
    INET6 = "inet6"


@dataclass(frozen=True, slots=True)
class DynamicSpec:
    """What `Resolve` and its companions say of one BackEnd or Emergency template."""

    mode: ResolveMode
    family: AddressFamily = AddressFamily.ANY
    ignore_srv_weight: bool = False
    override_ttl: float | None = None  # None: the records' TTL
    retry_interval: float | None = None  # None: the Resolver's
    index: int = 0  # its place among the configuration's templates (the workers' key)


@dataclass(frozen=True, slots=True)
class ResolverSpec:
    """The `Resolver` section (or the system's resolv.conf when there is none)."""

    nameservers: tuple[tuple[str, int], ...]  # (IP address, port), tried in order
    timeout: float = 5.0  # seconds per try (resolv.conf `options timeout:N`)
    attempts: int = 2  # tries per server (`options attempts:N`)
    cname_chain: int = DEFAULT_CNAME_CHAIN
    retry_interval: float = DEFAULT_DNS_RETRY
    debug: bool = False  # `Debug`: log every lookup, not only changes
    location: Location = UNKNOWN_LOCATION


# --- issue 15: rate limiting (i15-conf) ---------------------------------------------------

# LineBufferSize: Pound's own buffer (its smallest allowed value), and standby's whole
# request head limit (http1.limits.MAX_HEAD), which no one line can exceed.
MIN_LINE_BUFFER = 4096
MAX_LINE_BUFFER = 1 << 16

# The largest TBF burst: a million requests at once limits nothing; more is a typo.
MAX_TBF_BURST = 1_000_000


@dataclass(frozen=True, slots=True)
class TbfSpec:
    """One ``TBF key rate burst`` condition: ``tokens`` every ``period_ns`` nanoseconds
    into buckets of at most ``burst``, one bucket per expanded key. Each TBF statement
    has its own buckets (``location`` tells two identical statements apart)."""

    key: str  # the template, expanded per request (routing.expand)
    tokens: int
    period_ns: int
    burst: int
    location: Location = UNKNOWN_LOCATION

    @property
    def interval_ns(self) -> int:
        """Nanoseconds between two tokens (at least 1)."""
        return max(1, self.period_ns // self.tokens)


# --- issue 15: Pound's process interface ---


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """Pound's ``-W`` options that change how the configuration is read."""

    # Where relative file names are looked up: `-W include-dir=DIR` gives DIR, `-W
    # no-include-dir` "" (the current directory); None: the directory of the file that
    # names them (standby's default; Pound's is its compile-time configuration directory).
    include_dir: str | None = None
    dns: bool = True  # `-W no-dns`: host names in the file are not resolved
    warn_deprecated: bool = True  # `-W no-warn-deprecated`: no warning for old spellings
    # The shell's function that receives a `SocketFrom` socket and returns its (address,
    # port); None where sockets are not received (`-c`, tests of the pure loader).
    socket_from: Callable[[str], tuple[str, int]] | None = field(default=None, compare=False)
    # The shell's function told every configuration loaded this way (at start and at each
    # reload), to print or log config/advice.py's warnings once; None: nobody is told.
    advise: Callable[[ConfigSpec], None] | None = field(default=None, compare=False)


# --- issue 15: request and response modification (config/edits.py, http1/edit.py) -------

# What one edit does (Pound 4's request and response modification statements).
EDIT_SET_HEADER = "SetHeader"  # replace the first line of that name, else append one
EDIT_DELETE_HEADER = "DeleteHeader"  # drop every line the matcher accepts
EDIT_SET_URL = "SetURL"
EDIT_SET_PATH = "SetPath"
EDIT_SET_QUERY = "SetQuery"
EDIT_DELETE_QUERY = "DeleteQuery"
EDIT_SET_QUERY_PARAM = "SetQueryParam"  # value None: delete the parameter


@dataclass(frozen=True, slots=True)
class HeaderMatcherSpec:
    """A ``DeleteHeader`` pattern with its match flags (``-exact``, ``-beg``, ``-end``,
    ``-contain``, or a regex), tried on each header line ``Name: value``."""

    mode: str  # "re", "pcre", "exact", "beg", "end", "contain"
    text: str  # as written
    ignore_case: bool
    regex: Pattern | None = None  # modes "re" and "pcre"


@dataclass(frozen=True, slots=True)
class EditSpec:
    """One modification statement. ``text``: SetHeader's line, Set*'s value, or the query
    parameter's name; ``value``: SetQueryParam's value (None deletes it)."""

    op: str  # EDIT_*
    text: str = ""
    value: str | None = None
    matcher: HeaderMatcherSpec | None = None  # DeleteHeader
    encode: bool = False  # `-encode`: percent-encode the value
    location: Location = UNKNOWN_LOCATION


@dataclass(frozen=True, slots=True)
class RewriteBranchSpec:
    """One branch of a ``Rewrite`` block: its conditions (all must hold) and its edits."""

    conditions: tuple[ConditionSpec, ...]
    edits: tuple[EditSpec | RewriteSpec, ...]
    location: Location = UNKNOWN_LOCATION


@dataclass(frozen=True, slots=True)
class RewriteSpec:
    """A ``Rewrite [request|response]`` block: the first branch whose conditions hold has
    its edits applied (``Else`` starts the next branch)."""

    branches: tuple[RewriteBranchSpec, ...]
    location: Location = UNKNOWN_LOCATION


# The edits of a listener or a service, in order (unconditional ones and Rewrite blocks).
Edits = tuple[EditSpec | RewriteSpec, ...]


# --- issue 15: sessions -----------------------------------------------------------------


class SessionType(enum.Enum):
    """Pound's session types: what a request's session key is (balance/sessions.py)."""

    IP = "IP"  # the client's address
    BASIC = "BASIC"  # the credentials of `Authorization: Basic`
    URL = "URL"  # the value of the query parameter ID
    PARM = "PARM"  # what follows the last `;` of the path
    COOKIE = "COOKIE"  # the value of the cookie ID (also learnt from a `Set-Cookie`)
    HEADER = "HEADER"  # the value of the header ID


# The longest `TTL`: a year (a bound, so that an expiry time stays a sane float; any real
# session is far shorter).
MAX_SESSION_TTL = 365 * 24 * 3600

# The session types that need an `ID` (the cookie, parameter or header name).
SESSION_TYPES_WITH_ID = frozenset({SessionType.URL, SessionType.COOKIE, SessionType.HEADER})


@dataclass(frozen=True, slots=True)
class SessionSpec:
    """A Service's `Session`: requests with the same key go to the same backend while the
    session is used at least every ``ttl`` seconds."""

    type: SessionType
    ttl: float
    id: str | None = None  # the cookie, query parameter or header name
    location: Location = UNKNOWN_LOCATION


# --- issue 15: tunnels ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TunnelSpec:
    """Pound 4's `Tunnel`: every connection accepted on ``listen`` (its name, address,
    port, `SocketFrom` and location; no services) is joined to the one backend
    (``backend``'s address and port, or a UNIX socket path, `TimeOut` and `ConnTO`), bytes
    copied both ways unread. ``timeout``: the tunnel is closed after this long without a
    byte either way (Pound's poll timeout)."""

    listen: ListenerSpec
    backend_address: str
    backend_port: int | None  # None: ``backend_address`` is a UNIX socket path
    timeout: float = DEFAULT_BACKEND_TIMEOUT
    conn_timeout: float = DEFAULT_BACKEND_TIMEOUT
    disabled: bool = False  # `Disabled 1`: every connection is closed at once
    location: Location = UNKNOWN_LOCATION


def listening(config: ConfigSpec) -> tuple[ListenerSpec, ...]:
    """Every listening socket of ``config``: the HTTP listeners', then the tunnels', in
    that order (how the process layer binds and hands them over)."""
    if not config.tunnels:
        return config.listeners
    return (*config.listeners, *(tunnel.listen for tunnel in config.tunnels))
