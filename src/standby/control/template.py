"""poundctl's output templates (``poundctl -t FILE [-T NAME]``): the Go-like template
language Pound 4 documents, enough of it for the listings scripts write.

Text with actions in ``{{ }}`` (``{{-`` and ``-}}`` trim the whitespace on that side;
``{{/* ... */}}`` is a comment). Actions: a pipeline (printed), ``if``/``else if``/``else``,
``range [$i,$v =] PIPE`` (the dot is each item only without variables, as in Pound),
``with PIPE``, ``define "NAME"``, ``block "NAME" PIPE``,
``template "NAME" [PIPE]``, each up to ``end`` (as in Pound, a ``block`` whose name is
already defined is a call and has no ``end``). A pipeline is commands joined by ``|`` (the
value on the left is the last argument of the command on the right); an argument is ``.``,
``.field.sub``, ``$var[.field]``, a string, a number, ``true``/``false``/``null``/``nil``.
Functions: ``printf`` (C formats), ``eq ne lt le gt ge``, ``and or not``, ``len``,
``exists OBJ KEY``, ``add sub mul div fdiv mod``, ``index OBJ KEY``.

Pure: ``parse`` and ``execute`` take and return text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

DEFAULT_TEMPLATE = "default"  # what poundctl runs without -T
MAX_DEPTH = 100  # nested template calls: a template that calls itself forever stops here


class TemplateError(Exception):
    """A template that does not parse or cannot run: ``FILE:LINE: message``."""


# -- reading ------------------------------------------------------------------------------

_ACTION = re.compile(r"\{\{(-\s*)?(.*?)(\s*-)?\}\}", re.S)
_TOKEN = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<op>:=|[|,=()])|(?P<word>[^\s|,=()"]+))')


@dataclass(slots=True)
class _Action:
    words: list[str]  # tokens; strings keep their quotes
    line: int


Node = Any  # Text (str), _Print, _If, _Range, _With, _Call


@dataclass(slots=True)
class _Print:
    pipe: list[list[str]]


@dataclass(slots=True)
class _If:
    branches: list[tuple[list[list[str]], list[Node]]]
    otherwise: list[Node] = field(default_factory=list)


@dataclass(slots=True)
class _Range:
    names: list[str]
    pipe: list[list[str]]
    body: list[Node]
    otherwise: list[Node] = field(default_factory=list)


@dataclass(slots=True)
class _With:
    pipe: list[list[str]]
    body: list[Node]
    otherwise: list[Node] = field(default_factory=list)


@dataclass(slots=True)
class _Call:
    name: str
    pipe: list[list[str]] | None


def _tokens(text: str, where: str) -> list[str]:
    out: list[str] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise TemplateError(f"{where}: cannot read {text[pos:]!r}")
        out.append(match.group(match.lastgroup or "word"))
        pos = match.end()
    return out


def _segments(source: str, name: str) -> list[str | _Action]:
    """Text and actions, trim markers applied, comments dropped."""
    out: list[str | _Action] = []
    pos = 0
    for match in _ACTION.finditer(source):
        text = source[pos : match.start()]
        if match.group(1) is not None:
            text = text.rstrip()
        if text:
            out.append(text)
        body = match.group(2).strip()
        line = source.count("\n", 0, match.start()) + 1
        if not (body.startswith("/*") and body.endswith("*/")):
            out.append(_Action(_tokens(body, f"{name}:{line}"), line))
        pos = match.end()
        if match.group(3) is not None:
            while pos < len(source) and source[pos].isspace():
                pos += 1
    if source[pos:]:
        out.append(source[pos:])
    return out


def _pipe(words: list[str], where: str) -> list[list[str]]:
    commands: list[list[str]] = [[]]
    for word in words:
        if word == "|":
            commands.append([])
        else:
            commands[-1].append(word)
    if any(not command for command in commands):
        raise TemplateError(f"{where}: empty command in pipeline")
    return commands


def _name(word: str, where: str) -> str:
    if len(word) < 2 or not word.startswith('"') or not word.endswith('"'):
        raise TemplateError(f"{where}: expected a quoted template name, not {word!r}")
    return _unquote(word)


def _unquote(word: str) -> str:
    return re.sub(
        r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), word[1:-1]
    )


class _Parser:
    def __init__(self, source: str, name: str, templates: dict[str, list[Node]]) -> None:
        self.items = _segments(source, name)
        self.pos = 0
        self.name = name
        self.templates = templates

    def where(self, action: _Action) -> str:
        return f"{self.name}:{action.line}"

    def body(self, stops: tuple[str, ...]) -> tuple[list[Node], _Action | None]:
        """Nodes up to an action whose first word is in ``stops`` (returned, consumed)."""
        nodes: list[Node] = []
        while self.pos < len(self.items):
            item = self.items[self.pos]
            self.pos += 1
            if isinstance(item, str):
                nodes.append(item)
                continue
            words = item.words
            if not words:
                raise TemplateError(f"{self.where(item)}: empty action")
            head = words[0]
            if head in stops:
                return nodes, item
            if head in ("end", "else"):
                raise TemplateError(f"{self.where(item)}: unexpected {head!r}")
            nodes.extend(self.control(item))
        if stops:
            raise TemplateError(f"{self.name}: missing {{{{end}}}}")
        return nodes, None

    def control(self, action: _Action) -> list[Node]:
        words, where = action.words, self.where(action)
        head = words[0]
        if head == "if":
            return [self.if_(words[1:], where)]
        if head in ("range", "with"):
            return [self.loop(head, words[1:], where)]
        if head == "define":
            body, _ = self.body(("end",))
            self.templates[_name(words[1] if len(words) > 1 else "", where)] = body
            return []
        if head == "block":
            if len(words) < 3:
                raise TemplateError(f"{where}: block needs a name and a pipeline")
            name = _name(words[1], where)
            # Pound's dialect: a block whose name is already defined is a call, without a
            # body or an end of its own; the first one defines it.
            if name not in self.templates:
                self.templates[name], _ = self.body(("end",))
            return [_Call(name, _pipe(words[2:], where))]
        if head == "template":
            if len(words) < 2:
                raise TemplateError(f"{where}: template needs a name")
            pipe = _pipe(words[2:], where) if len(words) > 2 else None
            return [_Call(_name(words[1], where), pipe)]
        return [_Print(_pipe(words, where))]

    def if_(self, words: list[str], where: str) -> _If:
        node = _If([])
        while True:
            body, stop = self.body(("end", "else"))
            node.branches.append((_pipe(words, where), body))
            assert stop is not None
            if stop.words[0] == "end":
                return node
            if stop.words[1:2] == ["if"]:
                words = stop.words[2:]
                continue
            node.otherwise, _ = self.body(("end",))
            return node

    def loop(self, head: str, words: list[str], where: str) -> _Range | _With:
        names: list[str] = []
        if head == "range" and ("=" in words or ":=" in words):
            cut = words.index("=") if "=" in words else words.index(":=")
            names = [w for w in words[:cut] if w != ","]
            words = words[cut + 1 :]
        body, stop = self.body(("end", "else"))
        otherwise: list[Node] = []
        assert stop is not None
        if stop.words[0] == "else":
            otherwise, _ = self.body(("end",))
        if head == "range":
            return _Range(names, _pipe(words, where), body, otherwise)
        return _With(_pipe(words, where), body, otherwise)


def parse(source: str, name: str = "template") -> dict[str, list[Node]]:
    """The named templates of ``source``; the text outside any ``define`` is ``name``."""
    templates: dict[str, list[Node]] = {}
    parser = _Parser(source, name, templates)
    top, _ = parser.body(())
    templates.setdefault(name, top)
    return templates


# -- running ------------------------------------------------------------------------------


def truth(value: Any) -> bool:
    """Go's: false, 0, null and empty strings, lists and objects are false."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str | list | dict):
        return len(value) > 0
    return True


