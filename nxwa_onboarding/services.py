"""The only place that moves a registration through its states and calls NXCloud.

Views, the admin and the management commands call these functions; nothing else builds a
client. Every NXCloud call is recorded as a ``pending`` row committed *before* the call (no
transaction is held open during it) and finished after it, so a crash leaves evidence. At most
one call per registration is in flight, enforced by partial unique constraints in the database.
The pending row is inserted *first* and the rules are read after it, in the same short
transaction, so no submission can slip between another's check and its insert. The rules
(attempts per code, code lifetime, resend cooldown, daily cap, attempts per IP) are counted from
the database rows, so they hold across processes and servers.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, DateTimeField, F, Func, Max, Min, Q, Subquery, Value
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from . import signals
from .client import CONNECT_RETRY_BACKOFF, NXCloudClient
from .conf import conf
from .exceptions import (
    InvalidStateError,
    NXCloudAuthError,
    NXCloudConfigurationError,
    NXCloudError,
    NXCloudNotIntegratorError,
    NXCloudParameterError,
    TransportError,
)
from .models import Channel, CodeRequest, Method, PhoneRegistration, RefusalReason, VerificationAttempt
from .phone import digits_only, normalize_phone

logger = logging.getLogger(__name__)

Status = PhoneRegistration.Status
Attempt = VerificationAttempt.Outcome
Send = CodeRequest.Outcome
UserLike = AbstractBaseUser | AnonymousUser | None
T = TypeVar("T")

VERIFIED_STATES = (Status.VERIFIED, Status.CLIENT_CREATED, Status.REGISTERED)
#: Attempts on a code that count toward MAX_CHECK_ATTEMPTS (pending: it may yet be rejected).
COUNTED_ATTEMPTS = (Attempt.REJECTED, Attempt.UNKNOWN, Attempt.PENDING)
#: Attempts from an address that count toward MAX_ATTEMPTS_PER_IP_PER_HOUR: those that reached
#: (or may have reached) NXCloud. Refusals cost nothing; configuration failures are not theirs.
IP_COUNTED_ATTEMPTS = (Attempt.ACCEPTED, Attempt.REJECTED, Attempt.UNKNOWN, Attempt.PENDING)
#: Sends that may have delivered a code.
COUNTED_SENDS = (Send.SENT, Send.UNKNOWN, Send.PENDING)
CODE_PATTERN = re.compile(r"[0-9]{4,8}", re.ASCII)
CODE_SEPARATORS = re.compile(r"[\s\-]+")
MAX_CODE_INPUT = 32


# -- small helpers ---------------------------------------------------------------------------


def normalize_code(text: object) -> str | None:
    """Digits of a code as a person types it (``123-830``, ``123 830``); None if malformed."""
    if not isinstance(text, str) or len(text) > MAX_CODE_INPUT:
        return None
    cleaned = CODE_SEPARATORS.sub("", text.strip())
    return cleaned if CODE_PATTERN.fullmatch(cleaned) else None


def code_digest(registration: PhoneRegistration, code: str) -> str:
    """HMAC-SHA256 of the code, keyed from SECRET_KEY and bound to this registration."""
    return salted_hmac(
        "nxwa_onboarding.VerificationAttempt.code",
        f"{registration.public_id}:{code}",
        algorithm="sha256",
    ).hexdigest()


def _clean_ip(ip: str | None) -> str | None:
    if not ip:
        return None
    try:
        return str(ipaddress.ip_address(ip.strip()))
    except ValueError:
        return None


def _real_user(user: UserLike) -> Any:
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
    """How long a call can possibly take (all tries, timeouts and backoffs) plus a margin."""
    connect, read = conf.TIMEOUT
    worst = 3 * connect + sum(CONNECT_RETRY_BACKOFF) + 2 * (connect + read)
    return timedelta(seconds=worst + 60)


@dataclass(frozen=True)
class CallResult:
    """How an NXCloud call ended, in the terms the audit rows record."""

    outcome: str
    result_code: int | None = None
    result_message: str = ""
    http_status: int | None = None
    duration_ms: int = 0
    error: Exception | None = None
    configuration_problem: bool = False


def _call(action: Callable[[NXCloudClient], T], success: str) -> tuple[CallResult, T | None]:
    """Run one client call and classify how it ended. Never raises for NXCloud/transport errors."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        value = action(get_client())
    except NXCloudConfigurationError as err:
        logger.error("nxwa_onboarding is not configured: %s", err)
        return CallResult(
            Attempt.FAILED,
            result_message=str(err)[:500],
            duration_ms=elapsed(),
            error=err,
            configuration_problem=True,
        ), None
    except (NXCloudAuthError, NXCloudParameterError, NXCloudNotIntegratorError) as err:
        logger.error(
            "NXCloud refused our request (%s %s): a configuration problem, not the customer's",
            err.action,
            err.code,
        )
        return CallResult(
            Attempt.FAILED, err.code, err.message[:500], err.http_status, elapsed(), err, True
        ), None
    except NXCloudError as err:
        return CallResult(
            Attempt.REJECTED, err.code, err.message[:500], err.http_status, elapsed(), err
        ), None
    except TransportError as err:
        outcome = Attempt.UNKNOWN if err.sent else Attempt.FAILED
        return CallResult(outcome, None, err.reason[:500], err.http_status, elapsed(), err), None
    except Exception as err:
        # A bug or an unexpected library error: the request may have left, so the row is
        # finished as unknown (never left pending, never resent) and the error is re-raised.
        logger.exception("unexpected error during an NXCloud call")
        return CallResult(
            Attempt.UNKNOWN, None, f"unexpected error: {type(err).__name__}", None, elapsed(), err
        ), None
    return CallResult(success, 0, "", 200, elapsed()), value


