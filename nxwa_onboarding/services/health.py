"""A registered number's health: one record, two sources, the words every door shows.

The record (``NumberHealth``) is written here only, from the webhooks NXCloud sends
(``record_webhook``, called by ``webhooks.receive``) and from ``getPhone``, which the follower
reads (``read_due``: never a page or an API poll) at most once per number per
``HEALTH_READ_INTERVAL``, one call per application and step for up to ``HEALTH_READ_BATCH``
numbers (its ``business_phones`` filter). Each part (account, name, quality, limit, PIN) keeps
when it was read and from where; a change sends ``health_changed`` once.

``health_view`` turns the record into what the customer page, the API and the admin say.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from .. import signals
from ..choices import AccountState, HealthSource, NameReview, RegistrationStatus
from ..conf import conf
from ..models import NumberHealth, PhoneRegistration
from ..phone import digits_only
from ..webhooks.events import ACCOUNT, NAME, QUALITY, text
from . import calls
from .applications import resolve_application

logger = logging.getLogger("nxwa_onboarding.services")

#: The parts of the record, each with its fields, its "read from" and its "read at" field.
PARTS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "account": (("account_state", "account_reason"), "account_source", "account_read_at"),
    "name": (("display_name", "name_review", "name_rejection_reason"), "name_source", "name_read_at"),
    "quality": (("quality_rating",), "quality_source", "quality_read_at"),
    "limit": (("messaging_limit",), "limit_source", "limit_read_at"),
    "pin": (("pin_set",), "pin_source", "pin_read_at"),
}
FIELD_PART = {name: part for part, (names, _source, _at) in PARTS.items() for name in names}
#: Lengths of the text fields (what NXCloud sends is cut to fit, never refused).
LENGTHS = {
    "account_reason": 255,
    "display_name": 255,
    "name_rejection_reason": 255,
    "quality_rating": 20,
    "messaging_limit": 64,
}

#: getPhone's ``status`` as an account state (the others say nothing about the account).
NUMBER_STATUS = {
    "CONNECTED": AccountState.ACTIVE,
    "FLAGGED": AccountState.WARNED,
    "RESTRICTED": AccountState.RESTRICTED,
    "RATE_LIMITED": AccountState.RESTRICTED,
    "BANNED": AccountState.BANNED,
    "DELETED": AccountState.DELETED,
}
#: A name decision (webhook) or name status (getPhone) as a review.
NAME_STATUS = {
    "APPROVED": NameReview.APPROVED,
    "AVAILABLE_WITHOUT_REVIEW": NameReview.AVAILABLE,
    "PENDING": NameReview.PENDING,
    "PENDING_REVIEW": NameReview.PENDING,
    "IN_REVIEW": NameReview.PENDING,
    "DECLINED": NameReview.REJECTED,
    "REJECTED": NameReview.REJECTED,
    "DEFERRED": NameReview.DEFERRED,
    "EXPIRED": NameReview.EXPIRED,
}
#: Reasons NXCloud sends that mean "no reason".
NO_REASON = {"", "NONE", "NULL", "N/A"}


# -- the record ------------------------------------------------------------------------------------


def clean(name: str, value: Any) -> Any:
    if name == "pin_set":
        return value if isinstance(value, bool) else None
    return calls.clean_text(str(value), LENGTHS.get(name, 20))


def record(
    registration: PhoneRegistration, source: str, readings: dict[str, Any], now: datetime | None = None
) -> tuple[NumberHealth, list[str]]:
    """Write what ``source`` just read (``readings``: field -> value, only the parts it spoke of)
    and stamp each part read with ``source`` and ``now``; the fields whose value changed. The
    caller sends ``health_changed`` (``announce``) once its transaction is committed."""
    now = now or timezone.now()
    health, _created = NumberHealth.objects.select_for_update().get_or_create(registration=registration)
    changed: list[str] = []
    stamped: set[str] = set()
    for name, value in readings.items():
        part = FIELD_PART.get(name)
        if part is None:
            continue
        value = clean(name, value)
        if getattr(health, name) != value:
            setattr(health, name, value)
            changed.append(name)
        stamped.add(part)
    for part in stamped:
        _names, source_field, at_field = PARTS[part]
        setattr(health, source_field, source)
        setattr(health, at_field, now)
    if changed:
        health.changed_at = now
    health.save()
    return health, changed


def announce(registration: PhoneRegistration, health: NumberHealth, changed: list[str], source: str) -> None:
    """``health_changed``, once, for a change ``record`` made (nothing when nothing changed)."""
    if not changed:
        return
    logger.info("health of registration %s changed (%s): %s", registration.public_id, source, changed)
    signals.health_changed.send(
        sender=PhoneRegistration, registration=registration, health=health, changed=changed, source=source
    )


def health_of(registration: PhoneRegistration) -> NumberHealth | None:
    """The number's health record, or None before anything was read."""
    try:
        return registration.health
    except NumberHealth.DoesNotExist:
        return None


