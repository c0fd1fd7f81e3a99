"""Pound's old spellings that still work but have a newer form: which directives of a
parsed file use one, and what to write instead. Pound 4 warns about the same ones at load
(`-W no-warn-deprecated` silences it there and here); the compiler logs the warnings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

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


def deprecations(root: SectionNode) -> Iterator[tuple[Location, str]]:
    """Each use of an old spelling in file order, with its message."""
    for node in root.body:
        if isinstance(node, SectionNode):
            yield from deprecations(node)
        elif isinstance(node, Directive):
            instead = INSTEAD.get(node.keyword.name)
            if instead is not None:
                yield node.location, f'"{node.keyword.name}" is an old spelling: write {instead}'
