"""Generate ``docs/configuration.md`` from the keyword schema.

Regenerate with ``python -m standby.config.docgen > docs/configuration.md``; a test
fails when the committed file and the table disagree.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from standby.config import values
from standby.config.pattern import BACKTRACK_BUDGET, compile_pattern
from standby.config.posix_regex import POSIX_CLASSES
from standby.config.schema import (
    KEYWORDS,
    NOT_SUPPORTED,
    UNSUPPORTED,
    UNSUPPORTED_IN,
    Arg,
    ArgKind,
    Keyword,
    Section,
)

# The title and where the file comes from: docs/configuration.md only (not the manual page).
TITLE = """\
# standby configuration reference

standby reads Pound's configuration language (`pound.cfg`). This reference is generated
from the keyword table in `src/standby/config/schema.py` by
`python -m standby.config.docgen`; do not edit it by hand.
"""

_INTRO = """\
Check a file without starting anything with `standby -c -f FILE`: it exits 0 when the
file is valid, or prints `FILE:LINE.COL: message` and exits 1. Warnings do not fail the
check; each reads `FILE:LINE.COL: message` too. Pound's old spellings (`HeadRequire`,
`HeadDeny`, `AddHeader`/`HeaderAdd`, `HeadRemove`/`HeaderRemove`, `Err400`...`Err503`,
`IgnoreCase`) work as they always did, with a warning that names the newer form, as in
Pound 4; `-W no-warn-deprecated` silences those.

## Lexical structure

- One directive per line: a keyword, then its arguments separated by blanks. Keywords
  are case-insensitive (`BackEnd`, `backend` and `BACKEND` are the same).
- Sections (`ListenHTTP`, `Service`, `BackEnd`, `Emergency`, `HealthCheck`,
  `StaleFallback`) run up to a line holding `End`.
- Strings are written in double quotes; inside them `\\"` is a quote and `\\\\` a backslash.
  Any other backslash is kept as written, so a regular expression such as `"\\.jpg$"`
  needs no doubling. Where a string is expected a bare word is accepted too.
- `#` starts a comment that runs to the end of the line (not inside a string).
- Numbers are decimal. Booleans are `1`/`0`, `yes`/`no`, `true`/`false`, `on`/`off`
  (any case).
- Durations are seconds (`90`) or parts with units `d`, `h`, `m`, `s` in that order
  (`1m30s`, `2h`, `1.5m`).
- Sizes are bytes (`65536`) or a number with `k`, `m` or `g` (1024-based: `64k`, `10m`).
- `Include "file"` may appear anywhere and reads the file in place. A relative name is
  taken from the directory of the file that includes it. A name with `*`, `?` or `[`
  is a glob: every match is included, in sorted order (no match includes nothing).
  A missing file and an include loop are errors.
- `ErrorFile` and `ErrNNN` names are also relative to the including file's directory.
  The files are read once, at start-up (so they work inside `RootJail`).
"""

_REGEX = """\
## Regular expressions

`URL`, `Path`, `CheckURL`, `Header`, `HeadRequire` and `HeadDeny` take POSIX extended
regular expressions, as Pound compiles them (`regcomp` with `REG_EXTENDED`, in the C
locale). `URL`, `Path` and `CheckURL` are case-sensitive; the header conditions are
case-insensitive and are searched in every header line written as `Name: value`. A
condition matches when the expression matches anywhere (anchor it with `^` and `$` to
match whole values). `Host "name"` is not a regular expression: the `Host` header value
must equal the name, ignoring case.

Bracket expressions follow POSIX: `]` first is literal, a backslash is literal, and the
classes {classes} are recognised (ASCII, as in the C locale). Outside brackets a
backslash makes the next punctuation character literal (`\\.`, `\\/`); the GNU escapes
`\\w \\W \\s \\S \\b \\B \\< \\>` and back-references `\\1`..`\\9` work as in glibc. An
escaped letter or digit with no POSIX meaning, such as `\\d`, is an error (glibc would
silently match the plain letter): write `[[:digit:]]`. Any invalid expression is
reported as `bad regex` at its location.

