"""The manual pages standby(8), standbyctl(8) and standby.cfg(5), in roff.

Nothing in them is written twice: standby.cfg(5) renders the blocks docs/configuration.md
is made of (``docgen.reference_blocks``: the keyword table of config/schema.py and the
reference's prose), and the two command pages render the argparse parsers the programs
use (``cli.build_parser``, ``ctl.build_parser``), so an option cannot be added to one
and missed in the other. ``make deb`` writes them with
``python -m standby.mangen DIR`` (SOURCE_DATE_EPOCH, if set, dates them).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from standby import __version__, cli
from standby.config.docgen import TITLE, KeywordTable, arg_note, reference_blocks
from standby.config.schema import Arg, Keyword, Section
from standby.control import ctl

MANUAL = {8: "System Administration", 5: "File Formats"}
SHIPPED_CONFIG = "/etc/standby/standby.cfg"  # the Debian package's file (contrib/debian)
DOCS = "/usr/share/doc/standby"
_BULLET_INDENT = 2  # columns of an .IP item's text after its bullet
_EMPHASIS = re.compile(r"\*\*(.+?)\*\*|\*([^*\s][^*]*?)\*")

# -- roff text -------------------------------------------------------------------------------


def escape(text: str) -> str:
    """Plain text for roff: a backslash is ``\\e``; a line cannot start a request."""
    text = text.replace("\\", "\\e")
    return "\\&" + text if text.startswith((".", "'")) else text


def code(text: str) -> str:
    """Literal text (a keyword, an option, a value), in bold; its dashes are minus signs,
    so that it can be searched for and copied."""
    return "\\fB" + text.replace("\\", "\\e").replace("-", "\\-") + "\\fR"


def inline(markdown: str) -> str:
    """One line of the reference's Markdown: `code`, **bold** and *emphasis*."""
    parts = markdown.split("`")
    out = []
    for index, part in enumerate(parts):
        if index % 2:
            out.append(code(part))
        else:
            text = part.replace("\\", "\\e").replace("\\e|", "|")  # a table's escaped bar
            out.append(_EMPHASIS.sub(_emphasis, text))
    line = "".join(out)
    return "\\&" + line if line.startswith((".", "'")) else line


def _emphasis(match: re.Match[str]) -> str:
    bold, italic = match.groups()
    return f"\\fB{bold}\\fR" if bold is not None else f"\\fI{italic}\\fR"


def prose(markdown: str) -> Iterator[str]:
    """The Markdown of the reference's prose as roff lines: headings, paragraphs, bullet
    lists and fenced examples (what docgen's prose uses, nothing more)."""
    paragraph: list[str] = []
    bullet = False
    fenced = False

    def flush() -> Iterator[str]:
        if paragraph:
            yield f".IP \\(bu {_BULLET_INDENT}" if bullet else ".PP"
            yield inline(" ".join(paragraph))
            paragraph.clear()

    for line in markdown.splitlines():
        if fenced:
            if line.startswith("```"):
                fenced = False
                yield from (".fi", ".RE")
            else:
                yield escape(line)
        elif line.startswith("```"):
            yield from flush()
            fenced = True
            yield from (".PP", ".RS 4", ".nf")
        elif line.startswith("# "):
            yield from flush()  # the document's title: the page's NAME says it
        elif line.startswith(("## ", "### ")):
            yield from flush()
            level, _, title = line.partition(" ")
            if level == "##":
                yield f'.SH "{inline(title.upper())}"'
            else:
                yield f'.SS "{inline(title)}"'
            bullet = False
        elif not line.strip():
            yield from flush()
            bullet = False
        elif line.startswith("- "):
            yield from flush()
            bullet = True
            paragraph.append(line[2:])
        else:
            paragraph.append(line.strip())
    yield from flush()


def page_header(name: str, section: int, date: str) -> list[str]:
    return [
        f'.TH {name.upper()} {section} "{date}" "standby {__version__}" "{MANUAL[section]}"',
    ]


# -- standby.cfg(5) --------------------------------------------------------------------------


