"""Retention and erasure: personal data forgotten on time, or at a person's request.

What counts as personal here: phone numbers (registrations, webhook deliveries), IP addresses
(code requests, attempts: ``ip`` and ``ip_block``), webhook payloads (they carry numbers and
names) and task rows (their arguments). Three operations, each documented in
``docs/howto/retention.md``, are the only ones that change rows of the audit trail, which is
otherwise append-only (``CallRecord.save`` and ``WebhookDelivery.save`` still refuse):

- ``purge``: what is past ``RETENTION_DAYS`` (or ``RETENTION_UNFINISHED_DAYS`` for registrations
  never verified) is pseudonymised: a number or an address becomes ``pseudonym(value)``, a keyed
  digest, so counts, the funnel and "was it the same number" still work, but nobody can read the
  number back; webhook payloads are emptied and finished task rows deleted.
- ``erase_user``: one person's numbers and addresses, whatever their age, pseudonymised the same
  way; their open registrations closed; an ``Erasure`` row says who was erased (by id and digest),
  when and by whom.
- ``export_user``: everything kept about one person, as JSON-ready data (the right of access).

The digest is an HMAC-SHA256 keyed from ``SECRET_KEY`` (as ``codes.code_digest``), cut to fit the
columns: ``#`` and 19 hex digits (76 bits). A new ``SECRET_KEY`` gives new digests: rows
pseudonymised before it no longer match the same number pseudonymised after.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.apps import apps
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import salted_hmac

from ..choices import CLOSED_STATES, UNVERIFIED_STATES, RegistrationStatus
from ..conf import conf
from ..models import (
    CodeRequest,
    Erasure,
    PhoneRegistration,
    PurgeRun,
    VerificationAttempt,
    WebhookDelivery,
)

logger = logging.getLogger("nxwa_onboarding.services")

#: Every pseudonym starts with this; no phone number, address or address block does.
PSEUDONYM_MARK = "#"
PSEUDONYM_LENGTH = 20  # PhoneRegistration.phone_number's max_length
CALL_MODELS: tuple[type[CodeRequest] | type[VerificationAttempt], ...] = (CodeRequest, VerificationAttempt)
BATCH = 500
#: The reason a registration closed by retention or erasure gives (kept in English: it is data).
CLOSED_FOR_RETENTION = "Personal data past retention"
CLOSED_FOR_ERASURE = "Erased at the person's request"


def pseudonym(value: str) -> str:
    """A keyed digest of ``value`` that fits a phone number's column: ``#`` + 19 hex digits."""
    digest = salted_hmac("nxwa_onboarding.retention", value, algorithm="sha256").hexdigest()
    return PSEUDONYM_MARK + digest[: PSEUDONYM_LENGTH - 1]


def is_pseudonym(value: str) -> bool:
    return value.startswith(PSEUDONYM_MARK)


@dataclass
class Summary:
    """What a purge or an erasure changed (or, dry, would change), by kind of row."""

    dry_run: bool = False
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, what: str, n: int) -> None:
        if n:
            self.counts[what] = self.counts.get(what, 0) + n

    @property
    def total(self) -> int:
        return sum(self.counts.values())


# -- the pseudonymising writes, shared by purge and erasure ------------------------------------


def _registrations(rows: models.QuerySet[PhoneRegistration], summary: Summary, reason: str) -> None:
    """Close those still open, then replace each number by its pseudonym."""
    rows = rows.exclude(phone_number__startswith=PSEUDONYM_MARK)
    still_open = rows.exclude(status__in=CLOSED_STATES)
    if summary.dry_run:
        summary.add("registrations closed", still_open.count())
        summary.add("registration numbers", rows.count())
        return
    summary.add(
        "registrations closed",
        still_open.update(status=RegistrationStatus.CLOSED, closed_at=timezone.now(), close_reason=reason),
    )
    changed = 0
    pks = list(rows.values_list("pk", flat=True))
    for start in range(0, len(pks), BATCH):
        batch = list(PhoneRegistration.objects.filter(pk__in=pks[start : start + BATCH]).only("phone_number"))
        for registration in batch:
            registration.phone_number = pseudonym(registration.phone_number)
        # bulk_update: no save(), no auto_now, one statement a batch.
        changed += PhoneRegistration.objects.bulk_update(batch, ["phone_number"])
    summary.add("registration numbers", changed)


