"""Following an application: one phoneList a step for all its numbers in progress.

While an application has registrations in progress (verified, or client created), a chain of
steps reads its phoneList once and updates every one of them (``sync.sync_statuses``), then
comes back after a backoff (``FOLLOW_BACKOFF``: the shortest after a change, doubling up to the
longest while nothing changes), and stops when nothing is in progress. The state is one
``FollowState`` row per application key:

- ``lease_until``: a step holds the application for as long as a phoneList can take
  (``stale_after()``); two workers, or a worker and the cron pass, never step it at once;
- ``chain``: the token of the one live chain; a task carrying another token stops, so however
  many pages nudge, one chain runs, and a chain whose worker died (``next_step_at`` long past)
  is replaced by the next nudge or cron pass.

The tasks (``nxwa_onboarding.tasks``) and ``nxwa_follow`` call these; nothing here enqueues.

Applications: following is keyed by the application's key (``app_key_of``: the registration's
own application's; ``registrations_of``: an application's registrations).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from .. import signals
from ..choices import RegistrationStatus
from ..conf import conf
from ..models import Application, FollowState, PhoneRegistration, VerificationAttempt
from ..nxcloud.exceptions import NXCloudConfigurationError, OnboardingError
from ..ops.tracing import current_span, traced
from . import breaker, calls, health, sync
from .applications import resolve_application
from .client_setup import setup_possible_at

logger = logging.getLogger("nxwa_onboarding.services")
Status = RegistrationStatus

#: Statuses on the way to registered (a verified number's client refused by NXCloud among them).
IN_PROGRESS = (Status.VERIFIED, Status.CLIENT_CREATED)


def followed(prefix: str = "") -> Q:
    """Registrations the follower works on, and that keep its chain going: in progress, except a
    verified number NXCloud refused a client for (nothing moves it until staff act). ``prefix``:
    the lookup's path from another model (``"registrations__"``)."""
    return Q(**{f"{prefix}status": Status.CLIENT_CREATED}) | Q(
        **{f"{prefix}status": Status.VERIFIED, f"{prefix}client_refusal": ""}
    )


def is_followed(registration: PhoneRegistration) -> bool:
    """``followed()`` for one registration in hand: the pages poll it, the follower moves it."""
    return registration.status == Status.CLIENT_CREATED or (
        registration.status == Status.VERIFIED and not registration.client_refusal
    )


# -- applications and their registrations -------------------------------------------------------


def app_key_of(registration: PhoneRegistration) -> str:
    """The key of the application that follows ``registration`` ("" if none is configured)."""
    return registration.application.effective_app_key


def registrations_of(app_key: str) -> QuerySet[PhoneRegistration]:
    """The open registrations of the application with ``app_key``."""
    return PhoneRegistration.objects.open().filter(application=resolve_application(app_key))


def app_keys_in_progress() -> list[str]:
    """The applications with something in progress: what a cron pass steps."""
    busy = Application.objects.filter(followed("registrations__")).distinct()
    return sorted({application.effective_app_key for application in busy if application.effective_app_key})


# -- steps -------------------------------------------------------------------------------------


@dataclass
class Step:
    """What a step did: ``ran`` False when another worker held the application or the chain was
    replaced; ``again_at`` when the chain steps next (None: it stopped)."""

    ran: bool
    again_at: datetime | None = None
    changed: int = 0
    orphans: list[int] = field(default_factory=list)
    error: str = ""


def backoff(previous: float, changed: bool) -> float:
    shortest, longest = conf.FOLLOW_BACKOFF
    if changed or previous <= 0:
        return shortest
    return min(previous * 2, longest)


def _state(app_key: str) -> FollowState:
    state, _created = FollowState.objects.get_or_create(app_key=app_key)
    return state


#: A chain's task may run this early (clocks of different machines).
EARLY = timedelta(seconds=1)


def _due(state: FollowState, chain: str, now: datetime) -> bool:
    """The chain is still this one and its step is due: a task of a replaced chain, or a copy
    of a task that already ran (its step moved ``next_step_at`` on), stops here."""
    if state.chain != chain:
        return False
    return state.next_step_at is None or state.next_step_at <= now + EARLY


