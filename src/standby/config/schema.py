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
from standby.config.ignored import IGNORED


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
    REWRITE = "Rewrite"  # issue 15: a Rewrite block (and its Else branches)
    COMBINE = "CombineHeaders"  # issue 15: one quoted header name per line
    # issue 15: conditions
    MATCH = "Match"  # Match AND|OR ... End: conditions joined
    ACL = "ACL"  # ACL ... End: one CIDR per line
    TRUSTED_IP = "TrustedIP"  # TrustedIP ... End: one CIDR per line
    CONDITION = "Condition"  # Condition "name" ... End: a detached condition for Eval
    # issue 15: dynamic backends
    RESOLVER = "Resolver"
    CONFIG_TEXT = "ConfigText"
    SESSION = "Session"  # issue 15: sessions
    # issue 15: Pound 4's Tunnel, and its one Backend
    TUNNEL = "Tunnel"
    TUNNEL_BACKEND = "Tunnel Backend"


ALL_SECTIONS = frozenset(Section)
BACKENDS = frozenset({Section.BACKEND, Section.EMERGENCY})
# Every ListenHTTP keyword is a ListenHTTPS keyword too (Pound's rule).
LISTENERS = frozenset({Section.LISTEN_HTTP, Section.LISTEN_HTTPS})
HTTPS = frozenset({Section.LISTEN_HTTPS})
TUNNELS = frozenset({Section.TUNNEL, Section.TUNNEL_BACKEND})


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
    # The rest of the line as written (a condition's -flags and pattern): config/conditions.py
    # reads it, with each token's location.
    TOKENS = "as written"


# Argument kinds whose values are tuples, so that a ``many`` argument can collect them.
TUPLE_KINDS = frozenset(
    {ArgKind.STATUSES, ArgKind.METHODS, ArgKind.CIPHERS, ArgKind.DOMAINS, ArgKind.TOKENS}
)


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
    # A quoted string only, as Pound has it (a bare `User 10` is a mistake Pound refuses);
    # every FILE argument is. Other strings may also be written bare (a flag, a name).
    quoted: bool = False


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
# Where service conditions are allowed (i15-edit adds its Rewrite section).
CONDITION_SECTIONS = frozenset({Section.SERVICE, Section.MATCH, Section.CONDITION, Section.REWRITE})
# The sections whose lines are quoted CIDRs (a line is read as `"CIDR" "..."`).
CIDR_SECTIONS = frozenset({Section.ACL, Section.TRUSTED_IP})
CIDR_KEYWORD = '"CIDR"'
# Pound's match flags, for the help texts.
_FLAGS_HELP = (
    " Options: `-exact`, `-beg`, `-end`, `-contain` (string comparisons), `-re` (a regular "
    "expression of the `RegexType` in effect), `-posix`, `-pcre` (`-perl`), `-icase`, `-case`, "
    '`-file "f"` (the patterns are the lines of file f: any may match; `-filewatch` is read '
    'the same way, at start and at each reload), `-tag "t"` (names the match for `$1(t)`). '
    "`-pcre` patterns run on RE2 (Perl syntax), or on Python's `re` within a bounded "
    "subject length when they need look-around or back-references."
)
ERROR_CODES = (400, 401, 403, 404, 405, 413, 414, 500, 501, 503)
# Issue 15: every status standby sends a page with (ErrorFile, and `Error` backends).
ERROR_STATUSES = (400, 401, 403, 404, 405, 408, 413, 414, 429, 431, 500, 501, 502, 503, 504, 505)
BALANCER_WORDS = tuple(b.value for b in model.Balancer)
REDIRECT_CODES = (301, 302, 303, 307, 308)
MAX_XHTTP = len(model.XHTTP_METHODS) - 1
MAX_REWRITE_LOCATION = 2
# Issue 15: where request/response edits may be written, and their match flags (up to
# four before a pattern: a kind, a case flag, and room for Pound's redundant ones).
EDITORS = LISTENERS | frozenset({Section.SERVICE})
REWRITES = frozenset({Section.REWRITE})
MAX_EDIT_OPTIONS = 4
_EDIT_OPTIONS = (Arg("option", ArgKind.STRING, optional=True),) * MAX_EDIT_OPTIONS
# A CombineHeaders line (a quoted name) is read as this directive.
COMBINE_KEYWORD = '"Name"'
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
TOP = frozenset({Section.TOP})
# Pound reads the counts of its ignored keywords into C ints: larger values are its errors.
IGNORED_INT_MAX = (1 << 31) - 1


def _ignored(name: str, sections: frozenset[Section], arg: Arg) -> Keyword:
    """A Pound keyword for machinery standby does not have: accepted with a warning."""
    what, instead = IGNORED[name]
    return Keyword(
        name,
        sections,
        (arg,),
        False,
        f"Pound: {what}. Accepted and ignored with a warning: {instead}. "
        f"Example: `{name} {_IGNORED_EXAMPLES[arg.kind]}`.",
    )


_IGNORED_EXAMPLES = {
    ArgKind.INT: "8",
    ArgKind.DURATION: "30",
    ArgKind.SIZE: "8192",
    ArgKind.BOOL: "1",
    ArgKind.STRING: '"name"',
}

