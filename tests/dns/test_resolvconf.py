from __future__ import annotations

import pytest

from standby.dns.resolvconf import ResolvConf, ResolvConfError, parse, parse_nameserver


def test_parse() -> None:
    text = "# comment\ndomain example.org\nsearch a b\nnameserver 192.0.2.1\n" \
        "nameserver [2001:db8::1]:5353\nnameserver ::1\nnameserver 127.0.0.1:53\n" \
        "options ndots:2 timeout:3 attempts:9\n"  # fmt: skip
    assert parse(text) == ResolvConf(
        (("192.0.2.1", 53), ("2001:db8::1", 5353), ("::1", 53)), 3.0, 5
    )


@pytest.mark.parametrize(
    ("text", "line", "col"),
    [
        ("nameserver dns.example.org\n", 1, 1),
        ("\n  nameserver 127.0.0.1:0\n", 2, 3),
        ("nameserver [::1]5353\n", 1, 1),
        ("options timeout:x\n", 1, 1),
        ("domain example.org\n", 1, 1),  # no nameserver
        ("nameservers 127.0.0.1\n", 1, 1),
    ],
)
def test_errors_say_where(text: str, line: int, col: int) -> None:
    with pytest.raises(ResolvConfError) as caught:
        parse(text)
    assert (caught.value.line, caught.value.col) == (line, col)


def test_nameserver_forms() -> None:
    assert parse_nameserver("127.0.0.1:5300") == ("127.0.0.1", 5300)
    assert parse_nameserver("[::1]:5300") == ("::1", 5300)
    assert parse_nameserver("2001:db8::53") == ("2001:db8::53", 53)
    with pytest.raises(ValueError):
        parse_nameserver("localhost")
