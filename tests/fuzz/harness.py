"""The fuzz target: every C entry point of ``_speedups.c`` against its Python reference.

Run by tests/fuzz/run.py (never imported by the test suite's own process): Python under
``-X dev`` with ``PYTHONMALLOC=malloc`` (every object in malloc, where AddressSanitizer sees
it), atheris's ASan+UBSan+libFuzzer runtime preloaded, and the C module built by
tests/fuzz/build.py loaded in place of the normal one. libFuzzer's bytes choose an entry
point and its arguments; the C function and the Python function it stands in for are called
with the same arguments and must give the same outcome: equal heads (every slot, with its
type), the same consumed count, the same HttpError status and reason, the same value, or
an exception of the same type. A disagreement, a SystemError (a C function that returned a
value with an exception set, or NULL without one), a reference count that a C call changed
on one of its arguments, or a sanitizer report is a crash, and libFuzzer saves its input.

Input layout: byte 0 picks the entry point, bytes 1..7 are its options (each option reads
its own byte, so mutating the payload does not reshuffle them), the rest is the payload
(the head, the body, the raw bytes). tests/fuzz/seeds.py writes the seed corpus this way.

What "the same outcome" allows beyond exact agreement, and why:
- ``field_block(raw)`` refuses anything but bytes with TypeError (its own check; it has no
  Python fallback), where the Python function would also take a bytearray.
- ``scan_request`` and ``scan_response`` have no reference of their own: they return None
  (decline) or exactly the head the Python parser makes from the same bytes and limits,
  and refuse arguments outside their types (not bytes, not a set, not a 6-tuple, a
  max_head beyond Py_ssize_t) with TypeError or OverflowError.
- The ``bind_*`` functions are called with wrong arguments only, and must refuse them.
Subclasses of bytes, frozenset and int are passed without overridden methods: C reads
their data directly, as CPython's own C functions do.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import atheris

MODULE = "standby.http1._speedups"
# Set by run.py: the sanitized build (tests/fuzz/build.py).
EXTENSION = Path(os.environ.get("STANDBY_FUZZ_EXTENSION", ""))


class _SanitizedFinder(importlib.abc.MetaPathFinder):
    """Loads the C module from the sanitized build instead of the in-place one."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != MODULE:
            return None
        loader = importlib.machinery.ExtensionFileLoader(MODULE, str(EXTENSION))
        return importlib.util.spec_from_file_location(MODULE, EXTENSION, loader=loader)


if not EXTENSION.is_file():
    sys.exit(f"harness: STANDBY_FUZZ_EXTENSION={str(EXTENSION)!r} is not the sanitized build")
sys.meta_path.insert(0, _SanitizedFinder())

# The Python references are instrumented too: an input that takes a new branch in the
# reference (another error, another framing) is worth keeping even when C declines it.
with atheris.instrument_imports(include=["standby.http1"]):
    from standby.http1 import _speedups as speedups
    from standby.http1.body import chunked_end_python
    from standby.http1.errors import HttpError
    from standby.http1.limits import Limits
    from standby.http1.request import (
        _C_FIELDS as REQUEST_SLOTS,
    )
    from standby.http1.request import (
        V10,
        V11,
        RequestHead,
        field_block_python,
        parse_request_head_python,
    )
    from standby.http1.response import (
        _C_FIELDS as RESPONSE_SLOTS,
    )
    from standby.http1.response import (
        MAX_RESPONSE_HEAD,
        ResponseHead,
        client_response_head_python,
        parse_response_head_python,
    )
    from standby.model import methods_for_xhttp
    from standby.observe.access import request_line_python

if Path(speedups.__file__ or "") != EXTENSION:  # the finder must have won
    sys.exit(f"harness: loaded {speedups.__file__}, not the sanitized build {EXTENSION}")

HEADER = 8  # byte 0: the entry point; bytes 1..7: its options
# The runner's self-check (tests/fuzz/test_fuzz.py): an input holding this marker is made a
# crash, to show that a crash fails the run and comes out reported.
CANARY = os.environ.get("STANDBY_FUZZ_CANARY", "").encode()


class Disagreement(AssertionError):
    """The C function and its Python reference answered differently."""


# -- odd values ---------------------------------------------------------------------------


class Bytes(bytes):
    """A bytes subclass without overrides: C may read it as bytes."""