# -- from webhooks -----------------------------------------------------------------------------------


def webhook_readings(kind: str, event: str, value: dict[str, Any], state: str = "") -> dict[str, Any]:
    """What one applied callback says of the health (``webhooks.events``' field names)."""
    if kind == ACCOUNT and state:
        reason = value.get("violation_info")
        detail = text(reason.get("violation_type")) if isinstance(reason, dict) else ""
        restriction = value.get("restriction_info")
        if not detail and isinstance(restriction, list) and restriction and isinstance(restriction[0], dict):
            detail = text(restriction[0].get("restriction_type"))
        return {"account_state": state, "account_reason": detail}
    if kind == QUALITY:
        readings: dict[str, Any] = {}
        limit = text(value.get("current_limit") or value.get("messaging_limit"), 64)
        if limit:
            readings["messaging_limit"] = limit
        rating = text(value.get("quality_rating") or value.get("quality_score"), 20)
        if rating:
            readings["quality_rating"] = rating.upper()
        return readings
    if kind == NAME:
        review = NAME_STATUS.get(event.upper(), "")
        if not review:
            return {}
        readings = {"name_review": review}
        reason = text(value.get("rejection_reason"))
        readings["name_rejection_reason"] = "" if reason.upper() in NO_REASON else reason
        requested = text(value.get("requested_verified_name") or value.get("requested_name"))
        if requested:
            readings["display_name"] = requested
        return readings
    return {}


def record_webhook(
    registrations: Iterable[PhoneRegistration], kind: str, event: str, value: dict[str, Any], state: str = ""
) -> list[tuple[PhoneRegistration, NumberHealth, list[str]]]:
    """Record an applied callback on each registration it changed (inside the caller's
    transaction); what changed, for ``announce`` once it commits."""
    readings = webhook_readings(kind, event, value, state)
    if not readings:
        return []
    now = timezone.now()
    done = []
    for registration in registrations:
        health, changed = record(registration, HealthSource.WEBHOOK, readings, now)
        done.append((registration, health, changed))
    return done


# -- from getPhone ----------------------------------------------------------------------------------


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    if isinstance(value, int):
        return bool(value)
    return None


def phone_readings(item: dict[str, Any]) -> dict[str, Any]:
    """What one getPhone number object says of the health (read loosely: wrong types are absent)."""
    readings: dict[str, Any] = {}
    state = NUMBER_STATUS.get(text(item.get("status")).upper(), "")
    if state:
        readings["account_state"] = state
        readings["account_reason"] = ""
    review = NAME_STATUS.get(text(item.get("name_status")).upper(), "")
    if review:
        readings["name_review"] = review
        reason = text(item.get("name_rejection_reason") or item.get("rejection_reason"))
        readings["name_rejection_reason"] = "" if reason.upper() in NO_REASON else reason
    name = text(item.get("verified_name"))
    if name:
        readings["display_name"] = name
    rating = text(item.get("quality_rating"), 20)
    if rating:
        readings["quality_rating"] = rating.upper()
    limit = text(
        item.get("messaging_limit_tier") or item.get("messaging_limit") or item.get("current_limit"), 64
    )
    if limit:
        readings["messaging_limit"] = limit
    for key in ("is_pin_enabled", "pin_set", "two_step_verification"):
        pin = _flag(item.get(key))
        if pin is not None:
            readings["pin_set"] = pin
            break
    return readings


