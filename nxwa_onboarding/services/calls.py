"""The one path every recorded NXCloud call takes: the pending row, the call, the finish.

``record_call`` inserts the pending row *first* and reads the rules after it, in one short
transaction that commits before the call (or rolls back and records a refusal); no transaction
is open during the call; the row is finished after it, with the outcome and *why* it failed
(``Failure``) classified once, here, in ``classify``. Every face reads that field.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import IntegrityError, connections, transaction
from django.utils import timezone

from ..choices import AttemptOutcome, Failure, RefusalReason
from ..conf import conf
from ..models import CallRecord
from ..nxcloud.client import CONNECT_RETRY_BACKOFF, NXCloudClient
from ..nxcloud.exceptions import (
    NXCloudAuthError,
    NXCloudConfigurationError,
    NXCloudError,
    NXCloudNotIntegratorError,
    NXCloudParameterError,
    OnboardingError,
    TransportError,
)
from ..nxcloud.transport import answer_deadline
from . import breaker
from .rules import Holds, Refusal
from .sql import alias_for, update_row

logger = logging.getLogger("nxwa_onboarding.services")

UserLike = AbstractBaseUser | AnonymousUser | None
T = TypeVar("T")
R = TypeVar("R", bound=CallRecord)

#: NXCloud's refusals that mean our credentials or request are wrong, not the merchant's number.
CONFIGURATION_ERRORS = (NXCloudAuthError, NXCloudParameterError, NXCloudNotIntegratorError)


def real_user(user: UserLike) -> Any:
    """The user to record, or None for an anonymous visitor (typed Any: AUTH_USER_MODEL varies)."""
    return user if user is not None and user.is_authenticated else None


_client_lock = threading.Lock()
_client_cache: tuple[tuple[Any, ...], NXCloudClient] | None = None


def get_client() -> NXCloudClient:
    """The process's client for the current settings (one session, kept alive, reused)."""
    global _client_cache
    key = (
        conf.ACCESS_KEY,
        hashlib.sha256(conf.ACCESS_SECRET.encode()).hexdigest(),
        conf.BASE_URL,
        conf.SIGN_ALGORITHM,
        conf.TIMEOUT,
    )
    with _client_lock:
        if _client_cache is None or _client_cache[0] != key:
            _client_cache = (key, NXCloudClient.from_settings())
        return _client_cache[1]


def stale_after() -> timedelta:
    """How long a call can possibly take (all tries, timeouts and backoffs, and the longest
    an answer's body may take to arrive: ``transport.answer_deadline``) plus a margin: the
    claims' and the follower's lease's length."""
    connect, read = conf.TIMEOUT
    answer = answer_deadline(conf.TIMEOUT)
    worst = 3 * connect + sum(CONNECT_RETRY_BACKOFF) + 2 * (connect + read + answer)
    return timedelta(seconds=worst + 60)


def failure_of(err: BaseException) -> str:
    """Why an exception from a call means it failed: the one classification every face uses.

    Our configuration (a missing or invalid setting, or NXCloud refusing our credentials or
    request: 1001-1005, 9000, 9007); NXCloud unreachable (the connection never opened, so it saw
    nothing); maybe sent (no usable answer, or a bug mid-call). Blank for NXCloud's plain "no"
    (rejected, with its result code) and for a step refused before any call (``InvalidStateError``).
    """
    if isinstance(err, (NXCloudConfigurationError, *CONFIGURATION_ERRORS)):
        return Failure.CONFIGURATION
    if isinstance(err, TransportError):
        return Failure.MAYBE_SENT if err.sent else Failure.UNREACHABLE
    if isinstance(err, OnboardingError):
        return ""
    return Failure.MAYBE_SENT


@dataclass(frozen=True)
class CallResult:
    """How an NXCloud call ended, in the terms the audit rows record."""

    outcome: str
    result_code: int | None = None
    result_message: str = ""
    http_status: int | None = None
    duration_ms: int = 0
    failure: str = ""
    error: Exception | None = None