class Methods(frozenset[Any]):
    """A frozenset subclass without overrides."""


class SubResponseHead(ResponseHead):
    __slots__ = ()


class Falsy:
    """Truth testing raises (numpy arrays do): must surface only where Python tests it."""

    def __bool__(self) -> bool:
        raise ValueError("truth value of Falsy")

    def __repr__(self) -> str:
        return "Falsy()"


class Unequal:
    """Hashes like b"GET" but cannot be compared: a set lookup of b"GET" raises."""

    def __hash__(self) -> int:
        return hash(b"GET")

    def __eq__(self, other: object) -> bool:
        raise ValueError("Unequal compared")

    def __repr__(self) -> str:
        return "Unequal()"


class Packed:
    """Not a Limits: only a ``packed`` attribute (junk for parse_request_head)."""

    def __init__(self, packed: object) -> None:
        self.packed = packed

    def __repr__(self) -> str:
        return f"Packed({self.packed!r})"


# Extreme integers: around Py_ssize_t and long, and far beyond.
BIG = (2**31 - 1, 2**31, 2**32, 2**63 - 1, 2**63, 2**64, 2**70, 10**30)
# Values for Limits fields: positive ones (max_request_line, max_uri, max_header_line,
# max_head) and the ones that may be 0 (max_header_count, max_body).
POSITIVE = (1, 2, 5, 10, 20, 40, 64, 100, 200, 1000, 8192, 65536, 2**31, 2**63 - 1, 2**63, 2**70)
COUNTS = (0, 1, 2, 3, 5, 10, 20, 100, 1000, 65536, 2**31 - 1, 2**32, 2**63 - 1, 2**63, 2**64, 2**70)

LIMIT_PROFILES: tuple[Any, ...] = (
    Limits(),
    Limits(),
    Limits(max_body=10),
    Limits(max_head=64),
    Limits(max_header_count=1),
    Limits(max_request_line=40, max_uri=16, max_header_line=30, max_header_count=4, max_head=200),
    Limits(max_request_line=16, max_uri=1, max_header_line=5, max_header_count=0, max_head=20),
    Limits(*(2**63 - 1,) * 6),
    Limits(max_head=2**63),
    Limits(max_body=2**64),
    Limits(max_header_count=2**70, max_uri=10**30),
    Limits(max_request_line=2**63, max_header_line=2**64),
    # Not Limits at all.
    None,
    Limits().packed,
    Packed((1, 2)),
    Packed(None),
)

METHOD_SETS: tuple[Any, ...] = (
    methods_for_xhttp(0),
    methods_for_xhttp(2),
    methods_for_xhttp(4),
    frozenset(),
    {b"GET", b"POST"},  # a set, not frozen
    Methods({b"GET", b"HEAD", b"POST"}),
    frozenset({"GET", "POST"}),  # str, never equal to a method
    frozenset({Unequal()}),
    [b"GET"],  # not a set
    None,
    {b"GET": 1},
    frozenset({b"GET", 1, None}),
)

RESPONSE_METHODS: tuple[Any, ...] = (
    b"GET",
    b"HEAD",
    b"GET",
    b"POST",
    b"head",
    b"",
    Bytes(b"HEAD"),
    bytearray(b"HEAD"),
    "HEAD",
    None,
)

FLAGS: tuple[Any, ...] = (True, False, True, False, 1, 0, None, "", "x", 2**70, Falsy())

STATUSES: tuple[Any, ...] = (
    200,
    204,
    101,
    100,
    199,
    304,
    0,
    -1,
    2**31,
    2**63,
    2**70,
    -(2**70),
    True,
    "200",
    None,
    200.0,
)

OLD = b"http://10.0.0.5:8080"
REWRITES: tuple[Any, ...] = (
    None,
    (OLD, b"https://www.example.com"),
    (b"", b"X"),
    (b"http://", b""),
    ("a", "b"),
    (b"a",),
    42,
    [OLD, b"/"],
)

# Spans a forged ResponseHead may carry (start, end), and junk.
SPANS: tuple[Any, ...] = (None, [], [(0, 2)], [(5, 3)], [(0, 10**30)], "junk", [(1, 2), (0, 1)])
KEEP_ALIVE_SPANS: tuple[Any, ...] = (None, (0, 2), (3, 1), "x", None)