def _reraise_unexpected(result: CallResult) -> None:
    """After the row is finished: surface an error that is not an NXCloud/transport outcome."""
    err = result.error
    if err is not None and not isinstance(err, NXCloudError | TransportError | NXCloudConfigurationError):
        raise err


def _finish(
    model: type[CodeRequest] | type[VerificationAttempt], row: Any, result: CallResult, **extra: Any
) -> bool:
    """Complete a pending row once, in the database and in memory (one UPDATE).

    Returns False when the row was no longer pending (``nxwa_reconcile`` got to it first): the
    database keeps what it has (a finished row never changes), the caller still learns the answer.
    """
    now = timezone.now()
    fields = {
        "outcome": result.outcome,
        "result_code": result.result_code,
        "result_message": result.result_message,
        "http_status": result.http_status,
        "duration_ms": result.duration_ms,
        "finished_at": now,
        **extra,
    }
    updated = model.objects.filter(pk=row.pk, outcome="pending").update(**fields)
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


def _warn_if_in_transaction() -> None:
    """The pending row must be committed before the call: an outer transaction defeats that."""
    if connection.in_atomic_block and not all(
        getattr(block, "_from_testcase", False) for block in connection.atomic_blocks
    ):
        logger.warning(
            "nxwa_onboarding: an NXCloud call is made inside a database transaction; the pending "
            "row is not committed before the call (use transaction.non_atomic_requests on the view)"
        )


# -- state, as customers and staff see it -----------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    reason: str
    until: datetime | None = None

    @property
    def message(self) -> str:
        from .texts import refusal_text

        return refusal_text(self.reason, self.until)


@dataclass(frozen=True)
class CheckState:
    """Whether a code may be checked now, and the numbers behind it."""

    code_request_id: int | None
    code_sent_at: datetime | None
    expires_at: datetime | None
    attempts_used: int
    attempts_allowed: int
    refusal: Refusal | None

    @property
    def attempts_left(self) -> int:
        return max(self.attempts_allowed - self.attempts_used, 0)


@dataclass(frozen=True)
class SendState:
    """Whether a code may be sent now."""

    sends_today: int
    sends_allowed: int
    next_send_at: datetime | None
    refusal: Refusal | None


@dataclass(frozen=True)
class RegistrationState:
    check: CheckState
    send: SendState


def _current_code_subquery(registration_id: int) -> Any:
    """The registration's current code: its latest send that was (or may have been) delivered."""
    return CodeRequest.objects.filter(
        registration_id=registration_id, outcome__in=(Send.SENT, Send.UNKNOWN)
    ).order_by("-created_at", "-id")


