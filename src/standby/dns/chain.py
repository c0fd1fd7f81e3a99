"""Following CNAME records to the records asked for (pure).

A name may be an alias (CNAME) of another; a recursive server normally puts the whole
chain and the final records in one answer, but may stop at an alias, in which case the
resolver asks again for the alias's target. Pound accepts one alias unless `CNAMEChain`
allows more (a CNAME whose target is again a CNAME is a chain, which RFC 1034 3.6.2
discourages).
"""

from __future__ import annotations

from dataclasses import dataclass

from standby.dns.wire import Record, RType, normalise

# A default of one alias: `CNAMEChain` 0 (Pound's default) still lets a name be an alias
# of a name that has the records, which is common and not a chain.
MIN_ALIASES = 1


@dataclass(frozen=True, slots=True)
class Followed:
    """What an answer says about ``name``: the records of the type asked for (owned by
    the end of the alias chain), the smallest TTL on the way, and the name to ask next
    when the answer stopped at an alias (None: the answer is complete)."""

    records: tuple[Record, ...]
    ttl: int | None
    next_name: str | None
    aliases: int


class ChainError(ValueError):
    """More aliases than allowed, or aliases that loop."""


def allowed_aliases(cname_chain: int) -> int:
    return max(MIN_ALIASES, cname_chain)


def follow(
    records: tuple[Record, ...], name: str, rtype: int, aliases: int, limit: int
) -> Followed:
    """Follow ``name``'s aliases in ``records``; ``aliases``: already followed in
    earlier answers, ``limit``: how many are allowed in all."""
    current = normalise(name)
    seen = {current}
    ttl: int | None = None
    by_owner: dict[str, list[Record]] = {}
    for record in records:
        by_owner.setdefault(record.name, []).append(record)
    while True:
        owned = by_owner.get(current, [])
        wanted = tuple(r for r in owned if r.rtype == rtype)
        if wanted:
            low = min(r.ttl for r in wanted)
            return Followed(wanted, low if ttl is None else min(ttl, low), None, aliases)
        alias = next((r for r in owned if r.rtype == RType.CNAME), None)
        if alias is None:
            # No records here: the end of the chain (an empty answer for it), or an
            # alias whose target the server did not include (ask for it).
            asked = normalise(name)
            return Followed((), ttl, None if current == asked else current, aliases)
        aliases += 1
        if aliases > limit:
            raise ChainError(f"{name}: more than {limit} CNAME records in a chain")
        assert isinstance(alias.data, str)
        ttl = alias.ttl if ttl is None else min(ttl, alias.ttl)
        current = alias.data
        if current in seen:
            raise ChainError(f"{name}: CNAME records loop")
        seen.add(current)
