"""A whole phoneList applied to every open registration it lists, in batches.

``status.apply_number`` is the path for one number (a refresh): a conditional UPDATE in a
savepoint. At an application's scale (100,000 numbers) that is 100,000 statements, most of them
writing what is already there. Here a row that would not change is not written at all; rows
whose details changed are written a thousand at a time (one ``UPDATE ... FROM (VALUES ...)``);
rows whose status moves are moved per (old, new) pair with one conditional UPDATE a batch
(``WHERE id IN (...) AND status = old``, after locking the batch's rows), so a change made
meanwhile is never overwritten and of two concurrent syncs one sends each
``registration_completed``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from .. import signals
from ..choices import RegistrationStatus
from ..models import Application, PhoneRegistration
from . import calls, sql, status
from .applications import resolve_application
from .calls import clean_text
from .rules import VERIFIED_STATES

logger = logging.getLogger("nxwa_onboarding.services")
Status = RegistrationStatus

#: Numbers read from the database per query; rows written per statement (one UPDATE ... FROM
#: VALUES, ``sql.update_many``; ``bulk_update``'s CASE on other databases).
BATCH = 1000
WRITE_BATCH = 1000
DETAILS = ("number_status", "quality_rating", "verified_name", "waba_id", "waba_name", "register_status")


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def wanted(registration: PhoneRegistration, item: dict[str, Any]) -> dict[str, Any]:
    """The detail fields phoneList's ``item`` changes on ``registration`` (empty: nothing)."""
    values: dict[str, Any] = {
        "number_status": clean_text(item.get("status") or "", 20),
        "quality_rating": clean_text(item.get("quality_rating") or "", 10),
        "verified_name": clean_text(item.get("verified_name") or "", 255),
        "waba_id": clean_text(item.get("waba_id") or "", 64),
        "waba_name": clean_text(item.get("waba_name") or "", 255),
    }
    register_status = status.register_status_of(item)
    if register_status is not None:
        values["register_status"] = register_status
    return {name: value for name, value in values.items() if getattr(registration, name) != value}


class Batches:
    """What one pass found: rows whose details change, rows whose status moves, per pair."""

    def __init__(self) -> None:
        self.details: list[PhoneRegistration] = []
        self.moves: dict[tuple[str, str], list[PhoneRegistration]] = defaultdict(list)
        self.changed: list[tuple[str, str, str]] = []

    def add(self, registration: PhoneRegistration, item: dict[str, Any], now: datetime) -> None:
        if registration.verified_at is None and registration.status not in VERIFIED_STATES:
            # Never verified here: never moved by phoneList, only flagged (rare; one row at a time).
            status.apply_number(registration, item, now)
            return
        fields = wanted(registration, item)
        register_status = fields.get("register_status", registration.register_status)
        new = status.next_status(registration.status, register_status)
        if not fields and new == registration.status:
            return
        for name, value in fields.items():
            setattr(registration, name, value)
        registration.last_synced_at = now
        registration.updated_at = now
        self.details.append(registration)
        if new != registration.status:
            self.moves[(registration.status, new)].append(registration)

    def write(self, now: datetime) -> None:
        names = [*DETAILS, "last_synced_at", "updated_at"]
        for chunk in _chunks(self.details, WRITE_BATCH):
            if not sql.update_many(PhoneRegistration, chunk, tuple(names)):
                with transaction.atomic():
                    PhoneRegistration.objects.bulk_update(chunk, names)
        for (old, new), registrations in self.moves.items():
            for chunk in _chunks(registrations, WRITE_BATCH):
                self._move(chunk, old, new, now)

    def _move(self, chunk: list[PhoneRegistration], old: str, new: str, now: datetime) -> None:
        extra: dict[str, Any] = {}
        if new == Status.REGISTERED:
            extra["registered_at"] = Coalesce(F("registered_at"), Value(now))
        with transaction.atomic():
            rows = PhoneRegistration.objects.filter(pk__in=[r.pk for r in chunk], status=old)
            locked = set(rows.select_for_update().values_list("pk", flat=True))
            moved = rows.filter(pk__in=locked).update(status=new, updated_at=now, **extra)
        if moved != len(locked):
            logger.warning("sync: %d of %d rows changed status meanwhile", len(locked) - moved, len(locked))
        for registration in chunk:
            if registration.pk not in locked:
                continue  # moved by someone else since it was read: theirs to announce
            registration.status = new
            if new == Status.REGISTERED:
                registration.registered_at = registration.registered_at or now
            self.changed.append((registration.phone_number, old, new))
            if old != Status.REGISTERED and new == Status.REGISTERED:
                signals.registration_completed.send(sender=PhoneRegistration, registration=registration)


def apply_list(
    numbers: list[Any],
    now: datetime,
    summary: status.SyncSummary,
    *,
    registrations: QuerySet[PhoneRegistration] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> status.SyncSummary:
    """Apply phoneList's ``numbers`` to the open registrations they list (of ``registrations``,
    a queryset; default all): reads in batches, writes only what changes, in batches."""
    by_digits = status.listed(numbers)
    scope = registrations if registrations is not None else PhoneRegistration.objects.open()
    batches = Batches()
    digits = list(by_digits)
    done = 0
    for chunk in _chunks(digits, BATCH):
        found = {r.phone_number: r for r in scope.filter(phone_number__in=chunk)}
        for number in chunk:
            registration = found.get(number)
            if registration is None:
                summary.unmatched.append(number)
            else:
                summary.matched += 1
                batches.add(registration, by_digits[number], now)
            done += 1
            if progress is not None:
                progress(done, len(digits))
    batches.write(now)
    summary.changed.extend(batches.changed)
    return summary


def sync_statuses(
    application: Application | str | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
    registrations: QuerySet[PhoneRegistration] | None = None,
) -> status.SyncSummary:
    """Read phoneList once for ``application`` (an ``Application``, an app key, or None: the
    default application) and update the open registrations *of that application* it lists
    (of ``registrations``, if given). Nothing changed: nothing written."""
    application = resolve_application(application)
    numbers = calls.get_client().phone_list(status.app_key(application.effective_app_key))
    now = timezone.now()
    if application.pk is not None:
        Application.objects.filter(pk=application.pk).update(last_synced_at=now)
    summary = status.SyncSummary(listed=len(numbers))
    scope = registrations if registrations is not None else PhoneRegistration.objects.open()
    scope = scope.filter(application_id=application.pk)
    return apply_list(numbers, now, summary, registrations=scope, progress=progress)
