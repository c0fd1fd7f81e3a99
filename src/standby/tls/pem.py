"""A server's PEM bundle, read and checked: pure (bytes in, facts out; no I/O).

Pound's ``Cert`` file holds the private key, the server certificate and its chain in one
PEM file. Pound wants them in that order; standby takes them in any order: the server
certificate is the one whose public key matches the private key, the others are its chain
(sent in the order found). Everything an operator can get wrong is a ``PemError`` with a
message that says what: no key, several keys, an encrypted key, no certificate matching the
key, a block that does not decode.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtensionOID, NameOID

# A PEM block: its label and the whole text (RFC 7468 2).
_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----", re.DOTALL | re.ASCII)
_KEY_LABELS = frozenset({b"PRIVATE KEY", b"RSA PRIVATE KEY", b"EC PRIVATE KEY"})
_CERT_LABELS = frozenset({b"CERTIFICATE", b"TRUSTED CERTIFICATE"})
# Labels that may sit in a bundle and are not ours to use (OpenSSL writes EC PARAMETERS
# before an EC key with `openssl ecparam -genkey`; Pound's files may carry DH parameters).
_IGNORED_LABELS = frozenset({b"EC PARAMETERS", b"DH PARAMETERS", b"X509 CRL"})
# A file bigger than this is not a certificate bundle (a wrong path, a log file).
MAX_BUNDLE_BYTES = 1 << 20


class PemError(ValueError):
    """A bundle that cannot serve; ``str()`` says why, for ``FILE:LINE.COL: ...``."""


@dataclass(frozen=True, slots=True)
class Bundle:
    """What a checked PEM file holds. ``key``, ``cert``, ``chain`` are PEM texts ready for
    OpenSSL (key first, then the certificate, then the chain: the order it wants)."""

    key: bytes = field(repr=False)
    cert: bytes
    chain: tuple[bytes, ...]
    names: tuple[str, ...]  # DNS names it answers (SAN, else the CN), as written
    not_before: datetime.datetime
    not_after: datetime.datetime
    subject: str  # the one-line form, for messages

    def pem(self) -> bytes:
        """Key, certificate and chain in OpenSSL's order, one PEM text."""
        return b"".join((self.key, b"\n", self.cert, b"\n", *(c + b"\n" for c in self.chain)))

    def expired(self, now: datetime.datetime) -> bool:
        return now >= self.not_after

    def not_yet_valid(self, now: datetime.datetime) -> bool:
        return now < self.not_before


def _public_bytes(key: object) -> bytes:
    if isinstance(
        key,
        rsa.RSAPublicKey
        | ec.EllipticCurvePublicKey
        | ed25519.Ed25519PublicKey
        | ed448.Ed448PublicKey,
    ):
        return key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    raise PemError(f"unsupported key type {type(key).__name__}")


def cert_names(cert: x509.Certificate) -> tuple[str, ...]:
    """The DNS names a certificate answers: its subjectAltName's, else its CN's."""
    try:
        san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    except x509.ExtensionNotFound:
        san = None
    if san is not None:
        assert isinstance(san.value, x509.SubjectAlternativeName)
        dns = tuple(san.value.get_values_for_type(x509.DNSName))
        if dns:
            return dns
    return tuple(
        str(attr.value) for attr in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    )


def parse_bundle(data: bytes) -> Bundle:
    """Check a PEM file's bytes and return what it holds; raises ``PemError``."""
    if len(data) > MAX_BUNDLE_BYTES:
        raise PemError(f"too large for a certificate file (over {MAX_BUNDLE_BYTES} bytes)")
    keys: list[bytes] = []
    certs: list[tuple[bytes, x509.Certificate]] = []
    for match in _BLOCK.finditer(data):
        label, text = match.group(1), match.group(0)
        if label in _KEY_LABELS:
            keys.append(text)
        elif label in _CERT_LABELS:
            try:
                certs.append((text, x509.load_pem_x509_certificate(text)))
            except ValueError as exc:
                raise PemError(f"a certificate does not decode: {exc}") from None
        elif label == b"ENCRYPTED PRIVATE KEY":
            raise PemError("the private key is encrypted (standby cannot ask for a passphrase)")
        elif label not in _IGNORED_LABELS:
            raise PemError(f"unexpected PEM block {label.decode()!r}")
    if not keys:
        raise PemError("no private key in the file (it must hold the key and the certificate)")
    if len(keys) > 1:
        raise PemError(f"{len(keys)} private keys in the file (one is expected)")
    if not certs:
        raise PemError("no certificate in the file")
    try:
        private = serialization.load_pem_private_key(keys[0], password=None)
    except TypeError:
        raise PemError(
            "the private key is encrypted (standby cannot ask for a passphrase)"
        ) from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise PemError(f"the private key does not decode: {exc}") from None
    public = _public_bytes(private.public_key())
    found = [i for i, (_, cert) in enumerate(certs) if _public_bytes(cert.public_key()) == public]
    if not found:
        raise PemError("the private key matches none of the certificates in the file")
    text, cert = certs[found[0]]
    chain = tuple(t for i, (t, _) in enumerate(certs) if i != found[0])
    return Bundle(
        key=keys[0],
        cert=text,
        chain=chain,
        names=cert_names(cert),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        subject=cert.subject.rfc4514_string(),
    )


def parse_certificates(data: bytes) -> list[x509.Certificate]:
    """Every certificate of a PEM file of CAs (``CAlist``, ``VerifyList``); raises
    ``PemError`` when there is none or one does not decode."""
    certs = []
    for match in _BLOCK.finditer(data):
        if match.group(1) in _CERT_LABELS:
            try:
                certs.append(x509.load_pem_x509_certificate(match.group(0)))
            except ValueError as exc:
                raise PemError(f"a certificate does not decode: {exc}") from None
    if not certs:
        raise PemError("no certificate in the file")
    return certs
