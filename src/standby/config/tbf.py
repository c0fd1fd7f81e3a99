"""``TBF key rate burst`` (Pound 4's token bucket filter condition) to a ConditionSpec:
the rate as Pound writes it, the burst's bounds, errors at ``FILE:LINE.COL``."""

from __future__ import annotations

import re

from standby.config import constants
from standby.config.errors import ConfigError, quote
from standby.config.tree import Directive
from standby.model import ConditionKind, ConditionSpec, TbfSpec

_NS_PER_SECOND = 1_000_000_000
# Pound's rate units: a bare number is per second.
_UNITS = {"": _NS_PER_SECOND, "s": _NS_PER_SECOND, "ms": 1_000_000, "us": 1_000}
_RATE = re.compile(r"([0-9]+)(?:/([0-9]*)(s|ms|us)?)?", re.ASCII)
# A rate beyond this many tokens a second is a typo: it could not limit anything, and
# the interval between tokens would round to nothing.
MAX_RATE_PER_SECOND = 1_000_000_000
# More digits than this in a rate is a typo too (and bounds the integers made of it).
_MAX_DIGITS = 12


def parse_rate(text: str) -> tuple[int, int]:
    """Pound's TBF rate as (tokens, period in ns): ``N`` per second, or ``N/M`` with unit
    ``s`` (the default), ``ms`` or ``us``: ``1/2s`` is one per two seconds, ``200/500ms``
    200 per half second. Raises ValueError."""
    match = _RATE.fullmatch(text)
    if match is None or len(text) > 2 * _MAX_DIGITS + 3:
        raise ValueError(f"bad rate {text!r}")
    tokens = int(match.group(1))
    period = int(match.group(2) or "1") * _UNITS[match.group(3) or ""]
    if tokens == 0 or period == 0:
        raise ValueError(f"rate {text!r} is zero")
    if tokens * _NS_PER_SECOND > MAX_RATE_PER_SECOND * period:
        raise ValueError(f"rate {text!r} is more than {MAX_RATE_PER_SECOND} a second")
    return tokens, period


def compile_tbf(node: Directive, known: dict[str, bytes] | None = None) -> ConditionSpec:
    """The condition of a ``TBF`` directive (values: key, rate, burst); ``known``: the
    constants its key may name (`%[const NAME]`)."""
    key, rate, burst = node.values
    assert isinstance(key, str) and isinstance(rate, str) and isinstance(burst, int)
    key = constants.resolve(key, known or {}, node.arg_locations[0])
    try:
        tokens, period = parse_rate(rate)
    except ValueError:
        raise ConfigError(
            node.arg_locations[1],
            f'bad rate {quote(rate)} for "TBF" (use requests a second, or N/M[s|ms|us] '
            "such as 1/2s or 200/500ms)",
        ) from None
    spec = TbfSpec(key, tokens, period, burst, node.location)
    return ConditionSpec(
        ConditionKind.TBF,
        " ".join(node.texts),
        None,
        node.negate,
        node.location,
        argument=key,
        tbf=spec,
    )