def _others(exclude_pk: int | None) -> Q:
    """Every row but the caller's own pending one (which is in place while the rules are read)."""
    return ~Q(pk=exclude_pk) if exclude_pk is not None else Q()


def _count(rows: Q) -> Subquery:
    """``(SELECT COUNT(*) ... WHERE rows)`` as an expression: several counts in one query."""
    return Subquery(
        VerificationAttempt.objects.filter(rows)
        .order_by()
        .annotate(n=Func(F("pk"), function="COUNT"))
        .values("n")
    )


def _check_state(
    registration: PhoneRegistration, ip: str | None, now: datetime, *, exclude_pk: int | None = None
) -> CheckState:
    """One query: the registration's fresh status, its current code and the counts the rules
    need, as subqueries of a single SELECT. ``exclude_pk``: the caller's own pending attempt,
    left out of every count."""
    latest = _current_code_subquery(registration.pk)
    others = _others(exclude_pk)
    mine = Q(registration_id=registration.pk) & others
    hour_ago = now - timedelta(hours=1)
    ip_rows = Q(ip=ip, created_at__gt=hour_ago, outcome__in=IP_COUNTED_ATTEMPTS) & others
    row = (
        PhoneRegistration.objects.filter(pk=registration.pk)
        .values("status", "verified_at")
        .annotate(
            code_id=Subquery(latest.values("pk")[:1]),
            code_at=Subquery(latest.values("created_at")[:1]),
            used=_count(
                mine & Q(code_request_id=Subquery(latest.values("pk")[:1]), outcome__in=COUNTED_ATTEMPTS)
            ),
            pending=_count(mine & Q(outcome=Attempt.PENDING)),
            ip_count=_count(ip_rows) if ip else Value(0),
            ip_oldest=(
                Subquery(
                    VerificationAttempt.objects.filter(ip_rows)
                    .order_by("created_at")
                    .values("created_at")[:1]
                )
                if ip
                else Value(None, output_field=DateTimeField())
            ),
        )
        .get()
    )
    registration.status = row["status"]
    registration.verified_at = row["verified_at"]
    code_id: int | None = row["code_id"]
    code_at: datetime | None = row["code_at"]
    used: int = row["used"] or 0
    allowed = conf.MAX_CHECK_ATTEMPTS
    expires_at = code_at + timedelta(seconds=conf.CODE_TTL) if code_at else None

    refusal: Refusal | None = None
    if registration.status in VERIFIED_STATES or registration.verified_at is not None:
        refusal = Refusal(RefusalReason.ALREADY_VERIFIED)
    elif registration.status == Status.FAILED:
        refusal = Refusal(RefusalReason.CLOSED)
    elif row["pending"]:
        refusal = Refusal(RefusalReason.IN_FLIGHT)
    elif ip and row["ip_count"] >= conf.MAX_ATTEMPTS_PER_IP_PER_HOUR:
        refusal = Refusal(RefusalReason.IP_LIMIT, row["ip_oldest"] + timedelta(hours=1))
    elif code_id is None:
        refusal = Refusal(RefusalReason.NO_CODE)
    elif expires_at is not None and now >= expires_at:
        refusal = Refusal(RefusalReason.EXPIRED, _new_code_at(registration, now))
    elif used >= allowed:
        refusal = Refusal(RefusalReason.TOO_MANY_ATTEMPTS, _new_code_at(registration, now))
    return CheckState(code_id, code_at, expires_at, used, allowed, refusal)


def _new_code_at(registration: PhoneRegistration, now: datetime) -> datetime | None:
    """When a new code may be sent (cooldown and daily cap), or None for "right away".
    One more query, on these refusals only."""
    at = _send_state(registration, now, fresh=False).next_send_at
    return at if at is not None and at > now else None