def wrap(payload: bytes, kind: int) -> Any:
    """``payload`` as bytes mostly, sometimes as another type."""
    if kind < 5:
        return payload
    return (Bytes(payload), bytearray(payload), payload.decode("latin-1"))[kind - 5]


def pick(table: Sequence[Any], byte: int) -> Any:
    return table[byte % len(table)]


def arguments(
    args: list[Any], form: int, names: Sequence[str] = ()
) -> tuple[list[Any], dict[str, Any]]:
    """The call's shape from ``form``: positional (mostly), by keyword (where the C function
    takes keywords: ``names``), one argument short, one more."""
    if form < 5 or (form == 5 and not names):
        return args, {}
    if form == 5:
        return [], dict(zip(names, args, strict=False))
    if form == 6:
        return args[:-1], {}
    return [*args, b"extra"], {}


# -- outcomes -----------------------------------------------------------------------------


def detached(value: Any) -> Any:
    """An equal value that holds no reference to ``value`` (a head's raw may be the very
    buffer passed in, whose reference count is being watched)."""
    return bytes(bytearray(value)) if isinstance(value, bytes | bytearray) else value


def head_fields(head: Any, slots: Sequence[str]) -> tuple[Any, ...]:
    missing = object()
    out = []
    for name in slots:
        value = getattr(head, name, missing)
        out.append((name, "<unset>") if value is missing else (name, type(value), detached(value)))
    return (type(head), *out)


def normal(value: Any) -> Any:
    """A value as compared: heads by every slot, everything with its type."""
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], RequestHead):
        return ("request", head_fields(value[0], REQUEST_SLOTS), type(value[1]), value[1])
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], ResponseHead):
        return ("response", head_fields(value[0], RESPONSE_SLOTS), type(value[1]), value[1])
    if isinstance(value, RequestHead):
        return ("request", head_fields(value, REQUEST_SLOTS))
    if isinstance(value, ResponseHead):
        return ("response", head_fields(value, RESPONSE_SLOTS))
    if isinstance(value, list):
        return ("list", [(type(v), v, v.isascii() if isinstance(v, str) else None) for v in value])
    if isinstance(value, str):
        return ("str", value, value.isascii())
    return (type(value), detached(value))


def outcome(function: Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    try:
        value = function(*args, **kwargs)
    except SystemError:
        raise  # a C function broke the calling convention: never an answer
    except HttpError as exc:
        return ("HttpError", exc.status, exc.reason)
    except Exception as exc:
        return ("raise", type(exc))
    return ("value", normal(value))


def counted(objects: Sequence[Any]) -> list[Any]:
    """The arguments whose reference counts a call must leave as they were: the objects
    made for this input (shared constants are touched by other code too)."""
    seen: dict[int, Any] = {}
    for obj in objects:
        if isinstance(obj, bytes | bytearray | str | tuple | list) and len(obj) < 2:
            continue  # the empty and one-item objects are shared singletons
        if obj is None or isinstance(obj, bool | int | float | type):
            continue
        seen[id(obj)] = obj
    return list(seen.values())


def call_c(
    what: str, function: Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any]
) -> Any:
    """The C function's outcome; its arguments' reference counts must not change, nor
    those of the version objects every head it makes shares (the head is gone by then)."""
    watched = [*counted([*args, *kwargs.values()]), V10, V11]
    before = [sys.getrefcount(obj) for obj in watched]
    try:
        result = outcome(function, args, kwargs)
    except SystemError as exc:
        raise Disagreement(f"{what}: SystemError {exc}\n  args={args!r} kwargs={kwargs!r}") from exc
    after = [sys.getrefcount(obj) for obj in watched]
    if after != before:
        raise Disagreement(
            f"{what}: reference counts of its arguments {before} -> {after}\n"
            f"  args={args!r} kwargs={kwargs!r}"
        )
    return result


def same(
    what: str,
    c_function: Callable[..., Any],
    reference: Callable[..., Any],
    args: Sequence[Any],
    kwargs: dict[str, Any],
) -> Any:
    """C and Python agree on this call; returns the (common) outcome."""
    got = call_c(what, c_function, args, kwargs)
    want = outcome(reference, args, kwargs)
    if got != want:
        raise Disagreement(
            f"{what} disagrees with its Python reference\n"
            f"  args={args!r} kwargs={kwargs!r}\n  C:      {got!r}\n  Python: {want!r}"
        )
    return got


