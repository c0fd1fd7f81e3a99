"""The state of an order, its authorisations and their HTTP-01 challenges (RFC 8555 7.1.6),
as tables from the status the server reports to the client's next step."""

from __future__ import annotations

import enum


class Step(enum.Enum):
    AUTHORIZE = "authorize"  # answer the pending authorisations' challenges
    FINALIZE = "finalize"  # send the CSR
    WAIT = "wait"  # the server is working: poll again after Retry-After
    DOWNLOAD = "download"  # fetch the certificate
    RESPOND = "respond"  # tell the server the challenge file is in place
    DONE = "done"  # nothing more to do for this object
    FAIL = "fail"  # the object is invalid (or expired): this order cannot succeed


ORDER_STEPS: dict[str, Step] = {
    "pending": Step.AUTHORIZE,
    "ready": Step.FINALIZE,
    "processing": Step.WAIT,
    "valid": Step.DOWNLOAD,
    "invalid": Step.FAIL,
}

AUTHORIZATION_STEPS: dict[str, Step] = {
    "pending": Step.RESPOND,  # refined by its challenge's own status (challenge_step)
    "valid": Step.DONE,
    "invalid": Step.FAIL,
    "deactivated": Step.FAIL,
    "expired": Step.FAIL,
    "revoked": Step.FAIL,
}

CHALLENGE_STEPS: dict[str, Step] = {
    "pending": Step.RESPOND,
    "processing": Step.WAIT,
    "valid": Step.DONE,
    "invalid": Step.FAIL,
}


def order_step(status: object) -> Step:
    """An unknown status is a failure: guessing could loop forever."""
    return ORDER_STEPS.get(str(status), Step.FAIL)


def authorization_step(status: object, challenge_status: object) -> Step:
    step = AUTHORIZATION_STEPS.get(str(status), Step.FAIL)
    if step is Step.RESPOND:
        return CHALLENGE_STEPS.get(str(challenge_status), Step.FAIL)
    return step
