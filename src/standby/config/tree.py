"""The syntax tree the parser builds: directives and sections, each with its location.

Argument values are already converted by the schema's argument kinds; regular
expressions are already translated and compiled.
"""

from __future__ import annotations

from dataclasses import dataclass

from standby.config import pound_form
from standby.config.pattern import CompiledPattern
from standby.config.pound_form import PoundForm
from standby.config.schema import Keyword
from standby.model import Location

StatusRanges = tuple[tuple[int, int], ...]  # ArgKind.STATUSES: inclusive ranges
Words = tuple[str, ...]  # ArgKind.METHODS
# None: an omitted optional argument.
Value = str | int | float | bool | CompiledPattern | StatusRanges | Words | None


@dataclass(frozen=True, slots=True)
class Directive:
    keyword: Keyword
    values: tuple[Value, ...]  # one per schema argument
    texts: tuple[str, ...]  # the arguments as written ("" when omitted)
    arg_locations: tuple[Location, ...]  # the keyword's location when omitted
    location: Location
    negate: bool = False  # written after Not


@dataclass(frozen=True, slots=True)
class SectionNode:
    keyword: Keyword | None  # None for the top level
    values: tuple[Value, ...]
    location: Location
    body: tuple[Directive | SectionNode, ...]
    negate: bool = False  # a block condition (Match, ACL) written after Not
    # Where each token of the opening line starts, and its `End` (for Pound's ranges,
    # config/pound_form.py); empty and None for the top level.
    opener: tuple[Location, ...] = ()
    end: Location | None = None

    def pound_form(self, text: str) -> PoundForm:
        """``text`` placed as Pound places a diagnostic about this section: through its
        `End`, from after the keyword for a Service (its name, else the keyword's last
        character), from the keyword for a backend."""
        after_keyword = self.keyword is not None and self.keyword.name == "Service"
        return pound_form.section(self.opener, self.end, text, after_keyword=after_keyword)

    def directives(self) -> tuple[Directive, ...]:
        return tuple(node for node in self.body if isinstance(node, Directive))

    def first(self, name: str) -> Directive | None:
        """The first directive of keyword ``name`` in this section (not in subsections)."""
        for node in self.body:
            if isinstance(node, Directive) and node.keyword.name == name:
                return node
        return None

    def sections(self) -> tuple[SectionNode, ...]:
        return tuple(node for node in self.body if isinstance(node, SectionNode))