# -- one entry point each -----------------------------------------------------------------


def limits_from(opts: bytes) -> Any:
    """A limits argument: a profile, or each field from its own option nibble."""
    if opts[1] < 0xC0:
        return pick(LIMIT_PROFILES, opts[1])
    return Limits(
        max_request_line=POSITIVE[opts[2] & 15],
        max_uri=POSITIVE[opts[2] >> 4],
        max_header_line=POSITIVE[opts[3] & 15],
        max_header_count=COUNTS[opts[3] >> 4],
        max_head=POSITIVE[opts[4] & 15],
        max_body=COUNTS[opts[4] >> 4],
    )


def fuzz_parse_request_head(opts: bytes, payload: bytes) -> None:
    buf = wrap(payload, opts[6] & 7)
    args = [buf, limits_from(opts), pick(METHOD_SETS, opts[5])]
    call, kwargs = arguments(args, opts[6] >> 5, ("buf", "limits", "methods"))
    same("parse_request_head", speedups.parse_request_head, parse_request_head_python, call, kwargs)


def fuzz_scan_request(opts: bytes, payload: bytes) -> None:
    limits = limits_from(opts)
    if not isinstance(limits, Limits):
        limits = Limits()
    methods = pick(METHOD_SETS, opts[5])
    packed: Any = limits.packed
    if opts[6] & 1:  # junk for the tuple: no Limits packs to these
        junk = ((1.0,) * 6, ("1",) * 6, (-1,) * 6, (2**70,) * 6, (1, 2, 3), None, [8192] * 6)
        packed = pick(junk, opts[6] >> 1)
    buf = wrap(payload, opts[7] & 7)
    args = [buf, methods, packed]
    got = call_c("scan_request", speedups.scan_request, args, {})
    usual = type(buf) is bytes and isinstance(methods, frozenset | set) and packed is limits.packed
    if got[0] == "raise" and not usual and got[1] in (TypeError, OverflowError):
        return  # refused what it does not take
    if got == ("value", normal(None)):
        return  # declined
    want = outcome(parse_request_head_python, [buf, limits, methods], {}) if usual else None
    if got[0] == "raise" and want == got:
        return  # the same error (a method set whose lookup raises)
    if got[0] != "value" or want is None or want[0] != "value" or got[1] != want[1][:2]:
        raise Disagreement(f"scan_request{tuple(args)!r}\n  C:      {got!r}\n  Python: {want!r}")


def max_head_from(opts: bytes, payload: bytes) -> Any:
    """A max_head: near the payload's length (where heads end), or a value from a table."""
    byte = opts[2]
    if byte < 0x80:
        return max(0, len(payload) - (byte & 15))
    return pick((0, 1, 14, 64, 200, MAX_RESPONSE_HEAD, -1, *BIG, -(2**70), True, 100.0), byte)


def fuzz_parse_response_head(opts: bytes, payload: bytes) -> None:
    buf = wrap(payload, opts[6] & 7)
    args = [buf, pick(RESPONSE_METHODS, opts[1])]
    if opts[3] & 1:
        args.append(max_head_from(opts, payload))
    call, kwargs = arguments(args, opts[6] >> 5, ("buf", "request_method", "max_head"))
    if opts[3] & 2 and len(call) == 3:  # max_head alone by keyword
        call, kwargs = call[:2], {"max_head": call[2]}
    same(
        "parse_response_head",
        speedups.parse_response_head,
        parse_response_head_python,
        call,
        kwargs,
    )


def fuzz_scan_response(opts: bytes, payload: bytes) -> None:
    head_request = pick(FLAGS, opts[1])
    max_head = max_head_from(opts, payload)
    buf = wrap(payload, opts[6] & 7)
    args = [buf, head_request, max_head]
    got = call_c("scan_response", speedups.scan_response, args, {})
    usual = type(buf) is bytes and type(max_head) is int and -(2**63) <= max_head < 2**63
    if got[0] == "raise" and not usual and got[1] in (TypeError, OverflowError):
        return
    if got == ("value", normal(None)):
        return
    try:
        method = b"HEAD" if head_request else b"GET"
    except ValueError:  # Falsy: the scanner must have raised the same
        if got == ("raise", ValueError):
            return
        raise Disagreement(f"scan_response{tuple(args)!r}: {got!r}") from None
    want = outcome(parse_response_head_python, [buf, method, max_head], {}) if usual else None
    if got[0] != "value" or want is None or want[0] != "value" or got[1] != want[1][:2]:
        raise Disagreement(f"scan_response{tuple(args)!r}\n  C:      {got!r}\n  Python: {want!r}")