def _addresses(rows: Iterable[models.QuerySet[Any]], summary: Summary) -> None:
    """Call rows: the address dropped, its block replaced by the block's pseudonym (one UPDATE a
    distinct block)."""
    for queryset in rows:
        label = f"{queryset.model._meta.verbose_name_plural} addresses"
        pending = queryset.filter(Q(ip__isnull=False) | ~Q(ip_block="")).exclude(
            ip_block__startswith=PSEUDONYM_MARK
        )
        if summary.dry_run:
            summary.add(label, pending.count())
            continue
        blocks = set(pending.order_by().values_list("ip_block", flat=True).distinct())
        for block in blocks:
            summary.add(
                label,
                pending.filter(ip_block=block).update(ip=None, ip_block=pseudonym(block) if block else ""),
            )


def _deliveries(rows: models.QuerySet[WebhookDelivery], summary: Summary) -> None:
    """Webhook deliveries: the payload emptied, the number replaced by its pseudonym."""
    pending = rows.filter(
        ~Q(payload="") | (~Q(phone_number="") & ~Q(phone_number__startswith=PSEUDONYM_MARK))
    )
    if summary.dry_run:
        summary.add("webhook deliveries", pending.count())
        return
    numbers = set(pending.order_by().values_list("phone_number", flat=True).distinct())
    for number in numbers:
        replacement = pseudonym(number) if number and not is_pseudonym(number) else number
        summary.add(
            "webhook deliveries",
            pending.filter(phone_number=number).update(phone_number=replacement, payload=""),
        )


def _task_rows(before: Any, summary: Summary) -> None:
    """The database Tasks backend's finished rows of the app's tasks (their arguments)."""
    if not apps.is_installed("django_tasks_db"):
        return
    from django_tasks_db.models import DBTaskResult

    rows = DBTaskResult.objects.finished().filter(
        finished_at__lt=before, task_path__startswith="nxwa_onboarding."
    )
    if summary.dry_run:
        summary.add("task rows", rows.count())
    else:
        summary.add("task rows", rows.delete()[0])


# -- purge -------------------------------------------------------------------------------------


def purge(*, dry_run: bool = False, now: Any = None) -> Summary:
    """Pseudonymise what is past retention, delete payloads and task rows; with ``dry_run``,
    count what would change and change nothing. Safe to run as often as you like."""
    now = now or timezone.now()
    before = now - timedelta(days=conf.RETENTION_DAYS)
    unfinished_before = now - timedelta(days=conf.RETENTION_UNFINISHED_DAYS)
    summary = Summary(dry_run=dry_run)
    run = None if dry_run else PurgeRun.objects.create()
    ended = PhoneRegistration.objects.filter(status__in=CLOSED_STATES).filter(
        Q(closed_at__lt=before) | Q(closed_at__isnull=True, updated_at__lt=before)
    )
    unfinished = PhoneRegistration.objects.filter(status__in=UNVERIFIED_STATES).filter(
        Q(code_sent_at__lt=unfinished_before) | Q(code_sent_at__isnull=True, created_at__lt=unfinished_before)
    )
    with transaction.atomic():
        # The unfinished first: once closed, they are "ended" too, but only now.
        unfinished_pks = list(unfinished.values_list("pk", flat=True))
        ended_pks = list(ended.values_list("pk", flat=True))
        forgotten = PhoneRegistration.objects.filter(pk__in=[*unfinished_pks, *ended_pks])
        _registrations(forgotten, summary, CLOSED_FOR_RETENTION)
        _addresses(
            [
                model.objects.filter(Q(created_at__lt=before) | Q(registration__in=forgotten))
                for model in CALL_MODELS
            ],
            summary,
        )
        _deliveries(
            WebhookDelivery.objects.filter(Q(received_at__lt=before) | Q(registration__in=forgotten)), summary
        )
        _task_rows(before, summary)
    if run is not None:
        PurgeRun.objects.filter(pk=run.pk).update(finished_at=timezone.now(), summary=summary.counts)
    logger.info("nxwa_purge%s: %s", " (dry run)" if dry_run else "", summary.counts or "nothing to do")
    return summary


def purge_due(now: Any = None) -> bool:
    """No purge has run in the last day (the cron pass then enqueues one)."""
    now = now or timezone.now()
    return not PurgeRun.objects.filter(started_at__gt=now - timedelta(days=1)).exists()


