"""Recovery: calls left ``pending`` by a crash are marked ``unknown``. Nothing is ever resent."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from ..choices import AttemptOutcome, Failure, RegistrationStatus, SendOutcome
from ..models import CodeRequest, PhoneRegistration, VerificationAttempt
from .calls import stale_after

logger = logging.getLogger("nxwa_onboarding.services")


@dataclass(frozen=True)
class ReconcileSummary:
    attempts: int
    code_requests: int


def reconcile_pending(*, older_than: timedelta | None = None) -> ReconcileSummary:
    """Mark calls left ``pending`` by a crash as ``unknown``. Never resends anything."""
    now = timezone.now()
    cutoff = now - (older_than if older_than is not None else stale_after())
    note = "no answer recorded (process ended during the call); marked unknown by nxwa_reconcile"
    with transaction.atomic():
        attempts = VerificationAttempt.objects.filter(
            outcome=AttemptOutcome.PENDING, created_at__lt=cutoff
        ).update(
            outcome=AttemptOutcome.UNKNOWN, failure=Failure.MAYBE_SENT, finished_at=now, result_message=note
        )
        sends = CodeRequest.objects.filter(outcome=SendOutcome.PENDING, created_at__lt=cutoff).update(
            outcome=SendOutcome.UNKNOWN, failure=Failure.MAYBE_SENT, finished_at=now, result_message=note
        )
        if sends:
            # A send of unknown fate may have delivered a code: let the person type it in.
            maybe_sent = CodeRequest.objects.filter(outcome=SendOutcome.UNKNOWN).values("registration_id")
            PhoneRegistration.objects.filter(pk__in=maybe_sent, status=RegistrationStatus.NEW).update(
                status=RegistrationStatus.CODE_SENT, updated_at=now
            )
    if attempts or sends:
        logger.warning("reconciled %d pending attempts and %d pending code requests", attempts, sends)
    return ReconcileSummary(attempts, sends)
