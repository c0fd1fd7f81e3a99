"""The certificates of one HTTPS listener: loaded, chosen by SNI, swapped, watched.

``CertStore`` holds one entry per ``Cert`` file, loaded when it is made (at start-up before
privileges are dropped, so a key only root may read is read then; forked workers inherit
it). ``TlsListener`` is what the listener's server sees: a base context whose SNI callback
asks the current store, so that replacing the store (a reload) or one of its entries (a
changed file) affects only handshakes that start afterwards; connections already open keep
the certificate they were given.

A file that changes is noticed by ``poll`` (its stat: inode, size, mtime), called from a
timer in every serving process (``CERT_POLL_INTERVAL``). A new file that does not load
(unreadable, broken, a key that does not match) leaves the old certificate serving and is
logged once, with the file and the reason.

For an ACME client: write the PEM file (key, certificate, chain) to a temporary name in
the same directory, mode 0600, and rename it over the name a ``Cert`` gives; a ``managed``
``CertSpec`` may name a file that does not exist yet: the listener starts, a handshake that
would need it gets the default certificate (or fails when there is none yet), and the file
is loaded by the next poll after it appears.
"""

from __future__ import annotations

import datetime
import logging
import os
import ssl
from dataclasses import dataclass

from standby.config.errors import quote
from standby.config.lexer import describe_os_error, read_bytes
from standby.model import CertSpec, ListenerTlsSpec
from standby.tls.context import base_context, cert_context, settings
from standby.tls.names import NameIndex
from standby.tls.pem import Bundle, PemError, parse_bundle

log = logging.getLogger("standby.tls")

# How often each serving process looks at its certificate files' stat (one stat call per
# file): a renewed certificate serves within this, and a hundred files cost nothing.
CERT_POLL_INTERVAL = 2.0

Signature = tuple[int, int, int]  # (inode, size, mtime in ns): a rename or a write changes it


class CertLoadError(ValueError):
    """A certificate file that cannot serve, at start-up or in a reload."""


def signature(path: str) -> Signature | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass(slots=True)
class Entry:
    """One certificate file and what was last loaded from it."""

    spec: CertSpec
    seen: Signature | None = None  # the file's stat when last looked at (loaded or not)
    bundle: Bundle | None = None  # None: never loaded (a managed file not there yet)
    context: ssl.SSLContext | None = None


def load(path: str, spec: ListenerTlsSpec) -> tuple[Bundle, ssl.SSLContext]:
    """Read, check and load one PEM file; raises CertLoadError with the reason."""
    try:
        data = read_bytes(path)  # a regular file only: a FIFO would stall the event loop
    except OSError as exc:
        raise CertLoadError(f"cannot read {quote(path)}: {describe_os_error(exc)}") from None
    try:
        bundle = parse_bundle(data)
        return bundle, cert_context(bundle, path, spec)
    except (PemError, ssl.SSLError, OSError) as exc:
        raise CertLoadError(f"{quote(path)}: {exc}") from None


