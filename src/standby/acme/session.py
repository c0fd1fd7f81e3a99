"""The ACME conversation (RFC 8555), blocking: it runs in a thread of its own (see
``manager``), one certificate at a time, so the event loop never waits for the CA.

HTTP goes through ``http.client`` over one kept-alive HTTPS connection; every request is
bounded by ``HTTP_TIMEOUT`` and every wait by the order's deadline, and ``stop`` (a
``threading.Event``) ends it between two steps. Problem documents become ``AcmeError`` once,
in ``_request``; a ``badNonce`` is retried with the nonce it came with.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from standby.acme.challenge import TOKEN
from standby.acme.jws import b64url, key_authorization, sign
from standby.acme.order import Step, authorization_step, order_step
from standby.acme.problems import AcmeError, problem
from standby.acme.store import AcmeStore

log = logging.getLogger("standby.acme")

HTTP_TIMEOUT = 30.0  # one request to the CA: connect, send, answer
MAX_RESPONSE = 1 << 20  # a directory, an order or a chain is a few KiB
MAX_BAD_NONCE = 5  # badNonce retries of one request (pebble refuses 5 % by default)
ORDER_DEADLINE = 300.0  # from new order to certificate: a CA that takes longer failed
POLL_MIN, POLL_MAX = 1.0, 10.0  # between two looks at a pending order, whatever Retry-After
USER_AGENT = "standby-acme/1"
JOSE = "application/jose+json"


class Stopped(Exception):
    """The client was asked to stop (shutdown, reload) in the middle of an order."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> dict[str, Any]:
        try:
            document = json.loads(self.body)
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise AcmeError("protocol", f"expected a JSON object, status {self.status}")
        return document


def retry_after(value: str | None, now: float) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP-date (RFC 9110 10.2.3)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


