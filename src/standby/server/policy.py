"""Per-service request policy, precomputed once from the specs: which answers count against
a backend, which requests may be sent again, what our 503s say."""

from __future__ import annotations

from dataclasses import dataclass

from standby.model import (
    DEFAULT_ALIVE,
    DEFAULT_FAILOVER_STATUSES,
    DEFAULT_RESEND_BODY,
    DEFAULT_RESEND_METHODS,
    ConfigSpec,
    ServiceSpec,
)


@dataclass(frozen=True, slots=True)
class ServicePolicy:
    failover_statuses: frozenset[int] = DEFAULT_FAILOVER_STATUSES
    resend_methods: frozenset[bytes] = DEFAULT_RESEND_METHODS
    resend_body: int = DEFAULT_RESEND_BODY  # 0: never resend a request with a body
    resend_unsafe: bool = False  # resend any method (e.g. POST) when the body was kept
    passive: bool = True  # failures seen by requests count against the backend
    retry_after: bytes = str(int(DEFAULT_ALIVE)).encode("ascii")  # seconds, for our 503s
    read_only: frozenset[bytes] | None = None  # ReadOnlyEmergency: methods allowed there

    def may_resend(self, method: bytes) -> bool:
        return self.resend_unsafe or method in self.resend_methods


def service_policy(service: ServiceSpec, config: ConfigSpec) -> ServicePolicy:
    """The policy of ``service``, from its compiled settings (the compiler resolved the
    global defaults: Retry-After falls back to RetryAfter, else the Alive interval, since no
    backend can come back sooner)."""
    del config  # everything is resolved per service already
    return ServicePolicy(
        failover_statuses=service.passive.failover_statuses,
        resend_methods=service.resend.methods,
        resend_body=service.resend.max_body,
        resend_unsafe=service.resend.unsafe,
        passive=service.passive.enabled,
        retry_after=str(max(1, service.retry_after)).encode("ascii"),
        read_only=service.read_only_emergency,
    )
