"""Failed calls count: a failure budget per registration, address and customer, and the breaker.

A call that failed (NXCloud refused our configuration: 1001-1005, 9000, 9007, or a setting is
missing; or NXCloud could not be reached) costs the customer nothing, but it is not free:

- **The failure budget.** Failed calls of one registration, one address block (IPv6 by its
  /64) or one customer in any hour count toward ``MAX_FAILED_CALLS_PER_HOUR``; once a scope
  has spent it, its calls are refused (``failure_limit``) until the oldest counted failure is
  an hour old. The address and customer budgets apply to the web channels (customer pages and
  API), the registration's to every channel.
- **The breaker.** ``BREAKER_FAILURES`` configuration failures of the whole installation within
  ``BREAKER_WINDOW`` stop every call for everyone (``paused``) for ``BREAKER_WINDOW``; staff are
  told once per trip (an ERROR line with the count, ``signals.calls_paused``, a banner in the
  admin) and may close it earlier (``lift``). Failures before the breaker closed are not counted
  again.
- **The log.** A configuration failure is logged as an ERROR once per window (the first, and
  the trip with its count); the others at INFO.

Holds are ``CallHold`` rows (one per scope, extended in place), read before each recorded call
(``refusal``: in the rule read's own statement where the rules asked for them with
``scope_names``, else by one SELECT), written only after a failure (``after_failure``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Min, Q
from django.utils import timezone

from .. import signals
from ..addresses import block_of
from ..choices import AttemptOutcome, Channel, Failure
from ..conf import conf
from ..models import CodeRequest, VerificationAttempt
from ..models.holds import EVERYONE, CallHold
from ..nxcloud.exceptions import NXCloudError
from . import sql
from .rules import Holds, Refusal

logger = logging.getLogger("nxwa_onboarding.services")

#: The failure budget's window.
FAILURE_WINDOW = timedelta(hours=1)
#: Channels whose address and customer budgets count (as ``state.WEB_CHANNELS``).
WEB_CHANNELS = (Channel.CUSTOMER, Channel.API)
RECORDS = (CodeRequest, VerificationAttempt)


def _scopes(base: dict[str, Any]) -> list[tuple[str, str, Any]]:
    registration = base["registration"]
    found = [("registration", "registration_id", registration.pk)]
    if base.get("channel") in WEB_CHANNELS:
        block = block_of(base.get("ip"))
        if block:
            found.append(("block", "ip_block", block))
        if registration.owner_id is not None:
            found.append(("owner", "registration__owner_id", registration.owner_id))
    return found


def scopes(base: dict[str, Any]) -> dict[str, Q]:
    """The budget scopes of a call (``base``: the row's fields) and how to find their rows."""
    return {f"{kind}:{value}": Q(**{field: value}) for kind, field, value in _scopes(base)}


def scope_names(base: dict[str, Any]) -> tuple[str, ...]:
    """The names of ``scopes(base)``, for a rule read that reads the holds with its facts."""
    return tuple(f"{kind}:{value}" for kind, _field, value in _scopes(base))


def held(names: Sequence[str], now: datetime) -> Holds:
    """The holds in force now on a call with these scope ``names`` (``scope_names``). One SELECT."""
    found = sql.holds([EVERYONE, *names], now)
    return Holds(
        paused_until=min((until for scope, until in found if scope == EVERYONE), default=None),
        held_until=min((until for scope, until in found if scope != EVERYONE), default=None),
    )


def refusal(base: dict[str, Any], now: datetime, holds: Holds | None = None) -> Refusal | None:
    """The hold that refuses this call now (the breaker first), or None. ``holds``: what the rule
    read found beside its facts (``Holds()``: none in force); read here (one SELECT) when it did
    not read them, or found one in force."""
    return (holds if holds is not None else held(scope_names(base), now)).refusal


def paused(now: datetime | None = None) -> CallHold | None:
    """The breaker's hold while it is open, else None."""
    return CallHold.objects.filter(scope=EVERYONE, until__gt=now or timezone.now()).first()


def lift(user: Any = None) -> bool:
    """Close the breaker now (staff); False when it was not open."""
    now = timezone.now()
    lifted = CallHold.objects.filter(scope=EVERYONE, until__gt=now).update(until=now)
    if lifted:
        logger.warning("calls to NXCloud resumed by %s before the breaker's window ended", user or "staff")
    return bool(lifted)


def _hold(scope: str, until: datetime, failures: int, now: datetime) -> None:
    try:
        with transaction.atomic():
            CallHold.objects.update_or_create(
                scope=scope, defaults={"until": until, "failures": failures, "started_at": now}
            )
    except IntegrityError:  # made at this moment by another failure: it holds already
        pass


def _spend_budgets(base: dict[str, Any], now: datetime) -> None:
    since = now - FAILURE_WINDOW
    limit = conf.MAX_FAILED_CALLS_PER_HOUR
    for scope, where in scopes(base).items():
        count, oldest = 0, None
        for model in RECORDS:
            found = model._default_manager.filter(where, outcome=AttemptOutcome.FAILED, created_at__gt=since)
            numbers = found.aggregate(count=Count("pk"), oldest=Min("created_at"))
            count += numbers["count"]
            if numbers["oldest"] is not None:
                oldest = min(oldest or numbers["oldest"], numbers["oldest"])
        if count >= limit and oldest is not None:
            _hold(scope, oldest + FAILURE_WINDOW, count, now)


def _describe(error: Exception | None) -> str:
    if isinstance(error, NXCloudError):
        return f"NXCloud refused our request ({error.action} {error.code})"
    return f"nxwa_onboarding is not configured ({type(error).__name__})"


def _count_configuration_failures(now: datetime) -> int:
    window = timedelta(seconds=conf.BREAKER_WINDOW)
    since = now - window
    closed = CallHold.objects.filter(scope=EVERYONE, until__lte=now).values_list("until", flat=True).first()
    if closed is not None and closed > since:
        since = closed  # failures before the breaker closed were counted by its last trip
    return sum(
        model._default_manager.filter(failure=Failure.CONFIGURATION, created_at__gt=since).count()
        for model in RECORDS
    )


def _trip(failures: int, now: datetime) -> None:
    window = timedelta(seconds=conf.BREAKER_WINDOW)
    try:
        with transaction.atomic():
            CallHold.objects.get_or_create(
                scope=EVERYONE, defaults={"until": now - timedelta(microseconds=1), "started_at": now}
            )
    except IntegrityError:
        pass
    until = now + window
    tripped = CallHold.objects.filter(scope=EVERYONE, until__lte=now).update(
        until=until, failures=failures, started_at=now
    )
    if tripped:
        logger.error(
            "%d configuration failures in %d s: every call to NXCloud is paused until %s "
            "(fix the settings the failures name, then resume calls in the admin)",
            failures,
            conf.BREAKER_WINDOW,
            until.isoformat(timespec="seconds"),
        )
        signals.calls_paused.send(sender=CallHold, until=until, failures=failures)


def after_failure(base: dict[str, Any], failure: str, error: Exception | None) -> None:
    """A recorded call failed (``failure``: ``Failure``): spend the budgets, count toward the
    breaker, log once per window."""
    now = timezone.now()
    _spend_budgets(base, now)
    if failure != Failure.CONFIGURATION:
        return
    count = _count_configuration_failures(now)
    text = _describe(error)
    if count == 1:
        logger.error(
            "%s: a configuration problem, not the customer's (the first in %d s; calls pause at %d)",
            text,
            conf.BREAKER_WINDOW,
            conf.BREAKER_FAILURES,
        )
    else:
        logger.info("%s: configuration failure %d in the window", text, count)
    if count >= conf.BREAKER_FAILURES:
        _trip(count, now)