def response_for(opts: bytes, payload: bytes) -> Any:
    """A ResponseHead: parsed from the payload when it is one, else forged from the options;
    then perhaps edited: an extreme status, odd spans, a slot left unset; or no head at all."""
    kind = opts[1] & 15
    if kind == 14:
        return pick((None, 42, b"HTTP/1.1 200 OK\r\n\r\n", RequestHead()), opts[1] >> 4)
    resp: Any = None
    if kind < 10:
        try:
            parsed = parse_response_head_python(payload, b"HEAD" if kind & 1 else b"GET")
        except HttpError:
            parsed = None
        if parsed is not None:
            resp = parsed[0]
    if resp is None or kind == 15:
        resp = SubResponseHead() if kind == 13 else ResponseHead()
        resp.status = pick(STATUSES, opts[2])
        resp.version = V11
        resp.http11 = True
        resp.raw = payload if opts[2] < 0xF0 else pick((bytearray(payload), None), opts[2])
        resp.body = 0
        resp.content_length = 0
        resp.keep_alive = True
        resp._drops = pick(SPANS, opts[3])
        resp._locations = pick(SPANS, opts[3] >> 4)
        resp._keep_alive_span = pick(KEEP_ALIVE_SPANS, opts[4])
    edit = opts[4] >> 4
    if edit == 1:
        resp.status = pick(STATUSES, opts[2])
    elif edit == 2:
        resp._drops = pick(SPANS, opts[3])
    elif edit == 3:
        resp._locations = pick(SPANS, opts[3] >> 4)
    elif edit == 4:
        resp._keep_alive_span = pick(KEEP_ALIVE_SPANS, opts[4])
    elif edit == 5 and hasattr(resp, pick(RESPONSE_SLOTS, opts[3])):
        delattr(resp, pick(RESPONSE_SLOTS, opts[3]))
    return resp


def fuzz_client_response_head(opts: bytes, payload: bytes) -> None:
    resp = response_for(opts, payload)
    args = [resp, pick(FLAGS, opts[5]), pick(FLAGS, opts[5] >> 4)]
    form = opts[6] & 7
    if form in (1, 2, 3):
        args.append(pick(REWRITES, opts[6] >> 3))
    call, kwargs = arguments(
        args, opts[7] & 7, ("resp", "keep_alive", "client_http11", "location_rewrite")
    )
    if form == 3 and len(call) == 4:  # the rewrite by keyword
        call, kwargs = call[:3], {"location_rewrite": call[3]}
    same(
        "client_response_head",
        speedups.client_response_head,
        client_response_head_python,
        call,
        kwargs,
    )


