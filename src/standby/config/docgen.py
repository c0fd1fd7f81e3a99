"""Generate ``docs/configuration.md`` from the keyword schema.

Regenerate with ``python -m standby.config.docgen > docs/configuration.md``; a test
fails when the committed file and the table disagree.
"""

from __future__ import annotations

import sys

from standby.config import values
from standby.config.posix_regex import POSIX_CLASSES
from standby.config.schema import (
    KEYWORDS,
    UNSUPPORTED,
    UNSUPPORTED_IN,
    Arg,
    ArgKind,
    Keyword,
    Section,
)

_INTRO = """\
# standby configuration reference

standby reads Pound's configuration language (`pound.cfg`). This reference is generated
from the keyword table in `src/standby/config/schema.py` by
`python -m standby.config.docgen`; do not edit it by hand.

Check a file without starting anything with `standby -c -f FILE`: it prints nothing and
exits 0 when the file is valid, or prints `FILE:LINE.COL: message` and exits 1.

## Lexical structure

- One directive per line: a keyword, then its arguments separated by blanks. Keywords
  are case-insensitive (`BackEnd`, `backend` and `BACKEND` are the same).
- Sections (`ListenHTTP`, `Service`, `BackEnd`, `Emergency`) run up to a line holding
  `End`.
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
- Keywords of Pound that standby does not implement yet are refused with
  `"Keyword" is not supported yet` rather than ignored.
"""


def _arg_text(arg: Arg) -> str:
    text = f"*{arg.name}*"
    if arg.choices:
        text += " (" + "\\|".join(str(choice) for choice in arg.choices) + ")"
    elif arg.kind is ArgKind.INT and arg.low is not None and arg.high is not None:
        text += f" ({arg.low:g}..{arg.high:g})"
    elif arg.kind not in (ArgKind.STRING, ArgKind.INT) and arg.kind.value != arg.name:
        text += f" ({arg.kind.value})"
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


def render_reference() -> str:
    """The whole of ``docs/configuration.md``."""
    parts = [_INTRO]
    for section in Section:
        title = "Top level" if section is Section.TOP else f"Inside `{section.value}`"
        parts.append(f"## {title}\n")
        parts.append("| Keyword | Arguments | Repeatable | Default | Meaning |")
        parts.append("|---|---|---|---|---|")
        parts.extend(_row(keyword) for keyword in KEYWORDS if section in keyword.sections)
        parts.append("")
    classes = ", ".join(f"`[:{name}:]`" for name in POSIX_CLASSES)
    parts.append(_REGEX.format(classes=classes))
    parts.append("## Values\n")
    parts.append(
        "`LogFacility` names: "
        + ", ".join(f"`{name}`" for name in values.SYSLOG_FACILITIES)
        + f", or `{values.STDERR_FACILITY}` for standard error.\n"
    )
    parts.append(
        "`LogLevel` names: "
        + ", ".join(f"`{name}` ({level})" for level, name in enumerate(values.LOG_FORMAT_NAMES))
        + ".\n"
    )
    parts.append("## Not supported yet\n")
    parts.append(
        'These Pound keywords are recognised and refused with `"Keyword" is not supported yet`:\n'
    )
    parts.append(", ".join(f"`{name}`" for name in sorted(UNSUPPORTED, key=str.lower)) + ".\n")
    for section, names in UNSUPPORTED_IN.items():
        where = "at the top level" if section is Section.TOP else f"inside `{section.value}`"
        parts.append(f"Also {', '.join(f'`{name}`' for name in names)} {where}.\n")
    parts.append(_DIFFERENCES)
    return "\n".join(parts)


def main() -> None:
    sys.stdout.write(render_reference())


if __name__ == "__main__":
    main()
