"""Client setup: createClient for a verified number, claimed before it is called, and counted
against Meta's registration budget (10 per number in a moving 72 hours; the 11th is refused here,
before NXCloud is called; an answer carrying 133016 locks the number until the lock's end)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import signals
from ..choices import RefusalReason, RegistrationStatus
from ..models import ClientSetupCall, PhoneRegistration
from ..nxcloud.exceptions import (
    InvalidStateError,
    NXCloudConfigurationError,
    NXCloudError,
    SetupLimitError,
    TransportError,
)
from ..texts import refusal_text
from . import breaker, calls, status
from .calls import UserLike, real_user

logger = logging.getLogger("nxwa_onboarding.services")
Status = RegistrationStatus

#: Meta's registration budget: this many registration requests per number in ``BUDGET_WINDOW``.
BUDGET = 10
BUDGET_WINDOW = timedelta(hours=72)
#: Meta's answer once the budget is spent, and how long it locks the number.
LOCKED_CODE = 133016
LOCK = timedelta(hours=72)


def setup_possible_at(phone_number: str, now: datetime | None = None) -> datetime | None:
    """When createClient may be sent for the number again, or None when it may be now: the end of
    a lock Meta announced (133016), or the moment the oldest of the last ``BUDGET`` calls in the
    window leaves it."""
    now = now or timezone.now()
    ends: list[datetime] = []
    lock = (
        ClientSetupCall.objects.filter(phone_number=phone_number, refused=False, locked_until__gt=now)
        .order_by("-locked_until")
        .values_list("locked_until", flat=True)
        .first()
    )
    if lock is not None:
        ends.append(lock)
    sent = list(
        ClientSetupCall.objects.filter(
            phone_number=phone_number, refused=False, created_at__gt=now - BUDGET_WINDOW
        )
        .order_by("-created_at")
        .values_list("created_at", flat=True)[:BUDGET]
    )
    if len(sent) >= BUDGET:
        ends.append(sent[-1] + BUDGET_WINDOW)
    return max(ends) if ends else None


def locked(err: NXCloudError) -> bool:
    """NXCloud passed on Meta's 133016: the number's registration budget is spent."""
    return err.code == LOCKED_CODE or str(LOCKED_CODE) in (err.message or "")


def _refuse_for_budget(registration: PhoneRegistration, until: datetime, user: UserLike) -> SetupLimitError:
    """Record the refusal (once per lock end: the follower may ask again) and say until when."""
    already = ClientSetupCall.objects.filter(
        phone_number=registration.phone_number, refused=True, locked_until=until
    ).exists()
    if not already:
        now = timezone.now()
        ClientSetupCall.objects.create(
            phone_number=registration.phone_number,
            registration=registration,
            user=real_user(user),
            refused=True,
            locked_until=until,
            finished_at=now,
        )
    logger.info(
        "createClient for registration %s refused: budget spent until %s", registration.public_id, until
    )
    return SetupLimitError(refusal_text(RefusalReason.SETUP_LIMIT, until), until)


def settle_from_phone_list(registration: PhoneRegistration) -> bool:
    """An earlier createClient's answer was lost: ask phoneList whether it took. Listed with
    register_status 3-5: it did (``client_created``, or ``registered``), 1-2: it failed there;
    True either way, the registration follows what NXCloud says. Not listed, or listed without
    a register_status: False, and the outcome stays unknown (nothing is sent)."""
    numbers = calls.get_client().phone_list(status.app_key(registration.application.effective_app_key))
    item = status.listed(numbers).get(registration.phone_number)
    if item is None:
        return False
    status.apply_number(registration, item, timezone.now())
    return registration.status != Status.VERIFIED


def create_client(
    registration: PhoneRegistration, *, user: UserLike = None, resend_unknown: bool = False
) -> PhoneRegistration:
    """Create and register NXCloud's local client for a verified number.

    A no-op for a registration whose client already exists. createClient is not idempotent, so
    the call is claimed first: ``client_requested_at`` is committed before the call (evidence if
    the process dies, and a second caller is refused meanwhile), cleared when the call certainly
    failed, and kept when its outcome is unknown. An unknown outcome is settled from phoneList
    once any call still under way must have ended (``stale_after()``; the follower does the
    same on every step); it is never sent again automatically: only when a person asks for it
    (``resend_unknown=True``: the admin's action). Raises ``InvalidStateError`` before
    verification, while a call is claimed or its outcome is unknown, ``SetupLimitError`` (with
    ``until``) when Meta's registration budget for the number is spent, and the client's
    ``NXCloudError``/``TransportError``
    when the call fails (the registration stays ``verified``, so it can be tried again; when
    NXCloud refused the number itself, ``client_refusal`` keeps its answer and only a person's
    call sends it again); ``calls.failure_of(err)`` says why, in the words every face uses.
    """
    registration.refresh_from_db(fields=["status", "verified_at", "client_requested_at", "client_refusal"])
    if registration.status in (Status.CLIENT_CREATED, Status.REGISTERED):
        return registration
    if registration.status != Status.VERIFIED:
        raise InvalidStateError(_("The number must be verified before its WhatsApp client is created."))
    paused = breaker.paused()
    if paused is not None:  # the breaker: no call to NXCloud for anyone until it closes
        raise InvalidStateError(refusal_text(RefusalReason.PAUSED, paused.until))
    now = timezone.now()
    claim = registration.client_requested_at
    lost = claim is not None and claim < now - calls.stale_after()
    if lost and not resend_unknown:
        if settle_from_phone_list(registration):
            return registration
        raise InvalidStateError(
            _(
                "NXCloud's answer to creating this number's WhatsApp client was lost, and NXCloud "
                "does not list it yet. Staff can send it again."
            )
        )
    mine = PhoneRegistration.objects.filter(pk=registration.pk, status=Status.VERIFIED)
    free = Q(client_requested_at__isnull=True)
    if resend_unknown:
        free |= Q(client_requested_at__lt=now - calls.stale_after())
    claimed = mine.filter(free).update(client_requested_at=now, updated_at=now)
    if not claimed:
        raise InvalidStateError(
            _("The WhatsApp client for this number is already being created. Look again in a minute.")
        )
    registration.client_requested_at = now
    until = setup_possible_at(registration.phone_number, now)
    if until is not None:
        # Meta's budget is spent: sending would only lengthen the lock. Nothing was sent.
        mine.filter(client_requested_at=now).update(client_requested_at=None)
        registration.client_requested_at = None
        raise _refuse_for_budget(registration, until, user)
    counted = ClientSetupCall.objects.create(
        phone_number=registration.phone_number, registration=registration, user=real_user(user)
    )
    try:
        calls.get_client().create_client(registration.phone_number)
    except (NXCloudError, NXCloudConfigurationError, TransportError) as err:
        finished: dict[str, object] = {"finished_at": timezone.now()}
        if isinstance(err, NXCloudError):
            finished["result_code"] = err.code
        if isinstance(err, NXCloudError) and locked(err):
            finished["locked_until"] = now + LOCK
        ClientSetupCall.objects.filter(pk=counted.pk).update(**finished)
        if isinstance(err, NXCloudError) and locked(err):
            # Not a refusal of the number: it can be set up once the lock ends.
            mine.filter(client_requested_at=now).update(client_requested_at=None)
            registration.client_requested_at = None
            raise SetupLimitError(refusal_text(RefusalReason.SETUP_LIMIT, now + LOCK), now + LOCK) from err
        if not (isinstance(err, TransportError) and err.sent):
            # Certainly not created: release the claim so it can be tried again at once.
            released: dict[str, object] = {"client_requested_at": None}
            if isinstance(err, NXCloudError) and not calls.failure_of(err):
                # NXCloud said no about this number (not about our settings, not unreachable):
                # sending it again would get the same answer, so nothing does until staff do.
                released["client_refusal"] = f"{err.code}: {err.message}"[:255]
            mine.filter(client_requested_at=now).update(**released)
            registration.client_requested_at = None
            registration.client_refusal = str(released.get("client_refusal", registration.client_refusal))
        raise
    done = timezone.now()
    ClientSetupCall.objects.filter(pk=counted.pk).update(finished_at=done, result_code=0)
    # A refusal put right is no longer what needed attention (a registration stuck for long
    # stays marked: mark_stuck would mark it again at once).
    cleared = {"stuck_at": None} if registration.client_refusal else {}
    mine.update(status=Status.CLIENT_CREATED, client_refusal="", updated_at=done, **cleared)
    registration.status = Status.CLIENT_CREATED
    registration.client_refusal = ""
    if cleared:
        registration.stuck_at = None
    logger.info("client created for registration %s by %s", registration.public_id, real_user(user))
    signals.client_created.send(sender=PhoneRegistration, registration=registration)
    return registration
