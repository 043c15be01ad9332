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

import functools
import hashlib
import ipaddress
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Field, Model, Q
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.dateparse import parse_datetime
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
    updated = _update_row(model, row.pk, fields, where="outcome = 'pending'")
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


def _column(model: type[Model], name: str) -> Field[Any, Any]:
    field = model._meta.get_field(name)
    if not isinstance(field, Field) or not field.column:
        raise TypeError(f"{model.__name__}.{name} is not a column")
    return field


@functools.cache
def _update_sql(model: type[Model], names: tuple[str, ...], where: str, vendor: str) -> str:
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(str(_column(model, name).column))} = %s" for name in names)
    return f"UPDATE {quote(model._meta.db_table)} SET {assignments} WHERE {quote('id')} = %s AND {where}"  # noqa: S608


def _update_row(model: type[Model], pk: int, values: dict[str, Any], *, where: str) -> int:
    """``model.objects.filter(pk=pk, <where>).update(**values)`` without the ORM's per-call query
    building (a third of a millisecond each, on every code submission). Each value is adapted
    by its field exactly as ``update()`` would; ``where`` is a fixed SQL condition of ours."""
    names = tuple(values)
    params = [_column(model, name).get_db_prep_save(value, connection) for name, value in values.items()]
    with connection.cursor() as cursor:
        cursor.execute(_update_sql(model, names, where, connection.vendor), [*params, pk])
        return int(cursor.rowcount)


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


# The rules are read with two hand-written SELECTs, built once per database vendor and variant.
# The same queries through the ORM cost ~5 ms of Python per call (Q objects, subqueries and
# filtered aggregates resolved and compiled anew every time) against ~0.2 ms in the database;
# the rules run on every code submission and every view of the status page. Plain SQL that
# SQLite, PostgreSQL and MySQL all accept; the values are adapted by the backend as the ORM would.


def _sql_names() -> dict[str, str]:
    """Quoted table and column names, from the models (so a custom db_table still works)."""
    quote = connection.ops.quote_name

    def column(model: Any, name: str) -> str:
        return quote(model._meta.get_field(name).column)

    return {
        "registrations": quote(PhoneRegistration._meta.db_table),
        "sends": quote(CodeRequest._meta.db_table),
        "attempts": quote(VerificationAttempt._meta.db_table),
        "id": quote("id"),
        "status": column(PhoneRegistration, "status"),
        "verified_at": column(PhoneRegistration, "verified_at"),
        "phone_number": column(PhoneRegistration, "phone_number"),
        "registration_id": column(VerificationAttempt, "registration"),
        "code_request_id": column(VerificationAttempt, "code_request"),
        "outcome": column(VerificationAttempt, "outcome"),
        "created_at": column(VerificationAttempt, "created_at"),
        "ip": column(VerificationAttempt, "ip"),
    }


def _sql_in(values: tuple[str, ...]) -> str:
    """``('a', 'b')`` for our own outcome constants (never for input: those are parameters)."""
    if not all(re.fullmatch(r"[a-z_]+", value) for value in values):
        raise ValueError(f"not an outcome constant: {values!r}")
    return "(" + ", ".join(f"'{value}'" for value in values) + ")"


@functools.cache
def _check_sql(vendor: str, with_ip: bool, exclude: bool) -> str:
    """The registration's status, its current code (latest send that was or may have been
    delivered) and, as subqueries, the counts the check rules need."""
    n = _sql_names()
    not_mine = f" AND a.{n['id']} <> %(exclude)s" if exclude else ""
    ip_rows = (
        f"FROM {n['attempts']} a WHERE a.{n['ip']} = %(ip)s AND a.{n['created_at']} > %(hour_ago)s"
        f" AND a.{n['outcome']} IN {_sql_in(IP_COUNTED_ATTEMPTS)}{not_mine}"
    )
    ip_columns = (
        f"(SELECT COUNT(*) {ip_rows}), (SELECT MIN(a.{n['created_at']}) {ip_rows})" if with_ip else "0, NULL"
    )
    # S608: only names from the models and our constants are in the text; values are parameters.
    return (
        f"SELECT r.{n['status']}, r.{n['verified_at']}, cur.{n['id']}, cur.{n['created_at']}, "  # noqa: S608
        f"(SELECT COUNT(*) FROM {n['attempts']} a WHERE a.{n['registration_id']} = %(registration)s"
        f" AND a.{n['code_request_id']} = cur.{n['id']}"
        f" AND a.{n['outcome']} IN {_sql_in(COUNTED_ATTEMPTS)}{not_mine}), "
        f"(SELECT COUNT(*) FROM {n['attempts']} a WHERE a.{n['registration_id']} = %(registration)s"
        f" AND a.{n['outcome']} = '{Attempt.PENDING}'{not_mine}), "
        f"{ip_columns} "
        f"FROM {n['registrations']} r LEFT JOIN {n['sends']} cur"
        f" ON cur.{n['id']} = ({_current_code_select(n)}) "
        f"WHERE r.{n['id']} = %(registration)s"
    )