def _argument(arg: Arg) -> str:
    text = f"\\fI{escape(arg.name)}\\fR" + ("..." if arg.many else "")
    note = arg_note(arg)
    if note:
        text += " (" + "|\\:".join(escape(item) for item in note) + ")"
    return f"[{text}]" if arg.optional else text


def _keyword(keyword: Keyword) -> Iterator[str]:
    head = code(keyword.name)
    if keyword.aliases:
        head += " (also " + ", ".join(code(alias) for alias in keyword.aliases) + ")"
    yield ".TP"
    yield " ".join([head, *(_argument(arg) for arg in keyword.args)])
    details = []
    if keyword.default:
        details.append(f"Default: {keyword.default}.")
    if keyword.repeatable:
        details.append("May be repeated.")
    yield inline(" ".join([keyword.help, *details]))


def _table(table: KeywordTable) -> Iterator[str]:
    # Section names keep their spelling: "INSIDE ListenHTTP", not "INSIDE LISTENHTTP".
    title = "TOP LEVEL" if table.section is Section.TOP else f"INSIDE {table.section.value}"
    yield f'.SH "{title}"'
    for keyword in table.keywords:
        yield from _keyword(keyword)


def config_page(date: str) -> str:
    lines = page_header("standby.cfg", 5, date)
    lines += [
        ".SH NAME",
        "standby.cfg \\- configuration file of the standby reverse proxy",
        ".SH SYNOPSIS",
        escape(SHIPPED_CONFIG),
        ".SH DESCRIPTION",
        ".PP",
        f"The file {code('standby')} reads at start and on each reload (Pound's "
        f"language: an existing {code('pound.cfg')} works). {code('standby -c -f FILE')} "
        "checks a file without starting anything. This page is generated from the same "
        "table as the reference in",
        escape(f"{DOCS}/configuration.md."),
    ]
    for block in reference_blocks():
        if block == TITLE:
            continue  # this page has its own
        lines += prose(block) if isinstance(block, str) else _table(block)
    lines += _see_also("standby(8)", "standbyctl(8)")
    return "\n".join(lines) + "\n"


# -- standby(8) and standbyctl(8) ------------------------------------------------------------


def _metavar(action: argparse.Action) -> str:
    if isinstance(action.metavar, str):
        return action.metavar
    if action.choices is not None:
        return "|".join(str(choice) for choice in action.choices)
    return str(action.dest).upper()


def _takes_value(action: argparse.Action) -> bool:
    return action.nargs != 0


def _visible(actions: Iterable[argparse.Action]) -> Iterator[argparse.Action]:
    return (action for action in actions if action.help != argparse.SUPPRESS)


def _option_head(action: argparse.Action) -> str:
    value = f" \\fI{escape(_metavar(action))}\\fR" if _takes_value(action) else ""
    return ", ".join(code(option) + value for option in action.option_strings)


def _help(action: argparse.Action) -> str:
    text = action.help or ""
    return inline(text[:1].upper() + text[1:] + ("" if text.endswith(".") else "."))


def options(parser: argparse.ArgumentParser) -> Iterator[str]:
    """Every option the parser shows in its --help, as a tagged paragraph."""
    for action in _visible(parser._actions):
        if action.option_strings:
            yield from (".TP", _option_head(action), _help(action))


def _usage(parser: argparse.ArgumentParser) -> str:
    words = []
    for action in _visible(parser._actions):
        if isinstance(action, argparse._SubParsersAction):
            words.append("[\\fICOMMAND\\fR [\\fIARGS\\fR]]")
        else:
            words.append(_usage_word(action))
    return " ".join(words)


def commands(parser: argparse.ArgumentParser) -> Iterator[str]:
    """Each subcommand: its names, its arguments, what it does, its own options."""
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        for choice in action._choices_actions:
            sub = action.choices[choice.dest]
            names = [choice.dest]
            names += [name for name, other in action.choices.items() if other is sub]
            head = "|".join(code(name) for name in dict.fromkeys(names))
            arguments = " ".join(
                _usage_word(each) for each in _visible(sub._actions) if each.dest != "help"
            )
            yield ".TP"
            yield f"{head} {arguments}".rstrip()
            yield _help(choice)
            own = [each for each in _visible(sub._actions) if each.option_strings]
            own = [each for each in own if each.dest != "help"]
            if own:
                yield ".RS"
                for each in own:
                    yield from (".TP", _option_head(each), _help(each))
                yield ".RE"


