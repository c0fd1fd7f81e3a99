"""htpasswd.py: every hash htpasswd writes, the file format, Basic credentials."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from standby import syscrypt
from standby.htpasswd import (
    HAVE_CRYPT,
    HtpasswdError,
    UserTable,
    apr1,
    basic_credentials,
    check_password,
    parse_htpasswd,
)

# Reference hashes made by `openssl passwd` (apr1, -1, -6) and by htpasswd -B (bcrypt).
APR1 = "$apr1$abcdefgh$h9FWgUz3n9YxylKLlR5SQ/"  # "secret"
MD5_CRYPT = "$1$abc$iCQ2D3nhptRYi27fDYv2s1"  # "secret"
SHA512_CRYPT = (
    "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN"
    ".Pq.H91p5hVO1"
)  # "secret"
BCRYPT = "$2y$05$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0a"  # "secret"


def test_apr1_is_openssls() -> None:
    assert apr1(b"secret", b"abcdefgh") == APR1
    assert apr1("pässword".encode(), b"Zq9/.x") == "$apr1$Zq9/.x$zr.l2UZ4.ZTkAPlLcjaYb."


@pytest.mark.parametrize("hashed", [APR1, "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=", "secret"])
def test_schemes_computed_here(hashed: str) -> None:
    assert check_password(b"secret", hashed)
    assert not check_password(b"secreT", hashed)


def test_the_c_library_is_there() -> None:
    # Every Linux standby runs on has libcrypt (Debian: the essential libcrypt1), whatever
    # the Python version: Python's crypt module, gone in 3.13, is not needed.
    assert HAVE_CRYPT


@pytest.mark.parametrize("hashed", [MD5_CRYPT, SHA512_CRYPT, BCRYPT])
def test_schemes_of_the_c_library(hashed: str) -> None:
    assert check_password(b"secret", hashed)
    assert not check_password(b"secret ", hashed)


@pytest.mark.parametrize(
    ("password", "hashed"),
    [
        # `printf 'p\xe4ss' | openssl passwd -6 -salt saltsalt -stdin`: a Latin-1 byte
        (
            b"p\xe4ss",
            "$6$saltsalt$S2C32fhurKIrJ6oay3PMeFGWJmiWfezKKMVrcTQBjqn1nF2aL4yeZ2WV31vfiIxD1f8Ngjb"
            "ArQ/5M2G3KmfjV/",
        ),
        # `printf 'pässwörd' | openssl passwd -5 -salt abc -stdin` (and -1): UTF-8 bytes
        ("pässwörd".encode(), "$5$abc$cgcp2e9c21faVh2fikKWNSIEdf8n1mYAJJcgUrG8di/"),
        ("pässwörd".encode(), "$1$abc$va.mDh.xD0xaCpxxh9akd0"),
    ],
)
def test_the_password_s_bytes_are_hashed_as_sent(password: bytes, hashed: str) -> None:
    assert check_password(password, hashed)
    assert not check_password(password.decode("latin-1").encode(), hashed)


def test_what_the_c_library_refuses_never_matches() -> None:
    assert syscrypt.crypt(b"sec\0ret", MD5_CRYPT) is None
    assert syscrypt.crypt(b"secret", "$9$unknown$scheme") is None
    assert not check_password(b"secret", "$9$unknown$scheme")


def test_sha_reference() -> None:
    assert base64.b64encode(hashlib.sha1(b"secret").digest()).decode() == (
        "5en6G6MezRroT3XKqkdPOmY/BfQ="
    )


def test_file_format() -> None:
    users = parse_htpasswd("# comment\n\nann:x\r\n  bob:y  \n")
    assert users == {b"ann": "x", b"bob": "y"}
    with pytest.raises(HtpasswdError) as info:
        parse_htpasswd("ann:x\n:nouser\n")
    assert info.value.line == 2
    with pytest.raises(HtpasswdError):
        parse_htpasswd("ann:\n")


def test_table_remembers_verdicts_and_forgets_them_on_replace() -> None:
    table = UserTable("/f", {b"ann": APR1})
    assert table.verify(b"ann", b"secret") and table.verify(b"ann", b"secret")
    assert not table.verify(b"ann", b"other") and not table.verify(b"bob", b"secret")
    table.replace({b"ann": "plain"})
    assert not table.verify(b"ann", b"secret") and table.verify(b"ann", b"plain")
    assert table == UserTable("/f", {b"ann": "plain"})


@given(st.binary(max_size=20).filter(lambda b: b":" not in b), st.binary(max_size=20))
def test_basic_credentials_round_trip(user: bytes, password: bytes) -> None:
    token = base64.b64encode(user + b":" + password)
    assert basic_credentials(b"Basic " + token) == (user, password)
    assert basic_credentials(b"basic  " + token + b" ") == (user, password)
    assert basic_credentials(b"Bearer " + token) is None


@pytest.mark.parametrize(
    "value", [None, b"Basic", b"Basic !!!", b"Basic " + base64.b64encode(b"x")]
)
def test_basic_credentials_refused(value: bytes | None) -> None:
    assert basic_credentials(value) is None
