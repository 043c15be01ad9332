"""Registrations and sending codes: create_registration, start_registration, request_code,
close_registration, withdraw_registration."""

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
from ..choices import (
    UNVERIFIED_STATES,
    AttemptOutcome,
    Channel,
    Method,
    RefusalReason,
    RegistrationStatus,
    SendOutcome,
)
from ..conf import conf
from ..models import Application, CodeRequest, PhoneRegistration, VerificationAttempt
from ..nxcloud.exceptions import InvalidStateError
from ..phone import normalize_phone
from ..texts import renewal_text
from . import breaker, calls, fraud, policy, situation, sql
from .applications import assign_application
from .calls import CallResult, UserLike, Verdict, real_user
from .rules import CALLED_SENDS
from .state import WEB_CHANNELS, read_send_state, scope_for

Status = RegistrationStatus
logger = logging.getLogger("nxwa_onboarding.services")


def _check_method(method: str) -> None:
    if method not in Method.values:
        raise ValidationError(_("Choose SMS or a voice call."), code="method")


def _open_limit(owner: Any, now: datetime, limit: int) -> None:
    """At most MAX_OPEN_REGISTRATIONS_PER_OWNER (the application's policy's, else the setting's)
    unverified registrations a customer holds (those past UNVERIFIED_EXPIRY no longer count:
    they hold their number no more)."""
    held = PhoneRegistration.objects.filter(
        owner=owner,
        status__in=UNVERIFIED_STATES,
        created_at__gt=now - timedelta(seconds=conf.UNVERIFIED_EXPIRY),
    )
    if held.count() >= limit:
        raise ValidationError(situation.open_limit_text(limit), code="open_limit")


def refused_addition(err: ValidationError, digits: str, owner: UserLike) -> situation.Decision | None:
    """Why ``owner`` could not add ``digits`` (``create_registration`` raised ``err``), decided
    once for every door: their own open registration of the number (they go to it, registered or
    not: before the open limit, which it counts toward), else taken by another customer, else the
    open limit. None for any other error (the number itself is not valid: the field's error).
    ``renewal`` (their own hold expired, and a hold is never renewed by its owner) is their own
    registration too: they continue it there."""
    if err.code not in ("duplicate", "renewal", "open_limit"):
        return None
    owner_user: Any = real_user(owner)
    if owner_user is not None:
        own = PhoneRegistration.objects.open_for(digits).filter(owner_id=owner_user.pk).first()
        if own is not None:
            return situation.adding(taken=True, own=own)
    if err.code in ("duplicate", "renewal"):
        return situation.adding(taken=True)
    return situation.adding(taken=False, limit=conf.MAX_OPEN_REGISTRATIONS_PER_OWNER)


#: Sends that may have put a code in the merchant's hands, or still may: a hold stands on one.
HOLDING_SENDS = (SendOutcome.SENT, SendOutcome.UNKNOWN, SendOutcome.PENDING)


class Renewal(Exception):
    """The number's expired hold is the newcomer's own: they continue it, not renew it."""


def _holds_nothing(holder: PhoneRegistration, now: datetime) -> bool:
    """An unverified registration whose code was never sent (every send refused or failed)
    holds nothing once a send of its own can no longer be under way (``stale_after()``)."""
    if holder.created_at >= now - calls.stale_after():
        return False
    return not CodeRequest.objects.filter(registration=holder, outcome__in=HOLDING_SENDS).exists()


def _release_if_expired(digits: str, now: datetime, owner: Any = None) -> bool:
    """The number's open registration, if it was never verified and is older than
    UNVERIFIED_EXPIRY, or no code was ever sent for it, stops holding the number: it is closed
    (its audit rows kept), with the reason recorded. True when the number is free now. Raises
    ``Renewal`` when the expired holder is ``owner``'s own: a hold is never renewed by its owner
    (they continue the registration they have; its sends are the number's)."""
    cutoff = now - timedelta(seconds=conf.UNVERIFIED_EXPIRY)
    holder = PhoneRegistration.objects.open_for(digits).filter(status__in=UNVERIFIED_STATES).first()
    if holder is None:
        return False
    if holder.created_at < cutoff:
        if owner is not None and holder.owner_id == owner.pk:
            raise Renewal
        reason = _("Not verified within the time allowed: the number was registered again.")
        return _close(holder, user=None, reason=reason, only_unverified_before=cutoff)
    if _holds_nothing(holder, now):
        reason = _("No code was ever sent for it: the number was registered again.")
        return _close(holder, user=None, reason=reason, only_unverified_before=now)
    return False