def _usage_word(action: argparse.Action) -> str:
    if action.option_strings:
        value = f" \\fI{escape(_metavar(action))}\\fR" if _takes_value(action) else ""
        return f"[{code(action.option_strings[0])}{value}]"
    word = f"\\fI{escape(_metavar(action))}\\fR"
    return f"[{word}]" if action.nargs == "?" else word


def _see_also(*pages: str) -> list[str]:
    return [
        ".SH SEE ALSO",
        ", ".join(f"\\fB{page.split('(')[0]}\\fR({page.split('(')[1]}" for page in pages) + ".",
        ".PP",
        escape(f"The guides in {DOCS}/: operations.md (running it), configuration.md."),
    ]


def _command_page(name: str, summary: str, parser: argparse.ArgumentParser, date: str) -> list[str]:
    """A command's header, NAME and SYNOPSIS, and DESCRIPTION's first paragraph."""
    return [
        *page_header(name, 8, date),
        ".SH NAME",
        f"{name} \\- {summary}",
        ".SH SYNOPSIS",
        f"{code(name)} {_usage(parser)}",
        ".SH DESCRIPTION",
        ".PP",
        inline(parser.description or ""),
    ]


def standby_page(date: str) -> str:
    parser = cli.build_parser()
    summary = "Pound-compatible HTTP reverse proxy and failover front end"
    lines = _command_page("standby", summary, parser, date)
    lines += [
        ".PP",
        f"It reads the configuration file (see {code('standby.cfg')}(5)), binds its "
        "listeners, drops privileges and serves. A bad option or configuration prints one "
        "line on standard error and exits with status 1.",
        ".SH OPTIONS",
        *options(parser),
        ".SH SIGNALS",
        ".TP",
        "SIGHUP",
        "Reload the configuration; a file with errors leaves the old one serving.",
        ".TP",
        "SIGTERM, SIGINT",
        "Stop accepting, let the requests in flight finish (Grace), exit.",
        ".TP",
        "SIGQUIT",
        "Exit at once.",
        ".PP",
        escape(f"Every signal and what it does: {DOCS}/operations.md."),
        ".SH FILES",
        ".TP",
        escape(SHIPPED_CONFIG),
        f"The configuration the Debian package installs (run with {code('-f')}).",
        ".TP",
        escape(cli.DEFAULT_CONFIG),
        f"The configuration read without {code('-f')}, where Pound keeps its own.",
        *_see_also("standbyctl(8)", "standby.cfg(5)", "pound(8)"),
    ]
    return "\n".join(lines) + "\n"


def standbyctl_page(date: str) -> str:
    parser = ctl.build_parser()
    summary = "control a running standby through its control socket"
    lines = _command_page("standbyctl", summary, parser, date)
    lines += [
        f"The socket is the {code('Control')} path of the configuration file, or the one "
        f"given with {code('-s')}. Objects are written {code('/L/S/B')}: listener, "
        "service and backend, by their number in configuration order or by name. "
        "Exit status 0 on success, 1 on any error with one line on standard error.",
        ".SH OPTIONS",
        *options(parser),
        ".SH COMMANDS",
        *commands(parser),
        *_see_also("standby(8)", "standby.cfg(5)", "poundctl(8)"),
    ]
    return "\n".join(lines) + "\n"


PAGES = {
    "standby.8": standby_page,
    "standbyctl.8": standbyctl_page,
    "standby.cfg.5": config_page,
}


def page_date() -> str:
    """SOURCE_DATE_EPOCH's day (reproducible builds), or today's."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    return time.strftime("%Y-%m-%d", time.gmtime(int(epoch) if epoch else None))


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        print("usage: python -m standby.mangen DIRECTORY", file=sys.stderr)
        return 1
    directory = Path(args[0])
    directory.mkdir(parents=True, exist_ok=True)
    date = page_date()
    for name, render in PAGES.items():
        (directory / name).write_text(render(date))
    return 0


if __name__ == "__main__":
    sys.exit(main())