class CertStore:
    """The certificates of one listener, in configuration order (the first loaded one is
    the default)."""

    def __init__(
        self,
        tls: ListenerTlsSpec,
        previous: CertStore | None = None,
    ) -> None:
        """Load every file; a file ``previous`` holds unchanged is taken from it without a
        read. Raises CertLoadError for a file that does not load, unless ``previous`` has
        it (its old certificate stays, logged) or it is managed (not there yet).
        Every certificate's context has the listener's settings (``tls``): contexts of
        kept files are made again when those changed."""
        self.tls = tls
        kept = {} if previous is None else {e.spec.path: e for e in previous.entries}
        same_settings = previous is not None and settings(previous.tls) == settings(tls)
        self.entries: list[Entry] = []
        for spec in tls.certs:
            old = kept.get(spec.path)
            now = signature(spec.path)
            if old is not None and old.bundle is not None and old.seen == now:
                context = old.context
                if not same_settings or context is None:
                    context = self._context(old.bundle, spec)
                self.entries.append(Entry(spec, now, old.bundle, context))
                continue
            entry = Entry(spec, now)
            try:
                entry.bundle, entry.context = load(spec.path, tls)
            except CertLoadError as exc:
                if old is not None and old.bundle is not None:
                    log.error("%s: %s; the certificate loaded before stays", spec.location, exc)
                    entry.bundle = old.bundle
                    entry.context = old.context
                    if not same_settings:
                        entry.context = self._context(old.bundle, spec)
                elif spec.managed and now is None:
                    log.info(
                        "%s: %s not there yet; it is loaded when it appears",
                        spec.location,
                        quote(spec.path),
                    )
                else:
                    raise CertLoadError(f"{spec.location}: {exc}") from None
            self.entries.append(entry)
        self._reindex()

    def _context(self, bundle: Bundle, spec: CertSpec) -> ssl.SSLContext:
        try:
            return cert_context(bundle, spec.path, self.tls)
        except (ssl.SSLError, OSError) as exc:
            raise CertLoadError(f"{spec.location}: {quote(spec.path)}: {exc}") from None

    def _reindex(self) -> None:
        loaded = [e for e in self.entries if e.context is not None]
        self._contexts = [e.context for e in loaded]
        self._index = NameIndex([e.bundle.names if e.bundle else () for e in loaded])

    def context_for(self, server_name: str | None) -> ssl.SSLContext | None:
        """The context of the certificate that answers ``server_name`` (None: none loaded)."""
        if not self._contexts:
            return None
        return self._contexts[self._index.choose(server_name)]

    def poll(self) -> int:
        """Look at every file's stat; load the ones that changed. Returns how many were
        swapped in. A file that changed and does not load keeps the old certificate."""
        swapped = 0
        for entry in self.entries:
            now = signature(entry.spec.path)
            if now == entry.seen or now is None:
                if now is None and entry.seen is not None and entry.bundle is not None:
                    log.warning(
                        "%s: %s is gone; its certificate stays loaded",
                        entry.spec.location,
                        quote(entry.spec.path),
                    )
                entry.seen = now
                continue
            entry.seen = now
            try:
                bundle, context = load(entry.spec.path, self.tls)
            except CertLoadError as exc:
                log.error("%s: %s; the certificate loaded before stays", entry.spec.location, exc)
                continue
            entry.bundle, entry.context = bundle, context
            swapped += 1
            log.info(
                "%s: certificate %s loaded (%s, valid until %s)",
                entry.spec.location,
                quote(entry.spec.path),
                ", ".join(bundle.names) or bundle.subject,
                bundle.not_after.strftime("%Y-%m-%d %H:%M UTC"),
            )
        if swapped:
            self._reindex()
        return swapped

    def expiring(self, now: datetime.datetime) -> list[Entry]:
        return [e for e in self.entries if e.bundle is not None and e.bundle.expired(now)]


class TlsListener:
    """One HTTPS listener's TLS: the base context its server uses, and the certificates."""

    def __init__(
        self,
        spec: ListenerTlsSpec,
        previous: TlsListener | None = None,
        *,
        context: ssl.SSLContext | None = None,
    ) -> None:
        """Load ``spec``'s certificates (files ``previous`` holds unchanged are not read
        again); ``context``: a base context to reuse (same settings), which asks this
        listener's certificates only once ``activate`` is called."""
        self.spec = spec
        self.store: CertStore = CertStore(spec, None if previous is None else previous.store)
        if context is None:
            self.context = base_context(spec)
            self.activate()
        else:
            self.context = context

    def activate(self) -> None:
        """New handshakes on the base context choose among this listener's certificates."""
        self.context.sni_callback = self._on_sni

    def _on_sni(
        self, ssl_object: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, _: object
    ) -> int | None:
        context = self.store.context_for(server_name)
        if context is None:
            return ssl.ALERT_DESCRIPTION_HANDSHAKE_FAILURE  # no certificate there yet
        ssl_object.context = context
        return None

    def same_settings(self, spec: ListenerTlsSpec) -> bool:
        """Whether ``spec`` differs from this listener's only in its certificates (then a
        reload swaps the store and keeps the base context and its server)."""
        return settings(spec) == settings(self.spec)

    def renewed(self, spec: ListenerTlsSpec) -> TlsListener:
        """A listener with ``spec``'s certificates on this one's base context (same
        settings), for a reload: nothing changes for handshakes until ``activate``.
        Raises CertLoadError when a file does not load."""
        return TlsListener(spec, self, context=self.context)

    def poll(self) -> int:
        return self.store.poll()
