"""``ssl.SSLContext`` objects for an HTTPS listener (the shell side of ``tls``).

A listener has one *base* context, the one its server is created with: protocol versions,
ciphers, options, ALPN, client certificate verification and the SNI callback live there,
and OpenSSL copies them into each connection when it starts. Each certificate has its own
small context that only carries the key and chain: the SNI callback sets it on the
connection (``ssl_object.context = ...``), which changes the certificate and nothing else.

What Python's ssl module cannot do that Pound does (docs/tls.md says it to operators):
- ``-ciphersuites`` (TLS 1.3 suites): no call for it; OpenSSL's defaults serve.
- ``ClientCert 3`` (ask, do not verify): there is no verify callback; it acts as 1
  (asked, verified when sent), or as 0 without a CA file to verify with.
- the ``ClientCert`` depth: no call for it; OpenSSL's limit (100) applies.
- ``CAlist`` names sent to the client: no call for it; its certificates verify instead.
- ``SSLAllowClientRenegotiation 1|2``: renegotiation stays off (``OP_NO_RENEGOTIATION``).
"""

from __future__ import annotations

import contextlib
import os
import ssl
from dataclasses import replace

from standby import model
from standby.config.errors import SettingError, quote
from standby.model import ListenerTlsSpec, TlsProtocol
from standby.tls.pem import Bundle

# The oldest version allowed, by Pound's name (the listener's and the backends' contexts).
# SSL 2 and 3 are not built into any OpenSSL we run on: the oldest it has is the floor.
VERSIONS = {
    TlsProtocol.SSLv2: ssl.TLSVersion.MINIMUM_SUPPORTED,
    TlsProtocol.SSLv3: ssl.TLSVersion.MINIMUM_SUPPORTED,
    TlsProtocol.TLSv1: ssl.TLSVersion.TLSv1,
    TlsProtocol.TLSv1_1: ssl.TLSVersion.TLSv1_1,
    TlsProtocol.TLSv1_2: ssl.TLSVersion.TLSv1_2,
    TlsProtocol.TLSv1_3: ssl.TLSVersion.TLSv1_3,
}
ALPN = ["http/1.1"]  # HTTP/1.1 is what standby speaks, to clients and to backends
# The `ClientCert` modes that verify a certificate sent (`3` asks without verifying).
VERIFYING = frozenset({model.CLIENT_CERT_ASK, model.CLIENT_CERT_REQUIRE})


class TlsSetupError(SettingError):
    """A TLS setting OpenSSL refuses; ``keyword`` names the configuration keyword."""


def base_context(spec: ListenerTlsSpec) -> ssl.SSLContext:
    """The listener's context (no certificate: the SNI callback always sets one)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    configure(ctx, spec)
    return ctx


def check_settings(spec: ListenerTlsSpec) -> None:
    """What ``standby -c`` and a reload ask of a listener's settings: that OpenSSL takes
    them (its cipher list syntax, curve names and DH files are its own), so that a value
    it refuses is a configuration error at its keyword, not a failure at start-up."""
    base_context(spec)


def configure(ctx: ssl.SSLContext, spec: ListenerTlsSpec) -> None:
    """Apply ``spec``'s settings. Both the base context and every certificate's get them:
    a connection keeps the options, versions and verify mode of the context it started
    with, but OpenSSL reads the cipher list, ALPN choice, groups and trust store from the
    context the SNI callback set."""
    ctx.minimum_version = VERSIONS[max(spec.min_protocol, model.DEFAULT_MIN_TLS)]
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    if spec.honor_cipher_order:
        ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    else:
        ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    try:
        ctx.set_ciphers(spec.ciphers)
    except ssl.SSLError:
        raise TlsSetupError(
            "Ciphers", f"OpenSSL knows no cipher in {quote(spec.ciphers)}"
        ) from None
    ctx.set_alpn_protocols(ALPN)
    if spec.ecdh_curve is not None:
        try:
            ctx.set_ecdh_curve(spec.ecdh_curve)
        except (ValueError, ssl.SSLError):
            raise TlsSetupError(
                "ECDHcurve", f"OpenSSL knows no curve {quote(spec.ecdh_curve)}"
            ) from None
    if spec.dh_params is not None:
        try:
            ctx.load_dh_params(spec.dh_params)
        except (OSError, ssl.SSLError) as exc:
            raise TlsSetupError("DHParams", f"cannot load {quote(spec.dh_params)}: {exc}") from None
    trust = trust_files(spec)
    cas = bool(trust) and bool(spec.verify_list or spec.ca_list)
    if cas:
        try:
            for name in trust:
                ctx.load_verify_locations(cafile=name)
        except (OSError, ssl.SSLError) as exc:
            raise TlsSetupError("VerifyList", f"cannot load the CA files: {exc}") from None
        if spec.crl_list is not None:
            ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    # `ClientCert 1` and `2` ask and verify even without a CA file, as in Pound 4.23: the
    # store is then empty (no system CAs are loaded), so a certificate sent fails the
    # handshake; `1` still serves a client that sends none. `3` asks only with CAs.
    if cas or spec.client_cert in VERIFYING:
        required = spec.client_cert == model.CLIENT_CERT_REQUIRE
        ctx.verify_mode = ssl.CERT_REQUIRED if required else ssl.CERT_OPTIONAL
    elif spec.condition_certs:
        # The `ClientCert "file"` conditions' certificates, trusted as they are (a partial
        # chain: a leaf counts as an anchor): Python's ssl cannot ask for a certificate
        # without verifying it, so one of these verifies and any other fails.
        try:
            ctx.load_verify_locations(cadata=b"".join(spec.condition_certs))
        except ssl.SSLError as exc:
            raise TlsSetupError("ClientCert", f"cannot trust the certificates: {exc}") from None
        ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        ctx.verify_mode = ssl.CERT_OPTIONAL


def settings(spec: ListenerTlsSpec) -> ListenerTlsSpec:
    """``spec`` less its certificates and location: what ``configure`` applies."""
    return replace(spec, certs=(), location=model.UNKNOWN_LOCATION)


def trust_files(spec: ListenerTlsSpec) -> tuple[str, ...]:
    """The CA and CRL files client certificates are verified with. Every certificate's
    context loads them too: OpenSSL verifies with the store of the context the SNI
    callback chose, not the base context's."""
    if spec.client_cert == model.CLIENT_CERT_NONE:
        return ()
    files = (spec.verify_list, spec.ca_list, spec.crl_list)
    return tuple(name for name in files if name is not None)


def _proc_path(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


def cert_context(bundle: Bundle, source: str, spec: ListenerTlsSpec) -> ssl.SSLContext:
    """A context holding one certificate (key, certificate, chain) with the listener's
    settings. The certificate is loaded from memory (a memfd) so that what OpenSSL loads
    is exactly what ``bundle`` checked; where /proc is missing (a RootJail) from
    ``source``, the file the bundle was read from."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    configure(ctx, spec)
    fd = -1
    try:
        with contextlib.suppress(OSError, AttributeError):
            fd = os.memfd_create("standby-cert", os.MFD_CLOEXEC)
        if fd >= 0 and os.path.exists(_proc_path(fd)):
            os.write(fd, bundle.pem())
            ctx.load_cert_chain(_proc_path(fd))
        else:
            ctx.load_cert_chain(source)
    finally:
        if fd >= 0:
            os.close(fd)
    return ctx