def _send_state(
    registration: PhoneRegistration, now: datetime, *, fresh: bool = True, exclude_pk: int | None = None
) -> SendState:
    """One query (two when ``fresh``): sends for this number in the last 24 hours, the last send
    of this registration, and whether one is in flight. ``exclude_pk``: the caller's own row."""
    if fresh:
        row = PhoneRegistration.objects.filter(pk=registration.pk).values("status", "verified_at").get()
        registration.status = row["status"]
        registration.verified_at = row["verified_at"]
    day_ago = now - timedelta(days=1)
    others = _others(exclude_pk)
    today = Q(outcome__in=COUNTED_SENDS, created_at__gt=day_ago) & others
    mine = Q(registration_id=registration.pk)
    counts = CodeRequest.objects.filter(
        Q(registration__phone_number=registration.phone_number, created_at__gt=day_ago) | mine
    ).aggregate(
        today=Count("pk", filter=today),
        oldest_today=Min("created_at", filter=today),
        last=Max("created_at", filter=mine & Q(outcome__in=COUNTED_SENDS) & others),
        pending=Count("pk", filter=mine & Q(outcome=Send.PENDING) & others),
    )
    allowed = conf.MAX_SENDS_PER_DAY
    cooldown_end = counts["last"] + timedelta(seconds=conf.RESEND_COOLDOWN) if counts["last"] else None
    cap_end = counts["oldest_today"] + timedelta(days=1) if counts["today"] >= allowed else None
    refusal: Refusal | None = None
    if registration.status in VERIFIED_STATES or registration.verified_at is not None:
        refusal = Refusal(RefusalReason.ALREADY_VERIFIED)
    elif registration.status == Status.FAILED:
        refusal = Refusal(RefusalReason.CLOSED)
    elif counts["pending"]:
        refusal = Refusal(RefusalReason.IN_FLIGHT)
    else:
        # When both apply, the one that ends later is the one the person has to wait for.
        waits = [Refusal(RefusalReason.DAILY_CAP, cap_end)] if cap_end is not None else []
        if cooldown_end is not None and now < cooldown_end:
            waits.append(Refusal(RefusalReason.COOLDOWN, cooldown_end))
        if waits:
            refusal = max(waits, key=lambda wait: wait.until or now)
    next_send_at = refusal.until if refusal else now
    return SendState(counts["today"], allowed, next_send_at, refusal)


def get_state(registration: PhoneRegistration, *, ip: str | None = None) -> RegistrationState:
    """What the registration allows right now: checks (tries left, expiry) and sends."""
    now = timezone.now()
    check = _check_state(registration, _clean_ip(ip), now)
    return RegistrationState(check, _send_state(registration, now, fresh=False))