def chain_alive(app_key: str, now: datetime | None = None) -> bool:
    """A chain is scheduled for the application and not overdue by more than ``stale_after()``."""
    now = now or timezone.now()
    state = FollowState.objects.filter(app_key=app_key).first()
    return (
        state is not None
        and bool(state.chain)
        and state.next_step_at is not None
        and state.next_step_at >= now - calls.stale_after()
    )


def _claim(state: FollowState, chain: str | None, now: datetime) -> bool:
    rows = FollowState.objects.filter(pk=state.pk).filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    )
    if chain is not None:
        rows = rows.filter(chain=chain)
    return bool(rows.update(lease_until=now + calls.stale_after()))


def in_progress(app_key: str) -> bool:
    """The application has a registration the follower works on."""
    return registrations_of(app_key).filter(followed()).exists()


def orphans(app_key: str, now: datetime) -> list[int]:
    """Verified registrations whose createClient was never started (its task lost, or a call
    that certainly failed on the way) and not just now: the caller enqueues their client
    creation. Not one NXCloud refused: its answer would be the same."""
    found = list(
        registrations_of(app_key)
        .filter(status=Status.VERIFIED, client_requested_at__isnull=True, client_refusal="")
        .filter(verified_at__lt=now - calls.stale_after())
        .values_list("pk", "phone_number")
    )
    # Not a number whose registration budget is spent (Meta's lock): it waits for its end.
    return [pk for pk, phone in found if setup_possible_at(phone, now) is None]


@traced("nxwa_onboarding.follow.step")
def step(app_key: str, *, chain: str | None = None) -> Step:
    """One following step for the application: claim it, read its phoneList once, apply it to
    every registration in progress, release it. ``chain``: the token of the task's chain (None
    for the cron pass, which steps whatever the chain is). Safe to run twice, or after a worker
    died mid-step (its lease lapses)."""
    now = timezone.now()
    state = _state(app_key)
    if chain is not None and not _due(state, chain, now):
        return Step(ran=False)
    if not _claim(state, chain, now):
        return Step(ran=False)
    result = Step(ran=True)
    changed = False
    try:
        working = registrations_of(app_key).filter(followed())
        if breaker.paused(now) is not None:
            # The breaker stops every call to NXCloud, this one too; the chain goes on with its
            # backoff and reads again once the breaker has closed.
            result.error = "paused"
        else:
            if working.exists():
                summary = sync.sync_statuses(app_key, registrations=working)
                result.changed = len(summary.changed)
                changed = bool(summary.changed)
                result.orphans = orphans(app_key, now)
            _read_health(app_key)
    except (OnboardingError, NXCloudConfigurationError) as err:
        result.error = f"{type(err).__name__}: {calls.failure_of(err) or 'rejected'}"
        logger.warning("following application %s: phoneList failed (%s)", state.pk, result.error)
    finally:
        done = timezone.now()
        interval = backoff(state.interval, changed)
        more = in_progress(app_key)
        result.again_at = done + timedelta(seconds=interval) if more else None
        mark_stuck(done)
        FollowState.objects.filter(pk=state.pk).update(
            lease_until=None,
            interval=interval if more else 0,
            last_step_at=done,
            steps=state.steps + 1,
            last_error=result.error[:255],
        )
        current_span().set_attribute("nxwa.follow.changed", result.changed)
        if result.error:
            current_span().set_attribute("error.type", result.error.split(":")[0])
        if chain is not None:
            # The chain's own step schedules its next one (unless it was replaced meanwhile).
            FollowState.objects.filter(pk=state.pk, chain=chain).update(
                next_step_at=result.again_at, **({} if more else {"chain": ""})
            )
        elif not more:
            FollowState.objects.filter(pk=state.pk).update(next_step_at=None, chain="")
    return result


# -- registered numbers' health (getPhone) -------------------------------------------------------


def app_keys_due_health(now: datetime | None = None) -> list[str]:
    """Applications with a registered number whose health is due a getPhone read."""
    cutoff = (now or timezone.now()) - timedelta(seconds=conf.HEALTH_READ_INTERVAL)
    registered = Q(registrations__status=Status.REGISTERED)
    unread = (
        Q(registrations__health__isnull=True)
        | Q(registrations__health__phone_requested_at__isnull=True)
        | Q(registrations__health__phone_requested_at__lt=cutoff)
    )
    due = Application.objects.filter(registered & unread).distinct()
    return sorted({application.effective_app_key for application in due if application.effective_app_key})