### The matching engine

Patterns are matched against what clients and backends send, so a backtracking engine
would let a crafted request hold a worker: `(a*)*b` against a long header line takes
time that doubles with each byte. standby matches every expression with RE2, whose time is
linear in the input, keeping the semantics above: bytes are characters (a URL or header
byte above 127 is one character, as in Pound), only ASCII letters fold case, `.` matches a
newline and `$` only the very end. An expression that is one fixed string (such as
`Host: www\\.example\\.com`, where a trailing `.*` changes nothing) is searched for as
that string, and RE2 is not called for a subject that lacks a fixed part of the
expression (`Host: ` in `Host: .*example.org`): both give RE2's answers.

RE2 cannot match back-references (`\\1`..`\\9`, rare in practice; also a `\\<`/`\\>` not
next to a single character, or a count above 1000): such an expression still loads, with
a warning, and is searched by a backtracking engine within a bound of
{budget:,} modelled steps per search, the steps growing with the subject's length to the
power of the expression's choice points plus two (twice with each byte when a repetition
repeats a choice, as in `(a*)*`). The warning says the longest subject the bound allows
({example_limit} bytes for `(.*)\\1x`); a longer URL or header line, or header lines
beyond what one search's bound covers, are not searched. If no searched line matched, the
condition then neither holds nor, negated (`Not`, `HeadDeny`), lets the request through:
the service is not chosen. `CheckURL` answers 501 and a health check's `Body` fails the check
the same way. docs/robustness.md gives the measured worst case ("back-reference bound")
and the time of a pathological expression on a maximum-size request.
"""

# An example for the health, resending and maintenance keywords; a test loads it.
EXAMPLE = """\
Alive 30
RetryAfter 2m
Control "/run/standby.sock"

ListenHTTP
  Address 0.0.0.0
  Port 80
  Service
    HeadRequire "Host: www.example.com"
    HealthCheck
      Method GET
      Path "/wp-json/"
      Host "www.example.com"
      Status 200-299
      Body "namespaces"
      Interval 10s
      TimeOut 3s
      Rise 2
      Fall 3
    End
    FailoverStatus 502 503 504
    ResendBody 64k
    StaleFallback
      Size 64m
      Directory "/var/cache/standby"
      MaxAge 1d
    End
    ReadOnlyEmergency
    BackEnd
      Address 192.168.0.3
      Port 80
    End
    Emergency
      Address 192.168.0.4
      Port 80
    End
  End
  Service
    URL "^/metrics$"
    Metrics
  End
End
"""

# An example for the automatic HTTPS keywords; a test loads it (with real directories).
ACME_EXAMPLE = """\
ACMEClient
  Server "https://acme-v02.api.letsencrypt.org/directory"
  Email "admin@example.com"
  Store "/var/lib/standby/acme"
End

ListenHTTP
  Address 0.0.0.0
  Port 80
  ACME "/var/lib/certbot/acme-challenge"
  Service
    Redirect 301 "https://www.example.com"
  End
End
"""

_ACME = """\
## Automatic HTTPS