def _current_code_select(n: dict[str, str]) -> str:
    """The registration's current code: its latest send that was (or may have been) delivered."""
    # S608: only names from the models and our constants are in the text; values are parameters.
    return (
        f"SELECT c.{n['id']} FROM {n['sends']} c WHERE c.{n['registration_id']} = %(registration)s"  # noqa: S608
        f" AND c.{n['outcome']} IN {_sql_in((Send.SENT, Send.UNKNOWN))}"
        f" ORDER BY c.{n['created_at']} DESC, c.{n['id']} DESC LIMIT 1"
    )


@functools.cache
def _current_code_sql(vendor: str) -> str:
    """The current code's id, for the pending attempt's ``code_request_id`` (positional %s)."""
    return _current_code_select(_sql_names()).replace("%(registration)s", "%s")


@functools.cache
def _send_sql(vendor: str, exclude: bool) -> str:
    """Sends for this number in the last 24 hours, the last send of this registration, and
    whether one is in flight: one pass over the number's rows (filtered aggregates as CASE)."""
    n = _sql_names()
    not_mine = f" AND c.{n['id']} <> %(exclude)s" if exclude else ""
    today = f"c.{n['outcome']} IN {_sql_in(COUNTED_SENDS)} AND c.{n['created_at']} > %(day_ago)s{not_mine}"
    mine = f"c.{n['registration_id']} = %(registration)s"
    # S608: only names from the models and our constants are in the text; values are parameters.
    return (
        f"SELECT COUNT(CASE WHEN {today} THEN 1 END), "  # noqa: S608
        f"MIN(CASE WHEN {today} THEN c.{n['created_at']} END), "
        f"MAX(CASE WHEN {mine} AND c.{n['outcome']} IN {_sql_in(COUNTED_SENDS)}{not_mine}"
        f" THEN c.{n['created_at']} END), "
        f"COUNT(CASE WHEN {mine} AND c.{n['outcome']} = '{Send.PENDING}'{not_mine} THEN 1 END) "
        f"FROM {n['sends']} c INNER JOIN {n['registrations']} r ON r.{n['id']} = c.{n['registration_id']} "
        f"WHERE (r.{n['phone_number']} = %(phone)s AND c.{n['created_at']} > %(day_ago)s) OR {mine}"
    )


def _fetch_row(sql: str, params: dict[str, Any]) -> tuple[Any, ...]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        raise PhoneRegistration.DoesNotExist("PhoneRegistration matching query does not exist.")
    return tuple(row)


def _db_datetime(value: datetime) -> Any:
    """``value`` as a parameter compared with ``created_at``, adapted as the ORM would."""
    return _column(VerificationAttempt, "created_at").get_db_prep_value(value, connection)


