"""line_prefix: the C search of a head for a header line by its beginning (any case) and its
Python fallback agree with each other and with the regex it replaced; so do line_cookie's C
and Python versions, and both with the Session's reading of a parsed Cookie header."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from standby.balance.sessions import cookie_value
from standby.http1 import request
from standby.http1.request import line_cookie_python, line_prefix_python

try:
    from standby.http1 import _speedups as speedups
except ImportError:  # pragma: no cover - the C part is optional outside CI
    speedups = None  # type: ignore[assignment]

# Heads made of these pieces: names that differ only in case, CRLFs in odd places.
pieces = st.lists(
    st.sampled_from(
        [b"\r\n", b"\r", b"\n", b"Cookie", b"COOKIE", b"cookie", b"Set-Cookie", b"X-Debug",
         b"x-debug", b":", b" ", b"sid=1", b";", b"GET / HTTP/1.1", b"Host: a", b"\xff"]
    ),
    max_size=24,
).map(b"".join)  # fmt: skip
prefix_lists = st.lists(
    st.sampled_from([b"cookie:", b"set-cookie:", b"x-debug:", b"x-debug", b"host:", b""]),
    max_size=3,
).map(tuple)


def by_regex(raw: bytes, prefixes: tuple[bytes, ...]) -> int:
    """What the replaced code did: the earliest ``\\r\\n`` + a prefix, in any case."""
    if not prefixes:
        return -1
    alternatives = b"|".join(re.escape(p) for p in prefixes)
    found = re.compile(b"\r\n(?i:" + alternatives + b")").search(raw)
    return -1 if found is None else found.end()


@settings(max_examples=500, deadline=None)
@given(pieces, prefix_lists)
@example(b"GET / HTTP/1.1\r\nCOOKIE: sid=1\r\n\r\n", (b"cookie:",))
@example(b"\r\n", (b"",))
@example(b"GET / HTTP/1.1\r\nX-Debu", (b"x-debug:",))
def test_the_c_search_the_python_one_and_the_regex_agree(
    raw: bytes, prefixes: tuple[bytes, ...]
) -> None:
    expected = line_prefix_python(raw, prefixes)
    assert request.line_prefix(raw, prefixes) == expected
    if speedups is not None:
        assert speedups.line_prefix(raw, prefixes) == expected
    # The regex takes the first alternative that matches at a position, the search the
    # first prefix: the same line, and the same end when no prefix is another's start.
    if len({p for p in prefixes}) == len(prefixes) and not any(
        a != b and b.startswith(a) for a in prefixes for b in prefixes
    ):
        assert by_regex(raw, prefixes) == expected


@pytest.mark.skipif(speedups is None, reason="the C part is not built")
def test_the_c_search_refuses_what_is_not_bytes() -> None:
    with pytest.raises(TypeError):
        speedups.line_prefix("text", (b"a",))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        speedups.line_prefix(b"a", ("a",))  # type: ignore[arg-type]


# Cookie lines made of these pieces: the name in other cases, inside another name or value,
# spaces and tabs around items, an empty value, the line's end in odd places.
cookie_values = st.lists(
    st.sampled_from(
        [b"sid=", b"SID=", b"Sid=", b"xsid=", b"sid", b"=", b";", b" ", b"\t", b"a=1", b"v",
         b"sid=2", b"\r\n", b"\r", b"\xff", b"\"sid=3\""]
    ),
    max_size=16,
).map(b"".join)  # fmt: skip
needles = st.sampled_from([b"sid=", b"a=", b"x=", b"=", b"", b"s"])
limits = st.sampled_from([0, 1, 3, 127, 1000])


@settings(max_examples=800, deadline=None)
@given(cookie_values, needles, limits, st.sampled_from([b"Cookie:", b"cookie:", b"COOKIE :"]))
@example(b" sid=abc ; x=1", b"sid=", 127, b"Cookie:")
@example(b" a=1; sid=  ", b"sid=", 127, b"Cookie:")
@example(b" xsid=1; SID=2", b"sid=", 1, b"Cookie:")
def test_the_c_cookie_reading_and_the_python_one_agree(
    value: bytes, needle: bytes, limit: int, name: bytes
) -> None:
    raw = b"GET / HTTP/1.1\r\nHost: a\r\n" + name + value + b"\r\nAccept: */*\r\n\r\n"
    expected = line_cookie_python(raw, (b"cookie:",), needle, limit)
    assert request.line_cookie(raw, (b"cookie:",), needle, limit) == expected
    if speedups is not None:
        assert speedups.line_cookie(raw, (b"cookie:",), needle, limit) == expected
    # A well-formed line (no CR or LF inside): what cookie_value finds in the header's
    # value as the parser gives it (spaces and tabs stripped at both ends).
    # ("COOKIE :" is no Cookie line: nothing is found in it.)
    well_formed = b"\r" not in value and b"\n" not in value and name != b"COOKIE :"
    if well_formed and needle.endswith(b"=") and len(needle) > 1:
        found = cookie_value(value.strip(b" \t"), needle[:-1])
        assert expected == (None if found is None else found[:limit])
    if name == b"COOKIE :":
        assert expected is None


@pytest.mark.skipif(speedups is None, reason="the C part is not built")
def test_the_c_cookie_reading_refuses_bad_arguments() -> None:
    with pytest.raises(TypeError):
        speedups.line_cookie("text", (b"cookie:",), b"sid=", 10)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        speedups.line_cookie(b"a", (b"cookie:",), "sid=", 10)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        speedups.line_cookie(b"a", (b"cookie:",), b"sid=", -1)
