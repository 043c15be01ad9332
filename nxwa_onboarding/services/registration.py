"""Registrations and sending codes: create_registration, start_registration, request_code."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import signals
from ..addresses import clean_ip
from ..choices import Channel, Method, RefusalReason, RegistrationStatus, SendOutcome
from ..models import Application, CodeRequest, PhoneRegistration
from ..phone import normalize_phone
from . import calls, sql
from .applications import assign_application
from .calls import CallResult, UserLike, Verdict, real_user
from .state import read_send_state, scope_for

Status = RegistrationStatus
logger = logging.getLogger("nxwa_onboarding.services")


def _check_method(method: str) -> None:
    if method not in Method.values:
        raise ValidationError(_("Choose SMS or a voice call."), code="method")


def create_registration(
    phone_number: str,
    *,
    owner: UserLike = None,
    user: UserLike = None,
    application: Application | None = None,
) -> PhoneRegistration:
    """Validate and normalise the number and save a new registration (no code sent).

    It belongs to ``application``, or to the one ``APPLICATION_FOR_OWNER`` picks for the owner.
    Raises ``ValidationError`` for a bad number or when the number already has an open
    registration ("this number is already being onboarded").
    """
    digits = normalize_phone(phone_number)
    registration = PhoneRegistration(
        phone_number=digits,
        owner=real_user(owner),
        created_by=real_user(user),
        application=application or assign_application(owner),
    )
    try:
        with transaction.atomic(using=sql.alias_for(PhoneRegistration)):
            registration.save()
    except IntegrityError:
        raise ValidationError(_("This number is already being onboarded."), code="duplicate") from None
    return registration


def start_registration(
    phone_number: str,
    *,
    owner: UserLike = None,
    user: UserLike = None,
    method: str = Method.SMS,
    ip: str | None = None,
    channel: str = Channel.API,
    application: Application | None = None,
) -> PhoneRegistration:
    """Create a registration for ``phone_number`` and request its first code.

    The code request's outcome is on ``registration.code_requests.latest()``; a failed send
    does not undo the registration (the person can ask again).
    """
    _check_method(method)
    registration = create_registration(phone_number, owner=owner, user=user, application=application)
    request_code(registration, method, user=user, ip=ip, channel=channel)
    return registration


def request_code(
    registration: PhoneRegistration,
    method: str = Method.SMS,
    *,
    user: UserLike = None,
    ip: str | None = None,
    channel: str = Channel.API,
) -> CodeRequest:
    """Ask NXCloud to send a code by ``sms`` or ``voice``, within the cooldown and daily cap.

    Returns the ``CodeRequest``: ``sent``, ``refused`` (with ``refusal_reason`` and
    ``retry_after``; no call was made), ``rejected`` (NXCloud said no), ``failed`` (never
    reached NXCloud, or a configuration problem: ``failure`` says which) or ``unknown`` (may
    have been sent).

    The pending row is inserted first and the rules are read after it, in one short
    transaction committed before the call (``calls.record_call``).
    """
    _check_method(method)
    base = {
        "registration": registration,
        "method": method,
        "channel": channel,
        "user": real_user(user),
        "ip": clean_ip(ip),
    }

    scope = scope_for(registration, channel=channel, ip=ip)

    def rules(row: CodeRequest, now: datetime) -> Verdict:
        sql.serialise(owner_id=scope.owner_id, block=scope.send_block)
        state = read_send_state(registration, scope, now, method=method, exclude_pk=row.pk)
        return Verdict(state.refusal, {})

    def on_finish(row: CodeRequest, result: CallResult, fields: dict[str, Any]) -> None:
        if result.outcome not in (SendOutcome.SENT, SendOutcome.UNKNOWN):
            return
        # Unknown: the code may well be on its way, so let the person type it in.
        now = row.created_at
        PhoneRegistration.objects.filter(
            pk=registration.pk, status__in=(Status.NEW, Status.CODE_SENT)
        ).update(status=Status.CODE_SENT, code_sent_at=now, last_code_method=method, updated_at=now)
        if registration.status in (Status.NEW, Status.CODE_SENT):
            registration.status = Status.CODE_SENT
            registration.code_sent_at = now
            registration.last_code_method = method

    recorded = calls.record_call(
        CodeRequest,
        base,
        rules=rules,
        call=lambda client: client.get_code(registration.phone_number, method),
        success=SendOutcome.SENT,
        on_finish=on_finish,
    )
    if recorded.result is None:
        if recorded.row.refusal_reason == RefusalReason.GLOBAL_LIMIT:
            _breaker_tripped(recorded.row)
        return recorded.row
    if recorded.result.outcome == SendOutcome.SENT:
        signals.code_requested.send(
            sender=PhoneRegistration, registration=registration, code_request=recorded.row
        )
    calls.reraise_unexpected(recorded.result)
    return recorded.row


def _breaker_tripped(refusal: CodeRequest) -> None:
    """The installation's daily limit refused a send: tell the host once per trip (the first
    such refusal in a day), so staff can look at what is sending so many codes."""
    day_ago = timezone.now() - timedelta(days=1)
    earlier = CodeRequest.objects.filter(
        refusal_reason=RefusalReason.GLOBAL_LIMIT, created_at__gt=day_ago
    ).exclude(pk=refusal.pk)
    if refusal.pk is not None and not earlier.exists():
        logger.error("nxwa_onboarding: MAX_SENDS_PER_DAY_GLOBAL reached: every send is refused")
        signals.send_limit_reached.send(sender=PhoneRegistration, code_request=refusal)