def classify(err: Exception, duration_ms: int) -> CallResult:
    """The row's outcome for a call that raised ``err`` (never raises)."""
    failure = failure_of(err)
    # A configuration failure is logged by ``breaker.after_failure``: an ERROR once per window.
    if isinstance(err, NXCloudConfigurationError):
        return CallResult(AttemptOutcome.FAILED, None, str(err)[:500], None, duration_ms, failure, err)
    if isinstance(err, NXCloudError):
        outcome = AttemptOutcome.FAILED if failure else AttemptOutcome.REJECTED
        return CallResult(outcome, err.code, err.message[:500], err.http_status, duration_ms, failure, err)
    if isinstance(err, TransportError):
        outcome = AttemptOutcome.FAILED if failure == Failure.UNREACHABLE else AttemptOutcome.UNKNOWN
        return CallResult(outcome, None, err.reason[:500], err.http_status, duration_ms, failure, err)
    # A bug or an unexpected library error: the request may have left, so the row is finished
    # as unknown (never left pending, never resent) and the error is re-raised after.
    logger.exception("unexpected error during an NXCloud call")
    message = f"unexpected error: {type(err).__name__}"
    return CallResult(AttemptOutcome.UNKNOWN, None, message, None, duration_ms, failure, err)


def perform(action: Callable[[NXCloudClient], T], success: str) -> tuple[CallResult, T | None]:
    """Run one client call and classify how it ended. Never raises."""
    started = time.monotonic()
    try:
        value = action(get_client())
    except Exception as err:
        return classify(err, int((time.monotonic() - started) * 1000)), None
    return CallResult(success, 0, "", 200, int((time.monotonic() - started) * 1000)), value


def reraise_unexpected(result: CallResult) -> None:
    """After the row is finished: surface an error that is not an NXCloud/transport outcome."""
    err = result.error
    if err is not None and not isinstance(err, NXCloudError | TransportError | NXCloudConfigurationError):
        raise err


def warn_if_in_transaction(alias: str) -> None:
    """The pending row must be committed before the call: an outer transaction defeats that."""
    connection = connections[alias]
    if connection.in_atomic_block and not all(
        getattr(block, "_from_testcase", False) for block in connection.atomic_blocks
    ):
        logger.warning(
            "nxwa_onboarding: an NXCloud call is made inside a database transaction; the pending "
            "row is not committed before the call (use transaction.non_atomic_requests on the view)"
        )


@dataclass(frozen=True)
class Verdict:
    """What the rules said with the pending row in place: a refusal or None, and fields the row
    gets whichever way it ends (a check's current code)."""

    refusal: Refusal | None
    fields: dict[str, Any]
    #: The holds on the call, when the rules read them with their facts (else read after them).
    holds: Holds | None = None


