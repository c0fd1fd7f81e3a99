"""The ``X-SSL-*`` lines of one HTTPS connection, made once after its handshake.

Pound's forms (learnt from its documentation and behaviour):
- ``X-SSL-cipher: <protocol>/<OpenSSL's cipher description>`` on every HTTPS request;
- with a client certificate (``ClientCert`` 1 to 3): ``X-SSL-Subject`` and
  ``X-SSL-Issuer`` in OpenSSL's one-line form (``C = DE, O = Example, CN = alice``: short
  names, `` = ``, ``, ``; a value with a special character in double quotes),
  ``X-SSL-notBefore`` and ``X-SSL-notAfter`` as OpenSSL prints times
  (``Jan  2 03:04:05 2026 GMT``), ``X-SSL-serial`` in decimal, and ``X-SSL-certificate``:
  the PEM text on one line, its lines joined by a space (Pound folds them over several
  lines with obsolete line folding, which RFC 9112 asks recipients to read as spaces).

Differences: Pound's serial is a C ``long`` (-1 for a serial over 63 bits, as CAs issue
today); standby gives the whole number.
"""

from __future__ import annotations

import datetime
import ssl

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

# OpenSSL's short names for the attributes a certificate name commonly has.
_SHORT_NAMES = {
    NameOID.COMMON_NAME: "CN",
    NameOID.COUNTRY_NAME: "C",
    NameOID.LOCALITY_NAME: "L",
    NameOID.STATE_OR_PROVINCE_NAME: "ST",
    NameOID.STREET_ADDRESS: "street",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.SURNAME: "SN",
    NameOID.GIVEN_NAME: "GN",
    NameOID.TITLE: "title",
    NameOID.GENERATION_QUALIFIER: "generationQualifier",
    NameOID.DN_QUALIFIER: "dnQualifier",
    NameOID.PSEUDONYM: "pseudonym",
    NameOID.DOMAIN_COMPONENT: "DC",
    NameOID.EMAIL_ADDRESS: "emailAddress",
    NameOID.POSTAL_CODE: "postalCode",
    NameOID.USER_ID: "UID",
    NameOID.BUSINESS_CATEGORY: "businessCategory",
    NameOID.INITIALS: "initials",
}
# RFC 2253's special characters: a value with one is quoted in the one-line form.
_SPECIAL = frozenset(',+"\\<>;')
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _value(text: str) -> str:
    """One attribute value as OpenSSL's one-line form writes it (control characters as
    ``\\XX``, bytes above 127 kept as UTF-8)."""
    out = []
    quote = bool(text) and (text[0] in "# " or text[-1] == " ")
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ch == "\x7f":
            out.append(f"\\{ord(ch):02X}")
        else:
            quote = quote or ch in _SPECIAL
            out.append(ch)
    body = "".join(out)
    return f'"{body}"' if quote else body


def oneline(name: x509.Name) -> str:
    """``name`` in OpenSSL's one-line form, attributes in certificate order."""
    rdns = []
    for rdn in name.rdns:
        parts = []
        for attr in rdn:
            short = _SHORT_NAMES.get(attr.oid, attr.oid.dotted_string)
            value = attr.value if isinstance(attr.value, str) else attr.value.hex()
            parts.append(f"{short} = {_value(value)}")
        rdns.append(" + ".join(parts))
    return ", ".join(rdns)


def asn1_time(when: datetime.datetime) -> str:
    """A certificate time as OpenSSL prints it: ``Jan  2 03:04:05 2026 GMT``."""
    return (
        f"{_MONTHS[when.month - 1]} {when.day:2d} {when.hour:02d}:{when.minute:02d}:"
        f"{when.second:02d} {when.year} GMT"
    )


def cert_lines(der: bytes) -> bytes:
    """The client certificate's ``X-SSL-*`` lines (each ending in CRLF)."""
    cert = x509.load_der_x509_certificate(der)
    pem = cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
    fields = (
        ("X-SSL-Subject", oneline(cert.subject)),
        ("X-SSL-Issuer", oneline(cert.issuer)),
        ("X-SSL-notBefore", asn1_time(cert.not_valid_before_utc)),
        ("X-SSL-notAfter", asn1_time(cert.not_valid_after_utc)),
        ("X-SSL-serial", str(cert.serial_number)),
        ("X-SSL-certificate", " ".join(pem.split())),
    )
    return b"".join(f"{name}: {value}\r\n".encode() for name, value in fields)


_descriptions: dict[str, str] = {}


def cipher_description(name: str) -> str:
    """OpenSSL's description of the cipher ``name`` (as ``openssl ciphers -v`` shows it)."""
    if not _descriptions:
        everything = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        everything.set_ciphers("ALL:@SECLEVEL=0")
        for cipher in everything.get_ciphers():
            _descriptions[cipher["name"]] = str(cipher.get("description", cipher["name"]))
    return _descriptions.get(name, name).rstrip("\n")


def ssl_lines(ssl_object: ssl.SSLObject | None, client_certs: bool) -> bytes:
    """The ``X-SSL-*`` lines of an HTTPS connection: the cipher always, the client
    certificate's when ``client_certs`` (the listener asks for them) and one was sent."""
    if ssl_object is None:
        return b""
    out = b""
    cipher = ssl_object.cipher()
    if cipher is not None:
        out = f"X-SSL-cipher: {ssl_object.version()}/{cipher_description(cipher[0])}\r\n".encode()
    if client_certs:
        der = ssl_object.getpeercert(binary_form=True)
        if der:
            out += cert_lines(der)
    return out