def _from_db_datetime(value: Any) -> datetime | None:
    """A datetime as the ORM would return it (SQLite hands back text for computed columns)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = parse_datetime(value)
    if settings.USE_TZ and timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return value  # type: ignore[no-any-return]


def _check_params(
    registration: PhoneRegistration, ip: str | None, now: datetime, exclude_pk: int | None
) -> dict[str, Any]:
    params: dict[str, Any] = {"registration": registration.pk}
    if exclude_pk is not None:
        params["exclude"] = exclude_pk
    if ip:
        params["ip"] = _column(VerificationAttempt, "ip").get_db_prep_value(ip, connection)
        params["hour_ago"] = _db_datetime(now - timedelta(hours=1))
    return params


def _send_params(registration: PhoneRegistration, now: datetime, exclude_pk: int | None) -> dict[str, Any]:
    params: dict[str, Any] = {
        "registration": registration.pk,
        "phone": registration.phone_number,
        "day_ago": _db_datetime(now - timedelta(days=1)),
    }
    if exclude_pk is not None:
        params["exclude"] = exclude_pk
    return params


@functools.cache
def _state_sql(vendor: str, with_ip: bool) -> str:
    """Both rule reads of ``get_state`` side by side in one statement (one round trip)."""
    check, send = _check_sql(vendor, with_ip, False), _send_sql(vendor, False)
    return f"SELECT * FROM ({check}) chk CROSS JOIN ({send}) snd"  # noqa: S608


def _check_state(
    registration: PhoneRegistration,
    ip: str | None,
    now: datetime,
    *,
    exclude_pk: int | None = None,
    row: tuple[Any, ...] | None = None,
    send_state: Callable[[], SendState] | None = None,
) -> CheckState:
    """One query: the registration's fresh status, its current code and the counts the rules
    need, as subqueries of a single SELECT. ``exclude_pk``: the caller's own pending attempt,
    left out of every count. ``row``: that SELECT's row if the caller has read it already;
    ``send_state``: the send state at ``now`` if the caller has it (for when a new code may
    be asked for)."""
    if row is None:
        params = _check_params(registration, ip, now, exclude_pk)
        row = _fetch_row(_check_sql(connection.vendor, bool(ip), exclude_pk is not None), params)
    status, verified_at, code_id, code_at, used, pending, ip_count, ip_oldest = row
    registration.status = status
    registration.verified_at = _from_db_datetime(verified_at)
    code_at = _from_db_datetime(code_at)
    used = used or 0
    allowed = conf.MAX_CHECK_ATTEMPTS
    expires_at = code_at + timedelta(seconds=conf.CODE_TTL) if code_at else None

    def new_code_at() -> datetime | None:
        """When a new code may be sent (cooldown and daily cap), or None for "right away"."""
        send = send_state() if send_state is not None else _send_state(registration, now, fresh=False)
        at = send.next_send_at
        return at if at is not None and at > now else None

    refusal: Refusal | None = None
    if registration.status in VERIFIED_STATES or registration.verified_at is not None:
        refusal = Refusal(RefusalReason.ALREADY_VERIFIED)
    elif registration.status == Status.FAILED:
        refusal = Refusal(RefusalReason.CLOSED)
    elif pending:
        refusal = Refusal(RefusalReason.IN_FLIGHT)
    elif ip and ip_count >= conf.MAX_ATTEMPTS_PER_IP_PER_HOUR:
        oldest = _from_db_datetime(ip_oldest)
        refusal = Refusal(RefusalReason.IP_LIMIT, oldest + timedelta(hours=1) if oldest else None)
    elif code_id is None:
        refusal = Refusal(RefusalReason.NO_CODE)
    elif expires_at is not None and now >= expires_at:
        refusal = Refusal(RefusalReason.EXPIRED, new_code_at())
    elif used >= allowed:
        refusal = Refusal(RefusalReason.TOO_MANY_ATTEMPTS, new_code_at())
    return CheckState(code_id, code_at, expires_at, used, allowed, refusal)


def _send_state(
    registration: PhoneRegistration,
    now: datetime,
    *,
    fresh: bool = True,
    exclude_pk: int | None = None,
    row: tuple[Any, ...] | None = None,
) -> SendState:
    """One query (two when ``fresh``): sends for this number in the last 24 hours, the last send
    of this registration, and whether one is in flight. ``exclude_pk``: the caller's own row;
    ``row``: that query's row if the caller has read it already."""
    if fresh:
        current = PhoneRegistration.objects.filter(pk=registration.pk).values("status", "verified_at").get()
        registration.status = current["status"]
        registration.verified_at = current["verified_at"]
    if row is None:
        params = _send_params(registration, now, exclude_pk)
        row = _fetch_row(_send_sql(connection.vendor, exclude_pk is not None), params)
    today, oldest_today, last, pending = row
    oldest_today, last = _from_db_datetime(oldest_today), _from_db_datetime(last)
    allowed = conf.MAX_SENDS_PER_DAY
    cooldown_end = last + timedelta(seconds=conf.RESEND_COOLDOWN) if last else None
    cap_end = oldest_today + timedelta(days=1) if oldest_today and today >= allowed else None
    refusal: Refusal | None = None
    if registration.status in VERIFIED_STATES or registration.verified_at is not None:
        refusal = Refusal(RefusalReason.ALREADY_VERIFIED)
    elif registration.status == Status.FAILED:
        refusal = Refusal(RefusalReason.CLOSED)
    elif pending:
        refusal = Refusal(RefusalReason.IN_FLIGHT)
    else:
        # When both apply, the one that ends later is the one the person has to wait for.
        waits = [Refusal(RefusalReason.DAILY_CAP, cap_end)] if cap_end is not None else []
        if cooldown_end is not None and now < cooldown_end:
            waits.append(Refusal(RefusalReason.COOLDOWN, cooldown_end))
        if waits:
            refusal = max(waits, key=lambda wait: wait.until or now)
    next_send_at = refusal.until if refusal else now
    return SendState(today, allowed, next_send_at, refusal)


