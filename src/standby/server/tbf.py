"""Pound 4's token bucket filter (the ``TBF key rate burst`` condition), pure: the time is
passed in and the buckets live in a buffer the caller provides (a ``bytearray`` in one
process; a shared mapping every worker sees, see server/ratelimit.py).

A bucket per key holds at most ``burst`` tokens and gains one every interval, on a fixed
beat; a request takes one token and is admitted, or finds none and is not. A key never
seen (or idle long enough to be full again) starts with a full bucket, so a client gets
``burst`` requests at once and then the rate.

The buffer is a table of ``SLOTS`` fixed-size slots (a 64-bit hash of the key, the time of
its last token, its tokens), searched from the key's hash over ``PROBE`` slots. A key that
finds neither its slot nor a free one takes the one of those whose beat is oldest: keys
are request data (``$1``, an address), and a flood of distinct keys must not grow memory;
an evicted key starts full when it comes back.
"""

from __future__ import annotations

import hashlib
import struct

from standby.model import TbfSpec

# Slots per TBF statement: a 24-byte slot each, 384 KiB, kept for a statement's life.
SLOTS = 16384
# Slots searched for a key (from its hash): enough to place a key at any sane fill, few
# enough that a miss costs only a few unpacks.
PROBE = 8
_SLOT = struct.Struct("<QqQ")  # key hash (0: free), beat time (ns), tokens
TABLE_BYTES = SLOTS * _SLOT.size


def key_hash(key: bytes) -> int:
    """The key's 64-bit hash, the same in every process (never 0: 0 marks a free slot)."""
    digest = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little")
    return digest or 1


def admit(table: bytearray | memoryview, spec: TbfSpec, key: bytes, now_ns: int) -> bool:
    """Take a token from ``key``'s bucket in ``table`` (TABLE_BYTES long) at ``now_ns``
    (a monotonic clock shared by every process using ``table``); False when it has none.
    The caller serialises calls on one table."""
    wanted = key_hash(key)
    interval = spec.interval_ns
    refill = spec.burst * interval  # idle this long, a bucket is full: as good as free
    start = wanted % SLOTS
    victim = -1
    victim_rank = 0
    for step in range(PROBE):
        slot = (start + step) % SLOTS
        found, stamp, tokens = _SLOT.unpack_from(table, slot * _SLOT.size)
        if found == wanted:
            gained = (now_ns - stamp) // interval
            if gained > 0:
                tokens = min(spec.burst, tokens + gained)
                stamp += gained * interval  # the part of an interval elapsed still counts
            if tokens == 0:
                _SLOT.pack_into(table, slot * _SLOT.size, wanted, stamp, 0)
                return False
            _SLOT.pack_into(table, slot * _SLOT.size, wanted, stamp, tokens - 1)
            return True
        # Free slots first (never used, or full again), then the one whose beat is oldest.
        rank = -1 if found == 0 or now_ns - stamp >= refill else stamp
        if victim < 0 or rank < victim_rank:
            victim, victim_rank = slot, rank
    _SLOT.pack_into(table, victim * _SLOT.size, wanted, now_ns, spec.burst - 1)
    return True
