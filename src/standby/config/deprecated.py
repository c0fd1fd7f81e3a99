"""Pound's old spellings that still work but have a newer form: which directives of a
parsed file use one, and what to write instead. Pound 4 warns about the same ones at load
(`-W no-warn-deprecated` silences it there and here); the compiler logs the warnings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from standby.config import pound_form
from standby.config.pound_form import PoundForm
from standby.config.schema import ERROR_CODES
from standby.config.tree import Directive, SectionNode
from standby.model import Location

# Keyword (canonical name; an alias such as HeaderAdd is the same keyword) -> the newer form.
INSTEAD: Final = {
    "AddHeader": '"SetHeader"',
    "HeadRemove": '"DeleteHeader"',
    "HeadRequire": '"Header"',
    "HeadDeny": '"Not Header"',
    "IgnoreCase": "the -icase flag on each pattern",
    **{f"Err{code}": f'"ErrorFile {code}"' for code in ERROR_CODES},
}
# Pound's advice where it is not `use "X" instead` (the `pound` log style).
POUND_ADVICE: Final = {
    "IgnoreCase": "use the -icase matching directive flag to request case-insensitive comparison",
}


def deprecations(root: SectionNode) -> Iterator[tuple[Location, str, PoundForm]]:
    """Each use of an old spelling in file order, with its message, and Pound's."""
    for node in root.body:
        if isinstance(node, SectionNode):
            yield from deprecations(node)
        elif isinstance(node, Directive):
            instead = INSTEAD.get(node.keyword.name)
            if instead is not None:
                name = node.keyword.name
                advice = POUND_ADVICE.get(name, f"use {instead} instead")
                pound = pound_form.token(node.location, f"warning: deprecated statement, {advice}")
                yield node.location, f'"{name}" is an old spelling: write {instead}', pound
