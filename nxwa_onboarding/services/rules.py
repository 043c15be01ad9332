"""The rules, as pure functions over small fact objects: no database, no writes, no clock.

The facts are read in one statement (``sql.read_check_facts`` / ``read_send_facts``) with the
caller's pending row already in place; each rule below looks at them and returns a ``Refusal``
or None. They run in the order the docs give (docs/explanation/write-ahead-audit.md), the first refusal
wins, and each rule reads in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from ..choices import CLOSED_STATES, AttemptOutcome, Method, RefusalReason, RegistrationStatus, SendOutcome
from ..conf import conf
from ..texts import refusal_text

Status = RegistrationStatus

VERIFIED_STATES = (Status.VERIFIED, Status.CLIENT_CREATED, Status.REGISTERED)
#: Attempts on a code that count toward MAX_CHECK_ATTEMPTS (pending: it may yet be rejected).
COUNTED_ATTEMPTS = (AttemptOutcome.REJECTED, AttemptOutcome.UNKNOWN, AttemptOutcome.PENDING)
#: Attempts from an address that count toward MAX_ATTEMPTS_PER_IP_PER_HOUR: those that reached
#: (or may have reached) NXCloud. Refusals cost nothing; configuration failures are not theirs.
IP_COUNTED_ATTEMPTS = (
    AttemptOutcome.ACCEPTED,
    AttemptOutcome.REJECTED,
    AttemptOutcome.UNKNOWN,
    AttemptOutcome.PENDING,
)
#: Sends that may have delivered a code.
COUNTED_SENDS = (SendOutcome.SENT, SendOutcome.UNKNOWN, SendOutcome.PENDING)
#: Sends that called NXCloud (or may have): what the cooldown and the limits beyond the number
#: count. A rejected send counts too (NXCloud was asked); a failed one never reached it.
CALLED_SENDS = (SendOutcome.SENT, SendOutcome.UNKNOWN, SendOutcome.PENDING, SendOutcome.REJECTED)
#: Sends whose code may be typed in: the latest of these is the registration's current code.
CODE_BEARING_SENDS = (SendOutcome.SENT, SendOutcome.UNKNOWN)
#: Refusals that last until a new code can be sent (their ``until`` is the next send's time).
UNTIL_NEW_CODE = (RefusalReason.EXPIRED, RefusalReason.TOO_MANY_ATTEMPTS)


@dataclass(frozen=True)
class Refusal:
    reason: str
    until: datetime | None = None

    @property
    def message(self) -> str:
        return refusal_text(self.reason, self.until)

    @property
    def customer_message(self) -> str:
        """The same words for a customer's page: when as "in 10 minutes", no clock, no zone."""
        return refusal_text(self.reason, self.until, clock=False)


@dataclass(frozen=True)
class Holds:
    """The holds in force on a call (``services.breaker``): the breaker's, everyone's, and the
    earliest end among the call's own failure budgets (its registration, address block, owner)."""

    paused_until: datetime | None = None
    held_until: datetime | None = None

    @property
    def refusal(self) -> Refusal | None:
        """The breaker first; then the failure budget that lifts soonest."""
        if self.paused_until is not None:
            return Refusal(RefusalReason.PAUSED, self.paused_until)
        if self.held_until is not None:
            return Refusal(RefusalReason.FAILURE_LIMIT, self.held_until)
        return None


@dataclass(frozen=True)
class Limits:
    """The rule settings, read once per decision."""

    max_check_attempts: int
    code_ttl: timedelta
    resend_cooldown: timedelta
    max_sends_per_day: int
    max_attempts_per_ip_per_hour: int
    max_sends_per_owner_per_day: int
    max_sends_per_ip_per_hour: int
    max_sends_per_day_global: int
    #: After an SMS code this long unused, one voice call may skip the cooldown (None: never).
    voice_fallback_after: timedelta | None = None
    #: How codes may be sent at all (the policy's ALLOWED_METHODS).
    methods: tuple[str, ...] = (Method.SMS, Method.VOICE)

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(
            max_sends_per_owner_per_day=conf.MAX_SENDS_PER_OWNER_PER_DAY,
            max_sends_per_ip_per_hour=conf.MAX_SENDS_PER_IP_PER_HOUR,
            max_sends_per_day_global=conf.MAX_SENDS_PER_DAY_GLOBAL,
            max_check_attempts=conf.MAX_CHECK_ATTEMPTS,
            code_ttl=timedelta(seconds=conf.CODE_TTL),
            resend_cooldown=timedelta(seconds=conf.RESEND_COOLDOWN),
            max_sends_per_day=conf.MAX_SENDS_PER_DAY,
            max_attempts_per_ip_per_hour=conf.MAX_ATTEMPTS_PER_IP_PER_HOUR,
            voice_fallback_after=(
                None if conf.VOICE_FALLBACK_AFTER is None else timedelta(seconds=conf.VOICE_FALLBACK_AFTER)
            ),
            methods=conf.ALLOWED_METHODS,
        )


