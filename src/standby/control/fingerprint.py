"""A fingerprint of the effective configuration, to compare the two proxies of a pair.

``fingerprint(config)`` hashes the compiled ``ConfigSpec`` (after ``Include`` and every
default), not the file's text: comments, layout, the order of equivalent spellings, and
where an included file lives do not count; any value standby acts on does. The walk is
canonical: dataclasses field by field (their names included), sets sorted, enums by name,
patterns by their source, and it refuses an object it does not know how to spell rather
than hash something like a memory address (which would differ from one run to the next).
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import re
from collections.abc import Callable, Iterator
from typing import Any

from standby.model import Location

# Fields that say where a statement was written, not what it does: source locations, the
# name of the main file, the ``-W include-dir`` that found the included ones, and which
# settings were written out (``settings_at``, for standby -c's advice: an explicit default
# is the same configuration as none).
WHERE_FIELDS = frozenset({"source", "include_dir", "settings_at"})
FINGERPRINT_BYTES = 16  # 128 bits, printed as 32 hex digits: collisions are not a concern
MAX_DEPTH = 64  # configurations nest a few levels; deeper is a cycle the walk missed


class Unspellable(TypeError):
    """An object in the configuration the canonical walk cannot write out."""


def _is_where(name: str) -> bool:
    return name in WHERE_FIELDS or name == "location" or name.endswith("_location")


def _items(obj: object, depth: int) -> Iterator[str]:
    """The canonical tokens of ``obj``."""
    if depth > MAX_DEPTH:
        raise Unspellable(f"nested deeper than {MAX_DEPTH}")
    if obj is None or isinstance(obj, bool | int | float | str | bytes):
        yield f"{type(obj).__name__}:{obj!r}"
    elif isinstance(obj, Location):
        yield "loc"
    elif isinstance(obj, enum.Enum):
        yield f"enum:{type(obj).__name__}.{obj.name}"
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        yield f"({type(obj).__name__}"
        for field in dataclasses.fields(obj):
            if not _is_where(field.name):
                yield f"{field.name}="
                yield from _items(getattr(obj, field.name), depth + 1)
        yield ")"
    elif isinstance(obj, tuple | list):
        yield "["
        for item in obj:
            yield from _items(item, depth + 1)
        yield "]"
    elif isinstance(obj, frozenset | set):
        yield "{" + ",".join(sorted(_canonical(item, depth + 1) for item in obj)) + "}"
    elif isinstance(obj, dict):
        pairs = sorted(
            _canonical(k, depth + 1) + ":" + _canonical(v, depth + 1) for k, v in obj.items()
        )
        yield "{" + ",".join(pairs) + "}"
    elif isinstance(obj, re.Pattern):
        yield f"re:{obj.flags}:{obj.pattern!r}"
    elif callable(obj) and hasattr(obj, "__qualname__"):
        yield f"fn:{getattr(obj, '__module__', '?')}.{obj.__qualname__}"
    else:
        yield from _object_items(obj, depth)


def _object_items(obj: object, depth: int) -> Iterator[str]:
    """A plain class (a compiled pattern, a user table, a watched file): its public
    attributes."""
    names: list[str] = []
    for klass in type(obj).__mro__:
        slots = klass.__dict__.get("__slots__", ())
        names.extend([slots] if isinstance(slots, str) else slots)
    names.extend(getattr(obj, "__dict__", {}))
    # A leading underscore is a cache filled on first use (a pattern's compiled capture),
    # which a fresh load and a proxy that has served would spell differently.
    names = sorted({n for n in names if not n.startswith("_")})
    if not names:
        raise Unspellable(f"cannot spell a {type(obj).__qualname__} in a fingerprint")
    yield f"<{type(obj).__qualname__}"
    for name in names:
        if not _is_where(name) and hasattr(obj, name):
            yield f"{name}="
            yield from _items(getattr(obj, name), depth + 1)
    yield ">"


def _canonical(obj: object, depth: int) -> str:
    return "".join(_items(obj, depth))


def canonical_text(config: Any) -> str:
    """The configuration's canonical spelling (what the fingerprint hashes)."""
    return _canonical(config, 0)


def fingerprint(config: Any, digest: Callable[[bytes], Any] = hashlib.sha256) -> str:
    """The hex fingerprint of a compiled configuration."""
    hashed = digest(canonical_text(config).encode("utf-8", "surrogateescape"))
    return str(hashed.hexdigest()[: FINGERPRINT_BYTES * 2])
