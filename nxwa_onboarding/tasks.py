"""The app's background work on Django's Tasks framework: the host picks the backend.

Two tasks, each taking keys, never model instances, and each safe to run twice:

- ``set_up_client(registration_pk)``: createClient for a verified number (claimed before the
  call, so a second run, or a run after a worker died mid-call, never sends a second one);
- ``follow_application(state_pk, chain)``: one following step of an application (its
  ``FollowState``'s id: an app key never travels in a task's arguments, a job description or a
  worker's log), which then enqueues the next with a backoff (``services.follow``).

Faces call ``start_setup`` (an accepted check: ``client_after_commit``, enqueued once the transaction commits)
and ``nudge`` (a page poll: makes sure the application's chain is alive; one SELECT when it is).
On a backend that runs tasks at once (the immediate backend) pages never nudge, since the step
would run inside their request: ``nxwa_follow`` from cron follows instead. An enqueue that fails
(Redis down) is logged and left to ``nxwa_follow``, which picks up whatever was lost.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from . import services
from .choices import RegistrationStatus
from .compat import Task, task, task_backends
from .conf import conf
from .models import FollowState, PhoneRegistration
from .nxcloud.exceptions import InvalidStateError, NXCloudConfigurationError, OnboardingError
from .ops.tracing import current_span, traced
from .services import follow, polls, retention

logger = logging.getLogger(__name__)


def queues_later() -> bool:
    """Whether the host's backend runs tasks later, elsewhere (a worker), rather than at once."""
    return bool(task_backends[conf.TASK_BACKEND].supports_defer)


def enqueue(chosen: Task[..., Any], *args: Any, run_after: datetime | None = None) -> bool:
    """Enqueue on the configured backend; False (logged) when the backend cannot take it."""
    try:
        backend_task = chosen.using(backend=conf.TASK_BACKEND)
        if run_after is not None and queues_later():
            backend_task = backend_task.using(run_after=run_after)
        backend_task.enqueue(*args)
    except Exception as err:
        # Redis down, the database backend's table unreachable: the work is in the database
        # (a verified registration, a follow state), so the cron pass catches up.
        logger.warning(
            "could not enqueue %s (%s): nxwa_follow will pick it up", chosen.name, type(err).__name__
        )
        return False
    return True


def client_after_commit(registration: PhoneRegistration) -> None:
    """Create the number's WhatsApp client in the background once this transaction commits."""
    pk = registration.pk
    transaction.on_commit(lambda: enqueue(set_up_client, pk))


def start_setup(registration: PhoneRegistration) -> bool:
    """What follows an accepted code, whichever door it came through (the customer page, the API,
    the admin's enter-code page): where the decision says the setup is pending
    (``services.situation``), the number's WhatsApp client is created in the background once the
    check commits (``client_after_commit``), once. True when it was enqueued."""
    if services.decide(registration).situation != services.Situation.SETUP_PENDING:
        return False
    client_after_commit(registration)
    return True


def nudge(app_key: str, first_step_at: datetime | None = None) -> None:
    """Make sure the application is being followed (a page poll; a client just created; the
    cron pass, whose own step makes the new chain's first wait: ``first_step_at``)."""
    if not app_key or not queues_later():
        return
    try:
        token = follow.claim_new_chain(app_key, first_step_at)
    except Exception as err:
        logger.warning("could not nudge a follower (%s)", type(err).__name__)
        return
    if token is not None:
        transaction.on_commit(lambda: _start_chain(app_key, token, first_step_at))


def _start_chain(app_key: str, token: str, first_step_at: datetime | None) -> None:
    """Enqueue a new chain's first step; a queue that cannot take it (Redis down) leaves no
    chain that only looks alive: the next nudge or cron pass starts one again at once."""
    state_pk = FollowState.objects.filter(app_key=app_key).values_list("pk", flat=True).first()
    if state_pk is None or not enqueue(follow_application, state_pk, token, run_after=first_step_at):
        follow.abandon(app_key, token)


