"""`Constant "name" "value"` and `%[const NAME [none|url|base64]]` (Pound 4): resolved when
the file is compiled into a literal accessor that expands to the value, as encoded."""

from __future__ import annotations

import base64
from pathlib import Path
from urllib.parse import quote, unquote_to_bytes

import pytest
from hypothesis import given
from hypothesis import strategies as st

from standby.config import ConfigError, load_config_text
from standby.config.constants import MAX_CONSTANT_FILE, resolve
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


def _service_header(config_text: str) -> str:
    spec = load_config_text(config_text, "t.cfg")
    edit = spec.listeners[0].services[0].request_edits[0]
    return edit.text  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("top", "listener", "service", "value"),
    [
        ('Constant "a" "top"', "", "", b"top"),
        ('Constant "a" "top"', 'Constant "a" "listener"', "", b"listener"),
        ('Constant "a" "top"', 'Constant "a" "listener"', 'Constant "a" "service"', b"service"),
        ("", "", 'Constant "a" "service"', b"service"),
    ],
)
def test_a_service_s_constant_hides_its_listener_s_which_hides_the_top_s(
    top: str, listener: str, service: str, value: bytes
) -> None:
    text = (
        f"{top}\nListenHTTP\n  Address 127.0.0.1\n  Port 8080\n  {listener}\n  Service\n"
        f'    {service}\n    SetHeader "X-A: %[const a]"\n    BackEnd\n      Address 127.0.0.1\n'
        "      Port 9000\n    End\n  End\nEnd\n"
    )
    template = _service_header(text)
    assert template == f"X-A: %[=hex {value.hex()}]"
    assert expand(template, None, _Request()) == b"X-A: " + value  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "contents", "value"),
    [
        ('-file "v.txt"', b"one line\n", b"one line\n"),
        ('-file "v.txt" -trim', b"one line \t\r\n\n", b"one line"),
        ('-trim -file "v.txt"', b" two\nlines\n", b" two\nlines"),
        ('-filewatch "v.txt"', b"watched\n", b"watched\n"),  # read once, with a warning
    ],
)
def test_a_constant_read_from_a_file(
    tmp_path: Path, options: str, contents: bytes, value: bytes
) -> None:
    (tmp_path / "v.txt").write_bytes(contents)
    text = (
        f'Constant "a" {options}\nListenHTTP\n  Address 127.0.0.1\n  Port 8080\n  Service\n'
        '    Redirect "https://x/%[const a url]"\n  End\nEnd\n'
    )
    spec = load_config_text(text, str(tmp_path / "t.cfg"))
    url = spec.listeners[0].services[0].backends[0].redirect_url
    assert expand(url, None, _Request()) == b"https://x/" + quote(value, safe="-._~").encode()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ('-file "missing.txt"', 'cannot read constant file "missing.txt"'),
        ('-file "big.txt"', "is too large"),
        ("-file", '"-file" needs a file name'),
        ("-trim", 'needs a value, or -file "f"'),
        ('"x" "y"', 'unexpected "x" for "Constant"'),
    ],
)
def test_bad_constant_files_are_refused(tmp_path: Path, options: str, message: str) -> None:
    (tmp_path / "big.txt").write_bytes(b"x" * (MAX_CONSTANT_FILE + 1))
    with pytest.raises(ConfigError, match=message):
        load_config_text(f'Constant "a" {options}\n', str(tmp_path / "t.cfg"))


def test_a_tbf_key_and_a_string_match_name_the_constants_of_their_service() -> None:
    text = (
        'Constant "k" "top"\nListenHTTP\n  Address 127.0.0.1\n  Port 8080\n  Service\n'
        '    Constant "k" "own"\n    TBF "%[const k]-%[remoteip]" 5 10\n'
        '    StringMatch "%[const k url]" "own"\n'
        "    BackEnd\n      Address 127.0.0.1\n      Port 9000\n    End\n  End\nEnd\n"
    )
    tbf, string_match = load_config_text(text, "t.cfg").listeners[0].services[0].conditions
    assert expand(tbf.argument, None, _Request()) == b"own-"  # type: ignore[arg-type]
    assert tbf.tbf is not None and tbf.tbf.key == tbf.argument
    assert expand(string_match.argument, None, _Request()) == b"own"  # type: ignore[arg-type]
