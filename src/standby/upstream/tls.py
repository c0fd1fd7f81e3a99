"""Client TLS contexts for HTTPS backends: one per backend, made once, not per connection.

``prepare(config)`` makes the context of every HTTPS backend of a configuration, reading
the client certificates then: the proxy calls it when it is made, before privileges are
dropped (and before workers are forked, so they inherit the contexts), and again for each
reload, so that a renewed certificate file is read. The pool and the prober look a
context up by backend (``client_context``) when they open a connection.

A context keeps the last TLS session its backend gave (``BackendContext.session``) and
offers it in the next handshake: asyncio and uvloop make the TLS object of a connection
with ``SSLContext.wrap_bio`` without a session, so the context's own ``wrap_bio`` adds it.
A resumed handshake skips the certificate exchange and its signatures.

Defaults are Pound's for verification (none, unless ``CAlist``) and standby's for the
rest: TLS 1.2 and 1.3 only (``model.DEFAULT_MIN_TLS``), no compression, ALPN http/1.1.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterable

from standby.config.errors import quote
from standby.model import BackendSpec, BackendTlsSpec, Location
from standby.tls.context import ALPN, VERSIONS

Key = tuple[tuple[str, str, int | None], BackendTlsSpec]  # (backend identity, its TLS)


class TlsSetupError(ValueError):
    """A backend's TLS context cannot be made; ``str()`` is ``FILE:LINE.COL: message``
    (a ValueError, so that start-up and reload report it as they report a bad backend)."""

    def __init__(self, location: Location, message: str) -> None:
        super().__init__(f"{location}: {message}")


class BackendContext(ssl.SSLContext):
    """A client context for one backend that offers the backend's last session."""

    session: ssl.SSLSession | None = None

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        # asyncio insists on a server_hostname when it is given a socket; "" means none
        # (no SNI), which ssl itself would refuse.
        name = server_hostname or None
        offered = self.session if session is None else session
        if offered is not None:
            try:
                return super().wrap_bio(incoming, outgoing, server_side, name, offered)
            except ValueError:  # not this context's (cannot happen: kept per context)
                self.session = None
        return super().wrap_bio(incoming, outgoing, server_side, name)


def keep_session(ssl_object: object) -> None:
    """Remember the session of a connection that completed a request, for its context to
    offer next time (TLS 1.3 sends its tickets after the handshake: by then they came)."""
    if isinstance(ssl_object, ssl.SSLObject):
        context = ssl_object.context
        session = ssl_object.session
        if isinstance(context, BackendContext) and session is not None:
            context.session = session


_contexts: dict[Key, BackendContext] = {}
_lock = threading.Lock()  # a reload prepares in a thread while the loop looks contexts up


def key_of(spec: BackendSpec) -> Key:
    assert spec.tls is not None
    return (spec.identity, spec.tls)


def client_context(spec: BackendSpec) -> BackendContext:
    """The context for HTTPS backend ``spec`` (made now if ``prepare`` did not)."""
    key = key_of(spec)
    context = _contexts.get(key)
    if context is None:
        context = make_context(spec)
        with _lock:
            context = _contexts.setdefault(key, context)
    return context


def prepare(backends: Iterable[BackendSpec]) -> None:
    """Make (again) the context of every HTTPS backend of a configuration, reading its
    files now; raises TlsSetupError and changes nothing when one cannot be made."""
    fresh: dict[Key, BackendContext] = {}
    for backend in backends:
        if backend.tls is not None and key_of(backend) not in fresh:
            fresh[key_of(backend)] = make_context(backend)
    with _lock:
        _contexts.update(fresh)


def server_hostname(spec: BackendSpec) -> str:
    """The name sent (SNI) and, with CAlist, verified: ServerName, else (verifying) the
    address; "" for none. An IP address is verified but never sent, as RFC 6066 says."""
    tls = spec.tls
    assert tls is not None
    if tls.server_name is not None:
        return tls.server_name
    return spec.address if tls.verify and not spec.unix else ""


def make_context(spec: BackendSpec) -> BackendContext:
    tls = spec.tls
    assert tls is not None
    context = BackendContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = VERSIONS[tls.min_protocol]
    context.options |= ssl.OP_NO_COMPRESSION
    context.set_alpn_protocols(ALPN)
    if tls.ciphers is not None:
        try:
            context.set_ciphers(tls.ciphers)
        except ssl.SSLError:
            raise TlsSetupError(
                tls.ciphers_location, f"no cipher matches {quote(tls.ciphers)}"
            ) from None
    if tls.ca_pem is not None:
        try:
            context.load_verify_locations(cadata=tls.ca_pem.decode("ascii", "replace"))
        except ssl.SSLError as exc:
            raise TlsSetupError(
                tls.location, f"bad CA list {quote(tls.ca_file or '')}: {_reason(exc)}"
            ) from None
        context.check_hostname = True
        context.verify_mode = ssl.CERT_REQUIRED
    else:  # Pound's default: the backend is not verified
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if tls.cert is not None:
        try:
            context.load_cert_chain(tls.cert, password=_no_password)
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            raise TlsSetupError(
                tls.cert_location,
                f"cannot load client certificate {quote(tls.cert)}: {_reason(exc)}",
            ) from None
    return context


def handshake_failure(exc: BaseException) -> str:
    """The reason a TLS handshake failed, for the health log and ConnectFailed."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = exc.verify_message or _reason(exc)
        return f"TLS handshake failed: certificate verify failed: {detail}"
    return f"TLS handshake failed: {_reason(exc)}"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason).replace("_", " ").lower()
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _no_password() -> bytes:
    # An encrypted key must never make OpenSSL prompt on a terminal; the compiler refuses
    # one already, this covers a file that changed since.
    raise ValueError("the private key is encrypted (not supported)")
