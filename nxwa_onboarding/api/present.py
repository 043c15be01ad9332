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


def summary(registration: PhoneRegistration, decision: services.Decision | None = None) -> dict[str, Any]:
    """The registration in a list (``decision``: its situation, where the caller decided it)."""
    decision = decision or services.decide(registration)
    return {
        "id": registration.public_id,
        "phone_number": registration.phone_number,
        "phone_e164": "+" + registration.phone_number,
        "formatted_phone": registration.formatted_phone,
        "status": registration.status,
        "step": decision.step,
        "done": decision.done,
        "account_state": registration.account_state or None,
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


def state(registration: PhoneRegistration, request: HttpRequest) -> tuple[dict[str, Any], services.Decision]:
    """What the detail page shows, as data (the same reads: ``services.get_state``, and the same
    decision: ``services.decide``)."""
    found = services.get_state(registration, ip=client_ip(request), channel=Channel.API)
    decision = services.decide(registration, found)
    check, send = found.check, found.send
    code_out = registration.status == Status.CODE_SENT
    may_send = registration.status in UNVERIFIED
    return {
        "can_check": decision.may_check,
        "attempts_left": check.attempts_left,
        "attempts_allowed": check.attempts_allowed,
        "code_expires_at": check.expires_at if code_out else None,
        "can_send": decision.may_send,
        "can_call": may_send and send.can_call,
        "next_send_at": send.next_send_at if may_send else None,
        "check_refusal": refusal(check.refusal) if code_out else None,
        "send_refusal": refusal(send.refusal) if may_send else None,
    }, decision


def detail(
    registration: PhoneRegistration, request: HttpRequest, latest: CodeRequest | None = None
) -> dict[str, Any]:
    """The registration with its situation, its state and its latest code request (``latest``:
    the one just made, which a refusal may not have saved)."""
    # get_state first: it refreshes the registration's status from the rows it reads.
    current, decision = state(registration, request)
    if latest is None:
        latest = registration.code_requests.order_by("-created_at", "-pk").first()
    return {
        **summary(registration, decision),
        "situation": decision.as_dict(),
        "state": current,
        "last_code_request": code_request(latest),
        "health": health(registration),
        "setup_again_at": services.health_view.setup_again_at(registration),
    }


def health(registration: PhoneRegistration) -> dict[str, Any] | None:
    """The number's health in the customer page's words (``services.health_view.merchant_view``)."""
    view = services.health_view.merchant_view(registration)
    if view is None:
        return None
    return {
        "account_state": view.account_state or None,
        "name_review": view.name_review or None,
        "display_name": view.display_name,
        "name_rejection_reason": view.name_rejection_reason,
        "quality_rating": view.quality_rating,
        "quality_text": view.quality_text,
        "messaging_limit": view.messaging_limit,
        "limit_text": view.limit_text,
        "pin_set": view.pin_set,
        "read_at": view.read_at,
        "tone": view.tone,
        "notices": [
            {
                "kind": notice.kind,
                "tone": notice.tone,
                "title": notice.title,
                "text": notice.text,
                "next_step": notice.next_step,
                "reason": notice.reason,
            }
            for notice in view.notices
        ],
    }
