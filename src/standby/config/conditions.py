"""Service conditions: Pound 4's condition keywords, their match flags and blocks, compiled
to ``ConditionSpec`` trees (routing.py decides with them).

A pattern condition is ``KEYWORD [options] "pattern"`` (``QueryParam`` and ``StringMatch``
take a first argument before the options). The options, as Pound 4 has them:

- how to compare: ``-re`` (a regular expression of the ``RegexType`` in effect, POSIX by
  default), ``-exact``, ``-beg``, ``-end``, ``-contain`` (string comparisons, compiled to
  an ERE matching the string literally); ``-posix`` and ``-pcre`` (``-perl``) choose the
  regex syntax and imply ``-re``;
- case: ``-icase``, ``-case``;
- ``-file "f"`` (``-filewatch``, read once here too): the patterns are f's lines (blank
  lines and ``#`` comments skipped); any of them may match;
- ``-tag "t"``: back-references may name the match (``$1(t)``); ``-decode``
  (``QueryParam``): percent-decode the value first.

Defaults: ``Host`` compares exactly and case-insensitively; ``Header`` (``HeadRequire``,
``HeadDeny``) is a case-insensitive regex; ``URL`` and ``Method`` case-sensitive regexes;
``Path``, ``Query``, ``QueryParam`` and ``StringMatch`` regexes, case-insensitive when
``IgnoreCase`` is on (the Service's, else the global one in effect where the section
starts). ``RegexType`` applies to the conditions of the top-level sections after it.

Relative file names (``-file``, ``BasicAuth``, ACL files) are taken from the directory of
the configuration file that names them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization

from standby import model
from standby.acl import parse_acl_file, parse_cidr
from standby.config import constants
from standby.config.errors import ConfigError, quote
from standby.config.lexer import Token, TokenKind
from standby.config.pattern import (
    BACKTRACK_BUDGET,
    CompiledPattern,
    PcrePattern,
    RegexError,
    compile_pattern,
    compile_pcre,
    escape_ere,
)
from standby.config.tbf import compile_tbf
from standby.config.tree import Directive, SectionNode
from standby.htpasswd import HAVE_CRYPT, HtpasswdError, UserTable, parse_htpasswd
from standby.model import (
    AclSpec,
    ConditionKind,
    ConditionSpec,
    ForwardedSpec,
    LiveFile,
    Location,
    Networks,
)
from standby.tls.pem import PemError, parse_certificates

log = logging.getLogger(__name__)

_KINDS = {
    "URL": ConditionKind.URL,
    "Path": ConditionKind.PATH,
    "Host": ConditionKind.HOST,
    "Header": ConditionKind.HEADER,
    "HeadRequire": ConditionKind.HEADER,
    "HeadDeny": ConditionKind.HEADER,
    "Query": ConditionKind.QUERY,
    "QueryParam": ConditionKind.QUERY_PARAM,
    "Method": ConditionKind.METHOD,
    "StringMatch": ConditionKind.STRING_MATCH,
}
# Keywords whose first argument comes before the options.
_WITH_ARGUMENT = frozenset({"QueryParam", "StringMatch"})
# Kinds whose patterns IgnoreCase makes case-insensitive by default.
_IGNORE_CASE_KINDS = frozenset(
    {
        ConditionKind.PATH,
        ConditionKind.QUERY,
        ConditionKind.QUERY_PARAM,
        ConditionKind.STRING_MATCH,
        ConditionKind.URL,
    }
)
# The string comparisons, as ERE anchors around the escaped string.
_COMPARISONS = {"-exact": ("^", "$"), "-beg": ("^", ""), "-end": ("", "$"), "-contain": ("", "")}
_REGEX_FLAGS = frozenset({"-re", "-posix", "-pcre", "-perl"})
_FILE_FLAGS = frozenset({"-file", "-filewatch"})
_CASE_FLAGS = frozenset({"-icase", "-case"})
# The largest pattern or ACL file read (a list of thousands of lines is plausible).
MAX_LIST_FILE = 16 * 1024 * 1024
# The largest htpasswd file read.
MAX_HTPASSWD_FILE = 16 * 1024 * 1024
# The largest `ClientCert` certificate file read: a few certificates (a few KiB each).
MAX_CERT_FILE = 1024 * 1024

Pattern = CompiledPattern | PcrePattern


@dataclass(frozen=True, slots=True)
class _Scope:
    """What a section's conditions inherit: regex syntax, case default, forwarding."""

    pcre: bool
    ignore_case: bool
    forwarded: ForwardedSpec | None
    constants: dict[str, bytes]  # the Constants in force (StringMatch's `%[const NAME]`)
    listener: SectionNode | None  # the listener of the service (None: a global one)
    standalone: bool  # a Service at the top level (no listener's handshake to ask in)


