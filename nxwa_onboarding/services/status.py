"""Status: NXCloud's phoneList, read for one number or for every open registration."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from .. import signals
from ..choices import RegistrationStatus
from ..conf import conf
from ..models import PhoneRegistration
from ..nxcloud.exceptions import NXCloudConfigurationError
from ..phone import digits_only
from . import calls
from .calls import clean_text
from .rules import VERIFIED_STATES

logger = logging.getLogger("nxwa_onboarding.services")
Status = RegistrationStatus


@dataclass
class SyncSummary:
    listed: int = 0
    matched: int = 0
    changed: list[tuple[str, str, str]] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)


def app_key(appkey: str | None) -> str:
    key = appkey or conf.APP_KEY
    if not key:
        raise NXCloudConfigurationError("NXWA_ONBOARDING['APP_KEY'] is required to read phoneList.")
    return key


def next_status(status: str, register_status: int | None) -> str:
    """Where phoneList's register_status moves a registration verified here (5 registered, 1-2
    failed, 3-4 client). Only verification moves a registration to these states: an unverified
    one is never moved by phoneList (``apply_number`` flags it instead)."""
    if register_status == 5:
        return Status.REGISTERED
    if register_status in (1, 2) and status in (Status.VERIFIED, Status.CLIENT_CREATED):
        return Status.FAILED
    if register_status in (3, 4) and status == Status.VERIFIED:
        return Status.CLIENT_CREATED
    return status


def register_status_of(item: dict[str, Any]) -> int | None:
    value = item.get("register_status")
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 5:
        return value
    return None


def _flag_elsewhere(registration: PhoneRegistration, now: datetime) -> str:
    """NXCloud lists a number as set up that was never verified here: someone onboarded it
    elsewhere (or an earlier registration here did). Staff are told; nothing else changes, no
    signal fires, no details of the other owner's account are copied."""
    if registration.registered_elsewhere_at is None:
        PhoneRegistration.objects.filter(pk=registration.pk, registered_elsewhere_at__isnull=True).update(
            registered_elsewhere_at=now
        )
        registration.registered_elsewhere_at = now
        logger.warning(
            "registration %s: NXCloud lists the number as set up, but it was never verified here",
            registration.public_id,
        )
    return registration.status


def apply_number(registration: PhoneRegistration, item: dict[str, Any], now: datetime) -> str:
    """Copy phoneList details onto the registration and move its status; returns the old status.

    One conditional UPDATE (``WHERE status = <the status it was read with>``), so a sync never
    overwrites a change made meanwhile (a check, a createClient) with a stale status, and of
    two concurrent syncs only one moves the status and sends ``registration_completed``.
    Everything NXCloud sent is cleaned before it is stored (``calls.clean_text``).
    """
    register_status = register_status_of(item)
    if registration.verified_at is None and registration.status not in VERIFIED_STATES:
        if register_status in (3, 4, 5):
            return _flag_elsewhere(registration, now)
        return registration.status
    details: dict[str, Any] = {
        "number_status": clean_text(item.get("status") or "", 20),
        "quality_rating": clean_text(item.get("quality_rating") or "", 10),
        "verified_name": clean_text(item.get("verified_name") or "", 255),
        "waba_id": clean_text(item.get("waba_id") or "", 64),
        "waba_name": clean_text(item.get("waba_name") or "", 255),
        "last_synced_at": now,
        "updated_at": now,
    }
    first_seen = registration.status
    for _try in range(3):
        old = registration.status
        fields = dict(details)
        if register_status is not None:
            fields["register_status"] = register_status
        new = next_status(old, fields.get("register_status", registration.register_status))
        if new != old:
            fields["status"] = new
            if new == Status.REGISTERED:
                fields["registered_at"] = registration.registered_at or now
        try:
            with transaction.atomic():
                updated = PhoneRegistration.objects.filter(pk=registration.pk, status=old).update(**fields)
        except IntegrityError:
            # A failed registration coming back to life while another is open for the number.
            logger.warning(
                "registration %s could not leave 'failed': the number has another open registration",
                registration.public_id,
            )
            fields.pop("status", None)
            fields.pop("registered_at", None)
            new = old
            updated = PhoneRegistration.objects.filter(pk=registration.pk, status=old).update(**fields)
        if updated:
            for name, value in fields.items():
                setattr(registration, name, value)
            if old != Status.REGISTERED and new == Status.REGISTERED:
                signals.registration_completed.send(sender=PhoneRegistration, registration=registration)
            return old
        # The status moved since it was read: read it again and apply once more.
        registration.refresh_from_db()
    logger.warning("registration %s kept changing during a sync; skipped", registration.public_id)
    return first_seen


def listed(numbers: list[Any]) -> dict[str, dict[str, Any]]:
    """phoneList's items by the digits of their number; an item that is not a number object is
    skipped, never the whole list (counted, and logged once per read)."""
    by_digits: dict[str, dict[str, Any]] = {}
    skipped = 0
    for item in numbers:
        digits = digits_only(str(item.get("display_phone_number", ""))) if isinstance(item, dict) else ""
        if not digits:
            skipped += 1
            continue
        by_digits[digits] = item
    if skipped:
        logger.warning("phoneList: %d items skipped (no number in them)", skipped)
    return by_digits


def _apply_safely(registration: PhoneRegistration, item: dict[str, Any], now: datetime) -> str | None:
    """``apply_number``, or None (logged) when this one item cannot be applied."""
    try:
        return apply_number(registration, item, now)
    except (DatabaseError, TypeError, ValueError) as err:
        logger.warning(
            "phoneList item for registration %s skipped: %s", registration.public_id, type(err).__name__
        )
        return None


def refresh_status(registration: PhoneRegistration, *, appkey: str | None = None) -> PhoneRegistration:
    """Read phoneList and update this registration (``registered`` at register_status 5,
    ``failed`` at 1 or 2). Raises the client's errors; unchanged if NXCloud does not list it.

    The read is claimed first (``status_requested_at``, committed before the call, cleared
    after it): of simultaneous refreshes of one number, one calls NXCloud and the others read
    the registration again from the database instead. A claim left by a crash lapses after
    ``stale_after()``."""
    now = timezone.now()
    mine = PhoneRegistration.objects.filter(pk=registration.pk)
    claimed = mine.filter(
        Q(status_requested_at__isnull=True) | Q(status_requested_at__lt=now - calls.stale_after())
    ).update(status_requested_at=now)
    if not claimed:
        registration.refresh_from_db()
        return registration
    try:
        numbers = calls.get_client().phone_list(app_key(appkey or registration.application.effective_app_key))
        item = listed(numbers).get(registration.phone_number)
        if item is not None:
            _apply_safely(registration, item, timezone.now())
    finally:
        mine.filter(status_requested_at=now).update(status_requested_at=None)
    return registration
