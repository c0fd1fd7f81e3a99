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
    SERVICE = "Service"
    BACKEND = "BackEnd"
    EMERGENCY = "Emergency"


ALL_SECTIONS = frozenset(Section)
BACKENDS = frozenset({Section.BACKEND, Section.EMERGENCY})


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


@dataclass(frozen=True, slots=True)
class Arg:
    name: str  # placeholder in the docs
    kind: ArgKind
    optional: bool = False
    low: float | None = None  # inclusive bounds for INT and DURATION
    high: float | None = None
    choices: tuple[int, ...] = ()  # allowed INT values, when not a range


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
    default: str = ""  # for the docs


def _seconds(value: float) -> str:
    return f"{value:g} s"


PORT = Arg("port", ArgKind.INT, low=1, high=65535)
POSITIVE_DURATION = Arg("duration", ArgKind.DURATION, low=1e-3)
ERROR_CODES = (400, 401, 403, 404, 405, 413, 414, 500, 501, 503)
REDIRECT_CODES = (301, 302, 303, 307, 308)
MAX_XHTTP = len(model.XHTTP_METHODS) - 1
MAX_REWRITE_LOCATION = 2


def _error_page(code: int) -> Keyword:
    return Keyword(
        f"Err{code}",
        frozenset({Section.LISTEN_HTTP}),
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
    Keyword("Client", frozenset({Section.TOP, Section.LISTEN_HTTP}), (POSITIVE_DURATION,),
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
    Keyword("Service", frozenset({Section.TOP, Section.LISTEN_HTTP}),
            (Arg("name", ArgKind.STRING, True),), True,
            "A service, up to `End`. Inside a listener it serves that listener only; at the "
            "top level it serves every listener, after the listener's own services.",
            opens=Section.SERVICE),
    # --- listener ----------------------------------------------------------------------
    Keyword("Address", frozenset({Section.LISTEN_HTTP}) | BACKENDS,
            (Arg("address", ArgKind.ADDRESS),), False,
            "Listener: the IP address or host name to listen on. Backend: an IPv4 or "
            "IPv6 address, a host name, or the path of a UNIX socket (starting with `/`)."),
    Keyword("Port", frozenset({Section.LISTEN_HTTP}) | BACKENDS, (PORT,), False,
            "TCP port (1..65535); required unless the address is a UNIX socket."),
    Keyword("xHTTP", frozenset({Section.LISTEN_HTTP}),
            (Arg("level", ArgKind.INT, low=0, high=MAX_XHTTP),), False,
            "Allowed methods: 0 GET, POST, HEAD; 1 adds PUT, PATCH, DELETE; 2 adds the "
            "WebDAV methods; 3 adds the MS WebDAV extensions; 4 adds RPC_IN_DATA and "
            "RPC_OUT_DATA.", default="0"),
    Keyword("MaxRequest", frozenset({Section.LISTEN_HTTP}), (Arg("size", ArgKind.SIZE),),
            False, "Largest request body accepted (413 beyond); 0 means unlimited.",
            default="0"),
    Keyword("MaxURI", frozenset({Section.LISTEN_HTTP}), (Arg("size", ArgKind.SIZE),), False,
            "Longest request target accepted (414 beyond); 0 means the built-in limit.",
            default="0"),
    Keyword("CheckURL", frozenset({Section.LISTEN_HTTP}), (Arg("regex", ArgKind.REGEX),),
            False, "Request targets that do not match get 400."),
    Keyword("ErrorFile", frozenset({Section.LISTEN_HTTP}),
            (Arg("status", ArgKind.INT, choices=ERROR_CODES), Arg("file", ArgKind.FILE)),
            True, "The body sent with this status (one of "
            + ", ".join(str(code) for code in ERROR_CODES)
            + "), read once at start-up."),
    *(_error_page(code) for code in ERROR_CODES),
    Keyword("RewriteLocation", frozenset({Section.LISTEN_HTTP}),
            (Arg("mode", ArgKind.INT, low=0, high=MAX_REWRITE_LOCATION),), False,
            "Rewrite `Location:` headers that point at a backend: 0 never, 1 when the "
            "backend or this listener is named, 2 also comparing the port.", default="1"),
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
)  # fmt: skip

# Real Pound (2.x and 4.x) keywords standby does not implement yet, anywhere.
UNSUPPORTED: tuple[str, ...] = (
    "ACL", "ACME", "AddHeader", "Balancer", "BasicAuth", "CAlist",
    "ChangeOwner", "Cert", "Ciphers", "ClientCert", "CombineHeaders", "Control",
    "CRLlist", "DeleteHeader", "DHParams", "Disable", "DynScale", "ECDHcurve", "Else",
    "Error", "Family", "ForwardedHeader", "HAport", "HeadRemove", "HeaderAdd",
    "HeaderOption", "HeaderRemove", "HTTPS", "ID", "IgnoreCase", "IncludeDir",
    "ListenHTTPS", "LogFormat", "LogSuppress", "Match", "Metrics", "Mode", "NoHTTPS11",
    "Query", "QueryParam", "RegexType", "Resolve", "Resolver", "Rewrite",
    "RewriteDestination", "RewriteErrors", "ServerName", "Session", "SetHeader", "SetPath",
    "SetQuery", "SetQueryParam", "SetURL", "Socket", "SocketFrom", "SSLAllowClientRenegotiation",
    "SSLEngine", "SSLHonorCipherOrder", "StringMatch", "Supervisor", "Threads", "TrustedIP",
    "TTL", "Type", "UseBackend", "VerifyList", "WorkerIdleTimeout", "WorkerMaxCount",
    "WorkerMinCount",
)  # fmt: skip

# Supported keywords whose use in one more section is a Pound feature not implemented yet.
UNSUPPORTED_IN: dict[Section, tuple[str, ...]] = {
    Section.TOP: ("BackEnd",),  # named global backends (Pound 4)
    Section.LISTEN_HTTP: ("LogLevel",),  # per-listener log format (Pound 4)
}

_BY_NAME: dict[str, Keyword] = {}
for _keyword in KEYWORDS:
    for _spelling in (_keyword.name, *_keyword.aliases):
        _BY_NAME[_spelling.lower()] = _keyword
_UNSUPPORTED_BY_NAME = {name.lower(): name for name in UNSUPPORTED}


def lookup(word: str) -> Keyword | None:
    """The keyword spelled ``word`` (any case), or None."""
    return _BY_NAME.get(word.lower())


def unsupported_name(word: str, section: Section) -> str | None:
    """Pound's spelling of ``word`` if it is a Pound feature standby lacks in ``section``."""
    name = _UNSUPPORTED_BY_NAME.get(word.lower())
    if name is not None:
        return name
    keyword = lookup(word)
    if keyword is not None and keyword.name in UNSUPPORTED_IN.get(section, ()):
        return keyword.name
    return None