def show(value: Any) -> str:
    if value is None:  # a null or missing field prints nothing, as in Pound
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _printf(fmt: Any, *args: Any) -> str:
    try:
        return str(fmt) % tuple(args)
    except (TypeError, ValueError) as exc:
        raise TemplateError(f"printf {fmt!r}: {exc}") from None


def _compare(op: Callable[[Any, Any], bool]) -> Callable[..., bool]:
    def compare(a: Any, b: Any) -> bool:
        try:
            return op(a, b)
        except TypeError:
            raise TemplateError(f"cannot compare {a!r} and {b!r}") from None

    return compare


def _len(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, str | list | dict):
        return len(value)
    raise TemplateError(f"len of {show(value)!r}")


def _index(obj: Any, key: Any) -> Any:
    try:
        return obj[key]
    except (KeyError, IndexError, TypeError):
        return None


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TemplateError(f"not a number: {show(value)!r}")
    return value


def _div(a: Any, b: Any, whole: bool) -> Any:
    if _number(b) == 0:
        raise TemplateError("division by zero")
    return int(_number(a) // b) if whole else _number(a) / b


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "printf": _printf,
    "eq": _compare(lambda a, b: a == b),
    "ne": _compare(lambda a, b: a != b),
    "lt": _compare(lambda a, b: a < b),
    "le": _compare(lambda a, b: a <= b),
    "gt": _compare(lambda a, b: a > b),
    "ge": _compare(lambda a, b: a >= b),
    "and": lambda *a: next((v for v in a if not truth(v)), a[-1] if a else True),
    "or": lambda *a: next((v for v in a if truth(v)), a[-1] if a else False),
    "not": lambda a: not truth(a),
    "len": _len,
    "exists": lambda obj, key: isinstance(obj, dict) and key in obj,
    "index": _index,
    "add": lambda a, b: _number(a) + _number(b),
    "sub": lambda a, b: _number(a) - _number(b),
    "mul": lambda a, b: _number(a) * _number(b),
    "div": lambda a, b: _div(a, b, True),
    "fdiv": lambda a, b: _div(a, b, False),
    "mod": lambda a, b: int(_number(a)) % int(_number(b)),
}
_CONSTANTS: dict[str, Any] = {"true": True, "false": False, "null": None, "nil": None}
_NUMBER = re.compile(r"[-+]?\d+(\.\d*)?([eE][-+]?\d+)?")