def _read_health(app_key: str) -> health.HealthRead:
    """One getPhone for the application's registered numbers that are due (the caller holds
    the application's lease); a failure is logged, its numbers wait for the next interval."""
    try:
        if not health.has_due(app_key):
            return health.HealthRead()
        return health.read_due(app_key)
    except (OnboardingError, NXCloudConfigurationError) as err:
        logger.warning(
            "following %s: getPhone failed (%s)", app_key, calls.failure_of(err) or type(err).__name__
        )
        return health.HealthRead()


def health_step(app_key: str) -> health.HealthRead | None:
    """The health read of an application with nothing in progress (the cron pass): under the
    application's lease, like a step, so it never runs beside one. None: a step holds it."""
    now = timezone.now()
    if breaker.paused(now) is not None:  # no call to NXCloud while the breaker is open
        return None
    state = _state(app_key)
    if not _claim(state, None, now):
        return None
    try:
        return _read_health(app_key)
    finally:
        FollowState.objects.filter(pk=state.pk).update(lease_until=None)


def claim_new_chain(app_key: str, first_step_at: datetime | None = None) -> str | None:
    """Make sure the application has a live chain: the token of a new one the caller must
    enqueue, or None when one is alive (scheduled, or overdue by less than ``stale_after()``).
    ``first_step_at``: when the new chain's first step is due (default now; the cron pass, having
    just stepped, gives its step's next time). Cheap for the pages: one SELECT when one is alive."""
    if not app_key:
        return None
    now = timezone.now()
    if chain_alive(app_key, now):
        return None
    state = _state(app_key)
    lapsed = now - calls.stale_after()
    token = secrets.token_hex(8)
    started = (
        FollowState.objects.filter(pk=state.pk)
        .filter(Q(chain="") | Q(next_step_at__isnull=True) | Q(next_step_at__lt=lapsed))
        .update(chain=token, next_step_at=first_step_at or now, interval=0)
    )
    return token if started else None


def abandon(app_key: str, token: str) -> None:
    """Forget the chain ``token`` that was never enqueued (only if it is still the live one)."""
    FollowState.objects.filter(app_key=app_key, chain=token).update(chain="", next_step_at=None)


# -- stuck numbers -----------------------------------------------------------------------------


def stuck_query(now: datetime) -> Q:
    """In progress since before ``STUCK_AFTER`` ago, or a code out that long with no attempt, or
    (at once) a client NXCloud refused."""
    cutoff = now - timedelta(seconds=conf.STUCK_AFTER)
    recent_attempt = VerificationAttempt.objects.filter(registration=OuterRef("pk"), created_at__gte=cutoff)
    refused = Q(status=Status.VERIFIED) & ~Q(client_refusal="")
    return (
        Q(status__in=IN_PROGRESS, verified_at__lt=cutoff)
        | refused
        | (Q(status=Status.CODE_SENT, code_sent_at__lt=cutoff) & ~Q(Exists(recent_attempt)))
    )


def needs_attention() -> Q:
    """Marked stuck and still where it was stuck (the admin filter and the staff page's line)."""
    return Q(stuck_at__isnull=False, status__in=(*IN_PROGRESS, Status.CODE_SENT))


def mark_stuck(now: datetime | None = None) -> int:
    """Mark registrations newly stuck (``stuck_at``) and send ``registration_stuck`` once for each."""
    now = now or timezone.now()
    found = list(PhoneRegistration.objects.filter(stuck_query(now), stuck_at__isnull=True)[:1000])
    marked = 0
    for registration in found:
        if PhoneRegistration.objects.filter(pk=registration.pk, stuck_at__isnull=True).update(stuck_at=now):
            registration.stuck_at = now
            marked += 1
            logger.warning(
                "registration %s needs attention (%s)", registration.public_id, registration.status
            )
            signals.registration_stuck.send(sender=PhoneRegistration, registration=registration)
    return marked
