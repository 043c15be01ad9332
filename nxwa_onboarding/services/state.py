"""What a registration allows right now, as customers and staff see it (reads only)."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from ..addresses import clean_ip
from ..models import PhoneRegistration
from . import sql
from .rules import (
    CheckFacts,
    CheckState,
    Limits,
    RegistrationState,
    SendFacts,
    SendState,
    check_state,
    next_code_at,
    send_state,
)


def refresh_from_facts(registration: PhoneRegistration, facts: CheckFacts | SendFacts) -> None:
    """Bring the caller's registration up to date with the status the rules were read against."""
    registration.status = facts.status
    registration.verified_at = facts.verified_at


def read_send_state(
    registration: PhoneRegistration, now: datetime, *, exclude_pk: int | None = None
) -> SendState:
    """The send rules' verdict, read in one statement; refreshes the registration's status."""
    facts = sql.read_send_facts(registration, now, exclude_pk=exclude_pk)
    refresh_from_facts(registration, facts)
    return send_state(facts, Limits.from_settings(), now)


def read_check_state(
    registration: PhoneRegistration, ip: str | None, now: datetime, *, exclude_pk: int | None = None
) -> CheckState:
    """The check rules' verdict, read in one statement (a second only when a refusal lasts until
    a new code may be sent); refreshes the registration's status."""
    limits = Limits.from_settings()
    facts = sql.read_check_facts(registration, ip, now, exclude_pk=exclude_pk)
    refresh_from_facts(registration, facts)

    def new_code_at() -> datetime | None:
        send = send_state(sql.read_send_facts(registration, now), limits, now)
        return next_code_at(send, now)

    return check_state(facts, limits, now, new_code_at)


def get_state(registration: PhoneRegistration, *, ip: str | None = None) -> RegistrationState:
    """What the registration allows right now: checks (tries left, expiry) and sends.
    One query; the registration's ``status`` and ``verified_at`` are refreshed from it."""
    now = timezone.now()
    limits = Limits.from_settings()
    check_facts, send_facts = sql.read_state_facts(registration, clean_ip(ip), now)
    refresh_from_facts(registration, check_facts)
    send = send_state(send_facts, limits, now)
    check = check_state(check_facts, limits, now, lambda: next_code_at(send, now))
    return RegistrationState(check, send)