@dataclass(frozen=True)
class Scope:
    """Who is asking, as the rules beyond the number see it (``state.scope_for`` builds it)."""

    check_block: str = ""  # the address block checks are counted by ("": not counted)
    send_block: str = ""  # the address block sends are counted by ("": not counted: staff, no address)
    owner_id: int | None = None  # the customer whose sends are counted (None: not counted)
    address_missing: bool = False  # a web request without a usable address: refused
    methods: tuple[str, ...] = (
        Method.SMS,
        Method.VOICE,
    )  # what the number can receive (phone.allowed_methods)


@dataclass(frozen=True)
class CheckFacts:
    """What the check rules look at, read in one statement (the caller's own row left out)."""

    status: str
    verified_at: datetime | None
    code_request_id: int | None  # the current code: latest send that was or may have been delivered
    code_sent_at: datetime | None
    attempts_on_code: int  # COUNTED_ATTEMPTS on the current code
    pending: int  # attempts in flight on this registration
    ip_attempts: (
        int | None
    )  # IP_COUNTED_ATTEMPTS from the address in the last hour, up to the limit; None: no address
    ip_oldest: datetime | None  # the oldest of those
    address_missing: bool = False
    holds: Holds | None = None  # Holds(): none in force, seen in the same statement (None: not read)


@dataclass(frozen=True)
class SendFacts:
    """What the send rules look at, read in one statement (the caller's own row left out)."""

    status: str
    verified_at: datetime | None
    sends_today: int  # COUNTED_SENDS to the number, any registration, in the last 24 hours
    oldest_today: datetime | None
    last_send_at: datetime | None  # latest COUNTED_SENDS of this registration
    last_call_at: datetime | None  # latest CALLED_SENDS of this registration (the cooldown's start)
    pending: int  # sends in flight on this registration
    owner_sends: int | None  # CALLED_SENDS for the owner's registrations in 24 hours (None: not counted)
    owner_oldest: datetime | None
    block_sends: int | None  # CALLED_SENDS from the address block in an hour (None: not counted)
    block_oldest: datetime | None
    global_sends: int  # CALLED_SENDS of the whole installation in 24 hours (up to the limit)
    global_oldest: datetime | None
    address_missing: bool = False
    methods: tuple[str, ...] = (Method.SMS, Method.VOICE)
    last_code_method: str = ""  # the method of the registration's latest delivered code
    holds: Holds | None = None  # Holds(): none in force, seen in the same statement (None: not read)


@dataclass(frozen=True)
class CheckState:
    """Whether a code may be checked now, and the numbers behind it."""

    code_request_id: int | None
    code_sent_at: datetime | None
    expires_at: datetime | None
    attempts_used: int
    attempts_allowed: int
    refusal: Refusal | None
    holds: Holds | None = None  # the facts' (a recorded call's, read beside its rules)

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
    can_call: bool = False  # a voice call may be asked for now (the fallback included)
    holds: Holds | None = None  # the facts' (a recorded call's, read beside its rules)


@dataclass(frozen=True)
class RegistrationState:
    check: CheckState
    send: SendState


# -- the rules shared by checks and sends ---------------------------------------------------------


def already_verified(status: str, verified_at: datetime | None) -> Refusal | None:
    if status in VERIFIED_STATES or verified_at is not None:
        return Refusal(RefusalReason.ALREADY_VERIFIED)
    return None


def closed(status: str) -> Refusal | None:
    return Refusal(RefusalReason.CLOSED) if status in CLOSED_STATES else None


