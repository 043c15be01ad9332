"""Store one accepted callback and apply it, in one transaction; never calls NXCloud.

The delivery row is inserted *last* in the transaction that applies it: a redelivery of the same
event (same ``dedupe_key``) hits the unique constraint, and its whole transaction, the change to
the registration included, rolls back. Two copies racing are serialised by that index, so an
event is stored once and applied once however often, and however concurrently, it arrives.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.dispatch import Signal
from django.utils import timezone

from .. import signals
from ..choices import DeliveryOutcome, HealthSource
from ..models import Application, PhoneRegistration, WebhookDelivery
from ..services import health
from ..services.calls import clean_text
from .events import ACCOUNT, NAME, QUALITY, Event, account_state, text

logger = logging.getLogger("nxwa_onboarding.webhooks")
Outcome = DeliveryOutcome


@dataclass(frozen=True)
class Body:
    """What was read of the request: the start of the body (whole up to the parse limit), its
    total size, the digest of all of it, and whether it was too large to parse."""

    head: bytes
    size: int
    digest: str
    too_large: bool


@dataclass
class Applied:
    outcome: str
    detail: str = ""
    registrations: tuple[PhoneRegistration, ...] = ()
    signal: Signal | None = None
    extra: dict[str, Any] | None = None
    health_changes: list[tuple[PhoneRegistration, Any, list[str]]] = field(default_factory=list)


def _targets(application: Application, event: Event) -> list[PhoneRegistration]:
    """The application's open registrations the event is about: the number's, or (an account
    event without a number) every one on the event's WABA."""
    mine = PhoneRegistration.objects.open().filter(application=application)
    if event.phone_number:
        return list(mine.filter(phone_number=event.phone_number)[:1])
    if event.waba_id:
        return list(mine.filter(waba_id=event.waba_id)[:100])
    return []


def _update(
    registrations: list[PhoneRegistration], fields: dict[str, Any], newer: Q | None = None
) -> list[PhoneRegistration]:
    """Write ``fields`` on each registration (where ``newer`` holds); the ones changed."""
    changed = []
    for registration in registrations:
        rows = PhoneRegistration.objects.filter(pk=registration.pk)
        if newer is not None:
            rows = rows.filter(newer)
        if rows.update(**fields):
            for name, value in fields.items():
                setattr(registration, name, value)
            changed.append(registration)
    return changed


def _apply(application: Application, event: Event) -> Applied:
    if event.kind not in (ACCOUNT, QUALITY, NAME):
        return Applied(
            Outcome.IGNORED, event.detail or f"{event.kind or 'no field'}: not applied by onboarding"
        )
    registrations = _targets(application, event)
    if not registrations:
        return Applied(Outcome.UNMATCHED, "no open registration of this application has the number")
    now = timezone.now()
    value = event.value
    if event.kind == ACCOUNT:
        state = account_state(event)
        if not state:
            return Applied(
                Outcome.IGNORED,
                f"account event {event.event or '-'}: no change of state",
                tuple(registrations),
            )
        at = event.occurred_at or now
        fields = {"account_state": state, "account_event": event.event, "account_event_at": at}
        newer = Q(account_event_at__isnull=True) | Q(account_event_at__lte=at)
        changed = _update(registrations, {**fields, "last_event_at": now, "updated_at": now}, newer)
        if not changed:
            return Applied(
                Outcome.STALE, "an account event at least as recent is already applied", tuple(registrations)
            )
        return Applied(
            Outcome.APPLIED,
            state,
            tuple(changed),
            signals.account_updated,
            {"state": state},
            health.record_webhook(changed, event.kind, event.event, value, state),
        )
    if event.kind == QUALITY:
        fields = {"quality_event": event.event, "last_event_at": now, "updated_at": now}
        limit = text(value.get("current_limit"), 32)
        if limit:
            fields["messaging_limit"] = clean_text(limit, 32)
        rating = text(value.get("quality_rating") or value.get("quality_score"), 10)
        if rating:
            fields["quality_rating"] = clean_text(rating, 10)
        changed = _update(registrations, fields)
        extra = {"messaging_limit": fields.get("messaging_limit", "")}
        return Applied(
            Outcome.APPLIED,
            event.event,
            tuple(changed),
            signals.quality_updated,
            extra,
            health.record_webhook(changed, event.kind, event.event, value),
        )
    requested = clean_text(text(value.get("requested_verified_name") or value.get("requested_name")), 255)
    fields = {
        "name_decision": clean_text(event.event, 20),
        "requested_name": requested,
        "name_rejection_reason": clean_text(text(value.get("rejection_reason")), 255),
        "last_event_at": now,
        "updated_at": now,
    }
    if event.event == "APPROVED" and requested:
        fields["verified_name"] = requested
    changed = _update(registrations, fields)
    extra = {"decision": event.event, "requested_name": requested}
    return Applied(
        Outcome.APPLIED,
        event.event,
        tuple(changed),
        signals.display_name_decided,
        extra,
        health.record_webhook(changed, event.kind, event.event, value),
    )


def store(application: Application, event: Event, body: Body, *, signed: bool) -> WebhookDelivery | None:
    """Apply ``event`` and store its delivery; None for a message event (counted only) or a
    redelivery (already stored and applied: nothing done)."""
    if event.is_message:
        Application.objects.filter(pk=application.pk).update(message_events=F("message_events") + 1)
        return None
    if not event.parsed:
        logger.warning(
            "webhook for application %s: a delivery that could not be read (%s) was stored",
            application.pk,
            event.detail,
        )
    try:
        with transaction.atomic():
            applied = (
                _apply(application, event) if event.parsed else Applied(Outcome.UNPARSEABLE, event.detail)
            )
            delivery = WebhookDelivery.objects.create(
                application=application,
                kind=clean_text(event.kind, 64),
                event=clean_text(event.event, 64),
                phone_number=event.phone_number,
                registration=applied.registrations[0] if applied.registrations else None,
                payload=clean_text(body.head.decode("utf-8", "replace"), 64 * 1024),
                payload_truncated=body.too_large or len(body.head) > 64 * 1024,
                body_bytes=min(body.size, 2**31 - 1),
                signed=signed,
                dedupe_key=event.digest,
                outcome=applied.outcome,
                detail=clean_text(applied.detail, 255),
            )
    except IntegrityError:
        logger.info("webhook for application %s: a redelivery, already stored", application.pk)
        return None
    if applied.signal is not None:
        for registration in applied.registrations:
            applied.signal.send(
                sender=PhoneRegistration,
                registration=registration,
                delivery=delivery,
                event=event.event,
                **(applied.extra or {}),
            )
    for registration, record, changed in applied.health_changes:
        health.announce(registration, record, changed, HealthSource.WEBHOOK)
    return delivery
