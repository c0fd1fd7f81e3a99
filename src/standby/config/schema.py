"""The keyword schema: one table that drives the parser, ``standby -c`` and the reference
in ``docs/configuration.md``.

Each ``Keyword`` says where it is allowed, what arguments it takes, whether it may be
repeated in one section, and what it means. ``UNSUPPORTED`` lists real Pound keywords
that standby does not implement yet: using one is an error that names it, never a
silent no-op.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from standby import model


class Section(enum.Enum):
    """Where a directive can appear; the value is how messages and docs name it."""

    TOP = "top level"
    LISTEN_HTTP = "ListenHTTP"
    LISTEN_HTTPS = "ListenHTTPS"
    SERVICE = "Service"
    BACKEND = "BackEnd"
    EMERGENCY = "Emergency"
    HEALTH_CHECK = "HealthCheck"
    STALE_FALLBACK = "StaleFallback"
    CONTROL = "Control"
    ACME_CLIENT = "ACMEClient"
    SESSION = "Session"  # issue 15: sessions


ALL_SECTIONS = frozenset(Section)
BACKENDS = frozenset({Section.BACKEND, Section.EMERGENCY})
# Every ListenHTTP keyword is a ListenHTTPS keyword too (Pound's rule).
LISTENERS = frozenset({Section.LISTEN_HTTP, Section.LISTEN_HTTPS})
HTTPS = frozenset({Section.LISTEN_HTTPS})


class ArgKind(enum.Enum):
    """How an argument is read; the value is how the docs describe it."""

    STRING = "string"  # quoted (or a bare word)
    FILE = "file"  # a string naming a file, relative to the current file's directory
    INT = "number"
    BOOL = "boolean"
    DURATION = "duration"
    SIZE = "size"
    REGEX = "regex"  # POSIX ERE, case-sensitive
    IREGEX = "regex (case-insensitive)"  # POSIX ERE with REG_ICASE
    FACILITY = "facility"
    LOG_LEVEL = "level"
    ADDRESS = "address"
    CONDITION = "condition"  # the rest of the line is a service condition (after Not)
    STATUSES = "status list"  # 200, 200-399 or 200,204,301-302 (ranges inclusive)
    METHODS = "method"  # an HTTP method name, case-sensitive (GET, not get)
    MODE = "octal mode"  # file permissions such as 0600
    WORD = "word"  # one of ``Arg.words``
    REQUEST_PATH = "path"  # an absolute request path such as /health
    HOST_HEADER = "host"  # a Host header value: a name or address, optionally with :port
    DOMAINS = "DNS name"  # a DNS name a certificate is asked for (no wildcard, no address)
    CIPHERS = "cipher list"  # OpenSSL's cipher list syntax, or Pound's -cipherlist/-ciphersuites


# Argument kinds whose values are tuples, so that a ``many`` argument can collect them.
TUPLE_KINDS = frozenset({ArgKind.STATUSES, ArgKind.METHODS, ArgKind.CIPHERS, ArgKind.DOMAINS})


@dataclass(frozen=True, slots=True)
class Arg:
    name: str  # placeholder in the docs
    kind: ArgKind
    optional: bool = False
    low: float | None = None  # inclusive bounds for INT and DURATION
    high: float | None = None
    choices: tuple[int, ...] = ()  # allowed INT values, when not a range
    words: tuple[str, ...] = ()  # allowed WORD values (any case)
    many: bool = False  # the last argument: takes every remaining token (a TUPLE_KIND)


@dataclass(frozen=True, slots=True)
class Keyword:
    name: str  # canonical spelling
    sections: frozenset[Section]
    args: tuple[Arg, ...]
    repeatable: bool
    help: str
    opens: Section | None = None  # a section keyword: what its body is
    aliases: tuple[str, ...] = ()
    condition: bool = False  # may follow Not
    # A section keyword that is a one-line directive when given its first argument
    # (Pound's `Control "file"` and `Control` ... `End`).
    inline: bool = False
    default: str = ""  # for the docs


def _seconds(value: float) -> str:
    return f"{value:g} s"


PORT = Arg("port", ArgKind.INT, low=1, high=65535)
POSITIVE_DURATION = Arg("duration", ArgKind.DURATION, low=1e-3)
THRESHOLD = Arg("n", ArgKind.INT, low=1, high=model.MAX_RISE_FALL)
CHECK_PARENTS = frozenset({Section.SERVICE}) | BACKENDS
# `Disable` names (every protocol but the newest, which cannot be disabled).
TLS_PROTOCOL_WORDS = tuple(p.name.lower() for p in model.TlsProtocol)[:-1]
ERROR_CODES = (400, 401, 403, 404, 405, 413, 414, 500, 501, 503)
REDIRECT_CODES = (301, 302, 303, 307, 308)
MAX_XHTTP = len(model.XHTTP_METHODS) - 1
MAX_REWRITE_LOCATION = 2
# `Disable` in a backend: Pound's names up to TLSv1_2 (disabling TLS 1.3 too leaves none).
BACKEND_DISABLE_WORDS = tuple(
    p.name.lower() for p in model.TlsProtocol if p < model.TlsProtocol.TLSv1_3
)


def _error_page(code: int) -> Keyword:
    return Keyword(
        f"Err{code}",
        LISTENERS,
        (Arg("file", ArgKind.FILE),),
        False,
        f'Old spelling of `ErrorFile {code} "file"`.',
    )


_TIMEOUT_HELP = "{what} Global: the default for backends that do not set their own."

KEYWORDS: tuple[Keyword, ...] = (
    # --- global settings ---------------------------------------------------------------
    Keyword("User", frozenset({Section.TOP}), (Arg("name", ArgKind.STRING),), False,
            "Run as this user once the listening sockets are bound."),
    Keyword("Group", frozenset({Section.TOP}), (Arg("name", ArgKind.STRING),), False,
            "Run with this group once the listening sockets are bound."),
    Keyword("RootJail", frozenset({Section.TOP}), (Arg("directory", ArgKind.STRING),), False,
            "chroot(2) to this directory after start-up; error pages are read before."),
    Keyword("Daemon", frozenset({Section.TOP}), (Arg("bool", ArgKind.BOOL),), False,
            "Detach from the terminal and run in the background.", default="1"),
    Keyword("LogLevel", frozenset({Section.TOP}), (Arg("level", ArgKind.LOG_LEVEL),), False,
            "Access log format: 0 none, 1 regular, 2 extended, 3 vhost_combined, "
            "4 combined, 5 detailed (a number or one of these names).",
            default=str(model.DEFAULT_LOG_LEVEL)),
    Keyword("LogFacility", frozenset({Section.TOP}), (Arg("facility", ArgKind.FACILITY),),
            False, "syslog facility (auth, authpriv, cron, daemon, ftp, kern, lpr, mail, "
            "news, syslog, user, uucp, local0..local7), or `-` for standard error.",
            default="daemon"),
    Keyword("Alive", frozenset({Section.TOP}), (POSITIVE_DURATION,), False,
            "How often dead backends are probed for resurrection.",
            default=_seconds(model.DEFAULT_ALIVE)),
    Keyword("Client", frozenset({Section.TOP}) | LISTENERS, (POSITIVE_DURATION,),
            False, "How long to wait for a client to send a request (idle connection, and "
            "the deadline for a whole request head). Global: the default for listeners.",
            default=_seconds(model.DEFAULT_CLIENT_TIMEOUT)),
    Keyword("TimeOut", frozenset({Section.TOP}) | BACKENDS, (POSITIVE_DURATION,), False,
            _TIMEOUT_HELP.format(what="How long to wait for a backend's response."),
            default=_seconds(model.DEFAULT_BACKEND_TIMEOUT)),
    Keyword("ConnTO", frozenset({Section.TOP}) | BACKENDS, (POSITIVE_DURATION,), False,
            _TIMEOUT_HELP.format(what="How long to wait for a connection to a backend."),
            default="the global TimeOut"),
    Keyword("WSTimeOut", frozenset({Section.TOP}) | BACKENDS, (POSITIVE_DURATION,), False,
            _TIMEOUT_HELP.format(what="How long an upgraded (WebSocket) connection may "
                                 "stay idle."),
            default=_seconds(model.DEFAULT_WS_TIMEOUT)),
    Keyword("Grace", frozenset({Section.TOP}), (Arg("duration", ArgKind.DURATION, low=0),),
            False, "On SIGTERM/SIGINT, how long requests in flight may take to finish.",
            default=_seconds(model.DEFAULT_GRACE)),
    Keyword("Workers", frozenset({Section.TOP}),
            (Arg("count", ArgKind.INT, low=1, high=model.MAX_WORKERS),), False,
            "How many worker processes serve the listeners. With more than one, a "
            "supervisor process binds the sockets, probes the backends and restarts a "
            "worker that dies; `1` serves everything in one process. `--workers` "
            "overrides it.", default="the number of CPUs"),
    Keyword("WorkerTimeout", frozenset({Section.TOP}),
            (Arg("duration", ArgKind.DURATION, low=model.MIN_WORKER_TIMEOUT),), False,
            "With more than one worker: each worker sends the supervisor a heartbeat "
            "every second from its event loop; one silent this long (stopped, or stuck "
            "in a busy loop) is killed with SIGKILL and replaced. Another worker accepts "
            "its connections from the second missed heartbeat on. At least "
            f"{model.MIN_WORKER_TIMEOUT:g} s; a reload applies a new value.",
            default=_seconds(model.DEFAULT_WORKER_TIMEOUT)),
    Keyword("PIDFile", frozenset({Section.TOP}), (Arg("file", ArgKind.STRING),), False,
            "Write the process id to this file (`-p` overrides it)."),
    Keyword("Anonymise", frozenset({Section.TOP}),
            (Arg("bool", ArgKind.BOOL, optional=True),), False,
            "Log client addresses with the last byte zeroed.", aliases=("Anonymize",),
            default="0"),
    Keyword("Include", ALL_SECTIONS, (Arg("file", ArgKind.FILE),), True,
            "Read another file here, as if its lines were written in place. Relative "
            "names are taken from the including file's directory; a glob includes every "
            "match in sorted order (no match includes nothing)."),
    Keyword("ListenHTTP", frozenset({Section.TOP}), (Arg("name", ArgKind.STRING, True),),
            True, "A plain HTTP listener, up to `End`.", opens=Section.LISTEN_HTTP),
    Keyword("ListenHTTPS", frozenset({Section.TOP}), (Arg("name", ArgKind.STRING, True),),
            True, "An HTTPS listener, up to `End`: every `ListenHTTP` keyword, and at least "
            "one `Cert`. Without any other TLS keyword it speaks TLS 1.2 and 1.3 only, with "
            "Mozilla's \"intermediate\" ciphers, no compression, no client-initiated "
            "renegotiation and ALPN `http/1.1` (see docs/tls.md).",
            opens=Section.LISTEN_HTTPS),
    Keyword("Service", frozenset({Section.TOP}) | LISTENERS,
            (Arg("name", ArgKind.STRING, True),), True,
            "A service, up to `End`. Inside a listener it serves that listener only; at the "
            "top level it serves every listener, after the listener's own services.",
            opens=Section.SERVICE),
    # --- listener ----------------------------------------------------------------------
    Keyword("Address", LISTENERS | BACKENDS,
            (Arg("address", ArgKind.ADDRESS),), False,
            "Listener: the IP address or host name to listen on. Backend: an IPv4 or "
            "IPv6 address, a host name, or the path of a UNIX socket (starting with `/`)."),
    Keyword("Port", LISTENERS | BACKENDS, (PORT,), False,
            "TCP port (1..65535); required unless the address is a UNIX socket."),
    Keyword("xHTTP", LISTENERS,
            (Arg("level", ArgKind.INT, low=0, high=MAX_XHTTP),), False,
            "Allowed methods: 0 GET, POST, HEAD; 1 adds PUT, PATCH, DELETE; 2 adds the "
            "WebDAV methods; 3 adds the MS WebDAV extensions; 4 adds RPC_IN_DATA and "
            "RPC_OUT_DATA.", default="0"),
    Keyword("MaxRequest", LISTENERS, (Arg("size", ArgKind.SIZE),),
            False, "Largest request body accepted (413 beyond); 0 means unlimited.",
            default="0"),
    Keyword("MaxURI", LISTENERS, (Arg("size", ArgKind.SIZE),), False,
            "Longest request target accepted (414 beyond); 0 means the built-in limit.",
            default="0"),
    Keyword("CheckURL", LISTENERS, (Arg("regex", ArgKind.REGEX),),
            False, "Request targets that do not match get 400."),
    Keyword("ErrorFile", LISTENERS,
            (Arg("status", ArgKind.INT, choices=ERROR_CODES), Arg("file", ArgKind.FILE)),
            True, "The body sent with this status (one of "
            + ", ".join(str(code) for code in ERROR_CODES)
            + "), read once at start-up."),
    *(_error_page(code) for code in ERROR_CODES),
    Keyword("RewriteLocation", LISTENERS,
            (Arg("mode", ArgKind.INT, low=0, high=MAX_REWRITE_LOCATION),), False,
            "Rewrite `Location:` headers that point at a backend: 0 never, 1 when the "
            "backend or this listener is named, 2 also comparing the port.", default="1"),
    # --- ListenHTTPS ---------------------------------------------------------------------
    Keyword("Cert", HTTPS, (Arg("file", ArgKind.FILE),), True,
            "A PEM file with the private key, the certificate and its chain, in any order: "
            '`Cert "/etc/ssl/private/www.pem"`. Given several times, each answers the names '
            "of its subjectAltName (its CN when it has none, wildcards included) and the "
            "first is the default. A directory names every file in it, a glob (`*.pem`) "
            "every match, in sorted order. Files are read at start-up, before privileges "
            "are dropped, and watched: a changed file is loaded without a restart."),
    Keyword("Ciphers", HTTPS, (Arg("ciphers", ArgKind.CIPHERS, many=True),), False,
            "TLS 1.2 ciphers in OpenSSL's syntax: `Ciphers \"ECDHE+AESGCM:!aNULL\"`; "
            "Pound's `-cipherlist` and `-ciphersuites` prefixes are accepted (the TLS 1.3 "
            "suites cannot be chosen from Python: a `-ciphersuites` list is ignored, with "
            "a warning).", default="Mozilla intermediate"),
    Keyword("Disable", HTTPS,
            (Arg("proto", ArgKind.WORD, words=TLS_PROTOCOL_WORDS),), False,
            "Disable this protocol and every older one: `Disable TLSv1_2` leaves TLS 1.3 "
            "only (SSLv2, SSLv3, TLSv1, TLSv1_1, TLSv1_2). TLS 1.0 and 1.1 stay off "
            "whatever it says.", default="TLSv1_1"),
    Keyword("SSLHonorCipherOrder", HTTPS, (Arg("bool", ArgKind.BOOL),), False,
            "Prefer the server's cipher order to the client's: `SSLHonorCipherOrder 1`.",
            default="0"),
    Keyword("SSLAllowClientRenegotiation", HTTPS,
            (Arg("mode", ArgKind.INT, low=0, high=2),), False,
            "Client-initiated renegotiation: 0 refused. 1 and 2 (Pound: secure, and also "
            "insecure, renegotiation) act as 0, with a warning: renegotiation is a denial "
            "of service lever, and TLS 1.3 has none.", default="0"),
    Keyword("ECDHcurve", HTTPS, (Arg("curve", ArgKind.STRING),), False,
            "The one elliptic curve for ECDHE key exchange: `ECDHcurve prime256v1`.",
            default="OpenSSL's groups (X25519, P-256, ...)"),
    Keyword("DHParams", HTTPS, (Arg("file", ArgKind.FILE),), False,
            "Diffie-Hellman parameters (PEM) for DHE ciphers: "
            '`DHParams "/etc/ssl/dh2048.pem"`.', default="OpenSSL's"),
    Keyword("NoHTTPS11", HTTPS, (Arg("mode", ArgKind.INT, low=0, high=2),), False,
            "Behave as an HTTP/1.0 server on this listener (one request per connection): "
            "0 never, 1 always, 2 only for user agents with `MSIE` in `User-Agent`: "
            "`NoHTTPS11 2`.", default=str(model.DEFAULT_NO_HTTPS11)),
    Keyword("ClientCert", HTTPS,
            (Arg("mode", ArgKind.INT, low=0, high=3),
             Arg("depth", ArgKind.INT, optional=True, low=1,
                 high=model.MAX_CLIENT_CERT_DEPTH)), False,
            "Client certificates: 0 never asked, 1 asked and verified when sent, 2 required "
            "and verified, 3 asked and not verified (Python's ssl cannot: it acts as 1 with "
            "a `VerifyList` or `CAlist`, else as 0; see docs/tls.md). `depth`: the longest "
            "chain of CAs (accepted; OpenSSL's own limit applies): `ClientCert 2 3`. 1 and "
            "2 need `VerifyList` or `CAlist`.", default="0"),
    Keyword("CAlist", HTTPS, (Arg("file", ArgKind.FILE),), False,
            "CA certificates (PEM) named to clients when their certificate is asked "
            '(and used to verify it when there is no `VerifyList`): `CAlist "/etc/ca.pem"`.'),
    Keyword("VerifyList", HTTPS, (Arg("file", ArgKind.FILE),), False,
            'CA certificates (PEM) that verify client certificates: `VerifyList "/etc/ca.pem"`.'),
    Keyword("CRLlist", HTTPS, (Arg("file", ArgKind.FILE),), False,
            "Certificate revocation lists (PEM), checked for client certificates: "
            '`CRLlist "/etc/crl.pem"`.'),
    # --- service -----------------------------------------------------------------------
    Keyword("URL", frozenset({Section.SERVICE}), (Arg("regex", ArgKind.REGEX),), True,
            "Match the request target (path and query), case-sensitive.", condition=True),
    Keyword("Path", frozenset({Section.SERVICE}), (Arg("regex", ArgKind.REGEX),), True,
            "Match the path of the request target (no query), case-sensitive.",
            condition=True),
    Keyword("Host", frozenset({Section.SERVICE}), (Arg("hostname", ArgKind.STRING),), True,
            "The `Host` header value must equal this name (case-insensitive, exact).",
            condition=True),
    Keyword("Header", frozenset({Section.SERVICE}), (Arg("regex", ArgKind.IREGEX),), True,
            'Some header line ("Name: value") must match, case-insensitive.',
            condition=True),
    Keyword("HeadRequire", frozenset({Section.SERVICE}), (Arg("regex", ArgKind.IREGEX),),
            True, "Old name of `Header`.", condition=True),
    Keyword("HeadDeny", frozenset({Section.SERVICE}), (Arg("regex", ArgKind.IREGEX),), True,
            "No header line may match (the same as `Not Header`).", condition=True),
    Keyword("Not", frozenset({Section.SERVICE}), (Arg("condition", ArgKind.CONDITION),),
            True, "Negate the condition that follows on the same line: `Not URL \"^/a\"`."),
    Keyword("Redirect", frozenset({Section.SERVICE}),
            (Arg("code", ArgKind.INT, optional=True, choices=REDIRECT_CODES),
             Arg("url", ArgKind.STRING)), True,
            "Answer with a redirect to this http:// or https:// URL instead of proxying "
            "(a URL without a path keeps the request's path).",
            default=str(model.DEFAULT_REDIRECT_CODE)),
    Keyword("Disabled", frozenset({Section.SERVICE}) | BACKENDS,
            (Arg("bool", ArgKind.BOOL),), False,
            "Start with this service or backend disabled.", default="0"),
    Keyword("BackEnd", frozenset({Section.SERVICE}), (), True,
            "A backend server, up to `End`.", opens=Section.BACKEND),
    Keyword("Emergency", frozenset({Section.SERVICE}), (), True,
            "A backend used only while no regular backend is alive, up to `End`.",
            opens=Section.EMERGENCY),
    # --- backend -----------------------------------------------------------------------
    Keyword("Priority", frozenset({Section.BACKEND}),
            (Arg("n", ArgKind.INT, low=model.MIN_PRIORITY, high=model.MAX_PRIORITY),), False,
            "Weight in the random choice among alive backends.",
            default=str(model.DEFAULT_PRIORITY)),
    # --- HTTPS backends (issue 14) --------------------------------------------------------
    Keyword("HTTPS", BACKENDS, (Arg("file", ArgKind.FILE, optional=True),), False,
            "The backend speaks HTTPS: `HTTPS`. Pound 2's `HTTPS \"client.pem\"` also "
            "presents that client certificate (Pound 4's `Cert`). As in Pound, the "
            "backend's certificate is not verified unless `CAlist` is given; the TLS "
            "handshake counts within `ConnTO`, and health probes and checks use TLS too. "
            "`Cert`, `ServerName`, `CAlist`, `Ciphers` and `Disable` come after it.",
            default="plain HTTP"),
    Keyword("Cert", BACKENDS, (Arg("file", ArgKind.FILE),), False,
            "After `HTTPS`: the client certificate presented to the backend, a PEM file "
            "with its private key (and chain), read at start-up before privileges are "
            "dropped: `Cert \"/etc/standby/client.pem\"`."),
    Keyword("ServerName", BACKENDS, (Arg("name", ArgKind.STRING),), False,
            "After `HTTPS`: the name sent in the TLS handshake (SNI) and, with "
            "`CAlist`, the name the backend's certificate must carry: "
            "`ServerName \"app.internal\"`. (Pound 4 also sends it as the `Host` "
            "header; standby does not yet: use it where Host already matches.)",
            default="no SNI; with CAlist the Address is verified"),
    Keyword("CAlist", BACKENDS, (Arg("file", ArgKind.FILE),), False,
            "After `HTTPS` (standby's, not Pound's): verify the backend's certificate "
            "against these CAs (PEM) and its name against `ServerName` (else the "
            "`Address`); a backend that fails is a failed connect: "
            "`CAlist \"/etc/standby/internal-ca.pem\"`.",
            default="no verification (Pound's behaviour)"),
    Keyword("Ciphers", BACKENDS, (Arg("ciphers", ArgKind.STRING),), False,
            "After `HTTPS`: the TLS 1.2 (and older) ciphers offered, in OpenSSL's syntax: "
            "`Ciphers \"ECDHE+AESGCM:!aNULL\"`. TLS 1.3 suites are OpenSSL's.",
            default="OpenSSL's"),
    Keyword("Disable", BACKENDS,
            (Arg("protocol", ArgKind.WORD, words=BACKEND_DISABLE_WORDS),), False,
            "After `HTTPS`: refuse this protocol and every older one (SSLv2, SSLv3, "
            "TLSv1, TLSv1_1, TLSv1_2): `Disable TLSv1_2` speaks TLS 1.3 only. It sets the "
            "oldest version allowed, so `Disable TLSv1` allows TLS 1.1 again for an old "
            "backend.", default="TLS 1.2 and 1.3 only (as `Disable TLSv1_1`)"),
    # --- issue 4: health, resending, stale fallback, control ------------------------------
    Keyword("RetryAfter", frozenset({Section.TOP, Section.SERVICE}), (POSITIVE_DURATION,),
            False, "The `Retry-After` of the 503 sent when no backend can answer (and by "
            "`ReadOnlyEmergency`), in whole seconds (rounded up): `RetryAfter 2m`. Global: "
            "the default for services.", default="the Alive interval"),
    Keyword("Control", frozenset({Section.TOP}), (Arg("socket", ArgKind.FILE, optional=True),),
            False,
            "Serve the control API (Pound's REST/JSON endpoints, standby's drain, health, "
            "reload and metrics) on this UNIX socket: `Control \"/run/standby.sock\"`. "
            "It is made at start, before privileges are dropped: it belongs to the user "
            "who started standby, mode 0600. Without an argument, a section up to `End` "
            "(Pound's form) with `Socket`, `Mode` and `ChangeOwner`. Like Pound, it counts "
            "as a listener where it appears, for `standbyctl` addresses.",
            opens=Section.CONTROL, inline=True),
    Keyword("ControlMode", frozenset({Section.TOP}), (Arg("mode", ArgKind.MODE),), False,
            "Permissions of the `Control` socket, in octal: `ControlMode 0660` (the "
            "section form says `Mode`).", default="0600"),
    Keyword("Socket", frozenset({Section.CONTROL}), (Arg("file", ArgKind.FILE),), False,
            "The control socket's file (required)."),
    Keyword("Mode", frozenset({Section.CONTROL}), (Arg("mode", ArgKind.MODE),), False,
            "Permissions of the control socket, in octal: `Mode 660`.", default="0600"),
    Keyword("ChangeOwner", frozenset({Section.CONTROL}), (Arg("bool", ArgKind.BOOL),), False,
            "Give the socket file to `User` and `Group` (each when set) instead of the "
            "user who started standby. Whoever may write to the socket controls the "
            "proxy: with `ChangeOwner` and a mode other than 0600 that includes the "
            "service user and that group.", default="0"),
    Keyword("HealthCheck", CHECK_PARENTS, (), False,
            "An active HTTP check, up to `End` (see *Health checks, resending and "
            "maintenance* below). In a Service it applies to all its backends; in a "
            "BackEnd or Emergency its keywords override the Service's one by one. "
            "Without it, dead backends get Pound's `Alive` probe.", opens=Section.HEALTH_CHECK),
    Keyword("FailoverStatus", frozenset({Section.SERVICE}),
            (Arg("status", ArgKind.STATUSES, many=True),), False,
            "Backend answers with these statuses count against the backend (passive "
            "checks) and make a resendable request go to the next backend: "
            "`FailoverStatus 500 502-504`.", default="502 503 504"),
    Keyword("Rise", frozenset({Section.SERVICE, Section.HEALTH_CHECK}), (THRESHOLD,), False,
            "Consecutive good checks before a backend that is down takes traffic again. "
            "Service: for backends without a HealthCheck; HealthCheck: for its backends.",
            default=str(model.DEFAULT_RISE)),
    Keyword("Fall", frozenset({Section.SERVICE, Section.HEALTH_CHECK}), (THRESHOLD,), False,
            "Consecutive failures (failed checks, response timeouts, resets before the "
            "response head, `FailoverStatus` answers) before a backend is taken out. A "
            "refused connection takes it out at once, as in Pound.",
            default=str(model.DEFAULT_FALL)),
    Keyword("PassiveChecks", frozenset({Section.SERVICE}), (Arg("bool", ArgKind.BOOL),),
            False, "Count failures seen by requests against their backend; `0` counts only "
            "refused connections (Pound's behaviour).", default="1"),
    Keyword("ResendMethods", frozenset({Section.SERVICE}),
            (Arg("method", ArgKind.METHODS, many=True),), False,
            "Methods of requests that may be sent to another backend when theirs failed "
            "before any response byte reached the client: `ResendMethods GET HEAD`.",
            default="GET HEAD OPTIONS"),
    Keyword("ResendBody", frozenset({Section.SERVICE}), (Arg("size", ArgKind.SIZE),), False,
            "Largest request body kept while it streams, so the request can be resent; "
            "`0` never resends a request with a body.", default="64k"),
    Keyword("ResendUnsafe", frozenset({Section.SERVICE}), (Arg("bool", ArgKind.BOOL),),
            False, "Also resend methods not in `ResendMethods` (e.g. POST) when their body "
            "was kept. Only for backends that cope with a request applied twice.",
            default="0"),
    Keyword("StaleFallback", frozenset({Section.SERVICE}), (), False,
            "Keep recent cacheable answers (RFC 9111) and serve them, with `Age`, when no "
            "backend can answer; up to `End` (see *Health checks, resending and "
            "maintenance* below).",
            opens=Section.STALE_FALLBACK, default="off"),
    Keyword("ReadOnlyEmergency", frozenset({Section.SERVICE}),
            (Arg("method", ArgKind.METHODS, optional=True, many=True),), False,
            "While the Emergency tier serves, other methods get 503 with `Retry-After` "
            "instead of writing to a mirror that the primary will not see: "
            "`ReadOnlyEmergency` (GET, HEAD, OPTIONS) or `ReadOnlyEmergency GET HEAD`.",
            default="off"),
    Keyword("Metrics", frozenset({Section.SERVICE}), (), False,
            "This service answers with OpenMetrics (Pound 4's metric families and "
            "standby's) instead of proxying; it takes no BackEnd, Emergency or Redirect."),
    # --- automatic HTTPS (issue 14): Pound 4's ACME, standby's own ACMEClient -----------
    Keyword("ACME", frozenset({Section.LISTEN_HTTP}), (Arg("directory", ArgKind.FILE),),
            False, "Answer ACME HTTP-01 challenges (`/.well-known/acme-challenge/NAME`) "
            "with the file NAME of this directory, which an outside ACME client such as "
            "certbot writes, before any Service of the listener: "
            '`ACME "/var/lib/standby/acme-challenge"`. GET and HEAD only; names with a '
            "slash or starting with a dot, and symbolic links, are not served (404)."),
    Keyword("ACMEClient", frozenset({Section.TOP}), (), False,
            "standby's own ACME client (RFC 8555, HTTP-01), up to `End`: it obtains and "
            "renews the certificates that HTTPS listeners ask for with `AutoCert`, and "
            "every ListenHTTP answers its challenges (see *Automatic HTTPS* in "
            "docs/tls.md).", opens=Section.ACME_CLIENT),
    Keyword("AutoCert", HTTPS, (Arg("name", ArgKind.DOMAINS, many=True),), True,
            "One certificate for these names, obtained and renewed by the `ACMEClient` "
            'and kept as `Store/NAME.pem` (NAME: the first): `AutoCert "www.example.com" '
            '"example.com"`. Served like a `Cert` given at this place (the first of them is '
            "the default); the listener starts before the file exists. Each name must "
            "reach a ListenHTTP of this server on port 80 (HTTP-01); no wildcards."),
    Keyword("Server", frozenset({Section.ACME_CLIENT}), (Arg("url", ArgKind.STRING),), False,
            "The ACME server's directory URL (https), required: "
            '`Server "https://acme-v02.api.letsencrypt.org/directory"`.'),
    Keyword("Email", frozenset({Section.ACME_CLIENT}), (Arg("address", ArgKind.STRING),),
            False, "Contact address for the ACME account (expiry notices).",
            default="no contact"),
    Keyword("Store", frozenset({Section.ACME_CLIENT}), (Arg("directory", ArgKind.FILE),),
            False, "Directory for the account key, the certificates (`NAME.pem`, mode "
            "0600) and the challenge files, required; made with mode 0700 if absent. "
            "It must be writable by `User`."),
    Keyword("CAlist", frozenset({Section.ACME_CLIENT}), (Arg("file", ArgKind.FILE),), False,
            "PEM file of the certificate authorities trusted for the ACME server's own "
            "HTTPS (a test server such as pebble).", default="the system's"),
    # --- HealthCheck -------------------------------------------------------------------
    Keyword("Method", frozenset({Section.HEALTH_CHECK}), (Arg("method", ArgKind.METHODS),),
            False, "The method of the check request: `Method GET` (needed for `Body`).",
            default=model.DEFAULT_CHECK_METHOD.decode()),
    Keyword("Path", frozenset({Section.HEALTH_CHECK}), (Arg("path", ArgKind.REQUEST_PATH),),
            False, 'The request target of the check: `Path "/health?full=1"`.',
            default=model.DEFAULT_CHECK_PATH.decode()),
    Keyword("Host", frozenset({Section.HEALTH_CHECK}), (Arg("host", ArgKind.HOST_HEADER),),
            False, 'The `Host` header of the check: `Host "www.example.com"`.',
            default="the backend address"),
    Keyword("Status", frozenset({Section.HEALTH_CHECK}),
            (Arg("status", ArgKind.STATUSES, many=True),), False,
            "Statuses that pass: `Status 200`, `Status 200-299 301-302`, "
            "`Status 200,204`.", default="200-399"),
    Keyword("Body", frozenset({Section.HEALTH_CHECK}), (Arg("regex", ArgKind.REGEX),), False,
            "The body must match (searched in its first "
            f"{model.MAX_CHECK_BODY // 1024} KiB): `Body \"ok|healthy\"`. Needs a "
            "method with a response body, such as GET."),
    Keyword("Interval", frozenset({Section.HEALTH_CHECK}), (POSITIVE_DURATION,), False,
            "How often each backend is checked, whether up or down.",
            default=_seconds(model.DEFAULT_CHECK_INTERVAL)),
    Keyword("TimeOut", frozenset({Section.HEALTH_CHECK}), (POSITIVE_DURATION,), False,
            "How long one check may take, connection included; longer is a failure.",
            default=_seconds(model.DEFAULT_CHECK_TIMEOUT)),
    # --- StaleFallback -----------------------------------------------------------------
    Keyword("Size", frozenset({Section.STALE_FALLBACK}), (Arg("size", ArgKind.SIZE),), False,
            "Total bytes of responses kept; the least recently stored go first.",
            default="64m"),
    Keyword("MaxObject", frozenset({Section.STALE_FALLBACK}), (Arg("size", ArgKind.SIZE),),
            False, "Largest response kept (head and body).", default="1m"),
    Keyword("Directory", frozenset({Section.STALE_FALLBACK}), (Arg("directory", ArgKind.FILE),),
            False, "Also keep the copies in this directory, so they survive a restart "
            "(relative to the configuration file's directory).", default="memory only"),
    Keyword("Cookies", frozenset({Section.STALE_FALLBACK}),
            (Arg("mode", ArgKind.WORD, words=("key", "skip")),), False,
            "Requests with a `Cookie` header: `key` keeps a copy per cookie value, `skip` "
            "keeps none.", default="skip"),
    Keyword("MaxAge", frozenset({Section.STALE_FALLBACK}), (POSITIVE_DURATION,), False,
            "The oldest copy that is still served.", default="1d"),
    # --- issue 15: sessions ---------------------------------------------------------------
    Keyword("Session", frozenset({Section.SERVICE}), (), False,
            "Send the requests of one session to the same backend, up to `End`: "
            "`Session` / `Type COOKIE` / `ID \"sid\"` / `TTL 300` / `End`. A request "
            "whose key has no session makes one on the backend it is balanced to; "
            "every use restarts the TTL. Sessions are shared by every worker, survive a "
            "reload (by backend address) and are listed, added and deleted through the "
            "control interface. A dead backend loses its sessions; a disabled or "
            "draining one keeps them (as in Pound 4.23); the Emergency tier makes none.",
            opens=Section.SESSION, default="off"),
    Keyword("Type", frozenset({Section.SESSION}),
            (Arg("type", ArgKind.WORD,
                 words=tuple(t.value.lower() for t in model.SessionType)),), False,
            "What identifies a session (any case): `IP` the client address, `BASIC` the "
            "credentials of `Authorization: Basic`, `URL` the query parameter `ID`, "
            "`PARM` what follows the last `;` of the path, `COOKIE` the cookie `ID` "
            "(also made from a backend's `Set-Cookie`), `HEADER` the header `ID` (also "
            "made from the response's): `Type COOKIE`. Required."),
    Keyword("TTL", frozenset({Section.SESSION}),
            (Arg("seconds", ArgKind.INT, low=1, high=model.MAX_SESSION_TTL),), False,
            "Seconds a session may stay unused before it is forgotten: `TTL 300`. "
            "Required."),
    Keyword("ID", frozenset({Section.SESSION}), (Arg("name", ArgKind.STRING),), False,
            "The cookie (`COOKIE`, name in any case), query parameter (`URL`) or header "
            "(`HEADER`) name: `ID \"sid\"`. Required for those types; Pound ignores it "
            "for the others, and so does standby."),
)  # fmt: skip

# Real Pound (2.x and 4.x) keywords standby does not implement yet, anywhere.
UNSUPPORTED: tuple[str, ...] = (
    "ACL", "AddHeader", "Balancer", "BasicAuth", "CombineHeaders", "DeleteHeader",
    "DynScale", "Else", "Error", "Family", "ForwardedHeader", "HAport", "HeadRemove",
    "HeaderAdd", "HeaderOption", "HeaderRemove", "IgnoreCase", "IncludeDir",
    "LogFormat", "LogSuppress", "Match", "Query", "QueryParam", "RegexType", "Resolve",
    "Resolver", "Rewrite", "RewriteDestination", "RewriteErrors",
    "SetHeader", "SetPath", "SetQuery", "SetQueryParam", "SetURL", "SocketFrom", "SSLEngine",
    "StringMatch", "Supervisor", "Threads", "TrustedIP", "UseBackend",
    "WorkerIdleTimeout", "WorkerMaxCount", "WorkerMinCount",
)  # fmt: skip

# Supported keywords whose use in one more section is a Pound feature not implemented yet.
UNSUPPORTED_IN: dict[Section, tuple[str, ...]] = {
    Section.TOP: ("BackEnd",),  # named global backends (Pound 4)
    Section.LISTEN_HTTP: ("LogLevel",),  # per-listener log format (Pound 4)
    Section.LISTEN_HTTPS: ("LogLevel",),
}

# One spelling may name different keywords in different sections (`Path` is a condition in
# a Service and the request path in a HealthCheck); never two in the same section.
_BY_NAME: dict[str, tuple[Keyword, ...]] = {}
for _keyword in KEYWORDS:
    for _spelling in (_keyword.name, *_keyword.aliases):
        _BY_NAME[_spelling.lower()] = (*_BY_NAME.get(_spelling.lower(), ()), _keyword)
_UNSUPPORTED_BY_NAME = {name.lower(): name for name in UNSUPPORTED}


def lookup(word: str, section: Section | None = None) -> Keyword | None:
    """The keyword spelled ``word`` (any case) that is allowed in ``section``; when none
    is (or no section is given), the first keyword of that spelling; None if unknown."""
    found = _BY_NAME.get(word.lower(), ())
    if section is not None:
        for keyword in found:
            if section in keyword.sections:
                return keyword
    return found[0] if found else None


def unsupported_name(word: str, section: Section) -> str | None:
    """Pound's spelling of ``word`` if it is a Pound feature standby lacks in ``section``."""
    name = _UNSUPPORTED_BY_NAME.get(word.lower())
    if name is not None:
        return name
    keyword = lookup(word, section)
    if keyword is not None and keyword.name in UNSUPPORTED_IN.get(section, ()):
        return keyword.name
    return None