# -- one person --------------------------------------------------------------------------------


def _theirs(user: Any) -> models.QuerySet[PhoneRegistration]:
    return PhoneRegistration.objects.filter(owner=user)


def erase_user(user: Any, *, performed_by: Any = None, via: str = Erasure.Via.SERVICE) -> Erasure:
    """Remove ``user``'s numbers and addresses everywhere (their registrations, the calls on them
    and the calls they made, the webhook deliveries about their numbers), close their open
    registrations, and record that an erasure took place. Other people's rows, even for the same
    number, are kept. The user account itself is the host's to delete."""
    summary = Summary()
    with transaction.atomic():
        registrations = _theirs(user)
        pks = list(registrations.values_list("pk", flat=True))
        numbers = set(registrations.values_list("phone_number", flat=True)) - {""}
        mine = PhoneRegistration.objects.filter(pk__in=pks)
        _addresses(
            [model.objects.filter(Q(registration__in=pks) | Q(user=user)) for model in CALL_MODELS], summary
        )
        _deliveries(
            WebhookDelivery.objects.filter(
                Q(registration__in=pks) | Q(phone_number__in=numbers, registration__isnull=True)
            ),
            summary,
        )
        _registrations(mine, summary, CLOSED_FOR_ERASURE)
        summary.add("admin log entries", _admin_log(pks))
        erasure = Erasure.objects.create(
            subject_id=str(user.pk),
            subject_digest=pseudonym(user.get_username()),
            performed_by=performed_by if getattr(performed_by, "pk", None) else None,
            via=via,
            registrations=len(pks),
            rows=summary.total,
        )
    logger.info("nxwa_erase: user %s erased (%s)", user.pk, summary.counts or "nothing kept")
    return erasure


def _admin_log(pks: list[int]) -> int:
    """The admin's history names a registration by its number (``str``): name it by its
    pseudonym instead."""
    if not pks or not apps.is_installed("django.contrib.admin"):
        return 0
    from django.contrib.admin.models import LogEntry
    from django.contrib.contenttypes.models import ContentType

    kind = ContentType.objects.get_for_model(PhoneRegistration)
    changed = 0
    for pk, number in PhoneRegistration.objects.filter(pk__in=pks).values_list("pk", "phone_number"):
        changed += LogEntry.objects.filter(content_type=kind, object_id=str(pk)).update(
            object_repr=number if is_pseudonym(number) else pseudonym(number)
        )
    return changed


EXPORT_SKIPS = {"code_digest", "dedupe_key"}


def _rows(queryset: models.QuerySet[Any]) -> list[dict[str, Any]]:
    fields = [f.attname for f in queryset.model._meta.concrete_fields if f.attname not in EXPORT_SKIPS]
    return list(queryset.order_by("pk").values(*fields))


def export_user(user: Any) -> dict[str, Any]:
    """Everything kept about ``user``: their account's name and email, their registrations with
    every call and webhook delivery about them, the calls they made on other registrations, and
    any erasure of them. JSON-ready with Django's encoder (dates, UUIDs)."""
    pks = list(_theirs(user).values_list("pk", flat=True))
    return {
        "user": {"id": user.pk, "username": user.get_username(), "email": getattr(user, "email", "")},
        "registrations": _rows(PhoneRegistration.objects.filter(pk__in=pks)),
        "code_requests": _rows(CodeRequest.objects.filter(Q(registration__in=pks) | Q(user=user))),
        "verification_attempts": _rows(
            VerificationAttempt.objects.filter(Q(registration__in=pks) | Q(user=user))
        ),
        "webhook_deliveries": _rows(WebhookDelivery.objects.filter(registration__in=pks)),
        "erasures": _rows(Erasure.objects.filter(subject_id=str(user.pk))),
    }


def erase_on_user_delete(sender: Any, instance: Any, **kwargs: Any) -> None:
    """``pre_delete`` of the user model (connected in ``apps.py``): with ``ERASE_ON_USER_DELETE``
    on, a deleted user's numbers and addresses go with them (before the delete sets the links
    to their rows to NULL, which would leave the rows unattributed but not forgotten)."""
    if conf.ERASE_ON_USER_DELETE and instance.pk is not None:
        erase_user(instance, via=Erasure.Via.USER_DELETED)