class _Refused(Exception):
    """Raised inside the insert-then-check transaction to roll the pending row back."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.reason)
        self.refusal = refusal


# -- registrations -----------------------------------------------------------------------------


def create_registration(
    phone_number: str, *, owner: UserLike = None, user: UserLike = None
) -> PhoneRegistration:
    """Validate and normalise the number and save a new registration (no code sent).

    Raises ``ValidationError`` for a bad number or when the number already has an open
    registration ("this number is already being onboarded").
    """
    digits = normalize_phone(phone_number)
    registration = PhoneRegistration(
        phone_number=digits, owner=_real_user(owner), created_by=_real_user(user)
    )
    try:
        with transaction.atomic():
            registration.save()
    except IntegrityError:
        raise ValidationError(_("This number is already being onboarded."), code="duplicate") from None
    return registration


def start_registration(
    phone_number: str,
    *,
    owner: UserLike = None,
    user: UserLike = None,
    method: str = Method.SMS,
    ip: str | None = None,
    channel: str = Channel.API,
) -> PhoneRegistration:
    """Create a registration for ``phone_number`` and request its first code.

    The code request's outcome is on ``registration.code_requests.latest()``; a failed send
    does not undo the registration (the person can ask again).
    """
    if method not in Method.values:
        raise ValidationError(_("Choose SMS or a voice call."), code="method")
    registration = create_registration(phone_number, owner=owner, user=user)
    request_code(registration, method, user=user, ip=ip, channel=channel)
    return registration


def request_code(
    registration: PhoneRegistration,
    method: str = Method.SMS,
    *,
    user: UserLike = None,
    ip: str | None = None,
    channel: str = Channel.API,
) -> CodeRequest:
    """Ask NXCloud to send a code by ``sms`` or ``voice``, within the cooldown and daily cap.

    Returns the ``CodeRequest``: ``sent``, ``refused`` (with ``refusal_reason`` and
    ``retry_after``; no call was made), ``rejected`` (NXCloud said no), ``failed`` (never
    reached NXCloud, or a configuration problem) or ``unknown`` (may have been sent).

    The pending row is inserted first and the rules are read after it, in one short
    transaction committed before the call (see ``check_code``).
    """
    if method not in Method.values:
        raise ValidationError(_("Choose SMS or a voice call."), code="method")
    now = timezone.now()
    ip = _clean_ip(ip)
    actor = _real_user(user)
    base = {"registration": registration, "method": method, "channel": channel, "user": actor, "ip": ip}
    _warn_if_in_transaction()
    try:
        with transaction.atomic():
            code_request = CodeRequest.objects.create(**base)
            state = _send_state(registration, now, exclude_pk=code_request.pk)
            if state.refusal is not None:
                raise _Refused(state.refusal)
    except IntegrityError:
        return _refuse_send(base, Refusal(RefusalReason.IN_FLIGHT), now)
    except _Refused as refused:
        return _refuse_send(base, refused.refusal, now)

    result, _value = _call(lambda client: client.get_code(registration.phone_number, method), Send.SENT)
    with transaction.atomic(savepoint=False):
        _finish(CodeRequest, code_request, result)
        if result.outcome in (Send.SENT, Send.UNKNOWN):
            # Unknown: the code may well be on its way, so let the person type it in.
            PhoneRegistration.objects.filter(
                pk=registration.pk, status__in=(Status.NEW, Status.CODE_SENT)
            ).update(status=Status.CODE_SENT, code_sent_at=now, last_code_method=method, updated_at=now)
            if registration.status in (Status.NEW, Status.CODE_SENT):
                registration.status = Status.CODE_SENT
                registration.code_sent_at = now
                registration.last_code_method = method
    if result.outcome == Send.SENT:
        signals.code_requested.send(
            sender=PhoneRegistration, registration=registration, code_request=code_request
        )
    _reraise_unexpected(result)
    return code_request


def _refuse_send(base: dict[str, Any], refusal: Refusal, now: datetime) -> CodeRequest:
    return CodeRequest.objects.create(
        **base,
        outcome=Send.REFUSED,
        refusal_reason=refusal.reason,
        retry_after=refusal.until,
        finished_at=now,
    )


def check_code(
    registration: PhoneRegistration,
    code: str,
    *,
    user: UserLike = None,
    ip: str | None = None,
    channel: str = Channel.API,
) -> VerificationAttempt:
    """Pass the code the merchant received to NXCloud's checkCode, within the rules.

    Returns the finished ``VerificationAttempt``: ``accepted`` (the registration is now
    ``verified``), ``rejected`` (wrong or expired code; counts toward the cap), ``refused``
    (no call made; ``refusal_reason`` and ``retry_after`` say why and until when), ``failed``
    (never reached NXCloud, or a configuration problem; does not count) or ``unknown`` (may
    have reached NXCloud; counts, and is never resent automatically).

    Insert first, then read the rules: the pending row goes in at the start of a short
    transaction (the partial unique index admits one per registration, so a concurrent
    submission waits for it and is then refused as in flight), the rules are read with it in
    place, and the transaction commits before the call, or rolls back for a refusal. Reading
    the rules before inserting would leave a window: a submission that read "not verified"
    just before another one finished could insert after it and call NXCloud a second time.

    Statements on the accepted path (the test counts them): savepoint (or BEGIN), the pending
    insert, one SELECT of the registration with its current code and the counts, release (or
    COMMIT); then, after the call, finishing the attempt and marking the registration verified
    in one transaction.
    """
    now = timezone.now()
    ip = _clean_ip(ip)
    digits = normalize_code(code)
    base: dict[str, Any] = {
        "registration": registration,
        "channel": channel,
        "user": _real_user(user),
        "ip": ip,
        "code_digest": code_digest(registration, digits or str(code)[:MAX_CODE_INPUT]),
    }
    if digits is None:
        return _refuse_attempt(base, Refusal(RefusalReason.MALFORMED), now)
    _warn_if_in_transaction()
    try:
        with transaction.atomic():
            current_code = _current_code_subquery(registration.pk).values("pk")[:1]
            attempt = VerificationAttempt.objects.create(**base, code_request_id=Subquery(current_code))
            state = _check_state(registration, ip, now, exclude_pk=attempt.pk)
            attempt.code_request_id = state.code_request_id
            if state.refusal is not None:
                raise _Refused(state.refusal)
    except IntegrityError:
        return _refuse_attempt(base, Refusal(RefusalReason.IN_FLIGHT), now)
    except _Refused as refused:
        return _refuse_attempt({**base, "code_request_id": state.code_request_id}, refused.refusal, now)

    result, _value = _call(
        lambda client: client.check_code(registration.phone_number, digits), Attempt.ACCEPTED
    )
    with transaction.atomic(savepoint=False):
        # code_request_id again: the one the rules were read against (the same in all but a race).
        _finish(VerificationAttempt, attempt, result, code_request_id=state.code_request_id)
        if result.outcome == Attempt.ACCEPTED:
            verified_at = attempt.finished_at
            PhoneRegistration.objects.filter(pk=registration.pk, verified_at__isnull=True).update(
                status=Status.VERIFIED, verified_at=verified_at, updated_at=verified_at
            )
            registration.status = Status.VERIFIED
            registration.verified_at = verified_at
    if result.outcome == Attempt.ACCEPTED:
        signals.code_verified.send(sender=PhoneRegistration, registration=registration, attempt=attempt)
    _reraise_unexpected(result)
    return attempt


def _refuse_attempt(base: dict[str, Any], refusal: Refusal, now: datetime) -> VerificationAttempt:
    return VerificationAttempt.objects.create(
        **base,
        outcome=Attempt.REFUSED,
        refusal_reason=refusal.reason,
        retry_after=refusal.until,
        finished_at=now,
    )


def create_client(registration: PhoneRegistration, *, user: UserLike = None) -> PhoneRegistration:
    """Create and register NXCloud's local client for a verified number.

    A no-op for a registration whose client already exists. Raises ``InvalidStateError``
    before verification, and the client's ``NXCloudError``/``TransportError`` when the call
    fails (the registration stays ``verified``, so it can be tried again).
    """
    registration.refresh_from_db(fields=["status", "verified_at"])
    if registration.status in (Status.CLIENT_CREATED, Status.REGISTERED):
        return registration
    if registration.status != Status.VERIFIED:
        raise InvalidStateError(_("The number must be verified before its WhatsApp client is created."))
    get_client().create_client(registration.phone_number)
    now = timezone.now()
    PhoneRegistration.objects.filter(pk=registration.pk, status=Status.VERIFIED).update(
        status=Status.CLIENT_CREATED, updated_at=now
    )
    registration.status = Status.CLIENT_CREATED
    logger.info("client created for registration %s by %s", registration.public_id, _real_user(user))
    signals.client_created.send(sender=PhoneRegistration, registration=registration)
    return registration


# -- NXCloud status (phoneList) -----------------------------------------------------------------


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
    numbers = get_client().phone_list(_app_key(appkey))
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
    numbers = get_client().phone_list(_app_key(appkey))
    now = timezone.now()
    summary = SyncSummary(listed=len(numbers))
    by_digits = {digits_only(str(item.get("display_phone_number", ""))): item for item in numbers}
    registrations = PhoneRegistration.objects.filter(phone_number__in=list(by_digits)).exclude(
        status=Status.FAILED
    )
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


# -- crash recovery ------------------------------------------------------------------------------


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
        attempts = VerificationAttempt.objects.filter(outcome=Attempt.PENDING, created_at__lt=cutoff).update(
            outcome=Attempt.UNKNOWN, finished_at=now, result_message=note
        )
        sends = CodeRequest.objects.filter(outcome=Send.PENDING, created_at__lt=cutoff).update(
            outcome=Send.UNKNOWN, finished_at=now, result_message=note
        )
        if sends:
            # A send of unknown fate may have delivered a code: let the person type it in.
            maybe_sent = CodeRequest.objects.filter(outcome=Send.UNKNOWN).values("registration_id")
            PhoneRegistration.objects.filter(pk__in=maybe_sent, status=Status.NEW).update(
                status=Status.CODE_SENT, updated_at=now
            )
    if attempts or sends:
        logger.warning("reconciled %d pending attempts and %d pending code requests", attempts, sends)
    return ReconcileSummary(attempts, sends)