def in_flight(pending: int) -> Refusal | None:
    return Refusal(RefusalReason.IN_FLIGHT) if pending else None


# -- checks ---------------------------------------------------------------------------------------


def malformed(digits: str | None) -> Refusal | None:
    """First of all, before any database read: the code is not 4-8 digits."""
    return Refusal(RefusalReason.MALFORMED) if digits is None else None


def no_address(address_missing: bool) -> Refusal | None:
    """A web request whose address could not be read: the per-address rules refuse rather
    than switch off (an empty or unparsable REMOTE_ADDR must not be a way around them)."""
    return Refusal(RefusalReason.NO_ADDRESS) if address_missing else None


def ip_limit(facts: CheckFacts, limits: Limits) -> Refusal | None:
    if facts.ip_attempts is None or facts.ip_attempts < limits.max_attempts_per_ip_per_hour:
        return None
    until = facts.ip_oldest + timedelta(hours=1) if facts.ip_oldest else None
    return Refusal(RefusalReason.IP_LIMIT, until)


def no_code(facts: CheckFacts) -> Refusal | None:
    return Refusal(RefusalReason.NO_CODE) if facts.code_request_id is None else None


def expired(facts: CheckFacts, limits: Limits, now: datetime) -> Refusal | None:
    if facts.code_sent_at is not None and now >= facts.code_sent_at + limits.code_ttl:
        return Refusal(RefusalReason.EXPIRED)
    return None


def too_many_attempts(facts: CheckFacts, limits: Limits) -> Refusal | None:
    if facts.attempts_on_code >= limits.max_check_attempts:
        return Refusal(RefusalReason.TOO_MANY_ATTEMPTS)
    return None


def check_refusal(facts: CheckFacts, limits: Limits, now: datetime) -> Refusal | None:
    """The first check rule that refuses, in the documented order (``malformed`` came before).

    ``expired`` and ``too_many_attempts`` come without ``until``: it is when a new code may be
    sent, which the send rules know (``check_state`` fills it in)."""
    return (
        already_verified(facts.status, facts.verified_at)
        or closed(facts.status)
        or in_flight(facts.pending)
        or no_address(facts.address_missing)
        or ip_limit(facts, limits)
        or no_code(facts)
        or expired(facts, limits, now)
        or too_many_attempts(facts, limits)
    )


def check_state(
    facts: CheckFacts, limits: Limits, now: datetime, new_code_at: Callable[[], datetime | None]
) -> CheckState:
    """The check rules' verdict with its numbers. ``new_code_at``: when a new code may be sent
    (None: right away), asked only when a refusal lasts until then."""
    refusal = check_refusal(facts, limits, now)
    if refusal is not None and refusal.reason in UNTIL_NEW_CODE:
        refusal = replace(refusal, until=new_code_at())
    expires_at = facts.code_sent_at + limits.code_ttl if facts.code_sent_at else None
    return CheckState(
        facts.code_request_id,
        facts.code_sent_at,
        expires_at,
        facts.attempts_on_code,
        limits.max_check_attempts,
        refusal,
        facts.holds,
    )


# -- sends ----------------------------------------------------------------------------------------


def method_refused(method: str | None, facts: SendFacts, limits: Limits | None = None) -> Refusal | None:
    """The number policy at send time: a landline takes a voice call only; a number of a kind
    that is refused now (premium-rate and the like, registered before the policy) takes nothing;
    a method the policy does not offer (ALLOWED_METHODS) is refused as such.
    ``method`` None (a status page): only whether the number can take a code at all."""
    if not facts.methods:
        return Refusal(RefusalReason.NUMBER_POLICY)
    offered = limits.methods if limits is not None else (Method.SMS, Method.VOICE)
    if (method is not None and method not in offered) or not set(offered) & set(facts.methods):
        return Refusal(RefusalReason.METHOD_POLICY)
    if method is None or method in facts.methods:
        return None
    if method == Method.SMS and Method.VOICE in facts.methods:
        return Refusal(RefusalReason.LANDLINE_SMS)
    return Refusal(RefusalReason.NUMBER_POLICY)


