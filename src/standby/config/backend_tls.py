"""``HTTPS`` in a BackEnd or Emergency section: compiled to ``model.BackendTlsSpec``.

Pound 2's form is ``HTTPS`` or ``HTTPS "client.pem"``; Pound 4's is ``HTTPS`` followed by
``Cert``, ``ServerName``, ``Ciphers`` and ``Disable`` (which, as in Pound 4, must come after
``HTTPS``); ``CAlist`` is standby's. Files are read and checked here, so that ``standby -c``
reports a missing, unreadable or malformed client certificate or CA list, or a key that
does not belong to its certificate, as ``FILE:LINE.COL: message``. Pure: the TLS context
itself is made by ``standby.upstream.tls`` (which needs ``ssl``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from standby import model
from standby.config.errors import ConfigError, quote
from standby.config.lexer import describe_os_error
from standby.config.tree import Directive, SectionNode
from standby.model import BackendTlsSpec, Location, TlsProtocol

# A client certificate file holds a key, a certificate and its chain; a CA list a few
# hundred certificates at most. Anything bigger is a wrong path, not a certificate.
MAX_PEM_BYTES = 1 << 20

# The keywords that only mean something after HTTPS.
_AFTER_HTTPS = ("Cert", "ServerName", "CAlist", "Ciphers", "Disable")

_PEM_KEY = re.compile(
    rb"-----BEGIN ((?:RSA |EC |DSA |ENCRYPTED )?PRIVATE KEY)-----.*?-----END \1-----",
    re.DOTALL,
)

Reader = Callable[[str], bytes]


def backend_tls(node: SectionNode, read: Reader) -> BackendTlsSpec | None:
    """The TLS settings of a BackEnd or Emergency section ``node``; None without HTTPS."""
    https = node.first("HTTPS")
    for name in _AFTER_HTTPS:
        directive = node.first(name)
        if directive is None:
            continue
        if https is None or _before(directive.location, https.location):
            raise ConfigError(directive.location, f'"{name}" must come after "HTTPS"')
    if https is None:
        return None
    if node.first("ServerName") is None and node.first("CAlist") is not None:
        address = node.first("Address")
        if address is not None and _text(address).startswith("/"):
            raise ConfigError(
                https.location,
                '"CAlist" on a UNIX socket backend needs "ServerName" (the name to verify)',
            )
    cert_at = https if https.values[0] is not None else None
    cert = node.first("Cert")
    if cert is not None:
        if cert_at is not None:
            raise ConfigError(
                cert.location,
                f'a client certificate is already given by "HTTPS" at {cert_at.location}',
            )
        cert_at = cert
    cert_path: str | None = None
    cert_location = https.location
    if cert_at is not None:
        cert_path = _text(cert_at)
        cert_location = cert_at.arg_locations[0]
        data = _read(read, cert_at)
        try:
            check_client_cert(cert_path, data)
        except ValueError as exc:
            raise ConfigError(cert_location, str(exc)) from None
    ca = node.first("CAlist")
    ca_pem = None if ca is None else check_ca_list(_text(ca), _read(read, ca), ca)
    ciphers = node.first("Ciphers")
    disable = node.first("Disable")
    server_name = node.first("ServerName")
    return BackendTlsSpec(
        cert=cert_path,
        server_name=None if server_name is None else _text(server_name),
        ca_pem=ca_pem,
        ca_file=None if ca is None else _text(ca),
        ciphers=None if ciphers is None else _text(ciphers),
        min_protocol=model.DEFAULT_MIN_TLS
        if disable is None
        else TlsProtocol(TlsProtocol[_protocol_name(_text(disable))] + 1),
        location=https.location,
        cert_location=cert_location,
        ciphers_location=https.location if ciphers is None else ciphers.arg_locations[0],
    )


def check_client_cert(path: str, data: bytes) -> None:
    """Raise ValueError unless ``data`` (PEM) holds an unencrypted private key and, first,
    the certificate of that key (a chain may follow)."""
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise ValueError(f"no PEM certificate in {quote(path)}") from None
    keys = list(_PEM_KEY.finditer(data))
    if not keys:
        raise ValueError(f"no private key in {quote(path)} (it must hold the key too)")
    if len(keys) > 1:
        raise ValueError(f"more than one private key in {quote(path)}")
    if keys[0].group(1) == b"ENCRYPTED PRIVATE KEY":
        raise ValueError(f"the private key in {quote(path)} is encrypted (not supported)")
    try:
        key = serialization.load_pem_private_key(keys[0].group(0), password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"bad private key in {quote(path)}: {exc}") from None
    mine = _spki(key.public_key())
    for position, cert in enumerate(certs):
        if _spki(cert.public_key()) == mine:
            if position:
                raise ValueError(
                    f"the certificate of the private key in {quote(path)} must come "
                    "before the other certificates (the chain)"
                )
            return
    raise ValueError(f"the private key in {quote(path)} does not match its certificate")


def check_ca_list(path: str, data: bytes, at: Directive) -> bytes:
    """``data`` if it holds at least one PEM certificate, else a ConfigError at ``at``."""
    try:
        x509.load_pem_x509_certificates(data)
    except ValueError:
        raise ConfigError(at.arg_locations[0], f"no PEM certificate in {quote(path)}") from None
    return data


def _spki(public_key: object) -> bytes:
    return public_key.public_bytes(  # type: ignore[attr-defined,no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _read(read: Reader, at: Directive) -> bytes:
    path = _text(at)
    try:
        data = read(path)
    except OSError as exc:
        raise ConfigError(
            at.arg_locations[0], f"cannot read {quote(path)}: {describe_os_error(exc)}"
        ) from None
    if len(data) > MAX_PEM_BYTES:
        raise ConfigError(
            at.arg_locations[0], f"{quote(path)} is too large (over {MAX_PEM_BYTES} bytes)"
        )
    return data


def _protocol_name(word: str) -> str:
    for protocol in TlsProtocol:
        if protocol.name.lower() == word.lower():
            return protocol.name
    raise AssertionError(word)  # the schema allows only these words


def _before(a: Location, b: Location) -> bool:
    return a.file == b.file and (a.line, a.col) < (b.line, b.col)


def _text(directive: Directive) -> str:
    """The directive's one string argument (a path, a name, a cipher list)."""
    value = directive.values[0]
    assert isinstance(value, str)
    return value
