"""`Constant "name" "value"` and `%[const NAME [none|url|base64]]` (Pound 4): resolved when
the file is compiled into a literal accessor that expands to the value, as encoded."""

from __future__ import annotations

import base64
from urllib.parse import unquote_to_bytes

import pytest
from hypothesis import given
from hypothesis import strategies as st

from standby.config import ConfigError, load_config_text
from standby.config.constants import resolve
from standby.model import UNKNOWN_LOCATION
from standby.routing import expand, has_expansions


class _Request:
    """Enough of a request for templates without request accessors."""

    target = b"/"
    path = "/"

    def header(self, name: bytes) -> bytes | None:
        return None


def expanded(template: str, constants: dict[str, bytes]) -> bytes:
    return expand(resolve(template, constants, UNKNOWN_LOCATION), None, _Request())  # type: ignore[arg-type]


@given(st.binary(max_size=64), st.text(alphabet="ab/ ]", max_size=8))
def test_a_constant_expands_to_its_bytes_in_each_encoding(value: bytes, around: str) -> None:
    # Whatever bytes the value holds ("$1", "%[url]", "]" among them): exactly those.
    constants = {"k": value}
    assert expanded(f"{around}%[const k]{around}", constants) == (
        around.encode() + value + around.encode()
    )
    assert expanded("%[const k]", constants) == value
    assert expanded("%[const k none]", constants) == value
    assert base64.b64decode(expanded("%[const  k  base64]", constants)) == value
    url = expanded("%[const k url]", constants)
    assert unquote_to_bytes(url) == value
    assert all(0x21 <= byte <= 0x7E and byte not in b"/ " for byte in url)


def test_pound_s_examples_and_that_it_stays_an_expansion() -> None:
    constants = {"a": b"constant A"}
    assert expanded("x-%[const a]-y", constants) == b"x-constant A-y"
    assert expanded("%[const a url]", constants) == b"constant%20A"
    assert expanded("%[const a base64]", constants) == b"Y29uc3RhbnQgQQ=="
    # A Redirect with the accessor does not get the request's path (Pound's rule).
    assert has_expansions(resolve("https://x%[const a url]", constants, UNKNOWN_LOCATION))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('Constant "a" "1"\nConstant "a" "2"\n', 'constant "a" defined twice'),
        ('Constant "a" "1"\n', ""),
        ('Constant "a"\n', "expected"),
    ],
)
def test_constant_statements(text: str, message: str) -> None:
    if not message:
        load_config_text(text, "t.cfg")
        return
    with pytest.raises(ConfigError, match=message):
        load_config_text(text, "t.cfg")


@pytest.mark.parametrize(
    ("template", "message"),
    [("%[const b]", 'no constant named "b"'), ("%[const a hex]", 'unknown encoding "hex"')],
)
def test_unknown_constant_or_encoding_is_refused_at_its_place(template: str, message: str) -> None:
    text = (
        'Constant "a" "1"\nListenHTTP\n  Address 127.0.0.1\n  Port 8080\n  Service\n'
        f'    Redirect "https://x/{template}"\n  End\nEnd\n'
    )
    with pytest.raises(ConfigError, match=message) as info:
        load_config_text(text, "t.cfg")
    assert str(info.value).startswith("t.cfg:6.")