def voice_fallback(facts: SendFacts, limits: Limits, now: datetime, method: str | None) -> bool:
    """ "Call me instead": a voice call asked for once VOICE_FALLBACK_AFTER has passed since an
    SMS code (no correct entry: a verified number is refused before) skips the cooldown, once:
    the SMS must be this registration's last call (after the voice call, it no longer is)."""
    return (
        method == Method.VOICE
        and limits.voice_fallback_after is not None
        and facts.last_code_method == Method.SMS
        and facts.last_send_at is not None
        and facts.last_call_at == facts.last_send_at
        and now >= facts.last_send_at + limits.voice_fallback_after
    )


def cooldown(facts: SendFacts, limits: Limits, now: datetime, method: str | None = None) -> Refusal | None:
    """From the last call of this registration, rejected ones included (NXCloud was asked);
    but for the voice fallback (a second SMS still waits)."""
    if facts.last_call_at is None or now >= facts.last_call_at + limits.resend_cooldown:
        return None
    if voice_fallback(facts, limits, now, method):
        return None
    return Refusal(RefusalReason.COOLDOWN, facts.last_call_at + limits.resend_cooldown)


def daily_cap(facts: SendFacts, limits: Limits) -> Refusal | None:
    if facts.oldest_today is None or facts.sends_today < limits.max_sends_per_day:
        return None
    return Refusal(RefusalReason.DAILY_CAP, facts.oldest_today + timedelta(days=1))


def _window(
    reason: str, count: int | None, oldest: datetime | None, limit: int, window: timedelta
) -> Refusal | None:
    """A limit of ``limit`` calls in a rolling ``window``, until the oldest counted call leaves it."""
    if count is None or count < limit:
        return None
    return Refusal(reason, oldest + window if oldest else None)


def owner_limit(facts: SendFacts, limits: Limits) -> Refusal | None:
    return _window(
        RefusalReason.OWNER_LIMIT,
        facts.owner_sends,
        facts.owner_oldest,
        limits.max_sends_per_owner_per_day,
        timedelta(days=1),
    )


def ip_send_limit(facts: SendFacts, limits: Limits) -> Refusal | None:
    return _window(
        RefusalReason.IP_SEND_LIMIT,
        facts.block_sends,
        facts.block_oldest,
        limits.max_sends_per_ip_per_hour,
        timedelta(hours=1),
    )


def global_limit(facts: SendFacts, limits: Limits) -> Refusal | None:
    """The circuit breaker: every send of the installation stops until the day's count drops."""
    return _window(
        RefusalReason.GLOBAL_LIMIT,
        facts.global_sends,
        facts.global_oldest,
        limits.max_sends_per_day_global,
        timedelta(days=1),
    )


def send_refusal(
    facts: SendFacts, limits: Limits, now: datetime, method: str | None = None
) -> Refusal | None:
    """The first send rule that refuses, in the documented order; of the limits that only need
    waiting (cooldown, daily cap, per owner, per address, the whole installation), the one that
    ends last (that is the one the person has to wait for)."""
    first = (
        already_verified(facts.status, facts.verified_at)
        or closed(facts.status)
        or in_flight(facts.pending)
        or method_refused(method, facts, limits)
        or no_address(facts.address_missing)
    )
    if first is not None:
        return first
    waits = [
        wait
        for wait in (
            global_limit(facts, limits),
            owner_limit(facts, limits),
            ip_send_limit(facts, limits),
            daily_cap(facts, limits),
            cooldown(facts, limits, now, method),
        )
        if wait is not None
    ]
    return max(waits, key=lambda wait: wait.until or now) if waits else None


def send_state(facts: SendFacts, limits: Limits, now: datetime, method: str | None = None) -> SendState:
    """The send rules' verdict; ``method`` None: whichever method the number allows."""
    refusal = send_refusal(facts, limits, now, method)
    next_send_at = refusal.until if refusal else now
    can_call = Method.VOICE in facts.methods and send_refusal(facts, limits, now, Method.VOICE) is None
    allowed = limits.max_sends_per_day
    return SendState(facts.sends_today, allowed, next_send_at, refusal, can_call, facts.holds)


def next_code_at(send: SendState, now: datetime) -> datetime | None:
    """When a new code may be sent, or None for "right away"."""
    at = send.next_send_at
    return at if at is not None and at > now else None
