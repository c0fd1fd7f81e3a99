"""Value converters: numbers, booleans, durations, sizes, addresses."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from standby.config.values import (
    MAX_DURATION,
    MAX_SIZE,
    parse_address,
    parse_bool,
    parse_duration,
    parse_host_header,
    parse_method,
    parse_mode,
    parse_number,
    parse_request_path,
    parse_size,
    parse_statuses,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0.0),
        ("90", 90.0),
        ("1m30s", 90.0),
        ("1M30S", 90.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("1d2h3m4s", 93784.0),
        ("1.5m", 90.0),
        ("0.25", 0.25),
        ("10s", 10.0),
        ("1h30s", 3630.0),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text", ["", "s", "1x", "1m30", "30s1m", "1s1s", "1.s", ".5", "-1", "1 m", "1mm", "400d", "1e3"]
)
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="bad duration"):
        parse_duration(text)


@given(st.integers(0, 364), st.integers(0, 23), st.integers(0, 59), st.integers(0, 59))
def test_duration_parts_add_up(d: int, h: int, m: int, s: int) -> None:
    text = f"{d}d{h}h{m}m{s}s"
    assert parse_duration(text) == d * 86400 + h * 3600 + m * 60 + s


@pytest.mark.parametrize(
    ("text", "size"),
    [("0", 0), ("512", 512), ("1k", 1024), ("64K", 65536), ("10m", 10 << 20), ("1g", 1 << 30)],
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "k", "1kb", "1.5k", "-1", "1t", "1 k", "1025g"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(ValueError, match="bad size"):
        parse_size(text)


def test_size_limit() -> None:
    assert parse_size("1024g") == MAX_SIZE
    assert parse_duration("365d") == MAX_DURATION


@pytest.mark.parametrize("word", ["1", "yes", "YES", "true", "True", "on", "ON"])
def test_true(word: str) -> None:
    assert parse_bool(word) is True


@pytest.mark.parametrize("word", ["0", "no", "No", "false", "FALSE", "off", "Off"])
def test_false(word: str) -> None:
    assert parse_bool(word) is False


@pytest.mark.parametrize("word", ["", "2", "y", "n", "enable", "01"])
def test_bad_booleans(word: str) -> None:
    with pytest.raises(ValueError, match="bad boolean"):
        parse_bool(word)


@pytest.mark.parametrize("text", ["", "+1", "-1", "1.0", "1e3", "\uff11", "\u00b2", "9" * 16])
def test_bad_numbers(text: str) -> None:
    with pytest.raises(ValueError, match="bad number"):
        parse_number(text)


@pytest.mark.parametrize(
    ("text", "allow_unix", "result"),
    [
        ("127.0.0.1", False, ("127.0.0.1", False)),
        ("::1", False, ("::1", False)),
        ("[::1]", True, ("::1", False)),
        ("0:0::1", True, ("::1", False)),
        ("example.com", False, ("example.com", False)),
        ("localhost", True, ("localhost", False)),
        ("backend-1.internal.", True, ("backend-1.internal.", False)),
        ("/run/app.sock", True, ("/run/app.sock", True)),
    ],
)
def test_addresses(text: str, allow_unix: bool, result: tuple[str, bool]) -> None:
    assert parse_address(text, allow_unix) == result


@pytest.mark.parametrize(
    ("text", "allow_unix"),
    [
        ("/run/app.sock", False),
        ("a..b", True),
        ("-a.com", True),
        ("a b", True),
        ("1.2.3.4.5", True),
        ("300.0.0.1", True),
        ("[::1", True),
        ("x" * 64 + ".com", True),
        ("", True),
    ],
)
def test_bad_addresses(text: str, allow_unix: bool) -> None:
    with pytest.raises(ValueError, match="bad address"):
        parse_address(text, allow_unix)


# -- issue 4's values -----------------------------------------------------------------------

status_ranges = st.lists(
    st.tuples(st.integers(100, 599), st.integers(0, 50)).map(
        lambda pair: (pair[0], min(599, pair[0] + pair[1]))
    ),
    min_size=1,
    max_size=5,
)


@given(status_ranges)
def test_status_lists_round_trip(ranges: list[tuple[int, int]]) -> None:
    text = ",".join(str(low) if low == high else f"{low}-{high}" for low, high in ranges)
    assert parse_statuses(text) == tuple(ranges)


@pytest.mark.parametrize(
    "text", ["", "2xx", "99", "600", "200-", "-200", "300-200", "200,,201", "200 ", "0200"]
)
def test_bad_status_lists(text: str) -> None:
    with pytest.raises(ValueError):
        parse_statuses(text)


@given(st.text(max_size=12))
def test_statuses_never_raise_anything_but_value_error(text: str) -> None:
    try:
        ranges = parse_statuses(text)
    except ValueError:
        return
    assert all(100 <= low <= high <= 599 for low, high in ranges)


def test_methods_modes_paths_hosts() -> None:
    assert parse_method("GET") == ("GET",)
    assert parse_method("M-SEARCH") == ("M-SEARCH",)
    for bad in ("get", "G ET", "", "Get", "X" * 33):
        with pytest.raises(ValueError):
            parse_method(bad)
    assert (parse_mode("0600"), parse_mode("660"), parse_mode("0")) == (0o600, 0o660, 0)
    for bad in ("0800", "1777", "abc", "", "07777"):
        with pytest.raises(ValueError):
            parse_mode(bad)
    assert parse_request_path("/health?x=1&y") == "/health?x=1&y"
    for bad in ("health", "/a b", "", "/\x7f"):
        with pytest.raises(ValueError):
            parse_request_path(bad)
    for good in ("www.example.com", "www.example.com:8080", "[::1]:80", "10.0.0.1"):
        assert parse_host_header(good) == good
    for bad in ("a b", "", "a:b", "x\r\n", "[::1"):
        with pytest.raises(ValueError):
            parse_host_header(bad)
