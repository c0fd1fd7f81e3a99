"""The ACME client's files (blocking: called in a thread, never on the event loop).

``<store>/account.key`` (the account's ECDSA P-256 key), ``<store>/<name>.pem`` (a
certificate's private key, the certificate and its chain), ``<store>/challenges/`` (HTTP-01
key authorisations, served by every plain listener). The store is mode 0700, keys and
certificates 0600, each written to a temporary file in the same directory and renamed over
the old one, so that a reader (the HTTPS listener's file watcher) sees the old file or the
new one, never half of one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from standby.acme.jws import new_account_key
from standby.acme.schedule import Lifetime
from standby.model import ACME_ACCOUNT_KEY, ACME_CHALLENGES
from standby.tls.pem import MAX_BUNDLE_BYTES, PemError, parse_bundle

STORE_MODE = 0o700  # only standby's user may read keys or list certificates
SECRET_MODE = 0o600  # keys, and certificate files holding a key
CHALLENGE_MODE = 0o644  # a key authorisation is public: the CA reads it over plain HTTP


def write_atomically(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory, renamed
    over it once complete and on disk."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a crash
    finally:
        os.close(directory)


def lifetime_of(pem: bytes) -> Lifetime | None:
    """The validity and names of the certificate a ``Cert`` file serves (the one of its
    key), None when the file is not one the HTTPS listener would load (it is then issued
    again rather than left to fail handshakes until its renewal)."""
    try:
        bundle = parse_bundle(pem)
    except PemError:
        return None
    return Lifetime(
        not_before=bundle.not_before.timestamp(),
        not_after=bundle.not_after.timestamp(),
        names=frozenset(name.lower() for name in bundle.names),
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """A private key as the store keeps it: PKCS#8 PEM, unencrypted (the file is 0600)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class AcmeStore:
    """One ``Store`` directory."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.challenges = self.path / ACME_CHALLENGES

    def prepare(self) -> None:
        """Make the store and its challenge directory (0700) if they are missing; tighten a
        store that others can read."""
        self.path.mkdir(mode=STORE_MODE, parents=True, exist_ok=True)
        if self.path.stat().st_mode & 0o077:
            self.path.chmod(STORE_MODE)
        self.challenges.mkdir(mode=STORE_MODE, exist_ok=True)

    def account_key(self) -> ec.EllipticCurvePrivateKey:
        """The account key, made (and kept) on first use."""
        path = self.path / ACME_ACCOUNT_KEY
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            key = new_account_key()
            pem = _key_pem(key)
            write_atomically(path, pem, SECRET_MODE)
            return key
        key_read = serialization.load_pem_private_key(data, password=None)
        if not isinstance(key_read, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{path}: not an ECDSA key")
        return key_read

    def lifetime(self, file: str) -> Lifetime | None:
        """The certificate in ``file``: None when absent or unreadable (it is then issued)."""
        try:
            with open(file, "rb") as handle:
                data = handle.read(MAX_BUNDLE_BYTES + 1)  # parse_bundle refuses more
        except OSError:
            return None
        return lifetime_of(data)

    def write_certificate(self, file: str, key: ec.EllipticCurvePrivateKey, chain: bytes) -> None:
        """Key, certificate and chain in one PEM file, as a ``Cert`` file is."""
        pem = _key_pem(key)
        write_atomically(Path(file), pem + chain, SECRET_MODE)

    def put_challenge(self, token: str, content: str) -> None:
        write_atomically(self.challenges / token, content.encode("ascii"), CHALLENGE_MODE)

    def remove_challenge(self, token: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.challenges / token).unlink()