`ACME "DIR"` (Pound 4) makes a plain listener answer
`/.well-known/acme-challenge/NAME` with the file NAME of DIR, ahead of its services, for an
ACME client outside standby (certbot's `--webroot`, dehydrated, lego) that writes the
challenge files there. `ACMEClient` is standby's own client (RFC 8555, HTTP-01): it keeps
its account key and the certificates in `Store`, and every `ListenHTTP` answers its
challenges from `Store/challenges` (after its own `ACME` directory, if any); an HTTPS
listener asks it for a certificate with `AutoCert`. docs/tls.md, *Automatic HTTPS*, has
the whole story (renewal, back-off, several workers, choice of library).

Example:

```
{example}```
"""

_HEALTH = """\
## Health checks, resending and maintenance

With none of the keywords below, a Pound configuration gets:

- **Passive checks.** A request that sees its backend refuse the connection takes the
  backend out at once, as in Pound. Response timeouts, resets before the response head
  and answers with a `FailoverStatus` (502, 503, 504) count too: `Fall` (3) of them in a
  row take the backend out. A backend taken out that way is probed with `HEAD /` (with
  the backend's own address as `Host`: a client's could be chosen to keep it out) and
  must answer below 500, so a server that still answers 503 stays out; one taken out
  for a refused connection gets Pound's connect probe every `Alive` seconds. Either way
  it takes traffic again only after `Rise` (2) good probes in a row (checked again one
  second apart after the first).
- **Safe resending.** A GET, HEAD or OPTIONS request whose backend failed before any
  byte of the response reached the client goes to the next backend, then the Emergency
  tier; each backend is tried once. A request with a body is resent only if the body was
  at most `ResendBody` (64k) and its method allows it. When every backend answered with
  a failover status, the client gets the last answer unchanged.
- **503 with `Retry-After`** (the `Alive` interval, or `RetryAfter`) when nothing can
  answer.

`HealthCheck` adds active HTTP checks of every backend of a service (or of one backend),
whether up or down, every `Interval`: the check sends `METHOD PATH HTTP/1.1` with
`Host` and `Connection: close`, and passes when the status is in `Status` and, if `Body`
is given, the body matches. A check that times out, cannot connect or gets a bad answer
counts towards `Fall`. A `HealthCheck` in a `BackEnd` or `Emergency` overrides the
service's keyword by keyword. The same server listed twice is checked once, with the
settings of its first appearance.

`StaleFallback` keeps the most recent cacheable answers to GET requests (RFC 9111: no
`private` or `no-store`, no `Set-Cookie`, no `Authorization` in the request) and serves
them, with an `Age` header, when no backend can answer; `robots.txt` is always kept.
`ReadOnlyEmergency` answers 503 to methods outside its list while the Emergency tier
serves. `Control` opens the control socket used by `standbyctl`, whose `drain` stops new
requests to a backend while those in flight finish.

Example:

```
{example}```
"""

# Checked by tests/config/test_backend_tls.py (with the two files made by the test).
HTTPS_EXAMPLE = """\
ListenHTTP
  Address 0.0.0.0
  Port 80
  Service
    BackEnd
      Address 10.0.0.5
      Port 443
      HTTPS
      Cert "client.pem"
      ServerName "app.internal"
      CAlist "internal-ca.pem"
      Disable TLSv1_2
    End
    Emergency
      Address 10.0.0.9
      Port 8443
      HTTPS
    End
  End
End
"""

_HTTPS_BACKENDS = """\
## HTTPS backends

`HTTPS` in a `BackEnd` or `Emergency` makes standby speak TLS to that backend; the
options come after it. Pound 2's `HTTPS "client.pem"` is the same as Pound 4's `HTTPS`
followed by `Cert "client.pem"`. As in Pound, the backend's certificate is **not
verified** by default (backends often have self-signed certificates); `CAlist` (standby's
addition) verifies it against the CAs in that file and its name against `ServerName`, or
the `Address` without one. Without `ServerName` no name is sent (SNI), as in Pound.
Unlike Pound 4, `ServerName` does not rewrite the `Host` header yet.

The TLS handshake counts within `ConnTO`: a backend that fails the handshake (a wrong
certificate with `CAlist`, a plain HTTP server, a stalled handshake) is taken out as if
it had refused the connection, and the request goes to the next backend whatever its
method, since nothing of it was sent. Keep-alive connections are pooled as for plain
backends; a new connection offers the backend's last TLS session, so most handshakes
after the first are resumed. Health probes, `HEAD /` re-probes and `HealthCheck` make
the same handshake, and pass only if it does. Client certificates and CA lists are read
at start-up (before privileges are dropped) and at each reload; `standby -c` reports a
missing, unreadable or malformed file, an encrypted key, or a key that does not match
its certificate.

Example (the regular backend is verified and gets a client certificate, TLS 1.3 only; the
emergency one is reached over TLS without verification):

```
{example}```
"""

_DIFFERENCES = """\
## Differences from Pound

- Global settings (`TimeOut`, `ConnTO`, `WSTimeOut`, `Client`) apply to every backend
  and listener that does not set its own, wherever in the file they are written (Pound
  applies them only to sections written after them).
- `Port` takes a number, not a service name. A backend `Address` starting with `/` is a
  UNIX socket and takes no `Port`.
- Any number of `Emergency` backends may be given; they share the emergency tier.
- A `Service` must have a `BackEnd`, an `Emergency` or a `Redirect`; a `ListenHTTP` must
  have a `Service` unless global services exist; a file must have a `ListenHTTP`.
- `Control` takes a socket path (Pound 4's `Control` section is not supported yet);
  `ControlMode` sets its permissions. `Metrics` makes a whole service answer with
  OpenMetrics.
- Health checks, passive checks, resending, `RetryAfter`, `StaleFallback` and
  `ReadOnlyEmergency` are standby's additions; a backend taken out by a refused
  connection needs `Rise` good probes to come back where Pound needs one.
- Keywords of Pound that standby does not implement yet are refused with
  `"Keyword" is not supported yet` rather than ignored; Lua's with `"Keyword" is not
  supported` and the reason. Keywords for machinery standby does not have (Pound's
  threads, `Supervisor`, `SSLEngine`, `WatcherTTL`...) are accepted with a warning
  that says what standby does instead.
- A directive that Pound lets you give twice in one section (`LogLevel 1` and later
  `LogLevel 3`) sets its value again: the last one wins (for a listener's `Disable`, the
  one disabling more). Pound refuses a second `CheckURL`, and so does standby; standby's
  own keywords given twice are an error.
- An `Include` glob that matches no file includes nothing (Pound refuses the file); as in
  Pound, it includes the regular files it matches, in sorted order.
"""


def arg_note(arg: Arg) -> tuple[str, ...]:
    """What an argument's name alone does not say: its words or values (alternatives), its
    range, or its kind; empty when the name says it all."""
    if arg.words:
        return tuple(arg.words)
    if arg.choices:
        return tuple(str(choice) for choice in arg.choices)
    if arg.kind is ArgKind.INT and arg.low is not None and arg.high is not None:
        return (f"{arg.low:g}..{arg.high:g}",)
    if arg.kind not in (ArgKind.STRING, ArgKind.INT) and arg.kind.value != arg.name:
        return (arg.kind.value,)
    return ()


def _arg_text(arg: Arg) -> str:
    text = f"*{arg.name}*"
    if arg.many:
        text += "..."
    note = arg_note(arg)
    if note:
        text += " (" + "\\|".join(note) + ")"
    return f"[{text}]" if arg.optional else text


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _row(keyword: Keyword) -> str:
    name = f"`{keyword.name}`"
    if keyword.aliases:
        name += " (also " + ", ".join(f"`{alias}`" for alias in keyword.aliases) + ")"
    args = " ".join(_arg_text(arg) for arg in keyword.args) or "-"
    repeat = "yes" if keyword.repeatable else "no"
    default = _cell(keyword.default) if keyword.default else "-"
    return f"| {name} | {args} | {repeat} | {default} | {_cell(keyword.help)} |"


# An example for Pound 4's Tunnel; tests/config/test_tunnel.py loads it.
TUNNEL_EXAMPLE = """\
Tunnel "postgres"
  Address 127.0.0.1
  Port 5433
  Backend
    Address 127.0.0.1
    Port 5432
    ConnTO 3
    TimeOut 300
  End
End
"""

_TUNNEL = """\
## Tunnels

`Tunnel` (Pound 4) proxies any TCP protocol: every connection accepted on the tunnel's
socket is joined to its one `Backend`, and the bytes are copied both ways unread. Reading
from one side pauses while the other side's write buffer is full (a slow reader holds back
the sender); a half-close from one side is passed on, and the connection ends once both
sides have closed theirs. A backend that refuses, or does not accept within `ConnTO`,
closes the client's connection (logged). `TimeOut` is Pound's: the tunnel closes after that
long without a byte either way (15 s by default: raise it for quiet protocols). A
`Disabled` backend closes every connection at once (Pound 4.23 crashes on it). The socket
is bound, passed to the workers and kept across reloads as a listener's; a graceful stop
waits for open tunnels up to `Grace`. No access log line is written, as in Pound.

Example:

```
{example}```
"""


@dataclass(frozen=True, slots=True)
class KeywordTable:
    """The keywords allowed in one section, in the table's order."""

    section: Section
    keywords: tuple[Keyword, ...]


# One part of the reference: prose in Markdown, or a section's keywords. docs/configuration.md
# and the standby.cfg(5) manual page (standby/mangen.py) both render this one sequence.
Block = str | KeywordTable


def section_title(section: Section) -> str:
    return "Top level" if section is Section.TOP else f"Inside `{section.value}`"


def reference_blocks() -> list[Block]:
    """The whole reference, in order."""
    blocks: list[Block] = [TITLE, _INTRO]
    for section in Section:
        keywords = tuple(keyword for keyword in KEYWORDS if section in keyword.sections)
        blocks.append(KeywordTable(section, keywords))
    classes = ", ".join(f"`[:{name}:]`" for name in POSIX_CLASSES)
    blocks.append(
        _REGEX.format(
            classes=classes,
            budget=BACKTRACK_BUDGET,
            example_limit=compile_pattern("(.*)\\1x").limit,
        )
    )
    blocks.append(_HEALTH.format(example=EXAMPLE))
    blocks.append(_ACME.format(example=ACME_EXAMPLE))
    blocks.append(_HTTPS_BACKENDS.format(example=HTTPS_EXAMPLE))
    blocks.append(_TUNNEL.format(example=TUNNEL_EXAMPLE))
    blocks.append("## Values\n")
    blocks.append(
        "`LogFacility` names: "
        + ", ".join(f"`{name}`" for name in values.SYSLOG_FACILITIES)
        + f", or `{values.STDERR_FACILITY}` for standard error.\n"
    )
    blocks.append(
        "`LogLevel` names: "
        + ", ".join(f"`{name}` ({level})" for level, name in enumerate(values.LOG_FORMAT_NAMES))
        + ".\n"
    )
    blocks.append("## Not supported yet\n")
    blocks.append(
        'These Pound keywords are recognised and refused with `"Keyword" is not supported yet`:\n'
    )
    refused = [f"`{name}`" for name in sorted(UNSUPPORTED, key=str.lower)]
    for section, names in UNSUPPORTED_IN.items():
        where = "at the top level" if section is Section.TOP else f"inside `{section.value}`"
        refused.append(f"{', '.join(f'`{name}`' for name in names)} {where}")
    blocks.append("; ".join(refused) + ".\n")
    blocks.append("## Not supported\n")
    for why in dict.fromkeys(NOT_SUPPORTED.values()):
        refused = [name for name, reason in NOT_SUPPORTED.items() if reason == why]
        blocks.append(f"{', '.join(f'`{name}`' for name in refused)}: {why}.\n")
    blocks.append(_DIFFERENCES)
    return blocks


def _markdown(block: Block) -> str:
    if isinstance(block, str):
        return block
    lines = [f"## {section_title(block.section)}\n"]
    lines.append("| Keyword | Arguments | Repeatable | Default | Meaning |")
    lines.append("|---|---|---|---|---|")
    lines.extend(_row(keyword) for keyword in block.keywords)
    lines.append("")
    return "\n".join(lines)


def render_reference() -> str:
    """The whole of ``docs/configuration.md``."""
    return "\n".join(_markdown(block) for block in reference_blocks())


def main() -> None:
    sys.stdout.write(render_reference())


if __name__ == "__main__":
    main()
