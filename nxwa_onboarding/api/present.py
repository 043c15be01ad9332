"""Registrations as the API shows them: the summary, its state, the latest code request."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from .. import services
from ..addresses import client_ip
from ..choices import Channel, RegistrationStatus
from ..models import CodeRequest, PhoneRegistration
from . import problems

Status = RegistrationStatus
#: Where the number is on the way, as on the customer page.
STEPS: dict[str, int] = {
    Status.NEW: 1,
    Status.CODE_SENT: 1,
    Status.VERIFIED: 2,
    Status.CLIENT_CREATED: 3,
    Status.REGISTERED: 4,
}
#: Nothing more happens by itself: a client stops polling.
DONE = (Status.REGISTERED, Status.FAILED, Status.CLOSED)
#: A code may be typed or a new one asked for only here.
UNVERIFIED = (Status.NEW, Status.CODE_SENT)


def refusal(found: services.Refusal | None) -> dict[str, Any] | None:
    if found is None:
        return None
    problem = problems.refused(found.reason, found.until)
    return {
        "type": problem.type,
        "reason": found.reason,
        "title": problem.title,
        "detail": problem.detail,
        "retry_at": found.until,
    }


def summary(registration: PhoneRegistration) -> dict[str, Any]:
    return {
        "id": registration.public_id,
        "phone_number": registration.phone_number,
        "phone_e164": "+" + registration.phone_number,
        "formatted_phone": registration.formatted_phone,
        "status": registration.status,
        "step": STEPS.get(registration.status, 0),
        "done": registration.status in DONE
        or (registration.status == Status.VERIFIED and bool(registration.client_refusal)),
        "created_at": registration.created_at,
        "verified_at": registration.verified_at,
        "registered_at": registration.registered_at,
    }


def code_request(row: CodeRequest | None) -> dict[str, Any] | None:
    if row is None:
        return None
    found = services.Refusal(row.refusal_reason, row.retry_after) if row.refusal_reason else None
    return {
        "method": row.method,
        "outcome": row.outcome,
        "requested_at": row.created_at,
        "refusal": refusal(found),
        "failure": row.failure or None,
    }


def state(registration: PhoneRegistration, request: HttpRequest) -> dict[str, Any]:
    """What the detail page shows, as data (the same reads: ``services.get_state``)."""
    found = services.get_state(registration, ip=client_ip(request), channel=Channel.API)
    check, send = found.check, found.send
    code_out = registration.status == Status.CODE_SENT
    may_send = registration.status in UNVERIFIED
    return {
        "can_check": code_out and check.refusal is None,
        "attempts_left": check.attempts_left,
        "attempts_allowed": check.attempts_allowed,
        "code_expires_at": check.expires_at if code_out else None,
        "can_send": may_send and send.refusal is None,
        "next_send_at": send.next_send_at if may_send else None,
        "check_refusal": refusal(check.refusal) if code_out else None,
        "send_refusal": refusal(send.refusal) if may_send else None,
    }


def detail(
    registration: PhoneRegistration, request: HttpRequest, latest: CodeRequest | None = None
) -> dict[str, Any]:
    """The registration with its state and its latest code request (``latest``: the one just
    made, which a refusal may not have saved)."""
    # get_state first: it refreshes the registration's status from the rows it reads.
    current = state(registration, request)
    if latest is None:
        latest = registration.code_requests.order_by("-created_at", "-pk").first()
    return {**summary(registration), "state": current, "last_code_request": code_request(latest)}
