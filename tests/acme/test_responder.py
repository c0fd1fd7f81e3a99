"""Pound's ``ACME "DIR"``: challenge files answered by the plain listener itself, ahead of
the listener's services, with only safe names served."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from standby.acme.challenge import MAX_CHALLENGE_FILE, TOKEN, challenge_name
from standby.config import ConfigError, load_config_text
from tests.support.backend import Backend
from tests.support.harness import Client, get, running_proxy

CONFIG = """
ListenHTTP
    Address 127.0.0.1
    Port {{L0}}
    xHTTP 1
    ACME "{directory}"
    Service
        BackEnd
            Address 127.0.0.1
            Port {backend}
        End
    End
End
"""


@pytest.fixture
def challenges(tmp_path: Path) -> Path:
    directory = tmp_path / "challenges"
    directory.mkdir()
    (directory / "tok-EN_123").write_bytes(b"tok-EN_123.thumbprint")
    return directory


def test_a_challenge_file_is_served_and_the_rest_goes_to_the_services(
    challenges: Path, tmp_path: Path
) -> None:
    (tmp_path / "secret").write_bytes(b"not for the world")
    os.symlink(tmp_path / "secret", challenges / "link")
    (challenges / ".hidden").write_bytes(b"hidden")
    (challenges / "big").write_bytes(b"x" * (MAX_CHALLENGE_FILE + 1))
    (challenges / "sub").mkdir()
    with (
        Backend("b") as backend,
        running_proxy(CONFIG.format(directory=challenges, backend=backend.port)) as proxy,
    ):
        answer = get(proxy.port, "/.well-known/acme-challenge/tok-EN_123")
        assert answer.status == 200
        assert answer.body == b"tok-EN_123.thumbprint"
        assert answer.header(b"content-type") == b"application/octet-stream"
        with Client(proxy.port) as client:  # keep-alive holds, HEAD gets the head only
            head = client.request("/.well-known/acme-challenge/tok-EN_123", method="HEAD")
            assert head.status == 200 and head.body == b""
            assert head.header(b"content-length") == b"21"
            again = client.request("/.well-known/acme-challenge/tok-EN_123?x=1")
            assert again.status == 200 and again.body == b"tok-EN_123.thumbprint"
            refused = client.request("/.well-known/acme-challenge/tok-EN_123", method="PUT")
            assert refused.status == 405 and refused.header(b"allow") == b"GET, HEAD"
        for name in ("absent", "link", ".hidden", "..", "big", "sub", "..%2fsecret", ""):
            assert get(proxy.port, f"/.well-known/acme-challenge/{name}").status == 404, name
        assert get(proxy.port, "/.well-known/acme-challenge/../../secret").status != 200
        # Anything else is the services' business.
        assert get(proxy.port, "/other").status == 200
        assert get(proxy.port, "/.well-known/other").status == 200
        assert proxy.errors == []


def test_a_file_written_later_is_served_without_a_reload(challenges: Path) -> None:
    with (
        Backend("b") as backend,
        running_proxy(CONFIG.format(directory=challenges, backend=backend.port)) as proxy,
    ):
        assert get(proxy.port, "/.well-known/acme-challenge/later").status == 404
        (challenges / "later").write_bytes(b"later.key")
        answer = get(proxy.port, "/.well-known/acme-challenge/later")
        assert (answer.status, answer.body) == (200, b"later.key")


def test_the_directory_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r":6\.10: not a directory"):
        load_config_text(CONFIG.format(directory=tmp_path / "none", backend=9).format(L0=1))
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="not a directory"):
        load_config_text(CONFIG.format(directory=tmp_path / "file", backend=9).format(L0=1))


def test_acme_is_a_plain_listener_keyword() -> None:
    text = CONFIG.format(directory="/tmp", backend=9).format(L0=1)
    spec = load_config_text(text)
    first = spec.listeners[0].services[0]
    assert first.acme == ("/tmp",) and first.backends == ()
    assert spec.listeners[0].services[1].backends[0].port == 9


@given(st.binary(max_size=40))
def test_challenge_names_never_leave_the_directory(rest: bytes) -> None:
    name = challenge_name(b"/.well-known/acme-challenge/" + rest)
    if name is not None:
        assert "/" not in name and not name.startswith(".") and name not in ("", "..")
        assert name.encode("latin-1") == rest


@given(st.text(max_size=300))
def test_every_token_the_client_takes_is_served(token: str) -> None:
    """A token the client writes is a name the challenge directory serves (ASCII
    base64url: a letter that is alphanumeric only in Unicode is refused)."""
    if TOKEN.fullmatch(token) is not None:
        assert challenge_name(b"/.well-known/acme-challenge/" + token.encode("ascii")) == token


def test_tokens() -> None:
    assert TOKEN.fullmatch("evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA")
    for bad in ("", "a.b", "a/b", "\u00e9t\u00e9", "x" * 256):
        assert TOKEN.fullmatch(bad) is None, bad


def test_challenge_names() -> None:
    assert challenge_name(b"/.well-known/acme-challenge/abc_-DEF.1") == "abc_-DEF.1"
    for bad in (
        b"/.well-known/acme-challenge/",
        b"/.well-known/acme-challenge/a/b",
        b"/.well-known/acme-challenge/..",
        b"/x/.well-known/acme-challenge/a",
        b"/.well-known/acme-challenge/a%2fb",
        b"/.well-known/acme-challenge/a b",
    ):
        assert challenge_name(bad) is None, bad


def test_the_reference_example_loads(tmp_path: Path) -> None:
    from standby.config.docgen import ACME_EXAMPLE

    (tmp_path / "challenges").mkdir()
    text = ACME_EXAMPLE.replace("/var/lib/certbot/acme-challenge", str(tmp_path / "challenges"))
    spec = load_config_text(text)
    assert spec.acme is not None and spec.acme.email == "admin@example.com"
    assert spec.listeners[0].services[0].acme == (
        str(tmp_path / "challenges"),
        "/var/lib/standby/acme/challenges",
    )


def test_acme_client_errors() -> None:
    base = 'ListenHTTP\n Address 127.0.0.1\n Port 1\n Service\n  Redirect "http://a"\n End\nEnd\n'
    cases = {
        'ACMEClient\n Store "/s"\nEnd\n': 'needs a "Server"',
        'ACMEClient\n Server "http://ca/dir"\n Store "/s"\nEnd\n': "not an https:// URL",
        'ACMEClient\n Server "https://ca/dir"\nEnd\n': 'needs a "Store"',
        'ACMEClient\n Server "https://ca/dir"\n Store "/s"\n Email "x"\nEnd\n': "not an e-mail",
    }
    for text, message in cases.items():
        with pytest.raises(ConfigError, match=message):
            load_config_text(base + text)