@dataclass(slots=True)
class _Flags:
    compare: str = ""  # "" (the kind's default), "-re", or one of _COMPARISONS
    pcre: bool | None = None
    icase: bool | None = None
    file: Token | None = None
    watch: bool = False  # -filewatch (not -file): the file is read again when it changes
    tag: str = ""
    decode: bool = False


class ConditionContext:
    """The configuration-wide part of compiling conditions: named ACLs, where RegexType and
    IgnoreCase change, the global TrustedIP and ForwardedHeader. ``read`` reads a file
    (OSError when it cannot)."""

    def __init__(self, root: SectionNode, read: Callable[[str], bytes]) -> None:
        self.read = read
        self.constants = constants.Constants(root, read)  # `%[const NAME]`
        self.acls: dict[str, AclSpec] = {}
        self._scopes: dict[int, tuple[bool, bool]] = {}  # id(top-level section) -> state
        pcre = False
        ignore_case = False
        for child in root.body:
            name = None if child.keyword is None else child.keyword.name
            if isinstance(child, Directive):
                if name == "RegexType":
                    pcre = child.values[0] != "posix"
                elif name == "IgnoreCase":
                    ignore_case = bool(child.values[0])
                elif name == "ACL":
                    self._named_acl(child)
            else:
                if name == "ACL":
                    self._named_acl(child)
                self._scopes[id(child)] = (pcre, ignore_case)
        self.trusted = self._trusted(root)
        forwarded = root.first("ForwardedHeader")
        self.forwarded_header = (
            model.DEFAULT_FORWARDED_HEADER if forwarded is None else str(forwarded.values[0])
        )
        # Detached conditions (`Condition "name"` ... `End`), for Eval.
        self.detached: dict[str, ConditionSpec] = {}
        for node in root.sections():
            if node.keyword is None or node.keyword.name != "Condition":
                continue
            name = str(node.values[0])
            if name in self.detached:
                first = self.detached[name].location
                raise ConfigError(
                    node.location, f"duplicate Condition {quote(name)} (first at {first})"
                )
            pcre, ignore_case = self._scopes.get(id(node), (False, False))
            header = self.forwarded_header.lower().encode("latin-1")
            # Used by Eval in any service: a `ClientCert` in it is checked nowhere (the
            # listener that asks for certificates is the one whose service evaluates it).
            scope = _Scope(
                pcre,
                ignore_case,
                ForwardedSpec(header, self.trusted),
                self.constants.top,
                None,
                False,
            )
            children = tuple(
                spec for child in node.body if (spec := self._node(child, scope)) is not None
            )
            op = node.values[1] if len(node.values) > 1 else None
            self.detached[name] = ConditionSpec(
                ConditionKind.MATCH,
                name,
                None,
                False,
                node.location,
                children=children,
                any_of=op == "or",
            )

    # -- ACLs ---------------------------------------------------------------------------

    def _named_acl(self, node: Directive | SectionNode) -> None:
        name = str(node.values[0])
        if name in self.acls:
            raise ConfigError(
                node.location, f"duplicate ACL {quote(name)} (first at {self.acls[name].location})"
            )
        if isinstance(node, SectionNode):
            acl = self._acl_section(node, name)
        else:
            tokens = _tokens(node.values[1])
            acl = self._acl_tokens(tokens, node.location, name, allow_name=False)[0]
        self.acls[name] = acl

    def _acl_section(self, node: SectionNode, name: str) -> AclSpec:
        networks = []
        for line in node.directives():
            try:
                networks.append(parse_cidr(str(line.values[0])))
            except ValueError as exc:
                raise ConfigError(line.arg_locations[0], str(exc)) from None
        return AclSpec(name, tuple(networks), node.location)

    def _acl_file(self, token: Token, name: str, watch: bool = False) -> AclSpec:
        path = _file_name(token)

        def parse(text: str | None) -> tuple[Networks, tuple[ConditionSpec, ...]]:
            cidrs = []
            for number, item in parse_acl_file(text or ""):
                try:
                    cidrs.append(parse_cidr(item))
                except ValueError as exc:
                    raise ConfigError(Location(path, number, 1), str(exc)) from None
            return tuple(cidrs), ()

        text = self._file_text(path, token.location, "ACL file", watch)
        if watch:
            live = LiveFile(path, token.location, parse, text)
            return AclSpec(name, (), token.location, live=live)
        return AclSpec(name, parse(text)[0], token.location)

    def _acl_tokens(
        self, tokens: Sequence[Token], at: Location, name: str, allow_name: bool
    ) -> tuple[AclSpec, bool]:
        """An ACL from a directive's tokens: ``[-forwarded] ("name" | -file "f")``; and
        whether -forwarded was given."""
        forwarded = False
        i = 0
        while (
            i < len(tokens) and tokens[i].kind is TokenKind.WORD and tokens[i].text == "-forwarded"
        ):
            forwarded = True
            i += 1
        rest = tokens[i:]
        if rest and rest[0].kind is TokenKind.WORD and rest[0].text in _FILE_FLAGS:
            if len(rest) < 2:
                raise ConfigError(rest[0].location, f'"{rest[0].text}" needs a file name')
            if len(rest) > 2:
                raise ConfigError(rest[2].location, 'too many arguments for "ACL"')
            return self._acl_file(rest[1], name, rest[0].text == "-filewatch"), forwarded
        if not rest or not allow_name:
            where = at if not rest else rest[0].location
            raise ConfigError(where, 'expected -file "FILE" after the ACL name')
        if len(rest) > 1:
            raise ConfigError(rest[1].location, 'too many arguments for "ACL"')
        if rest[0].kind is TokenKind.WORD and rest[0].text.startswith("-"):
            raise ConfigError(rest[0].location, f"unknown ACL option {quote(rest[0].text)}")
        acl = self.acls.get(rest[0].text)
        if acl is None:
            raise ConfigError(rest[0].location, f"no ACL named {quote(rest[0].text)}")
        return acl, forwarded

    def _trusted(self, node: SectionNode) -> AclSpec | None:
        """The TrustedIP list of a section (the top level, a listener, a service)."""
        for child in node.body:
            if child.keyword is None or child.keyword.name != "TrustedIP":
                continue
            if isinstance(child, SectionNode):
                return self._acl_section(child, "")
            return self._acl_tokens(_tokens(child.values[0]), child.location, "", True)[0]
        return None

    # -- scopes -------------------------------------------------------------------------

    def _scope(self, service: SectionNode, listener: SectionNode | None) -> _Scope:
        top = listener if listener is not None else service
        pcre, ignore_case = self._scopes.get(id(top), (False, False))
        own = service.first("IgnoreCase")
        if own is not None:
            ignore_case = bool(own.values[0])
        return _Scope(
            pcre,
            ignore_case,
            self.forwarded(service, listener),
            self.constants.in_scope(service, listener),
            listener,
            listener is None and service.keyword is not None and service.keyword.name == "Service",
        )

    def forwarded(
        self, service: SectionNode | None, listener: SectionNode | None = None
    ) -> ForwardedSpec:
        """Where a request's client address comes from in ``service`` (None: the listener's
        or the global settings): its ForwardedHeader and TrustedIP, the most specific."""
        trusted = None if service is None else self._trusted(service)
        header = None if service is None else service.first("ForwardedHeader")
        if listener is not None:
            trusted = trusted or self._trusted(listener)
            header = header or listener.first("ForwardedHeader")
        trusted = trusted or self.trusted
        name = self.forwarded_header if header is None else str(header.values[0])
        return ForwardedSpec(name.lower().encode("latin-1"), trusted)

    # -- conditions ---------------------------------------------------------------------

    def service_conditions(
        self, service: SectionNode, listener: SectionNode | None = None
    ) -> tuple[ConditionSpec, ...]:
        """The conditions of ``service`` (inside ``listener``, None for a global one)."""
        return self.compile(service.body, service, listener)

    def compile(
        self,
        nodes: Sequence[Directive | SectionNode],
        service: SectionNode,
        listener: SectionNode | None = None,
    ) -> tuple[ConditionSpec, ...]:
        """The conditions among ``nodes`` (other directives are skipped), as they apply in
        ``service`` (for its IgnoreCase, TrustedIP...)."""
        scope = self._scope(service, listener)
        return tuple(spec for node in nodes if (spec := self._node(node, scope)) is not None)

    def _node(self, node: Directive | SectionNode, scope: _Scope) -> ConditionSpec | None:
        keyword = node.keyword
        if keyword is None:
            return None
        name = keyword.name
        if isinstance(node, SectionNode):
            if name == "Match":
                op = node.values[0] if node.values else None
                children = tuple(
                    spec for child in node.body if (spec := self._node(child, scope)) is not None
                )
                return ConditionSpec(
                    ConditionKind.MATCH,
                    f"Match {str(op or 'and').upper()}",
                    None,
                    node.negate,
                    node.location,
                    children=children,
                    any_of=op == "or",
                )
            if name == "ACL":
                acl = self._acl_section(node, "")
                return ConditionSpec(
                    ConditionKind.ACL, "ACL", None, node.negate, node.location, acl=acl
                )
            return None
        if not keyword.condition:
            return None
        if name == "ACL":
            tokens = _tokens(node.values[0])
            acl, forwarded = self._acl_tokens(tokens, node.location, "", True)
            return ConditionSpec(
                ConditionKind.ACL,
                node.texts[0],
                None,
                node.negate,
                node.location,
                acl=acl,
                forwarded=scope.forwarded if forwarded else None,
            )
        if name == "BasicAuth":
            return self._basic_auth(node)
        if name == "ClientCert":
            return self._client_cert(node, scope)
        if name == "Eval":
            detached = self.detached.get(str(node.values[0]))
            if detached is None:
                raise ConfigError(
                    node.arg_locations[0], f"no Condition named {quote(node.texts[0])}"
                )
            # `argument` names it: its groups stay inside (routing.py).
            return ConditionSpec(
                ConditionKind.MATCH,
                f"Eval {node.texts[0]}",
                None,
                node.negate,
                node.location,
                argument=node.texts[0],
                children=detached.children,
                any_of=detached.any_of,
            )
        if name == "TBF":  # i15-conf
            return compile_tbf(node, scope.constants)
        return self._pattern_condition(node, scope)

    def _basic_auth(self, node: Directive) -> ConditionSpec:
        tokens = _tokens(node.values[0])
        watch = True
        if tokens[0].kind is TokenKind.WORD and tokens[0].text in _FILE_FLAGS:
            watch = tokens[0].text == "-filewatch"
            tokens = tokens[1:]
        if len(tokens) != 1:
            at = node.location if not tokens else tokens[min(1, len(tokens) - 1)].location
            raise ConfigError(at, 'expected "BasicAuth [-file] FILE"')
        path = _file_name(tokens[0])
        text = self._read_text(path, tokens[0].location, "htpasswd file", MAX_HTPASSWD_FILE)
        try:
            users = parse_htpasswd(text)
        except HtpasswdError as exc:
            raise ConfigError(Location(path, exc.line, 1), f"bad htpasswd line: {exc}") from None
        if not HAVE_CRYPT and any(h.startswith("$2") for h in users.values()):
            log.warning(
                "%s: bcrypt entries need the C library's crypt(3) (libcrypt), which is "
                "missing: they never match",
                path,
            )
        table = UserTable(path, users, watch)
        return ConditionSpec(
            ConditionKind.BASIC_AUTH, path, None, node.negate, node.location, users=table
        )

    def _client_cert(self, node: Directive, scope: _Scope) -> ConditionSpec:
        """Pound 4's `ClientCert "file"`: the client's certificate is one in the file. Only
        where an HTTPS listener can ask for it, and not beside the listener's own
        `ClientCert` (Pound's rules)."""
        listener = scope.listener
        if scope.standalone or (
            listener is not None
            and listener.keyword is not None
            and (listener.keyword.name != "ListenHTTPS")
        ):
            raise ConfigError(
                node.location,
                '"ClientCert" as a condition needs a Service inside a ListenHTTPS',
            )
        if listener is not None and listener.first("ClientCert") is not None:
            raise ConfigError(
                node.location,
                '"ClientCert" as a condition cannot be used where the ListenHTTPS has a '
                '"ClientCert" directive',
            )
        path = str(node.values[0])
        data = self._read_text(path, node.arg_locations[0], "certificate file", MAX_CERT_FILE)
        try:
            certs = parse_certificates(data.encode("latin-1"))
        except PemError as exc:
            raise ConfigError(node.arg_locations[0], f"{quote(path)}: {exc}") from None
        ders = frozenset(cert.public_bytes(serialization.Encoding.DER) for cert in certs)
        return ConditionSpec(
            ConditionKind.CLIENT_CERT, path, None, node.negate, node.location, certs=ders
        )

    def _pattern_condition(self, node: Directive, scope: _Scope) -> ConditionSpec:
        name = node.keyword.name
        kind = _KINDS[name]
        argument = ""
        tokens = _tokens(node.values[-1])
        if name in _WITH_ARGUMENT:
            argument = str(node.values[0])
            if kind is ConditionKind.STRING_MATCH:  # an expanded template
                argument = constants.resolve(argument, scope.constants, node.arg_locations[0])
        elif kind is ConditionKind.HEADER and len(tokens) > 1 and not _is_flag(tokens[0]):
            # Pound 4's split form: `Header "Name" [options] "pattern"` matches the values
            # of the headers of that name.
            argument = tokens[0].text
            tokens = tokens[1:]
        flags, pattern = _read_flags(tokens, node, kind)
        negate = node.negate != (name == "HeadDeny")
        icase = flags.icase
        if icase is None:
            icase = kind in (ConditionKind.HEADER, ConditionKind.HOST) or (
                kind in _IGNORE_CASE_KINDS and scope.ignore_case
            )
        pcre = scope.pcre if flags.pcre is None else flags.pcre
        compare = flags.compare
        if not compare:
            compare = "-exact" if kind is ConditionKind.HOST else "-re"

        def one(source: str, at: Location) -> ConditionSpec:
            regex: Pattern | None
            if kind is ConditionKind.HOST and compare == "-exact" and icase:
                regex = None  # routing compares the Host value itself
            else:
                regex = _compile(source, compare, pcre, icase, at)
            return ConditionSpec(
                kind,
                source,
                regex,
                negate,
                node.location,
                argument=argument,
                decode=flags.decode,
                tag=flags.tag,
            )

        if flags.file is None:
            return one(pattern.text, pattern.location)
        path = _file_name(flags.file)

        def parse(text: str | None) -> tuple[Networks, tuple[ConditionSpec, ...]]:
            children = []
            for number, raw in enumerate((text or "").splitlines(), start=1):
                line = raw.strip()
                if line and not line.startswith("#"):
                    child = one(line, Location(path, number, raw.find(line) + 1))
                    children.append(
                        ConditionSpec(
                            kind,
                            child.pattern,
                            child.regex,
                            False,
                            child.location,
                            argument=argument,
                            decode=flags.decode,
                            tag=flags.tag,
                        )
                    )
            return (), tuple(children)

        text = self._file_text(path, flags.file.location, "pattern file", flags.watch)
        live = LiveFile(path, node.location, parse, text) if flags.watch else None
        return ConditionSpec(
            ConditionKind.MATCH,
            f"{name} -file {path}",
            None,
            negate,
            node.location,
            children=parse(text)[1] if live is None else (),
            any_of=True,
            live=live,
        )

    def _file_text(self, path: str, at: Location, what: str, watch: bool) -> str | None:
        """A list file's text; with -filewatch, None when it does not exist (yet): Pound
        starts with an empty list and fills it when the file appears."""
        if watch and not os.path.exists(path):
            return None
        return self._read_text(path, at, what, MAX_LIST_FILE)

    def _read_text(self, path: str, at: Location, what: str, limit: int) -> str:
        try:
            data = self.read(path)
        except OSError as exc:
            raise ConfigError(at, f"cannot read {what} {quote(path)}: {exc.strerror}") from None
        if len(data) > limit:
            raise ConfigError(at, f"{what} {quote(path)} is too large (over {limit} bytes)")
        return data.decode("latin-1")