class AcmeSession:
    """One ACME server, one account key; not thread-safe (one thread uses it)."""

    def __init__(
        self,
        directory_url: str,
        key: ec.EllipticCurvePrivateKey,
        stop: threading.Event,
        ca_file: str | None = None,
    ) -> None:
        self.directory_url = directory_url
        self.key = key
        self.stop = stop
        self.context = ssl.create_default_context(cafile=ca_file)
        self._conn: http.client.HTTPSConnection | None = None
        self._host: tuple[str, int] | None = None
        self._directory: dict[str, Any] | None = None
        self._nonce: str | None = None
        self.kid: str | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- HTTP --------------------------------------------------------------------------

    def _request(
        self, method: str, url: str, body: bytes | None = None, accept: str = "application/json"
    ) -> Answer:
        if self.stop.is_set():
            raise Stopped
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "https" or parts.hostname is None:
            raise AcmeError("protocol", f"not an https URL: {url[:100]}")
        host = (parts.hostname, parts.port or 443)
        if self._conn is None or self._host != host:
            self.close()
            self._conn = http.client.HTTPSConnection(
                host[0], host[1], timeout=HTTP_TIMEOUT, context=self.context
            )
            self._host = host
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        headers = {"User-Agent": USER_AGENT, "Accept": accept}
        if body is not None:
            headers["Content-Type"] = JOSE
        try:
            self._conn.request(method, target, body=body, headers=headers)
            response = self._conn.getresponse()
            data = response.read(MAX_RESPONSE + 1)
        except (OSError, http.client.HTTPException) as exc:
            self.close()  # a fresh connection next time
            raise AcmeError("transport", f"{url}: {exc or type(exc).__name__}") from None
        if len(data) > MAX_RESPONSE or response.will_close:
            self.close()
        if len(data) > MAX_RESPONSE:
            raise AcmeError("protocol", f"{url}: answer over {MAX_RESPONSE} bytes")
        nonce = response.headers.get("Replay-Nonce")
        if nonce:
            self._nonce = nonce
        if response.status >= 400:
            later = retry_after(response.headers.get("Retry-After"), time.time())
            raise problem(response.status, data, later)
        return Answer(response.status, response.headers, data)

    def directory(self) -> dict[str, Any]:
        if self._directory is None:
            self._directory = self._request("GET", self.directory_url).json()
        return self._directory

    def _endpoint(self, name: str) -> str:
        url = self.directory().get(name)
        if not isinstance(url, str):
            raise AcmeError("protocol", f"the directory has no {name}")
        return url

    def _fresh_nonce(self) -> str:
        nonce, self._nonce = self._nonce, None
        if nonce is None:
            self._request("HEAD", self._endpoint("newNonce"))
            nonce, self._nonce = self._nonce, None
            if nonce is None:
                raise AcmeError("protocol", "newNonce gave no Replay-Nonce")
        return nonce

    def post(self, url: str, payload: Any | None, accept: str = "application/json") -> Answer:
        """A signed POST (``payload`` None: POST-as-GET), retried on badNonce."""
        for attempt in range(MAX_BAD_NONCE + 1):
            body = sign(self.key, url, self._fresh_nonce(), payload, self.kid)
            try:
                return self._request("POST", url, body, accept)
            except AcmeError as exc:
                if not exc.bad_nonce or attempt == MAX_BAD_NONCE:
                    raise
        raise AssertionError("unreachable")

    # -- the protocol ------------------------------------------------------------------

    def account(self, email_address: str | None) -> str:
        """Register the key (or find its account: the same request answers 200 then),
        terms of service agreed; the account URL signs every later request."""
        payload: dict[str, Any] = {"termsOfServiceAgreed": True}
        if email_address:
            payload["contact"] = [f"mailto:{email_address}"]
        self.kid = None
        answer = self.post(self._endpoint("newAccount"), payload)
        kid = answer.headers.get("Location")
        if not kid:
            raise AcmeError("protocol", "newAccount gave no account URL")
        self.kid = kid
        return kid

    def _sleep(self, seconds: float, deadline: float) -> None:
        if time.monotonic() + seconds > deadline:
            raise AcmeError("timeout", f"the order took over {ORDER_DEADLINE:g} s")
        if self.stop.wait(seconds):
            raise Stopped

    def _poll_delay(self, answer: Answer) -> float:
        later = retry_after(answer.headers.get("Retry-After"), time.time())
        return min(max(later or POLL_MIN, POLL_MIN), POLL_MAX)

    def issue(self, store: AcmeStore, names: tuple[str, ...], file: str) -> None:
        """Order a certificate for ``names``, answer its HTTP-01 challenges through the
        store's challenge directory, finalize with a new key's CSR, and write key and
        chain to ``file``. Raises AcmeError (or Stopped)."""
        deadline = time.monotonic() + ORDER_DEADLINE
        identifiers = [{"type": "dns", "value": name} for name in names]
        answer = self.post(self._endpoint("newOrder"), {"identifiers": identifiers})
        order_url = answer.headers.get("Location")
        if not order_url:
            raise AcmeError("protocol", "newOrder gave no order URL")
        order = answer.json()
        tokens: list[str] = []
        key: ec.EllipticCurvePrivateKey | None = None
        try:
            while True:
                step = order_step(order.get("status"))
                if step is Step.AUTHORIZE:
                    if not self._authorize(order, store, tokens):
                        self._sleep(POLL_MIN, deadline)  # the CA is validating
                elif step is Step.FINALIZE:
                    key = ec.generate_private_key(ec.SECP256R1())
                    csr = _csr(key, names)
                    answer = self.post(_url(order, "finalize"), {"csr": b64url(csr)})
                    order = answer.json()
                    continue
                elif step is Step.DOWNLOAD:
                    if key is None:
                        raise AcmeError("protocol", "the order was valid before finalize")
                    chain = self.post(
                        _url(order, "certificate"), None, "application/pem-certificate-chain"
                    ).body
                    if b"-----BEGIN CERTIFICATE-----" not in chain:
                        raise AcmeError("protocol", "the certificate is not PEM")
                    store.write_certificate(file, key, chain)
                    return
                elif step is Step.FAIL:
                    error = order.get("error") or {}
                    detail = error.get("detail", "") if isinstance(error, dict) else ""
                    raise AcmeError("orderInvalid", f"order {order.get('status')}: {detail}")
                else:  # Step.WAIT
                    self._sleep(self._poll_delay(answer), deadline)
                answer = self.post(order_url, None)
                order = answer.json()
        finally:
            for token in tokens:
                store.remove_challenge(token)

    def _authorize(self, order: dict[str, Any], store: AcmeStore, tokens: list[str]) -> bool:
        """Put each pending authorisation's HTTP-01 key authorisation in place and tell
        the CA once; True when all are valid."""
        done = True
        for url in order.get("authorizations") or ():
            authz = self.post(str(url), None).json()
            challenge = next(
                (c for c in authz.get("challenges") or () if c.get("type") == "http-01"), None
            )
            name = (authz.get("identifier") or {}).get("value", "?")
            if challenge is None:
                raise AcmeError("protocol", f"{name}: no http-01 challenge offered")
            step = authorization_step(authz.get("status"), challenge.get("status"))
            if step is Step.DONE:
                continue
            done = False
            if step is Step.FAIL:
                error = challenge.get("error") or {}
                detail = error.get("detail", "") if isinstance(error, dict) else ""
                kind = (
                    str(error.get("type", "")).rpartition(":")[2] if isinstance(error, dict) else ""
                )
                raise AcmeError(kind or "unauthorized", f"{name}: {detail or authz.get('status')}")
            if step is Step.RESPOND:
                token = str(challenge.get("token", ""))
                if TOKEN.fullmatch(token) is None:  # one the challenge directory serves
                    raise AcmeError("protocol", f"{name}: an unusable token")
                if token not in tokens:
                    store.put_challenge(token, key_authorization(token, self.key))
                    tokens.append(token)
                    self.post(_url(challenge, "url"), {})
        return done


def _url(document: dict[str, Any], member: str) -> str:
    value = document.get(member)
    if not isinstance(value, str):
        raise AcmeError("protocol", f"no {member} URL")
    return value


def _csr(key: ec.EllipticCurvePrivateKey, names: tuple[str, ...]) -> bytes:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    san = x509.SubjectAlternativeName([x509.DNSName(name) for name in names])
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    request = builder.add_extension(san, critical=False).sign(key, hashes.SHA256())
    return request.public_bytes(serialization.Encoding.DER)