@task()
@traced("nxwa_onboarding.set_up_client")
def set_up_client(registration_pk: int) -> str:
    """createClient for a verified registration; then make sure its application is followed."""
    registration = PhoneRegistration.objects.filter(pk=registration_pk).first()
    if registration is None:
        return "gone"
    try:
        services.create_client(registration)
    except InvalidStateError:
        outcome = "skipped"  # already created, claimed by another run, or its outcome unknown
    except (OnboardingError, NXCloudConfigurationError) as err:
        outcome = services.failure_of(err) or "rejected"
        logger.warning("set_up_client for registration %s: %s", registration.public_id, outcome)
    else:
        outcome = registration.status
    current_span().set_attribute("nxwa.outcome", outcome)
    nudge(follow.app_key_of(registration))
    return outcome


@task()
@traced("nxwa_onboarding.follow_application")
def follow_application(state_pk: int, chain: str) -> dict[str, Any]:
    """One following step of the application; the next is enqueued with the backoff."""
    if isinstance(state_pk, str):  # a task enqueued before the upgrade, with the key itself
        state_pk = FollowState.objects.filter(app_key=state_pk).values_list("pk", flat=True).first() or 0
    app_key = FollowState.objects.filter(pk=state_pk).values_list("app_key", flat=True).first()
    if app_key is None:
        return {"ran": False, "changed": 0, "error": "gone"}
    result = follow.step(app_key, chain=chain)
    for pk in result.orphans:
        enqueue(set_up_client, pk)
    if result.ran and result.again_at is not None and queues_later():
        enqueue(follow_application, state_pk, chain, run_after=result.again_at)
    elif result.ran and result.again_at is None and follow.in_progress(app_key):
        # The chain ended on "nothing in progress", but a number went in progress since that
        # look, and its own nudge may have found this chain still alive: start the next one.
        nudge(app_key)
    return {"ran": result.ran, "changed": result.changed, "error": result.error}


@traced("nxwa_onboarding.follow_pass")
def follow_pass() -> list[tuple[str, follow.Step | None]]:
    """The cron pass (``nxwa_follow``): step every application in progress whose chain is not
    alive (inline: no worker needed), enqueue lost client creations, restart lost chains, read
    the health of registered numbers that are due (one getPhone per application), mark stuck
    registrations. Safe to run as often as you like, beside any number of workers."""
    done: list[tuple[str, follow.Step | None]] = []
    for app_key in follow.app_keys_in_progress():
        result = None
        if not follow.chain_alive(app_key):
            result = follow.step(app_key)
            for pk in result.orphans:
                enqueue(set_up_client, pk)
        if result is None or not result.ran:
            nudge(app_key)
        elif result.again_at is not None:
            nudge(app_key, first_step_at=result.again_at)  # not a second phoneList at once
        done.append((app_key, result))
    stepped = {app_key for app_key, result in done if result is not None and result.ran}
    for app_key in follow.app_keys_due_health():
        if app_key not in stepped:
            follow.health_step(app_key)  # registered numbers' health: one getPhone
    follow.mark_stuck()
    return done


def keep_going(registration: PhoneRegistration) -> None:
    """What a status poll does (the customer page's and the API's): never call NXCloud; make
    sure the work that moves the number on is under way. A verified number whose creation task
    was lost (a worker died, the queue was down) gets it enqueued again (the claim makes a second
    run harmless); the application's follower is nudged. Each at most once per period for the
    registration, however often it is polled (``services.polls``)."""
    if not follow.is_followed(registration):
        return  # nothing to move on (or NXCloud refused its client: staff decide)
    if not polls.claim_poll(registration):
        return  # polled within the interval: the database's answer is all this poll gets
    if (
        registration.status == RegistrationStatus.VERIFIED
        and registration.client_requested_at is None
        and registration.verified_at is not None
        and registration.verified_at < timezone.now() - services.stale_after()
        and queues_later()
        and polls.claim_setup_retry(registration)
    ):
        client_after_commit(registration)
    nudge(follow.app_key_of(registration))


@task()
@traced("nxwa_onboarding.purge_past_retention")
def purge_past_retention() -> dict[str, int]:
    """``nxwa_purge`` in the background: what is past retention pseudonymised or deleted (the
    cron pass enqueues it once a day). Safe to run twice: a second run finds nothing to do."""
    return retention.purge().counts


def purge_if_due() -> bool:
    """Enqueue the day's purge if none ran in the last 24 hours (the cron pass calls this)."""
    if not retention.purge_due():
        return False
    return enqueue(purge_past_retention)
