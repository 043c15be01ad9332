"""Status: NXCloud's phoneList, read for one number or for every open registration."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from .. import signals
from ..choices import RegistrationStatus
from ..conf import conf
from ..exceptions import NXCloudConfigurationError
from ..models import PhoneRegistration
from ..phone import digits_only
from . import calls

logger = logging.getLogger("nxwa_onboarding.services")
Status = RegistrationStatus


@dataclass
class SyncSummary:
    listed: int = 0
    matched: int = 0
    changed: list[tuple[str, str, str]] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)


def _app_key(appkey: str | None) -> str:
    key = appkey or conf.APP_KEY
    if not key:
        raise NXCloudConfigurationError("NXWA_ONBOARDING['APP_KEY'] is required to read phoneList.")
    return key


def _next_status(status: str, register_status: int | None) -> str:
    """Where phoneList's register_status moves a registration (5 registered, 1-2 failed, 3-4 client)."""
    if register_status == 5:
        return Status.REGISTERED
    if register_status in (1, 2) and status in (Status.VERIFIED, Status.CLIENT_CREATED):
        return Status.FAILED
    if register_status in (3, 4) and status == Status.VERIFIED:
        return Status.CLIENT_CREATED
    return status


def _apply_number(registration: PhoneRegistration, item: dict[str, Any], now: datetime) -> str:
    """Copy phoneList details onto the registration and move its status; returns the old status.

    One conditional UPDATE (``WHERE status = <the status it was read with>``), so a sync never
    overwrites a change made meanwhile (a check, a createClient) with a stale status, and of
    two concurrent syncs only one moves the status and sends ``registration_completed``.
    """
    register_status = item.get("register_status")
    if not (
        isinstance(register_status, int)
        and not isinstance(register_status, bool)
        and 1 <= register_status <= 5
    ):
        register_status = None
    details: dict[str, Any] = {
        "number_status": str(item.get("status") or "")[:20],
        "quality_rating": str(item.get("quality_rating") or "")[:10],
        "verified_name": str(item.get("verified_name") or "")[:255],
        "waba_id": str(item.get("waba_id") or "")[:64],
        "waba_name": str(item.get("waba_name") or "")[:255],
        "last_synced_at": now,
        "updated_at": now,
    }
    first_seen = registration.status
    for _try in range(3):
        old = registration.status
        fields = dict(details)
        if register_status is not None:
            fields["register_status"] = register_status
        new = _next_status(old, fields.get("register_status", registration.register_status))
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


def refresh_status(registration: PhoneRegistration, *, appkey: str | None = None) -> PhoneRegistration:
    """Read phoneList and update this registration (``registered`` at register_status 5,
    ``failed`` at 1 or 2). Raises the client's errors; unchanged if NXCloud does not list it."""
    numbers = calls.get_client().phone_list(_app_key(appkey))
    now = timezone.now()
    for item in numbers:
        if digits_only(str(item.get("display_phone_number", ""))) == registration.phone_number:
            _apply_number(registration, item, now)
            break
    return registration


def sync_statuses(
    appkey: str | None = None, *, progress: Callable[[int, int], None] | None = None
) -> SyncSummary:
    """Read phoneList once and update every open registration NXCloud lists."""
    numbers = calls.get_client().phone_list(_app_key(appkey))
    now = timezone.now()
    summary = SyncSummary(listed=len(numbers))
    by_digits = {digits_only(str(item.get("display_phone_number", ""))): item for item in numbers}
    registrations = PhoneRegistration.objects.open().filter(phone_number__in=list(by_digits))
    found = {r.phone_number: r for r in registrations}
    for index, (digits, item) in enumerate(by_digits.items(), start=1):
        registration = found.get(digits)
        if registration is None:
            summary.unmatched.append(digits)
        else:
            summary.matched += 1
            old = _apply_number(registration, item, now)
            if old != registration.status:
                summary.changed.append((digits, old, registration.status))
        if progress is not None:
            progress(index, len(by_digits))
    return summary