def _field(value: Any, path: str) -> Any:
    for part in path.split("."):
        if not part:
            continue
        value = value.get(part) if isinstance(value, dict) else None
    return value


@dataclass(slots=True)
class _Run:
    templates: dict[str, list[Node]]
    out: list[str] = field(default_factory=list)
    depth: int = 0

    def arg(self, word: str, dot: Any, scope: dict[str, Any]) -> Any:
        if word.startswith('"'):
            return _unquote(word)
        if word.startswith("."):
            return _field(dot, word)
        if word.startswith("$"):
            name, _, path = word.partition(".")
            if name not in scope:
                raise TemplateError(f"undefined variable {name}")
            return _field(scope[name], path)
        if word in _CONSTANTS:
            return _CONSTANTS[word]
        if _NUMBER.fullmatch(word):
            return float(word) if any(c in word for c in ".eE") else int(word)
        raise TemplateError(f"unknown value {word!r}")

    def pipe(self, commands: list[list[str]], dot: Any, scope: dict[str, Any]) -> Any:
        value: Any = None
        for number, command in enumerate(commands):
            head, rest = command[0], command[1:]
            args = [self.arg(word, dot, scope) for word in rest]
            if number:
                args.append(value)
            if head in FUNCTIONS:
                value = FUNCTIONS[head](*args)
            elif args:
                raise TemplateError(f"{head!r} is not a function")
            else:
                value = self.arg(head, dot, scope)
        return value

    def nodes(self, nodes: list[Node], dot: Any, scope: dict[str, Any]) -> None:
        for node in nodes:
            if isinstance(node, str):
                self.out.append(node)
            elif isinstance(node, _Print):
                self.out.append(show(self.pipe(node.pipe, dot, scope)))
            elif isinstance(node, _If):
                for pipe, body in node.branches:
                    if truth(self.pipe(pipe, dot, scope)):
                        self.nodes(body, dot, scope)
                        break
                else:
                    self.nodes(node.otherwise, dot, scope)
            elif isinstance(node, _With):
                value = self.pipe(node.pipe, dot, scope)
                if truth(value):
                    self.nodes(node.body, value, scope)
                else:
                    self.nodes(node.otherwise, dot, scope)
            elif isinstance(node, _Range):
                self.range(node, dot, scope)
            else:
                assert isinstance(node, _Call)
                value = None if node.pipe is None else self.pipe(node.pipe, dot, scope)
                self.call(node.name, value)

    def range(self, node: _Range, dot: Any, scope: dict[str, Any]) -> None:
        value = self.pipe(node.pipe, dot, scope)
        items: Iterator[tuple[Any, Any]]
        if isinstance(value, dict):
            items = iter(sorted(value.items()))
        elif isinstance(value, list):
            items = iter(enumerate(value))
        elif value is None:
            items = iter(())
        else:
            raise TemplateError(f"range over {show(value)!r}")
        ran = False
        for key, item in items:
            ran = True
            inner = dict(scope)
            if len(node.names) == 1:
                inner[node.names[0]] = item
            elif len(node.names) >= 2:
                inner[node.names[0]], inner[node.names[1]] = key, item
            # Pound's dialect: with variables the dot stays; without, it is the item.
            self.nodes(node.body, dot if node.names else item, inner)
        if not ran:
            self.nodes(node.otherwise, dot, scope)

    def call(self, name: str, dot: Any) -> None:
        body = self.templates.get(name)
        if body is None:
            raise TemplateError(f"no template {name!r}")
        if self.depth >= MAX_DEPTH:
            raise TemplateError(f"templates nested deeper than {MAX_DEPTH}")
        self.depth += 1
        self.nodes(body, dot, {"$": dot})
        self.depth -= 1


def execute(templates: dict[str, list[Node]], name: str, dot: Any) -> str:
    """The text of template ``name`` run on ``dot``."""
    run = _Run(templates)
    run.call(name, dot)
    return "".join(run.out)
