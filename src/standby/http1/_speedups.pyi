"""Types of the C fast path of the head parsers (_speedups.c)."""

def scan_request(
    buf: bytes, methods: frozenset[bytes], limits: tuple[int, ...], /
) -> (
    tuple[int, bytes, bytes, bool, bytes | None, int, int, bool, list[tuple[int, int]] | None, int]
    | None
): ...
def scan_response(
    buf: bytes, head_request: bool, max_head: int, /
) -> (
    tuple[int, int, bool, int, int, bool, tuple[int, int] | None, list[tuple[int, int]] | None]
    | None
): ...