def fuzz_chunked_end(opts: bytes, payload: bytes) -> None:
    if opts[1] & 1:  # after a head, as the shell calls it
        payload = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + payload
    size = len(payload)
    start = pick(
        (0, 0, 0, 47, 1, 2, size // 2, size, size + 1, -1, -size - 1, *BIG, -(2**70), True, None),
        opts[2],
    )
    if opts[1] & 1 and opts[2] < 0x40:
        start = 47  # just past that head
    data = wrap(payload, opts[6] & 7)
    call, kwargs = arguments([data, start], opts[6] >> 5)  # positional only
    same("chunked_end", speedups.chunked_end, chunked_end_python, call, kwargs)


def fuzz_field_block(opts: bytes, payload: bytes) -> None:
    raw = wrap(payload, opts[6] & 7)
    got = call_c("field_block", speedups.field_block, [raw], {})
    if not isinstance(raw, bytes) and got == ("raise", TypeError):
        return  # its own check: bytes only
    want = outcome(field_block_python, [raw], {})
    if got != want:
        raise Disagreement(f"field_block({raw!r})\n  C:      {got!r}\n  Python: {want!r}")


def fuzz_request_line(opts: bytes, payload: bytes) -> None:
    cut1 = opts[1] % (len(payload) + 1)
    cut2 = cut1 + opts[2] % (len(payload) - cut1 + 1)
    parts: list[Any] = [payload[:cut1], payload[cut1:cut2], payload[cut2:]]
    odd = opts[3] % 3
    parts[odd] = wrap(parts[odd], opts[4] & 7)
    call, kwargs = arguments(parts, opts[6] >> 5)  # positional only
    same("request_line", speedups.request_line, request_line_python, call, kwargs)


# -- the bind_* functions: wrong arguments only ---------------------------------------------


def borrowed(source: type, slots: Sequence[str]) -> type:
    """A class that is not ``source`` but carries its slot descriptors: its instances are
    smaller, so filling them at ``source``'s offsets would write past their end."""
    return type("Borrowed", (), {name: getattr(source, name) for name in slots})


def bad_bindings() -> list[tuple[Callable[..., Any], tuple[Any, ...]]]:
    req, resp, fallback = REQUEST_SLOTS, RESPONSE_SLOTS, parse_request_head_python
    request = [
        (RequestHead, req[:-1], V10, V11, fallback),  # a slot short
        (RequestHead, list(req), V10, V11, fallback),  # not a tuple
        (RequestHead, req, "HTTP/1.0", V11, fallback),  # a version that is no bytes
        (RequestHead, req, V10, V11, 42),  # a fallback that cannot be called
        (RequestHead, req, V10, V11),  # no fallback
        (RequestHead, (*req[:-1], 7), V10, V11, fallback),  # a name that is no str
        (RequestHead, (req[0],) * len(req), V10, V11, fallback),  # one slot each time
        (ResponseHead, req, V10, V11, fallback),  # the other class
        (borrowed(RequestHead, req), req, V10, V11, fallback),  # another class's slots
        (42, req, V10, V11, fallback),  # no class
    ]
    response = [
        (ResponseHead, resp, fallback, 2**70),  # a max_head beyond Py_ssize_t
        (ResponseHead, resp, fallback, "65536"),
        (ResponseHead, resp[:-1], fallback, 1),
        (borrowed(ResponseHead, resp), resp, fallback, 1),
        (RequestHead, resp, fallback, 1),
    ]
    return [
        *((speedups.bind_request, args) for args in request),
        *((speedups.bind_response, args) for args in response),
        (speedups.bind_client_response_head, (None,)),
        (speedups.bind_chunked_end, (42,)),
        (speedups.bind_request_line, (b"x",)),
    ]


BAD_BINDINGS = bad_bindings()


def rebind() -> None:
    """The bindings the modules made at import (a refused binding must leave them as is)."""
    speedups.bind_request(RequestHead, REQUEST_SLOTS, V10, V11, parse_request_head_python)
    speedups.bind_response(
        ResponseHead, RESPONSE_SLOTS, parse_response_head_python, MAX_RESPONSE_HEAD
    )
    speedups.bind_client_response_head(client_response_head_python)
    speedups.bind_chunked_end(chunked_end_python)
    speedups.bind_request_line(request_line_python)  # fmt: skip


def fuzz_bind(opts: bytes, payload: bytes) -> None:
    bind, args = pick(BAD_BINDINGS, opts[1])
    name = bind.__name__
    got = call_c(name, bind, args, {})
    if got[0] != "raise":
        rebind()
        raise Disagreement(f"{name}{args!r} accepted wrong arguments: {got!r}")
    # The binding before still holds: a head parses the same as before.
    fuzz_parse_request_head(opts, payload)
    fuzz_parse_response_head(opts, payload)


TARGETS = (
    fuzz_parse_request_head,
    fuzz_parse_response_head,
    fuzz_client_response_head,
    fuzz_chunked_end,
    fuzz_scan_request,
    fuzz_scan_response,
    fuzz_field_block,
    fuzz_request_line,
    fuzz_bind,
)


def test_one_input(data: bytes) -> None:
    if CANARY and CANARY in data:
        raise Disagreement(f"the canary {CANARY!r}")
    head = data[:HEADER].ljust(HEADER, b"\0")
    pick(TARGETS, head[0])(head, data[HEADER:])


def main() -> None:
    # The harness's own branches (the entry point, the option taken) are coverage too: an
    # input that reaches a new option is kept before C takes a new path through it.
    for function in list(globals().values()):
        if inspect.isfunction(function) and function.__module__ == __name__:
            atheris.instrument_func(function)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