def get_state(registration: PhoneRegistration, *, ip: str | None = None) -> RegistrationState:
    """What the registration allows right now: checks (tries left, expiry) and sends.
    One query; the registration's ``status`` and ``verified_at`` are refreshed from it."""
    now = timezone.now()
    ip = _clean_ip(ip)
    params = {**_check_params(registration, ip, now, None), **_send_params(registration, now, None)}
    row = _fetch_row(_state_sql(connection.vendor, bool(ip)), params)
    sends: list[SendState] = []

    def send_state() -> SendState:
        # After the check has refreshed the status from the same row: the send rules read it.
        if not sends:
            sends.append(_send_state(registration, now, fresh=False, row=row[8:]))
        return sends[0]

    check = _check_state(registration, ip, now, row=row[:8], send_state=send_state)
    return RegistrationState(check, send_state())


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
            current_code = RawSQL(_current_code_sql(connection.vendor), (registration.pk,))  # noqa: S611
            attempt = VerificationAttempt.objects.create(**base, code_request_id=current_code)
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
            _update_row(
                PhoneRegistration,
                registration.pk,
                {"status": Status.VERIFIED, "verified_at": verified_at, "updated_at": verified_at},
                where="verified_at IS NULL",
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

    A no-op for a registration whose client already exists. createClient is not idempotent, so
    the call is claimed first: ``client_requested_at`` is committed before the call (evidence if
    the process dies, and a second caller is refused meanwhile), cleared when the call certainly
    failed, and kept when its outcome is unknown, so a retry waits until any call still under
    way must have ended. Raises ``InvalidStateError`` before verification or while a call is
    claimed, and the client's ``NXCloudError``/``TransportError`` when the call fails (the
    registration stays ``verified``, so it can be tried again).
    """
    registration.refresh_from_db(fields=["status", "verified_at", "client_requested_at"])
    if registration.status in (Status.CLIENT_CREATED, Status.REGISTERED):
        return registration
    if registration.status != Status.VERIFIED:
        raise InvalidStateError(_("The number must be verified before its WhatsApp client is created."))
    now = timezone.now()
    mine = PhoneRegistration.objects.filter(pk=registration.pk, status=Status.VERIFIED)
    claimed = mine.filter(
        Q(client_requested_at__isnull=True) | Q(client_requested_at__lt=now - stale_after())
    ).update(client_requested_at=now, updated_at=now)
    if not claimed:
        raise InvalidStateError(
            _("The WhatsApp client for this number is already being created. Look again in a minute.")
        )
    registration.client_requested_at = now
    try:
        get_client().create_client(registration.phone_number)
    except (NXCloudError, NXCloudConfigurationError, TransportError) as err:
        if not (isinstance(err, TransportError) and err.sent):
            # Certainly not created: release the claim so it can be tried again at once.
            mine.filter(client_requested_at=now).update(client_requested_at=None)
            registration.client_requested_at = None
        raise
    done = timezone.now()
    mine.update(status=Status.CLIENT_CREATED, updated_at=done)
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