def phone_items(data: Any) -> dict[str, dict[str, Any]]:
    """getPhone's answer by digits: an object keyed by number, or a list (its docs show both)."""
    found: dict[str, dict[str, Any]] = {}
    pairs: Iterable[tuple[Any, Any]]
    if isinstance(data, dict):
        pairs = data.items()
    elif isinstance(data, list):
        pairs = ((None, item) for item in data)
    else:
        return found
    for key, item in pairs:
        if not isinstance(item, dict):
            continue
        digits = digits_only(text(item.get("display_phone_number") or item.get("phone_number") or key))
        if digits:
            found[digits[:20]] = item
    return found


def due(app_key: str, now: datetime) -> QuerySet[PhoneRegistration]:
    """The application's registered numbers whose health was not asked of getPhone within
    ``HEALTH_READ_INTERVAL``, the longest unread first."""
    cutoff = now - timedelta(seconds=conf.HEALTH_READ_INTERVAL)
    return (
        PhoneRegistration.objects.filter(
            status=RegistrationStatus.REGISTERED, application=resolve_application(app_key)
        )
        .filter(
            Q(health__isnull=True)
            | Q(health__phone_requested_at__isnull=True)
            | Q(health__phone_requested_at__lt=cutoff)
        )
        .order_by("health__phone_requested_at", "pk")
    )


def has_due(app_key: str, now: datetime | None = None) -> bool:
    return due(app_key, now or timezone.now()).exists()


def _claim(registrations: list[PhoneRegistration], now: datetime) -> list[PhoneRegistration]:
    """Mark each number asked about before the call (so however often steps run, or fail, a
    number is asked about at most once per interval); the ones this step holds."""
    cutoff = now - timedelta(seconds=conf.HEALTH_READ_INTERVAL)
    NumberHealth.objects.bulk_create(
        [NumberHealth(registration=registration) for registration in registrations], ignore_conflicts=True
    )
    pks = [registration.pk for registration in registrations]
    NumberHealth.objects.filter(registration_id__in=pks).filter(
        Q(phone_requested_at__isnull=True) | Q(phone_requested_at__lt=cutoff)
    ).update(phone_requested_at=now)
    held = set(
        NumberHealth.objects.filter(registration_id__in=pks, phone_requested_at=now).values_list(
            "registration_id", flat=True
        )
    )
    return [registration for registration in registrations if registration.pk in held]


@dataclass
class HealthRead:
    """What one read did: the numbers asked about, the ones whose health changed."""

    asked: int = 0
    changed: list[int] = field(default_factory=list)


def read_due(app_key: str) -> HealthRead:
    """One getPhone for up to ``HEALTH_READ_BATCH`` of the application's registered numbers that
    are due; their answers recorded. Only the follower calls this. Raises the client's errors
    (the numbers stay claimed: they are asked about again after the interval)."""
    now = timezone.now()
    batch = list(due(app_key, now)[: conf.HEALTH_READ_BATCH])
    held = _claim(batch, now)
    result = HealthRead(asked=len(held))
    if not held:
        return result
    data = calls.get_client().get_phone(app_key, [item.phone_number for item in held])
    items = phone_items(data)
    done = timezone.now()
    for registration in held:
        item = items.get(registration.phone_number)
        if item is None:
            continue
        with transaction.atomic():
            health, changed = record(registration, HealthSource.GET_PHONE, phone_readings(item), done)
        if changed:
            result.changed.append(registration.pk)
        announce(registration, health, changed, HealthSource.GET_PHONE)
    return result
