"""JSON Web Signatures as ACME uses them (RFC 8555 6.2, RFC 7515): flattened JSON, ES256
with an ECDSA P-256 account key, the key itself (``jwk``) in a new-account request and its
account URL (``kid``) in every other. Also the key's thumbprint (RFC 7638) and the HTTP-01
key authorisation built from it (RFC 8555 8.1)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

ALGORITHM = "ES256"
# P-256: each of r, s (signature) and x, y (public point) is 32 bytes big-endian (RFC 7518 3.4).
COORDINATE_SIZE = 32


def b64url(data: bytes) -> str:
    """base64url without padding (RFC 7515 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def new_account_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    """The public half as a JWK, members in the lexicographic order RFC 7638 asks for."""
    numbers = key.public_key().public_numbers()
    return {
        "crv": "P-256",
        "kty": "EC",
        "x": b64url(numbers.x.to_bytes(COORDINATE_SIZE, "big")),
        "y": b64url(numbers.y.to_bytes(COORDINATE_SIZE, "big")),
    }


def thumbprint(key: ec.EllipticCurvePrivateKey) -> str:
    """RFC 7638: SHA-256 of the required members, no whitespace, sorted."""
    canonical = json.dumps(jwk(key), separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode("ascii")).digest())


def key_authorization(token: str, key: ec.EllipticCurvePrivateKey) -> str:
    """What the HTTP-01 challenge file holds (RFC 8555 8.1)."""
    return f"{token}.{thumbprint(key)}"


def sign(
    key: ec.EllipticCurvePrivateKey,
    url: str,
    nonce: str,
    payload: Any | None,
    kid: str | None,
) -> bytes:
    """The request body: ``payload`` None is a POST-as-GET (an empty payload, RFC 8555
    6.3); without ``kid`` the JWK itself identifies the key (newAccount only)."""
    protected: dict[str, Any] = {"alg": ALGORITHM, "nonce": nonce, "url": url}
    if kid is None:
        protected["jwk"] = jwk(key)
    else:
        protected["kid"] = kid
    head = b64url(json.dumps(protected, separators=(",", ":")).encode("utf-8"))
    body = "" if payload is None else b64url(json.dumps(payload).encode("utf-8"))
    der = key.sign(f"{head}.{body}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(COORDINATE_SIZE, "big") + s.to_bytes(COORDINATE_SIZE, "big")
    document = {"protected": head, "payload": body, "signature": b64url(raw)}
    return json.dumps(document).encode("ascii")
