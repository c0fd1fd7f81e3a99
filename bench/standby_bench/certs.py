"""The one certificate per key kind that every TLS target serves (made here, with cryptography).

Each is a self-signed certificate for the loopback names, written with its private key as
one PEM file (key first, then the certificate): the form Pound's ``Cert`` takes, and one
that HAProxy's ``crt`` and nginx's ``ssl_certificate``/``ssl_certificate_key`` read too.
"""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

ECDSA = "ecdsa"  # P-256
RSA = "rsa"  # 2048 bits
KEY_KINDS = (ECDSA, RSA)
KEY_LABELS = {ECDSA: "ECDSA P-256", RSA: "RSA 2048"}
RSA_BITS = 2048
RSA_EXPONENT = 65537
LOOPBACK_NAMES = ("localhost",)
LOOPBACK_ADDRESSES = ("127.0.0.1", "::1")
VALIDITY = datetime.timedelta(days=30)  # far longer than any run
CLOCK_SKEW = datetime.timedelta(hours=1)  # notBefore a little in the past


def _private_key(kind: str) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    if kind == ECDSA:
        return ec.generate_private_key(ec.SECP256R1())
    if kind == RSA:
        return rsa.generate_private_key(public_exponent=RSA_EXPONENT, key_size=RSA_BITS)
    raise ValueError(f"unknown key kind {kind!r}; known: {', '.join(KEY_KINDS)}")


def certificate_pem(kind: str) -> bytes:
    """A fresh key of ``kind`` and its self-signed certificate, as one PEM text."""
    key = _private_key(kind)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, LOOPBACK_NAMES[0])])
    now = datetime.datetime.now(datetime.UTC)
    alt_names: list[x509.GeneralName] = [x509.DNSName(n) for n in LOOPBACK_NAMES]
    alt_names += [x509.IPAddress(ipaddress.ip_address(a)) for a in LOOPBACK_ADDRESSES]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem + cert.public_bytes(serialization.Encoding.PEM)


def write_certificates(directory: Path) -> dict[str, Path]:
    """One PEM file per key kind in ``directory`` (mode 0600): kind -> path."""
    paths = {}
    for kind in KEY_KINDS:
        path = directory / f"{kind}.pem"
        path.touch(mode=0o600)
        path.write_bytes(certificate_pem(kind))
        paths[kind] = path
    return paths