def _tokens(value: object) -> tuple[Token, ...]:
    """A TOKENS argument's value (the parser keeps the tokens); () when omitted."""
    if value is None:
        return ()
    assert isinstance(value, tuple)
    return tuple(token for token in value if isinstance(token, Token))


def _is_flag(token: Token) -> bool:
    return token.kind is TokenKind.WORD and token.text.startswith("-")


def _is_word(token: Token, word: str) -> bool:
    return token.kind is TokenKind.WORD and token.text == word


def _file_name(token: Token) -> str:
    directory = os.path.dirname(token.location.file)
    return os.path.normpath(os.path.join(directory, token.text))


def _read_flags(
    tokens: Sequence[Token], node: Directive, kind: ConditionKind
) -> tuple[_Flags, Token]:
    """The options before the pattern, and the pattern's token (or -file's name)."""
    flags = _Flags()
    name = node.keyword.name
    i = 0
    while i < len(tokens) and tokens[i].kind is TokenKind.WORD and tokens[i].text.startswith("-"):
        token = tokens[i]
        word = token.text.lower()
        i += 1
        if word in _COMPARISONS or word == "-re":
            flags.compare = word
        elif word in ("-posix", "-pcre", "-perl"):
            flags.pcre = word != "-posix"
            flags.compare = "-re"
        elif word in _CASE_FLAGS:
            flags.icase = word == "-icase"
        elif word in _FILE_FLAGS or word == "-tag":
            if i >= len(tokens):
                raise ConfigError(token.location, f'"{token.text}" needs an argument')
            if word == "-tag":
                flags.tag = tokens[i].text
            else:
                flags.file = tokens[i]
                flags.watch = word == "-filewatch"
            i += 1
        elif word == "-decode" and kind is ConditionKind.QUERY_PARAM:
            flags.decode = True
        else:
            raise ConfigError(
                token.location, f"unknown option {quote(token.text)} for {quote(name)}"
            )
    rest = tokens[i:]
    if flags.file is not None:
        if rest:
            raise ConfigError(
                rest[0].location, f'too many arguments for "{name}" (-file names the patterns)'
            )
        return flags, flags.file
    if not rest:
        at = tokens[-1].location if tokens else node.location
        raise ConfigError(at, f'missing pattern for "{name}"')
    if len(rest) > 1:
        raise ConfigError(rest[1].location, f'too many arguments for "{name}"')
    return flags, rest[0]


def _compile(source: str, compare: str, pcre: bool, icase: bool, at: Location) -> Pattern:
    try:
        if compare in _COMPARISONS:
            before, after = _COMPARISONS[compare]
            return compile_pattern(before + escape_ere(source) + after, icase)
        pattern: Pattern = compile_pcre(source, icase) if pcre else compile_pattern(source, icase)
    except RegexError as exc:
        raise ConfigError(at, f"bad regex {quote(source)}: {exc}") from None
    if not pattern.linear:
        log.warning(
            "%s: %s needs backtracking: it is searched only in subjects of at most %d bytes "
            "(%d modelled steps); a longer one never selects or admits anything",
            at,
            quote(source),
            pattern.limit,
            BACKTRACK_BUDGET,
        )
    return pattern