class _Refused(Exception):
    """Raised inside the insert-then-check transaction to roll the pending row back."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.refusal)
        self.verdict = verdict


#: A flood of refused requests must not fill the audit tables: of refusals with the same reason
#: for one registration, at most this many are recorded in any REFUSALS_WINDOW; the rest are
#: answered exactly the same way (the returned row is unsaved: ``pk`` is None) and logged.
REFUSALS_RECORDED = 5
REFUSALS_WINDOW = timedelta(minutes=1)


def refuse(model: type[R], base: dict[str, Any], refusal: Refusal, now: datetime) -> R:
    """Record a refusal: a finished row, no call made (or, past the throttle, the same row unsaved)."""
    row = model(
        **base,
        outcome=AttemptOutcome.REFUSED,
        refusal_reason=refusal.reason,
        retry_after=refusal.until,
        finished_at=now,
    )
    recent = model._default_manager.filter(
        registration=base["registration"],
        outcome=AttemptOutcome.REFUSED,
        refusal_reason=refusal.reason,
        created_at__gt=now - REFUSALS_WINDOW,
    )
    if recent[:REFUSALS_RECORDED].count() >= REFUSALS_RECORDED:
        logger.info(
            "%s refused (%s) for registration %s: not recorded, %d already this minute",
            model.__name__,
            refusal.reason,
            base["registration"].public_id,
            REFUSALS_RECORDED,
        )
        row.created_at = now
        return row
    row.save()
    return row


#: The database's integer column (a result code NXCloud could send as anything).
INT_RANGE = (-(2**31), 2**31 - 1)


def clean_text(value: object, limit: int) -> str:
    """Text from outside made storable: NULs (which PostgreSQL refuses) and other control
    characters but tab and newline removed, lone surrogates replaced, cut to ``limit``."""
    text = str(value).encode("utf-8", "replace").decode("utf-8")
    text = "".join(ch for ch in text if ch in "\t\n" or (ch >= " " and ch != "\x7f"))
    return text[:limit]


def clean_code(value: int | None) -> int | None:
    """A result code that the integer column can hold; one out of range is clamped to it."""
    if value is None:
        return None
    low, high = INT_RANGE
    return max(low, min(high, value))


def finish(model: type[CallRecord], row: CallRecord, result: CallResult, **extra: Any) -> bool:
    """Complete a pending row once, in the database and in memory (one UPDATE).

    Returns False when the row was no longer pending (``nxwa_reconcile`` got to it first): the
    database keeps what it has (a finished row never changes), the caller still learns the answer.
    """
    fields = {
        "outcome": result.outcome,
        "failure": result.failure,
        "result_code": clean_code(result.result_code),
        "result_message": clean_text(result.result_message, 500),
        "http_status": result.http_status,
        "duration_ms": result.duration_ms,
        "finished_at": timezone.now(),
        **extra,
    }
    updated = update_row(model, row.pk, fields, where="outcome = 'pending'")
    for name, value in fields.items():
        setattr(row, name, value)
    row._finished_when_loaded = True
    if not updated:
        logger.warning(
            "%s %s was finished by nxwa_reconcile during its call; NXCloud answered %s",
            model.__name__,
            row.pk,
            result.outcome,
        )
    return bool(updated)


@dataclass(frozen=True)
class Recorded(Generic[R]):
    """A recorded call: its finished row, and the result (None when refused: no call made)."""

    row: R
    result: CallResult | None


def record_call(
    model: type[R],
    base: dict[str, Any],
    *,
    rules: Callable[[R, datetime], Verdict],
    call: Callable[[NXCloudClient], object],
    success: str,
    on_finish: Callable[[R, CallResult, dict[str, Any]], None],
    insert: dict[str, Any] | None = None,
) -> Recorded[R]:
    """The pending row, the call, the finish: the one skeleton of every recorded call.

    ``base``: the row's fields (also those of a refusal); ``insert``: fields only the pending
    insert takes (expressions); ``rules(row, now)``: read with the pending row in place, inside
    the transaction; ``on_finish(row, result, fields)``: writes to the registration in the same
    transaction as the finish. A concurrent pending row (the partial unique index admits one per
    registration) is a refusal as in flight.
    """
    now = timezone.now()
    alias = alias_for(model)
    warn_if_in_transaction(alias)
    try:
        with transaction.atomic(using=alias):
            row = model._default_manager.create(**base, **(insert or {}))
            verdict = rules(row, now)
            if verdict.refusal is None:
                held = breaker.refusal(base, now, verdict.holds)  # budgets spent, or the breaker open
                if held is not None:
                    verdict = Verdict(held, verdict.fields)
            if verdict.refusal is not None:
                raise _Refused(verdict)
    except IntegrityError:
        return Recorded(refuse(model, base, Refusal(RefusalReason.IN_FLIGHT), now), None)
    except _Refused as refused:
        verdict = refused.verdict
        assert verdict.refusal is not None
        return Recorded(refuse(model, {**base, **verdict.fields}, verdict.refusal, now), None)

    result, _value = perform(call, success)
    with transaction.atomic(using=alias, savepoint=False):
        finish(model, row, result, **verdict.fields)
        on_finish(row, result, verdict.fields)
    if result.outcome == AttemptOutcome.FAILED:
        breaker.after_failure(base, result.failure, result.error)
    return Recorded(row, result)