def create_registration(
    phone_number: str,
    *,
    owner: UserLike = None,
    user: UserLike = None,
    channel: str = Channel.API,
    application: Application | None = None,
) -> PhoneRegistration:
    """Validate and normalise the number and save a new registration (no code sent).

    It belongs to ``application``, or to the one ``APPLICATION_FOR_OWNER`` picks for the owner.

    Raises ``ValidationError`` for a bad number (``phone.normalize_phone``'s words), when the
    customer already holds MAX_OPEN_REGISTRATIONS_PER_OWNER unverified registrations (code
    ``open_limit``; customer pages and API only), or when the number already has an open
    registration (code ``duplicate``). An open registration that was never verified and is older
    than UNVERIFIED_EXPIRY does not hold its number: it is closed and the new one goes ahead.
    """
    application = application or assign_application(owner)
    rules = policy.for_application(application)
    digits = normalize_phone(
        phone_number, region=rules.get("DEFAULT_REGION"), allowed=rules.get("ALLOWED_REGIONS")
    )
    now = timezone.now()
    owner_user: Any = real_user(owner)
    alias = sql.alias_for(PhoneRegistration)
    took_over = False
    for _try in range(2):
        registration = PhoneRegistration(
            phone_number=digits,
            owner=owner_user,
            created_by=real_user(user),
            application=application,
            region=fraud.region_of(digits),
        )
        try:
            with transaction.atomic(using=alias):
                if owner_user is not None and channel in WEB_CHANNELS:
                    sql.serialise(owner_id=owner_user.pk, block="")
                    try:
                        _open_limit(owner_user, now, int(rules.get("MAX_OPEN_REGISTRATIONS_PER_OWNER")))
                    except ValidationError:
                        # Re-typing a number one already has open is not one more: the doors
                        # send the customer to it (``duplicate``), not away for the cap.
                        if PhoneRegistration.objects.open_for(digits).filter(owner=owner_user).exists():
                            raise ValidationError(
                                _("This number is already being onboarded."), code="duplicate"
                            ) from None
                        raise
                registration.save()
            registration.took_over = took_over  # the doors say so: texts.taken_over_text()
            return registration
        except IntegrityError:
            try:
                released = _release_if_expired(digits, now, owner_user)
            except Renewal:
                raise ValidationError(renewal_text(), code="renewal") from None
            if not released:
                break
            took_over = True
    raise ValidationError(_("This number is already being onboarded."), code="duplicate")


def _close(
    registration: PhoneRegistration,
    *,
    user: UserLike,
    reason: str,
    only_unverified_before: datetime | None = None,
    only_unverified: bool = False,
) -> bool:
    """Close an open registration once (a conditional UPDATE): it no longer holds its number,
    and nothing more can be sent or checked for it. Its audit rows stay."""
    now = timezone.now()
    rows = PhoneRegistration.objects.open().filter(pk=registration.pk)
    if only_unverified_before is not None:
        rows = rows.filter(status__in=UNVERIFIED_STATES, created_at__lt=only_unverified_before)
    if only_unverified:
        rows = rows.filter(status__in=UNVERIFIED_STATES)
    fields = {
        "status": Status.CLOSED,
        "closed_at": now,
        "closed_by": real_user(user),
        "close_reason": calls.clean_text(reason, 255),
        "updated_at": now,
    }
    if not rows.update(**fields):
        return False
    for name, value in fields.items():
        setattr(registration, name, value)
    logger.info("registration %s closed by %s: %s", registration.public_id, real_user(user), reason)
    signals.registration_closed.send(
        sender=PhoneRegistration, registration=registration, by=real_user(user), reason=reason
    )
    return True


def close_registration(registration: PhoneRegistration, *, user: UserLike, reason: str) -> bool:
    """A person closes an open registration, saying why: it stops holding its number (anyone may
    register it again) and no code can be sent or checked for it. False when it was closed (or
    failed) already. Recorded with who, when and why; ``registration_closed`` is sent."""
    if not reason.strip():
        raise ValidationError(_("Say why the registration is closed."), code="reason")
    return _close(registration, user=user, reason=reason.strip())


def withdraw_registration(registration: PhoneRegistration, *, user: UserLike) -> None:
    """The customer takes back a number not yet verified (typed wrongly, changed their mind):
    closed like a staff close, with who and when, so it frees the number and the open slot at
    once. A verified or registered number is not withdrawn by its customer (staff decide):
    ``InvalidStateError``; so is one whose code check is under way (look again in a moment).
    Closed or failed already: nothing happens."""
    registration.refresh_from_db(fields=["status"])
    if registration.status in (Status.CLOSED, Status.FAILED):
        return
    if registration.status not in UNVERIFIED_STATES:
        raise InvalidStateError(
            _("A verified number cannot be withdrawn here. Ask our support team to close it.")
        )
    if VerificationAttempt.objects.filter(registration=registration, outcome=AttemptOutcome.PENDING).exists():
        raise InvalidStateError(_("A code check for this number is under way. Look again in a moment."))
    closed = _close(registration, user=user, reason=_("Withdrawn by its customer."), only_unverified=True)
    if not closed:
        registration.refresh_from_db(fields=["status"])
        if registration.status not in (Status.CLOSED, Status.FAILED):
            raise InvalidStateError(
                _("A verified number cannot be withdrawn here. Ask our support team to close it.")
            )


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
    registration = create_registration(
        phone_number, owner=owner, user=user, channel=channel, application=application
    )
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
    rules_in_effect = policy.for_registration(registration)
    found: list[fraud.Finding] = []

    def rules(row: CodeRequest, now: datetime) -> Verdict:
        sql.serialise(owner_id=scope.owner_id, block=scope.send_block)
        state = read_send_state(
            registration, scope, now, method=method, exclude_pk=row.pk, holds_on=breaker.scope_names(base)
        )
        if state.refusal is not None:
            return Verdict(state.refusal, {})
        # Where the code goes (budgets, prefixes that never convert): before NXCloud is called.
        finding = fraud.guard(registration, rules_in_effect, now, exclude_pk=row.pk)
        if finding is None:
            return Verdict(None, {}, state.holds)
        found.append(finding)
        return Verdict(finding.refusal, {})

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
    if found:
        fraud.after_send(found[-1], recorded.row)
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


def sends_suspended() -> bool:
    """Whether MAX_SENDS_PER_DAY_GLOBAL is reached right now (the circuit breaker is open)."""
    cap = conf.MAX_SENDS_PER_DAY_GLOBAL
    calls_today = CodeRequest.objects.filter(
        created_at__gt=timezone.now() - timedelta(days=1), outcome__in=CALLED_SENDS
    )
    return calls_today[:cap].count() >= cap