KEYWORDS: tuple[Keyword, ...] = (
    # --- global settings ---------------------------------------------------------------
    Keyword("User", frozenset({Section.TOP}),
            (Arg("name", ArgKind.STRING, quoted=True),), False,
            "Run as this user once the listening sockets are bound."),
    Keyword("Group", frozenset({Section.TOP}),
            (Arg("name", ArgKind.STRING, quoted=True),), False,
            "Run with this group once the listening sockets are bound."),
    Keyword("RootJail", frozenset({Section.TOP}),
            (Arg("directory", ArgKind.STRING, quoted=True),), False,
            "chroot(2) to this directory after start-up; error pages are read before."),
    Keyword("Daemon", frozenset({Section.TOP}), (Arg("bool", ArgKind.BOOL),), False,
            "Detach from the terminal and run in the background.", default="1"),
    Keyword("LogLevel", frozenset({Section.TOP}) | LISTENERS,
            (Arg("level", ArgKind.STRING),), False,
            "Access log format: 0 none, 1 regular, 2 extended, 3 vhost_combined, "
            "4 combined, 5 detailed (a number or one of these names), or the name of a "
            "`LogFormat` defined before it. In a listener: that listener's format (Pound 4), "
            "else the global one. The lines are Pound 4's, field by field: "
            "`LogLevel 2`, `LogLevel \"combined\"`, `LogLevel \"myformat\"`.",
            default=str(model.DEFAULT_LOG_LEVEL)),
    Keyword("LogFacility", frozenset({Section.TOP}), (Arg("facility", ArgKind.FACILITY),),
            False, "syslog facility (auth, authpriv, cron, daemon, ftp, kern, lpr, mail, "
            "news, syslog, user, uucp, local0..local7), or `-` for standard error.",
            default="daemon"),
    Keyword("LogFile", frozenset({Section.TOP}), (Arg("file", ArgKind.STRING),), False,
            "standby: write diagnostics and access lines to this file instead of syslog "
            "or standard error (`--log-file` overrides it, `-e` ignores it). Every worker "
            "appends whole lines; SIGUSR1 reopens it, for logrotate's `postrotate` (see "
            "contrib/logrotate/standby; never `copytruncate`). Opened at start-up, before "
            "`RootJail` and `User`; a reload does not move it: "
            "`LogFile \"/var/log/standby/standby.log\"`."),
    Keyword("Alive", frozenset({Section.TOP}), (POSITIVE_DURATION,), False,
            "How often dead backends are probed for resurrection.",
            default=_seconds(model.DEFAULT_ALIVE)),
    Keyword("Client", frozenset({Section.TOP}) | LISTENERS, (POSITIVE_DURATION,),
            False, "How long to wait for a client to send a request (idle connection, and "
            "the deadline for a whole request head). Global: the default for listeners.",
            default=_seconds(model.DEFAULT_CLIENT_TIMEOUT)),
    Keyword("TimeOut", frozenset({Section.TOP, Section.TUNNEL_BACKEND}) | BACKENDS,
            (POSITIVE_DURATION,), False,
            _TIMEOUT_HELP.format(what="How long to wait for a backend's response."),
            default=_seconds(model.DEFAULT_BACKEND_TIMEOUT)),
    Keyword("ConnTO", frozenset({Section.TOP, Section.TUNNEL_BACKEND}) | BACKENDS,
            (POSITIVE_DURATION,), False,
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
            "names are taken from the include directory (`IncludeDir`, `-W include-dir`), "
            "else from the including file's directory; a glob includes every match in "
            "sorted order (no match includes nothing)."),
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
    Keyword("Address", LISTENERS | BACKENDS | TUNNELS,
            (Arg("address", ArgKind.ADDRESS),), False,
            "Listener: the IP address or host name to listen on; without `Address` (and "
            f"`SocketFrom`), `{model.DEFAULT_LISTEN_ADDRESS}`, every interface (IPv6 and "
            "IPv4), as in Pound. Backend: an IPv4 or IPv6 address, a host name, or the "
            "path of a UNIX socket (starting with `/`)."),
    Keyword("Port", LISTENERS | BACKENDS | TUNNELS, (PORT,), False,
            "TCP port (1..65535). Not given: as in Pound, "
            f"{model.HTTP_PORT} (a `ListenHTTP`, a plain backend) or {model.HTTPS_PORT} "
            "(a `ListenHTTPS`, an `HTTPS` backend); a UNIX socket takes none."),
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
            False, "Request targets that do not match get 501 (Not Implemented), as in "
            "Pound 4."),
    Keyword("ErrorFile", LISTENERS,
            (Arg("status", ArgKind.INT, choices=ERROR_STATUSES), Arg("file", ArgKind.FILE)),
            True, "The page sent with this status (one of "
            + ", ".join(str(code) for code in ERROR_STATUSES)
            + "), read once at start-up: `ErrorFile 503 \"/etc/standby/maintenance.html\"`. "
            "Pound 4's file format: unless the file starts with `<` or a newline, its lines "
            "up to the first empty line are headers sent with the page when every one of "
            "them is a `Name: value` header (standby sends the whole file as the page "
            "otherwise). Pound 4.23 accepts the statuses it sends (400, 401, 403, 404, 405, "
            "413, 414, 429, 500, 501, 503); standby also those it sends itself (408, 431, "
            "502, 504, 505). A 503 page is also the page of 502 and 504 unless they have "
            "their own: a site's maintenance page shows when a backend is down, times out "
            "or answers garbage, as in Pound. A page from a file goes out with Pound's "
            "`Expires: now`, `Pragma: no-cache` and `Cache-Control: no-cache,no-store` "
            "unless the file gives them."),
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
    Keyword("URL", CONDITION_SECTIONS, (Arg("[options] regex", ArgKind.TOKENS, many=True),),
            True, 'Match the request target (path and query), case-sensitive POSIX regex by '
            'default: `URL "^/static/"`, `URL -beg "/static/"`.' + _FLAGS_HELP, condition=True),
    Keyword("Path", CONDITION_SECTIONS, (Arg("[options] regex", ArgKind.TOKENS, many=True),),
            True, "Match the path of the request target (no query), a POSIX regex by default "
            '(case-sensitive unless `IgnoreCase 1`): `Path -exact "/"`.' + _FLAGS_HELP,
            condition=True),
    Keyword("Host", CONDITION_SECTIONS, (Arg("[options] hostname", ArgKind.TOKENS, many=True),),
            True, "The `Host` header value, exact and case-insensitive by default (a `:port` is "
            'part of the value): `Host "www.example.com"`, `Host -end ".example.com"`.'
            + _FLAGS_HELP, condition=True),
    Keyword("Header", CONDITION_SECTIONS, (Arg("[options] regex", ArgKind.TOKENS, many=True),),
            True, 'Some header line ("Name: value") must match, a case-insensitive POSIX regex '
            'by default: `Header "^X-Debug:"`.' + _FLAGS_HELP, condition=True),
    Keyword("HeadRequire", CONDITION_SECTIONS,
            (Arg("[options] regex", ArgKind.TOKENS, many=True),), True,
            'Old name of `Header` (Pound 2): `HeadRequire "^Host: www"`.', condition=True),
    Keyword("HeadDeny", CONDITION_SECTIONS,
            (Arg("[options] regex", ArgKind.TOKENS, many=True),), True,
            'No header line may match (the same as `Not Header`, Pound 2): '
            '`HeadDeny "^User-Agent: .*bot"`.', condition=True),
    Keyword("Not", CONDITION_SECTIONS, (Arg("condition", ArgKind.CONDITION),),
            True, "Negate the condition that follows on the same line: `Not URL \"^/a\"`; "
            "before `Match` or `ACL`, the whole block."),
    Keyword("Redirect", frozenset({Section.SERVICE}),
            (Arg("code", ArgKind.INT, optional=True, choices=REDIRECT_CODES),
             Arg("url", ArgKind.STRING)), True,
            "Answer with a redirect to this http:// or https:// URL instead of proxying "
            "(a URL without a path keeps the request's path and query). As in Pound 4, `$1`..`$9` "
            "(`$N(M)`, `$N(tag)`) expand to the groups of the service's matched conditions "
            "(`$1`: the last one's) and `%[host]`, `%[url]`, `%[path]`, `%[query]`... to the "
            "request's parts; the path is then not appended: `URL \"^/old/(.*)\"` with "
            '`Redirect 301 "https://%[host]/new/$1"`. Codes 301, 302, 303, 307, 308.',
            default=str(model.DEFAULT_REDIRECT_CODE)),
    Keyword("Disabled", frozenset({Section.SERVICE, Section.TUNNEL_BACKEND}) | BACKENDS,
            (Arg("bool", ArgKind.BOOL),), False,
            "Start with this service or backend disabled.", default="0"),
    Keyword("BackEnd", frozenset({Section.SERVICE}), (Arg("name", ArgKind.STRING, True),),
            True, "A backend server, up to `End`. With a name (Pound 4), the global "
            "backend of that name, whose `Priority` and `Disabled` it may change here: "
            '`Backend "app1"` ... `End`.', opens=Section.BACKEND),
    Keyword("Emergency", frozenset({Section.SERVICE}), (), True,
            "A backend used only while no regular backend is alive, up to `End`. As in "
            "Pound, its `TimeOut`, `ConnTO` and `WSTimeOut` are "
            f"{model.DEFAULT_EMERGENCY_TIMEOUT:g} s unless it sets its own, whatever the "
            "global ones: the last resort is given time to answer.",
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
    # --- issue 15: backend kinds, named backends, balancer --------------------------------
    Keyword("Error", frozenset({Section.SERVICE}),
            (Arg("status", ArgKind.INT, choices=ERROR_STATUSES),
             Arg("file", ArgKind.FILE, optional=True)), True,
            "A backend that answers every request with this status and the page of this "
            "file (Pound 4's format, see `ErrorFile`), else the listener's `ErrorFile` "
            "page for it, else the built-in one: `Error 404 \"/etc/standby/404.html\"` in "
            "a last, catch-all Service. As in Pound 4, `Error`, `Success`, `SendFile` and "
            "`Control` are a Service's only backend (an `Emergency` aside): with another "
            "one beside, the file is refused."),
    Keyword("Success", frozenset({Section.SERVICE}), (), True,
            "A backend that answers every request with 200 and an empty body (for answers "
            "made of headers, e.g. to OPTIONS): `Success`."),
    Keyword("SendFile", frozenset({Section.SERVICE}), (Arg("directory", ArgKind.FILE),), True,
            "A backend that serves the file the request path names in this directory "
            '(the whole path: `/a/b.txt` is `DIR/a/b.txt`): `SendFile "/var/www/static"`. '
            "GET and HEAD (others get 405); `Content-Type: text/plain` as in Pound; a "
            "missing file, a directory, `..`, and a symbolic link that leads out of the "
            "directory get 404. Read off the event loop."),
    Keyword("Control", frozenset({Section.SERVICE}), (), False,
            "A backend that serves the control API (the same requests and answers as the "
            "`Control` socket) over this service's listener: `Control`. With several "
            "workers the supervisor decides each request, so a switch reaches every worker "
            "and the counters are the whole service's. Whoever reaches it can disable "
            "backends and reload the configuration: on a listener that is not "
            "loopback-only (127.0.0.0/8, ::1) give the Service an `ACL` or `BasicAuth` "
            "condition: without one the file still loads, as in Pound, with a warning."),
    Keyword("Status", frozenset({Section.SERVICE}), (), False,
            "standby's extension beside `Metrics` and `Control`: a backend that serves the "
            "read-only status page (every listener, service and backend: up, down, "
            "draining or disabled, since when and why, requests, errors, failovers, "
            "latency), as the control socket's `GET /status`: `Status` in a Service with "
            "`URL \"^/status\"`. A request path ending in `.json` gets the page's "
            "data, `.js` its script, `.css` its style, any other the page (which "
            "refers to `status.json`, `status.js` and `status.css` beside it, so the "
            "URL pattern must match those too). GET and HEAD only. No secrets are "
            "shown, but the page tells what runs: on a listener that is not "
            "loopback-only the Service must have an `ACL` or `BasicAuth` condition, or "
            "the file is refused. See docs/operations.md, \"Status page\"."),
    Keyword("UseBackend", frozenset({Section.SERVICE}), (Arg("name", ArgKind.STRING),), True,
            "Use the global backend of this name (a top-level `Backend \"name\"` section, "
            "written before or after): `UseBackend \"app1\"`. Every service that uses it "
            "shares one backend: one health state, one connection pool, one set of "
            "counters."),
    Keyword("BackEnd", frozenset({Section.TOP}), (Arg("name", ArgKind.STRING, True),), True,
            "A global backend, up to `End`, used by services through `UseBackend` "
            '(Pound 4): `Backend "app1"` with `Address`, `Port`, ... as in a Service. '
            "The name is required and unique.", opens=Section.BACKEND),
    Keyword("Balancer", frozenset({Section.TOP, Section.SERVICE}),
            (Arg("algorithm", ArgKind.WORD, words=BALANCER_WORDS),), False,
            "How requests are spread over live backends: `random` (weighted by "
            "`Priority`), or `iwrr`, interleaved weighted round robin (Pound 4): backends "
            "are taken in turn, in rounds 0 to the highest priority - 1, each backend "
            "taking part in the rounds below its priority, so priorities 1 and 3 give "
            "A B B B A B B B: `Balancer iwrr`. Global: the default for services. With "
            "several workers each runs its own cycle: every backend still gets its share, "
            "the interleaving is per worker.",
            default="random"),
    # --- issue 15: request and response modification ----------------------------------
    Keyword("SetHeader", EDITORS | REWRITES, (Arg("header", ArgKind.STRING),), True,
            "Set a header of the request forwarded (in `Rewrite response`, of the response "
            "sent): the first line of that name is replaced, else the line is added after "
            "the others: `SetHeader \"X-Resent-By: standby\"`. `$1`...`$9` in it are the "
            "groups of the last condition's regex that matched. Framing and hop-by-hop "
            "headers (`Content-Length`, `Transfer-Encoding`, `Connection`, `Upgrade`, "
            "`Keep-Alive`, `TE`, `Trailer`) cannot be set. Applied after the "
            "`X-Forwarded-*` lines are added, listener edits before the service's (Pound "
            "4's order)."),
    Keyword("AddHeader", EDITORS, (Arg("header", ArgKind.STRING),), True,
            "Pound's older spelling of `SetHeader` (Pound 4's meaning: a header of that "
            "name is replaced; Pound 2 added a second line): `AddHeader \"X-Forwarded-By: "
            "standby\"`.", aliases=("HeaderAdd",)),
    Keyword("DeleteHeader", EDITORS | REWRITES,
            (*_EDIT_OPTIONS, Arg("pattern", ArgKind.STRING)), True,
            "Remove every header line (`Name: value`) that matches: `DeleteHeader -icase "
            "\"^X-Debug:\"`. A POSIX ERE (case-sensitive unless `-icase`), or with "
            "`-exact`, `-beg`, `-end`, `-contain` a fixed string, with `-pcre` (`-perl`) a "
            "Perl-style regex; `-re`, `-posix`, `-case` are accepted (the last of the kind "
            "flags wins; `RegexType` does not change it). Lines that frame the message "
            "(`Content-Length`, `Transfer-Encoding`, `Connection`, `Upgrade`), and `Host`, "
            "are never removed."),
    Keyword("HeadRemove", EDITORS, (*_EDIT_OPTIONS, Arg("pattern", ArgKind.STRING)), True,
            "Pound's older spelling of `DeleteHeader -icase`: `HeadRemove \"^X-Forwarded-"
            "Host:\"`.", aliases=("HeaderRemove",)),
    Keyword("SetURL", EDITORS | REWRITES, (Arg("url", ArgKind.STRING),), True,
            "Replace the request target (path and query): `SetURL \"/index.html\"`; "
            "`$1`...`$9` are expanded. It must start with `/`."),
    Keyword("SetPath", EDITORS | REWRITES,
            (Arg("option", ArgKind.STRING, optional=True), Arg("path", ArgKind.STRING)), True,
            "Replace the path of the request target, keeping its query: "
            "`SetPath \"/images/$1\"`; `-encode` percent-encodes the value first."),
    Keyword("SetQuery", EDITORS | REWRITES, (Arg("query", ArgKind.STRING),), True,
            "Replace the query of the request target (already percent-encoded; empty: "
            "none): `SetQuery \"lang=en\"`."),
    Keyword("DeleteQuery", EDITORS | REWRITES, (), True,
            "Remove the query of the request target: `DeleteQuery`."),
    Keyword("SetQueryParam", EDITORS | REWRITES,
            (Arg("name", ArgKind.STRING), Arg("option", ArgKind.STRING, optional=True),
             Arg("value", ArgKind.STRING, optional=True)), True,
            "Set a query parameter (replacing its first occurrence, else appended), or "
            "with no value remove it: `SetQueryParam \"lang\" \"en\"`, "
            "`SetQueryParam \"debug\"`. `-encode` (before or after the name) "
            "percent-encodes the value."),
    Keyword("Rewrite", EDITORS | REWRITES,
            (Arg("what", ArgKind.WORD, optional=True, words=("request", "response")),), True,
            "Conditional edits, up to `End`: conditions (`URL`, `Path`, `Host`, `Header`, "
            "`HeadRequire`, `HeadDeny`, `Not`), then edits; `Else` starts another branch, "
            "tried when the conditions before it do not all hold; blocks nest. "
            "`Rewrite response` edits the response with `SetHeader` and `DeleteHeader`, "
            "its conditions (`Header`, `Not Header`) testing the response's headers: "
            "`Rewrite` / `Path \"\\\\.php$\"` / `SetHeader \"X-PHP: 1\"` / `End`.",
            opens=Section.REWRITE, default="request"),
    Keyword("Else", REWRITES, (), True,
            "In a `Rewrite` block: the edits before it apply when their conditions hold; "
            "else the branch after it is tried: `Else`."),
    Keyword("CombineHeaders", frozenset({Section.TOP}), (), False,
            "Header names, one quoted per line up to `End`, whose repeated lines are joined "
            "into one, values separated by \", \" at the first line's place, in requests "
            "and in responses, before any edit: `CombineHeaders` / `\"Accept\"` / "
            "`\"Cache-Control\"` / `End` (`Include \"mvh.inc\"` works inside). "
            "`Set-Cookie` is never joined (RFC 9110 5.3).", opens=Section.COMBINE),
    Keyword(COMBINE_KEYWORD, frozenset({Section.COMBINE}), (Arg("name", ArgKind.STRING),),
            True, 'One header name of `CombineHeaders`, quoted: `"Accept-Encoding"`.'),
    Keyword("HeaderOption", frozenset({Section.TOP}) | LISTENERS,
            (Arg("option", ArgKind.STRING), *(Arg("option", ArgKind.STRING, optional=True),)
             * 3), False,
            "Which lines standby adds to forwarded requests: `forwarded` "
            "(`X-Forwarded-For`, `-Proto`, `-Port`), `ssl` (`X-SSL-*` on HTTPS listeners), "
            "`all`, `none`, `no-forwarded`, `no-ssl`, applied left to right: "
            "`HeaderOption no-forwarded`. Without `forwarded` the client's own "
            "`X-Forwarded-*` lines go through as sent. Global: the default for listeners.",
            default="forwarded ssl"),
    Keyword("RewriteDestination", LISTENERS, (Arg("bool", ArgKind.BOOL),), False,
            "Point a WebDAV `Destination:` header (`http[s]://host/path`) at the backend "
            "the request goes to, with the backend's protocol: `RewriteDestination 1`.",
            default="0"),
    Keyword("RewriteErrors", LISTENERS | frozenset({Section.SERVICE}),
            (Arg("bool", ArgKind.BOOL),), False,
            "A backend's answer with a status that has an `ErrorFile` page is replaced by "
            "that page, sent as standby's own answer with that status (the backend's body "
            "and headers are dropped, its connection closed): `RewriteErrors 1`. A "
            "Service's setting overrides its listener's.",
            default="0"),
    # --- issue 15: conditions -----------------------------------------------------------
    Keyword("Query", CONDITION_SECTIONS, (Arg("[options] regex", ArgKind.TOKENS, many=True),),
            True, 'Match the query part of the target (after "?"), a POSIX regex by default: '
            '`Query "(^|&)debug=1"`.' + _FLAGS_HELP, condition=True),
    Keyword("QueryParam", CONDITION_SECTIONS,
            (Arg("name", ArgKind.STRING),
             Arg("[options] regex", ArgKind.TOKENS, many=True)), True,
            "Match the value of the first query parameter `name` (a request without it does "
            'not match); `-decode` percent-decodes the value first: `QueryParam "type" '
            '"^(int|bool)$"`.' + _FLAGS_HELP, condition=True),
    Keyword("Method", CONDITION_SECTIONS,
            (Arg("[options] regex", ArgKind.TOKENS, many=True),), True,
            'Match the request method, a case-sensitive POSIX regex by default: `Method -exact '
            '"DELETE"`.' + _FLAGS_HELP, condition=True),
    Keyword("StringMatch", CONDITION_SECTIONS,
            (Arg("string", ArgKind.STRING),
             Arg("[options] regex", ArgKind.TOKENS, many=True)), True,
            "Expand `string` (back-references `$1`, `$1(2)`, and request accessors `%[url]`, "
            "`%[path]`, `%[query]`, `%[param NAME]`, `%[header NAME]`, `%[host]`, `%[port]`, "
            "`%[remoteip]`, `%[user]`) and match the result: `StringMatch \"%[header "
            'X-Tenant]" -exact "blue"`.' + _FLAGS_HELP, condition=True),
    Keyword("BasicAuth", CONDITION_SECTIONS,
            (Arg("[-file] htpasswd", ArgKind.TOKENS, many=True),), True,
            "The request's `Authorization: Basic` credentials are in this htpasswd file "
            "(bcrypt `$2y$`, `$apr1$`, `{SHA}`, crypt(3) and plain-text entries); the file is "
            "checked for changes every few seconds and re-read (a malformed new version is "
            "logged and the previous one kept); `-file` reads it once. Usually negated, with "
            'an Error 401 service: `Not BasicAuth "/etc/standby/htpasswd"`.', condition=True),
    Keyword("ACL", CONDITION_SECTIONS,
            (Arg('[-forwarded] "name" or -file "f"', ArgKind.TOKENS, optional=True,
                 many=True),), True,
            'The client address is in the named ACL (`ACL "trusted"`), in the CIDRs of a file '
            '(`ACL -file "nets.txt"`), or in the CIDRs listed up to `End` (`ACL` alone); '
            "`-forwarded` takes the address from the forwarded header (see `TrustedIP`).",
            opens=Section.ACL, inline=True, condition=True),
    Keyword("ACL", frozenset({Section.TOP}),
            (Arg("name", ArgKind.STRING),
             Arg('-file "f"', ArgKind.TOKENS, optional=True, many=True)), True,
            'A named access control list for `ACL "name"` in services: its CIDRs, one quoted '
            'per line, up to `End` (`ACL "office"` / `"192.0.2.0/24"` / `End`), or read from a '
            'file (`ACL "office" -file "office.txt"`, one CIDR per line).',
            opens=Section.ACL, inline=True),
    Keyword(CIDR_KEYWORD, CIDR_SECTIONS, (Arg("cidr", ArgKind.STRING),), True,
            'One network of an ACL or TrustedIP list, quoted: `"10.0.0.0/8"`, `"::1"` (IPv4 '
            "mask 0..32, IPv6 0..128; host bits are ignored)."),
    Keyword("Match", CONDITION_SECTIONS,
            (Arg("op", ArgKind.WORD, optional=True, words=("and", "or")),), True,
            "Join the conditions up to `End` with AND (the default) or OR; blocks nest: "
            '`Match OR` / `Host "a.example"` / `Host "b.example"` / `End`.',
            opens=Section.MATCH, condition=True),
    Keyword("Condition", frozenset({Section.TOP}),
            (Arg("name", ArgKind.STRING),
             Arg("op", ArgKind.WORD, optional=True, words=("and", "or"))), True,
            "A detached condition: the conditions up to `End`, joined by AND (the default) or "
            "OR as in `Match`, that `Eval` uses by name: `Condition \"internal\" or` / "
            '`Host "a.example"` / `ACL -file "internal.acl"` / `End`. As in '
            "Pound, the groups of its patterns are not seen by back-references outside it.",
            opens=Section.CONDITION),
    Keyword("ClientCert", CONDITION_SECTIONS - {Section.REWRITE},
            (Arg("file", ArgKind.FILE),), True,
            "The client's TLS certificate is one of those in this PEM file: "
            '`ClientCert "/etc/standby/admin.pem"`. In a Service of a `ListenHTTPS` that has '
            "no `ClientCert` directive of its own (as in Pound); that listener then asks "
            "every client for a certificate and trusts these as they are (a client may "
            "send none; one that sends another fails the handshake, where Pound serves it "
            "without a match).", condition=True),
    Keyword("Eval", CONDITION_SECTIONS, (Arg("name", ArgKind.STRING),), True,
            'The detached condition of that name holds: `Eval "internal"`.', condition=True),
    Keyword("TrustedIP", frozenset({Section.TOP, Section.SERVICE}) | LISTENERS,
            (Arg('"acl" or -file "f"', ArgKind.TOKENS, optional=True, many=True),), False,
            "The proxies trusted to write the forwarded header: `ACL -forwarded` walks its "
            "addresses from right to left and takes the first one not in this list "
            '(`TrustedIP "proxies"` names an ACL; `TrustedIP` alone lists CIDRs up to `End`). '
            "A Service's overrides its listener's, which overrides the global one.",
            opens=Section.TRUSTED_IP, inline=True),
    Keyword("Constant", frozenset({Section.TOP, Section.SERVICE}) | LISTENERS,
            (Arg("name", ArgKind.STRING),
             Arg('"value" or -file "f" [-trim]', ArgKind.TOKENS, many=True)), True,
            "A named value for the templates standby expands (a `Redirect` URL, "
            "`StringMatch`, `SetHeader`, `SetPath`...): `%[const NAME]` is the value, "
            "`%[const NAME url]` percent-encoded, `%[const NAME base64]` in base64: "
            '`Constant "realm" "example"`; `Constant "key" -file "secret.txt"` reads it from '
            "a file (`-trim`: without its trailing white space). A Service's constants hide "
            "its listener's, which hide the top level's."),
    Keyword("ForwardedHeader", frozenset({Section.TOP, Section.SERVICE}) | LISTENERS,
            (Arg("name", ArgKind.STRING),), False,
            "The header `ACL -forwarded` reads client addresses from: "
            '`ForwardedHeader "X-Real-IP"`.', default=model.DEFAULT_FORWARDED_HEADER),
    Keyword("RegexType", frozenset({Section.TOP}),
            (Arg("type", ArgKind.WORD, words=("posix", "pcre", "perl")),), True,
            "The regex syntax of the conditions that follow it in the file: `RegexType pcre` "
            "(Perl syntax; standby runs such patterns with RE2, or Python's `re` within a "
            "bounded subject length when they need look-around or back-references).",
            default="posix"),
    Keyword("IgnoreCase", frozenset({Section.TOP, Section.SERVICE}),
            (Arg("bool", ArgKind.BOOL),), True,
            "Make `URL`, `Path`, `Query`, `QueryParam` and `StringMatch` patterns "
            "case-insensitive by default (global: for the conditions that follow it; in a "
            "Service: for that service): `IgnoreCase 1`. Deprecated in Pound 4 for `-icase`.",
            default="0"),
    # --- issue 15: dynamic backends ----------------------------------------------------
    Keyword("Resolve", BACKENDS,
            (Arg("type", ArgKind.WORD, words=tuple(m.value for m in model.ResolveMode)),),
            False, "Makes a dynamic backend of a host name (Pound 4): `first` its first "
            "address, `all` one backend per address, `srv` its SRV records (one backend per "
            "address of each target, at the record's port, with its weight as Priority; the "
            "lowest SRV priority is this backend's tier, higher ones the Emergency tier). "
            "Pound 4 makes a balancer group per SRV priority; standby has these two tiers. "
            "Looked up after start-up (until the first answer the backend has no server) "
            "and again when the records' TTL runs out; a failed lookup keeps the last "
            "servers, a name without addresses removes them. Servers come and go without "
            "failing a request in flight, and keep their health by name, address and port. "
            "With several workers the supervisor looks up and tells every worker; "
            "`-W no-dns` turns lookups off. "
            "`Address \"www.example.org\"` `Port 8080` `Resolve all`; for `srv` no Port: "
            "`Address \"_http._tcp.example.org\"` `Resolve srv`."),
    Keyword("Family", BACKENDS,
            (Arg("family", ArgKind.WORD, words=tuple(f.value for f in model.AddressFamily)),),
            False, "Which addresses a dynamic backend looks for: `any` (A and AAAA), `inet` "
            "(A) or `inet6` (AAAA): `Family inet`.", default="any"),
    Keyword("IgnoreSRVWeight", BACKENDS, (Arg("bool", ArgKind.BOOL),), False,
            "With `Resolve srv`: give every generated backend this backend's own Priority "
            "instead of the SRV weight: `IgnoreSRVWeight true`.", default="false"),
    Keyword("OverrideTTL", BACKENDS, (POSITIVE_DURATION,), False,
            "Look a dynamic backend up again this often instead of after the records' TTL: "
            "`OverrideTTL 30`.", default="the records' TTL"),
    Keyword("RetryInterval", BACKENDS | frozenset({Section.RESOLVER}), (POSITIVE_DURATION,),
            False, "After a failed lookup, or one that found nothing, try again after this "
            "long: `RetryInterval 60`. In a backend it overrides the Resolver's.",
            default=_seconds(model.DEFAULT_DNS_RETRY)),
    Keyword("Resolver", frozenset({Section.TOP}), (), False,
            "How dynamic backends are looked up, up to `End`: `CNAMEChain`, `ConfigFile`, "
            "`ConfigText`, `RetryInterval`, `Debug`. Without it the system's "
            "`/etc/resolv.conf` is read (only when some backend has `Resolve`).",
            opens=Section.RESOLVER),
    Keyword("CNAMEChain", frozenset({Section.RESOLVER}),
            (Arg("n", ArgKind.INT, low=0, high=model.MAX_CNAME_CHAIN),), False,
            "How many CNAME records may lead from a name to its records: `CNAMEChain 2`. "
            "One alias is always allowed; a chain of aliases needs this.",
            default=str(model.DEFAULT_CNAME_CHAIN)),
    Keyword("ConfigFile", frozenset({Section.RESOLVER}), (Arg("file", ArgKind.FILE),), False,
            "Read the name servers from this resolv.conf file (read when the configuration "
            "loads): `ConfigFile \"/etc/pound/resolv.conf\"`. The later of ConfigFile and "
            "ConfigText wins.", default="/etc/resolv.conf"),
    Keyword("ConfigText", frozenset({Section.RESOLVER}), (), False,
            "resolv.conf lines, up to `End`: `nameserver 192.0.2.1`. standby also reads "
            "`nameserver 192.0.2.1:5353` (and `[2001:db8::1]:5353`) for a server on another "
            "port. `nameserver`, and `options timeout:N attempts:N`, are used; `domain`, "
            "`search`, `sortlist` and other options are accepted and ignored (dynamic "
            "backends are named in full).", opens=Section.CONFIG_TEXT),
    Keyword("Debug", frozenset({Section.RESOLVER}), (Arg("bool", ArgKind.BOOL),), False,
            "Log every lookup of a dynamic backend and its result (or failure) at info "
            "level: `Debug true`. Without it, only changes and failures are logged.",
            default="false"),
    Keyword("nameserver", frozenset({Section.CONFIG_TEXT}), (Arg("address", ArgKind.STRING),),
            True, "A name server's IP address, optionally with `:PORT`: "
            "`nameserver 127.0.0.1:5353`. Up to three, tried in order."),
    *(Keyword(_word, frozenset({Section.CONFIG_TEXT}),
              (Arg("value", ArgKind.STRING),
               *(Arg("value", ArgKind.STRING, optional=True) for _ in range(7))), True,
              f"resolv.conf's `{_word}` line: `{_example}`.")
      for _word, _example in (("domain", "domain example.org"),
                              ("search", "search example.org example.net"),
                              ("options", "options timeout:2 attempts:3"),
                              ("sortlist", "sortlist 192.0.2.0/24"))),
    # --- issue 15: access log ---
    Keyword("LogFormat", frozenset({Section.TOP}),
            (Arg("name", ArgKind.STRING), Arg("format", ArgKind.STRING)), True,
            "Define an access log format, for `LogLevel \"name\"` after it. Text is copied, "
            "`%` conversions are Pound 4's: `%a` client address (behind the proxies of "
            "`TrustedIP`, the last forwarded address they do not vouch for, as `ACL "
            "-forwarded` finds it; anonymised by `Anonymise`), "
            "`%A` listener address, `%B` body bytes, `%b` the same or `-` for none, `%D` "
            "microseconds taken, `%h` client address, `%H` `http` or `https`, `%{Name}i` a "
            "request header (empty when absent), `%{Name}I` the same or `-`, `%l` `-`, "
            "`%{listener|service|backend}L` where it is defined, `%m` method, "
            "`%{listener|service|backend}N` its name (`-` for none; a backend: its address, "
            "or `redirect:URL`), `%p` listener port, `%P` thread id, `%q` `?query` or "
            "nothing, `%r` request line, `%s` status, `%>s` the status line sent, `%t` "
            "`[time]`, `%{FORMAT}t` strftime (after `begin:` or `end:`; also `msec`, "
            "`usec`, `msec_frac`, `usec_frac`), `%T` seconds taken, `%{s|ms|us|f}T` in that "
            "unit, `%u` Basic user, `%U` path, `%v` Host name without port, `%%` a `%`: "
            "`LogFormat \"short\" \"%a %m %U %s %b\"`."),
    Keyword("LogSuppress", frozenset({Section.SERVICE}),
            (Arg("class", ArgKind.STRING),
             *(Arg("class", ArgKind.STRING, optional=True) for _ in range(5))), True,
            "No access log line for answers of these status classes from this service: "
            "`info` (1xx), `success` (2xx), `redirect` (3xx), `clterr` (4xx), `srverr` "
            "(5xx), `1`..`5`, or `all`: `LogSuppress success redirect`."),
    Keyword("LogTag", frozenset({Section.TOP}), (Arg("tag", ArgKind.STRING),), False,
            "The tag of syslog messages (the program's name by default); standard error "
            "lines keep theirs, as Pound's do: `LogTag \"web-front\"`.",
            default="standby"),
    # --- issue 15: messages, keywords that do not apply (i15-conf) -----------------------
    _ignored("Threads", TOP, Arg("n", ArgKind.INT, low=1, high=IGNORED_INT_MAX)),
    _ignored("WorkerMinCount", TOP, Arg("n", ArgKind.INT, low=0, high=IGNORED_INT_MAX)),
    _ignored("WorkerMaxCount", TOP, Arg("n", ArgKind.INT, low=1, high=IGNORED_INT_MAX)),
    _ignored("WorkerIdleTimeout", TOP, Arg("duration", ArgKind.DURATION, low=0)),
    _ignored("WorkerStackSize", TOP, Arg("size", ArgKind.SIZE)),
    _ignored("ConnectionQueueSize", TOP, Arg("n", ArgKind.INT, low=0, high=IGNORED_INT_MAX)),
    _ignored("Supervisor", TOP, Arg("bool", ArgKind.BOOL)),
    _ignored("SSLEngine", TOP, Arg("name", ArgKind.STRING)),
    _ignored("ECDHCurve", TOP, Arg("curve", ArgKind.STRING)),
    _ignored("ReserveFD", TOP, Arg("n", ArgKind.INT, low=0, high=IGNORED_INT_MAX)),
    _ignored("WatcherTTL", TOP, Arg("duration", ArgKind.DURATION, low=0)),
    Keyword("LineBufferSize", TOP | LISTENERS,
            (Arg("bytes", ArgKind.INT, low=model.MIN_LINE_BUFFER, high=model.MAX_LINE_BUFFER),),
            False, "The longest request line (414 beyond) and request header line (431 "
            "beyond; Pound answers 413), and the default `MaxURI`: `LineBufferSize 16384`. "
            "Global: the default for listeners. At least Pound's 4096; at most standby's "
            "whole request head.", default="8192 (the request target: 8000)"),
    _ignored("BackendStats", TOP, Arg("bool", ArgKind.BOOL)),
    _ignored("HAport", BACKENDS, Arg("port", ArgKind.INT, low=1, high=65535)),
    _ignored("DynScale", frozenset({Section.SERVICE}), Arg("bool", ArgKind.BOOL)),
    Keyword("TBF", CONDITION_SECTIONS,
            (Arg("key", ArgKind.STRING), Arg("rate", ArgKind.STRING),
             Arg("burst", ArgKind.INT, low=1, high=model.MAX_TBF_BURST)), True,
            "Pound 4's token bucket filter: holds while the bucket named by `key` (expanded "
            "as `StringMatch` expands, e.g. `$1` or `%[remoteip]`) has a token, and takes "
            "it. Each bucket gets `rate` tokens a second (or `N/M[s|ms|us]`: `1/2s`, "
            "`200/500ms`) up to `burst`; a new key starts full. Follow the service with "
            "one for the requests it refuses: `TBF \"%[remoteip]\" 5 10`. Every worker "
            "shares the buckets, a reload keeps them, and a request takes at most one "
            "token from a bucket however often its conditions are evaluated.",
            condition=True),
    # --- issue 15: Pound's process interface ---
    Keyword("IncludeDir", frozenset({Section.TOP}), (Arg("directory", ArgKind.STRING),), True,
            "The include directory: where relative names in `Include`, `ErrorFile`, "
            "`Err400`...`Err503` and other file arguments that follow are looked up, until "
            "the next `IncludeDir`: `IncludeDir \"/etc/pound/conf.d\"`. `-W include-dir=DIR` "
            "sets the first one and `-W no-include-dir` makes it the current directory. "
            "Without either, Pound takes its compile-time configuration directory; standby "
            "takes the directory of the file that names the file (the same for "
            "`/etc/pound.cfg`).", default="the naming file's directory"),
    Keyword("SocketFrom", LISTENERS | frozenset({Section.TUNNEL}),
            (Arg("path", ArgKind.STRING),), False,
            "Do not bind: receive the listening socket over the UNIX socket at this path "
            "(connect, then one descriptor in an SCM_RIGHTS message), as Pound 4 does: "
            "`SocketFrom \"/run/pound/http.sock\"`. `Address` and `Port` are then those "
            "of the received socket. The socket is received once and kept across reloads."),
    # --- issue 15: Tunnel ----------------------------------------------------------------
    Keyword("Tunnel", frozenset({Section.TOP}), (Arg("name", ArgKind.STRING, True),), True,
            "A TCP tunnel (Pound 4), up to `End`: every connection accepted on its `Address` "
            "and `Port` (or `SocketFrom`) is joined to its one `Backend` and the bytes are "
            "copied both ways unread; a half-close is passed on. `Tunnel \"db\"` / "
            "`Address 127.0.0.1` / `Port 5433` / `Backend` / `Address 127.0.0.1` / "
            "`Port 5432` / `End` / `End`. No access log line (as in Pound).",
            opens=Section.TUNNEL),
    Keyword("BackEnd", frozenset({Section.TUNNEL}), (), True,
            "The tunnel's backend, up to `End`: `Address` (an IP address, a host name or a "
            "UNIX socket path) and `Port` (required for an IP address), `ConnTO` (a "
            "backend that does not accept within it, or refuses, closes the client's "
            "connection), `TimeOut` (the tunnel closes after this long without a byte "
            "either way) and `Disabled` (every connection is closed at once). Exactly one.",
            opens=Section.TUNNEL_BACKEND),
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

# Real Pound (2.x and 4.x) keywords standby does not implement yet, anywhere, with a note
# for the reader: "X" is not supported yet. None since issue 15 (Pound 4.23's keywords are
# all built, ignored with a warning in `config/ignored.py`, or Lua's, in NOT_SUPPORTED);
# tests/config/test_messages.py holds every Pound statement name to that.
UNSUPPORTED: dict[str, str] = {}

# Pound keywords standby will not have, with the reason the message gives.
_NO_LUA = "standby has no Lua interpreter; write the logic as conditions, or in a backend"
NOT_SUPPORTED: dict[str, str] = {
    "Lua": _NO_LUA,
    "LuaMatch": _NO_LUA,
    "LuaBackend": _NO_LUA,
    "LuaModify": _NO_LUA,
    "Load": _NO_LUA,
    "LoadGlobal": _NO_LUA,
    "CPath": _NO_LUA,
    "ContentCapture": _NO_LUA + " (it captures request bodies for Lua)",
}

# Supported keywords whose use in one more section is a Pound feature not implemented yet.
UNSUPPORTED_IN: dict[Section, tuple[str, ...]] = {}

# Sections whose keywords are Pound's, and Pound's keywords there that may be given twice
# in one section, the second replacing the first (Pound 4.23 `-c` accepts each of these
# repeated). standby's own sections and keywords keep refusing a duplicate.
POUND_SECTIONS = frozenset(
    {Section.TOP, Section.CONTROL, Section.SERVICE} | LISTENERS | BACKENDS | TUNNELS
)
LAST_WINS = frozenset({
    "User", "Group", "RootJail", "Daemon", "LogLevel", "LogFacility", "Alive", "Client",
    "TimeOut", "ConnTO", "WSTimeOut", "Grace", "PIDFile", "Anonymise", "Control",
    "Address", "Port", "xHTTP", "MaxRequest", "MaxURI", "RewriteLocation", "Ciphers",
    "Disable", "SSLHonorCipherOrder", "SSLAllowClientRenegotiation", "ECDHcurve",
    "DHParams", "NoHTTPS11", "ClientCert", "CAlist", "VerifyList", "CRLlist", "Disabled",
    "Priority", "HTTPS", "Cert", "ServerName", "Socket", "Mode", "ChangeOwner",
    "ForwardedHeader", "TrustedIP", "LineBufferSize",
    # Keywords other parts of issue 15 add, checked repeated with Pound 4.23 -c too:
    "Balancer", "LogTag", "HeaderOption", "RewriteDestination", "RewriteErrors",
    "LogSuppress", "Family", "RetryInterval", "IgnoreSRVWeight", "OverrideTTL",
    *IGNORED,
})  # fmt: skip

# One spelling may name different keywords in different sections (`Path` is a condition in
# a Service and the request path in a HealthCheck); never two in the same section.
_BY_NAME: dict[str, tuple[Keyword, ...]] = {}
for _keyword in KEYWORDS:
    for _spelling in (_keyword.name, *_keyword.aliases):
        _BY_NAME[_spelling.lower()] = (*_BY_NAME.get(_spelling.lower(), ()), _keyword)
_UNSUPPORTED_BY_NAME = {name.lower(): name for name in (*UNSUPPORTED, *NOT_SUPPORTED)}


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


def refusal(word: str, section: Section) -> str | None:
    """The message for ``word`` if it is a Pound keyword standby lacks in ``section``:
    "X" is not supported yet (a part of issue 15 builds it), or "X" is not supported: why
    (standby will not have it); None if ``word`` is a keyword here or not Pound's."""
    name = unsupported_name(word, section)
    if name is None:
        return None
    why = NOT_SUPPORTED.get(name)
    return f'"{name}" is not supported yet' if why is None else f'"{name}" is not supported: {why}'


def repeats_last_wins(keyword: Keyword, section: Section) -> bool:
    """Whether a second ``keyword`` in one ``section`` replaces the first, as in Pound
    (where a directive given again simply sets its value again); standby's own keywords
    and Pound's `CheckURL` (which Pound refuses twice) stay errors when repeated."""
    return section in POUND_SECTIONS and keyword.name in LAST_WINS
